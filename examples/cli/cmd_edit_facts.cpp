// `seqedit edit-facts`: applies counterfactual requests to a checkpoint in sequential batches
// (pipeline.md §6) and writes the edited checkpoint and, with --state, the run state
// (seqedit/facts/run_state.hpp) from which a later call continues.
//
//   seqedit edit-facts --model DIR --requests FILE (--hparams FILE | --preset NAME) --stats DIR
//                      --method memit|alphaedit|memit-prune|memit-rect [--history aligned|none|latest]
//                      [--no-compensation] [--batch N] [--cases A-B] [--context-templates FILE]
//                      [--state DIR] (--out DIR | --in-place)
//
// C0 of layer l is read from --stats DIR: the one file `<module>_<mom2_dtype>_mom2_*.npz` of
// that layer's module (as `seqedit stats` writes it), C0 = mom2 / count. With a state that
// already holds a run, the run's hyper-parameters, method, history and context templates must
// be the ones given (a difference is named), the checkpoint must be the one the state was
// last written to, and no request may have a case id already applied.
//
// This file also implements `retract` and `verify` on a run state (fact_run.hpp).

#include "command.hpp"
#include "fact_run.hpp"

#include <seqedit/alignment.hpp>
#include <seqedit/facts/checkpoint_out.hpp>
#include <seqedit/facts/context_templates.hpp>
#include <seqedit/facts/hparams.hpp>
#include <seqedit/facts/requests.hpp>
#include <seqedit/facts/run_state.hpp>
#include <seqedit/facts/stats.hpp>
#include <seqedit/facts/update.hpp>
#include <seqedit/io/checkpoint.hpp>
#include <seqedit/io/editor_state.hpp>
#include <seqedit/model/model.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

namespace sf = seqedit::facts;
namespace fs = std::filesystem;

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

/// The statistics file of `module` in `dir`: the one `<module>_<dtype>_mom2_*.npz`.
std::string find_stats_file(const std::string& dir, const std::string& module, const std::string& dtype) {
  if (!fs::is_directory(dir)) throw std::invalid_argument("--stats: '" + dir + "' is not a folder");
  const std::string head = module + "_" + dtype + "_mom2_";
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.compare(0, head.size(), head) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".npz") == 0)
      found.push_back(e.path().string());
  }
  if (found.empty())
    throw std::invalid_argument("--stats: no file " + head + "*.npz in '" + dir + "' (write it with `seqedit stats`)");
  if (found.size() > 1)
    throw std::invalid_argument("--stats: " + std::to_string(found.size()) + " files " + head + "*.npz in '" + dir +
                                "'; keep one (merge shards with `seqedit stats merge`)");
  return found.front();
}

std::vector<Eigen::MatrixXd> read_c0(const std::string& dir, const sf::Hparams& hp) {
  std::vector<Eigen::MatrixXd> c0;
  for (int l : hp.layers) {
    const std::string path = find_stats_file(dir, hp.rewrite_module(l), hp.mom2_dtype);
    c0.push_back(sf::read_mom2_npz(path).second_moment());
    std::cerr << "edit-facts: C0 of layer " << l << " from " << path << "\n";
  }
  return c0;
}

seqedit::History parse_history(const std::string& s) {
  if (s == "aligned") return seqedit::History::Aligned;
  if (s == "none") return seqedit::History::None;
  if (s == "latest") return seqedit::History::LatestOnly;
  throw std::invalid_argument("--history: '" + s + "' is not aligned, none or latest");
}

/// "A-B" or "A" → [first, last].
std::pair<std::int64_t, std::int64_t> parse_case_range(const std::string& s) {
  long long a = 0, b = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%lld-%lld%c", &a, &b, &extra) == 2 && a >= 0 && b >= a) return {a, b};
  if (std::sscanf(s.c_str(), "%lld%c", &a, &extra) == 1 && a >= 0) return {a, a};
  throw std::invalid_argument("--cases: '" + s + "' is not A-B with 0 <= A <= B");
}

void check_output(const std::string& out, bool in_place) {
  if (out.empty() == !in_place) throw std::invalid_argument("give exactly one of --out DIR or --in-place");
  if (!out.empty() && fs::exists(out))
    throw std::invalid_argument("--out: '" + out + "' exists; give a new folder (or --in-place)");
}

std::vector<sf::LayerWeights> weights_of(const sf::FactEditor& fe) {
  std::vector<sf::LayerWeights> out;
  for (std::size_t i = 0; i < fe.layers().size(); ++i)
    out.push_back({fe.layers()[i], fe.visit(i, [](const auto& ed) { return Eigen::MatrixXd(ed.weights()); })});
  return out;
}

/// Writes the checkpoint (to `out` or in place) and then the state; returns the folder written.
std::string write_outputs(const sf::FactEditor& fe, const std::string& model_dir, const std::string& out,
                          const std::string& state, const sf::ContextTemplates& templates,
                          const std::vector<std::string>& original, const std::string& stats_dir,
                          const std::string& label) {
  const auto t0 = std::chrono::steady_clock::now();
  sf::write_edited_checkpoint(model_dir, weights_of(fe), out);
  const std::string written = absolute(out.empty() ? model_dir : out);
  std::cerr << label << ": checkpoint written to " << written << " (" << since(t0) << " s)\n";
  if (!state.empty()) {
    const sf::CheckpointFingerprint fp = sf::fingerprint_checkpoint(written, fe.layers());
    try {
      sf::save_run(state, fe, templates, fp, original, written, stats_dir);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + "\nthe checkpoint " + written +
                               " was written but the state was not; the state refuses it from now on");
    }
    std::cerr << label << ": state written to " << state << "\n";
  }
  return written;
}

class EditFactsCommand : public Command {
 public:
  std::string name() const override { return "edit-facts"; }
  std::string description() const override {
    return "Apply counterfactual requests to a checkpoint in sequential batches (MEMIT, AlphaEdit, PRUNE, RECT); "
           "writes the edited checkpoint and a resumable, retractable run state";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--model", model_, "Checkpoint folder (config.json, safetensors, tokenizer.json)")->required();
    app.add_option("--requests", requests_, "CounterFact JSON, zsRE JSON or JSON Lines requests")->required();
    app.add_option("--hparams", hparams_, "MEMIT / AlphaEdit hparams JSON");
    app.add_option("--preset", preset_, "Hyper-parameter preset (gpt2-xl, gpt-j, llama3-8b)");
    app.add_option("--stats", stats_, "Folder of the statistics npz files (`seqedit stats`)")->required();
    app.add_option("--method", method_, "memit, alphaedit, memit-prune or memit-rect")->required();
    app.add_option("--history", history_, "aligned (default), none (naive) or latest (Memorize-the-Latest)");
    app.add_flag("--no-compensation", no_comp_, "PRUNE / RECT: no Algorithm 1 compensation under aligned history");
    app.add_option("--batch", batch_, "Requests per batch (default 100)");
    app.add_option("--cases", cases_, "Only the requests with case ids in A-B");
    app.add_option("--context-templates", templates_, "JSON list of context templates (default: generated)");
    app.add_option("--state", state_, "Run state folder: continued if it holds a run, else created");
    app.add_option("--out", out_, "Write the edited checkpoint into this new folder");
    app.add_flag("--in-place", in_place_, "Rewrite the edited shards of --model in place");
  }

  int run() override {
    const auto t_start = std::chrono::steady_clock::now();
    if (hparams_.empty() == preset_.empty()) throw std::invalid_argument("give exactly one of --hparams or --preset");
    if (batch_ <= 0) throw std::invalid_argument("--batch must be positive, got " + std::to_string(batch_));
    check_output(out_, in_place_);
    const sf::Method method = sf::parse_method(method_);
    const seqedit::History history = parse_history(history_);
    sf::Hparams hp = hparams_.empty() ? sf::preset_hparams(preset_) : sf::read_hparams(hparams_);
    for (const std::string& f : hp.ignored) std::cerr << "edit-facts: hparams field '" << f << "' is ignored\n";
    std::vector<sf::Request> requests = sf::read_requests(requests_);
    if (!cases_.empty()) {
      const auto r = parse_case_range(cases_);
      requests = sf::select_cases(requests, r.first, r.second);
    }
    if (requests.empty()) throw std::invalid_argument(requests_ + ": no request selected");

    auto model = seqedit::model::Model<float>::load(model_);
    const auto tok = seqedit::text::Tokenizer::from_checkpoint(model_);
    {
      const seqedit::io::Checkpoint ck(model_);
      std::vector<std::string> names;
      for (int l : hp.layers) names.push_back(hp.rewrite_module(l) + ".weight");
      std::vector<std::string> present;
      for (const std::string& n : names)
        if (ck.has_tensor(n)) present.push_back(n);
      sf::check_modules(hp, model.config().n_layer, present);
    }
    sf::ContextTemplates templates;
    std::vector<std::string> original;
    std::unique_ptr<sf::FactEditor> fe;
    if (!state_.empty() && sf::is_run_state(state_)) {
      sf::RunManifest man;
      fe = std::make_unique<sf::FactEditor>(sf::load_run(state_, model, model_, &hp, &man));
      if (man.method != method)
        throw std::invalid_argument(state_ + ": the run uses method " + sf::method_name(man.method) + ", not " +
                                    method_);
      if (man.history != history)
        throw std::invalid_argument(state_ + ": the run uses another history than --history " + history_);
      const seqedit::Compensation want = sf::FactEditorOptions{no_comp_ ? std::optional<seqedit::Compensation>(
                                                                               seqedit::Compensation::None)
                                                                         : std::nullopt,
                                                               std::nullopt}
                                             .compensation_for(history);
      if (sf::method_regularised(method) && man.compensation != want)
        throw std::invalid_argument(state_ + ": the run was made " +
                                    (man.compensation == seqedit::Compensation::Analytic ? "with" : "without") +
                                    " compensation; --no-compensation " + (no_comp_ ? "given" : "not given"));
      if (!templates_.empty() && sf::read_context_templates(templates_).groups != man.templates.groups)
        throw std::invalid_argument("--context-templates: not the templates of the run in " + state_);
      templates = man.templates;
      original = man.original;
      for (const sf::Request& r : requests)
        if (fe->cases().count(r.case_id))
          throw std::invalid_argument(requests_ + ": case_id " + std::to_string(r.case_id) +
                                      " is already applied in the run " + state_ + " (retract it first)");
      std::cerr << "edit-facts: continuing the run in " << state_ << " (" << fe->cases().size()
                << " cases applied)\n";
    } else {
      const std::vector<Eigen::MatrixXd> c0 = read_c0(stats_, hp);
      templates = templates_.empty() ? sf::generate_context_templates(model, tok) : sf::read_context_templates(templates_);
      sf::FactEditorOptions opt;
      if (no_comp_) opt.compensation = seqedit::Compensation::None;
      fe = std::make_unique<sf::FactEditor>(model, hp, method, history, c0, opt);
      original = sf::fingerprint_checkpoint(model_, hp.layers).hashes;
    }

    const std::size_t n = requests.size(), b = static_cast<std::size_t>(batch_);
    const std::size_t batches = (n + b - 1) / b;
    for (std::size_t k = 0; k < batches; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<sf::Request> batch(requests.begin() + static_cast<std::ptrdiff_t>(k * b),
                                           requests.begin() + static_cast<std::ptrdiff_t>(std::min(n, (k + 1) * b)));
      std::cerr << "edit-facts: batch " << k + 1 << "/" << batches << ", " << batch.size() << " requests\n";
      fe->apply(model, tok, batch, templates, true,
                [](const std::string& line) { std::cerr << "edit-facts:   " << line << "\n"; });
      std::cerr << "edit-facts: batch " << k + 1 << " done in " << since(t0) << " s\n";
    }
    const std::string written =
        write_outputs(*fe, model_, out_, state_, templates, original, absolute(stats_), "edit-facts");
    std::cout << "applied " << n << " requests in " << batches << " batches (" << fe->cases().size()
              << " cases in the run) to layers";
    for (int l : fe->layers()) std::cout << " " << l;
    std::cout << "; checkpoint " << written << "; " << since(t_start) << " s\n";
    return 0;
  }

 private:
  std::string model_, requests_, hparams_, preset_, stats_, method_, history_ = "aligned", cases_, templates_, state_,
      out_;
  bool in_place_ = false, no_comp_ = false;
  int batch_ = 100;
};

int fact_run_retract_impl(const FactRunRetractArgs& a) {
  check_output(a.out, a.in_place);
  if (a.cases.empty()) throw std::invalid_argument("retract: --cases: no case id given");
  const sf::RunManifest man0 = sf::read_run_manifest(a.state);
  const std::string model_dir = a.model.empty() ? man0.checkpoint : a.model;
  auto model = seqedit::model::Model<float>::load(model_dir);
  sf::RunManifest man;
  sf::FactEditor fe = sf::load_run(a.state, model, model_dir, nullptr, &man);
  if (man.history != seqedit::History::Aligned)
    throw std::invalid_argument(a.state + ": retraction needs the aligned history");
  for (std::int64_t c : a.cases)
    if (!fe.cases().count(c))
      throw std::invalid_argument(a.state + ": case_id " + std::to_string(c) + " is not applied in the run");
  const auto t0 = std::chrono::steady_clock::now();
  fe.retract(model, a.cases);
  std::cerr << "retract: " << a.cases.size() << " cases removed from " << fe.layers().size() << " layers in "
            << since(t0) << " s\n";
  const std::string written =
      write_outputs(fe, model_dir, a.out, a.state, man.templates, man.original, man.stats, "retract");
  std::cout << "retracted " << a.cases.size() << " cases; " << fe.cases().size() << " remain; checkpoint " << written
            << "\n";
  return 0;
}

int fact_run_verify_impl(const FactRunVerifyArgs& a) {
  const sf::RunManifest man = sf::read_run_manifest(a.state);
  const std::string stats = a.stats.empty() ? man.stats : a.stats;
  if (stats.empty()) throw std::invalid_argument("verify: --stats DIR is needed (the state records no statistics folder)");
  if (man.history != seqedit::History::Aligned)
    throw std::invalid_argument(a.state + ": verify compares with the one-time edit, which needs the aligned history");
  const double tol = a.tolerance >= 0 ? a.tolerance : seqedit::default_alignment_tolerance<double>();
  bool ok = true;
  for (std::size_t i = 0; i < man.layers.size(); ++i) {
    const std::string path = a.state + "/" + man.files[i];
    const Eigen::MatrixXd c0 = sf::read_mom2_npz(find_stats_file(stats, man.hparams.rewrite_module(man.layers[i]),
                                                                 man.hparams.mom2_dtype))
                                   .second_moment();
    const auto check = [&](const auto& ed) {
      const seqedit::AlignmentReport rep = seqedit::verify_alignment(ed, c0);
      const bool good = rep.judged() <= tol;
      std::cout << "layer " << man.layers[i] << ": " << rep.live_edits << " live edits, |D - D*|/|D*| = "
                << rep.deviation;
      if (rep.compensated_deviation) std::cout << ", |D - D* - e|/|D*| = " << *rep.compensated_deviation;
      std::cout << ", drift " << double(ed.drift_estimate()) << ": " << (good ? "OK" : "FAILED") << "\n";
      return good;
    };
    bool good = false;
    if (man.method == sf::Method::MemitPrune)
      good = check(seqedit::io::load_editor_state<double, seqedit::Prune<double>>(path));
    else if (man.method == sf::Method::MemitRect)
      good = check(seqedit::io::load_editor_state<double, seqedit::Rect<double>>(path, seqedit::Rect<double>(man.rect_ratio)));
    else
      good = check(seqedit::io::load_editor_state<double>(path));
    ok = ok && good;
  }
  std::cout << (ok ? "OK" : "FAILED") << ": every layer within tolerance " << tol << (ok ? "" : " (not all)") << "\n";
  return ok ? 0 : 1;
}

const bool fact_run_installed = [] {
  fact_run_retract() = &fact_run_retract_impl;
  fact_run_verify() = &fact_run_verify_impl;
  return true;
}();

}  // namespace

SEQEDIT_CLI_COMMAND(EditFactsCommand)

}  // namespace seqedit_cli

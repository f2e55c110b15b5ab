// A fact-editing run as library calls (edit_facts.hpp, pipeline.md §6).

#include "seqedit/facts/edit_facts.hpp"

#include "seqedit/alignment.hpp"
#include "seqedit/facts/checkpoint_out.hpp"
#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/facts/run_state.hpp"
#include "seqedit/facts/stats.hpp"
#include "seqedit/facts/update.hpp"
#include "seqedit/io/checkpoint.hpp"
#include "seqedit/io/editor_state.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace seqedit {
namespace facts {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

std::string seconds_text(double s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

void emit(const LogFn& log, const std::string& line) {
  if (log) log(line);
}

std::vector<Eigen::MatrixXd> read_c0(const std::string& dir, const Hparams& hp, const LogFn& log) {
  std::vector<Eigen::MatrixXd> c0;
  for (int l : hp.layers) {
    const std::string path = find_stats_file(dir, hp.rewrite_module(l), hp.mom2_dtype);
    c0.push_back(read_mom2_npz(path).second_moment());
    emit(log, "C0 of layer " + std::to_string(l) + " from " + path);
  }
  return c0;
}

void check_output(const std::string& out, bool in_place) {
  if (out.empty() == !in_place) throw std::invalid_argument("give exactly one of --out DIR or --in-place");
  if (!out.empty() && fs::exists(out))
    throw std::invalid_argument("--out: '" + out + "' exists; give a new folder (or --in-place)");
}

std::vector<LayerWeights> weights_of(const FactEditor& fe) {
  std::vector<LayerWeights> out;
  for (std::size_t i = 0; i < fe.layers().size(); ++i)
    out.push_back({fe.layers()[i], fe.visit(i, [](const auto& ed) { return Eigen::MatrixXd(ed.weights()); })});
  return out;
}

/// Writes the checkpoint (to `out` or in place) and then the state; returns the folder
/// written and the seconds the checkpoint took. Logs nothing (see "Progress and stopping").
std::pair<std::string, double> write_outputs(const FactEditor& fe, const std::string& model_dir,
                                             const std::string& out, const std::string& state,
                                             const ContextTemplates& templates,
                                             const std::vector<std::string>& original,
                                             const std::string& stats_dir) {
  const auto t0 = Clock::now();
  write_edited_checkpoint(model_dir, weights_of(fe), out);
  const std::string written = absolute(out.empty() ? model_dir : out);
  const double seconds = since(t0);
  if (!state.empty()) {
    const CheckpointFingerprint fp = fingerprint_checkpoint(written, fe.layers());
    try {
      save_run(state, fe, templates, fp, original, written, stats_dir);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + "\nthe checkpoint " + written +
                               " was written but the state was not; the state refuses it from now on");
    }
  }
  return {written, seconds};
}

void log_written(const LogFn& log, const std::string& written, double seconds, const std::string& state) {
  emit(log, "checkpoint written to " + written + " (" + seconds_text(seconds) + " s)");
  if (!state.empty()) emit(log, "state written to " + state);
}

}  // namespace

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

History parse_history(const std::string& text, const std::string& what) {
  if (text == "aligned") return History::Aligned;
  if (text == "none") return History::None;
  if (text == "latest") return History::LatestOnly;
  throw std::invalid_argument(what + ": '" + text + "' is not aligned, none or latest");
}

void EditFactsOptions::check() const {
  if (model.empty()) throw std::invalid_argument("edit_facts: model: no checkpoint folder given");
  if (requests.empty()) throw std::invalid_argument("edit_facts: requests: no requests file given");
  if (stats.empty()) throw std::invalid_argument("edit_facts: stats: no statistics folder given");
  if (hparams.empty() == preset.empty()) throw std::invalid_argument("give exactly one of --hparams or --preset");
  if (batch <= 0) throw std::invalid_argument("--batch must be positive, got " + std::to_string(batch));
  if (save_every < 0) throw std::invalid_argument("--save-every must be >= 0, got " + std::to_string(save_every));
  if (save_every > 0 && state.empty())
    throw std::invalid_argument("--save-every needs --state (a saved checkpoint is continued from its state)");
  if (skip_applied && state.empty()) throw std::invalid_argument("--skip-applied needs --state");
  if (cases && (cases->first < 0 || cases->second < cases->first))
    throw std::invalid_argument("--cases: " + std::to_string(cases->first) + "-" + std::to_string(cases->second) +
                                " is not A-B with 0 <= A <= B");
  parse_method(method);
  parse_history(history, "--history");
  check_output(out, in_place);
}

EditFactsResult edit_facts(const EditFactsOptions& o, const LogFn& log) {
  const auto t_start = Clock::now();
  o.check();
  const Method method = parse_method(o.method);
  const History history = parse_history(o.history, "--history");
  Hparams hp = o.hparams.empty() ? preset_hparams(o.preset) : read_hparams(o.hparams);
  for (const std::string& f : hp.ignored) emit(log, "hparams field '" + f + "' is ignored");
  std::vector<Request> requests = read_requests(o.requests);
  if (o.cases) requests = select_cases(requests, o.cases->first, o.cases->second);
  if (requests.empty()) throw std::invalid_argument(o.requests + ": no request selected");
  std::size_t skipped = 0;

  auto model = model::Model<float>::load(o.model);
  const auto tok = text::Tokenizer::from_checkpoint(o.model);
  {
    const io::Checkpoint ck(o.model);
    std::vector<std::string> present;
    for (int l : hp.layers) {
      const std::string n = hp.rewrite_module(l) + ".weight";
      if (ck.has_tensor(n)) present.push_back(n);
    }
    check_modules(hp, model.config().n_layer, present);
  }
  ContextTemplates templates;
  std::vector<std::string> original;
  std::unique_ptr<FactEditor> fe;
  if (!o.state.empty() && is_run_state(o.state)) {
    RunManifest man;
    fe = std::make_unique<FactEditor>(load_run(o.state, model, o.model, &hp, &man));
    if (man.method != method)
      throw std::invalid_argument(o.state + ": the run uses method " + method_name(man.method) + ", not " + o.method);
    if (man.history != history)
      throw std::invalid_argument(o.state + ": the run uses another history than --history " + o.history);
    FactEditorOptions want_opt;
    if (!o.compensation) want_opt.compensation = Compensation::None;
    const Compensation want = want_opt.compensation_for(history);
    if (method_regularised(method) && man.compensation != want)
      throw std::invalid_argument(o.state + ": the run was made " +
                                  (man.compensation == Compensation::Analytic ? "with" : "without") +
                                  " compensation; --no-compensation " + (o.compensation ? "not given" : "given"));
    if (!o.context_templates.empty() && read_context_templates(o.context_templates).groups != man.templates.groups)
      throw std::invalid_argument("--context-templates: not the templates of the run in " + o.state);
    templates = man.templates;
    original = man.original;
    std::vector<Request> remaining;
    for (const Request& r : requests) {
      if (!fe->cases().count(r.case_id)) {
        remaining.push_back(r);
        continue;
      }
      if (!o.skip_applied)
        throw std::invalid_argument(o.requests + ": case_id " + std::to_string(r.case_id) +
                                    " is already applied in the run " + o.state +
                                    " (retract it first, or skip it with --skip-applied)");
    }
    skipped = requests.size() - remaining.size();
    requests = std::move(remaining);
    emit(log, "continuing the run in " + o.state + " (" + std::to_string(fe->cases().size()) + " cases applied" +
                  (skipped ? ", " + std::to_string(skipped) + " requests skipped as applied" : std::string()) + ")");
  } else {
    const std::vector<Eigen::MatrixXd> c0 = read_c0(o.stats, hp, log);
    templates = o.context_templates.empty() ? generate_context_templates(model, tok)
                                            : read_context_templates(o.context_templates);
    FactEditorOptions opt;
    if (!o.compensation) opt.compensation = Compensation::None;
    fe = std::make_unique<FactEditor>(model, hp, method, history, c0, opt);
    original = fingerprint_checkpoint(o.model, hp.layers).hashes;
  }

  const std::size_t n = requests.size(), b = static_cast<std::size_t>(o.batch);
  const std::size_t batches = (n + b - 1) / b;
  const auto every = static_cast<std::size_t>(o.save_every);
  const LogFn indented = [&log](const std::string& line) { emit(log, "  " + line); };
  EditFactsResult res;
  // where the next save writes: `out` (a new folder) the first time, then that folder in place
  std::string save_model = o.model, save_out = o.out;
  const std::string stats_dir = absolute(o.stats);
  const auto save = [&] {
    const auto [written, ck_seconds] = write_outputs(*fe, save_model, save_out, o.state, templates, original, stats_dir);
    save_model = written;
    save_out.clear();
    res.checkpoint = written;
    ++res.saves;
    log_written(log, written, ck_seconds, o.state);
  };
  for (std::size_t k = 0; k < batches; ++k) {
    const auto t0 = Clock::now();
    const std::vector<Request> batch(requests.begin() + static_cast<std::ptrdiff_t>(k * b),
                                     requests.begin() + static_cast<std::ptrdiff_t>(std::min(n, (k + 1) * b)));
    emit(log, "batch " + std::to_string(k + 1) + "/" + std::to_string(batches) + ", " + std::to_string(batch.size()) +
                  " requests");
    fe->apply(model, tok, batch, templates, true, indented);
    emit(log, "batch " + std::to_string(k + 1) + " done in " + seconds_text(since(t0)) + " s");
    if (every > 0 && (k + 1) % every == 0 && k + 1 < batches) save();
  }
  save();  // also when every request was skipped: the call always leaves its output
  res.requests = n;
  res.skipped = skipped;
  res.batches = batches;
  res.cases_in_run = fe->cases().size();
  res.layers = fe->layers();
  res.seconds = since(t_start);
  return res;
}

RetractFactsResult retract_facts(const RetractFactsOptions& a, const LogFn& log) {
  check_output(a.out, a.in_place);
  if (a.cases.empty()) throw std::invalid_argument("retract: --cases: no case id given");
  const RunManifest man0 = read_run_manifest(a.state);
  const std::string model_dir = a.model.empty() ? man0.checkpoint : a.model;
  auto model = model::Model<float>::load(model_dir);
  RunManifest man;
  FactEditor fe = load_run(a.state, model, model_dir, nullptr, &man);
  if (man.history != History::Aligned) throw std::invalid_argument(a.state + ": retraction needs the aligned history");
  for (std::int64_t c : a.cases)
    if (!fe.cases().count(c))
      throw std::invalid_argument(a.state + ": case_id " + std::to_string(c) + " is not applied in the run");
  const auto t0 = Clock::now();
  fe.retract(model, a.cases);
  emit(log, std::to_string(a.cases.size()) + " cases removed from " + std::to_string(fe.layers().size()) +
                " layers in " + seconds_text(since(t0)) + " s");
  const auto [written, ck_seconds] = write_outputs(fe, model_dir, a.out, a.state, man.templates, man.original, man.stats);
  RetractFactsResult res;
  res.retracted = a.cases.size();
  res.remaining = fe.cases().size();
  res.checkpoint = written;
  log_written(log, written, ck_seconds, a.state);
  return res;
}

VerifyRunResult verify_run(const std::string& state, const std::string& stats_dir, double tolerance) {
  const RunManifest man = read_run_manifest(state);
  const std::string stats = stats_dir.empty() ? man.stats : stats_dir;
  if (stats.empty()) throw std::invalid_argument("verify: --stats DIR is needed (the state records no statistics folder)");
  if (man.history != History::Aligned)
    throw std::invalid_argument(state + ": verify compares with the one-time edit, which needs the aligned history");
  VerifyRunResult res;
  res.tolerance = tolerance >= 0 ? tolerance : default_alignment_tolerance<double>();
  res.ok = true;
  for (std::size_t i = 0; i < man.layers.size(); ++i) {
    const std::string path = state + "/" + man.files[i];
    const Eigen::MatrixXd c0 =
        read_mom2_npz(find_stats_file(stats, man.hparams.rewrite_module(man.layers[i]), man.hparams.mom2_dtype))
            .second_moment();
    LayerVerification lv;
    lv.layer = man.layers[i];
    const auto check = [&](const auto& ed) {
      const AlignmentReport rep = verify_alignment(ed, c0);
      lv.live_edits = rep.live_edits;
      lv.deviation = rep.deviation;
      lv.compensated_deviation = rep.compensated_deviation;
      lv.drift = double(ed.drift_estimate());
      lv.ok = rep.judged() <= res.tolerance;
    };
    if (man.method == Method::MemitPrune)
      check(io::load_editor_state<double, Prune<double>>(path));
    else if (man.method == Method::MemitRect)
      check(io::load_editor_state<double, Rect<double>>(path, Rect<double>(man.rect_ratio)));
    else
      check(io::load_editor_state<double>(path));
    res.ok = res.ok && lv.ok;
    res.layers.push_back(lv);
  }
  return res;
}

}  // namespace facts
}  // namespace seqedit

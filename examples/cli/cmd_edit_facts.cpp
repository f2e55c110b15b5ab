// `seqedit edit-facts`: applies counterfactual requests to a checkpoint in sequential batches
// (pipeline.md §6) and writes the edited checkpoint and, with --state, the run state
// (seqedit/facts/run_state.hpp) from which a later call continues.
//
//   seqedit edit-facts --model DIR --requests FILE (--hparams FILE | --preset NAME) --stats DIR
//                      --method memit|alphaedit|memit-prune|memit-rect [--history aligned|none|latest]
//                      [--no-compensation] [--batch N] [--cases A-B] [--context-templates FILE]
//                      [--state DIR [--save-every N] [--skip-applied]] (--out DIR | --in-place)
//
// C0 of layer l is read from --stats DIR: the one file `<module>_<mom2_dtype>_mom2_*.npz` of
// that layer's module (as `seqedit stats` writes it), C0 = mom2 / count. With a state that
// already holds a run, the run's hyper-parameters, method, history and context templates must
// be the ones given (a difference is named), the checkpoint must be the one the state was
// last written to, and no request may have a case id already applied (--skip-applied skips
// them instead). --save-every N also writes the checkpoint and the state after every N
// batches; a stopped run continues with --model <the folder written> --in-place, the same
// --state and --skip-applied, bit-identically (edit_facts.hpp, "Saving during a long run").
//
// The run itself is seqedit::facts::edit_facts (seqedit/facts/edit_facts.hpp); this file
// maps the options and prints. It also implements `retract` and `verify` on a run state
// (fact_run.hpp), through retract_facts and verify_run.

#include "command.hpp"
#include "fact_run.hpp"

#include <seqedit/facts/edit_facts.hpp>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit_cli {
namespace {

namespace sf = seqedit::facts;

/// "A-B" or "A" → [first, last].
std::pair<std::int64_t, std::int64_t> parse_case_range(const std::string& s) {
  long long a = 0, b = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%lld-%lld%c", &a, &b, &extra) == 2 && a >= 0 && b >= a) return {a, b};
  if (std::sscanf(s.c_str(), "%lld%c", &a, &extra) == 1 && a >= 0) return {a, a};
  throw std::invalid_argument("--cases: '" + s + "' is not A-B with 0 <= A <= B");
}

sf::LogFn stderr_log(const std::string& label) {
  return [label](const std::string& line) { std::cerr << label << ": " << line << "\n"; };
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
    app.add_option("--save-every", save_every_,
                   "With --state: also write the checkpoint and the state after every N batches (default 0: at the end)")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--skip-applied", skip_applied_,
                 "Continuing a run: skip requests whose case id the run already holds (resumes a stopped run)");
  }

  int run() override {
    sf::EditFactsOptions o;
    o.model = model_;
    o.requests = requests_;
    o.hparams = hparams_;
    o.preset = preset_;
    o.stats = stats_;
    o.method = method_;
    o.history = history_;
    o.compensation = !no_comp_;
    o.batch = batch_;
    if (!cases_.empty()) o.cases = parse_case_range(cases_);
    o.context_templates = templates_;
    o.state = state_;
    o.out = out_;
    o.in_place = in_place_;
    o.save_every = save_every_;
    o.skip_applied = skip_applied_;
    const sf::EditFactsResult r = sf::edit_facts(o, stderr_log("edit-facts"));
    std::cout << "applied " << r.requests << " requests in " << r.batches << " batches (" << r.cases_in_run
              << " cases in the run";
    if (r.skipped) std::cout << ", " << r.skipped << " skipped as applied";
    if (r.saves > 1) std::cout << ", saved " << r.saves << " times";
    std::cout << ") to layers";
    for (int l : r.layers) std::cout << " " << l;
    std::cout << "; checkpoint " << r.checkpoint << "; " << r.seconds << " s\n";
    return 0;
  }

 private:
  std::string model_, requests_, hparams_, preset_, stats_, method_, history_ = "aligned", cases_, templates_, state_,
      out_;
  bool in_place_ = false, no_comp_ = false, skip_applied_ = false;
  int batch_ = 100;
  std::int64_t save_every_ = 0;
};

int fact_run_retract_impl(const FactRunRetractArgs& a) {
  sf::RetractFactsOptions o;
  o.state = a.state;
  o.model = a.model;
  o.out = a.out;
  o.in_place = a.in_place;
  o.cases = a.cases;
  const sf::RetractFactsResult r = sf::retract_facts(o, stderr_log("retract"));
  std::cout << "retracted " << r.retracted << " cases; " << r.remaining << " remain; checkpoint " << r.checkpoint
            << "\n";
  return 0;
}

int fact_run_verify_impl(const FactRunVerifyArgs& a) {
  const sf::VerifyRunResult r = sf::verify_run(a.state, a.stats, a.tolerance);
  for (const sf::LayerVerification& l : r.layers) {
    std::cout << "layer " << l.layer << ": " << l.live_edits << " live edits, |D - D*|/|D*| = " << l.deviation;
    if (l.compensated_deviation) std::cout << ", |D - D* - e|/|D*| = " << *l.compensated_deviation;
    std::cout << ", drift " << l.drift << ": " << (l.ok ? "OK" : "FAILED") << "\n";
  }
  std::cout << (r.ok ? "OK" : "FAILED") << ": every layer within tolerance " << r.tolerance << (r.ok ? "" : " (not all)")
            << "\n";
  return r.ok ? 0 : 1;
}

const bool fact_run_installed = [] {
  fact_run_retract() = &fact_run_retract_impl;
  fact_run_verify() = &fact_run_verify_impl;
  return true;
}();

}  // namespace

SEQEDIT_CLI_COMMAND(EditFactsCommand)

}  // namespace seqedit_cli

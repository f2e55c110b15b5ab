// `seqedit retract`: removes earlier edits exactly (as if never made) by their journal ids
// and rewrites the tensor and the state.
//
//   seqedit retract --state S --ids ID... --model DIR --layer N [--stats NPZ | --c0 FILE]
//   seqedit retract --state DIR --cases ID... [--model DIR] (--out DIR | --in-place)
//
// The second form works on the state folder of `seqedit edit-facts` (it holds manifest.json):
// it removes the facts of those case ids from every edited layer exactly and writes the
// checkpoint (by default the one the state was last written to) and the state.
//
// A retraction is a downdate of M_t⁻¹ (math.md section 7). If round-off makes it look
// indefinite, the editor refuses it and stays unchanged; given C0 (--stats or --c0), the
// tool then rebuilds M_t⁻¹ from C0 and the journal (`refresh`) and retries once.

#include "cli_common.hpp"
#include "cli_inputs.hpp"
#include "command.hpp"
#include "fact_run.hpp"
#include "methods.hpp"

#include <seqedit/errors.hpp>
#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/io.hpp>
#include <seqedit/sequential_editor.hpp>

#include <Eigen/Core>

#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

struct RetractArgs {
  std::string state, model, tensor, orientation, stats, c0;
  int layer = -1;
  std::vector<std::uint64_t> ids;
  bool force = false;
};

template <typename Editor>
int run_retract(const RetractArgs& a, const sio::EditorStateInfo& info, const sio::Checkpoint& ck,
                const sio::TensorLocation& loc, Editor& ed) {
  using Scalar = typename Editor::Scalar;
  require_checkpoint_matches(ck, loc, ed.weights(), a.state, a.force);
  std::vector<seqedit::EditId> ids;
  for (std::uint64_t s : a.ids) {
    if (!ed.journal().contains(seqedit::EditId{ed.tag(), s}))
      throw cli_error(a.state + ": edit id " + std::to_string(s) + " is not in the journal (live ids: " +
                      serial_ranges(info.journal_serials) + ")");
    ids.push_back(seqedit::EditId{ed.tag(), s});
  }
  const Matrix<Scalar> before = ed.weights();
  try {
    ed.retract(ids);
  } catch (const std::invalid_argument& e) {
    throw cli_error(a.state + ": " + e.what());
  } catch (const seqedit::numerical_error& e) {
    if (a.stats.empty() && a.c0.empty())
      throw cli_error(a.state + ": " + e.what() +
                      "\nnothing was changed; pass --stats NPZ or --c0 FILE to rebuild the system from C0 and retry");
    std::cerr << "seqedit: the downdate was refused (" << e.what() << ");\nseqedit: rebuilding the system from C0 ("
              << (a.stats.empty() ? a.c0 : a.stats) << ") and the journal, and retrying\n";
    ed.refresh(read_c0<Scalar>(a.stats, a.c0, ed.key_dim()));
    try {
      ed.retract(ids);
    } catch (const seqedit::numerical_error& e2) {
      throw cli_error(a.state + ": " + e2.what() +
                      "\nrefused also after rebuilding the system from C0: the remaining edits leave it too close to "
                      "singular in this precision; nothing was changed");
    }
  }
  std::cout << "retracted " << ids.size() << " edits (ids " << serial_ranges(a.ids) << "): |W change|_F "
            << fmt_real(double((ed.weights() - before).norm()), 4) << "; " << ed.journal().size()
            << " live edits remain\n";
  write_results(ck, loc, ed, a.state, info.extra_metadata);
  return 0;
}

class RetractCommand : public Command {
 public:
  std::string name() const override { return "retract"; }
  std::string description() const override {
    return "Remove earlier edits exactly (as if never made) by their ids; rewrites the tensor and the state";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--state", a_.state, "Editor state file written by `seqedit edit`, or the run state folder of "
                                        "`seqedit edit-facts`")->required();
    app.add_option("--ids", a_.ids, "Edit ids to retract (printed by `edit`, listed by `inspect STATE`)");
    app.add_option("--cases", f_.cases, "Run state folder: the case ids of the facts to remove");
    app.add_option("--model", a_.model, "Checkpoint folder (run state: default the one it was last written to)");
    app.add_option("--layer", a_.layer, "Layer index (must be the state's)");
    app.add_option("--out", f_.out, "Run state folder: write the checkpoint into this new folder");
    app.add_flag("--in-place", f_.in_place, "Run state folder: rewrite the edited shards in place");
    app.add_option("--tensor", a_.tensor, "The edited tensor, if it was given to `edit` with --tensor");
    app.add_option("--orientation", a_.orientation, "With --tensor: out-in or in-out");
    app.add_flag("--force", a_.force, "Continue even if the checkpoint tensor differs from the state's weights");
    app.add_option("--stats", a_.stats,
                   "MEMIT statistics npz (C0 = mom2 / count): read only if the downdate is refused, to rebuild the "
                   "system from C0 and retry");
    app.add_option("--c0", a_.c0, "C0 file (.npy, .safetensors or .npz), used as --stats is");
  }
  int run() override {
    if (std::filesystem::is_directory(a_.state)) {
      if (!std::filesystem::is_regular_file(a_.state + "/manifest.json"))
        throw cli_error(a_.state + ": a folder without manifest.json is not a run state of `seqedit edit-facts`");
      if (!fact_run_retract()) throw cli_error("this build of seqedit has no fact pipeline (seqedit::facts)");
      if (!a_.ids.empty() || a_.layer >= 0)
        throw cli_error("a run state is retracted by --cases, not --ids / --layer");
      f_.state = a_.state;
      f_.model = a_.model;
      return fact_run_retract()(f_);
    }
    if (!f_.cases.empty() || !f_.out.empty() || f_.in_place)
      throw cli_error(a_.state + ": --cases, --out and --in-place need a run state folder of `seqedit edit-facts`");
    if (a_.ids.empty() || a_.model.empty() || a_.layer < 0)
      throw cli_error("retract of a state file needs --ids, --model and --layer");
    if (!a_.stats.empty() && !a_.c0.empty()) throw cli_error("give either --stats or --c0, not both");
    for (const std::string& f : {a_.stats, a_.c0})
      if (!f.empty() && !std::filesystem::is_regular_file(f)) throw cli_error(f + ": no such file");
    const sio::EditorStateInfo info = sio::read_editor_state_info(a_.state);
    const sio::Checkpoint ck(a_.model);
    const sio::TensorLocation loc = locate(ck, a_.layer, a_.tensor, a_.orientation);
    const auto [dv, dk] = tensor_layer_shape(ck, loc);
    check_state_target(info, a_.layer, loc, dv, dk);
    if (info.history != seqedit::History::Aligned)
      throw cli_error(a_.state + ": retraction needs the aligned history; the state has '" +
                      std::string(sio::history_name(info.history)) + "'");
    require_writable(ck.shard_of(loc.tensor), "edited shard");
    require_writable(a_.state, "state file");
    return with_state_editor(a_.state, info, [&](auto& ed) { return run_retract(a_, info, ck, loc, ed); });
  }

 private:
  RetractArgs a_;
  FactRunRetractArgs f_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(RetractCommand)

}  // namespace seqedit_cli

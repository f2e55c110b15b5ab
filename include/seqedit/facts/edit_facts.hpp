#ifndef SEQEDIT_FACTS_EDIT_FACTS_HPP
#define SEQEDIT_FACTS_EDIT_FACTS_HPP

/// \file edit_facts.hpp
/// A fact-editing run as library calls (pipeline.md §6): what `seqedit edit-facts`,
/// `seqedit retract --state` and `seqedit verify --state` do, for C++ programs and the
/// Python binding (`seqedit.edit_facts`). The tool's commands are thin wrappers over these.
///
/// **edit_facts** reads the requests and hyper-parameters, loads the checkpoint, creates the
/// run (C0 of every edited layer from the statistics folder, context templates generated on
/// the unedited model or read from a file) or continues the one in `state`, applies the
/// requests in batches, and then writes the edited checkpoint (`out`, a new folder, or in
/// place) and, with `state`, the run state (run_state.hpp). By default nothing is written
/// before every batch has been applied, so a run that fails or is stopped leaves the
/// checkpoint and the state as they were.
///
/// **Saving during a long run.** With `save_every` = N > 0 (it needs `state`), the
/// checkpoint and the state are also written after every N batches: the first save creates
/// `out` (or rewrites `model` in place), later saves rewrite the edited shards of the folder
/// written. A run that fails or is stopped then keeps what its last save holds, a consistent
/// checkpoint and state, and continues with `model` = the folder written, `in_place`, the
/// same `state` and `skip_applied`, which skips the requests the run already holds: the
/// result is bit-identical to the run without the stop.
///
/// **Progress and stopping.** `log` receives one line per batch, request and layer
/// (pipeline.md §6, as the tool prints them on stderr). It is called only between writes,
/// never while a checkpoint or a state is half-written: an exception it throws stops the run
/// there and propagates, and the checkpoint and state stay as the last save (or the start)
/// left them (the Python binding turns Ctrl-C into such an exception).
///
/// Errors: std::invalid_argument for options that contradict each other or the run in
/// `state` (the message names the option), io::format_error / io::io_error from the files,
/// seqedit::numerical_error from the solvers.

#include "seqedit/facts/hparams.hpp"
#include "seqedit/sequential_editor.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

/// One line of progress; may throw to stop the run (see the file comment).
using LogFn = std::function<void(const std::string&)>;

/// Options of edit_facts; the fields mirror `seqedit edit-facts`.
struct EditFactsOptions {
  std::string model;     ///< checkpoint folder (config.json, safetensors, tokenizer.json)
  std::string requests;  ///< CounterFact JSON, zsRE JSON or JSON Lines (requests.hpp)
  std::string hparams;   ///< MEMIT / AlphaEdit hparams JSON, or
  std::string preset;    ///< a preset name (gpt2-xl, gpt-j, llama3-8b): exactly one of the two
  std::string stats;     ///< folder of the `<module>_<dtype>_mom2_*.npz` statistics (`seqedit stats`)
  std::string method;    ///< memit, alphaedit, memit-prune or memit-rect
  std::string history = "aligned";  ///< aligned, none (naive) or latest (Memorize-the-Latest)
  /// PRUNE / RECT under aligned history: Algorithm 1 compensation (default on).
  bool compensation = true;
  std::int64_t batch = 100;  ///< requests per batch, > 0
  /// Only the requests with case ids in [first, last].
  std::optional<std::pair<std::int64_t, std::int64_t>> cases;
  std::string context_templates;  ///< JSON list of templates; empty: generated (pipeline.md §3)
  std::string state;              ///< run-state folder: continued if it holds a run, else created; empty: none
  std::string out;                ///< new folder for the edited checkpoint, or
  bool in_place = false;          ///< rewrite the edited shards of `model`: exactly one of the two
  /// With `state`: also write the checkpoint and the state after every N batches (0: only at
  /// the end; see "Saving during a long run").
  std::int64_t save_every = 0;
  /// Continuing a run: skip the requests whose case id the run already holds (default:
  /// such a request is an error).
  bool skip_applied = false;

  /// Checks what can be checked without reading files; std::invalid_argument naming the field.
  void check() const;
};

/// What edit_facts did.
struct EditFactsResult {
  std::size_t requests = 0;      ///< requests applied by this call
  std::size_t skipped = 0;       ///< requests skipped as already applied (skip_applied)
  std::size_t saves = 0;         ///< times the checkpoint (and state) were written
  std::size_t batches = 0;       ///< batches they were applied in
  std::size_t cases_in_run = 0;  ///< cases in the run after the call
  std::vector<int> layers;       ///< the edited layers
  std::string checkpoint;        ///< the folder written (absolute)
  double seconds = 0;            ///< wall time of the call
};

/// Runs `seqedit edit-facts` (see the file comment).
EditFactsResult edit_facts(const EditFactsOptions& options, const LogFn& log = {});

/// Options of retract_facts; the fields mirror `seqedit retract --state`.
struct RetractFactsOptions {
  std::string state;  ///< the run-state folder
  std::string model;  ///< checkpoint folder; empty: the one the state was last written to
  std::string out;    ///< new folder for the checkpoint, or
  bool in_place = false;
  std::vector<std::int64_t> cases;  ///< case ids to remove (each applied in the run)
};

/// What retract_facts did.
struct RetractFactsResult {
  std::size_t retracted = 0, remaining = 0;
  std::string checkpoint;  ///< the folder written (absolute)
};

/// Removes the cases from every layer exactly (each layer's update becomes the one-time
/// solution of its remaining columns), then writes the checkpoint and the state as
/// edit_facts does. Needs the aligned history.
RetractFactsResult retract_facts(const RetractFactsOptions& options, const LogFn& log = {});

/// The verification of one edited layer (alignment.hpp).
struct LayerVerification {
  int layer = 0;
  std::int64_t live_edits = 0;
  double deviation = 0;                        ///< ‖D − D*‖ / ‖D*‖
  std::optional<double> compensated_deviation;  ///< ‖D − D* − e‖ / ‖D*‖ with Algorithm 1
  double drift = 0;                            ///< the editor's drift estimate
  bool ok = false;                             ///< judged deviation ≤ tolerance
};

/// What verify_run found.
struct VerifyRunResult {
  std::vector<LayerVerification> layers;
  double tolerance = 0;
  bool ok = false;  ///< every layer within tolerance
};

/// Checks every layer of a run against the one-time solution of its journal, with C0 from
/// `stats` (empty: the folder recorded in the state). `tolerance` < 0: the default
/// (alignment.hpp, double). Needs the aligned history.
VerifyRunResult verify_run(const std::string& state, const std::string& stats = std::string(),
                           double tolerance = -1);

/// The statistics file of `module` in `dir`: the one `<module>_<dtype>_mom2_*.npz`
/// (std::invalid_argument when there is none, or more than one).
std::string find_stats_file(const std::string& dir, const std::string& module, const std::string& dtype);

/// "aligned", "none" or "latest" → History; std::invalid_argument naming `what` otherwise.
History parse_history(const std::string& text, const std::string& what = "history");

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_EDIT_FACTS_HPP

#ifndef SEQEDIT_FACTS_RUN_STATE_HPP
#define SEQEDIT_FACTS_RUN_STATE_HPP

/// \file run_state.hpp
/// The state of a fact-editing run (pipeline.md §6): a folder with one editor state per
/// edited layer (io::save_editor_state, the same file format as the tool's single-editor
/// states) and `manifest.json`, so that a later call continues the sequence, retracts facts
/// by case id or verifies every layer.
///
/// **manifest.json** (format version 1): `format` ("seqedit-fact-run"), `version`,
/// `generation` (increases with every save), `method`, `history`, `compensation`,
/// `rect_ratio` (MEMIT-RECT only), `hparams` (the values used: the honoured fields of
/// pipeline.md §9), `layers` (per edited layer: `layer`, `tensor` in the checkpoint, `file`,
/// the state file's `checksum` = its `seqedit.checksum`, `original` = XXH3-64 of the
/// tensor's bytes in the unedited checkpoint, `current` = XXH3-64 of its bytes in the
/// checkpoint the state was last written to), `cases` (in application order: `case_id` and
/// one edit serial per layer), `templates` (the context templates of the run, groups of
/// strings: generated on the unedited model by the first call and reused by every later
/// one, pipeline.md §3), `stats` (the statistics folder of C0), `checkpoint` (the folder
/// last written), `config` and `tokenizer` (XXH3-64 of config.json and tokenizer.json).
///
/// **Atomicity.** Layer files carry the generation in their names (`layer-<l>.g<N>.safetensors`),
/// each written atomically; `manifest.json` is written last, atomically: it is the commit
/// point. Files of older generations are removed after it. A save that fails leaves the
/// previous state complete.
///
/// **Refusals** (`load_run`): a checkpoint whose config.json, tokenizer.json or edited
/// tensors differ from those the state was last written with (the message names what
/// differs), a layer file that is not the one the manifest names (checksum), an editor whose
/// W0 is not the checkpoint's original tensor, other layers or other hyper-parameters than
/// expected: std::invalid_argument or io::format_error, and nothing is written.

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/update.hpp"
#include "seqedit/model/model.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Format version of manifest.json written by save_run.
constexpr int run_state_version = 1;

/// The fingerprint of a checkpoint for a run: XXH3-64 (16 hex digits) of config.json and
/// tokenizer.json ("absent" when missing) and of the stored bytes of each edited layer's
/// FFN output tensor.
struct CheckpointFingerprint {
  std::string config, tokenizer;
  std::vector<std::string> tensors;  ///< tensor name per layer
  std::vector<std::string> hashes;   ///< XXH3-64 of its bytes, per layer
};

/// Fingerprints `model_dir` for `layers`. \throws io::format_error / io::io_error.
CheckpointFingerprint fingerprint_checkpoint(const std::string& model_dir, const std::vector<int>& layers);

/// What manifest.json holds (see the file comment).
struct RunManifest {
  int version = run_state_version;
  std::uint64_t generation = 0;
  Method method = Method::Memit;
  History history = History::Aligned;
  Compensation compensation = Compensation::None;
  double rect_ratio = 0;  ///< MEMIT-RECT's p; 0 otherwise
  Hparams hparams;
  std::vector<int> layers;
  std::vector<std::string> tensors, files, checksums, original, current;  ///< per layer
  std::vector<std::int64_t> case_order;
  std::vector<std::vector<std::uint64_t>> case_serials;  ///< per case (same order), one per layer
  ContextTemplates templates;
  std::string stats;  ///< the statistics folder C0 was read from ("" if not recorded)
  std::string checkpoint, config, tokenizer;
};

/// True if `dir` holds a manifest.json (a fact-run state).
bool is_run_state(const std::string& dir);

/// Reads and validates `dir`/manifest.json. \throws io::format_error naming the field.
RunManifest read_run_manifest(const std::string& dir);
/// Parses manifest.json text (at most max_manifest_bytes); `origin` names it in messages.
/// \throws io::format_error naming the field.
RunManifest parse_run_manifest(const std::string& text, const std::string& origin);
/// The largest manifest.json accepted (64 MiB).
constexpr std::size_t max_manifest_bytes = std::size_t(64) << 20;

/// Saves the run: one editor state per layer and the manifest (see "Atomicity"). `written`
/// is the fingerprint of the checkpoint folder `checkpoint_dir` the run's weights were just
/// written to; `original` the per-layer hashes of the unedited tensors (from the first
/// fingerprint, or the previous manifest); `templates` the run's context templates;
/// `stats_dir` where C0 came from (recorded for `verify`). Creates `dir` if needed.
void save_run(const std::string& dir, const FactEditor& fe, const ContextTemplates& templates,
              const CheckpointFingerprint& written, const std::vector<std::string>& original,
              const std::string& checkpoint_dir, const std::string& stats_dir = std::string());

/// Loads a run for the checkpoint `model_dir` (its fingerprint must be the manifest's, see
/// "Refusals"), puts every layer's W into `model` and returns the editor. With `expect`,
/// its hyper-parameters must equal the manifest's (the first differing field is named).
FactEditor load_run(const std::string& dir, model::Model<float>& model, const std::string& model_dir,
                    const Hparams* expect = nullptr, RunManifest* manifest = nullptr);

/// The honoured hyper-parameters as JSON text (the manifest's `hparams`), readable by
/// parse_hparams.
std::string hparams_json(const Hparams& hp);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_RUN_STATE_HPP

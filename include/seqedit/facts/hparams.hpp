#ifndef SEQEDIT_FACTS_HPARAMS_HPP
#define SEQEDIT_FACTS_HPARAMS_HPP

/// \file hparams.hpp
/// Hyper-parameters of the fact pipeline, read from MEMIT's and AlphaEdit's own
/// `hparams/<method>/<model>.json` files as they are (pipeline.md §9), or taken from a preset.
///
/// * Honoured: `layers`, `fact_token` (only `subject_last`, pipeline.md §2), `v_num_grad_steps`,
///   `v_lr`, `v_loss_layer`, `v_weight_decay`, `kl_factor`, `clamp_norm_factor`,
///   `mom2_update_weight` (λ), `rewrite_module_tmp`, `layer_module_tmp`, `ln_f_module`,
///   `lm_head_module`, `mom2_n_samples`, `mom2_dtype` (they name the statistics file, §7),
///   `nullspace_threshold` and `L2` (AlphaEdit).
/// * Accepted and reported in `ignored`: fields the peers define that the procedure does not
///   use (`layer_selection`, `mlp_module_tmp`, `attn_module_tmp`, `mom2_adjustment`,
///   `mom2_dataset` — the corpus is given on the command line —, `model_name`,
///   `context_template_length_params`).
/// * Any other field, a value of the wrong JSON type, `fact_token` other than `subject_last`,
///   a layer list that is empty, unsorted or repeated, a non-positive step count or rate:
///   seqedit::io::format_error naming the file and the field.
///
/// Module names are checked against a checkpoint by check_modules().

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// The procedure's hyper-parameters (pipeline.md §5, §6, §9). Defaults: the documented
/// default for a checkpoint without a preset (default_hparams()).
struct Hparams {
  std::vector<int> layers;              ///< edited layers l_1 < … < l_m (pipeline.md §6)
  std::string fact_token = "subject_last";
  int v_num_grad_steps = 25;            ///< at most this many Adam iterations (§5)
  double v_lr = 0.5;                    ///< Adam learning rate on δ
  int v_loss_layer = -1;                ///< logits read after block max(v_loss_layer, L); −1: the last block
  double v_weight_decay = 0.5;          ///< decay weight on ‖δ‖ / ‖h‖²
  double kl_factor = 0.0625;            ///< weight of the KL row
  double clamp_norm_factor = 0.75;      ///< ‖δ‖ ≤ clamp_norm_factor · ‖h‖
  double mom2_update_weight = 15000.0;  ///< λ of MEMIT's objective
  std::string rewrite_module_tmp = "transformer.h.{}.mlp.c_proj";
  std::string layer_module_tmp = "transformer.h.{}";
  std::string ln_f_module = "transformer.ln_f";
  std::string lm_head_module = "transformer.wte";
  std::int64_t mom2_n_samples = 100000;
  std::string mom2_dtype = "float32";
  double nullspace_threshold = 2e-2;    ///< AlphaEdit: eigenvalues of C0 below it span the null space
  double L2 = 10.0;                     ///< AlphaEdit: ridge on the update
  /// Fields of the file that were accepted but are not used (see the file comment).
  std::vector<std::string> ignored;

  /// Throws std::invalid_argument naming the field for an unusable value.
  void check() const;

  /// The module of layer `l` (`rewrite_module_tmp` with `{}` replaced by l).
  std::string rewrite_module(int layer) const;
};

/// Reads a MEMIT / AlphaEdit hparams JSON file. \throws io::format_error, io::io_error.
Hparams read_hparams(const std::string& path);
/// Parses hparams JSON text; `origin` names it in messages.
Hparams parse_hparams(const std::string& json_text, const std::string& origin);

/// The presets: "gpt2-xl", "gpt-j" (GPT-J-6B) and "llama3-8b", the published values of
/// pipeline.md §9. \throws std::invalid_argument for another name (listing the known ones).
Hparams preset_hparams(const std::string& name);
/// Names of the presets.
std::vector<std::string> preset_names();

/// The default for a checkpoint without a preset: `n_layer` blocks; edits the five layers
/// centred on n_layer / 4 (GPT-2 XL's 13–17 of 48 is centred near 15 = 0.31 · 48; a quarter
/// keeps small models' edits away from the last blocks), clipped to [0, n_layer − 2]; the
/// last block for the loss; `module_tmp` the FFN output module of the family (e.g.
/// `model.layers.{}.mlp.down_proj`); the other values as GPT-J's (§9).
Hparams default_hparams(int n_layer, const std::string& module_tmp);

/// Checks `hp` against a checkpoint: every edited layer < n_layer, v_loss_layer < n_layer,
/// and `rewrite_module(l) + ".weight"` among `tensor_names` for every edited layer.
/// \throws std::invalid_argument naming the field and the missing module.
void check_modules(const Hparams& hp, int n_layer, const std::vector<std::string>& tensor_names);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_HPARAMS_HPP

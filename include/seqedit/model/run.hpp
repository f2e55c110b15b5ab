#ifndef SEQEDIT_MODEL_RUN_HPP
#define SEQEDIT_MODEL_RUN_HPP

/// \file run.hpp
/// What one pass of the model is asked to do, and what it returns: a batch of prompts, the
/// outputs requested at chosen (prompt, position) sites, intervention vectors δ added to
/// block outputs, the loss whose δ-gradient is wanted (pipeline.md §5), and the saved state
/// from which a later pass resumes.
///
/// Conventions used throughout:
/// * Positions are 0-based token indices inside a prompt. "At position t" means the model's
///   state after reading tokens 0..t; its next-token distribution predicts token t + 1.
/// * Layers are 0-based blocks; "the output of block l" is the residual stream after the
///   block (the input of block l + 1; HF's `hidden_states[l + 1]`).
/// * Every vector is a column of `width` entries: the model width d for residuals and δ,
///   d_k = `ModelConfig::d_ff` for keys, the vocabulary size for distributions.

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <vector>

namespace seqedit {
namespace model {

/// One (prompt, position) pair of a batch.
struct Site {
  int prompt = 0;    ///< index of the prompt in Batch::prompts
  int position = 0;  ///< 0-based token index in that prompt
};

/// A batch of prompts of any lengths (≥ 1 token each). The runtime packs them without
/// padding; every prompt attends only to its own tokens, so each result equals the result
/// of that prompt run alone (the right-padded, masked batch of Hugging Face, without the
/// wasted padding positions).
struct Batch {
  std::vector<std::vector<std::int32_t>> prompts;
};

/// log p(token | prompt[0..position]): the log-probability the model gives `token` as the
/// continuation after `position` (so for teacher forcing, token = prompt[position + 1]).
struct TokenQuery {
  int prompt = 0;
  int position = 0;
  std::int32_t token = 0;
};

/// Vectors δ added to the output of block `layer` at `sites` (column j at sites[j]):
/// output ← output + δ_j. MEMIT's value optimisation adds one δ per request at the
/// subject's last token of every row of that request (pipeline.md §5): pass the same
/// column at each of those sites and sum the gradient columns.
template <typename Scalar>
struct Intervention {
  int layer = 0;
  std::vector<Site> sites;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> delta;  ///< d × sites.size()
};

template <typename Scalar>
class PassState;

namespace detail {
template <typename Scalar>
struct PassStateAccess;  // the runtime's access to a PassState's contents
}  // namespace detail

/// Resumes a pass from a saved state (see PassState): blocks `layer`+1 .. n_layer−1 are
/// recomputed at positions ≥ from[i] of each prompt i; everything before is taken from the
/// state.
template <typename Scalar>
struct Resume {
  std::shared_ptr<const PassState<Scalar>> state;
  int layer = 0;          ///< the block whose saved output (before its interventions) is the start
  std::vector<int> from;  ///< per prompt: the first position recomputed (0 ≤ from[i] < length)
};

/// The requests of one pass. Every list may be empty; a pass with no request still checks
/// its input. Sites are checked against the batch (prompt index and position in range).
template <typename Scalar>
struct RunOptions {
  std::vector<TokenQuery> logprobs;  ///< → ForwardResult::logprobs
  std::vector<Site> distributions;   ///< full next-token log-softmax → ForwardResult::distributions
  std::vector<Site> logits;          ///< raw LM-head outputs → ForwardResult::logits
  /// Keys: the input of the FFN output projection (GPT-2 `mlp.c_proj`, GPT-J `mlp.fc_out`,
  /// Llama family `mlp.down_proj`) of each layer in key_layers, at every site of key_sites
  /// (pipeline.md §4). Orientation: FFN output = W k (+ b) with W = d × d_k as
  /// seqedit::io::Checkpoint::load gives it for ffn_output(layer).
  std::vector<int> key_layers;
  std::vector<Site> key_sites;
  /// The output of each block in residual_layers at every site of residual_sites, **before**
  /// the interventions of that layer are added (MEMIT's h, pipeline.md §5).
  std::vector<int> residual_layers;
  std::vector<Site> residual_sites;
  std::vector<Intervention<Scalar>> interventions;  ///< any layers; δs at the same site add up
  /// Keep the state of this pass in ForwardResult::state so later passes can resume from it
  /// (not together with `resume`).
  bool save_state = false;
  /// Resume from a saved state instead of running from the embeddings (empty state: off).
  Resume<Scalar> resume;
};

/// `weight` · (−log p(token | prompt[0..position])).
struct NllTerm {
  int prompt = 0;
  int position = 0;
  std::int32_t token = 0;
  double weight = 1.0;
};

/// `weight` · KL(p ‖ p_ref) = weight · Σ_v p_v (log p_v − reference_v) of the next-token
/// distribution p at (prompt, position); `reference` holds log p_ref (vocabulary entries,
/// e.g. a column of ForwardResult::distributions from an earlier pass).
template <typename Scalar>
struct KlTerm {
  int prompt = 0;
  int position = 0;
  double weight = 1.0;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> reference;
};

/// A scalar loss: Σ NLL terms + Σ KL terms. MEMIT's compute_z loss (pipeline.md §5) for one
/// request with rewrite rows r = 1..R, target tokens t_1..t_m of row r predicted at
/// positions P_r + 0 .. P_r + m − 1, and the KL row k at its subject's last token s_k:
/// nll = {(r, P_r + j, t_{j+1}, 1 / (R·m))}, kl = {(k, s_k, kl_factor, p_initial)}. The
/// norm penalty on δ is the caller's (it needs no model).
template <typename Scalar>
struct Loss {
  std::vector<NllTerm> nll;
  std::vector<KlTerm<Scalar>> kl;
};

/// The results of one pass, in the order of the requests.
template <typename Scalar>
struct ForwardResult {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<Scalar> logprobs;  ///< one per TokenQuery
  Matrix distributions;          ///< vocab × distributions.size(), log-softmax
  Matrix logits;                 ///< vocab × logits.size()
  std::vector<Matrix> keys;      ///< per key_layers entry: d_ff × key_sites.size()
  std::vector<Matrix> residuals; ///< per residual_layers entry: d × residual_sites.size()
  std::shared_ptr<const PassState<Scalar>> state;  ///< with save_state
};

/// A forward pass and the gradient of a loss with respect to the intervention vectors.
template <typename Scalar>
struct GradientResult {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  ForwardResult<Scalar> forward;
  Scalar loss = 0;
  std::vector<Matrix> delta_gradients;  ///< per intervention: ∂loss/∂δ, d × sites.size()
};

/// The saved state of a pass (RunOptions::save_state): for every block, its output before
/// that block's interventions and its attention keys and values (after rotary embedding),
/// at every position of every prompt, plus the batch's tokens and the saving pass's
/// interventions. A pass resumed at block l from positions from[i] computes exactly what a
/// full pass would compute with the saving pass's interventions at layers < l and the new
/// pass's interventions; so the new pass may place interventions only at layers ≥ l and
/// positions ≥ from[i], and the saving pass must have none at layers ≥ l before from[i]
/// (both are checked). Memory: n_layer × tokens × (d + 2 · kv_dim) scalars.
template <typename Scalar>
class PassState {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  /// The batch the state was computed on.
  const Batch& batch() const { return batch_; }
  /// Number of blocks.
  int layers() const { return static_cast<int>(outputs_.size()); }
  /// Output of block l (before its interventions) at every token, prompts one after another:
  /// column offset(i) + t is position t of prompt i.
  const Matrix& block_output(int l) const { return outputs_.at(static_cast<std::size_t>(l)); }
  /// Column of position 0 of prompt i in block_output().
  Eigen::Index offset(int prompt) const { return offsets_.at(static_cast<std::size_t>(prompt)); }

 private:
  friend struct detail::PassStateAccess<Scalar>;
  Batch batch_;
  std::vector<Eigen::Index> offsets_;
  std::vector<Matrix> outputs_, keys_, values_;
  std::vector<std::vector<Site>> intervention_sites_;  ///< per layer, of the saving pass
};

}  // namespace model
}  // namespace seqedit

#endif  // SEQEDIT_MODEL_RUN_HPP

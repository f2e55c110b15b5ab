#ifndef SEQEDIT_MODEL_MODEL_HPP
#define SEQEDIT_MODEL_MODEL_HPP

/// \file model.hpp
/// A decoder-only transformer (GPT-2, GPT-J, Llama, Mistral, Qwen2) on the CPU, read from a
/// Hugging Face checkpoint folder (pipeline.md §10): forward passes over batches of prompts
/// with captures and interventions, the gradient of a loss with respect to the
/// intervention vectors (pipeline.md §5), and incremental passes.
///
/// Memory: the safetensors shards are memory-mapped read-only and every weight stays in its
/// stored dtype (F32, F16, BF16, F64). A matrix product converts the weight to `Scalar` in
/// blocks of rows or columns as it is used, into one reused buffer per thread; float32
/// weights in a float model are used in place. So a model needs about its file size plus the
/// activations. Activation buffers are allocated by the first pass and reused by the next
/// ones (a pass never shrinks them).
///
/// Threads: OpenMP over all cores (`OMP_NUM_THREADS` or omp_set_num_threads() to change
/// it). Each weight product covers all tokens of the batch at once and is split by rows of
/// its output into independent single-threaded Eigen GEMMs, one block per thread at a time;
/// attention runs per (prompt, head) in parallel. The runtime never calls a threaded BLAS,
/// so nothing is oversubscribed when the rest of a program uses one.
///
/// Thread safety: one Model may be used from several threads; passes on it run one at a
/// time (they share the activation buffers).
///
/// \tparam Scalar float (the production type) or double (the tests' exact reference).
///
/// \code
/// auto m = seqedit::model::Model<float>::load("gpt2-xl");
/// seqedit::model::Batch batch{{{464, 3139, 286, 4881, 318}}};
/// seqedit::model::RunOptions<float> opt;
/// opt.key_layers = {17};
/// opt.key_sites = {{0, 3}};                     // prompt 0, position 3
/// opt.logprobs = {{0, 4, 6342}};                // log p(" Paris" | prompt)
/// const auto r = m.run(batch, opt);             // r.keys[0]: 6400 x 1, r.logprobs[0]
/// \endcode

#include "config.hpp"
#include "run.hpp"

#include <Eigen/Core>

#include <memory>
#include <string>

namespace seqedit {
namespace model {

template <typename Scalar>
class Model {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// Loads `dir` (config.json + model.safetensors or model.safetensors.index.json).
  /// \throws seqedit::io::format_error naming the file and tensor: an unsupported config
  ///         field, a missing tensor, a tensor the family does not have ("unexpected"), a
  ///         shape that disagrees with the config, a NaN or infinity in a weight;
  ///         seqedit::io::io_error when a file cannot be read or mapped.
  static Model load(const std::string& dir);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  /// The architecture.
  const ModelConfig& config() const;
  /// The checkpoint folder.
  const std::string& dir() const;

  /// One forward pass over `batch` with the requests of `options`.
  /// \throws std::invalid_argument naming the argument: an empty batch or prompt, a token id
  ///         outside [0, vocab), a prompt longer than max_positions (or the sliding window),
  ///         a site or layer out of range, a δ of the wrong size, an inconsistent resume.
  ForwardResult<Scalar> run(const Batch& batch, const RunOptions<Scalar>& options) const;

  /// A forward pass and ∂loss/∂δ for every intervention of `options` (reverse mode through
  /// the blocks above the lowest intervention only; no weight gradients). Works with
  /// resumed passes: then only the recomputed part is differentiated, which is exact
  /// because nothing before from[i] depends on the interventions.
  /// \throws std::invalid_argument as run(), and for loss terms at invalid sites, a token
  ///         out of range, a reference of the wrong size, or no interventions.
  GradientResult<Scalar> gradient(const Batch& batch, const RunOptions<Scalar>& options,
                                  const Loss<Scalar>& loss) const;

  /// Replaces, in memory only, the FFN output projection of `layer` by W (math orientation
  /// d × d_k, the orientation of seqedit::io::Checkpoint::load for ffn_output(layer)); the
  /// bias, if any, is kept. Later passes use W exactly (kept in Scalar, not rounded to the
  /// stored dtype). \throws std::invalid_argument for a wrong layer or size, or a non-finite W.
  void set_ffn_output(int layer, const Matrix& W);
  /// Drops the replacement of `layer` (back to the checkpoint's weights).
  void reset_ffn_output(int layer);
  /// The FFN output projection of `layer` now in use, d × d_k.
  Matrix ffn_output(int layer) const;

  /// Bytes of weights mapped from the checkpoint (sum of the tensors' stored sizes).
  std::size_t weight_bytes() const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace model
}  // namespace seqedit

#endif  // SEQEDIT_MODEL_MODEL_HPP

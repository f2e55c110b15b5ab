#ifndef SEQEDIT_MODEL_CONFIG_HPP
#define SEQEDIT_MODEL_CONFIG_HPP

/// \file config.hpp
/// The architecture of a decoder-only transformer, read from a Hugging Face `config.json`
/// (pipeline.md §10).
///
/// The five families (`model_type` `gpt2`, `gptj`, `llama`, `mistral`, `qwen2`) are one
/// computation with switches held as data: the kind of normalisation, the positional
/// encoding (learned table, rotary in the rotate-half or interleaved layout), sequential or
/// parallel attention + MLP, which projections carry biases, the activation, a gated MLP,
/// a tied LM head, and the tensor names. Every field that changes the computation is read;
/// a field whose value the runtime cannot honour (an unknown `rope_scaling` type, GPT-2's
/// `scale_attn_by_inverse_layer_idx`, a quantisation config, ...) is refused by name with
/// `seqedit::io::format_error`. Fields that do not change the math (dropout rates, token
/// ids, `torch_dtype`, ...) are ignored.

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace model {

/// The model families the runtime implements (config.json `model_type`).
enum class Family { GPT2, GPTJ, Llama, Mistral, Qwen2 };

/// Normalisation before attention / MLP and at the end of the stack.
enum class NormKind {
  LayerNorm,  ///< (x − mean) / sqrt(var + eps) · w + b (GPT-2, GPT-J)
  RMSNorm     ///< x / sqrt(mean(x²) + eps) · w (Llama, Mistral, Qwen2)
};

/// Positional encoding.
enum class PositionKind {
  Learned,          ///< a table of position embeddings added to the token embeddings (GPT-2)
  RotaryHalf,       ///< rotary, dimension i paired with i + rotary_dim/2 (Llama family)
  RotaryInterleaved ///< rotary, dimensions 2i and 2i+1 paired (GPT-J)
};

/// The MLP's activation function.
enum class Activation {
  GeluTanh,  ///< `gelu_new` / `gelu_pytorch_tanh`: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
  GeluErf,   ///< `gelu`: 0.5 x (1 + erf(x / √2))
  Silu,      ///< `silu` / `swish`: x · σ(x)
  Relu       ///< `relu`: max(x, 0)
};

/// Rotary frequency scaling (`rope_scaling`).
struct RopeScaling {
  enum class Kind { None, Linear, Llama3 };
  Kind kind = Kind::None;
  double factor = 1.0;                 ///< linear: positions / factor; llama3: long-wavelength divisor
  double low_freq_factor = 1.0;        ///< llama3 only
  double high_freq_factor = 4.0;       ///< llama3 only
  int original_max_position_embeddings = 8192;  ///< llama3 only
};

/// Names of the tensors of one family; `{}` stands for the layer number.
struct TensorNames {
  std::string token_embedding;     ///< [vocab, d]
  std::string position_embedding;  ///< [max_positions, d] (learned positions only, else empty)
  std::string norm1_weight, norm1_bias;  ///< before attention (bias empty for RMSNorm)
  std::string norm2_weight, norm2_bias;  ///< before the MLP (empty for a parallel block)
  std::string qkv_weight, qkv_bias;      ///< fused q|k|v (GPT-2), else empty
  std::string q_weight, k_weight, v_weight;  ///< separate projections (empty for GPT-2)
  std::string q_bias, k_bias, v_bias;        ///< empty when the family has no such bias
  std::string o_weight, o_bias;
  std::string up_weight, up_bias;        ///< c_fc / fc_in / up_proj
  std::string gate_weight, gate_bias;    ///< gate_proj of a gated MLP, else empty
  std::string down_weight, down_bias;    ///< the FFN output projection: c_proj / fc_out / down_proj
  std::string final_norm_weight, final_norm_bias;
  std::string lm_head_weight, lm_head_bias;  ///< empty weight when tied to the token embedding
  /// Tensor-name suffixes that checkpoints may carry but the computation never reads
  /// (causal-mask buffers, cached rotary frequencies); they are accepted and ignored.
  std::vector<std::string> ignored_suffixes;

  /// `pattern` with `{}` replaced by `layer`.
  static std::string at(const std::string& pattern, int layer);
};

/// A transformer architecture (pipeline.md §10).
///
/// \code
/// const auto cfg = seqedit::model::ModelConfig::from_file("gpt2-xl/config.json");
/// // cfg.d_model == 1600, cfg.d_ff == 6400, cfg.norm == NormKind::LayerNorm, ...
/// \endcode
struct ModelConfig {
  std::string model_type;  ///< as in config.json
  Family family = Family::GPT2;

  int vocab_size = 0;
  int d_model = 0;        ///< n_embd / hidden_size
  int n_layer = 0;        ///< n_layer / num_hidden_layers
  int n_head = 0;         ///< n_head / num_attention_heads
  int n_kv_head = 0;      ///< num_key_value_heads (= n_head without GQA)
  int head_dim = 0;       ///< head_dim (default d_model / n_head)
  int d_ff = 0;           ///< n_inner / intermediate_size: the key dimension d_k
  int max_positions = 0;  ///< n_positions / max_position_embeddings: longest prompt accepted
  int sliding_window = 0; ///< > 0: prompts longer than this are refused (the window is never reached)

  NormKind norm = NormKind::LayerNorm;
  double norm_eps = 1e-5;  ///< layer_norm_epsilon / rms_norm_eps
  PositionKind positions = PositionKind::Learned;
  int rotary_dim = 0;        ///< dimensions of each head that rotate (rotary only)
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  Activation activation = Activation::GeluTanh;
  bool gated_mlp = false;       ///< down(act(gate(x)) ⊙ up(x)) instead of down(act(up(x)))
  bool parallel_block = false;  ///< h + attn(ln(h)) + mlp(ln(h)) (GPT-J)
  bool conv1d = false;          ///< matrices stored [in, out] (GPT-2 Conv1D) instead of [out, in]
  bool qkv_bias = false, o_bias = false, mlp_bias = false, lm_head_bias = false;
  bool tie_word_embeddings = false;

  TensorNames names;  ///< filled for the family (GPT-2 names without the `transformer.` prefix)

  /// Width of the queries (n_head · head_dim) and of keys / values (n_kv_head · head_dim).
  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_kv_head * head_dim; }

  /// Parses config.json text. `path` is used in messages only.
  /// \throws seqedit::io::format_error naming the file and the key for malformed JSON, a
  ///         missing or mistyped field, an unsupported `model_type`, or a field value the
  ///         runtime does not implement; never reads beyond [text, text + size).
  static ModelConfig parse(const char* text, std::size_t size, const std::string& path);
  /// Reads and parses a config.json file (at most 16 MiB).
  static ModelConfig from_file(const std::string& path);

  /// Checks the sizes are consistent (positive, heads divide, rotary_dim even and ≤ head_dim);
  /// throws std::invalid_argument naming the field.
  void check() const;
};

/// "gpt2", "gptj", "llama", "mistral", "qwen2".
const char* family_name(Family f);

}  // namespace model
}  // namespace seqedit

#endif  // SEQEDIT_MODEL_CONFIG_HPP

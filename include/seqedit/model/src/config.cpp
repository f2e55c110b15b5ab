// config.json → ModelConfig (pipeline.md §10). Defaults are those of the Hugging Face
// configuration classes of each family, so a config.json that omits a field means what it
// means there.

#include "seqedit/model/config.hpp"

#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/error.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace seqedit {
namespace model {

namespace {

using json = nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& path) : j_(j), path_(path) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    io::detail::throw_format_key(path_, key, what);
  }
  /// Present and not null.
  bool has(const std::string& key) const {
    const auto it = j_.find(key);
    return it != j_.end() && !it->is_null();
  }
  const json& at(const std::string& key) const { return *j_.find(key); }

  long long integer(const std::string& key, long long def, long long lo, long long hi) const {
    if (!has(key)) return def;
    const json& v = at(key);
    long long x = 0;
    if (v.is_number_integer()) {
      x = v.get<long long>();
    } else if (v.is_number_unsigned()) {
      if (v.get<unsigned long long>() > static_cast<unsigned long long>(hi))
        fail(key, "value " + v.dump() + " is larger than " + std::to_string(hi));
      x = static_cast<long long>(v.get<unsigned long long>());
    } else {
      fail(key, "must be an integer, found " + v.dump());
    }
    if (x < lo || x > hi)
      fail(key, "value " + std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  int int_field(const std::string& key, long long def, long long lo = 1, long long hi = (1LL << 24)) const {
    return static_cast<int>(integer(key, def, lo, hi));
  }
  double number(const std::string& key, double def, double lo, double hi) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (!v.is_number()) fail(key, "must be a number, found " + v.dump());
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi)) fail(key, "value " + v.dump() + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, "must be true or false, found " + v.dump());
    return v.get<bool>();
  }
  std::string string(const std::string& key, const std::string& def) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (!v.is_string()) fail(key, "must be a string, found " + v.dump());
    return v.get<std::string>();
  }
  /// A field the runtime does not implement: allowed only absent, null or equal to `neutral`.
  void refuse_unless(const std::string& key, const json& neutral, const std::string& why) const {
    if (!has(key)) return;
    if (at(key) != neutral)
      fail(key, "value " + at(key).dump() + " is not supported (" + why + ")");
  }
  void refuse_present(const std::string& key, const std::string& why) const {
    if (has(key)) fail(key, "is not supported (" + why + ")");
  }
  const std::string& path() const { return path_; }

 private:
  const json& j_;
  const std::string& path_;
};

Activation parse_activation(const Reader& r, const std::string& key, const std::string& def) {
  const std::string a = r.string(key, def);
  if (a == "gelu_new" || a == "gelu_pytorch_tanh") return Activation::GeluTanh;
  if (a == "gelu") return Activation::GeluErf;
  if (a == "silu" || a == "swish") return Activation::Silu;
  if (a == "relu") return Activation::Relu;
  r.fail(key, "activation '" + a + "' is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu, silu, swish, relu)");
}

RopeScaling parse_rope_scaling(const Reader& r) {
  RopeScaling s;
  if (!r.has("rope_scaling")) return s;
  const json& v = r.at("rope_scaling");
  if (!v.is_object()) r.fail("rope_scaling", "must be an object or null, found " + v.dump());
  const std::string p = r.path();
  Reader sub(v, p);
  std::string kind;
  if (sub.has("rope_type")) kind = sub.string("rope_type", "");
  else if (sub.has("type")) kind = sub.string("type", "");
  else r.fail("rope_scaling", "has neither 'rope_type' nor 'type'");
  if (kind == "default") return s;
  if (kind == "linear") {
    s.kind = RopeScaling::Kind::Linear;
    if (!sub.has("factor")) r.fail("rope_scaling.factor", "missing (needed by rope_type 'linear')");
    s.factor = sub.number("factor", 1.0, 1e-6, 1e6);
    return s;
  }
  if (kind == "llama3") {
    s.kind = RopeScaling::Kind::Llama3;
    for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!sub.has(k)) r.fail(std::string("rope_scaling.") + k, "missing (needed by rope_type 'llama3')");
    s.factor = sub.number("factor", 1.0, 1e-6, 1e6);
    s.low_freq_factor = sub.number("low_freq_factor", 1.0, 1e-6, 1e6);
    s.high_freq_factor = sub.number("high_freq_factor", 4.0, 1e-6, 1e6);
    s.original_max_position_embeddings = sub.int_field("original_max_position_embeddings", 8192);
    if (!(s.high_freq_factor > s.low_freq_factor))
      r.fail("rope_scaling.high_freq_factor", "must be larger than low_freq_factor");
    return s;
  }
  r.fail("rope_scaling", "rope type '" + kind + "' is not supported (supported: default, linear, llama3)");
}

void common_refusals(const Reader& r) {
  r.refuse_present("quantization_config", "quantised checkpoints");
  r.refuse_unless("is_encoder_decoder", false, "only decoder-only models");
  r.refuse_unless("add_cross_attention", false, "no cross-attention");
}

void llama_like(const Reader& r, ModelConfig& c, int vocab, int hidden, int inter, int heads, int kv_heads,
                int max_pos, double eps) {
  c.vocab_size = r.int_field("vocab_size", vocab);
  c.d_model = r.int_field("hidden_size", hidden);
  c.d_ff = r.int_field("intermediate_size", inter);
  c.n_layer = r.int_field("num_hidden_layers", 32, 1, 4096);
  c.n_head = r.int_field("num_attention_heads", heads, 1, 4096);
  c.n_kv_head = r.int_field("num_key_value_heads", kv_heads > 0 ? kv_heads : c.n_head, 1, 4096);
  c.head_dim = r.int_field("head_dim", c.n_head > 0 && c.d_model % c.n_head == 0 ? c.d_model / c.n_head : 0, 1, 1 << 16);
  c.max_positions = r.int_field("max_position_embeddings", max_pos, 1, 1 << 30);
  c.norm = NormKind::RMSNorm;
  c.norm_eps = r.number("rms_norm_eps", eps, 0.0, 1.0);
  c.positions = PositionKind::RotaryHalf;
  c.rotary_dim = c.head_dim;
  c.rope_theta = r.number("rope_theta", 10000.0, 1.0, 1e12);
  c.rope_scaling = parse_rope_scaling(r);
  c.activation = parse_activation(r, "hidden_act", "silu");
  c.gated_mlp = true;
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  r.refuse_unless("partial_rotary_factor", 1.0, "rotary embedding on part of each head");
  r.refuse_present("attn_logit_softcapping", "attention logit soft-capping");
  r.refuse_present("final_logit_softcapping", "final logit soft-capping");
  r.refuse_unless("attention_multiplier", 1.0, "scaled attention");
  r.refuse_unless("embedding_multiplier", 1.0, "scaled embeddings");
  r.refuse_unless("residual_multiplier", 1.0, "scaled residuals");
  r.refuse_unless("logits_scaling", 1.0, "scaled logits");

  TensorNames& n = c.names;
  const std::string L = "model.layers.{}.";
  n.token_embedding = "model.embed_tokens.weight";
  n.norm1_weight = L + "input_layernorm.weight";
  n.norm2_weight = L + "post_attention_layernorm.weight";
  n.q_weight = L + "self_attn.q_proj.weight";
  n.k_weight = L + "self_attn.k_proj.weight";
  n.v_weight = L + "self_attn.v_proj.weight";
  n.o_weight = L + "self_attn.o_proj.weight";
  n.gate_weight = L + "mlp.gate_proj.weight";
  n.up_weight = L + "mlp.up_proj.weight";
  n.down_weight = L + "mlp.down_proj.weight";
  n.final_norm_weight = "model.norm.weight";
  n.lm_head_weight = c.tie_word_embeddings ? "" : "lm_head.weight";
  n.ignored_suffixes = {".self_attn.rotary_emb.inv_freq"};
}

void set_biases(ModelConfig& c) {
  TensorNames& n = c.names;
  const std::string L = "model.layers.{}.";
  if (c.qkv_bias) {
    n.q_bias = L + "self_attn.q_proj.bias";
    n.k_bias = L + "self_attn.k_proj.bias";
    n.v_bias = L + "self_attn.v_proj.bias";
  }
  if (c.o_bias) n.o_bias = L + "self_attn.o_proj.bias";
  if (c.mlp_bias) {
    n.gate_bias = L + "mlp.gate_proj.bias";
    n.up_bias = L + "mlp.up_proj.bias";
    n.down_bias = L + "mlp.down_proj.bias";
  }
}

}  // namespace

std::string TensorNames::at(const std::string& pattern, int layer) {
  const auto p = pattern.find("{}");
  if (p == std::string::npos) return pattern;
  return pattern.substr(0, p) + std::to_string(layer) + pattern.substr(p + 2);
}

const char* family_name(Family f) {
  switch (f) {
    case Family::GPT2: return "gpt2";
    case Family::GPTJ: return "gptj";
    case Family::Llama: return "llama";
    case Family::Mistral: return "mistral";
    case Family::Qwen2: return "qwen2";
  }
  return "?";
}

ModelConfig ModelConfig::parse(const char* text, std::size_t size, const std::string& path) {
  const json j = io::detail::parse_json_strict(text, text + size, path, "invalid JSON");
  if (!j.is_object()) throw io::format_error(path + ": the JSON is not an object");
  const Reader r(j, path);
  ModelConfig c;
  if (!r.has("model_type")) r.fail("model_type", "missing");
  c.model_type = r.string("model_type", "");
  common_refusals(r);
  const std::string& mt = c.model_type;
  if (mt == "gpt2" || mt == "gptj") {
    const bool j6 = mt == "gptj";
    c.family = j6 ? Family::GPTJ : Family::GPT2;
    c.vocab_size = r.int_field("vocab_size", j6 ? 50400 : 50257);
    c.max_positions = r.int_field("n_positions", j6 ? 2048 : 1024, 1, 1 << 30);
    c.d_model = r.int_field("n_embd", j6 ? 4096 : 768);
    c.n_layer = r.int_field("n_layer", j6 ? 28 : 12, 1, 4096);
    c.n_head = r.int_field("n_head", j6 ? 16 : 12, 1, 4096);
    c.n_kv_head = c.n_head;
    c.head_dim = c.d_model % c.n_head == 0 ? c.d_model / c.n_head : 0;
    c.d_ff = r.int_field("n_inner", 4LL * c.d_model);
    c.norm = NormKind::LayerNorm;
    c.norm_eps = r.number("layer_norm_epsilon", 1e-5, 0.0, 1.0);
    c.activation = parse_activation(r, "activation_function", "gelu_new");
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", !j6);
    c.mlp_bias = true;
    TensorNames& n = c.names;
    if (!j6) {
      r.refuse_unless("scale_attn_weights", true, "attention without the 1/sqrt(head_dim) scale");
      r.refuse_unless("scale_attn_by_inverse_layer_idx", false, "attention scaled by the layer index");
      c.positions = PositionKind::Learned;
      c.conv1d = true;
      c.qkv_bias = c.o_bias = true;
      if (!c.tie_word_embeddings)
        r.fail("tie_word_embeddings", "false is not supported for gpt2 (its LM head is the token embedding)");
      n.token_embedding = "wte.weight";
      n.position_embedding = "wpe.weight";
      n.norm1_weight = "h.{}.ln_1.weight";
      n.norm1_bias = "h.{}.ln_1.bias";
      n.norm2_weight = "h.{}.ln_2.weight";
      n.norm2_bias = "h.{}.ln_2.bias";
      n.qkv_weight = "h.{}.attn.c_attn.weight";
      n.qkv_bias = "h.{}.attn.c_attn.bias";
      n.o_weight = "h.{}.attn.c_proj.weight";
      n.o_bias = "h.{}.attn.c_proj.bias";
      n.up_weight = "h.{}.mlp.c_fc.weight";
      n.up_bias = "h.{}.mlp.c_fc.bias";
      n.down_weight = "h.{}.mlp.c_proj.weight";
      n.down_bias = "h.{}.mlp.c_proj.bias";
      n.final_norm_weight = "ln_f.weight";
      n.final_norm_bias = "ln_f.bias";
      n.ignored_suffixes = {".attn.bias", ".attn.masked_bias", "lm_head.weight"};
    } else {
      c.positions = PositionKind::RotaryInterleaved;
      if (!r.has("rotary_dim"))
        r.fail("rotary_dim", "null or missing is not supported (rotary embedding over the whole width)");
      c.rotary_dim = r.int_field("rotary_dim", 64);
      c.rope_theta = 10000.0;
      c.parallel_block = true;
      c.lm_head_bias = !c.tie_word_embeddings;
      const std::string L = "transformer.h.{}.";
      n.token_embedding = "transformer.wte.weight";
      n.norm1_weight = L + "ln_1.weight";
      n.norm1_bias = L + "ln_1.bias";
      n.q_weight = L + "attn.q_proj.weight";
      n.k_weight = L + "attn.k_proj.weight";
      n.v_weight = L + "attn.v_proj.weight";
      n.o_weight = L + "attn.out_proj.weight";
      n.up_weight = L + "mlp.fc_in.weight";
      n.up_bias = L + "mlp.fc_in.bias";
      n.down_weight = L + "mlp.fc_out.weight";
      n.down_bias = L + "mlp.fc_out.bias";
      n.final_norm_weight = "transformer.ln_f.weight";
      n.final_norm_bias = "transformer.ln_f.bias";
      if (!c.tie_word_embeddings) {
        n.lm_head_weight = "lm_head.weight";
        n.lm_head_bias = "lm_head.bias";
      }
      n.ignored_suffixes = {".attn.bias", ".attn.masked_bias"};
    }
  } else if (mt == "llama") {
    c.family = Family::Llama;
    llama_like(r, c, 32000, 4096, 11008, 32, 0, 2048, 1e-6);
    c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
    c.mlp_bias = r.boolean("mlp_bias", false);
    set_biases(c);
  } else if (mt == "mistral") {
    c.family = Family::Mistral;
    llama_like(r, c, 32000, 4096, 14336, 32, 8, 4096 * 32, 1e-6);
    c.sliding_window = r.has("sliding_window") ? r.int_field("sliding_window", 4096, 1, 1 << 30)
                                               : (j.contains("sliding_window") ? 0 : 4096);
    set_biases(c);
  } else if (mt == "qwen2") {
    c.family = Family::Qwen2;
    llama_like(r, c, 151936, 4096, 22016, 32, 32, 32768, 1e-6);
    c.qkv_bias = true;
    if (r.boolean("use_sliding_window", false))
      c.sliding_window = r.int_field("sliding_window", 4096, 1, 1 << 30);
    set_biases(c);
  } else {
    r.fail("model_type", "'" + mt + "' is not supported (supported: gpt2, gptj, llama, mistral, qwen2)");
  }
  try {
    c.check();
  } catch (const std::invalid_argument& e) {
    throw io::format_error(path + ": " + e.what());
  }
  return c;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  const std::vector<char> text = io::detail::read_whole_file(path, std::uint64_t(1) << 24);
  return parse(text.data(), text.size(), path);
}

void ModelConfig::check() const {
  auto positive = [](int v, const char* name) {
    if (v <= 0) throw std::invalid_argument(std::string("ModelConfig::") + name + " = " + std::to_string(v) + " must be positive");
  };
  positive(vocab_size, "vocab_size");
  positive(d_model, "d_model");
  positive(n_layer, "n_layer");
  positive(n_head, "n_head");
  positive(n_kv_head, "n_kv_head");
  positive(head_dim, "head_dim (d_model must be a multiple of n_head unless head_dim is given)");
  positive(d_ff, "d_ff");
  positive(max_positions, "max_positions");
  if (n_head % n_kv_head != 0)
    throw std::invalid_argument("ModelConfig::n_head = " + std::to_string(n_head) +
                                " is not a multiple of n_kv_head = " + std::to_string(n_kv_head));
  if (positions != PositionKind::Learned) {
    if (rotary_dim <= 0 || rotary_dim > head_dim || rotary_dim % 2 != 0)
      throw std::invalid_argument("ModelConfig::rotary_dim = " + std::to_string(rotary_dim) +
                                  " must be even and in [2, head_dim = " + std::to_string(head_dim) + "]");
  }
  if (family == Family::GPT2 && q_dim() != d_model)
    throw std::invalid_argument("ModelConfig: gpt2 needs n_head * head_dim = d_model");
  if (!(norm_eps >= 0)) throw std::invalid_argument("ModelConfig::norm_eps must be >= 0");
}

}  // namespace model
}  // namespace seqedit

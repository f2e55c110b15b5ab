// libFuzzer target: config.json parsing of the model runtime (ModelConfig::parse).
// Every input either parses into a configuration that passes check() with the tensor names
// of its family, or throws seqedit::io::format_error.
#include <seqedit/io/error.hpp>
#include <seqedit/model/config.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using seqedit::model::ModelConfig;
  try {
    const ModelConfig c = ModelConfig::parse(reinterpret_cast<const char*>(data), size, "fuzz/config.json");
    c.check();
    if (c.names.token_embedding.empty() || c.names.down_weight.empty() || c.names.final_norm_weight.empty())
      __builtin_trap();
    if (c.q_dim() <= 0 || c.kv_dim() <= 0 || c.n_head % c.n_kv_head != 0) __builtin_trap();
    if (c.tie_word_embeddings != c.names.lm_head_weight.empty()) __builtin_trap();
  } catch (const seqedit::io::format_error&) {
  }
  return 0;
}

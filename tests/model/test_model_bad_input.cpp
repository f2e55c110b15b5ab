// Bad input: config.json fields, checkpoint contents and run arguments, each refused with a
// message naming what was wrong.

#include "model_test_util.hpp"

#include <seqedit/model/config.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

using namespace model_test;
using seqedit::model::ModelConfig;
using seqedit::model::RunOptions;
using Catch::Matchers::Contains;

namespace {

ModelConfig parse(const std::string& s) { return ModelConfig::parse(s.data(), s.size(), "config.json"); }

const std::string llama_cfg =
    R"({"model_type": "llama", "vocab_size": 71, "hidden_size": 32, "intermediate_size": 44,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5)";

/// A copy of case `name` in a fresh folder with its tensors edited by `edit`.
std::string edited_copy(const std::string& name, const std::string& tag,
                        const std::function<void(seqedit::io::SafetensorsWriter&, const seqedit::io::TensorInfo&,
                                                 std::vector<char>&, bool&)>& edit,
                        const std::string& extra_name = "") {
  namespace fs = std::filesystem;
  const std::string src = refs_dir() + "/" + name;
  const std::string dst = refs_dir() + "/bad_" + tag;
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(src + "/config.json", dst + "/config.json");
  const seqedit::io::SafetensorsFile f(src + "/model.safetensors");
  seqedit::io::SafetensorsWriter w;
  for (const auto& t : f.tensors()) {
    std::vector<char> bytes = f.read_raw(t.name);
    bool keep = true;
    edit(w, t, bytes, keep);
    if (keep) w.add_raw(t.name, t.dtype, t.shape, bytes);
  }
  if (!extra_name.empty()) w.add_raw(extra_name, seqedit::io::DType::F32, {2}, std::vector<char>(8, 0));
  w.write(dst + "/model.safetensors");
  return dst;
}

}  // namespace

TEST_CASE("config.json: unsupported or malformed fields are refused by name", "[model][config]") {
  CHECK_NOTHROW(parse(llama_cfg + "}"));
  const ModelConfig c = parse(llama_cfg + "}");
  CHECK(c.n_kv_head == 2);
  CHECK(c.head_dim == 8);
  CHECK(c.names.down_weight == "model.layers.{}.mlp.down_proj.weight");
  CHECK_THROWS_WITH(parse(R"({"n_embd": 4})"), Contains("model_type") && Contains("missing"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "bert"})"), Contains("'bert' is not supported"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4}})"),
                    Contains("rope_scaling") && Contains("yarn"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8}})"),
                    Contains("low_freq_factor"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "hidden_act": "gelu_fast"})"), Contains("hidden_act") && Contains("gelu_fast"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "partial_rotary_factor": 0.5})"), Contains("partial_rotary_factor"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "quantization_config": {"bits": 4}})"), Contains("quantization_config"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "final_logit_softcapping": 30.0})"), Contains("final_logit_softcapping"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": true})"),
                    Contains("scale_attn_by_inverse_layer_idx"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "n_embd": "768"})"), Contains("n_embd") && Contains("integer"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "n_embd": 10, "n_head": 3})"), Contains("head_dim"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gptj", "rotary_dim": null})"), Contains("rotary_dim"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gptj", "rotary_dim": 5})"), Contains("rotary_dim"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "model_type": "gpt2"})"), Contains("duplicate key"));
  CHECK_THROWS_WITH(parse(llama_cfg + R"(, "num_key_value_heads": 3})"), Contains("duplicate key"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 3, "hidden_size": 32})"),
                    Contains("n_kv_head"));
  CHECK_THROWS_WITH(parse("[1, 2]"), Contains("not an object"));
  CHECK_THROWS_WITH(parse("{"), Contains("invalid JSON"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "n_layer": 1e9})"), Contains("n_layer"));
  // mistral's default sliding window and qwen2's switch
  CHECK(parse(R"({"model_type": "mistral"})").sliding_window == 4096);
  CHECK(parse(R"({"model_type": "mistral", "sliding_window": null})").sliding_window == 0);
  CHECK(parse(R"({"model_type": "qwen2"})").sliding_window == 0);
  CHECK(parse(R"({"model_type": "qwen2", "use_sliding_window": true, "sliding_window": 128})").sliding_window == 128);
}

TEST_CASE("checkpoint contents: missing, unexpected, misshapen and non-finite tensors are refused by name", "[model][bad]") {
  using seqedit::io::TensorInfo;
  const std::string missing = edited_copy("gpt2", "missing", [](auto&, const TensorInfo& t, auto&, bool& keep) {
    if (t.name == "h.1.mlp.c_fc.bias") keep = false;
  });
  CHECK_THROWS_WITH(Model<float>::load(missing), Contains("h.1.mlp.c_fc.bias") && Contains("missing"));

  const std::string extra = edited_copy("gpt2", "extra", [](auto&, const TensorInfo&, auto&, bool&) {}, "h.0.mlp.extra.weight");
  CHECK_THROWS_WITH(Model<float>::load(extra), Contains("h.0.mlp.extra.weight") && Contains("unexpected"));

  const std::string shape = edited_copy("gpt2", "shape", [](auto& w, const TensorInfo& t, auto& bytes, bool& keep) {
    if (t.name == "h.2.attn.c_proj.weight") {  // [24, 24] stored as [12, 48]
      w.add_raw(t.name, t.dtype, {12, 48}, bytes);
      keep = false;
    }
  });
  CHECK_THROWS_WITH(Model<float>::load(shape), Contains("h.2.attn.c_proj.weight") && Contains("[12, 48]") && Contains("[24, 24]"));

  const std::string nan = edited_copy("gpt2", "nan", [](auto&, const TensorInfo& t, auto& bytes, bool&) {
    if (t.name == "h.0.mlp.c_proj.weight") {
      const float q = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(bytes.data() + 4 * 17, &q, 4);
    }
  });
  CHECK_THROWS_WITH(Model<double>::load(nan), Contains("h.0.mlp.c_proj.weight") && Contains("NaN"));

  CHECK_THROWS_WITH(Model<float>::load(refs_dir() + "/no_such_model"), Contains("no_such_model"));
}

TEST_CASE("run arguments: ids, lengths, sites, layers, deltas and resumes are checked", "[model][bad]") {
  const Ref ref("gpt2");
  const auto model = Model<float>::load(ref.dir);
  const Batch batch = ref.batch();
  RunOptions<float> ok;
  CHECK_NOTHROW(model.run(batch, ok));

  CHECK_THROWS_WITH(model.run(Batch{}, ok), Contains("no prompts"));
  CHECK_THROWS_WITH(model.run(Batch{{{1, 2}, {}}}, ok), Contains("prompt 1 is empty"));
  CHECK_THROWS_WITH(model.run(Batch{{{1, 67}}}, ok), Contains("token id 67") && Contains("[0, 67)"));
  CHECK_THROWS_WITH(model.run(Batch{{{1, -1}}}, ok), Contains("token id -1"));
  CHECK_THROWS_WITH(model.run(Batch{{std::vector<std::int32_t>(33, 1)}}, ok), Contains("33 tokens") && Contains("max_positions = 32"));

  RunOptions<float> o = ok;
  o.key_sites = {{0, 7}};
  o.key_layers = {0};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("key_sites[0]") && Contains("position 7 outside prompt 0 of length 7"));
  o = ok;
  o.distributions = {{3, 0}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("distributions[0]") && Contains("prompt 3"));
  o = ok;
  o.key_layers = {3};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("key_layers[0]") && Contains("layer 3"));
  o = ok;
  o.logprobs = {{0, 1, 99}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("logprobs[0]") && Contains("token id 99"));
  o = ok;
  o.interventions = {{1, {{0, 1}}, Eigen::MatrixXf::Zero(23, 1)}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("interventions[0]") && Contains("23 x 1"));
  o.interventions = {{1, {{0, 1}}, Eigen::MatrixXf::Constant(24, 1, std::numeric_limits<float>::quiet_NaN())}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("NaN"));

  seqedit::model::Loss<float> loss;
  loss.nll = {{0, 2, 3, 1.0}};
  CHECK_THROWS_WITH(model.gradient(batch, ok, loss), Contains("no interventions"));
  o = ok;
  o.interventions = {{1, {{0, 1}}, Eigen::MatrixXf::Zero(24, 1)}};
  loss.kl = {{0, 2, 1.0, Eigen::VectorXf::Zero(5)}};
  CHECK_THROWS_WITH(model.gradient(batch, o, loss), Contains("loss.kl[0]") && Contains("5 entries"));

  // resume: an intervention before the resumed positions, a layer below the resume layer
  RunOptions<float> save;
  save.save_state = true;
  const auto st = model.run(batch, save).state;
  o = ok;
  o.resume = {st, 1, {3, 1, 6}};
  o.interventions = {{1, {{0, 2}}, Eigen::MatrixXf::Zero(24, 1)}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("before the resumed positions"));
  o.interventions = {{0, {{0, 4}}, Eigen::MatrixXf::Zero(24, 1)}};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("not recomputed"));
  o.interventions.clear();
  o.resume.from = {3, 1};
  CHECK_THROWS_WITH(model.run(batch, o), Contains("resume.from has 2 entries"));
  o.resume.from = {3, 1, 6};
  CHECK_THROWS_WITH(model.run(Batch{{{1, 2, 3}, {1}, {2}}}, o), Contains("differs"));

  auto m2 = Model<float>::load(ref.dir);
  CHECK_THROWS_WITH(m2.set_ffn_output(0, Eigen::MatrixXf::Zero(40, 24)), Contains("40 x 24") && Contains("24 x 40"));
  CHECK_THROWS_WITH(m2.set_ffn_output(5, Eigen::MatrixXf::Zero(24, 40)), Contains("layer 5"));
}

TEST_CASE("sliding window: prompts longer than the window are refused", "[model][bad]") {
  const Ref ref("mistral");
  const auto model = Model<float>::load(ref.dir);
  REQUIRE(model.config().sliding_window == 48);
  CHECK_NOTHROW(model.run(Batch{{std::vector<std::int32_t>(48, 1)}}, RunOptions<float>{}));
  CHECK_THROWS_WITH(model.run(Batch{{std::vector<std::int32_t>(49, 1)}}, RunOptions<float>{}), Contains("sliding window of 48"));
}

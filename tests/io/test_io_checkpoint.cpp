// Hugging Face checkpoint folders: orientation by family, shards, byte-exact saves.
#include <seqedit/io/checkpoint.hpp>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"

#include <Eigen/Core>

#include <string>

using namespace seqedit::io;
using iotest::TempDir;

namespace {
Eigen::MatrixXd pattern(Eigen::Index r, Eigen::Index c, double offset) {
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = offset + static_cast<double>(i * c + j) / 4.0;
  return m;
}
const Eigen::Index dv = 4, dk = 6;
}  // namespace

TEMPLATE_TEST_CASE("gpt2 checkpoint: c_proj stores W transposed, with or without the prefix", "[io][checkpoint]",
                   float, double) {
  for (const std::string prefix : {"", "transformer."}) {
    TempDir dir;
    iotest::write_bytes(dir.file("config.json"), "{\"model_type\": \"gpt2\", \"n_layer\": 2}");
    const Eigen::MatrixXd S0 = pattern(dk, dv, 0.0), S1 = pattern(dk, dv, 1.0);  // stored [d_k, d_v]
    SafetensorsWriter w;
    w.add(prefix + "wte.weight", pattern(3, dv, 5.0), DType::F32);
    w.add(prefix + "h.0.mlp.c_proj.weight", S0, DType::F32);
    w.add(prefix + "h.1.mlp.c_proj.weight", S1, DType::BF16);
    w.add(prefix + "ln_f.weight", pattern(1, dv, 2.0), DType::F32);
    w.write(dir.file("model.safetensors"));

    const Checkpoint ck(dir.path().string());
    CHECK(ck.model_type() == "gpt2");
    CHECK_FALSE(ck.sharded());
    const TensorLocation loc0 = ck.ffn_output(0);
    CHECK(loc0.tensor == prefix + "h.0.mlp.c_proj.weight");
    CHECK(loc0.orientation == Orientation::InOut);
    CHECK(ck.shard_of(loc0.tensor) == dir.file("model.safetensors"));
    const auto W0 = ck.load<TestType>(loc0);
    REQUIRE(W0.rows() == dv);  // math orientation d_v x d_k, although the file is [d_k, d_v]
    REQUIRE(W0.cols() == dk);
    CHECK(W0 == S0.transpose().cast<TestType>());

    const TensorLocation loc1 = ck.ffn_output(1);
    auto W1 = ck.load<TestType>(loc1);
    CHECK(W1 == S1.transpose().cast<TestType>());
    W1(2, 5) += TestType(0.5);  // exactly representable in bf16 here
    const SafetensorsFile before_f(dir.file("model.safetensors"));
    const std::string before = iotest::read_bytes(dir.file("model.safetensors"));
    ck.save(loc1, W1);
    const std::string after = iotest::read_bytes(dir.file("model.safetensors"));
    const TensorInfo t = before_f.info(loc1.tensor);
    const std::size_t tb = static_cast<std::size_t>(before_f.data_start() + t.begin),
                      te = static_cast<std::size_t>(before_f.data_start() + t.end);
    REQUIRE(after.size() == before.size());
    CHECK(after.substr(0, tb) == before.substr(0, tb));
    CHECK(after.substr(te) == before.substr(te));
    const SafetensorsFile f(dir.file("model.safetensors"));
    CHECK(f.info(loc1.tensor).dtype == DType::BF16);
    CHECK(f.info(loc1.tensor).shape == std::vector<std::int64_t>{dk, dv});
    CHECK(f.read_matrix<double>(loc1.tensor)(5, 2) == S1(5, 2) + 0.5);  // stored transposed
    CHECK(ck.load<TestType>(loc1) == W1);

    CHECK_THROWS_WITH(ck.save(loc1, W1.transpose()), Catch::Contains(loc1.tensor) && Catch::Contains("must be 4 x 6"));
    CHECK_THROWS_WITH(ck.ffn_output(7), Catch::Contains("layer 7 not found") && Catch::Contains("h.7.mlp.c_proj.weight"));
  }
}

TEMPLATE_TEST_CASE("llama checkpoint in two shards: only the touched shard is rewritten", "[io][checkpoint]", float,
                   double) {
  TempDir dir;
  iotest::write_bytes(dir.file("config.json"), "{\"model_type\": \"llama\"}");
  const Eigen::MatrixXd D0 = pattern(dv, dk, -1.0), D1 = pattern(dv, dk, 3.0);  // stored [d_v, d_k] = W
  SafetensorsWriter s1, s2;
  s1.add("model.embed_tokens.weight", pattern(5, dv, 0.0), DType::BF16);
  s1.add("model.layers.0.mlp.down_proj.weight", D0, DType::BF16);
  s2.add("model.layers.1.mlp.down_proj.weight", D1, DType::F32);
  s2.add("model.norm.weight", pattern(1, dv, 0.0), DType::BF16);
  s1.write(dir.file("model-00001-of-00002.safetensors"));
  s2.write(dir.file("model-00002-of-00002.safetensors"));
  const std::string index =
      "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {"
      "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\","
      "\"model.layers.0.mlp.down_proj.weight\": \"model-00001-of-00002.safetensors\","
      "\"model.layers.1.mlp.down_proj.weight\": \"model-00002-of-00002.safetensors\","
      "\"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}";
  iotest::write_bytes(dir.file("model.safetensors.index.json"), index);

  const Checkpoint ck(dir.path().string() + "/");
  CHECK(ck.sharded());
  const TensorLocation loc = ck.ffn_output(1);
  CHECK(loc.tensor == "model.layers.1.mlp.down_proj.weight");
  CHECK(loc.orientation == Orientation::OutIn);
  CHECK(ck.shard_of(loc.tensor) == dir.file("model-00002-of-00002.safetensors"));
  auto W = ck.load<TestType>(loc);
  CHECK(W == D1.cast<TestType>());
  CHECK(ck.load<TestType>(ck.ffn_output(0)) == D0.cast<TestType>());

  const std::string shard1 = iotest::read_bytes(dir.file("model-00001-of-00002.safetensors"));
  const std::string shard2 = iotest::read_bytes(dir.file("model-00002-of-00002.safetensors"));
  W(3, 1) = TestType(-7.25);
  ck.save(loc, W);
  CHECK(iotest::read_bytes(dir.file("model-00001-of-00002.safetensors")) == shard1);
  CHECK(iotest::read_bytes(dir.file("model.safetensors.index.json")) == index);
  const std::string shard2b = iotest::read_bytes(dir.file("model-00002-of-00002.safetensors"));
  CHECK(shard2b != shard2);
  const SafetensorsFile f2(dir.file("model-00002-of-00002.safetensors"));
  const TensorInfo& t = f2.info("model.norm.weight");
  CHECK(shard2b.substr(static_cast<std::size_t>(f2.data_start() + t.begin)) ==
        shard2.substr(static_cast<std::size_t>(f2.data_start() + t.begin)));
  CHECK(f2.read_matrix<double>(loc.tensor)(3, 1) == -7.25);
  CHECK(iotest::list_dir(dir.path()).size() == 4);
  CHECK_THROWS_WITH(ck.shard_of("model.layers.9.mlp.down_proj.weight"),
                    Catch::Contains("index.json") && Catch::Contains("not in the weight_map"));
}

TEST_CASE("checkpoint errors name the folder, the supported families and the problem", "[io][checkpoint]") {
  TempDir dir;
  SafetensorsWriter w;
  w.add("transformer.h.0.mlp.dense_4h_to_h.weight", pattern(2, 2, 0.0), DType::F32);
  w.write(dir.file("model.safetensors"));

  const Checkpoint no_config(dir.path().string());
  CHECK(no_config.model_type().empty());
  CHECK_THROWS_WITH(no_config.ffn_output(0), Catch::Contains("no config.json") && Catch::Contains("explicitly"));
  // an explicit location still works without config.json
  CHECK(no_config.load<double>({"transformer.h.0.mlp.dense_4h_to_h.weight", Orientation::OutIn})(1, 0) == 0.5);

  iotest::write_bytes(dir.file("config.json"), "{\"model_type\": \"falcon\"}");
  const Checkpoint falcon(dir.path().string());
  CHECK_THROWS_WITH(falcon.ffn_output(0), Catch::Contains("config.json") && Catch::Contains("'falcon'") &&
                                              Catch::Contains("gpt2, gptj, llama, mistral, qwen2") &&
                                              Catch::Contains("explicitly"));
  CHECK_THROWS_AS(falcon.ffn_output(-1), std::invalid_argument);

  iotest::write_bytes(dir.file("config.json"), "{\"model_type\": \"gptj\", \"model_type\": \"llama\"}");
  CHECK_THROWS_WITH(Checkpoint(dir.path().string()), Catch::Contains("duplicate key 'model_type'"));
  iotest::write_bytes(dir.file("config.json"), "{\"n_layer\": 2}");
  CHECK_THROWS_WITH(Checkpoint(dir.path().string()), Catch::Contains("'model_type'"));
  iotest::write_bytes(dir.file("config.json"), "{\"model_type\": \"gptj\"}");
  CHECK_THROWS_WITH(Checkpoint(dir.path().string()).ffn_output(3),
                    Catch::Contains("transformer.h.3.mlp.fc_out.weight") && Catch::Contains("not found"));

  iotest::write_bytes(dir.file("model.safetensors.index.json"),
                      "{\"weight_map\": {\"a\": \"../outside.safetensors\"}}");
  CHECK_THROWS_WITH(Checkpoint(dir.path().string()), Catch::Contains("'a'") && Catch::Contains("not a plain file name"));

  TempDir empty;
  CHECK_THROWS_WITH(Checkpoint(empty.path().string()), Catch::Contains("neither model.safetensors"));
  CHECK_THROWS_AS(Checkpoint(empty.file("nothing")), io_error);
}

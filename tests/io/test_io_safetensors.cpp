// safetensors: round trips for every dtype, replace_tensor, and one malformed file per rule.
#include <seqedit/io/safetensors.hpp>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include "../support/write_failure.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

using namespace seqedit::io;
using iotest::safetensors_image;
using iotest::TempDir;

namespace {
/// Matrix with values exactly representable in every float dtype (multiples of 1/8, small).
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> exact_matrix(Eigen::Index r, Eigen::Index c) {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = Scalar(static_cast<double>(i * c + j) / 8.0 - 1.0);
  return m;
}
}  // namespace

TEMPLATE_TEST_CASE("safetensors round trip, every dtype, row-major layout", "[io][safetensors]", float, double) {
  TempDir dir;
  const auto A = exact_matrix<TestType>(3, 5);
  SafetensorsWriter w;
  w.add("f64", A, DType::F64);
  w.add("f32", A, DType::F32);
  w.add("f16", A, DType::F16);
  w.add("bf16", A, DType::BF16);
  w.add("i64", (A * TestType(8)).eval(), DType::I64);
  w.add_raw("vec", DType::F32, {2}, std::vector<char>{0, 0, '\x80', '\x3f', 0, 0, 0, '\x40'});  // 1.0f, 2.0f
  w.add_raw("scalar", DType::F64, {}, std::vector<char>{0, 0, 0, 0, 0, 0, '\x04', '\x40'});
  w.set_metadata("note", "kept");
  const std::string path = dir.file("m.safetensors");
  w.write(path);

  const std::string bytes = iotest::read_bytes(path);
  const std::uint64_t n = detail::load_le64(reinterpret_cast<const unsigned char*>(bytes.data()));
  CHECK((8 + n) % 8 == 0);
  CHECK(bytes.find("\"format\":\"pt\"") != std::string::npos);

  SafetensorsFile f(path);
  CHECK(f.data_start() == 8 + n);
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.metadata().at("note") == "kept");
  CHECK(f.tensors().size() == 7);
  CHECK(f.tensors().front().begin == 0);
  for (const char* name : {"f64", "f32", "f16", "bf16"}) {
    INFO(name);
    const auto B = f.read_matrix<TestType>(name);
    REQUIRE(B.rows() == 3);
    REQUIRE(B.cols() == 5);
    CHECK(B == A);
    CHECK(f.info(name).shape == std::vector<std::int64_t>{3, 5});
  }
  CHECK(f.read_matrix<TestType>("i64") == A * TestType(8));
  // Row-major: the file's second element is A(0, 1).
  const std::vector<char> raw = f.read_raw("f64");
  CHECK(detail::decode_element(reinterpret_cast<const unsigned char*>(raw.data()), 1, DType::F64) == double(A(0, 1)));
  const auto v = f.read_matrix<TestType>("vec");
  CHECK(v.rows() == 2);
  CHECK(v.cols() == 1);
  CHECK(v(0, 0) == TestType(1));
  CHECK(v(1, 0) == TestType(2));
  const auto s = f.read_matrix<TestType>("scalar");
  CHECK(s.rows() == 1);
  CHECK(s(0, 0) == TestType(2.5));
  CHECK(f.info("bf16").dtype == DType::BF16);
  CHECK_THROWS_WITH(f.info("nope"), Catch::Contains("m.safetensors") && Catch::Contains("'nope'"));
}

TEST_CASE("safetensors reader accepts an unaligned header and surrounding whitespace", "[io][safetensors]") {
  TempDir dir;
  // 3 leading spaces, N not a multiple of 8: the data start unaligned.
  const std::string data = iotest::f8_bytes({1.0, -2.0});
  const std::string img = safetensors_image("   {\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}} ", data);
  iotest::write_bytes(dir.file("u.safetensors"), img);
  SafetensorsFile f(dir.file("u.safetensors"));
  CHECK(f.data_start() % 8 != 0);
  const Eigen::MatrixXd m = f.read_matrix<double>("a");
  CHECK(m(0, 0) == 1.0);
  CHECK(m(1, 0) == -2.0);
  iotest::save_seed("safetensors_header", "valid_unaligned", img);
}

TEMPLATE_TEST_CASE("replace_tensor rewrites one tensor in its own dtype, every other byte identical",
                   "[io][safetensors]", float, double) {
  TempDir dir;
  const std::string path = dir.file("r.safetensors");
  SafetensorsWriter w;
  w.add("before", exact_matrix<TestType>(2, 3), DType::F32);
  w.add("target", exact_matrix<TestType>(4, 3), DType::BF16);
  w.add("after", exact_matrix<TestType>(3, 2), DType::F16);
  w.write(path);
  const std::string old_bytes = iotest::read_bytes(path);
  const SafetensorsFile f0(path);
  const TensorInfo t = f0.info("target");

  Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> M = exact_matrix<TestType>(4, 3);
  M(1, 2) = TestType(1.0 + 1.0 / 256.0 + 1.0 / 1024.0);  // rounds to bf16 1 + 1/128 (nearest)
  replace_tensor(path, "target", M);
  const std::string new_bytes = iotest::read_bytes(path);
  REQUIRE(new_bytes.size() == old_bytes.size());
  const std::size_t tb = static_cast<std::size_t>(f0.data_start() + t.begin), te = static_cast<std::size_t>(f0.data_start() + t.end);
  CHECK(new_bytes.substr(0, tb) == old_bytes.substr(0, tb));
  CHECK(new_bytes.substr(te) == old_bytes.substr(te));
  CHECK(new_bytes.substr(tb, te - tb) != old_bytes.substr(tb, te - tb));
  const SafetensorsFile f1(path);
  CHECK(f1.info("target").dtype == DType::BF16);
  const auto back = f1.read_matrix<TestType>("target");
  CHECK(back(1, 2) == TestType(1.0 + 1.0 / 128.0));
  CHECK(back(0, 0) == M(0, 0));
  CHECK(iotest::list_dir(dir.path()).size() == 1);  // no temporary file left

  CHECK_THROWS_WITH(replace_tensor(path, "target", exact_matrix<TestType>(3, 4)),
                    Catch::Contains("r.safetensors") && Catch::Contains("'target'") && Catch::Contains("[4, 3]"));
  CHECK(iotest::read_bytes(path) == new_bytes);
}

TEST_CASE("replace_tensor that fails midway leaves the file byte-identical", "[io][safetensors][atomic]") {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  SafetensorsWriter w;
  w.add("x", exact_matrix<double>(16, 16), DType::F32);
  w.add("y", exact_matrix<double>(16, 16), DType::F32);
  w.write(path);
  const std::string before = iotest::read_bytes(path);
  {
    seqedit_test::ScopedWriteFailure fail(100);
    CHECK_THROWS_AS(replace_tensor(path, "y", Eigen::MatrixXd::Ones(16, 16)), io_error);
  }
  CHECK(iotest::read_bytes(path) == before);
  CHECK(iotest::list_dir(dir.path()).size() == 1);
}

namespace {
struct Bad {
  const char* seed;
  std::string header;
  std::string data;
  const char* message;
};
}  // namespace

TEST_CASE("malformed safetensors files are rejected with a specific message", "[io][safetensors][malformed]") {
  TempDir dir;
  const std::string d16(16, '\0');
  const auto t = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& off) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + off + "}";
  };
  const std::vector<Bad> cases = {
      {"not_json", "{\"a\": nope}", "", "not valid JSON"},
      {"not_object", "[1,2]", "", "not an object"},
      {"bad_utf8", "{\"a\xff\":1}", "", "not valid JSON"},
      {"unknown_dtype", "{" + t("a", "F8_E4M3", "[2]", "[0,2]") + "}", std::string(2, '\0'), "unsupported dtype 'F8_E4M3'"},
      {"metadata_not_string", "{\"__metadata__\":{\"format\":1}," + t("a", "F64", "[2]", "[0,16]") + "}", d16,
       "'__metadata__' value for key 'format' is not a string"},
      {"tensor_named_metadata", "{" + t("__metadata__", "F64", "[2]", "[0,16]") + "}", d16,
       "a tensor cannot be named '__metadata__'"},
      {"duplicate_names", "{" + t("a", "F64", "[1]", "[0,8]") + "," + t("a", "F64", "[1]", "[8,16]") + "}", d16,
       "duplicate key 'a'"},
      {"first_begin_not_zero", "{" + t("a", "F64", "[1]", "[8,16]") + "}", d16, "the first tensor must begin at 0"},
      {"gap", "{" + t("a", "F64", "[1]", "[0,8]") + "," + t("b", "F32", "[1]", "[12,16]") + "}", d16,
       "tensor 'b': invalid offset: begins at 12 but leaves a gap"},
      {"overlap", "{" + t("a", "F64", "[1]", "[0,8]") + "," + t("b", "F64", "[1]", "[4,12]") + "}", std::string(12, '\0'),
       "tensor 'b': invalid offset: begins at 4 but overlaps"},
      {"end_before_begin", "{" + t("a", "F64", "[0]", "[0,0]") + "," + t("b", "F64", "[1]", "[8,0]") + "}", d16,
       "tensor 'b': invalid offset: end 0 < begin 8"},
      {"wrong_byte_count", "{" + t("a", "F64", "[3]", "[0,16]") + "}", d16, "tensor 'a': invalid tensor info: shape [3] of F64 needs 24 bytes"},
      {"shape_overflow", "{" + t("a", "F64", "[4294967296,4294967296]", "[0,16]") + "}", d16, "invalid tensor info"},
      {"negative_dim", "{" + t("a", "F64", "[-2]", "[0,16]") + "}", d16, "'shape' must hold non-negative integers"},
      {"float_offset", "{" + t("a", "F64", "[2]", "[0,16.0]") + "}", d16, "'data_offsets' must hold non-negative integers"},
      {"missing_field", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2]}}", d16, "needs 'dtype', 'shape' and 'data_offsets'"},
      {"extra_field", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16],\"x\":1}}", d16, "unexpected field 'x'"},
      {"trailing_bytes", "{" + t("a", "F64", "[2]", "[0,16]") + "}", d16 + "XY", "incomplete buffer"},
      {"truncated_data", "{" + t("a", "F64", "[2]", "[0,16]") + "}", std::string(10, '\0'), "incomplete buffer"},
      {"deep_nesting", std::string(200, '[') + std::string(200, ']'), "", "nested deeper"},
      {"nul_in_header", "{" + t("a", "F64", "[2]", "[0,16]") + "}" + std::string(1, '\0') + " {{{", d16,
       "NUL byte at offset"},
  };
  for (const Bad& b : cases) {
    const std::string img = safetensors_image(b.header, b.data);
    const std::string path = dir.file(std::string(b.seed) + ".safetensors");
    iotest::write_bytes(path, img);
    iotest::save_seed("safetensors_header", b.seed, img);
    INFO("case " << b.seed);
    REQUIRE_THROWS_AS(SafetensorsFile(path), format_error);
    REQUIRE_THROWS_WITH(SafetensorsFile(path), Catch::Contains(path) && Catch::Contains(b.message));
    // The in-memory parser used by the fuzzer agrees.
    REQUIRE_THROWS_WITH(parse_safetensors_header(img.data(), img.size(), img.size(), "mem"), Catch::Contains(b.message));
  }
}

TEST_CASE("malformed safetensors lengths are rejected before allocating", "[io][safetensors][malformed]") {
  TempDir dir;
  const std::string tiny = dir.file("tiny.safetensors");
  iotest::write_bytes(tiny, std::string("\x08\x00\x00", 3));
  iotest::save_seed("safetensors_header", "too_small", std::string("\x08\x00\x00", 3));
  CHECK_THROWS_WITH(SafetensorsFile(tiny), Catch::Contains(tiny) && Catch::Contains("header too small"));

  const std::string huge = dir.file("huge.safetensors");
  const std::string img_huge = iotest::le64(100000001) + "{}";
  iotest::write_bytes(huge, img_huge);
  iotest::save_seed("safetensors_header", "header_too_large", img_huge);
  CHECK_THROWS_WITH(SafetensorsFile(huge), Catch::Contains("header too large") && Catch::Contains("100000001"));

  const std::string past = dir.file("past.safetensors");
  const std::string img_past = iotest::le64(64) + "{}";
  iotest::write_bytes(past, img_past);
  iotest::save_seed("safetensors_header", "header_past_end", img_past);
  CHECK_THROWS_WITH(SafetensorsFile(past), Catch::Contains("invalid header length") && Catch::Contains("past the end"));

  const std::string max = dir.file("max.safetensors");
  iotest::write_bytes(max, iotest::le64(~std::uint64_t(0)) + "{}");
  CHECK_THROWS_WITH(SafetensorsFile(max), Catch::Contains("header too large"));

  CHECK_THROWS_AS(SafetensorsFile(dir.file("missing.safetensors")), io_error);
  CHECK_THROWS_WITH(SafetensorsFile(dir.file("missing.safetensors")), Catch::Contains("missing.safetensors") &&
                                                                           Catch::Contains("No such file"));
}

TEST_CASE("a 3-D tensor is refused as a matrix but readable raw", "[io][safetensors]") {
  TempDir dir;
  const std::string img = safetensors_image("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,2],\"data_offsets\":[0,16]}}",
                                            std::string(16, '\0'));
  iotest::write_bytes(dir.file("t.safetensors"), img);
  iotest::save_seed("safetensors_header", "valid_3d", img);
  SafetensorsFile f(dir.file("t.safetensors"));
  CHECK(f.read_raw("a").size() == 16);
  CHECK_THROWS_WITH(f.read_matrix<float>("a"), Catch::Contains("'a'") && Catch::Contains("[1, 2, 2]"));
}

TEST_CASE("SafetensorsWriter refuses bad tensors", "[io][safetensors]") {
  SafetensorsWriter w;
  CHECK_THROWS_AS(w.add("__metadata__", Eigen::MatrixXd::Zero(1, 1), DType::F64), std::invalid_argument);
  w.add("a", Eigen::MatrixXd::Zero(1, 1), DType::F64);
  CHECK_THROWS_WITH(w.add("a", Eigen::MatrixXd::Zero(1, 1), DType::F64), Catch::Contains("added twice"));
  CHECK_THROWS_WITH(w.add_raw("b", DType::F32, {3}, std::vector<char>(8)), Catch::Contains("needs 12 bytes"));
}

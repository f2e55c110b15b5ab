// npy / npz / MEMIT statistics: round trips, header parser, and malformed files.
#include <seqedit/io/npy.hpp>
#include <seqedit/io/npz.hpp>
#include <seqedit/io/stats.hpp>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"

#include <zip.h>

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace seqedit::io;
using iotest::npy_image;
using iotest::TempDir;

namespace {
/// Writes a zip archive with the given members (stored or deflated) using libzip.
void make_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members, bool deflate) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  REQUIRE(za != nullptr);
  for (const auto& m : members) {
    zip_source_t* src = zip_source_buffer(za, m.second.data(), m.second.size(), 0);
    REQUIRE(src != nullptr);
    const zip_int64_t idx = zip_file_add(za, m.first.c_str(), src, ZIP_FL_ENC_UTF_8);
    REQUIRE(idx >= 0);
    REQUIRE(zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) == 0);
  }
  REQUIRE(zip_close(za) == 0);  // the member buffers must be alive until here
}

std::string scalar_i8(std::int64_t v) { return npy_image("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", iotest::i8_bytes({v})); }
std::string scalar_f8(double v) { return npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", iotest::f8_bytes({v})); }
std::string square_f8(int n, double scale) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) v.push_back(scale * (i + 1) * (j + 1));
  return npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " + std::to_string(n) + "), }",
                   iotest::f8_bytes(v));
}
}  // namespace

TEMPLATE_TEST_CASE("npy round trip for F64, F32, F16", "[io][npy]", float, double) {
  TempDir dir;
  Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> A(3, 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) A(i, j) = TestType((i * 4 + j) / 4.0 - 1.0);
  for (DType t : {DType::F64, DType::F32, DType::F16}) {
    const std::string path = dir.file(std::string("a_") + dtype_name(t) + ".npy");
    write_npy(path, A, t);
    const std::string bytes = iotest::read_bytes(path);
    const std::size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    CHECK((10 + hlen) % 64 == 0);
    CHECK(bytes[9 + hlen] == '\n');
    const NpyArray a = read_npy(path);
    CHECK(a.dtype == t);
    CHECK_FALSE(a.fortran_order);
    CHECK(a.shape == std::vector<std::int64_t>{3, 4});
    CHECK(to_matrix<TestType>(a, path) == A);
  }
  CHECK_THROWS_AS(write_npy(dir.file("x.npy"), A, DType::BF16), std::invalid_argument);
}

TEST_CASE("npy header parser: layouts, orders, versions", "[io][npy]") {
  const std::string d6 = iotest::f8_bytes({1, 2, 3, 4, 5, 6});
  SECTION("C order (2, 3)") {
    const NpyArray a = parse_npy(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d6).c_str(),
                                 npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d6).size(), "c.npy");
    const Eigen::MatrixXd m = to_matrix<double>(a, "c.npy");
    CHECK(m(0, 1) == 2);
    CHECK(m(1, 0) == 4);
  }
  SECTION("Fortran order, double quotes, no trailing comma, other key order, version 2 and 3") {
    for (int major : {1, 2, 3}) {
      const std::string img = npy_image("{\"shape\":(2,3),\"fortran_order\":True,\"descr\":\"<f8\"}", d6, major);
      iotest::save_seed("npy_header", "fortran_v" + std::to_string(major), img);
      const NpyArray a = parse_npy(img.data(), img.size(), "f.npy");
      CHECK(a.fortran_order);
      const Eigen::MatrixXd m = to_matrix<double>(a, "f.npy");
      CHECK(m(0, 1) == 3);  // column-major: second column starts with the third element
      CHECK(m(1, 0) == 2);
    }
  }
  SECTION("big-endian is byte-swapped") {
    std::string be;
    for (double x : {1.5, -2.0}) {
      std::string le = iotest::f8_bytes({x});
      be += std::string(le.rbegin(), le.rend());
    }
    const std::string img = npy_image("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be);
    iotest::save_seed("npy_header", "big_endian", img);
    const NpyArray a = parse_npy(img.data(), img.size(), "b.npy");
    CHECK(a.big_endian);
    const Eigen::MatrixXd m = to_matrix<double>(a, "b.npy");
    CHECK(m(0, 0) == 1.5);
    CHECK(m(1, 0) == -2.0);
  }
  SECTION("scalar, Python 2 long suffix, <i8") {
    const std::string img = npy_image("{'descr': '<i8', 'fortran_order': False, 'shape': (1L, 2L), }", iotest::i8_bytes({-7, 9}));
    iotest::save_seed("npy_header", "py2_long", img);
    const Eigen::MatrixXf m = to_matrix<float>(parse_npy(img.data(), img.size(), "l.npy"), "l.npy");
    CHECK(m(0, 0) == -7.f);
    CHECK(m(0, 1) == 9.f);
    const std::string s = scalar_f8(4.25);
    CHECK(to_matrix<double>(parse_npy(s.data(), s.size(), "s.npy"), "s.npy")(0, 0) == 4.25);
  }
  SECTION("strings parse but do not convert") {
    const std::string img = npy_image("{'descr': '<U4', 'fortran_order': False, 'shape': (), }", std::string(16, 'a'));
    iotest::save_seed("npy_header", "unicode", img);
    const NpyArray a = parse_npy(img.data(), img.size(), "u.npy");
    CHECK_FALSE(a.numeric);
    CHECK(a.itemsize == 16);
    CHECK_THROWS_WITH(to_matrix<double>(a, "u.npy"), Catch::Contains("u.npy") && Catch::Contains("'<U4' cannot be converted"));
  }
}

TEST_CASE("malformed npy files are rejected with a specific message", "[io][npy][malformed]") {
  TempDir dir;
  const std::string d2 = iotest::f8_bytes({1, 2});
  const std::string ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  std::string long_header = npy_image(ok, d2);
  {
    // header length 10001 declared, enough bytes present
    std::string dict = ok;
    dict.resize(10000, ' ');
    dict += "\n";  // 10,001 characters: one more than numpy accepts
    REQUIRE(dict.size() == 10001);
    long_header = std::string("\x93NUMPY\x01\x00", 8) + char(dict.size() & 0xff) + char(dict.size() >> 8) + dict + d2;
  }
  std::string bad_magic = npy_image(ok, d2);
  bad_magic[1] = 'X';
  std::string bad_version = npy_image(ok, d2);
  bad_version[6] = 4;
  const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> cases = {
      {"bad_magic", {bad_magic, "bad magic"}},
      {"bad_version", {bad_version, "unsupported npy version 4.0"}},
      {"header_too_long", {long_header, "npy header too long: 10001 > 10000"}},
      {"truncated_header", {npy_image(ok, d2).substr(0, 40), "truncated npy header"}},
      {"truncated_data", {npy_image(ok, d2.substr(0, 12)), "truncated npy data: shape and descr '<f8' need 16 bytes, 12 present"}},
      {"trailing_data", {npy_image(ok, d2 + "x"), "1 trailing bytes"}},
      {"pickle", {npy_image("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", d2), "object arrays"}},
      {"structured", {npy_image("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", d2), "structured dtypes"}},
      {"bad_descr", {npy_image("{'descr': '<z8', 'fortran_order': False, 'shape': (2,), }", d2), "unsupported descr '<z8'"}},
      {"missing_key", {npy_image("{'descr': '<f8', 'shape': (2,), }", d2), "lacks the key 'fortran_order'"}},
      {"extra_key", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", d2), "unexpected key 'x'"}},
      {"duplicate_key", {npy_image("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", d2), "duplicate key 'descr'"}},
      {"shape_not_tuple", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", d2), "is not a tuple"}},
      {"negative_shape", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", d2), "tuple of non-negative integers"}},
      {"shape_overflow", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", d2), "overflows"}},
      {"huge_dimension", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", d2), "does not fit in 64 bits"}},
      {"bad_bool", {npy_image("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", d2), "must be True or False"}},
      {"junk_after_dict", {npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } x", d2), "unexpected characters after"}},
      {"escape_in_string", {npy_image("{'descr': '<f\\8', 'fortran_order': False, 'shape': (2,), }", d2), "unsupported character"}},
  };
  for (const auto& c : cases) {
    const std::string path = dir.file(c.first + ".npy");
    iotest::write_bytes(path, c.second.first);
    iotest::save_seed("npy_header", c.first, c.second.first);
    INFO("case " << c.first);
    REQUIRE_THROWS_AS(read_npy(path), format_error);
    REQUIRE_THROWS_WITH(read_npy(path), Catch::Contains(path) && Catch::Contains(c.second.second));
  }
  const std::string three_d = npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 2), }", d2);
  CHECK_THROWS_WITH(to_matrix<double>(parse_npy(three_d.data(), three_d.size(), "t.npy"), "t.npy"),
                    Catch::Contains("t.npy") && Catch::Contains("rank 3"));
}

TEMPLATE_TEST_CASE("npz: stored and deflated members, keys, matrices", "[io][npz]", float, double) {
  TempDir dir;
  for (bool deflate : {false, true}) {
    const std::string path = dir.file(deflate ? "c.npz" : "s.npz");
    const std::string a = square_f8(3, 0.5), n = scalar_i8(42);
    make_zip(path, {{"a.npy", a}, {"n.npy", n}, {"odd name.npy", scalar_f8(1)}}, deflate);
    iotest::save_seed("npz", deflate ? "deflated" : "stored", iotest::read_bytes(path));
    NpzFile z(path);
    CHECK(z.keys() == std::vector<std::string>{"a", "n", "odd name"});
    CHECK(z.contains("a"));
    CHECK_FALSE(z.contains("a.npy"));
    const auto m = z.template read_matrix<TestType>("a");
    CHECK(m(1, 2) == TestType(0.5 * 2 * 3));
    CHECK(z.template read_matrix<TestType>("n")(0, 0) == TestType(42));
    CHECK_THROWS_WITH(z.read("zz"), Catch::Contains(path) && Catch::Contains("'zz'") && Catch::Contains("no such array"));
    // from memory, as the fuzzer does
    const std::string bytes = iotest::read_bytes(path);
    NpzFile zm(bytes.data(), bytes.size(), "mem.npz");
    CHECK(zm.template read_matrix<TestType>("a") == m);
  }
}

TEST_CASE("malformed npz archives are rejected with a specific message", "[io][npz][malformed]") {
  TempDir dir;
  const std::string hdr2 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  SECTION("member larger than its declared shape (stored and deflated)") {
    for (bool deflate : {false, true}) {
      const std::string path = dir.file("big.npz");
      make_zip(path, {{"a.npy", npy_image(hdr2, std::string(4096, '\0'))}}, deflate);
      iotest::save_seed("npz", deflate ? "member_too_large_deflated" : "member_too_large", iotest::read_bytes(path));
      NpzFile z(path);
      CHECK_THROWS_WITH(z.read("a"), Catch::Contains(path) && Catch::Contains("'a'") &&
                                          Catch::Contains("larger than its npy header declares"));
    }
  }
  SECTION("member with truncated data") {
    const std::string path = dir.file("short.npz");
    make_zip(path, {{"a.npy", npy_image(hdr2, std::string(8, '\0'))}}, true);
    NpzFile z(path);
    CHECK_THROWS_WITH(z.read("a"), Catch::Contains("'a'") && Catch::Contains("smaller than its npy header declares"));
  }
  SECTION("a bad npy inside") {
    const std::string path = dir.file("bad.npz");
    make_zip(path, {{"a.npy", "not an npy"}}, false);
    iotest::save_seed("npz", "bad_member", iotest::read_bytes(path));
    CHECK_THROWS_WITH(NpzFile(path).read("a"), Catch::Contains("'a'") && Catch::Contains("bad magic"));
  }
  SECTION("not a zip file") {
    const std::string path = dir.file("nozip.npz");
    iotest::write_bytes(path, "PK\x03\x04 this is not a zip");
    iotest::save_seed("npz", "not_zip", "PK\x03\x04 this is not a zip");
    CHECK_THROWS_WITH(NpzFile(path), Catch::Contains(path) && Catch::Contains("not a valid npz"));
  }
  SECTION("two members with the same key") {
    const std::string path = dir.file("dup.npz");
    make_zip(path, {{"a.npy", scalar_f8(1)}, {"a", scalar_f8(2)}}, false);
    iotest::save_seed("npz", "duplicate_key", iotest::read_bytes(path));
    CHECK_THROWS_WITH(NpzFile(path), Catch::Contains("'a'") && Catch::Contains("appears twice"));
  }
  SECTION("a corrupted deflate stream") {
    const std::string path = dir.file("crc.npz");
    make_zip(path, {{"a.npy", square_f8(8, 1.0)}}, true);
    std::string bytes = iotest::read_bytes(path);
    bytes[60] = static_cast<char>(bytes[60] ^ 0x55);  // inside the compressed data
    iotest::write_bytes(path, bytes);
    iotest::save_seed("npz", "corrupt_deflate", bytes);
    CHECK_THROWS_AS(NpzFile(path).read("a"), format_error);
  }
}

TEMPLATE_TEST_CASE("load_mom2_stats divides the raw sum by the count", "[io][stats]", float, double) {
  TempDir dir;
  const std::string path = dir.file("stats.npz");
  const std::string ctor = npy_image("{'descr': '<U32', 'fortran_order': False, 'shape': (), }", std::string(128, '\0'));
  make_zip(path, {{"mom2.mom2.npy", square_f8(4, 3000.0)}, {"mom2.count.npy", scalar_i8(1000)},
                  {"mom2.constructor.npy", ctor}, {"sample_size.npy", scalar_f8(std::numeric_limits<double>::quiet_NaN())}},
           false);
  iotest::save_seed("npz", "memit_stats", iotest::read_bytes(path));
  const auto C0 = load_mom2_stats<TestType>(path);
  REQUIRE(C0.rows() == 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) CHECK(C0(i, j) == TestType(3.0 * (i + 1) * (j + 1)));

  // an integral <f8 count is accepted
  make_zip(path, {{"mom2.mom2.npy", square_f8(2, 10.0)}, {"mom2.count.npy", scalar_f8(5.0)}}, true);
  CHECK(load_mom2_stats<TestType>(path)(1, 1) == TestType(8));
}

TEST_CASE("bad statistics files are rejected with a specific message", "[io][stats][malformed]") {
  TempDir dir;
  const std::string path = dir.file("s.npz");
  const std::string mom = square_f8(2, 1.0);
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> cases = {
      {{{"mom2.mom2.npy", mom}, {"mom2.count.npy", scalar_i8(0)}}, "'mom2.count': count is 0"},
      {{{"mom2.mom2.npy", mom}, {"mom2.count.npy", scalar_i8(-3)}}, "'mom2.count': count is -3"},
      {{{"mom2.mom2.npy", mom}, {"mom2.count.npy", scalar_f8(std::numeric_limits<double>::quiet_NaN())}}, "count is NaN"},
      {{{"mom2.mom2.npy", mom}, {"mom2.count.npy", scalar_f8(2.5)}}, "positive finite integer"},
      {{{"mom2.mom2.npy", mom}, {"mom2.count.npy", scalar_f8(std::numeric_limits<double>::infinity())}}, "positive finite integer"},
      {{{"mom2.mom2.npy", mom}}, "'mom2.count': missing"},
      {{{"mom2.count.npy", scalar_i8(3)}}, "'mom2.mom2': missing"},
      {{{"mom2.mom2.npy", npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", std::string(48, '\0'))},
        {"mom2.count.npy", scalar_i8(3)}},
       "'mom2.mom2': must be a square matrix, has shape [2, 3]"},
      {{{"mom2.mom2.npy", npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
                                    iotest::f8_bytes({std::numeric_limits<double>::infinity()}))},
        {"mom2.count.npy", scalar_i8(3)}},
       "non-finite value"},
  };
  int k = 0;
  for (const auto& c : cases) {
    make_zip(path, c.first, false);
    iotest::save_seed("npz", "stats_bad_" + std::to_string(k++), iotest::read_bytes(path));
    INFO(c.second);
    REQUIRE_THROWS_AS(load_mom2_stats<double>(path), format_error);
    REQUIRE_THROWS_WITH(load_mom2_stats<double>(path), Catch::Contains(path) && Catch::Contains(c.second));
  }
}

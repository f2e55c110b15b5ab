// numpy interoperability: files written by numpy are read exactly, and numpy reads
// seqedit's files with identical bits. Drives tests/io/numpy_interop.py.
#include <seqedit/io/npy.hpp>
#include <seqedit/io/npz.hpp>
#include <seqedit/io/stats.hpp>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"

#include <Eigen/Core>

#include <cstdlib>
#include <string>

using namespace seqedit::io;
using iotest::TempDir;

namespace {
int run_python(const std::string& mode, const std::string& dir) {
  const std::string cmd = std::string("\"") + SEQEDIT_PYTHON + "\" \"" + SEQEDIT_NUMPY_SCRIPT + "\" " + mode + " \"" + dir + "\"";
  return std::system(cmd.c_str());
}

/// k * 0.1 - 1.0 in double for element k in C order, as the script computes it.
Eigen::MatrixXd val(Eigen::Index r, Eigen::Index c) {
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = static_cast<double>(i * c + j) * 0.1 - 1.0;
  return m;
}

/// Rounds like numpy's astype(float16) from float64 (once, to nearest even).
Eigen::MatrixXd round_f16(const Eigen::MatrixXd& m) {
  return m.unaryExpr([](double x) { return static_cast<double>(f16_bits_to_float(double_to_f16_bits(x))); });
}
}  // namespace

TEMPLATE_TEST_CASE("numpy-written npy, npz and statistics are read exactly", "[io][numpy]", float, double) {
  TempDir dir;
  REQUIRE(run_python("generate", dir.path().string()) == 0);
  const auto file = [&](const std::string& n) { return dir.file(n); };
  using M = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::MatrixXd v35 = val(3, 5);

  CHECK(to_matrix<TestType>(read_npy(file("c_f8.npy")), "c_f8") == v35.cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("c_f4.npy")), "c_f4") == v35.cast<float>().cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("c_f2.npy")), "c_f2") == round_f16(v35).cast<TestType>());
  M i8(3, 5);
  for (int k = 0; k < 15; ++k) i8(k / 5, k % 5) = TestType(k - 4);
  CHECK(to_matrix<TestType>(read_npy(file("c_i8.npy")), "c_i8") == i8);
  const NpyArray f = read_npy(file("fortran_f8.npy"));
  CHECK(f.fortran_order);
  CHECK(to_matrix<TestType>(f, "fortran") == val(4, 3).cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("be_f8.npy")), "be_f8") == val(2, 3).cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("be_f4.npy")), "be_f4") == val(2, 3).cast<float>().cast<TestType>());
  const M vec = to_matrix<TestType>(read_npy(file("vec_f8.npy")), "vec");
  CHECK(vec.cols() == 1);
  CHECK(vec == val(1, 6).transpose().cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("scalar_f8.npy")), "scalar")(0, 0) == TestType(2.5));
  CHECK(to_matrix<TestType>(read_npy(file("v2_f8.npy")), "v2") == v35.cast<TestType>());
  CHECK(to_matrix<TestType>(read_npy(file("v3_f8.npy")), "v3") == v35.cast<TestType>());

  for (const char* npz : {"plain.npz", "compressed.npz"}) {
    INFO(npz);
    const NpzFile z(file(npz));
    CHECK(z.keys().size() == 3);
    CHECK(z.template read_matrix<TestType>("a") == val(3, 4).cast<TestType>());
    CHECK(z.template read_matrix<TestType>("b") == val(2, 2).cast<float>().cast<TestType>());
    CHECK(z.template read_matrix<TestType>("n")(0, 0) == TestType(7));
  }
  for (const char* stats : {"transformer.h.17.mlp.c_proj_float32_mom2_100000.npz", "stats_compressed.npz"}) {
    INFO(stats);
    const NpzFile z(file(stats));
    CHECK(z.contains("mom2.constructor"));
    CHECK(z.read("mom2.constructor").descr == "<U32");
    CHECK_THROWS_WITH(z.template read_matrix<TestType>("mom2.constructor"), Catch::Contains("'<U32' cannot be converted"));
    const M C0 = load_mom2_stats<TestType>(file(stats));
    REQUIRE(C0.rows() == 6);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) CHECK(C0(i, j) == TestType(2.0 * (i + 1) * (j + 1)));  // sum / count, not the sum
  }
}

TEST_CASE("numpy reads seqedit's npy files with identical bits", "[io][numpy]") {
  TempDir dir;
  const Eigen::MatrixXd v = val(3, 5);
  write_npy(dir.file("seqedit_f8.npy"), v, DType::F64);
  write_npy(dir.file("seqedit_f4.npy"), v, DType::F32);
  write_npy(dir.file("seqedit_f2.npy"), v, DType::F16);
  CHECK(run_python("check", dir.path().string()) == 0);
  // the check can fail: a wrong value is noticed
  write_npy(dir.file("seqedit_f4.npy"), (v.array() + 1e-3).matrix().eval(), DType::F32);
  CHECK(run_python("check", dir.path().string()) != 0);
}

// Retention statistics (pipeline.md §7): exact shard merging, MEMIT's file layout, numpy
// interchange in both directions.

#include "seqedit/facts/stats.hpp"
#include "seqedit/io/error.hpp"
#include "seqedit/io/stats.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using seqedit::facts::SecondMoment;

namespace {

std::string work(const std::string& name) { return std::string(SEQEDIT_FACTS_WORK_DIR) + "/" + name; }

int run_python(const std::string& code) {
  const std::string script = work("py_" + std::to_string(std::hash<std::string>()(code)) + ".py");
  {
    std::ofstream f(script);
    f << code;
  }
  return std::system((std::string(SEQEDIT_FACTS_PYTHON) + " " + script).c_str());
}

/// Texts of random lengths; keys spread over nine orders of magnitude, as FFN activations are.
std::vector<Eigen::MatrixXf> random_texts(int d, int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> len(1, 17);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> expo(-6.0f, 3.0f);
  std::vector<Eigen::MatrixXf> out;
  for (int t = 0; t < n; ++t) {
    Eigen::MatrixXf k(d, len(gen));
    for (Eigen::Index j = 0; j < k.cols(); ++j)
      for (Eigen::Index i = 0; i < d; ++i) k(i, j) = nd(gen) * std::pow(10.0f, expo(gen));
    out.push_back(k);
  }
  return out;
}

}  // namespace

TEST_CASE("statistics: shards merged in any order equal one pass bit for bit", "[facts][stats]") {
  const int d = 24;
  const std::vector<Eigen::MatrixXf> texts = random_texts(d, 60, 7);
  SecondMoment one(d);
  for (const auto& k : texts) one.add(k);

  // three uneven shards, merged in two different orders
  SecondMoment a(d), b(d), c(d);
  for (std::size_t t = 0; t < texts.size(); ++t) (t < 11 ? a : t < 40 ? b : c).add(texts[t]);
  SecondMoment abc = a;
  abc.merge(b);
  abc.merge(c);
  SecondMoment cba = c;
  cba.merge(b);
  cba.merge(a);
  CHECK(abc == one);
  CHECK(cba == one);
  CHECK(one.count() == [&] {
    std::int64_t n = 0;
    for (const auto& k : texts) n += k.cols();
    return n;
  }());
  CHECK(one.samples() == 60);
  const Eigen::MatrixXd s1 = one.sum(), s2 = cba.sum();
  CHECK((s1.array() == s2.array()).all());

  // against a long-double reference: the fixed-point sum is the exact sum rounded
  Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic> ref =
      Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>::Zero(d, d);
  for (const auto& k : texts) {
    const auto kd = k.cast<long double>();
    ref += kd * kd.transpose();
  }
  const double rel = static_cast<double>(((s1.cast<long double>() - ref).norm() / ref.norm()));
  INFO("relative error of the accumulated sum against long double: " << rel);
  CHECK(rel < 1e-15);

  // a float64 running sum over the same texts in shard order differs from the one-pass one
  // in the last bits (what the fixed-point accumulator avoids); it is not required to, so
  // only its size is checked
  Eigen::MatrixXd naive = Eigen::MatrixXd::Zero(d, d);
  for (const auto& k : texts) naive += k.cast<double>() * k.cast<double>().transpose();
  CHECK((naive - s1).norm() / s1.norm() < 1e-14);
}

TEST_CASE("statistics: the npz round trip is exact and merge of files equals one pass", "[facts][stats]") {
  const int d = 16;
  const std::vector<Eigen::MatrixXf> texts = random_texts(d, 30, 11);
  SecondMoment one(d), a(d), b(d);
  for (std::size_t t = 0; t < texts.size(); ++t) {
    one.add(texts[t]);
    (t % 3 == 0 ? a : b).add(texts[t]);  // interleaved shards
  }
  const std::string pa = work("shard_a.npz"), pb = work("shard_b.npz"), po = work("one.npz");
  seqedit::facts::write_mom2_npz(pa, a);
  seqedit::facts::write_mom2_npz(pb, b);
  seqedit::facts::write_mom2_npz(po, one);
  CHECK(seqedit::facts::read_mom2_npz(pa) == a);
  const SecondMoment merged = seqedit::facts::merge_mom2_files({pb, pa});
  CHECK(merged == one);
  // seqedit::io's reader sees C0 = sum / count
  const Eigen::MatrixXd c0 = seqedit::io::load_mom2_stats<double>(po);
  CHECK((c0.array() == (one.sum() / static_cast<double>(one.count())).array()).all());
  CHECK(seqedit::facts::mom2_file_name("transformer.h.13.mlp.c_proj", "float32", 100000) ==
        "transformer.h.13.mlp.c_proj_float32_mom2_100000.npz");
}

TEST_CASE("statistics: numpy reads seqedit's file, seqedit reads numpy's (MEMIT layout)", "[facts][stats]") {
  // keys k_t[i] = ((7 i + 13 t) mod 17 − 8) / 4: exact in float32, sums exact in float64
  const int d = 6, T = 40;
  Eigen::MatrixXf K(d, T);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < d; ++i) K(i, t) = static_cast<float>(((7 * i + 13 * t) % 17) - 8) / 4.0f;
  SecondMoment m(d);
  m.add(K.leftCols(25));
  m.add(K.rightCols(15));
  const std::string ours = work("ours_float32_mom2_2.npz"), theirs = work("numpy_float32_mom2_2.npz");
  seqedit::facts::write_mom2_npz(ours, m);
  const std::string code =
      "import numpy as np, sys\n"
      "d, T = 6, 40\n"
      "K = np.array([[((7*i + 13*t) % 17 - 8) / 4 for t in range(T)] for i in range(d)], dtype=np.float32)\n"
      "S = K.astype(np.float64) @ K.astype(np.float64).T\n"
      "z = np.load('" + ours + "')\n"
      "assert set(['mom2.mom2', 'mom2.count', 'mom2.constructor', 'sample_size']) <= set(z.files), z.files\n"
      "assert np.array_equal(z['mom2.mom2'], S), abs(z['mom2.mom2'] - S).max()\n"
      "assert int(z['mom2.count']) == T and int(z['sample_size']) == 2\n"
      "assert str(z['mom2.constructor']) == 'util.runningstats.SecondMoment()'\n"
      "np.savez('" + theirs + "', **{'mom2.mom2': S.astype(np.float32), 'mom2.count': np.array(T),\n"
      "  'mom2.constructor': np.array('util.runningstats.SecondMoment()'), 'sample_size': np.array(2)})\n";
  REQUIRE(run_python(code) == 0);
  const SecondMoment back = seqedit::facts::read_mom2_npz(theirs);
  CHECK(back.count() == T);
  CHECK(back.samples() == 2);
  CHECK((back.sum().array() == m.sum().array()).all());
  CHECK(back == m);  // the exact sums lie on the grid: the same accumulator
  const Eigen::MatrixXd c0_io = seqedit::io::load_mom2_stats<double>(theirs);
  CHECK((c0_io.array() == back.second_moment().array()).all());
}

TEST_CASE("statistics: misuse and malformed files", "[facts][stats]") {
  SecondMoment m(4);
  CHECK_THROWS_WITH(m.add(Eigen::MatrixXd::Ones(3, 2)), Catch::Contains("keys have 3 rows"));
  Eigen::MatrixXd bad = Eigen::MatrixXd::Ones(4, 2);
  bad(1, 1) = std::nan("");
  CHECK_THROWS_WITH(m.add(bad), Catch::Contains("NaN"));
  CHECK_THROWS_WITH(m.add(Eigen::MatrixXd::Constant(4, 1, 1e40)), Catch::Contains("beyond 2^62"));
  CHECK(m.count() == 0);
  SecondMoment other(5);
  CHECK_THROWS_AS(m.merge(other), std::invalid_argument);
  CHECK_THROWS_AS(m.second_moment(), std::logic_error);
  CHECK_THROWS_AS(SecondMoment(0), std::invalid_argument);

  // files of different widths are refused by merge, naming both
  SecondMoment m4(4), m5(5);
  m4.add(Eigen::MatrixXd::Ones(4, 3));
  m5.add(Eigen::MatrixXd::Ones(5, 3));
  seqedit::facts::write_mom2_npz(work("w4.npz"), m4);
  seqedit::facts::write_mom2_npz(work("w5.npz"), m5);
  CHECK_THROWS_WITH(seqedit::facts::merge_mom2_files({work("w4.npz"), work("w5.npz")}),
                    Catch::Contains("d_k is 5") && Catch::Contains("w4.npz has 4"));
  // a truncated file, a missing file
  {
    std::ifstream in(work("w4.npz"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(work("trunc.npz"), std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  CHECK_THROWS_AS(seqedit::facts::read_mom2_npz(work("trunc.npz")), seqedit::io::format_error);
  CHECK_THROWS_AS(seqedit::facts::read_mom2_npz(work("missing.npz")), seqedit::io::io_error);
  // extra scalar members for resumable runs
  seqedit::facts::write_mom2_npz(work("x.npz"), m4, {{"seqedit.next_text", 12}});
  CHECK(seqedit::facts::read_npz_i64(work("x.npz"), "seqedit.next_text", -1) == 12);
  CHECK(seqedit::facts::read_npz_i64(work("w4.npz"), "seqedit.next_text", -1) == -1);
  CHECK_THROWS_AS(seqedit::facts::write_mom2_npz(work("y.npz"), m4, {{"next", 1}}), std::invalid_argument);
}

#include <seqedit/rect.hpp>
#include <seqedit/regulariser.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

template class seqedit::Rect<float>;
template class seqedit::Rect<double>;

namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

template <typename T>
Mat<T> gaussian(Eigen::Index rows, Eigen::Index cols, std::mt19937& gen, double sd = 1.0) {
  std::normal_distribution<double> nd(0.0, sd);
  Mat<T> m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = static_cast<T>(nd(gen));
  return m;
}

/// Relative change computed independently of the library, in the working precision.
template <typename T>
T rel_change(T d, T w) {
  const T den = w + T(1e-8);
  if (den == T(0)) return d == T(0) ? T(0) : std::numeric_limits<T>::infinity();
  return std::abs(d / den);
}

}  // namespace

TEMPLATE_TEST_CASE("Rect is a non-identity regulariser", "[rect]", float, double) {
  STATIC_REQUIRE_FALSE(seqedit::Rect<TestType>::is_identity);
  STATIC_REQUIRE_FALSE(seqedit::detail::is_identity_regulariser<seqedit::Rect<TestType>>::value);
  CHECK(seqedit::Rect<TestType>().ratio() == 0.2);
}

TEST_CASE("Rect count rule reproduces the reference's integer percent rule", "[rect][count]") {
  // Reference: k = floor(numel (100 - P) / 100) for an integer percentage P.
  long checked = 0;
  for (Eigen::Index numel :
       std::vector<Eigen::Index>{1, 2, 3, 7, 10, 99, 100, 101, 640, 1000, 12345, 1600 * 6400}) {
    for (int pct = 1; pct <= 100; ++pct) {
      const seqedit::Rect<double> rect(pct / 100.0);
      const Eigen::Index expected = numel * (100 - pct) / 100;  // exact integer floor
      INFO("numel " << numel << ", p = " << pct << "%");
      REQUIRE(rect.threshold_rank(numel) == expected);
      REQUIRE(rect.kept_count(numel) == (expected == 0 ? numel : numel - expected + 1));
      ++checked;
    }
  }
  INFO(checked << " (numel, p) pairs");
  CHECK(checked == 1200);

  // The classic traps: 1 - 0.8 = 0.19999999999999996 and 0.2 * 100 in floating point.
  CHECK(seqedit::Rect<double>(0.8).threshold_rank(100) == 20);
  CHECK(seqedit::Rect<double>(0.2).threshold_rank(100) == 80);
  CHECK(seqedit::Rect<double>(0.2).kept_count(100) == 21);
  CHECK(seqedit::Rect<double>(0.7).threshold_rank(10) == 3);
  // Non-integer p N: k = N - ceil(p N).
  CHECK(seqedit::Rect<double>(0.25).threshold_rank(10) == 7);   // p N = 2.5
  CHECK(seqedit::Rect<double>(0.005).threshold_rank(100) == 99);  // p N = 0.5
  CHECK(seqedit::Rect<double>(1.0).threshold_rank(100) == 0);
  CHECK(seqedit::Rect<double>(0.999).threshold_rank(100) == 0);  // p N = 99.9 -> keep all
  CHECK(seqedit::Rect<double>(0.5).threshold_rank(0) == 0);
}

TEMPLATE_TEST_CASE("Rect keeps exactly the top entries by relative change", "[rect]", float,
                   double) {
  using T = TestType;
  std::mt19937 gen(42);
  long cases = 0;
  for (const auto& shape : std::vector<std::pair<int, int>>{{16, 40}, {7, 13}, {1, 50}, {33, 1}}) {
    for (double p : {0.2, 0.4, 0.05, 0.5, 0.9}) {
      const Mat<T> w = gaussian<T>(shape.first, shape.second, gen);
      const Mat<T> delta = gaussian<T>(shape.first, shape.second, gen, 1e-2);
      // Distinct relative changes (with probability one; checked).
      std::vector<T> all;
      for (Eigen::Index i = 0; i < delta.size(); ++i)
        all.push_back(rel_change(delta.data()[i], w.data()[i]));
      REQUIRE(std::set<T>(all.begin(), all.end()).size() == all.size());

      const seqedit::Rect<T> rect(p);
      const Mat<T> out = rect(delta, w);
      REQUIRE(out.rows() == delta.rows());
      REQUIRE(out.cols() == delta.cols());

      Eigen::Index kept = 0;
      T min_kept = std::numeric_limits<T>::infinity(), max_dropped = T(-1);
      bool values_ok = true;
      for (Eigen::Index i = 0; i < delta.size(); ++i) {
        const T o = out.data()[i], d = delta.data()[i];
        if (o != T(0)) {
          ++kept;
          min_kept = std::min(min_kept, all[std::size_t(i)]);
          values_ok = values_ok && (o == d);  // kept entries are copied exactly
        } else {
          max_dropped = std::max(max_dropped, all[std::size_t(i)]);
        }
      }
      // Independent threshold: the k-th smallest by a full sort.
      const Eigen::Index k = rect.threshold_rank(delta.size());
      std::vector<T> sorted = all;
      std::sort(sorted.begin(), sorted.end());
      const Eigen::Index expected = k == 0 ? delta.size() : Eigen::Index(
          std::count_if(all.begin(), all.end(), [&](T r) { return r >= sorted[std::size_t(k - 1)]; }));

      INFO(shape.first << " x " << shape.second << ", p = " << p << ": kept " << kept
                       << " (rule " << rect.kept_count(delta.size()) << "), min kept r "
                       << min_kept << ", max dropped r " << max_dropped);
      CHECK(kept == rect.kept_count(delta.size()));
      CHECK(kept == expected);
      CHECK(values_ok);
      CHECK(min_kept > max_dropped);
      ++cases;
    }
  }
  CHECK(cases == 20);
}

TEMPLATE_TEST_CASE("Rect with p = 1 keeps everything", "[rect]", float, double) {
  using T = TestType;
  std::mt19937 gen(3);
  const Mat<T> w = gaussian<T>(9, 11, gen), delta = gaussian<T>(9, 11, gen);
  const Mat<T> out = seqedit::Rect<T>(1.0)(delta, w);
  CHECK((out - delta).cwiseAbs().maxCoeff() == T(0));
  // p so large that ⌊N(1 − p)⌋ = 0 keeps everything too.
  CHECK((seqedit::Rect<T>(0.995)(delta, w) - delta).cwiseAbs().maxCoeff() == T(0));
  // Empty input.
  CHECK(seqedit::Rect<T>(0.3)(Mat<T>(0, 4), Mat<T>(0, 4)).size() == 0);
}

TEMPLATE_TEST_CASE("Rect keeps every entry tied with the threshold", "[rect][ties]", float,
                   double) {
  using T = TestType;
  // W = 1 everywhere, so r is |delta| over one common denominator; r values (1-based sorted):
  // 1 2 3 3 3 4 5 6 7 8. With p = 0.6: k = ⌊10 · 0.4⌋ = 4, threshold = 4th smallest = 3.
  Mat<T> w = Mat<T>::Ones(2, 5);
  Mat<T> delta(2, 5);
  delta << 3, -1, 8, 3, 5,
           -4, 6, 2, -3, 7;
  const seqedit::Rect<T> rect(0.6);
  REQUIRE(rect.threshold_rank(10) == 4);
  REQUIRE(rect.kept_count(10) == 7);  // with distinct values
  const Mat<T> out = rect(delta, w);
  Eigen::Index kept = 0;
  for (Eigen::Index i = 0; i < 10; ++i) {
    const T d = delta.data()[i], o = out.data()[i];
    INFO("entry " << d << " -> " << o);
    if (std::abs(d) >= T(3)) {
      CHECK(o == d);
      ++kept;
    } else {
      CHECK(o == T(0));
    }
  }
  // All three 3's are kept: 8 = kept_count + 1 extra tie.
  CHECK(kept == 8);
  CHECK((out.array() != T(0)).count() == 8);

  // k = 3 (p = 0.7): threshold = 3rd smallest = 3 again; the same 8 entries.
  const Mat<T> out7 = seqedit::Rect<T>(0.7)(delta, w);
  CHECK((out7.array() != T(0)).count() == 8);
  CHECK((out7 - out).cwiseAbs().maxCoeff() == T(0));
  // All equal: everything ties, everything is kept.
  const Mat<T> flat = Mat<T>::Constant(3, 4, T(0.25));
  CHECK((seqedit::Rect<T>(0.1)(flat, Mat<T>::Ones(3, 4)).array() != T(0)).count() == 12);
}

TEMPLATE_TEST_CASE("Rect guards zero weights with 1e-8", "[rect]", float, double) {
  using T = TestType;
  std::mt19937 gen(8);
  Mat<T> w = gaussian<T>(6, 10, gen);
  Mat<T> delta = gaussian<T>(6, 10, gen, 1e-3);
  // Three zero weights: r = |delta| / 1e-8 ~ 1e5, far above every other r (≲ 1e2).
  w(0, 0) = 0;
  w(3, 4) = 0;
  w(5, 9) = 0;
  // W = -1e-8 exactly: the denominator is 0; delta ≠ 0 there gives r = +inf.
  w(2, 2) = -T(1e-8);
  // Denominator 0 with delta = 0: r = 0, dropped (its value is 0 anyway).
  w(4, 1) = -T(1e-8);
  delta(4, 1) = 0;

  const auto r = seqedit::Rect<T>::relative_change(delta, w);
  CHECK(std::isinf(r(2, 2)));
  CHECK(r(4, 1) == T(0));
  CHECK(double(r(0, 0)) == Approx(std::abs(double(delta(0, 0))) / double(T(1e-8))).epsilon(1e-6));

  // p with k = ⌊60 · 0.9⌋ = 54: 7 entries kept; the four guarded ones are among them.
  const seqedit::Rect<T> rect(0.1);
  REQUIRE(rect.kept_count(60) == 7);
  const Mat<T> out = rect(delta, w);
  CHECK(out.allFinite());
  CHECK(out(2, 2) == delta(2, 2));
  CHECK(out(0, 0) == delta(0, 0));
  CHECK(out(3, 4) == delta(3, 4));
  CHECK(out(5, 9) == delta(5, 9));
  CHECK(out(4, 1) == T(0));
  CHECK((out.array() != T(0)).count() == 7);

  // The smallest p: one kept plus the threshold itself; the infinite r is first.
  const seqedit::Rect<T> tiny(1.0 / 60);
  REQUIRE(tiny.kept_count(60) == 2);
  const Mat<T> out1 = tiny(delta, w);
  CHECK(out1(2, 2) == delta(2, 2));
  CHECK((out1.array() != T(0)).count() == 2);
}

TEMPLATE_TEST_CASE("Rect rejects bad ratios and bad inputs", "[rect][errors]", float, double) {
  using T = TestType;
  for (double p : {0.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::infinity(), 1.0000001}) {
    INFO("p = " << p);
    REQUIRE_THROWS_AS(seqedit::Rect<T>(p), std::invalid_argument);
  }
  REQUIRE_THROWS_WITH(seqedit::Rect<T>(1.5), Catch::Contains("p = 1.5"));
  REQUIRE_THROWS_WITH(seqedit::Rect<T>(-0.1), Catch::Contains("p = -0.1"));
  REQUIRE_THROWS_WITH(seqedit::Rect<T>(0.0), Catch::Contains("p = 0"));
  REQUIRE_THROWS_WITH(seqedit::Rect<T>(std::numeric_limits<double>::quiet_NaN()),
                      Catch::Contains("p = nan"));
  REQUIRE_NOTHROW(seqedit::Rect<T>(1e-12));
  REQUIRE_NOTHROW(seqedit::Rect<T>(1.0));

  const seqedit::Rect<T> rect;
  const Mat<T> d34 = Mat<T>::Ones(3, 4), w35 = Mat<T>::Ones(3, 5), w34 = Mat<T>::Ones(3, 4);
  REQUIRE_THROWS_AS(rect(d34, w35), std::invalid_argument);
  REQUIRE_THROWS_WITH(rect(d34, w35), Catch::Contains("3 x 5") && Catch::Contains("3 x 4") &&
                                          Catch::Contains("w_ref"));
  REQUIRE_THROWS_WITH(rect(Mat<T>::Ones(4, 3), w34), Catch::Contains("3 x 4") &&
                                                         Catch::Contains("4 x 3"));
  Mat<T> bad = d34;
  bad(0, 3) = std::numeric_limits<T>::quiet_NaN();
  REQUIRE_THROWS_WITH(rect(bad, w34), Catch::Contains("delta") && Catch::Contains("non-finite"));
  Mat<T> badw = w34;
  badw(2, 1) = -std::numeric_limits<T>::infinity();
  REQUIRE_THROWS_WITH(rect(d34, badw), Catch::Contains("w_ref") && Catch::Contains("non-finite"));
}

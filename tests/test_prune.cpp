#include <seqedit/prune.hpp>
#include <seqedit/regulariser.hpp>

#include <catch2/catch.hpp>

#include <Eigen/QR>
#include <Eigen/SVD>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

template class seqedit::Prune<float>;
template class seqedit::Prune<double>;
template struct seqedit::PruneOptions<float>;
template struct seqedit::PruneOptions<double>;

namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <typename T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <typename T>
Mat<T> gaussian(Eigen::Index rows, Eigen::Index cols, std::mt19937& gen) {
  std::normal_distribution<double> nd(0.0, 1.0);
  Mat<T> m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = static_cast<T>(nd(gen));
  return m;
}

/// rows × cols with orthonormal columns (computed in double, then cast).
template <typename T>
Mat<T> orthonormal(Eigen::Index rows, Eigen::Index cols, std::mt19937& gen) {
  const Mat<double> g = gaussian<double>(rows, cols, gen);
  Eigen::HouseholderQR<Mat<double>> qr(g);
  const Mat<double> q = qr.householderQ() * Mat<double>::Identity(rows, cols);
  return q.cast<T>();
}

/// Largest singular value by a dense SVD (reference).
template <typename T>
double dense_sigma_max(const Mat<T>& w) {
  return Eigen::JacobiSVD<Mat<double>>(w.template cast<double>()).singularValues()(0);
}

/// Reference PRUNE by a dense SVD in double.
template <typename T>
Mat<double> reference_prune(const Mat<T>& delta, const Mat<T>& w) {
  const double smax = dense_sigma_max(w);
  Eigen::JacobiSVD<Mat<double>> svd(delta.template cast<double>(),
                                    Eigen::ComputeThinU | Eigen::ComputeThinV);
  Vec<double> s = svd.singularValues();
  for (Eigen::Index j = 0; j < s.size(); ++j)
    if (s(j) > smax) s(j) = std::log(s(j)) - std::log(smax) + smax;
  return svd.matrixU() * s.asDiagonal() * svd.matrixV().transpose();
}

template <typename T>
double rel_diff(const Mat<T>& a, const Mat<double>& b) {
  return (a.template cast<double>() - b).norm() / b.norm();
}

/// ‖a − b‖_F / ‖Δ‖_F: the error relative to the size of the input. (PRUNE can shrink Δ
/// by a large factor, so round-off of order ε‖Δ‖ is the natural scale.)
template <typename T>
double err_vs_input(const Mat<T>& a, const Mat<double>& b, const Mat<T>& delta) {
  return (a.template cast<double>() - b).norm() / double(delta.template cast<double>().norm());
}

template <typename T>
double eps() {
  return static_cast<double>(std::numeric_limits<T>::epsilon());
}

/// Error budget relative to ‖Δ‖_F: c ε for the arithmetic, plus the effect of σ_max's
/// tolerance: each shrunk triplet moves by |∂f/∂σ_max| δσ_max ≤ tolerance · σ_max.
template <typename T>
double budget(double c, const seqedit::Prune<T>& prune, const Mat<T>& w, const Mat<T>& delta) {
  const Eigen::Index r = std::min(delta.rows(), delta.cols());
  return c * eps<T>() + double(prune.options().tolerance) * dense_sigma_max(w) *
                            std::sqrt(double(r)) / double(delta.template cast<double>().norm());
}

}  // namespace

TEMPLATE_TEST_CASE("Prune is a non-identity regulariser", "[prune]", float, double) {
  STATIC_REQUIRE_FALSE(seqedit::Prune<TestType>::is_identity);
  STATIC_REQUIRE_FALSE(seqedit::detail::is_identity_regulariser<seqedit::Prune<TestType>>::value);
  STATIC_REQUIRE(std::is_same<typename seqedit::Prune<TestType>::Scalar, TestType>::value);
}

TEMPLATE_TEST_CASE("Prune::shrink is the logarithmic map of math.md section 5", "[prune]", float,
                   double) {
  using P = seqedit::Prune<TestType>;
  const TestType smax = TestType(4);
  CHECK(P::shrink(TestType(3), smax) == TestType(3));
  CHECK(P::shrink(smax, smax) == smax);
  for (TestType s : {TestType(4.5), TestType(10), TestType(1000)}) {
    const double expected = std::log(double(s)) - std::log(double(smax)) + double(smax);
    INFO("sigma = " << s);
    CHECK(double(P::shrink(s, smax)) == Approx(expected).epsilon(10 * eps<TestType>()));
    CHECK(P::shrink(s, smax) < s);
    CHECK(P::shrink(s, smax) > smax);
  }
}

TEMPLATE_TEST_CASE("Prune::sigma_max matches a dense SVD", "[prune][sigma_max]", float, double) {
  std::mt19937 gen(1234);
  const seqedit::Prune<TestType> prune;
  const double tol = 20 * double(prune.options().tolerance);
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes = {
      {1, 1}, {1, 9}, {9, 1}, {5, 7}, {30, 20}, {60, 200}, {120, 40}};
  double worst = 0;
  for (const auto& sh : shapes) {
    for (int rep = 0; rep < 3; ++rep) {
      const Mat<TestType> w = gaussian<TestType>(sh.first, sh.second, gen);
      const double ref = dense_sigma_max(w);
      const double got = double(prune.sigma_max(w));
      const double err = std::abs(got - ref) / ref;
      worst = std::max(worst, err);
      INFO(sh.first << " x " << sh.second << ": sigma_max " << got << " vs " << ref
                    << ", relative error " << err);
      CHECK(err <= tol);
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst <= tol);
}

TEMPLATE_TEST_CASE("Prune::sigma_max warm-started from W0's dominant direction", "[prune][sigma_max]", float,
                   double) {
  // A spectrum with a modest gap (σ_2/σ_1 = 0.9), as in trained weight matrices, and a
  // sequence of small updates: the warm start from W0 gives the same certified value in
  // fewer Lanczos steps.
  std::mt19937 gen(4321);
  const Eigen::Index m = 80, n = 300;
  const Mat<TestType> u = orthonormal<TestType>(m, m, gen), v = orthonormal<TestType>(n, m, gen);
  Vec<TestType> sv(m);
  for (Eigen::Index i = 0; i < m; ++i) sv(i) = static_cast<TestType>(10.0 * std::pow(0.9, double(i)));
  const Mat<TestType> w0 = u * sv.asDiagonal() * v.transpose();
  seqedit::Prune<TestType> cold, warm;
  warm.prepare(w0);
  REQUIRE(warm.warm_start().size() == n);
  CHECK(std::abs(double(warm.warm_start().norm()) - 1.0) <= 1e3 * eps<TestType>());
  // The warm start is W0's dominant right singular vector (up to sign).
  CHECK(std::abs(double(warm.warm_start().dot(v.col(0)))) >= 0.99);
  // Deterministic: a second prepare gives the same bits (resumed editors rely on it).
  seqedit::Prune<TestType> again;
  again.prepare(w0);
  CHECK((again.warm_start().array() == warm.warm_start().array()).all());

  const double tol = 20 * double(cold.options().tolerance);
  Mat<TestType> w = w0;
  Eigen::Index cold_steps_total = 0, warm_steps_total = 0;
  for (int t = 0; t < 10; ++t) {
    w += static_cast<TestType>(0.02) * gaussian<TestType>(m, n, gen) / static_cast<TestType>(std::sqrt(double(n)));
    Eigen::Index cold_steps = 0, warm_steps = 0;
    const double ref = dense_sigma_max(w);
    const double c = double(cold.sigma_max(w, nullptr, nullptr, &cold_steps));
    const double h = double(warm.sigma_max(w, &warm.warm_start(), nullptr, &warm_steps));
    CHECK(double(warm.sigma_max(w)) == h);  // the one-argument form uses the warm start
    INFO("step " << t << ": cold " << cold_steps << " steps, warm " << warm_steps << " steps");
    CHECK(std::abs(c - ref) / ref <= tol);
    CHECK(std::abs(h - ref) / ref <= tol);
    cold_steps_total += cold_steps;
    warm_steps_total += warm_steps;
  }
  INFO("Lanczos steps over 10 updates: cold " << cold_steps_total << ", warm " << warm_steps_total);
  CHECK(warm_steps_total < cold_steps_total);
  // A start vector of the wrong length is refused.
  const Vec<TestType> bad = Vec<TestType>::Ones(n + 1);
  CHECK_THROWS_AS(cold.sigma_max(w, &bad), std::invalid_argument);
}

TEMPLATE_TEST_CASE("Prune::sigma_max on structured matrices", "[prune][sigma_max]", float,
                   double) {
  const seqedit::Prune<TestType> prune;
  const double tol = 20 * double(prune.options().tolerance);

  // Diagonal, with a close second singular value.
  Mat<TestType> d = Mat<TestType>::Zero(6, 9);
  const TestType vals[] = {1, 3, -7, 2, 6.9f, 0.5f};
  for (int i = 0; i < 6; ++i) d(i, i) = vals[i];
  {
    const double err = std::abs(double(prune.sigma_max(d)) - 7.0) / 7.0;
    INFO("diagonal: relative error " << err);
    CHECK(err <= tol);
  }

  // Rank one: exact after one step (breakdown).
  std::mt19937 gen(7);
  const Vec<TestType> a = gaussian<TestType>(20, 1, gen), b = gaussian<TestType>(30, 1, gen);
  const Mat<TestType> r1 = a * b.transpose();
  {
    const double ref = double(a.norm()) * double(b.norm());
    const double err = std::abs(double(prune.sigma_max(r1)) - ref) / ref;
    INFO("rank one: relative error " << err);
    CHECK(err <= 10 * eps<TestType>() * 30);
  }

  // Zero matrix and empty matrix.
  CHECK(prune.sigma_max(Mat<TestType>::Zero(4, 5)) == TestType(0));
  CHECK(prune.sigma_max(Mat<TestType>(0, 3)) == TestType(0));

  // A matrix annihilating every vector but e_3 (start-vector fallback).
  Mat<TestType> e = Mat<TestType>::Zero(4, 5);
  e(1, 3) = TestType(-2.5);
  CHECK(double(prune.sigma_max(e)) == Approx(2.5).epsilon(10 * eps<TestType>()));
}

TEMPLATE_TEST_CASE("Prune::sigma_max reports non-convergence", "[prune][sigma_max]", float,
                   double) {
  std::mt19937 gen(99);
  const Mat<TestType> w = gaussian<TestType>(40, 50, gen);
  seqedit::PruneOptions<TestType> opt;
  opt.max_iterations = 2;
  const seqedit::Prune<TestType> strict(opt);
  REQUIRE_THROWS_AS(strict.sigma_max(w), seqedit::numerical_error);
  REQUIRE_THROWS_WITH(strict.sigma_max(w), Catch::Contains("did not converge"));

  opt.accept_unconverged = true;
  const seqedit::Prune<TestType> lenient(opt);
  const double ref = dense_sigma_max(w);
  const double est = double(lenient.sigma_max(w));
  INFO("two-step estimate " << est << ", true " << ref);
  CHECK(est > 0.5 * ref);
  CHECK(est <= ref * (1 + 10 * eps<TestType>()));  // Ritz values never exceed sigma_max
}

TEMPLATE_TEST_CASE("Prune on diagonal W and diagonal delta (by hand)", "[prune]", float,
                   double) {
  using T = TestType;
  // W = diag(3, 1, 2) in 3 x 5: sigma_max = 3.
  Mat<T> w = Mat<T>::Zero(3, 5);
  w(0, 0) = 3;
  w(1, 1) = 1;
  w(2, 2) = -2;
  // delta = diag(10, 2, -5): singular values 10, 5, 2.
  Mat<T> delta = Mat<T>::Zero(3, 5);
  delta(0, 0) = 10;
  delta(1, 1) = 2;
  delta(2, 2) = -5;

  Mat<double> expected = Mat<double>::Zero(3, 5);
  expected(0, 0) = std::log(10.0) - std::log(3.0) + 3.0;  // 4.2040
  expected(1, 1) = 2.0;                                   // below sigma_max: unchanged
  expected(2, 2) = -(std::log(5.0) - std::log(3.0) + 3.0);  // sign of u kept: -3.5108

  const seqedit::Prune<T> prune;
  const Mat<T> dense = prune(delta, w);
  Mat<T> left = Mat<T>::Zero(3, 3), right = Mat<T>::Zero(5, 3);
  for (int i = 0; i < 3; ++i) {
    left(i, i) = delta(i, i);
    right(i, i) = 1;
  }
  const Mat<T> factored = prune(left, right, w);

  const double tol = 100 * eps<T>();
  const double e1 = (dense.template cast<double>() - expected).cwiseAbs().maxCoeff();
  const double e2 = (factored.template cast<double>() - expected).cwiseAbs().maxCoeff();
  INFO("dense max error " << e1 << ", factored max error " << e2);
  CHECK(e1 <= tol);
  CHECK(e2 <= tol);
}

TEMPLATE_TEST_CASE("Prune shrinks exactly the singular values above sigma_max", "[prune]", float,
                   double) {
  using T = TestType;
  std::mt19937 gen(2024);
  const Eigen::Index dv = 60, dk = 200;
  // W with sigma_max = 8 exactly: Uw diag(8, 6, 3, 1) Vwᵀ.
  const Mat<T> uw = orthonormal<T>(dv, 4, gen), vw = orthonormal<T>(dk, 4, gen);
  Vec<T> sw(4);
  sw << 8, 6, 3, 1;
  const Mat<T> w = uw * sw.asDiagonal() * vw.transpose();
  // Delta = U diag(s) Vᵀ with singular values on both sides of 8.
  const Mat<T> u = orthonormal<T>(dv, 5, gen), v = orthonormal<T>(dk, 5, gen);
  Vec<T> s(5);
  s << 50, 20, 10, 5, 1;
  const Mat<T> delta = u * s.asDiagonal() * v.transpose();

  const seqedit::Prune<T> prune;
  const Mat<T> out = prune(delta, w);

  const Eigen::JacobiSVD<Mat<double>> svd(out.template cast<double>());
  const Vec<double> got = svd.singularValues();
  double worst_value = 0, worst_vector = 0;
  for (int j = 0; j < 5; ++j) {
    const double sj = double(s(j));
    const double fj = sj > 8 ? std::log(sj) - std::log(8.0) + 8 : sj;
    worst_value = std::max(worst_value, std::abs(got(j) - fj) / fj);
    // Singular vectors kept: out v_j = f(s_j) u_j and outᵀ u_j = f(s_j) v_j.
    const Vec<double> uj = u.col(j).template cast<double>(), vj = v.col(j).template cast<double>();
    const Vec<double> ov = out.template cast<double>() * vj;
    const Vec<double> ou = out.template cast<double>().transpose() * uj;
    worst_vector = std::max(worst_vector, (ov - fj * uj).norm() / fj);
    worst_vector = std::max(worst_vector, (ou - fj * vj).norm() / fj);
  }
  const double rest = got.tail(got.size() - 5).maxCoeff();  // rank stays 5
  INFO("singular values: worst relative error " << worst_value << "; vectors: worst " << worst_vector
                                               << "; sixth singular value " << rest);
  const double tol = 200 * eps<T>();
  CHECK(got(0) == Approx(std::log(50.0 / 8) + 8).epsilon(tol));
  CHECK(worst_value <= tol);
  CHECK(worst_vector <= tol);
  CHECK(rest <= tol * 50);
}

TEMPLATE_TEST_CASE("Prune returns delta unchanged when no singular value exceeds sigma_max",
                   "[prune]", float, double) {
  using T = TestType;
  std::mt19937 gen(11);
  const Eigen::Index dv = 30, dk = 80;
  const Mat<T> w = gaussian<T>(dv, dk, gen);
  const double smax = dense_sigma_max(w);
  const seqedit::Prune<T> prune;

  // (a) small Frobenius norm: the shortcut.
  Mat<T> small = gaussian<T>(dv, dk, gen);
  small *= T(0.5 * smax / double(small.norm()));
  CHECK((prune(small, w) - small).cwiseAbs().maxCoeff() == T(0));

  // (b) ‖Δ‖_F = 2 sigma_max but every sigma_j = 0.9 sigma_max: the range finder and the
  //     small SVD run, and still nothing changes, bit for bit.
  const Mat<T> u = orthonormal<T>(dv, 5, gen), v = orthonormal<T>(dk, 5, gen);
  const Mat<T> mid = T(0.9 * smax) * u * v.transpose();
  REQUIRE(double(mid.norm()) > smax);
  CHECK((prune(mid, w) - mid).cwiseAbs().maxCoeff() == T(0));
  Mat<T> l = T(0.9 * smax) * u;
  CHECK((prune(l, v, w) - l * v.transpose()).cwiseAbs().maxCoeff() == T(0));

  // (c) delta = 0, including with w = 0.
  const Mat<T> zero = Mat<T>::Zero(dv, dk);
  CHECK(prune(zero, w).cwiseAbs().maxCoeff() == T(0));
  CHECK(prune(zero, zero).cwiseAbs().maxCoeff() == T(0));
}

TEMPLATE_TEST_CASE("Prune agrees with a dense-SVD reference on random low-rank updates",
                   "[prune]", float, double) {
  using T = TestType;
  const Eigen::Index dv = 60, dk = 200, rank = 5;
  const seqedit::Prune<T> prune;
  double worst_dense = 0, worst_fact = 0, worst_pair = 0;
  for (unsigned seed = 1; seed <= 6; ++seed) {
    std::mt19937 gen(seed);
    const Mat<T> w = gaussian<T>(dv, dk, gen);  // sigma_max ≈ √60 + √200 ≈ 22
    const Mat<T> left = T(8) * gaussian<T>(dv, rank, gen);
    const Mat<T> right = gaussian<T>(dk, rank, gen);  // sigma(Δ) ≈ 8 √(60·200)/… ≈ 30..130
    const Mat<T> delta = left * right.transpose();
    const Mat<double> ref = reference_prune(delta, w);
    const Mat<T> dense = prune(delta, w);
    const Mat<T> fact = prune(left, right, w);
    const double ed = err_vs_input(dense, ref, delta), ef = err_vs_input(fact, ref, delta);
    const double ep = err_vs_input(dense, fact.template cast<double>(), delta);
    worst_dense = std::max(worst_dense, ed);
    worst_fact = std::max(worst_fact, ef);
    worst_pair = std::max(worst_pair, ep);
    const double tol = budget(100, prune, w, delta);
    INFO("seed " << seed << ": dense " << ed << ", factored " << ef << ", budget " << tol);
    CHECK(ed <= tol);
    CHECK(ef <= tol);
    // The test is meaningful only if something is shrunk.
    const Eigen::JacobiSVD<Mat<double>> sv(delta.template cast<double>());
    CHECK(sv.singularValues()(0) > dense_sigma_max(w));
    CHECK(rel_diff(delta, ref) > 1e-2);
  }
  INFO("error vs reference, relative to |delta|: dense " << worst_dense << ", factored " << worst_fact
                                             << "; dense vs factored " << worst_pair);
  CHECK(worst_pair <= 100 * eps<T>());
  // σ_max's value converges far below its residual tolerance, so the errors sit at round-off.
  CHECK(worst_dense <= 100 * eps<T>() + 1e-3 * double(prune.options().tolerance));
  CHECK(worst_fact <= 100 * eps<T>() + 1e-3 * double(prune.options().tolerance));
}

TEMPLATE_TEST_CASE("Prune dense form: range finder on harder ranks", "[prune]", float, double) {
  using T = TestType;
  struct Case {
    Eigen::Index dv, dk, rank, block;
    double noise;
  };
  // rank larger than the first blocks; full rank (the basis grows to d_v); tall delta
  // whose rank d_k < d_v; a low-rank update plus a full-rank perturbation far above
  // round-off, which the basis must capture too.
  const std::vector<Case> cases = {{60, 200, 40, 4, 0.0},
                                   {30, 50, 30, 16, 0.0},
                                   {50, 20, 20, 16, 0.0},
                                   {60, 200, 3, 16, 1e-3},
                                   {8, 3, 1, 1, 0.0}};
  seqedit::PruneOptions<T> opt;
  double worst = 0;
  for (const auto& c : cases) {
    opt.initial_block = c.block;
    const seqedit::Prune<T> prune(opt);
    std::mt19937 gen(static_cast<unsigned>(c.dv * 1000 + c.rank));
    const Mat<T> w = gaussian<T>(c.dv, c.dk, gen);
    Mat<T> delta = T(10) * gaussian<T>(c.dv, c.rank, gen) * gaussian<T>(c.dk, c.rank, gen).transpose();
    delta += T(c.noise * double(delta.norm()) / std::sqrt(double(c.dv * c.dk))) *
             gaussian<T>(c.dv, c.dk, gen);
    const Mat<double> ref = reference_prune(delta, w);
    const double err = err_vs_input(prune(delta, w), ref, delta);
    worst = std::max(worst, err);
    INFO(c.dv << " x " << c.dk << ", rank " << c.rank << ", noise " << c.noise
              << ": error / |delta| " << err << ", |delta - R_p(delta)| / |R_p(delta)| "
              << rel_diff(delta, ref));
    CHECK(err <= budget(100, prune, w, delta));
  }
  INFO("worst " << worst);
  CHECK(worst <= 100 * eps<T>() + 1e-3 * double(opt.tolerance));
}

TEMPLATE_TEST_CASE("Prune factored form with more columns than rows", "[prune]", float, double) {
  using T = TestType;
  std::mt19937 gen(5);
  const Mat<T> w = T(0.5) * gaussian<T>(4, 7, gen);
  const Mat<T> left = T(3) * gaussian<T>(4, 9, gen), right = gaussian<T>(7, 9, gen);
  const seqedit::Prune<T> prune;
  const Mat<T> delta = left * right.transpose();
  const Mat<double> ref = reference_prune(delta, w);
  const double ef = err_vs_input(prune(left, right, w), ref, delta);
  const double ed = err_vs_input(prune(delta, w), ref, delta);
  INFO("factored " << ef << ", dense " << ed);
  CHECK(ef <= budget(100, prune, w, delta));
  CHECK(ed <= budget(100, prune, w, delta));
  // Zero columns: delta = 0.
  CHECK(prune(Mat<T>(4, 0), Mat<T>(7, 0), w).cwiseAbs().maxCoeff() == T(0));
}

TEMPLATE_TEST_CASE("Prune rejects bad inputs", "[prune][errors]", float, double) {
  using T = TestType;
  const seqedit::Prune<T> prune;
  const Mat<T> d34 = Mat<T>::Ones(3, 4), w35 = Mat<T>::Ones(3, 5), w34 = Mat<T>::Ones(3, 4);

  REQUIRE_THROWS_AS(prune(d34, w35), std::invalid_argument);
  REQUIRE_THROWS_WITH(prune(d34, w35), Catch::Contains("3 x 5") && Catch::Contains("3 x 4") &&
                                           Catch::Contains("w_ref"));

  Mat<T> bad = d34;
  bad(1, 2) = std::numeric_limits<T>::quiet_NaN();
  REQUIRE_THROWS_WITH(prune(bad, w34), Catch::Contains("delta") && Catch::Contains("non-finite"));
  Mat<T> badw = w34;
  badw(2, 0) = std::numeric_limits<T>::infinity();
  REQUIRE_THROWS_WITH(prune(d34, badw), Catch::Contains("w_ref") && Catch::Contains("non-finite"));
  REQUIRE_THROWS_AS(prune.sigma_max(badw), std::invalid_argument);

  // Factored form.
  const Mat<T> l32 = Mat<T>::Ones(3, 2), r42 = Mat<T>::Ones(4, 2);
  REQUIRE_NOTHROW(prune(l32, r42, w34));
  REQUIRE_THROWS_WITH(prune(Mat<T>::Ones(2, 2), r42, w34),
                      Catch::Contains("left") && Catch::Contains("2 rows") && Catch::Contains("3"));
  REQUIRE_THROWS_WITH(prune(l32, Mat<T>::Ones(5, 2), w34),
                      Catch::Contains("right") && Catch::Contains("5 x 2") && Catch::Contains("4 x 2"));
  REQUIRE_THROWS_WITH(prune(l32, Mat<T>::Ones(4, 3), w34),
                      Catch::Contains("right") && Catch::Contains("4 x 3") && Catch::Contains("4 x 2"));
  Mat<T> badl = l32;
  badl(0, 1) = -std::numeric_limits<T>::infinity();
  REQUIRE_THROWS_WITH(prune(badl, r42, w34), Catch::Contains("left"));

  // W = 0 while delta ≠ 0: ln sigma_max undefined.
  REQUIRE_THROWS_WITH(prune(d34, Mat<T>::Zero(3, 4)), Catch::Contains("sigma_max = 0"));
}

TEMPLATE_TEST_CASE("PruneOptions::check names the field", "[prune][errors]", float, double) {
  using T = TestType;
  using O = seqedit::PruneOptions<T>;
  REQUIRE_NOTHROW(O{}.check());
  CHECK(O{}.tolerance == Approx(std::is_same<T, double>::value ? 1e-10 : 100 * eps<float>()));

  const auto expect = [](O o, const char* field) {
    INFO(field);
    REQUIRE_THROWS_AS(seqedit::Prune<T>(o), std::invalid_argument);
    REQUIRE_THROWS_WITH(o.check(), Catch::Contains(field));
  };
  O o;
  o.tolerance = 0;
  expect(o, "tolerance");
  o.tolerance = std::numeric_limits<T>::quiet_NaN();
  expect(o, "tolerance");
  o.tolerance = 1;
  expect(o, "tolerance");
  o = O{};
  o.max_iterations = 0;
  expect(o, "max_iterations");
  o = O{};
  o.range_tolerance = -1;
  expect(o, "range_tolerance");
  o = O{};
  o.initial_block = 0;
  expect(o, "initial_block");
}

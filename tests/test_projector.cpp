// NullSpaceProjector (math.md section 8) and the reduced / full forms of the OTE with a
// projector (math.md section 2).

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/problems.hpp"

using namespace seqedit_test;

namespace {

// C0 = Q diag(s) Qᵀ with `below` eigenvalues log-spaced in [1e-5, 1e-2] and the others in
// [0.05, 5]: a gap of a factor 5 on each side of AlphaEdit's threshold 2e-2.
struct KnownC0 {
  MatD c0, q;
  VecD s;  // in the order of Q's columns
};

KnownC0 known_c0(Index dk, Index below, std::uint32_t seed) {
  std::mt19937 gen(seed);
  KnownC0 k;
  k.s.resize(dk);
  k.s.head(below) = log_spaced(below, 1e-5, 1e-2);
  k.s.tail(dk - below) = log_spaced(dk - below, 0.05, 5.0);
  k.c0 = spd_with_spectrum(k.s, gen, &k.q);
  return k;
}

double spectral_norm(const MatD& a) {
  Eigen::JacobiSVD<MatD> svd(a);
  return svd.singularValues()(0);
}

}  // namespace

TEMPLATE_TEST_CASE("The null-space projector of a C0 with known spectrum", "[projector]", float,
                   double) {
  using S = TestType;
  const double e = eps<S>();
  for (Index dk : {40, 90}) {
    const Index below = dk / 3 + 1;
    const KnownC0 k = known_c0(dk, below, std::uint32_t(dk));
    const Mat<S> c0 = k.c0.template cast<S>();
    const MatD c0d = c0.template cast<double>();

    // AlphaEdit's threshold in the gap, and one between two neighbouring eigenvalues in the
    // middle of the upper group (geometric mean), so that the expected rank is unambiguous.
    VecD spectrum = k.s;
    std::sort(spectrum.data(), spectrum.data() + spectrum.size());
    const Index mid = below + (dk - below) / 2;
    const double between = std::sqrt(spectrum(mid - 1) * spectrum(mid));
    for (double threshold : {2e-2, between}) {
      // Expected rank: the number of eigenvalues below the threshold, none of them close.
      Index expected = 0;
      for (Index i = 0; i < dk; ++i) {
        REQUIRE(std::abs(k.s(i) - threshold) > 0.02 * threshold);
        if (k.s(i) < threshold) ++expected;
      }
      seqedit::NullSpaceProjector<S> proj(c0, S(threshold));
      INFO("d_k " << dk << ", threshold " << threshold << ", rank " << proj.rank()
                  << ", expected " << expected);
      REQUIRE(proj.computed());
      REQUIRE(proj.rank() == expected);
      REQUIRE(proj.dim() == dk);
      CHECK(double(proj.threshold()) == Approx(threshold));

      const MatD u = proj.basis().template cast<double>();
      const MatD p = proj.matrix().template cast<double>();
      const double orth = (u.transpose() * u - MatD::Identity(expected, expected)).norm();
      const double sym = (p - p.transpose()).norm();
      const double idem = (p * p - p).norm();
      const double c0p = spectral_norm(c0d * p);
      // Largest eigenvalue kept and the subspace it should be.
      double largest_kept = 0;
      for (Index i = 0; i < dk; ++i)
        if (k.s(i) < threshold) largest_kept = std::max(largest_kept, k.s(i));
      std::vector<Index> cols;
      for (Index i = 0; i < dk; ++i)
        if (k.s(i) < threshold) cols.push_back(i);
      MatD qz(dk, Index(cols.size()));
      for (std::size_t j = 0; j < cols.size(); ++j) qz.col(Index(j)) = k.q.col(cols[j]);
      const double subspace = (p - qz * qz.transpose()).norm();
      // Eigenvalues, ascending, against the chosen spectrum.
      const double eig_err =
          (proj.eigenvalues().template cast<double>() - spectrum).cwiseAbs().maxCoeff();

      const double tol = 100 * e * double(dk);
      // Spectral gap around the threshold, for the subspace bound.
      double below_max = 0, above_min = 1e300;
      for (Index i = 0; i < dk; ++i) {
        if (k.s(i) < threshold) below_max = std::max(below_max, k.s(i));
        else above_min = std::min(above_min, k.s(i));
      }
      const double gap = above_min - below_max;
      const double smax = spectrum(dk - 1);
      const double tol_spec = 10 * e * double(dk) * smax;
      INFO("|UtU - I| " << orth << ", |P - Pt| " << sym << ", |P^2 - P| " << idem
                        << ", |C0 P|_2 " << c0p << " (largest kept eigenvalue " << largest_kept
                        << "), |P - Qz Qzt| " << subspace << ", eigenvalue error " << eig_err
                        << ", tolerance " << tol);
      CHECK(orth <= tol);
      CHECK(sym <= tol);
      CHECK(idem <= tol);
      CHECK(c0p <= threshold);
      CHECK(std::abs(c0p - largest_kept) <= tol_spec);
      // Davis–Kahan: the subspace error is bounded by the perturbation over the gap.
      INFO("gap " << gap);
      CHECK(subspace <= tol_spec / gap);
      CHECK(eig_err <= tol_spec);

      // apply(X) = P X without forming P.
      std::mt19937 gen(9);
      const Mat<S> x = gaussian(dk, 3, gen).template cast<S>();
      CHECK(rel_err(proj.apply(x), MatD(p * x.template cast<double>())) <= tol);
    }

    // Edge thresholds: 0 keeps nothing, a threshold above ‖C0‖ keeps everything.
    CHECK(seqedit::NullSpaceProjector<S>(c0, S(0)).rank() == 0);
    CHECK(seqedit::NullSpaceProjector<S>(c0, S(100)).rank() == dk);
  }
}

TEMPLATE_TEST_CASE("The projector reports progress up to completion", "[projector]", float,
                   double) {
  using S = TestType;
  const KnownC0 k = known_c0(20, 5, 3);
  std::vector<double> fractions;
  seqedit::NullSpaceProjector<S> proj;
  CHECK_FALSE(proj.computed());
  proj.compute(k.c0.template cast<S>(), S(2e-2),
               [&](const std::string&, double f) { fractions.push_back(f); });
  REQUIRE(fractions.size() >= 2);
  CHECK(std::is_sorted(fractions.begin(), fractions.end()));
  CHECK(fractions.front() == 0.0);
  CHECK(fractions.back() == 1.0);
  CHECK(proj.rank() == 5);
}

TEMPLATE_TEST_CASE("from_basis accepts orthonormal bases and rejects others", "[projector]",
                   float, double) {
  using S = TestType;
  std::mt19937 gen(77);
  const Index dk = 30, r = 12;
  const MatD q = random_orthogonal(dk, gen);
  const Mat<S> u = q.leftCols(r).template cast<S>();

  const auto ok = seqedit::NullSpaceProjector<S>::from_basis(u);
  CHECK(ok.computed());
  CHECK(ok.rank() == r);
  CHECK(ok.dim() == dk);
  CHECK(ok.threshold() < S(0));
  CHECK(ok.eigenvalues().size() == 0);
  CHECK(bit_equal<S>(ok.basis(), u));
  const double idem = rel_err(MatD(ok.matrix().template cast<double>() *
                                   ok.matrix().template cast<double>()),
                              ok.matrix().template cast<double>());
  INFO("|P^2 - P| / |P| " << idem);
  CHECK(idem <= 100 * eps<S>() * double(dk));

  // A column scaled by 1 + 1e-2: not normalised.
  Mat<S> scaled = u;
  scaled.col(3) *= S(1.01);
  REQUIRE_THROWS_AS(seqedit::NullSpaceProjector<S>::from_basis(scaled), std::invalid_argument);
  REQUIRE_THROWS_WITH(seqedit::NullSpaceProjector<S>::from_basis(scaled),
                      Catch::Contains("orthonormal"));
  // Two columns not orthogonal (each still of unit norm).
  Mat<S> skew = u;
  skew.col(1) = (u.col(1) + S(0.1) * u.col(0)).normalized();
  REQUIRE_THROWS_AS(seqedit::NullSpaceProjector<S>::from_basis(skew), std::invalid_argument);
  // A generous tolerance accepts the skewed basis; a tight one rejects it.
  CHECK_NOTHROW(seqedit::NullSpaceProjector<S>::from_basis(skew, S(0.5)));
  CHECK_THROWS_AS(seqedit::NullSpaceProjector<S>::from_basis(skew, S(1e-3)),
                  std::invalid_argument);
  // More columns than rows.
  const Mat<S> wide = Mat<S>::Identity(4, 5);
  REQUIRE_THROWS_WITH(seqedit::NullSpaceProjector<S>::from_basis(wide),
                      Catch::Contains("4 x 5"));
  // Non-finite entries.
  Mat<S> bad = u;
  bad(2, 2) = std::numeric_limits<S>::quiet_NaN();
  REQUIRE_THROWS_AS(seqedit::NullSpaceProjector<S>::from_basis(bad), std::invalid_argument);
}

TEMPLATE_TEST_CASE("The projector rejects invalid C0 and thresholds", "[projector][bad-input]",
                   float, double) {
  using S = TestType;
  using P = seqedit::NullSpaceProjector<S>;
  const KnownC0 k = known_c0(10, 3, 5);
  const Mat<S> c0 = k.c0.template cast<S>();
  REQUIRE_THROWS_AS(P(c0, S(-1)), std::invalid_argument);
  REQUIRE_THROWS_AS(P(c0, std::numeric_limits<S>::quiet_NaN()), std::invalid_argument);
  REQUIRE_THROWS_AS(P(c0, std::numeric_limits<S>::infinity()), std::invalid_argument);
  REQUIRE_THROWS_WITH(P(Mat<S>(c0.leftCols(9))), Catch::Contains("10 x 9"));
  Mat<S> asym = c0;
  asym(0, 1) += S(0.1);
  REQUIRE_THROWS_WITH(P(asym), Catch::Contains("symmetric"));
  Mat<S> inf = c0;
  inf(4, 4) = std::numeric_limits<S>::infinity();
  REQUIRE_THROWS_WITH(P(inf), Catch::Contains("C0"));
  // A failed compute() leaves a computed projector as it was.
  P proj(c0);
  const Mat<S> before = proj.basis();
  REQUIRE_THROWS_AS(proj.compute(asym), std::invalid_argument);
  CHECK(proj.computed());
  CHECK(bit_equal<S>(before, proj.basis()));
}

TEMPLATE_TEST_CASE("Reduced and full forms of the OTE with a projector agree (alpha > 0)",
                   "[projector][one-time]", float, double) {
  using S = TestType;
  struct Case {
    double lambda, alpha;
    Index n;
  };
  // AlphaEdit (λ = 0), a projector with a retention term, and more edits than d_k.
  const Case cases[] = {{0.0, 10.0, 8}, {5.0, 1.0, 8}, {2.0, 0.5, 70}};
  std::uint32_t seed = 600;
  for (const Case& c : cases) {
    Spec spec;
    spec.dk = 50;
    spec.dv = 35;
    spec.n = c.n;
    spec.steps = 1;
    spec.null_dim = 20;
    spec.seed = ++seed;
    const auto pp = make_problems<S>(spec);
    const auto& p = pp.p;
    seqedit::Objective<S> obj;
    obj.lambda = S(c.lambda);
    obj.alpha = S(c.alpha);
    const seqedit::NullSpaceProjector<S> proj(p.c0);
    REQUIRE(proj.rank() == 20);
    const seqedit::OneTimeEditor<S> ote(p.c0, obj, proj);

    const Mat<S> reduced = ote.solve(p.w0, p.keys[0], p.values[0], seqedit::Form::Reduced);
    const Mat<S> full = ote.solve(p.w0, p.keys[0], p.values[0], seqedit::Form::Full);
    const Mat<S> automatic = ote.solve(p.w0, p.keys[0], p.values[0]);

    const MatD u = proj.basis().template cast<double>();
    const MatD pm = u * u.transpose();
    MatD a = pm * (c.lambda * pp.ref.c0 + pp.ref.keys[0] * pp.ref.keys[0].transpose()) * pm;
    a.diagonal().array() += c.alpha;
    const double kappa = spd_condition(0.5 * (a + a.transpose()));
    const double err = rel_err(full, reduced);
    const double tol = tolerance<S>(kappa, 1e-12);
    INFO("lambda " << c.lambda << " alpha " << c.alpha << " n " << c.n << ": |full - reduced| / "
                   << "|reduced| " << err << ", kappa(A) " << kappa << ", tolerance " << tol);
    CHECK(err <= tol);
    CHECK(bit_equal<S>(automatic, reduced));  // Auto means Reduced with a projector
  }
}

TEMPLATE_TEST_CASE("Form::Full with a projector and alpha = 0 is refused", "[projector][bad-input]",
                   float, double) {
  using S = TestType;
  Spec spec;
  spec.dk = 20;
  spec.dv = 10;
  spec.n = 12;
  spec.steps = 1;
  spec.null_dim = 8;
  const auto p = make_problem(spec).template cast<S>();
  const seqedit::NullSpaceProjector<S> proj(p.c0);
  const seqedit::OneTimeEditor<S> ote(p.c0, seqedit::Objective<S>::alphaedit(S(0)), proj);
  REQUIRE_THROWS_WITH(ote.solve(p.w0, p.keys[0], p.values[0], seqedit::Form::Full),
                      Catch::Contains("alpha > 0"));
  // The reduced form is exact for α = 0 (section 2) and works here (n = 12 > r = 8).
  CHECK_NOTHROW(ote.solve(p.w0, p.keys[0], p.values[0], seqedit::Form::Reduced));
}

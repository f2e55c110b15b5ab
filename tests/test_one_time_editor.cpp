// OneTimeEditor: the closed form Δ* = B P A⁻¹ of math.md section 2.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <algorithm>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "support/problems.hpp"

using namespace seqedit_test;

TEMPLATE_TEST_CASE("A 2 x 1 case worked out by hand", "[one-time][hand]", float, double) {
  using S = TestType;
  // d_k = 2, d_v = 1, C0 = diag(c1, c2), one edit k = (k1, k2) with value v.
  const double c1 = 2, c2 = 3, k1 = 1, k2 = 2, w1 = 0.5, w2 = -1, v = 4;
  Mat<S> c0(2, 2), w0(1, 2), k(2, 1), val(1, 1);
  c0 << S(c1), S(0), S(0), S(c2);
  w0 << S(w1), S(w2);
  k << S(k1), S(k2);
  val << S(v);
  const double r = v - (w1 * k1 + w2 * k2);  // residual under W0
  const double tol = 16 * eps<S>();

  for (double lambda : {0.0, 1.0, 7.5}) {
    for (double alpha : {0.0, 0.5}) {
      if (lambda == 0.0 && alpha == 0.0) continue;  // singular with one edit and d_k = 2
      seqedit::Objective<S> obj;
      obj.lambda = S(lambda);
      obj.alpha = S(alpha);
      // P = I: A = λ C0 + k kᵀ + α I (2 x 2), Δ = r kᵀ A⁻¹ via the explicit 2 x 2 inverse.
      const double a11 = lambda * c1 + k1 * k1 + alpha;
      const double a22 = lambda * c2 + k2 * k2 + alpha;
      const double a12 = k1 * k2;
      const double det = a11 * a22 - a12 * a12;
      const double d1 = r * (k1 * a22 - k2 * a12) / det;
      const double d2 = r * (k2 * a11 - k1 * a12) / det;
      const seqedit::OneTimeEditor<S> ote(c0, obj);
      const Mat<S> delta = ote.solve(w0, k, val);
      INFO("lambda " << lambda << " alpha " << alpha << ": by hand (" << d1 << ", " << d2
                     << "), solver (" << delta(0, 0) << ", " << delta(0, 1) << ")");
      REQUIRE(delta.rows() == 1);
      REQUIRE(delta.cols() == 2);
      CHECK(double(delta(0, 0)) == Approx(d1).epsilon(tol));
      CHECK(double(delta(0, 1)) == Approx(d2).epsilon(tol));

      // P = e1 e1ᵀ (edit only the first key coordinate): Δ = (r k1 / (λ c1 + k1² + α), 0).
      Mat<S> e1(2, 1);
      e1 << S(1), S(0);
      const auto proj = seqedit::NullSpaceProjector<S>::from_basis(e1);
      const seqedit::OneTimeEditor<S> ote_p(c0, obj, proj);
      const Mat<S> dp = ote_p.solve(w0, k, val);
      const double p1 = r * k1 / (lambda * c1 + k1 * k1 + alpha);
      INFO("projected: by hand (" << p1 << ", 0), solver (" << dp(0, 0) << ", " << dp(0, 1)
                                  << ")");
      CHECK(double(dp(0, 0)) == Approx(p1).epsilon(tol));
      CHECK(dp(0, 1) == S(0));
    }
  }
}

TEMPLATE_TEST_CASE("Plain least squares recovers the generating weights", "[one-time]", float,
                   double) {
  using S = TestType;
  // λ = α = 0, P = I and more edits than d_k: Δ* = R Kᵀ (K Kᵀ)⁻¹, and with V = W_true K
  // exactly, Δ* = W_true − W0.
  for (Index dk : {20, 45}) {
    std::mt19937 gen{std::uint32_t(dk)};
    const Index dv = 15, n = 3 * dk;
    const MatD w0 = gaussian(dv, dk, gen);
    const MatD w_true = w0 + gaussian(dv, dk, gen, 0.1);
    const MatD k = gaussian(dk, n, gen);
    const MatD c0 = MatD::Identity(dk, dk);  // irrelevant with λ = 0
    const Mat<S> ks = k.template cast<S>();
    const Mat<S> vs = (w_true.template cast<S>() * ks).eval();
    const seqedit::OneTimeEditor<S> ote(c0.template cast<S>(), seqedit::Objective<S>());
    const Mat<S> delta = ote.solve(w0.template cast<S>(), ks, vs);
    const MatD expected = w_true - w0;
    const double kappa = spd_condition(k * k.transpose());
    const double err = rel_err(delta, expected);
    const double tol = tolerance<S>(kappa, 1e-11, 1000.0);
    INFO("d_k " << dk << ": |Delta - (W_true - W0)| / |W_true - W0| " << err << ", kappa(KKt) "
                << kappa << ", tolerance " << tol);
    CHECK(err <= tol);
  }
}

TEMPLATE_TEST_CASE("solve and solve_residual agree; edits commute", "[one-time]", float, double) {
  using S = TestType;
  struct Shape {
    Index dk, dv, n;
    bool projected;
  };
  // d_v < d_k, d_v > d_k, n = 1, more edits than d_k; with and without projector.
  const Shape shapes[] = {{60, 30, 10, false}, {30, 80, 6, false}, {40, 20, 1, false},
                          {25, 20, 60, false}, {60, 30, 10, true},  {30, 80, 1, true}};
  std::uint32_t seed = 400;
  for (const Shape& sh : shapes) {
    Spec spec;
    spec.dk = sh.dk;
    spec.dv = sh.dv;
    spec.n = sh.n;
    spec.steps = 1;
    spec.seed = ++seed;
    if (sh.projected) spec.null_dim = sh.dk / 2;
    const auto pp = make_problems<S>(spec);
    const auto& p = pp.p;
    const auto obj = sh.projected ? seqedit::Objective<S>::alphaedit()
                                  : seqedit::Objective<S>::memit(S(20), S(0.5));
    std::optional<seqedit::OneTimeEditor<S>> ote;
    MatD basis;
    if (sh.projected) {
      const seqedit::NullSpaceProjector<S> proj(p.c0);
      basis = proj.basis().template cast<double>();
      ote.emplace(p.c0, obj, proj);
      REQUIRE(ote->projector().has_value());
    } else {
      ote.emplace(p.c0, obj);
      REQUIRE_FALSE(ote->projector().has_value());
    }
    REQUIRE(ote->key_dim() == sh.dk);
    CHECK(ote->objective().lambda == obj.lambda);
    CHECK(ote->objective().alpha == obj.alpha);

    const Mat<S>& k = p.keys[0];
    const Mat<S>& v = p.values[0];
    const Mat<S> r0 = v - p.w0 * k;
    const Mat<S> a = ote->solve(p.w0, k, v);
    const Mat<S> b = ote->solve_residual(k, r0);
    // Permuting the edits permutes the columns of B's factors only.
    std::vector<Index> perm(std::size_t(sh.n));
    std::iota(perm.begin(), perm.end(), Index(0));
    std::mt19937 gen(seed);
    std::shuffle(perm.begin(), perm.end(), gen);
    Mat<S> kp(k.rows(), k.cols()), vp(v.rows(), v.cols());
    for (Index j = 0; j < sh.n; ++j) {
      kp.col(j) = k.col(perm[std::size_t(j)]);
      vp.col(j) = v.col(perm[std::size_t(j)]);
    }
    const Mat<S> c = ote->solve(p.w0, kp, vp);
    // Against an independent double reference: B P A⁻¹ with a dense solve.
    const MatD& kd = pp.ref.keys[0];
    const MatD pm = sh.projected ? MatD(basis * basis.transpose()) : MatD::Identity(sh.dk, sh.dk);
    MatD amat = pm * (double(obj.lambda) * pp.ref.c0 + kd * kd.transpose()) * pm;
    amat.diagonal().array() += double(obj.alpha);
    const MatD bmat = (pp.ref.values[0] - pp.ref.w0 * kd) * kd.transpose() * pm;
    const MatD expected = amat.transpose().ldlt().solve(bmat.transpose()).transpose();
    const double kappa = spd_condition(amat);

    const double e_res = rel_err(b, a.template cast<double>());
    const double e_perm = rel_err(c, a.template cast<double>());
    const double e_ref = rel_err(a, expected);
    const double tol = tolerance<S>(kappa, 1e-11);
    INFO("d_k " << sh.dk << " d_v " << sh.dv << " n " << sh.n << " projected " << sh.projected
                << ": solve vs solve_residual " << e_res << ", permuted " << e_perm
                << ", vs dense reference " << e_ref << ", kappa " << kappa << ", tolerance "
                << tol);
    CHECK(a.rows() == sh.dv);
    CHECK(a.cols() == sh.dk);
    CHECK(e_res <= tol);
    CHECK(e_perm <= tol);
    CHECK(e_ref <= tol);
  }
}

TEMPLATE_TEST_CASE("The base system is the edit-free part of A", "[one-time]", float, double) {
  using S = TestType;
  Spec spec;
  spec.dk = 30;
  spec.dv = 10;
  spec.n = 2;
  spec.steps = 1;
  spec.null_dim = 12;
  const auto pp = make_problems<S>(spec);
  const auto obj = seqedit::Objective<S>::memit(S(4), S(0.25));
  const seqedit::OneTimeEditor<S> plain(pp.p.c0, obj);
  MatD expected = 4.0 * pp.ref.c0;
  expected.diagonal().array() += 0.25;
  CHECK(rel_err(plain.base_system(), expected) <= 10 * eps<S>());

  const seqedit::NullSpaceProjector<S> proj(pp.p.c0);
  const seqedit::OneTimeEditor<S> reduced(pp.p.c0, obj, proj);
  const MatD u = proj.basis().template cast<double>();
  MatD er = 4.0 * u.transpose() * pp.ref.c0 * u;
  er.diagonal().array() += 0.25;
  REQUIRE(reduced.base_system().rows() == 12);
  // Uᵀ C0 U ≈ diag(null eigenvalues) is tiny next to α: compare relative to the whole.
  CHECK(rel_err(reduced.base_system(), er) <= 100 * eps<S>() * double(spec.dk));
}

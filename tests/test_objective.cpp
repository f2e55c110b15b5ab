// Objective (math.md section 2): presets, check(), and the OTE solution as its minimiser.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <limits>
#include <optional>

#include "support/problems.hpp"

using namespace seqedit_test;

TEMPLATE_TEST_CASE("Objective presets", "[objective]", float, double) {
  using S = TestType;
  const seqedit::Objective<S> def;
  CHECK(def.lambda == S(0));
  CHECK(def.alpha == S(0));
  const auto memit = seqedit::Objective<S>::memit(S(15000));
  CHECK(memit.lambda == S(15000));
  CHECK(memit.alpha == S(0));
  const auto ridge = seqedit::Objective<S>::memit(S(20000), S(1));
  CHECK(ridge.lambda == S(20000));
  CHECK(ridge.alpha == S(1));
  const auto ae = seqedit::Objective<S>::alphaedit();
  CHECK(ae.lambda == S(0));
  CHECK(ae.alpha == S(10));
  CHECK(seqedit::Objective<S>::alphaedit(S(2.5)).alpha == S(2.5));
  CHECK_NOTHROW(def.check());
  CHECK_NOTHROW(memit.check());
  CHECK_NOTHROW(ridge.check());
  CHECK_NOTHROW(ae.check());
}

TEMPLATE_TEST_CASE("Objective::check names the offending field", "[objective][bad-input]", float,
                   double) {
  using S = TestType;
  const S bad_values[] = {S(-1), -std::numeric_limits<S>::denorm_min(),
                          std::numeric_limits<S>::quiet_NaN(), std::numeric_limits<S>::infinity(),
                          -std::numeric_limits<S>::infinity()};
  for (S bad : bad_values) {
    INFO("value " << bad);
    seqedit::Objective<S> o = seqedit::Objective<S>::memit(S(1), S(1));
    o.lambda = bad;
    REQUIRE_THROWS_AS(o.check(), std::invalid_argument);
    REQUIRE_THROWS_WITH(o.check(), Catch::Contains("lambda"));
    o.lambda = S(1);
    o.alpha = bad;
    REQUIRE_THROWS_AS(o.check(), std::invalid_argument);
    REQUIRE_THROWS_WITH(o.check(), Catch::Contains("alpha"));
  }
  // The largest finite values are valid.
  seqedit::Objective<S> big;
  big.lambda = std::numeric_limits<S>::max();
  big.alpha = std::numeric_limits<S>::max();
  CHECK_NOTHROW(big.check());
}

namespace {

// J(Δ) = ‖(W0 + Δ)K − V‖² + λ tr(Δ C0 Δᵀ) + α‖Δ‖², in double.
double objective_value(const MatD& delta, const MatD& w0, const MatD& c0, const MatD& k,
                       const MatD& v, double lambda, double alpha) {
  const MatD fit = (w0 + delta) * k - v;
  return fit.squaredNorm() + lambda * (delta * c0 * delta.transpose()).trace() +
         alpha * delta.squaredNorm();
}

}  // namespace

TEMPLATE_TEST_CASE("The OTE solution minimises the objective on range(P)", "[objective][one-time]",
                   float, double) {
  using S = TestType;
  struct Case {
    double lambda, alpha;
    bool projected;
    Index n;
  };
  const Case cases[] = {{20.0, 0.0, false, 12},  // MEMIT
                        {20.0, 1.0, false, 12},  // MEMIT with ridge
                        {0.0, 10.0, true, 12},   // AlphaEdit
                        {3.0, 2.0, true, 90},    // projector with retention, n > d_k
                        {0.0, 0.0, false, 90}};  // plain least squares, n > d_k
  std::uint32_t seed = 300;
  for (const Case& c : cases) {
    Spec spec;
    spec.dk = 50;
    spec.dv = 30;
    spec.n = c.n;
    spec.steps = 1;
    spec.seed = ++seed;
    if (c.projected) spec.null_dim = 20;
    const auto pp = make_problems<S>(spec);
    const auto& p = pp.p;
    const auto& ref = pp.ref;
    seqedit::Objective<S> obj;
    obj.lambda = S(c.lambda);
    obj.alpha = S(c.alpha);
    std::optional<seqedit::OneTimeEditor<S>> ote;
    MatD pm = MatD::Identity(spec.dk, spec.dk);
    MatD basis;
    if (c.projected) {
      const seqedit::NullSpaceProjector<S> proj(p.c0);
      basis = proj.basis().template cast<double>();
      pm = basis * basis.transpose();
      ote.emplace(p.c0, obj, proj);
    } else {
      ote.emplace(p.c0, obj);
    }
    const MatD delta = ote->solve(p.w0, p.keys[0], p.values[0]).template cast<double>();
    const MatD& k = ref.keys[0];
    const MatD r0 = ref.values[0] - ref.w0 * k;

    // Stationarity on range(P): ∇J(Δ) P = 2[(ΔK − R0)Kᵀ + λΔC0 + αΔ] P = 0.
    const MatD grad = ((delta * k - r0) * k.transpose() + c.lambda * delta * ref.c0 +
                       c.alpha * delta) * pm;
    const double scale = (r0 * k.transpose() * pm).norm();
    const double stationarity = grad.norm() / scale;
    // Feasibility: Δ = ΔP.
    const double feasibility = (delta - delta * pm).norm() / delta.norm();
    const double kappa = spd_condition(reduced_system(ref.c0, k, c.lambda, c.alpha,
                                                      c.projected ? &basis : nullptr));
    const double tol = tolerance<S>(kappa, 1e-11);
    // Every feasible perturbation increases J.
    std::mt19937 gen(seed);
    const double j0 = objective_value(delta, ref.w0, ref.c0, k, ref.values[0], c.lambda, c.alpha);
    double min_increase = std::numeric_limits<double>::infinity();
    for (int trial = 0; trial < 5; ++trial) {
      MatD dir = gaussian(spec.dv, spec.dk, gen) * pm;
      dir *= 1e-2 * delta.norm() / dir.norm();
      const double j1 = objective_value(delta + dir, ref.w0, ref.c0, k, ref.values[0], c.lambda,
                                        c.alpha);
      min_increase = std::min(min_increase, (j1 - j0) / j0);
    }
    INFO("lambda " << c.lambda << " alpha " << c.alpha << " projected " << c.projected << " n "
                   << c.n << ": relative gradient " << stationarity << ", |D - DP|/|D| "
                   << feasibility << ", kappa " << kappa << ", tolerance " << tol
                   << ", smallest relative increase of J " << min_increase);
    CHECK(stationarity <= tol);
    CHECK(feasibility <= 100 * eps<S>() * double(spec.dk));
    CHECK(min_increase > 0);
  }
}

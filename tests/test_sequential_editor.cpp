// SequentialEditor with History::Aligned: the OTE-SE equivalence (math.md section 3),
// refresh, and the state round trip.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <algorithm>
#include <optional>
#include <string>

#include "support/problems.hpp"

using namespace seqedit_test;

namespace {

enum class Method { Memit, MemitRidge, AlphaEdit };

const char* name(Method m) {
  switch (m) {
    case Method::Memit: return "MEMIT";
    case Method::MemitRidge: return "MEMIT+ridge";
    case Method::AlphaEdit: return "AlphaEdit";
  }
  return "?";
}

struct Shape {
  Index dk, dv, n;
};

// d_v < d_k; d_v > d_k with n = 1; more total edits (80) than d_k (30).
const Shape kShapes[] = {{60, 30, 5}, {40, 90, 1}, {30, 20, 4}};

Spec spec_for(Method m, const Shape& sh, std::uint32_t seed) {
  Spec s;
  s.dk = sh.dk;
  s.dv = sh.dv;
  s.n = sh.n;
  s.steps = 20;
  s.seed = seed;
  if (m == Method::AlphaEdit) {
    s.null_dim = sh.dk / 3;  // a real null space: eigenvalues in [1e-6, 1e-3] < 2e-2
    s.c0_lo = 0.1;
    s.c0_hi = 10.0;
  }
  return s;
}

template <typename S>
seqedit::Objective<S> objective_for(Method m) {
  switch (m) {
    case Method::Memit: return seqedit::Objective<S>::memit(S(20));
    case Method::MemitRidge: return seqedit::Objective<S>::memit(S(20), S(1));
    case Method::AlphaEdit: return seqedit::Objective<S>::alphaedit(S(10));
  }
  return {};
}

struct Result {
  double max_err = 0;    // max_t ‖D_t − Δ*_t‖_F / ‖Δ*_t‖_F
  double max_kappa = 0;  // max_t κ(M_t)
  double max_leak = 0;   // max_t ‖D_t (I − P)‖_F / ‖D_t‖_F
};

// Runs 20 steps and compares D_t with the OTE over all edits so far after each one.
// `residual_entry` feeds the editor residuals (apply_residual) and the reference
// residuals (solve_residual) instead of values.
template <typename S>
Result run_equivalence(Method method, const Shape& shape, bool residual_entry,
                       std::uint32_t seed) {
  const auto pp = make_problems<S>(spec_for(method, shape, seed));
  const auto& p = pp.p;
  const auto& ref = pp.ref;
  const auto obj = objective_for<S>(method);
  const auto obj_d = objective_for<double>(method);

  typename seqedit::SequentialEditor<S>::Options opt;
  std::optional<seqedit::OneTimeEditor<double>> ote;
  MatD basis_d;
  if (method == Method::AlphaEdit) {
    seqedit::NullSpaceProjector<S> proj(p.c0);
    REQUIRE(proj.rank() == shape.dk / 3);
    opt.projector = proj;
    basis_d = proj.basis().template cast<double>();
    ote.emplace(ref.c0, obj_d, seqedit::NullSpaceProjector<double>::from_basis(basis_d, 1e-4));
  } else {
    ote.emplace(ref.c0, obj_d);
  }
  seqedit::SequentialEditor<S> ed(p.w0, p.c0, obj, opt);

  Result res;
  for (Index t = 1; t <= p.steps(); ++t) {
    const Mat<S>& k = p.keys[std::size_t(t - 1)];
    const Mat<S>& v = p.values[std::size_t(t - 1)];
    if (residual_entry) {
      const Mat<S> r = v - ed.weights() * k;
      ed.apply_residual(k, r);
    } else {
      ed.apply(k, v);
    }
    const MatD k_all = ref.keys_upto(t), v_all = ref.values_upto(t);
    const MatD target =
        residual_entry ? ote->solve_residual(k_all, MatD(v_all - ref.w0 * k_all))
                       : ote->solve(ref.w0, k_all, v_all);
    const MatD d = ed.cumulative_update().template cast<double>();
    res.max_err = std::max(res.max_err, rel_err(d, target));
    const MatD m = reduced_system(ref.c0, k_all, obj_d.lambda, obj_d.alpha,
                                  method == Method::AlphaEdit ? &basis_d : nullptr);
    res.max_kappa = std::max(res.max_kappa, spd_condition(m));
    if (method == Method::AlphaEdit) {
      const MatD leak = d - d * basis_d * basis_d.transpose();
      res.max_leak = std::max(res.max_leak, leak.norm() / d.norm());
    }
    REQUIRE(ed.steps() == t);
    REQUIRE(ed.journal().size() == k_all.cols());
  }
  return res;
}

}  // namespace

TEMPLATE_TEST_CASE("Aligned sequential editing equals the OTE over all edits after every step",
                   "[sequential][ote-se]", float, double) {
  using S = TestType;
  const Method methods[] = {Method::Memit, Method::MemitRidge, Method::AlphaEdit};
  std::uint32_t seed = 100;
  for (Method m : methods) {
    for (const Shape& sh : kShapes) {
      for (bool residual_entry : {false, true}) {
        ++seed;
        const Result r = run_equivalence<S>(m, sh, residual_entry, seed);
        const double tol = tolerance<S>(r.max_kappa, 1e-10);
        INFO(name(m) << " d_k=" << sh.dk << " d_v=" << sh.dv << " n=" << sh.n
                     << (residual_entry ? " apply_residual/solve_residual" : " apply/solve"));
        INFO("max relative gap " << r.max_err << ", max kappa " << r.max_kappa << ", tolerance "
                                 << tol);
        CHECK(r.max_err <= tol);
        if (m == Method::AlphaEdit) {
          INFO("max leak outside range(P) " << r.max_leak);
          CHECK(r.max_leak <= 100 * eps<S>() * double(sh.dk));
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("Ids are consecutive serials carrying the editor's tag", "[sequential][ids]",
                   float, double) {
  using S = TestType;
  Spec spec;
  spec.dk = 20;
  spec.dv = 10;
  spec.n = 3;
  spec.steps = 3;
  spec.seed = 7;
  const auto p = make_problem(spec).template cast<S>();
  seqedit::SequentialEditor<S> ed(p.w0, p.c0, seqedit::Objective<S>::memit(S(10)));
  std::uint64_t serial = 1;
  for (Index t = 0; t < p.steps(); ++t) {
    const auto ids = ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);
    REQUIRE(ids.size() == 3);
    for (const auto& id : ids) {
      CHECK(id.editor == ed.tag());
      CHECK(id.serial == serial++);
      CHECK(ed.journal().contains(id));
    }
  }
  CHECK(ed.journal().ids().size() == 9);
  CHECK(bit_equal<S>(Mat<S>(ed.journal().keys()), p.keys_upto(3)));
  CHECK(bit_equal<S>(Mat<S>(ed.journal().values()), p.values_upto(3)));
  // Two editors draw different tags.
  seqedit::SequentialEditor<S> other(p.w0, p.c0, seqedit::Objective<S>::memit(S(10)));
  CHECK(other.tag() != ed.tag());
}

TEMPLATE_TEST_CASE("refresh(C0) reproduces the updated system inverse", "[sequential][refresh]",
                   float, double) {
  using S = TestType;
  for (bool with_projector : {false, true}) {
    Spec spec;
    spec.dk = 50;
    spec.dv = 20;
    spec.n = 6;
    spec.steps = 15;
    spec.seed = with_projector ? 31 : 32;
    if (with_projector) spec.null_dim = 20;
    const auto pp = make_problems<S>(spec);
    const auto& p = pp.p;
    typename seqedit::SequentialEditor<S>::Options opt;
    auto obj = seqedit::Objective<S>::memit(S(20), S(1));
    MatD basis_d;
    if (with_projector) {
      opt.projector = seqedit::NullSpaceProjector<S>(p.c0);
      basis_d = opt.projector->basis().template cast<double>();
      obj = seqedit::Objective<S>::alphaedit();
    }
    seqedit::SequentialEditor<S> ed(p.w0, p.c0, obj, opt);
    for (Index t = 0; t < p.steps(); ++t) ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);

    // The exact inverse, in double.
    const MatD m = reduced_system(pp.ref.c0, pp.ref.keys_upto(p.steps()), double(obj.lambda),
                                  double(obj.alpha), with_projector ? &basis_d : nullptr);
    const MatD exact = m.inverse();
    const double kappa = spd_condition(m);
    const MatD before = ed.system_inverse().template cast<double>();
    const Mat<S> w_before = ed.weights();
    ed.refresh(p.c0);
    const MatD after = ed.system_inverse().template cast<double>();

    const MatD lo_before = before.triangularView<Eigen::Lower>();
    const MatD lo_after = after.triangularView<Eigen::Lower>();
    const MatD lo_exact = exact.triangularView<Eigen::Lower>();
    const double e_updated = rel_err(lo_before, lo_exact);
    const double e_refreshed = rel_err(lo_after, lo_exact);
    const double e_between = rel_err(lo_after, lo_before);
    INFO("projector " << with_projector << ", kappa " << kappa << ": updated vs exact "
                      << e_updated << ", refreshed vs exact " << e_refreshed
                      << ", refreshed vs updated " << e_between);
    CHECK(e_updated <= tolerance<S>(kappa, 1e-12));
    CHECK(e_refreshed <= tolerance<S>(kappa, 1e-12));
    CHECK(e_between <= tolerance<S>(kappa, 1e-12));
    CHECK(bit_equal<S>(w_before, ed.weights()));  // weights untouched
    CHECK(ed.steps() == p.steps());
  }
}

TEMPLATE_TEST_CASE("An editor restored from its state continues bit-identically",
                   "[sequential][state]", float, double) {
  using S = TestType;
  for (bool with_projector : {false, true}) {
    Spec spec;
    spec.dk = 40;
    spec.dv = 25;
    spec.n = 4;
    spec.steps = 12;
    spec.seed = with_projector ? 41 : 42;
    if (with_projector) spec.null_dim = 15;
    const auto p = make_problem(spec).template cast<S>();
    typename seqedit::SequentialEditor<S>::Options opt;
    auto obj = seqedit::Objective<S>::memit(S(20));
    if (with_projector) {
      opt.projector = seqedit::NullSpaceProjector<S>(p.c0);
      obj = seqedit::Objective<S>::alphaedit();
    }
    seqedit::SequentialEditor<S> ed(p.w0, p.c0, obj, opt);
    for (Index t = 0; t < 6; ++t) ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);

    const auto st = ed.state();
    seqedit::SequentialEditor<S> copy(st);
    INFO("projector " << with_projector);
    CHECK(copy.tag() == ed.tag());
    CHECK(copy.steps() == ed.steps());
    CHECK(copy.journal().ids() == ed.journal().ids());
    CHECK(bit_equal<S>(copy.weights(), ed.weights()));
    CHECK(bit_equal<S>(copy.initial_weights(), ed.initial_weights()));
    CHECK(copy.reduced_dim() == ed.reduced_dim());

    for (Index t = 6; t < p.steps(); ++t) {
      const auto ids_a = ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);
      const auto ids_b = copy.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);
      INFO("step " << t + 1);
      REQUIRE(ids_a == ids_b);
      REQUIRE(bit_equal<S>(copy.weights(), ed.weights()));
      const Mat<S> la = ed.system_inverse().template triangularView<Eigen::Lower>();
      const Mat<S> lb = copy.system_inverse().template triangularView<Eigen::Lower>();
      REQUIRE(bit_equal<S>(la, lb));
    }
    CHECK(copy.steps() == ed.steps());
  }
}

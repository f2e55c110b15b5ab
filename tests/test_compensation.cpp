// Post-processing regularisers and Algorithm 1 (math.md sections 5, 6 and 7):
// with Compensation::Analytic, W_t = W0 + Δ*_t + e_t after every step, retraction and
// replacement; without it the deviations accumulate.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "support/problems.hpp"

using namespace seqedit_test;

namespace {

/// Keeps the half of the entries of Δ with the largest magnitude (a data-dependent mask,
/// like RECT without the weights), zeroes the rest.
template <typename S>
struct MagnitudeMask {
  using Scalar = S;
  using Matrix = Mat<S>;
  Matrix operator()(const Matrix& delta, const Matrix& /*w_ref*/) const {
    std::vector<S> mags(delta.data(), delta.data() + delta.size());
    for (S& m : mags) m = std::abs(m);
    const std::size_t half = mags.size() / 2;
    std::nth_element(mags.begin(), mags.begin() + std::ptrdiff_t(half), mags.end());
    const S threshold = mags[half];
    Matrix out = delta;
    for (Index i = 0; i < out.size(); ++i)
      if (std::abs(out(i)) < threshold) out(i) = S(0);
    return out;
  }
};

/// Keeps only the leading singular triplet of Δ (rank truncation, nonlinear in Δ).
template <typename S>
struct RankOne {
  using Scalar = S;
  using Matrix = Mat<S>;
  Matrix operator()(const Matrix& delta, const Matrix& /*w_ref*/) const {
    Eigen::JacobiSVD<Matrix> svd(delta, Eigen::ComputeThinU | Eigen::ComputeThinV);
    return svd.singularValues()(0) * svd.matrixU().col(0) * svd.matrixV().col(0).transpose();
  }
};

// A problem on which the regularisers act: large value shifts and small W0, so that the
// step updates have singular values above σ_max(W0) (PRUNE) and relative changes that
// vary (RECT).
template <typename S>
struct Bench {
  ProblemPair<S> pp;
  seqedit::Objective<S> obj;
  seqedit::Objective<double> obj_d;
  std::optional<seqedit::NullSpaceProjector<S>> proj;
  std::optional<seqedit::OneTimeEditor<double>> ote;
  MatD basis_d;

  Bench(bool alphaedit, std::uint32_t seed, Index steps = 20) {
    Spec spec;
    spec.dk = 48;
    spec.dv = 32;
    spec.n = 4;
    spec.steps = steps;
    spec.seed = seed;
    spec.value_sd = 4.0;
    spec.w0_scale = 0.5;
    ridge_memit_or_alphaedit(alphaedit, spec, obj, obj_d);
    pp = make_problems<S>(spec);
    if (alphaedit) {
      proj.emplace(pp.p.c0);
      basis_d = proj->basis().template cast<double>();
      ote.emplace(pp.ref.c0, obj_d, seqedit::NullSpaceProjector<double>::from_basis(basis_d, 1e-4));
    } else {
      ote.emplace(pp.ref.c0, obj_d);
    }
  }

  template <typename R>
  seqedit::SequentialEditor<S, R> editor(const R& reg, seqedit::Compensation c) const {
    typename seqedit::SequentialEditor<S, R>::Options opt;
    opt.compensation = c;
    if (proj) opt.projector = *proj;
    return seqedit::SequentialEditor<S, R>(pp.p.w0, pp.p.c0, obj, opt, reg);
  }

  double kappa(const MatD& k_all) const {
    return spd_condition(reduced_system(pp.ref.c0, k_all, obj_d.lambda, obj_d.alpha,
                                        proj ? &basis_d : nullptr));
  }
};

struct Trace {
  std::vector<double> guarantee;  // ‖W_t − W0 − Δ*_t − e_t‖_F / ‖Δ*_t‖_F (compensated only)
  std::vector<double> gap;        // ‖D_t − Δ*_t‖_F / ‖Δ*_t‖_F
  std::vector<double> abs_gap;    // ‖D_t − Δ*_t‖_F
  std::vector<double> deviation;  // ‖e_t‖_F / ‖Δ*_t‖_F (compensated only)
  double kappa = 1;
  double scale = 1;  // max_t (‖W_t‖_F + ‖e_t‖_F) / ‖Δ*_t‖_F: the cancellation in W_t − W0 − e_t
};

template <typename S, typename R>
Trace run(const Bench<S>& b, const R& reg, seqedit::Compensation c) {
  auto ed = b.editor(reg, c);
  const bool comp = c == seqedit::Compensation::Analytic;
  Trace tr;
  const auto& p = b.pp.p;
  for (Index t = 1; t <= p.steps(); ++t) {
    ed.apply(p.keys[std::size_t(t - 1)], p.values[std::size_t(t - 1)]);
    const MatD k_all = b.pp.ref.keys_upto(t);
    const MatD target = b.ote->solve(b.pp.ref.w0, k_all, b.pp.ref.values_upto(t));
    const MatD d = ed.cumulative_update().template cast<double>();
    tr.gap.push_back(rel_err(d, target));
    tr.abs_gap.push_back((d - target).norm());
    if (comp) {
      const MatD e = ed.deviation().template cast<double>();
      REQUIRE(e.rows() == p.dv());
      REQUIRE(e.cols() == p.dk());
      const MatD w = ed.weights().template cast<double>();
      tr.guarantee.push_back((w - b.pp.ref.w0 - target - e).norm() / target.norm());
      tr.deviation.push_back(e.norm() / target.norm());
      tr.scale = std::max(tr.scale, (w.norm() + e.norm()) / target.norm());
    } else {
      REQUIRE(ed.deviation().size() == 0);
    }
    tr.kappa = std::max(tr.kappa, b.kappa(k_all));
  }
  return tr;
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// `bounded`: the regulariser lets compensation catch up (the latest deviation stays well
// below the accumulated naive one). A rank truncation below the batch size cannot.
// `growth`: the factor by which the naive absolute gap must grow from step 2 to step 20
// (0: not asserted; PRUNE stops acting on this problem once σ_max(W) has grown).
template <typename S, typename R>
void check_regulariser(const std::string& name, const R& reg, bool alphaedit,
                       std::uint32_t seed, bool bounded, double growth) {
  const Bench<S> b(alphaedit, seed);
  const Trace comp = run<S>(b, reg, seqedit::Compensation::Analytic);
  const Trace naive = run<S>(b, reg, seqedit::Compensation::None);

  const double tol = tolerance<S>(comp.kappa * comp.scale, 1e-10);
  INFO(name << (alphaedit ? " with null-space P" : " with P = I") << ", kappa " << comp.kappa
            << ", cancellation scale " << comp.scale);
  INFO("compensated: max |W - W0 - D* - e| / |D*| " << max_of(comp.guarantee)
                                                     << " (tolerance " << tol
                                                     << "), |e_t| / |D*_t| in ["
                                                     << min_of(comp.deviation) << ", "
                                                     << max_of(comp.deviation) << "]");
  INFO("gap |D_t - D*_t| / |D*_t|: compensated at 2 / 20: " << comp.gap[1] << " / "
       << comp.gap[19] << "; naive at 2 / 20: " << naive.gap[1] << " / " << naive.gap[19]
       << " (absolute " << naive.abs_gap[1] << " / " << naive.abs_gap[19] << ")");
  // Algorithm 1's guarantee, after every step.
  CHECK(max_of(comp.guarantee) <= tol);
  // The regulariser really acts (otherwise the guarantee would be trivial).
  CHECK(max_of(comp.deviation) > 1e-3);
  // Without compensation the deviations accumulate: the gap grows with the steps...
  if (growth > 0) {
    CHECK(naive.abs_gap[19] > growth * naive.abs_gap[1]);
    CHECK(naive.gap[19] > naive.gap[1]);
  }
  // ...and ends far above the compensated one, which is the latest deviation only.
  if (bounded) CHECK(naive.gap[19] > 2.0 * comp.gap[19]);
}

}  // namespace

TEMPLATE_TEST_CASE("Analytic compensation: W_t = W0 + D*_t + e_t (magnitude mask)",
                   "[compensation]", float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true})
    check_regulariser<S>("magnitude mask", MagnitudeMask<S>(), alphaedit, alphaedit ? 811 : 812,
                         true, 2.0);
}

TEMPLATE_TEST_CASE("Analytic compensation: W_t = W0 + D*_t + e_t (rank-one truncation)",
                   "[compensation]", float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true})
    check_regulariser<S>("rank-one truncation", RankOne<S>(), alphaedit, alphaedit ? 821 : 822,
                         false, 1.5);
}

TEMPLATE_TEST_CASE("Analytic compensation: W_t = W0 + D*_t + e_t (PRUNE)", "[compensation][prune]",
                   float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true})
    check_regulariser<S>("PRUNE", seqedit::Prune<S>(), alphaedit, alphaedit ? 831 : 832, false, 0.0);
}

TEMPLATE_TEST_CASE("The editor warm-starts PRUNE from W0, also after a restore", "[compensation][prune]", float,
                   double) {
  using S = TestType;
  const Bench<S> b(false, 833, 4);
  const auto& p = b.pp.p;
  seqedit::Prune<S> expected;
  expected.prepare(p.w0);
  auto ed = b.editor(seqedit::Prune<S>(), seqedit::Compensation::Analytic);
  REQUIRE(ed.regulariser().warm_start().size() == p.dk());
  CHECK((ed.regulariser().warm_start().array() == expected.warm_start().array()).all());
  ed.apply(p.keys[0], p.values[0]);
  const seqedit::SequentialEditor<S, seqedit::Prune<S>> restored(ed.state(), seqedit::Prune<S>());
  CHECK((restored.regulariser().warm_start().array() == expected.warm_start().array()).all());
}

TEMPLATE_TEST_CASE("Analytic compensation: W_t = W0 + D*_t + e_t (RECT)", "[compensation][rect]",
                   float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true})
    check_regulariser<S>("RECT 20%", seqedit::Rect<S>(0.2), alphaedit, alphaedit ? 841 : 842,
                         false, 1.5);
}

TEMPLATE_TEST_CASE("Retraction and replacement keep W = W0 + D* + e", "[compensation][retract]",
                   float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    const Bench<S> b(alphaedit, alphaedit ? 851 : 852, 12);
    const MagnitudeMask<S> mask;
    auto ed = b.editor(mask, seqedit::Compensation::Analytic);
    const auto& p = b.pp.p;
    std::vector<std::vector<seqedit::EditId>> ids;
    for (Index t = 0; t < 10; ++t)
      ids.push_back(ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]));
    // Live set: batches 0..9; then retract batch 3, replace batch 6 by batch 10's edits,
    // retract batches 0 and 9 together.
    std::vector<Index> live = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    double worst = 0, kappa = 1, scale = 1, min_dev = 1e300;
    auto check_now = [&](const char*) {
      const MatD k_all =
          Problem<double>::hcat([&] {
            std::vector<MatD> parts;
            for (Index i : live) parts.push_back(b.pp.ref.keys[std::size_t(i)]);
            return parts;
          }(), 0, Index(live.size()));
      const MatD v_all =
          Problem<double>::hcat([&] {
            std::vector<MatD> parts;
            for (Index i : live) parts.push_back(b.pp.ref.values[std::size_t(i)]);
            return parts;
          }(), 0, Index(live.size()));
      const MatD target = b.ote->solve(b.pp.ref.w0, k_all, v_all);
      const MatD e = ed.deviation().template cast<double>();
      const MatD w = ed.weights().template cast<double>();
      worst = std::max(worst, (w - b.pp.ref.w0 - target - e).norm() / target.norm());
      kappa = std::max(kappa, b.kappa(k_all));
      scale = std::max(scale, (w.norm() + e.norm()) / target.norm());
      min_dev = std::min(min_dev, e.norm() / target.norm());
    };
    ed.retract(ids[3]);
    live.erase(std::find(live.begin(), live.end(), 3));
    check_now("retract 3");
    ed.replace(ids[6], p.keys[10], p.values[10]);
    live.erase(std::find(live.begin(), live.end(), 6));
    live.push_back(10);
    check_now("replace 6 by 10");
    std::vector<seqedit::EditId> two = ids[9];
    two.insert(two.end(), ids[0].begin(), ids[0].end());
    ed.retract(two);
    live.erase(std::find(live.begin(), live.end(), 9));
    live.erase(std::find(live.begin(), live.end(), 0));
    check_now("retract 0 and 9");
    ed.apply(p.keys[11], p.values[11]);
    live.push_back(11);
    check_now("apply 11");

    const double tol = tolerance<S>(kappa * scale, 1e-10);
    INFO((alphaedit ? "null-space P" : "P = I")
         << ": max |W - W0 - D* - e| / |D*| after retract/replace " << worst << ", tolerance "
         << tol << ", min |e|/|D*| " << min_dev);
    CHECK(worst <= tol);
    CHECK(min_dev > 1e-3);
  }
}

TEMPLATE_TEST_CASE("Compensated editors continue bit-identically after a state round trip",
                   "[compensation][state]", float, double) {
  using S = TestType;
  const Bench<S> b(false, 861, 8);
  const RankOne<S> reg;
  auto ed = b.editor(reg, seqedit::Compensation::Analytic);
  for (Index t = 0; t < 4; ++t) ed.apply(b.pp.p.keys[std::size_t(t)], b.pp.p.values[std::size_t(t)]);
  const auto st = ed.state();
  REQUIRE(st.compensation == seqedit::Compensation::Analytic);
  REQUIRE(bit_equal<S>(st.deviation, ed.deviation()));
  seqedit::SequentialEditor<S, RankOne<S>> copy(st, reg);
  for (Index t = 4; t < 8; ++t) {
    ed.apply(b.pp.p.keys[std::size_t(t)], b.pp.p.values[std::size_t(t)]);
    copy.apply(b.pp.p.keys[std::size_t(t)], b.pp.p.values[std::size_t(t)]);
    REQUIRE(bit_equal<S>(ed.weights(), copy.weights()));
    REQUIRE(bit_equal<S>(ed.deviation(), copy.deviation()));
  }
}

// The counterexamples of math.md section 4: History::LatestOnly ("Memorize-the-Latest")
// and History::None (naive sequential editing), against History::Aligned.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <algorithm>
#include <optional>

#include "support/problems.hpp"

using namespace seqedit_test;

namespace {

template <typename S>
struct Setup {
  ProblemPair<S> pp;
  seqedit::Objective<S> obj;
  seqedit::Objective<double> obj_d;
  typename seqedit::SequentialEditor<S>::Options opt;
  std::optional<seqedit::OneTimeEditor<double>> ote;
  MatD basis_d;
  bool projected = false;
};

// AlphaEdit (null-space P, λ = 0, α = 10) or MEMIT (P = I, λ = 20). `within_capacity`:
// 40 edits with strong keys on d_k = 120 (r = 80 with P), so that aligned editing can
// memorise all of them; otherwise 100 edits on d_k = 60 (more than the key space holds).
template <typename S>
Setup<S> make_setup(bool alphaedit, std::uint32_t seed, bool within_capacity = false) {
  Setup<S> s;
  Spec spec;
  spec.dk = within_capacity ? 120 : 60;
  spec.dv = 30;
  spec.n = within_capacity ? 2 : 5;
  spec.key_sd = within_capacity ? 3.0 : 1.0;
  spec.steps = 20;
  spec.seed = seed;
  const Index null_dim = within_capacity ? 80 : 40;
  if (alphaedit) {
    spec.null_dim = null_dim;
    spec.c0_lo = 0.1;
    spec.c0_hi = 10.0;
  }
  s.pp = make_problems<S>(spec);
  s.projected = alphaedit;
  if (alphaedit) {
    s.obj = seqedit::Objective<S>::alphaedit(S(10));
    s.obj_d = seqedit::Objective<double>::alphaedit(10.0);
    seqedit::NullSpaceProjector<S> proj(s.pp.p.c0);
    REQUIRE(proj.rank() == null_dim);
    s.opt.projector = proj;
    s.basis_d = proj.basis().template cast<double>();
    s.ote.emplace(s.pp.ref.c0, s.obj_d,
                  seqedit::NullSpaceProjector<double>::from_basis(s.basis_d, 1e-4));
  } else {
    s.obj = seqedit::Objective<S>::memit(S(20));
    s.obj_d = seqedit::Objective<double>::memit(20.0);
    s.ote.emplace(s.pp.ref.c0, s.obj_d);
  }
  return s;
}

template <typename S>
seqedit::SequentialEditor<S> make_editor(const Setup<S>& s, seqedit::History h) {
  auto opt = s.opt;
  opt.history = h;
  return seqedit::SequentialEditor<S>(s.pp.p.w0, s.pp.p.c0, s.obj, opt);
}

// ‖W K_1 − V_1‖_F / ‖W0 K_1 − V_1‖_F: 0 when batch 1 is memorised, 1 when it is forgotten.
inline double memorisation_error(const MatD& w, const MatD& w0, const MatD& k, const MatD& v) {
  return (w * k - v).norm() / (w0 * k - v).norm();
}

}  // namespace

TEMPLATE_TEST_CASE("LatestOnly: D_t is the OTE over the latest batch only", "[history][latest]",
                   float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    auto s = make_setup<S>(alphaedit, alphaedit ? 501 : 502);
    auto ed = make_editor(s, seqedit::History::LatestOnly);
    const auto& p = s.pp.p;
    const auto& ref = s.pp.ref;
    double max_err = 0, max_kappa = 0;
    for (Index t = 0; t < p.steps(); ++t) {
      const std::size_t i = std::size_t(t);
      if (t % 2 == 0) {
        ed.apply(p.keys[i], p.values[i]);
      } else {
        ed.apply_residual(p.keys[i], Mat<S>(p.values[i] - ed.weights() * p.keys[i]));
      }
      const MatD target = s.ote->solve(ref.w0, ref.keys[i], ref.values[i]);
      max_err = std::max(max_err, rel_err(ed.cumulative_update(), target));
      const MatD m = reduced_system(ref.c0, ref.keys[i], s.obj_d.lambda, s.obj_d.alpha,
                                    alphaedit ? &s.basis_d : nullptr);
      // The step re-fits D_{t-1} through λC0 + αI as well: use the larger of the two.
      max_kappa = std::max(max_kappa, spd_condition(m));
      const MatD m0 = reduced_system(ref.c0, MatD::Zero(ref.dk(), 1), s.obj_d.lambda,
                                     s.obj_d.alpha, alphaedit ? &s.basis_d : nullptr);
      max_kappa = std::max(max_kappa, spd_condition(m0));
    }
    const double tol = tolerance<S>(max_kappa, 1e-10);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT") << ": max relative gap to the latest-batch OTE "
                                             << max_err << ", kappa " << max_kappa
                                             << ", tolerance " << tol);
    CHECK(max_err <= tol);
    CHECK(ed.steps() == p.steps());
  }
}

TEMPLATE_TEST_CASE("LatestOnly forgets earlier edits, Aligned keeps them", "[history][latest]",
                   float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    auto s = make_setup<S>(alphaedit, alphaedit ? 511 : 512, true);
    auto latest = make_editor(s, seqedit::History::LatestOnly);
    auto aligned = make_editor(s, seqedit::History::Aligned);
    const auto& p = s.pp.p;
    const auto& ref = s.pp.ref;
    latest.apply(p.keys[0], p.values[0]);
    aligned.apply(p.keys[0], p.values[0]);
    // Right after step 1 both editors are the same OTE and remember batch 1 equally.
    const double after1_latest = memorisation_error(latest.weights().template cast<double>(),
                                                    ref.w0, ref.keys[0], ref.values[0]);
    const double after1_aligned = memorisation_error(aligned.weights().template cast<double>(),
                                                     ref.w0, ref.keys[0], ref.values[0]);
    for (Index t = 1; t < p.steps(); ++t) {
      latest.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);
      aligned.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]);
    }
    const double err_latest = memorisation_error(latest.weights().template cast<double>(),
                                                 ref.w0, ref.keys[0], ref.values[0]);
    const double err_aligned = memorisation_error(aligned.weights().template cast<double>(),
                                                  ref.w0, ref.keys[0], ref.values[0]);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT") << ": batch-1 memorisation error after step 1: "
                                             << after1_latest << " / " << after1_aligned
                                             << "; after step 20: LatestOnly " << err_latest
                                             << ", Aligned " << err_aligned);
    CHECK(std::abs(after1_latest - after1_aligned) <= 1e-3 * after1_aligned + 1e-5);
    CHECK(err_latest > 0.8);                  // close to "never edited" (1)
    CHECK(err_aligned < 0.35);                // still memorised
    CHECK(err_latest > 2.5 * err_aligned);    // measurably forgotten
    CHECK(err_latest > 3.0 * after1_latest);  // and it was memorised at step 1
  }
}

TEMPLATE_TEST_CASE("None: each step solves its own batch and the sum drifts from the OTE",
                   "[history][none]", float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    auto s = make_setup<S>(alphaedit, alphaedit ? 521 : 522);
    auto naive = make_editor(s, seqedit::History::None);
    auto aligned = make_editor(s, seqedit::History::Aligned);
    const auto& p = s.pp.p;
    const auto& ref = s.pp.ref;
    double max_step_err = 0, max_kappa = 0, gap_naive = 0, gap_aligned = 0;
    for (Index t = 0; t < p.steps(); ++t) {
      const std::size_t i = std::size_t(t);
      const MatD w_prev = naive.weights().template cast<double>();
      naive.apply(p.keys[i], p.values[i]);
      aligned.apply(p.keys[i], p.values[i]);
      // The naive step (math.md section 4): the OTE of batch t alone on its residual under
      // the current weights.
      const MatD r = ref.values[i] - w_prev * ref.keys[i];
      const MatD step_ref = s.ote->solve_residual(ref.keys[i], r);
      const MatD step = naive.weights().template cast<double>() - w_prev;
      max_step_err = std::max(max_step_err, rel_err(step, step_ref));
      max_kappa = std::max(
          max_kappa, spd_condition(reduced_system(ref.c0, ref.keys[i], s.obj_d.lambda,
                                                  s.obj_d.alpha,
                                                  alphaedit ? &s.basis_d : nullptr)));
      const MatD target = s.ote->solve(ref.w0, ref.keys_upto(t + 1), ref.values_upto(t + 1));
      gap_naive = rel_err(naive.cumulative_update(), target);
      gap_aligned = rel_err(aligned.cumulative_update(), target);
    }
    // The step is computed from W_{t-1} in S; in float the reference sees the rounded
    // weights, so the bound carries the conditioning of the step only.
    const double tol = tolerance<S>(max_kappa, 1e-10);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT")
         << ": naive step vs its own OTE " << max_step_err << " (tolerance " << tol
         << "); after 20 steps, gap to the OTE over all edits: None " << gap_naive
         << ", Aligned " << gap_aligned);
    CHECK(max_step_err <= tol);
    CHECK(gap_naive > 1e-2);
    CHECK(gap_naive > 1e3 * gap_aligned);
  }
}

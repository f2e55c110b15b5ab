// verify_alignment (include/seqedit/alignment.hpp): the deviation of a sequential editor
// from the one-time solution over its journal (math.md sections 3, 4, 6), checked against
// an independent evaluation of the closed form in double.

#include <catch2/catch.hpp>

#include <seqedit/alignment.hpp>
#include <seqedit/seqedit.hpp>

#include <Eigen/Cholesky>

#include <limits>
#include <stdexcept>
#include <vector>

#include "support/problems.hpp"

using namespace seqedit_test;

namespace {

/// D* = R0 Kᵀ U M⁻¹ Uᵀ from the closed form (math.md section 2), in double, with an LDLᵀ
/// factorisation: independent of OneTimeEditor's code path.
MatD alignment_closed_form(const MatD& w0, const MatD& c0, const MatD& k, const MatD& v, double lambda,
                           double alpha, const MatD* basis) {
  const MatD m = reduced_system(c0, k, lambda, alpha, basis);
  const MatD r0 = v - w0 * k;
  const MatD kr = basis ? MatD(basis->transpose() * k) : k;
  const MatD x = m.ldlt().solve(kr * r0.transpose());  // r x d_v
  return basis ? MatD((*basis * x).transpose()) : MatD(x.transpose());
}

/// A 20-step problem with one retraction and one replacement along the way.
template <typename Editor, typename S>
void alignment_run(Editor& ed, const Problem<S>& p) {
  std::vector<std::vector<seqedit::EditId>> batches;
  for (Index t = 0; t < p.steps(); ++t) batches.push_back(ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]));
  if (ed.options().history == seqedit::History::Aligned) {
    ed.retract(batches[3]);
    ed.replace(batches[7], p.keys[0], p.values[1]);
  }
}

}  // namespace

TEST_CASE("verify_alignment: an aligned editor is within round-off of the one-time solution", "[alignment]") {
  for (const bool alphaedit : {false, true}) {
    Spec spec;
    spec.seed = alphaedit ? 11 : 12;
    seqedit::Objective<double> obj, obj_d;
    ridge_memit_or_alphaedit(alphaedit, spec, obj, obj_d);
    const Problem<double> p = make_problem(spec);
    seqedit::EditorOptions<double> opts;
    if (alphaedit) opts.projector = seqedit::NullSpaceProjector<double>(p.c0, 1e-2);
    seqedit::SequentialEditor<double> ed(p.w0, p.c0, obj, opts);
    alignment_run(ed, p);

    const seqedit::AlignmentReport rep = seqedit::verify_alignment(ed, p.c0);
    const MatD basis = alphaedit ? opts.projector->basis() : MatD();
    const MatD dstar = alignment_closed_form(p.w0, p.c0, ed.journal().keys(), ed.journal().values(), obj_d.lambda,
                                             obj_d.alpha, alphaedit ? &basis : nullptr);
    INFO("alphaedit " << alphaedit << ": deviation " << rep.deviation << ", |D*| " << rep.reference_norm);
    CHECK(rep.live_edits == Index(spec.n * (spec.steps - 1)));
    CHECK(rep.relative);
    CHECK_FALSE(rep.compensated_deviation.has_value());
    CHECK(rep.reference_norm == Approx(dstar.norm()).epsilon(1e-10));
    CHECK(rep.deviation < 1e-12);
    CHECK(rel_err(ed.cumulative_update(), dstar) < 1e-12);
    CHECK(rep.judged() == rep.deviation);
    CHECK(rep.judged() <= seqedit::default_alignment_tolerance<double>());
  }
}

TEST_CASE("verify_alignment: History::None is far from the one-time solution, and says by how much", "[alignment]") {
  Spec spec;
  spec.seed = 13;
  const Problem<double> p = make_problem(spec);
  const auto obj = seqedit::Objective<double>::memit(20.0, 1.0);
  seqedit::EditorOptions<double> opts;
  opts.history = seqedit::History::None;
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, obj, opts);
  alignment_run(ed, p);

  const seqedit::AlignmentReport rep = seqedit::verify_alignment(ed, p.c0);
  const MatD dstar = alignment_closed_form(p.w0, p.c0, p.keys_upto(p.steps()), p.values_upto(p.steps()), 20.0, 1.0,
                                           nullptr);
  const double independent = rel_err(ed.cumulative_update(), dstar);
  INFO("History::None: deviation " << rep.deviation << ", independent " << independent);
  CHECK(rep.live_edits == Index(spec.n * spec.steps));
  CHECK(rep.deviation > 0.05);
  CHECK(rep.deviation == Approx(independent).epsilon(1e-9));
  CHECK(rep.judged() > seqedit::default_alignment_tolerance<double>());
}

TEST_CASE("verify_alignment: with analytic compensation the invariant W = W0 + D* + e is checked", "[alignment]") {
  Spec spec;
  spec.seed = 14;
  spec.value_sd = 10.0;
  const Problem<double> p = make_problem(spec);
  const auto obj = seqedit::Objective<double>::memit(20.0, 1.0);
  seqedit::EditorOptions<double> opts;
  opts.compensation = seqedit::Compensation::Analytic;
  seqedit::SequentialEditor<double, seqedit::Rect<double>> ed(p.w0, p.c0, obj, opts, seqedit::Rect<double>(0.3));
  alignment_run(ed, p);

  const seqedit::AlignmentReport rep = seqedit::verify_alignment(ed, p.c0);
  const MatD dstar = alignment_closed_form(p.w0, p.c0, ed.journal().keys(), ed.journal().values(), 20.0, 1.0, nullptr);
  INFO("RECT: |D - D*|/|D*| " << rep.deviation << ", |D - D* - e|/|D*| " << rep.compensated_deviation.value_or(-1));
  REQUIRE(rep.compensated_deviation.has_value());
  CHECK(rep.deviation > 1e-3);  // RECT keeps 30 % of each update: D departs from D* by e
  CHECK(rep.deviation == Approx(rel_err(ed.cumulative_update(), dstar)).epsilon(1e-9));
  CHECK(*rep.compensated_deviation < 1e-12);
  CHECK(rep.judged() == *rep.compensated_deviation);
}

TEST_CASE("verify_alignment: float editors, an empty journal, and a C0 that does not fit", "[alignment]") {
  Spec spec;
  spec.seed = 15;
  const ProblemPair<float> pp = make_problems<float>(spec);
  seqedit::SequentialEditor<float> edf(pp.p.w0, pp.p.c0, seqedit::Objective<float>::memit(20.0f, 1.0f));
  alignment_run(edf, pp.p);
  const seqedit::AlignmentReport repf = seqedit::verify_alignment(edf, pp.p.c0);
  INFO("float: deviation " << repf.deviation);
  CHECK(repf.deviation < 1e-4);
  CHECK(repf.deviation > 0);  // float round-off is visible
  CHECK(repf.judged() <= seqedit::default_alignment_tolerance<float>());

  seqedit::SequentialEditor<double> ed(pp.ref.w0, pp.ref.c0, seqedit::Objective<double>::memit(20.0, 1.0));
  const seqedit::AlignmentReport empty = seqedit::verify_alignment(ed, pp.ref.c0);
  CHECK(empty.live_edits == 0);
  CHECK_FALSE(empty.relative);
  CHECK(empty.reference_norm == 0);
  CHECK(empty.deviation == 0);
  const auto ids = ed.apply(pp.ref.keys[0], pp.ref.values[0]);
  ed.retract(ids);
  const seqedit::AlignmentReport back = seqedit::verify_alignment(ed, pp.ref.c0);
  CHECK_FALSE(back.relative);
  CHECK(back.deviation < 1e-12);  // absolute: all edits retracted, D = 0 up to round-off

  CHECK_THROWS_AS(seqedit::verify_alignment(ed, MatD::Identity(spec.dk + 1, spec.dk + 1)), std::invalid_argument);
  MatD nan_c0 = pp.ref.c0;
  nan_c0(2, 3) = std::numeric_limits<double>::quiet_NaN();
  ed.apply(pp.ref.keys[1], pp.ref.values[1]);
  CHECK_THROWS_AS(seqedit::verify_alignment(ed, nan_c0), std::invalid_argument);
}

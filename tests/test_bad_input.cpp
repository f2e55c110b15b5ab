// Misuse and numerical trouble: every rejected call throws the documented exception with
// an explanatory message and leaves the object exactly as it was.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <limits>
#include <memory>
#include <stdexcept>

#include "support/problems.hpp"

using namespace seqedit_test;
using Catch::Contains;

namespace {

template <typename S>
Problem<S> small_problem(std::uint32_t seed, Index null_dim = 0) {
  Spec spec;
  spec.dk = 24;
  spec.dv = 12;
  spec.n = 4;
  spec.steps = 4;
  spec.seed = seed;
  spec.null_dim = null_dim;
  return make_problem(spec).template cast<S>();
}

template <typename S>
Mat<S> with_value(Mat<S> m, Index i, Index j, S value) {
  m(i, j) = value;
  return m;
}

/// A regulariser whose behaviour is switched from outside (shared with the editor's copy).
template <typename S>
struct Faulty {
  using Scalar = S;
  using Matrix = Mat<S>;
  enum Mode { Pass, Throw, WrongShape, NotFinite };
  std::shared_ptr<Mode> mode = std::make_shared<Mode>(Pass);
  Matrix operator()(const Matrix& delta, const Matrix& /*w_ref*/) const {
    switch (*mode) {
      case Pass: return S(0.5) * delta;
      case Throw: throw std::invalid_argument("test regulariser refuses");
      case WrongShape: return delta.leftCols(delta.cols() - 1);
      case NotFinite: return with_value<S>(delta, 0, 0, std::numeric_limits<S>::infinity());
    }
    return delta;
  }
};

}  // namespace

TEMPLATE_TEST_CASE("Mismatched dimensions name both sizes", "[bad-input][shapes]", float,
                   double) {
  using S = TestType;
  const auto p = small_problem<S>(1);  // d_k = 24, d_v = 12, n = 4
  const auto obj = seqedit::Objective<S>::memit(S(10), S(1));
  using Editor = seqedit::SequentialEditor<S>;

  // Constructor.
  REQUIRE_THROWS_AS(Editor(p.w0, Mat<S>(p.c0.topLeftCorner(20, 20)), obj), std::invalid_argument);
  REQUIRE_THROWS_WITH(Editor(p.w0, Mat<S>(p.c0.topLeftCorner(20, 20)), obj),
                      Contains("20 x 20") && Contains("24 x 24"));
  REQUIRE_THROWS_WITH(Editor(p.w0, Mat<S>(p.c0.leftCols(23)), obj), Contains("24 x 23"));
  REQUIRE_THROWS_AS(Editor(Mat<S>(12, 0), Mat<S>(0, 0), obj), std::invalid_argument);
  {
    typename Editor::Options opt;
    opt.projector = seqedit::NullSpaceProjector<S>(Mat<S>(p.c0.topLeftCorner(20, 20)), S(1));
    REQUIRE(opt.projector->rank() > 0);
    REQUIRE_THROWS_WITH(Editor(p.w0, p.c0, obj, opt), Contains("20") && Contains("24"));
  }

  Editor ed(p.w0, p.c0, obj);
  ed.apply(p.keys[0], p.values[0]);
  const Snapshot<Editor> snap(ed);
  const Mat<S>& k = p.keys[1];
  const Mat<S>& v = p.values[1];
  REQUIRE_THROWS_WITH(ed.apply(Mat<S>(k.topRows(23)), v), Contains("23") && Contains("24"));
  REQUIRE_THROWS_WITH(ed.apply(k, Mat<S>(v.topRows(11))), Contains("11 x 4") && Contains("12 x 4"));
  REQUIRE_THROWS_WITH(ed.apply(k, Mat<S>(v.leftCols(3))), Contains("12 x 3") && Contains("12 x 4"));
  REQUIRE_THROWS_WITH(ed.apply_residual(k, Mat<S>(v.leftCols(3))),
                      Contains("R") && Contains("12 x 3") && Contains("12 x 4"));
  REQUIRE_THROWS_WITH(ed.refresh(Mat<S>(p.c0.topLeftCorner(23, 23))),
                      Contains("23 x 23") && Contains("24 x 24"));
  CHECK(snap.same(ed));

  // OneTimeEditor.
  const seqedit::OneTimeEditor<S> ote(p.c0, obj);
  REQUIRE_THROWS_WITH(ote.solve(Mat<S>(p.w0.leftCols(22)), k, v),
                      Contains("12 x 22") && Contains("12 x 24"));
  REQUIRE_THROWS_WITH(ote.solve(p.w0, Mat<S>(k.topRows(25 - 2)), v), Contains("23") && Contains("24"));
  REQUIRE_THROWS_WITH(ote.solve(p.w0, k, Mat<S>(v.leftCols(2))), Contains("12 x 2") && Contains("12 x 4"));
  REQUIRE_THROWS_WITH(ote.solve_residual(k, Mat<S>(v.leftCols(3))), Contains("3") && Contains("4"));
  REQUIRE_THROWS_WITH(seqedit::OneTimeEditor<S>(Mat<S>(p.c0.leftCols(20)), obj),
                      Contains("24 x 20"));
  const seqedit::NullSpaceProjector<S> small_proj(Mat<S>(p.c0.topLeftCorner(20, 20)), S(1));
  REQUIRE_THROWS_WITH(seqedit::OneTimeEditor<S>(p.c0, obj, small_proj),
                      Contains("20") && Contains("24 x 24"));
}

TEMPLATE_TEST_CASE("NaN and Inf are rejected wherever they enter", "[bad-input][finite]", float,
                   double) {
  using S = TestType;
  const auto p = small_problem<S>(2);
  const auto obj = seqedit::Objective<S>::memit(S(10), S(1));
  using Editor = seqedit::SequentialEditor<S>;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  const S inf = std::numeric_limits<S>::infinity();
  for (S bad : {nan, inf, -inf}) {
    INFO("value " << bad);
    REQUIRE_THROWS_WITH(Editor(with_value<S>(p.w0, 3, 5, bad), p.c0, obj), Contains("W0 contains"));
    // A symmetric corruption of C0 (a one-sided one could also be reported as asymmetry).
    Mat<S> c0_bad = with_value<S>(p.c0, 2, 7, bad);
    c0_bad(7, 2) = bad;
    REQUIRE_THROWS_WITH(Editor(p.w0, c0_bad, obj), Contains("C0 contains"));
    REQUIRE_THROWS_WITH(seqedit::OneTimeEditor<S>(c0_bad, obj), Contains("C0 contains"));

    Editor ed(p.w0, p.c0, obj);
    ed.apply(p.keys[0], p.values[0]);
    const Snapshot<Editor> snap(ed);
    const Mat<S>& k = p.keys[1];
    const Mat<S>& v = p.values[1];
    REQUIRE_THROWS_WITH(ed.apply(with_value<S>(k, 4, 1, bad), v), Contains("K contains"));
    REQUIRE_THROWS_WITH(ed.apply(k, with_value<S>(v, 0, 3, bad)), Contains("V contains"));
    REQUIRE_THROWS_WITH(ed.apply_residual(k, with_value<S>(v, 11, 0, bad)), Contains("R contains"));
    REQUIRE_THROWS_WITH(ed.apply_residual(with_value<S>(k, 23, 3, bad), v), Contains("K contains"));
    REQUIRE_THROWS_WITH(ed.refresh(c0_bad), Contains("C0 contains"));
    CHECK(snap.same(ed));

    const seqedit::OneTimeEditor<S> ote(p.c0, obj);
    REQUIRE_THROWS_WITH(ote.solve(with_value<S>(p.w0, 0, 0, bad), k, v), Contains("W0 contains"));
    REQUIRE_THROWS_WITH(ote.solve(p.w0, with_value<S>(k, 0, 0, bad), v), Contains("K contains"));
    REQUIRE_THROWS_WITH(ote.solve(p.w0, k, with_value<S>(v, 0, 0, bad)), Contains("V contains"));
    REQUIRE_THROWS_WITH(ote.solve_residual(k, with_value<S>(v, 0, 0, bad)), Contains("R contains"));
  }
}

TEMPLATE_TEST_CASE("Negative or non-finite weights are rejected by name", "[bad-input][objective]",
                   float, double) {
  using S = TestType;
  const auto p = small_problem<S>(3);
  for (S bad : {S(-1), std::numeric_limits<S>::quiet_NaN(), std::numeric_limits<S>::infinity()}) {
    INFO("value " << bad);
    auto o = seqedit::Objective<S>::memit(S(10), S(1));
    o.lambda = bad;
    REQUIRE_THROWS_WITH(seqedit::SequentialEditor<S>(p.w0, p.c0, o), Contains("lambda"));
    REQUIRE_THROWS_WITH(seqedit::OneTimeEditor<S>(p.c0, o), Contains("lambda"));
    o = seqedit::Objective<S>::memit(S(10), S(1));
    o.alpha = bad;
    REQUIRE_THROWS_WITH(seqedit::SequentialEditor<S>(p.w0, p.c0, o), Contains("alpha"));
    REQUIRE_THROWS_AS(seqedit::OneTimeEditor<S>(p.c0, o), std::invalid_argument);
  }
}

TEMPLATE_TEST_CASE("Singular systems raise numerical_error", "[bad-input][singular]", float,
                   double) {
  using S = TestType;
  const auto p = small_problem<S>(4, 8);  // C0 has 8 eigenvalues in [1e-6, 1e-3]
  const seqedit::Objective<S> none;       // λ = α = 0
  // λ = α = 0, P = I: M_0 = 0.
  REQUIRE_THROWS_AS(seqedit::SequentialEditor<S>(p.w0, p.c0, none), seqedit::numerical_error);
  // AlphaEdit without ridge: M_0 = Uᵀ 0 U = 0.
  {
    typename seqedit::SequentialEditor<S>::Options opt;
    opt.projector = seqedit::NullSpaceProjector<S>(p.c0);
    REQUIRE(opt.projector->rank() == 8);
    REQUIRE_THROWS_AS(
        seqedit::SequentialEditor<S>(p.w0, p.c0, seqedit::Objective<S>::alphaedit(S(0)), opt),
        seqedit::numerical_error);
  }
  // MEMIT (α = 0) on a C0 with an exact zero eigenvalue: C0 = I − e1 e1ᵀ.
  {
    Mat<S> c0_singular = Mat<S>::Identity(24, 24);
    c0_singular(0, 0) = S(0);
    REQUIRE_THROWS_AS(
        seqedit::SequentialEditor<S>(p.w0, c0_singular, seqedit::Objective<S>::memit(S(10))),
        seqedit::numerical_error);
    // The same C0 with a ridge is fine.
    CHECK_NOTHROW(seqedit::SequentialEditor<S>(p.w0, c0_singular,
                                               seqedit::Objective<S>::memit(S(10), S(1))));
  }

  // OneTimeEditor with λ = α = 0, P = I: fewer edits than d_k is singular ...
  const seqedit::OneTimeEditor<S> ote(p.c0, none);
  const Mat<S> k_few = p.keys_upto(4);  // 16 < 24
  const Mat<S> v_few = p.values_upto(4);
  REQUIRE_THROWS_AS(ote.solve(p.w0, k_few, v_few), seqedit::numerical_error);
  REQUIRE_THROWS_AS(ote.solve_residual(k_few, v_few), seqedit::numerical_error);
  // ... and more edits than d_k is plain least squares.
  std::mt19937 gen(5);
  const Mat<S> k_many = gaussian(24, 60, gen).template cast<S>();
  const Mat<S> v_many = gaussian(12, 60, gen).template cast<S>();
  Mat<S> delta;
  REQUIRE_NOTHROW(delta = ote.solve(p.w0, k_many, v_many));
  const MatD kd = k_many.template cast<double>();
  const MatD rd = v_many.template cast<double>() - p.w0.template cast<double>() * kd;
  const MatD expected =
      (kd * kd.transpose()).ldlt().solve(kd * rd.transpose()).transpose();
  const double err = rel_err(delta, expected);
  INFO("least squares with more edits than d_k: relative error " << err);
  CHECK(err <= tolerance<S>(spd_condition(kd * kd.transpose()), 1e-12));
}

TEMPLATE_TEST_CASE("Empty batches and invalid options", "[bad-input][options]", float, double) {
  using S = TestType;
  const auto p = small_problem<S>(6, 8);
  const auto obj = seqedit::Objective<S>::memit(S(10), S(1));
  using Editor = seqedit::SequentialEditor<S>;

  Editor ed(p.w0, p.c0, obj);
  const Snapshot<Editor> snap(ed);
  REQUIRE_THROWS_WITH(ed.apply(Mat<S>(24, 0), Mat<S>(12, 0)), Contains("empty"));
  REQUIRE_THROWS_AS(ed.apply_residual(Mat<S>(24, 0), Mat<S>(12, 0)), std::invalid_argument);
  CHECK(snap.same(ed));
  const seqedit::OneTimeEditor<S> ote(p.c0, obj);
  REQUIRE_THROWS_AS(ote.solve(p.w0, Mat<S>(24, 0), Mat<S>(12, 0)), std::invalid_argument);
  REQUIRE_THROWS_AS(ote.solve_residual(Mat<S>(24, 0), Mat<S>(12, 0)), std::invalid_argument);

  // Compensation::Analytic needs History::Aligned.
  for (auto h : {seqedit::History::LatestOnly, seqedit::History::None}) {
    typename Editor::Options opt;
    opt.history = h;
    opt.compensation = seqedit::Compensation::Analytic;
    REQUIRE_THROWS_AS(opt.check(), std::invalid_argument);
    REQUIRE_THROWS_WITH(Editor(p.w0, p.c0, obj, opt), Contains("compensation"));
  }
  // An empty projector, and a projector of rank 0.
  {
    typename Editor::Options opt;
    opt.projector = seqedit::NullSpaceProjector<S>();
    REQUIRE_THROWS_WITH(Editor(p.w0, p.c0, obj, opt), Contains("empty"));
    opt.projector = seqedit::NullSpaceProjector<S>::from_basis(Mat<S>(24, 0));
    REQUIRE(opt.projector->rank() == 0);
    REQUIRE_THROWS_WITH(Editor(p.w0, p.c0, obj, opt), Contains("rank 0"));
    REQUIRE_THROWS_AS(seqedit::OneTimeEditor<S>(p.c0, obj, seqedit::NullSpaceProjector<S>()),
                      std::invalid_argument);
  }
}

TEMPLATE_TEST_CASE("retract and replace need History::Aligned", "[bad-input][history]", float,
                   double) {
  using S = TestType;
  const auto p = small_problem<S>(7);
  using Editor = seqedit::SequentialEditor<S>;
  for (auto h : {seqedit::History::LatestOnly, seqedit::History::None}) {
    typename Editor::Options opt;
    opt.history = h;
    Editor ed(p.w0, p.c0, seqedit::Objective<S>::memit(S(10)), opt);
    const auto ids = ed.apply(p.keys[0], p.values[0]);
    const Snapshot<Editor> snap(ed);
    REQUIRE_THROWS_AS(ed.retract(ids), std::logic_error);
    REQUIRE_THROWS_WITH(ed.retract(ids), Contains("Aligned"));
    REQUIRE_THROWS_AS(ed.replace(ids, p.keys[1], p.values[1]), std::logic_error);
    REQUIRE_THROWS_AS(ed.replace_residual(ids, p.keys[1], p.values[1]), std::logic_error);
    CHECK(snap.same(ed));
    // logic_error, not its subclass invalid_argument.
    bool is_invalid_argument = false;
    try {
      ed.retract(ids);
    } catch (const std::invalid_argument&) {
      is_invalid_argument = true;
    } catch (const std::logic_error&) {
    }
    CHECK_FALSE(is_invalid_argument);
  }
}

TEMPLATE_TEST_CASE("A rejected apply leaves the editor bit-for-bit unchanged",
                   "[bad-input][unchanged]", float, double) {
  using S = TestType;
  const auto p = small_problem<S>(8, 8);
  using Reg = Faulty<S>;
  using Editor = seqedit::SequentialEditor<S, Reg>;
  for (bool compensated : {false, true}) {
    for (bool projected : {false, true}) {
      INFO("compensated " << compensated << ", projected " << projected);
      Reg reg;
      typename Editor::Options opt;
      if (compensated) opt.compensation = seqedit::Compensation::Analytic;
      if (projected) opt.projector = seqedit::NullSpaceProjector<S>(p.c0);
      const auto obj = projected ? seqedit::Objective<S>::alphaedit()
                                 : seqedit::Objective<S>::memit(S(10), S(1));
      Editor ed(p.w0, p.c0, obj, opt, reg);
      const auto ids = ed.apply(p.keys[0], p.values[0]);
      ed.apply(p.keys[1], p.values[1]);
      const Snapshot<Editor> snap(ed);
      REQUIRE(snap.steps == 2);
      if (compensated) REQUIRE(snap.deviation.norm() > S(0));

      const Mat<S>& k = p.keys[2];
      const Mat<S>& v = p.values[2];
      const S nan = std::numeric_limits<S>::quiet_NaN();
      CHECK_THROWS_AS(ed.apply(Mat<S>(k.topRows(20)), v), std::invalid_argument);
      CHECK_THROWS_AS(ed.apply(k, Mat<S>(v.topRows(5))), std::invalid_argument);
      CHECK_THROWS_AS(ed.apply(with_value<S>(k, 1, 1, nan), v), std::invalid_argument);
      CHECK_THROWS_AS(ed.apply(k, with_value<S>(v, 1, 1, nan)), std::invalid_argument);
      CHECK_THROWS_AS(ed.apply_residual(k, with_value<S>(v, 2, 2, nan)), std::invalid_argument);
      CHECK_THROWS_AS(ed.apply(Mat<S>(24, 0), Mat<S>(12, 0)), std::invalid_argument);
      CHECK(snap.same(ed));

      // Failures inside the step, after the update has been computed.
      *reg.mode = Reg::Throw;
      CHECK_THROWS_WITH(ed.apply(k, v), Contains("refuses"));
      CHECK_THROWS_AS(ed.replace({ids[0]}, k, v), std::invalid_argument);
      CHECK_THROWS_AS(ed.retract({ids[1]}), std::invalid_argument);
      *reg.mode = Reg::WrongShape;
      CHECK_THROWS_AS(ed.apply(k, v), std::invalid_argument);
      *reg.mode = Reg::NotFinite;
      CHECK_THROWS_AS(ed.apply(k, v), std::invalid_argument);
      CHECK(snap.same(ed));

      // Once the regulariser behaves again, the editor carries on from the same state.
      *reg.mode = Reg::Pass;
      CHECK_NOTHROW(ed.apply(k, v));
      CHECK(ed.steps() == 3);
    }
  }
}

TEMPLATE_TEST_CASE("Invalid saved states are rejected", "[bad-input][state]", float, double) {
  using S = TestType;
  const auto p = small_problem<S>(9);
  seqedit::SequentialEditor<S> ed(p.w0, p.c0, seqedit::Objective<S>::memit(S(10)));
  ed.apply(p.keys[0], p.values[0]);
  ed.apply(p.keys[1], p.values[1]);
  const auto good = ed.state();
  CHECK_NOTHROW(seqedit::SequentialEditor<S>(good));

  auto s = good;
  s.system_inverse = Mat<S>(s.system_inverse.topLeftCorner(23, 23));
  CHECK_THROWS_WITH(seqedit::SequentialEditor<S>(s), Contains("23 x 23") && Contains("24 x 24"));
  s = good;
  s.weights(0, 0) = std::numeric_limits<S>::quiet_NaN();
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
  s = good;
  s.journal_serials[1] = s.journal_serials[0];
  CHECK_THROWS_WITH(seqedit::SequentialEditor<S>(s), Contains("serials"));
  s = good;
  s.next_serial = s.journal_serials.back();
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
  s = good;
  s.steps = -1;
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
  s = good;
  s.journal_keys = Mat<S>(s.journal_keys.leftCols(3));
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
  s = good;
  s.objective.alpha = S(-1);
  CHECK_THROWS_WITH(seqedit::SequentialEditor<S>(s), Contains("alpha"));
  s = good;
  s.history = seqedit::History::None;
  s.compensation = seqedit::Compensation::Analytic;
  s.deviation = Mat<S>::Zero(12, 24);
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
  s = good;
  s.projector_basis = Mat<S>::Ones(24, 3);  // not orthonormal
  CHECK_THROWS_AS(seqedit::SequentialEditor<S>(s), std::invalid_argument);
}

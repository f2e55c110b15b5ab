// Explicit instantiation of every class template for float and double, so that members
// no other test calls still compile (with the project's warnings as errors).

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <type_traits>

#include "support/problems.hpp"

template struct seqedit::Objective<float>;
template struct seqedit::Objective<double>;
template class seqedit::NullSpaceProjector<float>;
template class seqedit::NullSpaceProjector<double>;
template class seqedit::OneTimeEditor<float>;
template class seqedit::OneTimeEditor<double>;
template class seqedit::Journal<float>;
template class seqedit::Journal<double>;
template struct seqedit::NoRegulariser<float>;
template struct seqedit::NoRegulariser<double>;
template struct seqedit::EditorOptions<float>;
template struct seqedit::EditorOptions<double>;
template struct seqedit::EditorState<float>;
template struct seqedit::EditorState<double>;
template class seqedit::SequentialEditor<float>;
template class seqedit::SequentialEditor<double>;

namespace seqedit_test {
/// A regulariser that is not the identity, to instantiate the regularised code paths.
template <typename S>
struct Halve {
  using Scalar = S;
  using Matrix = Mat<S>;
  Matrix operator()(const Matrix& delta, const Matrix& /*w_ref*/) const { return S(0.5) * delta; }
};
}  // namespace seqedit_test

template class seqedit::SequentialEditor<float, seqedit_test::Halve<float>>;
template class seqedit::SequentialEditor<double, seqedit_test::Halve<double>>;

template struct seqedit::PruneOptions<float>;
template struct seqedit::PruneOptions<double>;
template class seqedit::Prune<float>;
template class seqedit::Prune<double>;
template class seqedit::SequentialEditor<float, seqedit::Prune<float>>;
template class seqedit::SequentialEditor<double, seqedit::Prune<double>>;
template class seqedit::Rect<float>;
template class seqedit::Rect<double>;
template class seqedit::SequentialEditor<float, seqedit::Rect<float>>;
template class seqedit::SequentialEditor<double, seqedit::Rect<double>>;

using namespace seqedit_test;

TEST_CASE("Aliases name the float and double instantiations", "[instantiation]") {
  STATIC_REQUIRE(std::is_same<seqedit::Objectived, seqedit::Objective<double>>::value);
  STATIC_REQUIRE(std::is_same<seqedit::Objectivef, seqedit::Objective<float>>::value);
  STATIC_REQUIRE(
      std::is_same<seqedit::NullSpaceProjectord, seqedit::NullSpaceProjector<double>>::value);
  STATIC_REQUIRE(
      std::is_same<seqedit::NullSpaceProjectorf, seqedit::NullSpaceProjector<float>>::value);
  STATIC_REQUIRE(std::is_same<seqedit::OneTimeEditord, seqedit::OneTimeEditor<double>>::value);
  STATIC_REQUIRE(std::is_same<seqedit::OneTimeEditorf, seqedit::OneTimeEditor<float>>::value);
  STATIC_REQUIRE(std::is_same<seqedit::Editor<float>, seqedit::SequentialEditor<float>>::value);
  STATIC_REQUIRE(!seqedit::SequentialEditor<double>::regularised);
  STATIC_REQUIRE(seqedit::SequentialEditor<double, Halve<double>>::regularised);
  STATIC_REQUIRE(seqedit::SequentialEditor<double, seqedit::Prune<double>>::regularised);
  STATIC_REQUIRE(seqedit::SequentialEditor<float, seqedit::Rect<float>>::regularised);
}

TEMPLATE_TEST_CASE("Every instantiated class runs once", "[instantiation]", float, double) {
  using S = TestType;
  Spec spec;
  spec.dk = 12;
  spec.dv = 6;
  spec.n = 3;
  spec.steps = 3;
  spec.null_dim = 5;
  const auto p = make_problem(spec).template cast<S>();
  const seqedit::NullSpaceProjector<S> proj(p.c0);
  REQUIRE(proj.rank() == 5);
  // The member template apply(): P X = U (Uᵀ X).
  const Mat<S> px = proj.apply(p.keys[0]);
  CHECK(rel_err(px, MatD(proj.matrix().template cast<double>() *
                         p.keys[0].template cast<double>())) <= 100 * eps<S>());

  const seqedit::OneTimeEditor<S> ote(p.c0, seqedit::Objective<S>::alphaedit(), proj);
  const Mat<S> delta = ote.solve(p.w0, p.keys[0], p.values[0]);

  typename seqedit::SequentialEditor<S, Halve<S>>::Options opt;
  opt.projector = proj;
  opt.compensation = seqedit::Compensation::Analytic;
  seqedit::SequentialEditor<S, Halve<S>> ed(p.w0, p.c0, seqedit::Objective<S>::alphaedit(), opt);
  ed.apply(p.keys[0], p.values[0]);
  // One step: Δ_1 = Δ*_1, applied halved, e_1 = −Δ*_1 / 2.
  CHECK(rel_err(ed.cumulative_update(), MatD(0.5 * delta.template cast<double>())) <=
        100 * eps<S>());
  CHECK(rel_err(ed.deviation(), MatD(-0.5 * delta.template cast<double>())) <= 100 * eps<S>());
  CHECK(ed.state_scalars() == 5 * 5 + 2 * 6 * 12 + 6 * 12 + 12 * 5);
  CHECK(ed.reduced_dim() == 5);
  CHECK(ed.key_dim() == 12);
  CHECK(ed.value_dim() == 6);

  // Journal on its own.
  seqedit::Journal<S> j(12, 6);
  std::uint64_t serial = 1;
  const auto ids = j.append(p.keys[1], p.values[1], 42, serial);
  CHECK(serial == 4);
  CHECK(j.size() == 3);
  j.erase({1});
  CHECK(j.size() == 2);
  CHECK(j.ids() == std::vector<seqedit::EditId>{ids[0], ids[2]});
  CHECK(bit_equal<S>(Mat<S>(j.keys().col(1)), Mat<S>(p.keys[1].col(2))));
  Mat<S> k, v;
  j.gather(j.locate({ids[2]}, 42), k, v);
  CHECK(bit_equal<S>(k, Mat<S>(p.keys[1].col(2))));
  CHECK(bit_equal<S>(v, Mat<S>(p.values[1].col(2))));

  {
    // λ = 1 with ridge α = 1: this C0 has a 5-dimensional null space.
    seqedit::SequentialEditor<S, seqedit::Prune<S>> pe(p.w0, p.c0,
                                                       seqedit::Objective<S>::memit(S(1), S(1)));
    CHECK_NOTHROW(pe.apply(p.keys[0], p.values[0]));
  }
  {
    seqedit::SequentialEditor<S, seqedit::Rect<S>> re(p.w0, p.c0,
                                                      seqedit::Objective<S>::memit(S(1), S(1)),
                                                      {}, seqedit::Rect<S>(0.4));
    CHECK_NOTHROW(re.apply(p.keys[0], p.values[0]));
  }
}

// Block-lower storage of the editor's inverse (detail/block_symmetric.hpp): the product and
// the rank-c update agree with dense arithmetic on the full symmetric matrix, and the
// blocks above the diagonal blocks are never read (they are filled with NaN here).

#include <catch2/catch.hpp>

#include <seqedit/detail/block_symmetric.hpp>
#include <seqedit/seqedit.hpp>

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "support/problems.hpp"

namespace block_symmetric_test {

// The same entities as seqedit_test's (other files of a unity batch import both).
using seqedit_test::Index;
using seqedit_test::MatD;
constexpr Index B = seqedit::detail::kSymmetricBlock;

MatD random_matrix(Index rows, Index cols, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  MatD m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = nd(gen);
  return m;
}

// A symmetric r × r matrix, and a copy whose blocks above the diagonal blocks hold NaN.
template <typename Mat>
void symmetric_with_poisoned_upper(Index r, std::uint32_t seed, Mat& full, Mat& poisoned) {
  const MatD x = random_matrix(r, r, seed);
  full = (x + x.transpose()).template cast<typename Mat::Scalar>();
  poisoned = full;
  for (Index j0 = 0; j0 < r; j0 += B) {
    const Index j1 = std::min(r, j0 + B);
    if (j1 < r)
      poisoned.block(j0, j1, j1 - j0, r - j1).setConstant(
          std::numeric_limits<typename Mat::Scalar>::quiet_NaN());
  }
}

template <typename Mat>
double rel(const Mat& a, const Mat& b) {
  return double((a - b).norm()) / double(b.norm());
}

}  // namespace block_symmetric_test

using namespace block_symmetric_test;

TEMPLATE_TEST_CASE("block-lower product equals the dense symmetric product", "[block_symmetric]",
                   float, double) {
  using Mat = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
  const double tol = sizeof(TestType) == 8 ? 1e-13 : 2e-5;
  // One block, a block boundary, one row past it, several blocks with a short last one.
  for (Index r : {Index(1), Index(7), B - 1, B, B + 1, 2 * B + 37}) {
    for (Index c : {Index(1), Index(13)}) {
      CAPTURE(r, c);
      Mat full, stored;
      symmetric_with_poisoned_upper(r, std::uint32_t(r * 31 + c), full, stored);
      const Mat k = random_matrix(r, c, std::uint32_t(r + 5 * c)).template cast<TestType>();
      Mat g;
      seqedit::detail::block_lower_product(stored, k, g);
      REQUIRE(g.rows() == r);
      REQUIRE(g.cols() == c);
      REQUIRE(g.allFinite());  // no NaN from the unread blocks
      const Mat expected = full * k;
      CHECK(rel(g, expected) < tol);
    }
  }
}

TEMPLATE_TEST_CASE("block-lower rank update equals the dense update on the stored blocks",
                   "[block_symmetric]", float, double) {
  using Mat = Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic>;
  const double tol = sizeof(TestType) == 8 ? 1e-14 : 1e-6;
  for (Index r : {Index(3), B, B + 1, 2 * B + 37}) {
    CAPTURE(r);
    Mat full, stored;
    symmetric_with_poisoned_upper(r, std::uint32_t(r), full, stored);
    const Mat zp = random_matrix(r, 9, 11).template cast<TestType>();
    const Mat zn = random_matrix(r, 4, 12).template cast<TestType>();
    seqedit::detail::block_lower_rank_update(stored, zp, TestType(-1));
    seqedit::detail::block_lower_rank_update(stored, zn, TestType(1));
    seqedit::detail::block_lower_rank_update(stored, Mat(r, 0), TestType(1));  // no-op
    const Mat expected = full - zp * zp.transpose() + zn * zn.transpose();
    const Mat back = seqedit::detail::block_lower_to_full(stored);
    REQUIRE(back.allFinite());  // every poisoned block was replaced from below
    CHECK(rel(back, expected) < tol);
    // Off the diagonal blocks the two triangles are exact copies.
    for (Index j0 = 0; j0 < r; j0 += B) {
      const Index j1 = std::min(r, j0 + B);
      if (j1 < r) {
        const Mat upper = back.block(j0, j1, j1 - j0, r - j1);
        const Mat lower_t = back.block(j1, j0, r - j1, j1 - j0).transpose();
        CHECK((upper.array() == lower_t.array()).all());
      }
    }
    // The product of the updated storage is the product with the updated matrix.
    const Mat k = random_matrix(r, 5, 13).template cast<TestType>();
    Mat g;
    seqedit::detail::block_lower_product(stored, k, g);
    CHECK(rel(g, Mat(expected * k)) < 10 * tol);
  }
}

TEST_CASE("block-lower product of a 2 x 2 case computed by hand", "[block_symmetric]") {
  MatD a(2, 2);
  a << 2, 1,
       1, 3;
  MatD k(2, 1);
  k << 1, -1;
  MatD g;
  seqedit::detail::block_lower_product(a, k, g);
  CHECK(g(0, 0) == 1.0);   // 2·1 + 1·(−1)
  CHECK(g(1, 0) == -2.0);  // 1·1 + 3·(−1)
}

TEST_CASE("an editor with several storage blocks stays equal to the one-time solution",
          "[block_symmetric][sequential]") {
  // d_k = b + 76: two column blocks, the second one short.
  seqedit_test::Spec spec;
  spec.dk = B + 76;
  spec.dv = 12;
  spec.n = 40;
  spec.steps = 6;
  spec.seed = 77;
  const auto p = seqedit_test::make_problem(spec);
  const auto obj = seqedit::Objective<double>::memit(200.0);
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, obj);
  std::vector<std::vector<seqedit::EditId>> ids;
  for (Index t = 0; t < spec.steps; ++t) ids.push_back(ed.apply(p.keys[std::size_t(t)], p.values[std::size_t(t)]));
  const seqedit::OneTimeEditor<double> ote(p.c0, obj);
  const MatD all = ote.solve(p.w0, p.keys_upto(spec.steps), p.values_upto(spec.steps));
  const double gap = seqedit_test::rel_err(ed.cumulative_update(), all);
  CHECK(gap < 1e-11);

  // The exported inverse is symmetric and inverts the system it stands for.
  const MatD minv = ed.system_inverse();
  CHECK((minv - minv.transpose()).norm() <= 1e-12 * minv.norm());
  const MatD kall = p.keys_upto(spec.steps);
  MatD a = obj.lambda * p.c0;
  a.noalias() += kall * kall.transpose();
  CHECK((a * minv - MatD::Identity(spec.dk, spec.dk)).norm() < 1e-9);

  // Retracting the first batch: the one-time solution over the other five.
  ed.retract(ids.front());
  const MatD rest = ote.solve(p.w0, p.keys_range(1, spec.steps), p.values_range(1, spec.steps));
  CHECK(seqedit_test::rel_err(ed.cumulative_update(), rest) < 1e-11);

  // A state round trip continues bit for bit.
  seqedit::SequentialEditor<double> copy(ed.state());
  std::mt19937 gen(5);
  const MatD k = seqedit_test::gaussian(spec.dk, 9, gen);
  const MatD v = p.w0 * k;
  ed.apply(k, v);
  copy.apply(k, v);
  CHECK(seqedit_test::bit_equal<double>(ed.weights(), copy.weights()));
  CHECK(seqedit_test::bit_equal<double>(ed.system_inverse(), copy.system_inverse()));
}

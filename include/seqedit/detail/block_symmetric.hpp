#ifndef SEQEDIT_DETAIL_BLOCK_SYMMETRIC_HPP
#define SEQEDIT_DETAIL_BLOCK_SYMMETRIC_HPP

/// \file block_symmetric.hpp
/// Products with a symmetric matrix kept in *block-lower* storage, built from general
/// matrix products (GEMM) only.
///
/// An r × r symmetric matrix A is cut into column blocks of `kSymmetricBlock` columns. In
/// block-lower storage the diagonal blocks are held in full (both triangles) and the blocks
/// below them are valid; the blocks above the diagonal blocks are never read and may hold
/// stale values. The two kernels the sequential editor needs then cost
///
///   G = A K      2 r² c flops  (as a GEMM on full storage),
///   A ± Z Zᵀ     r² c (1 + b/r) flops (a full-storage GEMM update needs 2 r² c),
///
/// and every flop is done by GEMM calls, which Eigen runs on all its threads; Eigen's own
/// symmetric kernels (`selfadjointView` products and `rankUpdate`) do not use threads.
/// Measured at r = 6400, c = 100, double, two cores (tests/benchmarks, "GEMM rate against
/// the step"): product 115 ms (GEMM on full storage 94 ms, Eigen's SYMM 206 ms); update
/// 68 ms (GEMM on full storage 107 ms, Eigen's `rankUpdate` 87 ms). The pair costs 183 ms
/// against 201 ms with full storage and 293 ms with the symmetric kernels.
///
/// The result of each kernel depends only on r, the operands and Eigen's GEMM (fixed block
/// size, fixed summation order), so it is reproducible from a saved state.

#include <Eigen/Core>

#include <algorithm>

namespace seqedit {
namespace detail {

/// Column-block width b of block-lower storage.
constexpr Eigen::Index kSymmetricBlock = 512;

/// g = A k, A symmetric in block-lower storage (r × r), k r × c; g is resized to r × c.
template <typename Matrix, typename Rhs>
void block_lower_product(const Matrix& a, const Rhs& k, Matrix& g) {
  using Index = Eigen::Index;
  const Index r = a.rows();
  g.setZero(r, k.cols());
  for (Index j0 = 0; j0 < r; j0 += kSymmetricBlock) {
    const Index b = std::min(kSymmetricBlock, r - j0);
    const Index j1 = j0 + b;
    // The diagonal block and the blocks below it, times k's rows j0..j1.
    g.bottomRows(r - j0).noalias() += a.block(j0, j0, r - j0, b) * k.middleRows(j0, b);
    // The blocks above the diagonal block, read as the transpose of those below it.
    if (j1 < r)
      g.middleRows(j0, b).noalias() += a.block(j1, j0, r - j1, b).transpose() * k.bottomRows(r - j1);
  }
}

/// A += sign · z zᵀ on the block-lower part of A (r × r), z r × c, sign = ±1.
template <typename Matrix, typename Factor>
void block_lower_rank_update(Matrix& a, const Factor& z, typename Matrix::Scalar sign) {
  using Index = Eigen::Index;
  const Index r = a.rows();
  if (z.cols() == 0) return;
  for (Index j0 = 0; j0 < r; j0 += kSymmetricBlock) {
    const Index b = std::min(kSymmetricBlock, r - j0);
    if (sign < 0)
      a.block(j0, j0, r - j0, b).noalias() -= z.bottomRows(r - j0) * z.middleRows(j0, b).transpose();
    else
      a.block(j0, j0, r - j0, b).noalias() += z.bottomRows(r - j0) * z.middleRows(j0, b).transpose();
  }
}

/// The full symmetric matrix held in block-lower storage: the blocks above the diagonal
/// blocks are copied from the transposed blocks below them; the rest is copied as stored.
template <typename Matrix>
Matrix block_lower_to_full(const Matrix& a) {
  using Index = Eigen::Index;
  const Index r = a.rows();
  Matrix full = a;
  for (Index j0 = 0; j0 < r; j0 += kSymmetricBlock) {
    const Index b = std::min(kSymmetricBlock, r - j0);
    const Index j1 = j0 + b;
    if (j1 < r) full.block(j0, j1, b, r - j1) = a.block(j1, j0, r - j1, b).transpose();
  }
  return full;
}

}  // namespace detail
}  // namespace seqedit

#endif  // SEQEDIT_DETAIL_BLOCK_SYMMETRIC_HPP

#ifndef SEQEDIT_DETAIL_SYMMETRIC_EIGEN_HPP
#define SEQEDIT_DETAIL_SYMMETRIC_EIGEN_HPP

#include <Eigen/Eigenvalues>

#include "../errors.hpp"
#include "../progress.hpp"

#if defined(EIGEN_USE_LAPACKE)
#include "lapack_eigen.hpp"
#endif

namespace seqedit {
namespace detail {

/// All eigenvalues of the symmetric matrix `a` (ascending) and the orthonormal
/// eigenvectors of those strictly below `threshold` (the columns of `basis`).
///
/// Stages, each reported: Householder tridiagonalisation (4d³/3 flops), implicit QR on the
/// tridiagonal matrix with accumulated rotations, back-transformation of the selected
/// columns only (2d²r flops).
///
/// With Eigen's LAPACKE backend on (`EIGEN_USE_LAPACKE`), float and double matrices go
/// through LAPACK instead (?sytrd, ?sterf, ?stemr for the selected eigenvectors only,
/// ?ormtr; see lapack_eigen.hpp).
template <typename Matrix, typename Vector, typename RealScalar>
void symmetric_eigen_below(const Eigen::Ref<const Matrix>& a, RealScalar threshold,
                           Vector& eigenvalues, Matrix& basis, const ProgressCallback& progress) {
#if defined(EIGEN_USE_LAPACKE)
  if constexpr (lapack::supported<Matrix>::value) {
    symmetric_eigen_below_lapack<Matrix>(a, threshold, eigenvalues, basis, progress);
    return;
  }
#endif
  report(progress, "tridiagonalisation", 0.0);
  Eigen::Tridiagonalization<Matrix> tri(a);
  report(progress, "tridiagonal eigensolver", 0.4);
  Eigen::SelfAdjointEigenSolver<Matrix> es;
  Vector diag = tri.diagonal();
  Vector sub = tri.subDiagonal();
  es.computeFromTridiagonal(diag, sub, Eigen::ComputeEigenvectors);
  if (es.info() != Eigen::Success) {
    throw numerical_error("seqedit: the symmetric eigensolver did not converge");
  }
  eigenvalues = es.eigenvalues();
  Eigen::Index r = 0;
  while (r < eigenvalues.size() && eigenvalues(r) < threshold) ++r;
  report(progress, "back-transformation", 0.9);
  basis.resize(a.rows(), r);
  if (r > 0) basis.noalias() = tri.matrixQ() * es.eigenvectors().leftCols(r);
  report(progress, "done", 1.0);
}

}  // namespace detail
}  // namespace seqedit

#endif  // SEQEDIT_DETAIL_SYMMETRIC_EIGEN_HPP

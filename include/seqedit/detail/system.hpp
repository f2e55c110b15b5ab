#ifndef SEQEDIT_DETAIL_SYSTEM_HPP
#define SEQEDIT_DETAIL_SYSTEM_HPP

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <sstream>

#include "../errors.hpp"
#include "../objective.hpp"
#include "../projector.hpp"
#include "../tolerances.hpp"

namespace seqedit {
namespace detail {

/// Reciprocal condition number at or below which an SPD factorisation counts as singular:
/// `tolerances::spd_rcond_min` (2ε).
template <typename RealScalar>
RealScalar singular_rcond(Eigen::Index /*n*/) {
  return tolerances::spd_rcond_min<RealScalar>();
}

/// Throws seqedit::numerical_error naming `what` unless the Cholesky factorisation `llt`
/// of an n × n system succeeded with a reciprocal condition estimate above `rcond_min`
/// (negative: `tolerances::spd_rcond_min`, 2ε). Returns the estimate.
template <typename LLT>
typename Eigen::NumTraits<typename LLT::Scalar>::Real check_spd_factor(
    const LLT& llt, Eigen::Index n, const char* what,
    typename Eigen::NumTraits<typename LLT::Scalar>::Real rcond_min = -1) {
  using RealScalar = typename Eigen::NumTraits<typename LLT::Scalar>::Real;
  if (rcond_min < RealScalar(0)) rcond_min = singular_rcond<RealScalar>(n);
  std::ostringstream os;
  os << "seqedit: " << what << " (" << n << " x " << n << ") ";
  if (llt.info() != Eigen::Success) {
    os << "is not positive definite";
    throw numerical_error(os.str());
  }
  const RealScalar rc = llt.rcond();
  if (!(rc > rcond_min)) {
    os << "is numerically singular (reciprocal condition number " << rc << " <= " << rcond_min
       << ")";
    throw numerical_error(os.str());
  }
  return rc;
}

/// Cholesky factorisation of an SPD system, or seqedit::numerical_error naming `what`.
template <typename Matrix>
Eigen::LLT<Matrix> factor_spd(const Matrix& a, const char* what) {
  Eigen::LLT<Matrix> llt(a);
  check_spd_factor(llt, a.rows(), what);
  return llt;
}

/// Copies the strictly lower triangle of a square matrix onto its strictly upper one, in
/// place, so that the matrix is exactly symmetric.
template <typename Matrix>
void symmetrize_from_lower(Matrix& m) {
  const Eigen::Index n = m.rows();
  for (Eigen::Index j = 1; j < n; ++j)
    for (Eigen::Index i = 0; i < j; ++i) m(i, j) = m(j, i);
}

/// Inverse of an SPD matrix, computed in place: `a` is overwritten by its Cholesky factor
/// and `inv` receives a⁻¹, stored in full and exactly symmetric. Peak memory: `a` and
/// `inv` only (no further n × n copies). Throws seqedit::numerical_error naming `what` if
/// `a` is not numerically definite.
template <typename Matrix>
void invert_spd_in_place(Matrix& a, Matrix& inv, const char* what,
                         typename Eigen::NumTraits<typename Matrix::Scalar>::Real rcond_min = -1) {
  Eigen::LLT<Eigen::Ref<Matrix>> llt(a);
  check_spd_factor(llt, a.rows(), what, rcond_min);
  inv.setIdentity(a.rows(), a.cols());
  llt.solveInPlace(inv);
  symmetrize_from_lower(inv);
}

/// The edit-free part of the system in the coordinates of range(P) (math.md section 2):
/// M0 = Uᵀ(λ C0)U + α I_r with a projector, λ C0 + α I without one.
template <typename Matrix, typename Projector, typename Objective>
Matrix base_system(const Eigen::Ref<const Matrix>& c0, const Objective& obj,
                   const Projector* projector) {
  using Scalar = typename Matrix::Scalar;
  Matrix m;
  if (projector) {
    const Matrix& u = projector->basis();
    m.resize(u.cols(), u.cols());
    if (obj.lambda != Scalar(0)) {
      const Matrix cu = c0 * u;
      m.noalias() = u.transpose() * cu;
      m *= Scalar(obj.lambda);
      m = Scalar(0.5) * (m + m.transpose()).eval();
    } else {
      m.setZero();
    }
  } else {
    m = Scalar(obj.lambda) * c0;
  }
  m.diagonal().array() += Scalar(obj.alpha);
  return m;
}

}  // namespace detail
}  // namespace seqedit

#endif  // SEQEDIT_DETAIL_SYSTEM_HPP

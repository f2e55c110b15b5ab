#ifndef SEQEDIT_DETAIL_SYSTEM_HPP
#define SEQEDIT_DETAIL_SYSTEM_HPP

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <sstream>

#include "../errors.hpp"
#include "../objective.hpp"
#include "../projector.hpp"

namespace seqedit {
namespace detail {

/// Reciprocal condition number (LLT's 1-norm estimate) at or below which an SPD
/// factorisation counts as singular: 2ε. Exactly singular PSD matrices factor, when they
/// factor at all, with an estimate below ε; anything above 2ε is accepted, so a float
/// system with condition number up to ~4e6 is still solved (with the accuracy that
/// condition number allows).
template <typename RealScalar>
RealScalar singular_rcond(Eigen::Index /*n*/) {
  return RealScalar(2) * Eigen::NumTraits<RealScalar>::epsilon();
}

/// Throws seqedit::numerical_error naming `what` unless the Cholesky factorisation `llt`
/// of an n × n system succeeded with a reciprocal condition estimate above 2ε.
template <typename LLT>
void check_spd_factor(const LLT& llt, Eigen::Index n, const char* what) {
  using RealScalar = typename Eigen::NumTraits<typename LLT::Scalar>::Real;
  std::ostringstream os;
  os << "seqedit: " << what << " (" << n << " x " << n << ") ";
  if (llt.info() != Eigen::Success) {
    os << "is not positive definite";
    throw numerical_error(os.str());
  }
  const RealScalar rc = llt.rcond();
  if (!(rc > singular_rcond<RealScalar>(n))) {
    os << "is numerically singular (reciprocal condition number " << rc << ")";
    throw numerical_error(os.str());
  }
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
void invert_spd_in_place(Matrix& a, Matrix& inv, const char* what) {
  Eigen::LLT<Eigen::Ref<Matrix>> llt(a);
  check_spd_factor(llt, a.rows(), what);
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

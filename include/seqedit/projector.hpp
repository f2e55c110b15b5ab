#ifndef SEQEDIT_PROJECTOR_HPP
#define SEQEDIT_PROJECTOR_HPP

/// \file projector.hpp
/// The null-space projector of AlphaEdit, math.md section 8.

#include <Eigen/Core>

#include <cmath>
#include <sstream>
#include <utility>
#include <stdexcept>

#include "detail/checks.hpp"
#include "detail/symmetric_eigen.hpp"
#include "errors.hpp"
#include "progress.hpp"
#include "tolerances.hpp"

namespace seqedit {

/// Orthogonal projector P = U Uᵀ onto the (approximate) null space of C0 (math.md section 8).
///
/// C0 (d_k × d_k, symmetric positive semidefinite, *not* scaled) is eigen-decomposed;
/// U holds the orthonormal eigenvectors whose eigenvalue is strictly below an absolute
/// threshold (AlphaEdit: 2e-2). Then ‖C0 P‖₂ = max of those eigenvalues < threshold.
/// Computed once, before editing: O(d_k³) (tridiagonalisation and implicit QR), plus
/// 2 d_k² r for the selected eigenvectors. Memory: d_k·r + d_k scalars.
///
/// Only U is stored; `matrix()` forms the dense d_k × d_k P on request. The editors use
/// U directly (the reduced form of math.md section 2).
///
/// \tparam Scalar_ `float` or `double`.
///
/// \code
///   Eigen::MatrixXd C0 = ...;                       // d_k x d_k
///   seqedit::NullSpaceProjector<double> P(C0);      // threshold 2e-2
///   std::cout << P.rank() << " free directions\n";
/// \endcode
template <typename Scalar_>
class NullSpaceProjector {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Index = Eigen::Index;

  /// AlphaEdit's threshold on the eigenvalues of C0.
  static constexpr double default_threshold = 2e-2;

  /// An empty projector; call `compute()` before use.
  NullSpaceProjector() = default;

  /// Computes the projector of C0 with the given absolute eigenvalue threshold.
  explicit NullSpaceProjector(const Eigen::Ref<const Matrix>& c0,
                              RealScalar threshold = RealScalar(default_threshold),
                              const ProgressCallback& progress = {}) {
    compute(c0, threshold, progress);
  }

  /// (Re)computes the projector. Throws std::invalid_argument if C0 is not square,
  /// not symmetric, holds NaN/Inf, or the threshold is negative or not finite.
  NullSpaceProjector& compute(const Eigen::Ref<const Matrix>& c0,
                              RealScalar threshold = RealScalar(default_threshold),
                              const ProgressCallback& progress = {}) {
    if (!(threshold >= RealScalar(0)) || !detail::is_finite_bits(threshold)) {
      std::ostringstream os;
      os << "seqedit: NullSpaceProjector threshold must be finite and >= 0, got " << threshold;
      throw std::invalid_argument(os.str());
    }
    detail::report(progress, "input checks", 0.0);
    detail::check_square(c0, "C0");
    detail::check_finite(c0, "C0");
    detail::check_symmetric(c0, "C0",
                            tolerances::symmetry<RealScalar>(c0.rows()));
    Vector evals;
    Matrix basis;
    detail::symmetric_eigen_below<Matrix>(c0, threshold, evals, basis, progress);
    eigenvalues_ = std::move(evals);
    basis_ = std::move(basis);
    threshold_ = threshold;
    computed_ = true;
    return *this;
  }

  /// A projector from a given basis U (d_k × r) with orthonormal columns
  /// (‖UᵀU − I‖_max ≤ `tolerance`, else std::invalid_argument).
  static NullSpaceProjector from_basis(const Eigen::Ref<const Matrix>& basis,
                                       RealScalar tolerance = RealScalar(-1)) {
    check_basis(basis, tolerance);
    NullSpaceProjector p;
    p.basis_ = basis;
    p.threshold_ = RealScalar(-1);
    p.computed_ = true;
    return p;
  }

  /// As above, taking the basis over without a copy.
  static NullSpaceProjector from_basis(Matrix&& basis, RealScalar tolerance = RealScalar(-1)) {
    check_basis(basis, tolerance);
    NullSpaceProjector p;
    p.basis_ = std::move(basis);
    p.threshold_ = RealScalar(-1);
    p.computed_ = true;
    return p;
  }

  /// True once computed (or built from a basis).
  bool computed() const { return computed_; }
  /// d_k × r matrix U with orthonormal columns; P = U Uᵀ.
  const Matrix& basis() const { return basis_; }
  /// r, the dimension of range(P).
  Index rank() const { return basis_.cols(); }
  /// d_k, the dimension of the key space.
  Index dim() const { return basis_.rows(); }
  /// The threshold used (negative when built from a basis).
  RealScalar threshold() const { return threshold_; }
  /// All eigenvalues of C0, ascending (empty when built from a basis).
  const Vector& eigenvalues() const { return eigenvalues_; }
  /// The dense projector P = U Uᵀ (d_k × d_k). For tests and small problems.
  Matrix matrix() const { return basis_ * basis_.transpose(); }
  /// P X = U (Uᵀ X) without forming P.
  template <typename Derived>
  Matrix apply(const Eigen::MatrixBase<Derived>& x) const {
    const Matrix reduced = basis_.transpose() * x;
    return basis_ * reduced;
  }

 private:
  static void check_basis(const Eigen::Ref<const Matrix>& basis, RealScalar tolerance) {
    detail::check_finite(basis, "projector basis");
    if (basis.cols() > basis.rows()) {
      std::ostringstream os;
      os << "seqedit: projector basis is " << basis.rows() << " x " << basis.cols()
         << "; it needs at most as many columns as rows";
      throw std::invalid_argument(os.str());
    }
    if (tolerance < RealScalar(0)) {
      tolerance = tolerances::projector_orthonormality<RealScalar>(basis.rows());
    }
    const Matrix gram = basis.transpose() * basis;
    const RealScalar err =
        basis.cols() == 0
            ? RealScalar(0)
            : (gram - Matrix::Identity(basis.cols(), basis.cols())).cwiseAbs().maxCoeff();
    if (err > tolerance) {
      std::ostringstream os;
      os << "seqedit: projector basis columns are not orthonormal (max |UᵀU - I| = " << err
         << " > " << tolerance << ")";
      throw std::invalid_argument(os.str());
    }
  }

  Matrix basis_;
  Vector eigenvalues_;
  RealScalar threshold_ = RealScalar(-1);
  bool computed_ = false;
};

using NullSpaceProjectord = NullSpaceProjector<double>;
using NullSpaceProjectorf = NullSpaceProjector<float>;

}  // namespace seqedit

#endif  // SEQEDIT_PROJECTOR_HPP

#ifndef SEQEDIT_ONE_TIME_EDITOR_HPP
#define SEQEDIT_ONE_TIME_EDITOR_HPP

/// \file one_time_editor.hpp
/// The one-time-editing (OTE) closed form, math.md section 2.

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <optional>
#include <sstream>
#include <stdexcept>

#include "detail/checks.hpp"
#include "detail/system.hpp"
#include "errors.hpp"
#include "objective.hpp"
#include "projector.hpp"

namespace seqedit {

/// How `OneTimeEditor` sets up its linear system.
enum class Form {
  Auto,     ///< Reduced with a projector, full without one.
  Reduced,  ///< r × r system Uᵀ(λC0 + C)U + αI_r (math.md section 2, "reduced form").
  Full      ///< d_k × d_k system A = P(λC0 + C)P + αI; needs α > 0 when P ≠ I.
};

/// One-time editing: all edits at once, in closed form (math.md section 2)
///
///   Δ* = B P A⁻¹,   B = (V − W0 K) Kᵀ,   A = P(λ C0 + K Kᵀ)P + α I,
///
/// the unique minimiser of ‖(W0 + Δ)K − V‖² + λ‖ΔK0‖² + α‖Δ‖² subject to Δ = ΔP.
/// With a projector P = U Uᵀ the default is the reduced form
/// Δ* = B U (Uᵀ(λC0 + KKᵀ)U + αI_r)⁻¹ Uᵀ (exact also for α = 0).
///
/// This is the reference the sequential editor is measured against: each `solve` factors
/// its system from scratch (O(d_k³), or O(r³)) with a Cholesky factorisation.
/// The constructor precomputes the edit-free part (λC0 + αI, or Uᵀ λC0 U + αI_r).
///
/// \tparam Scalar_ `float` or `double`.
///
/// \code
///   seqedit::OneTimeEditor<double> ote(C0, seqedit::Objective<double>::memit(15000.0));
///   Eigen::MatrixXd delta = ote.solve(W0, K, V);     // d_v x d_k
/// \endcode
template <typename Scalar_>
class OneTimeEditor {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Index = Eigen::Index;
  using Projector = NullSpaceProjector<Scalar>;

  /// Without projector (P = I).
  OneTimeEditor(const Eigen::Ref<const Matrix>& c0, const Objective<Scalar>& objective) {
    init(c0, objective, nullptr);
  }
  /// With a null-space projector P = U Uᵀ.
  OneTimeEditor(const Eigen::Ref<const Matrix>& c0, const Objective<Scalar>& objective,
                const Projector& projector) {
    init(c0, objective, &projector);
  }

  /// Δ* for values V: residuals R0 = V − W0 K. W0 is d_v × d_k, K d_k × n, V d_v × n.
  Matrix solve(const Eigen::Ref<const Matrix>& w0, const Eigen::Ref<const Matrix>& k,
               const Eigen::Ref<const Matrix>& v, Form form = Form::Auto) const {
    check_keys(k);
    detail::check_shape(w0, w0.rows(), dk_, "W0", "its columns must match C0's size d_k");
    detail::check_shape(v, w0.rows(), k.cols(), "V", "d_v rows from W0, one column per key");
    detail::check_finite(w0, "W0");
    detail::check_finite(v, "V");
    Matrix r0 = v;
    r0.noalias() -= w0 * k;
    return solve_checked(k, r0, form);
  }

  /// Δ* for residuals R0 = V − W0 K given directly (d_v × n).
  Matrix solve_residual(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& r0,
                        Form form = Form::Auto) const {
    check_keys(k);
    if (r0.cols() != k.cols()) {
      std::ostringstream os;
      os << "seqedit: R has " << r0.cols() << " columns but K has " << k.cols()
         << " (one column per edit)";
      throw std::invalid_argument(os.str());
    }
    detail::check_finite(r0, "R");
    return solve_checked(k, r0, form);
  }

  /// d_k.
  Index key_dim() const { return dk_; }
  /// The objective, by value.
  const Objective<Scalar>& objective() const { return objective_; }
  /// The projector, if any.
  const std::optional<Projector>& projector() const { return projector_; }
  /// The edit-free part of the system: λC0 + αI (d_k × d_k) or Uᵀ λC0 U + αI_r (r × r).
  const Matrix& base_system() const { return m0_; }

 private:
  void init(const Eigen::Ref<const Matrix>& c0, const Objective<Scalar>& objective,
            const Projector* projector) {
    objective.check();
    detail::check_square(c0, "C0");
    detail::check_finite(c0, "C0");
    objective_ = objective;
    dk_ = c0.rows();
    if (projector) {
      if (!projector->computed()) throw std::invalid_argument("seqedit: the projector is empty");
      if (projector->dim() != dk_) {
        std::ostringstream os;
        os << "seqedit: projector acts on dimension " << projector->dim()
           << " but C0 is " << dk_ << " x " << dk_;
        throw std::invalid_argument(os.str());
      }
      projector_ = *projector;
      lambda_c0_ = Scalar(objective.lambda) * c0;  // kept for Form::Full
    }
    m0_ = detail::base_system<Matrix>(c0, objective_, projector_ ? &*projector_ : nullptr);
  }

  void check_keys(const Eigen::Ref<const Matrix>& k) const {
    detail::check_rows(k, dk_, "K", "d_k, the size of C0");
    if (k.cols() == 0) throw std::invalid_argument("seqedit: K has no columns (no edits)");
    detail::check_finite(k, "K");
  }

  Matrix solve_checked(const Eigen::Ref<const Matrix>& k, const Matrix& r0, Form form) const {
    if (form == Form::Auto) form = projector_ ? Form::Reduced : Form::Full;
    if (!projector_) {
      // P = I: both forms coincide.
      Matrix a = m0_;
      a.template selfadjointView<Eigen::Lower>().rankUpdate(k);
      a.template triangularView<Eigen::StrictlyUpper>() = a.transpose();
      const auto llt = detail::factor_spd(a, "A = lambda C0 + C + alpha I");
      const Matrix rhs = k * r0.transpose();  // d_k x d_v
      return llt.solve(rhs).transpose();
    }
    const Matrix& u = projector_->basis();
    if (form == Form::Reduced) {
      const Matrix kr = u.transpose() * k;  // r x n
      Matrix m = m0_;
      m.template selfadjointView<Eigen::Lower>().rankUpdate(kr);
      m.template triangularView<Eigen::StrictlyUpper>() = m.transpose();
      const auto llt = detail::factor_spd(m, "U^T (lambda C0 + C) U + alpha I (reduced system)");
      const Matrix rhs = kr * r0.transpose();  // r x d_v
      const Matrix x = llt.solve(rhs);         // r x d_v
      return (u * x).transpose();
    }
    // Full form: A = P(λC0 + KKᵀ)P + αI.
    if (!(objective_.alpha > RealScalar(0))) {
      throw std::invalid_argument(
          "seqedit: Form::Full with a projector needs alpha > 0 (A is singular on the "
          "complement of range(P)); use Form::Reduced");
    }
    const Matrix p = projector_->matrix();
    Matrix inner = lambda_c0_;
    inner.noalias() += k * k.transpose();
    const Matrix pi = p * inner;
    Matrix a = pi * p;
    a = Scalar(0.5) * (a + a.transpose()).eval();
    a.diagonal().array() += Scalar(objective_.alpha);
    const auto llt = detail::factor_spd(a, "A = P (lambda C0 + C) P + alpha I");
    const Matrix rhs = p * (k * r0.transpose());
    return llt.solve(rhs).transpose();
  }

  Objective<Scalar> objective_;
  std::optional<Projector> projector_;
  Matrix m0_;
  Matrix lambda_c0_;
  Index dk_ = 0;
};

using OneTimeEditord = OneTimeEditor<double>;
using OneTimeEditorf = OneTimeEditor<float>;

}  // namespace seqedit

#endif  // SEQEDIT_ONE_TIME_EDITOR_HPP

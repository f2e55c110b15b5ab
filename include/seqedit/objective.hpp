#ifndef SEQEDIT_OBJECTIVE_HPP
#define SEQEDIT_OBJECTIVE_HPP

/// \file objective.hpp
/// The weights of the one-time-editing (OTE) objective, math.md section 2.

#include <Eigen/Core>

#include <sstream>
#include <stdexcept>

namespace seqedit {

/// Weights of the OTE objective (math.md section 2)
///
///   min_Δ Σ_s ‖(W0 + Δ) K_s − V_s‖² + λ ‖Δ K0‖² + α ‖Δ‖²   subject to Δ = Δ P.
///
/// Stored by value everywhere it is used. The defaults (λ = 0, α = 0) describe no valid
/// editor on their own: pick `memit()`, `alphaedit()` or set the fields.
///
/// | method           | lambda        | alpha | projector            |
/// |------------------|---------------|-------|----------------------|
/// | MEMIT            | 15000 / 20000 | 0     | none (P = I)         |
/// | MEMIT with ridge | > 0           | 1     | none                 |
/// | AlphaEdit        | 0             | 10    | `NullSpaceProjector` |
///
/// \tparam Scalar_ `float` or `double`.
///
/// \code
///   seqedit::Objective<double> obj = seqedit::Objective<double>::memit(15000.0);
///   obj.check();  // throws std::invalid_argument on a negative or non-finite weight
/// \endcode
template <typename Scalar_>
struct Objective {
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;

  /// λ ≥ 0, weight of the retention term λ tr(Δ C0 Δᵀ) (the peers' `mom2_update_weight`).
  RealScalar lambda = RealScalar(0);
  /// α ≥ 0, ridge weight α ‖Δ‖².
  RealScalar alpha = RealScalar(0);

  /// MEMIT: retention weight λ, no ridge unless given.
  static Objective memit(RealScalar lambda, RealScalar alpha = RealScalar(0)) {
    Objective o;
    o.lambda = lambda;
    o.alpha = alpha;
    return o;
  }
  /// AlphaEdit: no retention term (it is projected away), ridge α (AlphaEdit's `L2`, 10).
  static Objective alphaedit(RealScalar alpha = RealScalar(10)) {
    Objective o;
    o.alpha = alpha;
    return o;
  }

  /// Throws std::invalid_argument naming the field if λ or α is negative, NaN or infinite.
  void check() const {
    check_field(lambda, "lambda");
    check_field(alpha, "alpha");
  }

 private:
  static void check_field(RealScalar v, const char* name) {
    if (!(v >= RealScalar(0)) || !(v - v == v - v)) {
      std::ostringstream os;
      os << "seqedit: Objective::" << name << " must be finite and >= 0, got " << v;
      throw std::invalid_argument(os.str());
    }
  }
};

using Objectived = Objective<double>;
using Objectivef = Objective<float>;

}  // namespace seqedit

#endif  // SEQEDIT_OBJECTIVE_HPP

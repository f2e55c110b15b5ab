#ifndef SEQEDIT_ALIGNMENT_HPP
#define SEQEDIT_ALIGNMENT_HPP

/// \file alignment.hpp
/// How far a sequential editor's cumulative update is from the one-time solution over its
/// journal: the OTE-SE equivalence (math.md section 3), and with error compensation the
/// invariant W_t = W0 + Δ*_t + e_t (math.md section 6), checked from scratch.

#include <Eigen/Core>

#include <optional>
#include <stdexcept>
#include <type_traits>

#include "one_time_editor.hpp"
#include "sequential_editor.hpp"

namespace seqedit {

/// What `verify_alignment` measured. Norms are Frobenius norms.
struct AlignmentReport {
  Eigen::Index live_edits = 0;  ///< N, the journal's size (the edits D*_t is solved for)
  double reference_norm = 0;    ///< ‖D*‖, D* = the OTE update over the journal (0 when N = 0)
  /// ‖D − D*‖ / ‖D*‖ with D = W_t − W0; the absolute ‖D − D*‖ when D* = 0 (`relative` false).
  double deviation = 0;
  /// With Compensation::Analytic: ‖D − D* − e_t‖ / ‖D*‖ (absolute when D* = 0), the error of
  /// Algorithm 1's invariant. Empty otherwise.
  std::optional<double> compensated_deviation;
  bool relative = true;  ///< false when D* = 0 and the deviations are absolute

  /// The number a check compares with its tolerance: the compensated deviation when there
  /// is one (the editor then deliberately departs from D* by e_t), else `deviation`.
  double judged() const { return compensated_deviation ? *compensated_deviation : deviation; }
};

/// Default tolerance on `AlignmentReport::judged()`: 1e-8 in double, 1e-3 in float.
/// Exact arithmetic gives 0; a healthy editor stays near ε·κ (math.md section 3, "Exactness
/// in floating point"); these bounds leave room for conditioning and for thousands of steps.
template <typename Scalar>
constexpr double default_alignment_tolerance() {
  return std::is_same<Scalar, float>::value ? 1e-3 : 1e-8;
}

/// Recomputes the one-time solution D* over the editor's journal (its keys and values,
/// objective and projector, with C0) by `OneTimeEditor` and compares it with the editor's
/// cumulative update D = W_t − W0.
///
/// For `History::Aligned` the deviation is round-off (OTE-SE equivalence, math.md section 3;
/// without compensation a regulariser's deviation shows up here); for `LatestOnly` and
/// `None` (math.md section 4) it measures how far those histories are from the OTE, which is
/// large in general. Cost: one OneTimeEditor construction and solve, O(d_k³) (O(r³) with a
/// projector), independent of the editor's state.
///
/// \param editor a `SequentialEditor` (any scalar, any regulariser).
/// \param c0 the retention statistics C0 the editor was built with, d_k × d_k.
/// \throws std::invalid_argument if C0 does not fit (size, NaN/Inf), numerical_error if the
///         one-time system is singular.
template <typename Editor>
AlignmentReport verify_alignment(const Editor& editor, const Eigen::Ref<const typename Editor::Matrix>& c0) {
  using Scalar = typename Editor::Scalar;
  using Matrix = typename Editor::Matrix;
  if (c0.rows() != editor.key_dim() || c0.cols() != editor.key_dim())
    throw std::invalid_argument("seqedit: verify_alignment: C0 is " + std::to_string(c0.rows()) + " x " +
                                std::to_string(c0.cols()) + " but the editor has d_k = " +
                                std::to_string(editor.key_dim()));
  AlignmentReport rep;
  rep.live_edits = editor.journal().size();
  const Matrix d = editor.cumulative_update();
  Matrix dstar = Matrix::Zero(editor.value_dim(), editor.key_dim());
  if (rep.live_edits > 0) {
    const auto& proj = editor.options().projector;
    const OneTimeEditor<Scalar> ote = proj ? OneTimeEditor<Scalar>(c0, editor.objective(), *proj)
                                           : OneTimeEditor<Scalar>(c0, editor.objective());
    dstar = ote.solve(editor.initial_weights(), editor.journal().keys(), editor.journal().values());
  }
  rep.reference_norm = double(dstar.norm());
  rep.relative = rep.reference_norm > 0;
  const double denom = rep.relative ? rep.reference_norm : 1.0;
  Matrix diff = d - dstar;
  rep.deviation = double(diff.norm()) / denom;
  if (editor.options().compensation == Compensation::Analytic) {
    diff -= editor.deviation();
    rep.compensated_deviation = double(diff.norm()) / denom;
  }
  return rep;
}

}  // namespace seqedit

#endif  // SEQEDIT_ALIGNMENT_HPP

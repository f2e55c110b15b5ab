#ifndef SEQEDIT_TOLERANCES_HPP
#define SEQEDIT_TOLERANCES_HPP

/// \file tolerances.hpp
/// Every numerical tolerance of the solvers, in one place (math.md sections 2, 3, 7, 8).
///
/// ε is the machine epsilon of the working precision (2.2e-16 in double, 1.19e-7 in float).
///
/// | name                          | value                          | used for                                                        |
/// |-------------------------------|--------------------------------|-----------------------------------------------------------------|
/// | `spd_rcond_min`               | 2 ε                            | an SPD system (M_0, a refreshed M_t, the capacitance matrix of an additive step) counts as singular when LLT's reciprocal condition estimate is ≤ this (`EditorOptions::spd_rcond_min`) |
/// | `inertia_tolerance`           | 100 · c · ε · max(1, max abs(eig S)) | eigenvalues of a downdate's capacitance matrix S (c × c) within ± this count as zero: the downdate is refused (`EditorOptions::inertia_factor` = 100) |
/// | `projector_orthonormality`    | 100 · ε · d_k                  | default bound on max abs(UᵀU − I) for `NullSpaceProjector::from_basis` |
/// | `state_projector_orthonormality` | 1e3 · ε · d_k               | the same bound for a basis read back from a state (it passed the first bound when written, in the same precision; the wider bound only absorbs a basis computed by another program) |
/// | `symmetry`                    | 64 · ε · n                     | max abs(a_ij − a_ji) relative to max abs(a_ij) for C0 given to the projector |
/// | `key_match_slack`             | 16 · ε · d_k                   | rounding slack of the Gram-matrix screen in `Journal::matches` (the final test is exact) |
/// | `kDriftProbes`                | 4 vectors                      | probes of the drift estimate (`SequentialEditor::drift_estimate`) |
///
/// The tool (examples/cli) and the bindings use these functions instead of repeating the
/// numbers.

#include <Eigen/Core>

#include <algorithm>

namespace seqedit {
namespace tolerances {

template <typename RealScalar>
RealScalar eps() {
  return Eigen::NumTraits<RealScalar>::epsilon();
}

/// 2ε: reciprocal condition number at or below which an SPD factorisation counts as
/// singular. Exactly singular PSD matrices factor, when they factor at all, with an
/// estimate below ε; a float system with condition number up to ~4e6 is still solved.
template <typename RealScalar>
RealScalar spd_rcond_min() {
  return RealScalar(2) * eps<RealScalar>();
}

/// Default factor of the downdate inertia test (see `inertia_tolerance`).
constexpr double default_inertia_factor = 100.0;

/// factor · c · ε · max(1, max_abs_eigenvalue): an eigenvalue of a c × c downdate
/// capacitance matrix within ± this counts as zero.
template <typename RealScalar>
RealScalar inertia_tolerance(Eigen::Index c, RealScalar max_abs_eigenvalue,
                             RealScalar factor = RealScalar(default_inertia_factor)) {
  return factor * RealScalar(std::max<Eigen::Index>(1, c)) * eps<RealScalar>() *
         std::max(RealScalar(1), max_abs_eigenvalue);
}

/// 100 · ε · d_k: default bound on max |UᵀU − I| of a given projector basis.
template <typename RealScalar>
RealScalar projector_orthonormality(Eigen::Index dk) {
  return RealScalar(100) * eps<RealScalar>() * RealScalar(std::max<Eigen::Index>(1, dk));
}

/// 1e3 · ε · d_k: the bound on max |UᵀU − I| for a basis read from a state.
template <typename RealScalar>
RealScalar state_projector_orthonormality(Eigen::Index dk) {
  return RealScalar(1e3) * eps<RealScalar>() * RealScalar(std::max<Eigen::Index>(1, dk));
}

/// 64 · ε · n: relative asymmetry allowed in an n × n matrix that must be symmetric.
template <typename RealScalar>
RealScalar symmetry(Eigen::Index n) {
  return RealScalar(64) * eps<RealScalar>() * RealScalar(std::max<Eigen::Index>(1, n));
}

/// 16 · ε · d_k: rounding slack of the journal's key-matching screen.
template <typename RealScalar>
RealScalar key_match_slack(Eigen::Index dk) {
  return RealScalar(16) * eps<RealScalar>() * RealScalar(std::max<Eigen::Index>(1, dk));
}

}  // namespace tolerances

/// Number of probe vectors of the drift estimate (`SequentialEditor::drift_estimate`).
constexpr Eigen::Index kDriftProbes = 4;

}  // namespace seqedit

#endif  // SEQEDIT_TOLERANCES_HPP

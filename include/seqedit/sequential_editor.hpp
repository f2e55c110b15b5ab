#ifndef SEQEDIT_SEQUENTIAL_EDITOR_HPP
#define SEQEDIT_SEQUENTIAL_EDITOR_HPP

/// \file sequential_editor.hpp
/// Sequential editing aligned with one-time editing (math.md sections 3, 4, 6, 7).

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "detail/block_symmetric.hpp"
#include "detail/checks.hpp"
#include "detail/system.hpp"
#include "errors.hpp"
#include "journal.hpp"
#include "objective.hpp"
#include "projector.hpp"
#include "regulariser.hpp"
#include "tolerances.hpp"

namespace seqedit {

/// Which OTE objective the sequence of steps reproduces (math.md sections 3 and 4).
enum class History {
  Aligned,     ///< All edits so far: D_t = Δ*_t after every step (section 3). The default.
  LatestOnly,  ///< "Memorize-the-Latest": D_t is the OTE of the latest batch only (section 4).
  None         ///< Naive sequential: each step solves for its own batch alone (section 4).
};

/// How the deviation of a post-processing regulariser is handled (math.md sections 5, 6).
enum class Compensation {
  None,     ///< Naive post-processing: W_t = W_{t−1} + R_p(Δ̃_t); deviations accumulate.
  Analytic  ///< Algorithm 1: W_t = W0 + Δ*_t + e_t exactly (needs History::Aligned).
};

/// Options of `SequentialEditor`, stored by value.
/// Every numerical threshold of the editor is a field here, with the library-wide default
/// of tolerances.hpp.
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
struct EditorOptions {
  using RealScalar = typename Eigen::NumTraits<Scalar_>::Real;
  /// OTE objective the steps reproduce. Default: History::Aligned.
  History history = History::Aligned;
  /// Error compensation for post-processing regularisers. Default: none.
  Compensation compensation = Compensation::None;
  /// Null-space projector P (AlphaEdit). Empty: P = I.
  std::optional<NullSpaceProjector<Scalar_>> projector;
  /// An SPD system (M_0, the system rebuilt by `refresh`, the capacitance matrix of an
  /// additive step) counts as singular when the reciprocal condition estimate of its
  /// Cholesky factor is ≤ this. Default `tolerances::spd_rcond_min` = 2ε. Must lie in [0, 1).
  RealScalar spd_rcond_min = tolerances::spd_rcond_min<RealScalar>();
  /// Factor f of the downdate inertia test: an eigenvalue of the c × c capacitance matrix S
  /// of a `retract`/`replace` step within ± f · c · ε · max(1, max |eig S|) counts as zero,
  /// and the step is refused. Default 100 (`tolerances::default_inertia_factor`). Must be ≥ 0.
  RealScalar inertia_factor = RealScalar(tolerances::default_inertia_factor);
  /// Drift monitoring: when > 0, every step ends with a drift estimate (see
  /// `SequentialEditor::drift_estimate`, cost 2 r² · 4 + 2 d_k N · 4 flops) and
  /// `refresh_needed()` turns true once it exceeds this value. Default 0: not monitored.
  /// Must be finite and ≥ 0.
  RealScalar drift_threshold = RealScalar(0);

  /// Throws std::invalid_argument naming the offending field.
  void check() const {
    if (compensation == Compensation::Analytic && history != History::Aligned) {
      throw std::invalid_argument(
          "seqedit: EditorOptions::compensation = Analytic needs history = Aligned "
          "(Algorithm 1 compensates towards the OTE over all edits)");
    }
    if (projector && !projector->computed()) {
      throw std::invalid_argument("seqedit: EditorOptions::projector is set but empty");
    }
    if (projector && projector->rank() == 0) {
      throw std::invalid_argument(
          "seqedit: EditorOptions::projector has rank 0: no key direction is free to edit");
    }
    const auto fail = [](const char* field, const char* rule, RealScalar value) {
      std::ostringstream os;
      os << "seqedit: EditorOptions::" << field << " must be " << rule << ", got " << value;
      throw std::invalid_argument(os.str());
    };
    if (!(spd_rcond_min >= RealScalar(0) && spd_rcond_min < RealScalar(1)))
      fail("spd_rcond_min", "in [0, 1)", spd_rcond_min);
    if (!(inertia_factor >= RealScalar(0)) || !detail::is_finite_bits(inertia_factor))
      fail("inertia_factor", "finite and >= 0", inertia_factor);
    if (!(drift_threshold >= RealScalar(0)) || !detail::is_finite_bits(drift_threshold))
      fail("drift_threshold", "finite and >= 0", drift_threshold);
  }
};

/// What the last successful step saw (`SequentialEditor::last_step_info`).
template <typename RealScalar>
struct StepInfo {
  Eigen::Index added = 0;    ///< n, new key columns
  Eigen::Index removed = 0;  ///< m, superseded / retracted journal columns
  /// Reciprocal condition number of the c × c capacitance matrix S = Σ + K̂ᵀ M⁻¹ K̂:
  /// LLT's 1-norm estimate for an additive step, min |eig S| / max |eig S| for a step that
  /// removes edits. NaN before the first step.
  RealScalar capacitance_rcond = std::numeric_limits<RealScalar>::quiet_NaN();
  /// Error amplification of the step, 1 / min |eig S|. For an additive step S ⪰ I, so it is
  /// at most 1 and reported as 1; for a downdate it grows without bound as the removal
  /// approaches indefiniteness (the round-off of M⁻¹ is multiplied by about this factor).
  RealScalar amplification = std::numeric_limits<RealScalar>::quiet_NaN();
  /// The drift estimate after the step when `EditorOptions::drift_threshold` > 0, else NaN.
  RealScalar drift = std::numeric_limits<RealScalar>::quiet_NaN();
};

/// Everything a `SequentialEditor` holds, as plain data: what a state file stores.
/// `system_inverse` is the full symmetric r × r matrix M_t⁻¹ (see `SequentialEditor`,
/// "Storage of M_t⁻¹").
///
/// The weights are given by `cumulative_update` D_t = W_t − W0 (what the editor keeps; an
/// editor restored from it continues bit for bit). `weights` (W_t) is filled by `state()`
/// and `io::read_editor_state` for callers that want W_t; when only `weights` is given
/// (a state of an older version), the editor takes D_t = W_t − W0.
template <typename Scalar_>
struct EditorState {
  using Matrix = Eigen::Matrix<Scalar_, Eigen::Dynamic, Eigen::Dynamic>;
  using Index = Eigen::Index;
  Matrix initial_weights;              ///< W0, d_v × d_k
  Matrix cumulative_update;            ///< D_t = W_t − W0, d_v × d_k (or empty, see above)
  Matrix weights;                      ///< W_t, d_v × d_k (or empty, see above)
  Matrix system_inverse;               ///< M_t⁻¹ (Aligned) or M_0⁻¹ (other histories), r × r
  Matrix deviation;                    ///< e_t (d_v × d_k) with Compensation::Analytic, else empty
  std::optional<Matrix> projector_basis;  ///< U (d_k × r) when a projector is used
  /// Drift probes Y (r × 4) and their images M_0 Y (r × 4); both empty when unknown (a
  /// state written before drift monitoring existed: `drift_estimate()` is then NaN until
  /// `refresh(C0)`).
  Matrix drift_probes;
  Matrix drift_probe_images;
  Objective<Scalar_> objective;
  History history = History::Aligned;
  Compensation compensation = Compensation::None;
  std::int64_t steps = 0;
  std::uint64_t editor_tag = 0;
  std::uint64_t next_serial = 1;
  Matrix journal_keys;                       ///< d_k × N
  Matrix journal_values;                     ///< d_v × N
  std::vector<std::uint64_t> journal_serials;  ///< N serials, increasing

  /// r, the size of the reduced system (the projector's rank, or d_k).
  Index reduced_dim() const {
    return projector_basis ? projector_basis->cols() : initial_weights.cols();
  }

  /// Validates sizes, finiteness, the step count and the journal's serials. Throws
  /// std::invalid_argument naming the field. (The projector basis's orthonormality and the
  /// objective are checked by the editor's constructor.)
  void check() const {
    const Index dv = initial_weights.rows(), dk = initial_weights.cols();
    if (dv == 0 || dk == 0) throw std::invalid_argument("seqedit: state: W0 is empty");
    if (projector_basis && projector_basis->rows() != dk) {
      std::ostringstream os;
      os << "seqedit: state: projector basis has " << projector_basis->rows()
         << " rows but d_k = " << dk;
      throw std::invalid_argument(os.str());
    }
    const Index r = reduced_dim();
    if (cumulative_update.size() == 0 && weights.size() == 0)
      throw std::invalid_argument("seqedit: state: neither cumulative_update nor weights is set");
    if (cumulative_update.size() != 0)
      detail::check_shape(cumulative_update, dv, dk, "state cumulative update", "same shape as W0");
    if (weights.size() != 0) detail::check_shape(weights, dv, dk, "state weights", "same shape as W0");
    detail::check_shape(system_inverse, r, r, "state system inverse", "r x r");
    if (compensation == Compensation::Analytic)
      detail::check_shape(deviation, dv, dk, "state deviation", "same shape as W0");
    else if (deviation.size() != 0)
      throw std::invalid_argument("seqedit: state: deviation is set but compensation is none");
    if (drift_probes.size() != 0 || drift_probe_images.size() != 0) {
      detail::check_shape(drift_probes, r, kDriftProbes, "state drift probes", "r x 4");
      detail::check_shape(drift_probe_images, r, kDriftProbes, "state drift probe images", "r x 4");
    }
    detail::check_finite(initial_weights, "state W0");
    detail::check_finite(cumulative_update, "state cumulative update");
    detail::check_finite(weights, "state weights");
    detail::check_finite(system_inverse, "state system inverse");
    detail::check_finite(deviation, "state deviation");
    detail::check_finite(drift_probes, "state drift probes");
    detail::check_finite(drift_probe_images, "state drift probe images");
    const Index n = Index(journal_serials.size());
    detail::check_shape(journal_keys, dk, n, "state journal keys", "d_k x journal size");
    detail::check_shape(journal_values, dv, n, "state journal values", "d_v x journal size");
    detail::check_finite(journal_keys, "state journal keys");
    detail::check_finite(journal_values, "state journal values");
    if (steps < 0) throw std::invalid_argument("seqedit: state: negative step count");
    std::uint64_t prev = 0;
    for (std::uint64_t serial : journal_serials) {
      if (serial <= prev || serial >= next_serial)
        throw std::invalid_argument("seqedit: state: journal serials are not increasing "
                                    "or not below next_serial");
      prev = serial;
    }
  }
};

/// Sequential editor whose cumulative update equals the one-time (OTE) solution over all
/// edits so far after every step (math.md section 3):
///
///   Δ̃_t = R_t K_tᵀ P A_t⁻¹,   A_t = A_{t−1} + (P K_t)(P K_t)ᵀ,   R_t = V_t − W_{t−1} K_t,
///
/// so D_t = W_t − W0 = Δ*_t = B_t P A_t⁻¹ (the OTE-SE equivalence).
///
/// **Representation.** With P = U Uᵀ (r = rank P; U = I and r = d_k without a projector)
/// the editor keeps the explicit inverse of the reduced system
/// M_t = Uᵀ(λC0 + C_t)U + α I_r, since P A_t⁻¹ P = U M_t⁻¹ Uᵀ (exact also when α = 0).
/// A step with c key columns (c = n new, plus m superseded ones for `replace`/`retract`,
/// section 7) is a Woodbury update of M_t⁻¹ through the c × c capacitance matrix
/// S = Σ + K̂ᵀ M_{t−1}⁻¹ K̂ (K̂ = UᵀK, Σ = diag(+1 for new, −1 for removed)):
///
///   G = M_{t−1}⁻¹ K̂,   M_t⁻¹ = M_{t−1}⁻¹ − G S⁻¹ Gᵀ,   Δ̃_t = (R + e K) (U G S⁻¹)ᵀ.
///
/// Cost per step: 2r²c (G) + r²c(1 + b/r) (the rank-c update, b = 512; see below) +
/// 2d_k r c twice with a projector (K̂ and U G S⁻¹) + 2 d_v d_k c (applying Δ̃); never a
/// factorisation of a d_k × d_k matrix. An explicit inverse was chosen over a Cholesky
/// factor because its rank-c update is a single BLAS-3 kernel (a Cholesky factor is updated
/// by c sequential rank-1 sweeps, memory-bound) and because the step needs only the
/// products M⁻¹ K̂. A capacitance form over a fixed factor of A_0 was rejected: its
/// per-step cost grows with the number of edits.
///
/// **Storage of M_t⁻¹.** The inverse is kept in *block-lower* storage
/// (detail/block_symmetric.hpp): column blocks of b = 512, the diagonal blocks held in
/// full and the blocks below them valid, the blocks above them never read. Both kernels of
/// a step (G = M⁻¹K̂ and the rank-c update) are then general matrix products (GEMM) on
/// those blocks. Eigen's symmetric kernels (SYMM, SYRK) would need the same flops but run on
/// one thread; GEMMs on full storage would need 2r²c for the update. `system_inverse()` and
/// `state()` return the full symmetric matrix (symmetric to round-off in the diagonal
/// blocks); a state reloaded from it continues bit for bit, since only the block-lower part
/// is ever read.
///
/// **Memory** (scalars): r² (M_t⁻¹) + 2 d_v d_k (W0 and D_t) + 8 r (drift probes) + d_v d_k with
/// Compensation::Analytic (e_t) + d_k r (U, when a projector is used) + (d_k + d_v) per
/// live edit for the journal (capacity doubles, so ≤ 2× that) — independent
/// of the number of steps. Temporaries per step: (2r + d_k + d_v) c + c², plus 2 d_v d_k
/// for a regularised step (the proposal and W_{t−1} for the regulariser; 1 d_v d_k when
/// the regulariser takes the factored entry).
///
/// **Requirements.** M_0 = Uᵀ λC0 U + α I_r must be positive definite (numerically: its
/// Cholesky factor's reciprocal condition number above `EditorOptions::spd_rcond_min`,
/// default 2ε; all tolerances: tolerances.hpp), else the constructor
/// throws `seqedit::numerical_error`. MEMIT needs λ > 0 with C0 positive definite, or α > 0.
///
/// **Histories.** `History::LatestOnly` and `History::None` keep M_0⁻¹ fixed and reproduce
/// the counterexamples of section 4; they journal edits but cannot `retract`/`replace`.
///
/// **Regularisers and Algorithm 1.** With a regulariser R_p (section 5) the step applies
/// W_t = W_{t−1} + R_p(Δ_t). With `Compensation::Analytic` (section 6),
/// Δ_t = (R_t + e_{t−1} K_t) K_tᵀ P A_t⁻¹ − e_{t−1} and e_t = R_p(Δ_t) − Δ_t, so that
/// W_t = W0 + Δ*_t + e_t exactly, for any P. `retract`/`replace` use the same formula with
/// the signed key set, so the guarantee survives them.
///
/// **Weights.** The editor keeps W0 and D_t = W_t − W0 (not W_t): every update is added to
/// D, so its rounding scales with ‖D‖ and not with ‖W‖ (in float, where ‖W0‖ ≫ ‖D‖, this
/// is what keeps D_t at the OTE to ε‖D‖). `weights()` forms W0 + D on demand; the residual
/// V − W_{t−1}K is computed as (V − W0 K) − D K.
///
/// **A step** (`step`) is five named parts: the signed key set (new columns and the
/// superseded journal columns with their residuals), the capacitance factorisation (LLT
/// for an additive step, an eigendecomposition with an inertia check for a downdate), the
/// left factor (residuals, plus e_{t−1}K or D_{t−1}K by history), the regularised proposal
/// (only with a regulariser), and the commit.
///
/// **Failure.** Every public mutator either succeeds or throws and leaves the editor exactly
/// as it was (weights, inverse, deviation, journal, step count, drift probes): all results,
/// including the journal's room and every factor, are computed in temporaries before
/// anything is committed; numerical_error, std::invalid_argument (also from a regulariser)
/// and std::bad_alloc of any of these leave the editor unchanged. The commit then (1)
/// appends to the journal (an id-index node allocation that fails is rolled back), (2)
/// removes the superseded columns (allocates nothing), (3) updates M⁻¹ and D in place by
/// matrix products. Eigen's products may allocate packing buffers (c × a few thousand
/// scalars); if that allocation fails in (3), std::bad_alloc propagates and M⁻¹ / D may be
/// partly updated: the editor is then marked *damaged*, `damaged()` is true and every
/// further mutator and `state()` throw std::logic_error (refresh cannot repair D). This is
/// the only case not covered by the strong guarantee.
///
/// **Drift.** The explicit inverse accumulates round-off like any updated factorisation.
/// `drift_estimate()` measures it: four probe vectors y (fixed pseudo-random unit vectors
/// of R^r, drawn when M_0 is formed) and their images M_0 y are kept; since
/// M_t = M_0 + K̂_J K̂_Jᵀ over the live journal J (K̂ = UᵀK), M_t y = M_0 y + Uᵀ K_J (K_Jᵀ U y)
/// is exact up to one product's rounding, and the estimate is
/// max_y ‖X (M_t y) − y‖ / ‖y‖ with X the stored M_t⁻¹: the relative error of X on the
/// directions M_t y (for X = M_t⁻¹ + E it is ‖E M_t y‖). Cost: 2 r² · 4 flops (one block
/// product) + 4 d_k N · 4 (the journal) + 4 d_k r · 4 with a projector. It is not
/// computed per step unless `EditorOptions::drift_threshold` > 0; then `refresh_needed()`
/// reports when it exceeds the threshold, and `refresh(C0)` rebuilds M_t⁻¹ from C0 and the
/// journal (O(d_k³)) and the probes' images with it. In double the drift stays at the
/// 1e-12 level over thousands of edits on well-conditioned problems.
///
/// \tparam Scalar_ `float` or `double`.
/// \tparam Regulariser_ a post-processing regulariser (see regulariser.hpp); default: none.
///
/// \code
///   using namespace seqedit;
///   SequentialEditor<double> ed(W0, C0, Objective<double>::memit(15000.0));
///   std::vector<EditId> ids = ed.apply(K1, V1);   // step 1
///   ed.apply(K2, V2);                             // step 2: W0 + Δ*(all edits)
///   ed.retract(ids);                              // as if batch 1 had never been applied
/// \endcode
template <typename Scalar_, typename Regulariser_ = NoRegulariser<Scalar_>>
class SequentialEditor {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Index = Eigen::Index;
  using Regulariser = Regulariser_;
  using Options = EditorOptions<Scalar>;
  using State = EditorState<Scalar>;
  using Info = StepInfo<RealScalar>;
  static constexpr bool regularised = !detail::is_identity_regulariser<Regulariser>::value;
  /// True when the regulariser offers the factored entry R_p(L, R, W) for Δ = L Rᵀ.
  static constexpr bool factored_regulariser =
      regularised && detail::has_factored_entry<Regulariser, Matrix>::value;

  /// Sets up the editor for W0 (d_v × d_k) and C0 (d_k × d_k, symmetric PSD).
  /// Cost: one r × r Cholesky factorisation and inversion (O(r³)), plus Uᵀ C0 U with a
  /// projector. Throws std::invalid_argument for wrong sizes, NaN/Inf, bad options;
  /// seqedit::numerical_error when M_0 is singular.
  SequentialEditor(const Eigen::Ref<const Matrix>& w0, const Eigen::Ref<const Matrix>& c0,
                   const Objective<Scalar>& objective, const Options& options = Options(),
                   const Regulariser& regulariser = Regulariser())
      : SequentialEditor(w0, c0, objective, Options(options), regulariser) {}

  /// As above, taking the options (and the projector they hold) by move.
  SequentialEditor(const Eigen::Ref<const Matrix>& w0, const Eigen::Ref<const Matrix>& c0,
                   const Objective<Scalar>& objective, Options&& options,
                   const Regulariser& regulariser = Regulariser())
      : objective_(objective), options_(std::move(options)), regulariser_(regulariser) {
    objective_.check();
    options_.check();
    detail::check_finite(w0, "W0");
    detail::check_square(c0, "C0");
    detail::check_shape(c0, w0.cols(), w0.cols(), "C0", "d_k x d_k with d_k = columns of W0");
    detail::check_finite(c0, "C0");
    if (w0.rows() == 0 || w0.cols() == 0) throw std::invalid_argument("seqedit: W0 is empty");
    if (options_.projector && options_.projector->dim() != w0.cols()) {
      std::ostringstream os;
      os << "seqedit: the projector acts on dimension " << options_.projector->dim()
         << " but W0 has d_k = " << w0.cols() << " columns";
      throw std::invalid_argument(os.str());
    }
    w0_ = w0;
    d_ = Matrix::Zero(w0.rows(), w0.cols());
    draw_probes(reduced_dim_for(w0.cols()), probes_);
    invert_base(c0, nullptr, minv_, probe_images_);
    if (options_.compensation == Compensation::Analytic) {
      e_ = Matrix::Zero(w0_.rows(), w0_.cols());
    }
    journal_ = Journal<Scalar>(w0_.cols(), w0_.rows());
    tag_ = draw_tag();
    prepare_regulariser();
  }

  /// Restores an editor from a saved state (validated by `State::check()` and the
  /// projector's orthonormality test; throws std::invalid_argument naming the field).
  explicit SequentialEditor(const State& s, const Regulariser& regulariser = Regulariser())
      : SequentialEditor(State(s), regulariser) {}

  /// Restores an editor from a saved state, taking its matrices over without copies.
  explicit SequentialEditor(State&& s, const Regulariser& regulariser = Regulariser())
      : objective_(s.objective), regulariser_(regulariser) {
    s.check();
    objective_.check();
    options_.history = s.history;
    options_.compensation = s.compensation;
    if (s.projector_basis) {
      options_.projector = NullSpaceProjector<Scalar>::from_basis(
          std::move(*s.projector_basis),
          tolerances::state_projector_orthonormality<RealScalar>(s.projector_basis->rows()));
      s.projector_basis.reset();
    }
    options_.check();
    const Index dv = s.initial_weights.rows(), dk = s.initial_weights.cols();
    const Index n = Index(s.journal_serials.size());
    journal_ = Journal<Scalar>(dk, dv);
    journal_.reserve_extra(n);
    for (Index j = 0; j < n; ++j)
      journal_.restore(EditId{s.editor_tag, s.journal_serials[std::size_t(j)]},
                       s.journal_keys.col(j), s.journal_values.col(j));
    w0_ = std::move(s.initial_weights);
    if (s.cumulative_update.size() != 0) {
      d_ = std::move(s.cumulative_update);
    } else {
      d_ = std::move(s.weights);
      d_ -= w0_;
    }
    minv_ = std::move(s.system_inverse);
    e_ = std::move(s.deviation);
    probes_ = std::move(s.drift_probes);
    probe_images_ = std::move(s.drift_probe_images);
    steps_ = s.steps;
    tag_ = s.editor_tag;
    next_serial_ = s.next_serial;
    prepare_regulariser();
  }

  /// The editor's state as plain data (copies; `io::save_editor_state` does not use it).
  /// The inverse is exported as the full symmetric matrix; an editor restored from it
  /// continues bit for bit. Fills both `cumulative_update` and `weights`.
  State state() const {
    require_intact();
    State s;
    s.initial_weights = w0_;
    s.cumulative_update = d_;
    s.weights = weights();
    s.system_inverse = detail::block_lower_to_full(minv_);
    s.deviation = e_;
    if (options_.projector) s.projector_basis = options_.projector->basis();
    s.drift_probes = probes_;
    s.drift_probe_images = probe_images_;
    s.objective = objective_;
    s.history = options_.history;
    s.compensation = options_.compensation;
    s.steps = steps_;
    s.editor_tag = tag_;
    s.next_serial = next_serial_;
    s.journal_keys = journal_.keys();
    s.journal_values = journal_.values();
    for (const EditId& id : journal_.ids()) s.journal_serials.push_back(id.serial);
    return s;
  }

  /// One step with keys K (d_k × n) and wanted values V (d_v × n). Returns one id per column.
  std::vector<EditId> apply(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& v) {
    check_batch(k, v, "V");
    return step(k, residual_of(k, v), v, {});
  }

  /// One step with keys K and residuals R = V − W_{t−1} K under the current weights.
  std::vector<EditId> apply_residual(const Eigen::Ref<const Matrix>& k,
                                     const Eigen::Ref<const Matrix>& r) {
    check_batch(k, r, "R");
    return step(k, r, values_of(k, r), {});
  }

  /// New edits (K, V) that supersede the earlier edits `ids` (math.md section 7,
  /// Proposition 3.5): afterwards D equals the OTE over the journal without `ids` and with
  /// the new edits. Returns the new ids.
  std::vector<EditId> replace(const std::vector<EditId>& ids, const Eigen::Ref<const Matrix>& k,
                              const Eigen::Ref<const Matrix>& v) {
    check_batch(k, v, "V");
    require_aligned("replace");
    return step(k, residual_of(k, v), v, journal_.locate(ids, tag_));
  }

  /// `replace` with residuals under the current weights.
  std::vector<EditId> replace_residual(const std::vector<EditId>& ids,
                                       const Eigen::Ref<const Matrix>& k,
                                       const Eigen::Ref<const Matrix>& r) {
    check_batch(k, r, "R");
    require_aligned("replace");
    return step(k, r, values_of(k, r), journal_.locate(ids, tag_));
  }

  /// Removes earlier edits exactly (math.md section 7): afterwards D equals the OTE over
  /// the remaining journal. A rank-m downdate of M_t⁻¹; if it would make M_t lose
  /// definiteness (impossible in exact arithmetic when M_0 is definite; possible by
  /// round-off, e.g. in float with a tiny α) it throws seqedit::numerical_error and
  /// changes nothing: call `refresh(C0)` and retry.
  void retract(const std::vector<EditId>& ids) {
    require_aligned("retract");
    if (ids.empty()) throw std::invalid_argument("seqedit: retract: no ids given");
    const Matrix none_k(w0_.cols(), 0), none_r(w0_.rows(), 0);
    step(none_k, none_r, none_r, journal_.locate(ids, tag_));
  }

  /// Rebuilds M_t⁻¹ from C0 and the journal from scratch (O(d_k³)); weights unchanged.
  /// Also re-forms the drift probes' images M_0 y (drawing the probes if the editor was
  /// restored from a state without them), so the drift estimate restarts at round-off.
  /// Use it to remove accumulated round-off or after a refused downdate.
  SequentialEditor& refresh(const Eigen::Ref<const Matrix>& c0) {
    require_intact();
    detail::check_shape(c0, w0_.cols(), w0_.cols(), "C0", "d_k x d_k");
    detail::check_finite(c0, "C0");
    Matrix minv, probes, images;
    draw_probes(reduced_dim(), probes);
    const bool aligned = options_.history == History::Aligned;
    invert_base(c0, aligned && !journal_.empty() ? &journal_ : nullptr, minv, images, &probes);
    minv_.swap(minv);
    probes_.swap(probes);
    probe_images_.swap(images);
    refresh_needed_ = false;
    return *this;
  }

  /// The drift estimate max_y ‖X (M_t y) − y‖ / ‖y‖ over the four probes (see "Drift"),
  /// a relative error of the stored inverse X ≈ M_t⁻¹. NaN when the probes are unknown
  /// (an editor restored from a state written before drift monitoring; `refresh(C0)`
  /// re-establishes them). Cost: 8 r² + 16 d_k N (+ 16 d_k r with a projector) flops.
  RealScalar drift_estimate() const {
    if (probes_.size() == 0) return std::numeric_limits<RealScalar>::quiet_NaN();
    Matrix images = probe_images_;  // M_0 Y, r × p
    if (options_.history == History::Aligned && !journal_.empty()) {
      const auto kj = journal_.keys();
      const Matrix uy = options_.projector ? Matrix(options_.projector->basis() * probes_)
                                           : probes_;          // d_k × p
      const Matrix t = kj.transpose() * uy;                       // N × p
      const Matrix kt = kj * t;                                   // d_k × p
      if (options_.projector) images.noalias() += options_.projector->basis().transpose() * kt;
      else images += kt;
    }
    Matrix x;
    detail::block_lower_product(minv_, images, x);
    RealScalar worst = 0;
    for (Index j = 0; j < probes_.cols(); ++j) {
      const RealScalar rel = (x.col(j) - probes_.col(j)).norm() / probes_.col(j).norm();
      if (!detail::is_finite_bits(rel)) return std::numeric_limits<RealScalar>::infinity();
      worst = std::max(worst, rel);
    }
    return worst;
  }

  /// True once a monitored drift estimate (EditorOptions::drift_threshold > 0) has exceeded
  /// the threshold; `refresh(C0)` resets it.
  bool refresh_needed() const { return refresh_needed_; }

  /// What the last successful step saw: its sizes, the capacitance matrix's reciprocal
  /// condition number, the downdate's error amplification 1 / min |eig S|, and the drift
  /// estimate when monitored.
  const Info& last_step_info() const { return last_; }

  /// True after a std::bad_alloc escaped a step's commit (see "Failure"); the editor then
  /// refuses further steps, `refresh` and `state()`.
  bool damaged() const { return damaged_; }

  /// For each column of K, the journal entries with a matching key (see Journal::matches).
  std::vector<std::vector<EditId>> find_matching(const Eigen::Ref<const Matrix>& k,
                                                 RealScalar tol = RealScalar(0)) const {
    return journal_.matches(k, tol);
  }

  /// W_t = W0 + D_t, formed on demand (a d_v × d_k matrix; see "Weights").
  Matrix weights() const { return w0_ + d_; }
  /// W0.
  const Matrix& initial_weights() const { return w0_; }
  /// D_t = W_t − W0, as the editor keeps it.
  const Matrix& cumulative_update() const { return d_; }
  /// Number of successful `apply`/`replace`/`retract` calls.
  Index steps() const { return steps_; }
  /// d_k.
  Index key_dim() const { return w0_.cols(); }
  /// d_v.
  Index value_dim() const { return w0_.rows(); }
  /// r = rank P (d_k without projector): the size of the system the editor keeps.
  Index reduced_dim() const { return minv_.rows(); }
  /// M_t⁻¹ (Aligned) or M_0⁻¹ (other histories) as a full symmetric r × r matrix (a copy
  /// made from the block-lower storage the editor keeps; see "Storage of M_t⁻¹").
  Matrix system_inverse() const { return detail::block_lower_to_full(minv_); }
  /// M_t⁻¹ in block-lower storage, as kept (see "Storage of M_t⁻¹"): the blocks above the
  /// diagonal blocks of width 512 are not valid. For writers that stream it without a copy.
  const Matrix& system_inverse_storage() const { return minv_; }
  /// e_t, the latest deviation R_p(Δ_t) − Δ_t (empty without Compensation::Analytic).
  const Matrix& deviation() const { return e_; }
  /// The drift probes Y (r × 4) and their images M_0 Y; empty when unknown.
  const Matrix& drift_probes() const { return probes_; }
  const Matrix& drift_probe_images() const { return probe_images_; }
  /// The journal of live edits.
  const Journal<Scalar>& journal() const { return journal_; }
  const Objective<Scalar>& objective() const { return objective_; }
  const Options& options() const { return options_; }
  const Regulariser& regulariser() const { return regulariser_; }
  /// The random tag carried by this editor's EditIds.
  std::uint64_t tag() const { return tag_; }
  /// The serial the next edit will get.
  std::uint64_t next_serial() const { return next_serial_; }

  /// Scalars held by the editor (inverse, weights, deviation, projector basis, journal
  /// capacity excluded): r² + 2 d_v d_k (+ d_v d_k) (+ d_k r).
  Index state_scalars() const {
    Index s = minv_.size() + d_.size() + w0_.size() + e_.size();
    if (options_.projector) s += options_.projector->basis().size();
    return s;
  }

 private:
  static std::uint64_t draw_tag() {
    std::random_device rd;
    std::uint64_t t = (std::uint64_t(rd()) << 32) ^ std::uint64_t(rd());
    t ^= std::uint64_t(std::chrono::high_resolution_clock::now().time_since_epoch().count());
    return t == 0 ? 1 : t;
  }

  Index reduced_dim_for(Index dk) const {
    return options_.projector ? options_.projector->rank() : dk;
  }

  /// The drift probes: r × 4 pseudo-random unit vectors from a fixed seed (SplitMix64),
  /// the same on every platform.
  static void draw_probes(Index r, Matrix& y) {
    y.resize(r, kDriftProbes);
    std::uint64_t state = 0x5EED0D21F7E57ULL;
    for (Index j = 0; j < y.cols(); ++j) {
      for (Index i = 0; i < r; ++i) {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        y(i, j) = Scalar(double(z >> 11) * 0x1.0p-53 - 0.5);
      }
      y.col(j).normalize();
    }
  }

  void require_intact() const {
    if (damaged_)
      throw std::logic_error(
          "seqedit: the editor was damaged by an allocation failure during a step's commit "
          "(its inverse and weights may be partly updated); rebuild it from a saved state");
  }

  void require_aligned(const char* what) const {
    require_intact();
    if (options_.history != History::Aligned) {
      std::ostringstream os;
      os << "seqedit: " << what << " needs History::Aligned (the other histories do not "
         << "define an objective over a journal)";
      throw std::logic_error(os.str());
    }
  }

  void check_batch(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& v,
                   const char* vname) const {
    require_intact();
    detail::check_rows(k, key_dim(), "K", "d_k, the columns of W0");
    if (k.cols() == 0) throw std::invalid_argument("seqedit: empty batch (K has no columns)");
    detail::check_shape(v, value_dim(), k.cols(), vname, "d_v rows from W0, one column per key");
    detail::check_finite(k, "K");
    detail::check_finite(v, vname);
  }

  /// R = V − W K = (V − W0 K) − D K (see "Weights").
  template <typename K, typename V>
  Matrix residual_of(const K& k, const V& v) const {
    Matrix r = v;
    r.noalias() -= w0_ * k;
    r.noalias() -= d_ * k;
    return r;
  }

  /// V = R + W K = R + W0 K + D K.
  template <typename K, typename R>
  Matrix values_of(const K& k, const R& r) const {
    Matrix v = r;
    v.noalias() += w0_ * k;
    v.noalias() += d_ * k;
    return v;
  }

  /// K̂ = Uᵀ K (or K without projector).
  Matrix reduce(const Matrix& k) const {
    if (!options_.projector) return k;
    return options_.projector->basis().transpose() * k;
  }

  /// minv = (M_0 + Σ_journal K̂K̂ᵀ)⁻¹ and images = M_0 · probes. Peak memory: two r × r
  /// matrices (the system, factored in place, and its inverse) besides the caller's C0.
  void invert_base(const Eigen::Ref<const Matrix>& c0, const Journal<Scalar>* journal,
                   Matrix& minv, Matrix& images, const Matrix* probes = nullptr) const {
    Matrix m = detail::base_system<Matrix>(c0, objective_,
                                           options_.projector ? &*options_.projector : nullptr);
    images.noalias() = m.template selfadjointView<Eigen::Lower>() * (probes ? *probes : probes_);
    if (journal) {
      const Matrix kr = reduce(Matrix(journal->keys()));
      m.template selfadjointView<Eigen::Lower>().rankUpdate(kr);
    }
    detail::invert_spd_in_place(
        m, minv,
        options_.projector ? "M = U^T (lambda C0 + C) U + alpha I" : "A = lambda C0 + C + alpha I",
        options_.spd_rcond_min);
  }

  // ---------------------------------------------------------------- the parts of a step

  /// The signed key set Kc = [K_new, K_old] (d_k × c) and the residuals Rc (d_v × c) of
  /// all its columns under the current weights; Σ = diag(+1 × n, −1 × m).
  struct SignedKeys {
    Matrix k, r;
    Index n = 0, m = 0;
    Index c() const { return n + m; }
  };

  SignedKeys signed_key_set(const Eigen::Ref<const Matrix>& k_new,
                            const Eigen::Ref<const Matrix>& r_new,
                            const std::vector<Index>& old_cols) const {
    SignedKeys sk;
    sk.n = k_new.cols();
    sk.m = Index(old_cols.size());
    sk.k.resize(key_dim(), sk.c());
    sk.r.resize(value_dim(), sk.c());
    sk.k.leftCols(sk.n) = k_new;
    sk.r.leftCols(sk.n) = r_new;
    if (sk.m > 0) {
      Matrix ko, vo;
      journal_.gather(old_cols, ko, vo);
      sk.r.rightCols(sk.m) = residual_of(ko, vo);
      sk.k.rightCols(sk.m) = ko;
    }
    return sk;
  }

  /// The factored capacitance system: G = M⁻¹K̂, S = Σ + K̂ᵀG, y = G S⁻¹, and the
  /// factors of G S⁻¹ Gᵀ = Zp Zpᵀ − Zn Znᵀ for the rank-c update of M⁻¹.
  struct Capacitance {
    Matrix y, zp, zn;
    RealScalar rcond = 0, amplification = 1;
  };

  Capacitance factor_capacitance(const Matrix& kr, Index n, Index m) const {
    const Index c = n + m;
    Capacitance cap;
    Matrix g;                                    // r x c
    detail::block_lower_product(minv_, kr, g);   // G = M⁻¹ K̂
    Matrix s = kr.transpose() * g;               // c x c
    s = RealScalar(0.5) * (s + s.transpose()).eval();
    s.diagonal().head(n).array() += Scalar(1);
    s.diagonal().tail(m).array() -= Scalar(1);
    if (m == 0) {
      Eigen::LLT<Matrix> llt(s);
      cap.rcond = llt.info() == Eigen::Success ? llt.rcond() : RealScalar(0);
      if (llt.info() != Eigen::Success || !(cap.rcond > options_.spd_rcond_min)) {
        throw numerical_error(
            "seqedit: the step's capacitance matrix I + K^T P A^-1 P K is not numerically "
            "positive definite (the keys or the system are too ill-conditioned)");
      }
      cap.zp = llt.matrixL().solve(g.transpose()).transpose();   // G L^-T
      cap.y = llt.matrixU().solve(cap.zp.transpose()).transpose();  // G L^-T L^-1 = G S^-1
      cap.amplification = RealScalar(1);                         // S ⪰ I
      return cap;
    }
    Eigen::SelfAdjointEigenSolver<Matrix> es(s);
    if (es.info() != Eigen::Success)
      throw numerical_error("seqedit: eigensolver failed on the downdate capacitance matrix");
    const auto& ev = es.eigenvalues();
    const RealScalar maxabs = ev.cwiseAbs().maxCoeff();
    const RealScalar minabs = ev.cwiseAbs().minCoeff();
    const RealScalar tol = tolerances::inertia_tolerance<RealScalar>(c, maxabs, options_.inertia_factor);
    Index npos = 0, nneg = 0;
    for (Index i = 0; i < c; ++i) {
      if (ev(i) > tol) ++npos;
      else if (ev(i) < -tol) ++nneg;
    }
    if (npos != n || nneg != m) {
      std::ostringstream os;
      os << "seqedit: removing " << m << " edit(s) would make the system lose definiteness "
         << "(capacitance inertia " << npos << "+/" << nneg << "-/" << (c - npos - nneg)
         << "0, expected " << n << "+/" << m << "-; min |eigenvalue| " << minabs
         << " against the tolerance " << tol << "); the editor is unchanged. "
         << "Call refresh(C0) to rebuild the system from the journal, or use alpha > 0";
      throw numerical_error(os.str());
    }
    cap.rcond = minabs / maxabs;
    cap.amplification = RealScalar(1) / minabs;
    const Matrix gq = g * es.eigenvectors();
    cap.zp.resize(g.rows(), npos);
    cap.zn.resize(g.rows(), nneg);
    Index ip = 0, in = 0;
    for (Index i = 0; i < c; ++i) {
      if (ev(i) > 0) cap.zp.col(ip++) = gq.col(i) / std::sqrt(ev(i));
      else cap.zn.col(in++) = gq.col(i) / std::sqrt(-ev(i));
    }
    cap.y = gq * ev.cwiseInverse().asDiagonal() * es.eigenvectors().transpose();
    return cap;
  }

  /// The left factor of the step's update Δ̃ = left Fᵀ, by history:
  /// Aligned R (+ e_{t−1}K with Algorithm 1), LatestOnly V − W0K = R + D_{t−1}K, None R.
  Matrix left_factor(const SignedKeys& sk) const {
    Matrix left = sk.r;
    if (options_.history == History::Aligned && options_.compensation == Compensation::Analytic)
      left.noalias() += e_ * sk.k;
    else if (options_.history == History::LatestOnly)
      left.noalias() += d_ * sk.k;
    detail::check_finite(left, "step residual factor");
    return left;
  }

  /// The regularised proposal: the applied update R_p(Δ_t) and, with Algorithm 1, the new
  /// deviation e_t = R_p(Δ_t) − Δ_t. Δ_t = left Fᵀ (− D_{t−1} for LatestOnly, − e_{t−1}
  /// with Algorithm 1). A regulariser with a factored entry gets (left, F) when Δ_t is
  /// exactly that product.
  struct Proposal {
    Matrix applied, deviation;
  };

  /// Lets a regulariser with `prepare(W0)` precompute what depends on W0 alone.
  void prepare_regulariser() {
    if constexpr (detail::has_prepare<Regulariser, Matrix>::value) regulariser_.prepare(w0_);
  }

  Proposal regularised_proposal(const Matrix& left, const Matrix& f) const {
    Proposal p;
    const Index dv = value_dim(), dk = key_dim();
    const bool latest = options_.history == History::LatestOnly;
    const bool analytic = options_.compensation == Compensation::Analytic;
    const Matrix w = weights();  // W_{t−1}
    if constexpr (factored_regulariser) {
      if (!latest && !analytic) {
        p.applied = regulariser_(left, f, w);
        detail::check_shape(p.applied, dv, dk, "regulariser output", "same shape as the update");
        detail::check_finite(p.applied, "regulariser output");
        return p;
      }
    }
    Matrix delta(dv, dk);
    delta.noalias() = left * f.transpose();
    if (latest) delta -= d_;
    if (analytic) delta -= e_;
    p.applied = regulariser_(delta, w);
    detail::check_shape(p.applied, dv, dk, "regulariser output", "same shape as the update");
    detail::check_finite(p.applied, "regulariser output");
    if (analytic) p.deviation = p.applied - delta;
    return p;
  }

  /// The general step of sections 3, 4, 6, 7: new columns (k_new, r_new, v_new) and
  /// superseded journal columns `old_cols`. See "Failure" for what the commit can do.
  std::vector<EditId> step(const Eigen::Ref<const Matrix>& k_new,
                           const Eigen::Ref<const Matrix>& r_new,
                           const Eigen::Ref<const Matrix>& v_new, const std::vector<Index>& old_cols) {
    require_intact();
    const SignedKeys sk = signed_key_set(k_new, r_new, old_cols);
    const Capacitance cap = factor_capacitance(reduce(sk.k), sk.n, sk.m);
    // F = U y: the key-side factor, Δ̃ = left Fᵀ.
    const Matrix f = options_.projector ? Matrix(options_.projector->basis() * cap.y) : cap.y;
    detail::check_finite(f, "step key factor");
    const Matrix left = left_factor(sk);
    Proposal prop;
    if constexpr (regularised) prop = regularised_proposal(left, f);

    // Room for the commit, allocated before anything changes.
    std::vector<Index> sorted_old = old_cols;
    std::sort(sorted_old.begin(), sorted_old.end());
    journal_.reserve_extra(sk.n);
    return commit(sk, cap, left, f, prop, k_new, v_new, sorted_old);
  }

  std::vector<EditId> commit(const SignedKeys& sk, const Capacitance& cap, const Matrix& left,
                             const Matrix& f, Proposal& prop, const Eigen::Ref<const Matrix>& k_new,
                             const Eigen::Ref<const Matrix>& v_new,
                             const std::vector<Index>& sorted_old) {
    std::vector<EditId> ids = journal_.append(k_new, v_new, tag_, next_serial_);  // rolls back
    journal_.erase_sorted(sorted_old);                                            // no-throw
    try {
      if (options_.history == History::Aligned) {
        // Block-lower rank-c update by GEMMs (see "Storage of M_t⁻¹").
        detail::block_lower_rank_update(minv_, cap.zp, Scalar(-1));
        detail::block_lower_rank_update(minv_, cap.zn, Scalar(1));
      }
      if constexpr (regularised) {
        d_ += prop.applied;  // coefficient-wise: allocates nothing
        if (options_.compensation == Compensation::Analytic) e_.swap(prop.deviation);
      } else if (options_.history == History::LatestOnly) {
        d_.noalias() = left * f.transpose();
      } else {
        d_.noalias() += left * f.transpose();
      }
    } catch (...) {
      damaged_ = true;
      throw;
    }
    ++steps_;
    last_ = Info();
    last_.added = sk.n;
    last_.removed = sk.m;
    last_.capacitance_rcond = cap.rcond;
    last_.amplification = cap.amplification;
    if (options_.drift_threshold > RealScalar(0)) {
      try {
        last_.drift = drift_estimate();
        if (!(last_.drift <= options_.drift_threshold)) refresh_needed_ = true;
      } catch (const std::bad_alloc&) {
        // The step is committed; a drift estimate that cannot be formed is reported as NaN.
      }
    }
    return ids;
  }

  Objective<Scalar> objective_;
  Options options_;
  Regulariser regulariser_;
  Matrix w0_, d_, minv_, e_;
  Matrix probes_, probe_images_;
  Journal<Scalar> journal_;
  Index steps_ = 0;
  std::uint64_t tag_ = 0;
  std::uint64_t next_serial_ = 1;
  Info last_;
  bool refresh_needed_ = false;
  bool damaged_ = false;
};

template <typename Scalar, typename Regulariser = NoRegulariser<Scalar>>
using Editor = SequentialEditor<Scalar, Regulariser>;

}  // namespace seqedit

#endif  // SEQEDIT_SEQUENTIAL_EDITOR_HPP

#ifndef SEQEDIT_SEQUENTIAL_EDITOR_HPP
#define SEQEDIT_SEQUENTIAL_EDITOR_HPP

/// \file sequential_editor.hpp
/// Sequential editing aligned with one-time editing (math.md sections 3, 4, 6, 7).

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <chrono>
#include <cstdint>
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
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
struct EditorOptions {
  /// OTE objective the steps reproduce. Default: History::Aligned.
  History history = History::Aligned;
  /// Error compensation for post-processing regularisers. Default: none.
  Compensation compensation = Compensation::None;
  /// Null-space projector P (AlphaEdit). Empty: P = I.
  std::optional<NullSpaceProjector<Scalar_>> projector;

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
  }
};

/// Everything a `SequentialEditor` holds, as plain data: what a state file stores.
/// `system_inverse` is the full symmetric r × r matrix M_t⁻¹ (see `SequentialEditor`,
/// "Storage of M_t⁻¹").
template <typename Scalar_>
struct EditorState {
  using Matrix = Eigen::Matrix<Scalar_, Eigen::Dynamic, Eigen::Dynamic>;
  Matrix initial_weights;              ///< W0, d_v × d_k
  Matrix weights;                      ///< W_t, d_v × d_k
  Matrix system_inverse;               ///< M_t⁻¹ (Aligned) or M_0⁻¹ (other histories), r × r
  Matrix deviation;                    ///< e_t (d_v × d_k) with Compensation::Analytic, else empty
  std::optional<Matrix> projector_basis;  ///< U (d_k × r) when a projector is used
  Objective<Scalar_> objective;
  History history = History::Aligned;
  Compensation compensation = Compensation::None;
  std::int64_t steps = 0;
  std::uint64_t editor_tag = 0;
  std::uint64_t next_serial = 1;
  Matrix journal_keys;                       ///< d_k × N
  Matrix journal_values;                     ///< d_v × N
  std::vector<std::uint64_t> journal_serials;  ///< N serials, increasing
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
/// **Memory** (scalars): r² (M_t⁻¹) + 2 d_v d_k (W0 and W_t) + d_v d_k with
/// Compensation::Analytic (e_t) + d_k r (U, when a projector is used) + (d_k + d_v) per
/// live edit for the journal (capacity doubles, so ≤ 2× that) — independent
/// of the number of steps. Temporaries per step: (2r + d_k + d_v) c + c², plus d_v d_k for
/// a regularised step.
///
/// **Requirements.** M_0 = Uᵀ λC0 U + α I_r must be positive definite (numerically: its
/// Cholesky factor's reciprocal condition number above 2ε), else the constructor
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
/// **Failure.** Every public mutator either succeeds or throws and leaves the editor exactly
/// as it was (weights, inverse, deviation, journal, step count): all results are computed in
/// temporaries before anything is committed.
///
/// **Drift.** The explicit inverse accumulates round-off like any updated factorisation;
/// in double it stays at the 1e-12 level over thousands of edits on well-conditioned
/// problems. `refresh(C0)` rebuilds M_t⁻¹ from C0 and the journal (O(d_k³)).
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
  static constexpr bool regularised = !detail::is_identity_regulariser<Regulariser>::value;

  /// Sets up the editor for W0 (d_v × d_k) and C0 (d_k × d_k, symmetric PSD).
  /// Cost: one r × r Cholesky factorisation and inversion (O(r³)), plus Uᵀ C0 U with a
  /// projector. Throws std::invalid_argument for wrong sizes, NaN/Inf, bad options;
  /// seqedit::numerical_error when M_0 is singular.
  SequentialEditor(const Eigen::Ref<const Matrix>& w0, const Eigen::Ref<const Matrix>& c0,
                   const Objective<Scalar>& objective, const Options& options = Options(),
                   const Regulariser& regulariser = Regulariser())
      : objective_(objective), options_(options), regulariser_(regulariser) {
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
    w_ = w0;
    invert_base(c0, nullptr, minv_);
    if (options_.compensation == Compensation::Analytic) {
      e_ = Matrix::Zero(w0_.rows(), w0_.cols());
    }
    journal_ = Journal<Scalar>(w0_.cols(), w0_.rows());
    tag_ = draw_tag();
  }

  /// Restores an editor from a saved state (validated: sizes, finiteness, journal ids).
  explicit SequentialEditor(const State& s, const Regulariser& regulariser = Regulariser())
      : objective_(s.objective), regulariser_(regulariser) {
    objective_.check();
    options_.history = s.history;
    options_.compensation = s.compensation;
    if (s.projector_basis) {
      options_.projector = NullSpaceProjector<Scalar>::from_basis(
          *s.projector_basis,
          RealScalar(1e3) * Eigen::NumTraits<RealScalar>::epsilon() *
              RealScalar(std::max<Index>(1, s.projector_basis->rows())));
    }
    options_.check();
    const Index dv = s.initial_weights.rows(), dk = s.initial_weights.cols();
    if (dv == 0 || dk == 0) throw std::invalid_argument("seqedit: state: W0 is empty");
    const Index r = options_.projector ? options_.projector->rank() : dk;
    if (options_.projector && options_.projector->dim() != dk)
      throw std::invalid_argument("seqedit: state: projector basis rows differ from d_k");
    detail::check_shape(s.weights, dv, dk, "state weights", "same shape as W0");
    detail::check_shape(s.system_inverse, r, r, "state system inverse", "r x r");
    if (s.compensation == Compensation::Analytic)
      detail::check_shape(s.deviation, dv, dk, "state deviation", "same shape as W0");
    detail::check_finite(s.initial_weights, "state W0");
    detail::check_finite(s.weights, "state weights");
    detail::check_finite(s.system_inverse, "state system inverse");
    detail::check_finite(s.deviation, "state deviation");
    const Index n = Index(s.journal_serials.size());
    detail::check_shape(s.journal_keys, dk, n, "state journal keys", "d_k x journal size");
    detail::check_shape(s.journal_values, dv, n, "state journal values", "d_v x journal size");
    detail::check_finite(s.journal_keys, "state journal keys");
    detail::check_finite(s.journal_values, "state journal values");
    if (s.steps < 0) throw std::invalid_argument("seqedit: state: negative step count");
    std::uint64_t prev = 0;
    for (std::uint64_t serial : s.journal_serials) {
      if (serial <= prev || serial >= s.next_serial)
        throw std::invalid_argument("seqedit: state: journal serials are not increasing "
                                    "or not below next_serial");
      prev = serial;
    }
    w0_ = s.initial_weights;
    w_ = s.weights;
    minv_ = s.system_inverse;
    e_ = s.deviation;
    steps_ = s.steps;
    tag_ = s.editor_tag;
    next_serial_ = s.next_serial;
    journal_ = Journal<Scalar>(dk, dv);
    journal_.reserve_extra(n);
    for (Index j = 0; j < n; ++j)
      journal_.restore(EditId{tag_, s.journal_serials[std::size_t(j)]}, s.journal_keys.col(j),
                       s.journal_values.col(j));
  }

  /// The editor's state as plain data (for saving). The inverse is exported as the full
  /// symmetric matrix; an editor restored from it continues bit for bit.
  State state() const {
    State s;
    s.initial_weights = w0_;
    s.weights = w_;
    s.system_inverse = detail::block_lower_to_full(minv_);
    s.deviation = e_;
    if (options_.projector) s.projector_basis = options_.projector->basis();
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
    Matrix r = v;
    r.noalias() -= w_ * k;
    return step(k, r, v, {});
  }

  /// One step with keys K and residuals R = V − W_{t−1} K under the current weights.
  std::vector<EditId> apply_residual(const Eigen::Ref<const Matrix>& k,
                                     const Eigen::Ref<const Matrix>& r) {
    check_batch(k, r, "R");
    Matrix v = r;
    v.noalias() += w_ * k;
    return step(k, r, v, {});
  }

  /// New edits (K, V) that supersede the earlier edits `ids` (math.md section 7,
  /// Proposition 3.5): afterwards D equals the OTE over the journal without `ids` and with
  /// the new edits. Returns the new ids.
  std::vector<EditId> replace(const std::vector<EditId>& ids, const Eigen::Ref<const Matrix>& k,
                              const Eigen::Ref<const Matrix>& v) {
    check_batch(k, v, "V");
    require_aligned("replace");
    Matrix r = v;
    r.noalias() -= w_ * k;
    return step(k, r, v, journal_.locate(ids, tag_));
  }

  /// `replace` with residuals under the current weights.
  std::vector<EditId> replace_residual(const std::vector<EditId>& ids,
                                       const Eigen::Ref<const Matrix>& k,
                                       const Eigen::Ref<const Matrix>& r) {
    check_batch(k, r, "R");
    require_aligned("replace");
    Matrix v = r;
    v.noalias() += w_ * k;
    return step(k, r, v, journal_.locate(ids, tag_));
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
  /// Use it to remove accumulated round-off or after a refused downdate.
  SequentialEditor& refresh(const Eigen::Ref<const Matrix>& c0) {
    detail::check_shape(c0, w0_.cols(), w0_.cols(), "C0", "d_k x d_k");
    detail::check_finite(c0, "C0");
    Matrix minv;
    invert_base(c0, options_.history == History::Aligned && !journal_.empty() ? &journal_ : nullptr,
                minv);
    minv_.swap(minv);
    return *this;
  }

  /// For each column of K, the journal entries with a matching key (see Journal::matches).
  std::vector<std::vector<EditId>> find_matching(const Eigen::Ref<const Matrix>& k,
                                                 RealScalar tol = RealScalar(0)) const {
    return journal_.matches(k, tol);
  }

  /// W_t.
  const Matrix& weights() const { return w_; }
  /// W0.
  const Matrix& initial_weights() const { return w0_; }
  /// D_t = W_t − W0.
  Matrix cumulative_update() const { return w_ - w0_; }
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
  /// e_t, the latest deviation R_p(Δ_t) − Δ_t (empty without Compensation::Analytic).
  const Matrix& deviation() const { return e_; }
  /// The journal of live edits.
  const Journal<Scalar>& journal() const { return journal_; }
  const Objective<Scalar>& objective() const { return objective_; }
  const Options& options() const { return options_; }
  const Regulariser& regulariser() const { return regulariser_; }
  /// The random tag carried by this editor's EditIds.
  std::uint64_t tag() const { return tag_; }

  /// Scalars held by the editor (inverse, weights, deviation, projector basis, journal
  /// capacity excluded): r² + 2 d_v d_k (+ d_v d_k) (+ d_k r).
  Index state_scalars() const {
    Index s = minv_.size() + w_.size() + w0_.size() + e_.size();
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

  void require_aligned(const char* what) const {
    if (options_.history != History::Aligned) {
      std::ostringstream os;
      os << "seqedit: " << what << " needs History::Aligned (the other histories do not "
         << "define an objective over a journal)";
      throw std::logic_error(os.str());
    }
  }

  void check_batch(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& v,
                   const char* vname) const {
    detail::check_rows(k, key_dim(), "K", "d_k, the columns of W0");
    if (k.cols() == 0) throw std::invalid_argument("seqedit: empty batch (K has no columns)");
    detail::check_shape(v, value_dim(), k.cols(), vname, "d_v rows from W0, one column per key");
    detail::check_finite(k, "K");
    detail::check_finite(v, vname);
  }

  /// K̂ = Uᵀ K (or K without projector).
  Matrix reduce(const Matrix& k) const {
    if (!options_.projector) return k;
    return options_.projector->basis().transpose() * k;
  }

  /// minv = (M_0 + Σ_journal K̂K̂ᵀ)⁻¹. Peak memory: two r × r matrices (the system, factored
  /// in place, and its inverse) besides the caller's C0.
  void invert_base(const Eigen::Ref<const Matrix>& c0, const Journal<Scalar>* journal,
                   Matrix& minv) const {
    Matrix m = detail::base_system<Matrix>(c0, objective_,
                                           options_.projector ? &*options_.projector : nullptr);
    if (journal) {
      const Matrix kr = reduce(Matrix(journal->keys()));
      m.template selfadjointView<Eigen::Lower>().rankUpdate(kr);
    }
    detail::invert_spd_in_place(
        m, minv,
        options_.projector ? "M = U^T (lambda C0 + C) U + alpha I" : "A = lambda C0 + C + alpha I");
  }

  /// The general step of sections 3, 4, 6, 7: new columns (k_new, r_new, v_new) and
  /// superseded journal columns `old_cols`. All work is done in temporaries; the commit
  /// at the end cannot fail except by std::bad_alloc while the journal grows, which is
  /// done first.
  std::vector<EditId> step(const Eigen::Ref<const Matrix>& k_new,
                           const Eigen::Ref<const Matrix>& r_new,
                           const Eigen::Ref<const Matrix>& v_new, const std::vector<Index>& old_cols) {
    const Index n = k_new.cols();
    const Index m = Index(old_cols.size());
    const Index c = n + m;
    const Index dk = key_dim(), dv = value_dim();

    // Signed key set Kc = [K_new, K_old] and residuals under the current weights.
    Matrix kc(dk, c), rc(dv, c);
    kc.leftCols(n) = k_new;
    rc.leftCols(n) = r_new;
    if (m > 0) {
      Matrix ko, vo;
      journal_.gather(old_cols, ko, vo);
      kc.rightCols(m) = ko;
      rc.rightCols(m) = vo;
      rc.rightCols(m).noalias() -= w_ * ko;
    }

    const Matrix kr = reduce(kc);                                             // r x c
    Matrix g;                                                                 // r x c
    detail::block_lower_product(minv_, kr, g);                                // G = M⁻¹ K̂
    Matrix s = kr.transpose() * g;                                            // c x c
    s = RealScalar(0.5) * (s + s.transpose()).eval();
    s.diagonal().head(n).array() += Scalar(1);
    s.diagonal().tail(m).array() -= Scalar(1);

    // y = G S⁻¹ and the factors of the update G S⁻¹ Gᵀ = Zp Zpᵀ − Zn Znᵀ.
    Matrix y, zp, zn;
    if (m == 0) {
      Eigen::LLT<Matrix> llt(s);
      if (llt.info() != Eigen::Success || !(llt.rcond() > detail::singular_rcond<RealScalar>(c))) {
        throw numerical_error(
            "seqedit: the step's capacitance matrix I + K^T P A^-1 P K is not numerically "
            "positive definite (the keys or the system are too ill-conditioned)");
      }
      zp = llt.matrixL().solve(g.transpose()).transpose();       // G L^-T
      y = llt.matrixU().solve(zp.transpose()).transpose();       // G L^-T L^-1 = G S^-1
    } else {
      Eigen::SelfAdjointEigenSolver<Matrix> es(s);
      if (es.info() != Eigen::Success)
        throw numerical_error("seqedit: eigensolver failed on the downdate capacitance matrix");
      const auto& ev = es.eigenvalues();
      const RealScalar tol = RealScalar(100) * RealScalar(c) *
                             Eigen::NumTraits<RealScalar>::epsilon() *
                             std::max(RealScalar(1), ev.cwiseAbs().maxCoeff());
      Index npos = 0, nneg = 0;
      for (Index i = 0; i < c; ++i) {
        if (ev(i) > tol) ++npos;
        else if (ev(i) < -tol) ++nneg;
      }
      if (npos != n || nneg != m) {
        std::ostringstream os;
        os << "seqedit: removing " << m << " edit(s) would make the system lose definiteness "
           << "(capacitance inertia " << npos << "+/" << nneg << "-/" << (c - npos - nneg)
           << "0, expected " << n << "+/" << m << "-); the editor is unchanged. "
           << "Call refresh(C0) to rebuild the system from the journal, or use alpha > 0";
        throw numerical_error(os.str());
      }
      const Matrix gq = g * es.eigenvectors();
      zp.resize(g.rows(), npos);
      zn.resize(g.rows(), nneg);
      Index ip = 0, in = 0;
      for (Index i = 0; i < c; ++i) {
        if (ev(i) > 0) zp.col(ip++) = gq.col(i) / std::sqrt(ev(i));
        else zn.col(in++) = gq.col(i) / std::sqrt(-ev(i));
      }
      y = gq * ev.cwiseInverse().asDiagonal() * es.eigenvectors().transpose();
    }

    // F = U y: the key-side factor, Δ̃ = left Fᵀ.
    Matrix f = options_.projector ? Matrix(options_.projector->basis() * y) : y;  // d_k x c

    Matrix left;  // d_v x c
    switch (options_.history) {
      case History::Aligned:
        left = rc;
        if (options_.compensation == Compensation::Analytic) left.noalias() += e_ * kc;
        break;
      case History::LatestOnly:  // V_t − W0 K_t = R_t + D_{t−1} K_t
        left = rc;
        left.noalias() += w_ * kc;
        left.noalias() -= w0_ * kc;
        break;
      case History::None:
        left = rc;
        break;
    }
    detail::check_finite(left, "step residual factor");
    detail::check_finite(f, "step key factor");

    // The weight update, computed before anything is committed.
    Matrix new_w, new_e;
    const bool latest = options_.history == History::LatestOnly;
    if constexpr (regularised) {
      Matrix delta(dv, dk);
      delta.noalias() = left * f.transpose();
      if (latest) delta -= (w_ - w0_);
      if (options_.compensation == Compensation::Analytic) delta -= e_;
      Matrix applied = regulariser_(delta, w_);
      detail::check_shape(applied, dv, dk, "regulariser output", "same shape as the update");
      detail::check_finite(applied, "regulariser output");
      if (options_.compensation == Compensation::Analytic) new_e = applied - delta;
      new_w = w_ + applied;
    } else if (latest) {
      new_w = w0_;
      new_w.noalias() += left * f.transpose();
    }

    // Commit. Growing the journal is the only step that can throw (std::bad_alloc).
    journal_.reserve_extra(n);
    std::vector<EditId> ids = journal_.append(k_new, v_new, tag_, next_serial_);
    if (m > 0) journal_.erase(old_cols);
    if (options_.history == History::Aligned) {
      // Block-lower rank-c update by GEMMs (see "Storage of M_t⁻¹").
      detail::block_lower_rank_update(minv_, zp, Scalar(-1));
      detail::block_lower_rank_update(minv_, zn, Scalar(1));
    }
    if constexpr (regularised) {
      w_.swap(new_w);
      if (options_.compensation == Compensation::Analytic) e_.swap(new_e);
    } else {
      if (latest) w_.swap(new_w);
      else w_.noalias() += left * f.transpose();
    }
    ++steps_;
    return ids;
  }

  Objective<Scalar> objective_;
  Options options_;
  Regulariser regulariser_;
  Matrix w0_, w_, minv_, e_;
  Journal<Scalar> journal_;
  Index steps_ = 0;
  std::uint64_t tag_ = 0;
  std::uint64_t next_serial_ = 1;
};

template <typename Scalar, typename Regulariser = NoRegulariser<Scalar>>
using Editor = SequentialEditor<Scalar, Regulariser>;

}  // namespace seqedit

#endif  // SEQEDIT_SEQUENTIAL_EDITOR_HPP

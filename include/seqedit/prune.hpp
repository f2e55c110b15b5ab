#ifndef SEQEDIT_PRUNE_HPP
#define SEQEDIT_PRUNE_HPP

/// \file prune.hpp
/// The PRUNE post-processing regulariser (math.md section 5): logarithmic shrinkage of the
/// singular values of a step update that exceed the largest singular value of the weights.

#include "seqedit/detail/checks.hpp"
#include "seqedit/errors.hpp"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace seqedit {

namespace detail {
namespace prune_impl {

/// SplitMix64: a tiny, fully specified generator, so that PRUNE's pseudo-random start
/// and sampling vectors are the same on every platform and every run.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  /// Uniform on [-√3, √3): mean 0, variance 1.
  double unit_variance() {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;  // [0, 1), exact
    return (2.0 * u - 1.0) * 1.7320508075688772;
  }

 private:
  std::uint64_t state_;
};

template <typename Derived>
void fill_unit_variance(Eigen::MatrixBase<Derived>& m, SplitMix64& gen) {
  using S = typename Derived::Scalar;
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<S>(gen.unit_variance());
  }
}

/// Thin QR of a (rows × cols): a = q r with q (rows × k) orthonormal, r (k × cols) upper
/// trapezoidal, k = min(rows, cols). Householder, so q is orthonormal to working
/// precision whatever the rank of a.
template <typename Matrix>
void thin_qr(const Matrix& a, Matrix& q, Matrix& r) {
  const Eigen::Index k = std::min(a.rows(), a.cols());
  Eigen::HouseholderQR<Matrix> qr(a);
  q = qr.householderQ() * Matrix::Identity(a.rows(), k);
  r = qr.matrixQR().topRows(k).template triangularView<Eigen::Upper>();
}

}  // namespace prune_impl
}  // namespace detail

/// Parameters of `Prune`, stored by value. The defaults suit both `float` and `double`.
/// \tparam RealScalar_ `float` or `double`.
template <typename RealScalar_>
struct PruneOptions {
  using RealScalar = RealScalar_;

  /// Relative tolerance of σ_max(W_ref). The Golub–Kahan–Lanczos iteration stops once its
  /// certified residual bound satisfies β_k |x_k| ≤ tolerance · θ (see `Prune::sigma_max`).
  /// Default max(1e-10, 100 ε): 1e-10 in double, 1.19e-5 in float. Must lie in (0, 1).
  RealScalar tolerance = std::max(RealScalar(1e-10),
                                  RealScalar(100) * Eigen::NumTraits<RealScalar>::epsilon());

  /// Largest number of Golub–Kahan–Lanczos steps (each step: one product with W and one
  /// with Wᵀ, plus full reorthogonalisation). At least 1. Default 300. The iteration also
  /// stops, exactly, when the Krylov space fills min(d_v, d_k) dimensions.
  Eigen::Index max_iterations = 300;

  /// What to do when σ_max has not met `tolerance` after `max_iterations` steps:
  /// `false` (default) throws `seqedit::numerical_error`; `true` uses the last Ritz value,
  /// which is a lower bound of σ_max.
  bool accept_unconverged = false;

  /// Relative tolerance of the range of a dense Δ: the basis Q is accepted once
  /// ‖Δ − Q QᵀΔ‖_F ≤ range_tolerance · ‖Δ‖_F, measured explicitly. Default 256 ε
  /// (5.7e-14 in double, 3.1e-5 in float). Must lie in (0, 1).
  RealScalar range_tolerance = RealScalar(256) * Eigen::NumTraits<RealScalar>::epsilon();

  /// Columns sampled in the first round of the range finder (later rounds sample as many
  /// columns as the basis already has, so the block doubles). At least 1. Default 16.
  Eigen::Index initial_block = 16;

  /// Throws std::invalid_argument naming the first field out of range.
  void check() const {
    const auto fail = [](const char* field, const std::string& rule, auto value) {
      std::ostringstream os;
      os << "seqedit: PruneOptions::" << field << " must be " << rule << ", got " << value;
      throw std::invalid_argument(os.str());
    };
    if (!(tolerance > RealScalar(0) && tolerance < RealScalar(1)))
      fail("tolerance", "in (0, 1)", tolerance);
    if (max_iterations < 1) fail("max_iterations", "at least 1", max_iterations);
    if (!(range_tolerance > RealScalar(0) && range_tolerance < RealScalar(1)))
      fail("range_tolerance", "in (0, 1)", range_tolerance);
    if (initial_block < 1) fail("initial_block", "at least 1", initial_block);
  }
};

/// PRUNE (math.md section 5): R_p(Δ) = U Σ̄ Vᵀ where Δ = U Σ Vᵀ is the thin SVD of the step
/// update and
///
///   σ̄_j = f(σ_j) = ln σ_j − ln σ_max + σ_max   if σ_j > σ_max,   σ̄_j = σ_j otherwise,
///
/// with σ_max the largest singular value of the current weights W_ref = W_{t−1}. f is
/// continuous and increasing (f(σ_max) = σ_max, f′(σ) = 1/σ), so the order of the
/// singular values is kept and R_p is continuous in Δ and in σ_max. Only the triplets
/// above σ_max change:
///
///   R_p(Δ) = Δ + Σ_{σ_j > σ_max} (f(σ_j) − σ_j) u_j v_jᵀ,
///
/// which is how both call forms compute it, without ever taking a dense SVD of the
/// d_v × d_k update.
///
/// **σ_max(W_ref)** (`sigma_max`): Golub–Kahan–Lanczos bidiagonalisation with full
/// reorthogonalisation from a deterministic pseudo-random start vector; see `sigma_max`
/// for the stopping rule, the cost and what happens without convergence.
///
/// **Factored form** Δ = L Rᵀ (L d_v × n, R d_k × n): thin QR L = Q_L R_L, R = Q_R R_R,
/// SVD of the n × n core R_L R_Rᵀ = X S Yᵀ, then u_j = Q_L x_j, v_j = Q_R y_j. Exact; cost
/// O((d_v + d_k) n² + n³) plus O(d_v d_k n) to form the dense result.
///
/// **Dense form**: Δ has rank r ≤ n ≪ min(d_v, d_k) in practice. An adaptive randomized
/// range finder builds an orthonormal Q (d_v × q) with range(Δ) ⊆ range(Q):
/// 1. sample Y = Δ Ω with a block Ω (d_k × b) of deterministic pseudo-random unit-variance
///    entries (b = `initial_block` first, then b = q, so the block doubles);
/// 2. remove range(Q) from Y (classical Gram–Schmidt, twice), take the directions of Y
///    whose column-pivoted QR diagonal exceeds range_tolerance · ‖Δ‖_F, and extend Q by a
///    Householder QR of [Q | new columns] (orthonormal to working precision);
/// 3. when a block brings fewer new directions than it sampled (the range is exhausted),
///    **verify**: compute B = QᵀΔ and the residual ‖Δ − Q B‖_F explicitly; accept Q when it
///    is ≤ range_tolerance · ‖Δ‖_F. Otherwise keep sampling (if the block brought nothing,
///    the next block is added whole, so every round makes progress); Q = full basis
///    (q = d_v) ends the search.
///
/// Exactness does not rest on probability: acceptance is the measured residual. Then
/// Δ = Q B + E with ‖E‖_F ≤ range_tolerance · ‖Δ‖_F (round-off level by default), the SVD
/// of Q B comes from the factored route with L = Q, R = Bᵀ, and the correction is added
/// to Δ itself, so the part E is returned untouched. The result differs from the exact
/// R_p(Δ) by O(‖E‖_F · max(1, 1/σ_max)). Randomness only affects the cost: with probability
/// one each sampled block has full rank in the remaining range, so q = r and the cost is
/// O(d_v d_k r) (about 2 d_v d_k (2r) flop for sampling plus 4 d_v d_k r for the
/// verification) plus O((d_v + d_k) r²) for the QR and SVD. A Δ of full numerical rank
/// costs O(d_v² d_k), as a dense SVD would.
///
/// Shortcut: σ_1(Δ) ≤ ‖Δ‖_F, so when ‖Δ‖_F ≤ σ_max nothing exceeds σ_max and Δ is returned
/// as it is, after computing only σ_max.
///
/// Errors: std::invalid_argument when the shapes disagree, an input holds NaN or ±Inf,
/// or W_ref = 0 while Δ ≠ 0 (ln σ_max undefined); seqedit::numerical_error when σ_max does
/// not converge and `accept_unconverged` is false.
///
/// Example:
/// \code
///   seqedit::Prune<double> prune;                      // default PruneOptions
///   Eigen::MatrixXd w = Eigen::MatrixXd::Random(40, 90);
///   Eigen::MatrixXd k = Eigen::MatrixXd::Random(90, 3), r = 50 * Eigen::MatrixXd::Random(40, 3);
///   Eigen::MatrixXd delta = r * k.transpose();         // rank 3
///   Eigen::MatrixXd a = prune(delta, w);               // dense form
///   Eigen::MatrixXd b = prune(r, k, w);                // factored form, same result
/// \endcode
///
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
class Prune {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Options = PruneOptions<RealScalar>;

  static_assert(std::is_floating_point<Scalar>::value, "Prune needs a real floating-point Scalar");

  static constexpr bool is_identity = false;

  /// Default options.
  Prune() = default;

  /// Given options; throws std::invalid_argument (naming the field) if they are invalid.
  explicit Prune(const Options& options) : options_(options) { options_.check(); }

  const Options& options() const { return options_; }

  /// "prune" (the description stored in state files; the options are not part of it:
  /// they change only convergence tolerances, math.md section 5).
  std::string describe() const { return "prune"; }
  /// Prune with default options from its description; std::invalid_argument unless "prune".
  static Prune parse(const std::string& text) {
    if (text != "prune")
      throw std::invalid_argument("seqedit: '" + text + "' does not describe Prune (\"prune\")");
    return Prune();
  }

  /// f(σ) = ln σ − ln σ_max + σ_max for σ > σ_max, σ otherwise (math.md section 5).
  static RealScalar shrink(RealScalar sigma, RealScalar sigma_max) {
    return sigma > sigma_max ? std::log(sigma / sigma_max) + sigma_max : sigma;
  }

  /// R_p(Δ) for a dense update Δ (d_v × d_k) and the weights W_ref it will be added to.
  Matrix operator()(const Eigen::Ref<const Matrix>& delta,
                    const Eigen::Ref<const Matrix>& w_ref) const {
    detail::check_shape(w_ref, delta.rows(), delta.cols(), "w_ref", "the shape of delta");
    detail::check_finite(delta, "delta");
    detail::check_finite(w_ref, "w_ref");
    const RealScalar smax = sigma_max(w_ref);
    const RealScalar delta_norm = delta.norm();
    if (delta_norm <= smax) return delta;  // σ_1(Δ) ≤ ‖Δ‖_F ≤ σ_max: nothing to shrink
    require_positive(smax);

    Matrix b;  // Qᵀ Δ
    const Matrix q = range_basis(delta, delta_norm, b);
    Matrix q_right, r_right;
    detail::prune_impl::thin_qr(Matrix(b.transpose()), q_right, r_right);
    const Matrix core = r_right.transpose();  // Q B = Q core Q_rightᵀ
    Matrix out = delta;
    add_correction(out, q, core, q_right, smax);
    return out;
  }

  /// R_p(Δ) for Δ = left · rightᵀ (left d_v × n, right d_k × n), without forming the SVD
  /// of the dense product: the factored entry the editor uses (regulariser.hpp).
  Matrix operator()(const Eigen::Ref<const Matrix>& left, const Eigen::Ref<const Matrix>& right,
                    const Eigen::Ref<const Matrix>& w_ref) const {
    detail::check_rows(left, w_ref.rows(), "left", "w_ref has that many rows");
    detail::check_shape(right, w_ref.cols(), left.cols(), "right",
                        "w_ref.cols() x left.cols()");
    detail::check_finite(left, "left");
    detail::check_finite(right, "right");
    detail::check_finite(w_ref, "w_ref");
    const RealScalar smax = sigma_max(w_ref);
    Matrix out = Matrix::Zero(w_ref.rows(), w_ref.cols());
    if (left.cols() == 0 || out.rows() == 0 || out.cols() == 0) return out;
    out.noalias() = left * right.transpose();

    Matrix q_left, r_left, q_right, r_right;
    detail::prune_impl::thin_qr(Matrix(left), q_left, r_left);
    detail::prune_impl::thin_qr(Matrix(right), q_right, r_right);
    Matrix core(r_left.rows(), r_right.rows());
    core.noalias() = r_left * r_right.transpose();
    if (core.norm() <= smax) return out;  // ‖core‖_F = ‖Δ‖_F ≥ σ_1(Δ)
    require_positive(smax);
    add_correction(out, q_left, core, q_right, smax);
    return out;
  }

  /// σ_max(W), the largest singular value, by Golub–Kahan–Lanczos bidiagonalisation with
  /// full reorthogonalisation: A V_k = U_k B_k, Aᵀ U_k = V_k B_kᵀ + β_k v_{k+1} e_kᵀ with
  /// B_k upper bidiagonal. The largest singular value θ of B_k, with left singular vector
  /// x, satisfies ‖Aᵀ(U_k x) − θ V_k y‖ = β_k |x_k|, so some singular value of W lies within
  /// β_k |x_k| of θ, and θ ≤ σ_max always (interlacing). Stops when β_k |x_k| ≤
  /// tolerance · θ, or exactly when the Krylov space is invariant (W v_{k+1} ∈ range(U_k))
  /// or fills min(d_v, d_k) dimensions: then W V_{k+1} = U_k [B_k, β_k e_k] (or W = U_k
  /// [B_k, β_k e_k] V_{k+1}ᵀ), and the largest singular value of that k × (k+1) matrix,
  /// returned, is a singular value of W.
  ///
  /// Start vector: the warm start set by `prepare(W0)` when it has W's column count (the
  /// editor calls `prepare` with its W0, so every step starts from W0's dominant right
  /// singular vector, which the small edits of a sequence barely move), otherwise
  /// deterministic pseudo-random (SplitMix64, fixed seed). Either way the result is
  /// reproducible (the warm start is a function of W0 alone, so a resumed editor computes
  /// it again bit for bit), and in exact arithmetic θ → σ_max unless the start is
  /// orthogonal to the dominant right singular vectors. The stopping test is the same
  /// certified bound, so the start changes the number of steps, not the guarantee. Cost per step: 4 d_v d_k flop for the two products plus
  /// O(k (d_v + d_k)) for reorthogonalisation; memory k (d_v + d_k) scalars.
  ///
  /// Without convergence after `max_iterations` steps: throws seqedit::numerical_error
  /// (the message gives θ and the bound), or, with `accept_unconverged`, returns θ.
  /// W = 0 gives 0. Throws std::invalid_argument if W holds NaN or ±Inf.
  RealScalar sigma_max(const Eigen::Ref<const Matrix>& w) const {
    return sigma_max(w, warm_.size() == w.cols() ? &warm_ : nullptr);
  }

  /// σ_max(W) from the start vector `start` (d_k; nullptr: the pseudo-random one), as
  /// above. `ritz` receives the final Ritz approximation of the dominant right singular
  /// vector (unit norm) and `steps` the number of Lanczos steps taken.
  RealScalar sigma_max(const Eigen::Ref<const Matrix>& w, const Vector* start, Vector* ritz = nullptr,
                       Eigen::Index* steps = nullptr) const {
    detail::check_finite(w, "w_ref");
    const Eigen::Index m = w.rows(), n = w.cols();
    if (steps) *steps = 0;
    if (ritz) ritz->setZero(n);
    if (m == 0 || n == 0) return RealScalar(0);
    if (start && start->size() != n) {
      std::ostringstream os;
      os << "seqedit: Prune::sigma_max: the start vector has " << start->size() << " entries, W has " << n
         << " columns";
      throw std::invalid_argument(os.str());
    }
    const RealScalar eps = Eigen::NumTraits<RealScalar>::epsilon();
    const Eigen::Index kmax = std::min(options_.max_iterations, std::min(m, n));

    Matrix v_basis(n, kmax + 1), u_basis(m, kmax);
    Vector alpha(kmax), beta(kmax);

    // v_1: pseudo-random unit vector; if W v_1 = 0 (v_1 in the null space), fall back on
    // the coordinate vector of W's largest column, which W does not annihilate.
    Vector v(n);
    if (start && start->allFinite() && start->norm() > RealScalar(0)) {
      v = start->normalized();
    } else {
      detail::prune_impl::SplitMix64 gen(0x5eed0f5a3e11ULL);
      detail::prune_impl::fill_unit_variance(v, gen);
      v.normalize();
    }
    Vector p(m);
    p.noalias() = w * v;
    if (p.norm() == RealScalar(0)) {
      Eigen::Index jmax = 0;
      const RealScalar cmax = w.colwise().norm().maxCoeff(&jmax);
      if (cmax == RealScalar(0)) return RealScalar(0);  // W = 0
      v.setZero();
      v(jmax) = Scalar(1);
      p.noalias() = w * v;
    }
    v_basis.col(0) = v;
    alpha(0) = p.norm();
    u_basis.col(0) = p / alpha(0);
    RealScalar scale = alpha(0);  // running lower estimate of ‖W‖_2, for breakdown tests

    Vector r(n), coef, y;
    RealScalar theta = alpha(0), bound = std::numeric_limits<RealScalar>::infinity();
    for (Eigen::Index k = 1;; ++k) {
      // Here B_k (k × k) is known: alpha(0..k-1), beta(0..k-2).
      r.noalias() = w.transpose() * u_basis.col(k - 1);
      r -= alpha(k - 1) * v_basis.col(k - 1);
      for (int pass = 0; pass < 2; ++pass) {
        coef.noalias() = v_basis.leftCols(k).transpose() * r;
        r.noalias() -= v_basis.leftCols(k) * coef;
      }
      beta(k - 1) = r.norm();
      scale = std::max(scale, beta(k - 1));

      RealScalar x_last = RealScalar(0);
      ritz_largest(alpha.head(k), beta.head(k - 1), theta, x_last, ritz ? &y : nullptr);
      if (steps) *steps = k;
      if (ritz) ritz->noalias() = v_basis.leftCols(k) * y;
      bound = beta(k - 1) * std::abs(x_last);
      if (bound <= options_.tolerance * theta) return theta;
      // U_k spans R^{d_v} (k = d_v) or V_k spans R^{d_k} (k = d_k, then β_k ≈ 0): the
      // singular values of [B_k, β_k e_k] are exactly those of W.
      if (k == std::min(m, n)) return augmented_largest(alpha.head(k), beta.head(k));
      if (k == kmax) break;

      v_basis.col(k) = r / beta(k - 1);
      p.noalias() = w * v_basis.col(k);
      p -= beta(k - 1) * u_basis.col(k - 1);
      for (int pass = 0; pass < 2; ++pass) {
        coef.noalias() = u_basis.leftCols(k).transpose() * p;
        p.noalias() -= u_basis.leftCols(k) * coef;
      }
      const RealScalar a = p.norm();
      if (a <= RealScalar(8) * eps * std::sqrt(RealScalar(k + 1)) * scale) {
        // W v_{k+1} ∈ range(U_k): W V_{k+1} = U_k [B_k, β_k e_k] exactly, so the singular
        // values of that k × (k+1) matrix are singular values of W.
        return augmented_largest(alpha.head(k), beta.head(k));
      }
      alpha(k) = a;
      scale = std::max(scale, a);
      u_basis.col(k) = p / a;
    }

    if (options_.accept_unconverged) return theta;
    std::ostringstream os;
    os << "seqedit: Prune::sigma_max did not converge in " << kmax
       << " Golub-Kahan-Lanczos steps: estimate " << theta << ", residual bound " << bound
       << " (relative " << bound / theta << ") exceeds PruneOptions::tolerance = "
       << options_.tolerance << "; raise max_iterations or set accept_unconverged";
    throw numerical_error(os.str());
  }

  /// Sets the warm start of `sigma_max` to the dominant right singular vector of `w0`
  /// (the editor calls this with its W0 when it is built or restored). An empty or zero
  /// W0 leaves no warm start. Throws std::invalid_argument if W0 holds NaN or ±Inf and
  /// seqedit::numerical_error as `sigma_max` does.
  void prepare(const Eigen::Ref<const Matrix>& w0) {
    Vector v;
    const RealScalar s = sigma_max(w0, nullptr, &v);
    if (s > RealScalar(0) && v.norm() > RealScalar(0)) {
      warm_ = v.normalized();
    } else {
      warm_.resize(0);
    }
  }

  /// The warm start (empty without `prepare`).
  const Vector& warm_start() const { return warm_; }

 private:
  Options options_{};
  Vector warm_;  ///< start vector of sigma_max (see prepare)

  static void require_positive(RealScalar smax) {
    if (!(smax > RealScalar(0)))
      throw std::invalid_argument(
          "seqedit: Prune: w_ref is zero (sigma_max = 0) while delta is not; "
          "ln sigma_j - ln sigma_max is undefined");
  }

  /// Largest singular value θ of the upper bidiagonal B (diag a, superdiagonal b) and the
  /// last component of its left singular vector, from the tridiagonal BᵀB.
  static void ritz_largest(const Vector& a, const Vector& b, RealScalar& theta,
                           RealScalar& x_last, Vector* y = nullptr) {
    const Eigen::Index k = a.size();
    Vector diag(k), sub(std::max<Eigen::Index>(k - 1, 0));
    for (Eigen::Index i = 0; i < k; ++i)
      diag(i) = a(i) * a(i) + (i > 0 ? b(i - 1) * b(i - 1) : Scalar(0));
    for (Eigen::Index i = 0; i + 1 < k; ++i) sub(i) = a(i) * b(i);
    Eigen::SelfAdjointEigenSolver<Matrix> es;
    es.computeFromTridiagonal(diag, sub, Eigen::ComputeEigenvectors);
    const RealScalar lambda = std::max(es.eigenvalues()(k - 1), RealScalar(0));
    theta = std::sqrt(lambda);
    // x = B y / θ; the last row of B holds only a(k-1).
    x_last = theta > RealScalar(0) ? a(k - 1) * es.eigenvectors()(k - 1, k - 1) / theta
                                   : RealScalar(1);
    if (y) *y = es.eigenvectors().col(k - 1);  // right singular vector of B_k
  }

  /// Largest singular value of the k × (k+1) matrix [B_k, β_k e_k] (B_k upper bidiagonal
  /// with diagonal a and superdiagonal b(0..k-2); b(k-1) = β_k).
  static RealScalar augmented_largest(const Vector& a, const Vector& b) {
    const Eigen::Index k = a.size();
    Matrix bk = Matrix::Zero(k, k + 1);
    for (Eigen::Index i = 0; i < k; ++i) {
      bk(i, i) = a(i);
      bk(i, i + 1) = b(i);
    }
    return Eigen::JacobiSVD<Matrix>(bk).singularValues()(0);
  }

  /// ‖Δ − Q B‖_F, by column blocks (no d_v × d_k temporary).
  static RealScalar residual_norm(const Eigen::Ref<const Matrix>& delta, const Matrix& q,
                                  const Matrix& b) {
    const Eigen::Index chunk = 256;
    RealScalar sum = RealScalar(0);
    Matrix e;
    for (Eigen::Index j0 = 0; j0 < delta.cols(); j0 += chunk) {
      const Eigen::Index w = std::min(chunk, delta.cols() - j0);
      e = delta.middleCols(j0, w);
      e.noalias() -= q * b.middleCols(j0, w);
      sum += e.squaredNorm();
    }
    return std::sqrt(sum);
  }

  /// Orthonormal Q with range(Δ) ⊆ range(Q) up to the verified residual (see the class
  /// documentation); also returns B = QᵀΔ.
  Matrix range_basis(const Eigen::Ref<const Matrix>& delta, RealScalar delta_norm,
                     Matrix& b) const {
    const Eigen::Index m = delta.rows(), n = delta.cols();
    const RealScalar tol = options_.range_tolerance * delta_norm;
    detail::prune_impl::SplitMix64 gen(0x9a3b1e5d7c2f4801ULL);
    Matrix q(m, 0), omega, y, c, fresh;
    Eigen::Index block = std::min(options_.initial_block, m);
    bool take_all = false;
    for (;;) {
      const Eigen::Index qc = q.cols();
      const Eigen::Index bs = std::min(block, m - qc);
      omega.resize(n, bs);
      detail::prune_impl::fill_unit_variance(omega, gen);
      y.noalias() = delta * omega;
      if (qc > 0) {
        for (int pass = 0; pass < 2; ++pass) {
          c.noalias() = q.transpose() * y;
          y.noalias() -= q * c;
        }
      }
      Eigen::Index added = bs;
      if (take_all) {
        fresh = y;
      } else {
        Eigen::ColPivHouseholderQR<Matrix> cp(y);
        added = 0;
        while (added < bs && std::abs(cp.matrixQR()(added, added)) > tol) ++added;
        fresh = (y * cp.colsPermutation()).leftCols(added);
      }
      take_all = false;
      if (added > 0) {
        Matrix stacked(m, qc + added);
        stacked << q, fresh;
        Eigen::HouseholderQR<Matrix> hq(stacked);
        q = hq.householderQ() * Matrix::Identity(m, qc + added);
      }
      if (q.cols() == m) {  // complete basis of R^{d_v}
        b.noalias() = q.transpose() * delta;
        return q;
      }
      if (added < bs) {  // the block found the range exhausted: verify
        b.noalias() = q.transpose() * delta;
        if (residual_norm(delta, q, b) <= tol) return q;
        if (added == 0) take_all = true;  // guarantee progress next round
      }
      block = std::max(block, q.cols());
    }
  }

  /// out += Σ_{σ_j > σ_max} (f(σ_j) − σ_j) (Q_L x_j)(Q_R y_j)ᵀ with core = X S Yᵀ.
  static void add_correction(Matrix& out, const Matrix& q_left, const Matrix& core,
                             const Matrix& q_right, RealScalar smax) {
    Eigen::JacobiSVD<Matrix> svd(core, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Vector& s = svd.singularValues();
    Eigen::Index count = 0;
    while (count < s.size() && s(count) > smax) ++count;
    if (count == 0) return;
    Vector d(count);
    for (Eigen::Index j = 0; j < count; ++j) d(j) = shrink(s(j), smax) - s(j);
    Matrix u(q_left.rows(), count), v(q_right.rows(), count);
    u.noalias() = q_left * svd.matrixU().leftCols(count);
    v.noalias() = q_right * svd.matrixV().leftCols(count);
    u = u * d.asDiagonal();
    out.noalias() += u * v.transpose();
  }
};

using Pruned = Prune<double>;
using Prunef = Prune<float>;

}  // namespace seqedit

#endif  // SEQEDIT_PRUNE_HPP

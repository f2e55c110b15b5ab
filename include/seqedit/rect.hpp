#ifndef SEQEDIT_RECT_HPP
#define SEQEDIT_RECT_HPP

/// \file rect.hpp
/// The RECT post-processing regulariser (math.md section 5): keep only the entries of a
/// step update with the largest change relative to the weights.

#include "seqedit/detail/checks.hpp"
#include "seqedit/regulariser.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace seqedit {

/// RECT (math.md section 5): R_p(Δ) = mask ⊙ Δ, where the mask keeps the entries with the
/// largest relative change
///
///   r_ij = |Δ_ij / (W_ref,ij + 1e-8)|,
///
/// computed in `Scalar` (so in float W + 1e-8 rounds to W unless |W| is tiny, exactly as
/// the reference code does in float32). An entry whose denominator is exactly 0 has
/// r = +∞ if Δ_ij ≠ 0 and r = 0 if Δ_ij = 0 (its value is 0 either way).
///
/// **Count rule.** With N = numel(Δ) and ratio p ∈ (0, 1]:
///
///   k = ⌊N (1 − p)⌋ = N − ⌈c⌉,   c = p N,
///
/// where c is computed in double and snapped to the nearest integer when within 1e-6 of
/// it (the rounding error of p N is below 1e-6 for N < 4·10⁹), so that p = 0.2 or 0.8
/// give exactly the integers the reference's ⌊N (100 − P)/100⌋ gives for P = 20, 80 (its
/// percent form; `threshold_rank` reproduces it for every integer percent).
///
/// **Selection.** If k = 0 every entry is kept. Otherwise the threshold τ is the k-th
/// smallest r (1-based; found by std::nth_element, O(N) on average, no full sort) and the
/// entries with r ≥ τ are kept, the others set to 0.
///
/// **Ties and count.** With distinct r, exactly N − k + 1 entries are kept (`kept_count`),
/// i.e. ⌈p N⌉ + 1: the k-th smallest itself is kept, as in the reference. Entries tied
/// with τ are all kept, so ties can only add to that count; every kept r is ≥ every
/// dropped r.
///
/// Errors: std::invalid_argument when p ∉ (0, 1] (or NaN), when the shapes of delta and
/// w_ref differ, or when either holds NaN or ±Inf.
///
/// Example:
/// \code
///   seqedit::Rect<double> rect(0.2);            // keep the top 20% of relative changes
///   Eigen::MatrixXd w = Eigen::MatrixXd::Random(16, 40);
///   Eigen::MatrixXd delta = 1e-3 * Eigen::MatrixXd::Random(16, 40);
///   Eigen::MatrixXd kept = rect(delta, w);      // 129 = 640 − 512 + 1 nonzero entries
/// \endcode
///
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
class Rect {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Array = Eigen::Array<RealScalar, Eigen::Dynamic, Eigen::Dynamic>;

  static_assert(std::is_floating_point<Scalar>::value, "Rect needs a real floating-point Scalar");

  static constexpr bool is_identity = false;

  /// Ratio p ∈ (0, 1] of entries to keep (0.2 with error compensation and 0.4 without, in
  /// the reference). Throws std::invalid_argument naming p and its value otherwise.
  explicit Rect(double p = 0.2) : p_(p) {
    if (!(p > 0.0 && p <= 1.0)) {
      std::ostringstream os;
      os << "seqedit: Rect ratio p must be in (0, 1], got p = " << p;
      throw std::invalid_argument(os.str());
    }
  }

  double ratio() const { return p_; }

  /// "rect p=<ratio>" with the shortest decimal that reads back as the same double
  /// (the description stored in state files).
  std::string describe() const { return "rect p=" + detail::short_real(p_); }

  /// The Rect described by `text` ("rect p=<ratio>"); std::invalid_argument otherwise.
  static Rect parse(const std::string& text) {
    const std::string head = "rect p=";
    if (text.compare(0, head.size(), head) == 0 && text.size() > head.size()) {
      const std::string num = text.substr(head.size());
      char* end = nullptr;
      const double p = std::strtod(num.c_str(), &end);
      if (end == num.c_str() + num.size() && detail::is_finite_bits(p)) return Rect(p);
    }
    throw std::invalid_argument("seqedit: '" + text + "' does not describe Rect (\"rect p=<ratio>\")");
  }

  /// k = ⌊N (1 − p)⌋ of the count rule (0: keep everything).
  Eigen::Index threshold_rank(Eigen::Index numel) const {
    if (numel <= 0) return 0;
    const double c = p_ * static_cast<double>(numel);
    const double nearest = std::round(c);
    const double snapped = std::abs(c - nearest) <= 1e-6 ? nearest : c;
    const auto keep = std::min<Eigen::Index>(
        numel, std::max<Eigen::Index>(1, static_cast<Eigen::Index>(std::ceil(snapped))));
    return numel - keep;
  }

  /// Number of entries kept when the N = numel relative changes are distinct:
  /// N if k = 0, else N − k + 1. Ties at the threshold keep more.
  Eigen::Index kept_count(Eigen::Index numel) const {
    const Eigen::Index k = threshold_rank(numel);
    return k == 0 ? numel : numel - k + 1;
  }

  /// r_ij = |Δ_ij / (W_ref,ij + 1e-8)| with the zero-denominator rule above.
  static Array relative_change(const Eigen::Ref<const Matrix>& delta,
                               const Eigen::Ref<const Matrix>& w_ref) {
    detail::check_shape(w_ref, delta.rows(), delta.cols(), "w_ref", "the shape of delta");
    const Scalar guard = Scalar(1e-8);
    Array r(delta.rows(), delta.cols());
    for (Eigen::Index j = 0; j < delta.cols(); ++j) {
      for (Eigen::Index i = 0; i < delta.rows(); ++i) {
        const Scalar den = w_ref(i, j) + guard;
        const Scalar num = delta(i, j);
        if (den == Scalar(0))
          r(i, j) = num == Scalar(0) ? RealScalar(0) : std::numeric_limits<RealScalar>::infinity();
        else
          r(i, j) = std::abs(num / den);
      }
    }
    return r;
  }

  /// R_p(Δ) = mask ⊙ Δ for the update Δ and the weights W_ref it will be added to.
  Matrix operator()(const Eigen::Ref<const Matrix>& delta,
                    const Eigen::Ref<const Matrix>& w_ref) const {
    detail::check_shape(w_ref, delta.rows(), delta.cols(), "w_ref", "the shape of delta");
    detail::check_finite(delta, "delta");
    detail::check_finite(w_ref, "w_ref");
    const Eigen::Index numel = delta.size();
    const Eigen::Index k = threshold_rank(numel);
    if (k == 0) return delta;

    const Array r = relative_change(delta, w_ref);
    std::vector<RealScalar> sel(r.data(), r.data() + numel);
    std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end());
    const RealScalar threshold = sel[static_cast<std::size_t>(k - 1)];
    return (r >= threshold).select(delta.array(), Scalar(0)).matrix();
  }

 private:
  double p_;
};

using Rectd = Rect<double>;
using Rectf = Rect<float>;

}  // namespace seqedit

#endif  // SEQEDIT_RECT_HPP

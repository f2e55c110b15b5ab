#ifndef SEQEDIT_REGULARISER_HPP
#define SEQEDIT_REGULARISER_HPP

/// \file regulariser.hpp
/// The post-processing regulariser concept (math.md section 5) and the no-op regulariser.
///
/// A regulariser R_p is a callable object, stored by value in `SequentialEditor`:
/// \code
///   struct MyRegulariser {
///     using Scalar = double;
///     using Matrix = Eigen::MatrixXd;
///     using Ref = Eigen::Ref<const Matrix>;
///     static constexpr bool is_identity = false;   // optional; true skips the call
///     Matrix operator()(Ref delta, Ref w_ref) const;  // R_p(Δ), same shape as Δ
///     // optional, the factored entry: R_p(L Rᵀ) for L (d_v × c), R (d_k × c)
///     Matrix operator()(Ref left, Ref right, Ref w_ref) const;
///     std::string describe() const;  // optional: "myreg a=1" for state files
///   };
/// \endcode
/// `delta` is a step update (d_v × d_k) and `w_ref` the weights it will be added to
/// (W_{t-1}). The result must have the shape of `delta`. A regulariser may throw
/// `std::invalid_argument`; the editor is then left unchanged.
///
/// **Factored entry.** A step's update is Δ̃ = L Rᵀ with L = left factor (d_v × c) and
/// R = U G S⁻¹ (d_k × c), c = the step's key columns (sequential_editor.hpp). When the
/// regulariser has the three-argument call, the editor passes (L, R, W_{t−1}) instead of
/// the dense Δ̃ whenever Δ_t is exactly that product (Compensation::None with
/// History::Aligned or History::None; the other modes subtract a dense matrix). The two
/// entries must agree to round-off: R_p(L, R, W) = R_p(L Rᵀ, W).
///
/// **Descriptions.** `describe()` names the regulariser and its parameters in one line
/// (`"none"`, `"prune"`, `"rect p=0.2"`); a state file stores it, and `parse(text)`
/// (a static member, optional) rebuilds the regulariser from it. The loader compares
/// descriptions when a state is resumed.

#include <Eigen/Core>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <string>
#include <type_traits>
#include <utility>

namespace seqedit {

/// The identity regulariser: R_p(Δ) = Δ. The editor recognises it and skips the call,
/// so a `SequentialEditor` without regulariser pays nothing for the option.
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
struct NoRegulariser {
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr bool is_identity = true;

  Matrix operator()(const Eigen::Ref<const Matrix>& delta,
                    const Eigen::Ref<const Matrix>& /*w_ref*/) const {
    return delta;
  }

  /// "none".
  std::string describe() const { return "none"; }
  /// The regulariser described by `text`; std::invalid_argument unless it is "none".
  static NoRegulariser parse(const std::string& text) {
    if (text != "none")
      throw std::invalid_argument("seqedit: '" + text + "' does not describe NoRegulariser (\"none\")");
    return NoRegulariser();
  }
};

namespace detail {
template <typename R, typename = void>
struct is_identity_regulariser : std::false_type {};
template <typename R>
struct is_identity_regulariser<R, std::void_t<decltype(R::is_identity)>>
    : std::integral_constant<bool, R::is_identity> {};

/// True when R has the factored entry R_p(left, right, w_ref).
template <typename R, typename Matrix, typename = void>
struct has_factored_entry : std::false_type {};
template <typename R, typename Matrix>
struct has_factored_entry<
    R, Matrix,
    std::void_t<decltype(Matrix(std::declval<const R&>()(std::declval<const Matrix&>(),
                                                         std::declval<const Matrix&>(),
                                                         std::declval<const Matrix&>())))>>
    : std::true_type {};

/// True when R has `prepare(w0)`: called by the editor with its W0 once it is built or
/// restored (e.g. Prune's warm start), so it must depend on W0 alone for resumed editors
/// to continue bit for bit.
template <typename R, typename Matrix, typename = void>
struct has_prepare : std::false_type {};
template <typename R, typename Matrix>
struct has_prepare<R, Matrix, std::void_t<decltype(std::declval<R&>().prepare(std::declval<const Matrix&>()))>>
    : std::true_type {};

/// Shortest decimal that reads back as the same double ("0.2", not "0.20000000000000001").
inline std::string short_real(double x) {
  char buf[40];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

/// True when R has a member `describe()` convertible to std::string.
template <typename R, typename = void>
struct has_describe : std::false_type {};
template <typename R>
struct has_describe<R, std::void_t<decltype(std::string(std::declval<const R&>().describe()))>>
    : std::true_type {};
}  // namespace detail

/// The description of a regulariser stored in state files: its `describe()`, or "custom"
/// for a type without one.
template <typename R>
std::string describe_regulariser(const R& r) {
  if constexpr (detail::has_describe<R>::value) {
    return std::string(r.describe());
  } else {
    (void)r;
    return "custom";
  }
}

}  // namespace seqedit

#endif  // SEQEDIT_REGULARISER_HPP

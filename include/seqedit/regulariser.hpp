#ifndef SEQEDIT_REGULARISER_HPP
#define SEQEDIT_REGULARISER_HPP

/// \file regulariser.hpp
/// The post-processing regulariser concept (math.md section 5) and the no-op regulariser.
///
/// A regulariser R_p is a callable object, stored by value in `SequentialEditor`:
/// \code
///   struct MyRegulariser {
///     using Scalar = double;
///     static constexpr bool is_identity = false;   // optional; true skips the call
///     Matrix operator()(const Matrix& delta, const Matrix& w_ref) const;  // R_p(Δ), same shape as Δ
///   };
/// \endcode
/// `delta` is a step update (d_v × d_k) and `w_ref` the weights it will be added to
/// (W_{t-1}). The result must have the shape of `delta`. A regulariser may throw
/// `std::invalid_argument`; the editor is then left unchanged.

#include <Eigen/Core>

#include <type_traits>

namespace seqedit {

/// The identity regulariser: R_p(Δ) = Δ. The editor recognises it and skips the call,
/// so a `SequentialEditor` without regulariser pays nothing for the option.
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
struct NoRegulariser {
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr bool is_identity = true;

  Matrix operator()(const Matrix& delta, const Matrix& /*w_ref*/) const { return delta; }
};

namespace detail {
template <typename R, typename = void>
struct is_identity_regulariser : std::false_type {};
template <typename R>
struct is_identity_regulariser<R, std::void_t<decltype(R::is_identity)>>
    : std::integral_constant<bool, R::is_identity> {};
}  // namespace detail

}  // namespace seqedit

#endif  // SEQEDIT_REGULARISER_HPP

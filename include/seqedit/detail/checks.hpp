#ifndef SEQEDIT_DETAIL_CHECKS_HPP
#define SEQEDIT_DETAIL_CHECKS_HPP

#include <Eigen/Core>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

namespace seqedit {
namespace detail {

/// True unless `x` is NaN or ±Inf, decided on the bit pattern (all exponent bits set), so
/// the answer holds under -ffinite-math-only / -ffast-math, where `std::isfinite(x)` and
/// `x - x == x - x` may be folded to true. The one finiteness check of the project.
inline bool is_finite_bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return ((u >> 52) & 0x7ff) != 0x7ff;
}

/// `float` overload of is_finite_bits (exponent bits 23..30).
inline bool is_finite_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return ((u >> 23) & 0xff) != 0xff;
}

/// True if `x` is a NaN (all exponent bits set, mantissa non-zero), on the bit pattern.
inline bool is_nan_bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return ((u >> 52) & 0x7ff) == 0x7ff && (u & ((std::uint64_t(1) << 52) - 1)) != 0;
}

/// `float` overload of is_nan_bits.
inline bool is_nan_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return ((u >> 23) & 0xff) == 0xff && (u & 0x7fffffu) != 0;
}

/// True if every coefficient of `m` is finite (bit-pattern test, see is_finite_bits).
template <typename Derived>
bool all_finite(const Eigen::DenseBase<Derived>& m) {
  for (Eigen::Index j = 0; j < m.cols(); ++j)
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      if (!is_finite_bits(m(i, j))) return false;
  return true;
}

/// Throws std::invalid_argument unless `m` is rows × cols; the message names both shapes.
template <typename Derived>
void check_shape(const Eigen::DenseBase<Derived>& m, Eigen::Index rows, Eigen::Index cols,
                 const char* what, const char* expected_from) {
  if (m.rows() != rows || m.cols() != cols) {
    std::ostringstream os;
    os << "seqedit: " << what << " is " << m.rows() << " x " << m.cols() << " but " << rows
       << " x " << cols << " is expected (" << expected_from << ")";
    throw std::invalid_argument(os.str());
  }
}

/// Throws std::invalid_argument unless `m` has `rows` rows.
template <typename Derived>
void check_rows(const Eigen::DenseBase<Derived>& m, Eigen::Index rows, const char* what,
                const char* expected_from) {
  if (m.rows() != rows) {
    std::ostringstream os;
    os << "seqedit: " << what << " has " << m.rows() << " rows but " << rows
       << " are expected (" << expected_from << ")";
    throw std::invalid_argument(os.str());
  }
}

/// Throws std::invalid_argument if `m` holds a NaN or an infinity; names the first one.
template <typename Derived>
void check_finite(const Eigen::DenseBase<Derived>& m, const char* what) {
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      const auto x = m(i, j);
      if (!is_finite_bits(x)) {
        std::ostringstream os;
        os << "seqedit: " << what << " contains a non-finite value (" << x << ") at (" << i
           << ", " << j << ")";
        throw std::invalid_argument(os.str());
      }
    }
  }
}

/// Throws std::invalid_argument unless `m` is square.
template <typename Derived>
void check_square(const Eigen::DenseBase<Derived>& m, const char* what) {
  if (m.rows() != m.cols()) {
    std::ostringstream os;
    os << "seqedit: " << what << " must be square but is " << m.rows() << " x " << m.cols();
    throw std::invalid_argument(os.str());
  }
}

/// Throws std::invalid_argument unless `m` is symmetric up to a relative tolerance.
template <typename Derived>
void check_symmetric(const Eigen::MatrixBase<Derived>& m, const char* what,
                     typename Eigen::NumTraits<typename Derived::Scalar>::Real rel_tol) {
  check_square(m, what);
  using Real = typename Eigen::NumTraits<typename Derived::Scalar>::Real;
  const Real scale = m.cwiseAbs().maxCoeff();
  const Real asym = (m - m.transpose()).cwiseAbs().maxCoeff();
  if (asym > rel_tol * scale) {
    std::ostringstream os;
    os << "seqedit: " << what << " must be symmetric; max |a_ij - a_ji| = " << asym
       << " exceeds " << rel_tol << " x max |a_ij| = " << rel_tol * scale;
    throw std::invalid_argument(os.str());
  }
}

}  // namespace detail
}  // namespace seqedit

#endif  // SEQEDIT_DETAIL_CHECKS_HPP

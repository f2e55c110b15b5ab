#ifndef SEQEDIT_DETAIL_CHECKS_HPP
#define SEQEDIT_DETAIL_CHECKS_HPP

#include <Eigen/Core>

#include <sstream>
#include <stdexcept>
#include <string>

namespace seqedit {
namespace detail {

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
      if (!(x - x == x - x)) {  // false exactly for NaN and ±Inf, also under -ffast-math
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

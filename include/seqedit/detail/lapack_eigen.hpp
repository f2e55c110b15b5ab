#ifndef SEQEDIT_DETAIL_LAPACK_EIGEN_HPP
#define SEQEDIT_DETAIL_LAPACK_EIGEN_HPP

/// \file lapack_eigen.hpp
/// Selected eigenpairs of a symmetric matrix through LAPACK, used by
/// `symmetric_eigen_below` when Eigen's LAPACKE backend is on (`EIGEN_USE_LAPACKE`,
/// CMake option SEQEDIT_USE_BLAS). Not included otherwise.
///
/// Route (what ?syevr does internally, plus all eigenvalues): ?sytrd (blocked Householder
/// tridiagonalisation, half of it BLAS-3), ?sterf (all eigenvalues, O(d²)), ?stemr (MRRR:
/// only the r wanted eigenvectors of the tridiagonal matrix, O(d r)), ?ormtr (blocked
/// back-transformation of those r vectors, 2 d² r flops).

#include <Eigen/Core>
#include <Eigen/Eigenvalues>  // declares the LAPACKE functions under EIGEN_USE_LAPACKE

#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "../errors.hpp"
#include "../progress.hpp"

#if defined(EIGEN_USE_LAPACKE)

namespace seqedit {
namespace detail {
namespace lapack {

inline lapack_int sytrd(lapack_int n, double* a, lapack_int lda, double* d, double* e, double* tau) {
  return LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', n, a, lda, d, e, tau);
}
inline lapack_int sytrd(lapack_int n, float* a, lapack_int lda, float* d, float* e, float* tau) {
  return LAPACKE_ssytrd(LAPACK_COL_MAJOR, 'L', n, a, lda, d, e, tau);
}
inline lapack_int sterf(lapack_int n, double* d, double* e) { return LAPACKE_dsterf(n, d, e); }
inline lapack_int sterf(lapack_int n, float* d, float* e) { return LAPACKE_ssterf(n, d, e); }
inline lapack_int stemr(lapack_int n, double* d, double* e, lapack_int iu, lapack_int* m, double* w,
                        double* z, lapack_int ldz, lapack_int* isuppz, lapack_logical* tryrac) {
  return LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d, e, 0.0, 0.0, 1, iu, m, w, z, ldz, iu,
                        isuppz, tryrac);
}
inline lapack_int stemr(lapack_int n, float* d, float* e, lapack_int iu, lapack_int* m, float* w,
                        float* z, lapack_int ldz, lapack_int* isuppz, lapack_logical* tryrac) {
  return LAPACKE_sstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d, e, 0.0f, 0.0f, 1, iu, m, w, z, ldz, iu,
                        isuppz, tryrac);
}
inline lapack_int ormtr(lapack_int n, lapack_int r, const double* a, lapack_int lda,
                        const double* tau, double* z, lapack_int ldz) {
  return LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, r, a, lda, tau, z, ldz);
}
inline lapack_int ormtr(lapack_int n, lapack_int r, const float* a, lapack_int lda,
                        const float* tau, float* z, lapack_int ldz) {
  return LAPACKE_sormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, r, a, lda, tau, z, ldz);
}

inline void check_info(lapack_int info, const char* routine) {
  if (info != 0) {
    std::ostringstream os;
    os << "seqedit: LAPACK " << routine << " failed (info = " << info << ")";
    throw numerical_error(os.str());
  }
}

/// True when `symmetric_eigen_below_lapack` handles this matrix type.
template <typename Matrix>
struct supported
    : std::integral_constant<bool, (std::is_same<typename Matrix::Scalar, double>::value ||
                                    std::is_same<typename Matrix::Scalar, float>::value) &&
                                       !Matrix::IsRowMajor> {};

}  // namespace lapack

/// LAPACK version of `symmetric_eigen_below` (same contract; reads the lower triangle).
template <typename Matrix, typename Vector, typename RealScalar>
void symmetric_eigen_below_lapack(const Eigen::Ref<const Matrix>& a, RealScalar threshold,
                                  Vector& eigenvalues,
                                  Matrix& basis, const ProgressCallback& progress) {
  const Eigen::Index n = a.rows();
  const lapack_int ln = static_cast<lapack_int>(n);
  if (static_cast<Eigen::Index>(ln) != n) throw std::length_error("seqedit: matrix too large for LAPACK");
  report(progress, "tridiagonalisation", 0.0);
  Matrix t = a;  // overwritten by the Householder reflectors
  Vector d(n), e(n > 0 ? n : 1), tau(n > 1 ? n - 1 : 1);
  if (n > 0) lapack::check_info(lapack::sytrd(ln, t.data(), ln, d.data(), e.data(), tau.data()), "?sytrd");
  report(progress, "tridiagonal eigensolver", 0.85);
  eigenvalues = d;
  Vector e2 = e;
  if (n > 0) lapack::check_info(lapack::sterf(ln, eigenvalues.data(), e2.data()), "?sterf");
  Eigen::Index r = 0;
  while (r < n && eigenvalues(r) < threshold) ++r;
  basis.resize(n, r);
  if (r > 0) {
    lapack_int m = 0;
    lapack_logical tryrac = 1;
    std::vector<lapack_int> isuppz(std::size_t(2 * r));
    Vector w(n);
    Vector dd = d, ee = e;  // ?stemr overwrites d and e
    lapack::check_info(lapack::stemr(ln, dd.data(), ee.data(), static_cast<lapack_int>(r), &m,
                                     w.data(), basis.data(), ln, isuppz.data(), &tryrac),
                       "?stemr");
    if (m != static_cast<lapack_int>(r)) {
      std::ostringstream os;
      os << "seqedit: LAPACK ?stemr returned " << m << " eigenvectors, expected " << r;
      throw numerical_error(os.str());
    }
    report(progress, "back-transformation", 0.9);
    lapack::check_info(lapack::ormtr(ln, static_cast<lapack_int>(r), t.data(), ln, tau.data(),
                                     basis.data(), ln),
                       "?ormtr");
  }
  report(progress, "done", 1.0);
}

}  // namespace detail
}  // namespace seqedit

#endif  // EIGEN_USE_LAPACKE

#endif  // SEQEDIT_DETAIL_LAPACK_EIGEN_HPP

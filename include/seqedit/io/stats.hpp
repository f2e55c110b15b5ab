#ifndef SEQEDIT_IO_STATS_HPP
#define SEQEDIT_IO_STATS_HPP

/// \file stats.hpp
/// MEMIT / AlphaEdit retention statistics (math notes, section 10).
///
/// The npz holds `mom2.mom2` = Σ k kᵀ (raw sum, `<f4`/`<f8`, d_k × d_k) and `mom2.count`
/// (number of tokens). The retention second moment is **C0 = mom2.mom2 / mom2.count**;
/// load_mom2_stats() always divides: the raw sum is never returned.
///
/// Decisions:
/// * `mom2.count` must be a scalar (shape `()` or `(1,)`) of `<i8`, or of `<f8` holding
///   an exact positive integer (some tools save counts as floats); it must be ≥ 1.
///   Zero, negative, NaN, infinite and fractional counts are format_errors.
/// * `mom2.mom2` must be square, of a float dtype, and finite.
/// * The division is done per element in double and rounded once to `Scalar`.
/// * Other keys (`mom2.constructor`, `sample_size`, ...) are ignored.

#include "npz.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <string>

namespace seqedit {
namespace io {

/// Loads C0 = mom2.mom2 / mom2.count from an opened MEMIT-style statistics npz.
/// \tparam Scalar float or double.
/// \throws format_error naming the file and key (missing key, bad count, non-square or
///         non-finite mom2), io_error if the file cannot be read.
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> load_mom2_stats(const NpzFile& z) {
  const std::string& npz_path = z.path();
  for (const char* k : {"mom2.mom2", "mom2.count"})
    if (!z.contains(k))
      detail::throw_npy(npz_path, k, "missing: a MEMIT statistics file has 'mom2.mom2' and 'mom2.count'");

  const NpyArray cnt = z.read("mom2.count");
  const std::string cwhere = detail::npy_where(npz_path, "mom2.count");
  if (!(cnt.shape.empty() || (cnt.shape.size() == 1 && cnt.shape[0] == 1)))
    throw format_error(cwhere + ": must be a scalar, has shape " + detail::shape_string(cnt.shape));
  if (!cnt.numeric || (cnt.dtype != DType::I64 && cnt.dtype != DType::F64))
    throw format_error(cwhere + ": dtype '" + cnt.descr + "' is not supported (<i8, or <f8 holding an integer)");
  const Eigen::MatrixXd cm = to_matrix<double>(cnt, cwhere);
  const double count = cm(0, 0);
  if (cnt.dtype == DType::I64) {
    if (!(count >= 1)) throw format_error(cwhere + ": count is " + std::to_string(static_cast<long long>(count)) +
                                          "; it must be a positive number of tokens");
  } else {
    if (detail::is_nan_bits(count)) throw format_error(cwhere + ": count is NaN; it must be a positive number of tokens");
    if (!detail::is_finite_bits(count) || !(count >= 1) || count != std::floor(count))
      throw format_error(cwhere + ": count is " + std::to_string(count) +
                         "; it must be a positive finite integer number of tokens");
  }

  const NpyArray mom = z.read("mom2.mom2");
  const std::string mwhere = detail::npy_where(npz_path, "mom2.mom2");
  if (mom.shape.size() != 2 || mom.shape[0] != mom.shape[1])
    throw format_error(mwhere + ": must be a square matrix, has shape " + detail::shape_string(mom.shape));
  if (!mom.numeric || mom.dtype == DType::I64)
    throw format_error(mwhere + ": dtype '" + mom.descr + "' is not supported (<f8, <f4 or <f2)");
  const Eigen::MatrixXd sum = to_matrix<double>(mom, mwhere);
  for (Eigen::Index j = 0; j < sum.cols(); ++j)
    for (Eigen::Index i = 0; i < sum.rows(); ++i)
      if (!detail::is_finite_bits(sum(i, j)))
        throw format_error(mwhere + ": non-finite value " + std::to_string(sum(i, j)) + " at (" + std::to_string(i) +
                           ", " + std::to_string(j) + ")");
  return (sum / count).template cast<Scalar>();
}

/// Loads C0 = mom2.mom2 / mom2.count from the statistics npz at `npz_path`.
/// \tparam Scalar float or double.
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> load_mom2_stats(const std::string& npz_path) {
  return load_mom2_stats<Scalar>(NpzFile(npz_path));
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_STATS_HPP

#ifndef SEQEDIT_IO_DETAIL_CODEC_HPP
#define SEQEDIT_IO_DETAIL_CODEC_HPP

/// \file detail/codec.hpp
/// Conversion between little-endian element bytes and Eigen matrices.

#include "../dtype.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace io {
namespace detail {

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Decodes r·c elements of `dtype` (row-major, or column-major if `column_major`) into
/// an r × c matrix. `data` must hold r·c·dtype_size(dtype) bytes.
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> decode_matrix(const unsigned char* data, DType dtype,
                                                                    Eigen::Index r, Eigen::Index c,
                                                                    bool column_major) {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> m(r, c);
  if (column_major) {
    Scalar* out = m.data();
    const std::size_t n = static_cast<std::size_t>(r) * static_cast<std::size_t>(c);
    for (std::size_t k = 0; k < n; ++k) out[k] = decode_as<Scalar>(data, k, dtype);
    return m;
  }
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm(r, c);
  Scalar* out = rm.data();
  const std::size_t n = static_cast<std::size_t>(r) * static_cast<std::size_t>(c);
  for (std::size_t k = 0; k < n; ++k) out[k] = decode_as<Scalar>(data, k, dtype);
  m = rm;
  return m;
}

/// Encodes a matrix in row-major order as `dtype` bytes.
template <typename Derived>
std::vector<char> encode_matrix(const Eigen::MatrixBase<Derived>& m, DType dtype) {
  using Scalar = typename Derived::Scalar;
  const std::size_t r = static_cast<std::size_t>(m.rows()), c = static_cast<std::size_t>(m.cols());
  std::vector<char> bytes(r * c * dtype_size(dtype));
  unsigned char* out = reinterpret_cast<unsigned char*>(bytes.data());
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
  for (std::size_t k = 0; k < r * c; ++k) encode_element<Scalar>(out, k, dtype, rm.data()[k]);
  return bytes;
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_DETAIL_CODEC_HPP

#ifndef SEQEDIT_IO_DTYPE_HPP
#define SEQEDIT_IO_DTYPE_HPP

/// \file dtype.hpp
/// Element types of weight and statistics files, explicit little-endian byte codecs,
/// and the 16-bit float conversions.
///
/// Decisions:
/// * Widening f16/bf16 → float is exact (every pattern, NaN payloads stay NaN).
/// * Narrowing float → f16/bf16 rounds to nearest, ties to even, and keeps NaN a NaN
///   (Eigen 3.4's `Eigen::half` / `Eigen::bfloat16` constructors do exactly this).
/// * Narrowing **double** → f16/bf16 rounds once, to nearest even: the double is first
///   rounded to float with *round-to-odd* (sticky last bit), which makes the second
///   rounding exact (float carries more than 2 bits beyond either 16-bit format), so
///   no double-rounding error can occur. `double → float` is the usual IEEE rounding.
/// * Bytes are always assembled explicitly in little-endian order; no file data is
///   ever reinterpreted in place (other writers do not align tensors).

#include <Eigen/Core>

#include "../detail/checks.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace seqedit {
namespace io {

/// Element types the loader reads and writes.
enum class DType { F64, F32, F16, BF16, I64 };

/// The safetensors name of a dtype: "F64", "F32", "F16", "BF16", "I64".
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
  }
  return "?";
}

/// Size of one element in bytes.
inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: return 8;
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
  }
  return 0;
}

/// Parses a safetensors dtype name ("F64", "F32", "F16", "BF16", "I64"); empty when the
/// name is not one of them (the safetensors format knows more, seqedit does not need them).
inline std::optional<DType> dtype_from_name(const std::string& name) {
  if (name == "F64") return DType::F64;
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  if (name == "I64") return DType::I64;
  return std::nullopt;
}

/// Comma-separated list of supported safetensors dtype names (for messages).
inline const char* supported_dtype_names() { return "F64, F32, F16, BF16, I64"; }

// ------------------------------------------------------------------ 16-bit floats

/// Widens the IEEE binary16 pattern `bits` to float (exact).
inline float f16_bits_to_float(std::uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
}

/// Widens the bfloat16 pattern `bits` to float (exact).
inline float bf16_bits_to_float(std::uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits));
}

/// Narrows a float to binary16: round to nearest even, overflow to ±Inf, NaN stays NaN.
inline std::uint16_t float_to_f16_bits(float x) {
  return Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(x));
}

/// Narrows a float to bfloat16: round to nearest even, overflow to ±Inf, NaN stays NaN.
inline std::uint16_t float_to_bf16_bits(float x) {
  return Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x));
}

/// Float bit pattern of `x`.
inline std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

/// Float with bit pattern `u`.
inline float float_from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

/// Rounds a double to float with round-to-odd: truncate toward zero and set the last
/// mantissa bit when the result is inexact. Used as the first step of a correctly
/// rounded double → 16-bit conversion.
inline float double_to_float_round_to_odd(double x) {
  float f = static_cast<float>(x);
  if (x != x) return f;  // NaN stays NaN
  if (static_cast<double>(f) == x) return f;
  // Inexact: truncate toward zero, then make the last bit 1 (sticky).
  std::uint32_t u = float_bits(f);
  const bool overshoot = (f != f) || (x < 0 ? static_cast<double>(f) < x : static_cast<double>(f) > x);
  if (overshoot) u -= 1;  // one ulp toward zero (also maps ±Inf to ±FLT_MAX)
  u |= 1u;
  return float_from_bits(u);
}

/// Narrows a double to binary16 with a single correct rounding (nearest even).
inline std::uint16_t double_to_f16_bits(double x) {
  return float_to_f16_bits(double_to_float_round_to_odd(x));
}

/// Narrows a double to bfloat16 with a single correct rounding (nearest even).
inline std::uint16_t double_to_bf16_bits(double x) {
  return float_to_bf16_bits(double_to_float_round_to_odd(x));
}

// ------------------------------------------------------------------ little-endian codecs

namespace detail {

inline std::uint16_t load_le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load_le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_le64(const unsigned char* p) {
  return static_cast<std::uint64_t>(load_le32(p)) |
         (static_cast<std::uint64_t>(load_le32(p + 4)) << 32);
}
inline void store_le16(unsigned char* p, std::uint16_t v) {
  p[0] = static_cast<unsigned char>(v & 0xff);
  p[1] = static_cast<unsigned char>(v >> 8);
}
inline void store_le32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
}
inline void store_le64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
}

/// Decodes element `i` of little-endian data of type `t` as a double
/// (exact for F64/F32/F16/BF16; I64 beyond 2^53 rounds).
inline double decode_element(const unsigned char* data, std::size_t i, DType t) {
  switch (t) {
    case DType::F64: {
      const std::uint64_t u = load_le64(data + 8 * i);
      double d;
      std::memcpy(&d, &u, sizeof d);
      return d;
    }
    case DType::F32: return static_cast<double>(float_from_bits(load_le32(data + 4 * i)));
    case DType::F16: return static_cast<double>(f16_bits_to_float(load_le16(data + 2 * i)));
    case DType::BF16: return static_cast<double>(bf16_bits_to_float(load_le16(data + 2 * i)));
    case DType::I64: {
      const std::uint64_t u = load_le64(data + 8 * i);
      std::int64_t v;
      std::memcpy(&v, &u, sizeof v);
      return static_cast<double>(v);
    }
  }
  return 0.0;
}

/// Decodes element `i` directly into `Scalar` (float targets avoid a double detour).
template <typename Scalar>
Scalar decode_as(const unsigned char* data, std::size_t i, DType t) {
  if (std::is_same<Scalar, float>::value) {
    switch (t) {
      case DType::F32: return static_cast<Scalar>(float_from_bits(load_le32(data + 4 * i)));
      case DType::F16: return static_cast<Scalar>(f16_bits_to_float(load_le16(data + 2 * i)));
      case DType::BF16: return static_cast<Scalar>(bf16_bits_to_float(load_le16(data + 2 * i)));
      default: break;
    }
  }
  return static_cast<Scalar>(decode_element(data, i, t));
}

/// Encodes `x` as element `i` of little-endian data of type `t` (one rounding).
template <typename Scalar>
void encode_element(unsigned char* data, std::size_t i, DType t, Scalar x) {
  switch (t) {
    case DType::F64: {
      const double d = static_cast<double>(x);
      std::uint64_t u;
      std::memcpy(&u, &d, sizeof u);
      store_le64(data + 8 * i, u);
      return;
    }
    case DType::F32: store_le32(data + 4 * i, float_bits(static_cast<float>(x))); return;
    case DType::F16:
      store_le16(data + 2 * i, std::is_same<Scalar, float>::value
                                   ? float_to_f16_bits(static_cast<float>(x))
                                   : double_to_f16_bits(static_cast<double>(x)));
      return;
    case DType::BF16:
      store_le16(data + 2 * i, std::is_same<Scalar, float>::value
                                   ? float_to_bf16_bits(static_cast<float>(x))
                                   : double_to_bf16_bits(static_cast<double>(x)));
      return;
    case DType::I64: {
      const double d = static_cast<double>(x);
      // Out-of-range values and NaN cannot be stored as integers.
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != static_cast<double>(static_cast<std::int64_t>(d)))
        throw std::invalid_argument("seqedit::io: value " + std::to_string(d) +
                                    " is not an integer representable as I64");
      const std::int64_t v = static_cast<std::int64_t>(d);
      std::uint64_t u;
      std::memcpy(&u, &v, sizeof u);
      store_le64(data + 8 * i, u);
      return;
    }
  }
}

// is_finite_bits / is_nan_bits: the project-wide bit-pattern checks of
// seqedit/detail/checks.hpp, also reachable as seqedit::io::detail::is_finite_bits.
using seqedit::detail::is_finite_bits;
using seqedit::detail::is_nan_bits;

/// a * b into `out`; false on overflow.
inline bool mul_overflow_u64(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_DTYPE_HPP

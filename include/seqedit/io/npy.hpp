#ifndef SEQEDIT_IO_NPY_HPP
#define SEQEDIT_IO_NPY_HPP

/// \file npy.hpp
/// NumPy `.npy` arrays: strict parsing, conversion to Eigen matrices, atomic writing.
///
/// Format: magic `\x93NUMPY`, major, minor; v1.0: u16 LE header length, v2.0/v3.0: u32;
/// the header is a Python dict literal
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces
/// and ending in a newline.
///
/// Decisions:
/// * Versions 1.0, 2.0 and 3.0 are read; headers longer than 10,000 characters are
///   refused (numpy's own limit), before anything is allocated for them.
/// * The header is parsed by a small strict parser: exactly the keys `descr`,
///   `fortran_order`, `shape` (each once, in any order, single or double quotes, optional
///   trailing comma); `shape` must be a tuple of non-negative integers (`(3,)` not `(3)`);
///   an `L` suffix (Python 2 numpy) is accepted. Anything after the closing brace other
///   than spaces and newlines is an error.
/// * Any simple descr (`<f8`, `|u1`, `<U32`, `>i4`, ...) is *parsed*, so archives with
///   string members (MEMIT's `mom2.constructor`) can be opened; object arrays (`|O`,
///   pickle) and structured dtypes (a list descr) are refused at parse time because their
///   size cannot be validated.
/// * Conversion to a matrix supports `<f8 <f4 <f2 <i8` and the big-endian `>f8 >f4 >f2
///   >i8`, which are byte-swapped; every other descr (e.g. `<U32`) is refused clearly.
/// * The data must be exactly product(shape) × itemsize bytes: truncated data and
///   trailing bytes are both errors.
/// * `write_npy` writes version 1.0, C order, 2-D shape (rows, cols), the header padded
///   with spaces to a multiple of 64 bytes, atomically; dtype F64, F32 or F16.

#include "atomic_file.hpp"
#include "detail/codec.hpp"
#include "detail/file.hpp"
#include "dtype.hpp"
#include "error.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace io {

/// numpy's limit on the header length.
constexpr std::size_t npy_max_header_length = 10000;

/// A parsed .npy array: the header fields and the raw data bytes (in the file's byte
/// order and memory order).
struct NpyArray {
  std::string descr;                 ///< as in the file, e.g. "<f8", ">f4", "<U32"
  DType dtype = DType::F64;          ///< meaningful only when `numeric`
  bool fortran_order = false;        ///< true: column-major data
  std::vector<std::int64_t> shape;   ///< () for a scalar
  std::vector<char> data;            ///< product(shape) × itemsize bytes
  bool numeric = false;              ///< descr is one of <f8 <f4 <f2 <i8 (or the > forms)
  bool big_endian = false;           ///< descr starts with '>'
  std::size_t itemsize = 0;          ///< bytes per element

  /// Number of elements.
  std::uint64_t numel() const {
    std::uint64_t n = 1;
    for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

namespace detail {

inline std::string npy_where(const std::string& path, const std::string& key) {
  return key.empty() ? path : path + ": key '" + key + "'";
}

[[noreturn]] inline void throw_npy(const std::string& path, const std::string& key, const std::string& what) {
  throw format_error(npy_where(path, key) + ": " + what);
}

/// Strict parser of the npy header dict literal.
class NpyDictParser {
 public:
  NpyDictParser(const std::string& text, const std::string& path, const std::string& key)
      : s_(text), path_(path), key_(key) {}

  void parse(NpyArray& out) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string k = parse_string("a key");
      skip_ws();
      expect(':');
      skip_ws();
      if (k == "descr") {
        if (have_descr) fail("duplicate key 'descr' in the header");
        have_descr = true;
        if (peek() == '[') fail("structured dtypes (a list descr) are not supported");
        out.descr = parse_string("the 'descr' value");
      } else if (k == "fortran_order") {
        if (have_fortran) fail("duplicate key 'fortran_order' in the header");
        have_fortran = true;
        out.fortran_order = parse_bool();
      } else if (k == "shape") {
        if (have_shape) fail("duplicate key 'shape' in the header");
        have_shape = true;
        out.shape = parse_shape();
      } else {
        fail("unexpected key '" + k + "' in the header (only 'descr', 'fortran_order', 'shape')");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      if (peek() != '}') fail("expected ',' or '}' at position " + std::to_string(i_) + " of the header");
    }
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    if (i_ != s_.size()) fail("unexpected characters after the header dict at position " + std::to_string(i_));
    if (!have_descr || !have_fortran || !have_shape)
      fail(std::string("header lacks the key '") + (!have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape") + "'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw_npy(path_, key_, "invalid npy header: " + what); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c || i_ >= s_.size())
      fail(std::string("expected '") + c + "' at position " + std::to_string(i_));
    ++i_;
  }
  std::string parse_string(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail(std::string("expected a quoted string for ") + what + " at position " + std::to_string(i_));
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != q) {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '\\' || c < 0x20 || c >= 0x7f) fail(std::string("unsupported character in ") + what);
      out.push_back(s_[i_++]);
      if (out.size() > 256) fail(std::string(what) + " is too long");
    }
    if (i_ >= s_.size()) fail(std::string("unterminated string for ") + what);
    ++i_;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    expect('(');
    skip_ws();
    bool trailing_comma = false;
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') fail("'shape' must be a tuple of non-negative integers");
      if (peek() == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
        fail("'shape' has an integer with a leading zero");
      std::uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const unsigned d = static_cast<unsigned>(peek() - '0');
        if (v > (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - d) / 10)
          fail("'shape' has a dimension that does not fit in 64 bits");
        v = v * 10 + d;
        ++i_;
      }
      if (peek() == 'L') ++i_;
      shape.push_back(static_cast<std::int64_t>(v));
      if (shape.size() > 64) fail("'shape' has more than 64 dimensions");
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++i_;
        trailing_comma = true;
        skip_ws();
      } else if (peek() != ')') {
        fail("'shape' must be a tuple of non-negative integers");
      }
    }
    ++i_;
    if (shape.size() == 1 && !trailing_comma) fail("'shape' (n) is not a tuple; a 1-D shape is written (n,)");
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  const std::string& key_;
  std::size_t i_ = 0;
};

/// Fills dtype / numeric / big_endian / itemsize from descr; throws for pickle and for
/// descrs whose element size cannot be determined.
inline void classify_descr(NpyArray& a, const std::string& path, const std::string& key) {
  const std::string& d = a.descr;
  if (d == "|O" || d == "O" || d == "<O" || d == ">O" || d == "=O")
    throw_npy(path, key, "object arrays (descr '" + d + "', pickled Python objects) are not supported");
  std::size_t i = 0;
  char order = '|';
  if (i < d.size() && (d[i] == '<' || d[i] == '>' || d[i] == '|' || d[i] == '=')) order = d[i++];
  if (i >= d.size()) throw_npy(path, key, "unsupported descr '" + d + "'");
  const char kind = d[i++];
  std::size_t digits_end = i;
  std::uint64_t n = 0;
  while (digits_end < d.size() && d[digits_end] >= '0' && d[digits_end] <= '9' && digits_end - i < 12)
    n = n * 10 + static_cast<std::uint64_t>(d[digits_end++] - '0');
  const bool brackets = digits_end < d.size() && d[digits_end] == '[' && d.back() == ']';
  if (digits_end == i || (digits_end != d.size() && !brackets) || n == 0 ||
      std::string("biufcmMUSaV?").find(kind) == std::string::npos)
    throw_npy(path, key, "unsupported descr '" + d + "'");
  a.itemsize = static_cast<std::size_t>(kind == 'U' ? n * 4 : n);
  a.big_endian = order == '>';
  a.numeric = false;
  if (order == '<' || order == '>') {
    const std::string t = d.substr(1);
    if (t == "f8") a.dtype = DType::F64, a.numeric = true;
    else if (t == "f4") a.dtype = DType::F32, a.numeric = true;
    else if (t == "f2") a.dtype = DType::F16, a.numeric = true;
    else if (t == "i8") a.dtype = DType::I64, a.numeric = true;
  }
}

/// Parses the npy preamble and header; returns the array without data and sets
/// `data_offset` to the first data byte. `bytes` needs only the preamble and header.
inline NpyArray parse_npy_header(const char* bytes, std::size_t size, const std::string& path,
                                 const std::string& key, std::size_t& data_offset) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes);
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 6 || std::memcmp(p, magic, 6) != 0)
    throw_npy(path, key, "not an npy array: bad magic (expected \\x93NUMPY)");
  if (size < 10) throw_npy(path, key, "truncated npy preamble");
  const unsigned major = p[6], minor = p[7];
  if (major < 1 || major > 3 || minor != 0)
    throw_npy(path, key, "unsupported npy version " + std::to_string(major) + "." + std::to_string(minor) +
                             " (1.0, 2.0 and 3.0 are supported)");
  std::size_t prefix = 10;
  std::uint64_t hlen = load_le16(p + 8);
  if (major >= 2) {
    if (size < 12) throw_npy(path, key, "truncated npy preamble");
    hlen = load_le32(p + 8);
    prefix = 12;
  }
  if (hlen > npy_max_header_length)
    throw_npy(path, key, "npy header too long: " + std::to_string(hlen) + " > " +
                             std::to_string(npy_max_header_length) + " characters");
  if (prefix + hlen > size)
    throw_npy(path, key, "truncated npy header: declares " + std::to_string(hlen) + " bytes, " +
                             std::to_string(size - prefix) + " present");
  const std::string text(bytes + prefix, static_cast<std::size_t>(hlen));
  NpyArray a;
  NpyDictParser(text, path, key).parse(a);
  classify_descr(a, path, key);
  data_offset = prefix + static_cast<std::size_t>(hlen);
  return a;
}

/// product(shape) × itemsize, or throws on overflow.
inline std::uint64_t npy_data_bytes(const NpyArray& a, const std::string& path, const std::string& key) {
  std::uint64_t n = a.itemsize;
  for (std::int64_t d : a.shape)
    if (!mul_overflow_u64(n, static_cast<std::uint64_t>(d), n))
      throw_npy(path, key, "npy shape overflows the size of a 64-bit byte count");
  return n;
}

inline NpyArray parse_npy_impl(const char* bytes, std::size_t size, const std::string& path, const std::string& key) {
  std::size_t off = 0;
  NpyArray a = parse_npy_header(bytes, size, path, key, off);
  const std::uint64_t need = npy_data_bytes(a, path, key);
  const std::uint64_t have = size - off;
  if (have < need)
    throw_npy(path, key, "truncated npy data: shape and descr '" + a.descr + "' need " + std::to_string(need) +
                             " bytes, " + std::to_string(have) + " present");
  if (have > need)
    throw_npy(path, key, std::to_string(have - need) + " trailing bytes after the npy data");
  a.data.assign(bytes + off, bytes + off + need);
  return a;
}

}  // namespace detail

/// Parses a complete .npy image held in memory. `name` is used in messages.
/// \throws format_error naming `name` and what was wrong.
inline NpyArray parse_npy(const char* bytes, std::size_t size, const std::string& name) {
  return detail::parse_npy_impl(bytes, size, name, std::string());
}

/// Reads and parses a .npy file (the whole file is read; files above 64 GiB are refused).
inline NpyArray read_npy(const std::string& path) {
  const std::vector<char> buf = detail::read_whole_file(path, std::uint64_t(1) << 36);
  return parse_npy(buf.data(), buf.size(), path);
}

/// Converts a numeric array of rank 0, 1 or 2 to a matrix: () → 1 × 1, (n,) → n × 1,
/// (r, c) → r × c honouring `fortran_order`; big-endian data are byte-swapped.
/// \tparam Scalar float or double.
/// \param name used in messages (e.g. "stats.npz: key 'mom2.mom2'").
template <typename Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> to_matrix(const NpyArray& a, const std::string& name) {
  if (!a.numeric)
    throw format_error(name + ": dtype '" + a.descr +
                       "' cannot be converted to a matrix (supported: <f8, <f4, <f2, <i8 and their > forms)");
  if (a.shape.size() > 2)
    throw std::invalid_argument(name + ": array of rank " + std::to_string(a.shape.size()) +
                                " cannot be read as a matrix (0, 1 or 2 dimensions)");
  std::uint64_t need = a.itemsize;
  for (std::int64_t d : a.shape)
    if (d < 0 || !detail::mul_overflow_u64(need, static_cast<std::uint64_t>(d), need))
      throw format_error(name + ": invalid shape");
  if (a.itemsize != dtype_size(a.dtype) || need != a.data.size())
    throw format_error(name + ": data hold " + std::to_string(a.data.size()) + " bytes but the shape needs " +
                       std::to_string(need));
  const Eigen::Index r = a.shape.empty() ? 1 : static_cast<Eigen::Index>(a.shape[0]);
  const Eigen::Index c = a.shape.size() < 2 ? 1 : static_cast<Eigen::Index>(a.shape[1]);
  const unsigned char* data = reinterpret_cast<const unsigned char*>(a.data.data());
  std::vector<unsigned char> swapped;
  if (a.big_endian && a.itemsize > 1) {
    swapped.assign(data, data + a.data.size());
    for (std::size_t k = 0; k + a.itemsize <= swapped.size(); k += a.itemsize)
      std::reverse(swapped.begin() + static_cast<std::ptrdiff_t>(k),
                   swapped.begin() + static_cast<std::ptrdiff_t>(k + a.itemsize));
    data = swapped.data();
  }
  return detail::decode_matrix<Scalar>(data, a.dtype, r, c, a.fortran_order && a.shape.size() == 2);
}

/// Writes `m` as a 2-D .npy file (v1.0, C order) with dtype F64 (`<f8`), F32 (`<f4`) or
/// F16 (`<f2`); atomic.
/// \tparam Derived any Eigen matrix expression.
template <typename Derived>
void write_npy(const std::string& path, const Eigen::MatrixBase<Derived>& m, DType dtype = DType::F64) {
  const char* descr = dtype == DType::F64 ? "<f8" : dtype == DType::F32 ? "<f4" : dtype == DType::F16 ? "<f2" : nullptr;
  if (!descr)
    throw std::invalid_argument(std::string("seqedit::io::write_npy: dtype ") + dtype_name(dtype) +
                                " is not supported for '" + path + "' (F64, F32 or F16)");
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                       std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string pre("\x93NUMPY\x01\x00", 8);
  pre.push_back(static_cast<char>(header.size() & 0xff));
  pre.push_back(static_cast<char>(header.size() >> 8));
  const std::vector<char> data = detail::encode_matrix(m, dtype);
  write_file_atomically(path, [&](AtomicFileWriter& w) {
    w.write(pre);
    w.write(header);
    w.write(data.data(), data.size());
  });
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_NPY_HPP

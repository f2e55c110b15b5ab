#ifndef SEQEDIT_IO_SAFETENSORS_HPP
#define SEQEDIT_IO_SAFETENSORS_HPP

/// \file safetensors.hpp
/// Reading, writing and patching safetensors files.
///
/// Layout: `u64 LE N` | N bytes of UTF-8 JSON header | byte buffer. Offsets in the
/// header are relative to the byte buffer (file offset 8 + N). Data are little-endian,
/// row-major (C order), dense.
///
/// Every rule of the reference reader is checked (see docs/formats.md); each violation
/// throws `format_error` naming the file, the tensor and what was wrong:
/// * file shorter than 8 bytes ("header too small");
/// * N > 100,000,000 or 8 + N past the end of the file ("header too large" /
///   "invalid header length");
/// * header not UTF-8 / not JSON / not an object; duplicate keys; a tensor entry that is
///   not `{"dtype": str, "shape": [uint...], "data_offsets": [uint, uint]}` (extra keys
///   are rejected too); unsupported dtype; non-string `__metadata__` value
///   ("invalid header");
/// * after sorting by offset: first begin ≠ 0, a gap, an overlap, end < begin
///   ("invalid offset", naming the tensor);
/// * product(shape) × element size overflowing or ≠ end − begin ("invalid tensor info");
/// * last end + 8 + N ≠ file size ("incomplete buffer": trailing bytes or truncation).
///
/// Decisions:
/// * dtypes: F64, F32, F16, BF16 and I64 are accepted; any other safetensors dtype
///   (I8, U8, BOOL, F8_*, ...) is rejected with a message listing the supported ones.
/// * `tensors()` lists the tensors in file (offset) order.
/// * Matrices: a 2-D tensor [r, c] becomes an r × c matrix (element (i, j) is the
///   file's element i·c + j); a 1-D tensor [n] an n × 1 column; a 0-D tensor 1 × 1.
///   Higher ranks are refused by read_matrix (read_raw still works).
/// * Writing always emits `__metadata__` with `"format": "pt"` unless the caller set
///   another "format" value explicitly; the header is padded with spaces so the data
///   start at a multiple of 8; files are replaced atomically (atomic_file.hpp).
/// * `replace_tensor` rewrites one tensor in the file's own dtype and shape; all other
///   bytes (header included) stay identical; the file is replaced atomically.

#include "atomic_file.hpp"
#include "detail/codec.hpp"
#include "detail/file.hpp"
#include "detail/json.hpp"
#include "dtype.hpp"
#include "error.hpp"

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace io {

/// Largest header length the reference reader accepts.
constexpr std::uint64_t safetensors_max_header_size = 100000000;

/// One tensor of a safetensors file. `begin`/`end` are relative to the data buffer.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;

  /// Number of elements (product of the shape; 1 for a scalar).
  std::uint64_t numel() const {
    std::uint64_t n = 1;
    for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

/// A validated safetensors header.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  ///< in offset order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  ///< 8 + N
};

namespace detail {

inline std::uint64_t json_uint(const nlohmann::json& v, const std::string& path, const std::string& tensor,
                               const char* field) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    throw_format(path, tensor, std::string("invalid header: '") + field +
                                   "' must hold non-negative integers, found " + v.dump());
  return v.get<std::uint64_t>();
}

inline TensorInfo parse_tensor_entry(const std::string& name, const nlohmann::json& v,
                                     const std::string& path) {
  if (!v.is_object()) throw_format(path, name, "invalid header: tensor entry must be a JSON object");
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      throw_format(path, name, "invalid header: unexpected field '" + it.key() + "'");
  const auto dt = v.find("dtype");
  const auto sh = v.find("shape");
  const auto off = v.find("data_offsets");
  if (dt == v.end() || sh == v.end() || off == v.end())
    throw_format(path, name, "invalid header: tensor entry needs 'dtype', 'shape' and 'data_offsets'");
  if (!dt->is_string()) throw_format(path, name, "invalid header: 'dtype' must be a string");
  const auto dtype = dtype_from_name(dt->get<std::string>());
  if (!dtype)
    throw_format(path, name, "invalid header: unsupported dtype '" + dt->get<std::string>() +
                                 "' (supported: " + supported_dtype_names() + ")");
  if (!sh->is_array()) throw_format(path, name, "invalid header: 'shape' must be an array");
  if (!off->is_array() || off->size() != 2)
    throw_format(path, name, "invalid header: 'data_offsets' must be an array [begin, end]");
  TensorInfo info;
  info.name = name;
  info.dtype = *dtype;
  std::uint64_t bytes = dtype_size(*dtype);
  for (const auto& d : *sh) {
    const std::uint64_t u = json_uint(d, path, name, "shape");
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        !mul_overflow_u64(bytes, u, bytes))
      throw_format(path, name, "invalid tensor info: shape " + sh->dump() + " x " +
                                   std::to_string(dtype_size(*dtype)) + " bytes overflows");
    info.shape.push_back(static_cast<std::int64_t>(u));
  }
  info.begin = json_uint((*off)[0], path, name, "data_offsets");
  info.end = json_uint((*off)[1], path, name, "data_offsets");
  if (info.end >= info.begin && info.end - info.begin != bytes)
    throw_format(path, name, "invalid tensor info: shape " + shape_string(info.shape) + " of " +
                                 dtype_name(*dtype) + " needs " + std::to_string(bytes) +
                                 " bytes but data_offsets [" + std::to_string(info.begin) + ", " +
                                 std::to_string(info.end) + "] span " +
                                 std::to_string(info.end - info.begin));
  return info;
}

}  // namespace detail

/// Parses and validates the beginning of a safetensors file.
///
/// \param bytes  the first `size` bytes of the file (at least 8 + N of them, N being the
///               header length the file declares; the whole file is fine)
/// \param file_size  the total size of the file, to check the offsets against
/// \param path_for_messages  the file name used in error messages
/// \throws format_error for every violation listed in this header's documentation.
inline SafetensorsHeader parse_safetensors_header(const char* bytes, std::size_t size,
                                                  std::uint64_t file_size,
                                                  const std::string& path_for_messages) {
  const std::string& path = path_for_messages;
  if (size < 8 || file_size < 8)
    throw format_error(path + ": header too small: the file has fewer than 8 bytes");
  const std::uint64_t n = detail::load_le64(reinterpret_cast<const unsigned char*>(bytes));
  if (n > safetensors_max_header_size)
    throw format_error(path + ": header too large: declared length " + std::to_string(n) +
                       " exceeds " + std::to_string(safetensors_max_header_size));
  if (8 + n > file_size)
    throw format_error(path + ": invalid header length: declared length " + std::to_string(n) +
                       " reaches past the end of the file (" + std::to_string(file_size) + " bytes)");
  if (8 + n > size)
    throw format_error(path + ": invalid header length: only " + std::to_string(size) +
                       " bytes available for a header of " + std::to_string(n));
  const nlohmann::json j = detail::parse_json_strict(bytes + 8, bytes + 8 + n, path, "invalid header");
  if (!j.is_object()) throw format_error(path + ": invalid header: the JSON header is not an object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_object() && it->contains("data_offsets"))
        throw format_error(path + ": invalid header: a tensor cannot be named '__metadata__'");
      if (!it->is_object())
        throw format_error(path + ": invalid header: '__metadata__' must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          throw format_error(path + ": invalid header: '__metadata__' value for key '" + m.key() +
                             "' is not a string");
        h.metadata.emplace(m.key(), m->get<std::string>());
      }
      continue;
    }
    h.tensors.push_back(detail::parse_tensor_entry(it.key(), *it, path));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const TensorInfo& t : h.tensors) {
    if (t.end < t.begin)
      detail::throw_format(path, t.name, "invalid offset: end " + std::to_string(t.end) +
                                             " < begin " + std::to_string(t.begin));
    if (t.begin != expected)
      detail::throw_format(path, t.name,
                           "invalid offset: begins at " + std::to_string(t.begin) + " but " +
                               (expected == 0 ? std::string("the first tensor must begin at 0")
                                              : (t.begin < expected ? "overlaps the previous tensor, which ends at "
                                                                    : "leaves a gap after the previous tensor, which ends at ") +
                                                    std::to_string(expected)));
    expected = t.end;
  }
  if (expected + h.data_start != file_size) {
    const std::string what = expected + h.data_start < file_size
                                 ? std::to_string(file_size - expected - h.data_start) + " trailing bytes after the last tensor"
                                 : "the file is truncated: " + std::to_string(expected + h.data_start - file_size) + " bytes missing";
    throw format_error(path + ": incomplete buffer: tensors end at byte " +
                       std::to_string(expected + h.data_start) + " but the file has " +
                       std::to_string(file_size) + " bytes (" + what + ")");
  }
  return h;
}

namespace detail {

/// The matrix shape a tensor maps to, or throws invalid_argument for rank > 2.
inline std::pair<Eigen::Index, Eigen::Index> matrix_shape(const std::vector<std::int64_t>& shape,
                                                          const std::string& path, const std::string& name) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {static_cast<Eigen::Index>(shape[0]), 1};
  if (shape.size() == 2) return {static_cast<Eigen::Index>(shape[0]), static_cast<Eigen::Index>(shape[1])};
  throw std::invalid_argument(format_message(path, "tensor", name,
                                             "has shape " + shape_string(shape) +
                                                 "; only 0-, 1- and 2-D tensors can be read as a matrix"));
}

/// Checks that matrix `m` fits tensor shape `shape` (same rules as read_matrix; a 1-D
/// tensor also accepts a 1 × n row).
template <typename Derived>
void check_matrix_fits(const Eigen::MatrixBase<Derived>& m, const std::vector<std::int64_t>& shape,
                       const std::string& path, const std::string& name) {
  const auto rc = matrix_shape(shape, path, name);
  const bool ok = (m.rows() == rc.first && m.cols() == rc.second) ||
                  (shape.size() == 1 && m.rows() == 1 && m.cols() == rc.first);
  if (!ok)
    throw std::invalid_argument(format_message(
        path, "tensor", name,
        "has shape " + shape_string(shape) + " but the matrix is " + std::to_string(m.rows()) + " x " +
            std::to_string(m.cols()) + " (a tensor keeps its shape and dtype when replaced)"));
}

}  // namespace detail

/// A safetensors file opened for reading. The constructor reads and validates the
/// header; tensor data are read on demand (the file is reopened for each read).
///
/// \code
/// seqedit::io::SafetensorsFile f("model.safetensors");
/// Eigen::MatrixXf W = f.read_matrix<float>("h.17.mlp.c_proj.weight");
/// \endcode
class SafetensorsFile {
 public:
  /// Opens `path` and validates its header. Throws format_error / io_error.
  explicit SafetensorsFile(const std::string& path) : path_(path) {
    detail::InputFile f(path);
    if (f.size() < 8) throw format_error(path + ": header too small: the file has fewer than 8 bytes");
    unsigned char len[8];
    f.read_at(0, len, 8);
    const std::uint64_t n = detail::load_le64(len);
    // Bounds are checked before allocating the header buffer.
    if (n > safetensors_max_header_size)
      throw format_error(path + ": header too large: declared length " + std::to_string(n) +
                         " exceeds " + std::to_string(safetensors_max_header_size));
    if (8 + n > f.size())
      throw format_error(path + ": invalid header length: declared length " + std::to_string(n) +
                         " reaches past the end of the file (" + std::to_string(f.size()) + " bytes)");
    std::vector<char> head(static_cast<std::size_t>(8 + n));
    f.read_at(0, head.data(), head.size());
    SafetensorsHeader h = parse_safetensors_header(head.data(), head.size(), f.size(), path);
    tensors_ = std::move(h.tensors);
    metadata_ = std::move(h.metadata);
    data_start_ = h.data_start;
    file_size_ = f.size();
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }

  /// The file's path.
  const std::string& path() const { return path_; }
  /// All tensors, in file (offset) order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  /// True if the file holds a tensor called `name`.
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// The tensor called `name`; throws std::invalid_argument naming the file if absent.
  const TensorInfo& info(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
      throw std::invalid_argument(detail::format_message(path_, "tensor", name, "no such tensor in the file"));
    return tensors_[it->second];
  }
  /// The `__metadata__` entries (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// File offset of the data buffer (8 + header length).
  std::uint64_t data_start() const { return data_start_; }
  /// Size of the file when it was opened.
  std::uint64_t file_size() const { return file_size_; }

  /// The tensor's bytes, exactly as stored (little-endian, row-major).
  std::vector<char> read_raw(const std::string& name) const {
    const TensorInfo& t = info(name);
    std::vector<char> bytes(static_cast<std::size_t>(t.end - t.begin));
    detail::InputFile f(path_);
    if (f.size() != file_size_)
      throw io_error("'" + path_ + "' changed size since it was opened (" + std::to_string(file_size_) +
                     " -> " + std::to_string(f.size()) + " bytes)");
    f.read_at(data_start_ + t.begin, bytes.data(), bytes.size());
    return bytes;
  }

  /// Reads a 0-, 1- or 2-D tensor as a matrix of `Scalar` (see the file's documentation
  /// for the shape mapping), converting from the file's dtype.
  /// \tparam Scalar float or double.
  template <typename Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> read_matrix(const std::string& name) const {
    const TensorInfo& t = info(name);
    const auto rc = detail::matrix_shape(t.shape, path_, name);
    const std::vector<char> bytes = read_raw(name);
    return detail::decode_matrix<Scalar>(reinterpret_cast<const unsigned char*>(bytes.data()), t.dtype,
                                         rc.first, rc.second, false);
  }

 private:
  std::string path_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::uint64_t data_start_ = 0, file_size_ = 0;
};

/// Builds a safetensors file in memory and writes it atomically.
///
/// \code
/// seqedit::io::SafetensorsWriter w;
/// w.add("layer.weight", W, seqedit::io::DType::BF16);
/// w.write("out.safetensors");
/// \endcode
class SafetensorsWriter {
 public:
  /// Sets a `__metadata__` entry ("format" defaults to "pt").
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  /// Adds a matrix as a 2-D tensor [rows, cols], converted to `dtype` (one rounding).
  /// \tparam Derived any Eigen matrix expression.
  template <typename Derived>
  void add(const std::string& name, const Eigen::MatrixBase<Derived>& m, DType dtype) {
    add_raw(name, dtype, {static_cast<std::int64_t>(m.rows()), static_cast<std::int64_t>(m.cols())},
            detail::encode_matrix(m, dtype));
  }

  /// Adds a tensor from its little-endian row-major bytes.
  void add_raw(const std::string& name, DType dtype, std::vector<std::int64_t> shape, std::vector<char> bytes) {
    if (name == "__metadata__" || name.empty())
      throw std::invalid_argument("seqedit::io: '" + name + "' cannot be a tensor name");
    for (const Entry& e : entries_)
      if (e.name == name) throw std::invalid_argument("seqedit::io: tensor '" + name + "' added twice");
    std::uint64_t n = dtype_size(dtype);
    for (std::int64_t d : shape)
      if (d < 0 || !detail::mul_overflow_u64(n, static_cast<std::uint64_t>(d), n))
        throw std::invalid_argument("seqedit::io: tensor '" + name + "': invalid shape " + detail::shape_string(shape));
    if (n != bytes.size())
      throw std::invalid_argument("seqedit::io: tensor '" + name + "': shape " + detail::shape_string(shape) +
                                  " of " + dtype_name(dtype) + " needs " + std::to_string(n) + " bytes, got " +
                                  std::to_string(bytes.size()));
    const std::uint64_t size = bytes.size();
    entries_.push_back(Entry{name, dtype, std::move(shape), std::move(bytes), size, {}});
  }

  /// Adds a tensor whose bytes are produced while the file is written: `emit(w)` must
  /// write exactly the tensor's size (from dtype and shape) in little-endian row-major
  /// order, else the write fails with std::logic_error (and the previous file stays).
  /// Lets a large tensor go to disk from its source without a byte copy in memory.
  void add_streamed(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                    std::function<void(AtomicFileWriter&)> emit) {
    if (name == "__metadata__" || name.empty())
      throw std::invalid_argument("seqedit::io: '" + name + "' cannot be a tensor name");
    for (const Entry& e : entries_)
      if (e.name == name) throw std::invalid_argument("seqedit::io: tensor '" + name + "' added twice");
    std::uint64_t n = dtype_size(dtype);
    for (std::int64_t d : shape)
      if (d < 0 || !detail::mul_overflow_u64(n, static_cast<std::uint64_t>(d), n))
        throw std::invalid_argument("seqedit::io: tensor '" + name + "': invalid shape " + detail::shape_string(shape));
    entries_.push_back(Entry{name, dtype, std::move(shape), {}, n, std::move(emit)});
  }

  /// The header bytes (length prefix, JSON, space padding) for the tensors added so far.
  std::string header() const {
    nlohmann::json j = nlohmann::json::object();
    nlohmann::json meta = nlohmann::json::object();
    meta["format"] = "pt";
    for (const auto& kv : metadata_) meta[kv.first] = kv.second;
    j["__metadata__"] = meta;
    std::uint64_t off = 0;
    for (const Entry& e : entries_) {
      j[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {off, off + e.size}}};
      off += e.size;
    }
    std::string text = j.dump();
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');
    std::string out(8, '\0');
    detail::store_le64(reinterpret_cast<unsigned char*>(&out[0]), text.size());
    return out + text;
  }

  /// Writes the file atomically (temporary file + fsync + rename).
  void write(const std::string& path) const {
    const std::string head = header();
    write_file_atomically(path, [&](AtomicFileWriter& w) {
      w.write(head);
      for (const Entry& e : entries_) {
        if (!e.emit) {
          w.write(e.bytes.data(), e.bytes.size());
          continue;
        }
        const std::uint64_t before = w.bytes_written();
        e.emit(w);
        if (w.bytes_written() - before != e.size)
          throw std::logic_error("seqedit::io: tensor '" + e.name + "': the producer wrote " +
                                 std::to_string(w.bytes_written() - before) + " bytes, " +
                                 std::to_string(e.size) + " expected");
      }
    });
  }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<char> bytes;
    std::uint64_t size = 0;
    std::function<void(AtomicFileWriter&)> emit;  ///< set for streamed tensors
  };
  std::map<std::string, std::string> metadata_;
  std::vector<Entry> entries_;
};

/// Replaces the bytes of tensor `name` with `bytes` (same length), copying every other
/// byte of the file unchanged; atomic (temporary copy + rename). Throws format_error /
/// io_error / std::invalid_argument.
inline void replace_tensor_raw(const std::string& path, const std::string& name, const std::vector<char>& bytes) {
  const SafetensorsFile file(path);
  const TensorInfo& t = file.info(name);
  if (bytes.size() != t.end - t.begin)
    throw std::invalid_argument(detail::format_message(path, "tensor", name,
                                                       "replacement has " + std::to_string(bytes.size()) +
                                                           " bytes but the tensor has " +
                                                           std::to_string(t.end - t.begin)));
  const detail::InputFile in(path);
  if (in.size() != file.file_size())
    throw io_error("'" + path + "' changed size while being rewritten");
  const std::uint64_t tb = file.data_start() + t.begin, te = file.data_start() + t.end;
  write_file_atomically(path, [&](AtomicFileWriter& w) {
    std::vector<char> buf(std::size_t(1) << 22);
    auto copy = [&](std::uint64_t from, std::uint64_t to) {
      while (from < to) {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), to - from));
        in.read_at(from, buf.data(), k);
        w.write(buf.data(), k);
        from += k;
      }
    };
    copy(0, tb);
    w.write(bytes.data(), bytes.size());
    copy(te, in.size());
  });
}

/// Replaces tensor `name` of the safetensors file `path` by `m`, written in the file's own
/// dtype (one rounding) and shape; every other byte stays identical; atomic.
/// \tparam Derived any Eigen matrix expression with the tensor's matrix shape.
template <typename Derived>
void replace_tensor(const std::string& path, const std::string& name, const Eigen::MatrixBase<Derived>& m) {
  const SafetensorsFile file(path);
  const TensorInfo& t = file.info(name);
  detail::check_matrix_fits(m, t.shape, path, name);
  replace_tensor_raw(path, name, detail::encode_matrix(m, t.dtype));
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_SAFETENSORS_HPP

#ifndef SEQEDIT_IO_EDITOR_STATE_HPP
#define SEQEDIT_IO_EDITOR_STATE_HPP

/// \file editor_state.hpp
/// Saving and loading the complete state of a `SequentialEditor` (one safetensors file),
/// so that an editing sequence can stop and continue later, in another process, with
/// bit-identical results.
///
/// **Layout.** One safetensors file, written atomically (temporary file, fsync, rename).
/// Float tensors are stored in the editor's scalar type (F64 for `double`, F32 for
/// `float`), so a reload is bit-exact:
///
/// | tensor            | shape       | dtype    | present                              |
/// |-------------------|-------------|----------|--------------------------------------|
/// | `initial_weights` | [d_v, d_k]  | F64/F32  | always (W0)                          |
/// | `weights`         | [d_v, d_k]  | F64/F32  | always (W_t)                         |
/// | `system_inverse`  | [r, r]      | F64/F32  | always (M_t⁻¹, full symmetric)       |
/// | `deviation`       | [d_v, d_k]  | F64/F32  | with Compensation::Analytic (e_t)    |
/// | `projector_basis` | [d_k, r]    | F64/F32  | with a null-space projector (U)      |
/// | `journal_keys`    | [d_k, N]    | F64/F32  | always (N = live edits, may be 0)    |
/// | `journal_values`  | [d_v, N]    | F64/F32  | always                               |
/// | `journal_serials` | [N]         | I64      | always (serials are < 2^63, lossless)|
///
/// `__metadata__` (all values are strings):
///
/// | key                        | value                                                  |
/// |----------------------------|--------------------------------------------------------|
/// | `format`                   | `pt`                                                   |
/// | `seqedit.state_version`    | `1`                                                    |
/// | `seqedit.scalar`           | `float64` or `float32`                                 |
/// | `seqedit.lambda`, `seqedit.alpha` | decimal with 17 significant digits (exact round trip) |
/// | `seqedit.history`          | `aligned`, `latest_only` or `none`                     |
/// | `seqedit.compensation`     | `none` or `analytic`                                   |
/// | `seqedit.steps`            | decimal                                                |
/// | `seqedit.editor_tag`       | 16 hexadecimal digits (the tag carried by EditIds)     |
/// | `seqedit.next_serial`      | decimal                                                |
/// | `seqedit.regulariser`      | `none`, `prune`, `rect p=0.2`, ... (`describe_regulariser`) |
/// | `seqedit.value_dim`, `seqedit.key_dim`, `seqedit.reduced_dim`, `seqedit.journal_size` | decimal |
/// | `seqedit.checksum`         | `seqedit-hash64:` + 16 hex digits, see below           |
///
/// plus the caller's own entries (`extra_metadata`), whose keys must not be `format` nor
/// start with `seqedit.`.
///
/// **Checksum.** safetensors has none: a flipped byte in the data, or in a metadata value,
/// would otherwise load silently. `seqedit.checksum` is a 64-bit hash (word-wise
/// xor–rotate–multiply, each step a bijection, so any change confined to one 8-byte word
/// is always detected) of every metadata entry except itself (sorted by key) and of every
/// tensor's name, dtype, shape and bytes. Loading verifies it before anything is used.
///
/// **Errors.** Everything is validated; each error names the file:
/// * `seqedit::io::format_error`: malformed safetensors (the reader's checks: truncated
///   file, bad header, ...), missing or unexpected tensors, wrong dtype or shape, bad or
///   missing metadata, checksum mismatch, a state the editor refuses (e.g. serials out of
///   order, a non-orthonormal projector basis).
/// * `std::invalid_argument`: the file is valid but does not fit the request
///   (`"state.safetensors: state file holds float32, asked for double"`, or another
///   regulariser than the one the state was written with).
/// * `seqedit::io::io_error`: the operating system refused to read or write.
///
/// \code
///   seqedit::SequentialEditor<double> ed(W0, C0, seqedit::Objective<double>::memit(15000.0));
///   ed.apply(K1, V1);
///   seqedit::io::save_editor_state("layer17.state.safetensors", ed);
///   // ... later, in another process:
///   auto ed2 = seqedit::io::load_editor_state<double>("layer17.state.safetensors");
///   ed2.apply(K2, V2);   // bit-identical to continuing with `ed`
/// \endcode

#include "../projector.hpp"
#include "../regulariser.hpp"
#include "../sequential_editor.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "detail/file.hpp"
#include "safetensors.hpp"

#if __has_include("../prune.hpp")
#include "../prune.hpp"
#define SEQEDIT_IO_STATE_HAS_PRUNE 1
#endif
#if __has_include("../rect.hpp")
#include "../rect.hpp"
#define SEQEDIT_IO_STATE_HAS_RECT 1
#endif

#include <Eigen/Core>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace seqedit {
namespace io {

/// Version written to `seqedit.state_version`; files of other versions are refused.
constexpr int editor_state_version = 1;

// ------------------------------------------------------------------ regulariser names

namespace detail {
template <typename R, typename = void>
struct has_describe : std::false_type {};
template <typename R>
struct has_describe<R, std::void_t<decltype(std::string(std::declval<const R&>().describe()))>>
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

template <typename R>
std::string describe_generic(const R& r) {
  if constexpr (has_describe<R>::value) {
    return std::string(r.describe());
  } else {
    (void)r;
    return "custom";
  }
}
}  // namespace detail

/// Description of a regulariser stored in a state file (`seqedit.regulariser`) and
/// compared on loading. Overloads: `NoRegulariser` → "none", `Prune` → "prune",
/// `Rect` → "rect p=<ratio>"; a user type with a member `describe()` returning a string
/// uses it; any other type is "custom".
template <typename R>
std::string describe_regulariser(const R& r) {
  return detail::describe_generic(r);
}

/// "none".
template <typename S>
std::string describe_regulariser(const NoRegulariser<S>&) {
  return "none";
}

#ifdef SEQEDIT_IO_STATE_HAS_PRUNE
/// "prune" (PRUNE has no hyperparameter, math.md section 5).
template <typename S>
std::string describe_regulariser(const Prune<S>&) {
  return "prune";
}
#endif

#ifdef SEQEDIT_IO_STATE_HAS_RECT
namespace detail {
template <typename R, typename = void>
struct has_ratio : std::false_type {};
template <typename R>
struct has_ratio<R, std::void_t<decltype(double(std::declval<const R&>().ratio()))>> : std::true_type {};
}  // namespace detail

/// "rect p=<ratio>" (RECT keeps the top p of relative changes, math.md section 5).
template <typename S>
std::string describe_regulariser(const Rect<S>& r) {
  if constexpr (detail::has_ratio<Rect<S>>::value) {
    return "rect p=" + detail::short_real(double(r.ratio()));
  } else {
    return detail::describe_generic(r);
  }
}
#endif

// ------------------------------------------------------------------ names of enums

/// "aligned", "latest_only" or "none".
inline const char* history_name(History h) {
  switch (h) {
    case History::Aligned: return "aligned";
    case History::LatestOnly: return "latest_only";
    case History::None: return "none";
  }
  return "?";
}

/// "none" or "analytic".
inline const char* compensation_name(Compensation c) {
  switch (c) {
    case Compensation::None: return "none";
    case Compensation::Analytic: return "analytic";
  }
  return "?";
}

// ------------------------------------------------------------------ summary

/// What a state file holds, read from its header and the (small) serials tensor; for
/// `seqedit inspect` and `seqedit verify`. Reading it does not load the matrices.
struct EditorStateInfo {
  std::string path;
  std::string scalar;                ///< "float64" or "float32"
  int state_version = 0;
  Eigen::Index value_dim = 0;        ///< d_v
  Eigen::Index key_dim = 0;          ///< d_k
  Eigen::Index reduced_dim = 0;      ///< r (= d_k without projector)
  bool has_projector = false;
  History history = History::Aligned;
  Compensation compensation = Compensation::None;
  double lambda = 0;                 ///< as stored (exact for float and double states)
  double alpha = 0;
  std::string regulariser;           ///< e.g. "none", "prune", "rect p=0.2"
  std::int64_t steps = 0;
  std::uint64_t editor_tag = 0;
  std::uint64_t next_serial = 1;
  std::vector<std::uint64_t> journal_serials;     ///< serials of the live edits, increasing
  std::string checksum;                           ///< the stored `seqedit.checksum`
  bool checksum_verified = false;                 ///< true if the data were hashed and matched
  std::map<std::string, std::string> metadata;    ///< every `__metadata__` entry
  std::map<std::string, std::string> extra_metadata;  ///< the caller's entries only
  std::vector<TensorInfo> tensors;                ///< the file's tensors, in file order
};

namespace detail {

// ------------------------------------------------------------------ hashing

/// Word-wise 64-bit hash: h ← rotl(h ⊕ w, 29) · K for each little-endian 8-byte word
/// (bytes past the end of the stream count as zero, the length is mixed in at the end).
/// Each step is a bijection of h for a fixed word and of the word for a fixed h, so a
/// change confined to one word always changes the result. Not cryptographic.
class StateHasher {
 public:
  void update(const void* data, std::size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    total_ += n;
    while (n > 0 && fill_ > 0 && fill_ < 8) {
      buf_[fill_++] = *p++;
      --n;
      if (fill_ == 8) {
        word(load_le64(buf_));
        fill_ = 0;
      }
    }
    while (n >= 8) {
      word(load_le64(p));
      p += 8;
      n -= 8;
    }
    while (n > 0) {
      buf_[fill_++] = *p++;
      --n;
    }
  }
  void update(const std::string& s) {
    update_u64(s.size());
    update(s.data(), s.size());
  }
  void update_u64(std::uint64_t v) {
    unsigned char b[8];
    store_le64(b, v);
    update(b, 8);
  }
  std::uint64_t finish() const {
    std::uint64_t h = h_;
    if (fill_ > 0) {
      unsigned char b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(b, buf_, fill_);
      h = step(h, load_le64(b));
    }
    h = step(h, total_);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    return h;
  }

 private:
  static std::uint64_t step(std::uint64_t h, std::uint64_t w) {
    h ^= w;
    h = (h << 29) | (h >> 35);
    return h * 0x9E3779B97F4A7C15ULL;
  }
  void word(std::uint64_t w) { h_ = step(h_, w); }

  std::uint64_t h_ = 0xCBF29CE484222325ULL;
  unsigned char buf_[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t fill_ = 0;
  std::uint64_t total_ = 0;
};

constexpr const char* state_checksum_key = "seqedit.checksum";
constexpr const char* state_checksum_prefix = "seqedit-hash64:";

inline void hash_tensor_head(StateHasher& h, const std::string& name, DType dtype,
                             const std::vector<std::int64_t>& shape) {
  h.update(name);
  h.update(std::string(dtype_name(dtype)));
  h.update_u64(shape.size());
  for (std::int64_t d : shape) h.update_u64(static_cast<std::uint64_t>(d));
}

inline void hash_metadata(StateHasher& h, const std::map<std::string, std::string>& meta) {
  for (const auto& kv : meta) {
    if (kv.first == state_checksum_key) continue;
    h.update(kv.first);
    h.update(kv.second);
  }
}

inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string checksum_string(std::uint64_t v) { return state_checksum_prefix + hex64(v); }

// ------------------------------------------------------------------ metadata parsing

[[noreturn]] inline void throw_state(const std::string& path, const std::string& what) {
  throw format_error(path + ": " + what);
}

inline const std::string& state_meta(const std::map<std::string, std::string>& meta,
                                     const std::string& path, const std::string& key) {
  const auto it = meta.find(key);
  if (it == meta.end()) throw_state(path, "metadata '" + key + "' is missing from the state file");
  return it->second;
}

inline std::uint64_t parse_state_u64(const std::string& s, const std::string& path, const std::string& key,
                                     int base = 10) {
  if (s.empty() || s.size() > 20 || !(std::isxdigit(static_cast<unsigned char>(s[0]))))
    throw_state(path, "metadata '" + key + "' = '" + s + "' is not a non-negative integer");
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, base);
  if (errno != 0 || end != s.c_str() + s.size())
    throw_state(path, "metadata '" + key + "' = '" + s + "' is not a non-negative integer");
  return static_cast<std::uint64_t>(v);
}

inline double parse_state_real(const std::string& s, const std::string& path, const std::string& key) {
  errno = 0;
  char* end = nullptr;
  const double v = s.empty() ? 0.0 : std::strtod(s.c_str(), &end);
  if (s.empty() || errno != 0 || end != s.c_str() + s.size() || !is_finite_bits(v) || !(v >= 0))
    throw_state(path, "metadata '" + key + "' = '" + s + "' is not a finite non-negative number");
  return v;
}

inline std::string exact_real(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

inline bool reserved_state_key(const std::string& key) {
  return key == "format" || key.compare(0, 8, "seqedit.") == 0;
}

/// Parses and validates the header of a state file (metadata, tensor set, dtypes, shapes)
/// and reads the serials. Does not read the float tensors.
inline EditorStateInfo parse_state_info(const SafetensorsFile& f) {
  const std::string& path = f.path();
  {
    // The JSON parser stops at a NUL byte and ignores what follows; the reference reader
    // does not. State files are padded with spaces only: refuse any NUL in the header.
    const InputFile in(path);
    std::vector<char> head(static_cast<std::size_t>(f.data_start() - 8));
    in.read_at(8, head.data(), head.size());
    if (std::memchr(head.data(), '\0', head.size()) != nullptr)
      throw_state(path, "invalid header: NUL byte in the JSON header");
  }
  EditorStateInfo info;
  info.path = path;
  info.metadata = f.metadata();
  info.tensors = f.tensors();
  const auto& meta = info.metadata;
  if (meta.find("seqedit.state_version") == meta.end())
    throw_state(path, "not a seqedit state file (no 'seqedit.state_version' in the metadata)");
  const std::uint64_t version = parse_state_u64(meta.at("seqedit.state_version"), path, "seqedit.state_version");
  if (version != std::uint64_t(editor_state_version))
    throw_state(path, "state file version " + std::to_string(version) + " is not supported (this build reads version " +
                          std::to_string(editor_state_version) + ")");
  info.state_version = int(version);

  info.scalar = state_meta(meta, path, "seqedit.scalar");
  DType fdt;
  if (info.scalar == "float64") fdt = DType::F64;
  else if (info.scalar == "float32") fdt = DType::F32;
  else throw_state(path, "metadata 'seqedit.scalar' = '" + info.scalar + "' is not float64 or float32");

  info.lambda = parse_state_real(state_meta(meta, path, "seqedit.lambda"), path, "seqedit.lambda");
  info.alpha = parse_state_real(state_meta(meta, path, "seqedit.alpha"), path, "seqedit.alpha");
  if (fdt == DType::F32) {
    for (const auto& kv : {std::make_pair("seqedit.lambda", info.lambda), std::make_pair("seqedit.alpha", info.alpha)})
      if (double(float(kv.second)) != kv.second)
        throw_state(path, std::string("metadata '") + kv.first + "' = '" + meta.at(kv.first) +
                              "' is not a float32 value, but the state holds float32");
  }

  const std::string& hist = state_meta(meta, path, "seqedit.history");
  if (hist == "aligned") info.history = History::Aligned;
  else if (hist == "latest_only") info.history = History::LatestOnly;
  else if (hist == "none") info.history = History::None;
  else throw_state(path, "metadata 'seqedit.history' = '" + hist + "' is not aligned, latest_only or none");

  const std::string& comp = state_meta(meta, path, "seqedit.compensation");
  if (comp == "none") info.compensation = Compensation::None;
  else if (comp == "analytic") info.compensation = Compensation::Analytic;
  else throw_state(path, "metadata 'seqedit.compensation' = '" + comp + "' is not none or analytic");

  const std::uint64_t steps = parse_state_u64(state_meta(meta, path, "seqedit.steps"), path, "seqedit.steps");
  if (steps > std::uint64_t(INT64_MAX)) throw_state(path, "metadata 'seqedit.steps' is out of range");
  info.steps = std::int64_t(steps);
  const std::string& tag = state_meta(meta, path, "seqedit.editor_tag");
  if (tag.size() != 16) throw_state(path, "metadata 'seqedit.editor_tag' = '" + tag + "' is not 16 hexadecimal digits");
  info.editor_tag = parse_state_u64(tag, path, "seqedit.editor_tag", 16);
  info.next_serial = parse_state_u64(state_meta(meta, path, "seqedit.next_serial"), path, "seqedit.next_serial");
  if (info.next_serial < 1 || info.next_serial > std::uint64_t(INT64_MAX))
    throw_state(path, "metadata 'seqedit.next_serial' is out of range [1, 2^63)");
  info.regulariser = state_meta(meta, path, "seqedit.regulariser");
  info.checksum = state_meta(meta, path, state_checksum_key);

  const auto dim = [&](const char* key) {
    const std::uint64_t v = parse_state_u64(state_meta(meta, path, key), path, key);
    if (v > (std::uint64_t(1) << 40)) throw_state(path, std::string("metadata '") + key + "' is out of range");
    return Eigen::Index(v);
  };
  info.value_dim = dim("seqedit.value_dim");
  info.key_dim = dim("seqedit.key_dim");
  info.reduced_dim = dim("seqedit.reduced_dim");
  const Eigen::Index n = dim("seqedit.journal_size");
  if (info.value_dim == 0 || info.key_dim == 0) throw_state(path, "metadata: d_v and d_k must be positive");
  if (info.reduced_dim == 0 || info.reduced_dim > info.key_dim)
    throw_state(path, "metadata 'seqedit.reduced_dim' = " + std::to_string(info.reduced_dim) +
                          " must lie in [1, d_k = " + std::to_string(info.key_dim) + "]");

  for (const auto& kv : meta)
    if (!reserved_state_key(kv.first)) info.extra_metadata.insert(kv);

  // The tensor set, dtypes and shapes.
  const Eigen::Index dv = info.value_dim, dk = info.key_dim, r = info.reduced_dim;
  info.has_projector = f.contains("projector_basis");
  const bool has_dev = info.compensation == Compensation::Analytic;
  struct Expect {
    const char* name;
    DType dtype;
    std::vector<std::int64_t> shape;
    bool present;
  };
  const std::vector<Expect> expected = {
      {"initial_weights", fdt, {dv, dk}, true},
      {"weights", fdt, {dv, dk}, true},
      {"system_inverse", fdt, {r, r}, true},
      {"deviation", fdt, {dv, dk}, has_dev},
      {"projector_basis", fdt, {dk, r}, info.has_projector},
      {"journal_keys", fdt, {dk, n}, true},
      {"journal_values", fdt, {dv, n}, true},
      {"journal_serials", DType::I64, {n}, true},
  };
  for (const Expect& e : expected) {
    if (!e.present) {
      if (f.contains(e.name))
        throw_state(path, std::string("tensor '") + e.name +
                              "' is present but the metadata say compensation is none");
      continue;
    }
    if (!f.contains(e.name)) throw_state(path, std::string("tensor '") + e.name + "' is missing from the state file");
    const TensorInfo& t = f.info(e.name);
    if (t.dtype != e.dtype)
      throw_state(path, std::string("tensor '") + e.name + "' has dtype " + dtype_name(t.dtype) + " but " +
                            dtype_name(e.dtype) + " is expected (the state holds " + info.scalar + ")");
    if (t.shape != e.shape)
      throw_state(path, std::string("tensor '") + e.name + "' has shape " + shape_string(t.shape) + " but " +
                            shape_string(e.shape) + " is expected from the metadata");
  }
  if (!info.has_projector && r != dk)
    throw_state(path, "metadata 'seqedit.reduced_dim' = " + std::to_string(r) +
                          " differs from d_k = " + std::to_string(dk) + " but there is no projector_basis tensor");
  for (const TensorInfo& t : f.tensors()) {
    bool known = false;
    for (const Expect& e : expected) known = known || t.name == e.name;
    if (!known) throw_state(path, "unexpected tensor '" + t.name + "' in a state file");
  }

  // Serials (small; read here so that inspect can list them).
  const std::vector<char> raw = f.read_raw("journal_serials");
  info.journal_serials.resize(std::size_t(n));
  std::uint64_t prev = 0;
  for (std::size_t j = 0; j < std::size_t(n); ++j) {
    const std::uint64_t s = load_le64(reinterpret_cast<const unsigned char*>(raw.data()) + 8 * j);
    if (s == 0 || s <= prev || s >= info.next_serial || s > std::uint64_t(INT64_MAX))
      throw_state(path, "tensor 'journal_serials': serial " + std::to_string(static_cast<std::int64_t>(s)) +
                            " at position " + std::to_string(j) +
                            " is not positive, increasing and below next_serial = " + std::to_string(info.next_serial));
    info.journal_serials[j] = s;
    prev = s;
  }
  return info;
}

/// The tensor order used for the checksum (absent tensors are skipped).
inline const std::vector<const char*>& state_tensor_order() {
  static const std::vector<const char*> order = {"initial_weights", "weights",      "system_inverse",
                                                 "deviation",       "projector_basis", "journal_keys",
                                                 "journal_values",  "journal_serials"};
  return order;
}

/// Hashes metadata and all tensors of an open state file; calls `use(name, bytes)` on each
/// tensor's raw bytes as they are read.
template <typename Use>
std::uint64_t hash_state_file(const SafetensorsFile& f, Use&& use) {
  StateHasher h;
  hash_metadata(h, f.metadata());
  for (const char* name : state_tensor_order()) {
    if (!f.contains(name)) continue;
    const TensorInfo& t = f.info(name);
    const std::vector<char> bytes = f.read_raw(name);
    hash_tensor_head(h, name, t.dtype, t.shape);
    h.update(bytes.data(), bytes.size());
    use(t, bytes);
  }
  return h.finish();
}

inline void check_state_checksum(const EditorStateInfo& info, std::uint64_t computed) {
  if (info.checksum != checksum_string(computed))
    throw_state(info.path, "checksum mismatch: the metadata say '" + info.checksum + "' but the content hashes to '" +
                               checksum_string(computed) + "' (the file is corrupted or was modified)");
}

template <typename Scalar>
constexpr const char* scalar_label() {
  return std::is_same<Scalar, double>::value ? "float64" : "float32";
}

}  // namespace detail

// ------------------------------------------------------------------ public API

/// Reads the header of a state file: metadata, shapes, serials. With `verify_data`, also
/// reads and hashes every tensor and checks `seqedit.checksum` (then
/// `checksum_verified` is true). Throws format_error / io_error naming the file.
inline EditorStateInfo read_editor_state_info(const std::string& path, bool verify_data = false) {
  const SafetensorsFile f(path);
  EditorStateInfo info = detail::parse_state_info(f);
  if (verify_data) {
    detail::check_state_checksum(info, detail::hash_state_file(f, [](const TensorInfo&, const std::vector<char>&) {}));
    info.checksum_verified = true;
  }
  return info;
}

/// True if `path` is a safetensors file whose metadata mark it as a seqedit state file
/// (only the header is read; no validation beyond the safetensors header).
inline bool is_editor_state_file(const std::string& path) {
  const SafetensorsFile f(path);
  return f.metadata().count("seqedit.state_version") != 0;
}

/// Reads a state file into plain data, fully validated (header, shapes, checksum), without
/// building an editor. `info`, if given, receives the header summary.
/// \tparam Scalar `float` or `double`; must match the file (else std::invalid_argument).
template <typename Scalar>
EditorState<Scalar> read_editor_state(const std::string& path, EditorStateInfo* info_out = nullptr) {
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "state files hold float or double");
  using Matrix = typename EditorState<Scalar>::Matrix;
  const SafetensorsFile f(path);
  EditorStateInfo info = detail::parse_state_info(f);
  if (info.scalar != detail::scalar_label<Scalar>())
    throw std::invalid_argument(path + ": state file holds " + info.scalar + ", asked for " +
                                (std::is_same<Scalar, double>::value ? "double" : "float"));

  EditorState<Scalar> s;
  std::map<std::string, Matrix> mats;
  const std::uint64_t hash = detail::hash_state_file(f, [&](const TensorInfo& t, const std::vector<char>& bytes) {
    if (t.dtype == DType::I64) return;
    const auto rc = detail::matrix_shape(t.shape, path, t.name);
    mats[t.name] = detail::decode_matrix<Scalar>(reinterpret_cast<const unsigned char*>(bytes.data()), t.dtype,
                                                 rc.first, rc.second, false);
  });
  detail::check_state_checksum(info, hash);

  s.initial_weights = std::move(mats.at("initial_weights"));
  s.weights = std::move(mats.at("weights"));
  s.system_inverse = std::move(mats.at("system_inverse"));
  if (mats.count("deviation")) s.deviation = std::move(mats.at("deviation"));
  if (mats.count("projector_basis")) s.projector_basis = std::move(mats.at("projector_basis"));
  s.journal_keys = std::move(mats.at("journal_keys"));
  s.journal_values = std::move(mats.at("journal_values"));
  s.journal_serials = info.journal_serials;
  s.objective.lambda = static_cast<Scalar>(info.lambda);
  s.objective.alpha = static_cast<Scalar>(info.alpha);
  s.history = info.history;
  s.compensation = info.compensation;
  s.steps = info.steps;
  s.editor_tag = info.editor_tag;
  s.next_serial = info.next_serial;
  if (info_out) {
    info.checksum_verified = true;
    *info_out = std::move(info);
  }
  return s;
}

/// Writes the complete state of `editor` to `path` (one safetensors file, atomically; see
/// the file's documentation for the layout). `extra_metadata` entries are stored as well;
/// their keys must not be "format" nor start with "seqedit." (std::invalid_argument).
/// \throws io_error if the file cannot be written (the previous file is then untouched).
template <typename Scalar, typename Regulariser>
void save_editor_state(const std::string& path, const SequentialEditor<Scalar, Regulariser>& editor,
                       const std::map<std::string, std::string>& extra_metadata = {}) {
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "state files hold float or double");
  for (const auto& kv : extra_metadata)
    if (detail::reserved_state_key(kv.first))
      throw std::invalid_argument(path + ": extra metadata key '" + kv.first +
                                  "' is reserved ('format' and 'seqedit.*' are written by save_editor_state)");
  const EditorState<Scalar> s = editor.state();
  const DType fdt = std::is_same<Scalar, double>::value ? DType::F64 : DType::F32;
  const std::uint64_t limit = std::uint64_t(INT64_MAX);
  if (s.next_serial > limit)
    throw std::invalid_argument(path + ": next serial " + std::to_string(s.next_serial) + " cannot be stored (>= 2^63)");

  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = "pt";
  meta["seqedit.state_version"] = std::to_string(editor_state_version);
  meta["seqedit.scalar"] = detail::scalar_label<Scalar>();
  meta["seqedit.lambda"] = detail::exact_real(double(s.objective.lambda));
  meta["seqedit.alpha"] = detail::exact_real(double(s.objective.alpha));
  meta["seqedit.history"] = history_name(s.history);
  meta["seqedit.compensation"] = compensation_name(s.compensation);
  meta["seqedit.steps"] = std::to_string(s.steps);
  meta["seqedit.editor_tag"] = detail::hex64(s.editor_tag);
  meta["seqedit.next_serial"] = std::to_string(s.next_serial);
  meta["seqedit.regulariser"] = describe_regulariser(editor.regulariser());
  meta["seqedit.value_dim"] = std::to_string(s.initial_weights.rows());
  meta["seqedit.key_dim"] = std::to_string(s.initial_weights.cols());
  meta["seqedit.reduced_dim"] = std::to_string(s.system_inverse.rows());
  meta["seqedit.journal_size"] = std::to_string(s.journal_serials.size());

  struct Pending {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<char> bytes;
  };
  std::vector<Pending> tensors;
  const auto add = [&](const char* name, const auto& m) {
    tensors.push_back(Pending{name, fdt, {std::int64_t(m.rows()), std::int64_t(m.cols())}, detail::encode_matrix(m, fdt)});
  };
  add("initial_weights", s.initial_weights);
  add("weights", s.weights);
  add("system_inverse", s.system_inverse);
  if (s.compensation == Compensation::Analytic) add("deviation", s.deviation);
  if (s.projector_basis) add("projector_basis", *s.projector_basis);
  add("journal_keys", s.journal_keys);
  add("journal_values", s.journal_values);
  {
    std::vector<char> bytes(8 * s.journal_serials.size());
    for (std::size_t j = 0; j < s.journal_serials.size(); ++j)
      detail::store_le64(reinterpret_cast<unsigned char*>(bytes.data()) + 8 * j, s.journal_serials[j]);
    tensors.push_back(Pending{"journal_serials", DType::I64, {std::int64_t(s.journal_serials.size())}, std::move(bytes)});
  }

  detail::StateHasher h;
  detail::hash_metadata(h, meta);
  for (const Pending& t : tensors) {  // already in state_tensor_order()
    detail::hash_tensor_head(h, t.name, t.dtype, t.shape);
    h.update(t.bytes.data(), t.bytes.size());
  }
  meta[detail::state_checksum_key] = detail::checksum_string(h.finish());

  SafetensorsWriter w;
  for (const auto& kv : meta) w.set_metadata(kv.first, kv.second);
  for (Pending& t : tensors) w.add_raw(t.name, t.dtype, std::move(t.shape), std::move(t.bytes));
  w.write(path);
}

/// Loads an editor saved by `save_editor_state`, fully validated. The regulariser must be
/// the one the state was written with (compared by `describe_regulariser`), else
/// std::invalid_argument; so must the scalar type.
/// \tparam Scalar `float` or `double`.
/// \tparam Regulariser the editor's regulariser type (default: none).
template <typename Scalar, typename Regulariser = NoRegulariser<Scalar>>
SequentialEditor<Scalar, Regulariser> load_editor_state(const std::string& path,
                                                        const Regulariser& reg = Regulariser()) {
  EditorStateInfo info;
  const EditorState<Scalar> s = read_editor_state<Scalar>(path, &info);
  const std::string want = describe_regulariser(reg);
  if (want != info.regulariser)
    throw std::invalid_argument(path + ": state file was written with regulariser '" + info.regulariser +
                                "', asked to continue with '" + want + "'");
  try {
    return SequentialEditor<Scalar, Regulariser>(s, reg);
  } catch (const std::invalid_argument& e) {
    throw format_error(path + ": invalid editor state: " + e.what());
  }
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_EDITOR_STATE_HPP

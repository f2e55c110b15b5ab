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
/// | tensor               | shape       | dtype    | present                                   |
/// |----------------------|-------------|----------|-------------------------------------------|
/// | `initial_weights`    | [d_v, d_k]  | F64/F32  | always (W0)                               |
/// | `cumulative_update`  | [d_v, d_k]  | F64/F32  | version 2 (D_t = W_t − W0, as the editor keeps it) |
/// | `weights`            | [d_v, d_k]  | F64/F32  | version 1 only (W_t; D_t = W_t − W0 on loading) |
/// | `system_inverse`     | [r, r]      | F64/F32  | always (M_t⁻¹, full symmetric)            |
/// | `deviation`          | [d_v, d_k]  | F64/F32  | with Compensation::Analytic (e_t)         |
/// | `projector_basis`    | [d_k, r]    | F64/F32  | with a null-space projector (U)           |
/// | `drift_probes`       | [r, 4]      | F64/F32  | version 2, when the probes are known (Y)  |
/// | `drift_probe_images` | [r, 4]      | F64/F32  | with `drift_probes` (M_0 Y)               |
/// | `journal_keys`       | [d_k, N]    | F64/F32  | always (N = live edits, may be 0)         |
/// | `journal_values`     | [d_v, N]    | F64/F32  | always                                    |
/// | `journal_serials`    | [N]         | I64      | always (serials are < 2^63, lossless)     |
///
/// `__metadata__` (all values are strings):
///
/// | key                        | value                                                  |
/// |----------------------------|--------------------------------------------------------|
/// | `format`                   | `pt`                                                   |
/// | `seqedit.state_version`    | `2` (files of version `1` are read as well)            |
/// | `seqedit.scalar`           | `float64` or `float32`                                 |
/// | `seqedit.lambda`, `seqedit.alpha` | decimal with 17 significant digits (exact round trip) |
/// | `seqedit.history`          | `aligned`, `latest_only` or `none`                     |
/// | `seqedit.compensation`     | `none` or `analytic`                                   |
/// | `seqedit.steps`            | decimal                                                |
/// | `seqedit.editor_tag`       | 16 hexadecimal digits (the tag carried by EditIds)     |
/// | `seqedit.next_serial`      | decimal                                                |
/// | `seqedit.regulariser`      | `none`, `prune`, `rect p=0.2`, ... (the regulariser's `describe()`) |
/// | `seqedit.value_dim`, `seqedit.key_dim`, `seqedit.reduced_dim`, `seqedit.journal_size` | decimal |
/// | `seqedit.drift_estimate`   | version 2: the editor's `drift_estimate()` when saved (17 digits), or `unknown` |
/// | `seqedit.checksum`         | `xxh3-64:` + 16 hex digits (version 1: `seqedit-hash64:` + 16 hex digits), see below |
///
/// plus the caller's own entries (`extra_metadata`), whose keys must not be `format` nor
/// start with `seqedit.`.
///
/// **Checksum.** safetensors has none: a flipped byte in the data, or in a metadata value,
/// would otherwise load silently. `seqedit.checksum` names its algorithm by its prefix and
/// covers every metadata entry except itself (sorted by key, each as length + bytes) and
/// every tensor's name, dtype, shape and bytes, in the order of the table above. Version 2
/// uses XXH3-64 (xxHash, Debian libxxhash-dev, used header-only: `XXH_INLINE_ALL`);
/// version 1 files carry the earlier word-wise 64-bit hash (`seqedit-hash64:`), still
/// verified when they are read. Loading verifies it before anything is used.
///
/// **Memory.** Saving encodes the tensors straight from the editor's matrices in chunks of
/// about 4 MB (twice: once to hash, once to write); loading decodes them straight into the
/// state that the editor then takes over. Peak memory of either is the editor's own
/// state plus a few chunk buffers.
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
#include "../prune.hpp"
#include "../rect.hpp"
#include "../regulariser.hpp"
#include "../sequential_editor.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "detail/file.hpp"
#include "safetensors.hpp"

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <Eigen/Core>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace seqedit {
namespace io {

/// Version written to `seqedit.state_version`. Versions 1 and 2 are read; others refused.
constexpr int editor_state_version = 2;

/// The regulariser's description (`seqedit::describe_regulariser`, regulariser.hpp: its
/// `describe()`, e.g. "none", "prune", "rect p=0.2"; "custom" without one).
using seqedit::describe_regulariser;

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
  std::string checksum_algorithm;                 ///< "xxh3-64" (version 2) or "seqedit-hash64" (version 1)
  /// The drift estimate of the saved editor (`seqedit.drift_estimate`); NaN when unknown
  /// (version 1 files, or a state whose probes are unknown).
  double drift_estimate = std::numeric_limits<double>::quiet_NaN();
  bool has_drift_probes = false;                  ///< the file holds drift_probes / drift_probe_images
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
class LegacyStateHasher {
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

/// XXH3-64 (xxHash 0.8, streaming) over the same byte stream as LegacyStateHasher:
/// the checksum of version-2 state files.
class Xxh3StateHasher {
 public:
  Xxh3StateHasher() { XXH3_64bits_reset(&state_); }
  void update(const void* data, std::size_t n) {
    if (n > 0) XXH3_64bits_update(&state_, data, n);
  }
  std::uint64_t finish() const { return static_cast<std::uint64_t>(XXH3_64bits_digest(&state_)); }

 private:
  XXH3_state_t state_;
};

/// The checksum algorithms of state files, named by the prefix of `seqedit.checksum`.
enum class StateChecksum { Xxh3_64, Legacy64 };

/// The hash of a state file's stream (metadata entries, tensor names, dtypes, shapes and
/// bytes), by either algorithm.
class StateHasher {
 public:
  explicit StateHasher(StateChecksum algo = StateChecksum::Xxh3_64) : algo_(algo) {}
  void update(const void* data, std::size_t n) {
    if (algo_ == StateChecksum::Xxh3_64) xxh_.update(data, n);
    else legacy_.update(data, n);
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
    return algo_ == StateChecksum::Xxh3_64 ? xxh_.finish() : legacy_.finish();
  }
  StateChecksum algorithm() const { return algo_; }

 private:
  StateChecksum algo_;
  Xxh3StateHasher xxh_;
  LegacyStateHasher legacy_;
};

constexpr const char* state_checksum_key = "seqedit.checksum";
constexpr const char* state_checksum_prefix = "xxh3-64:";          ///< version 2
constexpr const char* state_legacy_checksum_prefix = "seqedit-hash64:";  ///< version 1

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

inline const char* checksum_prefix(StateChecksum a) {
  return a == StateChecksum::Xxh3_64 ? state_checksum_prefix : state_legacy_checksum_prefix;
}

inline std::string checksum_string(std::uint64_t v, StateChecksum a = StateChecksum::Xxh3_64) {
  return checksum_prefix(a) + hex64(v);
}

/// The algorithm named by a stored checksum's prefix; format_error for an unknown one.
inline StateChecksum checksum_algorithm_of(const std::string& checksum, const std::string& path) {
  const auto starts = [&](const char* p) { return checksum.compare(0, std::strlen(p), p) == 0; };
  if (starts(state_checksum_prefix)) return StateChecksum::Xxh3_64;
  if (starts(state_legacy_checksum_prefix)) return StateChecksum::Legacy64;
  throw format_error(path + ": metadata 'seqedit.checksum' = '" + checksum +
                     "' names no known algorithm (expected 'xxh3-64:' or 'seqedit-hash64:')");
}

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
  if (version != 1 && version != std::uint64_t(editor_state_version))
    throw_state(path, "state file version " + std::to_string(version) + " is not supported (this build reads versions 1 and " +
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
  {
    const StateChecksum algo = checksum_algorithm_of(info.checksum, path);
    const StateChecksum want = version == 1 ? StateChecksum::Legacy64 : StateChecksum::Xxh3_64;
    if (algo != want)
      throw_state(path, "metadata 'seqedit.checksum' = '" + info.checksum + "' does not use the algorithm of version " +
                            std::to_string(version) + " files ('" + checksum_prefix(want) + "')");
    info.checksum_algorithm = algo == StateChecksum::Xxh3_64 ? "xxh3-64" : "seqedit-hash64";
  }
  if (version >= 2) {
    const std::string& drift = state_meta(meta, path, "seqedit.drift_estimate");
    if (drift != "unknown") info.drift_estimate = parse_state_real(drift, path, "seqedit.drift_estimate");
  }

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
  info.has_drift_probes = version >= 2 && (f.contains("drift_probes") || f.contains("drift_probe_images"));
  const bool has_dev = info.compensation == Compensation::Analytic;
  const bool v1 = version == 1;
  struct Expect {
    const char* name;
    DType dtype;
    std::vector<std::int64_t> shape;
    bool present;
  };
  const std::vector<Expect> expected = {
      {"initial_weights", fdt, {dv, dk}, true},
      {"weights", fdt, {dv, dk}, v1},
      {"cumulative_update", fdt, {dv, dk}, !v1},
      {"system_inverse", fdt, {r, r}, true},
      {"deviation", fdt, {dv, dk}, has_dev},
      {"projector_basis", fdt, {dk, r}, info.has_projector},
      {"drift_probes", fdt, {r, kDriftProbes}, info.has_drift_probes},
      {"drift_probe_images", fdt, {r, kDriftProbes}, info.has_drift_probes},
      {"journal_keys", fdt, {dk, n}, true},
      {"journal_values", fdt, {dv, n}, true},
      {"journal_serials", DType::I64, {n}, true},
  };
  for (const Expect& e : expected) {
    if (!e.present) {
      if (f.contains(e.name))
        throw_state(path, std::string("tensor '") + e.name + "' is not expected in a version " +
                              std::to_string(version) + " state file" +
                              (std::strcmp(e.name, "deviation") == 0 ? " whose metadata say compensation is none" : ""));
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
  static const std::vector<const char*> order = {
      "initial_weights", "weights",      "cumulative_update",  "system_inverse", "deviation",
      "projector_basis", "drift_probes", "drift_probe_images", "journal_keys",   "journal_values",
      "journal_serials"};
  return order;
}

/// Rows per chunk when a matrix is streamed to or from a file: about 4 MB of bytes, a
/// multiple of 8 rows, never more than the block width 512 (so a chunk of M⁻¹'s rows
/// stays inside one column block of its block-lower storage).
inline Eigen::Index chunk_rows(Eigen::Index cols, std::size_t elem) {
  const std::size_t row = std::max<std::size_t>(1, std::size_t(cols) * elem);
  Eigen::Index h = Eigen::Index((std::size_t(4) << 20) / row);
  h = std::max<Eigen::Index>(8, (h / 8) * 8);
  return std::min<Eigen::Index>(h, seqedit::detail::kSymmetricBlock);
}

/// Calls `sink(bytes, n)` on the little-endian row-major bytes of `m` (dtype `dt`), chunk
/// by chunk, reading row blocks straight from `m` (one chunk buffer of about 4 MB).
/// With `block_lower`, `m` is a symmetric matrix in block-lower storage
/// (detail/block_symmetric.hpp) and the bytes are those of the full symmetric matrix
/// `block_lower_to_full(m)` would return.
template <typename Matrix, typename Sink>
void stream_matrix_bytes(const Matrix& m, DType dt, bool block_lower, Sink&& sink) {
  using Scalar = typename Matrix::Scalar;
  using RowMajor = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index rows = m.rows(), cols = m.cols();
  if (rows == 0 || cols == 0) return;
  const std::size_t es = dtype_size(dt);
  const Eigen::Index h = chunk_rows(cols, es);
  RowMajor buf;
  std::vector<unsigned char> bytes;
  for (Eigen::Index i0 = 0; i0 < rows; i0 += h) {
    const Eigen::Index hh = std::min(h, rows - i0);
    buf.resize(hh, cols);
    if (block_lower) {
      const Eigen::Index b = seqedit::detail::kSymmetricBlock;
      const Eigen::Index be = std::min(rows, (i0 / b + 1) * b);  // end of i0's block
      buf.leftCols(be) = m.block(i0, 0, hh, be);
      if (be < cols) buf.rightCols(cols - be) = m.block(be, i0, rows - be, hh).transpose();
    } else {
      buf = m.middleRows(i0, hh);
    }
    const std::size_t n = std::size_t(buf.size());
    bytes.resize(n * es);
    for (std::size_t k = 0; k < n; ++k) encode_element<Scalar>(bytes.data(), k, dt, buf.data()[k]);
    sink(bytes.data(), bytes.size());
  }
}

/// Reads tensor `t` of an open state file chunk by chunk (about 4 MB), hashes the bytes,
/// and, when `dst` is given, decodes them straight into `dst` (resized to the tensor's
/// rows × cols; row-major file order).
template <typename Scalar>
void read_tensor_streamed(const SafetensorsFile& f, const InputFile& in, const TensorInfo& t,
                          StateHasher& h, Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>* dst) {
  hash_tensor_head(h, t.name, t.dtype, t.shape);
  const std::uint64_t total = t.end - t.begin;
  if (t.dtype == DType::I64 || dst == nullptr) {
    std::vector<char> buf(std::size_t(std::min<std::uint64_t>(total, std::uint64_t(4) << 20)));
    for (std::uint64_t off = 0; off < total; off += buf.size()) {
      const std::size_t n = std::size_t(std::min<std::uint64_t>(buf.size(), total - off));
      in.read_at(f.data_start() + t.begin + off, buf.data(), n);
      h.update(buf.data(), n);
    }
    return;
  }
  const auto rc = matrix_shape(t.shape, f.path(), t.name);
  const Eigen::Index rows = rc.first, cols = rc.second;
  dst->resize(rows, cols);
  if (rows == 0 || cols == 0) return;
  const std::size_t es = dtype_size(t.dtype);
  const Eigen::Index hrows = chunk_rows(cols, es);
  std::vector<unsigned char> bytes;
  for (Eigen::Index i0 = 0; i0 < rows; i0 += hrows) {
    const Eigen::Index hh = std::min(hrows, rows - i0);
    bytes.resize(std::size_t(hh) * std::size_t(cols) * es);
    in.read_at(f.data_start() + t.begin + std::uint64_t(i0) * std::uint64_t(cols) * es, bytes.data(),
               bytes.size());
    h.update(bytes.data(), bytes.size());
    for (Eigen::Index j = 0; j < cols; ++j)
      for (Eigen::Index ii = 0; ii < hh; ++ii)
        (*dst)(i0 + ii, j) = decode_as<Scalar>(bytes.data(), std::size_t(ii * cols + j), t.dtype);
  }
}

inline void check_state_checksum(const EditorStateInfo& info, std::uint64_t computed, StateChecksum algo) {
  if (info.checksum != checksum_string(computed, algo))
    throw_state(info.path, "checksum mismatch: the metadata say '" + info.checksum + "' but the content hashes to '" +
                               checksum_string(computed, algo) + "' (the file is corrupted or was modified)");
}

template <typename Scalar>
constexpr const char* scalar_label() {
  return std::is_same<Scalar, double>::value ? "float64" : "float32";
}

/// Hashes an open state file; with `s`, decodes every float tensor straight into it.
/// Throws format_error on a checksum mismatch.
template <typename Scalar>
void read_state_tensors(const SafetensorsFile& f, const EditorStateInfo& info, EditorState<Scalar>* s) {
  const StateChecksum algo = checksum_algorithm_of(info.checksum, info.path);
  StateHasher h(algo);
  hash_metadata(h, f.metadata());
  const InputFile in(f.path());
  if (in.size() != f.file_size())
    throw io_error("'" + f.path() + "' changed size since it was opened");
  for (const char* name : state_tensor_order()) {
    if (!f.contains(name)) continue;
    using Matrix = typename EditorState<Scalar>::Matrix;
    Matrix* dst = nullptr;
    if (s) {
      const std::string n = name;
      if (n == "initial_weights") dst = &s->initial_weights;
      else if (n == "weights") dst = &s->weights;
      else if (n == "cumulative_update") dst = &s->cumulative_update;
      else if (n == "system_inverse") dst = &s->system_inverse;
      else if (n == "deviation") dst = &s->deviation;
      else if (n == "projector_basis") dst = &s->projector_basis.emplace();
      else if (n == "drift_probes") dst = &s->drift_probes;
      else if (n == "drift_probe_images") dst = &s->drift_probe_images;
      else if (n == "journal_keys") dst = &s->journal_keys;
      else if (n == "journal_values") dst = &s->journal_values;
    }
    read_tensor_streamed<Scalar>(f, in, f.info(name), h, dst);
  }
  check_state_checksum(info, h.finish(), algo);
}

/// Reads a state file into `s` (matrices decoded straight into its members), fully
/// validated. With `both_weight_forms`, fills `weights` and `cumulative_update` (else
/// only the one the file holds).
template <typename Scalar>
void read_state_into(const std::string& path, EditorState<Scalar>& s, EditorStateInfo& info,
                     bool both_weight_forms) {
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "state files hold float or double");
  const SafetensorsFile f(path);
  info = parse_state_info(f);
  if (info.scalar != scalar_label<Scalar>())
    throw std::invalid_argument(path + ": state file holds " + info.scalar + ", asked for " +
                                (std::is_same<Scalar, double>::value ? "double" : "float"));
  s = EditorState<Scalar>();
  read_state_tensors<Scalar>(f, info, &s);
  info.checksum_verified = true;
  s.journal_serials = info.journal_serials;
  s.objective.lambda = static_cast<Scalar>(info.lambda);
  s.objective.alpha = static_cast<Scalar>(info.alpha);
  s.history = info.history;
  s.compensation = info.compensation;
  s.steps = info.steps;
  s.editor_tag = info.editor_tag;
  s.next_serial = info.next_serial;
  if (both_weight_forms) {
    if (s.weights.size() == 0) s.weights = s.initial_weights + s.cumulative_update;
    if (s.cumulative_update.size() == 0) s.cumulative_update = s.weights - s.initial_weights;
  }
}

}  // namespace detail

// ------------------------------------------------------------------ public API

/// Reads the header of a state file: metadata, shapes, serials. With `verify_data`, also
/// reads and hashes every tensor (in chunks of about 4 MB) and checks `seqedit.checksum`
/// (then `checksum_verified` is true). Throws format_error / io_error naming the file.
inline EditorStateInfo read_editor_state_info(const std::string& path, bool verify_data = false) {
  const SafetensorsFile f(path);
  EditorStateInfo info = detail::parse_state_info(f);
  if (verify_data) {
    if (info.scalar == "float64") detail::read_state_tensors<double>(f, info, nullptr);
    else detail::read_state_tensors<float>(f, info, nullptr);
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
/// building an editor. Both `weights` and `cumulative_update` are filled. `info`, if given,
/// receives the header summary.
/// \tparam Scalar `float` or `double`; must match the file (else std::invalid_argument).
template <typename Scalar>
EditorState<Scalar> read_editor_state(const std::string& path, EditorStateInfo* info_out = nullptr) {
  EditorState<Scalar> s;
  EditorStateInfo info;
  detail::read_state_into<Scalar>(path, s, info, true);
  if (info_out) *info_out = std::move(info);
  return s;
}

/// Writes the complete state of `editor` to `path` (one safetensors file, atomically; see
/// the file's documentation for the layout). The tensors are encoded straight from the
/// editor's matrices, chunk by chunk (no copy of the state in memory; peak extra memory
/// about 8 MB of chunk buffers), once to hash them and once to write them.
/// `extra_metadata` entries are stored as well; their keys must not be "format" nor start
/// with "seqedit." (std::invalid_argument).
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
  if (editor.damaged())
    throw std::logic_error(path + ": the editor was damaged by an allocation failure; its state cannot be saved");
  const DType fdt = std::is_same<Scalar, double>::value ? DType::F64 : DType::F32;
  const std::uint64_t limit = std::uint64_t(INT64_MAX);
  if (editor.next_serial() > limit)
    throw std::invalid_argument(path + ": next serial " + std::to_string(editor.next_serial()) +
                                " cannot be stored (>= 2^63)");
  const auto& journal = editor.journal();
  const double drift = double(editor.drift_estimate());

  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = "pt";
  meta["seqedit.state_version"] = std::to_string(editor_state_version);
  meta["seqedit.scalar"] = detail::scalar_label<Scalar>();
  meta["seqedit.lambda"] = detail::exact_real(double(editor.objective().lambda));
  meta["seqedit.alpha"] = detail::exact_real(double(editor.objective().alpha));
  meta["seqedit.history"] = history_name(editor.options().history);
  meta["seqedit.compensation"] = compensation_name(editor.options().compensation);
  meta["seqedit.steps"] = std::to_string(editor.steps());
  meta["seqedit.editor_tag"] = detail::hex64(editor.tag());
  meta["seqedit.next_serial"] = std::to_string(editor.next_serial());
  meta["seqedit.regulariser"] = describe_regulariser(editor.regulariser());
  meta["seqedit.value_dim"] = std::to_string(editor.value_dim());
  meta["seqedit.key_dim"] = std::to_string(editor.key_dim());
  meta["seqedit.reduced_dim"] = std::to_string(editor.reduced_dim());
  meta["seqedit.journal_size"] = std::to_string(journal.size());
  meta["seqedit.drift_estimate"] = detail::is_finite_bits(drift) ? detail::exact_real(drift) : "unknown";

  struct Source {
    const char* name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::function<void(const std::function<void(const unsigned char*, std::size_t)>&)> bytes;
  };
  std::vector<Source> sources;  // in state_tensor_order()
  const auto add = [&](const char* name, const auto& m, bool block_lower) {
    const auto* mp = &m;
    sources.push_back(Source{name, fdt, {std::int64_t(m.rows()), std::int64_t(m.cols())},
                             [mp, dtype = fdt, block_lower](const std::function<void(const unsigned char*, std::size_t)>& sink) {
                               detail::stream_matrix_bytes(*mp, dtype, block_lower, sink);
                             }});
  };
  add("initial_weights", editor.initial_weights(), false);
  add("cumulative_update", editor.cumulative_update(), false);
  add("system_inverse", editor.system_inverse_storage(), true);
  if (editor.options().compensation == Compensation::Analytic) add("deviation", editor.deviation(), false);
  if (editor.options().projector) add("projector_basis", editor.options().projector->basis(), false);
  if (editor.drift_probes().size() != 0) {
    add("drift_probes", editor.drift_probes(), false);
    add("drift_probe_images", editor.drift_probe_images(), false);
  }
  const auto jk = journal.keys();
  const auto jv = journal.values();
  add("journal_keys", jk, false);
  add("journal_values", jv, false);
  std::vector<unsigned char> serials(8 * std::size_t(journal.size()));
  for (std::size_t j = 0; j < journal.ids().size(); ++j) detail::store_le64(serials.data() + 8 * j, journal.ids()[j].serial);
  sources.push_back(Source{"journal_serials", DType::I64, {std::int64_t(journal.size())},
                           [&serials](const std::function<void(const unsigned char*, std::size_t)>& sink) {
                             if (!serials.empty()) sink(serials.data(), serials.size());
                           }});

  detail::StateHasher h(detail::StateChecksum::Xxh3_64);
  detail::hash_metadata(h, meta);
  for (const Source& t : sources) {
    detail::hash_tensor_head(h, t.name, t.dtype, t.shape);
    t.bytes([&h](const unsigned char* p, std::size_t n) { h.update(p, n); });
  }
  meta[detail::state_checksum_key] = detail::checksum_string(h.finish(), detail::StateChecksum::Xxh3_64);

  SafetensorsWriter w;
  for (const auto& kv : meta) w.set_metadata(kv.first, kv.second);
  for (const Source& t : sources)
    w.add_streamed(t.name, t.dtype, t.shape, [&t](AtomicFileWriter& out) {
      t.bytes([&out](const unsigned char* p, std::size_t n) { out.write(p, n); });
    });
  w.write(path);
}

/// Loads an editor saved by `save_editor_state`, fully validated, decoding the matrices
/// straight into the state that the editor then takes over (no further copies). The
/// regulariser must be the one the state was written with (compared by
/// `describe_regulariser`), else std::invalid_argument; so must the scalar type.
/// Version-1 files (no drift probes) load with `drift_estimate()` NaN until `refresh(C0)`.
/// \tparam Scalar `float` or `double`.
/// \tparam Regulariser the editor's regulariser type (default: none).
template <typename Scalar, typename Regulariser = NoRegulariser<Scalar>>
SequentialEditor<Scalar, Regulariser> load_editor_state(const std::string& path,
                                                        const Regulariser& reg = Regulariser()) {
  EditorStateInfo info;
  EditorState<Scalar> s;
  detail::read_state_into<Scalar>(path, s, info, false);
  const std::string want = describe_regulariser(reg);
  if (want != info.regulariser)
    throw std::invalid_argument(path + ": state file was written with regulariser '" + info.regulariser +
                                "', asked to continue with '" + want + "'");
  try {
    return SequentialEditor<Scalar, Regulariser>(std::move(s), reg);
  } catch (const std::invalid_argument& e) {
    throw format_error(path + ": invalid editor state: " + e.what());
  }
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_EDITOR_STATE_HPP

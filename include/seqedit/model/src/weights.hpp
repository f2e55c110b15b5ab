// Weights in their stored dtype, memory-mapped from safetensors shards, and the matrix
// products that convert them to the compute type block by block as they are used.
// Internal to the seqedit_model library.

#ifndef SEQEDIT_MODEL_SRC_WEIGHTS_HPP
#define SEQEDIT_MODEL_SRC_WEIGHTS_HPP

#include "seqedit/io/dtype.hpp"
#include "seqedit/io/error.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#define SEQEDIT_STR_(x) #x
#define SEQEDIT_OMP(args) _Pragma(SEQEDIT_STR_(omp args))
#else
#define SEQEDIT_OMP(args)
#endif

namespace seqedit {
namespace model {
namespace detail {

/// Below this many scalar operations a loop runs on one thread (thread start-up costs more).
constexpr Eigen::Index parallel_threshold = Eigen::Index(1) << 15;

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// A whole file mapped read-only (pages are shared with the page cache and loaded on use).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  const unsigned char* data() const { return static_cast<const unsigned char*>(p_); }
  std::size_t size() const { return n_; }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

/// A tensor as stored: row-major [rows, cols] (a 1-D tensor is [n, 1]) of `dtype`.
/// `transposed` says the stored matrix S is Wᵀ (GPT-2 Conv1D) rather than W.
struct WeightView {
  std::string name;
  const unsigned char* data = nullptr;
  io::DType dtype = io::DType::F32;
  Eigen::Index rows = 0, cols = 0;
  bool transposed = false;
  bool empty() const { return data == nullptr; }
};

/// Converts n consecutive stored elements to Scalar.
template <typename Scalar>
inline void decode(const unsigned char* p, io::DType t, Eigen::Index n, Scalar* out) {
  switch (t) {
    case io::DType::F32:
      for (Eigen::Index k = 0; k < n; ++k) {
        float f;
        std::memcpy(&f, p + 4 * k, 4);
        out[k] = static_cast<Scalar>(f);
      }
      return;
    case io::DType::BF16:
      for (Eigen::Index k = 0; k < n; ++k) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * k, 2);
        const std::uint32_t u = static_cast<std::uint32_t>(v) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        out[k] = static_cast<Scalar>(f);
      }
      return;
    case io::DType::F16:
      for (Eigen::Index k = 0; k < n; ++k) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * k, 2);
        out[k] = static_cast<Scalar>(io::f16_bits_to_float(v));
      }
      return;
    case io::DType::F64:
      for (Eigen::Index k = 0; k < n; ++k) {
        double d;
        std::memcpy(&d, p + 8 * k, 8);
        out[k] = static_cast<Scalar>(d);
      }
      return;
    case io::DType::I64: break;
  }
  throw std::logic_error("seqedit::model: integer tensor used as a weight");
}

/// True if any of the n stored elements is NaN or ±Inf (decided on the bit patterns).
inline bool has_non_finite(const unsigned char* p, io::DType t, std::size_t n) {
  bool bad = false;
  const std::ptrdiff_t chunks = static_cast<std::ptrdiff_t>((n + 65535) / 65536);
  SEQEDIT_OMP(parallel for schedule(static) reduction(|| : bad) if (chunks > 1))
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t b = static_cast<std::size_t>(c) * 65536, e = std::min(n, b + 65536);
    bool local = false;
    switch (t) {
      case io::DType::F32:
        for (std::size_t k = b; k < e; ++k) {
          std::uint32_t u;
          std::memcpy(&u, p + 4 * k, 4);
          local |= ((u >> 23) & 0xffu) == 0xffu;
        }
        break;
      case io::DType::BF16:
        for (std::size_t k = b; k < e; ++k) {
          std::uint16_t u;
          std::memcpy(&u, p + 2 * k, 2);
          local |= ((u >> 7) & 0xffu) == 0xffu;
        }
        break;
      case io::DType::F16:
        for (std::size_t k = b; k < e; ++k) {
          std::uint16_t u;
          std::memcpy(&u, p + 2 * k, 2);
          local |= ((u >> 10) & 0x1fu) == 0x1fu;
        }
        break;
      case io::DType::F64:
        for (std::size_t k = b; k < e; ++k) {
          std::uint64_t u;
          std::memcpy(&u, p + 8 * k, 8);
          local |= ((u >> 52) & 0x7ffu) == 0x7ffu;
        }
        break;
      case io::DType::I64: break;
    }
    bad = bad || local;
  }
  return bad;
}

/// Per-thread conversion buffers, kept between products.
template <typename Scalar>
struct GemmScratch {
  std::vector<std::vector<Scalar>> buffers;
  Scalar* get(std::size_t n) {
    const int t = thread_id();
    auto& b = buffers[static_cast<std::size_t>(t)];
    if (b.size() < n) b.resize(n);
    return b.data();
  }
  void prepare() {
    const std::size_t t = static_cast<std::size_t>(max_threads());
    if (buffers.size() < t) buffers.resize(t);
  }
};

/// Rows (or columns) of the stored matrix converted per block: about 256 KiB of Scalar.
inline Eigen::Index block_size(Eigen::Index other_dim, Eigen::Index out_dim) {
  Eigen::Index nb = std::max<Eigen::Index>(16, (Eigen::Index(1) << 16) / std::max<Eigen::Index>(other_dim, 1));
  nb = std::min<Eigen::Index>(nb, 256);
  nb = (nb + 15) / 16 * 16;
  return std::min(nb, out_dim);
}

/// Runs fn(o0, n) over blocks [o0, o0 + n) of [0, out_dim), in parallel when `work` (scalar
/// operations) is worth it. Each block is one thread's independent product: no thread waits
/// for another before the loop's end (Eigen's own parallel GEMM busy-waits between its
/// packing steps, which costs dearly on a loaded machine).
template <typename Fn>
void for_row_blocks(Eigen::Index out_dim, Eigen::Index nb, Eigen::Index work, const Fn& fn) {
  const Eigen::Index nblocks = (out_dim + nb - 1) / nb;
  (void)work;
  SEQEDIT_OMP(parallel for schedule(dynamic) if (nblocks > 1 && work >= 16 * parallel_threshold))
  for (Eigen::Index blk = 0; blk < nblocks; ++blk) {
    const Eigen::Index o0 = blk * nb;
    fn(o0, std::min(nb, out_dim - o0));
  }
}

/// Block rows for a product whose operand is used in place: a few blocks per thread.
inline Eigen::Index in_place_block(Eigen::Index out_dim) {
  const Eigen::Index parts = 4 * static_cast<Eigen::Index>(max_threads());
  Eigen::Index nb = (out_dim + parts - 1) / parts;
  nb = std::max<Eigen::Index>(16, (nb + 15) / 16 * 16);
  return std::min(nb, std::max<Eigen::Index>(out_dim, 1));
}

/// Y (+)= op(S) X with S the stored row-major matrix of `w` and op(S) = S, or Sᵀ when
/// `transpose_stored`. float32 storage in a float product is used in place (an Eigen::Map);
/// any other combination is converted in blocks of rows of op(S), each block by one thread
/// into its own buffer, then multiplied. Either way the rows of Y are split between threads.
template <typename Scalar, typename XType, typename YType>
void stored_gemm(const WeightView& w, bool transpose_stored, const XType& X, YType&& Y, bool accumulate,
                 GemmScratch<Scalar>& scratch) {
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Index R = w.rows, C = w.cols;
  const Eigen::Index out_dim = transpose_stored ? C : R;
  const Eigen::Index in_dim = transpose_stored ? R : C;
  if (X.rows() != in_dim || Y.rows() != out_dim || Y.cols() != X.cols())
    throw std::logic_error("seqedit::model: product with '" + w.name + "' of mismatched sizes");
  const Eigen::Index work = out_dim * in_dim * X.cols();
  const bool in_place = std::is_same<Scalar, float>::value && w.dtype == io::DType::F32 &&
                        reinterpret_cast<std::uintptr_t>(w.data) % alignof(float) == 0;
  if (in_place) {
    // Column-major C × R view of row-major S: that is Sᵀ.
    const Eigen::Map<const Mat> St(reinterpret_cast<const Scalar*>(w.data), C, R);
    for_row_blocks(out_dim, in_place_block(out_dim), work, [&](Eigen::Index o0, Eigen::Index n) {
      if (transpose_stored) {
        if (accumulate) Y.middleRows(o0, n).noalias() += St.middleRows(o0, n) * X;
        else Y.middleRows(o0, n).noalias() = St.middleRows(o0, n) * X;
      } else {
        if (accumulate) Y.middleRows(o0, n).noalias() += St.middleCols(o0, n).transpose() * X;
        else Y.middleRows(o0, n).noalias() = St.middleCols(o0, n).transpose() * X;
      }
    });
    return;
  }
  const std::size_t es = io::dtype_size(w.dtype);
  scratch.prepare();
  for_row_blocks(out_dim, block_size(in_dim, out_dim), work, [&](Eigen::Index o0, Eigen::Index n) {
    Scalar* buf = scratch.get(static_cast<std::size_t>(n * in_dim));
    if (!transpose_stored) {
      // Rows o0.. of S, each contiguous: B (in_dim × n), column j = row o0 + j.
      for (Eigen::Index j = 0; j < n; ++j)
        decode<Scalar>(w.data + static_cast<std::size_t>((o0 + j) * C) * es, w.dtype, C, buf + j * in_dim);
      const Eigen::Map<const Mat> B(buf, in_dim, n);
      if (accumulate) Y.middleRows(o0, n).noalias() += B.transpose() * X;
      else Y.middleRows(o0, n).noalias() = B.transpose() * X;
    } else {
      // Columns o0.. of S: B (n × in_dim), column r = S[r, o0 : o0 + n] (contiguous).
      for (Eigen::Index r = 0; r < R; ++r)
        decode<Scalar>(w.data + static_cast<std::size_t>(r * C + o0) * es, w.dtype, n, buf + r * n);
      const Eigen::Map<const Mat> B(buf, n, in_dim);
      if (accumulate) Y.middleRows(o0, n).noalias() += B * X;
      else Y.middleRows(o0, n).noalias() = B * X;
    }
  });
}

/// Y = op(M) X for a dense matrix (an edited FFN output projection), rows split as above.
template <typename Scalar, typename XType, typename YType>
void dense_gemm(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& M, bool transpose, const XType& X, YType&& Y) {
  const Eigen::Index out_dim = transpose ? M.cols() : M.rows();
  const Eigen::Index work = M.size() * X.cols();
  for_row_blocks(out_dim, in_place_block(out_dim), work, [&](Eigen::Index o0, Eigen::Index n) {
    if (transpose) Y.middleRows(o0, n).noalias() = M.middleCols(o0, n).transpose() * X;
    else Y.middleRows(o0, n).noalias() = M.middleRows(o0, n) * X;
  });
}

}  // namespace detail
}  // namespace model
}  // namespace seqedit

#endif  // SEQEDIT_MODEL_SRC_WEIGHTS_HPP

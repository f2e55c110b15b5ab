#ifndef SEQEDIT_CLI_INPUTS_HPP
#define SEQEDIT_CLI_INPUTS_HPP

/// \file cli_inputs.hpp
/// Input files of the `seqedit` tool: edit batches and C0; small formatting helpers.

#include <seqedit/io/io.hpp>
#include <seqedit/progress.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {

/// An error the tool reports as "seqedit: error: <message>" with exit code 2.
class cli_error : public std::runtime_error {
 public:
  explicit cli_error(const std::string& what) : std::runtime_error(what) {}
};

template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline std::string fmt_real(double x, int precision = 6) {
  std::ostringstream os;
  os << std::setprecision(precision) << x;
  return os.str();
}

inline std::string matrix_shape(Eigen::Index r, Eigen::Index c) { return std::to_string(r) + " x " + std::to_string(c); }

// ------------------------------------------------------------------ named matrices in a file

/// A .safetensors or .npz file from which named matrices are read.
class MatrixFile {
 public:
  explicit MatrixFile(const std::string& path) : path_(path) {
    if (ends_with(path, ".safetensors")) st_.emplace(path);
    else if (ends_with(path, ".npz")) npz_.emplace(path);
    else throw cli_error(path + ": unknown file type (expected .safetensors or .npz)");
  }
  const std::string& path() const { return path_; }
  bool contains(const std::string& key) const { return st_ ? st_->contains(key) : npz_->contains(key); }
  std::vector<std::string> keys() const {
    if (npz_) return npz_->keys();
    std::vector<std::string> out;
    for (const auto& t : st_->tensors()) out.push_back(t.name);
    return out;
  }
  template <typename Scalar>
  Matrix<Scalar> read(const std::string& key) const {
    if (st_) {
      const auto& t = st_->info(key);
      if (t.dtype == seqedit::io::DType::I64)
        throw cli_error(path_ + ": tensor '" + key + "' holds integers (I64); a float matrix is expected");
      if (t.shape.size() != 2)
        throw cli_error(path_ + ": tensor '" + key + "' has " + std::to_string(t.shape.size()) +
                        " dimensions; a 2-D matrix is expected");
      return st_->read_matrix<Scalar>(key);
    }
    const seqedit::io::NpyArray a = npz_->read(key);
    if (a.shape.size() != 2)
      throw cli_error(path_ + ": key '" + key + "' has " + std::to_string(a.shape.size()) +
                      " dimensions; a 2-D matrix is expected");
    if (a.numeric && a.dtype == seqedit::io::DType::I64)
      throw cli_error(path_ + ": key '" + key + "' holds integers (<i8); a float matrix is expected");
    return seqedit::io::to_matrix<Scalar>(a, path_ + ": key '" + key + "'");
  }

 private:
  std::string path_;
  std::optional<seqedit::io::SafetensorsFile> st_;
  std::optional<seqedit::io::NpzFile> npz_;
};

// ------------------------------------------------------------------ batches

/// One batch of edits: keys K (d_k × n) and either values V or residuals R (d_v × n).
template <typename Scalar>
struct Batch {
  std::string path;
  Matrix<Scalar> k;
  Matrix<Scalar> v_or_r;
  bool residual = false;  ///< true: v_or_r holds R = V − W K under the current weights
};

/// Reads and checks a batch file against the layer's sizes.
template <typename Scalar>
Batch<Scalar> read_batch(const std::string& path, Eigen::Index dv, Eigen::Index dk) {
  const MatrixFile f(path);
  Batch<Scalar> b;
  b.path = path;
  if (!f.contains("K")) throw cli_error(path + ": no 'K' (the d_k x n keys, one column per edit) in the batch file");
  const bool has_v = f.contains("V"), has_r = f.contains("R");
  if (has_v == has_r)
    throw cli_error(path + (has_v ? ": holds both 'V' and 'R'; give the values V or the residuals R, not both"
                                  : ": holds neither 'V' (values) nor 'R' (residuals under the current weights)"));
  for (const std::string& key : f.keys())
    if (key != "K" && key != "V" && key != "R")
      throw cli_error(path + ": unexpected entry '" + key + "' (a batch holds K and V, or K and R)");
  b.residual = has_r;
  const char* vname = has_r ? "R" : "V";
  b.k = f.read<Scalar>("K");
  b.v_or_r = f.read<Scalar>(vname);
  if (b.k.rows() != dk) {
    std::string hint = b.k.cols() == dk ? " (it looks transposed: keys are columns)" : "";
    throw cli_error(path + ": K is " + matrix_shape(b.k.rows(), b.k.cols()) + " but the layer has d_k = " +
                    std::to_string(dk) + " (K must be d_k x n)" + hint);
  }
  if (b.k.cols() == 0) throw cli_error(path + ": K has no columns (no edits)");
  if (b.v_or_r.rows() != dv || b.v_or_r.cols() != b.k.cols())
    throw cli_error(path + ": " + vname + " is " + matrix_shape(b.v_or_r.rows(), b.v_or_r.cols()) + " but " +
                    matrix_shape(dv, b.k.cols()) + " is expected (d_v x n, one column per key)");
  if (!b.k.allFinite()) throw cli_error(path + ": K holds NaN or Inf");
  if (!b.v_or_r.allFinite()) throw cli_error(path + ": " + vname + " holds NaN or Inf");
  return b;
}

// ------------------------------------------------------------------ C0

/// C0 from MEMIT statistics (mom2.mom2 / mom2.count) or from a C0 file (.npy, or a
/// .safetensors / .npz with one matrix, or one named "C0").
template <typename Scalar>
Matrix<Scalar> read_c0(const std::string& stats, const std::string& c0_file, Eigen::Index dk) {
  Matrix<Scalar> c0;
  std::string from;
  if (!stats.empty()) {
    c0 = seqedit::io::load_mom2_stats<Scalar>(stats);
    from = stats;
  } else if (ends_with(c0_file, ".npy")) {
    const seqedit::io::NpyArray a = seqedit::io::read_npy(c0_file);
    if (a.shape.size() != 2) throw cli_error(c0_file + ": C0 must be a 2-D array, has " + std::to_string(a.shape.size()) + " dimensions");
    c0 = seqedit::io::to_matrix<Scalar>(a, c0_file);
    from = c0_file;
  } else {
    const MatrixFile f(c0_file);
    const auto keys = f.keys();
    std::string key;
    if (f.contains("C0")) key = "C0";
    else if (keys.size() == 1) key = keys[0];
    else throw cli_error(c0_file + ": holds " + std::to_string(keys.size()) + " entries and none is named 'C0'");
    c0 = f.read<Scalar>(key);
    from = c0_file;
  }
  if (c0.rows() != c0.cols()) throw cli_error(from + ": C0 is " + matrix_shape(c0.rows(), c0.cols()) + ", not square");
  if (dk >= 0 && c0.rows() != dk)
    throw cli_error(from + ": C0 is " + matrix_shape(c0.rows(), c0.cols()) + " but the layer has d_k = " + std::to_string(dk));
  if (!c0.allFinite()) throw cli_error(from + ": C0 holds NaN or Inf");
  return c0;
}

// ------------------------------------------------------------------ progress

/// A ProgressCallback printing "seqedit: <what>: <stage> NN%" on one stderr line.
inline seqedit::ProgressCallback stderr_progress(const std::string& what) {
  auto last = std::make_shared<int>(-1);
  return [what, last](const std::string& stage, double fraction) {
    const int pct = static_cast<int>(std::floor(100.0 * fraction));
    if (pct == *last) return;
    *last = pct;
    std::fprintf(stderr, "\rseqedit: %s: %-32s %3d%%", what.c_str(), stage.c_str(), pct);
    if (fraction >= 1.0) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace seqedit_cli

#endif  // SEQEDIT_CLI_INPUTS_HPP

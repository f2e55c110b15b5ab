#ifndef SEQEDIT_TESTS_STATE_CASES_HPP
#define SEQEDIT_TESTS_STATE_CASES_HPP

// Small seeded editing problems shared by test_editor_state and state_resume_check.

#include <seqedit/io/editor_state.hpp>
#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>
#include <seqedit/sequential_editor.hpp>

#include <Eigen/Core>
#include <Eigen/QR>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace state_test {

template <typename Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// W0, C0 and a sequence of (K, V) batches.
template <typename Scalar>
struct Problem {
  Mat<Scalar> w0, c0;
  std::vector<Mat<Scalar>> ks, vs;
};

inline Eigen::MatrixXd gaussian(Eigen::Index r, Eigen::Index c, std::mt19937_64& gen) {
  std::normal_distribution<double> nd(0.0, 1.0);
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = 0; i < r; ++i) m(i, j) = nd(gen);
  return m;
}

/// d_v × d_k weights, `steps` batches of n edits. With `null_space`, C0 has d_k/2
/// eigenvalues of 1e-3 (below AlphaEdit's 2e-2 threshold) and the others in [1, 2];
/// otherwise C0 = X Xᵀ/m is well conditioned.
template <typename Scalar>
Problem<Scalar> make_problem(Eigen::Index dv, Eigen::Index dk, Eigen::Index n, int steps, std::uint64_t seed,
                             bool null_space) {
  std::mt19937_64 gen(seed);
  Problem<Scalar> p;
  p.w0 = (0.5 * gaussian(dv, dk, gen)).cast<Scalar>();
  Eigen::MatrixXd c0;
  if (null_space) {
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian(dk, dk, gen));
    const Eigen::MatrixXd q = qr.householderQ();
    Eigen::VectorXd ev(dk);
    for (Eigen::Index i = 0; i < dk; ++i) ev(i) = i < dk / 2 ? 1e-3 : 1.0 + double(i) / double(dk);
    c0 = q * ev.asDiagonal() * q.transpose();
    c0 = (0.5 * (c0 + c0.transpose())).eval();
  } else {
    const Eigen::MatrixXd x = gaussian(dk, 4 * dk, gen);
    c0 = x * x.transpose() / double(4 * dk);
  }
  p.c0 = c0.cast<Scalar>();
  p.c0 = (Scalar(0.5) * (p.c0 + p.c0.transpose())).eval();
  for (int t = 0; t < steps; ++t) {
    p.ks.push_back(gaussian(dk, n, gen).cast<Scalar>());
    p.vs.push_back(gaussian(dv, n, gen).cast<Scalar>());
  }
  return p;
}

/// The configurations the state tests cover.
enum class Config { Memit, AlphaEdit, PruneCompensated, ProjectorRectCompensated };

inline const char* config_name(Config c) {
  switch (c) {
    case Config::Memit: return "memit";
    case Config::AlphaEdit: return "alphaedit";
    case Config::PruneCompensated: return "prune_compensated";
    case Config::ProjectorRectCompensated: return "projector_rect_compensated";
  }
  return "?";
}

inline bool uses_null_space(Config c) { return c == Config::AlphaEdit || c == Config::ProjectorRectCompensated; }

/// Editor options and objective of a configuration.
template <typename Scalar>
seqedit::EditorOptions<Scalar> config_options(Config c, const Mat<Scalar>& c0) {
  seqedit::EditorOptions<Scalar> o;
  if (uses_null_space(c)) o.projector = seqedit::NullSpaceProjector<Scalar>(c0);
  if (c == Config::PruneCompensated || c == Config::ProjectorRectCompensated)
    o.compensation = seqedit::Compensation::Analytic;
  return o;
}

template <typename Scalar>
seqedit::Objective<Scalar> config_objective(Config c) {
  switch (c) {
    case Config::Memit: return seqedit::Objective<Scalar>::memit(Scalar(15000));
    case Config::AlphaEdit: return seqedit::Objective<Scalar>::alphaedit(Scalar(10));
    case Config::PruneCompensated: return seqedit::Objective<Scalar>::memit(Scalar(150), Scalar(1));
    case Config::ProjectorRectCompensated: return seqedit::Objective<Scalar>::memit(Scalar(0.5), Scalar(1));
  }
  return {};
}

/// Calls `f(regulariser)` with the regulariser of configuration `c`.
template <typename Scalar, typename F>
void with_regulariser(Config c, F&& f) {
  switch (c) {
    case Config::Memit:
    case Config::AlphaEdit: f(seqedit::NoRegulariser<Scalar>()); return;
    case Config::PruneCompensated: f(seqedit::Prune<Scalar>()); return;
    case Config::ProjectorRectCompensated: f(seqedit::Rect<Scalar>(0.2)); return;
  }
}

inline const std::vector<Config>& all_configs() {
  static const std::vector<Config> v = {Config::Memit, Config::AlphaEdit, Config::PruneCompensated,
                                        Config::ProjectorRectCompensated};
  return v;
}

/// A fresh folder under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("seqedit-state-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Exact (bitwise) equality of two matrices, shapes included.
template <typename A, typename B>
bool bit_equal(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index j = 0; j < a.cols(); ++j)
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
      const auto x = a(i, j), y = b(i, j);
      if (std::memcmp(&x, &y, sizeof x) != 0) return false;
    }
  return true;
}

}  // namespace state_test

#endif  // SEQEDIT_TESTS_STATE_CASES_HPP

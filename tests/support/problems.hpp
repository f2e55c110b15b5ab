#ifndef SEQEDIT_TESTS_SUPPORT_PROBLEMS_HPP
#define SEQEDIT_TESTS_SUPPORT_PROBLEMS_HPP

/// \file problems.hpp
/// Seeded random editing problems for the solver tests, and error measures.
///
/// Every problem is generated in double from a std::mt19937 seed (never Eigen's unseeded
/// Random) and cast to the scalar under test. References are computed in double on the
/// cast-back data, so a float test measures the solver's round-off and not the rounding
/// of its inputs.

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <seqedit/seqedit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

namespace seqedit_test {

using Eigen::Index;
template <typename S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
using MatD = Mat<double>;
using VecD = Eigen::VectorXd;

/// Unit round-off of S, as double.
template <typename S>
double eps() {
  return static_cast<double>(std::numeric_limits<S>::epsilon());
}

/// An r × c matrix of independent N(0, sd²) entries.
inline MatD gaussian(Index rows, Index cols, std::mt19937& gen, double sd = 1.0) {
  std::normal_distribution<double> nd(0.0, sd);
  MatD m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = nd(gen);
  return m;
}

/// A Haar-distributed random orthogonal n × n matrix (QR of a Gaussian matrix, signs fixed).
inline MatD random_orthogonal(Index n, std::mt19937& gen) {
  const MatD g = gaussian(n, n, gen);
  Eigen::HouseholderQR<MatD> qr(g);
  MatD q = qr.householderQ() * MatD::Identity(n, n);
  const MatD r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (Index j = 0; j < n; ++j)
    if (r(j, j) < 0) q.col(j) *= -1.0;
  return q;
}

/// n values log-spaced from lo to hi (lo when n = 1).
inline VecD log_spaced(Index n, double lo, double hi) {
  VecD v(n);
  for (Index i = 0; i < n; ++i) {
    const double t = n > 1 ? double(i) / double(n - 1) : 0.0;
    v(i) = std::exp(std::log(lo) + t * (std::log(hi) - std::log(lo)));
  }
  return v;
}

/// Q diag(s) Qᵀ with a random orthogonal Q, exactly symmetric. `q_out` receives Q.
inline MatD spd_with_spectrum(const VecD& s, std::mt19937& gen, MatD* q_out = nullptr) {
  const MatD q = random_orthogonal(s.size(), gen);
  MatD c = q * s.asDiagonal() * q.transpose();
  c = 0.5 * (c + c.transpose()).eval();
  if (q_out) *q_out = q;
  return c;
}

/// Shape and conditioning of a random problem.
struct Spec {
  Index dk = 60;             ///< key dimension
  Index dv = 30;             ///< value dimension
  Index n = 5;               ///< edits per batch
  Index steps = 20;          ///< number of batches
  std::uint32_t seed = 1;
  Index null_dim = 0;        ///< eigenvalues of C0 placed in [null_lo, null_hi]
  double null_lo = 1e-6;
  double null_hi = 1e-3;
  double c0_lo = 0.05;       ///< the other eigenvalues of C0, log-spaced
  double c0_hi = 5.0;
  double key_sd = 1.0;       ///< keys ~ N(0, key_sd²)
  double value_sd = 1.0;     ///< V = W0 K + N(0, value_sd²)
  double w0_scale = 1.0;     ///< W0 ~ N(0, w0_scale² / d_k)
};

/// W0, C0 (known spectrum) and T batches (K_t, V_t).
template <typename S>
struct Problem {
  Mat<S> w0, c0;
  std::vector<Mat<S>> keys, values;
  VecD c0_spectrum;  ///< ascending

  Index dk() const { return w0.cols(); }
  Index dv() const { return w0.rows(); }
  Index steps() const { return Index(keys.size()); }

  /// Keys of batches [first, last) side by side.
  Mat<S> keys_range(Index first, Index last) const { return hcat(keys, first, last); }
  Mat<S> values_range(Index first, Index last) const { return hcat(values, first, last); }
  /// Keys / values of the first t batches.
  Mat<S> keys_upto(Index t) const { return hcat(keys, 0, t); }
  Mat<S> values_upto(Index t) const { return hcat(values, 0, t); }

  template <typename T>
  Problem<T> cast() const {
    Problem<T> p;
    p.w0 = w0.template cast<T>();
    p.c0 = c0.template cast<T>();
    for (const auto& k : keys) p.keys.push_back(k.template cast<T>());
    for (const auto& v : values) p.values.push_back(v.template cast<T>());
    p.c0_spectrum = c0_spectrum;
    return p;
  }

  static Mat<S> hcat(const std::vector<Mat<S>>& parts, Index first, Index last) {
    Index cols = 0;
    for (Index i = first; i < last; ++i) cols += parts[std::size_t(i)].cols();
    const Index rows = parts.empty() ? 0 : parts.front().rows();
    Mat<S> out(rows, cols);
    Index c = 0;
    for (Index i = first; i < last; ++i) {
      const auto& p = parts[std::size_t(i)];
      out.middleCols(c, p.cols()) = p;
      c += p.cols();
    }
    return out;
  }
};

/// A problem in double following `spec`.
inline Problem<double> make_problem(const Spec& spec) {
  std::mt19937 gen(spec.seed);
  Problem<double> p;
  VecD s(spec.dk);
  s.head(spec.null_dim) = log_spaced(spec.null_dim, spec.null_lo, spec.null_hi);
  s.tail(spec.dk - spec.null_dim) = log_spaced(spec.dk - spec.null_dim, spec.c0_lo, spec.c0_hi);
  p.c0_spectrum = s;
  std::sort(p.c0_spectrum.data(), p.c0_spectrum.data() + p.c0_spectrum.size());
  p.c0 = spd_with_spectrum(s, gen);
  p.w0 = gaussian(spec.dv, spec.dk, gen, spec.w0_scale / std::sqrt(double(spec.dk)));
  for (Index t = 0; t < spec.steps; ++t) {
    MatD k = gaussian(spec.dk, spec.n, gen, spec.key_sd);
    MatD v = p.w0 * k + gaussian(spec.dv, spec.n, gen, spec.value_sd);
    p.keys.push_back(k);
    p.values.push_back(v);
  }
  return p;
}

/// The problem in S, and the same data cast back to double (for references).
template <typename S>
struct ProblemPair {
  Problem<S> p;
  Problem<double> ref;
};
template <typename S>
ProblemPair<S> make_problems(const Spec& spec) {
  ProblemPair<S> out;
  out.p = make_problem(spec).template cast<S>();
  out.ref = out.p.template cast<double>();
  return out;
}

/// ‖x − ref‖_F / ‖ref‖_F, evaluated in double.
template <typename A, typename B>
double rel_err(const Eigen::MatrixBase<A>& x, const Eigen::MatrixBase<B>& ref) {
  const MatD xd = x.template cast<double>();
  const MatD rd = ref.template cast<double>();
  const double den = rd.norm();
  const double num = (xd - rd).norm();
  return den > 0 ? num / den : num;
}

/// Bit-for-bit equality of two matrices (same shape, same bytes).
template <typename S>
bool bit_equal(const Mat<S>& a, const Mat<S>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  if (a.size() == 0) return true;
  return std::memcmp(a.data(), b.data(), sizeof(S) * std::size_t(a.size())) == 0;
}

/// 2-norm condition number of a symmetric positive definite matrix.
inline double spd_condition(const MatD& a) {
  Eigen::SelfAdjointEigenSolver<MatD> es(a, Eigen::EigenvaluesOnly);
  const VecD ev = es.eigenvalues();
  return ev(ev.size() - 1) / ev(0);
}

/// The reduced system M = Uᵀ(λC0 + KKᵀ)U + αI (U = I without basis), in double.
inline MatD reduced_system(const MatD& c0, const MatD& k, double lambda, double alpha,
                           const MatD* basis) {
  MatD a = lambda * c0 + k * k.transpose();
  MatD m = basis ? MatD(basis->transpose() * a * *basis) : a;
  m = 0.5 * (m + m.transpose()).eval();
  m.diagonal().array() += alpha;
  return m;
}

/// A relative error bound for scalar S on a system of condition number `kappa`:
/// `double_bound` in double, `factor` · ε · κ in float.
template <typename S>
double tolerance(double kappa, double double_bound, double factor = 10.0) {
  if (std::is_same<S, double>::value) return double_bound;
  return factor * eps<S>() * kappa;
}

/// Everything that must stay unchanged when an editor rejects a call.
template <typename Editor>
struct Snapshot {
  using S = typename Editor::Scalar;
  Mat<S> weights, inverse, deviation, jkeys, jvalues;
  Index steps = 0;
  std::vector<seqedit::EditId> ids;

  explicit Snapshot(const Editor& ed)
      : weights(ed.weights()),
        inverse(ed.system_inverse()),
        deviation(ed.deviation()),
        jkeys(ed.journal().keys()),
        jvalues(ed.journal().values()),
        steps(ed.steps()),
        ids(ed.journal().ids()) {}

  /// True when `ed` is bit-for-bit in the recorded state.
  bool same(const Editor& ed) const {
    return bit_equal<S>(weights, ed.weights()) && bit_equal<S>(inverse, ed.system_inverse()) &&
           bit_equal<S>(deviation, ed.deviation()) && bit_equal<S>(jkeys, ed.journal().keys()) &&
           bit_equal<S>(jvalues, ed.journal().values()) && steps == ed.steps() &&
           ids == ed.journal().ids();
  }
};

/// The two objectives most tests run: MEMIT with ridge (λ = 20, α = 1, P = I) or AlphaEdit
/// (λ = 0, α = 10, a C0 with a 30-dimensional null space). Sets `spec` accordingly and
/// returns the objective in S and in double.
template <typename S>
void ridge_memit_or_alphaedit(bool alphaedit, Spec& spec, seqedit::Objective<S>& obj,
                              seqedit::Objective<double>& obj_d) {
  if (alphaedit) {
    spec.null_dim = 30;
    spec.c0_lo = 0.1;
    spec.c0_hi = 10.0;
    obj = seqedit::Objective<S>::alphaedit(S(10));
    obj_d = seqedit::Objective<double>::alphaedit(10.0);
  } else {
    obj = seqedit::Objective<S>::memit(S(20), S(1));
    obj_d = seqedit::Objective<double>::memit(20.0, 1.0);
  }
}

}  // namespace seqedit_test

#endif  // SEQEDIT_TESTS_SUPPORT_PROBLEMS_HPP

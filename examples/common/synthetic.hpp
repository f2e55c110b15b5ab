#ifndef SEQEDIT_EXAMPLES_SYNTHETIC_HPP
#define SEQEDIT_EXAMPLES_SYNTHETIC_HPP

/// \file synthetic.hpp
/// The built-in synthetic editing problem shared by the example programs.
///
/// A seeded stand-in for one FFN output projection W0 (d_v × d_k) of a language model:
///
/// * Retention statistics. C0 = Q diag(s) Qᵀ with a random orthogonal Q and a power-law
///   spectrum s_i = s_1 i^(−decay), like the second moment of real FFN activations. s_1 is
///   chosen so that a fraction `null_fraction` of the eigenvalues falls below AlphaEdit's
///   absolute threshold 2e-2: the null-space projector then keeps that fraction of d_k.
///   Retention keys K0 ~ N(0, C0) (a sample, for the retention metrics only; the editors
///   use the exact C0).
/// * Edit keys ("subjects") k = C0^(1/2) z + σ_s u, z, u ~ N(0, I): the typical activation
///   of the retention distribution plus a subject-specific isotropic component. Edit keys
///   therefore overlap the retention subspace (as real subjects do) and also reach the
///   directions C0 barely uses, which is what lets null-space editing work at all.
/// * Values v = W0 k + δ, the targeted change δ has norm `change` · ‖W0 k‖ in a random
///   direction (a new object).
/// * Paraphrases: k' = k + η n with n drawn like an edit key and rescaled to ‖n‖ = ‖k‖:
///   a held-out key near each edited one, whose wanted output is W0 k' + δ (same change).
///
/// Everything is drawn from one std::mt19937_64 stream, so a seed fixes the problem.

#include <Eigen/Core>
#include <Eigen/QR>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace seqedit_examples {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;
using Index = Eigen::Index;

/// The knobs of the synthetic problem.
struct SyntheticConfig {
  Index key_dim = 1024;         ///< d_k (FFN inner width)
  Index value_dim = 256;        ///< d_v (model width)
  Index steps = 20;             ///< number of edit batches
  Index batch = 20;             ///< edits per batch (400 edits = 39% of d_k in all)
  Index retention = 1000;       ///< retention keys sampled for the metrics
  double decay = 1.2;           ///< power-law exponent of the spectrum of C0
  double null_fraction = 0.6;   ///< fraction of eigenvalues of C0 below `threshold`
  double threshold = 2e-2;      ///< AlphaEdit's eigenvalue threshold
  double subject_scale = 0.3;   ///< σ_s, the subject-specific part of an edit key
  double change = 1.0;          ///< ‖δ‖ / ‖W0 k‖ of a targeted change
  double paraphrase_noise = 0.1;  ///< η, relative distance of a paraphrase key
  double weight_scale = 0.02;   ///< standard deviation of the entries of W0
  std::uint64_t seed = 2026;
};

/// One batch of edits with its held-out paraphrases.
struct Batch {
  Matrix keys;               ///< K_t, d_k × n
  Matrix values;             ///< V_t = W0 K_t + δ, d_v × n
  Matrix paraphrase_keys;    ///< K'_t, d_k × n (one per edit)
  Matrix paraphrase_values;  ///< W0 K'_t + δ, d_v × n
};

/// The whole problem.
struct Synthetic {
  SyntheticConfig config;
  Vector spectrum;          ///< eigenvalues s_i of C0, descending
  Matrix c0;                ///< C0 = Q diag(s) Qᵀ, d_k × d_k
  Matrix w0;                ///< W0, d_v × d_k
  Matrix retention_keys;    ///< K0 sample, d_k × N
  std::vector<Batch> batches;

  /// Number of eigenvalues of C0 below the threshold (the rank of AlphaEdit's projector).
  Index null_rank() const {
    Index r = 0;
    for (Index i = 0; i < spectrum.size(); ++i) r += spectrum(i) < config.threshold ? 1 : 0;
    return r;
  }
};

namespace detail {
inline Matrix gaussian(std::mt19937_64& rng, Index rows, Index cols) {
  std::normal_distribution<double> n01(0.0, 1.0);
  Matrix m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = n01(rng);
  return m;
}
}  // namespace detail

/// Builds the problem (O(d_k³) for Q; well under a second at d_k = 1024).
inline Synthetic make_synthetic(const SyntheticConfig& cfg) {
  Synthetic p;
  p.config = cfg;
  std::mt19937_64 rng(cfg.seed);
  const Index dk = cfg.key_dim, dv = cfg.value_dim;

  // Random orthogonal Q (Householder QR of a Gaussian matrix).
  const Matrix g = detail::gaussian(rng, dk, dk);
  Eigen::HouseholderQR<Matrix> qr(g);
  const Matrix q = qr.householderQ();

  // s_i = s_1 i^-decay with s_i < threshold exactly for i > (1 - null_fraction) d_k.
  const double pivot = std::max(1.0, std::floor((1.0 - cfg.null_fraction) * double(dk)) + 0.5);
  const double s1 = cfg.threshold * std::pow(pivot, cfg.decay);
  p.spectrum.resize(dk);
  for (Index i = 0; i < dk; ++i) p.spectrum(i) = s1 * std::pow(double(i + 1), -cfg.decay);

  const Matrix root = q * p.spectrum.cwiseSqrt().asDiagonal();  // C0 = root rootᵀ
  p.c0.noalias() = root * root.transpose();
  p.c0 = 0.5 * (p.c0 + p.c0.transpose()).eval();

  p.w0 = cfg.weight_scale * detail::gaussian(rng, dv, dk);
  p.retention_keys = root * detail::gaussian(rng, dk, cfg.retention);

  auto draw_keys = [&](Index n) {
    Matrix k = root * detail::gaussian(rng, dk, n);
    k += cfg.subject_scale * detail::gaussian(rng, dk, n);
    return k;
  };

  p.batches.resize(std::size_t(cfg.steps));
  for (Batch& b : p.batches) {
    const Index n = cfg.batch;
    b.keys = draw_keys(n);
    const Matrix old_out = p.w0 * b.keys;
    Matrix delta = detail::gaussian(rng, dv, n);
    for (Index j = 0; j < n; ++j)
      delta.col(j) *= cfg.change * old_out.col(j).norm() / delta.col(j).norm();
    b.values = old_out + delta;
    Matrix noise = draw_keys(n);
    for (Index j = 0; j < n; ++j)
      noise.col(j) *= cfg.paraphrase_noise * b.keys.col(j).norm() / noise.col(j).norm();
    b.paraphrase_keys = b.keys + noise;
    b.paraphrase_values = p.w0 * b.paraphrase_keys + delta;
  }
  return p;
}

/// Concatenation of the keys and values of batches [first, last).
inline void gather(const Synthetic& p, std::size_t first, std::size_t last, Matrix& keys,
                   Matrix& values) {
  Index n = 0;
  for (std::size_t t = first; t < last; ++t) n += p.batches[t].keys.cols();
  keys.resize(p.config.key_dim, n);
  values.resize(p.config.value_dim, n);
  Index c = 0;
  for (std::size_t t = first; t < last; ++t) {
    const Index m = p.batches[t].keys.cols();
    keys.middleCols(c, m) = p.batches[t].keys;
    values.middleCols(c, m) = p.batches[t].values;
    c += m;
  }
}

/// How well weights W reproduce wanted outputs V for keys K, relative to the change asked
/// for: per column e_j = ‖W k_j − v_j‖ / ‖v_j − W0 k_j‖ (0: memorised exactly, 1: nothing
/// changed).
struct Recall {
  double mean_error = 0.0;  ///< mean of e_j
  double hit_rate = 0.0;    ///< fraction of columns with e_j < 0.5 (moved over halfway)
};

inline Recall recall(const Matrix& w, const Matrix& w0, const Matrix& k, const Matrix& v) {
  Recall r;
  if (k.cols() == 0) return r;
  const Matrix out = w * k;
  const Matrix old_out = w0 * k;
  Index hits = 0;
  double sum = 0.0;
  for (Index j = 0; j < k.cols(); ++j) {
    const double e = (out.col(j) - v.col(j)).norm() / (v.col(j) - old_out.col(j)).norm();
    sum += e;
    hits += e < 0.5 ? 1 : 0;
  }
  r.mean_error = sum / double(k.cols());
  r.hit_rate = double(hits) / double(k.cols());
  return r;
}

/// Retention metrics for the sample K0: `drift` = ‖(W − W0) K0‖ / ‖W0 K0‖, and `kept` =
/// fraction of retention keys whose output moved by less than half the size of a targeted
/// change, ‖(W − W0) k0‖ < 0.5 · change · ‖W0 k0‖ (an unrelated fact keeps its answer).
struct Retention {
  double drift = 0.0;
  double kept = 0.0;
};

inline Retention retention(const Matrix& w, const Synthetic& p) {
  const Matrix moved = (w - p.w0) * p.retention_keys;
  const Matrix old_out = p.w0 * p.retention_keys;
  Retention r;
  r.drift = moved.norm() / old_out.norm();
  Index kept = 0;
  for (Index j = 0; j < moved.cols(); ++j)
    kept += moved.col(j).norm() < 0.5 * p.config.change * old_out.col(j).norm() ? 1 : 0;
  r.kept = moved.cols() > 0 ? double(kept) / double(moved.cols()) : 1.0;
  return r;
}

}  // namespace seqedit_examples

#endif  // SEQEDIT_EXAMPLES_SYNTHETIC_HPP

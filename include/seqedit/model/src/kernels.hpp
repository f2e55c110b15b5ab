// The per-token kernels of the runtime, each with its forward and its backward
// (normalisations, activations, rotary embedding). Tokens are the columns of column-major
// matrices. Internal to the seqedit_model library.

#ifndef SEQEDIT_MODEL_SRC_KERNELS_HPP
#define SEQEDIT_MODEL_SRC_KERNELS_HPP

#include "seqedit/model/config.hpp"
#include "weights.hpp"

#include <Eigen/Core>

#include <cmath>

namespace seqedit {
namespace model {
namespace detail {

template <typename Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <typename Scalar>
using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// y = norm(x) · w (+ b) per column; keeps mean (LayerNorm) and 1/σ for the backward.
/// LayerNorm: (x − mean)/sqrt(var + eps), var biased; RMSNorm: x / sqrt(mean(x²) + eps).
template <typename Scalar, typename XT, typename YT>
void norm_forward(NormKind kind, Scalar eps, const XT& x, const Vec<Scalar>& w, const Vec<Scalar>& b, YT&& y,
                  Vec<Scalar>& mean, Vec<Scalar>& rstd) {
  const Eigen::Index d = x.rows(), T = x.cols();
  mean.resize(T);
  rstd.resize(T);
  SEQEDIT_OMP(parallel for schedule(static) if (d * T >= parallel_threshold))
  for (Eigen::Index t = 0; t < T; ++t) {
    Scalar m = 0;
    if (kind == NormKind::LayerNorm) m = x.col(t).mean();
    const Scalar var = (x.col(t).array() - m).square().sum() / static_cast<Scalar>(d);
    const Scalar r = Scalar(1) / std::sqrt(var + eps);
    mean(t) = m;
    rstd(t) = r;
    if (b.size() > 0) y.col(t) = ((x.col(t).array() - m) * r * w.array() + b.array()).matrix();
    else y.col(t) = ((x.col(t).array() - m) * r * w.array()).matrix();
  }
}

/// dx (+)= ∂/∂x of norm_forward given dy (accumulates into dx).
template <typename Scalar, typename XT, typename DYT, typename DXT>
void norm_backward(NormKind kind, const XT& x, const Vec<Scalar>& w, const Vec<Scalar>& mean, const Vec<Scalar>& rstd,
                   const DYT& dy, DXT&& dx) {
  const Eigen::Index d = x.rows(), T = x.cols();
  SEQEDIT_OMP(parallel for schedule(static) if (d * T >= parallel_threshold))
  for (Eigen::Index t = 0; t < T; ++t) {
    const Scalar r = rstd(t);
    const Eigen::Array<Scalar, Eigen::Dynamic, 1> xhat = (x.col(t).array() - mean(t)) * r;
    const Eigen::Array<Scalar, Eigen::Dynamic, 1> g = dy.col(t).array() * w.array();
    const Scalar mg = kind == NormKind::LayerNorm ? g.sum() / static_cast<Scalar>(d) : Scalar(0);
    const Scalar mgx = (g * xhat).sum() / static_cast<Scalar>(d);
    dx.col(t).array() += r * (g - mg - xhat * mgx);
  }
}

template <typename Scalar>
inline Scalar activate(Activation a, Scalar x) {
  switch (a) {
    case Activation::GeluTanh: {
      const Scalar c = static_cast<Scalar>(0.7978845608028654);  // √(2/π)
      return Scalar(0.5) * x * (Scalar(1) + std::tanh(c * (x + static_cast<Scalar>(0.044715) * x * x * x)));
    }
    case Activation::GeluErf: return Scalar(0.5) * x * (Scalar(1) + std::erf(x * static_cast<Scalar>(0.7071067811865476)));
    case Activation::Silu: return x / (Scalar(1) + std::exp(-x));
    case Activation::Relu: return x > 0 ? x : Scalar(0);
  }
  return x;
}

/// d activate / dx.
template <typename Scalar>
inline Scalar activate_grad(Activation a, Scalar x) {
  switch (a) {
    case Activation::GeluTanh: {
      const Scalar c = static_cast<Scalar>(0.7978845608028654), k = static_cast<Scalar>(0.044715);
      const Scalar th = std::tanh(c * (x + k * x * x * x));
      return Scalar(0.5) * (Scalar(1) + th) + Scalar(0.5) * x * (Scalar(1) - th * th) * c * (Scalar(1) + Scalar(3) * k * x * x);
    }
    case Activation::GeluErf: {
      const Scalar cdf = Scalar(0.5) * (Scalar(1) + std::erf(x * static_cast<Scalar>(0.7071067811865476)));
      const Scalar pdf = std::exp(Scalar(-0.5) * x * x) * static_cast<Scalar>(0.3989422804014327);
      return cdf + x * pdf;
    }
    case Activation::Silu: {
      const Scalar s = Scalar(1) / (Scalar(1) + std::exp(-x));
      return s * (Scalar(1) + x * (Scalar(1) - s));
    }
    case Activation::Relu: return x > 0 ? Scalar(1) : Scalar(0);
  }
  return Scalar(1);
}

/// Rotary embedding of the first `rd` dimensions of each of `heads` heads of width `hd`, in
/// place, column c at position pos[c]; `sign` = −1 applies the inverse rotation (the
/// backward). cos/sin tables: (rd/2) × positions.
template <typename Scalar, typename MT>
void rotary(PositionKind kind, int heads, int hd, int rd, const Mat<Scalar>& cos_t, const Mat<Scalar>& sin_t,
            const std::vector<int>& pos, MT&& m, Scalar sign) {
  const Eigen::Index T = m.cols();
  const int half = rd / 2;
  SEQEDIT_OMP(parallel for schedule(static) if (T * heads * half >= parallel_threshold))
  for (Eigen::Index c = 0; c < T; ++c) {
    const int p = pos[static_cast<std::size_t>(c)];
    for (int h = 0; h < heads; ++h) {
      Scalar* x = &m(h * hd, c);
      for (int i = 0; i < half; ++i) {
        const Scalar co = cos_t(i, p), si = sign * sin_t(i, p);
        const int a = kind == PositionKind::RotaryHalf ? i : 2 * i;
        const int b = kind == PositionKind::RotaryHalf ? i + half : 2 * i + 1;
        const Scalar x1 = x[a], x2 = x[b];
        x[a] = x1 * co - x2 * si;
        x[b] = x2 * co + x1 * si;
      }
    }
  }
}

}  // namespace detail
}  // namespace model
}  // namespace seqedit

#endif  // SEQEDIT_MODEL_SRC_KERNELS_HPP

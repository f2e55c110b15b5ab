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

/// std::erf element-wise (Eigen's packet erf is in its unsupported SpecialFunctions module).
template <typename ArrayExpr>
auto erf_of(const ArrayExpr& a) {
  using S = typename ArrayExpr::Scalar;
  return a.unaryExpr([](S v) { return std::erf(v); });
}

/// out = act(x) element-wise. Written as whole-array expressions so that Eigen evaluates tanh
/// and exp with its packet (SIMD) functions (float: both; double: exp); the scalar libm calls
/// cost more than the matrix products on a small model.
///   gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)));  gelu: 0.5 x (1 + erf(x/√2));
///   silu: x / (1 + e^(−x));  relu: x if x > 0 else 0.
template <typename Scalar>
void activate(Activation a, const Mat<Scalar>& pre, Mat<Scalar>& out) {
  const auto x = pre.array();
  switch (a) {
    case Activation::GeluTanh: {
      const Scalar c = static_cast<Scalar>(0.7978845608028654), k = static_cast<Scalar>(0.044715);  // √(2/π)
      out = (Scalar(0.5) * x * (Scalar(1) + (c * (x + k * x.cube())).tanh())).matrix();
      return;
    }
    case Activation::GeluErf:
      out = (Scalar(0.5) * x * (Scalar(1) + erf_of(x * static_cast<Scalar>(0.7071067811865476)))).matrix();
      return;
    case Activation::Silu: out = (x / (Scalar(1) + (-x).exp())).matrix(); return;
    case Activation::Relu: out = (x > Scalar(0)).select(x, Scalar(0)).matrix(); return;
  }
  out = pre;
}

/// out = act'(x) element-wise (the derivative of activate), vectorised as activate is.
template <typename Scalar>
void activate_grad(Activation a, const Mat<Scalar>& pre, Mat<Scalar>& out) {
  const auto x = pre.array();
  switch (a) {
    case Activation::GeluTanh: {
      const Scalar c = static_cast<Scalar>(0.7978845608028654), k = static_cast<Scalar>(0.044715);
      const Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic> th = (c * (x + k * x.cube())).tanh();
      out = (Scalar(0.5) * (Scalar(1) + th) +
             Scalar(0.5) * x * (Scalar(1) - th.square()) * c * (Scalar(1) + Scalar(3) * k * x.square()))
                .matrix();
      return;
    }
    case Activation::GeluErf:
      out = (Scalar(0.5) * (Scalar(1) + erf_of(x * static_cast<Scalar>(0.7071067811865476))) +
             x * (Scalar(-0.5) * x.square()).exp() * static_cast<Scalar>(0.3989422804014327))
                .matrix();
      return;
    case Activation::Silu: {
      const Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic> s = (Scalar(1) + (-x).exp()).inverse();
      out = (s * (Scalar(1) + x * (Scalar(1) - s))).matrix();
      return;
    }
    case Activation::Relu: out = (x > Scalar(0)).template cast<Scalar>().matrix(); return;
  }
  out.setOnes(pre.rows(), pre.cols());
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

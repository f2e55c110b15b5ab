// Performance of seqedit's solvers against the re-factorising baselines, at the shapes of
// real edited layers. Google Benchmark program; see tests/benchmarks/CMakeLists.txt for the
// `run_bench` target and make_table.py for the table.
//
// Flags (parsed and removed before benchmark::Initialize; the rest go to Google Benchmark):
//   --quick              small shape only (d_k = 2048, d_v = 512); env SEQEDIT_BENCH_QUICK=1
//   --shapes=a,b         shapes to run, among quick, gpt2xl, llama (default: gpt2xl,llama);
//                        env SEQEDIT_BENCH_SHAPES
//   --no-projector       skip the null-space projector (O(d_k³), the longest item)
//   --types=f64,f32      scalar types to run (default both)
//   --residual-scale=x   multiply the Gaussian residuals V − W0 K of the timed batches (after the
//                        20 warm-up steps) by x (default 1), so that PRUNE's steps have
//                        singular values above σ_max(W_{t−1}) to shrink
//
// Every benchmark of one shape and scalar type runs on the same data: W0, C0 and the key
// batches are drawn once in double from fixed seeds (float runs use the rounded copy).
// C0 = diag(s) + F Fᵀ (s log-uniform in [1e-3, 1e-1], F d_k × 256 Gaussian), keys drawn from
// that covariance, V = W0 K + Gaussian residuals; MEMIT objective (λ = 20000 for GPT-2 XL,
// 15000 for Llama-3-8B, α = 0). The editor is built, then makes 20 steps of 100 edits
// (the paper's 2000 edits), then the timed steps follow.

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>

#include <seqedit/one_time_editor.hpp>
#include <seqedit/projector.hpp>
#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>
#include <seqedit/sequential_editor.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if defined(EIGEN_USE_BLAS)
// OpenBLAS reports the kernel set it selected; weak, so that other BLAS vendors link too.
extern "C" char* openblas_get_corename(void) __attribute__((weak));
#endif

#ifndef SEQEDIT_BENCH_CXX_FLAGS
#define SEQEDIT_BENCH_CXX_FLAGS "unknown"
#endif

namespace seqedit_bench {
bool heap_tracking();
std::int64_t heap_bytes();
std::int64_t heap_peak();
void reset_heap_peak();
}  // namespace seqedit_bench

namespace {

using Index = Eigen::Index;
using MatD = Eigen::MatrixXd;
using VecD = Eigen::VectorXd;
using Clock = std::chrono::steady_clock;
namespace sb = seqedit_bench;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of the process (user + system, all threads): next to the wall time, it tells
// a step slowed by other processes on the machine from a step that does more work.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_stime.tv_usec);
}

// One line per timed step on stderr (wall and CPU seconds), for min / median tables.
void report_step(const std::string& what, double wall, double cpu) {
  std::fprintf(stderr, "STEP %s wall %.4f cpu %.4f\n", what.c_str(), wall, cpu);
}

// ------------------------------------------------------------------ shapes and options

struct Shape {
  std::string name;
  Index dk, dv;
  double lambda;
  int step_iters;      // timed steps of the editor, PRUNE, RECT, retraction
  int baseline_iters;  // timed steps of each re-factorising baseline
  int other_iters;     // timed PRUNE / RECT steps and retractions
};

constexpr int kBatch = 100;       // edits per step
constexpr int kWarmupSteps = 20;  // steps before the timed ones (2000 edits)
constexpr Index kRankC0 = 256;    // rank of the low-rank part of C0

const std::vector<Shape>& all_shapes() {
  static const std::vector<Shape> s = {
      {"quick", 2048, 512, 20000.0, 5, 3, 5},
      {"gpt2xl", 6400, 1600, 20000.0, 5, 2, 3},
      {"llama", 14336, 4096, 15000.0, 3, 1, 1},
  };
  return s;
}

struct Config {
  std::vector<std::string> shapes{"gpt2xl", "llama"};
  std::vector<std::string> types{"f64", "f32"};
  bool projector = true;
  bool quick = false;
  double residual_scale = 1.0;
};
Config g_cfg;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// ------------------------------------------------------------------ the problem (double)

std::mt19937_64 rng_for(std::uint64_t stream) { return std::mt19937_64(0x5EED5EEDULL * 1000003ULL + stream); }

MatD gaussian(Index rows, Index cols, std::uint64_t stream, double scale = 1.0) {
  std::mt19937_64 gen = rng_for(stream);
  std::normal_distribution<double> nd(0.0, scale);
  MatD m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = nd(gen);
  return m;
}

struct Problem {
  Shape shape;
  MatD w0;  // d_v × d_k
  MatD f;   // d_k × kRankC0
  VecD s;   // d_k
  bool have_ref = false;
  MatD ote_ref;  // Δ*_20 in double (for the float32 gap)

  explicit Problem(const Shape& sh) : shape(sh) {
    w0 = gaussian(sh.dv, sh.dk, 1, 1.0 / std::sqrt(double(sh.dk)));
    f = gaussian(sh.dk, kRankC0, 2, 1.0 / std::sqrt(double(sh.dk)));
    s.resize(sh.dk);
    std::mt19937_64 gen = rng_for(3);
    std::uniform_real_distribution<double> u(std::log(1e-3), std::log(1e-1));
    for (Index i = 0; i < sh.dk; ++i) s(i) = std::exp(u(gen));
  }

  MatD c0() const {
    MatD c(shape.dk, shape.dk);
    c.noalias() = f * f.transpose();
    c.diagonal() += s;
    return c;
  }

  // Batch b: keys with covariance C0, values V = W0 K + residuals.
  void batch(int b, MatD& k, MatD& v) const {
    const std::uint64_t base = 1000 + 3 * std::uint64_t(b);
    k.noalias() = f * gaussian(kRankC0, kBatch, base);
    k += s.cwiseSqrt().asDiagonal() * gaussian(shape.dk, kBatch, base + 1);
    v = (b >= kWarmupSteps ? g_cfg.residual_scale : 1.0) * gaussian(shape.dv, kBatch, base + 2);
    v.noalias() += w0 * k;
  }
};

std::unique_ptr<Problem> g_problem;

// ------------------------------------------------------------------ per scalar type

template <typename T>
const char* type_name() {
  return sizeof(T) == 8 ? "f64" : "f32";
}

template <typename T>
struct Ctx {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Editor = seqedit::SequentialEditor<T>;
  Shape shape;
  Mat w0, c0;
  std::unique_ptr<Editor> ed;
  Mat w20;          // editor weights after the warm-up (t = 20)
  Mat w21_editor;   // after the first timed step (batch 20)
  int next_batch = 0;
  double construct_s = 0, warmup_s = 0;
  double construct_peak = 0, editor_heap = 0;

  void batch(int b, Mat& k, Mat& v) const {
    MatD kd(shape.dk, kBatch), vd(shape.dv, kBatch);
    g_problem->batch(b, kd, vd);
    k = kd.cast<T>();
    v = vd.cast<T>();
  }
  void all_batches(int count, Mat& k, Mat& v) const {
    k.resize(shape.dk, Index(count) * kBatch);
    v.resize(shape.dv, Index(count) * kBatch);
    Mat kb, vb;
    for (int b = 0; b < count; ++b) {
      batch(b, kb, vb);
      k.middleCols(Index(b) * kBatch, kBatch) = kb;
      v.middleCols(Index(b) * kBatch, kBatch) = vb;
    }
  }
  seqedit::Objective<T> objective() const { return seqedit::Objective<T>::memit(T(shape.lambda)); }
};

std::unique_ptr<Ctx<double>> g_ctx_d;
std::unique_ptr<Ctx<float>> g_ctx_f;

template <typename T>
std::unique_ptr<Ctx<T>>& ctx_slot();
template <>
std::unique_ptr<Ctx<double>>& ctx_slot<double>() { return g_ctx_d; }
template <>
std::unique_ptr<Ctx<float>>& ctx_slot<float>() { return g_ctx_f; }

template <typename T>
Ctx<T>& ctx(const Shape& sh) {
  auto& slot = ctx_slot<T>();
  if (slot && slot->shape.name == sh.name) return *slot;
  // Free everything held for other shapes or types first.
  g_ctx_d.reset();
  g_ctx_f.reset();
  if (!g_problem || g_problem->shape.name != sh.name) {
    g_problem.reset();
    std::cerr << "[" << sh.name << "] generating data (d_k = " << sh.dk << ", d_v = " << sh.dv
              << ")" << std::endl;
    g_problem = std::make_unique<Problem>(sh);
  }
  auto c = std::make_unique<Ctx<T>>();
  c->shape = sh;
  c->w0 = g_problem->w0.cast<T>();
  c->c0 = g_problem->c0().template cast<T>();

  std::cerr << "[" << sh.name << "/" << type_name<T>() << "] constructing the editor" << std::endl;
  const std::int64_t before = sb::heap_bytes();
  sb::reset_heap_peak();
  auto t0 = Clock::now();
  c->ed = std::make_unique<typename Ctx<T>::Editor>(c->w0, c->c0, c->objective());
  c->construct_s = seconds_since(t0);
  c->construct_peak = double(sb::heap_peak() - before);
  c->editor_heap = double(sb::heap_bytes() - before);

  std::cerr << "[" << sh.name << "/" << type_name<T>() << "] " << kWarmupSteps
            << " warm-up steps of " << kBatch << " edits" << std::endl;
  typename Ctx<T>::Mat k, v;
  t0 = Clock::now();
  for (int b = 0; b < kWarmupSteps; ++b) {
    c->batch(b, k, v);
    c->ed->apply(k, v);
  }
  c->warmup_s = seconds_since(t0);
  c->w20 = c->ed->weights();
  c->next_batch = kWarmupSteps;
  slot = std::move(c);
  return *slot;
}

double rel_diff(const MatD& a, const MatD& b) { return (a - b).norm() / b.norm(); }

template <typename T>
double rel_diff_t(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& a,
                  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& b) {
  return rel_diff(a.template cast<double>(), b.template cast<double>());
}

// Runs `body` and turns exceptions into a skipped benchmark.
template <typename F>
void guarded(benchmark::State& st, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
  }
}

// ------------------------------------------------------------------ GEMM rates

// Eigen kernels at the step's shapes: C = A B (A d_k × d_k, B d_k × 100) as a general
// product (GEMM), as a symmetric product (SYMM, lower triangle) and as the block-lower
// product the editor uses (detail/block_symmetric.hpp); the rank-100 updates: symmetric
// lower-triangle (SYRK-like), full (GEMM) and block-lower (the editor's).
// Flops of the block-lower rank-100 update: Σ_blocks 2 (r − j0) b n.
double block_update_flop(Index r) {
  double f = 0;
  for (Index j0 = 0; j0 < r; j0 += seqedit::detail::kSymmetricBlock) {
    const Index b = std::min(seqedit::detail::kSymmetricBlock, r - j0);
    f += 2.0 * double(r - j0) * double(b) * kBatch;
  }
  return f;
}

template <typename T>
void BM_kernels(benchmark::State& st, Shape sh, int which) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    const Mat& a = c.ed->system_inverse();  // a real d_k × d_k operand, no extra memory
    const Index dk = sh.dk;
    Mat b = gaussian(dk, kBatch, 7).cast<T>(), out(dk, kBatch);
    Mat work;
    if (which == 2 || which == 3 || which == 5) work = a;
    const Mat z = gaussian(dk, kBatch, 8, 1e-6).cast<T>();
    double flop = 0;
    for (auto _ : st) {
      const auto t0 = Clock::now();
      switch (which) {
        case 0:
          out.noalias() = a * b;
          flop = 2.0 * double(dk) * double(dk) * kBatch;
          break;
        case 1:
          out.noalias() = a.template selfadjointView<Eigen::Lower>() * b;
          flop = 2.0 * double(dk) * double(dk) * kBatch;
          break;
        case 2:
          work.template selfadjointView<Eigen::Lower>().rankUpdate(z, T(-1));
          flop = double(dk) * double(dk) * kBatch;
          break;
        case 3:
          work.noalias() -= z * z.transpose();
          flop = 2.0 * double(dk) * double(dk) * kBatch;
          break;
        case 4:
          seqedit::detail::block_lower_product(a, b, out);
          flop = 2.0 * double(dk) * double(dk) * kBatch;
          break;
        default:
          seqedit::detail::block_lower_rank_update(work, z, T(-1));
          flop = block_update_flop(dk);
          break;
      }
      st.SetIterationTime(seconds_since(t0));
      benchmark::DoNotOptimize(out.data());
      benchmark::DoNotOptimize(work.data());
    }
    st.counters["flop"] = flop;
  });
}

template <typename T>
void BM_gemm_square(benchmark::State& st, Index n) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  const Mat a = gaussian(n, n, 11).cast<T>(), b = gaussian(n, n, 12).cast<T>();
  Mat c(n, n);
  for (auto _ : st) {
    const auto t0 = Clock::now();
    c.noalias() = a * b;
    st.SetIterationTime(seconds_since(t0));
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["flop"] = 2.0 * double(n) * double(n) * double(n);
}

// ------------------------------------------------------------------ the editor's step

template <typename T>
double editor_step_flop(const Shape& sh) {
  const double dk = double(sh.dk), dv = double(sh.dv), n = kBatch;
  // Header formula (no projector, c = n): 2 r² c (G = M⁻¹K) + r² c (1 + b/r) (the
  // block-lower rank-c update) + 2 d_v d_k c (applying Δ̃), plus 2 d_v d_k n for the
  // residual R = V − W K computed by apply(): the flops executed.
  return 2.0 * dk * dk * n + block_update_flop(sh.dk) + 4.0 * dv * dk * n;
}

template <typename T>
void BM_step_seqedit(benchmark::State& st, Shape sh) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    std::int64_t peak_extra = 0;
    double cpu_total = 0;
    Mat k, v;
    bool first = true;
    for (auto _ : st) {
      c.batch(c.next_batch++, k, v);
      const std::int64_t base = sb::heap_bytes();
      sb::reset_heap_peak();
      const double cpu0 = cpu_seconds();
      const auto t0 = Clock::now();
      c.ed->apply(k, v);
      const double wall = seconds_since(t0), cpu = cpu_seconds() - cpu0;
      st.SetIterationTime(wall);
      cpu_total += cpu;
      report_step(sh.name + "/" + type_name<T>() + "/step/seqedit", wall, cpu);
      peak_extra = std::max(peak_extra, sb::heap_peak() - base);
      if (first) {
        first = false;
        if (c.next_batch == kWarmupSteps + 1) c.w21_editor = c.ed->weights();
      }
    }
    const double scal = double(sizeof(T));
    const double dk = double(sh.dk), dv = double(sh.dv);
    st.counters["flop"] = editor_step_flop<T>(sh);
    st.counters["cpu_s"] = benchmark::Counter(cpu_total, benchmark::Counter::kAvgIterations);
    st.counters["state_bytes"] = double(c.ed->state_scalars()) * scal;
    st.counters["inverse_bytes"] = double(c.ed->system_inverse().size()) * scal;
    st.counters["weights_bytes"] = 2.0 * dv * dk * scal;
    st.counters["journal_bytes"] = double(c.ed->journal().size()) * (dk + dv) * scal;
    st.counters["dk2_bytes"] = dk * dk * scal;
    st.counters["editor_heap_bytes"] = c.editor_heap;
    st.counters["construct_peak_bytes"] = c.construct_peak;
    st.counters["step_peak_extra_bytes"] = double(peak_extra);
    st.counters["construct_s"] = c.construct_s;
    st.counters["warmup_step_s"] = c.warmup_s / kWarmupSteps;
    st.counters["journal_edits"] = double(c.ed->journal().size());
  });
}

// ------------------------------------------------------------------ baselines

// The peers' step: re-form A_t = A_{t−1} + K Kᵀ, factor it from scratch, solve for the n
// columns A_t⁻¹ K (the cheaper of the two solve forms), Δ̃ = R (A_t⁻¹ K)ᵀ, apply it.
// In-place factorisations: the baseline holds A_t, one work matrix and W.
template <typename T>
void BM_step_baseline(benchmark::State& st, Shape sh, bool lu) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    Mat a, kall, vall;
    c.all_batches(kWarmupSteps, kall, vall);
    a = T(sh.lambda) * c.c0;
    a.noalias() += kall * kall.transpose();
    kall.resize(0, 0);
    vall.resize(0, 0);
    Mat work(sh.dk, sh.dk), w = c.w20, k, v, x;
    int b = kWarmupSteps;
    bool first = true;
    double agree = -1;
    for (auto _ : st) {
      c.batch(b++, k, v);
      const auto t0 = Clock::now();
      if (lu) {
        a.noalias() += k * k.transpose();
        work = a;
        Eigen::PartialPivLU<Eigen::Ref<Mat>> f(work);
        x = f.solve(k);
      } else {
        a.template selfadjointView<Eigen::Lower>().rankUpdate(k);
        work.template triangularView<Eigen::Lower>() = a;
        Eigen::LLT<Eigen::Ref<Mat>, Eigen::Lower> f(work);
        if (f.info() != Eigen::Success) throw std::runtime_error("baseline: A_t not SPD");
        x = f.solve(k);
      }
      Mat r = v;
      r.noalias() -= w * k;
      w.noalias() += r * x.transpose();
      st.SetIterationTime(seconds_since(t0));
      if (first) {
        first = false;
        if (c.w21_editor.size() > 0) agree = rel_diff_t<T>(w - c.w20, c.w21_editor - c.w20);
      }
    }
    const double dk = double(sh.dk), dv = double(sh.dv), n = kBatch;
    st.counters["flop"] = (lu ? 2.0 * dk * dk * n + 2.0 / 3.0 * dk * dk * dk
                              : dk * dk * n + 1.0 / 3.0 * dk * dk * dk) +
                          2.0 * dk * dk * n + 4.0 * dv * dk * n;
    st.counters["state_bytes"] = (2.0 * dk * dk + dv * dk) * double(sizeof(T));
    if (agree >= 0) st.counters["agree_editor"] = agree;
  });
}

// ------------------------------------------------------------------ OTE and exactness

template <typename T>
void BM_ote(benchmark::State& st, Shape sh) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    Mat kall, vall;
    c.all_batches(kWarmupSteps, kall, vall);
    seqedit::OneTimeEditor<T> ote(c.c0, c.objective());
    Mat delta;
    for (auto _ : st) {
      const auto t0 = Clock::now();
      delta = ote.solve(c.w0, kall, vall);
      st.SetIterationTime(seconds_since(t0));
    }
    const Mat d20 = c.w20 - c.w0;
    const double gap = rel_diff_t<T>(d20, delta);
    st.counters["gap_ote_se"] = gap;
    if constexpr (sizeof(T) == 8) {
      g_problem->ote_ref = delta;
      g_problem->have_ref = true;
    } else if (g_problem->have_ref) {
      st.counters["gap_vs_f64_ote"] = rel_diff(d20.template cast<double>(), g_problem->ote_ref);
      st.counters["ote_f32_vs_f64"] = rel_diff(delta.template cast<double>(), g_problem->ote_ref);
    }
    std::cerr << "[" << sh.name << "/" << type_name<T>() << "] OTE-SE gap after "
              << kWarmupSteps << " steps: " << gap;
    if (sizeof(T) == 4 && g_problem->have_ref)
      std::cerr << " (against the float64 OTE: "
                << rel_diff(d20.template cast<double>(), g_problem->ote_ref) << ")";
    std::cerr << std::endl;
    const double dk = double(sh.dk), dv = double(sh.dv), nn = double(kall.cols());
    st.counters["flop"] = dk * dk * nn + dk * dk * dk / 3.0 + 2.0 * dk * nn * dv + 2.0 * dk * dk * dv +
                          2.0 * dv * dk * nn;
    st.counters["edits"] = nn;
  });
}

// ------------------------------------------------------------------ retraction

template <typename T>
void BM_retract(benchmark::State& st, Shape sh) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    Mat k, v;
    for (auto _ : st) {
      c.batch(c.next_batch++, k, v);
      const std::vector<seqedit::EditId> ids = c.ed->apply(k, v);
      const auto t0 = Clock::now();
      c.ed->retract(ids);
      st.SetIterationTime(seconds_since(t0));
    }
    st.counters["flop"] = editor_step_flop<T>(sh);
  });
}

// ------------------------------------------------------------------ regularised steps

// A regulariser R seen only through its dense entry R(Δ, W_ref): no factored entry and no
// `prepare` (so PRUNE's σ_max starts cold and a step's rank is found from the dense Δ by the
// range finder). This is how the editor called PRUNE before the factored entry and the warm
// start existed; benchmarking both in one run gives the before/after of those two changes.
template <typename R>
struct DenseEntryOnly {
  using Scalar = typename R::Scalar;
  using Matrix = typename R::Matrix;
  static constexpr bool is_identity = false;
  R inner;
  Matrix operator()(const Eigen::Ref<const Matrix>& delta, const Eigen::Ref<const Matrix>& w_ref) const {
    return inner(delta, w_ref);
  }
  std::string describe() const { return inner.describe(); }
};

// One step of SequentialEditor<T, R> with Algorithm 1 (Compensation::Analytic), started
// from the plain editor's state (t = 20 + timed steps).
template <typename T, typename R>
void run_regularised(benchmark::State& st, Shape sh, const R& reg, const char* label) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  auto& c = ctx<T>(sh);
  std::unique_ptr<seqedit::SequentialEditor<T, R>> red;
  {
    auto s = c.ed->state();
    s.compensation = seqedit::Compensation::Analytic;
    s.deviation = Mat::Zero(sh.dv, sh.dk);
    red = std::make_unique<seqedit::SequentialEditor<T, R>>(s, reg);
  }
  Mat k, v;
  std::int64_t peak_extra = 0;
  double cpu_total = 0;
  for (auto _ : st) {
    c.batch(c.next_batch++, k, v);
    const std::int64_t base = sb::heap_bytes();
    sb::reset_heap_peak();
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    red->apply(k, v);
    const double wall = seconds_since(t0), cpu = cpu_seconds() - cpu0;
    st.SetIterationTime(wall);
    cpu_total += cpu;
    report_step(sh.name + "/" + type_name<T>() + "/step/" + label, wall, cpu);
    peak_extra = std::max(peak_extra, sb::heap_peak() - base);
  }
  st.counters["cpu_s"] = benchmark::Counter(cpu_total, benchmark::Counter::kAvgIterations);
  st.counters["step_peak_extra_bytes"] = double(peak_extra);
  st.counters["deviation_rel"] = double(red->deviation().norm()) /
                                 std::max(1e-300, double((red->weights() - red->initial_weights()).norm()));
}

template <typename T>
void BM_prune(benchmark::State& st, Shape sh) {
  guarded(st, [&] { run_regularised<T>(st, sh, seqedit::Prune<T>(), "prune"); });
}

// PRUNE now (factored entry, warm-started σ_max) against PRUNE through the dense entry with
// a cold σ_max (the algorithm before those two changes), on the same batches: two editors
// from the plain editor's state, each batch applied to one and then the other, so that a
// change of the machine's load meets both alike.
template <typename T>
void BM_prune_vs_prior(benchmark::State& st, Shape sh, seqedit::Compensation comp) {
  guarded(st, [&] {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using Now = seqedit::SequentialEditor<T, seqedit::Prune<T>>;
    using Prior = seqedit::SequentialEditor<T, DenseEntryOnly<seqedit::Prune<T>>>;
    auto& c = ctx<T>(sh);
    auto s = c.ed->state();
    s.compensation = comp;
    if (comp == seqedit::Compensation::Analytic) s.deviation = Mat::Zero(sh.dv, sh.dk);
    Now now_ed(s, seqedit::Prune<T>());
    Prior prior_ed(std::move(s), DenseEntryOnly<seqedit::Prune<T>>{seqedit::Prune<T>()});
    const std::string label = std::string(comp == seqedit::Compensation::Analytic ? "prune" : "prune-aligned");
    Mat k, v;
    double cpu_now = 0, cpu_prior = 0, wall_prior = 0;
    for (auto _ : st) {
      c.batch(c.next_batch++, k, v);
      double cpu0 = cpu_seconds();
      auto t0 = Clock::now();
      now_ed.apply(k, v);
      const double wall = seconds_since(t0), cpu = cpu_seconds() - cpu0;
      st.SetIterationTime(wall);
      cpu_now += cpu;
      report_step(sh.name + "/" + type_name<T>() + "/step/" + label + "-now", wall, cpu);
      cpu0 = cpu_seconds();
      t0 = Clock::now();
      prior_ed.apply(k, v);
      const double wall_p = seconds_since(t0), cpu_p = cpu_seconds() - cpu0;
      wall_prior += wall_p;
      cpu_prior += cpu_p;
      report_step(sh.name + "/" + type_name<T>() + "/step/" + label + "-prior", wall_p, cpu_p);
    }
    st.counters["cpu_s"] = benchmark::Counter(cpu_now, benchmark::Counter::kAvgIterations);
    st.counters["prior_cpu_s"] = benchmark::Counter(cpu_prior, benchmark::Counter::kAvgIterations);
    st.counters["prior_wall_s"] = benchmark::Counter(wall_prior, benchmark::Counter::kAvgIterations);
    st.counters["prior_over_now_cpu"] = cpu_prior / std::max(1e-12, cpu_now);
    st.counters["weights_rel_diff"] = rel_diff_t<T>(now_ed.weights(), prior_ed.weights());
  });
}

template <typename T>
void BM_rect(benchmark::State& st, Shape sh) {
  guarded(st, [&] { run_regularised<T>(st, sh, seqedit::Rect<T>(), "rect"); });
}

// ------------------------------------------------------------------ projector

template <typename T>
void BM_projector(benchmark::State& st, Shape sh) {
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    const std::string tag = "[" + sh.name + "/" + type_name<T>() + " projector] ";
    Index rank = 0;
    for (auto _ : st) {
      const auto t0 = Clock::now();
      seqedit::ProgressCallback cb = [&](const std::string& stage, double fraction) {
        std::fprintf(stderr, "%s%-24s %3.0f%%  at %8.1f s\n", tag.c_str(), stage.c_str(),
                     100.0 * fraction, seconds_since(t0));
      };
      seqedit::NullSpaceProjector<T> p(c.c0, T(seqedit::NullSpaceProjector<T>::default_threshold), cb);
      st.SetIterationTime(seconds_since(t0));
      rank = p.rank();
      if (sh.dk <= 2048 && rank > 0) {
        // Checks of the basis (O(d_k² r), small shapes only): orthonormality and ‖C0 U‖.
        using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
        const Mat& u = p.basis();
        const Mat gram = u.transpose() * u;
        st.counters["orth_err"] =
            double((gram - Mat::Identity(rank, rank)).cwiseAbs().maxCoeff());
        const Mat cu = c.c0 * u;
        st.counters["c0u_over_threshold"] =
            double(cu.norm()) / std::sqrt(double(rank)) / seqedit::NullSpaceProjector<T>::default_threshold;
      }
    }
    st.counters["rank"] = double(rank);
    const double dk = double(sh.dk);
    st.counters["flop"] = 4.0 / 3.0 * dk * dk * dk + 2.0 * dk * dk * double(rank);
  });
}

#if defined(EIGEN_USE_LAPACKE)
// LAPACK's divide-and-conquer driver ?syevd (all eigenpairs) on the same C0: the route the
// projector does not take (it computes only the r eigenvectors it keeps, with ?stemr), timed
// side by side. Workspace: 1 + 6 d_k + 2 d_k² scalars besides the copy of C0.
template <typename T>
void BM_syevd(benchmark::State& st, Shape sh) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  guarded(st, [&] {
    auto& c = ctx<T>(sh);
    const lapack_int n = static_cast<lapack_int>(sh.dk);
    Index below = 0;
    for (auto _ : st) {
      Mat a = c.c0;
      Vec w(sh.dk);
      std::cerr << "[" << sh.name << "/" << type_name<T>() << "] ?syevd on C0" << std::endl;
      const auto t0 = Clock::now();
      lapack_int info;
      if constexpr (sizeof(T) == 8)
        info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a.data(), n, w.data());
      else {
        // LAPACKE_ssyevd's workspace query returns the size as a float, which rounds
        // 1 + 6n + 2n² below the minimum for n ≳ 3000 (LAPACK then fails with a negative
        // info); the documented minimum sizes are passed explicitly instead.
        const lapack_int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n;
        std::vector<float> work(static_cast<std::size_t>(lwork));
        std::vector<lapack_int> iwork(static_cast<std::size_t>(liwork));
        info = LAPACKE_ssyevd_work(LAPACK_COL_MAJOR, 'V', 'L', n, a.data(), n, w.data(), work.data(),
                                   lwork, iwork.data(), liwork);
      }
      st.SetIterationTime(seconds_since(t0));
      if (info != 0) throw std::runtime_error("?syevd failed, info = " + std::to_string(info));
      below = 0;
      while (below < sh.dk && w(below) < T(seqedit::NullSpaceProjector<T>::default_threshold)) ++below;
    }
    st.counters["rank"] = double(below);
  });
}
#endif

// ------------------------------------------------------------------ registration

template <typename T>
void register_shape(const Shape& sh) {
  const std::string p = sh.name + "/" + type_name<T>() + "/";
  auto reg = [&](const std::string& name, auto fn, int iters) {
    benchmark::RegisterBenchmark((p + name).c_str(), fn)
        ->Iterations(iters)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  };
  const int kern_iters = sh.dk > 8000 ? 3 : 10;
  reg("gemm/dk_dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 0); }, kern_iters);
  reg("symm/dk_dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 1); }, kern_iters);
  reg("block_product/dk_dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 4); }, kern_iters);
  reg("syrk/dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 2); }, kern_iters);
  reg("gemm_update/dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 3); }, kern_iters);
  reg("block_update/dk_100", [sh](benchmark::State& st) { BM_kernels<T>(st, sh, 5); }, kern_iters);
  const Index sq = std::min<Index>(sh.dk, 4096);
  reg("gemm/square_" + std::to_string(sq), [sq](benchmark::State& st) { BM_gemm_square<T>(st, sq); }, 3);
  reg("step/seqedit", [sh](benchmark::State& st) { BM_step_seqedit<T>(st, sh); }, sh.step_iters);
  reg("step/lu", [sh](benchmark::State& st) { BM_step_baseline<T>(st, sh, true); }, sh.baseline_iters);
  reg("step/llt", [sh](benchmark::State& st) { BM_step_baseline<T>(st, sh, false); }, sh.baseline_iters);
  reg("ote/solve_2000", [sh](benchmark::State& st) { BM_ote<T>(st, sh); }, 1);
  reg("retract/100", [sh](benchmark::State& st) { BM_retract<T>(st, sh); }, sh.other_iters);
  reg("step/prune", [sh](benchmark::State& st) { BM_prune<T>(st, sh); }, sh.other_iters);
  reg("step/prune-vs-prior",
      [sh](benchmark::State& st) { BM_prune_vs_prior<T>(st, sh, seqedit::Compensation::Analytic); }, sh.other_iters);
  reg("step/prune-aligned-vs-prior",
      [sh](benchmark::State& st) { BM_prune_vs_prior<T>(st, sh, seqedit::Compensation::None); }, sh.other_iters);
  reg("step/rect", [sh](benchmark::State& st) { BM_rect<T>(st, sh); }, sh.other_iters);
  if (g_cfg.projector) {
    reg("projector", [sh](benchmark::State& st) { BM_projector<T>(st, sh); }, 1);
#if defined(EIGEN_USE_LAPACKE)
    reg("projector/syevd", [sh](benchmark::State& st) { BM_syevd<T>(st, sh); }, 1);
#endif
  }
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  // Own flags first; everything else is Google Benchmark's.
  std::vector<char*> rest;
  bool shapes_given = false;
  if (const char* q = std::getenv("SEQEDIT_BENCH_QUICK"); q && *q && std::strcmp(q, "0") != 0)
    g_cfg.quick = true;
  if (const char* s = std::getenv("SEQEDIT_BENCH_SHAPES"); s && *s) {
    g_cfg.shapes = split(s);
    shapes_given = true;
  }
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (i > 0 && a == "--quick") {
      g_cfg.quick = true;
    } else if (i > 0 && a.rfind("--shapes=", 0) == 0) {
      g_cfg.shapes = split(a.substr(9));
      shapes_given = true;
    } else if (i > 0 && a.rfind("--types=", 0) == 0) {
      g_cfg.types = split(a.substr(8));
    } else if (i > 0 && a == "--no-projector") {
      g_cfg.projector = false;
    } else if (i > 0 && a.rfind("--residual-scale=", 0) == 0) {
      char* end = nullptr;
      g_cfg.residual_scale = std::strtod(a.c_str() + 17, &end);
      if (end == a.c_str() + 17 || *end != '\0' || !(g_cfg.residual_scale > 0) ||
          !std::isfinite(g_cfg.residual_scale)) {
        std::cerr << "--residual-scale: a positive finite number, not '" << a.substr(17) << "'\n";
        return 1;
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_cfg.quick && !shapes_given) g_cfg.shapes = {"quick"};
  int rargc = int(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&rargc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rargc, rest.data())) return 1;

  for (const std::string& name : g_cfg.shapes) {
    const auto it = std::find_if(all_shapes().begin(), all_shapes().end(),
                                 [&](const Shape& s) { return s.name == name; });
    if (it == all_shapes().end()) {
      std::cerr << "unknown shape '" << name << "' (quick, gpt2xl, llama)\n";
      return 1;
    }
    for (const std::string& t : g_cfg.types) {
      if (t == "f64") register_shape<double>(*it);
      else if (t == "f32") register_shape<float>(*it);
      else {
        std::cerr << "unknown type '" << t << "' (f64, f32)\n";
        return 1;
      }
    }
  }

  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("compiler", "GCC-compatible " __VERSION__);
  benchmark::AddCustomContext("cxx_flags", SEQEDIT_BENCH_CXX_FLAGS);
  benchmark::AddCustomContext("eigen_version", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                                   std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                                   std::to_string(EIGEN_MINOR_VERSION));
  benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
  benchmark::AddCustomContext("eigen_threads", std::to_string(Eigen::nbThreads()));
#if defined(EIGEN_USE_BLAS)
  benchmark::AddCustomContext("backend", "Eigen on OpenBLAS + LAPACKE (EIGEN_USE_BLAS, EIGEN_USE_LAPACKE)");
  const char* ob = std::getenv("OPENBLAS_NUM_THREADS");
  benchmark::AddCustomContext("blas_threads", ob ? ob : "default (all cores)");
  if (openblas_get_corename) benchmark::AddCustomContext("openblas_core", openblas_get_corename());
#else
  benchmark::AddCustomContext("backend", "pure Eigen");
#endif
  benchmark::AddCustomContext("mode", g_cfg.quick ? "quick" : "full");
  benchmark::AddCustomContext("residual_scale", std::to_string(g_cfg.residual_scale));
  benchmark::AddCustomContext("load_average_at_start", load_average());
  benchmark::AddCustomContext("heap_tracking", sb::heap_tracking() ? "yes" : "no");

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_ctx_d.reset();
  g_ctx_f.reset();
  g_problem.reset();
  return 0;
}

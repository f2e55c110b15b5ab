// The paper's ablation of post-processing regularisers (math.md sections 5 and 6) on the
// built-in synthetic layer (examples/common/synthetic.hpp), with MEMIT's objective:
//
//   Naive          History::None: each step solves for its own batch, then R_p
//   Aligned        History::Aligned, W_t = W_{t-1} + R_p(step), deviations accumulate
//   Aligned+comp.  Algorithm 1 (Compensation::Analytic): W_t = W0 + D*_t + e_t exactly
//
// for R_p = PRUNE and RECT, followed by a retraction round trip with aligned MEMIT.
// Exits with status 1 if Algorithm 1's guarantee or the retraction check fails.

#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>
#include <seqedit/seqedit.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/synthetic.hpp"

namespace {

using seqedit_examples::Index;
using seqedit_examples::Matrix;
using seqedit_examples::Synthetic;

struct Result {
  std::string name;
  double efficacy = 0, generalisation = 0, specificity = 0, drift = 0;
  double gap = 0;       // |D_T - D*_T| / |D*_T| after the last step
  double guarantee = -1;  // max over steps of |D_t - D*_t - e_t| / |D*_t| (compensated only)
  double seconds = 0;
};

/// Runs one configuration over all batches; `refs[t]` is the OTE solution after step t.
template <typename Regulariser>
Result run(const std::string& name, const Synthetic& p, const seqedit::Objective<double>& obj,
           seqedit::History history, seqedit::Compensation comp, const Regulariser& reg,
           const std::vector<Matrix>& refs) {
  const auto t0 = std::chrono::steady_clock::now();
  seqedit::EditorOptions<double> opt;
  opt.history = history;
  opt.compensation = comp;
  seqedit::SequentialEditor<double, Regulariser> ed(p.w0, p.c0, obj, opt, reg);
  Result r;
  r.name = name;
  for (std::size_t t = 0; t < p.batches.size(); ++t) {
    ed.apply(p.batches[t].keys, p.batches[t].values);
    if (comp == seqedit::Compensation::Analytic) {
      const Matrix rest = ed.cumulative_update() - refs[t] - ed.deviation();
      r.guarantee = std::max(r.guarantee, rest.norm() / refs[t].norm());
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.gap = (ed.cumulative_update() - refs.back()).norm() / refs.back().norm();
  Matrix k, v;
  seqedit_examples::gather(p, 0, p.batches.size(), k, v);
  Matrix kp(k.rows(), k.cols()), vp(v.rows(), v.cols());
  Index c = 0;
  for (const auto& b : p.batches) {
    kp.middleCols(c, b.keys.cols()) = b.paraphrase_keys;
    vp.middleCols(c, b.keys.cols()) = b.paraphrase_values;
    c += b.keys.cols();
  }
  r.efficacy = 100.0 * seqedit_examples::recall(ed.weights(), p.w0, k, v).hit_rate;
  r.generalisation = 100.0 * seqedit_examples::recall(ed.weights(), p.w0, kp, vp).hit_rate;
  const auto ret = seqedit_examples::retention(ed.weights(), p);
  r.specificity = 100.0 * ret.kept;
  r.drift = ret.drift;
  return r;
}

void print_row(const Result& r) {
  char guarantee[16] = "-";
  if (r.guarantee >= 0) std::snprintf(guarantee, sizeof guarantee, "%.1e", r.guarantee);
  std::printf("%-22s %6.1f %6.1f %6.1f %7.4f %9.2e %9s %6.1f\n", r.name.c_str(), r.efficacy,
              r.generalisation, r.specificity, r.drift, r.gap, guarantee, r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PRUNE and RECT: naive, aligned, aligned with error compensation"};
  bool quick = false;
  seqedit_examples::SyntheticConfig cfg;
  double lambda = 100.0;
  double rect_p = 0.2;
  app.add_flag("--quick", quick, "Small problem (d_k 256, 8 steps x 5 edits), for the tests");
  app.add_option("--steps", cfg.steps, "Number of edit batches")->check(CLI::Range(2, 1000));
  app.add_option("--batch", cfg.batch, "Edits per batch")->check(CLI::Range(1, 10000));
  app.add_option("--seed", cfg.seed, "Seed of the synthetic problem");
  app.add_option("--lambda", lambda, "MEMIT's retention weight")->check(CLI::PositiveNumber);
  app.add_option("--rect-p", rect_p, "RECT's ratio of kept entries")->check(CLI::Range(0.01, 1.0));
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    cfg.key_dim = 256;
    cfg.value_dim = 64;
    cfg.retention = 300;
    if (app.count("--steps") == 0) cfg.steps = 8;
    if (app.count("--batch") == 0) cfg.batch = 5;
  }

  const Synthetic p = seqedit_examples::make_synthetic(cfg);
  const auto memit = seqedit::Objective<double>::memit(lambda);
  const seqedit::OneTimeEditor<double> ote(p.c0, memit);
  std::vector<Matrix> refs;
  {
    Matrix k, v;
    for (std::size_t t = 0; t < p.batches.size(); ++t) {
      seqedit_examples::gather(p, 0, t + 1, k, v);
      refs.push_back(ote.solve(p.w0, k, v));
    }
  }

  std::printf("Synthetic layer: d_k = %ld, d_v = %ld, %ld steps x %ld edits = %ld edits, seed "
              "%llu\n", long(cfg.key_dim), long(cfg.value_dim), long(cfg.steps), long(cfg.batch),
              long(cfg.steps * cfg.batch), static_cast<unsigned long long>(cfg.seed));
  std::printf("MEMIT objective: lambda = %g, alpha = 0, P = I. PRUNE: no parameter. RECT: keeps "
              "the top\n%.0f%% of all entries of each step by relative change (same p in every "
              "RECT row).\n\n", lambda, 100.0 * rect_p);
  std::printf("Columns, measured after the last step over all edits:\n"
              "  eff%%  efficacy proxy: %% of edits k with |W k - v| < 0.5 |v - W0 k| (the output\n"
              "        moved over halfway from the old value to the new one)\n"
              "  gen%%  the same for a held-out paraphrase key k' = k + noise (|noise| = %.0f%% "
              "|k|)\n"
              "  spec%% specificity proxy: %% of %ld retention keys k0 ~ N(0, C0) whose output "
              "moved\n"
              "        by less than half a targeted change, |(W - W0) k0| < 0.5 |W0 k0|\n"
              "  drift |(W - W0) K0| / |W0 K0| over the same retention keys\n"
              "  gap   |D_T - D*_T| / |D*_T|, D*_T = one-time MEMIT solution over all edits\n"
              "  alg1  max over steps of |D_t - D*_t - e_t| / |D*_t| (Algorithm 1's guarantee, "
              "e_t =\n"
              "        latest deviation; compensated rows only)\n"
              "  s     wall time of the run\n\n",
              100.0 * cfg.paraphrase_noise, long(cfg.retention));

  using seqedit::Compensation;
  using seqedit::History;
  const seqedit::Prune<double> prune;
  const seqedit::Rect<double> rect(rect_p);
  std::vector<Result> rows;
  rows.push_back(run("MEMIT, no regulariser", p, memit, History::Aligned, Compensation::None,
                     seqedit::NoRegulariser<double>(), refs));
  rows.push_back(run("PRUNE Naive", p, memit, History::None, Compensation::None, prune, refs));
  rows.push_back(run("PRUNE Aligned", p, memit, History::Aligned, Compensation::None, prune, refs));
  rows.push_back(
      run("PRUNE Aligned+comp.", p, memit, History::Aligned, Compensation::Analytic, prune, refs));
  rows.push_back(run("RECT Naive", p, memit, History::None, Compensation::None, rect, refs));
  rows.push_back(run("RECT Aligned", p, memit, History::Aligned, Compensation::None, rect, refs));
  rows.push_back(
      run("RECT Aligned+comp.", p, memit, History::Aligned, Compensation::Analytic, rect, refs));

  std::printf("%-22s %6s %6s %6s %7s %9s %9s %6s\n", "configuration", "eff%", "gen%", "spec%",
              "drift", "gap", "alg1", "s");
  for (const Result& r : rows) print_row(r);

  // Retraction round trip with aligned MEMIT.
  std::vector<std::size_t> dropped;
  const std::size_t steps = p.batches.size();
  const std::size_t n_drop = std::max<std::size_t>(1, steps / 4);
  for (std::size_t i = 0; i < n_drop; ++i) dropped.push_back(1 + i * steps / n_drop);
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, memit);
  std::vector<std::vector<seqedit::EditId>> ids;
  for (const auto& b : p.batches) ids.push_back(ed.apply(b.keys, b.values));
  std::vector<seqedit::EditId> to_retract;
  std::string list;
  for (std::size_t t : dropped) {
    to_retract.insert(to_retract.end(), ids[t].begin(), ids[t].end());
    list += (list.empty() ? "" : ", ") + std::to_string(t + 1);
  }
  ed.retract(to_retract);
  Matrix k_kept(p.config.key_dim, 0), v_kept(p.config.value_dim, 0);
  for (std::size_t t = 0; t < steps; ++t) {
    if (std::find(dropped.begin(), dropped.end(), t) != dropped.end()) continue;
    const auto& b = p.batches[t];
    k_kept.conservativeResize(Eigen::NoChange, k_kept.cols() + b.keys.cols());
    v_kept.conservativeResize(Eigen::NoChange, v_kept.cols() + b.keys.cols());
    k_kept.rightCols(b.keys.cols()) = b.keys;
    v_kept.rightCols(b.keys.cols()) = b.values;
  }
  const Matrix kept_ref = ote.solve(p.w0, k_kept, v_kept);
  const double retraction_error = (ed.cumulative_update() - kept_ref).norm() / kept_ref.norm();
  std::printf("\nRetraction (aligned MEMIT): apply %zu batches, retract batches %s in one call;\n"
              "|D - D*(other %zu batches)| / |D*(other %zu batches)| = %.2e\n", steps,
              list.c_str(), steps - dropped.size(), steps - dropped.size(), retraction_error);

  bool ok = true;
  auto check = [&ok](bool cond, const char* what) {
    std::printf("  [%s] %s\n", cond ? "ok" : "FAILED", what);
    ok = ok && cond;
  };
  std::printf("\nChecks:\n");
  check(rows[3].guarantee <= 1e-8 && rows[6].guarantee <= 1e-8,
        "Algorithm 1: W_t = W0 + D*_t + e_t at every step (alg1 <= 1e-8), PRUNE and RECT");
  check(retraction_error <= 1e-9, "retraction equals never having applied the batches (<= 1e-9)");
  return ok ? 0 : 1;
}

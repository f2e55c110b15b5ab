// Conflicting edits and retraction (math.md section 7, Proposition 3.5): retract, replace,
// find_matching, invalid ids, loss of definiteness, and retraction after a state round trip.

#include <catch2/catch.hpp>

#include <seqedit/seqedit.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include "support/problems.hpp"

using namespace seqedit_test;
using seqedit::EditId;

namespace {

// The live edits, column by column, as the reference sees them (double copies of exactly
// the data the editor received).
struct Model {
  struct Column {
    EditId id;
    VecD k, v;
  };
  std::vector<Column> cols;

  template <typename S>
  void add(const std::vector<EditId>& ids, const Mat<S>& k, const Mat<S>& v) {
    REQUIRE(Index(ids.size()) == k.cols());
    for (Index j = 0; j < k.cols(); ++j)
      cols.push_back({ids[std::size_t(j)], k.col(j).template cast<double>(),
                      v.col(j).template cast<double>()});
  }
  void remove(const std::vector<EditId>& ids) {
    for (const EditId& id : ids) {
      const auto it = std::find_if(cols.begin(), cols.end(),
                                   [&](const Column& c) { return c.id == id; });
      REQUIRE(it != cols.end());
      cols.erase(it);
    }
  }
  MatD keys(Index dk) const {
    MatD k(dk, Index(cols.size()));
    for (std::size_t j = 0; j < cols.size(); ++j) k.col(Index(j)) = cols[j].k;
    return k;
  }
  MatD values(Index dv) const {
    MatD v(dv, Index(cols.size()));
    for (std::size_t j = 0; j < cols.size(); ++j) v.col(Index(j)) = cols[j].v;
    return v;
  }
};

// A MEMIT-with-ridge or AlphaEdit problem with its double reference.
template <typename S>
struct RetractionBench {
  ProblemPair<S> pp;
  seqedit::Objective<S> obj;
  seqedit::Objective<double> obj_d;
  typename seqedit::SequentialEditor<S>::Options opt;
  std::optional<seqedit::OneTimeEditor<double>> ote;
  MatD basis_d;
  bool projected = false;

  RetractionBench(bool alphaedit, Index steps, Index n, std::uint32_t seed) : projected(alphaedit) {
    Spec spec;
    spec.dk = 50;
    spec.dv = 30;
    spec.n = n;
    spec.steps = steps;
    spec.seed = seed;
    ridge_memit_or_alphaedit(alphaedit, spec, obj, obj_d);
    pp = make_problems<S>(spec);
    if (alphaedit) {
      seqedit::NullSpaceProjector<S> proj(pp.p.c0);
      opt.projector = proj;
      basis_d = proj.basis().template cast<double>();
      ote.emplace(pp.ref.c0, obj_d, seqedit::NullSpaceProjector<double>::from_basis(basis_d, 1e-4));
    } else {
      ote.emplace(pp.ref.c0, obj_d);
    }
  }

  seqedit::SequentialEditor<S> editor() const {
    return seqedit::SequentialEditor<S>(pp.p.w0, pp.p.c0, obj, opt);
  }

  // ‖D − Δ*(live)‖_F / ‖Δ*(live)‖_F, or ‖D‖_F / ‖W0‖_F when nothing is live.
  double gap(const seqedit::SequentialEditor<S>& ed, const Model& model) const {
    const MatD d = ed.cumulative_update().template cast<double>();
    if (model.cols.empty()) return d.norm() / pp.ref.w0.norm();
    const MatD target =
        ote->solve(pp.ref.w0, model.keys(pp.ref.dk()), model.values(pp.ref.dv()));
    return rel_err(d, target);
  }
  double kappa(const Model& model) const {
    return spd_condition(reduced_system(pp.ref.c0, model.keys(pp.ref.dk()), obj_d.lambda,
                                        obj_d.alpha, projected ? &basis_d : nullptr));
  }
  // V' = W0 K + fresh noise: new objects for the same subjects.
  Mat<S> new_values(const Mat<S>& k, std::mt19937& gen) const {
    return (pp.p.w0 * k + gaussian(pp.p.dv(), k.cols(), gen).template cast<S>()).eval();
  }
};

template <typename S>
std::vector<EditId> pick(const std::vector<EditId>& from, std::size_t count, std::mt19937& gen) {
  std::vector<EditId> v = from;
  std::shuffle(v.begin(), v.end(), gen);
  v.resize(std::min(count, v.size()));
  return v;
}

}  // namespace

TEMPLATE_TEST_CASE("Retraction leaves the OTE over the remaining edits", "[retract]", float,
                   double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    RetractionBench<S> b(alphaedit, 10, 4, alphaedit ? 701 : 702);
    auto ed = b.editor();
    Model model;
    std::vector<std::vector<EditId>> batch_ids;
    double max_gap = 0, max_kappa = 0;
    for (Index t = 0; t < 10; ++t) {
      const auto& k = b.pp.p.keys[std::size_t(t)];
      const auto& v = b.pp.p.values[std::size_t(t)];
      batch_ids.push_back(ed.apply(k, v));
      model.add<S>(batch_ids.back(), k, v);
    }
    max_kappa = b.kappa(model);
    const Mat<S> d_full = ed.cumulative_update();

    // A whole batch from the middle.
    ed.retract(batch_ids[2]);
    model.remove(batch_ids[2]);
    const double g1 = b.gap(ed, model);
    // One column of another batch.
    ed.retract({batch_ids[6][1]});
    model.remove({batch_ids[6][1]});
    const double g2 = b.gap(ed, model);
    // The first and the last batch together, listed in reverse order.
    std::vector<EditId> two = batch_ids[9];
    two.insert(two.end(), batch_ids[0].begin(), batch_ids[0].end());
    std::reverse(two.begin(), two.end());
    ed.retract(two);
    model.remove(two);
    const double g3 = b.gap(ed, model);
    max_gap = std::max({g1, g2, g3});
    CHECK(ed.steps() == 13);
    CHECK(ed.journal().size() == Index(model.cols.size()));

    // Everything else, in one call: back to W0 and M_0⁻¹.
    std::vector<EditId> rest = ed.journal().ids();
    ed.retract(rest);
    model.remove(rest);
    const double back_to_w0 =
        (ed.weights().template cast<double>() - b.pp.ref.w0).norm() /
        d_full.template cast<double>().norm();
    const MatD m0 = reduced_system(b.pp.ref.c0, MatD::Zero(b.pp.ref.dk(), 1), b.obj_d.lambda,
                                   b.obj_d.alpha, alphaedit ? &b.basis_d : nullptr);
    const MatD m0_inv_lower = MatD(m0.inverse()).triangularView<Eigen::Lower>();
    const MatD inv_lower = ed.system_inverse().template cast<double>().template triangularView<Eigen::Lower>();
    const double inv_err = rel_err(inv_lower, m0_inv_lower);

    const double tol = tolerance<S>(max_kappa, 1e-9, 100.0);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT+ridge")
         << ": gaps after retractions " << g1 << ", " << g2 << ", " << g3
         << "; |W - W0| / |D| after retracting all " << back_to_w0 << "; inverse vs M0^-1 "
         << inv_err << "; kappa " << max_kappa << ", tolerance " << tol);
    CHECK(max_gap <= tol);
    CHECK(back_to_w0 <= tol);
    CHECK(inv_err <= tol);
    CHECK(ed.journal().empty());
  }
}

TEMPLATE_TEST_CASE("Replace supersedes earlier edits exactly", "[retract][replace]", float,
                   double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    RetractionBench<S> b(alphaedit, 8, 5, alphaedit ? 711 : 712);
    auto ed = b.editor();
    Model model;
    std::vector<std::vector<EditId>> batch_ids;
    for (Index t = 0; t < 6; ++t) {
      const auto& k = b.pp.p.keys[std::size_t(t)];
      const auto& v = b.pp.p.values[std::size_t(t)];
      batch_ids.push_back(ed.apply(k, v));
      model.add<S>(batch_ids.back(), k, v);
    }
    std::mt19937 gen(alphaedit ? 1 : 2);
    double kappa = b.kappa(model);

    // Same subjects, new objects: batch 2's keys with new values.
    const Mat<S> k2 = b.pp.p.keys[1];
    const Mat<S> v2 = b.new_values(k2, gen);
    const auto ids_a = ed.replace(batch_ids[1], k2, v2);
    model.remove(batch_ids[1]);
    model.add<S>(ids_a, k2, v2);
    const double g_same_keys = b.gap(ed, model);
    kappa = std::max(kappa, b.kappa(model));

    // Different keys (batch 7) superseding two columns of batch 4, via residuals.
    const Mat<S> k7 = b.pp.p.keys[6];
    const Mat<S> v7 = b.pp.p.values[6];
    const std::vector<EditId> old = {batch_ids[3][4], batch_ids[3][0]};
    const auto ids_b = ed.replace_residual(old, k7, Mat<S>(v7 - ed.weights() * k7));
    model.remove(old);
    model.add<S>(ids_b, k7, v7);
    const double g_residual = b.gap(ed, model);
    kappa = std::max(kappa, b.kappa(model));

    // Replace the replacement itself.
    const Mat<S> v2b = b.new_values(k2, gen);
    const auto ids_c = ed.replace(ids_a, k2, v2b);
    model.remove(ids_a);
    model.add<S>(ids_c, k2, v2b);
    const double g_again = b.gap(ed, model);
    kappa = std::max(kappa, b.kappa(model));

    // Superseded ids are gone; the new ones are live.
    for (const EditId& id : batch_ids[1]) CHECK_FALSE(ed.journal().contains(id));
    for (const EditId& id : ids_a) CHECK_FALSE(ed.journal().contains(id));
    for (const EditId& id : ids_c) CHECK(ed.journal().contains(id));
    CHECK(ed.journal().size() == Index(model.cols.size()));

    const double tol = tolerance<S>(kappa, 1e-9, 100.0);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT+ridge")
         << ": gap after replace (same keys) " << g_same_keys << ", replace_residual "
         << g_residual << ", second replace " << g_again << "; kappa " << kappa
         << ", tolerance " << tol);
    CHECK(g_same_keys <= tol);
    CHECK(g_residual <= tol);
    CHECK(g_again <= tol);
  }
}

TEMPLATE_TEST_CASE("Retraction in shuffled order, interleaved with applies and replaces",
                   "[retract][random]", float, double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    RetractionBench<S> b(alphaedit, 30, 3, alphaedit ? 721 : 722);
    auto ed = b.editor();
    Model model;
    std::vector<std::vector<EditId>> live_batches;
    std::mt19937 gen(alphaedit ? 11 : 12);
    std::uniform_int_distribution<int> op_dist(0, 9);
    std::size_t next_batch = 0;
    double max_gap = 0, max_kappa = 1;
    int counts[4] = {0, 0, 0, 0};
    for (int op_index = 0; op_index < 45; ++op_index) {
      int op = op_dist(gen);
      if (model.cols.empty() || op < 4) op = 0;  // apply
      else if (op < 7) op = 1;                   // retract a whole batch
      else if (op < 9) op = 2;                   // retract a few ids of several batches
      else op = 3;                               // replace a batch by new objects
      if (op == 0 && next_batch >= b.pp.p.keys.size()) op = 1;
      ++counts[op];
      if (op == 0) {
        const auto& k = b.pp.p.keys[next_batch];
        const auto& v = b.pp.p.values[next_batch];
        ++next_batch;
        live_batches.push_back(ed.apply(k, v));
        model.add<S>(live_batches.back(), k, v);
      } else if (op == 1) {
        std::uniform_int_distribution<std::size_t> which(0, live_batches.size() - 1);
        const std::size_t i = which(gen);
        ed.retract(live_batches[i]);
        model.remove(live_batches[i]);
        live_batches.erase(live_batches.begin() + std::ptrdiff_t(i));
      } else if (op == 2) {
        const auto ids = pick<S>(ed.journal().ids(), 4, gen);
        ed.retract(ids);
        model.remove(ids);
        for (auto& batch : live_batches)
          batch.erase(std::remove_if(batch.begin(), batch.end(),
                                     [&](const EditId& id) {
                                       return std::find(ids.begin(), ids.end(), id) != ids.end();
                                     }),
                      batch.end());
        live_batches.erase(std::remove_if(live_batches.begin(), live_batches.end(),
                                          [](const std::vector<EditId>& x) { return x.empty(); }),
                           live_batches.end());
      } else {
        std::uniform_int_distribution<std::size_t> which(0, live_batches.size() - 1);
        const std::size_t i = which(gen);
        // Keys of the superseded edits, new values.
        Mat<S> k(b.pp.p.dk(), Index(live_batches[i].size()));
        for (std::size_t j = 0; j < live_batches[i].size(); ++j) {
          const auto it = std::find_if(model.cols.begin(), model.cols.end(),
                                       [&](const Model::Column& c) {
                                         return c.id == live_batches[i][j];
                                       });
          k.col(Index(j)) = it->k.template cast<S>();
        }
        const Mat<S> v = b.new_values(k, gen);
        const auto ids = ed.replace(live_batches[i], k, v);
        model.remove(live_batches[i]);
        model.add<S>(ids, k, v);
        live_batches[i] = ids;
      }
      if (!model.cols.empty()) max_kappa = std::max(max_kappa, b.kappa(model));
      const double g = b.gap(ed, model);
      max_gap = std::max(max_gap, g);
      REQUIRE(ed.journal().size() == Index(model.cols.size()));
    }
    const double tol = tolerance<S>(max_kappa, 1e-9, 100.0);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT+ridge")
         << ": " << counts[0] << " applies, " << counts[1] << " batch retractions, "
         << counts[2] << " id retractions, " << counts[3] << " replaces; max gap " << max_gap
         << ", kappa " << max_kappa << ", tolerance " << tol);
    CHECK(counts[1] + counts[2] >= 5);
    CHECK(counts[3] >= 2);
    CHECK(max_gap <= tol);
  }
}

TEMPLATE_TEST_CASE("Invalid ids are rejected and leave the editor unchanged",
                   "[retract][bad-input]", float, double) {
  using S = TestType;
  RetractionBench<S> b(false, 4, 3, 731);
  auto ed = b.editor();
  auto other = b.editor();
  const auto ids1 = ed.apply(b.pp.p.keys[0], b.pp.p.values[0]);
  const auto ids2 = ed.apply(b.pp.p.keys[1], b.pp.p.values[1]);
  const auto foreign = other.apply(b.pp.p.keys[0], b.pp.p.values[0]);
  ed.retract({ids1[0]});
  const Snapshot<seqedit::SequentialEditor<S>> snap(ed);
  const Mat<S>& k = b.pp.p.keys[2];
  const Mat<S>& v = b.pp.p.values[2];

  const EditId unknown{ed.tag(), 999};
  const EditId never_issued{ed.tag(), 0};
  REQUIRE_THROWS_AS(ed.retract({unknown}), std::invalid_argument);
  REQUIRE_THROWS_WITH(ed.retract({unknown}), Catch::Contains("unknown"));
  REQUIRE_THROWS_AS(ed.retract({never_issued}), std::invalid_argument);
  REQUIRE_THROWS_AS(ed.retract({ids1[0]}), std::invalid_argument);  // already retracted
  REQUIRE_THROWS_WITH(ed.retract({ids1[0]}), Catch::Contains("retracted"));
  REQUIRE_THROWS_AS(ed.retract({ids2[0], ids2[1], ids2[0]}), std::invalid_argument);
  REQUIRE_THROWS_WITH(ed.retract({ids2[0], ids2[0]}), Catch::Contains("twice"));
  REQUIRE_THROWS_AS(ed.retract({foreign[0]}), std::invalid_argument);
  REQUIRE_THROWS_WITH(ed.retract({foreign[0]}), Catch::Contains("another editor"));
  REQUIRE_THROWS_AS(ed.retract({}), std::invalid_argument);
  // A valid id followed by an invalid one: nothing is retracted.
  REQUIRE_THROWS_AS(ed.retract({ids2[1], unknown}), std::invalid_argument);
  REQUIRE_THROWS_AS(ed.replace({ids2[1], foreign[1]}, k, v), std::invalid_argument);
  REQUIRE_THROWS_AS(ed.replace({ids1[0]}, k, v), std::invalid_argument);
  REQUIRE_THROWS_AS(ed.replace_residual({ids2[2], ids2[2]}, k, v), std::invalid_argument);
  // A valid id with a bad batch.
  Mat<S> bad_v = v;
  bad_v(0, 0) = std::numeric_limits<S>::quiet_NaN();
  REQUIRE_THROWS_AS(ed.replace({ids2[1]}, k, bad_v), std::invalid_argument);
  REQUIRE_THROWS_AS(ed.replace({ids2[1]}, Mat<S>(k.topRows(10)), v), std::invalid_argument);
  CHECK(snap.same(ed));

  // The editor still works: retracting the remaining columns of batch 1 and batch 2.
  std::vector<EditId> rest = {ids1[1], ids1[2]};
  rest.insert(rest.end(), ids2.begin(), ids2.end());
  ed.retract(rest);
  CHECK(ed.journal().empty());
}

TEMPLATE_TEST_CASE("find_matching finds exact and tolerance matches only", "[retract][match]",
                   float, double) {
  using S = TestType;
  RetractionBench<S> b(false, 4, 5, 741);
  auto ed = b.editor();
  const auto ids1 = ed.apply(b.pp.p.keys[0], b.pp.p.values[0]);
  const auto ids2 = ed.apply(b.pp.p.keys[1], b.pp.p.values[1]);
  // Batch 3 repeats key 2 of batch 1 (a conflicting edit of the same subject).
  Mat<S> k3 = b.pp.p.keys[2];
  k3.col(0) = b.pp.p.keys[0].col(2);
  const auto ids3 = ed.apply(k3, b.pp.p.values[2]);

  // Exact queries: each key of batch 2 matches its own id only.
  const auto exact = ed.find_matching(b.pp.p.keys[1]);
  REQUIRE(exact.size() == 5);
  for (std::size_t j = 0; j < 5; ++j) {
    REQUIRE(exact[j].size() == 1);
    CHECK(exact[j][0] == ids2[j]);
  }
  // The repeated key matches both of its edits, in order of application.
  const auto twice = ed.find_matching(Mat<S>(b.pp.p.keys[0].col(2)));
  REQUIRE(twice.size() == 1);
  REQUIRE(twice[0].size() == 2);
  CHECK(twice[0][0] == ids1[2]);
  CHECK(twice[0][1] == ids3[0]);

  // A key perturbed by a relative 1e-3: no exact match, a match within 1e-2, none within 1e-4.
  std::mt19937 gen(5);
  const Mat<S> base = b.pp.p.keys[1].col(3);
  MatD dir = gaussian(b.pp.p.dk(), 1, gen);
  dir *= 1e-3 * base.template cast<double>().norm() / dir.norm();
  const Mat<S> near = base + dir.template cast<S>();
  CHECK(ed.find_matching(near)[0].empty());
  CHECK(ed.find_matching(near, S(1e-4))[0].empty());
  const auto loose = ed.find_matching(near, S(1e-2));
  REQUIRE(loose[0].size() == 1);
  CHECK(loose[0][0] == ids2[3]);
  // An unrelated key matches nothing even with a generous tolerance.
  const Mat<S> fresh = gaussian(b.pp.p.dk(), 1, gen).template cast<S>();
  CHECK(ed.find_matching(fresh, S(0.5))[0].empty());
  // Retracted edits no longer match.
  ed.retract({ids2[3]});
  CHECK(ed.find_matching(near, S(1e-2))[0].empty());
  // Bad queries.
  CHECK_THROWS_AS(ed.find_matching(Mat<S>(base.topRows(5))), std::invalid_argument);
  CHECK_THROWS_AS(ed.find_matching(base, S(-1)), std::invalid_argument);

  // The use of matches: replace what a new batch supersedes.
  const auto hits = ed.find_matching(Mat<S>(b.pp.p.keys[0].col(2)));
  REQUIRE(hits[0].size() == 2);
  CHECK_NOTHROW(ed.replace(hits[0], Mat<S>(b.pp.p.keys[0].col(2)),
                           Mat<S>(b.pp.p.values[3].col(0))));
  CHECK(ed.find_matching(Mat<S>(b.pp.p.keys[0].col(2)))[0].size() == 1);
}

TEST_CASE("A downdate that would lose definiteness is refused (float)", "[retract][definite]") {
  // λ = 0, P = I, tiny α, a batch of 2 d_k keys with orthonormal rows (K Kᵀ = I). Then
  // M_1 = αI + KKᵀ and retracting the whole batch needs the capacitance
  // S = −I + Kᵀ M_1⁻¹ K, whose d_k eigenvalues −α/(1 + α) ≈ −5e-5 are below float's
  // resolution for a 40 × 40 matrix (≈ 100·40·ε ≈ 5e-4): the downdate is refused.
  using S = float;
  const Index dk = 20, dv = 8, n = 40;
  const double alpha = 5e-5;
  std::mt19937 gen(17);
  const MatD k = random_orthogonal(n, gen).topRows(dk);  // dk x n, K Kᵀ = I
  const MatD w0 = gaussian(dv, dk, gen);
  const MatD v = w0 * k + gaussian(dv, n, gen);
  const MatD c0 = MatD::Identity(dk, dk);  // irrelevant with λ = 0

  seqedit::SequentialEditor<S> ed(w0.cast<S>(), c0.cast<S>(),
                                  seqedit::Objective<S>::memit(S(0), S(alpha)));
  const auto ids = ed.apply(k.cast<S>(), v.cast<S>());
  const Snapshot<seqedit::SequentialEditor<S>> snap(ed);
  REQUIRE_THROWS_AS(ed.retract(ids), seqedit::numerical_error);
  CHECK(snap.same(ed));

  // refresh(C0) rebuilds M_1⁻¹ = (αI + KKᵀ)⁻¹ = I / (1 + α) from the journal.
  MatD m1 = alpha * MatD::Identity(dk, dk) + k.cast<S>().cast<double>() *
                                                 k.cast<S>().cast<double>().transpose();
  const MatD exact = MatD(m1.inverse()).triangularView<Eigen::Lower>();
  REQUIRE_NOTHROW(ed.refresh(c0.cast<S>()));
  const MatD refreshed = ed.system_inverse().cast<double>().triangularView<Eigen::Lower>();
  const double err = rel_err(refreshed, exact);
  INFO("refreshed inverse vs exact " << err);
  CHECK(err <= 100 * eps<S>());
  CHECK(bit_equal<S>(snap.weights, ed.weights()));
  // The editor keeps working.
  CHECK_NOTHROW(ed.apply(k.leftCols(3).cast<S>(), v.leftCols(3).cast<S>()));
  CHECK(ed.steps() == 2);
}

TEST_CASE("The same downdate succeeds in double and returns to W0", "[retract][definite]") {
  using S = double;
  const Index dk = 20, dv = 8, n = 40;
  const double alpha = 5e-5;
  std::mt19937 gen(17);
  const MatD k = random_orthogonal(n, gen).topRows(dk);
  const MatD w0 = gaussian(dv, dk, gen);
  const MatD v = w0 * k + gaussian(dv, n, gen);
  seqedit::SequentialEditor<S> ed(w0, MatD::Identity(dk, dk),
                                  seqedit::Objective<S>::memit(0.0, alpha));
  const auto ids = ed.apply(k, v);
  const double d_norm = ed.cumulative_update().norm();
  REQUIRE_NOTHROW(ed.retract(ids));
  const double back = (ed.weights() - w0).norm() / d_norm;
  // The update from M_0⁻¹ = I/α and the downdate through a capacitance matrix with
  // eigenvalues −α/(1 + α) each amplify round-off by ≈ 1/α: the error is ≈ ε/α².
  const double bound = 10 * eps<double>() / (alpha * alpha);
  INFO("|W - W0| / |D| " << back << ", bound " << bound);
  CHECK(back <= bound);
}

TEMPLATE_TEST_CASE("Retraction works after a state round trip", "[retract][state]", float,
                   double) {
  using S = TestType;
  for (bool alphaedit : {false, true}) {
    RetractionBench<S> b(alphaedit, 8, 4, alphaedit ? 751 : 752);
    auto ed = b.editor();
    Model model;
    std::vector<std::vector<EditId>> batch_ids;
    for (Index t = 0; t < 5; ++t) {
      batch_ids.push_back(ed.apply(b.pp.p.keys[std::size_t(t)], b.pp.p.values[std::size_t(t)]));
      model.add<S>(batch_ids.back(), b.pp.p.keys[std::size_t(t)], b.pp.p.values[std::size_t(t)]);
    }
    seqedit::SequentialEditor<S> copy(ed.state());
    // Both retract the same edits and apply the same batch: bit-identical results.
    ed.retract(batch_ids[1]);
    copy.retract(batch_ids[1]);
    model.remove(batch_ids[1]);
    REQUIRE(bit_equal<S>(ed.weights(), copy.weights()));
    const auto ids_a = ed.apply(b.pp.p.keys[5], b.pp.p.values[5]);
    const auto ids_b = copy.apply(b.pp.p.keys[5], b.pp.p.values[5]);
    REQUIRE(ids_a == ids_b);
    model.add<S>(ids_b, b.pp.p.keys[5], b.pp.p.values[5]);
    REQUIRE(bit_equal<S>(ed.weights(), copy.weights()));
    copy.retract({batch_ids[3][0], ids_b[2]});
    model.remove({batch_ids[3][0], ids_b[2]});
    const double g = b.gap(copy, model);
    const double tol = tolerance<S>(b.kappa(model), 1e-9, 100.0);
    INFO((alphaedit ? "AlphaEdit" : "MEMIT+ridge") << ": gap after retraction on the restored "
                                                      "editor "
                                                   << g << ", tolerance " << tol);
    CHECK(g <= tol);
  }
}

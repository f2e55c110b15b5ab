// Runs of the fact pipeline on the shipped demo model (pipeline.md §6): MEMIT-PRUNE and
// MEMIT-RECT with and without Algorithm 1's compensation against the OTE of each layer's
// journal.

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/corpus_stats.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/facts/update.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Cholesky>

#include <string>
#include <type_traits>
#include <vector>

namespace run_test {

namespace sf = seqedit::facts;
using seqedit::model::Model;
using seqedit::text::Tokenizer;

const std::string model_dir = SEQEDIT_FACTS_DEMO_MODEL;

/// The demo model's tokenizer, requests, statistics and templates, loaded once.
struct Fixture {
  Tokenizer tok = Tokenizer::from_checkpoint(model_dir);
  std::vector<sf::Request> requests = sf::read_counterfact(model_dir + "/requests.json");
  sf::Hparams hp = sf::read_hparams(model_dir + "/../demo_hparams.json");
  std::vector<Eigen::MatrixXd> c0;
  sf::ContextTemplates templates;

  Fixture() {
    const Model<float> m = Model<float>::load(model_dir);
    std::vector<sf::SecondMoment> st;
    sf::collect_stats(m, tok, sf::read_corpus(model_dir + "/corpus.txt"), hp.layers, st);
    for (const auto& s : st) c0.push_back(s.second_moment());
    templates = sf::generate_context_templates(m, tok);
  }
  std::vector<sf::Request> cases(std::size_t first, std::size_t n) const {
    return std::vector<sf::Request>(requests.begin() + static_cast<std::ptrdiff_t>(first),
                                    requests.begin() + static_cast<std::ptrdiff_t>(first + n));
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

/// The OTE over an editor's journal: D* = (V − W0 K) Kᵀ (λ C0 + K Kᵀ)⁻¹ (math.md §2, MEMIT),
/// solved directly in double.
template <typename Ed>
Eigen::MatrixXd journal_ote(const Ed& ed, const Eigen::MatrixXd& c0, double lambda) {
  const Eigen::MatrixXd K = ed.journal().keys(), V = ed.journal().values();
  const Eigen::MatrixXd W0 = ed.initial_weights();
  const Eigen::MatrixXd M = lambda * c0 + K * K.transpose();
  const Eigen::MatrixXd rhs = ((V - W0 * K) * K.transpose()).transpose();
  return M.ldlt().solve(rhs).transpose();
}

/// Per layer: ‖D − e − OTE‖ / ‖OTE‖ (e = the editor's deviation, zero without compensation)
/// and ‖e‖ / ‖OTE‖.
struct LayerGap {
  double to_ote = 0, deviation = 0;
};

std::vector<LayerGap> gaps(const sf::FactEditor& fe, const std::vector<Eigen::MatrixXd>& c0) {
  std::vector<LayerGap> out;
  for (std::size_t i = 0; i < fe.layers().size(); ++i) {
    out.push_back(fe.visit(i, [&](const auto& ed) {
      const Eigen::MatrixXd ote = journal_ote(ed, c0[i], fe.hparams().mom2_update_weight);
      Eigen::MatrixXd d = ed.cumulative_update();
      LayerGap g;
      if (ed.deviation().size() != 0) {
        g.deviation = ed.deviation().norm() / ote.norm();
        d -= ed.deviation();
      }
      g.to_ote = (d - ote).norm() / ote.norm();
      return g;
    }));
  }
  return out;
}

}  // namespace run_test

TEST_CASE("MEMIT-PRUNE and MEMIT-RECT: aligned + compensated layers hold W0 + OTE + e; uncompensated drift",
          "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  CHECK(sf::parse_method("memit-prune") == sf::Method::MemitPrune);
  CHECK(sf::parse_method("memit-rect") == sf::Method::MemitRect);
  CHECK(std::string(sf::method_name(sf::Method::MemitRect)) == "memit-rect");
  CHECK_THROWS_WITH(sf::parse_method("rect"), Catch::Contains("memit-prune"));

  for (const sf::Method method : {sf::Method::MemitPrune, sf::Method::MemitRect}) {
    std::vector<std::vector<LayerGap>> by_comp;
    std::vector<Eigen::MatrixXd> d_last;
    for (const bool compensate : {true, false}) {
      Model<float> m = Model<float>::load(model_dir);
      sf::FactEditorOptions opt;
      if (!compensate) opt.compensation = seqedit::Compensation::None;
      sf::FactEditor fe(m, f.hp, method, seqedit::History::Aligned, f.c0, opt);
      fe.visit(0, [&](const auto& ed) {
        CHECK(ed.options().compensation ==
              (compensate ? seqedit::Compensation::Analytic : seqedit::Compensation::None));
        if constexpr (std::is_same<std::decay_t<decltype(ed)>, sf::FactEditor::RectEditor>::value)
          CHECK(ed.regulariser().ratio() == (compensate ? 0.2 : 0.4));  // the paper's ratios
        return 0;
      });
      fe.apply(m, f.tok, f.cases(0, 3), f.templates);
      fe.apply(m, f.tok, f.cases(3, 3), f.templates);
      by_comp.push_back(gaps(fe, f.c0));
      d_last.push_back(fe.visit(1, [](const auto& ed) { return Eigen::MatrixXd(ed.cumulative_update()); }));
      // the model holds every layer's W rounded once to float
      for (std::size_t i = 0; i < fe.layers().size(); ++i) {
        const Eigen::MatrixXd w = fe.visit(i, [](const auto& ed) { return Eigen::MatrixXd(ed.weights()); });
        const Eigen::MatrixXd mw = m.ffn_output(fe.layers()[i]).cast<double>();
        CHECK((mw - w).cwiseAbs().maxCoeff() <= 6e-8 * w.cwiseAbs().maxCoeff());
      }
    }
    for (std::size_t i = 0; i < f.hp.layers.size(); ++i) {
      const LayerGap on = by_comp[0][i], off = by_comp[1][i];
      INFO(sf::method_name(method) << " layer " << f.hp.layers[i] << ": compensated ‖D − e − OTE‖/‖OTE‖ = "
                                   << on.to_ote << " (‖e‖/‖OTE‖ = " << on.deviation
                                   << "); uncompensated ‖D − OTE‖/‖OTE‖ = " << off.to_ote);
      // Algorithm 1: W_t = W0 + Δ*_t + e_t exactly (math.md §6), to double round-off
      CHECK(on.to_ote < 1e-9);
      if (method == sf::Method::MemitRect) {
        // RECT drops 60–80 % of every step's entries: the deviation is far above round-off,
        // and without compensation D stays away from the OTE by at least that much.
        CHECK(on.deviation > 1e-3);
        CHECK(off.to_ote > 1e-3);
      } else {
        // PRUNE changes only singular values above σ_max(W): e_t = 0 (then D = OTE with or
        // without compensation) or e_t ≠ 0 and the uncompensated run is away from the OTE.
        if (on.deviation == 0.0) {
          CHECK(off.to_ote < 1e-9);
        } else {
          CHECK(off.to_ote > 1e-9);
        }
      }
    }
    INFO("‖D_on − D_off‖ of the last layer " << (d_last[0] - d_last[1]).norm());
    if (method == sf::Method::MemitRect) CHECK((d_last[0] - d_last[1]).norm() > 0);
  }
}

TEST_CASE("FactEditor refuses compensation without aligned history and a bad RECT ratio", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  const Model<float> m = Model<float>::load(model_dir);
  sf::FactEditorOptions opt;
  opt.compensation = seqedit::Compensation::Analytic;
  CHECK_THROWS_WITH(sf::FactEditor(m, f.hp, sf::Method::MemitRect, seqedit::History::None, f.c0, opt),
                    Catch::Contains("compensation"));
  sf::FactEditorOptions bad;
  bad.rect_ratio = 1.5;
  CHECK_THROWS_WITH(sf::FactEditor(m, f.hp, sf::Method::MemitRect, seqedit::History::Aligned, f.c0, bad),
                    Catch::Contains("rect_ratio"));
  // the default under History::None is no compensation
  const sf::FactEditor naive(m, f.hp, sf::Method::MemitPrune, seqedit::History::None, f.c0);
  CHECK(naive.visit(0, [](const auto& ed) { return ed.options().compensation; }) == seqedit::Compensation::None);
}

// The fact pipeline on the shipped demo model (pipeline.md §2–§8): efficacy of an edit, the
// incremental value optimisation against full passes, each layer's OTE guarantee, retraction,
// and resuming a run from saved editor states.

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/corpus_stats.hpp"
#include "seqedit/facts/evaluate.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/keys.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/facts/subject.hpp"
#include "seqedit/facts/update.hpp"
#include "seqedit/facts/values.hpp"
#include "seqedit/io/editor_state.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Cholesky>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include <memory>
#include <string>
#include <vector>

namespace sf = seqedit::facts;
using seqedit::model::Model;
using seqedit::text::Tokenizer;

namespace {

const std::string demo_dir = SEQEDIT_FACTS_DEMO_MODEL;

std::string work_path(const std::string& name) { return std::string(SEQEDIT_FACTS_WORK_DIR) + "/" + name; }

/// The demo model, its tokenizer, requests, statistics and templates, loaded once.
struct Demo {
  Tokenizer tok = Tokenizer::from_checkpoint(demo_dir);
  std::vector<sf::Request> requests = sf::read_counterfact(demo_dir + "/requests.json");
  sf::Hparams hp = sf::read_hparams(demo_dir + "/../demo_hparams.json");
  std::vector<Eigen::MatrixXd> c0;
  sf::ContextTemplates templates;

  Demo() {
    const Model<float> m = Model<float>::load(demo_dir);
    std::vector<sf::SecondMoment> st;
    sf::collect_stats(m, tok, sf::read_corpus(demo_dir + "/corpus.txt"), hp.layers, st);
    for (const auto& s : st) c0.push_back(s.second_moment());
    templates = sf::generate_context_templates(m, tok);
  }
  std::vector<sf::Request> cases(std::size_t first, std::size_t n) const {
    return std::vector<sf::Request>(requests.begin() + static_cast<std::ptrdiff_t>(first),
                                    requests.begin() + static_cast<std::ptrdiff_t>(first + n));
  }
};

const Demo& demo() {
  static const Demo d;
  return d;
}

/// The OTE over a layer's journal: D* = (V − W0 K) Kᵀ (λ C0 + K Kᵀ)⁻¹ (math.md §2, MEMIT).
Eigen::MatrixXd ote_of_journal(const sf::FactEditor::Editor& ed, const Eigen::MatrixXd& c0, double lambda) {
  const Eigen::MatrixXd K = ed.journal().keys(), V = ed.journal().values();
  const Eigen::MatrixXd W0 = ed.initial_weights();
  const Eigen::MatrixXd M = lambda * c0 + K * K.transpose();
  const Eigen::MatrixXd rhs = ((V - W0 * K) * K.transpose()).transpose();
  return M.ldlt().solve(rhs).transpose();
}

}  // namespace

TEST_CASE("subject position from offsets: a subject after a space, at the start, and not found", "[facts][pipeline]") {
  const Tokenizer& tok = demo().tok;
  const sf::SubjectPrompt p = sf::encode_subject_prompt(tok, "The capital of {} is", "Kalomir");
  const seqedit::text::Encoding e = tok.encode(p.text);
  INFO(p.text << " subject_last " << p.subject_last);
  // the token at subject_last ends at the subject's last byte; the next one starts after it
  CHECK(e.offsets[static_cast<std::size_t>(p.subject_last)].second == std::string("The capital of Kalomir").size());
  CHECK(e.offsets[static_cast<std::size_t>(p.subject_last) + 1].first >= std::string("The capital of Kalomir").size());
  const sf::SubjectPrompt q = sf::encode_subject_prompt(tok, "{} plays the", "Ann Bel");
  CHECK(tok.encode(q.text).offsets[static_cast<std::size_t>(q.subject_last)].second == 7);
  CHECK_THROWS_WITH(sf::encode_subject_prompt(tok, "no slot", "X"), Catch::Contains("exactly one"));
}

TEST_CASE("compute_z: the incremental passes give the full passes' result", "[facts][pipeline]") {
  Model<float> m = Model<float>::load(demo_dir);
  const sf::Request& r = demo().requests[0];
  const int L = demo().hp.layers.back();
  const sf::TargetValue inc = sf::compute_z(m, demo().tok, r, L, demo().hp, demo().templates, true);
  const sf::TargetValue full = sf::compute_z(m, demo().tok, r, L, demo().hp, demo().templates, false);
  REQUIRE(inc.iterations == full.iterations);
  const double err = (inc.z - full.z).norm() / full.z.norm();
  INFO("iterations " << inc.iterations << ", first loss " << inc.losses.front() << ", last loss "
                     << inc.losses.back() << ", relative difference of z " << err);
  CHECK(err < 1e-5);
  CHECK(inc.losses.back() < inc.losses.front());
  CHECK(inc.delta.norm() <= demo().hp.clamp_norm_factor * inc.h.norm() * (1 + 1e-12));
}

TEST_CASE("keys and z agree with an independent PyTorch compute_ks / compute_z", "[facts][pipeline][torch]") {
  const Demo& d = demo();
  Model<float> m = Model<float>::load(demo_dir);
  const sf::Request& r = d.requests[3];
  const int L = d.hp.layers.back(), l = d.hp.layers.front();
  // the rows exactly as compute_z builds them, for the reference
  nlohmann::json spec;
  spec["layer"] = L;
  spec["key_layer"] = l;
  spec["target"] = sf::encode_continuation(d.tok, r.target_new);
  spec["rows"] = nlohmann::json::array();
  for (const std::string& t : d.templates.flat()) {
    const sf::SubjectPrompt p = sf::encode_subject_prompt(d.tok, sf::format_template(t, r.prompt), r.subject);
    spec["rows"].push_back({{"ids", p.ids}, {"s", p.subject_last}});
  }
  const sf::SubjectPrompt kl = sf::encode_subject_prompt(d.tok, "{} is a", r.subject);
  spec["kl"] = {{"ids", kl.ids}, {"s", kl.subject_last}};
  spec["groups"] = nlohmann::json::array();
  for (const auto& g : d.templates.groups) spec["groups"].push_back(g.size());
  // z settings with every term of the loss (40 steps at rate 1, KL weight 0.0625, weight
  // decay 0.5) rather than the demo's (no KL term, no weight decay): every term is compared
  sf::Hparams hp = d.hp;
  hp.v_num_grad_steps = 40;
  hp.v_lr = 1.0;
  hp.kl_factor = 0.0625;
  hp.v_weight_decay = 0.5;
  spec["hparams"] = {{"v_num_grad_steps", hp.v_num_grad_steps}, {"v_lr", hp.v_lr},
                     {"v_weight_decay", hp.v_weight_decay}, {"kl_factor", hp.kl_factor},
                     {"clamp_norm_factor", hp.clamp_norm_factor}};
  const std::string in = work_path("torch_in.json"), out = work_path("torch_out.json");
  std::ofstream(in) << spec.dump();
  const std::string cmd = std::string(SEQEDIT_FACTS_PYTHON) + " " + SEQEDIT_FACTS_TEST_DIR + "/torch_compute.py " +
                          demo_dir + " " + in + " " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream f(out);
  const nlohmann::json ref = nlohmann::json::parse(f);

  const sf::TargetValue z = sf::compute_z(m, d.tok, r, L, hp, d.templates, true);
  const std::vector<double> ref_losses = ref["losses"].get<std::vector<double>>();
  REQUIRE(z.iterations == static_cast<int>(ref_losses.size()));
  double worst = 0;
  for (std::size_t i = 0; i < ref_losses.size(); ++i)
    worst = std::max(worst, std::abs(z.losses[i] - ref_losses[i]) / std::abs(ref_losses[i]));
  const std::vector<double> zr = ref["z"].get<std::vector<double>>(), hr = ref["h"].get<std::vector<double>>();
  const Eigen::Map<const Eigen::VectorXd> zref(zr.data(), static_cast<Eigen::Index>(zr.size()));
  const Eigen::Map<const Eigen::VectorXd> href(hr.data(), static_cast<Eigen::Index>(hr.size()));
  const double ez = (z.z - zref).norm() / zref.norm(), eh = (z.h - href).norm() / href.norm();
  const Eigen::MatrixXd K = sf::compute_keys(m, d.tok, {r}, l, d.templates);
  const std::vector<double> kr = ref["key"].get<std::vector<double>>();
  const Eigen::Map<const Eigen::VectorXd> kref(kr.data(), static_cast<Eigen::Index>(kr.size()));
  const double ek = (K.col(0) - kref).norm() / kref.norm();
  INFO("iterations " << z.iterations << "; max relative loss difference " << worst << "; h " << eh << "; z " << ez
                     << "; key " << ek);
  // float32 round-off (≈ 6e-8) amplified by the steps of the optimisation
  CHECK(eh < 1e-5);
  CHECK(ek < 1e-5);
  CHECK(worst < 1e-4 * z.iterations);
  CHECK(ez < 1e-4 * z.iterations);
}

TEST_CASE("one request moves the model towards its new target and leaves the other requests", "[facts][pipeline]") {
  Model<float> m = Model<float>::load(demo_dir);
  const Demo& d = demo();
  const std::vector<sf::Request> one = d.cases(1, 1);
  const std::vector<std::pair<std::string, std::string>> pc{{one[0].formatted(), one[0].target_new},
                                                            {one[0].formatted(), one[0].target_true}};
  const std::vector<double> before = sf::candidate_nll(m, d.tok, pc);
  const sf::CounterFactScores others_before = sf::evaluate_counterfact(m, d.tok, d.cases(100, 40));
  sf::FactEditor fe(m, d.hp, sf::Method::Memit, seqedit::History::Aligned, d.c0);
  const sf::BatchReport rep = fe.apply(m, d.tok, one, d.templates);
  const std::vector<double> after = sf::candidate_nll(m, d.tok, pc);
  const sf::CounterFactScores others = sf::evaluate_counterfact(m, d.tok, d.cases(100, 40));
  INFO("NLL(new) " << before[0] << " -> " << after[0] << ", NLL(true) " << before[1] << " -> " << after[1]
                   << "; z iterations " << rep.z_iterations[0] << ", final z loss " << rep.z_final_loss[0]
                   << "; other requests' neighbourhood " << others_before.neighborhood << " -> " << others.neighborhood);
  CHECK(after[0] < before[0]);  // the new target became more likely
  CHECK(after[1] > before[1]);  // the old one less
  CHECK(after[0] < after[1]);   // efficacy 1: the new target now beats the true one
  CHECK(others.efficacy == others_before.efficacy);
  CHECK(others.neighborhood >= others_before.neighborhood - 5.0);
}

TEST_CASE("each layer's editor holds the OTE of its journal; retract and re-apply", "[facts][pipeline]") {
  Model<float> m = Model<float>::load(demo_dir);
  const Demo& d = demo();
  sf::FactEditor fe(m, d.hp, sf::Method::Memit, seqedit::History::Aligned, d.c0);
  fe.apply(m, d.tok, d.cases(0, 4), d.templates);
  fe.apply(m, d.tok, d.cases(4, 4), d.templates);
  for (std::size_t i = 0; i < fe.editors().size(); ++i) {
    const auto& ed = fe.editors()[i];
    const Eigen::MatrixXd ote = ote_of_journal(ed, d.c0[i], d.hp.mom2_update_weight);
    const double err = (ed.cumulative_update() - ote).norm() / ote.norm();
    INFO("layer " << d.hp.layers[i] << ": ‖D − OTE(journal)‖ / ‖OTE‖ = " << err);
    CHECK(err < 1e-9);
    CHECK(ed.journal().size() == 8);
  }
  // retract the first batch: every layer holds the OTE of the second batch's columns alone
  fe.retract(m, {0, 1, 2, 3});
  for (std::size_t i = 0; i < fe.editors().size(); ++i) {
    const auto& ed = fe.editors()[i];
    CHECK(ed.journal().size() == 4);
    const double err = (ed.cumulative_update() - ote_of_journal(ed, d.c0[i], d.hp.mom2_update_weight)).norm() /
                       ed.cumulative_update().norm();
    INFO("after retraction, layer " << d.hp.layers[i] << ": " << err);
    CHECK(err < 1e-9);
    // the model holds the editor's W rounded once to float
    const double round = Eigen::MatrixXd(m.ffn_output(d.hp.layers[i]).cast<double>() - ed.weights()).cwiseAbs().maxCoeff();
    CHECK(round <= 6e-8 * ed.weights().cwiseAbs().maxCoeff());
  }
  // retracting everything returns every edited layer to the original
  fe.retract(m, {4, 5, 6, 7});
  const Model<float> orig = Model<float>::load(demo_dir);
  for (int l : d.hp.layers) {
    const double diff = (m.ffn_output(l) - orig.ffn_output(l)).cwiseAbs().maxCoeff();
    INFO("layer " << l << " after retracting every case: max |W − W0| = " << diff);
    CHECK(diff < 1e-6);
  }
}

TEST_CASE("a run of 4 batches stopped after 2 and resumed from saved states is bit-identical", "[facts][pipeline]") {
  const Demo& d = demo();
  Model<float> a = Model<float>::load(demo_dir);
  sf::FactEditor fa(a, d.hp, sf::Method::Memit, seqedit::History::Aligned, d.c0);
  for (int b = 0; b < 4; ++b) fa.apply(a, d.tok, d.cases(static_cast<std::size_t>(3 * b), 3), d.templates);

  std::map<std::int64_t, std::vector<seqedit::EditId>> cases;
  {
    Model<float> b = Model<float>::load(demo_dir);
    sf::FactEditor fb(b, d.hp, sf::Method::Memit, seqedit::History::Aligned, d.c0);
    for (int k = 0; k < 2; ++k) fb.apply(b, d.tok, d.cases(static_cast<std::size_t>(3 * k), 3), d.templates);
    for (std::size_t i = 0; i < fb.editors().size(); ++i)
      seqedit::io::save_editor_state(work_path("resume_layer" + std::to_string(i) + ".safetensors"), fb.editors()[i]);
    cases = fb.cases();
  }
  Model<float> c = Model<float>::load(demo_dir);
  std::vector<sf::FactEditor::Editor> eds;
  for (std::size_t i = 0; i < d.hp.layers.size(); ++i)
    eds.push_back(seqedit::io::load_editor_state<double>(work_path("resume_layer" + std::to_string(i) + ".safetensors")));
  sf::FactEditor fc(c, d.hp, sf::Method::Memit, std::move(eds), cases);
  for (int k = 2; k < 4; ++k) fc.apply(c, d.tok, d.cases(static_cast<std::size_t>(3 * k), 3), d.templates);
  for (std::size_t i = 0; i < d.hp.layers.size(); ++i) {
    const Eigen::MatrixXd wa = fa.editors()[i].weights(), wc = fc.editors()[i].weights();
    CHECK((wa.array() == wc.array()).all());
    const Eigen::MatrixXf ma = a.ffn_output(d.hp.layers[i]), mc = c.ffn_output(d.hp.layers[i]);
    CHECK((ma.array() == mc.array()).all());
  }
  CHECK(fc.cases().size() == 12);
}

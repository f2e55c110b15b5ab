// Runs of the fact pipeline on the shipped demo model (pipeline.md §6): MEMIT-PRUNE and
// MEMIT-RECT with and without Algorithm 1's compensation against the OTE of each layer's
// journal; the run state (run_state.hpp): resume bit for bit, retraction by case id, a state
// of another checkpoint refused; the edited checkpoint (checkpoint_out.hpp); and
// `seqedit edit-facts` / `retract` / `verify` end to end through the built tool.

#include "seqedit/facts/checkpoint_out.hpp"
#include "seqedit/facts/edit_facts.hpp"
#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/corpus_stats.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/facts/run_state.hpp"
#include "seqedit/facts/stats.hpp"
#include "seqedit/facts/update.hpp"
#include "seqedit/io/checkpoint.hpp"

#include "../support/write_failure.hpp"

#include <catch2/catch.hpp>

#include <Eigen/Cholesky>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
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

  std::vector<sf::SecondMoment> stats;

  Fixture() {
    const Model<float> m = Model<float>::load(model_dir);
    sf::collect_stats(m, tok, sf::read_corpus(model_dir + "/corpus.txt"), hp.layers, stats);
    for (const auto& s : stats) c0.push_back(s.second_moment());
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

namespace fs = std::filesystem;

/// A fresh folder under the work directory.
std::string fresh(const std::string& name) {
  const std::string p = std::string(SEQEDIT_FACTS_WORK_DIR) + "/run/" + name;
  fs::remove_all(p);
  fs::create_directories(fs::path(p).parent_path());
  return p;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// file name → bytes, for every file of a folder.
std::map<std::string, std::string> folder_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = bytes_of(e.path().string());
  return out;
}

/// A copy of the demo checkpoint (its regular files).
std::string copy_of_demo(const std::string& name) {
  const std::string p = fresh(name);
  fs::create_directories(p);
  for (const auto& e : fs::directory_iterator(model_dir))
    if (e.is_regular_file()) fs::copy_file(e.path(), p + "/" + e.path().filename().string());
  return p;
}

/// A statistics folder as `seqedit stats` writes it: one MEMIT-layout npz per edited layer.
std::string stats_folder(const Fixture& f, const std::string& name) {
  const std::string dir = fresh(name);
  fs::create_directories(dir);
  for (std::size_t i = 0; i < f.hp.layers.size(); ++i)
    sf::write_mom2_npz(dir + "/" + sf::mom2_file_name(f.hp.rewrite_module(f.hp.layers[i]), "float32",
                                                       f.stats[i].samples()),
                       f.stats[i]);
  return dir;
}

std::vector<sf::LayerWeights> weights_of(const sf::FactEditor& fe) {
  std::vector<sf::LayerWeights> out;
  for (std::size_t i = 0; i < fe.layers().size(); ++i)
    out.push_back({fe.layers()[i], fe.visit(i, [](const auto& ed) { return Eigen::MatrixXd(ed.weights()); })});
  return out;
}

/// Writes the run's checkpoint into `out` (from `src`) and its state into `state`.
void write_run(const sf::FactEditor& fe, const std::string& src, const std::string& out, const std::string& state,
               const std::vector<std::string>& original) {
  sf::write_edited_checkpoint(src, weights_of(fe), out);
  sf::save_run(state, fe, fixture().templates, sf::fingerprint_checkpoint(out, fe.layers()), original, out);
}

int run_tool(const std::string& args, const std::string& log) {
  const char* cli = std::getenv("SEQEDIT_CLI");
  REQUIRE(cli != nullptr);  // set by CTest (test_facts_run_cli)
  const std::string cmd = std::string(cli) + " " + args + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO(cmd << "\n" << bytes_of(log));
  return rc;
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

TEST_CASE("run state: 4 batches stopped after 2 and resumed from the state give the same checkpoint bytes",
          "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  const std::vector<std::string> original = sf::fingerprint_checkpoint(model_dir, f.hp.layers).hashes;
  std::vector<double> seconds;
  // uninterrupted
  const std::string full = fresh("full");
  {
    Model<float> m = Model<float>::load(model_dir);
    sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
    for (std::size_t b = 0; b < 4; ++b) {
      const auto t0 = std::chrono::steady_clock::now();
      fe.apply(m, f.tok, f.cases(2 * b, 2), f.templates);
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    sf::write_edited_checkpoint(model_dir, weights_of(fe), full);
  }
  // two batches, state saved, then a new model and editor from the state
  const std::string half = fresh("half"), state = fresh("state"), resumed = fresh("resumed");
  {
    Model<float> m = Model<float>::load(model_dir);
    sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
    for (std::size_t b = 0; b < 2; ++b) fe.apply(m, f.tok, f.cases(2 * b, 2), f.templates);
    write_run(fe, model_dir, half, state, original);
  }
  {
    Model<float> m = Model<float>::load(half);
    sf::RunManifest man;
    sf::FactEditor fe = sf::load_run(state, m, half, &f.hp, &man);
    CHECK(man.case_order == std::vector<std::int64_t>{f.requests[0].case_id, f.requests[1].case_id,
                                                       f.requests[2].case_id, f.requests[3].case_id});
    CHECK(man.generation == 1);
    CHECK(man.templates.groups == f.templates.groups);
    for (std::size_t b = 2; b < 4; ++b) fe.apply(m, f.tok, f.cases(2 * b, 2), f.templates);
    CHECK_THROWS_WITH(fe.apply(m, f.tok, f.cases(0, 1), f.templates), Catch::Contains("already applied"));
    write_run(fe, half, resumed, state, man.original);
    CHECK(sf::read_run_manifest(state).generation == 2);
    CHECK(sf::read_run_manifest(state).case_order.size() == 8);
  }
  INFO("seconds per batch of 2 requests: " << seconds[0] << ", " << seconds[1] << ", " << seconds[2] << ", "
                                            << seconds[3]);
  const auto a = folder_bytes(full), b = folder_bytes(resumed), src = folder_bytes(model_dir);
  CHECK(a.size() == src.size());
  for (const auto& kv : src) {
    REQUIRE(a.count(kv.first) == 1);
    REQUIRE(b.count(kv.first) == 1);
    CHECK(a.at(kv.first) == b.at(kv.first));  // bit-identical, every file
    if (kv.first != "model.safetensors") CHECK(a.at(kv.first) == kv.second);
  }
  CHECK(a.at("model.safetensors") != src.at("model.safetensors"));
  // the state folder holds the manifest and one file per layer of the latest generation
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(state)) files += e.path().filename().string() != "manifest.json";
  CHECK(files == f.hp.layers.size());
}

TEST_CASE("run state: retract by case id then re-apply equals never retracted; retracting all restores W0",
          "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  Model<float> ref = Model<float>::load(model_dir);
  sf::FactEditor fr(ref, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fr.apply(ref, f.tok, f.cases(0, 2), f.templates);
  fr.apply(ref, f.tok, f.cases(2, 2), f.templates);

  Model<float> m = Model<float>::load(model_dir);
  sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fe.apply(m, f.tok, f.cases(0, 2), f.templates);
  fe.apply(m, f.tok, f.cases(2, 2), f.templates);
  // through the state: save, reload, retract the second batch, save, reload, re-apply it
  const std::string state = fresh("state_retract"), ck1 = fresh("retract_ck1"), ck2 = fresh("retract_ck2");
  const std::vector<std::string> original = sf::fingerprint_checkpoint(model_dir, f.hp.layers).hashes;
  write_run(fe, model_dir, ck1, state, original);
  {
    Model<float> m1 = Model<float>::load(ck1);
    sf::FactEditor f1 = sf::load_run(state, m1, ck1);
    f1.retract(m1, {f.requests[2].case_id, f.requests[3].case_id});
    CHECK(f1.case_order() == std::vector<std::int64_t>{f.requests[0].case_id, f.requests[1].case_id});
    CHECK_THROWS_WITH(f1.retract(m1, {f.requests[3].case_id}), Catch::Contains("not applied"));
    write_run(f1, ck1, ck2, state, original);
  }
  Model<float> m2 = Model<float>::load(ck2);
  sf::FactEditor f2 = sf::load_run(state, m2, ck2);
  f2.apply(m2, f.tok, f.cases(2, 2), f.templates);
  for (std::size_t i = 0; i < f.hp.layers.size(); ++i) {
    const Eigen::MatrixXd wa = fr.editors()[i].weights(), wb = f2.editors()[i].weights();
    const Eigen::MatrixXd da = fr.editors()[i].cumulative_update();
    const double err = (wa - wb).norm() / da.norm();
    INFO("layer " << f.hp.layers[i] << ": re-applied vs never retracted, ‖ΔW‖/‖D‖ = " << err);
    // the retraction leaves W0 + OTE(first batch) to double round-off (measured 1e-14 to 1e-12);
    // should it flip a last float bit of the model, the second batch's z optimisation would
    // carry that at float round-off, still far below this bound
    CHECK(err < 1e-6);
  }
  // retract every case: the tensors are the original ones, to round-off in the file's dtype
  f2.retract(m2, f2.case_order());
  const std::string ck3 = fresh("retract_ck3");
  sf::write_edited_checkpoint(ck2, weights_of(f2), ck3);
  const seqedit::io::Checkpoint c_orig(model_dir), c_back(ck3);
  for (int l : f.hp.layers) {
    const Eigen::MatrixXf w0 = c_orig.load<float>(c_orig.ffn_output(l)), w = c_back.load<float>(c_back.ffn_output(l));
    const double diff = (w - w0).cwiseAbs().maxCoeff(), scale = w0.cwiseAbs().maxCoeff();
    const std::ptrdiff_t changed = (w.array() != w0.array()).count();
    INFO("layer " << l << " after retracting every case: max |W − W0| = " << diff << " (max |W0| = " << scale
                  << "), " << changed << " of " << w0.size() << " entries not bit-equal");
    CHECK(diff <= 2 * 6e-8 * scale);  // one float32 rounding of W0 + (round-off of D)
  }
}

TEST_CASE("run state: a state of another checkpoint is refused and nothing is written", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  Model<float> m = Model<float>::load(model_dir);
  sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fe.apply(m, f.tok, f.cases(0, 1), f.templates);
  const std::string state = fresh("state_refuse"), ck = fresh("refuse_ck");
  write_run(fe, model_dir, ck, state, sf::fingerprint_checkpoint(model_dir, f.hp.layers).hashes);
  const auto state_before = folder_bytes(state);
  // the unedited checkpoint: its tensors are not the ones the state was written to
  {
    Model<float> m2 = Model<float>::load(model_dir);
    CHECK_THROWS_WITH(sf::load_run(state, m2, model_dir),
                      Catch::Contains("does not belong") && Catch::Contains("unedited tensor"));
  }
  // a checkpoint whose config.json differs
  {
    const std::string other = copy_of_demo("refuse_other");
    for (const auto& e : fs::directory_iterator(ck)) fs::copy_file(e.path(), other + "/" + e.path().filename().string(),
                                                                   fs::copy_options::overwrite_existing);
    std::ofstream(other + "/config.json", std::ios::app) << "\n";
    Model<float> m2 = Model<float>::load(other);
    CHECK_THROWS_WITH(sf::load_run(state, m2, other), Catch::Contains("config.json"));
  }
  // other hyper-parameters than the run's
  {
    Model<float> m2 = Model<float>::load(ck);
    sf::Hparams hp = f.hp;
    hp.v_lr = 0.25;
    CHECK_THROWS_WITH(sf::load_run(state, m2, ck, &hp), Catch::Contains("v_lr"));
    sf::Hparams hl = f.hp;
    hl.layers = {0};
    CHECK_THROWS_WITH(sf::load_run(state, m2, ck, &hl), Catch::Contains("layers"));
  }
  // a layer file replaced by another one
  {
    const sf::RunManifest man = sf::read_run_manifest(state);
    const std::string other_state = fresh("state_swapped");
    fs::copy(state, other_state);
    fs::copy_file(other_state + "/" + man.files[1], other_state + "/" + man.files[0],
                  fs::copy_options::overwrite_existing);
    Model<float> m2 = Model<float>::load(ck);
    CHECK_THROWS_WITH(sf::load_run(other_state, m2, ck), Catch::Contains("checksum"));
  }
  CHECK(folder_bytes(state) == state_before);
  // the state still loads for its own checkpoint
  Model<float> m3 = Model<float>::load(ck);
  CHECK(sf::load_run(state, m3, ck).cases().size() == 1);
}

TEST_CASE("edited checkpoint: --out carries subfolders, follows symbolic links and refuses a folder inside", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  Model<float> m = Model<float>::load(model_dir);
  sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fe.apply(m, f.tok, f.cases(0, 1), f.templates);
  // A snapshot-like folder: tokenizer.json a relative link into a blob folder next to it,
  // and a subfolder with a file of its own.
  const std::string root = fresh("ck_snapshot");
  const std::string ck = root + "/snapshot", blobs = root + "/blobs";
  fs::create_directories(ck + "/extra/deeper");
  fs::create_directories(blobs);
  for (const auto& e : fs::directory_iterator(model_dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "tokenizer.json") {
      fs::copy_file(e.path(), blobs + "/tok-blob");
      fs::create_symlink("../blobs/tok-blob", ck + "/tokenizer.json");
    } else {
      fs::copy_file(e.path(), ck + "/" + name);
    }
  }
  { std::ofstream(ck + "/extra/deeper/notes.txt") << "kept as it is\n"; }
  const std::string out = fresh("ck_snapshot_out");
  sf::write_edited_checkpoint(ck, weights_of(fe), out);
  CHECK(bytes_of(out + "/extra/deeper/notes.txt") == "kept as it is\n");
  CHECK_FALSE(fs::is_symlink(out + "/tokenizer.json"));
  CHECK(bytes_of(out + "/tokenizer.json") == bytes_of(model_dir + "/tokenizer.json"));
  CHECK(bytes_of(out + "/config.json") == bytes_of(model_dir + "/config.json"));
  const seqedit::io::Checkpoint c(out);
  for (std::size_t i = 0; i < f.hp.layers.size(); ++i)
    CHECK(c.stores(c.ffn_output(f.hp.layers[i]), fe.editors()[i].weights()));
  CHECK(fs::is_symlink(ck + "/tokenizer.json"));  // the source is untouched
  // --out inside the checkpoint folder is refused, and nothing is created
  CHECK_THROWS_WITH(sf::write_edited_checkpoint(ck, weights_of(fe), ck + "/edited"), Catch::Contains("inside"));
  CHECK_FALSE(fs::exists(ck + "/edited"));
}

TEST_CASE("edited checkpoint: --out is complete and the source unchanged; in place equals it", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  Model<float> m = Model<float>::load(model_dir);
  sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fe.apply(m, f.tok, f.cases(0, 1), f.templates);
  const auto src_before = folder_bytes(model_dir);
  const std::string out = fresh("ck_out");
  sf::write_edited_checkpoint(model_dir, weights_of(fe), out);
  CHECK(folder_bytes(model_dir) == src_before);
  const auto o = folder_bytes(out);
  CHECK(o.size() == src_before.size());
  for (const auto& kv : src_before)
    if (kv.first != "model.safetensors") CHECK(o.at(kv.first) == kv.second);
  CHECK_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));
  // the new tensors hold W rounded once to float; every other tensor is unchanged
  const seqedit::io::Checkpoint c(out), c0(model_dir);
  for (std::size_t i = 0; i < f.hp.layers.size(); ++i)
    CHECK(c.stores(c.ffn_output(f.hp.layers[i]), fe.editors()[i].weights()));
  {
    const seqedit::io::SafetensorsFile a(out + "/model.safetensors"), b(model_dir + "/model.safetensors");
    std::set<std::string> edited;
    for (int l : f.hp.layers) edited.insert(c.ffn_output(l).tensor);
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (const auto& t : b.tensors())
      if (!edited.count(t.name)) CHECK(a.read_raw(t.name) == b.read_raw(t.name));
  }
  // an existing --out is refused
  CHECK_THROWS_WITH(sf::write_edited_checkpoint(model_dir, weights_of(fe), out), Catch::Contains("exists"));
  // in place, on a copy: the same bytes as --out
  const std::string copy = copy_of_demo("ck_inplace");
  sf::write_edited_checkpoint(copy, weights_of(fe), "");
  CHECK(folder_bytes(copy) == o);
  // a wrong shape: nothing written
  std::vector<sf::LayerWeights> bad = weights_of(fe);
  bad[1].weights = Eigen::MatrixXd::Zero(3, 3);
  CHECK_THROWS_WITH(sf::write_edited_checkpoint(copy, bad, ""), Catch::Contains("W is 3 x 3"));
  CHECK(folder_bytes(copy) == o);
}

TEST_CASE("a write that fails leaves the checkpoint and the previous state intact", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  Model<float> m = Model<float>::load(model_dir);
  sf::FactEditor fe(m, f.hp, sf::Method::Memit, seqedit::History::Aligned, f.c0);
  fe.apply(m, f.tok, f.cases(0, 1), f.templates);
  const std::string copy = copy_of_demo("fail_inplace"), out = fresh("fail_out"), state = fresh("fail_state");
  const auto before = folder_bytes(copy);
  const std::vector<std::string> original = sf::fingerprint_checkpoint(model_dir, f.hp.layers).hashes;
  {
    const seqedit_test::ScopedWriteFailure fail(100000);  // within the 1.5 MB shard
    CHECK_THROWS_AS(sf::write_edited_checkpoint(copy, weights_of(fe), ""), seqedit::io::io_error);
    CHECK_THROWS_AS(sf::write_edited_checkpoint(copy, weights_of(fe), out), seqedit::io::io_error);
  }
  CHECK(folder_bytes(copy) == before);  // no temporary file left either
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));
  // a state save that fails: the previous generation stays complete and loads
  sf::write_edited_checkpoint(copy, weights_of(fe), "");
  sf::save_run(state, fe, f.templates, sf::fingerprint_checkpoint(copy, fe.layers()), original, copy);
  const auto state_before = folder_bytes(state);
  fe.apply(m, f.tok, f.cases(1, 1), f.templates);
  {
    const seqedit_test::ScopedWriteFailure fail(1000);
    CHECK_THROWS_AS(sf::save_run(state, fe, f.templates, sf::fingerprint_checkpoint(copy, fe.layers()), original, copy),
                    seqedit::io::io_error);
  }
  CHECK(folder_bytes(state) == state_before);
  Model<float> m2 = Model<float>::load(copy);
  CHECK(sf::load_run(state, m2, copy).cases().size() == 1);
}

namespace run_test {

/// edit_facts options for aligned MEMIT on the demo model, one request per batch, cases
/// [first, last]; no state and no output yet.
sf::EditFactsOptions memit_run(const std::string& stats, std::int64_t first, std::int64_t last) {
  sf::EditFactsOptions o;
  o.model = model_dir;
  o.requests = model_dir + "/requests.json";
  o.hparams = model_dir + "/../demo_hparams.json";
  o.stats = stats;
  o.method = "memit";
  o.batch = 1;
  o.cases = std::make_pair(first, last);
  return o;
}

}  // namespace run_test

TEST_CASE("edit_facts / retract_facts / verify_run: a run in two calls, a stop from the log, exact retraction", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  const std::string stats = stats_folder(f, "lib_stats");
  const std::int64_t c0 = f.requests[0].case_id;
  sf::EditFactsOptions o = memit_run(stats, c0, c0 + 1);
  o.state = fresh("lib_state");
  o.out = fresh("lib_out1");
  std::vector<std::string> lines;
  const sf::EditFactsResult r1 = sf::edit_facts(o, [&](const std::string& l) { lines.push_back(l); });
  CHECK(r1.requests == 2);
  CHECK(r1.batches == 2);
  CHECK(r1.cases_in_run == 2);
  CHECK(r1.layers == f.hp.layers);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("batch 2/2", 0) == 0; }) == 1);
  // a log that throws at the first request of the next call stops it: nothing written
  const auto state_before = folder_bytes(o.state);
  sf::EditFactsOptions o2 = o;
  o2.model = o.out;
  o2.cases = std::make_pair(c0 + 2, c0 + 3);
  o2.out = fresh("lib_out2");
  struct Stop {};
  CHECK_THROWS_AS(sf::edit_facts(o2, [](const std::string& l) { if (l.find("request") != std::string::npos) throw Stop(); }),
                  Stop);
  CHECK_FALSE(fs::exists(o2.out));
  CHECK(folder_bytes(o.state) == state_before);
  const sf::EditFactsResult r2 = sf::edit_facts(o2);
  CHECK(r2.cases_in_run == 4);
  // every layer against the one-time solution of its journal
  const sf::VerifyRunResult v = sf::verify_run(o.state);
  CHECK(v.ok);
  REQUIRE(v.layers.size() == f.hp.layers.size());
  for (const sf::LayerVerification& l : v.layers) {
    CHECK(l.live_edits == 4);
    CHECK(l.deviation <= 1e-8);
  }
  // retracting every case: the original tensors up to one float rounding
  sf::RetractFactsOptions rt;
  rt.state = o.state;
  rt.cases = {c0, c0 + 1, c0 + 2, c0 + 3};
  rt.out = fresh("lib_out3");
  const sf::RetractFactsResult rr = sf::retract_facts(rt);
  CHECK(rr.retracted == 4);
  CHECK(rr.remaining == 0);
  const seqedit::io::Checkpoint a(rt.out), b(model_dir);
  for (int l : f.hp.layers) {
    const Eigen::MatrixXd wa = a.load<double>(a.ffn_output(l)), wb = b.load<double>(b.ffn_output(l));
    CHECK((wa - wb).cwiseAbs().maxCoeff() <= 4 * double(std::numeric_limits<float>::epsilon()) * wb.cwiseAbs().maxCoeff());
  }
  // options refused before anything is read
  sf::EditFactsOptions bad = o;
  bad.preset = "gpt2-xl";
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("exactly one of --hparams or --preset"));
  bad = o;
  bad.history = "sometimes";
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("--history"));
  bad = o;
  bad.batch = 0;
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("--batch"));
  CHECK_THROWS_WITH(sf::find_stats_file(stats, "no.such.module", "float32"), Catch::Contains("no file"));
}

TEST_CASE("edit_facts --save-every: a run stopped after a save keeps it, and resumed with --skip-applied it "
          "writes the bytes of the run without the stop", "[facts][run]") {
  using namespace run_test;
  const Fixture& f = fixture();
  const std::string stats = stats_folder(f, "save_stats");
  const std::int64_t c0 = f.requests[0].case_id;
  const sf::EditFactsOptions o = memit_run(stats, c0, c0 + 3);
  // without a stop, one write at the end
  sf::EditFactsOptions whole = o;
  whole.state = fresh("save_state_whole");
  whole.out = fresh("save_out_whole");
  const sf::EditFactsResult rw = sf::edit_facts(whole);
  CHECK(rw.saves == 1);
  // saved after batch 2, stopped by the log at batch 3: the save holds 2 cases
  sf::EditFactsOptions first = o;
  first.save_every = 2;
  first.state = fresh("save_state");
  first.out = fresh("save_out");
  struct Stop {};
  std::vector<std::string> lines;
  CHECK_THROWS_AS(sf::edit_facts(first,
                                 [&](const std::string& l) {
                                   lines.push_back(l);
                                   if (l.rfind("batch 3/4", 0) == 0) throw Stop();
                                 }),
                  Stop);
  CHECK(std::count_if(lines.begin(), lines.end(),
                      [](const std::string& l) { return l.rfind("checkpoint written", 0) == 0; }) == 1);
  REQUIRE(fs::exists(first.out));
  const sf::VerifyRunResult v2 = sf::verify_run(first.state);
  CHECK(v2.ok);
  for (const sf::LayerVerification& l : v2.layers) CHECK(l.live_edits == 2);
  // the same request range again, on the folder written, in place: the two applied are refused ...
  sf::EditFactsOptions resume = o;
  resume.model = first.out;
  resume.in_place = true;
  resume.state = first.state;
  resume.save_every = 2;
  CHECK_THROWS_WITH(sf::edit_facts(resume), Catch::Contains("already applied") && Catch::Contains("--skip-applied"));
  // ... or skipped
  resume.skip_applied = true;
  const sf::EditFactsResult rr = sf::edit_facts(resume);
  CHECK(rr.skipped == 2);
  CHECK(rr.requests == 2);
  CHECK(rr.cases_in_run == 4);
  const auto a = folder_bytes(whole.out), b = folder_bytes(first.out);
  CHECK(a.size() == b.size());
  for (const auto& [name, bytes] : a) {
    INFO(name);
    REQUIRE(b.count(name) == 1);
    CHECK(b.at(name) == bytes);
  }
  const sf::VerifyRunResult v4 = sf::verify_run(first.state);
  CHECK(v4.ok);
  for (const sf::LayerVerification& l : v4.layers) CHECK(l.live_edits == 4);
  // refused options
  sf::EditFactsOptions bad = o;
  bad.out = fresh("save_bad");
  bad.save_every = 1;
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("--save-every needs --state"));
  bad.save_every = -1;
  bad.state = fresh("save_bad_state");
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("--save-every must be >= 0"));
  bad.save_every = 0;
  bad.state.clear();
  bad.skip_applied = true;
  CHECK_THROWS_WITH(sf::edit_facts(bad), Catch::Contains("--skip-applied needs --state"));
  CHECK_FALSE(fs::exists(bad.out));
}

// Run by CTest as its own entry (test_facts_run_cli) with SEQEDIT_CLI set to the built tool.
TEST_CASE("seqedit edit-facts / retract / verify end to end", "[.run_cli]") {
  using namespace run_test;
  const Fixture& f = fixture();
  const std::string stats = stats_folder(f, "cli_stats");
  const std::string common = "edit-facts --requests " + model_dir + "/requests.json --hparams " + model_dir +
                             "/../demo_hparams.json --stats " + stats + " --method memit --batch 1";
  const std::string log = fresh("cli.log");
  const std::int64_t c0 = f.requests[0].case_id, c3 = f.requests[3].case_id;
  REQUIRE(c3 - c0 == 3);
  const std::string range = std::to_string(c0) + "-" + std::to_string(c3);
  const std::string first_half = std::to_string(c0) + "-" + std::to_string(c0 + 1);
  const std::string second_half = std::to_string(c0 + 2) + "-" + std::to_string(c3);
  // uninterrupted: 4 batches of 1
  const std::string outA = fresh("cli_outA"), stA = fresh("cli_stateA");
  REQUIRE(run_tool(common + " --model " + model_dir + " --cases " + range + " --state " + stA + " --out " + outA, log) == 0);
  CHECK(bytes_of(log).find("batch 4/4") != std::string::npos);
  CHECK(bytes_of(log).find("layer 1 (2/2)") != std::string::npos);
  // two batches, then two more from the state, in place on the first call's output
  const std::string outB = fresh("cli_outB"), stB = fresh("cli_stateB");
  REQUIRE(run_tool(common + " --model " + model_dir + " --cases " + first_half + " --state " + stB + " --out " + outB, log) == 0);
  const auto stB_before = folder_bytes(stB);
  // refused: the unedited checkpoint does not belong to the state; nothing written
  const std::string outX = fresh("cli_outX");
  CHECK(run_tool(common + " --model " + model_dir + " --cases " + second_half + " --state " + stB + " --out " + outX, log) != 0);
  CHECK(bytes_of(log).find("does not belong") != std::string::npos);
  CHECK_FALSE(fs::exists(outX));
  CHECK(folder_bytes(stB) == stB_before);
  // refused: a case already applied
  const auto outB_before = folder_bytes(outB);
  CHECK(run_tool(common + " --model " + outB + " --cases " + std::to_string(c0 + 1) + "-" + std::to_string(c0 + 2) +
                     " --state " + stB + " --in-place", log) != 0);
  CHECK(bytes_of(log).find("already applied") != std::string::npos);
  CHECK(folder_bytes(outB) == outB_before);
  REQUIRE(run_tool(common + " --model " + outB + " --cases " + second_half + " --state " + stB + " --in-place", log) == 0);
  CHECK(bytes_of(outA + "/model.safetensors") == bytes_of(outB + "/model.safetensors"));
  // verify every layer of the run
  REQUIRE(run_tool("verify --state " + stB, log) == 0);
  CHECK(bytes_of(log).find("layer 0: 4 live edits") != std::string::npos);
  // retract every case into a new folder: the original tensors to float round-off
  const std::string outR = fresh("cli_outR");
  REQUIRE(run_tool("retract --state " + stB + " --cases " + std::to_string(c0) + " " + std::to_string(c0 + 1) + " " +
                       std::to_string(c0 + 2) + " " + std::to_string(c3) + " --out " + outR, log) == 0);
  const seqedit::io::Checkpoint co(model_dir), cr(outR);
  for (int l : f.hp.layers) {
    const Eigen::MatrixXf w0 = co.load<float>(co.ffn_output(l)), w = cr.load<float>(cr.ffn_output(l));
    CHECK((w - w0).cwiseAbs().maxCoeff() <= 2 * 6e-8 * w0.cwiseAbs().maxCoeff());
  }
  CHECK(sf::read_run_manifest(stB).case_order.empty());
  // a run state needs --cases for retract
  CHECK(run_tool("retract --state " + stB + " --ids 1 --layer 0 --in-place", log) != 0);
}

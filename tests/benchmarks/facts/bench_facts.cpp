// Benchmark of the fact pipeline on one checkpoint (run by bench_facts.py, which also times the
// PyTorch computation of the tests on the same weights, tokens and hyper-parameters):
//
//   bench_facts <checkpoint dir> <demo model dir> <hparams.json> <requests.json> <corpus.txt>
//               <requests> <rows.json out> <times.json out> <corpus ids out>
//
// The tokenizer and the context templates (greedy, pipeline.md §3) are the demo model's, for
// either checkpoint.
//
// For each of the first <requests> requests, on the unedited model, with the wall-clock and
// the process CPU seconds of each phase (pipeline.md §4–§7):
//   keys         compute_keys at the first edited layer (every context template)
//   z            compute_z at the last edited layer, cached prefix (the default)
//   z_full       compute_z recomputing every pass from the embeddings, as MEMIT does
//   edit         FactEditor::apply of the request (z, then keys, residual and solve per layer)
//   update       edit − z: the multi-layer update alone
// and collect_stats over the corpus at every edited layer (tokens/s). C0 is the identity of
// d_k (the timing of the solves does not depend on its values). rows.json gets the token rows
// of each request for the PyTorch side (as the pipeline tests build them), the corpus ids the
// tokens of each text (special tokens included, truncated to the position limit).

#include <seqedit/facts/context_templates.hpp>
#include <seqedit/facts/corpus_stats.hpp>
#include <seqedit/facts/hparams.hpp>
#include <seqedit/facts/keys.hpp>
#include <seqedit/facts/requests.hpp>
#include <seqedit/facts/subject.hpp>
#include <seqedit/facts/update.hpp>
#include <seqedit/facts/values.hpp>
#include <seqedit/model/model.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace sf = seqedit::facts;
using seqedit::model::Model;

namespace {

struct Timing {
  double wall = 0, cpu = 0;
};

Timing timed(const std::function<void()>& f) {
  const auto w0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  f();
  Timing t;
  t.cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  return t;
}

nlohmann::json to_json(const Timing& t) { return {{"wall", t.wall}, {"cpu", t.cpu}}; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 10) {
    std::cerr << "usage: bench_facts CKPT DEMO_DIR HPARAMS REQUESTS CORPUS N ROWS_OUT TIMES_OUT IDS_OUT\n";
    return 2;
  }
  try {
    const std::string ckpt = argv[1];
    const auto tok = seqedit::text::Tokenizer::from_checkpoint(argv[2]);
    const sf::Hparams hp = sf::read_hparams(argv[3]);
    const sf::ContextTemplates templates = sf::generate_context_templates(Model<float>::load(argv[2]), tok);
    const std::vector<sf::Request> all = sf::read_requests(argv[4]);
    const std::vector<std::string> corpus = sf::read_corpus(argv[5]);
    const std::size_t n = std::stoul(argv[6]);
    const int L = hp.layers.back(), l1 = hp.layers.front();
    const Model<float> base = Model<float>::load(ckpt);
    const int dk = base.config().d_ff;
    std::vector<Eigen::MatrixXd> c0(hp.layers.size(), Eigen::MatrixXd::Identity(dk, dk));

    nlohmann::json rows = nlohmann::json::array(), times = nlohmann::json::array();
    for (std::size_t i = 0; i < n && i < all.size(); ++i) {
      const sf::Request& r = all[i];
      nlohmann::json spec;
      spec["layer"] = L;
      spec["key_layer"] = l1;
      spec["layers"] = hp.layers;
      spec["target"] = sf::encode_continuation(tok, r.target_new);
      for (const std::string& t : templates.flat()) {
        const sf::SubjectPrompt p = sf::encode_subject_prompt(tok, sf::format_template(t, r.prompt), r.subject);
        spec["rows"].push_back({{"ids", p.ids}, {"s", p.subject_last}});
      }
      const sf::SubjectPrompt kl = sf::encode_subject_prompt(tok, "{} is a", r.subject);
      spec["kl"] = {{"ids", kl.ids}, {"s", kl.subject_last}};
      const sf::SubjectPrompt bare = sf::encode_subject_prompt(tok, r.prompt, r.subject);
      spec["bare"] = {{"ids", bare.ids}, {"s", bare.subject_last}};
      for (const auto& g : templates.groups) spec["groups"].push_back(g.size());
      spec["hparams"] = {{"v_num_grad_steps", hp.v_num_grad_steps}, {"v_lr", hp.v_lr},
                         {"v_weight_decay", hp.v_weight_decay}, {"kl_factor", hp.kl_factor},
                         {"clamp_norm_factor", hp.clamp_norm_factor},
                         {"mom2_update_weight", hp.mom2_update_weight}};
      rows.push_back(spec);

      nlohmann::json t;
      t["case_id"] = r.case_id;
      t["keys"] = to_json(timed([&] { (void)sf::compute_keys(base, tok, {r}, l1, templates); }));
      int iters = 0;
      const Timing z = timed([&] { iters = sf::compute_z(base, tok, r, L, hp, templates, true).iterations; });
      t["z"] = to_json(z);
      t["z_iterations"] = iters;
      t["z_full"] = to_json(timed([&] { (void)sf::compute_z(base, tok, r, L, hp, templates, false); }));
      Model<float> m = Model<float>::load(ckpt);
      sf::FactEditor fe(m, hp, sf::Method::Memit, seqedit::History::Aligned, c0);
      const Timing edit = timed([&] { fe.apply(m, tok, {r}, templates); });
      t["edit"] = to_json(edit);
      t["update"] = to_json(Timing{edit.wall - z.wall, edit.cpu - z.cpu});
      std::cerr << "request " << r.case_id << ": keys " << t["keys"] << " z " << z.wall << " s (" << iters
                << " iterations), z_full " << t["z_full"] << ", edit " << edit.wall << " s\n";
      times.push_back(t);
    }
    std::vector<sf::SecondMoment> st;
    std::size_t tokens = 0;
    sf::StatsOptions so;
    so.max_tokens = 1 << 30;
    const Timing stats = timed([&] { (void)sf::collect_stats(base, tok, corpus, hp.layers, st, so); });
    tokens = static_cast<std::size_t>(st.at(0).count());
    nlohmann::json out = {{"requests", times}, {"stats", {{"tokens", tokens}, {"layers", hp.layers}, {"wall", stats.wall}, {"cpu", stats.cpu}}}};
    nlohmann::json ids = nlohmann::json::array();
    for (const std::string& text : corpus) {
      std::vector<std::int32_t> t = tok.encode_ids(text, true);
      if (static_cast<int>(t.size()) > base.config().max_positions)
        t.resize(static_cast<std::size_t>(base.config().max_positions));
      if (!t.empty()) ids.push_back(t);
    }
    std::ofstream(argv[7]) << rows.dump();
    std::ofstream(argv[8]) << out.dump(1);
    std::ofstream(argv[9]) << ids.dump();
    std::cerr << "stats: " << tokens << " tokens in " << stats.wall << " s\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_facts: " << e.what() << "\n";
    return 1;
  }
}

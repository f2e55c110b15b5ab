// Evaluation on the shipped demo model (pipeline.md §8): teacher-forced candidates, CounterFact
// scores with their accuracy variants and zsRE token accuracy against an independent PyTorch
// computation (tests/facts/torch_eval.py), a case checkable by hand, batching, bad input, and
// the `seqedit eval` tool's JSON against the library.

#include "seqedit/facts/corpus_stats.hpp"
#include "seqedit/facts/evaluate.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/facts/subject.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace sf = seqedit::facts;
using seqedit::model::Model;
using seqedit::text::Tokenizer;

namespace {

const std::string eval_demo_dir = SEQEDIT_FACTS_DEMO_MODEL;

std::string eval_work(const std::string& name) { return std::string(SEQEDIT_FACTS_WORK_DIR) + "/" + name; }

using TokenPairs = std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>;

/// The demo's CounterFact requests 0..n−1, every other one with new and true swapped, so that
/// the unedited model succeeds on about half of them.
std::vector<sf::Request> mixed_counterfact(std::size_t n) {
  std::vector<sf::Request> r = sf::read_counterfact(eval_demo_dir + "/requests.json");
  r.resize(n);
  for (std::size_t i = 0; i < n; i += 2) std::swap(r[i].target_new, r[i].target_true);
  return r;
}

/// A zsRE file (MEMIT's layout) from the demo's requests: src = the formatted prompt, answers =
/// [target_new] on every other record and [target_true] on the others (so about half the
/// rewrites are what the model already says), `alt` (ignored by the reader) = the other one,
/// rephrase = the first paraphrase, loc = the next request's prompt and loc_ans its true answer.
std::string write_zsre(std::size_t n) {
  const std::vector<sf::Request> r = sf::read_counterfact(eval_demo_dir + "/requests.json");
  nlohmann::json doc = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) {
    nlohmann::json rec = {{"src", r[i].formatted()},
                          {"subject", r[i].subject},
                          {"answers", {i % 2 == 1 ? r[i].target_new : r[i].target_true}},
                          {"rephrase", r[i].paraphrase_prompts.at(0)},
                          {"loc", "nq question: " + r[i + 1].formatted()},
                          {"loc_ans", r[i + 1].target_true}};
    rec["alt"] = i % 2 == 1 ? r[i].target_true : r[i].target_new;
    doc.push_back(rec);
  }
  const std::string path = eval_work("eval_zsre.json");
  std::ofstream(path) << doc.dump(1);
  return path;
}

std::vector<std::int32_t> prompt_ids(const Tokenizer& tok, const std::string& p) { return tok.encode_ids(p, true); }

nlohmann::json run_torch_eval(const nlohmann::json& spec) {
  const std::string in = eval_work("torch_eval_in.json"), out = eval_work("torch_eval_out.json");
  std::ofstream(in) << spec.dump();
  const std::string cmd = std::string(SEQEDIT_FACTS_PYTHON) + " " + SEQEDIT_FACTS_TEST_DIR + "/torch_eval.py " +
                          eval_demo_dir + " " + in + " " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream f(out);
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("token accuracy by hand: the model's own greedy continuation, and its last token changed",
          "[facts][eval]") {
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  const std::vector<std::int32_t> p = prompt_ids(tok, "The capital of Kalomir is");
  // greedy: each next token is the argmax after the tokens so far
  std::vector<std::int32_t> g;
  for (int j = 0; j < 3; ++j) {
    std::vector<std::int32_t> probe = g;
    probe.push_back(0);
    g.push_back(sf::score_candidate_tokens(m, {{p, probe}})[0].argmax.back());
  }
  std::vector<std::int32_t> changed = g;
  changed[2] = g[2] == 1 ? 2 : 1;
  const std::vector<sf::CandidateScore> s = sf::score_candidate_tokens(m, {{p, g}, {p, changed}});
  INFO("greedy continuation " << g[0] << " " << g[1] << " " << g[2] << "; NLL " << s[0].nll << ", changed " << s[1].nll);
  CHECK(s[0].argmax == g);
  CHECK(s[0].correct() == 3);
  CHECK(s[0].all_correct());
  CHECK(s[0].token_accuracy() == 1.0);
  // the first two tokens are unchanged, so are their argmaxes; the third is not the argmax
  CHECK(s[1].argmax[0] == g[0]);
  CHECK(s[1].argmax[1] == g[1]);
  CHECK(s[1].argmax[2] == g[2]);
  CHECK(s[1].correct() == 2);
  CHECK_FALSE(s[1].all_correct());
  CHECK(s[1].token_accuracy() == Approx(2.0 / 3.0).epsilon(1e-15));
  CHECK(s[1].nll > s[0].nll - 1e-6);  // the argmax is the most likely token, position by position
}

TEST_CASE("zsRE accuracy by hand: two requests, one fully right and one with its last token wrong",
          "[facts][eval]") {
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  const std::vector<sf::Request> all = sf::read_counterfact(eval_demo_dir + "/requests.json");
  // a request whose true answer the model reproduces token by token, and a two-token wrong tail
  sf::Request good = all[0], bad = all[0];
  good.target_new = good.target_true;
  good.paraphrase_prompts.clear();
  good.neighborhood_prompts.clear();
  const sf::CandidateScore g = sf::score_candidates(m, tok, {{good.formatted(), good.target_new}})[0];
  REQUIRE(g.all_correct());
  bad = good;
  bad.target_new = good.target_new + " " + good.target_new;  // its tokens twice
  const sf::CandidateScore b = sf::score_candidates(m, tok, {{bad.formatted(), bad.target_new}})[0];
  INFO("good: " << g.tokens.size() << " tokens; bad: " << b.correct() << " of " << b.tokens.size() << " correct");
  REQUIRE(b.tokens.size() == 2 * g.tokens.size());
  const double expect = 100.0 * (1.0 + static_cast<double>(b.correct()) / static_cast<double>(b.tokens.size())) / 2.0;
  const sf::ZsreScores z = sf::evaluate_zsre(m, tok, {good, bad});
  CHECK(z.requests == 2);
  CHECK(z.paraphrase_requests == 0);
  CHECK(z.neighborhood_requests == 0);
  CHECK(z.rewrite == Approx(expect).epsilon(1e-14));
  CHECK(b.correct() >= static_cast<int>(g.tokens.size()));  // its first half is the good answer
  CHECK(z.rewrite < 100.0);
}

TEST_CASE("candidates, CounterFact scores and zsRE accuracy agree with an independent PyTorch evaluation",
          "[facts][eval][torch]") {
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  const std::vector<sf::Request> cf = mixed_counterfact(24);
  const std::vector<sf::Request> zs = sf::read_zsre(write_zsre(24));
  REQUIRE(zs.size() == 24);

  nlohmann::json spec;
  spec["pairs"] = nlohmann::json::array();
  TokenPairs pairs;
  for (const sf::Request& r : cf) {
    for (const std::string* c : {&r.target_new, &r.target_true})
      pairs.push_back({prompt_ids(tok, r.formatted()), sf::encode_continuation(tok, *c)});
  }
  for (const auto& pc : pairs) spec["pairs"].push_back({pc.first, pc.second});
  auto ids_list = [&](const std::vector<std::string>& ps) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& p : ps) a.push_back(prompt_ids(tok, p));
    return a;
  };
  for (const sf::Request& r : cf)
    spec["counterfact"].push_back({{"rewrite", prompt_ids(tok, r.formatted())},
                                   {"paraphrase", ids_list(r.paraphrase_prompts)},
                                   {"neighborhood", ids_list(r.neighborhood_prompts)},
                                   {"new", sf::encode_continuation(tok, r.target_new)},
                                   {"true", sf::encode_continuation(tok, r.target_true)}});
  for (const sf::Request& r : zs)
    spec["zsre"].push_back({{"rewrite", prompt_ids(tok, r.formatted())},
                            {"paraphrase", ids_list(r.paraphrase_prompts)},
                            {"neighborhood", ids_list(r.neighborhood_prompts)},
                            {"new", sf::encode_continuation(tok, r.target_new)},
                            {"loc_ans", sf::encode_continuation(tok, r.neighborhood_answer)}});
  const nlohmann::json ref = run_torch_eval(spec);

  // candidates: NLL to float32 round-off, the same argmax everywhere
  const std::vector<sf::CandidateScore> s = sf::score_candidate_tokens(m, pairs);
  double worst_nll = 0;
  int argmax_differ = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double r = ref["pairs"][i]["nll"].get<double>();
    worst_nll = std::max(worst_nll, std::abs(s[i].nll - r) / std::max(1.0, std::abs(r)));
    argmax_differ += s[i].argmax == ref["pairs"][i]["argmax"].get<std::vector<std::int32_t>>() ? 0 : 1;
  }
  const sf::CounterFactScores c = sf::evaluate_counterfact(m, tok, cf);
  const sf::ZsreScores z = sf::evaluate_zsre(m, tok, zs);
  const nlohmann::json& rc = ref["counterfact"];
  const nlohmann::json& rz = ref["zsre"];
  const double mag_err = std::max({std::abs(c.efficacy_magnitude - rc["efficacy_magnitude"].get<double>()),
                                   std::abs(c.paraphrase_magnitude - rc["paraphrase_magnitude"].get<double>()),
                                   std::abs(c.neighborhood_magnitude - rc["neighborhood_magnitude"].get<double>())});
  INFO("max relative NLL difference " << worst_nll << "; pairs with another argmax " << argmax_differ
                                      << "; CounterFact efficacy " << c.efficacy << " (torch " << rc["efficacy"]
                                      << "), paraphrase " << c.paraphrase << ", neighbourhood " << c.neighborhood
                                      << ", accuracies " << c.efficacy_accuracy << " / " << c.paraphrase_accuracy
                                      << " / " << c.neighborhood_accuracy << "; magnitude difference " << mag_err
                                      << "; zsRE " << z.rewrite << " / " << z.paraphrase << " / " << z.neighborhood
                                      << " (torch " << rz["rewrite"] << " / " << rz["paraphrase"] << " / "
                                      << rz["neighborhood"] << ")");
  CHECK(worst_nll < 1e-5);
  CHECK(argmax_differ == 0);
  // success rates and accuracies are counts: equal (their means summed in another order)
  CHECK(c.requests == rc["requests"].get<int>());
  for (const auto& [mine, name] : std::vector<std::pair<double, std::string>>{
           {c.efficacy, "efficacy"}, {c.paraphrase, "paraphrase"}, {c.neighborhood, "neighborhood"},
           {c.efficacy_accuracy, "efficacy_accuracy"}, {c.paraphrase_accuracy, "paraphrase_accuracy"},
           {c.neighborhood_accuracy, "neighborhood_accuracy"}, {c.score, "score"}}) {
    INFO(name);
    CHECK(mine == Approx(rc[name].get<double>()).epsilon(1e-12).margin(1e-12));
  }
  // magnitudes: differences of probabilities ×100, float32 round-off of the NLLs
  CHECK(mag_err < 1e-4);
  CHECK(z.requests == rz["requests"].get<int>());
  CHECK(z.rewrite == Approx(rz["rewrite"].get<double>()).epsilon(1e-12).margin(1e-12));
  CHECK(z.paraphrase == Approx(rz["paraphrase"].get<double>()).epsilon(1e-12).margin(1e-12));
  CHECK(z.neighborhood == Approx(rz["neighborhood"].get<double>()).epsilon(1e-12).margin(1e-12));
  // the cases are not degenerate: both outcomes occur
  CHECK(c.efficacy > 10);
  CHECK(c.efficacy < 90);
  CHECK(z.rewrite > 10);
  CHECK(z.rewrite < 90);
}

TEST_CASE("candidate scores do not depend on how the pairs are split into passes", "[facts][eval]") {
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  TokenPairs pairs;
  std::size_t shared = 0;  // pairs whose pass sequence equals the previous pair's: one prompt in a pass
  for (const sf::Request& r : mixed_counterfact(10))
    for (const std::string& p : r.neighborhood_prompts) {
      const std::vector<std::int32_t> ids = prompt_ids(tok, p), t = sf::encode_continuation(tok, r.target_true),
                                      n = sf::encode_continuation(tok, r.target_new);
      pairs.push_back({ids, t});
      pairs.push_back({ids, n});
      shared += (t.size() == 1 && n.size() == 1) ? 1 : 0;
    }
  REQUIRE(shared > 0);
  // one pair per pass (nothing shared) against one pass for all (one-token candidates share)
  const std::vector<sf::CandidateScore> one = sf::score_candidate_tokens(m, pairs, 1);
  const std::vector<sf::CandidateScore> all = sf::score_candidate_tokens(m, pairs, 1u << 20);
  REQUIRE(one.size() == all.size());
  double worst = 0;
  for (std::size_t i = 0; i < one.size(); ++i) {
    worst = std::max(worst, std::abs(one[i].nll - all[i].nll));
    CHECK(one[i].argmax == all[i].argmax);
  }
  INFO(pairs.size() << " pairs, " << shared << " sharing a prompt; max NLL difference " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("evaluation refuses bad input with the reason", "[facts][eval]") {
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  CHECK_THROWS_WITH(sf::score_candidate_tokens(m, {{{}, {1}}}), Catch::Contains("prefix has no tokens"));
  CHECK_THROWS_WITH(sf::score_candidate_tokens(m, {{{1}, {}}}), Catch::Contains("candidate has no tokens"));
  CHECK_THROWS_WITH(sf::score_candidate_tokens(m, {{{1}, {m.config().vocab_size}}}), Catch::Contains("outside the vocabulary"));
  CHECK_THROWS_WITH(sf::score_candidate_tokens(m, {{{-1}, {2}}}), Catch::Contains("outside the vocabulary"));
  const std::vector<std::int32_t> longp(static_cast<std::size_t>(m.config().max_positions), 1);
  CHECK_THROWS_WITH(sf::score_candidate_tokens(m, {{longp, {1, 2}}}), Catch::Contains("exceed the model's"));
  CHECK_THROWS_WITH(sf::score_candidates(m, tok, {{"The", ""}}), Catch::Contains("empty continuation"));
  CHECK_THROWS_WITH(sf::perplexity(m, tok, {"", "a"}), Catch::Contains("no text has two tokens"));
  CHECK(sf::evaluate_zsre(m, tok, {}).requests == 0);
  CHECK(sf::evaluate_counterfact(m, tok, {}).requests == 0);
}

// Run by CTest as its own entry (test_facts_eval_cli) with SEQEDIT_CLI set to the built tool.
TEST_CASE("seqedit eval: its JSON holds the library's numbers", "[.eval_cli]") {
  const char* cli = std::getenv("SEQEDIT_CLI");
  REQUIRE(cli != nullptr);  // the tool must be there: this test never skips
  const Model<float> m = Model<float>::load(eval_demo_dir);
  const Tokenizer tok = Tokenizer::from_checkpoint(eval_demo_dir);
  const std::string q = "'";
  auto run = [&](const std::string& args) {
    const std::string cmd = q + cli + q + " eval --model " + q + eval_demo_dir + q + " " + args + " > " +
                            q + eval_work("eval_cli_stdout.txt") + q + " 2> " + q + eval_work("eval_cli_stderr.txt") + q;
    return std::system(cmd.c_str());
  };
  auto read_json = [](const std::string& path) {
    std::ifstream f(path);
    REQUIRE(f);
    return nlohmann::json::parse(f);
  };
  auto stderr_text = [&]() {
    std::ifstream f(eval_work("eval_cli_stderr.txt"));
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  // CounterFact, cases 3-12, with the perplexity of the demo corpus
  const std::string cf_json = eval_work("eval_cli_cf.json");
  std::remove(cf_json.c_str());
  REQUIRE(run("--requests " + q + eval_demo_dir + "/requests.json" + q + " --cases 3-12 --text " + q + eval_demo_dir +
              "/corpus.txt" + q + " --json " + q + cf_json + q) == 0);
  const nlohmann::json j = read_json(cf_json);
  const std::vector<sf::Request> sel = sf::select_cases(sf::read_counterfact(eval_demo_dir + "/requests.json"), 3, 12);
  const sf::CounterFactScores c = sf::evaluate_counterfact(m, tok, sel);
  const double ppl = sf::perplexity(m, tok, sf::read_corpus(eval_demo_dir + "/corpus.txt"));
  CHECK(j["requests"].get<int>() == 10);
  CHECK(j["format"] == "counterfact");
  const nlohmann::json& jc = j["counterfact"];
  for (const auto& [mine, name] : std::vector<std::pair<double, std::string>>{
           {c.efficacy, "efficacy"}, {c.paraphrase, "paraphrase"}, {c.neighborhood, "neighborhood"},
           {c.efficacy_magnitude, "efficacy_magnitude"}, {c.paraphrase_magnitude, "paraphrase_magnitude"},
           {c.neighborhood_magnitude, "neighborhood_magnitude"}, {c.efficacy_accuracy, "efficacy_accuracy"},
           {c.paraphrase_accuracy, "paraphrase_accuracy"}, {c.neighborhood_accuracy, "neighborhood_accuracy"},
           {c.score, "score"}}) {
    INFO(name << ": tool " << jc[name] << ", library " << mine);
    CHECK(jc[name].get<double>() == Approx(mine).epsilon(1e-12).margin(1e-12));
  }
  CHECK(j["perplexity"]["value"].get<double>() == Approx(ppl).epsilon(1e-12));
  // zsRE
  const std::string zs_file = write_zsre(12), zs_json = eval_work("eval_cli_zsre.json");
  REQUIRE(run("--requests " + q + zs_file + q + " --json " + q + zs_json + q) == 0);
  const nlohmann::json jz = read_json(zs_json);
  const sf::ZsreScores z = sf::evaluate_zsre(m, tok, sf::read_zsre(zs_file));
  CHECK(jz["format"] == "zsre");
  CHECK(jz["zsre"]["rewrite_accuracy"].get<double>() == Approx(z.rewrite).epsilon(1e-12).margin(1e-12));
  CHECK(jz["zsre"]["paraphrase_accuracy"].get<double>() == Approx(z.paraphrase).epsilon(1e-12).margin(1e-12));
  CHECK(jz["zsre"]["neighborhood_accuracy"].get<double>() == Approx(z.neighborhood).epsilon(1e-12).margin(1e-12));
  // bad input: exit status 2, the reason on stderr, no JSON written
  const std::string bad_json = eval_work("eval_cli_bad.json");
  std::remove(bad_json.c_str());
  const std::string req = " --requests " + q + eval_demo_dir + "/requests.json" + q + " --json " + q + bad_json + q;
  CHECK(run(req + " --cases 9-3") != 0);
  CHECK_THAT(stderr_text(), Catch::Contains("--cases"));
  CHECK(run(req + " --cases 100000-100005") != 0);
  CHECK_THAT(stderr_text(), Catch::Contains("no request"));
  std::ofstream(eval_work("eval_empty.txt")).close();
  CHECK(run(req + " --text " + q + eval_work("eval_empty.txt") + q) != 0);
  CHECK_THAT(stderr_text(), Catch::Contains("holds no text"));
  std::ofstream(eval_work("eval_empty.json")) << "[]";
  CHECK(run("--requests " + q + eval_work("eval_empty.json") + q + " --json " + q + bad_json + q) != 0);
  CHECK_THAT(stderr_text(), Catch::Contains("request"));
  // a checkpoint without a tokenizer
  const std::string notok = eval_work("eval_no_tokenizer");
  std::filesystem::create_directories(notok);
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(eval_demo_dir + "/" + f, notok + "/" + f, std::filesystem::copy_options::overwrite_existing);
  const std::string cmd = q + cli + q + " eval --model " + q + notok + q + req + " 2> " + q + eval_work("eval_cli_stderr.txt") + q;
  CHECK(std::system(cmd.c_str()) != 0);
  CHECK_THAT(stderr_text(), Catch::Contains("no tokenizer"));
  CHECK_FALSE(std::filesystem::exists(bad_json));
}

// Evaluation: teacher-forced candidates, CounterFact scores, zsRE accuracy and perplexity
// (pipeline.md §8).

#include "seqedit/facts/evaluate.hpp"

#include "seqedit/facts/subject.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

int CandidateScore::correct() const {
  int n = 0;
  for (std::size_t j = 0; j < tokens.size() && j < argmax.size(); ++j) n += tokens[j] == argmax[j] ? 1 : 0;
  return n;
}

double CandidateScore::token_accuracy() const {
  return tokens.empty() ? 0.0 : static_cast<double>(correct()) / static_cast<double>(tokens.size());
}

std::vector<CandidateScore> score_candidate_tokens(
    const model::Model<float>& model,
    const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& pc, std::size_t max_sites) {
  const int vocab = model.config().vocab_size, limit = model.config().max_positions;
  for (std::size_t i = 0; i < pc.size(); ++i) {
    const auto& [p, c] = pc[i];
    const std::string what = "score_candidate_tokens: pair " + std::to_string(i) + ": ";
    if (p.empty()) throw std::invalid_argument(what + "the prefix has no tokens");
    if (c.empty()) throw std::invalid_argument(what + "the candidate has no tokens");
    if (p.size() + c.size() - 1 > static_cast<std::size_t>(limit))
      throw std::invalid_argument(what + std::to_string(p.size()) + " prefix + " + std::to_string(c.size()) +
                                  " candidate tokens exceed the model's " + std::to_string(limit) + " positions");
    for (const auto* v : {&p, &c})
      for (std::int32_t t : *v)
        if (t < 0 || t >= vocab)
          throw std::invalid_argument(what + "token id " + std::to_string(t) + " outside the vocabulary of " +
                                      std::to_string(vocab));
  }
  if (max_sites == 0) max_sites = 1;
  std::vector<CandidateScore> out(pc.size());
  std::size_t begin = 0;
  while (begin < pc.size()) {
    // one pass over as many pairs as fit in max_sites candidate tokens (at least one pair)
    std::size_t end = begin, sites = 0;
    while (end < pc.size() && (end == begin || sites + pc[end].second.size() <= max_sites)) sites += pc[end++].second.size();
    // A pair reads its candidate off the sequence prefix + candidate[:-1]; pairs with the same
    // sequence (a prompt with two one-token candidates, as CounterFact's new and true targets
    // mostly are) share one prompt of the pass.
    model::Batch batch;
    model::RunOptions<float> opt;
    std::map<std::vector<std::int32_t>, int> prompt_of;
    for (std::size_t i = begin; i < end; ++i) {
      const auto& [p, c] = pc[i];
      std::vector<std::int32_t> ids = p;
      ids.insert(ids.end(), c.begin(), c.end() - 1);
      const auto found = prompt_of.emplace(std::move(ids), static_cast<int>(batch.prompts.size()));
      if (found.second) batch.prompts.push_back(found.first->first);
      const int prompt = found.first->second;
      const int n = static_cast<int>(p.size());
      for (std::size_t j = 0; j < c.size(); ++j) {
        const int pos = n - 1 + static_cast<int>(j);
        opt.logprobs.push_back({prompt, pos, c[j]});
        opt.logits.push_back({prompt, pos});
      }
    }
    const auto r = model.run(batch, opt);
    std::size_t k = 0;
    for (std::size_t i = begin; i < end; ++i) {
      CandidateScore& s = out[i];
      s.tokens = pc[i].second;
      double sum = 0;
      for (std::size_t j = 0; j < s.tokens.size(); ++j, ++k) {
        sum -= static_cast<double>(r.logprobs[k]);
        Eigen::Index best = 0;
        r.logits.col(static_cast<Eigen::Index>(k)).maxCoeff(&best);  // first maximum: the lowest id
        s.argmax.push_back(static_cast<std::int32_t>(best));
      }
      s.nll = sum / static_cast<double>(s.tokens.size());
    }
    begin = end;
  }
  return out;
}

std::vector<CandidateScore> score_candidates(const model::Model<float>& model, const text::Tokenizer& tok,
                                             const std::vector<std::pair<std::string, std::string>>& pc) {
  std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>> ids;
  ids.reserve(pc.size());
  for (const auto& x : pc) {
    std::vector<std::int32_t> p = tok.encode_ids(x.first, true);
    if (p.empty()) throw std::invalid_argument("score_candidates: prefix '" + x.first + "' has no tokens");
    ids.emplace_back(std::move(p), encode_continuation(tok, x.second));
  }
  return score_candidate_tokens(model, ids);
}

std::vector<double> candidate_nll(const model::Model<float>& model, const text::Tokenizer& tok,
                                  const std::vector<std::pair<std::string, std::string>>& pc) {
  const std::vector<CandidateScore> s = score_candidates(model, tok, pc);
  std::vector<double> out;
  out.reserve(s.size());
  for (const CandidateScore& c : s) out.push_back(c.nll);
  return out;
}

CounterFactScores evaluate_counterfact(const model::Model<float>& model, const text::Tokenizer& tok,
                                       const std::vector<Request>& requests) {
  CounterFactScores s;
  std::vector<std::pair<std::string, std::string>> pc;
  for (const Request& r : requests) {
    if (r.target_true.empty()) continue;
    auto add = [&](const std::string& p) {
      pc.push_back({p, r.target_new});
      pc.push_back({p, r.target_true});
    };
    add(r.formatted());
    for (const auto& p : r.paraphrase_prompts) add(p);
    for (const auto& p : r.neighborhood_prompts) add(p);
  }
  const std::vector<CandidateScore> sc = score_candidates(model, tok, pc);
  std::size_t k = 0;
  struct Pair {
    double nn, nt;
    bool new_ok, true_ok;
  };
  auto next = [&]() {
    const CandidateScore& a = sc[k++];
    const CandidateScore& b = sc[k++];
    return Pair{a.nll, b.nll, a.all_correct(), b.all_correct()};
  };
  for (const Request& r : requests) {
    if (r.target_true.empty()) continue;
    const Pair e = next();
    s.efficacy += e.nn < e.nt ? 1.0 : 0.0;
    s.efficacy_magnitude += std::exp(-e.nn) - std::exp(-e.nt);
    s.efficacy_accuracy += e.new_ok ? 1.0 : 0.0;
    // Mean success, magnitude and accuracy over `count` prompts: the new target preferred
    // (paraphrases) or the true one (neighbourhood, `keep_true`).
    const auto prompts = [&](std::size_t count, bool keep_true, double& success, double& magnitude,
                             double& accuracy, int& with_prompts) {
      if (count == 0) return;
      double succ = 0, mag = 0, acc = 0;
      for (std::size_t i = 0; i < count; ++i) {
        const Pair p = next();
        const double want = keep_true ? p.nt : p.nn, other = keep_true ? p.nn : p.nt;
        succ += want < other ? 1.0 : 0.0;
        mag += std::exp(-want) - std::exp(-other);
        acc += (keep_true ? p.true_ok : p.new_ok) ? 1.0 : 0.0;
      }
      const double n = static_cast<double>(count);
      success += succ / n;
      magnitude += mag / n;
      accuracy += acc / n;
      ++with_prompts;
    };
    prompts(r.paraphrase_prompts.size(), false, s.paraphrase, s.paraphrase_magnitude, s.paraphrase_accuracy,
            s.paraphrase_requests);
    prompts(r.neighborhood_prompts.size(), true, s.neighborhood, s.neighborhood_magnitude, s.neighborhood_accuracy,
            s.neighborhood_requests);
    ++s.requests;
  }
  auto scale = [](int n, std::initializer_list<double*> v) {
    if (n > 0)
      for (double* x : v) *x *= 100.0 / n;
  };
  scale(s.requests, {&s.efficacy, &s.efficacy_magnitude, &s.efficacy_accuracy});
  scale(s.paraphrase_requests, {&s.paraphrase, &s.paraphrase_magnitude, &s.paraphrase_accuracy});
  scale(s.neighborhood_requests, {&s.neighborhood, &s.neighborhood_magnitude, &s.neighborhood_accuracy});
  const double a = s.efficacy, b = s.paraphrase, c = s.neighborhood;
  s.score = (a > 0 && b > 0 && c > 0) ? 3.0 / (1.0 / a + 1.0 / b + 1.0 / c) : 0.0;
  return s;
}

ZsreScores evaluate_zsre(const model::Model<float>& model, const text::Tokenizer& tok,
                         const std::vector<Request>& requests) {
  ZsreScores s;
  std::vector<std::pair<std::string, std::string>> pc;
  for (const Request& r : requests) {
    pc.push_back({r.formatted(), r.target_new});
    for (const auto& p : r.paraphrase_prompts) pc.push_back({p, r.target_new});
    if (!r.neighborhood_answer.empty())
      for (const auto& p : r.neighborhood_prompts) pc.push_back({p, r.neighborhood_answer});
  }
  const std::vector<CandidateScore> sc = score_candidates(model, tok, pc);
  std::size_t k = 0;
  // the fraction of correct tokens over n consecutive candidates (their tokens pooled)
  auto pooled = [&](std::size_t n) {
    double correct = 0, tokens = 0;
    for (std::size_t i = 0; i < n; ++i, ++k) {
      correct += sc[k].correct();
      tokens += static_cast<double>(sc[k].tokens.size());
    }
    return correct / tokens;
  };
  for (const Request& r : requests) {
    s.rewrite += pooled(1);
    if (!r.paraphrase_prompts.empty()) {
      s.paraphrase += pooled(r.paraphrase_prompts.size());
      ++s.paraphrase_requests;
    }
    if (!r.neighborhood_answer.empty() && !r.neighborhood_prompts.empty()) {
      s.neighborhood += pooled(r.neighborhood_prompts.size());
      ++s.neighborhood_requests;
    }
    ++s.requests;
  }
  if (s.requests > 0) s.rewrite *= 100.0 / s.requests;
  if (s.paraphrase_requests > 0) s.paraphrase *= 100.0 / s.paraphrase_requests;
  if (s.neighborhood_requests > 0) s.neighborhood *= 100.0 / s.neighborhood_requests;
  return s;
}
double perplexity(const model::Model<float>& model, const text::Tokenizer& tok, const std::vector<std::string>& texts) {
  model::Batch batch;
  model::RunOptions<float> opt;
  for (const std::string& t : texts) {
    std::vector<std::int32_t> ids = tok.encode_ids(t, true);
    if (static_cast<int>(ids.size()) > model.config().max_positions)
      ids.resize(static_cast<std::size_t>(model.config().max_positions));
    if (ids.size() < 2) continue;
    const int p = static_cast<int>(batch.prompts.size());
    for (std::size_t j = 0; j + 1 < ids.size(); ++j) opt.logprobs.push_back({p, static_cast<int>(j), ids[j + 1]});
    batch.prompts.push_back(std::move(ids));
  }
  if (batch.prompts.empty()) throw std::invalid_argument("perplexity: no text has two tokens");
  const auto r = model.run(batch, opt);
  double s = 0;
  for (float lp : r.logprobs) s -= static_cast<double>(lp);
  return std::exp(s / static_cast<double>(r.logprobs.size()));
}

}  // namespace facts
}  // namespace seqedit

// Evaluation: CounterFact scores and perplexity (pipeline.md §8).

#include "seqedit/facts/evaluate.hpp"

#include "seqedit/facts/subject.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

std::vector<double> candidate_nll(const model::Model<float>& model, const text::Tokenizer& tok,
                                  const std::vector<std::pair<std::string, std::string>>& pc) {
  std::vector<double> out(pc.size(), 0.0);
  if (pc.empty()) return out;
  model::Batch batch;
  model::RunOptions<float> opt;
  std::vector<std::size_t> first, count;
  for (const auto& x : pc) {
    std::vector<std::int32_t> ids = tok.encode_ids(x.first, true);
    if (ids.empty()) throw std::invalid_argument("candidate_nll: prefix '" + x.first + "' has no tokens");
    const std::vector<std::int32_t> c = encode_continuation(tok, x.second);
    const int p = static_cast<int>(ids.size());
    const int prompt = static_cast<int>(batch.prompts.size());
    first.push_back(opt.logprobs.size());
    count.push_back(c.size());
    for (std::size_t j = 0; j < c.size(); ++j)
      opt.logprobs.push_back({prompt, p - 1 + static_cast<int>(j), c[j]});
    ids.insert(ids.end(), c.begin(), c.end() - 1);
    batch.prompts.push_back(std::move(ids));
  }
  const auto r = model.run(batch, opt);
  for (std::size_t i = 0; i < pc.size(); ++i) {
    double s = 0;
    for (std::size_t j = 0; j < count[i]; ++j) s -= static_cast<double>(r.logprobs[first[i] + j]);
    out[i] = s / static_cast<double>(count[i]);
  }
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
  const std::vector<double> nll = candidate_nll(model, tok, pc);
  std::size_t k = 0;
  int n_para = 0, n_neigh = 0;
  for (const Request& r : requests) {
    if (r.target_true.empty()) continue;
    auto next = [&](double& nn, double& nt) {
      nn = nll[k++];
      nt = nll[k++];
    };
    double nn, nt;
    next(nn, nt);
    s.efficacy += nn < nt ? 1.0 : 0.0;
    s.efficacy_magnitude += std::exp(-nn) - std::exp(-nt);
    if (!r.paraphrase_prompts.empty()) {
      double succ = 0, mag = 0;
      for (std::size_t i = 0; i < r.paraphrase_prompts.size(); ++i) {
        next(nn, nt);
        succ += nn < nt ? 1.0 : 0.0;
        mag += std::exp(-nn) - std::exp(-nt);
      }
      s.paraphrase += succ / static_cast<double>(r.paraphrase_prompts.size());
      s.paraphrase_magnitude += mag / static_cast<double>(r.paraphrase_prompts.size());
      ++n_para;
    }
    if (!r.neighborhood_prompts.empty()) {
      double succ = 0, mag = 0;
      for (std::size_t i = 0; i < r.neighborhood_prompts.size(); ++i) {
        next(nn, nt);
        succ += nt < nn ? 1.0 : 0.0;
        mag += std::exp(-nt) - std::exp(-nn);
      }
      s.neighborhood += succ / static_cast<double>(r.neighborhood_prompts.size());
      s.neighborhood_magnitude += mag / static_cast<double>(r.neighborhood_prompts.size());
      ++n_neigh;
    }
    ++s.requests;
  }
  if (s.requests > 0) {
    s.efficacy *= 100.0 / s.requests;
    s.efficacy_magnitude *= 100.0 / s.requests;
  }
  if (n_para > 0) {
    s.paraphrase *= 100.0 / n_para;
    s.paraphrase_magnitude *= 100.0 / n_para;
  }
  if (n_neigh > 0) {
    s.neighborhood *= 100.0 / n_neigh;
    s.neighborhood_magnitude *= 100.0 / n_neigh;
  }
  const double a = s.efficacy, b = s.paraphrase, c = s.neighborhood;
  s.score = (a > 0 && b > 0 && c > 0) ? 3.0 / (1.0 / a + 1.0 / b + 1.0 / c) : 0.0;
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

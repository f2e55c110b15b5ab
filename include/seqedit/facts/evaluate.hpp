#ifndef SEQEDIT_FACTS_EVALUATE_HPP
#define SEQEDIT_FACTS_EVALUATE_HPP

/// \file evaluate.hpp
/// Evaluation of an edited model (pipeline.md §8).
///
/// NLL of a candidate c after a prefix p: the tokens of p (tokenized alone, special tokens
/// included) followed by the tokens of " " + c (continuation, no special tokens); the score is
/// the mean over c's tokens of −log p(token | everything before it).
/// CounterFact, per request: rewrite success [NLL(new) < NLL(true)] on the formatted prompt;
/// paraphrase success the same averaged over `paraphrase_prompts`; neighbourhood success
/// [NLL(true) < NLL(new)] averaged over `neighborhood_prompts`; magnitudes
/// exp(−NLL(new)) − exp(−NLL(true)) (reversed for the neighbourhood). Means over requests,
/// ×100; Score = harmonic mean of the three successes. Requests without `target_true` or
/// without paraphrase / neighbourhood prompts are left out of the means they cannot enter.

#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Mean NLL of each candidate after its prefix, in one batched pass.
std::vector<double> candidate_nll(const model::Model<float>& model, const text::Tokenizer& tok,
                                  const std::vector<std::pair<std::string, std::string>>& prefix_candidate);

/// CounterFact scores, ×100 (pipeline.md §8).
struct CounterFactScores {
  double efficacy = 0, paraphrase = 0, neighborhood = 0;  ///< success rates
  double efficacy_magnitude = 0, paraphrase_magnitude = 0, neighborhood_magnitude = 0;
  double score = 0;  ///< harmonic mean of the three success rates
  int requests = 0;
};

CounterFactScores evaluate_counterfact(const model::Model<float>& model, const text::Tokenizer& tok,
                                       const std::vector<Request>& requests);

/// Perplexity exp(mean −log p) over every predicted token of `texts` (each text truncated to
/// the model's position limit; texts of fewer than two tokens contribute nothing).
double perplexity(const model::Model<float>& model, const text::Tokenizer& tok, const std::vector<std::string>& texts);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_EVALUATE_HPP

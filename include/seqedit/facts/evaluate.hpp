#ifndef SEQEDIT_FACTS_EVALUATE_HPP
#define SEQEDIT_FACTS_EVALUATE_HPP

/// \file evaluate.hpp
/// Evaluation of an edited model (pipeline.md §8).
///
/// A candidate c after a prefix p: the tokens of p (tokenized alone, special tokens
/// included) followed by the tokens of " " + c (continuation, no special tokens, so no BOS
/// inside the candidate), read teacher-forced. Its NLL is the mean over c's tokens t_j of
/// −log p(t_j | everything before it); token j is correct when t_j is the argmax of the
/// next-token distribution at the position that predicts it (the lowest id on a tie).
///
/// CounterFact, per request: rewrite success [NLL(new) < NLL(true)] on the formatted prompt;
/// paraphrase success the same averaged over `paraphrase_prompts`; neighbourhood success
/// [NLL(true) < NLL(new)] averaged over `neighborhood_prompts`; magnitudes
/// exp(−NLL(new)) − exp(−NLL(true)) (reversed for the neighbourhood); the accuracy variants
/// count a prompt as a success when every token of its candidate (target_new for rewrite and
/// paraphrase, target_true for the neighbourhood) is correct. Means over requests, ×100;
/// Score = harmonic mean of the three successes. Requests without `target_true` are left out;
/// requests without paraphrase / neighbourhood prompts are left out of those means.
///
/// zsRE (MEMIT's metric), per request: the teacher-forced token accuracy, i.e. the fraction of
/// correct tokens, of `target_new` after the formatted prompt (rewrite) and after the
/// paraphrases (their tokens pooled), and of `neighborhood_answer` (`loc_ans`) after each
/// neighbourhood prompt (`loc`; tokens pooled). Means over requests, ×100; requests without
/// paraphrases, or without neighbourhood prompts or answer, are left out of those means.

#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

/// One candidate read teacher-forced after its prefix (pipeline.md §8).
struct CandidateScore {
  double nll = 0;                        ///< mean over the candidate's tokens of −log p
  std::vector<std::int32_t> tokens;      ///< the candidate's tokens
  std::vector<std::int32_t> argmax;      ///< per token: the argmax at the position predicting it
  /// Number of tokens equal to the argmax.
  int correct() const;
  /// correct() / tokens.size().
  double token_accuracy() const;
  /// Every token is the argmax.
  bool all_correct() const { return correct() == static_cast<int>(tokens.size()); }
};

/// Scores token-level (prefix, candidate) pairs: prefix ≥ 1 token, candidate ≥ 1 token, every
/// id in the vocabulary. Passes are batched, with at most `max_sites` argmax positions per
/// pass (bounds the vocab × sites logits); pairs of a pass whose sequences prefix +
/// candidate[:-1] coincide (one prompt, two one-token candidates) share one prompt.
/// \throws std::invalid_argument naming the pair.
std::vector<CandidateScore> score_candidate_tokens(
    const model::Model<float>& model,
    const std::vector<std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>& prefix_candidate,
    std::size_t max_sites = 256);

/// Tokenizes each (prefix, candidate) text pair as above and scores it.
std::vector<CandidateScore> score_candidates(const model::Model<float>& model, const text::Tokenizer& tok,
                                             const std::vector<std::pair<std::string, std::string>>& prefix_candidate);

/// Mean NLL of each candidate after its prefix, in one batched pass.
std::vector<double> candidate_nll(const model::Model<float>& model, const text::Tokenizer& tok,
                                  const std::vector<std::pair<std::string, std::string>>& prefix_candidate);

/// CounterFact scores, ×100 (pipeline.md §8).
struct CounterFactScores {
  double efficacy = 0, paraphrase = 0, neighborhood = 0;  ///< success rates
  double efficacy_magnitude = 0, paraphrase_magnitude = 0, neighborhood_magnitude = 0;
  double efficacy_accuracy = 0, paraphrase_accuracy = 0, neighborhood_accuracy = 0;  ///< every token argmax
  double score = 0;  ///< harmonic mean of the three success rates
  int requests = 0;           ///< requests with a target_true
  int paraphrase_requests = 0;    ///< of those, with paraphrase prompts
  int neighborhood_requests = 0;  ///< of those, with neighbourhood prompts
};

CounterFactScores evaluate_counterfact(const model::Model<float>& model, const text::Tokenizer& tok,
                                       const std::vector<Request>& requests);

/// zsRE token accuracies, ×100 (pipeline.md §8).
struct ZsreScores {
  double rewrite = 0, paraphrase = 0, neighborhood = 0;
  int requests = 0, paraphrase_requests = 0, neighborhood_requests = 0;
};

ZsreScores evaluate_zsre(const model::Model<float>& model, const text::Tokenizer& tok,
                         const std::vector<Request>& requests);

/// Perplexity exp(mean −log p) over every predicted token of `texts` (each text truncated to
/// the model's position limit; texts of fewer than two tokens contribute nothing).
/// \throws std::invalid_argument if no text has two tokens.
double perplexity(const model::Model<float>& model, const text::Tokenizer& tok, const std::vector<std::string>& texts);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_EVALUATE_HPP

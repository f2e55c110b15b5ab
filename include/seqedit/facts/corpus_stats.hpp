#ifndef SEQEDIT_FACTS_CORPUS_STATS_HPP
#define SEQEDIT_FACTS_CORPUS_STATS_HPP

/// \file corpus_stats.hpp
/// Collecting the retention statistics of a model over a text corpus (pipeline.md §7): the
/// keys of each layer (the input of its FFN output projection) at every token of every text,
/// each text truncated to `max_length` tokens (default: the model's position limit), into one
/// SecondMoment per layer (stats.hpp), until `max_tokens` tokens have been seen.
///
/// Default budget: 10 · d_k tokens per layer — about 10 · d_k token vectors keep ≥ 95% of the
/// editing quality of MEMIT's 100,000 Wikipedia articles (Gupta et al. 2025, "Efficient
/// Knowledge Editing via Minimal Precomputation", arXiv 2506.04226; pipeline.md §7).

#include "seqedit/facts/stats.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Texts of a corpus file: plain text, one text per non-empty line; or JSON Lines with a
/// `text` field (detected from the first non-empty line starting with '{').
/// \throws io::format_error naming the line.
std::vector<std::string> read_corpus(const std::string& path);

/// Options of collect_stats.
struct StatsOptions {
  std::int64_t max_tokens = 0;  ///< per layer; 0: 10 · d_k
  int max_length = 0;           ///< tokens per text; 0: the model's max_positions
  int texts_per_pass = 16;      ///< texts run through the model together
  std::size_t first_text = 0;   ///< skip the texts before (resuming a run)
  /// Called after every pass with (tokens so far, texts consumed so far).
  std::function<void(std::int64_t, std::size_t)> progress;
};

/// Accumulates the statistics of `layers` (added to `stats`, one per layer, created with d_k
/// when empty). Returns the index of the first text not consumed.
std::size_t collect_stats(const model::Model<float>& model, const text::Tokenizer& tok,
                          const std::vector<std::string>& texts, const std::vector<int>& layers,
                          std::vector<SecondMoment>& stats, const StatsOptions& options = StatsOptions());

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_CORPUS_STATS_HPP

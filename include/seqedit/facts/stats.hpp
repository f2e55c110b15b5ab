#ifndef SEQEDIT_FACTS_STATS_HPP
#define SEQEDIT_FACTS_STATS_HPP

/// \file stats.hpp
/// Retention statistics (pipeline.md §7): the un-centred second moment Σ k kᵀ of the keys of a
/// layer over every non-padding token of a corpus, its token count and number of texts,
/// accumulated so that shards computed anywhere merge **exactly** into the one-pass result,
/// and written as MEMIT's npz.
///
/// Exactness. Floating-point sums depend on their order, so a float64 running sum over a
/// corpus split into shards would differ (in the last bits) from the one-pass sum. Here each
/// text's Gram matrix G = K Kᵀ is computed in float64 (keys are float32 or float64) and then
/// added to a fixed-point accumulator: every entry is rounded once to a multiple of 2⁻⁶⁴ and
/// summed as a 128-bit integer. Integer addition is associative, so any partition of the
/// texts into shards, summed in any order, gives bit for bit the same accumulator, and the
/// stored float64 sum (the accumulator rounded once) is identical too. Range: |entries| <
/// 2⁶² per entry (checked; an overflow is an error, never a wrap); resolution 2⁻⁶⁴ ≈ 5·10⁻²⁰
/// absolute, far below float32 round-off of any key product that matters.
///
/// File (MEMIT's layout, pipeline.md §7): `mom2.mom2` (<f8, d_k × d_k, the raw sum),
/// `mom2.count` (<i8, tokens), `mom2.constructor` (the string
/// `util.runningstats.SecondMoment()`), `sample_size` (<i8, texts), plus
/// `seqedit.mom2_exact` (<i8, d_k(d_k+1)/2 × 2: the upper triangle of the accumulator, high and
/// low 64-bit words, column by column) that merging uses. MEMIT, AlphaEdit and
/// seqedit::io::load_mom2_stats read the file; a file written by numpy (without the exact
/// part) is read from its float sum, rounded once to the accumulator's grid.
/// Name: `<module>_<dtype>_mom2_<samples>.npz` (mom2_file_name()).

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Σ k kᵀ, tokens and texts, in exact fixed point (see the file comment).
class SecondMoment {
 public:
  SecondMoment() = default;
  /// An empty accumulator for keys of dimension d_k ≥ 1.
  explicit SecondMoment(Eigen::Index d_k);

  /// Adds one text: `keys` is d_k × tokens (its non-padding tokens only); `texts` is the
  /// number of texts these keys come from (normally 1).
  /// \throws std::invalid_argument for a wrong row count, a non-finite key, or an entry
  ///         beyond the accumulator's range.
  void add(const Eigen::Ref<const Eigen::MatrixXd>& keys, std::int64_t texts = 1);
  /// As add(), for float32 keys (converted exactly to float64).
  void add(const Eigen::Ref<const Eigen::MatrixXf>& keys, std::int64_t texts = 1);

  /// Adds another accumulator (same d_k): the result is exact and independent of order.
  void merge(const SecondMoment& other);

  Eigen::Index dim() const { return d_; }
  std::int64_t count() const { return count_; }       ///< tokens
  std::int64_t samples() const { return samples_; }   ///< texts
  /// The raw sum Σ k kᵀ, each entry the accumulator rounded once to float64.
  Eigen::MatrixXd sum() const;
  /// C0 = sum / count (pipeline.md §7). \throws std::logic_error when count is 0.
  Eigen::MatrixXd second_moment() const;

  /// True if both hold the same accumulator bit for bit (and the same counts).
  bool operator==(const SecondMoment& other) const;
  bool operator!=(const SecondMoment& other) const { return !(*this == other); }

  /// The accumulator's words: upper triangle, column by column, (high, low) per entry.
  const std::vector<std::int64_t>& words() const { return words_; }
  /// Rebuilds an accumulator from words() (as stored in `seqedit.mom2_exact`).
  static SecondMoment from_words(Eigen::Index d_k, std::vector<std::int64_t> words, std::int64_t count,
                                 std::int64_t samples);
  /// An accumulator holding a float64 sum (a file without the exact part): each entry
  /// rounded once to the grid. \throws std::invalid_argument for a non-square, non-symmetric
  /// or non-finite sum.
  static SecondMoment from_sum(const Eigen::Ref<const Eigen::MatrixXd>& sum, std::int64_t count,
                               std::int64_t samples);

 private:
  void add_gram(const Eigen::MatrixXd& gram);
  Eigen::Index d_ = 0;
  std::int64_t count_ = 0, samples_ = 0;
  std::vector<std::int64_t> words_;  // 2 per upper-triangle entry
};

/// MEMIT's file name: `<module>_<dtype>_mom2_<samples>.npz`, e.g.
/// `transformer.h.13.mlp.c_proj_float32_mom2_100000.npz`.
std::string mom2_file_name(const std::string& module, const std::string& dtype, std::int64_t samples);

/// Writes `m` to `path` (npz, atomically). `extra_i64` adds scalar int64 members (used by
/// resumable runs, e.g. `seqedit.next_text`). \throws io::io_error, std::invalid_argument
/// (an empty accumulator, members beyond 4 GiB: Zip64 is not written).
void write_mom2_npz(const std::string& path, const SecondMoment& m,
                    const std::vector<std::pair<std::string, std::int64_t>>& extra_i64 = {});

/// Reads a statistics npz (seqedit's, MEMIT's or numpy-written) as an accumulator.
/// \throws io::format_error naming the file and key.
SecondMoment read_mom2_npz(const std::string& path);

/// Reads a scalar int64 member written through `extra_i64`, or `fallback` if absent.
std::int64_t read_npz_i64(const std::string& path, const std::string& key, std::int64_t fallback);

/// Merges statistics files exactly (pipeline.md §7): the sum of their accumulators.
/// \throws io::format_error for files of different d_k (naming both), std::invalid_argument
///         for an empty list.
SecondMoment merge_mom2_files(const std::vector<std::string>& paths);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_STATS_HPP

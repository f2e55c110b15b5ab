#ifndef SEQEDIT_FACTS_REQUESTS_HPP
#define SEQEDIT_FACTS_REQUESTS_HPP

/// \file requests.hpp
/// Edit requests (pipeline.md §1): "The capital of {} is" / "France" → "Rome", read from
/// CounterFact JSON, MEMIT's zsRE JSON or JSON Lines, and checked before anything is edited.
///
/// Formats (other fields of a record are ignored):
/// * CounterFact: a JSON array of records with `case_id`, `requested_rewrite.{prompt, subject,
///   target_new.str, target_true.str}`, `paraphrase_prompts`, `neighborhood_prompts`.
/// * zsRE (MEMIT's `zsre_mend_eval.json`): a JSON array of records with `src`, `subject`,
///   `answers`, `rephrase`, `loc`, `loc_ans` (other fields, e.g. MEND's `alt`, ignored). The
///   prompt is `src` with its first occurrence of the subject replaced by `{}`; `target_new` =
///   `answers[0]` (as MEMIT's zsRE dataset, pipeline.md §1); no `target_true`; case id =
///   record index.
/// * JSON Lines: one object per line, `{"case_id": 7, "prompt": "The capital of {} is",
///   "subject": "France", "target_new": "Rome"}`, `target_true`, `paraphrase_prompts` and
///   `neighborhood_prompts` optional; blank lines are skipped.
///
/// Every record is validated (check_request): the prompt has exactly one `{}`, the subject is
/// non-empty (and, for zsRE, occurs in `src`), `target_new` is non-empty, case ids are
/// distinct non-negative integers. Errors are seqedit::io::format_error naming the file and
/// the record ("requests.json: record 3 (case_id 17): prompt has no '{}'").

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Where a request was read from.
enum class RequestFormat { CounterFact, ZsRE, JsonLines };

/// One counterfactual request and its evaluation prompts (pipeline.md §1).
struct Request {
  std::int64_t case_id = 0;
  std::string prompt;       ///< exactly one "{}", where the subject goes
  std::string subject;
  std::string target_new;   ///< as given (a leading space is added when tokenizing, §1)
  std::string target_true;  ///< may be empty (JSON Lines without it)
  std::vector<std::string> paraphrase_prompts;    ///< complete prompts (subject included)
  std::vector<std::string> neighborhood_prompts;  ///< complete prompts about other subjects
  std::string neighborhood_answer;                ///< zsRE `loc_ans` (empty for CounterFact)

  /// prompt with the subject substituted for "{}".
  std::string formatted() const;
};

/// Throws seqedit::io::format_error "<where>: <what is wrong>" if the request is unusable.
void check_request(const Request& r, const std::string& where);

/// `prompt.format(subject)`: `text` with its one "{}" replaced by `fill`.
/// \throws std::invalid_argument if `text` does not contain exactly one "{}".
std::string format_template(const std::string& text, const std::string& fill);

/// Number of non-overlapping occurrences of "{}" in `text`.
std::size_t count_placeholders(const std::string& text);

/// Reads CounterFact JSON. \throws io::format_error / io::io_error.
std::vector<Request> read_counterfact(const std::string& path);
/// Reads MEMIT's zsRE JSON.
std::vector<Request> read_zsre(const std::string& path);
/// Reads JSON Lines requests.
std::vector<Request> read_jsonl(const std::string& path);

/// Parses requests held in memory; `origin` names them in messages.
std::vector<Request> parse_requests(const std::string& text, RequestFormat format, const std::string& origin);

/// Detects the format (a JSON array whose first record has `requested_rewrite` → CounterFact,
/// `src` → zsRE; otherwise one object per line → JSON Lines) and reads the file.
std::vector<Request> read_requests(const std::string& path, RequestFormat* detected = nullptr);

/// The requests whose case id lies in [first, last] (inclusive), in file order.
std::vector<Request> select_cases(const std::vector<Request>& requests, std::int64_t first, std::int64_t last);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_REQUESTS_HPP

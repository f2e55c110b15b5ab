#ifndef SEQEDIT_FACTS_SUBJECT_HPP
#define SEQEDIT_FACTS_SUBJECT_HPP

/// \file subject.hpp
/// The subject's last token (pipeline.md §2): the whole formatted prompt is tokenized once,
/// with byte offsets, and the key / value position is the last token whose byte span overlaps
/// the subject's bytes. This is right for tokenizers that add a BOS token (its span is empty)
/// and for subjects whose first token merges with the preceding space (GPT-2's " France"
/// spans the space and the subject, and overlaps it).

#include "seqedit/text/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// A tokenized prompt and the position of its subject's last token.
struct SubjectPrompt {
  std::string text;                 ///< the formatted prompt
  std::vector<std::int32_t> ids;    ///< its tokens (special tokens of the post-processor included)
  int subject_last = 0;             ///< index into ids
};

/// Formats `prompt_template` (exactly one "{}") with `subject` and tokenizes it.
/// \throws std::invalid_argument if the template has no single "{}", the subject is empty, or
///         no token overlaps the subject's bytes ("subject 'X' not found in the tokens of ...").
SubjectPrompt encode_subject_prompt(const text::Tokenizer& tok, const std::string& prompt_template,
                                    const std::string& subject);

/// Tokens of a target or candidate continuation: `" " + text` unless text already starts with
/// a space (pipeline.md §1), without special tokens (the BOS a Llama tokenizer would add is
/// not part of a continuation, pipeline.md §8). \throws std::invalid_argument if empty.
std::vector<std::int32_t> encode_continuation(const text::Tokenizer& tok, const std::string& text);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_SUBJECT_HPP

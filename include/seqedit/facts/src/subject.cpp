// The subject's last token from the tokenizer's byte offsets (pipeline.md §2).

#include "seqedit/facts/subject.hpp"

#include "seqedit/facts/requests.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

SubjectPrompt encode_subject_prompt(const text::Tokenizer& tok, const std::string& prompt_template,
                                    const std::string& subject) {
  if (subject.empty()) throw std::invalid_argument("encode_subject_prompt: the subject is empty");
  SubjectPrompt p;
  p.text = format_template(prompt_template, subject);
  const std::size_t begin = prompt_template.find("{}");
  const std::size_t end = begin + subject.size();
  const text::Encoding enc = tok.encode(p.text, true);
  int last = -1;
  for (std::size_t i = 0; i < enc.size(); ++i) {
    const auto& o = enc.offsets[i];
    if (o.first < o.second && o.first < end && o.second > begin) last = static_cast<int>(i);
  }
  if (last < 0)
    throw std::invalid_argument("subject '" + subject + "' not found in the tokens of '" + p.text + "'");
  p.ids = enc.ids;
  p.subject_last = last;
  return p;
}

std::vector<std::int32_t> encode_continuation(const text::Tokenizer& tok, const std::string& text) {
  if (text.empty()) throw std::invalid_argument("encode_continuation: empty continuation");
  const std::string spaced = text[0] == ' ' ? text : " " + text;
  std::vector<std::int32_t> ids = tok.encode_ids(spaced, false);
  if (ids.empty()) throw std::invalid_argument("encode_continuation: '" + text + "' has no tokens");
  return ids;
}

}  // namespace facts
}  // namespace seqedit

// Context templates (pipeline.md §3), generated greedily by the model or read from a file.

#include "seqedit/facts/context_templates.hpp"

#include "seqedit/facts/requests.hpp"
#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/error.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

std::vector<std::string> ContextTemplates::flat() const {
  std::vector<std::string> out;
  for (const auto& g : groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

void ContextTemplates::check() const {
  if (groups.empty()) throw std::invalid_argument("context templates: no group");
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) throw std::invalid_argument("context templates: group " + std::to_string(g) + " is empty");
    for (const std::string& t : groups[g])
      if (count_placeholders(t) != 1)
        throw std::invalid_argument("context template '" + t + "' must contain exactly one '{}'");
  }
}

const std::vector<std::string>& default_template_seeds() {
  static const std::vector<std::string> s{"The", "Therefore", "Because", "I", "You"};
  return s;
}

ContextTemplates bare_template() { return ContextTemplates{{{"{}"}}}; }

ContextTemplates generate_context_templates(const model::Model<float>& model, const text::Tokenizer& tok,
                                            const std::vector<std::string>& seeds, int total_tokens) {
  if (seeds.empty()) throw std::invalid_argument("generate_context_templates: no seeds");
  if (total_tokens < 1 || total_tokens > model.config().max_positions)
    throw std::invalid_argument("generate_context_templates: total_tokens is " + std::to_string(total_tokens));
  ContextTemplates t = bare_template();
  std::vector<std::string> generated;
  for (const std::string& seed : seeds) {
    std::vector<std::int32_t> ids = tok.encode_ids(seed, true);
    if (ids.empty()) throw std::invalid_argument("generate_context_templates: seed '" + seed + "' has no tokens");
    while (static_cast<int>(ids.size()) < total_tokens) {
      model::Batch b;
      b.prompts.push_back(ids);
      model::RunOptions<float> opt;
      opt.logits.push_back({0, static_cast<int>(ids.size()) - 1});
      const auto r = model.run(b, opt);
      Eigen::Index best = 0;
      r.logits.col(0).maxCoeff(&best);  // first maximum: deterministic ties
      ids.push_back(static_cast<std::int32_t>(best));
    }
    std::string s = tok.decode(ids, true);
    std::replace(s.begin(), s.end(), '{', ' ');
    std::replace(s.begin(), s.end(), '}', ' ');
    generated.push_back(s + ". {}");
  }
  t.groups.push_back(generated);
  return t;
}

ContextTemplates read_context_templates(const std::string& path) {
  const std::vector<char> buf = io::detail::read_whole_file(path, std::uint64_t(1) << 24);
  const auto doc = io::detail::parse_json_strict(buf.data(), buf.data() + buf.size(), path, "context templates");
  if (!doc.is_array() || doc.empty())
    throw io::format_error(path + ": context templates must be a non-empty JSON list of strings");
  ContextTemplates t = bare_template();
  std::vector<std::string> g;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    if (!doc[i].is_string()) throw io::format_error(path + ": entry " + std::to_string(i) + " is not a string");
    const std::string s = doc[i].get<std::string>();
    if (count_placeholders(s) != 1)
      throw io::format_error(path + ": entry " + std::to_string(i) + " ('" + s + "') must contain exactly one '{}'");
    g.push_back(s);
  }
  t.groups.push_back(g);
  return t;
}

}  // namespace facts
}  // namespace seqedit

#ifndef SEQEDIT_FACTS_CONTEXT_TEMPLATES_HPP
#define SEQEDIT_FACTS_CONTEXT_TEMPLATES_HPP

/// \file context_templates.hpp
/// Context templates (pipeline.md §3): the bare `{}` and short prefixes written by the model
/// itself, `"<text>. {}"`, inside which a request's prompt is placed for its keys (§4) and
/// target values (§5).
///
/// Decision (pipeline.md §3): the prefixes are generated **greedily** (argmax at every step),
/// so they are a function of the model alone: the same on every run and every machine that
/// computes the same argmaxes; a run stores them in its state. A file of templates (a JSON
/// list of strings, each with one `{}`) may be given instead.

#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// Groups of templates; keys are averaged within each group, then over the groups (§4).
struct ContextTemplates {
  std::vector<std::vector<std::string>> groups;
  /// Every template, group after group (the rows of compute_z, §5).
  std::vector<std::string> flat() const;
  /// Throws std::invalid_argument if a group is empty or a template lacks a single "{}".
  void check() const;
};

/// MEMIT's seeds.
const std::vector<std::string>& default_template_seeds();

/// `{{"{}"}, {t_1 … t_s}}` with t_i = greedy continuation of seeds[i] by the model to
/// `total_tokens` tokens (seed included), decoded without special tokens, braces replaced by
/// spaces, + ". {}".
ContextTemplates generate_context_templates(const model::Model<float>& model, const text::Tokenizer& tok,
                                            const std::vector<std::string>& seeds = default_template_seeds(),
                                            int total_tokens = 10);

/// `{{"{}"}, file's templates}` from a JSON list of strings. \throws io::format_error naming
/// the entry (not a string, not exactly one "{}").
ContextTemplates read_context_templates(const std::string& path);

/// The bare template only: `{{"{}"}}`.
ContextTemplates bare_template();

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_CONTEXT_TEMPLATES_HPP

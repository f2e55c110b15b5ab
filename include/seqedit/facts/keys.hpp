#ifndef SEQEDIT_FACTS_KEYS_HPP
#define SEQEDIT_FACTS_KEYS_HPP

/// \file keys.hpp
/// Keys (pipeline.md §4, MEMIT's `compute_ks`): the input of the layer's FFN output projection
/// at the subject's last token of every context template, averaged within each template
/// group, then over the groups. No target text is appended.

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <Eigen/Core>

#include <vector>

namespace seqedit {
namespace facts {

/// K (d_k × N), one column per request, on the model as it is now (edits applied so far
/// included), in float64 (the runtime computes in float; the averaging is done in double).
Eigen::MatrixXd compute_keys(const model::Model<float>& model, const text::Tokenizer& tok,
                             const std::vector<Request>& requests, int layer, const ContextTemplates& templates);

/// The output of block `layer` at the subject's last token of each request's bare prompt
/// (d × N): MEMIT's `cur_zs` of the multi-layer update (pipeline.md §6).
Eigen::MatrixXd block_outputs_at_subject(const model::Model<float>& model, const text::Tokenizer& tok,
                                         const std::vector<Request>& requests, int layer);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_KEYS_HPP

#ifndef SEQEDIT_FACTS_VALUES_HPP
#define SEQEDIT_FACTS_VALUES_HPP

/// \file values.hpp
/// Target values (pipeline.md §5, MEMIT's `compute_z`) at the last edited layer L: a free
/// vector δ added to the output of block L at the subject's last token of every row
/// (`template.format(prompt)` + the target without its last token, one row per context
/// template, plus the KL row `"{} is a"`), optimised by Adam on
///
///   loss = mean over rewrite rows of (−Σ log p(target tokens) / #target tokens)
///          + kl_factor · KL(p ‖ p_initial) at the KL row's subject token
///          + v_weight_decay · ‖δ‖ / ‖h‖²,
///
/// stopping when loss < 0.05 or on the last iteration (before stepping), and rescaling δ to
/// norm clamp_norm_factor · ‖h‖ after each step when longer. z = h + δ, with h the block-L
/// output at row 0 (the bare template) before δ.
///
/// Incremental passes: blocks ≤ L and positions before each row's subject token do not
/// depend on δ, so every iteration after the first resumes the runtime's saved pass there
/// (model::Resume): the same results, a fraction of the work.
///
/// Decision: the rows are built from token ids (the prompt's tokens, then the target's tokens
/// but the last), so the target is read exactly as it is scored, whatever the tokenizer does
/// at the boundary.

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <Eigen/Core>

#include <vector>

namespace seqedit {
namespace facts {

/// The result of compute_z for one request.
struct TargetValue {
  Eigen::VectorXd z;      ///< h + δ (d)
  Eigen::VectorXd h;      ///< block-L output at row 0, before δ
  Eigen::VectorXd delta;  ///< the optimised δ
  std::vector<double> losses;  ///< the loss of every forward pass (iteration), NLL + KL + decay
  std::vector<double> nll;     ///< its NLL part (the mean over rewrite rows)
  int iterations = 0;          ///< forward passes done
};

/// compute_z for one request at layer `layer` (the last edited layer L).
/// \param incremental resume every pass after the first from the saved prefix (default);
///        false recomputes the whole pass each iteration, as MEMIT does (for tests).
/// \throws std::invalid_argument for v_loss_layer other than the last block (the runtime's
///         logits come from the last block), a layer out of range, or an unusable request.
TargetValue compute_z(const model::Model<float>& model, const text::Tokenizer& tok, const Request& request,
                      int layer, const Hparams& hp, const ContextTemplates& templates, bool incremental = true);

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_VALUES_HPP

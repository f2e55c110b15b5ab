#ifndef SEQEDIT_FACTS_UPDATE_HPP
#define SEQEDIT_FACTS_UPDATE_HPP

/// \file update.hpp
/// The multi-layer update (pipeline.md §6): one batch of requests, the layers l_1 < … < l_m = L
/// of the hyper-parameters, one `SequentialEditor` per layer.
///
/// For a batch: z for every request at L on the current model (values.hpp); then for each
/// layer i in order, on the model as edited so far: K_i = keys at l_i (keys.hpp), c = block-L
/// output at the subject's last token of the bare prompt, R_i = (z − c) / (m − i + 1),
/// `editor_i.apply_residual(K_i, R_i)`, and the editor's new W put into the model before the
/// next layer. Each editor journals what it was given, so it keeps its OTE guarantee over the
/// columns of its layer (math.md §3), and a fact is retracted from every layer exactly.
///
/// Methods (pipeline.md §6): MEMIT — objective λ C0 (λ = mom2_update_weight); AlphaEdit — the
/// layer's null-space projector of C0 (threshold nullspace_threshold, computed once on the
/// unedited model), λ = 0, ridge L2; MEMIT-PRUNE and MEMIT-RECT — the MEMIT objective with
/// the PRUNE or RECT post-processing regulariser in every layer (math.md §5), with
/// Algorithm 1's error compensation (math.md §6) by default under History::Aligned, so
/// that every layer keeps W_t = W0 + Δ*_t + e_t exactly. Each with History::Aligned
/// (default), None (naive sequential) or LatestOnly (Memorize-the-Latest).

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/prune.hpp"
#include "seqedit/rect.hpp"
#include "seqedit/sequential_editor.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

enum class Method { Memit, AlphaEdit, MemitPrune, MemitRect };

/// "memit" / "alphaedit" / "memit-prune" / "memit-rect" → Method.
/// \throws std::invalid_argument naming the known methods.
Method parse_method(const std::string& name);
const char* method_name(Method m);

/// True for the methods with a post-processing regulariser (MEMIT-PRUNE, MEMIT-RECT).
inline bool method_regularised(Method m) { return m == Method::MemitPrune || m == Method::MemitRect; }

/// Options of the regularised methods (ignored by MEMIT and AlphaEdit).
///
/// **Decision** (pipeline.md §6): compensation defaults to Algorithm 1
/// (`Compensation::Analytic`) under History::Aligned and to none under the other histories
/// (Algorithm 1 is defined against the OTE over all edits, math.md §6); the RECT ratio
/// defaults to the paper's values, p = 0.2 with compensation and p = 0.4 without
/// (math.md §5, pipeline.md §6: MEMIT_rect keeps 40 %, the compensated variant 20 %).
struct FactEditorOptions {
  /// Unset: Analytic when History::Aligned, else None. Analytic with another history is refused.
  std::optional<Compensation> compensation;
  /// RECT's ratio p ∈ (0, 1]. Unset: 0.2 with compensation, 0.4 without.
  std::optional<double> rect_ratio;

  /// Throws std::invalid_argument naming the field.
  void check(History history) const;
  /// The compensation used under `history`.
  Compensation compensation_for(History history) const;
  /// The RECT ratio used under `history`.
  double rect_ratio_for(History history) const;
};

/// What one batch did.
struct BatchReport {
  std::vector<std::int64_t> case_ids;
  std::vector<int> z_iterations;      ///< per request
  std::vector<double> z_final_loss;   ///< per request
  std::vector<double> residual_norm;  ///< per layer: ‖R_i‖_F
};

/// The per-layer editors of a run and the map case id → per-layer edit ids.
///
/// The editors of MEMIT and AlphaEdit are `Editor`s (no regulariser), those of MEMIT-PRUNE
/// `PruneEditor`s and those of MEMIT-RECT `RectEditor`s; `visit(i, f)` calls f with layer
/// i's editor whatever its type.
class FactEditor {
 public:
  using Editor = SequentialEditor<double>;
  using PruneEditor = SequentialEditor<double, Prune<double>>;
  using RectEditor = SequentialEditor<double, Rect<double>>;

  /// Editors for `hp.layers`, W0 taken from `model` as it is now, C0 per layer (d_k × d_k,
  /// the same order as hp.layers). \throws std::invalid_argument for a wrong count or size.
  FactEditor(const model::Model<float>& model, const Hparams& hp, Method method, History history,
             const std::vector<Eigen::MatrixXd>& c0, const FactEditorOptions& options = FactEditorOptions());

  /// Restores a run from editors (e.g. loaded by io::load_editor_state) and its case map;
  /// puts every editor's W into `model`. The editor type must be the method's
  /// (std::invalid_argument otherwise).
  FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<Editor> editors,
             std::map<std::int64_t, std::vector<EditId>> cases);
  FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<PruneEditor> editors,
             std::map<std::int64_t, std::vector<EditId>> cases);
  FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<RectEditor> editors,
             std::map<std::int64_t, std::vector<EditId>> cases);

  /// Applies one batch (pipeline.md §6) and writes the new weights into `model`. A batch
  /// either succeeds or throws and changes nothing (editors and model weights).
  /// \throws std::invalid_argument for a case id already applied (retract it first) or given
  /// twice.
  /// `progress`, if set, is called with one line per request (its z optimisation) and per
  /// layer (its step).
  BatchReport apply(model::Model<float>& model, const text::Tokenizer& tok, const std::vector<Request>& batch,
                    const ContextTemplates& templates, bool incremental = true,
                    const std::function<void(const std::string&)>& progress = {});

  /// Removes the facts of `case_ids` from every layer exactly (each layer's D becomes the OTE
  /// of its remaining columns) and writes the weights into `model`. Needs History::Aligned.
  void retract(model::Model<float>& model, const std::vector<std::int64_t>& case_ids);

  const std::vector<int>& layers() const { return hp_.layers; }
  const Hparams& hparams() const { return hp_; }
  Method method() const { return method_; }
  History history() const;
  /// The editors of MEMIT / AlphaEdit (empty for the regularised methods; see `visit`).
  const std::vector<Editor>& editors() const { return editors_; }
  /// The editors of MEMIT-PRUNE (empty for the other methods).
  const std::vector<PruneEditor>& prune_editors() const { return prune_editors_; }
  /// The editors of MEMIT-RECT (empty for the other methods).
  const std::vector<RectEditor>& rect_editors() const { return rect_editors_; }
  const std::map<std::int64_t, std::vector<EditId>>& cases() const { return cases_; }
  /// Case ids in the order they were applied (retracted ones removed).
  const std::vector<std::int64_t>& case_order() const { return order_; }
  /// Restores the application order of `cases()` (a permutation of its keys; for loaders).
  void set_case_order(std::vector<std::int64_t> order);

  /// Calls f(editor) with layer i's editor (an Editor, PruneEditor or RectEditor).
  template <typename F>
  decltype(auto) visit(std::size_t i, F&& f) const {
    if (i >= hp_.layers.size())
      throw std::invalid_argument("FactEditor::visit: layer index " + std::to_string(i) + " of " +
                                  std::to_string(hp_.layers.size()));
    if (method_ == Method::MemitPrune) return f(prune_editors_[i]);
    if (method_ == Method::MemitRect) return f(rect_editors_[i]);
    return f(editors_[i]);
  }

 private:
  template <typename F>
  decltype(auto) visit_mut(std::size_t i, F&& f) {
    if (method_ == Method::MemitPrune) return f(prune_editors_[i]);
    if (method_ == Method::MemitRect) return f(rect_editors_[i]);
    return f(editors_[i]);
  }
  void finish_restore(model::Model<float>& model, std::size_t count, bool type_matches);
  /// Copies of the editors and of the edited layers' weights, taken before a step.
  struct Snapshot {
    std::vector<Editor> editors;
    std::vector<PruneEditor> prune_editors;
    std::vector<RectEditor> rect_editors;
    std::vector<Eigen::MatrixXf> weights;
  };
  Snapshot snapshot(const model::Model<float>& model) const;
  void restore(model::Model<float>& model, Snapshot& s);

  Hparams hp_;
  Method method_;
  std::vector<Editor> editors_;
  std::vector<PruneEditor> prune_editors_;
  std::vector<RectEditor> rect_editors_;
  std::map<std::int64_t, std::vector<EditId>> cases_;  // case → one id per layer
  std::vector<std::int64_t> order_;                    // case ids in application order
};

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_UPDATE_HPP

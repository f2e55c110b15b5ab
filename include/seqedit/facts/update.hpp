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
/// unedited model), λ = 0, ridge L2. Each with History::Aligned (default), None (naive
/// sequential) or LatestOnly (Memorize-the-Latest).

#include "seqedit/facts/context_templates.hpp"
#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/model/model.hpp"
#include "seqedit/sequential_editor.hpp"
#include "seqedit/text/tokenizer.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

enum class Method { Memit, AlphaEdit };

/// "memit" / "alphaedit" → Method. \throws std::invalid_argument naming the known methods.
Method parse_method(const std::string& name);
const char* method_name(Method m);

/// What one batch did.
struct BatchReport {
  std::vector<std::int64_t> case_ids;
  std::vector<int> z_iterations;      ///< per request
  std::vector<double> z_final_loss;   ///< per request
  std::vector<double> residual_norm;  ///< per layer: ‖R_i‖_F
};

/// The per-layer editors of a run and the map case id → per-layer edit ids.
class FactEditor {
 public:
  using Editor = SequentialEditor<double>;

  /// Editors for `hp.layers`, W0 taken from `model` as it is now, C0 per layer (d_k × d_k,
  /// the same order as hp.layers). \throws std::invalid_argument for a wrong count or size.
  FactEditor(const model::Model<float>& model, const Hparams& hp, Method method, History history,
             const std::vector<Eigen::MatrixXd>& c0);

  /// Restores a run from editors (e.g. loaded by io::load_editor_state) and its case map;
  /// puts every editor's W into `model`.
  FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<Editor> editors,
             std::map<std::int64_t, std::vector<EditId>> cases);

  /// Applies one batch (pipeline.md §6) and writes the new weights into `model`.
  /// \throws std::invalid_argument for a case id already applied (retract it first).
  BatchReport apply(model::Model<float>& model, const text::Tokenizer& tok, const std::vector<Request>& batch,
                    const ContextTemplates& templates, bool incremental = true);

  /// Removes the facts of `case_ids` from every layer exactly (each layer's D becomes the OTE
  /// of its remaining columns) and writes the weights into `model`. Needs History::Aligned.
  void retract(model::Model<float>& model, const std::vector<std::int64_t>& case_ids);

  const std::vector<int>& layers() const { return hp_.layers; }
  const Hparams& hparams() const { return hp_; }
  Method method() const { return method_; }
  const std::vector<Editor>& editors() const { return editors_; }
  const std::map<std::int64_t, std::vector<EditId>>& cases() const { return cases_; }

 private:
  Hparams hp_;
  Method method_;
  std::vector<Editor> editors_;
  std::map<std::int64_t, std::vector<EditId>> cases_;  // case → one id per layer
};

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_UPDATE_HPP

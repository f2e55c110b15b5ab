// The multi-layer update through one SequentialEditor per layer (pipeline.md §6).

#include "seqedit/facts/update.hpp"

#include "seqedit/facts/keys.hpp"
#include "seqedit/facts/values.hpp"
#include "seqedit/projector.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

Method parse_method(const std::string& name) {
  if (name == "memit") return Method::Memit;
  if (name == "alphaedit") return Method::AlphaEdit;
  throw std::invalid_argument("unknown method '" + name + "' (known: memit, alphaedit)");
}

const char* method_name(Method m) { return m == Method::Memit ? "memit" : "alphaedit"; }

FactEditor::FactEditor(const model::Model<float>& model, const Hparams& hp, Method method, History history,
                       const std::vector<Eigen::MatrixXd>& c0)
    : hp_(hp), method_(method) {
  hp_.check();
  if (c0.size() != hp_.layers.size())
    throw std::invalid_argument("FactEditor: " + std::to_string(c0.size()) + " statistics for " +
                                std::to_string(hp_.layers.size()) + " layers");
  const int dk = model.config().d_ff;
  for (std::size_t i = 0; i < c0.size(); ++i) {
    const int l = hp_.layers[i];
    if (l >= model.config().n_layer)
      throw std::invalid_argument("FactEditor: layer " + std::to_string(l) + " is beyond the model's " +
                                  std::to_string(model.config().n_layer) + " layers");
    if (c0[i].rows() != dk || c0[i].cols() != dk)
      throw std::invalid_argument("FactEditor: statistics of layer " + std::to_string(l) + " are " +
                                  std::to_string(c0[i].rows()) + " x " + std::to_string(c0[i].cols()) +
                                  " but the layer has d_k = " + std::to_string(dk));
    const Eigen::MatrixXd w0 = model.ffn_output(l).cast<double>();
    EditorOptions<double> opt;
    opt.history = history;
    if (method == Method::Memit) {
      editors_.emplace_back(w0, c0[i], Objective<double>::memit(hp_.mom2_update_weight), opt);
    } else {
      opt.projector = NullSpaceProjector<double>(c0[i], hp_.nullspace_threshold);
      editors_.emplace_back(w0, c0[i], Objective<double>::alphaedit(hp_.L2), std::move(opt));
    }
  }
}

FactEditor::FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<Editor> editors,
                       std::map<std::int64_t, std::vector<EditId>> cases)
    : hp_(hp), method_(method), editors_(std::move(editors)), cases_(std::move(cases)) {
  hp_.check();
  if (editors_.size() != hp_.layers.size())
    throw std::invalid_argument("FactEditor: " + std::to_string(editors_.size()) + " editors for " +
                                std::to_string(hp_.layers.size()) + " layers");
  for (std::size_t i = 0; i < editors_.size(); ++i)
    model.set_ffn_output(hp_.layers[i], editors_[i].weights().cast<float>());
}

BatchReport FactEditor::apply(model::Model<float>& model, const text::Tokenizer& tok,
                              const std::vector<Request>& batch, const ContextTemplates& templates,
                              bool incremental) {
  BatchReport rep;
  if (batch.empty()) return rep;
  for (const Request& r : batch) {
    if (cases_.count(r.case_id))
      throw std::invalid_argument("FactEditor::apply: case_id " + std::to_string(r.case_id) + " is already applied");
    rep.case_ids.push_back(r.case_id);
  }
  const int L = hp_.layers.back();
  const int m = static_cast<int>(hp_.layers.size());
  Eigen::MatrixXd Z(model.config().d_model, static_cast<Eigen::Index>(batch.size()));
  for (std::size_t j = 0; j < batch.size(); ++j) {
    const TargetValue tv = compute_z(model, tok, batch[j], L, hp_, templates, incremental);
    Z.col(static_cast<Eigen::Index>(j)) = tv.z;
    rep.z_iterations.push_back(tv.iterations);
    rep.z_final_loss.push_back(tv.losses.back());
  }
  std::vector<std::vector<EditId>> ids(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) {
    const int l = hp_.layers[static_cast<std::size_t>(i)];
    const Eigen::MatrixXd K = compute_keys(model, tok, batch, l, templates);
    const Eigen::MatrixXd cur = block_outputs_at_subject(model, tok, batch, L);
    const Eigen::MatrixXd R = (Z - cur) / static_cast<double>(m - i);
    rep.residual_norm.push_back(R.norm());
    Editor& ed = editors_[static_cast<std::size_t>(i)];
    ids[static_cast<std::size_t>(i)] = ed.apply_residual(K, R);
    model.set_ffn_output(l, ed.weights().cast<float>());
  }
  for (std::size_t j = 0; j < batch.size(); ++j) {
    std::vector<EditId>& per_layer = cases_[batch[j].case_id];
    for (int i = 0; i < m; ++i) per_layer.push_back(ids[static_cast<std::size_t>(i)][j]);
  }
  return rep;
}

void FactEditor::retract(model::Model<float>& model, const std::vector<std::int64_t>& case_ids) {
  if (case_ids.empty()) throw std::invalid_argument("FactEditor::retract: no case ids");
  for (std::int64_t c : case_ids)
    if (!cases_.count(c))
      throw std::invalid_argument("FactEditor::retract: case_id " + std::to_string(c) + " is not applied");
  for (std::size_t i = 0; i < editors_.size(); ++i) {
    std::vector<EditId> ids;
    for (std::int64_t c : case_ids) ids.push_back(cases_.at(c).at(i));
    editors_[i].retract(ids);
    model.set_ffn_output(hp_.layers[i], editors_[i].weights().cast<float>());
  }
  for (std::int64_t c : case_ids) cases_.erase(c);
}

}  // namespace facts
}  // namespace seqedit

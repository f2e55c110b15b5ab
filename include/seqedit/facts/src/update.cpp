// The multi-layer update through one SequentialEditor per layer (pipeline.md §6).

#include "seqedit/facts/update.hpp"

#include "seqedit/facts/keys.hpp"
#include "seqedit/facts/values.hpp"
#include "seqedit/projector.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

Method parse_method(const std::string& name) {
  if (name == "memit") return Method::Memit;
  if (name == "alphaedit") return Method::AlphaEdit;
  if (name == "memit-prune") return Method::MemitPrune;
  if (name == "memit-rect") return Method::MemitRect;
  throw std::invalid_argument("unknown method '" + name + "' (known: memit, alphaedit, memit-prune, memit-rect)");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Memit: return "memit";
    case Method::AlphaEdit: return "alphaedit";
    case Method::MemitPrune: return "memit-prune";
    case Method::MemitRect: return "memit-rect";
  }
  return "?";
}

void FactEditorOptions::check(History history) const {
  if (compensation && *compensation == Compensation::Analytic && history != History::Aligned)
    throw std::invalid_argument(
        "FactEditorOptions::compensation = analytic needs history aligned (Algorithm 1 compensates towards "
        "the one-time solution over all edits)");
  if (rect_ratio && !(*rect_ratio > 0.0 && *rect_ratio <= 1.0))
    throw std::invalid_argument("FactEditorOptions::rect_ratio must be in (0, 1], got " + std::to_string(*rect_ratio));
}

Compensation FactEditorOptions::compensation_for(History history) const {
  if (compensation) return *compensation;
  return history == History::Aligned ? Compensation::Analytic : Compensation::None;
}

double FactEditorOptions::rect_ratio_for(History history) const {
  if (rect_ratio) return *rect_ratio;
  return compensation_for(history) == Compensation::Analytic ? 0.2 : 0.4;
}

FactEditor::FactEditor(const model::Model<float>& model, const Hparams& hp, Method method, History history,
                       const std::vector<Eigen::MatrixXd>& c0, const FactEditorOptions& options)
    : hp_(hp), method_(method) {
  hp_.check();
  options.check(history);
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
    } else if (method == Method::MemitPrune) {
      opt.compensation = options.compensation_for(history);
      prune_editors_.emplace_back(w0, c0[i], Objective<double>::memit(hp_.mom2_update_weight), opt,
                                  Prune<double>());
    } else if (method == Method::MemitRect) {
      opt.compensation = options.compensation_for(history);
      rect_editors_.emplace_back(w0, c0[i], Objective<double>::memit(hp_.mom2_update_weight), opt,
                                 Rect<double>(options.rect_ratio_for(history)));
    } else {
      opt.projector = NullSpaceProjector<double>(c0[i], hp_.nullspace_threshold);
      editors_.emplace_back(w0, c0[i], Objective<double>::alphaedit(hp_.L2), std::move(opt));
    }
  }
}

FactEditor::FactEditor(model::Model<float>& model, const Hparams& hp, Method method, std::vector<Editor> editors,
                       std::map<std::int64_t, std::vector<EditId>> cases)
    : hp_(hp), method_(method), editors_(std::move(editors)), cases_(std::move(cases)) {
  finish_restore(model, editors_.size(), !method_regularised(method));
}

FactEditor::FactEditor(model::Model<float>& model, const Hparams& hp, Method method,
                       std::vector<PruneEditor> editors, std::map<std::int64_t, std::vector<EditId>> cases)
    : hp_(hp), method_(method), prune_editors_(std::move(editors)), cases_(std::move(cases)) {
  finish_restore(model, prune_editors_.size(), method == Method::MemitPrune);
}

FactEditor::FactEditor(model::Model<float>& model, const Hparams& hp, Method method,
                       std::vector<RectEditor> editors, std::map<std::int64_t, std::vector<EditId>> cases)
    : hp_(hp), method_(method), rect_editors_(std::move(editors)), cases_(std::move(cases)) {
  finish_restore(model, rect_editors_.size(), method == Method::MemitRect);
}

void FactEditor::finish_restore(model::Model<float>& model, std::size_t count, bool type_matches) {
  hp_.check();
  if (!type_matches)
    throw std::invalid_argument(std::string("FactEditor: the editors given are not of method ") +
                                method_name(method_) + "'s type");
  if (count != hp_.layers.size())
    throw std::invalid_argument("FactEditor: " + std::to_string(count) + " editors for " +
                                std::to_string(hp_.layers.size()) + " layers");
  for (const auto& kv : cases_) {
    if (kv.second.size() != count)
      throw std::invalid_argument("FactEditor: case_id " + std::to_string(kv.first) + " has " +
                                  std::to_string(kv.second.size()) + " edit ids for " + std::to_string(count) +
                                  " layers");
    order_.push_back(kv.first);
  }
  for (std::size_t i = 0; i < count; ++i) {
    const Eigen::MatrixXd w = visit(i, [](const auto& ed) { return Eigen::MatrixXd(ed.weights()); });
    model.set_ffn_output(hp_.layers[i], w.cast<float>());
  }
}

History FactEditor::history() const {
  return visit(0, [](const auto& ed) { return ed.options().history; });
}

void FactEditor::set_case_order(std::vector<std::int64_t> order) {
  std::vector<std::int64_t> a = order, b;
  for (const auto& kv : cases_) b.push_back(kv.first);
  std::sort(a.begin(), a.end());
  if (a != b)
    throw std::invalid_argument("FactEditor::set_case_order: " + std::to_string(order.size()) +
                                " ids that are not a permutation of the " + std::to_string(b.size()) +
                                " applied case ids");
  order_ = std::move(order);
}

FactEditor::Snapshot FactEditor::snapshot(const model::Model<float>& model) const {
  Snapshot s;
  s.editors = editors_;
  s.prune_editors = prune_editors_;
  s.rect_editors = rect_editors_;
  for (int l : hp_.layers) s.weights.push_back(model.ffn_output(l));
  return s;
}

void FactEditor::restore(model::Model<float>& model, Snapshot& s) {
  editors_.swap(s.editors);
  prune_editors_.swap(s.prune_editors);
  rect_editors_.swap(s.rect_editors);
  for (std::size_t i = 0; i < hp_.layers.size(); ++i) model.set_ffn_output(hp_.layers[i], s.weights[i]);
}

BatchReport FactEditor::apply(model::Model<float>& model, const text::Tokenizer& tok,
                              const std::vector<Request>& batch, const ContextTemplates& templates,
                              bool incremental, const std::function<void(const std::string&)>& progress) {
  BatchReport rep;
  if (batch.empty()) return rep;
  std::set<std::int64_t> seen;
  for (const Request& r : batch) {
    if (cases_.count(r.case_id))
      throw std::invalid_argument("FactEditor::apply: case_id " + std::to_string(r.case_id) + " is already applied");
    if (!seen.insert(r.case_id).second)
      throw std::invalid_argument("FactEditor::apply: case_id " + std::to_string(r.case_id) +
                                  " occurs twice in the batch");
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
    if (progress)
      progress("request " + std::to_string(j + 1) + "/" + std::to_string(batch.size()) + " (case_id " +
               std::to_string(batch[j].case_id) + "): z in " + std::to_string(tv.iterations) + " iterations, loss " +
               std::to_string(tv.losses.front()) + " -> " + std::to_string(tv.losses.back()));
  }
  std::vector<std::vector<EditId>> ids(static_cast<std::size_t>(m));
  // A step that fails in a later layer leaves the earlier layers of this batch applied:
  // the editors and the model's weights are restored from this snapshot, so a failed batch
  // changes nothing.
  Snapshot snap = snapshot(model);
  try {
  for (int i = 0; i < m; ++i) {
    const int l = hp_.layers[static_cast<std::size_t>(i)];
    const Eigen::MatrixXd K = compute_keys(model, tok, batch, l, templates);
    const Eigen::MatrixXd cur = block_outputs_at_subject(model, tok, batch, L);
    const Eigen::MatrixXd R = (Z - cur) / static_cast<double>(m - i);
    rep.residual_norm.push_back(R.norm());
    const Eigen::MatrixXd w = visit_mut(static_cast<std::size_t>(i), [&](auto& ed) {
      ids[static_cast<std::size_t>(i)] = ed.apply_residual(K, R);
      return Eigen::MatrixXd(ed.weights());
    });
    model.set_ffn_output(l, w.cast<float>());
    if (progress)
      progress("layer " + std::to_string(l) + " (" + std::to_string(i + 1) + "/" + std::to_string(m) +
               "): " + std::to_string(batch.size()) + " keys, |R|_F = " + std::to_string(R.norm()));
  }
  } catch (...) {
    restore(model, snap);
    throw;
  }
  for (std::size_t j = 0; j < batch.size(); ++j) {
    std::vector<EditId>& per_layer = cases_[batch[j].case_id];
    for (int i = 0; i < m; ++i) per_layer.push_back(ids[static_cast<std::size_t>(i)][j]);
    order_.push_back(batch[j].case_id);
  }
  return rep;
}

void FactEditor::retract(model::Model<float>& model, const std::vector<std::int64_t>& case_ids) {
  if (case_ids.empty()) throw std::invalid_argument("FactEditor::retract: no case ids");
  std::set<std::int64_t> seen;
  for (std::int64_t c : case_ids) {
    if (!cases_.count(c))
      throw std::invalid_argument("FactEditor::retract: case_id " + std::to_string(c) + " is not applied");
    if (!seen.insert(c).second)
      throw std::invalid_argument("FactEditor::retract: case_id " + std::to_string(c) + " is given twice");
  }
  Snapshot snap = snapshot(model);
  try {
  for (std::size_t i = 0; i < hp_.layers.size(); ++i) {
    std::vector<EditId> ids;
    for (std::int64_t c : case_ids) ids.push_back(cases_.at(c).at(i));
    const Eigen::MatrixXd w = visit_mut(i, [&](auto& ed) {
      ed.retract(ids);
      return Eigen::MatrixXd(ed.weights());
    });
    model.set_ffn_output(hp_.layers[i], w.cast<float>());
  }
  } catch (...) {
    restore(model, snap);
    throw;
  }
  for (std::int64_t c : case_ids) {
    cases_.erase(c);
    order_.erase(std::remove(order_.begin(), order_.end(), c), order_.end());
  }
}

}  // namespace facts
}  // namespace seqedit

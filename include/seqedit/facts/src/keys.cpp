// Keys (pipeline.md §4) and the block outputs of the multi-layer update (§6).

#include "seqedit/facts/keys.hpp"

#include "seqedit/facts/subject.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

Eigen::MatrixXd compute_keys(const model::Model<float>& model, const text::Tokenizer& tok,
                             const std::vector<Request>& requests, int layer, const ContextTemplates& templates) {
  templates.check();
  if (layer < 0 || layer >= model.config().n_layer)
    throw std::invalid_argument("compute_keys: layer " + std::to_string(layer) + " is outside [0, " +
                                std::to_string(model.config().n_layer) + ")");
  const int dk = model.config().d_ff;
  Eigen::MatrixXd K = Eigen::MatrixXd::Zero(dk, static_cast<Eigen::Index>(requests.size()));
  if (requests.empty()) return K;
  model::Batch batch;
  model::RunOptions<float> opt;
  opt.key_layers = {layer};
  for (const Request& r : requests)
    for (const auto& group : templates.groups)
      for (const std::string& t : group) {
        const SubjectPrompt p = encode_subject_prompt(tok, format_template(t, r.prompt), r.subject);
        opt.key_sites.push_back({static_cast<int>(batch.prompts.size()), p.subject_last});
        batch.prompts.push_back(p.ids);
      }
  const auto res = model.run(batch, opt);
  const Eigen::MatrixXd keys = res.keys.at(0).cast<double>();
  Eigen::Index col = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    Eigen::VectorXd acc = Eigen::VectorXd::Zero(dk);
    for (const auto& group : templates.groups) {
      Eigen::VectorXd g = Eigen::VectorXd::Zero(dk);
      for (std::size_t j = 0; j < group.size(); ++j) g += keys.col(col++);
      acc += g / static_cast<double>(group.size());
    }
    K.col(static_cast<Eigen::Index>(i)) = acc / static_cast<double>(templates.groups.size());
  }
  return K;
}

Eigen::MatrixXd block_outputs_at_subject(const model::Model<float>& model, const text::Tokenizer& tok,
                                         const std::vector<Request>& requests, int layer) {
  if (layer < 0 || layer >= model.config().n_layer)
    throw std::invalid_argument("block_outputs_at_subject: layer " + std::to_string(layer) + " is out of range");
  Eigen::MatrixXd out(model.config().d_model, static_cast<Eigen::Index>(requests.size()));
  if (requests.empty()) return out;
  model::Batch batch;
  model::RunOptions<float> opt;
  opt.residual_layers = {layer};
  for (const Request& r : requests) {
    const SubjectPrompt p = encode_subject_prompt(tok, r.prompt, r.subject);
    opt.residual_sites.push_back({static_cast<int>(batch.prompts.size()), p.subject_last});
    batch.prompts.push_back(p.ids);
  }
  return model.run(batch, opt).residuals.at(0).cast<double>();
}

}  // namespace facts
}  // namespace seqedit

// Target values: MEMIT's compute_z on the runtime's δ-gradient, with incremental passes
// (pipeline.md §5).

#include "seqedit/facts/values.hpp"

#include "seqedit/facts/subject.hpp"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

TargetValue compute_z(const model::Model<float>& model, const text::Tokenizer& tok, const Request& request,
                      int layer, const Hparams& hp, const ContextTemplates& templates, bool incremental) {
  templates.check();
  const model::ModelConfig& cfg = model.config();
  if (layer < 0 || layer >= cfg.n_layer)
    throw std::invalid_argument("compute_z: layer " + std::to_string(layer) + " is outside [0, " +
                                std::to_string(cfg.n_layer) + ")");
  if (hp.v_loss_layer >= 0 && hp.v_loss_layer != cfg.n_layer - 1)
    throw std::invalid_argument("compute_z: v_loss_layer is " + std::to_string(hp.v_loss_layer) +
                                "; the logits are read after the last block (" + std::to_string(cfg.n_layer - 1) +
                                "), as in every published setting");
  check_request(request, "compute_z: case_id " + std::to_string(request.case_id));

  const std::vector<std::int32_t> target = encode_continuation(tok, request.target_new);
  const int m = static_cast<int>(target.size());

  // rows: every template with the target but its last token, then the KL row
  model::Batch batch;
  std::vector<model::Site> sites;
  std::vector<int> prefix_len;
  for (const std::string& t : templates.flat()) {
    SubjectPrompt p = encode_subject_prompt(tok, format_template(t, request.prompt), request.subject);
    prefix_len.push_back(static_cast<int>(p.ids.size()));
    sites.push_back({static_cast<int>(batch.prompts.size()), p.subject_last});
    p.ids.insert(p.ids.end(), target.begin(), target.end() - 1);
    batch.prompts.push_back(std::move(p.ids));
  }
  const int rows = static_cast<int>(batch.prompts.size());
  const SubjectPrompt kl = encode_subject_prompt(tok, "{} is a", request.subject);
  const model::Site kl_site{rows, kl.subject_last};
  sites.push_back(kl_site);
  batch.prompts.push_back(kl.ids);

  model::Loss<float> loss;
  const double w = 1.0 / (static_cast<double>(rows) * m);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < m; ++j) loss.nll.push_back({r, prefix_len[static_cast<std::size_t>(r)] - 1 + j, target[static_cast<std::size_t>(j)], w});

  const Eigen::Index d = cfg.d_model;
  const int n_sites = static_cast<int>(sites.size());
  TargetValue out;
  Eigen::VectorXd delta = Eigen::VectorXd::Zero(d), adam_m = Eigen::VectorXd::Zero(d), adam_v = Eigen::VectorXd::Zero(d);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;  // torch.optim.Adam's defaults, as MEMIT uses
  std::shared_ptr<const model::PassState<float>> state;
  double h_norm2 = 0;
  std::vector<int> from;
  for (const model::Site& s : sites) from.push_back(s.position);

  for (int it = 0; it < hp.v_num_grad_steps; ++it) {
    model::RunOptions<float> opt;
    model::Intervention<float> iv;
    iv.layer = layer;
    iv.sites = sites;
    iv.delta = delta.cast<float>().replicate(1, n_sites);
    opt.interventions.push_back(std::move(iv));
    if (it == 0) {
      opt.residual_layers = {layer};
      opt.residual_sites = {sites[0]};
      opt.distributions = {kl_site};
      opt.save_state = incremental;
    } else if (incremental) {
      opt.resume.state = state;
      opt.resume.layer = layer;
      opt.resume.from = from;
    }
    const model::GradientResult<float> g = model.gradient(batch, opt, loss);
    if (it == 0) {
      out.h = g.forward.residuals.at(0).col(0).cast<double>();
      h_norm2 = out.h.squaredNorm();
      if (!(h_norm2 > 0)) throw std::invalid_argument("compute_z: the block output h is zero");
      model::KlTerm<float> k;
      k.prompt = kl_site.prompt;
      k.position = kl_site.position;
      k.weight = hp.kl_factor;
      k.reference = g.forward.distributions.col(0);
      loss.kl.push_back(std::move(k));  // KL(p ‖ p_initial) and its gradient are 0 at δ = 0
      state = g.forward.state;
    }
    const double dn = delta.norm();
    const double decay = hp.v_weight_decay * dn / h_norm2;
    const double total = static_cast<double>(g.loss) + decay;
    out.losses.push_back(total);
    ++out.iterations;
    if (total < 5e-2) break;
    if (it == hp.v_num_grad_steps - 1) break;
    Eigen::VectorXd grad = g.delta_gradients.at(0).cast<double>().rowwise().sum();
    if (dn > 0) grad += (hp.v_weight_decay / (dn * h_norm2)) * delta;
    const double t = it + 1;
    adam_m = b1 * adam_m + (1 - b1) * grad;
    adam_v = b2 * adam_v + (1 - b2) * grad.cwiseProduct(grad);
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    const Eigen::VectorXd denom = (adam_v.array().sqrt() / std::sqrt(bc2) + eps).matrix();
    delta -= (hp.v_lr / bc1) * adam_m.cwiseQuotient(denom);
    const double max_norm = hp.clamp_norm_factor * std::sqrt(h_norm2);
    const double nn = delta.norm();
    if (nn > max_norm) delta *= max_norm / nn;
  }
  out.delta = delta;
  out.z = out.h + delta;
  return out;
}

}  // namespace facts
}  // namespace seqedit

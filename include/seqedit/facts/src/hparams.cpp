// Hyper-parameters: MEMIT / AlphaEdit hparams files and presets (pipeline.md §9).

#include "seqedit/facts/hparams.hpp"

#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

using nlohmann::json;

void Hparams::check() const {
  auto bad = [](const std::string& field, const std::string& what) {
    throw std::invalid_argument("hparams: " + field + " " + what);
  };
  if (layers.empty()) bad("layers", "is empty; at least one layer is edited");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] < 0) bad("layers", "has the negative layer " + std::to_string(layers[i]));
    if (i > 0 && layers[i] <= layers[i - 1])
      bad("layers", "must be strictly increasing (" + std::to_string(layers[i - 1]) + " then " +
                        std::to_string(layers[i]) + ")");
  }
  if (fact_token != "subject_last")
    bad("fact_token", "'" + fact_token + "' is not supported (only 'subject_last', pipeline.md §2)");
  if (v_num_grad_steps < 1) bad("v_num_grad_steps", "is " + std::to_string(v_num_grad_steps) + "; it must be >= 1");
  auto positive = [&](const char* name, double v) {
    if (!(v > 0) || !std::isfinite(v)) bad(name, "is " + std::to_string(v) + "; it must be positive and finite");
  };
  auto nonneg = [&](const char* name, double v) {
    if (!(v >= 0) || !std::isfinite(v)) bad(name, "is " + std::to_string(v) + "; it must be >= 0 and finite");
  };
  positive("v_lr", v_lr);
  nonneg("v_weight_decay", v_weight_decay);
  nonneg("kl_factor", kl_factor);
  positive("clamp_norm_factor", clamp_norm_factor);
  nonneg("mom2_update_weight", mom2_update_weight);
  positive("nullspace_threshold", nullspace_threshold);
  nonneg("L2", L2);
  if (mom2_n_samples < 1) bad("mom2_n_samples", "is " + std::to_string(mom2_n_samples) + "; it must be >= 1");
  if (mom2_dtype != "float32" && mom2_dtype != "float64" && mom2_dtype != "float16" && mom2_dtype != "bfloat16")
    bad("mom2_dtype", "'" + mom2_dtype + "' is not a dtype name (float32, float64, float16, bfloat16)");
  if (std::count(rewrite_module_tmp.begin(), rewrite_module_tmp.end(), '{') != 1 ||
      rewrite_module_tmp.find("{}") == std::string::npos)
    bad("rewrite_module_tmp", "'" + rewrite_module_tmp + "' must contain exactly one '{}'");
}

std::string Hparams::rewrite_module(int layer) const {
  const std::size_t p = rewrite_module_tmp.find("{}");
  if (p == std::string::npos) throw std::invalid_argument("hparams: rewrite_module_tmp has no '{}'");
  return rewrite_module_tmp.substr(0, p) + std::to_string(layer) + rewrite_module_tmp.substr(p + 2);
}

namespace {

const std::set<std::string>& ignored_fields() {
  static const std::set<std::string> s{"layer_selection", "mlp_module_tmp", "attn_module_tmp", "mom2_adjustment",
                                       "mom2_dataset", "model_name", "context_template_length_params"};
  return s;
}

double number(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_number()) throw io::format_error(where + ": field '" + key + "' must be a number");
  return v.get<double>();
}

int integer(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_number_integer()) throw io::format_error(where + ": field '" + key + "' must be an integer");
  const long long x = v.get<long long>();
  if (x < -1000000000LL || x > 1000000000LL) throw io::format_error(where + ": field '" + key + "' is out of range");
  return static_cast<int>(x);
}

std::string string(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_string()) throw io::format_error(where + ": field '" + key + "' must be a string");
  return v.get<std::string>();
}

}  // namespace

Hparams parse_hparams(const std::string& text, const std::string& origin) {
  const json doc = io::detail::parse_json_strict(text.data(), text.data() + text.size(), origin, "hparams");
  if (!doc.is_object()) throw io::format_error(origin + ": hparams must be a JSON object");
  Hparams hp;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "layers") {
      if (!v.is_array()) throw io::format_error(origin + ": field 'layers' must be a list of integers");
      hp.layers.clear();
      for (const json& e : v) hp.layers.push_back(integer(e, origin, "layers"));
    } else if (k == "fact_token") hp.fact_token = string(v, origin, k);
    else if (k == "v_num_grad_steps") hp.v_num_grad_steps = integer(v, origin, k);
    else if (k == "v_lr") hp.v_lr = number(v, origin, k);
    else if (k == "v_loss_layer") hp.v_loss_layer = integer(v, origin, k);
    else if (k == "v_weight_decay") hp.v_weight_decay = number(v, origin, k);
    else if (k == "kl_factor") hp.kl_factor = number(v, origin, k);
    else if (k == "clamp_norm_factor") hp.clamp_norm_factor = number(v, origin, k);
    else if (k == "mom2_update_weight") hp.mom2_update_weight = number(v, origin, k);
    else if (k == "rewrite_module_tmp") hp.rewrite_module_tmp = string(v, origin, k);
    else if (k == "layer_module_tmp") hp.layer_module_tmp = string(v, origin, k);
    else if (k == "ln_f_module") hp.ln_f_module = string(v, origin, k);
    else if (k == "lm_head_module") hp.lm_head_module = string(v, origin, k);
    else if (k == "mom2_n_samples") {
      if (!v.is_number_integer()) throw io::format_error(origin + ": field 'mom2_n_samples' must be an integer");
      hp.mom2_n_samples = v.get<std::int64_t>();
    } else if (k == "mom2_dtype") hp.mom2_dtype = string(v, origin, k);
    else if (k == "nullspace_threshold") hp.nullspace_threshold = number(v, origin, k);
    else if (k == "L2") hp.L2 = number(v, origin, k);
    else if (ignored_fields().count(k)) hp.ignored.push_back(k);
    else
      throw io::format_error(origin + ": unknown field '" + k +
                             "' (neither MEMIT nor AlphaEdit defines it)");
  }
  if (!doc.contains("layers")) throw io::format_error(origin + ": missing field 'layers'");
  try {
    hp.check();
  } catch (const std::invalid_argument& e) {
    throw io::format_error(origin + ": " + e.what());
  }
  return hp;
}

Hparams read_hparams(const std::string& path) {
  const std::vector<char> buf = io::detail::read_whole_file(path, std::uint64_t(1) << 24);
  return parse_hparams(std::string(buf.begin(), buf.end()), path);
}

std::vector<std::string> preset_names() { return {"gpt2-xl", "gpt-j", "llama3-8b"}; }

Hparams preset_hparams(const std::string& name) {
  Hparams hp;
  hp.v_weight_decay = 0.5;
  hp.kl_factor = 0.0625;
  hp.clamp_norm_factor = 0.75;
  hp.nullspace_threshold = 2e-2;
  hp.L2 = 10.0;
  hp.mom2_n_samples = 100000;
  hp.mom2_dtype = "float32";
  if (name == "gpt2-xl") {
    hp.layers = {13, 14, 15, 16, 17};
    hp.v_num_grad_steps = 20;
    hp.v_lr = 0.5;
    hp.v_loss_layer = 47;
    hp.mom2_update_weight = 20000;
    hp.rewrite_module_tmp = "transformer.h.{}.mlp.c_proj";
    hp.layer_module_tmp = "transformer.h.{}";
    hp.ln_f_module = "transformer.ln_f";
    hp.lm_head_module = "transformer.wte";
  } else if (name == "gpt-j") {
    hp.layers = {3, 4, 5, 6, 7, 8};
    hp.v_num_grad_steps = 25;
    hp.v_lr = 0.5;
    hp.v_loss_layer = 27;
    hp.mom2_update_weight = 15000;
    hp.rewrite_module_tmp = "transformer.h.{}.mlp.fc_out";
    hp.layer_module_tmp = "transformer.h.{}";
    hp.ln_f_module = "transformer.ln_f";
    hp.lm_head_module = "lm_head";
  } else if (name == "llama3-8b") {
    hp.layers = {4, 5, 6, 7, 8};
    hp.v_num_grad_steps = 25;
    hp.v_lr = 0.1;
    hp.v_loss_layer = 31;
    hp.mom2_update_weight = 15000;
    hp.rewrite_module_tmp = "model.layers.{}.mlp.down_proj";
    hp.layer_module_tmp = "model.layers.{}";
    hp.ln_f_module = "model.norm";
    hp.lm_head_module = "lm_head";
  } else {
    std::string known;
    for (const std::string& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown hparams preset '" + name + "' (known: " + known + ")");
  }
  return hp;
}

Hparams default_hparams(int n_layer, const std::string& module_tmp) {
  if (n_layer < 2) throw std::invalid_argument("default_hparams: n_layer is " + std::to_string(n_layer) + "; need >= 2");
  Hparams hp;
  const int centre = n_layer / 4;
  const int hi_limit = n_layer - 2;
  int lo = std::max(0, centre - 2), hi = std::min(hi_limit, centre + 2);
  if (hi < lo) hi = lo;
  hp.layers.clear();
  for (int l = lo; l <= hi; ++l) hp.layers.push_back(l);
  hp.v_loss_layer = n_layer - 1;
  hp.rewrite_module_tmp = module_tmp;
  hp.check();
  return hp;
}

void check_modules(const Hparams& hp, int n_layer, const std::vector<std::string>& tensor_names) {
  hp.check();
  for (int l : hp.layers) {
    if (l >= n_layer)
      throw std::invalid_argument("hparams: layers has " + std::to_string(l) + " but the checkpoint has " +
                                  std::to_string(n_layer) + " layers");
    const std::string m = hp.rewrite_module(l);
    const bool found = std::find(tensor_names.begin(), tensor_names.end(), m + ".weight") != tensor_names.end();
    if (!found)
      throw std::invalid_argument("hparams: rewrite_module_tmp gives module '" + m +
                                  "', which is not in the checkpoint (no tensor '" + m + ".weight')");
  }
  if (hp.v_loss_layer >= n_layer)
    throw std::invalid_argument("hparams: v_loss_layer is " + std::to_string(hp.v_loss_layer) +
                                " but the checkpoint has " + std::to_string(n_layer) + " layers");
}

}  // namespace facts
}  // namespace seqedit

// seqedit::model: forward passes of a Hugging Face checkpoint on the CPU (built when the
// seqedit_model library is). The package's `seqedit.Model` wraps these classes.

#include "common.hpp"

#include <seqedit/model/model.hpp>

#include <cstdint>
#include <tuple>

namespace seqedit_py {

namespace {

namespace sm = seqedit::model;

using SitePairs = std::vector<std::pair<int, int>>;
using Queries = std::vector<std::tuple<int, int, std::int32_t>>;

std::vector<sm::Site> sites_of(const SitePairs& s) {
  std::vector<sm::Site> out;
  out.reserve(s.size());
  for (const auto& p : s) out.push_back(sm::Site{p.first, p.second});
  return out;
}

py::dict config_dict(const sm::ModelConfig& c) {
  py::dict d;
  d["model_type"] = c.model_type;
  d["vocab_size"] = c.vocab_size;
  d["d_model"] = c.d_model;
  d["n_layer"] = c.n_layer;
  d["n_head"] = c.n_head;
  d["n_kv_head"] = c.n_kv_head;
  d["head_dim"] = c.head_dim;
  d["d_ff"] = c.d_ff;
  d["max_positions"] = c.max_positions;
  d["sliding_window"] = c.sliding_window;
  d["tie_word_embeddings"] = c.tie_word_embeddings;
  return d;
}

template <typename S>
void bind_model_of(py::module_& m) {
  using Model = sm::Model<S>;
  const std::string name = std::string("Model_") + suffix<S>();
  py::class_<Model>(m, name.c_str())
      .def_static("load", [](const std::string& dir) {
        py::gil_scoped_release nogil;
        return Model::load(dir);
      })
      .def("config", [](const Model& model) { return config_dict(model.config()); })
      .def_property_readonly("dir", &Model::dir)
      .def_property_readonly("weight_bytes", &Model::weight_bytes)
      .def("run",
           [](const Model& model, const std::vector<std::vector<std::int32_t>>& prompts, const Queries& logprobs,
              const SitePairs& distributions, const SitePairs& logits, const std::vector<int>& key_layers,
              const SitePairs& key_sites, const std::vector<int>& residual_layers, const SitePairs& residual_sites) {
             sm::Batch batch{prompts};
             sm::RunOptions<S> opt;
             for (const auto& q : logprobs)
               opt.logprobs.push_back(sm::TokenQuery{std::get<0>(q), std::get<1>(q), std::get<2>(q)});
             opt.distributions = sites_of(distributions);
             opt.logits = sites_of(logits);
             opt.key_layers = key_layers;
             opt.key_sites = sites_of(key_sites);
             opt.residual_layers = residual_layers;
             opt.residual_sites = sites_of(residual_sites);
             sm::ForwardResult<S> r;
             {
               py::gil_scoped_release nogil;
               r = model.run(batch, opt);
             }
             py::dict out;
             out["logprobs"] = r.logprobs;
             out["distributions"] = to_numpy<S>(std::move(r.distributions));
             out["logits"] = to_numpy<S>(std::move(r.logits));
             py::list keys, residuals;
             for (auto& k : r.keys) keys.append(to_numpy<S>(std::move(k)));
             for (auto& h : r.residuals) residuals.append(to_numpy<S>(std::move(h)));
             out["keys"] = keys;
             out["residuals"] = residuals;
             return out;
           })
      .def("ffn_output", [](const Model& model, int layer) {
        Mat<S> w;
        {
          py::gil_scoped_release nogil;
          w = model.ffn_output(layer);
        }
        return to_numpy<S>(std::move(w));
      })
      .def("set_ffn_output", [](Model& model, int layer, const py::array& w) {
        const Mat<S> copy = view<S>(w, "W");
        py::gil_scoped_release nogil;
        model.set_ffn_output(layer, copy);
      })
      .def("reset_ffn_output", [](Model& model, int layer) { model.reset_ffn_output(layer); });
}

}  // namespace

void bind_model(py::module_& m) {
  bind_model_of<float>(m);
  bind_model_of<double>(m);
}

}  // namespace seqedit_py

// SequentialEditor for float and double, with each regulariser (none, PRUNE, RECT), and
// the editor-state files. Classes `SequentialEditor_<f64|f32>_<none|prune|rect>`.
//
// Each Python editor owns its C++ editor through a shared pointer together with a mutex:
// calls release the GIL and take the mutex, so two Python threads never run on one editor
// at once, and an interrupted refresh (which finishes in a worker thread) keeps the editor
// alive and locked until it is done.

#include "common.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>
#include <seqedit/regulariser.hpp>
#include <seqedit/sequential_editor.hpp>

#include <map>

namespace seqedit_py {
namespace {

using IdPair = std::pair<std::uint64_t, std::uint64_t>;  // (editor tag, serial)

seqedit::History parse_history(const std::string& h) {
  if (h == "aligned") return seqedit::History::Aligned;
  if (h == "latest_only") return seqedit::History::LatestOnly;
  if (h == "none") return seqedit::History::None;
  throw std::invalid_argument("seqedit: history must be 'aligned', 'latest_only' or 'none', got '" + h + "'");
}

seqedit::Compensation parse_compensation(const std::string& c) {
  if (c == "none") return seqedit::Compensation::None;
  if (c == "analytic") return seqedit::Compensation::Analytic;
  throw std::invalid_argument("seqedit: compensation must be 'none' or 'analytic', got '" + c + "'");
}

std::vector<seqedit::EditId> to_ids(const std::vector<IdPair>& ids) {
  std::vector<seqedit::EditId> out;
  out.reserve(ids.size());
  for (const auto& p : ids) out.push_back(seqedit::EditId{p.first, p.second});
  return out;
}

std::vector<std::uint64_t> serials(const std::vector<seqedit::EditId>& ids) {
  std::vector<std::uint64_t> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(id.serial);
  return out;
}

// What the editor class offers differs between library versions; detected, not assumed.
template <typename E, typename = void>
struct weights_by_reference : std::false_type {};
template <typename E>
struct weights_by_reference<E, std::void_t<decltype(std::declval<const E&>().weights())>>
    : std::is_reference<decltype(std::declval<const E&>().weights())> {};
template <typename E, typename = void>
struct has_drift : std::false_type {};
template <typename E>
struct has_drift<E, std::void_t<decltype(std::declval<const E&>().drift_estimate()),
                                decltype(std::declval<const E&>().last_step_info()),
                                decltype(std::declval<const E&>().refresh_needed())>> : std::true_type {};
template <typename O, typename = void>
struct has_drift_threshold : std::false_type {};
template <typename O>
struct has_drift_threshold<O, std::void_t<decltype(std::declval<O&>().drift_threshold)>> : std::true_type {};

template <typename S, typename Reg>
struct Core {
  using Editor = seqedit::SequentialEditor<S, Reg>;
  std::mutex m;
  std::optional<Editor> ed;
  /// W_t = W0 + D_t kept by the bindings when the editor stores only D_t: created on the
  /// first read of `weights`, then updated in place after every step, so that the view
  /// handed to Python stays valid (and current) for the editor's lifetime.
  std::optional<Mat<S>> weights_cache;

  /// After a step (lock held).
  void sync() {
    if constexpr (!weights_by_reference<Editor>::value) {
      if (weights_cache) weights_cache->noalias() = ed->initial_weights() + ed->cumulative_update();
    }
  }
};

template <typename S, typename Reg>
struct Handle {
  std::shared_ptr<Core<S, Reg>> core = std::make_shared<Core<S, Reg>>();
  using Editor = typename Core<S, Reg>::Editor;

  /// Runs f(editor) without the GIL, holding the editor's lock.
  template <typename F>
  auto locked(F&& f) -> decltype(f(std::declval<Editor&>())) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core->m);
    return f(*core->ed);
  }
  /// `locked` for a call that changes the weights.
  template <typename F>
  auto mutating(F&& f) -> decltype(f(std::declval<Editor&>())) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core->m);
    auto r = f(*core->ed);
    core->sync();
    return r;
  }
};

template <typename S, typename Reg>
const char* reg_name() {
  if constexpr (std::is_same<Reg, seqedit::Prune<S>>::value) return "prune";
  else if constexpr (std::is_same<Reg, seqedit::Rect<S>>::value) return "rect";
  else return "none";
}

/// Whether `weights` can be a view for the editor's lifetime. An editor that stores only
/// D_t always can (through the bindings' W_t buffer). One that stores W_t itself keeps its
/// buffer only without regulariser and without LatestOnly (those steps swap in a new matrix).
template <typename S, typename Reg>
bool weights_stable(const seqedit::SequentialEditor<S, Reg>& ed) {
  if constexpr (!weights_by_reference<seqedit::SequentialEditor<S, Reg>>::value) {
    (void)ed;
    return true;
  } else {
    return !seqedit::SequentialEditor<S, Reg>::regularised && ed.options().history != seqedit::History::LatestOnly;
  }
}

template <typename S, typename Reg>
void bind_one(py::module_& m) {
  using H = Handle<S, Reg>;
  using Editor = typename H::Editor;
  using Proj = seqedit::NullSpaceProjector<S>;
  const std::string name = std::string("SequentialEditor_") + suffix<S>() + "_" + reg_name<S, Reg>();
  constexpr bool has_reg = !std::is_same<Reg, seqedit::NoRegulariser<S>>::value;

  py::class_<H> c(m, name.c_str());
  c.def(py::init([](py::array w0, py::array c0, double lam, double alpha, const std::string& history,
                    const std::string& compensation, const Proj* projector, py::object reg, double drift_threshold,
                    py::object progress) {
          const RefC<S> wv = view<S>(w0, "W0"), cv = view<S>(c0, "C0");
          seqedit::Objective<S> obj;
          obj.lambda = S(lam);
          obj.alpha = S(alpha);
          seqedit::EditorOptions<S> opts;
          opts.history = parse_history(history);
          opts.compensation = parse_compensation(compensation);
          if (projector) opts.projector = *projector;
          if constexpr (has_drift_threshold<seqedit::EditorOptions<S>>::value) {
            opts.drift_threshold = S(drift_threshold);
          } else if (drift_threshold != 0.0) {
            throw std::invalid_argument("seqedit: drift_threshold is not supported by this version of the library");
          }
          Reg r{};
          if constexpr (has_reg) r = reg.cast<const Reg&>();
          (void)reg;
          auto core = run_long(
              [wv, cv, obj, opts, r](const seqedit::ProgressCallback& cb) {
                cb("factorisation", 0.0);
                auto cr = std::make_shared<Core<S, Reg>>();
                cr->ed.emplace(wv, cv, obj, opts, r);
                cb("done", 1.0);
                return cr;
              },
              progress, {w0, c0});
          H h;
          h.core = std::move(core);
          return h;
        }),
        py::arg("W0"), py::arg("C0"), py::arg("lam"), py::arg("alpha"), py::arg("history"),
        py::arg("compensation"), py::arg("projector").none(true), py::arg("regulariser").none(true),
        py::arg("drift_threshold"), py::arg("progress"));

  c.def("apply", [](H& h, py::array k, py::array v) {
    const RefC<S> kv = view<S>(k, "K"), vv = view<S>(v, "V");
    return serials(h.mutating([&](Editor& e) { return e.apply(kv, vv); }));
  });
  c.def("apply_residual", [](H& h, py::array k, py::array r) {
    const RefC<S> kv = view<S>(k, "K"), rv = view<S>(r, "R");
    return serials(h.mutating([&](Editor& e) { return e.apply_residual(kv, rv); }));
  });
  c.def("replace", [](H& h, const std::vector<IdPair>& ids, py::array k, py::array v) {
    const RefC<S> kv = view<S>(k, "K"), vv = view<S>(v, "V");
    const auto cids = to_ids(ids);
    return serials(h.mutating([&](Editor& e) { return e.replace(cids, kv, vv); }));
  });
  c.def("replace_residual", [](H& h, const std::vector<IdPair>& ids, py::array k, py::array r) {
    const RefC<S> kv = view<S>(k, "K"), rv = view<S>(r, "R");
    const auto cids = to_ids(ids);
    return serials(h.mutating([&](Editor& e) { return e.replace_residual(cids, kv, rv); }));
  });
  c.def("retract", [](H& h, const std::vector<IdPair>& ids) {
    const auto cids = to_ids(ids);
    h.mutating([&](Editor& e) {
      e.retract(cids);
      return 0;
    });
  });
  c.def("find_matching", [](H& h, py::array k, double tol) {
    const RefC<S> kv = view<S>(k, "K");
    const auto found = h.locked([&](Editor& e) { return e.find_matching(kv, S(tol)); });
    std::vector<std::vector<std::uint64_t>> out;
    for (const auto& v : found) out.push_back(serials(v));
    return out;
  });
  c.def("refresh", [](H& h, py::array c0, py::object progress) {
    const RefC<S> cv = view<S>(c0, "C0");
    auto core = h.core;
    run_long(
        [core, cv](const seqedit::ProgressCallback& cb) {
          std::lock_guard<std::mutex> lk(core->m);
          cb("refresh", 0.0);
          core->ed->refresh(cv);
          cb("done", 1.0);
          return 0;
        },
        progress, {c0});
  });
  c.def_property_readonly("weights", [](py::object self) -> py::array {
    H& h = self.cast<H&>();
    std::unique_lock<std::mutex> lk(h.core->m, std::defer_lock);
    {
      py::gil_scoped_release nogil;
      lk.lock();
    }
    const Editor& e = *h.core->ed;
    if constexpr (weights_by_reference<Editor>::value) {
      if (weights_stable(e)) return readonly_view<S>(e.weights(), self);
      Mat<S> copy = e.weights();
      return to_numpy<S>(std::move(copy));
    } else {
      if (!h.core->weights_cache) h.core->weights_cache.emplace(e.initial_weights() + e.cumulative_update());
      return readonly_view<S>(*h.core->weights_cache, self);
    }
  });
  c.def_property_readonly("weights_is_view", [](H& h) {
    std::lock_guard<std::mutex> lk(h.core->m);
    return weights_stable(*h.core->ed);
  });
  c.def_property_readonly("initial_weights", [](py::object self) -> py::array {
    H& h = self.cast<H&>();
    return readonly_view<S>(h.core->ed->initial_weights(), self);  // W0 is never reassigned
  });
  c.def("cumulative_update", [](H& h) {
    return to_numpy<S>(h.locked([](Editor& e) { return Mat<S>(e.cumulative_update()); }));
  });
  if constexpr (has_drift<Editor>::value) {
    c.def("drift_estimate", [](H& h) { return double(h.locked([](Editor& e) { return e.drift_estimate(); })); });
    c.def_property_readonly("refresh_needed", [](H& h) { return h.locked([](Editor& e) { return e.refresh_needed(); }); });
    c.def("last_step_info", [](H& h) {
      const auto info = h.locked([](Editor& e) { return e.last_step_info(); });
      py::dict d;
      d["added"] = info.added;
      d["removed"] = info.removed;
      d["capacitance_rcond"] = double(info.capacitance_rcond);
      d["amplification"] = double(info.amplification);
      d["drift"] = double(info.drift);
      return d;
    });
  }
  c.def("system_inverse", [](H& h) {
    return to_numpy<S>(h.locked([](Editor& e) { return e.system_inverse(); }));
  });
  c.def("deviation", [](H& h) {
    return to_numpy<S>(h.locked([](Editor& e) { return Mat<S>(e.deviation()); }));
  });
  c.def("journal_serials", [](H& h) {
    return serials(h.locked([](Editor& e) { return e.journal().ids(); }));
  });
  c.def("journal_keys", [](H& h) {
    return to_numpy<S>(h.locked([](Editor& e) { return Mat<S>(e.journal().keys()); }));
  });
  c.def("journal_values", [](H& h) {
    return to_numpy<S>(h.locked([](Editor& e) { return Mat<S>(e.journal().values()); }));
  });
  c.def_property_readonly("steps", [](H& h) { return h.locked([](Editor& e) { return e.steps(); }); });
  c.def_property_readonly("key_dim", [](H& h) { return h.core->ed->key_dim(); });
  c.def_property_readonly("value_dim", [](H& h) { return h.core->ed->value_dim(); });
  c.def_property_readonly("reduced_dim", [](H& h) { return h.locked([](Editor& e) { return e.reduced_dim(); }); });
  c.def_property_readonly("tag", [](H& h) { return h.core->ed->tag(); });
  c.def_property_readonly("history", [](H& h) { return std::string(seqedit::io::history_name(h.core->ed->options().history)); });
  c.def_property_readonly("compensation", [](H& h) {
    return std::string(seqedit::io::compensation_name(h.core->ed->options().compensation));
  });
  c.def_property_readonly("lam", [](H& h) { return double(h.core->ed->objective().lambda); });
  c.def_property_readonly("alpha", [](H& h) { return double(h.core->ed->objective().alpha); });
  c.def_property_readonly("has_projector", [](H& h) { return bool(h.core->ed->options().projector); });
  c.def_property_readonly("regulariser", [](H& h) { return seqedit::io::describe_regulariser(h.core->ed->regulariser()); });
  c.def_property_readonly("state_scalars", [](H& h) { return h.locked([](Editor& e) { return e.state_scalars(); }); });
  c.def("save", [](H& h, const std::string& path, const std::map<std::string, std::string>& meta) {
    h.locked([&](Editor& e) {
      seqedit::io::save_editor_state(path, e, meta);
      return 0;
    });
  });
  c.def_static("load", [](const std::string& path, py::object reg, py::object progress) {
    Reg r{};
    if constexpr (has_reg) r = reg.cast<const Reg&>();
    (void)reg;
    auto core = run_long(
        [path, r](const seqedit::ProgressCallback& cb) {
          cb("load", 0.0);
          auto cr = std::make_shared<Core<S, Reg>>();
          cr->ed.emplace(seqedit::io::load_editor_state<S, Reg>(path, r));
          cb("done", 1.0);
          return cr;
        },
        progress, {});
    H h;
    h.core = std::move(core);
    return h;
  });
  // For the benchmark: one apply timed inside C++ (seconds), next to the same call timed
  // from Python around the package's method.
  c.def("_timed_apply", [](H& h, py::array k, py::array v) {
    const RefC<S> kv = view<S>(k, "K"), vv = view<S>(v, "V");
    return h.mutating([&](Editor& e) {
      const auto t0 = std::chrono::steady_clock::now();
      e.apply(kv, vv);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  });
}

template <typename S>
void bind_family(py::module_& m) {
  bind_one<S, seqedit::NoRegulariser<S>>(m);
  bind_one<S, seqedit::Prune<S>>(m);
  bind_one<S, seqedit::Rect<S>>(m);
}

}  // namespace

void bind_editor(py::module_& m) {
  bind_family<double>(m);
  bind_family<float>(m);
  m.def("state_info", [](const std::string& path, bool verify) {
    seqedit::io::EditorStateInfo info;
    {
      py::gil_scoped_release nogil;
      info = seqedit::io::read_editor_state_info(path, verify);
    }
    py::dict d;
    d["path"] = info.path;
    d["scalar"] = info.scalar;
    d["state_version"] = info.state_version;
    d["value_dim"] = info.value_dim;
    d["key_dim"] = info.key_dim;
    d["reduced_dim"] = info.reduced_dim;
    d["has_projector"] = info.has_projector;
    d["history"] = std::string(seqedit::io::history_name(info.history));
    d["compensation"] = std::string(seqedit::io::compensation_name(info.compensation));
    d["lam"] = info.lambda;
    d["alpha"] = info.alpha;
    d["regulariser"] = info.regulariser;
    d["steps"] = info.steps;
    d["editor_tag"] = info.editor_tag;
    d["next_serial"] = info.next_serial;
    d["journal_serials"] = info.journal_serials;
    d["checksum"] = info.checksum;
    d["checksum_verified"] = info.checksum_verified;
    d["metadata"] = info.metadata;
    d["extra_metadata"] = info.extra_metadata;
    return d;
  }, py::arg("path"), py::arg("verify") = false);
}

}  // namespace seqedit_py

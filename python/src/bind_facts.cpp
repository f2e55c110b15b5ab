// seqedit::facts: a whole fact-editing run (edit_facts.hpp), built when the seqedit_facts
// library is. The package's `seqedit.edit_facts`, `retract_facts` and `verify_run` wrap these.
//
// The run executes on the calling thread with the GIL released. Every progress line
// re-acquires it, is passed to the Python callback (if any) and checks for signals: Ctrl-C
// raises KeyboardInterrupt at the next line. The library calls the log only between writes,
// so an interrupted run leaves the checkpoint and the state as they were (or as its last
// save, with save_every, left them).

#include "common.hpp"

#include <seqedit/facts/edit_facts.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace seqedit_py {

namespace {

namespace sf = seqedit::facts;

/// Calls `log(line)` (a Python callable or None) with the GIL, then checks for signals.
/// A Python exception from either leaves as py::error_already_set.
/// The callable is held through a shared_ptr, so that copies of the function made without
/// the GIL never touch its reference count; it is created and destroyed with the GIL held.
sf::LogFn python_log(const py::object& log) {
  auto held = std::make_shared<py::object>(log);
  return [held](const std::string& line) {
    py::gil_scoped_acquire gil;
    if (!held->is_none()) (*held)(line);
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  };
}

std::string opt_str(const std::optional<std::string>& s) { return s ? *s : std::string(); }

/// Runs `call(log_fn)` without the GIL, the progress going to `log` (see python_log).
template <typename F>
auto with_log(const py::object& log, F call) {
  const sf::LogFn fn = python_log(log);
  py::gil_scoped_release nogil;
  return call(fn);
}

}  // namespace

void bind_facts(py::module_& m) {
  m.def(
      "edit_facts",
      [](const std::string& model, const std::string& requests, const std::string& stats, const std::string& method,
         const std::optional<std::string>& hparams, const std::optional<std::string>& preset,
         const std::string& history, bool compensation, std::int64_t batch,
         const std::optional<std::pair<std::int64_t, std::int64_t>>& cases,
         const std::optional<std::string>& context_templates, const std::optional<std::string>& state,
         const std::optional<std::string>& out, bool in_place, std::int64_t save_every, bool skip_applied,
         const py::object& log) {
        sf::EditFactsOptions o;
        o.model = model;
        o.requests = requests;
        o.stats = stats;
        o.method = method;
        o.hparams = opt_str(hparams);
        o.preset = opt_str(preset);
        o.history = history;
        o.compensation = compensation;
        o.batch = batch;
        o.cases = cases;
        o.context_templates = opt_str(context_templates);
        o.state = opt_str(state);
        o.out = opt_str(out);
        o.in_place = in_place;
        o.save_every = save_every;
        o.skip_applied = skip_applied;
        const sf::EditFactsResult r = with_log(log, [&](const sf::LogFn& fn) { return sf::edit_facts(o, fn); });
        py::dict d;
        d["requests"] = r.requests;
        d["skipped"] = r.skipped;
        d["saves"] = r.saves;
        d["batches"] = r.batches;
        d["cases_in_run"] = r.cases_in_run;
        d["layers"] = r.layers;
        d["checkpoint"] = r.checkpoint;
        d["seconds"] = r.seconds;
        return d;
      },
      py::arg("model"), py::arg("requests"), py::arg("stats"), py::arg("method"), py::arg("hparams") = py::none(),
      py::arg("preset") = py::none(), py::arg("history") = "aligned", py::arg("compensation") = true,
      py::arg("batch") = 100, py::arg("cases") = py::none(), py::arg("context_templates") = py::none(),
      py::arg("state") = py::none(), py::arg("out") = py::none(), py::arg("in_place") = false,
      py::arg("save_every") = 0, py::arg("skip_applied") = false, py::arg("log") = py::none());

  m.def(
      "retract_facts",
      [](const std::string& state, const std::vector<std::int64_t>& cases, const std::optional<std::string>& model,
         const std::optional<std::string>& out, bool in_place, const py::object& log) {
        sf::RetractFactsOptions o;
        o.state = state;
        o.cases = cases;
        o.model = opt_str(model);
        o.out = opt_str(out);
        o.in_place = in_place;
        const sf::RetractFactsResult r = with_log(log, [&](const sf::LogFn& fn) { return sf::retract_facts(o, fn); });
        py::dict d;
        d["retracted"] = r.retracted;
        d["remaining"] = r.remaining;
        d["checkpoint"] = r.checkpoint;
        return d;
      },
      py::arg("state"), py::arg("cases"), py::arg("model") = py::none(), py::arg("out") = py::none(),
      py::arg("in_place") = false, py::arg("log") = py::none());

  m.def(
      "verify_run",
      [](const std::string& state, const std::optional<std::string>& stats, double tolerance) {
        sf::VerifyRunResult r;
        {
          py::gil_scoped_release nogil;
          r = sf::verify_run(state, opt_str(stats), tolerance);
        }
        py::list layers;
        for (const sf::LayerVerification& l : r.layers) {
          py::dict d;
          d["layer"] = l.layer;
          d["live_edits"] = l.live_edits;
          d["deviation"] = l.deviation;
          d["compensated_deviation"] = l.compensated_deviation ? py::object(py::float_(*l.compensated_deviation))
                                                               : py::object(py::none());
          d["drift"] = l.drift;
          d["ok"] = l.ok;
          layers.append(d);
        }
        py::dict d;
        d["layers"] = layers;
        d["tolerance"] = r.tolerance;
        d["ok"] = r.ok;
        return d;
      },
      py::arg("state"), py::arg("stats") = py::none(), py::arg("tolerance") = -1.0);
}

}  // namespace seqedit_py

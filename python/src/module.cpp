// The extension module `_seqedit`: exceptions, the registry of interrupted computations,
// and the class families (one source each). The public API is the package `seqedit`.

#include "common.hpp"

#include <seqedit/errors.hpp>
#include <seqedit/io/error.hpp>
#include <seqedit/version.hpp>

namespace seqedit_py {

std::vector<std::shared_ptr<Job>>& abandoned_jobs() {
  static auto* jobs = new std::vector<std::shared_ptr<Job>>();  // never destroyed: see atexit below
  return *jobs;
}

void reap_abandoned() {
  auto& jobs = abandoned_jobs();
  for (auto it = jobs.begin(); it != jobs.end();) {
    bool done;
    {
      std::lock_guard<std::mutex> lk((*it)->m);
      done = (*it)->done;
    }
    if (!done) {
      ++it;
      continue;
    }
    {
      py::gil_scoped_release nogil;
      (*it)->thread.join();
    }
    (*it)->keep.clear();
    it = jobs.erase(it);
  }
}

void wait_abandoned() {
  for (const auto& job : abandoned_jobs()) {
    py::gil_scoped_release nogil;
    std::unique_lock<std::mutex> lk(job->m);
    job->cv.wait(lk, [&] { return job->done; });
  }
  reap_abandoned();
}

namespace {
PyObject* g_error = nullptr;
PyObject* g_numerical = nullptr;
PyObject* g_format = nullptr;
PyObject* g_io = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string full = std::string("seqedit.") + name;
  PyObject* e = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases, nullptr);
  if (!e) throw py::error_already_set();
  m.add_object(name, py::handle(e));
  return e;
}
}  // namespace

}  // namespace seqedit_py

PYBIND11_MODULE(_seqedit, m) {
  using namespace seqedit_py;
  m.doc() = "Compiled core of the seqedit package (use `import seqedit`).";
  m.attr("__version__") = seqedit::version_string;

  g_error = new_exception(m, "Error", PyExc_RuntimeError,
                          "Base of the errors seqedit defines (NumericalError, FormatError, IoError).");
  g_numerical = new_exception(m, "NumericalError", g_error,
                              "A linear system is singular, indefinite or too ill-conditioned (the object that "
                              "raised is unchanged).");
  g_format = new_exception(m, "FormatError", py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError)).release().ptr(),
                           "A file's content is malformed, unsupported or inconsistent (the message names the file).");
  g_io = new_exception(m, "IoError", py::make_tuple(py::handle(g_error), py::handle(PyExc_OSError)).release().ptr(),
                       "The operating system refused to read or write a file.");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const seqedit::io::format_error& e) {
      PyErr_SetString(g_format, e.what());
    } catch (const seqedit::io::io_error& e) {
      PyErr_SetString(g_io, e.what());
    } catch (const seqedit::numerical_error& e) {
      PyErr_SetString(g_numerical, e.what());
    } catch (const seqedit::error& e) {
      PyErr_SetString(g_error, e.what());
    }
  });

  m.def("background_jobs", [] {
    reap_abandoned();
    return abandoned_jobs().size();
  }, "Number of interrupted computations still running in the background.");
  m.def("wait_background", &wait_abandoned, "Waits until every interrupted computation has finished.");

  bind_objective(m);
  bind_editor(m);
  bind_io(m);
#ifdef SEQEDIT_PY_HAVE_TEXT
  bind_text(m);
#endif
#ifdef SEQEDIT_PY_HAVE_FACTS
  bind_facts(m);
#endif
#ifdef SEQEDIT_PY_HAVE_MODEL
  bind_model(m);
#endif

  // At exit: join what has finished, leave the rest running detached (their inputs are
  // leaked rather than released from a thread without the GIL).
  py::module_::import("atexit").attr("register")(py::cpp_function([] {
    for (auto& job : abandoned_jobs()) {
      bool done;
      {
        std::lock_guard<std::mutex> lk(job->m);
        done = job->done;
      }
      if (done) {
        job->thread.join();
        job->keep.clear();
      } else {
        job->thread.detach();
        for (auto& o : job->keep) o.release();
        job->keep.clear();
      }
    }
    abandoned_jobs().clear();
  }));
}

#ifndef SEQEDIT_PYTHON_COMMON_HPP
#define SEQEDIT_PYTHON_COMMON_HPP

// Shared by the binding sources: array views without copies, and long calls run in a
// worker thread so that the calling thread can keep the GIL free, forward progress to a
// Python callback and react to Ctrl-C.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>

#include <seqedit/progress.hpp>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace seqedit_py {

namespace py = pybind11;

template <typename S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
/// How the bindings pass arrays to the library: the library's own parameter type, so that
/// overload resolution never has to choose between conversions.
template <typename S>
using RefC = Eigen::Ref<const Mat<S>>;

template <typename S>
constexpr const char* dtype_label() {
  return std::is_same<S, double>::value ? "float64" : "float32";
}

/// A read-only view of a 2-D numpy array of scalar S in column-major layout (unit row
/// stride). The Python layer converts every input to this form (once, or never with
/// strict=True); anything else here is a bug of the caller, reported as ValueError.
template <typename S>
RefC<S> view(const py::array& a, const char* name) {
  if (!py::isinstance<py::array_t<S>>(a) || a.ndim() != 2) {
    std::ostringstream os;
    os << "seqedit: " << name << " must be a 2-D " << dtype_label<S>() << " array here, got " << a.ndim()
       << "-D of dtype " << std::string(py::str(a.dtype()));
    throw std::invalid_argument(os.str());
  }
  const auto rows = Eigen::Index(a.shape(0)), cols = Eigen::Index(a.shape(1));
  const auto rs = a.strides(0), cs = a.strides(1);
  const bool unit_rows = rows <= 1 || rs == py::ssize_t(sizeof(S));
  const bool outer_ok = cols <= 1 || (cs > 0 && cs % py::ssize_t(sizeof(S)) == 0 &&
                                      cs / py::ssize_t(sizeof(S)) >= rows);
  if (!unit_rows || !outer_ok) {
    std::ostringstream os;
    os << "seqedit: " << name << " must be column-major (Fortran order) here";
    throw std::invalid_argument(os.str());
  }
  const Eigen::Index outer = cols <= 1 ? std::max<Eigen::Index>(rows, 1) : Eigen::Index(cs / py::ssize_t(sizeof(S)));
  // A Ref bound to a map with unit inner stride refers to the array's memory (no copy).
  return RefC<S>(Eigen::Map<const Mat<S>, 0, Eigen::OuterStride<>>(static_cast<const S*>(a.data()), rows, cols,
                                                                    Eigen::OuterStride<>(outer)));
}

/// A read-only numpy view of an Eigen matrix owned by `owner` (kept alive by the view).
template <typename S>
py::array readonly_view(const Mat<S>& m, py::handle owner) {
  py::array_t<S, py::array::f_style> a({m.rows(), m.cols()},
                                        {py::ssize_t(sizeof(S)), py::ssize_t(sizeof(S)) * py::ssize_t(m.rows())},
                                        m.data(), owner);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return std::move(a);
}

/// A numpy array taking over an Eigen matrix (moved, not copied).
template <typename S>
py::array to_numpy(Mat<S>&& m) {
  auto* heap = new Mat<S>(std::move(m));
  py::capsule owner(heap, [](void* p) { delete static_cast<Mat<S>*>(p); });
  return py::array_t<S, py::array::f_style>(
      {heap->rows(), heap->cols()},
      {py::ssize_t(sizeof(S)), py::ssize_t(sizeof(S)) * py::ssize_t(heap->rows())}, heap->data(), owner);
}

// ------------------------------------------------------------------ long calls

/// One long computation running in its own thread.
struct Job {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  std::vector<std::pair<std::string, double>> progress;  // reports not yet forwarded
  std::thread thread;
  std::vector<py::object> keep;  // the inputs the computation reads; released with the GIL
};

/// Computations whose caller was interrupted; they run to their end (the library has no
/// cancellation point inside them) and are joined by `reap_abandoned()`.
std::vector<std::shared_ptr<Job>>& abandoned_jobs();
/// Joins the abandoned jobs that have finished and releases their inputs (GIL held).
void reap_abandoned();
/// Waits until every abandoned job has finished (GIL released while waiting).
void wait_abandoned();

/// Runs `fn(progress_callback)` in a worker thread. The calling thread waits without the
/// GIL, wakes at least every 100 ms, forwards progress reports to `progress` (a Python
/// callable or None) and checks for signals (Ctrl-C). If a signal handler or the callback
/// raises, the Python exception propagates at once: the worker's result is discarded when
/// it finishes, and `keep` (the input arrays it reads) stays alive until then.
template <typename F>
auto run_long(F fn, const py::object& progress, std::vector<py::object> keep)
    -> decltype(fn(std::declval<const seqedit::ProgressCallback&>())) {
  using R = decltype(fn(std::declval<const seqedit::ProgressCallback&>()));
  reap_abandoned();
  auto job = std::make_shared<Job>();
  job->keep = std::move(keep);
  auto result = std::make_shared<std::optional<R>>();
  {
    Job* j = job.get();
    seqedit::ProgressCallback cb = [j](const std::string& stage, double fraction) {
      {
        std::lock_guard<std::mutex> lk(j->m);
        j->progress.emplace_back(stage, fraction);
      }
      j->cv.notify_all();
    };
    job->thread = std::thread([job, result, fn = std::move(fn), cb = std::move(cb)]() mutable {
      try {
        result->emplace(fn(cb));
      } catch (...) {
        job->error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(job->m);
        job->done = true;
      }
      job->cv.notify_all();
    });
  }
  for (;;) {
    std::vector<std::pair<std::string, double>> pending;
    bool done = false;
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lk(job->m);
      job->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return job->done || !job->progress.empty(); });
      pending.swap(job->progress);
      done = job->done;
    }
    try {
      if (!progress.is_none())
        for (const auto& p : pending) progress(p.first, p.second);
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    } catch (...) {
      abandoned_jobs().push_back(job);
      throw;
    }
    if (done) break;
  }
  {
    py::gil_scoped_release nogil;
    job->thread.join();
  }
  job->keep.clear();
  if (job->error) std::rethrow_exception(job->error);
  return std::move(**result);
}

/// The scalar type's short name used in the Python class names: "f64" / "f32".
template <typename S>
constexpr const char* suffix() {
  return std::is_same<S, double>::value ? "f64" : "f32";
}

void bind_objective(py::module_& m);
void bind_editor(py::module_& m);
void bind_io(py::module_& m);
#ifdef SEQEDIT_PY_HAVE_TEXT
void bind_text(py::module_& m);
#endif
#ifdef SEQEDIT_PY_HAVE_MODEL
void bind_model(py::module_& m);
#endif
#ifdef SEQEDIT_PY_HAVE_FACTS
void bind_facts(py::module_& m);
#endif

}  // namespace seqedit_py

#endif  // SEQEDIT_PYTHON_COMMON_HPP

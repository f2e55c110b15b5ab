// Objective, NullSpaceProjector, OneTimeEditor and the regularisers PRUNE and RECT, for
// float and double (classes `<Name>_f64`, `<Name>_f32`; the package picks one by dtype).

#include "common.hpp"

#include <seqedit/objective.hpp>
#include <seqedit/one_time_editor.hpp>
#include <seqedit/projector.hpp>
#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>

namespace seqedit_py {
namespace {

template <typename S>
void bind_objective_family(py::module_& m) {
  using Obj = seqedit::Objective<S>;
  using Proj = seqedit::NullSpaceProjector<S>;
  using Ote = seqedit::OneTimeEditor<S>;
  const std::string sfx = suffix<S>();

  py::class_<Obj>(m, ("Objective_" + sfx).c_str())
      .def(py::init([](double lam, double alpha) {
             Obj o;
             o.lambda = S(lam);
             o.alpha = S(alpha);
             o.check();
             return o;
           }),
           py::arg("lam"), py::arg("alpha"))
      .def_property_readonly("lam", [](const Obj& o) { return double(o.lambda); })
      .def_property_readonly("alpha", [](const Obj& o) { return double(o.alpha); });

  py::class_<Proj>(m, ("NullSpaceProjector_" + sfx).c_str())
      .def(py::init([](py::array c0, double threshold, py::object progress) {
             const RefC<S> c = view<S>(c0, "C0");
             return run_long([c, threshold](const seqedit::ProgressCallback& cb) { return Proj(c, S(threshold), cb); },
                             progress, {c0});
           }),
           py::arg("C0"), py::arg("threshold"), py::arg("progress"))
      .def_static("from_basis",
                  [](py::array u, double tol) {
                    const RefC<S> b = view<S>(u, "basis");
                    py::gil_scoped_release nogil;
                    return Proj::from_basis(b, S(tol));
                  },
                  py::arg("basis"), py::arg("tolerance"))
      .def_property_readonly("basis", [](py::object self) { return readonly_view<S>(self.cast<const Proj&>().basis(), self); })
      .def_property_readonly("eigenvalues", [](const Proj& p) {
        Mat<S> e = p.eigenvalues();
        return to_numpy<S>(std::move(e));
      })
      .def_property_readonly("rank", &Proj::rank)
      .def_property_readonly("dim", &Proj::dim)
      .def_property_readonly("threshold", [](const Proj& p) { return double(p.threshold()); })
      .def("matrix", [](const Proj& p) {
        Mat<S> r;
        {
          py::gil_scoped_release nogil;
          r = p.matrix();
        }
        return to_numpy<S>(std::move(r));
      })
      .def("apply", [](const Proj& p, py::array x) {
        const RefC<S> xv = view<S>(x, "X");
        if (xv.rows() != p.dim()) {
          std::ostringstream os;
          os << "seqedit: X has " << xv.rows() << " rows but the projector acts on dimension " << p.dim();
          throw std::invalid_argument(os.str());
        }
        Mat<S> r;
        {
          py::gil_scoped_release nogil;
          r = p.apply(xv);
        }
        return to_numpy<S>(std::move(r));
      });

  py::class_<Ote>(m, ("OneTimeEditor_" + sfx).c_str())
      .def(py::init([](py::array c0, const Obj& obj, const Proj* proj, py::object progress) {
             const RefC<S> c = view<S>(c0, "C0");
             std::optional<Proj> p;
             if (proj) p = *proj;
             return run_long(
                 [c, obj, p](const seqedit::ProgressCallback& cb) {
                   cb("base system", 0.0);
                   std::unique_ptr<Ote> o = p ? std::make_unique<Ote>(c, obj, *p) : std::make_unique<Ote>(c, obj);
                   cb("done", 1.0);
                   return o;
                 },
                 progress, {c0});
           }),
           py::arg("C0"), py::arg("objective"), py::arg("projector").none(true), py::arg("progress"))
      .def("solve",
           [](const Ote& o, py::array w0, py::array k, py::array v, py::object progress) {
             const RefC<S> wv = view<S>(w0, "W0"), kv = view<S>(k, "K"), vv = view<S>(v, "V");
             const Ote* op = &o;
             Mat<S> r = run_long(
                 [op, wv, kv, vv](const seqedit::ProgressCallback& cb) {
                   cb("solve", 0.0);
                   Mat<S> d = op->solve(wv, kv, vv);
                   cb("done", 1.0);
                   return d;
                 },
                 progress, {w0, k, v, py::cast(o, py::return_value_policy::reference)});
             return to_numpy<S>(std::move(r));
           },
           py::arg("W0"), py::arg("K"), py::arg("V"), py::arg("progress"))
      .def("solve_residual",
           [](const Ote& o, py::array k, py::array r0, py::object progress) {
             const RefC<S> kv = view<S>(k, "K"), rv = view<S>(r0, "R");
             const Ote* op = &o;
             Mat<S> r = run_long(
                 [op, kv, rv](const seqedit::ProgressCallback& cb) {
                   cb("solve", 0.0);
                   Mat<S> d = op->solve_residual(kv, rv);
                   cb("done", 1.0);
                   return d;
                 },
                 progress, {k, r0, py::cast(o, py::return_value_policy::reference)});
             return to_numpy<S>(std::move(r));
           },
           py::arg("K"), py::arg("R"), py::arg("progress"))
      .def_property_readonly("key_dim", &Ote::key_dim)
      .def_property_readonly("lam", [](const Ote& o) { return double(o.objective().lambda); })
      .def_property_readonly("alpha", [](const Ote& o) { return double(o.objective().alpha); });

  using Prune = seqedit::Prune<S>;
  using Rect = seqedit::Rect<S>;
  py::class_<Prune>(m, ("Prune_" + sfx).c_str())
      .def(py::init<>())
      .def("__call__", [](const Prune& p, py::array delta, py::array w_ref) {
        const Mat<S> d = view<S>(delta, "delta"), w = view<S>(w_ref, "w_ref");
        Mat<S> r;
        {
          py::gil_scoped_release nogil;
          r = p(d, w);
        }
        return to_numpy<S>(std::move(r));
      });
  py::class_<Rect>(m, ("Rect_" + sfx).c_str())
      .def(py::init<double>(), py::arg("p"))
      .def_property_readonly("p", &Rect::ratio)
      .def("__call__", [](const Rect& p, py::array delta, py::array w_ref) {
        const Mat<S> d = view<S>(delta, "delta"), w = view<S>(w_ref, "w_ref");
        Mat<S> r;
        {
          py::gil_scoped_release nogil;
          r = p(d, w);
        }
        return to_numpy<S>(std::move(r));
      });
}

}  // namespace

void bind_objective(py::module_& m) {
  bind_objective_family<double>(m);
  bind_objective_family<float>(m);
}

}  // namespace seqedit_py

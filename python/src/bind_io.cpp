// The loader (seqedit::io): safetensors, Hugging Face checkpoints, MEMIT statistics,
// npy/npz. Matrices come back in the asked scalar type, column-major, moved into numpy.

#include "common.hpp"

#include <seqedit/io/io.hpp>

#include <map>

namespace seqedit_py {
namespace {

namespace sio = seqedit::io;

bool is_f64(const std::string& dtype) {
  if (dtype == "float64") return true;
  if (dtype == "float32") return false;
  throw std::invalid_argument("seqedit: dtype must be 'float64' or 'float32', got '" + dtype + "'");
}

template <typename F>
py::array by_dtype(const std::string& dtype, F&& f) {
  if (is_f64(dtype)) {
    Mat<double> r;
    {
      py::gil_scoped_release nogil;
      r = f(double{});
    }
    return to_numpy<double>(std::move(r));
  }
  Mat<float> r;
  {
    py::gil_scoped_release nogil;
    r = f(float{});
  }
  return to_numpy<float>(std::move(r));
}

sio::DType parse_dtype(const std::string& name) {
  const auto d = sio::dtype_from_name(name);
  if (!d) throw std::invalid_argument("seqedit: unknown tensor dtype '" + name + "' (supported: " +
                                      sio::supported_dtype_names() + ")");
  return *d;
}

sio::Orientation parse_orientation(const std::string& s) {
  if (s == "out-in") return sio::Orientation::OutIn;
  if (s == "in-out") return sio::Orientation::InOut;
  throw std::invalid_argument("seqedit: orientation must be 'out-in' (stored [d_v, d_k] = W) or 'in-out' "
                              "(stored [d_k, d_v] = W^T), got '" + s + "'");
}

template <typename Fn>
void with_matrix(py::array a, Fn&& fn) {
  if (py::isinstance<py::array_t<double>>(a)) {
    const RefC<double> m = view<double>(a, "W");
    py::gil_scoped_release nogil;
    fn(m);
  } else {
    const RefC<float> m = view<float>(a, "W");
    py::gil_scoped_release nogil;
    fn(m);
  }
}

}  // namespace

void bind_io(py::module_& m) {
  m.def("safetensors_header", [](const std::string& path) {
    std::optional<sio::SafetensorsFile> f;
    {
      py::gil_scoped_release nogil;
      f.emplace(path);
    }
    py::list tensors;
    for (const auto& t : f->tensors())
      tensors.append(py::make_tuple(t.name, std::string(sio::dtype_name(t.dtype)), t.shape));
    return py::make_tuple(f->metadata(), tensors);
  });
  m.def("safetensors_read_raw", [](const std::string& path, const std::string& name) {
    std::vector<char> bytes;
    {
      py::gil_scoped_release nogil;
      bytes = sio::SafetensorsFile(path).read_raw(name);
    }
    return py::bytes(bytes.data(), bytes.size());
  });
  m.def("safetensors_read_matrix", [](const std::string& path, const std::string& name, const std::string& dtype) {
    return by_dtype(dtype, [&](auto s) {
      using S = decltype(s);
      return sio::SafetensorsFile(path).read_matrix<S>(name);
    });
  });
  m.def("safetensors_write", [](const std::string& path, const py::list& tensors,
                                const std::map<std::string, std::string>& meta) {
    sio::SafetensorsWriter w;
    for (const auto& kv : meta) w.set_metadata(kv.first, kv.second);
    for (const auto& item : tensors) {
      const auto t = item.cast<py::tuple>();
      const std::string name = t[0].cast<std::string>();
      const sio::DType dt = parse_dtype(t[1].cast<std::string>());
      auto shape = t[2].cast<std::vector<std::int64_t>>();
      const std::string bytes = t[3].cast<std::string>();
      w.add_raw(name, dt, std::move(shape), std::vector<char>(bytes.begin(), bytes.end()));
    }
    py::gil_scoped_release nogil;
    w.write(path);
  });
  m.def("safetensors_replace", [](const std::string& path, const std::string& name, py::array a) {
    with_matrix(a, [&](const auto& mat) { sio::replace_tensor(path, name, mat); });
  });

  py::class_<sio::Checkpoint>(m, "Checkpoint")
      .def(py::init<const std::string&>(), py::arg("dir"))
      .def_property_readonly("dir", &sio::Checkpoint::dir)
      .def_property_readonly("model_type", &sio::Checkpoint::model_type)
      .def_property_readonly("sharded", &sio::Checkpoint::sharded)
      .def("has_tensor", &sio::Checkpoint::has_tensor)
      .def("shard_of", &sio::Checkpoint::shard_of)
      .def("ffn_output", [](const sio::Checkpoint& c, int layer) {
        const auto loc = c.ffn_output(layer);
        return py::make_tuple(loc.tensor, loc.orientation == sio::Orientation::OutIn ? "out-in" : "in-out");
      })
      .def("load", [](const sio::Checkpoint& c, const std::string& tensor, const std::string& orientation,
                      const std::string& dtype) {
        const sio::TensorLocation loc{tensor, parse_orientation(orientation)};
        return by_dtype(dtype, [&](auto s) {
          using S = decltype(s);
          return c.load<S>(loc);
        });
      })
      .def("save", [](const sio::Checkpoint& c, const std::string& tensor, const std::string& orientation, py::array w) {
        const sio::TensorLocation loc{tensor, parse_orientation(orientation)};
        with_matrix(w, [&](const auto& mat) { c.save(loc, mat); });
      });

  m.def("load_mom2_stats", [](const std::string& path, const std::string& dtype) {
    return by_dtype(dtype, [&](auto s) {
      using S = decltype(s);
      return sio::load_mom2_stats<S>(path);
    });
  });
  m.def("npy_read", [](const std::string& path, const std::string& dtype) {
    return by_dtype(dtype, [&](auto s) {
      using S = decltype(s);
      return sio::to_matrix<S>(sio::read_npy(path), path);
    });
  });
  m.def("npy_write", [](const std::string& path, py::array a, const std::string& dtype) {
    const sio::DType dt = parse_dtype(dtype);
    with_matrix(a, [&](const auto& mat) { sio::write_npy(path, mat, dt); });
  });
  m.def("npz_keys", [](const std::string& path) {
    py::gil_scoped_release nogil;
    return sio::NpzFile(path).keys();
  });
  m.def("npz_read", [](const std::string& path, const std::string& key, const std::string& dtype) {
    return by_dtype(dtype, [&](auto s) {
      using S = decltype(s);
      return sio::NpzFile(path).read_matrix<S>(key);
    });
  });
}

}  // namespace seqedit_py

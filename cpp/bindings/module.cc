// The lstmrt._core extension module: registers each bound concept and maps C++ exceptions.
#include "bindings.h"

namespace lstmrt {

void register_graph(py::module_& m);  // graph_bindings.cc

std::string py_type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

std::optional<FloatArray> float_array(py::handle obj, const std::string& name) {
  if (obj.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(obj))
    throw TypeError(name + ": expected a numpy.ndarray of dtype float32, got " + py_type_name(obj));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<float>>(arr))
    throw TypeError(name + ": expected dtype float32, got " + std::string(py::str(arr.dtype())) +
                    " (convert it with .astype(numpy.float32))");
  return FloatArray::ensure(arr);
}

FloatArg float_arg(const std::optional<FloatArray>& a) {
  FloatArg f;
  if (!a) return f;
  f.data = a->data();
  f.shape = shape_of(*a);
  // A zero-size array has a valid but possibly null data pointer; keep it "present".
  static const float kEmpty = 0.0f;
  if (f.data == nullptr) f.data = &kEmpty;
  return f;
}

std::optional<Int32Array> int32_array(py::handle obj, const std::string& name) {
  if (obj.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(obj))
    throw TypeError(name + ": expected a numpy.ndarray of dtype int32, got " + py_type_name(obj));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<int32_t>>(arr))
    throw TypeError(name + ": expected dtype int32, got " + std::string(py::str(arr.dtype())));
  return Int32Array::ensure(arr);
}

}  // namespace lstmrt

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmrt's compiled core: kernels, recurrent layers and (later) the graph runtime.";
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lstmrt::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const lstmrt::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const lstmrt::UnsupportedError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  lstmrt::register_cpu(m);
  lstmrt::register_rnn(m);
  lstmrt::register_kernel_tests(m);
  lstmrt::register_graph(m);
  lstmrt::register_stream(m);
}

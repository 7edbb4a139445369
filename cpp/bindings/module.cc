// The lstmrt._core extension module: registers each bound concept and maps C++ exceptions.
#include <cstring>

#include "bindings.h"

namespace lstmrt {

void register_graph(py::module_& m);  // graph_bindings.cc

std::string py_type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

py::array empty_array(py::dtype dtype, const std::vector<int64_t>& shape) {
  const auto& api = py::detail::npy_api::get();
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, dtype.release().ptr(), static_cast<int>(shape.size()),
                                          reinterpret_cast<const Py_intptr_t*>(shape.data()), nullptr, nullptr, 0,
                                          nullptr);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(a);
}

py::array_t<float> empty_float_array(const std::vector<int64_t>& shape) {
  return py::reinterpret_steal<py::array_t<float>>(empty_array(py::dtype::of<float>(), shape).release());
}

void set_python_error(PyObject* type, const char* message) {
  // Names from a model (nodes, values) need not be UTF-8; their bytes are escaped rather than
  // turning the real error into a UnicodeDecodeError.
  PyObject* text = PyUnicode_DecodeUTF8(message, static_cast<Py_ssize_t>(std::strlen(message)), "backslashreplace");
  if (!text) return;  // the decoding error is set instead
  PyErr_SetObject(type, text);
  Py_DECREF(text);
}

py::array c_array(py::handle obj) {
  using Api = py::detail::npy_api;
  constexpr int kFlags = Api::NPY_ARRAY_C_CONTIGUOUS_ | Api::NPY_ARRAY_ALIGNED_;
  const Api& api = Api::get();
  if (api.PyArray_Check_(obj.ptr()) && (py::detail::array_proxy(obj.ptr())->flags & kFlags) == kFlags)
    return py::reinterpret_borrow<py::array>(obj);
  PyObject* a = api.PyArray_FromAny_(obj.ptr(), nullptr, 0, 0, Api::NPY_ARRAY_ENSUREARRAY_ | kFlags, nullptr);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(a);
}

namespace {

// `obj` as a C-contiguous array of T, or nullopt for None. The usual argument, a C-contiguous
// aligned array of T, is borrowed as it is by c_array (py::array_t's own conversion would go
// through NumPy's general conversion, at a cost a one-step call notices); any other dtype raises
// TypeError naming the argument, followed by `hint`.
template <class T>
std::optional<py::array_t<T, py::array::c_style>> typed_array(py::handle obj, const std::string& name,
                                                              const char* dtype, const char* hint) {
  if (obj.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(obj))
    throw TypeError(name + ": expected a numpy.ndarray of dtype " + dtype + ", got " + py_type_name(obj));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(arr))
    throw TypeError(name + ": expected dtype " + dtype + ", got " + std::string(py::str(arr.dtype())) + hint);
  return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(c_array(arr));
}

}  // namespace

std::optional<FloatArray> float_array(py::handle obj, const std::string& name) {
  return typed_array<float>(obj, name, "float32", " (convert it with .astype(numpy.float32))");
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
  return typed_array<int32_t>(obj, name, "int32", "");
}

}  // namespace lstmrt

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmrt's compiled core: kernels, recurrent layers and (later) the graph runtime.";
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lstmrt::TypeError& e) {
      lstmrt::set_python_error(PyExc_TypeError, e.what());
    } catch (const lstmrt::ValueError& e) {
      lstmrt::set_python_error(PyExc_ValueError, e.what());
    } catch (const lstmrt::UnsupportedError& e) {
      lstmrt::set_python_error(PyExc_RuntimeError, e.what());
    } catch (const lstmrt::MemoryError& e) {
      lstmrt::set_python_error(PyExc_MemoryError, e.what());
    }
  });
  lstmrt::register_cpu(m);
  lstmrt::register_rnn(m);
  lstmrt::register_kernel_tests(m);
  lstmrt::register_graph(m);
  lstmrt::register_stream(m);
}

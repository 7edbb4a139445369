// Shared helpers of the binding files: turning NumPy arrays into the core's arguments.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <type_traits>
#include <optional>
#include <string>
#include <vector>

#include "lstmrt/errors.h"
#include "lstmrt/graph/graph.h"
#include "lstmrt/rnn_layer.h"

namespace lstmrt {
namespace py = pybind11;

void register_cpu(py::module_& m);
void register_rnn(py::module_& m);
void register_kernel_tests(py::module_& m);
void register_graph(py::module_& m);
void register_stream(py::module_& m);

// lstmrt's shapes and NumPy's dimensions are both arrays of 64-bit signed integers on the
// platforms lstmrt builds for, so the binding files pass them between the two without conversion.
static_assert(sizeof(py::ssize_t) == sizeof(int64_t) && sizeof(Py_intptr_t) == sizeof(int64_t),
              "NumPy dimensions are not 64-bit");

std::string py_type_name(py::handle obj);
// Sets a Python exception of `type` whose text is `message`, decoded as UTF-8 with undecodable
// bytes escaped.
void set_python_error(PyObject* type, const char* message);
std::vector<int64_t> shape_of(const py::array& a);

// `obj` as a C-contiguous array whose elements are aligned (the kernels load whole elements):
// borrowed when it already is one, else NumPy's converted copy. Raises NumPy's own error (a
// MemoryError when the copy cannot be allocated) instead of returning an empty array.
py::array c_array(py::handle obj);

// A float32 array argument, made C-contiguous (a copy only when it is not); None gives an
// absent argument. Any other dtype raises TypeError naming the argument: no silent conversion.
using FloatArray = py::array_t<float, py::array::c_style>;
using Int32Array = py::array_t<int32_t, py::array::c_style>;
std::optional<FloatArray> float_array(py::handle obj, const std::string& name);
FloatArg float_arg(const std::optional<FloatArray>& a);
// The same for int32 (sequence_lens).
std::optional<Int32Array> int32_array(py::handle obj, const std::string& name);

// A new, uninitialized C-contiguous array of NumPy's own memory, made through NumPy's C API:
// cheaper than py::array_t's constructor, which matters on calls that take a few microseconds.
py::array empty_array(py::dtype dtype, const std::vector<int64_t>& shape);
py::array_t<float> empty_float_array(const std::vector<int64_t>& shape);

// Locks `m` without holding the GIL while waiting, so that a thread blocked on a busy stream
// does not stop the interpreter (and cannot deadlock with the thread holding the stream). A free
// mutex, the usual case, is taken at once.
inline std::unique_lock<std::mutex> lock_released(std::mutex& m) {
  if (!m.try_lock()) {
    py::gil_scoped_release release;
    m.lock();
  }
  return std::unique_lock<std::mutex>(m, std::adopt_lock);
}

// Base of the bound classes that Python code subclasses or can make with `cls.__new__(cls)`. When
// a subclass's __init__ raises, the half-built object lives on (a traceback shows it as `self`),
// and pybind11 hands its methods raw memory from the class's operator new. That memory is zeroed
// here, so it reads as "never constructed", and every method calls require() first: such an object
// raises TypeError instead of running on garbage.
class Constructed {
 public:
  static void* operator new(std::size_t size) {
    void* p = std::calloc(1, size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  static void operator delete(void* p) noexcept { std::free(p); }

 protected:
  Constructed() : constructed_(true) {}
  void require(const char* type_name) const {
    if (!constructed_)
      throw TypeError(std::string(type_name) + ": __init__ did not complete; this object cannot be used");
  }

 private:
  bool constructed_;
};

// Types with pybind11 members get pybind11's hidden visibility (GCC warns otherwise).
#if defined(__GNUC__)
#define LSTMRT_HIDDEN __attribute__((visibility("hidden")))
#else
#define LSTMRT_HIDDEN
#endif

// One run call: the request built from Python's feeds and output names, and the result. A bound
// graph or stream keeps one across calls, so that a steady run of calls of one shape reuses its
// vectors and output buffers instead of allocating them anew each time.
struct LSTMRT_HIDDEN RunCall {
  RunRequest request;
  std::vector<Tensor> feeds;      // per graph input: a view of the fed array
  std::vector<py::object> keep;   // the fed arrays, alive until the call ends
  bool none_wanted = false;       // output_names was an explicit empty list
  RunResult result;
};

// From graph_bindings.cc, for the stream bindings: the Graph inside an lstmrt._core.Graph; a
// request from Python feeds and output names (inputs checked and borrowed into call.feeds, the
// arrays kept in call.keep); the call's outputs as NumPy arrays; and a tensor as a NumPy array
// that shares its buffer.
const Graph& graph_of(py::handle bound_graph);
void prepare_request(const Graph& g, RunCall& call, py::handle feeds, py::handle output_names);
// The first `count` outputs (a stream's result also holds the carried outputs after them).
py::list call_outputs(RunCall& call, size_t count = SIZE_MAX);
py::array tensor_to_numpy(const Tensor& t);
// An owned copy of a NumPy array of a dtype the graph computes with (TypeError naming `what`).
Tensor array_to_tensor(py::handle obj, const std::string& what);

// Prepares `call`, runs fn(call) with the GIL released, and returns the outputs. The references
// to the caller's arrays are dropped on the way out (the GIL held), also when something throws.
// fn returns how many of the result's outputs to return.
template <class Fn>
py::list run_call(const Graph& g, RunCall& call, py::handle feeds, py::handle output_names, int threads, Fn&& fn) {
  struct Release {
    RunCall& call;
    ~Release() { call.keep.clear(); }
  } release{call};
  prepare_request(g, call, feeds, output_names);
  call.request.threads = threads;
  size_t count = SIZE_MAX;
  {
    py::gil_scoped_release unlocked;
    if constexpr (std::is_void_v<decltype(fn(call))>) fn(call);
    else count = fn(call);
  }
  return call_outputs(call, count);
}

}  // namespace lstmrt

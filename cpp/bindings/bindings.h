// Shared helpers of the binding files: turning NumPy arrays into the core's arguments.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

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

std::string py_type_name(py::handle obj);
std::vector<int64_t> shape_of(const py::array& a);

// A float32 array argument, made C-contiguous (a copy only when it is not); None gives an
// absent argument. Any other dtype raises TypeError naming the argument: no silent conversion.
using FloatArray = py::array_t<float, py::array::c_style>;
using Int32Array = py::array_t<int32_t, py::array::c_style>;
std::optional<FloatArray> float_array(py::handle obj, const std::string& name);
FloatArg float_arg(const std::optional<FloatArray>& a);
// The same for int32 (sequence_lens).
std::optional<Int32Array> int32_array(py::handle obj, const std::string& name);

// From graph_bindings.cc, for the stream bindings: the Graph inside an lstmrt._core.Graph; a
// RunRequest from Python feeds and output names (inputs checked and borrowed; `keep` holds the
// arrays alive); and a tensor as a NumPy array.
const Graph& graph_of(py::handle bound_graph);
void prepare_request(const Graph& g, RunRequest& r, std::vector<Tensor>& tensors, std::vector<py::array>& keep,
                     py::handle feeds, py::handle output_names);
py::array tensor_to_numpy(const Tensor& t);

}  // namespace lstmrt

// lstmrt._core.Graph: a compiled ONNX graph, built from the importer's plain Python description
// and run on NumPy arrays in one call (the GIL released while it computes).
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "bindings.h"
#include "lstmrt/graph/graph.h"

namespace lstmrt {
namespace {

using NpyApi = py::detail::npy_api;

// numpy.generic, looked up once when the module is registered (a reference kept for the life of
// the process): feeds check NumPy scalars against it.
py::handle numpy_generic_type;

Dims dims_of(const py::array& a) {
  return Dims(reinterpret_cast<const int64_t*>(a.shape()), static_cast<size_t>(a.ndim()));
}

// The index of `name` (UTF-8, `size` bytes) in `names`, or -1.
template <class Names, class Get>
int find_name(const Names& names, Get get, const char* name, size_t size) {
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& n = get(names[i]);
    if (n.size() == size && std::memcmp(n.data(), name, size) == 0) return static_cast<int>(i);
  }
  return -1;
}

// The DType of a NumPy array, or false for dtypes the graph does not compute with.
bool dtype_of_array(const py::array& a, DType* out) {
  const py::dtype dt = a.dtype();
  if (dt.byteorder() == '>') return false;
  return dtype_from_numpy(dt.kind(), static_cast<size_t>(dt.itemsize()), out);
}

// NumPy's dtype per DType, made once from the names in kDTypeFacts (and kept for the life of the
// process, as the module keeps numpy.generic): every output array of every run takes one.
py::dtype numpy_dtype(DType t) {
  static const std::vector<py::dtype>* dtypes = [] {
    auto* v = new std::vector<py::dtype>();
    for (const DTypeFacts& f : kDTypeFacts) v->push_back(py::dtype(f.name));
    return v;
  }();
  return (*dtypes)[static_cast<size_t>(t)];
}

// A new C-contiguous array of NumPy's own memory (not initialized).
py::array new_array(DType t, const Shape& shape) {
  return empty_array(numpy_dtype(t), shape);
}

// An owned copy of a NumPy array (initializers, tensor attributes).
Tensor tensor_from_array(py::handle obj, const std::string& what) {
  if (!py::isinstance<py::array>(obj)) throw TypeError(what + ": expected a numpy.ndarray, got " + py_type_name(obj));
  py::array a = c_array(obj);
  DType dt;
  if (!dtype_of_array(a, &dt))
    throw TypeError(what + ": dtype " + std::string(py::str(a.dtype())) +
                    " is not supported (lstmrt computes with " + supported_dtype_names() + ")");
  Tensor t(dt, shape_of(a));
  if (t.nbytes()) std::memcpy(t.raw(), a.data(), t.nbytes());
  return t;
}

// Hands a tensor's buffer to NumPy without copying it (borrowed memory is copied first).
py::array to_numpy(const Tensor& t) {
  const Tensor owned = t.holder() ? t : t.clone();
  auto* keep = new std::shared_ptr<void>(owned.holder());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  std::vector<py::ssize_t> shape(owned.shape().begin(), owned.shape().end());
  return py::array(numpy_dtype(owned.dtype()), shape, owned.raw(), base);
}

GraphDesc describe(int opset, py::list nodes, py::list initializers, py::list inputs, py::list outputs);

Attribute attribute_from(const std::string& name, py::handle spec) {
  auto tup = py::reinterpret_borrow<py::tuple>(spec);
  if (!py::isinstance<py::tuple>(spec) || tup.size() != 2)
    throw TypeError("attribute '" + name + "': expected a (kind, value) tuple");
  const std::string kind = py::str(tup[0]);
  py::handle v = tup[1];
  Attribute a;
  if (kind == "int") {
    a.kind = Attribute::Kind::Int;
    a.i = v.cast<int64_t>();
  } else if (kind == "float") {
    a.kind = Attribute::Kind::Float;
    a.f = v.cast<float>();
  } else if (kind == "string") {
    a.kind = Attribute::Kind::String;
    a.s = v.cast<std::string>();
  } else if (kind == "ints") {
    a.kind = Attribute::Kind::Ints;
    a.ints = v.cast<std::vector<int64_t>>();
  } else if (kind == "floats") {
    a.kind = Attribute::Kind::Floats;
    a.floats = v.cast<std::vector<float>>();
  } else if (kind == "strings") {
    a.kind = Attribute::Kind::Strings;
    a.strings = v.cast<std::vector<std::string>>();
  } else if (kind == "tensor") {
    a.kind = Attribute::Kind::Tensor;
    a.t = tensor_from_array(v, "attribute '" + name + "'");
  } else if (kind == "graph") {
    // A subgraph: (nodes, initializers, inputs, outputs), described like the main graph; None
    // for subgraph kinds that no supported operator reads.
    a.kind = Attribute::Kind::Graph;
    if (!v.is_none()) {
      auto t = v.cast<py::tuple>();
      if (t.size() != 4) throw TypeError("attribute '" + name + "': expected (nodes, initializers, inputs, outputs)");
      a.g = std::make_shared<GraphDesc>(describe(0, t[0].cast<py::list>(), t[1].cast<py::list>(),
                                                 t[2].cast<py::list>(), t[3].cast<py::list>()));
    }
  } else {
    throw ValueError("attribute '" + name + "': unknown kind '" + kind + "'");
  }
  return a;
}

GraphDesc describe(int opset, py::list nodes, py::list initializers, py::list inputs, py::list outputs) {
  GraphDesc d;
  d.opset = opset;
  for (py::handle h : nodes) {
    auto t = h.cast<py::tuple>();
    if (t.size() != 6) throw TypeError("node: expected (name, op_type, domain, inputs, outputs, attributes)");
    NodeDesc n;
    n.name = t[0].cast<std::string>();
    n.op_type = t[1].cast<std::string>();
    n.domain = t[2].cast<std::string>();
    n.inputs = t[3].cast<std::vector<std::string>>();
    n.outputs = t[4].cast<std::vector<std::string>>();
    for (auto kv : t[5].cast<py::dict>()) {
      const std::string name = py::str(kv.first);
      n.attributes[name] = attribute_from(name, kv.second);
    }
    d.nodes.push_back(std::move(n));
  }
  for (py::handle h : initializers) {
    auto t = h.cast<py::tuple>();
    const std::string name = t[0].cast<std::string>();
    d.initializers.emplace_back(name, tensor_from_array(t[1], "initializer '" + name + "'"));
  }
  for (py::handle h : inputs) {
    auto t = h.cast<py::tuple>();
    GraphInputDesc in;
    in.name = t[0].cast<std::string>();
    const int64_t code = t[1].cast<int64_t>();
    if (code == 0)
      in.has_dtype = false;  // not declared (subgraph inputs may leave it out)
    else if (!dtype_from_onnx(code, &in.dtype))
      throw TypeError("graph input '" + in.name + "' has type " + onnx_type_code_name(code) +
                      "; lstmrt computes with " + supported_dtype_names());
    if (!t[2].is_none()) {
      in.has_shape = true;
      for (py::handle dim : t[2].cast<py::list>()) {
        if (py::isinstance<py::int_>(dim)) {
          in.dims.push_back(dim.cast<int64_t>());
          in.dim_names.emplace_back();
        } else {
          in.dims.push_back(-1);
          in.dim_names.push_back(dim.is_none() ? std::string() : std::string(py::str(dim)));
        }
      }
    }
    d.inputs.push_back(std::move(in));
  }
  for (py::handle h : outputs) d.outputs.push_back(h.cast<std::string>());
  return d;
}

// Borrows a feed's array into `out`: C-contiguous arrays as they are, others copied first; the
// dtype is checked against the input. `keep` holds the array until the call ends.
void borrow_feed(const Graph& g, int index, py::handle obj, Tensor& out, std::vector<py::object>& keep) {
  const GraphInputDesc& in = g.inputs()[static_cast<size_t>(index)];
  // NumPy scalars (numpy.float32(1.5)) are 0-d arrays of their dtype; Python numbers and lists are
  // refused, as their dtype would be a guess.
  if (!NpyApi::get().PyArray_Check_(obj.ptr()) && !py::isinstance(obj, numpy_generic_type))
    throw TypeError("input '" + in.name + "': expected a numpy.ndarray of dtype " + dtype_name(in.dtype) + ", got " +
                    py_type_name(obj));
  py::array a = c_array(obj);
  DType dt;
  if (!dtype_of_array(a, &dt))
    throw TypeError("input '" + in.name + "': expected " + onnx_type_string(in.dtype) + " (numpy " +
                    dtype_name(in.dtype) + "), got " + std::string(py::str(a.dtype())));
  out.set_borrowed(dt, dims_of(a), const_cast<void*>(a.data()));
  keep.push_back(std::move(a));
}

// A result's output as a NumPy array. Small outputs (every streamed step) are copied into an
// array NumPy allocates, so that the result keeps its buffer for the next call; large ones hand
// their buffer over, which saves a copy that would cost more than allocating anew.
constexpr size_t kHandOverBytes = size_t{64} << 10;

py::array output_to_numpy(Tensor& t) {
  if (t.nbytes() >= kHandOverBytes && t.holder()) {
    Tensor owned = std::move(t);
    t = Tensor();
    return to_numpy(owned);
  }
  py::array a = new_array(t.dtype(), t.shape());
  if (t.nbytes()) std::memcpy(a.mutable_data(), t.raw(), t.nbytes());
  return a;
}

std::string input_list(const Graph& g) {
  std::string s;
  for (size_t i = 0; i < g.inputs().size(); ++i) s += (i ? ", '" : "'") + g.inputs()[i].name + "'";
  return s;
}

std::string output_list(const Graph& g) {
  std::string s;
  for (size_t i = 0; i < g.outputs().size(); ++i) s += (i ? ", '" : "'") + g.outputs()[i] + "'";
  return s;
}

class BoundGraph {
 public:
  BoundGraph(int opset, py::list nodes, py::list initializers, py::list inputs, py::list outputs,
             const std::string& precision) {
    GraphDesc desc = describe(opset, nodes, initializers, inputs, outputs);
    desc.weights = parse_weight_type(precision);
    py::gil_scoped_release release;  // folding and packing large weights take a while
    graph_ = std::make_unique<Graph>(std::move(desc));
  }

  const Graph& graph() const { return *graph_; }

  static void prepare_for(const Graph& g, RunCall& call, py::handle feeds, py::handle output_names) {
    if (!py::isinstance<py::dict>(feeds))
      throw TypeError("feeds: expected a dict {input name: numpy.ndarray}, got " + py_type_name(feeds));
    auto dict = py::reinterpret_borrow<py::dict>(feeds);
    RunRequest& r = call.request;
    const size_t n = g.inputs().size();
    call.feeds.resize(n);
    call.keep.clear();
    r.inputs.assign(n, nullptr);
    r.outputs.clear();
    r.state_h.clear();
    r.state_c.clear();
    r.collect_state = false;
    for (auto kv : dict) {
      if (!py::isinstance<py::str>(kv.first))
        throw TypeError("feeds: keys must be input names (str), got " + py_type_name(kv.first));
      Py_ssize_t size = 0;
      const char* name = PyUnicode_AsUTF8AndSize(kv.first.ptr(), &size);
      if (!name) throw py::error_already_set();
      const int i = find_name(g.inputs(), [](const GraphInputDesc& d) -> const std::string& { return d.name; }, name,
                              static_cast<size_t>(size));
      if (i < 0)
        throw ValueError("unknown input '" + std::string(name, static_cast<size_t>(size)) +
                         "' in feeds; the model's inputs are " + input_list(g));
      borrow_feed(g, i, kv.second, call.feeds[static_cast<size_t>(i)], call.keep);
      r.inputs[static_cast<size_t>(i)] = &call.feeds[static_cast<size_t>(i)];
    }
    call.none_wanted = false;
    if (!output_names.is_none()) {
      auto add_output = [&](py::handle h) {
        if (!py::isinstance<py::str>(h)) throw TypeError("output_names: expected names (str), got " + py_type_name(h));
        Py_ssize_t size = 0;
        const char* name = PyUnicode_AsUTF8AndSize(h.ptr(), &size);
        if (!name) throw py::error_already_set();
        const int o = find_name(g.outputs(), [](const std::string& s) -> const std::string& { return s; }, name,
                                static_cast<size_t>(size));
        if (o < 0)
          throw ValueError("unknown output '" + std::string(name, static_cast<size_t>(size)) +
                           "'; the model's outputs are " + output_list(g));
        r.outputs.push_back(o);
      };
      if (PyList_Check(output_names.ptr())) {
        // A list (what the session passes) is read in place, without an iterator object.
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(output_names.ptr()); ++i)
          add_output(PyList_GET_ITEM(output_names.ptr(), i));
      } else {
        for (py::handle h : output_names) add_output(h);
      }
      call.none_wanted = r.outputs.empty();  // an explicit empty list: nothing wanted
    }
  }

  py::list run(py::handle feeds, py::handle output_names, int threads) const {
    // The graph's own call buffers, unless a call is using them (another thread that released
    // the GIL to run, or this one, re-entered from Python code the call ran): then private ones,
    // as Graph::run does with its plans.
    bool expected = false;
    const bool own = call_busy_.compare_exchange_strong(expected, true, std::memory_order_acquire);
    struct Free {
      std::atomic<bool>* busy;
      ~Free() {
        if (busy) busy->store(false, std::memory_order_release);
      }
    } free_on_exit{own ? &call_busy_ : nullptr};
    std::unique_ptr<RunCall> private_call;
    RunCall* call = &call_;
    if (!own) {
      private_call = std::make_unique<RunCall>();
      call = private_call.get();
    }
    return run_call(*graph_, *call, feeds, output_names, threads,
                    [&](RunCall& c) { graph_->run(c.request, c.result); });
  }

  py::tuple run_with_state(py::handle feeds, py::handle state_in, py::handle output_names, int threads) const {
    const Graph& g = *graph_;
    RunCall call;
    prepare_for(g, call, feeds, output_names);
    RunRequest& r = call.request;
    std::vector<py::object>& keep = call.keep;
    r.threads = threads;
    r.collect_state = true;
    const auto& rec = g.recurrent_nodes();
    std::vector<Tensor> states(2 * rec.size());
    if (!state_in.is_none()) {
      if (!py::isinstance<py::dict>(state_in))
        throw TypeError("state_in: expected a dict {recurrent node name: (h, c) or h}, got " + py_type_name(state_in));
      r.state_h.assign(rec.size(), nullptr);
      r.state_c.assign(rec.size(), nullptr);
      for (auto kv : py::reinterpret_borrow<py::dict>(state_in)) {
        const std::string name = py::str(kv.first);
        size_t k = 0;
        while (k < rec.size() && rec[k].name != name) ++k;
        if (k == rec.size()) throw ValueError("state_in: no recurrent node named '" + name + "'");
        py::handle h = kv.second, c = py::none();
        if (py::isinstance<py::tuple>(kv.second)) {
          auto t = py::reinterpret_borrow<py::tuple>(kv.second);
          if (t.size() < 1 || t.size() > 2) throw ValueError("state_in['" + name + "']: expected (h,) or (h, c)");
          h = t[0];
          if (t.size() == 2) c = t[1];
        }
        auto as_tensor = [&](py::handle obj, const char* what) {
          const auto arr = float_array(obj, "state_in['" + name + "'] " + what);
          keep.push_back(*arr);
          return Tensor::borrow(DType::Float32, shape_of(*arr), const_cast<float*>(arr->data()));
        };
        if (!h.is_none()) {
          states[2 * k] = as_tensor(h, "h");
          r.state_h[k] = &states[2 * k];
        }
        if (!c.is_none()) {
          states[2 * k + 1] = as_tensor(c, "c");
          r.state_c[k] = &states[2 * k + 1];
        }
      }
    }
    {
      py::gil_scoped_release release;
      graph_->run(r, call.result);
    }
    RunResult& result = call.result;
    py::list out = call_outputs(call);
    py::dict state;
    for (size_t k = 0; k < rec.size(); ++k) {
      const bool lstm = rec[k].cell == CellKind::LSTM;
      py::object h = result.state_h[k].defined() ? py::object(to_numpy(result.state_h[k])) : py::object(py::none());
      if (lstm) {
        py::object c = result.state_c[k].defined() ? py::object(to_numpy(result.state_c[k])) : py::object(py::none());
        state[py::str(rec[k].name)] = py::make_tuple(h, c);
      } else {
        state[py::str(rec[k].name)] = py::make_tuple(h);
      }
    }
    return py::make_tuple(out, state);
  }

  // Runs the graph `repeat` times on private call buffers; returns (op_type, name, seconds per
  // run) for every compiled node, in run order.
  py::list profile(py::handle feeds, int repeat, int threads) const {
    if (repeat < 1) throw ValueError("repeat: expected at least 1, got " + std::to_string(repeat));
    RunCall call;
    prepare_for(*graph_, call, feeds, py::none());
    std::vector<double> seconds;
    call.request.threads = threads;
    call.request.node_seconds = &seconds;
    {
      py::gil_scoped_release release;
      for (int k = 0; k < repeat; ++k) graph_->run(call.request, call.result);
    }
    const std::vector<NodeSummary> nodes = graph_->node_summaries();
    seconds.resize(nodes.size(), 0.0);
    py::list out;
    for (size_t n = 0; n < nodes.size(); ++n)
      out.append(py::make_tuple(nodes[n].op_type, nodes[n].name, seconds[n] / repeat));
    return out;
  }

 private:
  std::unique_ptr<Graph> graph_;
  mutable std::atomic<bool> call_busy_{false};  // call_ is in use
  mutable RunCall call_;
};


}  // namespace

const Graph& graph_of(py::handle bound_graph) { return bound_graph.cast<const BoundGraph&>().graph(); }

void prepare_request(const Graph& g, RunCall& call, py::handle feeds, py::handle output_names) {
  BoundGraph::prepare_for(g, call, feeds, output_names);
}

py::list call_outputs(RunCall& call, size_t count) {
  if (call.none_wanted) return py::list();
  std::vector<Tensor>& outputs = call.result.outputs;
  count = std::min(count, outputs.size());
  py::list out(count);
  for (size_t k = 0; k < count; ++k)
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(k), output_to_numpy(outputs[k]).release().ptr());
  return out;
}

py::array tensor_to_numpy(const Tensor& t) { return to_numpy(t); }

Tensor array_to_tensor(py::handle obj, const std::string& what) { return tensor_from_array(obj, what); }

// Why this is long: one class_ chain lists the Graph's methods and properties, each a line or two
// that forwards to BoundGraph, followed by the module functions the importer reads.
void register_graph(py::module_& m) {
  numpy_generic_type = py::object(py::module_::import("numpy").attr("generic")).release();
  py::class_<BoundGraph>(m, "Graph", "A compiled ONNX graph (built by lstmrt.onnx_import).")
      .def(py::init([](int opset, py::list nodes, py::list initializers, py::list inputs, py::list outputs,
                       const std::string& precision) {
             return std::make_unique<BoundGraph>(opset, nodes, initializers, inputs, outputs, precision);
           }),
           py::arg("opset"), py::arg("nodes"), py::arg("initializers"), py::arg("inputs"), py::arg("outputs"),
           py::arg("precision") = "fp32")
      .def("run", &BoundGraph::run, py::arg("feeds"), py::arg("output_names") = py::none(), py::arg("threads") = 0,
           "Runs the graph; returns the outputs (all, or those named) as a list of arrays.")
      .def("run_with_state", &BoundGraph::run_with_state, py::arg("feeds"), py::arg("state_in") = py::none(),
           py::arg("output_names") = py::none(), py::arg("threads") = 0,
           "Runs the graph with per-recurrent-node initial states {name: (h, c) or (h,)} overriding the nodes' "
           "initial_h/initial_c; returns (outputs, {name: (Y_h, Y_c) or (Y_h,)}).")
      .def("profile", &BoundGraph::profile, py::arg("feeds"), py::arg("repeat") = 10, py::arg("threads") = 0,
           "Runs the graph `repeat` times; returns [(op_type, name, seconds per run)] per compiled node, in run "
           "order.")
      .def_property_readonly("opset", [](const BoundGraph& b) { return b.graph().opset(); })
      .def_property_readonly("inputs",
                             [](const BoundGraph& b) {
                               py::list out;
                               for (const GraphInputDesc& in : b.graph().inputs()) {
                                 py::object shape = py::none();
                                 if (in.has_shape) {
                                   py::list dims;
                                   for (size_t i = 0; i < in.dims.size(); ++i) {
                                     if (in.dims[i] >= 0)
                                       dims.append(in.dims[i]);
                                     else if (!in.dim_names[i].empty())
                                       dims.append(in.dim_names[i]);
                                     else
                                       dims.append(py::none());
                                   }
                                   shape = dims;
                                 }
                                 out.append(py::make_tuple(in.name, onnx_type_string(in.dtype), shape));
                               }
                               return out;
                             })
      .def_property_readonly("optional_inputs",
                             [](const BoundGraph& b) {
                               std::vector<std::string> names;
                               for (size_t i = 0; i < b.graph().inputs().size(); ++i)
                                 if (b.graph().optional_input(i)) names.push_back(b.graph().inputs()[i].name);
                               return names;
                             })
      .def_property_readonly("outputs", [](const BoundGraph& b) { return b.graph().outputs(); })
      .def_property_readonly("recurrent_nodes",
                             [](const BoundGraph& b) {
                               py::list out;
                               for (const RecurrentNodeInfo& r : b.graph().recurrent_nodes()) {
                                 py::dict d;
                                 d["name"] = r.name;
                                 d["cell"] = cell_name(r.cell);
                                 d["direction"] = direction_name(r.direction);
                                 d["num_directions"] = r.num_directions;
                                 d["hidden_size"] = r.hidden_size;
                                 d["input_size"] = r.input_size;
                                 d["layout"] = r.layout;
                                 out.append(d);
                               }
                               return out;
                             })
      .def_property_readonly("op_counts", [](const BoundGraph& b) { return b.graph().op_counts(); })
      .def_property_readonly("model_op_counts", [](const BoundGraph& b) { return b.graph().model_op_counts(); })
      .def_property_readonly("load_warnings", [](const BoundGraph& b) { return b.graph().load_warnings(); },
                             "What loading found worth telling the user, one message per node and tensor.")
      .def_property_readonly("num_nodes", [](const BoundGraph& b) { return b.graph().num_nodes(); })
      .def_property_readonly("num_folded", [](const BoundGraph& b) { return b.graph().num_folded(); })
      .def_property_readonly("num_buffers", [](const BoundGraph& b) { return b.graph().num_buffers(); })
      .def_property_readonly("cached_plans", [](const BoundGraph& b) { return b.graph().cached_plans(); });
  m.def("supported_ops", &supported_ops, "The ai.onnx operators the graph runtime supports.");
  m.def(
      "dtypes",
      [] {
        py::list out;
        for (const DTypeFacts& f : kDTypeFacts) out.append(py::make_tuple(f.name, f.size, f.onnx_code, f.onnx_type));
        return out;
      },
      "The element types the graph computes with: (NumPy name, bytes, ONNX TensorProto code, ONNX type string).");
  m.def("tensor_buffer_allocations", &tensor_buffer_allocations,
        "How many run-plan buffers the graph runtime has allocated in this process (for tests).");
}

}  // namespace lstmrt

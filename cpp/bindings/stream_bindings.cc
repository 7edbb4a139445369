// lstmrt._core.GraphStream and StreamPool: stateful runs of a compiled graph.
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "bindings.h"
#include "lstmrt/graph/stream.h"

namespace lstmrt {
namespace {

std::string state_key(const std::string& node, const char* which) { return node + ":" + which; }

// Runs `fn(call)` with the call built from Python's arguments, the GIL released.
// output_names as in InferenceSession.run: None or an empty list means every output.
template <class Fn>
py::list run_request(const Graph& g, RunCall& call, py::handle output_names, py::handle feeds, int threads, Fn&& fn) {
  if (py::isinstance<py::str>(output_names))
    throw TypeError("output_names: expected a list of output names or None, got a string");
  if (!output_names.is_none() && py::len(output_names) == 0) output_names = py::none();
  return run_call(g, call, feeds, output_names, threads, fn);
}

// carry as {output name: input name} or pairs (output name, input name), None for none.
std::vector<CarryPair> carry_pairs(const Graph& g, py::handle carry) {
  std::vector<CarryPair> pairs;
  if (carry.is_none()) return pairs;
  std::vector<std::pair<std::string, std::string>> names;
  if (py::isinstance<py::dict>(carry)) {
    for (auto kv : py::reinterpret_borrow<py::dict>(carry))
      names.emplace_back(py::cast<std::string>(kv.first), py::cast<std::string>(kv.second));
  } else {
    for (py::handle item : carry) {
      auto t = py::cast<std::vector<std::string>>(item);
      if (t.size() != 2) throw ValueError("carry: expected (output name, input name) pairs");
      names.emplace_back(t[0], t[1]);
    }
  }
  for (const auto& n : names) {
    CarryPair p;
    p.output = g.output_index(n.first);
    p.input = g.input_index(n.second);
    if (p.output < 0) {
      std::string all;
      for (const auto& o : g.outputs()) all += (all.empty() ? "'" : ", '") + o + "'";
      throw ValueError("carry: the model has no output '" + n.first + "' (its outputs are " + all + ")");
    }
    if (p.input < 0) {
      std::string all;
      for (const auto& i : g.inputs()) all += (all.empty() ? "'" : ", '") + i.name + "'";
      throw ValueError("carry: the model has no input '" + n.second + "' to carry '" + n.first + "' into (its inputs are " +
                       all + ")");
    }
    pairs.push_back(p);
  }
  return pairs;
}

py::dict carry_dict(const GraphStreamer& s) {
  py::dict d;
  for (const CarryPair& p : s.carry())
    d[py::str(s.graph().outputs()[p.output])] = py::str(s.graph().inputs()[p.input].name);
  return d;
}

// A stream that has not run yet reports the zero state of one batch row that it would start
// from without state feeds, so that get_state() always returns something set_state() accepts.
py::dict state_dict(const GraphStreamer& s, const StreamState& st) {
  py::dict d;
  const auto& nodes = s.graph().recurrent_nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (const char* which : {"h", "c"}) {
      if (which[0] == 'c' && nodes[k].cell != CellKind::LSTM) continue;
      Tensor t;
      if (st.started) {
        const Tensor& src = which[0] == 'h' ? st.h[k] : st.c[k];
        if (!src.defined()) continue;
        t = src.clone();
      } else {
        t = Tensor(DType::Float32, s.state_shape(k, 1));
        std::memset(t.data<float>(), 0, t.nbytes());
      }
      d[py::str(state_key(nodes[k].name, which))] = tensor_to_numpy(t);
    }
  }
  for (size_t p = 0; p < s.carry().size(); ++p) {
    const std::string& name = s.graph().inputs()[s.carry()[p].input].name;
    if (p < st.carried.size() && st.carried[p].defined()) {
      d[py::str(name)] = tensor_to_numpy(st.carried[p].clone());
    } else {
      try {
        d[py::str(name)] = tensor_to_numpy(s.carry_zeros(p));
      } catch (const ValueError&) {
        // No declared shape: nothing to show until the first call feeds it.
      }
    }
  }
  return d;
}

// A state from a dict {"<node>:h": array, "<node>:c": array, "<carried input>": array}: every
// node's entries are required, with the shape of `batch` rows (-1: the batch is read from the
// first node's h); carried entries may be left out (they then start from zeros or a feed).
StreamState state_from(const GraphStreamer& s, py::handle obj, int64_t batch) {
  if (!py::isinstance<py::dict>(obj))
    throw TypeError("state: expected a dict {'<node>:h': array, '<node>:c': array}, got " + py_type_name(obj));
  auto d = py::reinterpret_borrow<py::dict>(obj);
  const auto& nodes = s.graph().recurrent_nodes();
  StreamState st;
  size_t used = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const bool lstm = nodes[k].cell == CellKind::LSTM;
    for (const char* which : {"h", "c"}) {
      if (which[0] == 'c' && !lstm) {
        st.c.emplace_back();
        continue;
      }
      const std::string key = state_key(nodes[k].name, which);
      if (!d.contains(key)) throw ValueError("state: missing '" + key + "'");
      ++used;
      const auto arr = float_array(d[py::str(key)], "state['" + key + "']");
      const std::vector<int64_t> shape = shape_of(*arr);
      if (batch < 0 && shape.size() == 3) batch = nodes[k].layout == 0 ? shape[1] : shape[0];
      const Shape expected = s.state_shape(k, batch < 0 ? 1 : batch);
      if (shape != expected)
        throw ValueError("state['" + key + "']: expected shape " + shape_to_string(expected) + ", got " +
                         shape_to_string(shape));
      Tensor t(DType::Float32, expected);
      std::memcpy(t.data<float>(), arr->data(), t.nbytes());
      (which[0] == 'h' ? st.h : st.c).push_back(std::move(t));
    }
  }
  st.carried.resize(s.carry().size());
  for (size_t p = 0; p < s.carry().size(); ++p) {
    const GraphInputDesc& in = s.graph().inputs()[s.carry()[p].input];
    if (!d.contains(in.name)) continue;
    ++used;
    Tensor t = array_to_tensor(d[py::str(in.name)], "state['" + in.name + "']");
    if (in.has_dtype && t.dtype() != in.dtype)
      throw TypeError("state['" + in.name + "']: expected " + dtype_name(in.dtype) + ", got " + dtype_name(t.dtype()));
    bool fits = !in.has_shape || in.dims.size() == t.rank();
    for (size_t a = 0; fits && in.has_shape && a < in.dims.size(); ++a) fits = in.dims[a] < 0 || in.dims[a] == t.dim(a);
    if (!fits)
      throw ValueError("state['" + in.name + "']: expected shape " + shape_to_string(in.dims) + " (the input's), got " +
                       shape_to_string(t.shape()));
    st.carried[p] = std::move(t);
  }
  if (used != d.size())
    throw ValueError("state: unknown keys (expected '<node>:h', for LSTM '<node>:c', and carried input names)");
  st.started = true;
  return st;
}

class BoundGraphStream : public Constructed {
 public:
  BoundGraphStream(py::object graph, int threads, py::handle carry)
      : graph_obj_(graph), streamer_(graph_of(graph), carry_pairs(graph_of(graph), carry)), threads_(threads) {}

  py::list run(py::handle output_names, py::handle feeds) {
    auto lock = locked();
    return run_request(streamer_.graph(), call_, output_names, feeds, threads_, [&](RunCall& c) {
      // Only the outputs asked for go back: the carried ones the streamer adds follow them.
      const bool all = c.request.outputs.empty();
      const size_t asked = c.request.outputs.size();
      streamer_.run(state_, c.request, c.result);
      return all ? c.result.outputs.size() : asked;
    });
  }
  void reset() {
    auto lock = locked();
    state_ = StreamState();
  }
  py::dict get_state() {
    auto lock = locked();
    return state_dict(streamer_, state_);
  }
  void set_state(py::handle d) {
    require(kName);
    StreamState st = state_from(streamer_, d, -1);
    auto lock = locked();
    state_ = std::move(st);
  }
  py::dict carry() const {
    require(kName);
    return carry_dict(streamer_);
  }

 private:
  static constexpr const char* kName = "GraphStream";
  std::unique_lock<std::mutex> locked() {
    require(kName);
    return lock_released(mutex_);
  }

  py::object graph_obj_;  // keeps the graph alive
  GraphStreamer streamer_;
  int threads_;
  StreamState state_;
  RunCall call_;  // reused by every run (runs on a stream are serialized by mutex_)
  std::mutex mutex_;
};

// stream_ids as int64: an integer NumPy array is read in place, a sequence converted into `buf`.
const int64_t* ids_of(py::handle obj, std::vector<int64_t>& buf, py::object& keep, size_t* n) {
  if (py::isinstance<py::array>(obj)) {
    py::array a = py::reinterpret_borrow<py::array>(obj);
    if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
      throw TypeError("stream_ids: expected integers, got an array of " + std::string(py::str(a.dtype())));
    if (a.ndim() != 1) throw ValueError("stream_ids: expected a 1-D array of stream ids");
    auto ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!ints) throw py::error_already_set();
    keep = ints;
    *n = static_cast<size_t>(ints.size());
    return ints.data();
  }
  if (py::isinstance<py::str>(obj) || !py::isinstance<py::sequence>(obj))
    throw TypeError("stream_ids: expected a list of stream ids, got " + py_type_name(obj));
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  buf.resize(seq.size());
  for (size_t i = 0; i < buf.size(); ++i) {
    py::handle v = seq[i];
    if (!PyLong_Check(v.ptr()) && !py::isinstance(v, py::module_::import("numpy").attr("integer")))
      throw TypeError("stream_ids: expected integers, got " + py_type_name(v));
    buf[i] = py::cast<int64_t>(v);
  }
  *n = buf.size();
  return buf.data();
}

class BoundStreamPool : public Constructed {
 public:
  BoundStreamPool(py::object graph, int threads, py::handle carry, std::vector<int> batch_axes)
      : graph_obj_(graph),
        pool_(graph_of(graph), carry_pairs(graph_of(graph), carry), std::move(batch_axes)),
        threads_(threads) {}

  int64_t open() {
    auto lock = locked();
    return pool_.open();
  }
  void close(int64_t id) {
    auto lock = locked();
    pool_.close(id);
  }
  std::vector<int64_t> ids() {
    auto lock = locked();
    return pool_.ids();
  }
  bool contains(int64_t id) {
    auto lock = locked();
    return pool_.contains(id);
  }
  size_t size() {
    auto lock = locked();
    return pool_.size();
  }
  py::list run(py::handle stream_ids, py::handle output_names, py::handle feeds) {
    auto lock = locked();
    size_t n = 0;
    py::object keep;
    const int64_t* ids = ids_of(stream_ids, ids_, keep, &n);
    return run_request(pool_.streamer().graph(), call_, output_names, feeds, threads_, [&](RunCall& c) {
      const bool all = c.request.outputs.empty();
      const size_t asked = c.request.outputs.size();
      pool_.run(ids, n, c.request, c.result);
      return all ? c.result.outputs.size() : asked;
    });
  }
  void reset(int64_t id) {
    auto lock = locked();
    pool_.reset(id);
  }
  py::dict get_state(int64_t id) {
    auto lock = locked();
    py::dict d;
    for (size_t t = 0; t < pool_.num_state_tensors(); ++t) {
      Tensor row(pool_.state_dtype(t), pool_.state_row_shape(t));
      pool_.read_state(id, t, row.raw());
      d[py::str(pool_.state_name(t))] = tensor_to_numpy(row);
    }
    return d;
  }
  void set_state(int64_t id, py::handle obj) {
    require(kName);
    if (!py::isinstance<py::dict>(obj))
      throw TypeError("state: expected a dict {name: array} as get_state() returns, got " + py_type_name(obj));
    auto d = py::reinterpret_borrow<py::dict>(obj);
    auto lock = locked();
    if (!pool_.contains(id)) throw ValueError("stream " + std::to_string(id) + " is not open in this pool");
    // Every entry is checked before any is written: a bad one changes nothing.
    std::vector<Tensor> rows;
    for (size_t t = 0; t < pool_.num_state_tensors(); ++t) {
      const std::string& name = pool_.state_name(t);
      if (!d.contains(name)) throw ValueError("state: missing '" + name + "'");
      Tensor v = array_to_tensor(d[py::str(name)], "state['" + name + "']");
      if (v.dtype() != pool_.state_dtype(t))
        throw TypeError("state['" + name + "']: expected " + dtype_name(pool_.state_dtype(t)) + ", got " +
                        dtype_name(v.dtype()));
      if (v.shape() != pool_.state_row_shape(t))
        throw ValueError("state['" + name + "']: expected shape " + shape_to_string(pool_.state_row_shape(t)) +
                         " (one stream's row), got " + shape_to_string(v.shape()));
      rows.push_back(std::move(v));
    }
    if (rows.size() != d.size()) throw ValueError("state: unknown keys (expected those get_state() returns)");
    for (size_t t = 0; t < rows.size(); ++t) pool_.write_state(id, t, rows[t].raw());
  }
  py::dict carry() const {
    require(kName);
    return carry_dict(pool_.streamer());
  }

 private:
  static constexpr const char* kName = "StreamPool";
  std::unique_lock<std::mutex> locked() {
    require(kName);
    return lock_released(pool_.mutex());
  }

  py::object graph_obj_;
  StreamPool pool_;
  int threads_;
  RunCall call_;               // reused by every run (serialized by the pool's mutex)
  std::vector<int64_t> ids_;   // stream_ids given as a list, converted
};

}  // namespace

void register_stream(py::module_& m) {
  py::class_<BoundGraphStream>(m, "GraphStream",
                                "A stateful stream over a compiled graph (made by InferenceSession.stream()): "
                                "the state of every LSTM/GRU/RNN node, and the carried outputs, pass from one run "
                                "to the next.")
      .def(py::init<py::object, int, py::handle>(), py::arg("graph"), py::arg("threads") = 0,
           py::arg("carry") = py::none())
      .def("run", &BoundGraphStream::run, py::arg("output_names"), py::arg("feeds"),
           "run(output_names, feeds) -> list[numpy.ndarray]\n\n"
           "Runs one chunk, as InferenceSession.run does: output_names is a list of names or None (every "
           "output), feeds maps input names to arrays of the declared dtypes (for a sequence model, "
           "typically float32 of shape [batch, chunk_length, features] or [chunk_length, batch, features]). "
           "Each recurrent node starts from the state the previous call left, and each carried input from "
           "the previous call's output. A failed call leaves the state as it was.")
      .def("reset", &BoundGraphStream::reset, "Forgets the carried state: the next run starts as a fresh stream.")
      .def("get_state", &BoundGraphStream::get_state,
           "get_state() -> dict[str, numpy.ndarray]\n\n"
           "A copy of the carried state: '<node>:h' (and '<node>:c' for LSTM) per recurrent node, float32 "
           "arrays in the node's state shape [num_directions, batch, hidden_size], and each carried tensor "
           "under its input's name. Before the first run: the zero state of batch 1.")
      .def("set_state", &BoundGraphStream::set_state, py::arg("state"),
           "set_state(state: dict[str, numpy.ndarray]) -> None\n\n"
           "Replaces the carried state by a copy of `state`, in get_state()'s form; every node's entries "
           "are required, carried ones may be left out (ValueError naming a missing, unknown or misshapen "
           "entry).")
      .def_property_readonly("carry", &BoundGraphStream::carry,
                             "The carried pairs, {output name: input name} (empty when nothing is carried).");
  py::class_<BoundStreamPool>(m, "StreamPool",
                              "Independent one-row streams stepped together in batched calls (made by "
                              "InferenceSession.stream_pool()).")
      .def(py::init<py::object, int, py::handle, std::vector<int>>(), py::arg("graph"), py::arg("threads") = 0,
           py::arg("carry") = py::none(), py::arg("batch_axes") = std::vector<int>())
      .def("open", &BoundStreamPool::open, "open() -> int\n\nStarts a stream (zero state) and returns its id.")
      .def("close", &BoundStreamPool::close, py::arg("stream_id"),
           "close(stream_id: int) -> None\n\nEnds a stream and frees its state for reuse (ValueError for an "
           "unknown id).")
      .def_property_readonly("ids", &BoundStreamPool::ids, "The ids of the open streams, a sorted list of int.")
      .def("__contains__", &BoundStreamPool::contains)
      .def("__len__", &BoundStreamPool::size)
      .def("run", &BoundStreamPool::run, py::arg("stream_ids"), py::arg("output_names"), py::arg("feeds"),
           "run(stream_ids: list[int] | numpy.ndarray, output_names, feeds) -> list[numpy.ndarray]\n\n"
           "Runs one chunk for the listed streams in one batched call: row k of every batched feed (the "
           "batch axis, of size len(stream_ids)) belongs to stream_ids[k], and row k of each output is "
           "that stream's. Streams not listed are untouched. The same streams in the same order as the "
           "previous call move no state at all; otherwise only the rows whose position changed move.")
      .def("reset", &BoundStreamPool::reset, py::arg("stream_id"),
           "reset(stream_id: int) -> None\n\nReturns one stream to the zero state.")
      .def("get_state", &BoundStreamPool::get_state, py::arg("stream_id"),
           "get_state(stream_id: int) -> dict[str, numpy.ndarray]\n\n"
           "A copy of one stream's state: '<node>:h' (and '<node>:c' for LSTM), float32 arrays of shape "
           "[num_directions, 1, hidden_size], and each carried tensor under its input's name with 1 on its "
           "batch axis (the zero state before its first run).")
      .def("set_state", &BoundStreamPool::set_state, py::arg("stream_id"), py::arg("state"),
           "set_state(stream_id: int, state: dict[str, numpy.ndarray]) -> None\n\n"
           "Replaces one stream's state by a copy of `state`, in get_state()'s form (every entry, one row's "
           "shape); a bad entry changes nothing.")
      .def_property_readonly("carry", &BoundStreamPool::carry,
                             "The carried pairs, {output name: input name} (empty when nothing is carried).");
}

}  // namespace lstmrt

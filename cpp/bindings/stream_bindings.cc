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

// A stream that has not run yet reports the zero state of one batch row that it would start
// from without state feeds, so that get_state() always returns something set_state() accepts.
py::dict state_dict(const GraphStreamer& s, const StreamState& st) {
  py::dict d;
  const auto& nodes = s.graph().recurrent_nodes();
  if (!st.started) {
    for (size_t k = 0; k < nodes.size(); ++k) {
      for (const char* which : {"h", "c"}) {
        if (which[0] == 'c' && nodes[k].cell != CellKind::LSTM) continue;
        Tensor t(DType::Float32, s.state_shape(k, 1));
        std::memset(t.data<float>(), 0, t.nbytes());
        d[py::str(state_key(nodes[k].name, which))] = tensor_to_numpy(std::move(t));
      }
    }
    return d;
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    d[py::str(state_key(nodes[k].name, "h"))] = tensor_to_numpy(st.h[k].clone());
    if (st.c[k].defined()) d[py::str(state_key(nodes[k].name, "c"))] = tensor_to_numpy(st.c[k].clone());
  }
  return d;
}

// A state from a dict {"<node>:h": array, "<node>:c": array}: every node's entries are required,
// with the shape of `batch` rows (-1: the batch is read from the first node's h).
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
  if (used != d.size()) throw ValueError("state: unknown keys (expected '<node>:h' and, for LSTM, '<node>:c')");
  st.started = true;
  return st;
}

class BoundGraphStream {
 public:
  BoundGraphStream(py::object graph, int threads)
      : graph_obj_(graph), streamer_(graph_of(graph)), threads_(threads) {}

  py::list run(py::handle output_names, py::handle feeds) {
    auto lock = lock_released(mutex_);
    return run_request(streamer_.graph(), call_, output_names, feeds, threads_,
                       [&](RunCall& c) { streamer_.run(state_, c.request, c.result); });
  }
  void reset() {
    auto lock = lock_released(mutex_);
    state_ = StreamState();
  }
  py::dict get_state() {
    auto lock = lock_released(mutex_);
    return state_dict(streamer_, state_);
  }
  void set_state(py::handle d) {
    StreamState st = state_from(streamer_, d, -1);
    auto lock = lock_released(mutex_);
    state_ = std::move(st);
  }

 private:
  py::object graph_obj_;  // keeps the graph alive
  GraphStreamer streamer_;
  int threads_;
  StreamState state_;
  RunCall call_;  // reused by every run (runs on a stream are serialized by mutex_)
  std::mutex mutex_;
};

class BoundStreamPool {
 public:
  BoundStreamPool(py::object graph, int threads) : graph_obj_(graph), pool_(graph_of(graph)), threads_(threads) {}

  int64_t open() {
    auto lock = lock_released(pool_.mutex());
    return pool_.open();
  }
  void close(int64_t id) {
    auto lock = lock_released(pool_.mutex());
    pool_.close(id);
  }
  std::vector<int64_t> ids() {
    auto lock = lock_released(pool_.mutex());
    return pool_.ids();
  }
  bool contains(int64_t id) {
    auto lock = lock_released(pool_.mutex());
    return pool_.contains(id);
  }
  py::list run(const std::vector<int64_t>& ids, py::handle output_names, py::handle feeds) {
    auto lock = lock_released(pool_.mutex());
    RunCall call;
    return run_request(pool_.streamer().graph(), call, output_names, feeds, threads_,
                       [&](RunCall& c) { c.result = pool_.run(ids, c.request); });
  }
  void reset(int64_t id) {
    auto lock = lock_released(pool_.mutex());
    pool_.state(id) = StreamState();
  }
  py::dict get_state(int64_t id) {
    auto lock = lock_released(pool_.mutex());
    return state_dict(pool_.streamer(), pool_.state(id));
  }
  void set_state(int64_t id, py::handle d) {
    StreamState st = state_from(pool_.streamer(), d, 1);
    auto lock = lock_released(pool_.mutex());
    pool_.state(id) = std::move(st);
  }

 private:
  py::object graph_obj_;
  StreamPool pool_;
  int threads_;
};

}  // namespace

void register_stream(py::module_& m) {
  py::class_<BoundGraphStream>(m, "GraphStream",
                                "A stateful stream over a compiled graph (made by InferenceSession.stream()): "
                                "the state of every LSTM/GRU/RNN node is carried from one run to the next.")
      .def(py::init<py::object, int>(), py::arg("graph"), py::arg("threads") = 0)
      .def("run", &BoundGraphStream::run, py::arg("output_names"), py::arg("feeds"),
           "run(output_names, feeds) -> list[numpy.ndarray]\n\n"
           "Runs one chunk, as InferenceSession.run does: output_names is a list of names or None (every "
           "output), feeds maps input names to arrays of the declared dtypes (for a sequence model, "
           "typically float32 of shape [batch, chunk_length, features] or [chunk_length, batch, features]). "
           "Each recurrent node starts from the state the previous call left. A failed call leaves the "
           "state as it was.")
      .def("reset", &BoundGraphStream::reset, "Forgets the carried state: the next run starts as a fresh stream.")
      .def("get_state", &BoundGraphStream::get_state,
           "get_state() -> dict[str, numpy.ndarray]\n\n"
           "A copy of the carried state: '<node>:h' (and '<node>:c' for LSTM) per recurrent node, float32 "
           "arrays in the node's state shape [num_directions, batch, hidden_size]. Before the first run: "
           "the zero state of batch 1.")
      .def("set_state", &BoundGraphStream::set_state, py::arg("state"),
           "set_state(state: dict[str, numpy.ndarray]) -> None\n\n"
           "Replaces the carried state by a copy of `state`, in get_state()'s form; every node's entries "
           "are required (ValueError naming a missing, unknown or misshapen entry).");
  py::class_<BoundStreamPool>(m, "StreamPool",
                              "Independent one-row streams stepped together in batched calls (made by "
                              "InferenceSession.stream_pool()).")
      .def(py::init<py::object, int>(), py::arg("graph"), py::arg("threads") = 0)
      .def("open", &BoundStreamPool::open, "open() -> int\n\nStarts a stream (zero state) and returns its id.")
      .def("close", &BoundStreamPool::close, py::arg("stream_id"),
           "close(stream_id: int) -> None\n\nEnds a stream and forgets its state (ValueError for an unknown id).")
      .def_property_readonly("ids", &BoundStreamPool::ids, "The ids of the open streams, a list of int.")
      .def("__contains__", &BoundStreamPool::contains)
      .def("__len__", [](BoundStreamPool& p) { return p.ids().size(); })
      .def("run", &BoundStreamPool::run, py::arg("stream_ids"), py::arg("output_names"), py::arg("feeds"),
           "run(stream_ids: list[int], output_names, feeds) -> list[numpy.ndarray]\n\n"
           "Runs one chunk for the listed streams in one batched call: row k of every batched feed (the "
           "batch axis, of size len(stream_ids)) belongs to stream_ids[k], and row k of each output is "
           "that stream's. Streams not listed are untouched.")
      .def("reset", &BoundStreamPool::reset, py::arg("stream_id"),
           "reset(stream_id: int) -> None\n\nReturns one stream to the zero state.")
      .def("get_state", &BoundStreamPool::get_state, py::arg("stream_id"),
           "get_state(stream_id: int) -> dict[str, numpy.ndarray]\n\n"
           "A copy of one stream's state: '<node>:h' (and '<node>:c' for LSTM), float32 arrays of shape "
           "[num_directions, 1, hidden_size] (the zero state before its first run).")
      .def("set_state", &BoundStreamPool::set_state, py::arg("stream_id"), py::arg("state"),
           "set_state(stream_id: int, state: dict[str, numpy.ndarray]) -> None\n\n"
           "Replaces one stream's state by a copy of `state`, in get_state()'s form.");
}

}  // namespace lstmrt

#include "lstmrt/graph/stream.h"

#include <cstring>
#include <set>

#include "lstmrt/errors.h"

namespace lstmrt {

GraphStreamer::GraphStreamer(const Graph& graph) : graph_(graph) {
  for (const RecurrentNodeInfo& n : graph.recurrent_nodes()) {
    if (n.direction != Direction::Forward)
      throw ValueError(std::string(cell_name(n.cell)) + " node '" + n.name + "' cannot stream: it is " +
                       (n.direction == Direction::Reverse ? "reverse" : "bidirectional") +
                       ", so it reads each sequence from its end, which a stream has not received yet");
  }
  for (const auto& kv : graph.op_counts()) {
    if (kv.first == "Loop" || kv.first == "Scan")
      throw ValueError("this model cannot stream: it has a " + kv.first +
                       " node, whose state from one chunk to the next lstmrt cannot see or carry (tf2onnx "
                       "exports most Keras 3 recurrent layers this way; Keras LSTM layers export as LSTM nodes)");
  }
}

Shape GraphStreamer::state_shape(size_t k, int64_t batch) const {
  const RecurrentNodeInfo& n = graph_.recurrent_nodes()[k];
  if (n.layout == 0) return {1, batch, n.hidden_size};
  return {batch, 1, n.hidden_size};
}

// A node's state is fed explicitly when the request feeds a state input that reaches it: an
// input that only feeds initial states. Data inputs do not count, although exporters often
// build the zero initial state from the data's shape (Shape -> ConstantOfShape).
bool GraphStreamer::fed(size_t k, const RunRequest& r) const {
  for (int i : graph_.recurrent_state_inputs(k))
    if (graph_.optional_input(static_cast<size_t>(i)) && static_cast<size_t>(i) < r.inputs.size() && r.inputs[i])
      return true;
  return false;
}

namespace {

// Adds what a stream user needs to an error from a run that used carried states.
[[noreturn]] void rethrow_with_hint(const ValueError& e, const std::string& hint) {
  throw ValueError(std::string(e.what()) + " (" + hint + ")");
}

}  // namespace

RunResult GraphStreamer::run(StreamState& state, RunRequest r) const {
  RunResult result;
  run(state, r, result);
  result.state_h.clear();
  result.state_c.clear();
  return result;
}

void GraphStreamer::run(StreamState& state, RunRequest& r, RunResult& result) const {
  const size_t K = num_nodes();
  r.collect_state = true;
  r.state_h.assign(K, nullptr);
  r.state_c.assign(K, nullptr);
  if (state.started) {
    for (size_t k = 0; k < K; ++k) {
      if (fed(k, r)) continue;  // an explicitly fed state wins for this call
      r.state_h[k] = &state.h[k];
      if (state.c[k].defined()) r.state_c[k] = &state.c[k];
    }
  }
  try {
    graph_.run(r, result);
  } catch (const ValueError& e) {
    if (!state.started) throw;
    int64_t batch = K ? state.h[0].dim(batch_axis(0)) : 0;
    rethrow_with_hint(e, "this stream carries the state of a batch of " + std::to_string(batch) +
                             "; reset() it to start a stream of another batch size");
  }
  // The new state was written into result's buffers, not over the state this run started from.
  std::swap(state.h, result.state_h);
  std::swap(state.c, result.state_c);
  state.started = true;
}

namespace {

// Copies row `row` of a state tensor (batch along `axis`, 0 or 1 with the leading dim 1) to or
// from a one-row tensor: with either axis, a row is H contiguous floats.
float* row_ptr(Tensor& t, int axis, int64_t row) {
  const int64_t H = t.dim(2);
  (void)axis;  // [1, batch, H] and [batch, 1, H] both place row r at r * H
  return t.data<float>() + row * H;
}

}  // namespace

RunResult GraphStreamer::run_rows(const std::vector<StreamState*>& rows, RunRequest r) const {
  const size_t K = num_nodes();
  const int64_t n = static_cast<int64_t>(rows.size());
  r.collect_state = true;
  r.state_h.assign(K, nullptr);
  r.state_c.assign(K, nullptr);
  // Gathered states: a new stream's row is zeros (what the model starts from when nothing is fed).
  std::vector<Tensor> h(K), c(K);
  for (size_t k = 0; k < K; ++k) {
    if (fed(k, r)) continue;
    const bool lstm = graph_.recurrent_nodes()[k].cell == CellKind::LSTM;
    const int64_t H = graph_.recurrent_nodes()[k].hidden_size;
    h[k] = Tensor(DType::Float32, state_shape(k, n));
    if (lstm) c[k] = Tensor(DType::Float32, state_shape(k, n));
    for (int64_t i = 0; i < n; ++i) {
      StreamState& s = *rows[static_cast<size_t>(i)];
      if (!s.started) continue;
      std::memcpy(row_ptr(h[k], batch_axis(k), i), s.h[k].data<float>(), H * sizeof(float));
      if (lstm) std::memcpy(row_ptr(c[k], batch_axis(k), i), s.c[k].data<float>(), H * sizeof(float));
    }
    r.state_h[k] = &h[k];
    if (lstm) r.state_c[k] = &c[k];
  }
  RunResult result;
  try {
    result = graph_.run(r);
  } catch (const ValueError& e) {
    rethrow_with_hint(e, "a pool call's batch has one row per stream: " + std::to_string(n) + " streams given");
  }
  // Every node's batch is checked before any stream's state changes: a failed call changes none.
  for (size_t k = 0; k < K; ++k) {
    const int64_t rows_run = result.state_h[k].dim(batch_axis(k));
    if (rows_run != n)
      throw ValueError("recurrent node '" + graph_.recurrent_nodes()[k].name + "' ran a batch of " +
                       std::to_string(rows_run) + " rows for " + std::to_string(n) +
                       " streams: a pool call's batch has one row per stream");
  }
  for (StreamState* s : rows) {
    if (s->started) continue;
    s->h.assign(K, Tensor());
    s->c.assign(K, Tensor());
  }
  for (size_t k = 0; k < K; ++k) {
    Tensor& th = result.state_h[k];
    Tensor& tc = result.state_c[k];
    const int64_t H = graph_.recurrent_nodes()[k].hidden_size;
    for (int64_t i = 0; i < n; ++i) {
      StreamState& s = *rows[static_cast<size_t>(i)];
      if (!s.h[k].defined()) s.h[k] = Tensor(DType::Float32, state_shape(k, 1));
      std::memcpy(s.h[k].data<float>(), row_ptr(th, batch_axis(k), i), H * sizeof(float));
      if (tc.defined()) {
        if (!s.c[k].defined()) s.c[k] = Tensor(DType::Float32, state_shape(k, 1));
        std::memcpy(s.c[k].data<float>(), row_ptr(tc, batch_axis(k), i), H * sizeof(float));
      }
    }
  }
  for (StreamState* s : rows) s->started = true;
  result.state_h.clear();
  result.state_c.clear();
  return result;
}

int64_t StreamPool::open() {
  const int64_t id = next_id_++;
  streams_[id];
  return id;
}

void StreamPool::close(int64_t id) {
  if (streams_.erase(id) == 0) throw ValueError("stream " + std::to_string(id) + " is not open in this pool");
}

std::vector<int64_t> StreamPool::ids() const {
  std::vector<int64_t> out;
  for (const auto& kv : streams_) out.push_back(kv.first);
  return out;
}

StreamState& StreamPool::state(int64_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) throw ValueError("stream " + std::to_string(id) + " is not open in this pool");
  return it->second;
}

RunResult StreamPool::run(const std::vector<int64_t>& ids, RunRequest request) {
  if (ids.empty()) throw ValueError("stream_ids: at least one stream is needed");
  std::set<int64_t> unique(ids.begin(), ids.end());
  if (unique.size() != ids.size()) throw ValueError("stream_ids: a stream may appear only once in a call");
  std::vector<StreamState*> rows;
  for (int64_t id : ids) rows.push_back(&state(id));
  return streamer_.run_rows(rows, std::move(request));
}

}  // namespace lstmrt

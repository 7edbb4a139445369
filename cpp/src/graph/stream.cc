#include "lstmrt/graph/stream.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

// Adds what a stream user needs to an error from a run that used carried states.
[[noreturn]] void rethrow_with_hint(const ValueError& e, const std::string& hint) {
  throw ValueError(std::string(e.what()) + " (" + hint + ")");
}

std::string describe(const Tensor& t) { return shape_to_string(t.shape()) + " " + dtype_name(t.dtype()); }

// Marks a batch position whose stream was closed after the call that put it there.
constexpr int64_t kHole = std::numeric_limits<int64_t>::min();

}  // namespace

GraphStreamer::GraphStreamer(const Graph& graph, std::vector<CarryPair> carry) : graph_(graph), carry_(std::move(carry)) {
  for (const RecurrentNodeInfo& n : graph.recurrent_nodes()) {
    if (n.direction != Direction::Forward)
      throw ValueError(describe_node(cell_name(n.cell), n.name) + " cannot stream: it is " +
                       (n.direction == Direction::Reverse ? "reverse" : "bidirectional") +
                       ", so it reads each sequence from its end, which a stream has not received yet");
  }
  const std::vector<std::string> hiding = graph.state_hiding_ops();
  if (!hiding.empty())
    throw ValueError("this model cannot stream: it has a " + hiding.front() +
                     " node, whose state from one chunk to the next lstmrt cannot see or carry (tf2onnx "
                     "exports most Keras 3 recurrent layers this way; Keras LSTM layers export as LSTM nodes)");
  const auto& outs = graph.outputs();
  const auto& ins = graph.inputs();
  for (size_t p = 0; p < carry_.size(); ++p) {
    const CarryPair& c = carry_[p];
    if (c.output < 0 || static_cast<size_t>(c.output) >= outs.size() || c.input < 0 ||
        static_cast<size_t>(c.input) >= ins.size())
      throw ValueError("carry: pair " + std::to_string(p) + " names no output or input of the model");
    for (size_t q = 0; q < p; ++q) {
      if (carry_[q].output == c.output)
        throw ValueError("carry: output '" + outs[c.output] + "' is carried twice, to '" + ins[carry_[q].input].name +
                         "' and to '" + ins[c.input].name + "'");
      if (carry_[q].input == c.input)
        throw ValueError("carry: input '" + ins[c.input].name + "' is fed by both '" + outs[carry_[q].output] +
                         "' and '" + outs[c.output] + "'");
    }
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
  for (int i : graph_.recurrent_state_inputs(k)) {
    if (static_cast<size_t>(i) >= r.inputs.size() || !r.inputs[i]) continue;
    if (graph_.optional_input(static_cast<size_t>(i))) return true;
    // A carried input that reaches the node's initial state drives it, as a fed one would.
    for (const CarryPair& c : carry_)
      if (c.input == i) return true;
  }
  return false;
}

Tensor GraphStreamer::carry_zeros(size_t p) const {
  const GraphInputDesc& d = graph_.inputs()[carry_[p].input];
  if (!d.has_shape)
    throw ValueError("carry: input '" + d.name +
                     "' declares no shape, so its first value is unknown: feed it on the first call or set_state() it");
  Shape s(d.dims.begin(), d.dims.end());
  for (int64_t& v : s)
    if (v < 0) v = 1;  // a symbolic dimension: one stream's batch
  Tensor t(d.has_dtype ? d.dtype : DType::Float32, s);
  if (t.nbytes()) std::memset(t.raw(), 0, t.nbytes());
  return t;
}

size_t GraphStreamer::add_carried_outputs(RunRequest& r) const {
  if (r.outputs.empty()) return graph_.outputs().size();
  const size_t wanted = r.outputs.size();
  for (const CarryPair& c : carry_)
    if (std::find(r.outputs.begin(), r.outputs.end(), c.output) == r.outputs.end()) r.outputs.push_back(c.output);
  return wanted;
}

size_t GraphStreamer::carried_output_slot(size_t p, const RunRequest& r) const {
  if (r.outputs.empty()) return static_cast<size_t>(carry_[p].output);
  return static_cast<size_t>(std::find(r.outputs.begin(), r.outputs.end(), carry_[p].output) - r.outputs.begin());
}

void GraphStreamer::check_carried(size_t p, const Tensor& fed_tensor, const Tensor& out) const {
  if (out.dtype() == fed_tensor.dtype() && out.shape() == fed_tensor.shape()) return;
  throw ValueError("carry: output '" + graph_.outputs()[carry_[p].output] + "' is " + describe(out) + " but input '" +
                   graph_.inputs()[carry_[p].input].name + "' was " + describe(fed_tensor) +
                   ": a carried output must have its input's shape and dtype");
}

RunResult GraphStreamer::run(StreamState& state, RunRequest r) const {
  RunResult result;
  run(state, r, result);
  result.state_h.clear();
  result.state_c.clear();
  return result;
}

void GraphStreamer::run(StreamState& state, RunRequest& r, RunResult& result) const {
  const size_t K = num_nodes();
  const size_t P = carry_.size();
  if (r.inputs.size() < graph_.inputs().size()) r.inputs.resize(graph_.inputs().size(), nullptr);
  const size_t wanted = add_carried_outputs(r);
  if (state.carried.size() != P) state.carried.resize(P);
  for (size_t p = 0; p < P; ++p) {
    const Tensor*& in = r.inputs[static_cast<size_t>(carry_[p].input)];
    if (in) continue;  // a fed value wins for this call
    if (!state.carried[p].defined()) state.carried[p] = carry_zeros(p);
    in = &state.carried[p];
  }
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
    if (!state.started || K == 0) throw;
    int64_t batch = state.h[0].dim(batch_axis(0));
    rethrow_with_hint(e, "this stream carries the state of a batch of " + std::to_string(batch) +
                             "; reset() it to start a stream of another batch size");
  }
  for (size_t p = 0; p < P; ++p)
    check_carried(p, *r.inputs[static_cast<size_t>(carry_[p].input)], result.outputs[carried_output_slot(p, r)]);
  // The new state was written into result's buffers, not over the state this run started from.
  std::swap(state.h, result.state_h);
  std::swap(state.c, result.state_c);
  for (size_t p = 0; p < P; ++p) {
    Tensor& out = result.outputs[carried_output_slot(p, r)];
    // An output the caller asked for is handed to it, so the state keeps a copy.
    if (carried_output_slot(p, r) < wanted) state.carried[p].copy_from(out);
    else std::swap(state.carried[p], out);
  }
  state.started = true;
}

StreamPool::StreamPool(const Graph& graph, std::vector<CarryPair> carry, std::vector<int> carry_axes)
    : streamer_(graph, std::move(carry)) {
  const auto& nodes = graph.recurrent_nodes();
  const auto& pairs = streamer_.carry();
  if (carry_axes.size() != pairs.size())
    throw ValueError("carry: " + std::to_string(pairs.size()) + " pairs but " + std::to_string(carry_axes.size()) +
                     " batch axes");
  for (size_t k = 0; k < nodes.size(); ++k) {
    // A node whose initial state a carried input reaches is started from that input every call.
    bool carried = false;
    for (int i : graph.recurrent_state_inputs(k))
      for (const CarryPair& c : pairs) carried = carried || c.input == i;
    if (carried) continue;
    for (int which = 0; which < (nodes[k].cell == CellKind::LSTM ? 2 : 1); ++which) {
      Slot s;
      s.name = nodes[k].name + (which ? ":c" : ":h");
      s.row_shape = streamer_.state_shape(k, 1);
      s.axis = streamer_.batch_axis(k);
      s.inner = nodes[k].hidden_size;  // [1, batch, H] and [batch, 1, H]: a row is H contiguous floats
      s.node = static_cast<int>(k);
      s.which = which;
      slots_.push_back(std::move(s));
    }
  }
  for (size_t p = 0; p < pairs.size(); ++p) {
    const GraphInputDesc& d = graph.inputs()[pairs[p].input];
    const int axis = carry_axes[p];
    if (!d.has_shape)
      throw ValueError("carry: input '" + d.name + "' declares no shape, so a pool cannot know one stream's row");
    if (axis < 0 || static_cast<size_t>(axis) >= d.dims.size())
      throw ValueError("carry: batch axis " + std::to_string(axis) + " of input '" + d.name + "' is out of range for rank " +
                       std::to_string(d.dims.size()));
    Slot s;
    s.name = d.name;
    s.dtype = d.has_dtype ? d.dtype : DType::Float32;
    s.axis = axis;
    s.pair = static_cast<int>(p);
    for (size_t a = 0; a < d.dims.size(); ++a) {
      if (static_cast<int>(a) == axis) {
        s.row_shape.push_back(1);
        continue;
      }
      if (d.dims[a] < 0)
        throw ValueError("carry: input '" + d.name + "' has a symbolic dimension " + std::to_string(a) +
                         " besides its batch axis " + std::to_string(axis) + ", so a pool cannot know one stream's row");
      s.row_shape.push_back(d.dims[a]);
      (static_cast<int>(a) < axis ? s.outer : s.inner) *= d.dims[a];
    }
    slots_.push_back(std::move(s));
  }
}

int64_t StreamPool::open() {
  int64_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = num_slots_++;
    for (Slot& s : slots_) s.store.resize(static_cast<size_t>(num_slots_) * row_bytes(s));
  }
  for (Slot& s : slots_) std::memset(s.store.data() + slot * row_bytes(s), 0, row_bytes(s));
  const int64_t id = next_id_++;
  Row& r = rows_[id];
  r.slot = slot;
  return id;
}

void StreamPool::close(int64_t id) {
  auto it = rows_.find(id);
  if (it == rows_.end()) throw ValueError("stream " + std::to_string(id) + " is not open in this pool");
  if (it->second.pos >= 0) {
    active_[static_cast<size_t>(it->second.pos)] = kHole;
    ++holes_;
  }
  free_slots_.push_back(it->second.slot);
  rows_.erase(it);
}

std::vector<int64_t> StreamPool::ids() const {
  std::vector<int64_t> out;
  out.reserve(rows_.size());
  for (const auto& kv : rows_) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

const StreamPool::Row& StreamPool::row(int64_t id) const {
  auto it = rows_.find(id);
  if (it == rows_.end()) throw ValueError("stream " + std::to_string(id) + " is not open in this pool");
  return it->second;
}

void StreamPool::copy_row(const Slot& s, const char* src, int64_t src_batch, int64_t src_pos, char* dst,
                          int64_t dst_batch, int64_t dst_pos) const {
  const size_t es = dtype_size(s.dtype);
  const size_t block = static_cast<size_t>(s.inner) * es;
  for (int64_t o = 0; o < s.outer; ++o)
    std::memcpy(dst + static_cast<size_t>((o * dst_batch + dst_pos) * s.inner) * es,
                src + static_cast<size_t>((o * src_batch + src_pos) * s.inner) * es, block);
}

void StreamPool::read_state(int64_t id, size_t t, void* dst) const {
  const Row& r = row(id);
  const Slot& s = slots_[t];
  if (r.pos >= 0)
    copy_row(s, static_cast<const char*>(s.batch.raw()), static_cast<int64_t>(active_.size()), r.pos,
             static_cast<char*>(dst), 1, 0);
  else
    std::memcpy(dst, s.store.data() + r.slot * row_bytes(s), row_bytes(s));
}

void StreamPool::write_state(int64_t id, size_t t, const void* src) {
  const Row& r = row(id);
  Slot& s = slots_[t];
  if (r.pos >= 0)
    copy_row(s, static_cast<const char*>(src), 1, 0, static_cast<char*>(s.batch.raw()),
             static_cast<int64_t>(active_.size()), r.pos);
  else
    std::memcpy(s.store.data() + r.slot * row_bytes(s), src, row_bytes(s));
}

void StreamPool::reset(int64_t id) {
  row(id);  // an unknown id throws before anything changes
  for (size_t t = 0; t < slots_.size(); ++t) {
    std::vector<char> zeros(row_bytes(slots_[t]), 0);
    write_state(id, t, zeros.data());
  }
}

void StreamPool::gather(size_t n) {
  const int64_t old_n = static_cast<int64_t>(active_.size());
  const int64_t nn = static_cast<int64_t>(n);
  for (Slot& s : slots_) {
    const size_t rb = row_bytes(s);
    // Rows stay in place when the buffer is kept and a row's offset does not depend on the batch.
    const bool all = n * rb > s.batch.owned_bytes() || (nn != old_n && s.outer > 1);
    char* old = static_cast<char*>(s.batch.raw());
    for (int64_t p = 0; p < old_n; ++p) {
      if (active_[static_cast<size_t>(p)] == kHole) continue;
      const Row& r = rows_.find(active_[static_cast<size_t>(p)])->second;
      const bool stays = !all && r.stamp == calls_ && r.next == p;
      if (!stays) copy_row(s, old, old_n, p, s.store.data() + r.slot * rb, 1, 0);
    }
    Shape shape = s.row_shape;
    shape[static_cast<size_t>(s.axis)] = nn;
    s.batch.ensure(s.dtype, shape);
    char* now = static_cast<char*>(s.batch.raw());
    for (int64_t i = 0; i < nn; ++i) {
      const Row& r = *rows_now_[static_cast<size_t>(i)];
      if (all || r.pos != i) copy_row(s, s.store.data() + r.slot * rb, 1, 0, now, nn, i);
    }
  }
  for (int64_t p = 0; p < old_n; ++p)
    if (active_[static_cast<size_t>(p)] != kHole) rows_.find(active_[static_cast<size_t>(p)])->second.pos = -1;
  active_.resize(n);
  for (size_t i = 0; i < n; ++i) rows_now_[i]->pos = static_cast<int64_t>(i);
  holes_ = 0;
}

void StreamPool::run(const int64_t* ids, size_t n, RunRequest& r, RunResult& result) {
  if (n == 0) throw ValueError("stream_ids: at least one stream is needed");
  ++calls_;
  const bool same = holes_ == 0 && n == active_.size() && std::memcmp(ids, active_.data(), n * sizeof(int64_t)) == 0;
  if (!same) {
    rows_now_.clear();
    for (size_t i = 0; i < n; ++i) {
      auto it = rows_.find(ids[i]);
      if (it == rows_.end()) throw ValueError("stream_ids: stream " + std::to_string(ids[i]) + " is not open in this pool");
      Row& row = it->second;
      if (row.stamp == calls_)
        throw ValueError("stream_ids: stream " + std::to_string(ids[i]) +
                         " is listed twice; a stream may appear only once in a call");
      row.stamp = calls_;
      row.next = static_cast<int64_t>(i);
      rows_now_.push_back(&row);
    }
    gather(n);
    std::copy(ids, ids + n, active_.begin());
  }
  const int64_t nn = static_cast<int64_t>(n);
  const GraphStreamer& st = streamer_;
  if (r.inputs.size() < st.graph().inputs().size()) r.inputs.resize(st.graph().inputs().size(), nullptr);
  const size_t wanted = st.add_carried_outputs(r);
  r.collect_state = true;
  r.state_h.assign(st.num_nodes(), nullptr);
  r.state_c.assign(st.num_nodes(), nullptr);
  for (Slot& s : slots_) {
    if (s.node >= 0) {
      if (!st.fed(static_cast<size_t>(s.node), r)) (s.which ? r.state_c : r.state_h)[s.node] = &s.batch;
    } else {
      const Tensor*& in = r.inputs[static_cast<size_t>(st.carry()[s.pair].input)];
      if (!in) in = &s.batch;
    }
  }
  try {
    st.graph().run(r, result);
  } catch (const ValueError& e) {
    rethrow_with_hint(e, "a pool call's batch has one row per stream: " + std::to_string(n) + " streams given");
  }
  // Everything is checked before any stream's state changes: a failed call changes none.
  for (const Slot& s : slots_) {
    if (s.node >= 0) {
      const Tensor& t = (s.which ? result.state_c : result.state_h)[s.node];
      if (t.dim(static_cast<size_t>(s.axis)) != nn)
        throw ValueError(describe_node(cell_name(st.graph().recurrent_nodes()[s.node].cell),
                                       st.graph().recurrent_nodes()[s.node].name) + " ran a batch of " +
                         std::to_string(t.dim(static_cast<size_t>(s.axis))) + " rows for " + std::to_string(n) +
                         " streams: a pool call's batch has one row per stream");
    } else {
      const int input = st.carry()[s.pair].input;
      const Tensor& out = result.outputs[st.carried_output_slot(static_cast<size_t>(s.pair), r)];
      st.check_carried(static_cast<size_t>(s.pair), *r.inputs[static_cast<size_t>(input)], out);
      if (out.rank() != s.row_shape.size() || out.dim(static_cast<size_t>(s.axis)) != nn)
        throw ValueError("carry: input '" + s.name + "' was fed " + describe(out) + ", not " + std::to_string(n) +
                         " rows along its batch axis " + std::to_string(s.axis) +
                         ": a pool call's batch has one row per stream");
    }
  }
  for (Slot& s : slots_) {
    if (s.node >= 0) {
      std::swap(s.batch, (s.which ? result.state_c : result.state_h)[s.node]);
    } else {
      const size_t j = st.carried_output_slot(static_cast<size_t>(s.pair), r);
      if (j < wanted) s.batch.copy_from(result.outputs[j]);
      else std::swap(s.batch, result.outputs[j]);
    }
  }
}

}  // namespace lstmrt

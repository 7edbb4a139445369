// Stateful streaming of a whole graph: the final state of every LSTM/GRU/RNN node, and any
// outputs named for carrying, are carried into the next run, so a model is fed chunk by chunk
// (down to one timestep per call) with no state fed back through the caller.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lstmrt/graph/graph.h"

namespace lstmrt {

// An output that becomes an input of the next run (Silero VAD's stateN -> state): indices into
// Graph::outputs() and Graph::inputs().
struct CarryPair {
  int output = -1;
  int input = -1;
};

// The carried state of one stream: per recurrent node, h and (LSTM) c in the node's state shape
// ([1, batch, H] for layout 0, [batch, 1, H] for layout 1), and per carry pair the tensor the
// next run feeds to the pair's input (undefined until the first run or a set_state).
struct StreamState {
  bool started = false;
  std::vector<Tensor> h, c;
  std::vector<Tensor> carried;
};

// Runs a graph for streams. Stateless itself (the states are the caller's), so one streamer
// serves any number of streams.
class GraphStreamer {
 public:
  // Throws ValueError when the graph cannot stream: a reverse or bidirectional recurrent node
  // (it reads each sequence from its end, which a stream has not received yet), or a Loop/Scan
  // (state carried inside a loop body is invisible to lstmrt); and for a carry pair that names
  // no output or input, an input or output used twice, or a dtype that differs.
  explicit GraphStreamer(const Graph& graph, std::vector<CarryPair> carry = {});
  const Graph& graph() const { return graph_; }
  const std::vector<CarryPair>& carry() const { return carry_; }

  // One chunk of one stream. On the first call the model's own initial states apply (fed, or
  // zeros); afterwards each recurrent node starts from the carried state unless the request
  // feeds an input that reaches the node's initial_h/initial_c. A carried input not fed starts
  // from carry_zeros() and then from the previous call's output. The state changes only when
  // the run succeeds.
  RunResult run(StreamState& state, RunRequest request) const;
  // The same with the caller's request (its state entries are overwritten) and result, both kept
  // across calls so that a steady stream allocates nothing for them: the new state changes
  // places with the buffers in result.state_h / state_c, which the next call then reuses
  // (ignore them). result.outputs holds the requested outputs first (returned_outputs() of
  // them), then any carried outputs the request did not ask for.
  void run(StreamState& state, RunRequest& request, RunResult& result) const;

  // The state shape of recurrent node k for a batch.
  Shape state_shape(size_t k, int64_t batch) const;
  size_t num_nodes() const { return graph_.recurrent_nodes().size(); }
  // Whether a request feeds an input that reaches recurrent node k's initial state.
  bool fed(size_t k, const RunRequest& r) const;
  int batch_axis(size_t k) const { return graph_.recurrent_nodes()[k].layout == 0 ? 1 : 0; }
  // Carry pair p's first state when nothing is fed: zeros of the input's declared shape, its
  // symbolic dimensions 1 (one stream). Throws ValueError when the input declares no shape.
  Tensor carry_zeros(size_t p) const;
  // Adds the carried outputs a request does not ask for to its output list (after the others);
  // returns how many outputs the caller asked for. An empty list (every output) is left as is.
  size_t add_carried_outputs(RunRequest& r) const;
  // Where carry pair p's output sits in a result of a request prepared by add_carried_outputs.
  size_t carried_output_slot(size_t p, const RunRequest& r) const;
  // Throws ValueError naming both ends when pair p's output is not the shape and dtype of the
  // input the run was fed.
  void check_carried(size_t p, const Tensor& fed, const Tensor& out) const;

 private:
  const Graph& graph_;
  std::vector<CarryPair> carry_;
};

// Many independent one-row streams, opened and closed at any time; a call steps any subset of
// them together. Calls on one pool are serialized.
//
// Every state tensor (h and c of each recurrent node whose initial state no carried input
// reaches, and each carried tensor) keeps one row per stream: in the pool's store, at the
// stream's slot, or, for the streams of the last call, at their position in the batch tensor
// that call left. A call of the same streams in the same order feeds those batch tensors as they
// are; a call of other streams moves only the rows whose position changed.
class StreamPool {
 public:
  // carry_axes[p]: the batch axis of carry pair p's input, whose other declared dimensions must
  // be fixed (ValueError otherwise).
  StreamPool(const Graph& graph, std::vector<CarryPair> carry = {}, std::vector<int> carry_axes = {});

  int64_t open();
  void close(int64_t id);
  bool contains(int64_t id) const { return rows_.count(id) != 0; }
  std::vector<int64_t> ids() const;
  size_t size() const { return rows_.size(); }

  // One stream's state, a tensor per state_tensors() entry in its one-row shape.
  size_t num_state_tensors() const { return slots_.size(); }
  // Name (recurrent node "<node>:h" / "<node>:c", or the carried input's name) and one-row shape.
  const std::string& state_name(size_t t) const { return slots_[t].name; }
  const Shape& state_row_shape(size_t t) const { return slots_[t].row_shape; }
  DType state_dtype(size_t t) const { return slots_[t].dtype; }
  void read_state(int64_t id, size_t t, void* dst) const;  // throws ValueError for an unknown id
  void write_state(int64_t id, size_t t, const void* src);
  void reset(int64_t id);

  // One chunk for the streams ids[0..n): row k of the batch is ids[k]'s. Unknown or repeated ids
  // throw before anything changes; a failed run changes no stream's state. `request` and
  // `result` are the caller's, kept across calls (see GraphStreamer::run); the outputs asked
  // for come first in result.outputs.
  void run(const int64_t* ids, size_t n, RunRequest& request, RunResult& result);
  const GraphStreamer& streamer() const { return streamer_; }
  std::mutex& mutex() { return mutex_; }

 private:
  struct Row {
    int64_t slot = 0;
    int64_t pos = -1;      // position in the last call's batch, or -1: the state is in the store
    int64_t next = -1;     // position in the current call
    uint64_t stamp = 0;    // the call that last listed this stream (finds repeated ids)
  };
  // One state tensor: its batch shape is `row_shape` with dims[axis] = batch; a row is `outer`
  // blocks of `inner` elements, `batch * inner` apart.
  struct Slot {
    std::string name;
    DType dtype = DType::Float32;
    Shape row_shape;
    int axis = 0;
    int64_t outer = 1, inner = 1;
    int node = -1, which = 0;  // recurrent node and 0 (h) / 1 (c); node -1: carry pair `pair`
    int pair = -1;
    std::vector<char> store;   // row bytes per slot
    Tensor batch;              // the last call's rows
  };
  size_t row_bytes(const Slot& s) const { return static_cast<size_t>(s.outer * s.inner) * dtype_size(s.dtype); }
  void copy_row(const Slot& s, const char* src, int64_t src_batch, int64_t src_pos, char* dst, int64_t dst_batch,
                int64_t dst_pos) const;
  const Row& row(int64_t id) const;
  // Moves rows so that the batch tensors hold the streams of `rows_now_` in order.
  void gather(size_t n);

  GraphStreamer streamer_;
  std::vector<Slot> slots_;
  std::unordered_map<int64_t, Row> rows_;
  std::vector<int64_t> free_slots_;
  int64_t num_slots_ = 0;
  std::vector<int64_t> active_;   // the last call's ids in order; kHole where one was closed
  size_t holes_ = 0;
  int64_t capacity_rows_ = 0;     // rows every batch tensor's buffer holds
  std::vector<Row*> rows_now_;
  uint64_t calls_ = 0;
  int64_t next_id_ = 0;
  std::mutex mutex_;
};

}  // namespace lstmrt

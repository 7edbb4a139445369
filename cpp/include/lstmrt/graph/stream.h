// Stateful streaming of a whole graph: the final state of every LSTM/GRU/RNN node is carried into
// the next run, so a model is fed chunk by chunk (down to one timestep per call) with no
// re-export and no state inputs or outputs in the model.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lstmrt/graph/graph.h"

namespace lstmrt {

// The carried state of one stream: per recurrent node, h and (LSTM) c in the node's state shape
// ([1, batch, H] for layout 0, [batch, 1, H] for layout 1).
struct StreamState {
  bool started = false;
  std::vector<Tensor> h, c;
};

// Runs a graph for streams. Stateless itself (the states are the caller's), so one streamer
// serves any number of streams.
class GraphStreamer {
 public:
  // Throws ValueError when the graph cannot stream: a reverse or bidirectional recurrent node
  // (it reads each sequence from its end, which a stream has not received yet), or a Loop/Scan
  // (state carried inside a loop body is invisible to lstmrt).
  explicit GraphStreamer(const Graph& graph);
  const Graph& graph() const { return graph_; }

  // One chunk of one stream. On the first call the model's own initial states apply (fed, or
  // zeros); afterwards each recurrent node starts from the carried state unless the request
  // feeds an input that reaches the node's initial_h/initial_c. The state changes only when the
  // run succeeds.
  RunResult run(StreamState& state, RunRequest request) const;
  // The same with the caller's request (its state entries are overwritten) and result, both kept
  // across calls so that a steady stream allocates nothing for them: the new state changes
  // places with the buffers in result.state_h / state_c, which the next call then reuses
  // (ignore them; the outputs are in result.outputs).
  void run(StreamState& state, RunRequest& request, RunResult& result) const;

  // One chunk for several streams at once: row k of the batch belongs to rows[k]. Their states
  // are gathered into one batch, and the final states scattered back. Each state holds one row.
  RunResult run_rows(const std::vector<StreamState*>& rows, RunRequest request) const;

  // The state shape of recurrent node k for a batch.
  Shape state_shape(size_t k, int64_t batch) const;
  size_t num_nodes() const { return graph_.recurrent_nodes().size(); }

 private:
  bool fed(size_t k, const RunRequest& r) const;
  int batch_axis(size_t k) const { return graph_.recurrent_nodes()[k].layout == 0 ? 1 : 0; }

  const Graph& graph_;
};

// Many independent one-row streams, opened and closed at any time; a call steps any subset of
// them together. Calls on one pool are serialized.
class StreamPool {
 public:
  explicit StreamPool(const Graph& graph) : streamer_(graph) {}

  int64_t open();
  void close(int64_t id);
  bool contains(int64_t id) const { return streams_.count(id) != 0; }
  std::vector<int64_t> ids() const;
  StreamState& state(int64_t id);  // throws ValueError for an unknown id

  RunResult run(const std::vector<int64_t>& ids, RunRequest request);
  const GraphStreamer& streamer() const { return streamer_; }
  std::mutex& mutex() { return mutex_; }

 private:
  GraphStreamer streamer_;
  std::map<int64_t, StreamState> streams_;
  int64_t next_id_ = 0;
  std::mutex mutex_;
};

}  // namespace lstmrt

// How a layer call runs: how many threads, split by hidden units or by batch rows, the directions
// together or in turn, and where each direction projects its inputs. One pure function of the
// call's shapes and the machine's tuning, so that tests can assert the plan directly.
#pragma once

#include <cstdint>

#include "cpu/tuning.h"
#include "lstmrt/rnn_layer.h"

namespace lstmrt {

// Everything about a layer and one call of it that the plan depends on.
struct CallShape {
  CellKind cell = CellKind::LSTM;
  int num_directions = 1;
  bool reverse = false;  // direction='reverse' (a bidirectional layer's direction 1 is always)
  int64_t hidden = 0;
  int64_t input = 0;
  double bytes_per_weight = 0.0;  // of W and R: bytes_per_weight(the layer's weight type)
  int split_partitions = 1;       // per direction, in the layer's split for threads
  bool has_whole_copy = false;    // the layer keeps a whole copy for calls on one thread
  int64_t seq = 0;
  int64_t batch = 0;
  bool has_lens = false;       // sequence_lens given
  bool has_initial_h = false;  // initial_h given
  int threads = 1;             // the most threads the call may use (resolved: >= 1)
};

enum class WorkSplit {
  Units,  // every thread owns partitions of the hidden units, for all rows; they meet every step
  Rows,   // every thread runs all partitions for its own rows; they never wait for each other
};

struct CallPlan {
  int threads = 1;             // threads to claim for the call (all directions)
  bool wake_workers = false;   // wake sleeping workers (else only when calls come often)
  bool whole_copy = false;     // run the layer's whole copy instead of its split
  int partitions = 1;          // per direction, in the copy the call runs
  bool parallel_directions = false;  // both directions at once, each with team_size threads
  WorkSplit split = WorkSplit::Units;
  int team_size = 1;           // threads per direction
  // Per direction: X_t·Wᵀ projected step by step (true) or for every step up front.
  bool step_projection[2] = {false, false};
};

// The plan for `shape` on a machine tuned as `tuning`, if the call gets the threads it asks for.
// A call granted fewer plans again with threads = what it got (which then asks for exactly that).
CallPlan plan_call(const CallShape& shape, const Tuning& tuning);

// The shape of a call of `layer`.
CallShape call_shape(const RnnLayer& layer, const RnnShapes& s, bool has_lens, bool has_initial_h, int threads);

const char* work_split_name(WorkSplit split);

}  // namespace lstmrt

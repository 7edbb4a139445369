#include "rnn/call_plan.h"

#include <algorithm>

#include "lstmrt/weight_type.h"

namespace lstmrt {

namespace {

// The threads a call asks for: one unless both a step and the whole call have the work to pay for
// a team, and no more than the layer's partitions when the batch is too small to split its rows.
int threads_wanted(const CallShape& c, const Tuning& t, double step_flops, double call_flops) {
  int wanted = c.threads;
  if (step_flops < t.min_step_flops_for_threads || call_flops < t.min_call_flops_for_threads) wanted = 1;
  if (c.batch < t.min_rows_per_thread_to_split_rows) wanted = std::min(wanted, c.split_partitions * c.num_directions);
  return wanted;
}

// One direction's recurrent weights, R: read whole every step.
double recurrent_bytes(const CallShape& c) { return c.bytes_per_weight * gate_count(c.cell) * c.hidden * c.hidden; }

// Rows split across a direction's threads when each thread gets a few rows for its GEMMs and the
// direction's recurrent weights fit in one core's L2 next to the rest (each thread then reads all
// of them every step), or fill it but each thread has rows enough to run its GEMMs at the peak
// anyway; otherwise units split, so that each core keeps its share of the weights.
bool split_rows(const CallShape& c, const Tuning& t, int per_direction) {
  const int G = gate_count(c.cell);
  const int64_t rows_each = c.batch / per_direction;
  double shared_bytes = recurrent_bytes(c);
  // Low-precision products run several times faster than float32 ones, so streaming the weights,
  // not the threads' meeting every step, bounds their steps: the input weights, which a step
  // reads too when it projects its own timestep, count as well (bench/TUNING.md, "Low-precision
  // weights: the input weights count too"; bench/test_bench_precision.py, batch 32 at 2 threads).
  const bool low_precision = c.bytes_per_weight < bytes_per_weight(WeightType::F32);
  if (low_precision && rows_each >= t.min_rows_for_step_projection)
    shared_bytes += c.bytes_per_weight * G * c.hidden * c.input;
  return per_direction >= 2 && rows_each >= t.min_rows_per_thread_to_split_rows &&
         (shared_bytes <= t.max_shared_recurrent_bytes ||
          (rows_each >= t.min_rows_per_thread_to_share_more && shared_bytes <= t.max_shared_recurrent_bytes_many_rows));
}

// Both directions at once, each on half the threads, unless one direction's recurrent weights
// overflow a core's L2 while the shares of all the threads fit: then in turn (see Tuning).
bool directions_at_once(const CallShape& c, const Tuning& t, int threads) {
  if (c.num_directions != 2 || threads < 2) return false;
  const double direction_bytes = recurrent_bytes(c);
  const bool too_few_rows_to_split = c.batch < t.min_rows_per_thread_to_split_rows * threads;
  const bool share_fits = direction_bytes / std::min(threads, c.split_partitions) <= t.max_direction_share_bytes_in_turn;
  return !(too_few_rows_to_split && direction_bytes > t.max_direction_share_bytes_in_turn && share_fits);
}

}  // namespace

CallPlan plan_call(const CallShape& c, const Tuning& t) {
  const int G = gate_count(c.cell);
  const double recurrent_flops = 2.0 * c.batch * G * c.hidden * c.hidden;  // H_{t-1}·Rᵀ
  const double step_flops = recurrent_flops + 2.0 * c.batch * G * c.hidden * c.input;
  // Without an initial state the first step skips H_0·Rᵀ (it is zero).
  const double call_flops = step_flops * c.seq - (c.has_initial_h ? 0.0 : recurrent_flops);

  CallPlan plan;
  plan.threads = threads_wanted(c, t, step_flops, call_flops);
  plan.wake_workers = call_flops >= t.min_call_flops_to_wake_workers;
  const int T = plan.threads;
  plan.whole_copy = T == 1 && c.has_whole_copy;
  plan.partitions = plan.whole_copy ? 1 : c.split_partitions;
  plan.parallel_directions = directions_at_once(c, t, T);
  const int per_direction = plan.parallel_directions ? T / 2 : T;
  const bool rows = split_rows(c, t, per_direction);
  plan.split = rows ? WorkSplit::Rows : WorkSplit::Units;
  plan.team_size = std::max(1, rows ? per_direction : std::min(plan.partitions, per_direction));

  // Per-step projection reads W every step: it pays with rows enough for a GEMM near its peak and
  // W's share in L2. Ragged sequences read in reverse each start at their own last step, so no
  // step reads one timestep for all rows: they project up front.
  const int64_t rows_per_thread = rows ? c.batch / per_direction : c.batch;
  const double w_bytes_per_thread = c.bytes_per_weight * G * c.hidden * c.input / (rows ? 1 : plan.team_size);
  for (int d = 0; d < c.num_directions; ++d) {
    const bool reverse = c.reverse || d == 1;
    plan.step_projection[d] = rows_per_thread >= t.min_rows_for_step_projection &&
                              w_bytes_per_thread <= t.max_step_projection_weight_bytes && !(reverse && c.has_lens);
  }
  return plan;
}

CallShape call_shape(const RnnLayer& layer, const RnnShapes& s, bool has_lens, bool has_initial_h, int threads) {
  CallShape c;
  c.cell = layer.cell();
  c.num_directions = layer.num_directions();
  c.reverse = layer.direction() == Direction::Reverse;
  c.hidden = layer.hidden_size();
  c.input = layer.input_size();
  c.bytes_per_weight = bytes_per_weight(layer.weight_type());
  c.split_partitions = layer.partitions();
  c.has_whole_copy = layer.has_whole_copy();
  c.seq = s.seq;
  c.batch = s.batch;
  c.has_lens = has_lens;
  c.has_initial_h = has_initial_h;
  c.threads = threads;
  return c;
}

const char* work_split_name(WorkSplit split) { return split == WorkSplit::Rows ? "rows" : "units"; }

}  // namespace lstmrt

// One layer call's division of labour, fixed before any thread starts, and the work of one thread
// on one direction (DirectionRunner), in named phases: prepare (initial state, up-front
// projection), project (per step), recurrent product, gates (one step function per cell type),
// publish (Y), finish (Y_h, Y_c).
#pragma once

#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/phase_scheduler.h"
#include "rnn/call_plan.h"
#include "rnn/layer_packing.h"
#include "rnn/workspace_impl.h"

namespace lstmrt {

// A call's inputs and outputs, as RnnLayer::run received them.
struct CallArgs {
  RnnShapes s;
  const float* X = nullptr;
  const int32_t* lens = nullptr;
  const float* initial_h = nullptr;
  const float* initial_c = nullptr;
  float* Y = nullptr;
  float* Y_h = nullptr;
  float* Y_c = nullptr;
};

// One direction's scratch, from the workspace.
struct DirectionBuffers {
  // X·Wᵀ + bias. Up front for every step: per partition [seq*batch, G*units] at offset
  // seq*batch*G*j0. Per step (`step_projection`): per partition [batch, G*units] at offset
  // batch*G*j0, overwritten every step.
  float* xw = nullptr;
  bool step_projection = false;
  float* hr = nullptr;         // per partition: [batch, G*units] at offset batch*G*j0
  float* h[2] = {nullptr, nullptr};  // H_{t-1} and H_t, [batch, H] each, swapped every step
  float* c = nullptr;          // LSTM cell state [batch, H]
  float* z = nullptr;          // GRU: z [batch, H]
  float* r_or_rh = nullptr;    // GRU: r or r ⊙ H_{t-1} [batch, H]
  float* hr_h = nullptr;       // GRU, linear_before_reset=0: per partition [batch, units] at offset batch*j0
};

struct CallTeam {
  const RnnLayer* layer = nullptr;
  const PartitionSet* parts = nullptr;  // the layer's split or its whole copy
  CallArgs args;
  int64_t max_len = 0;  // the longest sequence: the steps the call runs
  int size = 1;         // threads per direction
  bool parallel_directions = false;
  bool split_rows = false;
  PhaseScheduler* sched[2] = {nullptr, nullptr};
  DirectionBuffers buf[2];

  // Fetches the buffers and starts the schedulers for `plan` (Workspace growth reallocates, so
  // everything is fetched here, before any thread starts).
  CallTeam(const RnnLayer& layer, const PartitionSet& parts, const CallPlan& plan, const CallArgs& args,
           WorkspaceState& ws);
  // Members a worker team runs: team size per direction.
  int members() const { return parallel_directions ? 2 * size : size; }
  // The work of one thread: `member` indexes the team (direction-major when directions run in
  // parallel).
  void run_member(int member) const;
  void end_call() const;
};

// One thread's share of one direction of a call. Every member goes through the same phases; in
// each, it runs the partitions the scheduler gives it (its own, plus any a descheduled teammate
// left unclaimed), or, when rows are split, every partition for its own rows.
class DirectionRunner {
 public:
  DirectionRunner(const CallTeam& team, int d, int local);
  void run();

 private:
  // Runs fn(p) for the partitions of one phase: through the scheduler when units are split;
  // every partition in turn, for this thread's rows alone, when rows are.
  template <class Fn>
  void run_phase(Fn&& fn) {
    if (team_.split_rows) {
      for (size_t p = 0; p < all_.size(); ++p) fn(static_cast<int>(p));
    } else {
      sched_.run_phase(phase_++, local_, fn);
    }
  }

  // Phases of one partition.
  void prepare(const Partition& part);
  void project_step(const Partition& part);
  void recurrent_product(const Partition& part, const float* A, int64_t lda, const PackedMatrix& m, float* C,
                         int64_t ldc) const;
  const float* gate_inputs(const Partition& part, int64_t width);
  void publish(const Partition& part);
  void finish(const Partition& part, const float* h_final);

  // One timestep of each cell type (rnn_cells.cc).
  void lstm_step();
  void gru_step();
  void rnn_step();

  int64_t len_of(int64_t b) const { return lens_ ? lens_[b] : seq_; }
  bool running(int64_t b) const { return step_ < len_of(b); }
  int64_t time_of(int64_t b, int64_t step) const { return reverse_ ? len_of(b) - 1 - step : step; }
  int64_t x_row(int64_t t, int64_t b) const { return layout_ == 0 ? t * batch_ + b : b * seq_ + t; }
  int64_t state_at(int64_t b) const { return layout_ == 0 ? (d_ * batch_ + b) * H_ : (b * num_dir_ + d_) * H_; }
  float* y_at(int64_t t, int64_t b) const {
    return layout_ == 0 ? Y_ + ((t * num_dir_ + d_) * batch_ + b) * H_ : Y_ + ((b * seq_ + t) * num_dir_ + d_) * H_;
  }
  // Where a partition's X·Wᵀ and H·Rᵀ live (see DirectionBuffers), and row b's X·Wᵀ this step.
  float* xw_of(const Partition& part) const {
    return buf_.xw + (buf_.step_projection ? 1 : seq_) * batch_ * G_ * part.j0;
  }
  float* hr_of(const Partition& part) const { return buf_.hr + batch_ * G_ * part.j0; }
  const float* xw_row(const Partition& part, int64_t b) const {
    return xw_of(part) + (buf_.step_projection ? b : x_row(time_of(b, step_), b)) * G_ * part.units;
  }

  const CallTeam& team_;
  const RnnLayer& layer_;
  const KernelTable& kt_;
  const DirectionBuffers& buf_;
  PhaseScheduler& sched_;
  const std::vector<Partition>& all_;
  const Activation* act_;
  const int32_t* lens_;
  float* Y_;
  int64_t H_, seq_, batch_, layout_;
  int G_, num_dir_, d_, local_;
  bool reverse_;
  int64_t r0_, r1_, rows_;  // this thread's rows: all of them when units are split
  int64_t sum_split_;       // see recurrent_sum_split
  int64_t phase_;
  // The step in progress, and H_{t-1} / H_t.
  int64_t step_ = 0;
  const float* h_cur_ = nullptr;
  float* h_next_ = nullptr;
};

}  // namespace lstmrt

#include "rnn/call_team.h"

#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"

namespace lstmrt {

CallTeam::CallTeam(const RnnLayer& l, const PartitionSet& p, const CallPlan& plan, const CallArgs& a,
                   WorkspaceState& ws)
    : layer(&l), parts(&p), args(a) {
  const RnnShapes& s = args.s;
  max_len = s.seq;
  if (args.lens) {
    max_len = 0;
    for (int64_t b = 0; b < s.batch; ++b) max_len = std::max<int64_t>(max_len, args.lens[b]);
  }
  size = plan.team_size;
  parallel_directions = plan.parallel_directions;
  split_rows = plan.split == WorkSplit::Rows;
  const int num_dir = l.num_directions();
  for (int d = 0; d < num_dir; ++d) {
    sched[d] = &ws.schedulers[d];
    sched[d]->begin_call(plan.partitions, size);
  }
  const CellKind cell = l.cell();
  const int64_t G = gate_count(cell), H = l.hidden_size(), batch = s.batch;
  const size_t state = static_cast<size_t>(batch * H);
  for (int d = 0; d < num_dir; ++d) {
    DirectionBuffers& b = buf[d];
    b.step_projection = plan.step_projection[d];
    const int64_t x_rows = b.step_projection ? batch : s.seq * batch;
    b.xw = ws.get(d, Slot::InputProjection, static_cast<size_t>(x_rows * G * H));
    b.hr = ws.get(d, Slot::RecurrentProduct, static_cast<size_t>(batch * G * H));
    float* h = ws.get(d, Slot::HiddenState, 2 * state);
    b.h[0] = h;
    b.h[1] = h + batch * H;
    b.c = cell == CellKind::LSTM ? ws.get(d, Slot::CellState, state) : nullptr;
    b.z = cell == CellKind::GRU ? ws.get(d, Slot::UpdateGate, state) : nullptr;
    b.r_or_rh = cell == CellKind::GRU ? ws.get(d, Slot::ResetGate, state) : nullptr;
    b.hr_h = cell == CellKind::GRU ? ws.get(d, Slot::ResetProduct, state) : nullptr;
  }
}

void CallTeam::run_member(int member) const {
  const int local = parallel_directions ? member % size : member;
  const int d_begin = parallel_directions ? member / size : 0;
  const int d_end = parallel_directions ? d_begin + 1 : layer->num_directions();
  for (int d = d_begin; d < d_end; ++d) DirectionRunner(*this, d, local).run();
}

void CallTeam::end_call() const {
  for (int d = 0; d < layer->num_directions(); ++d) sched[d]->end_call();
}

DirectionRunner::DirectionRunner(const CallTeam& team, int d, int local)
    : team_(team),
      layer_(*team.layer),
      kt_(kernels()),
      buf_(team.buf[d]),
      sched_(*team.sched[d]),
      all_((*team.parts)[d]),
      act_(&team.layer->activations()[d * activation_count(team.layer->cell())]),
      lens_(team.args.lens),
      Y_(team.args.Y),
      H_(team.layer->hidden_size()),
      seq_(team.args.s.seq),
      batch_(team.args.s.batch),
      layout_(team.layer->layout()),
      G_(gate_count(team.layer->cell())),
      num_dir_(team.layer->num_directions()),
      d_(d),
      local_(local),
      reverse_(team.layer->direction() == Direction::Reverse || d == 1),
      r0_(team.split_rows ? batch_ * local / team.size : 0),
      r1_(team.split_rows ? batch_ * (local + 1) / team.size : batch_),
      rows_(r1_ - r0_),
      sum_split_(recurrent_sum_split(H_)),
      phase_(sched_.first_phase()) {}

void DirectionRunner::run() {
  if (team_.max_len == 0) {
    // No step runs (every length is 0): the final state is the initial one.
    run_phase([&](int p) {
      prepare(all_[p]);
      finish(all_[p], buf_.h[0]);
    });
    return;
  }
  int cur = 0;
  for (step_ = 0; step_ < team_.max_len; ++step_) {
    h_cur_ = buf_.h[cur];
    h_next_ = buf_.h[cur ^ 1];
    switch (layer_.cell()) {
      case CellKind::LSTM:
        lstm_step();
        break;
      case CellKind::GRU:
        gru_step();
        break;
      case CellKind::RNN:
        rnn_step();
        break;
    }
    cur ^= 1;
  }
}

// X·Wᵀ + bias for every timestep unless projected step by step (layout 0 skips the steps past
// every length), and the initial state of the partition's units. Partition-local: it runs inside
// the first step, with no synchronisation of its own.
void DirectionRunner::prepare(const Partition& part) {
  const int64_t u = part.units, j0 = part.j0, input = layer_.input_size(), Gu = G_ * u;
  const float* X = team_.args.X;
  if (buf_.step_projection) {
    // Done step by step (project_step).
  } else if (rows_ == batch_) {
    const int64_t x_rows = layout_ == 0 ? team_.max_len * batch_ : seq_ * batch_;
    gemm(kt_, x_rows, X, input, part.w, part.bias.get(), false, xw_of(part), Gu, 1);
  } else if (layout_ == 1) {  // this thread's rows of X are one block
    gemm(kt_, rows_ * seq_, X + r0_ * seq_ * input, input, part.w, part.bias.get(), false,
         xw_of(part) + r0_ * seq_ * Gu, Gu, 1);
  } else {  // one block per timestep
    for (int64_t t = 0; t < team_.max_len; ++t)
      gemm(kt_, rows_, X + (t * batch_ + r0_) * input, input, part.w, part.bias.get(), false,
           xw_of(part) + (t * batch_ + r0_) * Gu, Gu, 1);
  }
  const float* initial_h = team_.args.initial_h;
  const float* initial_c = team_.args.initial_c;
  const size_t bytes = static_cast<size_t>(u) * sizeof(float);
  for (int64_t b = r0_; b < r1_; ++b) {
    float* h = buf_.h[0] + b * H_ + j0;
    if (initial_h) std::memcpy(h, initial_h + state_at(b) + j0, bytes);
    else std::memset(h, 0, bytes);
    if (buf_.c) {
      float* c = buf_.c + b * H_ + j0;
      if (initial_c) std::memcpy(c, initial_c + state_at(b) + j0, bytes);
      else std::memset(c, 0, bytes);
    }
  }
}

// X_t·Wᵀ + bias for this thread's rows: every row reads the same timestep here (CallPlan rules
// out ragged sequences read in reverse).
void DirectionRunner::project_step(const Partition& part) {
  const int64_t Gu = G_ * part.units, t = time_of(r0_, step_), input = layer_.input_size();
  const int64_t ldx = layout_ == 1 ? seq_ * input : input;
  gemm(kt_, rows_, team_.args.X + x_row(t, r0_) * input, ldx, part.w, part.bias.get(), false, xw_of(part) + r0_ * Gu,
       Gu, 1);
}

// H_{t-1}·Rᵀ (or (r ⊙ H_{t-1})·R_hᵀ) for this thread's rows. One row sums in two chains, starting
// with the chain that holds the partition's own units when they lie past the split; several rows
// sum each row the same way, so that a row's bits do not depend on the batch. The two-chain order
// matters for float32 sums only: the low-precision GEMMs sum each column the same way for any row
// count and any partition.
void DirectionRunner::recurrent_product(const Partition& part, const float* A, int64_t lda, const PackedMatrix& m,
                                        float* C, int64_t ldc) const {
  if (m.type() != WeightType::F32) gemm(kt_, rows_, A, lda, m, nullptr, false, C, ldc, 1);
  else if (rows_ == 1) kt_.recurrent_gemv(m.n(), m.k(), sum_split_, part.j0 >= sum_split_, A, m.panel(0), C);
  else kt_.recurrent_gemm(rows_, m.n(), m.k(), sum_split_, A, lda, m.panel(0), C, ldc);
}

// Everything the gates of this step read besides the state: the partition prepared (first step),
// X_t·Wᵀ (per-step projection), and H_{t-1}·Rᵀ into the partition's rows of hr, `width` columns
// each. Returns the partition's hr. Step 0 reads H_0 for all units in place, so that no partition
// waits for the others' copies of it into buf.h (a missing H_0 is zero: H_0·Rᵀ = 0).
const float* DirectionRunner::gate_inputs(const Partition& part, int64_t width) {
  if (step_ == 0) prepare(part);
  if (buf_.step_projection) project_step(part);
  float* hr = hr_of(part);
  const float* initial_h = team_.args.initial_h;
  if (step_ > 0) {
    recurrent_product(part, h_cur_ + r0_ * H_, H_, part.r, hr + r0_ * width, width);
  } else if (initial_h) {
    const int64_t ld = layout_ == 0 ? H_ : num_dir_ * H_;
    recurrent_product(part, initial_h + state_at(0) + r0_ * ld, ld, part.r, hr + r0_ * width, width);
  } else {
    std::memset(hr + r0_ * width, 0, static_cast<size_t>(rows_ * width) * sizeof(float));
  }
  return hr;
}

// Finished rows keep their state; running rows publish H_t to Y. After the last step, also the
// final state.
void DirectionRunner::publish(const Partition& part) {
  const size_t bytes = static_cast<size_t>(part.units) * sizeof(float);
  for (int64_t b = r0_; b < r1_; ++b) {
    if (!running(b)) std::memcpy(h_next_ + b * H_ + part.j0, h_cur_ + b * H_ + part.j0, bytes);
    else if (Y_) std::memcpy(y_at(time_of(b, step_), b) + part.j0, h_next_ + b * H_ + part.j0, bytes);
  }
  if (step_ == team_.max_len - 1) finish(part, h_next_);
}

// Y_h and Y_c for the partition's units, from its final H (and C). Partition-local: it runs
// inside the last step.
void DirectionRunner::finish(const Partition& part, const float* h_final) {
  const size_t bytes = static_cast<size_t>(part.units) * sizeof(float);
  float* Y_h = team_.args.Y_h;
  float* Y_c = team_.args.Y_c;
  for (int64_t b = r0_; b < r1_; ++b) {
    if (Y_h) std::memcpy(Y_h + state_at(b) + part.j0, h_final + b * H_ + part.j0, bytes);
    if (Y_c && buf_.c) std::memcpy(Y_c + state_at(b) + part.j0, buf_.c + b * H_ + part.j0, bytes);
  }
}

}  // namespace lstmrt

// One timestep of each cell type: the gates of every running row of each partition, between
// gate_inputs (X_t·Wᵀ, H_{t-1}·Rᵀ) and publish (Y, and after the last step Y_h, Y_c).
#include "rnn/call_team.h"

namespace lstmrt {

void DirectionRunner::lstm_step() {
  run_phase([&](int p) {
    const Partition& part = all_[p];
    const int64_t u = part.units, j0 = part.j0, width = G_ * u;
    const float* hr = gate_inputs(part, width);
    for (int64_t b = r0_; b < r1_; ++b) {
      if (!running(b)) continue;
      float* c = buf_.c + b * H_ + j0;
      LstmRowArgs a{xw_row(part, b), hr + b * width, c, c, h_next_ + b * H_ + j0, part.peephole.get(), u,
                    act_[0], act_[1], act_[2], layer_.clip(), layer_.input_forget()};
      kt_.lstm_row(a);
    }
    publish(part);
  });
}

// A GRU step in two stages (z, r, and r ⊙ H_{t-1}; then h and H_t). With linear_before_reset=0,
// R_h multiplies r ⊙ H_{t-1} over all units, so every partition's first stage must be done before
// any second stage: two phases. With linear_before_reset=1 a partition runs both in one.
void DirectionRunner::gru_step() {
  const bool lbr = layer_.linear_before_reset();
  GruRowArgs base{};
  base.f = act_[0];
  base.g = act_[1];
  base.clip = layer_.clip();
  base.linear_before_reset = lbr;
  // The arguments both stages share for a partition, and for row b of it.
  auto partition_args = [&](const Partition& part) {
    GruRowArgs a = base;
    a.hidden = part.units;
    a.rb_h = part.rb_h.get();
    return a;
  };
  auto row = [&](GruRowArgs& a, const Partition& part, int64_t b) {
    a.xw = xw_row(part, b);
    a.h_prev = h_cur_ + b * H_ + part.j0;
    a.z = buf_.z + b * H_ + part.j0;
    a.r_or_rh = buf_.r_or_rh + b * H_ + part.j0;
  };
  auto stage1 = [&](const Partition& part) {
    const int64_t u = part.units, width = lbr ? G_ * u : 2 * u;
    const float* hr = gate_inputs(part, width);
    GruRowArgs a = partition_args(part);
    for (int64_t b = r0_; b < r1_; ++b) {
      if (!running(b)) continue;
      row(a, part, b);
      a.hr_zr = hr + b * width;
      kt_.gru_row_stage1(a);
    }
  };
  auto stage2 = [&](const Partition& part) {
    const int64_t u = part.units, j0 = part.j0, Gu = G_ * u;
    float* hr_h = buf_.hr_h + batch_ * j0;
    if (!lbr) recurrent_product(part, buf_.r_or_rh + r0_ * H_, H_, part.r_h, hr_h + r0_ * u, u);
    GruRowArgs a = partition_args(part);
    for (int64_t b = r0_; b < r1_; ++b) {
      if (!running(b)) continue;
      row(a, part, b);
      a.hr_h = lbr ? hr_of(part) + b * Gu + 2 * u : hr_h + b * u;
      a.h_out = h_next_ + b * H_ + j0;
      kt_.gru_row_stage2(a);
    }
    publish(part);
  };
  if (lbr) {
    run_phase([&](int p) {
      stage1(all_[p]);
      stage2(all_[p]);
    });
  } else {
    run_phase([&](int p) { stage1(all_[p]); });
    run_phase([&](int p) { stage2(all_[p]); });
  }
}

void DirectionRunner::rnn_step() {
  run_phase([&](int p) {
    const Partition& part = all_[p];
    const int64_t u = part.units;
    const float* hr = gate_inputs(part, u);
    for (int64_t b = r0_; b < r1_; ++b) {
      if (!running(b)) continue;
      RnnRowArgs a{xw_row(part, b), hr + b * u, h_next_ + b * H_ + part.j0, u, act_[0], layer_.clip()};
      kt_.rnn_row(a);
    }
    publish(part);
  });
}

}  // namespace lstmrt

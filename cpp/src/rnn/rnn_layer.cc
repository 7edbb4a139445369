#include "lstmrt/rnn_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lstmrt/errors.h"
#include "lstmrt/gemm.h"
#include "lstmrt/kernels.h"
#include "lstmrt/threading.h"

namespace lstmrt {

float* Workspace::get(int slot, size_t count) {
  if (slot >= static_cast<int>(buffers_.size())) {
    buffers_.resize(slot + 1);
    sizes_.resize(slot + 1, 0);
  }
  if (sizes_[slot] < count) {
    buffers_[slot] = aligned_alloc_floats(count);
    sizes_[slot] = count;
  }
  return buffers_[slot].get();
}

std::string RnnLayer::where(const std::string& argument) const {
  return (context_.empty() ? std::string(cell_name(cell_)) : context_) + ": " + argument;
}

namespace {

Direction parse_direction(const std::string& d, const std::string& argument) {
  if (d == "forward") return Direction::Forward;
  if (d == "reverse") return Direction::Reverse;
  if (d == "bidirectional") return Direction::Bidirectional;
  throw ValueError(argument + ": expected 'forward', 'reverse' or 'bidirectional', got '" + d + "'");
}

const char* direction_text(Direction d) {
  switch (d) {
    case Direction::Forward:
      return "forward";
    case Direction::Reverse:
      return "reverse";
    case Direction::Bidirectional:
      return "bidirectional";
  }
  return "?";
}

}  // namespace

RnnLayer::RnnLayer(const RnnAttributes& a, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                   const FloatArg& P)
    : cell_(a.cell), context_(a.context) {
  direction_ = parse_direction(a.direction, where("direction"));
  num_dir_ = direction_ == Direction::Bidirectional ? 2 : 1;
  const std::string dir_note =
      " (num_directions = " + std::to_string(num_dir_) + " for direction='" + direction_text(direction_) + "')";

  if (a.layout != 0 && a.layout != 1)
    throw ValueError(where("layout") + ": expected 0 or 1, got " + std::to_string(a.layout));
  layout_ = a.layout;
  if (a.input_forget != 0 && a.input_forget != 1)
    throw ValueError(where("input_forget") + ": expected 0 or 1, got " + std::to_string(a.input_forget));
  if (a.input_forget && cell_ != CellKind::LSTM)
    throw ValueError(where("input_forget") + ": only LSTM has this attribute");
  input_forget_ = a.input_forget != 0;
  if (a.linear_before_reset != 0 && a.linear_before_reset != 1)
    throw ValueError(where("linear_before_reset") + ": expected 0 or 1, got " +
                     std::to_string(a.linear_before_reset));
  if (a.linear_before_reset && cell_ != CellKind::GRU)
    throw ValueError(where("linear_before_reset") + ": only GRU has this attribute");
  linear_before_reset_ = a.linear_before_reset != 0;

  clip_ = 0.0f;
  if (a.has_clip) {
    if (!(a.clip > 0.0f))
      throw ValueError(where("clip") + ": expected a positive threshold, got " + std::to_string(a.clip));
    clip_ = std::isinf(a.clip) ? 0.0f : a.clip;
  }

  // Weights: W [num_dir, G*H, input], R [num_dir, G*H, H], B [num_dir, 2*G*H], P [num_dir, 3*H].
  const int G = gate_count(cell_);
  if (!W.present()) throw ValueError(where("W") + ": the input weights are required");
  if (!R.present()) throw ValueError(where("R") + ": the recurrent weights are required");
  if (W.shape.size() != 3)
    throw ValueError(where("W") + ": expected rank 3 [num_directions, " + std::to_string(G) +
                     "*hidden_size, input_size], got shape " + shape_to_string(W.shape));
  if (R.shape.size() != 3)
    throw ValueError(where("R") + ": expected rank 3 [num_directions, " + std::to_string(G) +
                     "*hidden_size, hidden_size], got shape " + shape_to_string(R.shape));
  if (a.hidden_size < 0)
    throw ValueError(where("hidden_size") + ": expected a positive value, got " + std::to_string(a.hidden_size));
  hidden_ = a.hidden_size > 0 ? a.hidden_size : R.shape[2];
  if (hidden_ < 1) throw ValueError(where("R") + ": hidden size 0 (shape " + shape_to_string(R.shape) + ")");
  const int64_t GH = G * hidden_;
  const std::vector<int64_t> r_expected = {num_dir_, GH, hidden_};
  if (R.shape != r_expected) {
    std::string why = a.hidden_size > 0 ? " for hidden_size=" + std::to_string(a.hidden_size) : "";
    throw ValueError(where("R") + ": expected shape " + shape_to_string(r_expected) + why + dir_note + ", got " +
                     shape_to_string(R.shape));
  }
  input_ = W.shape[2];
  const std::vector<int64_t> w_expected = {num_dir_, GH, input_};
  if (W.shape != w_expected)
    throw ValueError(where("W") + ": expected shape " + shape_to_string(w_expected) + " for hidden_size=" +
                     std::to_string(hidden_) + dir_note + ", got " + shape_to_string(W.shape));
  if (B.present()) {
    const std::vector<int64_t> b_expected = {num_dir_, 2 * GH};
    if (B.shape != b_expected)
      throw ValueError(where("B") + ": expected shape " + shape_to_string(b_expected) + " for hidden_size=" +
                       std::to_string(hidden_) + dir_note + ", got " + shape_to_string(B.shape));
  }
  if (P.present()) {
    if (cell_ != CellKind::LSTM) throw ValueError(where("P") + ": only LSTM has peephole weights");
    const std::vector<int64_t> p_expected = {num_dir_, 3 * hidden_};
    if (P.shape != p_expected)
      throw ValueError(where("P") + ": expected shape " + shape_to_string(p_expected) + " for hidden_size=" +
                       std::to_string(hidden_) + dir_note + ", got " + shape_to_string(P.shape));
  }

  // Activations: k per direction. A list for one direction is accepted for a bidirectional
  // layer and used for both (ONNX Runtime does the same).
  const int k = activation_count(cell_);
  std::vector<std::string> names = a.activations;
  if (names.empty()) {
    if (cell_ == CellKind::LSTM) names = {"Sigmoid", "Tanh", "Tanh"};
    if (cell_ == CellKind::GRU) names = {"Sigmoid", "Tanh"};
    if (cell_ == CellKind::RNN) names = {"Tanh"};
    if (num_dir_ == 2) names.insert(names.end(), names.begin(), names.end());
  }
  if (names.size() != static_cast<size_t>(k * num_dir_) && !(num_dir_ == 2 && names.size() == static_cast<size_t>(k)))
    throw ValueError(where("activations") + ": expected " + std::to_string(k * num_dir_) + " names (" +
                     std::to_string(k) + " per direction" + dir_note + "), got " + std::to_string(names.size()));
  // alpha and beta are consumed in list order by the activations that take them (as ONNX
  // Runtime does); an activation finding its list exhausted takes the ONNX default.
  size_t ai = 0, bi = 0;
  for (const std::string& name : names) {
    Activation act;
    act.kind = parse_activation(name, where("activations"));
    act.alpha = default_alpha(act.kind);
    act.beta = default_beta(act.kind);
    if (activation_uses_alpha(act.kind) && ai < a.activation_alpha.size()) act.alpha = a.activation_alpha[ai++];
    if (activation_uses_beta(act.kind) && bi < a.activation_beta.size()) act.beta = a.activation_beta[bi++];
    acts_.push_back(act);
  }
  if (ai < a.activation_alpha.size())
    throw ValueError(where("activation_alpha") + ": " + std::to_string(a.activation_alpha.size()) +
                     " values given but the activations take only " + std::to_string(ai));
  if (bi < a.activation_beta.size())
    throw ValueError(where("activation_beta") + ": " + std::to_string(a.activation_beta.size()) +
                     " values given but the activations take only " + std::to_string(bi));
  if (acts_.size() == static_cast<size_t>(k) && num_dir_ == 2)
    acts_.insert(acts_.end(), acts_.begin(), acts_.end());

  // Pack every direction's weights once.
  const int64_t H = hidden_;
  for (int d = 0; d < num_dir_; ++d) {
    DirectionWeights dw;
    const float* Wd = W.data + d * GH * input_;
    const float* Rd = R.data + d * GH * H;
    dw.w = PackedMatrix(Wd, GH, input_, input_);
    if (cell_ == CellKind::GRU && !linear_before_reset_) {
      // GRU gate order z, r, h: z and r come from H_{t-1} directly, h from r ⊙ H_{t-1}.
      dw.r = PackedMatrix(Rd, 2 * H, H, H);
      dw.r_h = PackedMatrix(Rd + 2 * H * H, H, H, H);
    } else {
      dw.r = PackedMatrix(Rd, GH, H, H);
    }
    // Biases: B = [Wb, Rb] per direction, each G*H. Everything that is simply added before an
    // activation is folded into one vector added by the input GEMM; GRU's Rbh with
    // linear_before_reset=1 sits inside r ⊙ (H·Rhᵀ + Rbh) and stays apart.
    dw.bias = aligned_alloc_floats(GH);
    if (B.present()) {
      const float* Wb = B.data + d * 2 * GH;
      const float* Rb = Wb + GH;
      const bool split_h = cell_ == CellKind::GRU && linear_before_reset_;
      for (int64_t j = 0; j < GH; ++j) dw.bias[j] = Wb[j] + ((split_h && j >= 2 * H) ? 0.0f : Rb[j]);
      if (split_h) {
        dw.rb_h = aligned_alloc_floats(H);
        std::memcpy(dw.rb_h.get(), Rb + 2 * H, H * sizeof(float));
      }
    } else if (cell_ == CellKind::GRU && linear_before_reset_) {
      dw.rb_h = aligned_alloc_floats(H);  // zeros
    }
    if (P.present()) {
      dw.peephole = aligned_alloc_floats(3 * H);
      std::memcpy(dw.peephole.get(), P.data + d * 3 * H, 3 * H * sizeof(float));
    }
    dirs_.push_back(std::move(dw));
  }
}

RnnShapes RnnLayer::check_inputs(const std::vector<int64_t>& x_shape, const int32_t* sequence_lens,
                                 const std::vector<int64_t>* lens_shape, const std::vector<int64_t>* h_shape,
                                 const std::vector<int64_t>* c_shape) const {
  const std::string x_layout = layout_ == 0 ? "[seq_length, batch_size, input_size]" : "[batch_size, seq_length, input_size]";
  if (x_shape.size() != 3)
    throw ValueError(where("X") + ": expected rank 3 " + x_layout + " (layout=" + std::to_string(layout_) +
                     "), got shape " + shape_to_string(x_shape));
  if (x_shape[2] != input_)
    throw ValueError(where("X") + ": expected input_size " + std::to_string(input_) + " (from W) in dimension 2 of " +
                     x_layout + ", got shape " + shape_to_string(x_shape));
  RnnShapes s;
  s.seq = layout_ == 0 ? x_shape[0] : x_shape[1];
  s.batch = layout_ == 0 ? x_shape[1] : x_shape[0];
  if (lens_shape) {
    const std::vector<int64_t> expected = {s.batch};
    if (*lens_shape != expected)
      throw ValueError(where("sequence_lens") + ": expected shape " + shape_to_string(expected) + " (batch_size), got " +
                       shape_to_string(*lens_shape));
    for (int64_t b = 0; b < s.batch; ++b) {
      if (sequence_lens[b] < 0 || sequence_lens[b] > s.seq)
        throw ValueError(where("sequence_lens") + ": entry " + std::to_string(b) + " is " +
                         std::to_string(sequence_lens[b]) + ", expected a length in [0, seq_length=" +
                         std::to_string(s.seq) + "]");
    }
  }
  const std::vector<int64_t> st = state_shape(s);
  const std::string st_text = layout_ == 0 ? "[num_directions, batch_size, hidden_size]" : "[batch_size, num_directions, hidden_size]";
  if (h_shape && *h_shape != st)
    throw ValueError(where("initial_h") + ": expected shape " + shape_to_string(st) + " " + st_text + ", got " +
                     shape_to_string(*h_shape));
  if (c_shape) {
    if (cell_ != CellKind::LSTM) throw ValueError(where("initial_c") + ": only LSTM has a cell state");
    if (*c_shape != st)
      throw ValueError(where("initial_c") + ": expected shape " + shape_to_string(st) + " " + st_text + ", got " +
                       shape_to_string(*c_shape));
  }
  return s;
}

std::vector<int64_t> RnnLayer::y_shape(const RnnShapes& s) const {
  if (layout_ == 0) return {s.seq, num_dir_, s.batch, hidden_};
  return {s.batch, s.seq, num_dir_, hidden_};
}

std::vector<int64_t> RnnLayer::state_shape(const RnnShapes& s) const {
  if (layout_ == 0) return {num_dir_, s.batch, hidden_};
  return {s.batch, num_dir_, hidden_};
}

void RnnLayer::run(const RnnShapes& s, const float* X, const int32_t* lens, const float* initial_h,
                   const float* initial_c, float* Y, float* Y_h, float* Y_c, Workspace& ws, int threads) const {
  ScopedFlushDenormals ftz;
  threads = resolve_threads(threads);
  if (Y) {
    // Steps past a sequence's length are never written, so they must start at zero.
    bool ragged = false;
    for (int64_t b = 0; lens && b < s.batch; ++b) ragged |= lens[b] < s.seq;
    if (ragged) std::memset(Y, 0, sizeof(float) * s.seq * s.batch * num_dir_ * hidden_);
  }
  constexpr int kSlotsPerDirection = 8;
  if (num_dir_ == 2 && threads >= 2) {
    // The two directions are independent: one thread each, the rest split between them.
    const int inner = threads / 2;
    // Create every slot here, serially, so that the two threads below only touch their own
    // slots and never resize the workspace's table.
    ws.get(2 * kSlotsPerDirection - 1, 1);
    parallel_for(2, 2, 1, [&](int64_t d0, int64_t d1) {
      for (int64_t d = d0; d < d1; ++d)
        run_direction(static_cast<int>(d), d == 1, s, X, lens, initial_h, initial_c, Y, Y_h, Y_c, ws,
                      static_cast<int>(d) * kSlotsPerDirection, inner);
    });
  } else {
    for (int d = 0; d < num_dir_; ++d) {
      const bool reverse = direction_ == Direction::Reverse || d == 1;
      run_direction(d, reverse, s, X, lens, initial_h, initial_c, Y, Y_h, Y_c, ws, d * kSlotsPerDirection, threads);
    }
  }
}

void RnnLayer::run_direction(int d, bool reverse, const RnnShapes& s, const float* X, const int32_t* lens,
                             const float* initial_h, const float* initial_c, float* Y, float* Y_h, float* Y_c,
                             Workspace& ws, int slot, int threads) const {
  const KernelTable& kt = kernels();
  const DirectionWeights& dw = dirs_[d];
  const int64_t H = hidden_, seq = s.seq, batch = s.batch;
  const int G = gate_count(cell_);
  const int64_t GH = G * H;
  const int k = activation_count(cell_);
  const Activation* act = &acts_[d * k];
  const bool lstm = cell_ == CellKind::LSTM, gru = cell_ == CellKind::GRU;

  // Scratch. Sizes are per call; the workspace keeps the largest, so repeated calls reuse them.
  // Workspace::get may reallocate, so all buffers are fetched before any is used.
  float* xw = ws.get(slot + 0, static_cast<size_t>(seq * batch * GH));
  float* hr = ws.get(slot + 1, static_cast<size_t>(batch * GH));
  float* h = ws.get(slot + 2, static_cast<size_t>(batch * H));
  float* c = lstm ? ws.get(slot + 3, static_cast<size_t>(batch * H)) : nullptr;
  float* z = gru ? ws.get(slot + 4, static_cast<size_t>(batch * H)) : nullptr;
  float* r_or_rh = gru ? ws.get(slot + 5, static_cast<size_t>(batch * H)) : nullptr;
  float* hr_h = (gru && !linear_before_reset_) ? ws.get(slot + 6, static_cast<size_t>(batch * H)) : nullptr;

  int64_t max_len = seq;
  if (lens) {
    max_len = 0;
    for (int64_t b = 0; b < batch; ++b) max_len = std::max<int64_t>(max_len, lens[b]);
  }
  auto len_of = [&](int64_t b) -> int64_t { return lens ? lens[b] : seq; };

  // Where (t, b) lives in X (and in xw, which follows X's row order) and in the outputs.
  auto x_row = [&](int64_t t, int64_t b) { return layout_ == 0 ? t * batch + b : b * seq + t; };
  auto y_at = [&](int64_t t, int64_t b) {
    return layout_ == 0 ? Y + ((t * num_dir_ + d) * batch + b) * H : Y + ((b * seq + t) * num_dir_ + d) * H;
  };
  auto state_at = [&](int64_t b) { return layout_ == 0 ? (d * batch + b) * H : (b * num_dir_ + d) * H; };

  // X·Wᵀ + bias for every timestep in one GEMM (layout 0 skips steps past every length).
  const int64_t x_rows = layout_ == 0 ? max_len * batch : seq * batch;
  gemm(kt, x_rows, X, input_, dw.w, dw.bias.get(), false, xw, GH, threads);

  for (int64_t b = 0; b < batch; ++b) {
    if (initial_h) std::memcpy(h + b * H, initial_h + state_at(b), H * sizeof(float));
    else std::memset(h + b * H, 0, H * sizeof(float));
    if (lstm) {
      if (initial_c) std::memcpy(c + b * H, initial_c + state_at(b), H * sizeof(float));
      else std::memset(c + b * H, 0, H * sizeof(float));
    }
  }

  // Rows still running at step `step`; the recurrent products use every row (a finished row's
  // result is simply not used, which keeps the GEMM one call).
  for (int64_t step = 0; step < max_len; ++step) {
    auto time_of = [&](int64_t b) { return reverse ? len_of(b) - 1 - step : step; };
    if (lstm) {
      gemm(kt, batch, h, H, dw.r, nullptr, false, hr, GH, threads);
      for (int64_t b = 0; b < batch; ++b) {
        if (step >= len_of(b)) continue;
        const int64_t t = time_of(b);
        LstmRowArgs a{xw + x_row(t, b) * GH, hr + b * GH, c + b * H, c + b * H, h + b * H,
                      dw.peephole.get(), H, act[0], act[1], act[2], clip_, input_forget_};
        kt.lstm_row(a);
      }
    } else if (gru) {
      const int64_t zr_width = linear_before_reset_ ? GH : 2 * H;
      gemm(kt, batch, h, H, dw.r, nullptr, false, hr, zr_width, threads);
      GruRowArgs a{};
      a.hidden = H;
      a.f = act[0];
      a.g = act[1];
      a.clip = clip_;
      a.linear_before_reset = linear_before_reset_;
      a.rb_h = dw.rb_h.get();
      for (int64_t b = 0; b < batch; ++b) {
        if (step >= len_of(b)) continue;
        a.xw = xw + x_row(time_of(b), b) * GH;
        a.hr_zr = hr + b * zr_width;
        a.h_prev = h + b * H;
        a.z = z + b * H;
        a.r_or_rh = r_or_rh + b * H;
        kt.gru_row_stage1(a);
      }
      if (!linear_before_reset_) gemm(kt, batch, r_or_rh, H, dw.r_h, nullptr, false, hr_h, H, threads);
      for (int64_t b = 0; b < batch; ++b) {
        if (step >= len_of(b)) continue;
        a.xw = xw + x_row(time_of(b), b) * GH;
        a.hr_h = linear_before_reset_ ? hr + b * GH + 2 * H : hr_h + b * H;
        a.h_prev = h + b * H;
        a.z = z + b * H;
        a.r_or_rh = r_or_rh + b * H;
        a.h_out = h + b * H;
        kt.gru_row_stage2(a);
      }
    } else {
      gemm(kt, batch, h, H, dw.r, nullptr, false, hr, GH, threads);
      for (int64_t b = 0; b < batch; ++b) {
        if (step >= len_of(b)) continue;
        RnnRowArgs a{xw + x_row(time_of(b), b) * GH, hr + b * GH, h + b * H, H, act[0], clip_};
        kt.rnn_row(a);
      }
    }
    if (Y) {
      for (int64_t b = 0; b < batch; ++b)
        if (step < len_of(b)) std::memcpy(y_at(time_of(b), b), h + b * H, H * sizeof(float));
    }
  }

  // A sequence of length 0 never ran: its final state is the initial one.
  for (int64_t b = 0; b < batch; ++b) {
    if (Y_h) std::memcpy(Y_h + state_at(b), h + b * H, H * sizeof(float));
    if (Y_c && lstm) std::memcpy(Y_c + state_at(b), c + b * H, H * sizeof(float));
  }
}

}  // namespace lstmrt

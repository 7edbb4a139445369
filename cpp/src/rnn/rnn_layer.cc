#include "lstmrt/rnn_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/tuning.h"
#include "lstmrt/errors.h"
#include "cpu/threading.h"
#include "rnn/call_plan.h"
#include "rnn/call_team.h"
#include "rnn/layer_packing.h"

namespace lstmrt {

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

}  // namespace

RnnLayer::RnnLayer(const RnnAttributes& a, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                   const FloatArg& P, int threads, WeightType weights)
    : cell_(a.cell), weights_(weights), context_(a.context) {
  parse_attributes(a);
  check_weights(a, W, R, B, P);
  parse_activations(a);

  // Partitions of at least one panel width of units, at most one per thread.
  const int parts = static_cast<int>(std::min<int64_t>(resolve_threads(threads), max_partitions(hidden_)));
  auto packed = std::make_unique<Packed>();
  packed->split = pack_partitions(*this, W, R, B, P, parts);
  // On one thread, several partitions cost a product and a gate pass each per step, so small
  // layers keep a whole copy too; large ones would double their memory for a few percent.
  const double packed_bytes = bytes_per_weight(weights_) * gate_count(cell_) * hidden_ * (input_ + hidden_) * num_dir_;
  if (parts > 1 && packed_bytes <= tuning().max_whole_copy_bytes) packed->whole = pack_partitions(*this, W, R, B, P, 1);
  packed_ = std::move(packed);
}

RnnLayer::~RnnLayer() = default;
RnnLayer::RnnLayer(RnnLayer&&) noexcept = default;
RnnLayer& RnnLayer::operator=(RnnLayer&&) noexcept = default;

int RnnLayer::partitions() const { return static_cast<int>(packed_->split[0].size()); }
bool RnnLayer::has_whole_copy() const { return !packed_->whole.empty(); }

// The direction, layout and flags, checked.
void RnnLayer::parse_attributes(const RnnAttributes& a) {
  direction_ = parse_direction(a.direction, where("direction"));
  num_dir_ = direction_ == Direction::Bidirectional ? 2 : 1;

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
}

namespace {
// How many directions a shape's first dimension counts, for error messages.
std::string directions_note(int num_dir, Direction direction) {
  return " (num_directions = " + std::to_string(num_dir) + " for direction='" + direction_name(direction) + "')";
}
}  // namespace

// The shapes of W, R, B and P against each other and the attributes; sets hidden_ and input_.
void RnnLayer::check_weights(const RnnAttributes& a, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                             const FloatArg& P) {
  const std::string dir_note = directions_note(num_dir_, direction_);
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
  if (a.has_hidden_size && a.hidden_size < 1)
    throw ValueError(where("hidden_size") + ": expected a positive value, got " + std::to_string(a.hidden_size));
  hidden_ = a.has_hidden_size ? a.hidden_size : R.shape[2];
  if (hidden_ < 1) throw ValueError(where("R") + ": hidden size 0 (shape " + shape_to_string(R.shape) + ")");
  const int64_t GH = G * hidden_;
  const std::vector<int64_t> r_expected = {num_dir_, GH, hidden_};
  if (R.shape != r_expected) {
    std::string why = a.has_hidden_size ? " for hidden_size=" + std::to_string(a.hidden_size) : "";
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
}

// The activations, with their alpha and beta, per direction.
void RnnLayer::parse_activations(const RnnAttributes& a) {
  const std::string dir_note = directions_note(num_dir_, direction_);
  // Activations: k per direction, as ONNX specifies (ONNX Runtime refuses other lengths too).
  const int k = activation_count(cell_);
  std::vector<std::string> names = a.activations;
  if (names.empty()) {
    if (cell_ == CellKind::LSTM) names = {"Sigmoid", "Tanh", "Tanh"};
    if (cell_ == CellKind::GRU) names = {"Sigmoid", "Tanh"};
    if (cell_ == CellKind::RNN) names = {"Tanh"};
    if (num_dir_ == 2) {
      const std::vector<std::string> one = names;  // inserting a vector's own range into it is undefined
      names.insert(names.end(), one.begin(), one.end());
    }
  }
  if (names.size() != static_cast<size_t>(k * num_dir_))
    throw ValueError(where("activations") + ": expected " + std::to_string(k * num_dir_) + " names (" +
                     std::to_string(k) + " per direction" + dir_note + "), got " + std::to_string(names.size()));
  // alpha and beta are consumed in list order by the activations that take them (as ONNX
  // Runtime does); an activation finding its list exhausted takes the ONNX default. Values left
  // over are an error here (ONNX Runtime ignores them), since they mean the lists were misread.
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
}

double RnnLayer::lost_weight_fraction(bool recurrent) const {
  double lost = 0.0;
  for (const auto& direction : packed_->split)
    for (const Partition& p : direction) {
      if (recurrent) lost = std::max({lost, p.r.lost_weight_fraction(), p.r_h.lost_weight_fraction()});
      else lost = std::max(lost, p.w.lost_weight_fraction());
    }
  return lost;
}

RnnShapes RnnLayer::check_inputs(const std::vector<int64_t>& x_shape, const int32_t* sequence_lens,
                                 const std::vector<int64_t>* lens_shape, const std::vector<int64_t>* h_shape,
                                 const std::vector<int64_t>* c_shape) const {
  // Message parts as literals: a call that passes its checks builds no string.
  const char* x_layout = layout_ == 0 ? "[seq_length, batch_size, input_size]" : "[batch_size, seq_length, input_size]";
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
  if (h_shape || c_shape) {
    const std::vector<int64_t> st = state_shape(s);
    const char* st_text = layout_ == 0 ? "[num_directions, batch_size, hidden_size]" : "[batch_size, num_directions, hidden_size]";
    if (h_shape && *h_shape != st)
      throw ValueError(where("initial_h") + ": expected shape " + shape_to_string(st) + " " + st_text + ", got " +
                       shape_to_string(*h_shape));
    if (c_shape) {
      if (cell_ != CellKind::LSTM) throw ValueError(where("initial_c") + ": only LSTM has a cell state");
      if (*c_shape != st)
        throw ValueError(where("initial_c") + ": expected shape " + shape_to_string(st) + " " + st_text + ", got " +
                         shape_to_string(*c_shape));
    }
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
  if (s.batch == 0) return;  // every output is empty; the steps would only loop over nothing
  ScopedFlushDenormals ftz;
  if (Y) {
    // Steps past a sequence's length are never written, so they must start at zero.
    bool ragged = false;
    for (int64_t b = 0; lens && b < s.batch; ++b) ragged |= lens[b] < s.seq;
    if (ragged) std::memset(Y, 0, sizeof(float) * s.seq * s.batch * num_dir_ * hidden_);
  }

  const Tuning& tune = tuning();
  CallShape shape = call_shape(*this, s, lens != nullptr, initial_h != nullptr, resolve_threads(threads));
  CallPlan plan = plan_call(shape, tune);
  ThreadClaim claim(plan.threads);
  WorkerTeam workers(claim.threads(), plan.wake_workers ? WakePolicy::Always : WakePolicy::WhenCallsAreFrequent);
  if (workers.size() != plan.threads) {
    // Fewer threads than asked for (other calls hold cores, or sleeping workers were left out).
    shape.threads = workers.size();
    plan = plan_call(shape, tune);
  }

  const CallArgs args{s, X, lens, initial_h, initial_c, Y, Y_h, Y_c};
  const CallTeam team(*this, plan.whole_copy ? packed_->whole : packed_->split, plan, args, ws.state());
  const int members = team.members();
  if (members <= 1) {
    team.run_member(0);
  } else {
    auto member = [&](int m) { team.run_member(m); };
    workers.run(members, member);
  }
  team.end_call();
}

}  // namespace lstmrt

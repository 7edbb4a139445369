#include "lstmrt/rnn_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lstmrt/errors.h"
#include "lstmrt/gemm.h"
#include "lstmrt/kernels.h"
#include "lstmrt/phase_scheduler.h"
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

// Layers whose packed weights (W and R, all directions) are at most this size keep a whole
// copy beside their split for threads (see whole_): LSTM H=128, input 128, is 512 KiB.
constexpr double kMaxWholeCopyBytes = 512.0 * 1024.0;

// The first hidden unit of partition p of `parts`: on a multiple of 16, so that every partition
// but the last runs whole vectors.
int64_t partition_start(int64_t H, int p, int parts) { return std::min<int64_t>(H, (H * p / parts + 15) / 16 * 16); }

// Where the recurrent product of one row splits its sum in two (KernelTable::recurrent_gemv):
// the first unit of the second partition of a 2-way split, whatever split a call runs with.
int64_t recurrent_sum_split(int64_t H) { return partition_start(H, 1, 2); }

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
  direction_ = parse_direction(a.direction, where("direction"));
  num_dir_ = direction_ == Direction::Bidirectional ? 2 : 1;
  const std::string dir_note =
      " (num_directions = " + std::to_string(num_dir_) + " for direction='" + direction_name(direction_) + "')";

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

  // Partitions of at least 16 units (one AVX-512 vector), at most one per thread.
  const int64_t max_parts = std::max<int64_t>(1, hidden_ / 16);
  const int parts = static_cast<int>(std::min<int64_t>(resolve_threads(threads), max_parts));
  parts_ = pack_partitions(W, R, B, P, parts);
  // On one thread, several partitions cost a product and a gate pass each per step: the default
  // 2-thread split of a GRU with H=32 ran its single-thread calls 1.36x slower than one partition
  // (100 steps, batch 1). Small layers therefore keep a whole copy too; large ones would double
  // their memory for a few percent.
  const double packed_bytes = bytes_per_weight(weights_) * gate_count(cell_) * hidden_ * (input_ + hidden_) * num_dir_;
  if (parts > 1 && packed_bytes <= kMaxWholeCopyBytes) whole_ = pack_partitions(W, R, B, P, 1);
}

std::vector<std::vector<RnnLayer::Partition>> RnnLayer::pack_partitions(const FloatArg& W, const FloatArg& R,
                                                                        const FloatArg& B, const FloatArg& P,
                                                                        int parts) const {
  const int G = gate_count(cell_);
  const int64_t H = hidden_, GH = G * H, I = input_;
  std::vector<int64_t> bounds = {0};
  for (int p = 1; p < parts; ++p) bounds.push_back(partition_start(H, p, parts));
  bounds.push_back(H);

  std::vector<std::vector<Partition>> out(static_cast<size_t>(num_dir_));
  std::vector<float> rows;
  for (int d = 0; d < num_dir_; ++d) {
    const float* Wd = W.data + d * GH * I;
    const float* Rd = R.data + d * GH * H;
    const float* Wb = B.present() ? B.data + d * 2 * GH : nullptr;
    const float* Rb = Wb ? Wb + GH : nullptr;
    for (int p = 0; p < parts; ++p) {
      Partition part;
      part.j0 = bounds[p];
      part.units = bounds[p + 1] - bounds[p];
      const int64_t u = part.units;
      if (u == 0) continue;
      // Gathers rows g*H + j0 .. g*H + j0 + u of a [G*H, cols] matrix for the given gates.
      auto gather = [&](const float* m, int64_t cols, int g_begin, int g_end, const char* name) {
        rows.assign(static_cast<size_t>((g_end - g_begin) * u * cols), 0.0f);
        for (int g = g_begin; g < g_end; ++g)
          std::memcpy(rows.data() + (g - g_begin) * u * cols, m + (g * H + part.j0) * cols,
                      static_cast<size_t>(u * cols) * sizeof(float));
        try {
          return PackedMatrix(rows.data(), (g_end - g_begin) * u, cols, cols, weights_);
        } catch (const ValueError& e) {
          throw ValueError(where(name) + " (direction " + std::to_string(d) + "): " + e.what());
        }
      };
      part.w = gather(Wd, I, 0, G, "W");
      if (cell_ == CellKind::GRU && !linear_before_reset_) {
        // GRU gate order z, r, h: z and r come from H_{t-1} directly, h from r ⊙ H_{t-1}.
        part.r = gather(Rd, H, 0, 2, "R");
        part.r_h = gather(Rd, H, 2, 3, "R");
      } else {
        part.r = gather(Rd, H, 0, G, "R");
      }
      // Biases: B = [Wb, Rb] per direction, each G*H. Everything that is simply added before an
      // activation is folded into one vector added by the input GEMM; GRU's Rbh with
      // linear_before_reset=1 sits inside r ⊙ (H·Rhᵀ + Rbh) and stays apart.
      const bool split_h = cell_ == CellKind::GRU && linear_before_reset_;
      part.bias = aligned_alloc_floats(static_cast<size_t>(G * u));
      if (split_h) part.rb_h = aligned_alloc_floats(static_cast<size_t>(u));  // zeros without B
      if (Wb) {
        for (int g = 0; g < G; ++g) {
          for (int64_t j = 0; j < u; ++j) {
            const int64_t src = g * H + part.j0 + j;
            const bool inside_reset = split_h && g == 2;
            part.bias[g * u + j] = Wb[src] + (inside_reset ? 0.0f : Rb[src]);
            if (inside_reset) part.rb_h[j] = Rb[src];
          }
        }
      }
      if (P.present()) {
        part.peephole = aligned_alloc_floats(static_cast<size_t>(3 * u));
        for (int g = 0; g < 3; ++g)
          std::memcpy(part.peephole.get() + g * u, P.data + d * 3 * H + g * H + part.j0,
                      static_cast<size_t>(u) * sizeof(float));
      }
      out[d].push_back(std::move(part));
    }
  }
  return out;
}

double RnnLayer::lost_weight_fraction(bool recurrent) const {
  double lost = 0.0;
  for (const auto& direction : parts_)
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

// One call's division of labour: `size` threads per direction, directions run by separate teams
// at once (`parallel_directions`) or one after the other. Buffers are fetched from the workspace
// before any thread starts.
struct RnnLayer::Team {
  int size = 1;                      // threads per direction
  bool parallel_directions = false;  // both directions at once, each with its own `size` threads
  // How a direction's work is split: by hidden units (every thread owns partitions, all rows,
  // and the threads meet once per step), or by batch rows (every thread runs all partitions for
  // its own rows: the sequences are independent, so the threads never wait for each other).
  bool split_batch = false;
  PhaseScheduler* sched[2] = {nullptr, nullptr};
  const std::vector<std::vector<Partition>>* parts = nullptr;  // [direction][partition]: parts_ or whole_
  struct Buffers {
    // X·Wᵀ + bias. Up front for every step: per partition [seq*batch, G*units] at offset
    // seq*batch*G*j0. Per step (`step_projection`): per partition [batch, G*units] at offset
    // batch*G*j0, overwritten every step.
    float* xw;
    bool step_projection;
    float* hr;       // per partition: [batch, G*units] at offset batch*G*j0
    float* h[2];     // H_{t-1} and H_t, [batch, H] each, swapped every step
    float* c;        // LSTM cell state [batch, H]
    float* z;        // GRU: z [batch, H]
    float* r_or_rh;  // GRU: r or r ⊙ H_{t-1} [batch, H]
    float* hr_h;     // GRU, linear_before_reset=0: per partition [batch, units] at offset batch*j0
  } buf[2];
};

namespace {
// A team of threads pays off only when each timestep has enough work to outweigh one
// synchronisation, and the whole call enough to outweigh starting the team. Measured on this
// 2-core Zen 4 with lstmrt's own worker pool (batch 1, 100 steps, 2 threads vs 1):
// - blocks of calls alternated in one process: LSTM H=56-80 (50-102 kFLOP/step) 0.64-0.81x the
//   1-thread time; GRU H=60-64 (43-49 kFLOP) 0.74-0.90x; LSTM H=48 (37 kFLOP) 1.02x.
// - in the benchmark, with ONNX Runtime and PyTorch in the process: LSTM H=64 (66 kFLOP) went
//   from 124-140 to 77-102 us in every round, but GRU H=64 (49 kFLOP) from 96-122 us to 75-93
//   in some rounds and 148-239 in others. (With OpenMP's fork/join, LSTM H=64 had lost: 149 ->
//   163 us.) The slow rounds were the caller and its worker queued on one CPU, which the pool
//   now undoes (worker_pool.cc, move_off_cpu). Since then GRU H=64 gains in every benchmark run
//   (t1 -> t2: 93-107 -> 70-84 us, 3 runs), so the line is drawn below it, at 40 kFLOP.
// The whole call: one step (seq 1, batch 1) with and without a state, blocks of calls alternated
// in one process, two cores of one complex (core-to-core 60-68 ns), 2 threads / 1 thread:
// LSTM 66 kFLOP 1.01x, 102 kFLOP 0.94x, 131 kFLOP 0.84x, 262 kFLOP 0.72x; GRU 75-77 kFLOP
// 1.01-1.02x, 98 kFLOP 0.89x, 111 kFLOP 0.90x, 197 kFLOP 0.79x. (Before the scheduler kept its
// marks on lines of their own, GRU at 197 kFLOP had gained nothing, and the line stood at 240.)
// So calls below 90 kFLOP stay on one thread.
constexpr double kMinStepFlopsForThreads = 40000.0;
constexpr double kMinCallFlopsForThreads = 90000.0;
// A smaller call leaves a sleeping worker asleep unless calls come faster than its spin time
// (WakePolicy::WhenCallsAreFrequent). Calls 10 ms apart, so that the worker slept before each,
// 1 vs 2 threads, medians of 200 calls (the worker was too late for most of them either way):
// LSTM one step H128 (0.26 MFLOP) 107 vs 198 us, H256 147 vs 227, H512 461 vs 514, H1024
// (16.8 MFLOP) 1525 vs 1474; 100 steps H64 (6.5 MFLOP) 230 vs 285, H128 (26 MFLOP) 497 vs 532,
// H256 (105 MFLOP) 2142 vs 2093. Waking stops losing between 26 and 105 MFLOP.
constexpr double kMinCallFlopsToWakeWorkers = 32e6;
// Recurrent weights up to this size are read whole by every thread when the batch is split
// (half of a 1 MiB L2: the rest holds the input projections and states streaming past).
constexpr double kMaxSharedRecurrentBytes = 512.0 * 1024.0;
// With at least this many rows per thread, recurrent weights up to a whole L2 are shared too:
// a GEMM of 16 rows runs at the FMA peak with its weights half in L3 (time_gemm 16x1024x256:
// 109-112 GFLOP/s), and the threads no longer meet every step. With units split, each step's
// meeting waited for the slower core: 9.6% of the samples of LSTM H=256, batch 32, 2 threads
// sat in that spin (perf). Split rows against split units, alternated in one process, 2 threads,
// 100 steps: LSTM H=256 batch 32 17.1 -> 16.9 ms (other runs: 19.5 -> 18.0, 18.9 -> 18.0),
// batch 64 35.0 -> 34.3, batch 128 78.4 -> 71.2; LSTM H=192 batch 32 12.4 -> 11.0; GRU H=256
// batch 32 13.5 -> 13.3 (13.8 -> 13.0). Fewer rows lose or draw (LSTM H=256 batch 8: 4.5 ->
// 5.2 ms; batch 16: 8.7 -> 8.7 in one run, 10.3 -> 9.7 in another; batch 24: 13.3 -> 13.6), and
// weights past the L2 lose (LSTM H=320, batch 32: 27.0 -> 28.9).
constexpr double kMaxSharedRecurrentBytesManyRows = 1024.0 * 1024.0;
constexpr int64_t kMinRowsPerThreadToShareMore = 16;
// With at least this many rows per thread, each step projects its own timestep's inputs
// (X_t·Wᵀ) into a buffer that stays in cache, instead of one GEMM for all steps up front whose
// output (seq*batch*G*H floats: 13 MB at H=256, batch 32) streams through L3 twice. A GEMM of
// 8+ rows already runs near peak (time_gemm 8x1024x256: 108 GFLOP/s; 3200x1024x256: 91).
// Fewer rows keep the single GEMM, which reads W once per call instead of once per step.
constexpr int64_t kMinRowsForStepProjection = 8;
// ... and only while the input weights a thread multiplies fit in its L2 (1 MiB on Zen 4):
// beyond, reading them from L3 every step costs more than the big GEMM's output traffic
// (LSTM H=512, batch 32, 1 thread, W = 4 MB: 149 ms up front vs 159 ms per step; GRU H=1024,
// 2 threads: 330 vs 487 ms).
constexpr double kMaxStepProjectionWeightBytes = 1024.0 * 1024.0;
}  // namespace

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

  const int G = gate_count(cell_);
  const int64_t H = hidden_, batch = s.batch;
  const int split_parts = static_cast<int>(parts_[0].size());
  const double recurrent_flops = 2.0 * batch * G * H * H;  // H_{t-1}·Rᵀ
  const double step_flops = recurrent_flops + 2.0 * batch * G * H * input_;
  // Without an initial state the first step skips H_0·Rᵀ (it is zero).
  const double call_flops = step_flops * s.seq - (initial_h ? 0.0 : recurrent_flops);
  int wanted = resolve_threads(threads);
  if (step_flops < kMinStepFlopsForThreads || call_flops < kMinCallFlopsForThreads) wanted = 1;
  if (batch < 4) wanted = std::min(wanted, split_parts * num_dir_);  // unit split: one thread per partition at most
  ThreadClaim claim(wanted);
  WorkerTeam workers(claim.threads(), call_flops >= kMinCallFlopsToWakeWorkers ? WakePolicy::Always
                                                                               : WakePolicy::WhenCallsAreFrequent);
  const int T = workers.size();

  Team team;
  team.parts = T == 1 && !whole_.empty() ? &whole_ : &parts_;
  const int parts = static_cast<int>((*team.parts)[0].size());
  team.parallel_directions = num_dir_ == 2 && T >= 2;
  const int per_direction = team.parallel_directions ? T / 2 : T;
  // Rows split across threads when each thread gets a few rows for its GEMMs and a direction's
  // recurrent weights fit in one core's L2 cache next to the rest (each thread then reads all
  // of them every step), or fill it but each thread has rows enough to run its GEMMs at the
  // peak anyway; otherwise units split, so that each core keeps its share of R.
  const double r_bytes = bytes_per_weight(weights_) * G * H * H;
  const int64_t rows_each = batch / per_direction;
  team.split_batch = per_direction >= 2 && rows_each >= 4 &&
                     (r_bytes <= kMaxSharedRecurrentBytes ||
                      (rows_each >= kMinRowsPerThreadToShareMore && r_bytes <= kMaxSharedRecurrentBytesManyRows));
  team.size = std::max(1, team.split_batch ? per_direction : std::min(parts, per_direction));
  for (int d = 0; d < num_dir_; ++d) {
    team.sched[d] = &ws.scheduler(d);
    team.sched[d]->begin_call(parts, team.size);
  }

  // Scratch, per direction. Workspace::get may reallocate a slot, so everything is fetched here.
  const int64_t rows_per_thread = team.split_batch ? rows_each : batch;  // team.size = per_direction then
  const double w_bytes_per_thread = bytes_per_weight(weights_) * G * H * input_ / (team.split_batch ? 1 : team.size);
  for (int d = 0; d < num_dir_; ++d) {
    const int base = d * 8;
    Team::Buffers& b = team.buf[d];
    // Per-step projection needs one timestep for all rows at each step: not so for ragged
    // sequences read in reverse, which each start at their own last step.
    const bool reverse = direction_ == Direction::Reverse || d == 1;
    b.step_projection = rows_per_thread >= kMinRowsForStepProjection &&
                        w_bytes_per_thread <= kMaxStepProjectionWeightBytes && !(reverse && lens);
    const int64_t x_rows = b.step_projection ? batch : s.seq * batch;
    b.xw = ws.get(base + 0, static_cast<size_t>(x_rows * G * H));
    b.hr = ws.get(base + 1, static_cast<size_t>(batch * G * H));
    float* h = ws.get(base + 2, static_cast<size_t>(2 * batch * H));
    b.h[0] = h;
    b.h[1] = h + batch * H;
    b.c = cell_ == CellKind::LSTM ? ws.get(base + 3, static_cast<size_t>(batch * H)) : nullptr;
    b.z = cell_ == CellKind::GRU ? ws.get(base + 4, static_cast<size_t>(batch * H)) : nullptr;
    b.r_or_rh = cell_ == CellKind::GRU ? ws.get(base + 5, static_cast<size_t>(batch * H)) : nullptr;
    b.hr_h = cell_ == CellKind::GRU ? ws.get(base + 6, static_cast<size_t>(batch * H)) : nullptr;
  }

  const int total = team.parallel_directions ? 2 * team.size : team.size;
  if (total <= 1) {
    run_team(team, 0, s, X, lens, initial_h, initial_c, Y, Y_h, Y_c);
  } else {
    auto member = [&](int m) { run_team(team, m, s, X, lens, initial_h, initial_c, Y, Y_h, Y_c); };
    workers.run(total, member);
  }
  for (int d = 0; d < num_dir_; ++d) team.sched[d]->end_call();
}

// The work of one thread: `member` indexes the team (direction-major when directions run in
// parallel). Every member goes through the same phases; in each, it runs the partitions the
// scheduler gives it (its own, plus any a descheduled teammate left unclaimed).
void RnnLayer::run_team(const Team& team, int member, const RnnShapes& s, const float* X, const int32_t* lens,
                        const float* initial_h, const float* initial_c, float* Y, float* Y_h, float* Y_c) const {
  const KernelTable& kt = kernels();
  const int64_t H = hidden_, seq = s.seq, batch = s.batch;
  const int G = gate_count(cell_);
  const int k = activation_count(cell_);
  const bool lstm = cell_ == CellKind::LSTM, gru = cell_ == CellKind::GRU;
  const int local = team.parallel_directions ? member % team.size : member;
  const int d_begin = team.parallel_directions ? member / team.size : 0;
  const int d_end = team.parallel_directions ? d_begin + 1 : num_dir_;
  int64_t max_len = seq;
  if (lens) {
    max_len = 0;
    for (int64_t b = 0; b < batch; ++b) max_len = std::max<int64_t>(max_len, lens[b]);
  }
  auto len_of = [&](int64_t b) -> int64_t { return lens ? lens[b] : seq; };
  auto x_row = [&](int64_t t, int64_t b) { return layout_ == 0 ? t * batch + b : b * seq + t; };

  for (int d = d_begin; d < d_end; ++d) {
    const bool reverse = direction_ == Direction::Reverse || d == 1;
    const Activation* act = &acts_[d * k];
    const Team::Buffers& buf = team.buf[d];
    PhaseScheduler& sched = *team.sched[d];
    const std::vector<Partition>& all = (*team.parts)[d];
    auto y_at = [&](int64_t t, int64_t b) {
      return layout_ == 0 ? Y + ((t * num_dir_ + d) * batch + b) * H : Y + ((b * seq + t) * num_dir_ + d) * H;
    };
    auto state_at = [&](int64_t b) { return layout_ == 0 ? (d * batch + b) * H : (b * num_dir_ + d) * H; };
    auto time_of = [&](int64_t b, int64_t step) { return reverse ? len_of(b) - 1 - step : step; };
    // Where partition p's rows of X·Wᵀ and of H·Rᵀ live (see Team::Buffers).
    const bool step_projection = buf.step_projection;
    auto xw_of = [&](const Partition& part) { return buf.xw + (step_projection ? 1 : seq) * batch * G * part.j0; };
    auto hr_of = [&](const Partition& part) { return buf.hr + batch * G * part.j0; };
    // This thread's rows: all of them when units are split, its own share when rows are.
    const int64_t r0 = team.split_batch ? batch * local / team.size : 0;
    const int64_t r1 = team.split_batch ? batch * (local + 1) / team.size : batch;
    const int64_t rows = r1 - r0;
    // H_{t-1}·Rᵀ (or (r ⊙ H_{t-1})·R_hᵀ) for this thread's rows. One row sums in two chains,
    // starting with the chain that holds the partition's own units when they lie past the split;
    // several rows sum each row the same way, so that a row's bits do not depend on the batch.
    const int64_t split = recurrent_sum_split(H);
    auto recurrent = [&](const Partition& part, const float* A, int64_t lda, const PackedMatrix& m, float* C,
                         int64_t ldc) {
      // The two-chain order matters for float32 sums only: the low-precision GEMMs sum each
      // column the same way for any row count and any partition.
      if (m.type() != WeightType::F32) gemm(kt, rows, A, lda, m, nullptr, false, C, ldc, 1);
      else if (rows == 1) kt.recurrent_gemv(m.n(), m.k(), split, part.j0 >= split, A, m.panel(0), C);
      else kt.recurrent_gemm(rows, m.n(), m.k(), split, A, lda, m.panel(0), C, ldc);
    };
    // Runs fn(p) for the partitions of one phase: through the scheduler when units are split;
    // every partition in turn, for this thread's rows alone, when rows are.
    int64_t phase = sched.first_phase();
    auto run_phase = [&](auto&& fn) {
      if (team.split_batch) {
        for (size_t p = 0; p < all.size(); ++p) fn(static_cast<int>(p));
      } else {
        sched.run_phase(phase++, local, fn);
      }
    };

    // X·Wᵀ + bias for every timestep (layout 0 skips the steps past every length), and the
    // initial state of the partition's units. Partition-local: it runs inside the first step,
    // with no synchronisation of its own.
    const int64_t x_rows = layout_ == 0 ? max_len * batch : seq * batch;
    auto prepare = [&](const Partition& part) {
      const int64_t u = part.units, j0 = part.j0;
      if (step_projection) {
        // Done step by step below.
      } else if (rows == batch) {
        gemm(kt, x_rows, X, input_, part.w, part.bias.get(), false, xw_of(part), G * u, 1);
      } else if (layout_ == 1) {  // this thread's rows of X are one block
        gemm(kt, rows * seq, X + r0 * seq * input_, input_, part.w, part.bias.get(), false,
             xw_of(part) + r0 * seq * G * u, G * u, 1);
      } else {  // one block per timestep
        for (int64_t t = 0; t < max_len; ++t)
          gemm(kt, rows, X + (t * batch + r0) * input_, input_, part.w, part.bias.get(), false,
               xw_of(part) + (t * batch + r0) * G * u, G * u, 1);
      }
      for (int64_t b = r0; b < r1; ++b) {
        float* h = buf.h[0] + b * H + j0;
        if (initial_h) std::memcpy(h, initial_h + state_at(b) + j0, u * sizeof(float));
        else std::memset(h, 0, u * sizeof(float));
        if (lstm) {
          float* c = buf.c + b * H + j0;
          if (initial_c) std::memcpy(c, initial_c + state_at(b) + j0, u * sizeof(float));
          else std::memset(c, 0, u * sizeof(float));
        }
      }
    };
    // Y_h and Y_c for the partition's units, from its final H (and C). Partition-local too: it
    // runs inside the last step.
    auto finish = [&](const Partition& part, const float* h_final) {
      const size_t bytes = static_cast<size_t>(part.units) * sizeof(float);
      for (int64_t b = r0; b < r1; ++b) {
        if (Y_h) std::memcpy(Y_h + state_at(b) + part.j0, h_final + b * H + part.j0, bytes);
        if (Y_c && lstm) std::memcpy(Y_c + state_at(b) + part.j0, buf.c + b * H + part.j0, bytes);
      }
    };
    if (max_len == 0) {
      // No step runs (every length is 0): the final state is the initial one.
      run_phase([&](int p) {
        prepare(all[p]);
        finish(all[p], buf.h[0]);
      });
      continue;
    }
    // Step 0 reads H_0 for all units in place, so that no partition waits for the others'
    // copies of it into buf.h (a missing H_0 is zero: H_0·Rᵀ = 0).
    const float* h_init = initial_h ? initial_h + state_at(0) : nullptr;
    const int64_t h_init_ld = layout_ == 0 ? H : num_dir_ * H;

    int cur = 0;
    for (int64_t step = 0; step < max_len; ++step) {
      const float* h_cur = buf.h[cur];
      float* h_next = buf.h[cur ^ 1];
      // Finished rows keep their state; running rows publish H_t to Y.
      // After the last step, also the final state.
      auto publish = [&](const Partition& part) {
        const size_t bytes = static_cast<size_t>(part.units) * sizeof(float);
        for (int64_t b = r0; b < r1; ++b) {
          if (step >= len_of(b)) std::memcpy(h_next + b * H + part.j0, h_cur + b * H + part.j0, bytes);
          else if (Y) std::memcpy(y_at(time_of(b, step), b) + part.j0, h_next + b * H + part.j0, bytes);
        }
        if (step == max_len - 1) finish(part, h_next);
      };
      // Row b's X·Wᵀ + bias at this step.
      auto xw_row = [&](const Partition& part, int64_t b) {
        const int64_t Gu = G * part.units;
        return xw_of(part) + (step_projection ? b : x_row(time_of(b, step), b)) * Gu;
      };
      // X_t·Wᵀ + bias for this thread's rows (every row reads the same timestep here, see
      // Buffers::step_projection), then H_{t-1}·Rᵀ into the partition's rows of hr (`width`
      // columns each), then row(b, X·Wᵀ row, H·Rᵀ row) for every row still running at this step.
      auto for_running_rows = [&](const Partition& part, int64_t width, auto&& row) {
        if (step == 0) prepare(part);
        if (step_projection) {
          const int64_t Gu = G * part.units, t = time_of(r0, step);
          const bool batch_major = layout_ == 1;
          gemm(kt, rows, X + x_row(t, r0) * input_, batch_major ? seq * input_ : input_, part.w, part.bias.get(),
               false, xw_of(part) + r0 * Gu, Gu, 1);
        }
        float* hr = hr_of(part);
        if (step > 0)
          recurrent(part, h_cur + r0 * H, H, part.r, hr + r0 * width, width);
        else if (h_init)
          recurrent(part, h_init + r0 * h_init_ld, h_init_ld, part.r, hr + r0 * width, width);
        else
          std::memset(hr + r0 * width, 0, static_cast<size_t>(rows * width) * sizeof(float));
        for (int64_t b = r0; b < r1; ++b)
          if (step < len_of(b)) row(b, xw_row(part, b), hr + b * width);
      };
      if (lstm) {
        run_phase([&](int p) {
          const Partition& part = all[p];
          const int64_t u = part.units, j0 = part.j0;
          for_running_rows(part, G * u, [&](int64_t b, const float* xw, const float* hr) {
            LstmRowArgs a{xw, hr, buf.c + b * H + j0, buf.c + b * H + j0, h_next + b * H + j0, part.peephole.get(),
                          u, act[0], act[1], act[2], clip_, input_forget_};
            kt.lstm_row(a);
          });
          publish(part);
        });
      } else if (gru) {
        auto gru_args = [&](const Partition& part) {
          GruRowArgs a{};
          a.hidden = part.units;
          a.f = act[0];
          a.g = act[1];
          a.clip = clip_;
          a.linear_before_reset = linear_before_reset_;
          a.rb_h = part.rb_h.get();
          return a;
        };
        // z, r, and r ⊙ H_{t-1} (or r) for the partition's units.
        auto stage1 = [&](const Partition& part) {
          const int64_t u = part.units, j0 = part.j0;
          GruRowArgs a = gru_args(part);
          for_running_rows(part, linear_before_reset_ ? G * u : 2 * u,
                           [&](int64_t b, const float* xw, const float* hr) {
                             a.xw = xw;
                             a.hr_zr = hr;
                             a.h_prev = h_cur + b * H + j0;
                             a.z = buf.z + b * H + j0;
                             a.r_or_rh = buf.r_or_rh + b * H + j0;
                             kt.gru_row_stage1(a);
                           });
        };
        auto stage2 = [&](const Partition& part) {
          const int64_t u = part.units, j0 = part.j0, Gu = G * u;
          float* hr_h = buf.hr_h + batch * j0;
          if (!linear_before_reset_)
            recurrent(part, buf.r_or_rh + r0 * H, H, part.r_h, hr_h + r0 * u, u);
          GruRowArgs a = gru_args(part);
          for (int64_t b = r0; b < r1; ++b) {
            if (step >= len_of(b)) continue;
            a.xw = xw_row(part, b);
            a.hr_h = linear_before_reset_ ? hr_of(part) + b * Gu + 2 * u : hr_h + b * u;
            a.h_prev = h_cur + b * H + j0;
            a.z = buf.z + b * H + j0;
            a.r_or_rh = buf.r_or_rh + b * H + j0;
            a.h_out = h_next + b * H + j0;
            kt.gru_row_stage2(a);
          }
          publish(part);
        };
        if (linear_before_reset_) {
          run_phase([&](int p) {
            stage1(all[p]);
            stage2(all[p]);
          });
        } else {
          // R_h multiplies r ⊙ H_{t-1} over all units: every partition's stage 1 must be done.
          run_phase([&](int p) { stage1(all[p]); });
          run_phase([&](int p) { stage2(all[p]); });
        }
      } else {
        run_phase([&](int p) {
          const Partition& part = all[p];
          for_running_rows(part, part.units, [&](int64_t b, const float* xw, const float* hr) {
            RnnRowArgs a{xw, hr, h_next + b * H + part.j0, part.units, act[0], clip_};
            kt.rnn_row(a);
          });
          publish(part);
        });
      }
      cur ^= 1;
    }
  }
}

}  // namespace lstmrt

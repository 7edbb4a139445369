// Conv (1-D, 2-D and N-D, grouped and depthwise) as im2row over the packed GEMM: each output
// position's window becomes one row of a scratch matrix, which multiplies the constant weights
// packed once at load.
#include <algorithm>
#include <cmath>

#include "builders.h"
#include "conv_columns.h"
#include "conv_dft.h"
#include "conv_shifted.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"
#include "cpu/threading.h"
#include "op_util.h"
#include "window.h"

namespace lstmrt {

namespace {

// The shapes of one Conv run: channels and groups checked against the weights.
struct ConvShape {
  int64_t batch, channels, out_channels, group_in, group_out;
};

// rows[p - p0][c * KS + k] = the input plane of channel c at window position k of output
// position p, for p in [p0, p1), zero where the window reads padding. `x` points at the group's
// first input channel.
void im2row(const float* x, int64_t channels, const Window& w, const int64_t* table, int64_t p0, int64_t p1,
            float* rows) {
  const int64_t KS = w.kernel_count, plane = w.in_count;
  const int64_t width = channels * KS;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t* offs = table + p * KS;
    float* row = rows + (p - p0) * width;
    for (int64_t c = 0; c < channels; ++c) {
      const float* xc = x + c * plane;
      float* r = row + c * KS;
      for (int64_t k = 0; k < KS; ++k) r[k] = offs[k] >= 0 ? xc[offs[k]] : 0.0f;
    }
  }
}

// window_segments' output lives in an int64 scratch tensor, two elements per segment.
static_assert(sizeof(WindowSegment) == 2 * sizeof(int64_t), "WindowSegment is stored as two int64");

// What every Conv of a run state packs its windows into (one column operand per thread) or pads
// its input into: one set for all of them, still in cache when the next Conv runs.
struct ConvScratch final : OpState {
  std::vector<PackedMatrix> cols;
  ShiftedScratch shifted;
};

// The two ways to lay one group's product on the GEMM: output positions as its rows and
// channels in its 16-wide column panels (then transposed into Y), or channels as rows and
// positions in the panels (Y comes out as it lies). Panels of positions pay when there are many
// positions; a handful (Silero VAD's filter bank: 4 positions, 258 channels) would fill a panel
// with zeros.
bool positions_in_panels(int64_t positions, int64_t channels) {
  return positions >= 4 * kPanelWidth && positions >= channels / 4;
}

// out[m][p] = bias + the window of p in the single input channel x, weighted by w[m]: the
// depthwise case (one input channel per group), where a GEMM per group would be a thin one.
// The kernel positions go outermost, each adding its term to the whole output row, so that
// every output keeps the order bias, k = 0, 1, ...; positions go kPanelWidth at a time, as
// window_runs groups them, and a stretch of contiguous runs is one call of the kernel table's
// vector multiply-add.
void depthwise(const float* x, const float* w, const float* bias, int64_t Mg, const Window& wd,
               const int64_t* table, const int64_t* runs, float* out) {
  const int64_t P = wd.out_count, KS = wd.kernel_count, step = wd.stride.back();
  const KernelTable& kt = kernels();
  for (int64_t m = 0; m < Mg; ++m) {
    const float* wm = w + m * KS;
    float* y = out + m * P;
    std::fill(y, y + P, bias ? bias[m] : 0.0f);
    for (int64_t k = 0; k < KS; ++k) {
      const float wk = wm[k];
      for (int64_t first = 0; first < P;) {
        int64_t count = std::min<int64_t>(kPanelWidth, P - first);
        const int64_t run = runs[first / kPanelWidth * KS + k];
        float* d = y + first;
        if (run >= 0 && step == 1) {
          // Consecutive groups whose runs continue this one make one contiguous stretch.
          while (first + count < P && runs[(first + count) / kPanelWidth * KS + k] == run + count)
            count += std::min<int64_t>(kPanelWidth, P - first - count);
          kt.add_scaled(d, x + run, wk, count);
        } else if (run >= 0) {
          const float* src = x + run;
          for (int64_t j = 0; j < count; ++j) d[j] += src[j * step] * wk;
        } else {
          const int64_t* offs = table + first * KS + k;
          for (int64_t j = 0; j < count; ++j)
            if (offs[j * KS] >= 0) d[j] += x[offs[j * KS]] * wk;
        }
        first += count;
      }
    }
  }
}

class ConvOp final : public Op {
 public:
  explicit ConvOp(const BuildContext& ctx) : spec_(WindowSpec::from_node(ctx, false)), group_(ctx.get_int("group", 1)) {
    if (group_ < 1) ctx.fail("group must be positive, got " + std::to_string(group_));
    const Tensor* W = ctx.constant(1);
    if (W) check_weights(ctx, *W);
    const Tensor* B = ctx.constant(2);
    if (W && B) check_bias(ctx, *B, W->dim(0));
    // An STFT spelled as a Conv: one waveform channel, no bias, windowed DFT rows.
    if (W && W->dtype() == DType::Float32 && W->rank() == 3 && W->dim(1) == 1 && group_ == 1 && !ctx.has_input(2))
      dft_ = detect_dft_weights(W->data<float>(), W->dim(0), W->dim(2));
    if (W && W->dtype() == DType::Float32 && (!ctx.has_input(2) || B)) {
      pack(*W, B, ctx.weight_type());
      double lost = 0.0;
      for (const PackedMatrix& p : packed_) lost = std::max(lost, p.lost_weight_fraction());
      ctx.warn_if_int8_lost(lost, "W");
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    const Tensor& W = *in[1];
    const Tensor* B = in.size() > 2 ? in[2] : nullptr;
    check_conv_operands(X, W);
    const ConvShape cs = conv_shape(X, W);
    if (B) {
      expect_dtype(*B, DType::Float32, "B");
      if (B->rank() != 1 || B->dim(0) != cs.out_channels)
        throw ValueError("B of shape " + shape_to_string(B->shape()) + " does not match the " +
                         std::to_string(cs.out_channels) + " output channels");
    }
    const Dims in_sp(X.shape().data() + 2, X.rank() - 2);
    const Dims k_sp(W.shape().data() + 2, W.rank() - 2);
    if (!spec_.kernel.empty() && Dims(spec_.kernel) != k_sp)
      throw ValueError("kernel_shape " + shape_to_string(Shape(spec_.kernel)) + " does not match W of shape " +
                       shape_to_string(W.shape()));
    const Window w = resolve_window(spec_, in_sp, k_sp);
    DimVector shape;
    shape.push_back(cs.batch);
    shape.push_back(cs.out_channels);
    for (int64_t o : w.out) shape.push_back(o);
    checked_mul(checked_mul(cs.batch, cs.out_channels, "the output"), w.out_count, "the output");
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, shape);
    if (Y.numel() == 0) return;
    const int64_t P = w.out_count, KS = w.kernel_count, Kg = checked_mul(cs.group_in, KS, "the window row");
    checked_mul(P, Kg, "the window rows");
    ctx.scratch_tensor(4);  // sizes the scratch list first: growing it would move the tensors
    Tensor& table = ctx.scratch_tensor(0);
    Tensor& runs = ctx.scratch_tensor(3);
    Tensor& segs = ctx.scratch_tensor(4);
    TableMemo& memo = table_memo(ctx);
    if (!memo.same(in_sp, k_sp)) {
      table.ensure(DType::Int64, {P, KS});
      window_offsets(w, table.data<int64_t>(), nullptr);
      runs.ensure(DType::Int64, {(P + kPanelWidth - 1) / kPanelWidth, KS});
      window_runs(w, table.data<int64_t>(), kPanelWidth, w.stride.back(), runs.data<int64_t>());
      // Two WindowSegments (16 bytes each) per panel and kernel position, in int64 storage.
      segs.ensure(DType::Int64, {(P + kPanelWidth - 1) / kPanelWidth, KS, 4});
      window_segments(w, table.data<int64_t>(), w.stride.back(), reinterpret_cast<WindowSegment*>(segs.data<int64_t>()));
      memo.valid = true;
    }
    if (dft_ && dft_frames_apply(w)) {
      by_dft_frames(X, cs, w, ctx.shared_scratch<FrameFftWork>(), Y, resolve_threads(ctx.threads));
      return;
    }
    // A single group of one input channel (a waveform into a filter bank, an image's first layer)
    // is one full GEMM, far faster than the per-channel loop.
    if (cs.group_in == 1 && group_ > 1) {
      const float* bias = B ? B->data<float>() : nullptr;
      for (int64_t n = 0; n < cs.batch; ++n)
        for (int64_t g = 0; g < group_; ++g)
          depthwise(X.data<float>() + (n * cs.channels + g) * w.in_count, W.data<float>() + g * cs.group_out * KS,
                    bias ? bias + g * cs.group_out : nullptr, cs.group_out, w, table.data<int64_t>(),
                    runs.data<int64_t>(), Y.data<float>() + (n * cs.out_channels + g * cs.group_out) * P);
      return;
    }
    // That path multiplies float32 weights as the row operand: weights packed in a lower
    // precision take the position-major path, where they are the packed operand.
    const bool low_precision = has_packed_ && packed_[0].type() != WeightType::F32;
    if (positions_in_panels(P, cs.group_out) && !low_precision) {
      by_channel_rows(X, W, B, cs, w, table.data<int64_t>(), reinterpret_cast<const WindowSegment*>(segs.data<int64_t>()),
                      ctx.shared_scratch<ConvScratch>(), Y, resolve_threads(ctx.threads));
      return;
    }
    by_position_blocks(X, W, B, cs, w, table.data<int64_t>(), Kg, Y, ctx);
  }

 private:
  // The general path: per group, blocks of output positions gathered into rows (im2row) and
  // multiplied by the group's weights, then transposed into Y's channel planes.
  void by_position_blocks(const Tensor& X, const Tensor& W, const Tensor* B, const ConvShape& cs, const Window& w,
                          const int64_t* table, int64_t Kg, Tensor& Y, RunContext& ctx) const {
    const int64_t P = w.out_count;
    // Output positions per block: at least one row, at most all of them.
    const int64_t block = std::min(P, std::max<int64_t>(1, kWindowBlockFloats / std::max<int64_t>(Kg, 1)));
    Tensor& rows = ctx.scratch_tensor(1);
    rows.ensure(DType::Float32, {block, std::max<int64_t>(Kg, 1)});
    Tensor& prod = ctx.scratch_tensor(2);
    prod.ensure(DType::Float32, {block, cs.group_out});
    const int threads = resolve_threads(ctx.threads);
    for (int64_t n = 0; n < cs.batch; ++n) {
      for (int64_t g = 0; g < group_; ++g) {
        const float* x = X.data<float>() + (n * cs.channels + g * cs.group_in) * w.in_count;
        float* y = Y.data<float>() + (n * cs.out_channels + g * cs.group_out) * P;
        for (int64_t p0 = 0; p0 < P; p0 += block) {
          const int64_t p1 = std::min(P, p0 + block);
          im2row(x, cs.group_in, w, table, p0, p1, rows.data<float>());
          multiply(W, B, g, cs, p1 - p0, Kg, rows.data<float>(), prod.data<float>(), threads);
          // prod is [block][group_out]; Y wants each output channel's plane contiguous.
          const float* q = prod.data<float>();
          for (int64_t m = 0; m < cs.group_out; ++m)
            for (int64_t p = p0; p < p1; ++p) y[m * P + p] = q[(p - p0) * cs.group_out + m];
        }
      }
    }
  }

  void check_weights(const BuildContext& ctx, const Tensor& W) const {
    if (W.rank() < 3) ctx.fail("W must have rank 3 or more (M, C/group, kernel...), got shape " + shape_to_string(W.shape()));
    if (W.dim(0) % group_ != 0)
      ctx.fail("W has " + std::to_string(W.dim(0)) + " output channels, not a multiple of group " + std::to_string(group_));
    try {
      spec_.check_rank(W.rank() - 2);
    } catch (const ValueError& e) {
      ctx.fail(e.what());
    }
    if (!spec_.kernel.empty() && Dims(spec_.kernel) != Dims(W.shape().data() + 2, W.rank() - 2))
      ctx.fail("kernel_shape " + shape_to_string(Shape(spec_.kernel)) + " does not match W of shape " +
               shape_to_string(W.shape()));
  }

  static void check_bias(const BuildContext& ctx, const Tensor& B, int64_t m) {
    if (B.rank() != 1 || B.dim(0) != m)
      ctx.fail("B of shape " + shape_to_string(B.shape()) + " does not match the " + std::to_string(m) +
               " output channels");
  }

  // Packs each group's weights [group_out][C/group * KS], as they lie in W, for the GEMM.
  void pack(const Tensor& W, const Tensor* B, WeightType type) {
    const int64_t M = W.dim(0), Mg = M / group_, Kg = W.numel() / std::max<int64_t>(M, 1);
    if (Mg == 0 || Kg == 0) return;
    for (int64_t g = 0; g < group_; ++g) packed_.emplace_back(W.data<float>() + g * Mg * Kg, Mg, Kg, Kg, type);
    if (B) bias_.assign(B->data<float>(), B->data<float>() + M);
    has_packed_ = true;
    const float* w = W.data<float>();
    finite_weights_ = std::all_of(w, w + W.numel(), [](float v) { return std::isfinite(v); });
  }

  ConvShape conv_shape(const Tensor& X, const Tensor& W) const {
    ConvShape cs;
    cs.batch = X.dim(0);
    cs.channels = X.dim(1);
    cs.out_channels = W.dim(0);
    cs.group_in = W.dim(1);
    if (cs.out_channels % group_ != 0)
      throw ValueError("W has " + std::to_string(cs.out_channels) + " output channels, not a multiple of group " +
                       std::to_string(group_));
    cs.group_out = cs.out_channels / group_;
    if (checked_mul(cs.group_in, group_, "the input channels") != cs.channels)
      throw ValueError("X has " + std::to_string(cs.channels) + " channels but W of shape " + shape_to_string(W.shape()) +
                       " with group " + std::to_string(group_) + " expects " + std::to_string(cs.group_in * group_));
    return cs;
  }

  // Y[2 bins][P]: the FFTs of the windowed frames (dft_).
  void by_dft_frames(const Tensor& X, const ConvShape& cs, const Window& w, FrameFftWork& work, Tensor& Y,
                     int threads) const {
    for (int64_t n = 0; n < cs.batch; ++n) {
      ChannelRows a;
      a.x = X.data<float>() + n * w.in_count;
      a.channels = 1;
      a.out_channels = cs.out_channels;
      a.window = &w;
      a.y = Y.data<float>() + n * cs.out_channels * w.out_count;
      a.finite_weights = true;  // detect_dft_weights takes finite windows only
      multiply_dft_frames(a, *dft_, work, threads);
    }
  }

  // Y_g[group_out][P] = W_g · (the windows) + B_g, positions in the GEMM's column panels.
  void by_channel_rows(const Tensor& X, const Tensor& W, const Tensor* B, const ConvShape& cs, const Window& w,
                       const int64_t* table, const WindowSegment* segs, ConvScratch& scratch, Tensor& Y,
                       int threads) const {
    const bool shifted = shifted_rows_apply(w, cs.group_out, cs.group_in * w.kernel_count);
    const int64_t P = w.out_count, Kg = cs.group_in * w.kernel_count;
    for (int64_t n = 0; n < cs.batch; ++n) {
      for (int64_t g = 0; g < group_; ++g) {
        ChannelRows a;
        a.x = X.data<float>() + (n * cs.channels + g * cs.group_in) * w.in_count;
        a.w = W.data<float>() + g * cs.group_out * Kg;
        a.bias = B ? B->data<float>() + g * cs.group_out : nullptr;
        a.channels = cs.group_in;
        a.out_channels = cs.group_out;
        a.window = &w;
        a.table = table;
        a.segs = segs;
        a.y = Y.data<float>() + (n * cs.out_channels + g * cs.group_out) * P;
        a.finite_weights = finite_weights_;
        if (shifted)
          multiply_shifted_rows(a, scratch.shifted, threads);
        else
          multiply_channel_rows(a, scratch.cols, threads);
      }
    }
  }

  // prod[P][group_out] = rows[P][Kg] · W_gᵀ + B_g, for P rows.
  void multiply(const Tensor& W, const Tensor* B, int64_t g, const ConvShape& cs, int64_t P, int64_t Kg,
                const float* rows, float* prod, int threads) const {
    const int64_t Mg = cs.group_out;
    if (has_packed_) {
      gemm(kernels(), P, rows, Kg, packed_[g], bias_.empty() ? nullptr : bias_.data() + g * Mg, false, prod, Mg, threads);
      return;
    }
    // Weights computed in the graph: a plain product (no packing per run).
    const float* wg = W.data<float>() + g * Mg * Kg;
    const float* bg = B ? B->data<float>() + g * Mg : nullptr;
    for (int64_t p = 0; p < P; ++p) {
      const float* r = rows + p * Kg;
      for (int64_t m = 0; m < Mg; ++m) {
        const float* wm = wg + m * Kg;
        float acc = bg ? bg[m] : 0.0f;
        for (int64_t k = 0; k < Kg; ++k) acc += r[k] * wm[k];
        prod[p * Mg + m] = acc;
      }
    }
  }

  WindowSpec spec_;
  int64_t group_;
  std::optional<DftConv> dft_;  // constant weights that are a windowed DFT
  bool has_packed_ = false;
  bool finite_weights_ = false;  // constant weights, all finite (ChannelRows::finite_weights)
  std::vector<PackedMatrix> packed_;  // one per group
  std::vector<float> bias_;
};

}  // namespace

OpPtr build_conv(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  ctx.require_input(1, "W");
  return std::make_unique<ConvOp>(ctx);
}

}  // namespace lstmrt

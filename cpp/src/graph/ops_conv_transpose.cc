// ConvTranspose (1-D, 2-D and N-D, grouped) as a GEMM followed by col2im: each input position's
// channels multiply the weights (packed once at load when constant) into a row of kernel-sized
// contributions, which are then added into the output at the window's positions.
#include <algorithm>
#include <cstring>

#include "builders.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"
#include "cpu/threading.h"
#include "op_util.h"
#include "window.h"

namespace lstmrt {

namespace {

class ConvTransposeOp final : public Op {
 public:
  explicit ConvTransposeOp(const BuildContext& ctx)
      : spec_(WindowSpec::from_node(ctx, false)),
        group_(ctx.get_int("group", 1)),
        output_padding_(ctx.get_ints("output_padding")),
        output_shape_(ctx.get_ints("output_shape")) {
    if (group_ < 1) ctx.fail("group must be positive, got " + std::to_string(group_));
    for (int64_t p : output_padding_)
      if (p < 0) ctx.fail("output_padding must not be negative, got " + shape_to_string(Shape(output_padding_)));
    for (int64_t o : output_shape_)
      if (o < 0) ctx.fail("output_shape must not be negative, got " + shape_to_string(Shape(output_shape_)));
    const Tensor* W = ctx.constant(1);
    if (W) {
      if (W->rank() < 3) ctx.fail("W must have rank 3 or more (C, M/group, kernel...), got shape " + shape_to_string(W->shape()));
      if (W->dim(0) % group_ != 0)
        ctx.fail("W has " + std::to_string(W->dim(0)) + " input channels, not a multiple of group " + std::to_string(group_));
      try {
        check_rank(W->rank() - 2);
      } catch (const ValueError& e) {
        ctx.fail(e.what());
      }
      if (W->dtype() == DType::Float32) pack(*W);
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    const Tensor& W = *in[1];
    const Tensor* B = in.size() > 2 ? in[2] : nullptr;
    check_conv_operands(X, W);
    const size_t dims = X.rank() - 2;
    check_rank(dims);
    const int64_t C = X.dim(1), N = X.dim(0);
    if (W.dim(0) != C || C % group_ != 0)
      throw ValueError("X has " + std::to_string(C) + " channels but W has shape " + shape_to_string(W.shape()) +
                       " (its first dim must be the channels, a multiple of group " + std::to_string(group_) + ")");
    const int64_t Cg = C / group_, Mg = W.dim(1), M = checked_mul(Mg, group_, "the output channels");
    if (B) {
      expect_dtype(*B, DType::Float32, "B");
      if (B->rank() != 1 || B->dim(0) != M)
        throw ValueError("B of shape " + shape_to_string(B->shape()) + " does not match the " + std::to_string(M) +
                         " output channels");
    }
    const Window w = geometry(X, W);
    DimVector shape;
    shape.push_back(N);
    shape.push_back(M);
    for (int64_t o : w.in) shape.push_back(o);
    checked_mul(checked_mul(N, M, "the output"), w.in_count, "the output");
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, shape);
    if (Y.numel() == 0) return;
    std::memset(Y.raw(), 0, Y.nbytes());
    const int64_t P = w.out_count, KS = w.kernel_count, R = checked_mul(Mg, KS, "the contribution row");
    checked_mul(P, R, "the contribution rows");
    ctx.scratch_tensor(2);  // sizes the scratch list first: growing it would move the tensors
    Tensor& table = ctx.scratch_tensor(0);
    TableMemo& memo = table_memo(ctx);
    if (!memo.same(Dims(X.shape().data() + 2, dims), Dims(W.shape().data() + 2, dims))) {
      table.ensure(DType::Int64, {P, KS});
      window_offsets(w, table.data<int64_t>(), nullptr);
      memo.valid = true;
    }
    Tensor& xt = ctx.scratch_tensor(1);
    xt.ensure(DType::Float32, {P, std::max<int64_t>(Cg, 1)});
    Tensor& cols = ctx.scratch_tensor(2);
    cols.ensure(DType::Float32, {P, std::max<int64_t>(R, 1)});
    const int threads = resolve_threads(ctx.threads);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < group_; ++g) {
        // xt[p][c] = X[n][g*Cg + c][p]: the GEMM wants each input position's channels in a row.
        const float* x = X.data<float>() + (n * C + g * Cg) * P;
        float* t = xt.data<float>();
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t p = 0; p < P; ++p) t[p * Cg + c] = x[c * P + p];
        multiply(W, g, P, Cg, R, t, cols.data<float>(), threads);
        col2im(cols.data<float>(), table.data<int64_t>(), P, KS, Mg, w.in_count,
               Y.data<float>() + (n * M + g * Mg) * w.in_count);
      }
    if (B)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
          float* y = Y.data<float>() + (n * M + m) * w.in_count;
          for (int64_t i = 0; i < w.in_count; ++i) y[i] += B->data<float>()[m];
        }
  }

 private:
  void check_rank(size_t dims) const {
    spec_.check_rank(dims);
    const std::string d = " for a " + std::to_string(dims) + "-D ConvTranspose";
    if (!output_padding_.empty() && output_padding_.size() != dims)
      throw ValueError("output_padding has " + std::to_string(output_padding_.size()) + " entries, expected " +
                       std::to_string(dims) + d);
    if (!output_shape_.empty() && output_shape_.size() != dims && output_shape_.size() != dims + 2)
      throw ValueError("output_shape has " + std::to_string(output_shape_.size()) + " entries, expected " +
                       std::to_string(dims) + d);
  }

  // The transposed convolution's output size and pads, expressed as the forward window that
  // maps each output position to the input positions it reads: `in` is the output's spatial
  // size and `out` the input's, so window_offsets gives, per input position and kernel position,
  // the output element it adds to.
  Window geometry(const Tensor& X, const Tensor& W) const {
    const size_t dims = X.rank() - 2;
    Window w;
    for (size_t d = 0; d < dims; ++d) {
      const int64_t in = X.dim(d + 2), k = spec_.kernel.empty() ? W.dim(d + 2) : spec_.kernel[d];
      if (!spec_.kernel.empty() && spec_.kernel[d] != W.dim(d + 2))
        throw ValueError("kernel_shape " + shape_to_string(Shape(spec_.kernel)) + " does not match W of shape " +
                         shape_to_string(W.shape()));
      const int64_t s = spec_.strides.empty() ? 1 : spec_.strides[d];
      const int64_t dil = spec_.dilations.empty() ? 1 : spec_.dilations[d];
      const int64_t adj = output_padding_.empty() ? 0 : output_padding_[d];
      if (adj >= std::max(s, dil))
        throw ValueError("output_padding " + shape_to_string(Shape(output_padding_)) +
                         " must be smaller than the stride or the dilation along each axis");
      const int64_t full = checked_add(checked_add(checked_mul(std::max<int64_t>(in - 1, 0), s, "the output"), adj, "the output"),
                                       checked_mul(k - 1, dil, "the dilated kernel") + 1, "the output");
      int64_t pb = spec_.pads.empty() ? 0 : spec_.pads[d], pe = spec_.pads.empty() ? 0 : spec_.pads[dims + d];
      int64_t size;
      const bool same = spec_.auto_pad == AutoPad::SameUpper || spec_.auto_pad == AutoPad::SameLower;
      if (!output_shape_.empty() || same) {
        // The pads follow from the size asked for; an odd one goes at the end for SAME_UPPER
        // and at the beginning otherwise, where ONNX Runtime places it.
        // Without output_shape the size asked for is in * stride; when the full output is
        // shorter than that, it stays the full output.
        size = !output_shape_.empty() ? output_shape_[output_shape_.size() - dims + d] : checked_mul(in, s, "the output");
        const int64_t total = std::max<int64_t>(0, full - size);
        if (spec_.auto_pad == AutoPad::SameUpper) {
          pb = total / 2;
          pe = total - total / 2;
        } else {
          pb = total - total / 2;
          pe = total / 2;
        }
        if (output_shape_.empty()) size = full - pb - pe;
      } else {
        if (spec_.auto_pad == AutoPad::Valid) pb = pe = 0;
        size = full - pb - pe;
      }
      if (size < 0)
        throw ValueError("the output's spatial dim " + std::to_string(d) + " would be " + std::to_string(size) +
                         " (pads larger than the output)");
      w.add_dim(size, in, k, s, dil, pb, pe);
      w.in_count = checked_mul(w.in_count, size, "the output");
      w.out_count = checked_mul(w.out_count, in, "the input");
      w.kernel_count = checked_mul(w.kernel_count, k, "the kernel");
    }
    checked_mul(w.out_count, w.kernel_count, "the window table");
    return w;
  }

  // Packs each group's weights transposed, [Mg * KS][Cg], so that one GEMM row of an input
  // position's channels gives all its contributions.
  void pack(const Tensor& W) {
    const int64_t C = W.dim(0), Cg = C / group_, R = W.numel() / std::max<int64_t>(C, 1);
    if (Cg == 0 || R == 0) return;
    std::vector<float> t(static_cast<size_t>(R * Cg));
    for (int64_t g = 0; g < group_; ++g) {
      const float* wg = W.data<float>() + g * Cg * R;
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < R; ++r) t[r * Cg + c] = wg[c * R + r];
      packed_.emplace_back(t.data(), R, Cg, Cg);
    }
  }

  // cols[P][R] = xt[P][Cg] · W_g (W_g is [Cg][R] as it lies in W).
  void multiply(const Tensor& W, int64_t g, int64_t P, int64_t Cg, int64_t R, const float* xt, float* cols,
                int threads) const {
    if (!packed_.empty()) {
      gemm(kernels(), P, xt, Cg, packed_[g], nullptr, false, cols, R, threads);
      return;
    }
    const float* wg = W.data<float>() + g * Cg * R;
    for (int64_t p = 0; p < P; ++p) {
      float* row = cols + p * R;
      std::fill(row, row + R, 0.0f);
      for (int64_t c = 0; c < Cg; ++c) {
        const float a = xt[p * Cg + c];
        const float* wc = wg + c * R;
        for (int64_t r = 0; r < R; ++r) row[r] += a * wc[r];
      }
    }
  }

  // Adds each contribution cols[p][m * KS + k] to output channel m at the position that kernel
  // position k of input position p reaches (none where it falls in the pads).
  static void col2im(const float* cols, const int64_t* table, int64_t P, int64_t KS, int64_t Mg, int64_t plane,
                     float* y) {
    for (int64_t p = 0; p < P; ++p) {
      const int64_t* offs = table + p * KS;
      const float* row = cols + p * Mg * KS;
      for (int64_t m = 0; m < Mg; ++m) {
        float* ym = y + m * plane;
        const float* r = row + m * KS;
        for (int64_t k = 0; k < KS; ++k)
          if (offs[k] >= 0) ym[offs[k]] += r[k];
      }
    }
  }

  WindowSpec spec_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;
  std::vector<PackedMatrix> packed_;  // one per group, when W is constant
};

}  // namespace

OpPtr build_conv_transpose(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  ctx.require_input(1, "W");
  return std::make_unique<ConvTransposeOp>(ctx);
}

}  // namespace lstmrt

// Conv (1-D and 2-D, groups, strides, dilations, pads and auto_pad) on the core's packed GEMM:
// Y[m][s] = sum_k W[m][k] * col[k][s], with the weights as the GEMM's row operand and each
// image's input unrolled (im2col) straight into the packed column operand, 16 output positions a
// panel. The output then comes out channel-major as ONNX lays it, and a panel of stride-1
// positions in one row copies 16 contiguous inputs at a time.
#include <algorithm>
#include <cstring>

#include "builders.h"
#include "lstmrt/gemm.h"
#include "lstmrt/kernels.h"
#include "lstmrt/packed_matrix.h"
#include "lstmrt/threading.h"
#include "op_util.h"

namespace lstmrt {

namespace {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

// The geometry of one spatial dimension: input and output sizes, kernel, stride, dilation and the
// padding before it.
struct ConvDim {
  int64_t in = 1, out = 1, kernel = 1, stride = 1, dilation = 1, pad = 0;
};

// Output size and leading pad of one dimension, from the attributes (pads: begin, end).
ConvDim conv_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t pad_end,
                 AutoPad mode) {
  ConvDim d;
  d.in = in;
  d.kernel = kernel;
  d.stride = stride;
  d.dilation = dilation;
  const int64_t span = (kernel - 1) * dilation + 1;
  if (mode == AutoPad::SameUpper || mode == AutoPad::SameLower) {
    d.out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (d.out - 1) * stride + span - in);
    d.pad = mode == AutoPad::SameUpper ? total / 2 : total - total / 2;
  } else {
    if (mode == AutoPad::Valid) pad_begin = pad_end = 0;
    d.pad = pad_begin;
    const int64_t padded = in + pad_begin + pad_end;
    if (padded < span)
      throw ValueError("the kernel spans " + std::to_string(span) + " inputs, more than the " + std::to_string(padded) +
                       " a dimension of size " + std::to_string(in) + " has with its pads");
    d.out = (padded - span) / stride + 1;
  }
  return d;
}

// Packs panel p of one image's unrolled input (channels [0, channels) of x): for each channel and
// kernel position k, the inputs that output positions 16p .. 16p + 15 read (zero in the padding
// and past the last position).
void pack_panel(const float* x, int64_t channels, const ConvDim& h, const ConvDim& w, int64_t p, float* panel) {
  const int64_t S = h.out * w.out, s0 = p * kPanelWidth;
  const int64_t count = std::min<int64_t>(kPanelWidth, S - s0);
  int64_t ih0[kPanelWidth], iw0[kPanelWidth];
  for (int64_t j = 0; j < kPanelWidth; ++j) {
    const int64_t s = std::min(s0 + j, S - 1);
    ih0[j] = (s / w.out) * h.stride - h.pad;
    iw0[j] = (s % w.out) * w.stride - w.pad;
  }
  // Whether the panel's positions lie in one output row, one input apart: then each kernel
  // position reads 16 contiguous inputs.
  const bool one_row = count == kPanelWidth && w.stride == 1 && ih0[0] == ih0[kPanelWidth - 1];
  float* dst = panel;
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * h.in * w.in;
    for (int64_t kh = 0; kh < h.kernel; ++kh) {
      for (int64_t kw = 0; kw < w.kernel; ++kw, dst += kPanelWidth) {
        const int64_t dh = kh * h.dilation, dw = kw * w.dilation;
        const int64_t ih = ih0[0] + dh, iw = iw0[0] + dw;
        if (one_row && ih >= 0 && ih < h.in && iw >= 0 && iw + kPanelWidth <= w.in) {
          std::memcpy(dst, plane + ih * w.in + iw, kPanelWidth * sizeof(float));
          continue;
        }
        for (int64_t j = 0; j < kPanelWidth; ++j) {
          const int64_t a = ih0[j] + dh, b = iw0[j] + dw;
          dst[j] = j < count && a >= 0 && a < h.in && b >= 0 && b < w.in ? plane[a * w.in + b] : 0.0f;
        }
      }
    }
  }
}

// The unrolled input of one image and group, packed as the GEMM's column operand.
void pack_im2col(const float* x, int64_t channels, const ConvDim& h, const ConvDim& w, PackedMatrix& col,
                 int threads) {
  col.resize(h.out * w.out, channels * h.kernel * w.kernel);
  // A panel costs a few hundred nanoseconds per channel: spreading fewer than a few thousand
  // floats of them over threads costs more than it saves.
  const int workers = col.k() * kPanelWidth * col.panels() >= 65536 ? threads : 1;
  parallel_for(col.panels(), workers, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) pack_panel(x, channels, h, w, p, col.mutable_panel(p));
  });
}

// The packed column operand of a node in a plan, kept from run to run.
struct ConvState final : OpState {
  PackedMatrix col;
};

struct ConvAttributes {
  AutoPad auto_pad = AutoPad::NotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
};

class ConvOp final : public Op {
 public:
  explicit ConvOp(ConvAttributes a) : a_(std::move(a)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    const Tensor& W = *in[1];
    const Tensor* B = in.size() > 2 ? in[2] : nullptr;
    expect_dtype(X, DType::Float32, "X");
    expect_dtype(W, DType::Float32, "W");
    const size_t spatial = check_shapes(X, W, B);
    ConvDim h, w;
    geometry(X, W, spatial, h, w);
    const int64_t N = X.dim(0), C = X.dim(1), M = W.dim(0), G = a_.group;
    const int64_t Cg = C / G, Mg = M / G, S = h.out * w.out, K = Cg * h.kernel * w.kernel;
    DimVector shape;
    shape.push_back(N);
    shape.push_back(M);
    if (spatial == 2) shape.push_back(h.out);
    shape.push_back(w.out);
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, shape);
    if (Y.numel() == 0) return;
    if (!*ctx.state) *ctx.state = std::make_unique<ConvState>();
    PackedMatrix& col = static_cast<ConvState&>(**ctx.state).col;
    const int threads = resolve_threads(ctx.threads);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        pack_im2col(X.data<float>() + (n * C + g * Cg) * h.in * w.in, Cg, h, w, col, threads);
        float* y = Y.data<float>() + (n * M + g * Mg) * S;
        if (B)
          for (int64_t m = 0; m < Mg; ++m) std::fill(y + m * S, y + (m + 1) * S, B->data<float>()[g * Mg + m]);
        gemm(kernels(), Mg, W.data<float>() + g * Mg * K, K, col, nullptr, B != nullptr, y, S, threads);
      }
    }
  }

 private:
  // Checks X, W and B against each other; returns the number of spatial dimensions.
  size_t check_shapes(const Tensor& X, const Tensor& W, const Tensor* B) const {
    if (X.rank() != 3 && X.rank() != 4)
      throw ValueError("X of shape " + shape_to_string(X.shape()) +
                             ": lstmrt runs 1-D and 2-D convolutions ([N, C, W] or [N, C, H, W])");
    if (W.rank() != X.rank())
      throw ValueError("W of shape " + shape_to_string(W.shape()) + " does not match X of shape " +
                       shape_to_string(X.shape()) + " (expected [M, C / group, kernel...])");
    const int64_t G = a_.group;
    if (X.dim(1) % G != 0 || W.dim(0) % G != 0 || W.dim(1) * G != X.dim(1))
      throw ValueError("X has " + std::to_string(X.dim(1)) + " channels and W " + std::to_string(W.dim(0)) + "x" +
                       std::to_string(W.dim(1)) + ": with group = " + std::to_string(G) +
                       ", W must be [M, C / group, ...] with M and C divisible by the group");
    if (B) {
      expect_dtype(*B, DType::Float32, "B");
      if (B->rank() != 1 || B->dim(0) != W.dim(0))
        throw ValueError("B of shape " + shape_to_string(B->shape()) + ", expected [" + std::to_string(W.dim(0)) + "]");
    }
    const size_t spatial = X.rank() - 2;
    if (!a_.kernel_shape.empty()) {
      for (size_t i = 0; i < spatial; ++i)
        if (a_.kernel_shape.size() != spatial || a_.kernel_shape[i] != W.dim(2 + i))
          throw ValueError("kernel_shape " + shape_to_string(a_.kernel_shape) + " does not match W of shape " +
                           shape_to_string(W.shape()));
    }
    return spatial;
  }

  void geometry(const Tensor& X, const Tensor& W, size_t spatial, ConvDim& h, ConvDim& w) const {
    auto attr = [&](const std::vector<int64_t>& v, size_t i, int64_t fallback, const char* what) {
      if (v.empty()) return fallback;
      if (v.size() != (std::string(what) == "pads" ? 2 * spatial : spatial))
        throw ValueError(std::string(what) + " " + shape_to_string(v) + " has " + std::to_string(v.size()) +
                         " entries, expected " + std::to_string(std::string(what) == "pads" ? 2 * spatial : spatial) +
                         " for a " + std::to_string(spatial) + "-D convolution");
      return v[i];
    };
    ConvDim dims[2];
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t stride = attr(a_.strides, i, 1, "strides"), dilation = attr(a_.dilations, i, 1, "dilations");
      const int64_t pb = attr(a_.pads, i, 0, "pads"), pe = attr(a_.pads, spatial + i, 0, "pads");
      dims[i] = conv_dim(X.dim(2 + i), W.dim(2 + i), stride, dilation, pb, pe, a_.auto_pad);
    }
    if (spatial == 1) {
      w = dims[0];
    } else {
      h = dims[0];
      w = dims[1];
    }
  }

  ConvAttributes a_;
};

void check_positive(const BuildContext& ctx, const std::vector<int64_t>& v, const char* what, int64_t min) {
  for (int64_t x : v)
    if (x < min || x > kMaxElements)
      ctx.fail(std::string(what) + " " + shape_to_string(v) + " must hold values of at least " + std::to_string(min));
}

}  // namespace

OpPtr build_conv(const BuildContext& ctx) {
  ConvAttributes a;
  const std::string pad = ctx.get_string("auto_pad", "NOTSET");
  if (pad == "NOTSET")
    a.auto_pad = AutoPad::NotSet;
  else if (pad == "SAME_UPPER")
    a.auto_pad = AutoPad::SameUpper;
  else if (pad == "SAME_LOWER")
    a.auto_pad = AutoPad::SameLower;
  else if (pad == "VALID")
    a.auto_pad = AutoPad::Valid;
  else
    ctx.fail("auto_pad '" + pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  a.group = ctx.get_int("group", 1);
  if (a.group < 1 || a.group > kMaxElements) ctx.fail("group must be at least 1, got " + std::to_string(a.group));
  a.kernel_shape = ctx.get_ints("kernel_shape");
  a.strides = ctx.get_ints("strides");
  a.dilations = ctx.get_ints("dilations");
  a.pads = ctx.get_ints("pads");
  check_positive(ctx, a.kernel_shape, "kernel_shape", 1);
  check_positive(ctx, a.strides, "strides", 1);
  check_positive(ctx, a.dilations, "dilations", 1);
  check_positive(ctx, a.pads, "pads", 0);
  if (a.auto_pad != AutoPad::NotSet && !a.pads.empty() && a.auto_pad != AutoPad::Valid)
    ctx.fail("pads and auto_pad " + pad + " cannot be given together");
  return std::make_unique<ConvOp>(std::move(a));
}

}  // namespace lstmrt

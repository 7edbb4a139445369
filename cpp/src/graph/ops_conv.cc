// Conv (1-D and 2-D, groups, strides, dilations, pads and auto_pad) on the core's packed GEMM:
// each group's weights are packed once at load, each image's input is unrolled into one row per
// output position (im2col, into a scratch buffer kept across runs), and one GEMM gives every
// output position's channels, which are written out channel-major with the bias added.
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

// Unrolls channels [c0, c0 + channels) of one image into rows: row s (an output position) holds,
// for each channel and kernel position, the input it reads (zero in the padding).
void im2col(const float* x, int64_t channels, const ConvDim& h, const ConvDim& w, float* col) {
  const int64_t K = channels * h.kernel * w.kernel;
  for (int64_t oh = 0; oh < h.out; ++oh) {
    for (int64_t ow = 0; ow < w.out; ++ow) {
      float* row = col + (oh * w.out + ow) * K;
      for (int64_t c = 0; c < channels; ++c) {
        const float* plane = x + c * h.in * w.in;
        for (int64_t kh = 0; kh < h.kernel; ++kh) {
          float* dst = row + (c * h.kernel + kh) * w.kernel;
          const int64_t ih = oh * h.stride - h.pad + kh * h.dilation;
          if (ih < 0 || ih >= h.in) {
            std::fill(dst, dst + w.kernel, 0.0f);
            continue;
          }
          const float* src = plane + ih * w.in;
          const int64_t iw0 = ow * w.stride - w.pad;
          for (int64_t kw = 0; kw < w.kernel; ++kw) {
            const int64_t iw = iw0 + kw * w.dilation;
            dst[kw] = iw >= 0 && iw < w.in ? src[iw] : 0.0f;
          }
        }
      }
    }
  }
}

struct ConvAttributes {
  AutoPad auto_pad = AutoPad::NotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
};

class ConvOp final : public Op {
 public:
  ConvOp(ConvAttributes a, const Tensor* W) : a_(std::move(a)) {
    if (W) packed_ = pack(*W);
  }

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
    Tensor& product = ctx.scratch_tensor(1);  // first: making slot 1 may move slot 0
    Tensor& col = ctx.scratch_tensor(0);
    col.ensure(DType::Float32, {S, K});
    product.ensure(DType::Float32, {S, Mg});
    std::vector<PackedMatrix> packed_now;
    const std::vector<PackedMatrix>& packed = packed_.empty() ? (packed_now = pack(W)) : packed_;
    const int threads = resolve_threads(ctx.threads);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        im2col(X.data<float>() + (n * C + g * Cg) * h.in * w.in, Cg, h, w, col.data<float>());
        gemm(kernels(), S, col.data<float>(), K, packed[static_cast<size_t>(g)], nullptr, false,
             product.data<float>(), Mg, threads);
        scatter(product.data<float>(), S, Mg, B ? B->data<float>() + g * Mg : nullptr,
                Y.data<float>() + (n * M + g * Mg) * S);
      }
    }
  }

 private:
  // One packed matrix per group: its output channels' weights, one row per channel.
  std::vector<PackedMatrix> pack(const Tensor& W) const {
    std::vector<PackedMatrix> out;
    if (W.rank() < 3 || W.dim(0) % a_.group != 0) return out;  // run() reports the shape
    const int64_t Mg = W.dim(0) / a_.group, K = W.numel() / std::max<int64_t>(W.dim(0), 1);
    for (int64_t g = 0; g < a_.group; ++g) out.emplace_back(W.data<float>() + g * Mg * K, Mg, K, K);
    return out;
  }

  // Checks X, W and B against each other; returns the number of spatial dimensions.
  size_t check_shapes(const Tensor& X, const Tensor& W, const Tensor* B) const {
    if (X.rank() != 3 && X.rank() != 4)
      throw UnsupportedError("X of shape " + shape_to_string(X.shape()) +
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

  // product[s][m] (+ bias[m]) to Y[m][s].
  static void scatter(const float* product, int64_t S, int64_t Mg, const float* bias, float* Y) {
    for (int64_t m = 0; m < Mg; ++m) {
      const float b = bias ? bias[m] : 0.0f;
      float* y = Y + m * S;
      for (int64_t s = 0; s < S; ++s) y[s] = product[s * Mg + m] + b;
    }
  }

  ConvAttributes a_;
  std::vector<PackedMatrix> packed_;  // per group, when W is constant
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
  const Tensor* W = ctx.constant(1);
  return std::make_unique<ConvOp>(std::move(a), W && W->dtype() == DType::Float32 ? W : nullptr);
}

}  // namespace lstmrt

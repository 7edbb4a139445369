// Pooling over the spatial dimensions of [N, C, spatial...] tensors (1-D and 2-D): MaxPool and
// AveragePool with kernel_shape, strides, pads, auto_pad, dilations (MaxPool) and ceil_mode, and
// GlobalAveragePool / GlobalMaxPool. Each output element reduces its window directly; these sit
// between a CRNN's convolutions, where the windows are small.
#include <algorithm>
#include <cmath>
#include <limits>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

enum class PoolKind { Max, Average };

struct PoolDim {
  int64_t in = 1, out = 1, kernel = 1, stride = 1, dilation = 1, pad = 0, pad_end = 0;
};

struct PoolAttributes {
  PoolKind kind = PoolKind::Max;
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
  bool count_include_pad = false;
  std::vector<int64_t> kernel_shape, strides, pads, dilations;
};

PoolDim pool_dim(const PoolAttributes& a, size_t i, size_t spatial, int64_t in) {
  PoolDim d;
  d.in = in;
  d.kernel = a.kernel_shape[i];
  d.stride = a.strides.empty() ? 1 : a.strides[i];
  d.dilation = a.dilations.empty() ? 1 : a.dilations[i];
  const int64_t span = (d.kernel - 1) * d.dilation + 1;
  if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
    d.out = (in + d.stride - 1) / d.stride;
    const int64_t total = std::max<int64_t>(0, (d.out - 1) * d.stride + span - in);
    d.pad = a.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    d.pad_end = total - d.pad;
    return d;
  }
  if (a.auto_pad != "VALID" && !a.pads.empty()) {
    d.pad = a.pads[i];
    d.pad_end = a.pads[spatial + i];
  }
  const int64_t room = in + d.pad + d.pad_end - span;
  if (room < 0)
    throw ValueError("the window spans " + std::to_string(span) + " inputs, more than the " +
                     std::to_string(in + d.pad + d.pad_end) + " a dimension of size " + std::to_string(in) +
                     " has with its pads");
  d.out = (a.ceil_mode ? (room + d.stride - 1) / d.stride : room / d.stride) + 1;
  // With ceil_mode, a last window that would start in the end padding is dropped (as onnxruntime).
  if (a.ceil_mode && (d.out - 1) * d.stride >= in + d.pad) --d.out;
  return d;
}

class PoolOp final : public Op {
 public:
  explicit PoolOp(PoolAttributes a) : a_(std::move(a)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "X");
    if (x.rank() != 3 && x.rank() != 4)
      throw ValueError("X of shape " + shape_to_string(x.shape()) +
                             ": lstmrt pools 1-D and 2-D inputs ([N, C, W] or [N, C, H, W])");
    const size_t spatial = x.rank() - 2;
    check_lengths(spatial);
    PoolDim h, w;
    if (spatial == 2) h = pool_dim(a_, 0, spatial, x.dim(2));
    w = pool_dim(a_, spatial - 1, spatial, x.dim(x.rank() - 1));
    DimVector shape;
    shape.push_back(x.dim(0));
    shape.push_back(x.dim(1));
    if (spatial == 2) shape.push_back(h.out);
    shape.push_back(w.out);
    Tensor& y = *out[0];
    y.ensure(DType::Float32, shape);
    const int64_t planes = x.dim(0) * x.dim(1);
    for (int64_t p = 0; p < planes; ++p)
      pool_plane(x.data<float>() + p * h.in * w.in, h, w, y.data<float>() + p * h.out * w.out);
  }

 private:
  void check_lengths(size_t spatial) const {
    auto check = [&](const std::vector<int64_t>& v, size_t n, const char* what) {
      if (!v.empty() && v.size() != n)
        throw ValueError(std::string(what) + " " + shape_to_string(v) + " has " + std::to_string(v.size()) +
                         " entries, expected " + std::to_string(n) + " for " + std::to_string(spatial) + "-D pooling");
    };
    check(a_.kernel_shape, spatial, "kernel_shape");
    if (a_.kernel_shape.empty()) throw ValueError("kernel_shape is required");
    check(a_.strides, spatial, "strides");
    check(a_.dilations, spatial, "dilations");
    check(a_.pads, 2 * spatial, "pads");
  }

  void pool_plane(const float* x, const PoolDim& h, const PoolDim& w, float* y) const {
    for (int64_t oh = 0; oh < h.out; ++oh) {
      for (int64_t ow = 0; ow < w.out; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0.0;
        int64_t inside = 0, counted = 0;
        for (int64_t kh = 0; kh < h.kernel; ++kh) {
          const int64_t ih = oh * h.stride - h.pad + kh * h.dilation;
          for (int64_t kw = 0; kw < w.kernel; ++kw) {
            const int64_t iw = ow * w.stride - w.pad + kw * w.dilation;
            const bool in_h = ih >= 0 && ih < h.in, in_w = iw >= 0 && iw < w.in;
            // count_include_pad counts the explicit pads, not the part past them (ceil_mode).
            if (ih < h.in + h.pad_end && iw < w.in + w.pad_end) ++counted;
            if (!in_h || !in_w) continue;
            const float v = x[ih * w.in + iw];
            best = std::max(best, v);
            sum += v;
            ++inside;
          }
        }
        float r;
        if (a_.kind == PoolKind::Max)
          r = best;
        else
          r = static_cast<float>(sum / static_cast<double>(a_.count_include_pad ? counted : std::max<int64_t>(inside, 1)));
        y[oh * w.out + ow] = r;
      }
    }
  }

  PoolAttributes a_;
};

class GlobalPoolOp final : public Op {
 public:
  explicit GlobalPoolOp(PoolKind kind) : kind_(kind) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "X");
    if (x.rank() < 2) throw ValueError("X: expected [N, C, ...], got shape " + shape_to_string(x.shape()));
    DimVector shape(x.shape().begin(), x.shape().end());
    for (size_t d = 2; d < shape.size(); ++d) shape[d] = 1;
    Tensor& y = *out[0];
    y.ensure(DType::Float32, shape);
    const int64_t planes = x.dim(0) * x.dim(1), n = planes ? x.numel() / planes : 0;
    for (int64_t p = 0; p < planes; ++p) {
      const float* v = x.data<float>() + p * n;
      if (kind_ == PoolKind::Max) {
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < n; ++i) best = std::max(best, v[i]);
        y.data<float>()[p] = best;
      } else {
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += v[i];
        y.data<float>()[p] = static_cast<float>(n ? sum / static_cast<double>(n) : 0.0);
      }
    }
  }

 private:
  PoolKind kind_;
};

void check_at_least(const BuildContext& ctx, const std::vector<int64_t>& v, const char* what, int64_t min) {
  for (int64_t x : v)
    if (x < min || x > kMaxElements)
      ctx.fail(std::string(what) + " " + shape_to_string(v) + " must hold values of at least " + std::to_string(min));
}

}  // namespace

OpPtr build_pool(const BuildContext& ctx) {
  PoolAttributes a;
  a.kind = ctx.node().op_type == "MaxPool" ? PoolKind::Max : PoolKind::Average;
  a.auto_pad = ctx.get_string("auto_pad", "NOTSET");
  if (a.auto_pad != "NOTSET" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER" && a.auto_pad != "VALID")
    ctx.fail("auto_pad '" + a.auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  a.ceil_mode = ctx.get_int("ceil_mode", 0) != 0;
  a.count_include_pad = ctx.get_int("count_include_pad", 0) != 0;
  a.kernel_shape = ctx.get_ints("kernel_shape");
  a.strides = ctx.get_ints("strides");
  a.pads = ctx.get_ints("pads");
  a.dilations = ctx.get_ints("dilations");
  if (a.kernel_shape.empty()) ctx.fail("attribute 'kernel_shape' is required");
  check_at_least(ctx, a.kernel_shape, "kernel_shape", 1);
  check_at_least(ctx, a.strides, "strides", 1);
  check_at_least(ctx, a.dilations, "dilations", 1);
  check_at_least(ctx, a.pads, "pads", 0);
  if (ctx.get_int("storage_order", 0) != 0) ctx.fail("storage_order = 1 (column-major indices) is not supported");
  if (ctx.has_output(1)) ctx.fail("the Indices output is not supported");
  return std::make_unique<PoolOp>(std::move(a));
}

OpPtr build_global_pool(const BuildContext& ctx) {
  return std::make_unique<GlobalPoolOp>(ctx.node().op_type == "GlobalMaxPool" ? PoolKind::Max : PoolKind::Average);
}

}  // namespace lstmrt

// Normalizations: BatchNormalization in inference mode (running statistics),
// InstanceNormalization, LayerNormalization, and Softmax/LogSoftmax.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// Requires a float parameter of exactly `shape`; the message names it.
void expect_param(const Tensor& t, Dims shape, const char* what) {
  expect_dtype(t, DType::Float32, what);
  if (Dims(t.shape()) != shape)
    throw ValueError(std::string(what) + " has shape " + shape_to_string(t.shape()) + ", expected " +
                     shape_to_string(shape));
}

// y = (x - mean) / sqrt(var + epsilon) * scale + B, with the statistics given. With `spatial` the
// parameters are per channel ([C]); without (opset 7-8's spatial=0) per element of one sample.
class BatchNormOp final : public Op {
 public:
  BatchNormOp(float epsilon, bool spatial) : epsilon_(epsilon), spatial_(spatial) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    expect_dtype(X, DType::Float32, "X");
    if (X.rank() < 2) throw ValueError("X must have rank 2 or more (N, C, ...), got shape " + shape_to_string(X.shape()));
    const DimVector pshape = spatial_ ? DimVector(1, X.dim(1)) : DimVector(X.shape().begin() + 1, X.shape().end());
    const char* names[] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 4; ++i) expect_param(*in[i + 1], pshape, names[i]);
    const int64_t params = shape_numel(pshape);
    // Folded per parameter into y = x * a + b.
    Tensor& ab = ctx.scratch_tensor(0);
    ab.ensure(DType::Float32, {2, params});
    float* a = ab.data<float>();
    float* b = a + params;
    for (int64_t i = 0; i < params; ++i) {
      a[i] = in[1]->data<float>()[i] / std::sqrt(in[4]->data<float>()[i] + epsilon_);
      b[i] = in[2]->data<float>()[i] - in[3]->data<float>()[i] * a[i];
    }
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, X.shape());
    const int64_t batch = X.dim(0), sample = X.numel() / std::max<int64_t>(batch, 1);
    const int64_t inner = params ? sample / params : 0;  // elements per parameter
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t c = 0; c < params; ++c) {
        const int64_t o = n * sample + c * inner;
        for (int64_t i = 0; i < inner; ++i) y[o + i] = x[o + i] * a[c] + b[c];
      }
  }

 private:
  float epsilon_;
  bool spatial_;
};

// Each (sample, channel) plane normalized by its own mean and variance, then scaled and shifted
// per channel.
class InstanceNormOp final : public Op {
 public:
  explicit InstanceNormOp(float epsilon) : epsilon_(epsilon) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& X = *in[0];
    expect_dtype(X, DType::Float32, "input");
    if (X.rank() < 3)
      throw ValueError("input must have rank 3 or more (N, C, spatial...), got shape " + shape_to_string(X.shape()));
    const DimVector pshape(1, X.dim(1));
    expect_param(*in[1], pshape, "scale");
    expect_param(*in[2], pshape, "B");
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, X.shape());
    const int64_t C = X.dim(1), planes = X.dim(0) * C;
    const int64_t n = planes ? X.numel() / planes : 0;
    for (int64_t p = 0; p < planes; ++p) {
      const float* x = X.data<float>() + p * n;
      float* y = Y.data<float>() + p * n;
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += x[i];
      const double mean = n ? sum / static_cast<double>(n) : 0.0;
      double var = 0.0;
      for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
      var = n ? var / static_cast<double>(n) : 0.0;
      const float a = static_cast<float>(in[1]->data<float>()[p % C] / std::sqrt(var + epsilon_));
      const float b = static_cast<float>(in[2]->data<float>()[p % C] - mean * a);
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
    }
  }

 private:
  float epsilon_;
};

// ---------------------------------------------------------------------------------------------
// Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
// normalized over the whole second part; from 13 on only over `axis` (default -1).

class SoftmaxOp final : public Op {
 public:
  SoftmaxOp(int64_t axis, bool legacy, bool log) : axis_(axis), legacy_(legacy), log_(log) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "input");
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    const int64_t r = static_cast<int64_t>(x.rank());
    if (r == 0) {
      y.data<float>()[0] = log_ ? 0.0f : 1.0f;
      return;
    }
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    AxisSplit a(x.shape(), axis);
    if (legacy_) {  // the whole second part of the 2-D view is one lane
      a.n *= a.inner;
      a.inner = 1;
    }
    const int64_t n = a.n, inner = a.inner;
    const float* s = x.data<float>();
    float* d = y.data<float>();
    a.for_each_lane([&](int64_t base, int64_t, int64_t) {
      const float* p = s + base;
      float* q = d + base;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, p[k * inner]);
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        const float e = std::exp(p[k * inner] - mx);
        sum += e;
        if (!log_) q[k * inner] = e;
      }
      if (log_) {
        const float ls = static_cast<float>(std::log(sum));
        for (int64_t k = 0; k < n; ++k) q[k * inner] = p[k * inner] - mx - ls;
      } else {
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t k = 0; k < n; ++k) q[k * inner] *= inv;
      }
    });
  }

 private:
  int64_t axis_;
  bool legacy_, log_;
};

// ---------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): normalize over the dims from `axis` on, then scale and shift.

class LayerNormOp final : public Op {
 public:
  LayerNormOp(int64_t axis, float epsilon) : axis_(axis), epsilon_(epsilon) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "X");
    const int64_t r = static_cast<int64_t>(x.rank());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
    int64_t outer = 1;
    for (size_t i = 0; i < axis; ++i) outer *= x.dim(i);
    const int64_t n = shape_numel(norm_shape);
    // Scale and bias, broadcast to the normalized shape when they are smaller.
    const float* scale = expand(*in[1], norm_shape, ctx.scratch_tensor(0), "Scale");
    const float* bias = in.size() > 2 && in[2] ? expand(*in[2], norm_shape, ctx.scratch_tensor(1), "B") : nullptr;
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
    stat_shape.resize(x.rank(), 1);
    float* mean_out = nullptr;
    float* inv_out = nullptr;
    if (out.size() > 1 && out[1]) {
      out[1]->ensure(DType::Float32, stat_shape);
      mean_out = out[1]->data<float>();
    }
    if (out.size() > 2 && out[2]) {
      out[2]->ensure(DType::Float32, stat_shape);
      inv_out = out[2]->data<float>();
    }
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = s + o * n;
      float* q = d + o * n;
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) sum += p[k];
      const double mean = n ? sum / n : 0.0;
      double var = 0.0;
      for (int64_t k = 0; k < n; ++k) var += (p[k] - mean) * (p[k] - mean);
      var = n ? var / n : 0.0;
      const float inv = static_cast<float>(1.0 / std::sqrt(var + epsilon_));
      const float m = static_cast<float>(mean);
      for (int64_t k = 0; k < n; ++k) q[k] = (p[k] - m) * inv * scale[k] + (bias ? bias[k] : 0.0f);
      if (mean_out) mean_out[o] = m;
      if (inv_out) inv_out[o] = inv;
    }
  }

 private:
  static const float* expand(const Tensor& t, const Shape& shape, Tensor& scratch, const char* what) {
    expect_dtype(t, DType::Float32, what);
    if (t.shape() == shape) return t.data<float>();
    if (broadcast_shapes(t.shape(), shape) != shape)
      throw ValueError(std::string(what) + " of shape " + shape_to_string(t.shape()) +
                       " does not broadcast to the normalized shape " + shape_to_string(shape));
    scratch.ensure(DType::Float32, shape);
    broadcast_copy(t, scratch);
    return scratch.data<float>();
  }

  int64_t axis_;
  float epsilon_;
};

}  // namespace

OpPtr build_batch_norm(const BuildContext& ctx) {
  const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 0; i < 5; ++i) ctx.require_input(i, names[i]);
  if (ctx.get_int("training_mode", 0) != 0)
    ctx.fail("training_mode=1 is not supported (lstmrt runs inference only: the running statistics are used)");
  for (size_t k = 1; k < ctx.num_outputs(); ++k)
    if (ctx.has_output(k))
      ctx.fail("output " + std::to_string(k) + " (a training statistic) is not supported (inference only)");
  const int64_t spatial = ctx.get_int("spatial", 1);
  if (spatial != 0 && spatial != 1) ctx.fail("spatial must be 0 or 1, got " + std::to_string(spatial));
  if (ctx.opset() >= 9 && ctx.has_attr("spatial")) ctx.fail("spatial is not an attribute from opset 9 on");
  return std::make_unique<BatchNormOp>(ctx.get_float("epsilon", 1e-5f), spatial == 1);
}

OpPtr build_instance_norm(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  ctx.require_input(1, "scale");
  ctx.require_input(2, "B");
  return std::make_unique<InstanceNormOp>(ctx.get_float("epsilon", 1e-5f));
}

OpPtr build_softmax(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  const bool legacy = ctx.opset() < 13;
  return std::make_unique<SoftmaxOp>(ctx.get_int("axis", legacy ? 1 : -1), legacy, ctx.node().op_type == "LogSoftmax");
}

OpPtr build_layer_norm(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  ctx.require_input(1, "Scale");
  const int64_t stash = ctx.get_int("stash_type", 1);
  if (stash != 1) ctx.fail("attribute stash_type=" + std::to_string(stash) + " is not supported (only 1, float32)");
  return std::make_unique<LayerNormOp>(ctx.get_int("axis", -1), ctx.get_float("epsilon", 1e-5f));
}

}  // namespace lstmrt

// BatchNormalization in inference mode (running statistics) and InstanceNormalization.
#include <cmath>

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

}  // namespace lstmrt

// BatchNormalization (inference: the running statistics given) and InstanceNormalization (the
// statistics of each sample's channel), over [N, C, ...] tensors: per channel, y = a * x + b with
// a and b folded from the scale, bias and statistics once per run.
#include <cmath>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

void expect_per_channel(const Tensor& t, int64_t C, const char* what) {
  expect_dtype(t, DType::Float32, what);
  if (t.rank() != 1 || t.dim(0) != C)
    throw ValueError(std::string(what) + ": expected shape [" + std::to_string(C) + "] (one value per channel), got " +
                     shape_to_string(t.shape()));
}

// y = a[c] * x + b[c] over every [N, C, rest] element.
void affine_per_channel(const Tensor& x, const double* a, const double* b, Tensor& y) {
  const int64_t N = x.dim(0), C = x.dim(1), rest = C ? x.numel() / std::max<int64_t>(N * C, 1) : 0;
  const float* s = x.data<float>();
  float* d = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float fa = static_cast<float>(a[c]), fb = static_cast<float>(b[c]);
      const int64_t base = (n * C + c) * rest;
      for (int64_t i = 0; i < rest; ++i) d[base + i] = fa * s[base + i] + fb;
    }
}

class BatchNormOp final : public Op {
 public:
  explicit BatchNormOp(float epsilon) : epsilon_(epsilon) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "X");
    if (x.rank() < 2) throw ValueError("X: expected [N, C, ...], got shape " + shape_to_string(x.shape()));
    const int64_t C = x.dim(1);
    const char* names[] = {"scale", "B", "input_mean", "input_var"};
    for (int k = 0; k < 4; ++k) expect_per_channel(*in[1 + k], C, names[k]);
    std::vector<double> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(in[4]->data<float>()[c]) + epsilon_);
      a[c] = in[1]->data<float>()[c] * inv;
      b[c] = in[2]->data<float>()[c] - in[3]->data<float>()[c] * a[c];
    }
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    affine_per_channel(x, a.data(), b.data(), y);
  }

 private:
  float epsilon_;
};

class InstanceNormOp final : public Op {
 public:
  explicit InstanceNormOp(float epsilon) : epsilon_(epsilon) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "input");
    if (x.rank() < 3) throw ValueError("input: expected [N, C, D1, ...], got shape " + shape_to_string(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), rest = x.numel() / std::max<int64_t>(N * C, 1);
    expect_per_channel(*in[1], C, "scale");
    expect_per_channel(*in[2], C, "B");
    Tensor& y = *out[0];
    y.ensure(DType::Float32, x.shape());
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t p = 0; p < N * C; ++p) {
      const float* v = s + p * rest;
      double mean = 0.0, var = 0.0;
      for (int64_t i = 0; i < rest; ++i) mean += v[i];
      mean /= static_cast<double>(std::max<int64_t>(rest, 1));
      for (int64_t i = 0; i < rest; ++i) var += (v[i] - mean) * (v[i] - mean);
      var /= static_cast<double>(std::max<int64_t>(rest, 1));
      const int64_t c = p % C;
      const double a = in[1]->data<float>()[c] / std::sqrt(var + epsilon_);
      const double b = in[2]->data<float>()[c] - mean * a;
      for (int64_t i = 0; i < rest; ++i) d[p * rest + i] = static_cast<float>(a * v[i] + b);
    }
  }

 private:
  float epsilon_;
};

}  // namespace

OpPtr build_batch_norm(const BuildContext& ctx) {
  if (ctx.get_int("training_mode", 0) != 0)
    ctx.fail("training_mode = 1 is not supported: lstmrt runs inference with the running statistics");
  if (ctx.opset() < 7 && ctx.get_int("is_test", 0) == 0) ctx.fail("is_test = 0 (training) is not supported");
  if (ctx.opset() < 9 && ctx.get_int("spatial", 1) != 1) ctx.fail("spatial = 0 is not supported");
  for (size_t k = 1; k < ctx.num_outputs(); ++k)
    if (ctx.has_output(k)) ctx.fail("the training outputs (running and saved statistics) are not supported");
  return std::make_unique<BatchNormOp>(ctx.get_float("epsilon", 1e-5f));
}

OpPtr build_instance_norm(const BuildContext& ctx) {
  return std::make_unique<InstanceNormOp>(ctx.get_float("epsilon", 1e-5f));
}

}  // namespace lstmrt

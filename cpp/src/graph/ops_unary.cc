// Elementwise operators of one operand: math and activations, Clip, Cast and CastLike.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "broadcast_apply.h"
#include "builders.h"
#include "lstmrt/activation.h"
#include "cpu/kernels.h"
#include "cpu/threading.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// ---------------------------------------------------------------------------------------------
// Unary.

enum class Unary {
  Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Elu, Selu, Celu, Gelu, GeluTanh, Softplus, Softsign,
  ThresholdedRelu, Exp, Log, Sqrt, Reciprocal, Erf, Sin, Cos, Floor, Ceil, Round, Neg, Abs, Sign
};

class UnaryOp final : public Op {
 public:
  UnaryOp(Unary kind, float alpha, float beta) : kind_(kind), alpha_(alpha), beta_(beta) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    Tensor& y = *out[0];
    y.ensure(x.dtype(), x.shape());
    const int64_t n = x.numel();
    if (x.dtype() == DType::Float32) {
      // Each element on its own: pieces on several threads give the same bits.
      const float* s = x.data<float>();
      float* d = y.data<float>();
      parallel_for(n, elementwise_threads(n, resolve_threads(ctx.threads)), kParallelGrain,
                   [&](int64_t b, int64_t e) { apply_float(s + b, d + b, e - b); });
      return;
    }
    if (x.dtype() == DType::Bool) throw TypeError("bool input is not supported");
    dispatch_numeric(x.dtype(), "X", [&](auto t) {
      using T = decltype(t);
      const T* s = x.data<T>();
      T* d = y.data<T>();
      switch (kind_) {
        case Unary::Neg:
          for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(-s[i]);
          return;
        case Unary::Abs:
          for (int64_t i = 0; i < n; ++i) d[i] = s[i] < 0 ? static_cast<T>(-s[i]) : s[i];
          return;
        case Unary::Sign:
          for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>((s[i] > 0) - (s[i] < 0));
          return;
        case Unary::Relu:
          for (int64_t i = 0; i < n; ++i) d[i] = s[i] > 0 ? s[i] : T(0);
          return;
        default:
          throw TypeError(std::string("expected a float32 input, got ") + dtype_name(x.dtype()));
      }
    });
  }

 private:
  template <class F>
  static void map(const float* s, float* d, int64_t n, F f) {
    for (int64_t i = 0; i < n; ++i) d[i] = f(s[i]);
  }

  // d = act(s) through the kernel table's vector activation (the LSTM's own, ULP-bounded on
  // every ISA): the libm call per element costs several times as much.
  static void vector_activation(ActKind kind, const float* s, float* d, int64_t n) {
    if (s != d) std::memcpy(d, s, static_cast<size_t>(n) * sizeof(float));
    Activation act;
    act.kind = kind;
    kernels().activation(act, d, n);
  }

  void apply_float(const float* s, float* d, int64_t n) const {
    const float a = alpha_, b = beta_;
    switch (kind_) {
      case Unary::Relu:
        return map(s, d, n, [](float v) { return v > 0.0f ? v : 0.0f; });
      case Unary::LeakyRelu:
        return map(s, d, n, [a](float v) { return v >= 0.0f ? v : a * v; });
      case Unary::Sigmoid:
        return vector_activation(ActKind::Sigmoid, s, d, n);
      case Unary::HardSigmoid:
        return map(s, d, n, [a, b](float v) { return std::fmax(0.0f, std::fmin(1.0f, a * v + b)); });
      case Unary::HardSwish:
        return map(s, d, n, [](float v) { return v * std::fmax(0.0f, std::fmin(1.0f, v / 6.0f + 0.5f)); });
      case Unary::Tanh:
        return vector_activation(ActKind::Tanh, s, d, n);
      case Unary::Elu:
        return map(s, d, n, [a](float v) { return v >= 0.0f ? v : a * (std::exp(v) - 1.0f); });
      case Unary::Selu:
        return map(s, d, n, [a, b](float v) { return v > 0.0f ? b * v : b * (a * std::exp(v) - a); });
      case Unary::Celu:
        return map(s, d, n, [a](float v) { return std::fmax(0.0f, v) + std::fmin(0.0f, a * (std::exp(v / a) - 1.0f)); });
      case Unary::Gelu:
        return map(s, d, n, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); });
      case Unary::GeluTanh:
        return map(s, d, n, [](float v) {
          return 0.5f * v * (1.0f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        });
      case Unary::Softplus:
        return map(s, d, n, [](float v) { return v > 0.0f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
      case Unary::Softsign:
        return map(s, d, n, [](float v) { return v / (1.0f + std::fabs(v)); });
      case Unary::ThresholdedRelu:
        return map(s, d, n, [a](float v) { return v > a ? v : 0.0f; });
      case Unary::Exp:
        return map(s, d, n, [](float v) { return std::exp(v); });
      case Unary::Log:
        return kernels().log(s, d, n);
      case Unary::Sqrt:
        return map(s, d, n, [](float v) { return std::sqrt(v); });
      case Unary::Reciprocal:
        return map(s, d, n, [](float v) { return 1.0f / v; });
      case Unary::Erf:
        return map(s, d, n, [](float v) { return std::erf(v); });
      case Unary::Sin:
        return map(s, d, n, [](float v) { return std::sin(v); });
      case Unary::Cos:
        return map(s, d, n, [](float v) { return std::cos(v); });
      case Unary::Floor:
        return map(s, d, n, [](float v) { return std::floor(v); });
      case Unary::Ceil:
        return map(s, d, n, [](float v) { return std::ceil(v); });
      case Unary::Round:  // half to even, the default rounding mode
        return map(s, d, n, [](float v) { return std::nearbyint(v); });
      case Unary::Neg:
        return map(s, d, n, [](float v) { return -v; });
      case Unary::Abs:
        return map(s, d, n, [](float v) { return std::fabs(v); });
      case Unary::Sign:
        return map(s, d, n, [](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v); });
    }
  }

  Unary kind_;
  float alpha_, beta_;
};

// ---------------------------------------------------------------------------------------------
// Clip: bounds from attributes (opset < 11) or optional scalar inputs (11+).

class ClipOp final : public Op {
 public:
  ClipOp(bool from_inputs, float lo, float hi) : from_inputs_(from_inputs), lo_(lo), hi_(hi) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    Tensor& y = *out[0];
    y.ensure(x.dtype(), x.shape());
    const Tensor* lo = from_inputs_ && in.size() > 1 ? in[1] : nullptr;
    const Tensor* hi = from_inputs_ && in.size() > 2 ? in[2] : nullptr;
    if (lo) same_dtype(x, *lo);
    if (hi) same_dtype(x, *hi);
    dispatch_numeric(x.dtype(), "input", [&](auto t) {
      using T = decltype(t);
      T l = std::numeric_limits<T>::lowest(), h = std::numeric_limits<T>::max();
      if (!from_inputs_) {
        l = static_cast<T>(lo_);
        h = static_cast<T>(hi_);
      }
      if (lo) l = static_cast<T>(scalar_double(*lo, "min"));
      if (hi) h = static_cast<T>(scalar_double(*hi, "max"));
      const T* s = x.data<T>();
      T* d = y.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        T v = s[i] < l ? l : s[i];
        d[i] = v > h ? h : v;
      }
    });
  }

 private:
  bool from_inputs_;
  float lo_, hi_;
};

// ---------------------------------------------------------------------------------------------
// Cast and CastLike.

void cast_into(const Tensor& x, Tensor& y, DType to) {
  y.ensure(to, x.shape());
  if (x.dtype() == to) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  dispatch_all(x.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_all(to, [&](auto d) {
      using D = decltype(d);
      const S* src = x.data<S>();
      D* dst = y.data<D>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        if constexpr (std::is_same<D, bool>::value)
          dst[i] = src[i] != S(0);
        else
          dst[i] = static_cast<D>(src[i]);
      }
    });
  });
}

class CastOp final : public Op {
 public:
  explicit CastOp(DType to) : to_(to) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    cast_into(*in[0], *out[0], to_);
  }

 private:
  DType to_;
};

class CastLikeOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    cast_into(*in[0], *out[0], in[1]->dtype());
  }
};

}  // namespace

OpPtr build_unary(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  const std::string& op = ctx.node().op_type;
  auto make = [&](Unary k, float alpha = 0.0f, float beta = 0.0f) { return std::make_unique<UnaryOp>(k, alpha, beta); };
  if (op == "Relu") return make(Unary::Relu);
  if (op == "LeakyRelu") return make(Unary::LeakyRelu, ctx.get_float("alpha", 0.01f));
  if (op == "Sigmoid") return make(Unary::Sigmoid);
  if (op == "HardSigmoid") return make(Unary::HardSigmoid, ctx.get_float("alpha", 0.2f), ctx.get_float("beta", 0.5f));
  if (op == "HardSwish") return make(Unary::HardSwish);
  if (op == "Tanh") return make(Unary::Tanh);
  if (op == "Elu") return make(Unary::Elu, ctx.get_float("alpha", 1.0f));
  if (op == "Selu")
    return make(Unary::Selu, ctx.get_float("alpha", 1.67326319217681884765625f),
                ctx.get_float("gamma", 1.05070102214813232421875f));
  if (op == "Celu") return make(Unary::Celu, ctx.get_float("alpha", 1.0f));
  if (op == "Gelu") {
    const std::string approx = ctx.get_string("approximate", "none");
    if (approx == "none") return make(Unary::Gelu);
    if (approx == "tanh") return make(Unary::GeluTanh);
    ctx.fail("attribute 'approximate' must be 'none' or 'tanh', got '" + approx + "'");
  }
  if (op == "Softplus") return make(Unary::Softplus);
  if (op == "Softsign") return make(Unary::Softsign);
  if (op == "ThresholdedRelu") return make(Unary::ThresholdedRelu, ctx.get_float("alpha", 1.0f));
  if (op == "Exp") return make(Unary::Exp);
  if (op == "Log") return make(Unary::Log);
  if (op == "Sqrt") return make(Unary::Sqrt);
  if (op == "Reciprocal") return make(Unary::Reciprocal);
  if (op == "Erf") return make(Unary::Erf);
  if (op == "Sin") return make(Unary::Sin);
  if (op == "Cos") return make(Unary::Cos);
  if (op == "Floor") return make(Unary::Floor);
  if (op == "Ceil") return make(Unary::Ceil);
  if (op == "Round") return make(Unary::Round);
  if (op == "Neg") return make(Unary::Neg);
  if (op == "Abs") return make(Unary::Abs);
  if (op == "Sign") return make(Unary::Sign);
  ctx.fail("not a unary operator");
}

OpPtr build_clip(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  if (ctx.opset() < 11)
    return std::make_unique<ClipOp>(false, ctx.get_float("min", std::numeric_limits<float>::lowest()),
                                    ctx.get_float("max", std::numeric_limits<float>::max()));
  return std::make_unique<ClipOp>(true, 0.0f, 0.0f);
}

OpPtr build_cast(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  if (!ctx.has_attr("to")) ctx.fail("attribute 'to' is required");
  const int64_t to = ctx.get_int("to", 0);
  DType d;
  if (!dtype_from_onnx(to, &d))
    ctx.fail("unsupported target type " + onnx_type_code_name(to) + " (attribute to=" + std::to_string(to) +
             "); lstmrt computes with FLOAT, INT64, INT32 and BOOL");
  return std::make_unique<CastOp>(d);
}

OpPtr build_cast_like(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  ctx.require_input(1, "target_type");
  return std::make_unique<CastLikeOp>();
}

}  // namespace lstmrt

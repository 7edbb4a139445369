// The operators of quantized models, as onnxruntime's quantization tools write them: the QDQ
// pair (QuantizeLinear, DequantizeLinear), dynamic quantization (DynamicQuantizeLinear, then
// ConvInteger or MatMulInteger on the integers), and com.microsoft's DynamicQuantizeLSTM.
//
// The integer products run on the float32 kernels: an input minus its zero point is an integer
// of at most 9 bits, exact in float32, and so is every product; a sum stays exact up to 2^24 and
// beyond rounds to within one part in 2^24 of the int32 result. Constant integer weights are
// converted once, at load. DynamicQuantizeLSTM's weights are dequantized at load and packed as
// the session's precision asks, as any LSTM's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "builders.h"
#include "lstmrt/errors.h"
#include "op_util.h"

namespace lstmrt {
namespace {

bool is_quantized(DType t) { return t == DType::UInt8 || t == DType::Int8; }

void expect_quantized(const Tensor& t, const char* what) {
  if (!is_quantized(t.dtype()))
    throw TypeError(std::string(what) + ": expected uint8 or int8, got " + dtype_name(t.dtype()));
}

// Value i of a uint8 or int8 tensor.
int32_t integer_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::UInt8 ? t.data<uint8_t>()[i] : t.data<int8_t>()[i];
}

// ONNX's quantizers: round(x / scale) half to even, then add the zero point, then saturate to
// the type's range (rounding after adding the zero point would break ties the other way).
template <class Q>
Q quantize(float x, float scale, int32_t zero) {
  const float lo = std::is_same<Q, uint8_t>::value ? 0.0f : -128.0f;
  const float hi = std::is_same<Q, uint8_t>::value ? 255.0f : 127.0f;
  return static_cast<Q>(std::min(hi, std::max(lo, std::nearbyint(x / scale) + static_cast<float>(zero))));
}

// A scale or zero point: one value for the whole tensor, or one per slice along `axis`. Returns
// the step between consecutive elements of a slice index (the product of the dims after axis),
// and the number of slices (1 for a scalar).
struct PerAxis {
  int64_t inner = 1;
  int64_t count = 1;
};

// Runs fn(begin, end, c) over the runs of consecutive elements that share slice c (for a
// scalar, all of them in one run with c = 0): the slice is found once per run, not per element.
template <class Fn>
void for_each_run(int64_t numel, const PerAxis& pa, Fn&& fn) {
  if (pa.count == 1) return fn(int64_t{0}, numel, int64_t{0});
  for (int64_t begin = 0; begin < numel; begin += pa.inner) fn(begin, begin + pa.inner, (begin / pa.inner) % pa.count);
}

// Calls fn(T()) with T the C++ type of a uint8, int8 or int32 tensor.
template <class Fn>
void dispatch_integers(DType t, Fn&& fn) {
  if (t == DType::UInt8) fn(uint8_t());
  else if (t == DType::Int8) fn(int8_t());
  else fn(int32_t());
}

PerAxis per_axis(const Tensor& x, const Tensor& scale, int64_t axis_attr, const char* what) {
  PerAxis p;
  if (scale.numel() == 1 && scale.rank() <= 1) return p;
  if (scale.rank() != 1)
    throw ValueError(std::string(what) + ": a scale of shape " + shape_to_string(scale.shape()) +
                     " (expected a scalar or 1-D per-axis scales)");
  const int64_t axis = normalize_axis(axis_attr, static_cast<int64_t>(x.rank()));
  if (x.dim(static_cast<size_t>(axis)) != scale.dim(0))
    throw ValueError(std::string(what) + ": " + std::to_string(scale.dim(0)) + " scales for axis " +
                     std::to_string(axis) + " of size " + std::to_string(x.dim(static_cast<size_t>(axis))));
  for (size_t d = static_cast<size_t>(axis) + 1; d < x.rank(); ++d) p.inner *= x.dim(d);
  p.count = scale.dim(0);
  return p;
}

void check_zero_point(const Tensor* zp, const Tensor& scale, const char* what) {
  if (!zp) return;
  if (zp->numel() != scale.numel())
    throw ValueError(std::string(what) + ": zero point of shape " + shape_to_string(zp->shape()) +
                     " does not match the scale's " + shape_to_string(scale.shape()));
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point), uint8 unless the zero point
// is int8.

class QuantizeLinearOp final : public Op {
 public:
  explicit QuantizeLinearOp(const BuildContext& ctx) : axis_(ctx.get_int("axis", 1)) {
    if (ctx.has_attr("block_size") && ctx.get_int("block_size", 0) != 0) ctx.fail("blocked quantization is not supported");
    if (ctx.has_attr("output_dtype")) ctx.fail("attribute 'output_dtype' is not supported");
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    expect_dtype(x, DType::Float32, "x");
    expect_dtype(scale, DType::Float32, "y_scale");
    if (zp) expect_quantized(*zp, "y_zero_point");
    check_zero_point(zp, scale, "QuantizeLinear");
    const PerAxis pa = per_axis(x, scale, axis_, "QuantizeLinear");
    const DType to = zp ? zp->dtype() : DType::UInt8;
    out[0]->ensure(to, x.shape());
    const float* s = scale.data<float>();
    const float* v = x.data<float>();
    dispatch_integers(to, [&](auto q) {
      using Q = decltype(q);
      Q* y = out[0]->data<Q>();
      for_each_run(x.numel(), pa, [&](int64_t begin, int64_t end, int64_t c) {
        const int32_t zero = zp ? integer_at(*zp, c) : 0;
        for (int64_t i = begin; i < end; ++i) y[i] = quantize<Q>(v[i], s[c], zero);
      });
    });
  }

 private:
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------------
// DequantizeLinear: y = (x - x_zero_point) * x_scale, for uint8, int8 and int32 x.

class DequantizeLinearOp final : public Op {
 public:
  explicit DequantizeLinearOp(const BuildContext& ctx) : axis_(ctx.get_int("axis", 1)) {
    if (ctx.has_attr("block_size") && ctx.get_int("block_size", 0) != 0) ctx.fail("blocked quantization is not supported");
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    if (!is_quantized(x.dtype()) && x.dtype() != DType::Int32)
      throw TypeError("x: expected uint8, int8 or int32, got " + std::string(dtype_name(x.dtype())));
    expect_dtype(scale, DType::Float32, "x_scale");
    if (zp && zp->dtype() != x.dtype())
      throw TypeError("x_zero_point: expected " + std::string(dtype_name(x.dtype())) + " like x, got " +
                      dtype_name(zp->dtype()));
    check_zero_point(zp, scale, "DequantizeLinear");
    const PerAxis pa = per_axis(x, scale, axis_, "DequantizeLinear");
    out[0]->ensure(DType::Float32, x.shape());
    float* y = out[0]->data<float>();
    const float* s = scale.data<float>();
    dispatch_integers(x.dtype(), [&](auto type) {
      using T = decltype(type);
      const T* v = x.data<T>();
      for_each_run(x.numel(), pa, [&](int64_t begin, int64_t end, int64_t c) {
        const int64_t zero = zp ? zp->data<T>()[c] : 0;
        for (int64_t i = begin; i < end; ++i) y[i] = static_cast<float>(static_cast<int64_t>(v[i]) - zero) * s[c];
      });
    });
  }

 private:
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear: uint8 with the range of x widened to include 0, over 255 steps.

class DynamicQuantizeLinearOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "x");
    const float* v = x.data<float>();
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < x.numel(); ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    const float scale = (hi - lo) / 255.0f;
    // All zeros: scale 0 and zero point 0 quantize every value to 0, exactly.
    const uint8_t zero = scale > 0.0f ? quantize<uint8_t>(-lo, scale, 0) : uint8_t{0};
    out[0]->ensure(DType::UInt8, x.shape());
    uint8_t* y = out[0]->data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i)
      y[i] = scale > 0.0f ? quantize<uint8_t>(v[i], scale, zero) : uint8_t{0};
    out[1]->ensure(DType::Float32, {});
    out[1]->data<float>()[0] = scale;
    out[2]->ensure(DType::UInt8, {});
    out[2]->data<uint8_t>()[0] = zero;
  }
};

// ---------------------------------------------------------------------------------------------
// ConvInteger and MatMulInteger: the float op of the same shape rules on (x - x_zero_point) and
// (w - w_zero_point), its result rounded to int32.

// x - zero point as float32 into `f` (zero point: a scalar, or one per run of `axis_inner`
// consecutive elements, cycling through its values).
void integers_as_float(const Tensor& x, const Tensor* zp, int64_t axis_inner, Tensor& f, const char* what) {
  expect_quantized(x, what);
  if (zp && zp->dtype() != x.dtype())
    throw TypeError(std::string(what) + "'s zero point: expected " + dtype_name(x.dtype()) + ", got " +
                    dtype_name(zp->dtype()));
  f.ensure(DType::Float32, x.shape());
  float* out = f.data<float>();
  PerAxis pa;
  if (zp && zp->numel() > 1) pa = {axis_inner, zp->numel()};
  dispatch_integers(x.dtype(), [&](auto type) {
    using T = decltype(type);
    const T* v = x.data<T>();
    for_each_run(x.numel(), pa, [&](int64_t begin, int64_t end, int64_t c) {
      const int32_t zero = zp ? integer_at(*zp, c) : 0;
      for (int64_t i = begin; i < end; ++i) out[i] = static_cast<float>(static_cast<int32_t>(v[i]) - zero);
    });
  });
}

void float_to_int32(const Tensor& f, Tensor& y) {
  y.ensure(DType::Int32, f.shape());
  const float* src = f.data<float>();
  int32_t* dst = y.data<int32_t>();
  for (int64_t i = 0; i < f.numel(); ++i) dst[i] = static_cast<int32_t>(std::nearbyint(src[i]));
}

// Scratch slots of these ops, past those the wrapped float op uses.
constexpr size_t kFloatInput = 16, kFloatOutput = 17, kFloatWeights = 18;

class IntegerProductOp final : public Op {
 public:
  // `float_op` is "Conv" or "MatMul"; the weight's zero point is per output channel (Conv: W's
  // axis 0) or per column (MatMul: B's last axis). Constant weights are converted here, once;
  // others on every run.
  IntegerProductOp(const BuildContext& ctx, const char* float_op) : conv_(std::string(float_op) == "Conv") {
    const Tensor* w = ctx.constant(1);
    const Tensor* w_zp = ctx.constant(3);
    constant_weights_ = w && (!ctx.has_input(3) || w_zp);
    if (constant_weights_) convert_weights(*w, w_zp, weights_);
    NodeDesc node = ctx.node();
    node.op_type = float_op;
    node.domain.clear();
    node.inputs.resize(2);
    // The float op reads its own attributes (Conv's window). Its weights stay float32: the
    // integers came from a quantized model and are used as they are.
    BuildContext inner_ctx(node, ctx.opset(), {nullptr, constant_weights_ ? &weights_ : nullptr}, WeightType::F32);
    op_ = conv_ ? build_conv(inner_ctx) : build_matmul(inner_ctx);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor* x_zp = in.size() > 2 ? in[2] : nullptr;
    if (x_zp && x_zp->numel() != 1) {
      // ConvInteger's x_zero_point is a scalar; MatMulInteger's may be per row of A (rank 1, M).
      if (conv_ || x_zp->rank() != 1 || in[0]->rank() < 2 || x_zp->dim(0) != in[0]->dim(in[0]->rank() - 2))
        throw ValueError("x/a zero point of shape " + shape_to_string(x_zp->shape()) + " is not supported");
    }
    // The highest slot first: making room for it may move the others (the inner op's are lower).
    Tensor& wf = ctx.scratch_tensor(kFloatWeights);
    Tensor& yf = ctx.scratch_tensor(kFloatOutput);
    Tensor& xf = ctx.scratch_tensor(kFloatInput);
    const int64_t row = in[0]->rank() >= 1 ? in[0]->dim(in[0]->rank() - 1) : 1;
    integers_as_float(*in[0], x_zp, row, xf, conv_ ? "x" : "A");
    if (!constant_weights_) convert_weights(*in[1], in.size() > 3 ? in[3] : nullptr, wf);
    op_->run({&xf, constant_weights_ ? &weights_ : &wf}, {&yf}, ctx);
    float_to_int32(yf, *out[0]);
  }

 private:
  void convert_weights(const Tensor& w, const Tensor* w_zp, Tensor& out) const {
    expect_quantized(w, "w");
    if (w.rank() < (conv_ ? 3u : 2u))
      throw ValueError("weights of shape " + shape_to_string(w.shape()) + (conv_ ? " (expected rank 3 or more)" : " (expected rank 2 or more)"));
    if (w_zp && w_zp->numel() != 1) {
      const int64_t channels = conv_ ? w.dim(0) : w.dim(w.rank() - 1);
      if (w_zp->rank() != 1 || w_zp->dim(0) != channels)
        throw ValueError("weight zero point of shape " + shape_to_string(w_zp->shape()) + " for " +
                         std::to_string(channels) + (conv_ ? " output channels" : " columns"));
    }
    // Conv: one zero point per output channel, each channel's weights contiguous; MatMul: one
    // per column, consecutive elements.
    const int64_t inner = conv_ ? w.numel() / std::max<int64_t>(1, w.dim(0)) : 1;
    integers_as_float(w, w_zp, inner, out, "w");
  }

  bool conv_;
  bool constant_weights_ = false;
  Tensor weights_;
  OpPtr op_;
};

// ---------------------------------------------------------------------------------------------
// com.microsoft DynamicQuantizeLSTM: an LSTM whose W [D, input, 4H] and R [D, H, 4H] are given
// transposed and quantized, with a scale and zero point per direction or per direction and
// column (inputs 8-11). onnxruntime quantizes the activations each step; lstmrt dequantizes the
// weights once and runs its LSTM at the session's precision.

Tensor dequantize_transposed(const BuildContext& ctx, size_t slot, size_t scale_slot, size_t zp_slot,
                             const char* what) {
  const Tensor* q = ctx.constant(slot);
  const Tensor* scale = ctx.constant(scale_slot);
  const Tensor* zp = ctx.constant(zp_slot);
  if (!q || !scale || !zp) ctx.fail(std::string(what) + ", its scale and zero point must be constants");
  if (!is_quantized(q->dtype())) ctx.fail(std::string(what) + ": expected uint8 or int8, got " + dtype_name(q->dtype()));
  expect_dtype(*scale, DType::Float32, "scale");
  if (zp->dtype() != q->dtype()) ctx.fail(std::string(what) + "'s zero point has another type than " + what);
  if (q->rank() != 3) ctx.fail(std::string(what) + ": expected rank 3, got shape " + shape_to_string(q->shape()));
  const int64_t D = q->dim(0), rows = q->dim(1), cols = q->dim(2);
  const bool per_column = scale->numel() == D * cols && cols > 1;
  if (!(scale->numel() == D || per_column) || zp->numel() != scale->numel())
    ctx.fail(std::string(what) + ": scale of shape " + shape_to_string(scale->shape()) + " and zero point of shape " +
             shape_to_string(zp->shape()) + " (expected [" + std::to_string(D) + "] or [" + std::to_string(D) + ", " +
             std::to_string(cols) + "])");
  Tensor out(DType::Float32, {D, cols, rows});
  float* w = out.data<float>();
  for (int64_t d = 0; d < D; ++d)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t s = per_column ? d * cols + c : d;
        const int32_t v = integer_at(*q, (d * rows + r) * cols + c) - integer_at(*zp, s);
        w[(d * cols + c) * rows + r] = static_cast<float>(v) * scale->data<float>()[s];
      }
  return out;
}

}  // namespace

OpPtr build_quantize_linear(const BuildContext& ctx) { return std::make_unique<QuantizeLinearOp>(ctx); }
OpPtr build_dequantize_linear(const BuildContext& ctx) { return std::make_unique<DequantizeLinearOp>(ctx); }
OpPtr build_dynamic_quantize_linear(const BuildContext&) { return std::make_unique<DynamicQuantizeLinearOp>(); }
OpPtr build_conv_integer(const BuildContext& ctx) { return std::make_unique<IntegerProductOp>(ctx, "Conv"); }
OpPtr build_matmul_integer(const BuildContext& ctx) { return std::make_unique<IntegerProductOp>(ctx, "MatMul"); }

OpPtr build_dynamic_quantize_lstm(const BuildContext& ctx) {
  const Tensor W = dequantize_transposed(ctx, 1, 8, 9, "W");
  const Tensor R = dequantize_transposed(ctx, 2, 10, 11, "R");
  NodeDesc node = ctx.node();
  node.op_type = "LSTM";
  node.domain.clear();
  node.inputs.resize(std::min<size_t>(node.inputs.size(), 8));
  std::vector<const Tensor*> constants;
  for (size_t i = 0; i < node.inputs.size(); ++i) constants.push_back(i == 1 ? &W : i == 2 ? &R : ctx.constant(i));
  // The LSTM packs its weights here, so W and R need not outlive this call.
  BuildContext lstm_ctx(node, ctx.opset(), constants, ctx.weight_type(), ctx.warnings());
  return build_lstm(lstm_ctx);
}

}  // namespace lstmrt

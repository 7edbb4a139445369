// Elementwise operators: unary math and activations, binary arithmetic and comparisons with
// NumPy broadcasting (ONNX's multidirectional broadcasting since opset 7), Where, Cast.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "builders.h"
#include "lstmrt/activation.h"
#include "lstmrt/kernels.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// out = f(a, b) elementwise under broadcasting; `out` is sized already. The inner loop is
// specialised for the common stride patterns so that the compiler vectorises it.
template <class TA, class TB, class R, class F>
void binary_apply(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  R* po = out.data<R>();
  // The common layouts skip setting up the general loop: both operands of the output's shape, or
  // one of them with the other repeated along its leading dims (a bias, a scalar).
  const int64_t n = out.numel();
  if (a.shape() == out.shape() && ends_with(out.shape(), b.shape())) {
    const int64_t m = b.numel();
    if (m == n) {
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], pb[j]);
    } else if (m == 1) {
      const TB yv = *pb;
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], yv);
    } else {
      for (int64_t o = 0; o < n; o += m)
        for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[o + j], pb[j]);
    }
    return;
  }
  if (b.shape() == out.shape() && ends_with(out.shape(), a.shape())) {
    const int64_t m = a.numel();
    if (m == 1) {
      const TA xv = *pa;
      for (int64_t j = 0; j < n; ++j) po[j] = f(xv, pb[j]);
    } else {
      for (int64_t o = 0; o < n; o += m)
        for (int64_t j = 0; j < m; ++j) po[o + j] = f(pa[j], pb[o + j]);
    }
    return;
  }
  StridedLoop loop(out.shape(), {broadcast_strides(a.shape(), out.shape()), broadcast_strides(b.shape(), out.shape())});
  const int64_t sa = loop.inner_stride(0), sb = loop.inner_stride(1);
  int64_t o = 0;
  loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
    const TA* x = pa + off[0];
    const TB* y = pb + off[1];
    R* z = po + o;
    o += n;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], y[j]);
    } else if (sa == 1 && sb == 0) {
      const TB yv = *y;
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j], yv);
    } else if (sa == 0 && sb == 1) {
      const TA xv = *x;
      for (int64_t j = 0; j < n; ++j) z[j] = f(xv, y[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) z[j] = f(x[j * sa], y[j * sb]);
    }
  });
}

void same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw TypeError(std::string("inputs have different types: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
}

// ---------------------------------------------------------------------------------------------
// Unary.

enum class Unary {
  Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Elu, Selu, Celu, Gelu, GeluTanh, Softplus, Softsign,
  ThresholdedRelu, Exp, Log, Sqrt, Reciprocal, Erf, Sin, Cos, Floor, Ceil, Round, Neg, Abs, Sign
};

class UnaryOp final : public Op {
 public:
  UnaryOp(Unary kind, float alpha, float beta) : kind_(kind), alpha_(alpha), beta_(beta) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    Tensor& y = *out[0];
    y.ensure(x.dtype(), x.shape());
    const int64_t n = x.numel();
    if (x.dtype() == DType::Float32) {
      apply_float(x.data<float>(), y.data<float>(), n);
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
        return map(s, d, n, [](float v) { return std::log(v); });
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
// Binary arithmetic.

enum class Arith { Add, Sub, Mul, Div, Pow, Mod, PRelu };

// Integer arithmetic wraps around, as in NumPy and onnxruntime. It is done in the unsigned type,
// where wrapping is defined; signed overflow is undefined behaviour in C++.
template <class T>
T wrapping_add(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(p) + static_cast<U>(q)));
  } else {
    return static_cast<T>(p + q);
  }
}

template <class T>
T wrapping_sub(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(p) - static_cast<U>(q)));
  } else {
    return static_cast<T>(p - q);
  }
}

template <class T>
T wrapping_mul(T p, T q) {
  if constexpr (std::is_integral<T>::value && !std::is_same<T, bool>::value) {
    // uint32_t * uint32_t would promote to int on some platforms; uint64_t never does.
    return static_cast<T>(static_cast<uint64_t>(static_cast<int64_t>(p)) * static_cast<uint64_t>(static_cast<int64_t>(q)));
  } else {
    return static_cast<T>(p * q);
  }
}

// Integer division and remainder; x / -1 is negation (wrapping at the minimum), which the CPU's
// division instruction would trap on.
template <class T>
T int_div(T p, T q) {
  return q == -1 ? wrapping_sub<T>(0, p) : static_cast<T>(p / q);
}

template <class T>
T int_rem(T p, T q) {
  return q == -1 ? T(0) : static_cast<T>(p % q);
}

template <class T>
T int_pow(T base, int64_t exp) {
  if (exp < 0) return base == 1 ? 1 : (base == -1 ? (exp % 2 ? -1 : 1) : 0);
  T r = 1;
  while (exp > 0) {
    if (exp & 1) r = wrapping_mul(r, base);
    base = wrapping_mul(base, base);
    exp >>= 1;
  }
  return r;
}

class BinaryOp final : public Op {
 public:
  BinaryOp(Arith kind, bool fmod) : kind_(kind), fmod_(fmod) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    if (kind_ != Arith::Pow) same_dtype(a, b);
    // Broadcasting one operand over the other's leading dims (a bias) gives the other's shape.
    const DimVector shape = ends_with(a.shape(), b.shape())   ? DimVector(a.shape().begin(), a.shape().end())
                            : ends_with(b.shape(), a.shape()) ? DimVector(b.shape().begin(), b.shape().end())
                                                              : broadcast_shapes(a.shape(), b.shape());
    if (kind_ == Arith::PRelu && shape != a.shape())
      throw ValueError("slope of shape " + shape_to_string(b.shape()) + " does not broadcast to X's shape " +
                       shape_to_string(a.shape()));
    Tensor& y = *out[0];
    y.ensure(a.dtype(), shape);
    if (kind_ == Arith::Pow) return run_pow(a, b, y);
    dispatch_numeric(a.dtype(), "A", [&](auto t) {
      using T = decltype(t);
      switch (kind_) {
        case Arith::Add:
          return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return wrapping_add(p, q); });
        case Arith::Sub:
          return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return wrapping_sub(p, q); });
        case Arith::Mul:
          return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return wrapping_mul(p, q); });
        case Arith::Div:
          if constexpr (std::is_integral<T>::value) {
            check_no_zero<T>(b);
            return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return int_div(p, q); });
          } else {
            return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return p / q; });
          }
        case Arith::Mod:
          if constexpr (std::is_integral<T>::value) {
            check_no_zero<T>(b);
            if (fmod_) return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return int_rem(p, q); });
            // The sign of the divisor, as Python's %.
            return binary_apply<T, T, T>(a, b, y, [](T p, T q) {
              T r = int_rem(p, q);
              return (r != 0 && ((r < 0) != (q < 0))) ? static_cast<T>(r + q) : r;
            });
          } else {
            if (fmod_) return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return std::fmod(p, q); });
            return binary_apply<T, T, T>(a, b, y, [](T p, T q) {
              T r = std::fmod(p, q);
              return (r != 0 && ((r < 0) != (q < 0))) ? r + q : r;
            });
          }
        case Arith::PRelu:
          return binary_apply<T, T, T>(a, b, y, [](T p, T q) { return p < 0 ? wrapping_mul(p, q) : p; });
        case Arith::Pow:
          return;
      }
    });
  }

 private:
  template <class T>
  static void check_no_zero(const Tensor& b) {
    const T* q = b.data<T>();
    for (int64_t i = 0; i < b.numel(); ++i)
      if (q[i] == 0) throw ValueError("integer division by zero");
  }

  static void run_pow(const Tensor& a, const Tensor& b, Tensor& y) {
    if (a.dtype() == DType::Bool || b.dtype() == DType::Bool) throw TypeError("Pow does not take bool tensors");
    dispatch_numeric(a.dtype(), "X", [&](auto ta) {
      using TA = decltype(ta);
      dispatch_numeric(b.dtype(), "Y", [&](auto tb) {
        using TB = decltype(tb);
        if constexpr (std::is_integral<TA>::value && std::is_integral<TB>::value) {
          binary_apply<TA, TB, TA>(a, b, y, [](TA p, TB q) { return int_pow<TA>(p, static_cast<int64_t>(q)); });
        } else if constexpr (std::is_same<TA, float>::value && std::is_same<TB, float>::value) {
          binary_apply<TA, TB, TA>(a, b, y, [](float p, float q) {
            return q == 2.0f ? p * p : (q == 0.5f ? std::sqrt(p) : std::pow(p, q));
          });
        } else {
          binary_apply<TA, TB, TA>(a, b, y, [](TA p, TB q) {
            return static_cast<TA>(std::pow(static_cast<double>(p), static_cast<double>(q)));
          });
        }
      });
    });
  }

  Arith kind_;
  bool fmod_;
};

// ---------------------------------------------------------------------------------------------
// Comparisons and logic (bool results).

enum class Cmp { Equal, Less, Greater, LessOrEqual, GreaterOrEqual };

class CompareOp final : public Op {
 public:
  explicit CompareOp(Cmp kind) : kind_(kind) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    same_dtype(a, b);
    Tensor& y = *out[0];
    y.ensure(DType::Bool, broadcast_shapes(a.shape(), b.shape()));
    dispatch_all(a.dtype(), [&](auto t) {
      using T = decltype(t);
      switch (kind_) {
        case Cmp::Equal:
          return binary_apply<T, T, bool>(a, b, y, [](T p, T q) { return p == q; });
        case Cmp::Less:
          return binary_apply<T, T, bool>(a, b, y, [](T p, T q) { return p < q; });
        case Cmp::Greater:
          return binary_apply<T, T, bool>(a, b, y, [](T p, T q) { return p > q; });
        case Cmp::LessOrEqual:
          return binary_apply<T, T, bool>(a, b, y, [](T p, T q) { return p <= q; });
        case Cmp::GreaterOrEqual:
          return binary_apply<T, T, bool>(a, b, y, [](T p, T q) { return p >= q; });
      }
    });
  }

 private:
  Cmp kind_;
};

enum class Logic { And, Or, Xor };

class LogicalOp final : public Op {
 public:
  explicit LogicalOp(Logic kind) : kind_(kind) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    expect_dtype(a, DType::Bool, "A");
    expect_dtype(b, DType::Bool, "B");
    Tensor& y = *out[0];
    y.ensure(DType::Bool, broadcast_shapes(a.shape(), b.shape()));
    switch (kind_) {
      case Logic::And:
        return binary_apply<bool, bool, bool>(a, b, y, [](bool p, bool q) { return p && q; });
      case Logic::Or:
        return binary_apply<bool, bool, bool>(a, b, y, [](bool p, bool q) { return p || q; });
      case Logic::Xor:
        return binary_apply<bool, bool, bool>(a, b, y, [](bool p, bool q) { return p != q; });
    }
  }

 private:
  Logic kind_;
};

class NotOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Bool, "X");
    out[0]->ensure(DType::Bool, x.shape());
    const bool* s = x.data<bool>();
    bool* d = out[0]->data<bool>();
    for (int64_t i = 0; i < x.numel(); ++i) d[i] = !s[i];
  }
};

// ---------------------------------------------------------------------------------------------
// Variadic Max, Min, Sum, Mean: folded pairwise into the output.

enum class Fold { Max, Min, Sum, Mean };

class VariadicOp final : public Op {
 public:
  explicit VariadicOp(Fold kind) : kind_(kind) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    DimVector shape(in[0]->shape().begin(), in[0]->shape().end());
    for (size_t i = 1; i < in.size(); ++i) {
      same_dtype(*in[0], *in[i]);
      shape = broadcast_shapes(shape, in[i]->shape());
    }
    Tensor& y = *out[0];
    y.ensure(in[0]->dtype(), shape);
    broadcast_copy(*in[0], y);
    Tensor& tmp = ctx.scratch_tensor(0);
    for (size_t i = 1; i < in.size(); ++i) {
      // y op= in[i]: the result goes to a scratch tensor first, as y is also an operand.
      tmp.ensure(y.dtype(), shape);
      dispatch_numeric(y.dtype(), "inputs", [&](auto t) {
        using T = decltype(t);
        switch (kind_) {
          case Fold::Max:
            return binary_apply<T, T, T>(y, *in[i], tmp, [](T p, T q) { return (p != p || p > q) ? p : q; });
          case Fold::Min:
            return binary_apply<T, T, T>(y, *in[i], tmp, [](T p, T q) { return (p != p || p < q) ? p : q; });
          case Fold::Sum:
          case Fold::Mean:
            return binary_apply<T, T, T>(y, *in[i], tmp, [](T p, T q) { return wrapping_add(p, q); });
        }
      });
      std::memcpy(y.raw(), tmp.raw(), y.nbytes());
    }
    if (kind_ == Fold::Mean) {
      dispatch_numeric(y.dtype(), "inputs", [&](auto t) {
        using T = decltype(t);
        T* d = y.data<T>();
        for (int64_t j = 0; j < y.numel(); ++j) d[j] = static_cast<T>(d[j] / static_cast<T>(in.size()));
      });
    }
  }

 private:
  Fold kind_;
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
// Where(condition, X, Y).

class WhereOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& c = *in[0];
    const Tensor& a = *in[1];
    const Tensor& b = *in[2];
    expect_dtype(c, DType::Bool, "condition");
    same_dtype(a, b);
    const DimVector shape = broadcast_shapes(broadcast_shapes(c.shape(), a.shape()), b.shape());
    Tensor& y = *out[0];
    y.ensure(a.dtype(), shape);
    StridedLoop loop(shape, {broadcast_strides(c.shape(), shape), broadcast_strides(a.shape(), shape),
                             broadcast_strides(b.shape(), shape)});
    const int64_t sc = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2);
    dispatch_all(a.dtype(), [&](auto t) {
      using T = decltype(t);
      const bool* pc = c.data<bool>();
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = y.data<T>();
      int64_t o = 0;
      loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
        for (int64_t j = 0; j < n; ++j)
          po[o + j] = pc[off[0] + j * sc] ? pa[off[1] + j * sa] : pb[off[2] + j * sb];
        o += n;
      });
    });
  }
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

OpPtr build_binary(const BuildContext& ctx) {
  ctx.require_input(0, "A");
  ctx.require_input(1, "B");
  const std::string& op = ctx.node().op_type;
  if (ctx.has_attr("broadcast") || ctx.has_attr("axis")) ctx.fail("the legacy 'broadcast'/'axis' attributes (opset < 7) are not supported");
  if (op == "Add") return std::make_unique<BinaryOp>(Arith::Add, false);
  if (op == "Sub") return std::make_unique<BinaryOp>(Arith::Sub, false);
  if (op == "Mul") return std::make_unique<BinaryOp>(Arith::Mul, false);
  if (op == "Div") return std::make_unique<BinaryOp>(Arith::Div, false);
  if (op == "Pow") return std::make_unique<BinaryOp>(Arith::Pow, false);
  if (op == "PRelu") return std::make_unique<BinaryOp>(Arith::PRelu, false);
  if (op == "Mod") {
    const int64_t fmod = ctx.get_int("fmod", 0);
    if (fmod != 0 && fmod != 1) ctx.fail("attribute 'fmod' must be 0 or 1, got " + std::to_string(fmod));
    return std::make_unique<BinaryOp>(Arith::Mod, fmod == 1);
  }
  ctx.fail("not a binary operator");
}

OpPtr build_compare(const BuildContext& ctx) {
  ctx.require_input(0, "A");
  ctx.require_input(1, "B");
  const std::string& op = ctx.node().op_type;
  if (op == "Equal") return std::make_unique<CompareOp>(Cmp::Equal);
  if (op == "Less") return std::make_unique<CompareOp>(Cmp::Less);
  if (op == "Greater") return std::make_unique<CompareOp>(Cmp::Greater);
  if (op == "LessOrEqual") return std::make_unique<CompareOp>(Cmp::LessOrEqual);
  if (op == "GreaterOrEqual") return std::make_unique<CompareOp>(Cmp::GreaterOrEqual);
  ctx.fail("not a comparison");
}

OpPtr build_logical(const BuildContext& ctx) {
  ctx.require_input(0, "A");
  ctx.require_input(1, "B");
  const std::string& op = ctx.node().op_type;
  if (op == "And") return std::make_unique<LogicalOp>(Logic::And);
  if (op == "Or") return std::make_unique<LogicalOp>(Logic::Or);
  if (op == "Xor") return std::make_unique<LogicalOp>(Logic::Xor);
  ctx.fail("not a logical operator");
}

OpPtr build_not(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  return std::make_unique<NotOp>();
}

OpPtr build_variadic(const BuildContext& ctx) {
  if (ctx.num_inputs() == 0) ctx.fail("needs at least one input");
  for (size_t i = 0; i < ctx.num_inputs(); ++i) ctx.require_input(i, "data");
  const std::string& op = ctx.node().op_type;
  if (op == "Max") return std::make_unique<VariadicOp>(Fold::Max);
  if (op == "Min") return std::make_unique<VariadicOp>(Fold::Min);
  if (op == "Sum") return std::make_unique<VariadicOp>(Fold::Sum);
  if (op == "Mean") return std::make_unique<VariadicOp>(Fold::Mean);
  ctx.fail("not a variadic operator");
}

OpPtr build_clip(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  if (ctx.opset() < 11)
    return std::make_unique<ClipOp>(false, ctx.get_float("min", std::numeric_limits<float>::lowest()),
                                    ctx.get_float("max", std::numeric_limits<float>::max()));
  return std::make_unique<ClipOp>(true, 0.0f, 0.0f);
}

OpPtr build_where(const BuildContext& ctx) {
  ctx.require_input(0, "condition");
  ctx.require_input(1, "X");
  ctx.require_input(2, "Y");
  return std::make_unique<WhereOp>();
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

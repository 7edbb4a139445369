// Binary arithmetic with NumPy broadcasting (ONNX's multidirectional broadcasting since opset 7),
// and the variadic Max, Min, Sum, Mean.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "builders.h"
#include "broadcast_apply.h"

namespace lstmrt {

namespace {

// ---------------------------------------------------------------------------------------------
// Binary arithmetic.

enum class Arith { Add, Sub, Mul, Div, Pow, Mod, PRelu };

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

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const int threads = resolve_threads(ctx.threads);
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
          return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return wrapping_add(p, q); });
        case Arith::Sub:
          return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return wrapping_sub(p, q); });
        case Arith::Mul:
          return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return wrapping_mul(p, q); });
        case Arith::Div:
          if constexpr (std::is_integral<T>::value) {
            check_no_zero<T>(b);
            return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return int_div(p, q); });
          } else {
            return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return p / q; });
          }
        case Arith::Mod:
          if constexpr (std::is_integral<T>::value) {
            check_no_zero<T>(b);
            if (fmod_) return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return int_rem(p, q); });
            // The sign of the divisor, as Python's %.
            return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) {
              T r = int_rem(p, q);
              return (r != 0 && ((r < 0) != (q < 0))) ? static_cast<T>(r + q) : r;
            });
          } else {
            if (fmod_) return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return std::fmod(p, q); });
            return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) {
              T r = std::fmod(p, q);
              return (r != 0 && ((r < 0) != (q < 0))) ? r + q : r;
            });
          }
        case Arith::PRelu:
          return binary_apply_on<T, T, T>(threads, a, b, y, [](T p, T q) { return p < 0 ? wrapping_mul(p, q) : p; });
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

}  // namespace

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

}  // namespace lstmrt

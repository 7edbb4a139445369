// Reductions over axes (ReduceMean, ReduceSum, ReduceMax, ...) and ArgMax/ArgMin.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "broadcast_apply.h"
#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// ---------------------------------------------------------------------------------------------
// Reductions. Axes come from the attribute before the opset that made them an input (13 for
// ReduceSum, 18 for the others) and from the optional second input after.

enum class Reduce { Mean, Sum, Max, Min, Prod, SumSquare, L2 };

// The largest (IsMax) or smallest of acc, v[0], ..., v[n - 1], exactly as the running
// acc = (v > acc || v != v) ? v : acc gives it: the last NaN if there is one, and of equal zeros
// the first. The main loop keeps independent lanes, which the compiler vectorizes; the rare
// cases (a NaN, a zero result) are settled by a second look at v.
template <bool IsMax>
float extreme(float acc, const float* v, int64_t n) {
  constexpr int L = 16;
  float lane[L];
  int nan[L];
  for (int l = 0; l < L; ++l) {
    lane[l] = acc;
    nan[l] = 0;
  }
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) {
      const float b = v[j + l];
      nan[l] |= b != b;
      lane[l] = (IsMax ? b > lane[l] : b < lane[l]) ? b : lane[l];
    }
  float r = acc;
  int any_nan = acc != acc;
  for (int l = 0; l < L; ++l) {
    r = (IsMax ? lane[l] > r : lane[l] < r) ? lane[l] : r;
    any_nan |= nan[l];
  }
  for (; j < n; ++j) {
    any_nan |= v[j] != v[j];
    r = (IsMax ? v[j] > r : v[j] < r) ? v[j] : r;
  }
  if (any_nan) {
    for (int64_t i = n; i-- > 0;)
      if (v[i] != v[i]) return v[i];
    return acc;
  }
  if (r == 0.0f && acc != 0.0f)
    for (int64_t i = 0; i < n; ++i)
      if (v[i] == 0.0f) return v[i];
  return r;
}

// Rows at least this long are summed in independent lanes, which the compiler vectorizes;
// shorter ones in order. bench/test_bench_real_models.py (the onnx-asr front ends' per-frame
// means and power spectra) re-derives it; bench/TUNING.md has the figures.
constexpr int64_t kLaneSumMin = 32;

// acc + the sum of v[j] (Square: of v[j]^2) for j < n: in order for short rows, else in 32 lanes
// added pairwise at the end (a different but fixed order, and a tighter error bound).
template <bool Square>
float row_sum(float acc, const float* v, int64_t n) {
  auto term = [](float x) { return Square ? x * x : x; };
  if (n < kLaneSumMin) {
    for (int64_t j = 0; j < n; ++j) acc += term(v[j]);
    return acc;
  }
  constexpr int L = 32;
  float lane[L] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) lane[l] += term(v[j + l]);
  for (int l = 0; j < n; ++j, ++l) lane[l] += term(v[j]);
  for (int width = L / 2; width >= 1; width /= 2)
    for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
  return acc + lane[0];
}

// x as [outer, count, inner] when its reduced axes are one run of consecutive axes (size-1 axes
// aside): every output (o, i) then reduces x[o][r][i] over r < count. count is 0 when they are
// not one run.
struct MiddleBlock {
  int64_t outer = 1, count = 0, inner = 1;
};

MiddleBlock middle_block(const Tensor& x, const DimVector& reduced) {
  MiddleBlock b;
  int64_t count = 1;
  int phase = 0;  // 0: inner (after the run), 1: in the run, 2: outer (before it)
  for (size_t i = x.rank(); i-- > 0;) {
    if (x.dim(i) == 1) continue;
    if (reduced[i]) {
      if (phase == 2) return b;
      phase = 1;
      count *= x.dim(i);
    } else if (phase == 0) {
      b.inner *= x.dim(i);
    } else {
      phase = 2;
      b.outer *= x.dim(i);
    }
  }
  b.count = count;
  return b;
}

class ReduceOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }  // noop_with_empty_axes
  ReduceOp(Reduce kind, std::vector<int64_t> axes, bool from_input, bool keepdims, bool noop_empty)
      : kind_(kind), axes_(std::move(axes)), from_input_(from_input), keepdims_(keepdims), noop_empty_(noop_empty) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    const int64_t r = static_cast<int64_t>(x.rank());
    const DimVector axes = from_input_ && in.size() > 1 && in[1] ? int_values(*in[1], "axes")
                                                                  : DimVector(axes_.begin(), axes_.end());
    Tensor& y = *out[0];
    if (axes.empty() && noop_empty_) {
      y.view_of(x, x.shape());
      return;
    }
    DimVector reduced(x.rank(), axes.empty() ? 1 : 0);
    for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, r, "axes entry"))] = 1;
    DimVector keep(x.shape().begin(), x.shape().end()), shape;
    int64_t count = 1;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (reduced[i]) {
        count *= x.dim(i);
        keep[i] = 1;
        if (keepdims_) shape.push_back(1);
      } else {
        shape.push_back(x.dim(i));
      }
    }
    y.ensure(x.dtype(), shape);
    if (x.dtype() == DType::Bool && kind_ != Reduce::Max && kind_ != Reduce::Min)
      throw TypeError("data: bool tensors are only reduced by ReduceMax and ReduceMin");
    dispatch_all(x.dtype(), [&](auto t) {
      using T = decltype(t);
      T* d = y.data<T>();
      std::fill(d, d + y.numel(), identity<T>(kind_));
      const T* s = x.data<T>();
      const MiddleBlock block = middle_block(x, reduced);
      if (block.count > 0 && block.inner == 1 && y.numel() > 0) {
        reduce_blocks(kind_, d, s, y.numel(), block.count);
      } else if (block.count > 0 && y.numel() > 0) {
        reduce_middle(kind_, d, s, block, resolve_threads(ctx.threads));
      } else {
        StridedLoop loop(x.shape(), {broadcast_strides(keep, x.shape())});
        const int64_t sy = loop.inner_stride(0);
        int64_t o = 0;
        loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
          accumulate(kind_, d + off[0], sy, s + o, n);
          o += n;
        });
      }
      if constexpr (!std::is_same<T, bool>::value) {
        if (kind_ == Reduce::Mean)
          for (int64_t i = 0; i < y.numel(); ++i) d[i] = static_cast<T>(d[i] / static_cast<T>(count));
        if (kind_ == Reduce::L2)
          for (int64_t i = 0; i < y.numel(); ++i) d[i] = static_cast<T>(std::sqrt(static_cast<double>(d[i])));
      }
    });
  }

 private:
  // The identity of each reduction, which an empty reduction returns (-inf for ReduceMax).
  template <class T>
  static T identity(Reduce kind) {
    if (kind == Reduce::Max)
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    if (kind == Reduce::Min)
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
    return kind == Reduce::Prod ? T(1) : T(0);
  }

  // Calls fn(f) with the reduction's step acc = f(acc, v), for a non-bool T.
  template <class T, class Fn>
  static void with_step(Reduce kind, Fn&& fn) {
    switch (kind) {
      case Reduce::Mean:
      case Reduce::Sum:
        return fn([](T a, T b) { return static_cast<T>(a + b); });
      case Reduce::SumSquare:
      case Reduce::L2:
        return fn([](T a, T b) { return static_cast<T>(a + b * b); });
      case Reduce::Max:
        return fn([](T a, T b) { return (b > a || b != b) ? b : a; });
      case Reduce::Min:
        return fn([](T a, T b) { return (b < a || b != b) ? b : a; });
      case Reduce::Prod:
        return fn([](T a, T b) { return static_cast<T>(a * b); });
    }
  }

  // Whether a float32 row of n elements reducing into one value has a loop of its own: the
  // extremes always (extreme() keeps the sequential result), the sums when long (row_sum).
  static bool has_row_loop(Reduce kind, int64_t n) {
    if (kind == Reduce::Max || kind == Reduce::Min) return true;
    return kind != Reduce::Prod && n >= kLaneSumMin;
  }

  static float reduce_row(Reduce kind, float acc, const float* v, int64_t n) {
    if (kind == Reduce::Max) return extreme<true>(acc, v, n);
    if (kind == Reduce::Min) return extreme<false>(acc, v, n);
    if (kind == Reduce::SumSquare || kind == Reduce::L2) return row_sum<true>(acc, v, n);
    return row_sum<false>(acc, v, n);
  }

  // acc[j * sy] = f(acc[j * sy], v[j]) for j < n, f the reduction's step.
  template <class T>
  static void accumulate(Reduce kind, T* acc, int64_t sy, const T* v, int64_t n) {
    if constexpr (std::is_same<T, bool>::value) {
      // Max of bools is "any", Min is "all".
      if (kind == Reduce::Max)
        for (int64_t j = 0; j < n; ++j) acc[j * sy] = acc[j * sy] || v[j];
      else
        for (int64_t j = 0; j < n; ++j) acc[j * sy] = acc[j * sy] && v[j];
    } else {
      if constexpr (std::is_same<T, float>::value)
        if (sy == 0 && has_row_loop(kind, n)) {
          acc[0] = reduce_row(kind, acc[0], v, n);
          return;
        }
      // A kept last axis (sy == 1) gets its own loop, which the compiler vectorizes, with each
      // element's sum in the same order.
      with_step<T>(kind, [&](auto f) {
        if (sy == 1)
          for (int64_t j = 0; j < n; ++j) acc[j] = f(acc[j], v[j]);
        else
          for (int64_t j = 0; j < n; ++j) acc[j * sy] = f(acc[j * sy], v[j]);
      });
    }
  }

  // acc[i] reduces v's block [i * block, (i + 1) * block) for i < outputs: trailing axes reduced.
  // Short blocks (a complex number's two parts) run in one loop over all of them.
  template <class T>
  static void reduce_blocks(Reduce kind, T* acc, const T* v, int64_t outputs, int64_t block) {
    bool own_loop = std::is_same<T, bool>::value;
    if constexpr (std::is_same<T, float>::value) own_loop = has_row_loop(kind, block);
    if (own_loop) {
      for (int64_t i = 0; i < outputs; ++i) accumulate(kind, acc + i, 0, v + i * block, block);
      return;
    }
    if constexpr (!std::is_same<T, bool>::value)
      with_step<T>(kind, [&](auto f) {
        for (int64_t i = 0; i < outputs; ++i) {
          T a = acc[i];
          for (int64_t j = 0; j < block; ++j) a = f(a, v[i * block + j]);
          acc[i] = a;
        }
      });
  }

  // acc[o][i] reduces v[o][r][i] over r in order, for every (o, i): rows of the kept inner block
  // accumulate one after another (a loop the compiler vectorizes), split over threads by inner
  // ranges when there are many outputs; each output's order stays the same, and so its bits.
  template <class T>
  static void reduce_middle(Reduce kind, T* acc, const T* v, const MiddleBlock& b, int threads) {
    const int64_t outputs = b.outer * b.inner;
    parallel_for(b.inner, elementwise_threads(outputs, threads), kParallelGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t o = 0; o < b.outer; ++o)
        for (int64_t r = 0; r < b.count; ++r)
          accumulate(kind, acc + o * b.inner + i0, 1, v + (o * b.count + r) * b.inner + i0, i1 - i0);
    });
  }

  Reduce kind_;
  std::vector<int64_t> axes_;
  bool from_input_, keepdims_, noop_empty_;
};

class ArgReduceOp final : public Op {
 public:
  ArgReduceOp(bool max, int64_t axis, bool keepdims, bool last)
      : max_(max), axis_(axis), keepdims_(keepdims), last_(last) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    if (x.dim(axis) == 0) throw ValueError("cannot reduce an empty axis of shape " + shape_to_string(x.shape()));
    Shape shape;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (i != axis)
        shape.push_back(x.dim(i));
      else if (keepdims_)
        shape.push_back(1);
    }
    Tensor& y = *out[0];
    y.ensure(DType::Int64, shape);
    const AxisSplit a(x.shape(), axis);
    const int64_t n = a.n, inner = a.inner;
    dispatch_numeric(x.dtype(), "data", [&](auto t) {
      using T = decltype(t);
      const T* s = x.data<T>();
      int64_t* d = y.data<int64_t>();
      a.for_each_lane([&](int64_t base, int64_t o, int64_t i) {
        const T* p = s + base;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k) {
          const T v = p[k * inner], b = p[best * inner];
          const bool better = max_ ? (last_ ? v >= b : v > b) : (last_ ? v <= b : v < b);
          if (better) best = k;
        }
        d[o * inner + i] = best;
      });
    });
  }

 private:
  bool max_;
  int64_t axis_;
  bool keepdims_, last_;
};

}  // namespace

OpPtr build_reduce(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  const std::string& op = ctx.node().op_type;
  Reduce kind;
  if (op == "ReduceMean")
    kind = Reduce::Mean;
  else if (op == "ReduceSum")
    kind = Reduce::Sum;
  else if (op == "ReduceMax")
    kind = Reduce::Max;
  else if (op == "ReduceMin")
    kind = Reduce::Min;
  else if (op == "ReduceProd")
    kind = Reduce::Prod;
  else if (op == "ReduceSumSquare")
    kind = Reduce::SumSquare;
  else if (op == "ReduceL2")
    kind = Reduce::L2;
  else
    ctx.fail("not a reduction");
  const int input_opset = kind == Reduce::Sum ? 13 : 18;
  bool from_input = false;
  std::vector<int64_t> axes = list_attr_or_input(ctx, "axes", input_opset, 1, &from_input);
  const int64_t keepdims = ctx.get_int("keepdims", 1);
  const int64_t noop = ctx.get_int("noop_with_empty_axes", 0);
  if ((keepdims != 0 && keepdims != 1) || (noop != 0 && noop != 1))
    ctx.fail("attributes 'keepdims' and 'noop_with_empty_axes' must be 0 or 1");
  return std::make_unique<ReduceOp>(kind, std::move(axes), from_input, keepdims == 1, noop == 1);
}

OpPtr build_arg_reduce(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  return std::make_unique<ArgReduceOp>(ctx.node().op_type == "ArgMax", ctx.get_int("axis", 0),
                                       ctx.get_int("keepdims", 1) != 0, ctx.get_int("select_last_index", 0) != 0);
}

}  // namespace lstmrt

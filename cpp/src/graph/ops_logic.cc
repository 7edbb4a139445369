// Comparisons and logic, whose results are bool, and Where, which selects by a bool condition.

#include "builders.h"
#include "broadcast_apply.h"

namespace lstmrt {

namespace {

// ---------------------------------------------------------------------------------------------
// Comparisons and logic (bool results).

enum class Cmp { Equal, Less, Greater, LessOrEqual, GreaterOrEqual };

class CompareOp final : public Op {
 public:
  explicit CompareOp(Cmp kind) : kind_(kind) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const int threads = resolve_threads(ctx.threads);
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    same_dtype(a, b);
    Tensor& y = *out[0];
    y.ensure(DType::Bool, broadcast_shapes(a.shape(), b.shape()));
    dispatch_all(a.dtype(), [&](auto t) {
      using T = decltype(t);
      switch (kind_) {
        case Cmp::Equal:
          return binary_apply_on<T, T, bool>(threads, a, b, y, [](T p, T q) { return p == q; });
        case Cmp::Less:
          return binary_apply_on<T, T, bool>(threads, a, b, y, [](T p, T q) { return p < q; });
        case Cmp::Greater:
          return binary_apply_on<T, T, bool>(threads, a, b, y, [](T p, T q) { return p > q; });
        case Cmp::LessOrEqual:
          return binary_apply_on<T, T, bool>(threads, a, b, y, [](T p, T q) { return p <= q; });
        case Cmp::GreaterOrEqual:
          return binary_apply_on<T, T, bool>(threads, a, b, y, [](T p, T q) { return p >= q; });
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

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const int threads = resolve_threads(ctx.threads);
    const Tensor& a = *in[0];
    const Tensor& b = *in[1];
    expect_dtype(a, DType::Bool, "A");
    expect_dtype(b, DType::Bool, "B");
    Tensor& y = *out[0];
    y.ensure(DType::Bool, broadcast_shapes(a.shape(), b.shape()));
    switch (kind_) {
      case Logic::And:
        return binary_apply_on<bool, bool, bool>(threads, a, b, y, [](bool p, bool q) { return p && q; });
      case Logic::Or:
        return binary_apply_on<bool, bool, bool>(threads, a, b, y, [](bool p, bool q) { return p || q; });
      case Logic::Xor:
        return binary_apply_on<bool, bool, bool>(threads, a, b, y, [](bool p, bool q) { return p != q; });
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
// Where(condition, X, Y).

// out[j] = c[j * sc] ? a[j * sa] : b[j * sb] for j < n. The layouts masks come in (every operand
// contiguous, or one of the values a scalar) get loops of their own, which the compiler
// vectorizes.
template <class T>
void select_row(const bool* c, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  if (sc == 1 && sa == 1 && sb == 1) {
    for (int64_t j = 0; j < n; ++j) out[j] = c[j] ? a[j] : b[j];
  } else if (sc == 1 && sa == 1 && sb == 0) {
    const T bv = *b;
    for (int64_t j = 0; j < n; ++j) out[j] = c[j] ? a[j] : bv;
  } else if (sc == 1 && sa == 0 && sb == 1) {
    const T av = *a;
    for (int64_t j = 0; j < n; ++j) out[j] = c[j] ? av : b[j];
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = c[j * sc] ? a[j * sa] : b[j * sb];
  }
}

class WhereOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& c = *in[0];
    const Tensor& a = *in[1];
    const Tensor& b = *in[2];
    expect_dtype(c, DType::Bool, "condition");
    same_dtype(a, b);
    const DimVector shape = broadcast_shapes(broadcast_shapes(c.shape(), a.shape()), b.shape());
    Tensor& y = *out[0];
    y.ensure(a.dtype(), shape);
    const int64_t n = y.numel();
    // Each operand whole or a single value (a mask over a waveform): one run, split over threads
    // (see binary_apply_on).
    auto stride = [n](const Tensor& t) -> int64_t { return t.numel() == n ? 1 : (t.numel() == 1 ? 0 : -1); };
    const int64_t wc = stride(c), wa = stride(a), wb = stride(b);
    const bool one_run = wc >= 0 && wa >= 0 && wb >= 0;
    dispatch_all(a.dtype(), [&](auto t) {
      using T = decltype(t);
      const bool* pc = c.data<bool>();
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = y.data<T>();
      if (one_run) {
        parallel_for(n, elementwise_threads(n, resolve_threads(ctx.threads)), kParallelGrain, [&](int64_t s, int64_t e) {
          select_row(pc + s * wc, wc, pa + s * wa, wa, pb + s * wb, wb, po + s, e - s);
        });
        return;
      }
      StridedLoop loop(shape, {broadcast_strides(c.shape(), shape), broadcast_strides(a.shape(), shape),
                               broadcast_strides(b.shape(), shape)});
      const int64_t sc = loop.inner_stride(0), sa = loop.inner_stride(1), sb = loop.inner_stride(2);
      int64_t o = 0;
      loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t rows) {
        select_row(pc + off[0], sc, pa + off[1], sa, pb + off[2], sb, po + o, rows);
        o += rows;
      });
    });
  }
};

}  // namespace

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

OpPtr build_where(const BuildContext& ctx) {
  ctx.require_input(0, "condition");
  ctx.require_input(1, "X");
  ctx.require_input(2, "Y");
  return std::make_unique<WhereOp>();
}

}  // namespace lstmrt

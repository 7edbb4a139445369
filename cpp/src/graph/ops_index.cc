// Index-driven operators: TopK, GatherElements, ScatterElements (and its older name Scatter).
// The legacy torch exporter emits TopK and ScatterElements to sort a packed batch by length and
// to undo that order afterwards.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

class TopKOp final : public Op {
 public:
  TopKOp(int64_t axis, bool largest, int64_t k_attr) : axis_(axis), largest_(largest), k_attr_(k_attr) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    const int64_t r = static_cast<int64_t>(x.rank());
    if (r == 0) throw ValueError("TopK does not take a scalar");
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    int64_t k = k_attr_;
    if (in.size() > 1 && in[1]) {
      const DimVector kv = int_values(*in[1], "K");
      if (kv.size() != 1) throw ValueError("K must hold one value, got " + std::to_string(kv.size()));
      k = kv[0];
    }
    const AxisSplit a(x.shape(), axis);
    const int64_t n = a.n, inner = a.inner;
    if (k < 0 || k > n)
      throw ValueError("K = " + std::to_string(k) + " is out of range for axis " + std::to_string(axis_) +
                       " of shape " + shape_to_string(x.shape()));
    Shape shape = x.shape();
    shape[axis] = k;
    Tensor* values = out.size() > 0 ? out[0] : nullptr;
    Tensor* indices = out.size() > 1 ? out[1] : nullptr;
    if (values) values->ensure(x.dtype(), shape);
    if (indices) indices->ensure(DType::Int64, shape);
    Tensor& order_t = ctx.scratch_tensor(0);
    order_t.ensure(DType::Int64, {n});
    int64_t* order = order_t.data<int64_t>();
    dispatch_numeric(x.dtype(), "X", [&](auto t) {
      using T = decltype(t);
      const T* s = x.data<T>();
      a.for_each_lane([&](int64_t base, int64_t o, int64_t i) {
        const T* p = s + base;
        std::iota(order, order + n, int64_t{0});
        // Equal values keep the lower index first, as the spec asks.
        auto before = [&](int64_t u, int64_t v) {
          const T pu = p[u * inner], pv = p[v * inner];
          if (pu != pv) return largest_ ? pu > pv : pu < pv;
          return u < v;
        };
        // sorted = 0 leaves the order unspecified; sorting anyway is one valid order.
        std::partial_sort(order, order + k, order + n, before);
        for (int64_t j = 0; j < k; ++j) {
          const int64_t at = o * k * inner + j * inner + i;
          if (values) values->data<T>()[at] = p[order[j] * inner];
          if (indices) indices->data<int64_t>()[at] = order[j];
        }
      });
    });
  }

 private:
  int64_t axis_;
  bool largest_;
  int64_t k_attr_;
};

// Reads indices[i] (int32 or int64), wrapped if negative and checked against `dim`.
int64_t index_at(const Tensor& idx, int64_t i, int64_t dim) {
  int64_t k = idx.int_at(i);
  if (k < -dim || k >= dim)
    throw ValueError("index " + std::to_string(k) + " is out of range for an axis of size " + std::to_string(dim));
  return k < 0 ? k + dim : k;
}

// For each element of `idx` (an index tensor of the same rank as `data`), the flat offset into
// `data` with the coordinate along `axis` replaced by the index value.
template <class Fn>
void for_each_element_index(const Tensor& data, const Tensor& idx, size_t axis, Fn&& fn) {
  const size_t r = data.rank();
  std::vector<int64_t> strides(r, 1);
  for (size_t i = r; i-- > 1;) strides[i - 1] = strides[i] * data.dim(i);
  std::vector<int64_t> coord(r, 0);
  const int64_t total = idx.numel();
  const int64_t dim = data.dim(axis);
  for (int64_t e = 0; e < total; ++e) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d) off += (d == axis ? index_at(idx, e, dim) : coord[d]) * strides[d];
    fn(e, off);
    for (size_t d = r; d-- > 0;) {
      if (++coord[d] < idx.dim(d)) break;
      coord[d] = 0;
    }
  }
}

void check_index_shape(const Tensor& data, const Tensor& idx, size_t axis, const char* op) {
  expect_integer(idx, "indices");
  bool ok = idx.rank() == data.rank();
  for (size_t d = 0; ok && d < data.rank(); ++d) ok = d == axis || idx.dim(d) <= data.dim(d);
  if (!ok)
    throw ValueError(std::string(op) + ": indices of shape " + shape_to_string(idx.shape()) +
                     " do not fit data of shape " + shape_to_string(data.shape()));
}

class GatherElementsOp final : public Op {
 public:
  explicit GatherElementsOp(int64_t axis) : axis_(axis) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& idx = *in[1];
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    check_index_shape(x, idx, axis, "GatherElements");
    out[0]->ensure(x.dtype(), idx.shape());
    const size_t es = dtype_size(x.dtype());
    const char* s = static_cast<const char*>(x.raw());
    char* d = static_cast<char*>(out[0]->raw());
    for_each_element_index(x, idx, axis, [&](int64_t e, int64_t off) { std::memcpy(d + e * es, s + off * es, es); });
  }

 private:
  int64_t axis_;
};

enum class Reduction { None, Add, Mul, Max, Min };

class ScatterElementsOp final : public Op {
 public:
  ScatterElementsOp(int64_t axis, Reduction reduction) : axis_(axis), reduction_(reduction) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& idx = *in[1];
    const Tensor& upd = *in[2];
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    check_index_shape(x, idx, axis, "ScatterElements");
    if (upd.shape() != idx.shape())
      throw ValueError("updates of shape " + shape_to_string(upd.shape()) + " do not match indices of shape " +
                       shape_to_string(idx.shape()));
    if (upd.dtype() != x.dtype())
      throw TypeError(std::string("updates are ") + dtype_name(upd.dtype()) + ", data is " + dtype_name(x.dtype()));
    Tensor& y = *out[0];
    y.ensure(x.dtype(), x.shape());
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    dispatch_all(x.dtype(), [&](auto t) {
      using T = decltype(t);
      T* d = y.data<T>();
      const T* u = upd.data<T>();
      for_each_element_index(x, idx, axis, [&](int64_t e, int64_t off) {
        switch (reduction_) {
          case Reduction::None:
            d[off] = u[e];
            break;
          case Reduction::Add:
            d[off] = static_cast<T>(d[off] + u[e]);
            break;
          case Reduction::Mul:
            d[off] = static_cast<T>(d[off] * u[e]);
            break;
          case Reduction::Max:
            d[off] = d[off] < u[e] ? u[e] : d[off];
            break;
          case Reduction::Min:
            d[off] = u[e] < d[off] ? u[e] : d[off];
            break;
        }
      });
    });
  }

 private:
  int64_t axis_;
  Reduction reduction_;
};

// ReverseSequence: reverses the first sequence_lens[b] steps of each batch entry b along the time
// axis; the steps past the length are copied unchanged. Time and batch are axes 0 and 1.
class ReverseSequenceOp final : public Op {
 public:
  ReverseSequenceOp(int64_t batch_axis, int64_t time_axis) : batch_axis_(batch_axis), time_axis_(time_axis) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& lens = *in[1];
    expect_integer(lens, "sequence_lens");
    if (x.rank() < 2) throw ValueError("input must have rank >= 2, got shape " + shape_to_string(x.shape()));
    const int64_t T = x.dim(static_cast<size_t>(time_axis_)), B = x.dim(static_cast<size_t>(batch_axis_));
    if (lens.rank() != 1 || lens.dim(0) != B)
      throw ValueError("sequence_lens of shape " + shape_to_string(lens.shape()) + " does not match batch size " +
                       std::to_string(B) + " of input shape " + shape_to_string(x.shape()));
    int64_t inner = 1;
    for (size_t i = 2; i < x.rank(); ++i) inner *= x.dim(i);
    const size_t row = static_cast<size_t>(inner) * dtype_size(x.dtype());
    out[0]->ensure(x.dtype(), x.shape());
    const char* s = static_cast<const char*>(x.raw());
    char* d = static_cast<char*>(out[0]->raw());
    auto at = [&](int64_t t, int64_t b) { return static_cast<size_t>(time_axis_ == 0 ? t * B + b : b * T + t) * row; };
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = lens.int_at(b);
      if (len < 0 || len > T)
        throw ValueError("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) + " is outside [0, " +
                         std::to_string(T) + "]");
      for (int64_t t = 0; t < T; ++t) std::memcpy(d + at(t, b), s + at(t < len ? len - 1 - t : t, b), row);
    }
  }

 private:
  int64_t batch_axis_, time_axis_;
};

}  // namespace

OpPtr build_reverse_sequence(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  ctx.require_input(1, "sequence_lens");
  const int64_t batch = ctx.get_int("batch_axis", 1), time = ctx.get_int("time_axis", 0);
  if (!((batch == 0 && time == 1) || (batch == 1 && time == 0)))
    ctx.fail("batch_axis and time_axis must be 0 and 1 in either order, got " + std::to_string(batch) + " and " +
             std::to_string(time));
  return std::make_unique<ReverseSequenceOp>(batch, time);
}

OpPtr build_topk(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  int64_t k = -1;
  if (ctx.opset() < 10) {
    if (!ctx.has_attr("k")) ctx.fail("attribute 'k' is required");
    k = ctx.get_int("k", 0);
  } else {
    ctx.require_input(1, "K");
  }
  return std::make_unique<TopKOp>(ctx.get_int("axis", -1), ctx.get_int("largest", 1) != 0, k);
}

OpPtr build_gather_elements(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  ctx.require_input(1, "indices");
  return std::make_unique<GatherElementsOp>(ctx.get_int("axis", 0));
}

OpPtr build_scatter_elements(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  ctx.require_input(1, "indices");
  ctx.require_input(2, "updates");
  const std::string r = ctx.get_string("reduction", "none");
  Reduction red;
  if (r == "none")
    red = Reduction::None;
  else if (r == "add")
    red = Reduction::Add;
  else if (r == "mul")
    red = Reduction::Mul;
  else if (r == "max")
    red = Reduction::Max;
  else if (r == "min")
    red = Reduction::Min;
  else
    ctx.fail("attribute 'reduction' must be none, add, mul, max or min, got '" + r + "'");
  return std::make_unique<ScatterElementsOp>(ctx.get_int("axis", 0), red);
}

}  // namespace lstmrt

// Operators that produce values rather than move them: Constant, ConstantOfShape, and the shape
// arithmetic exporters emit (Shape, Size, Range).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

class ConstantOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }
  explicit ConstantOp(Tensor value) : value_(std::move(value)) {}
  void run(const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, RunContext&) const override {
    out[0]->view_of(value_, value_.shape());
  }

 private:
  Tensor value_;
};

class ConstantOfShapeOp final : public Op {
 public:
  explicit ConstantOfShapeOp(Tensor value) : value_(std::move(value)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const DimVector shape = int_values(*in[0], "input");
    for (int64_t d : shape)
      if (d < 0) throw ValueError("negative dimension in shape " + shape_to_string(shape));
    Tensor& y = *out[0];
    y.ensure(value_.dtype(), shape);
    const size_t es = dtype_size(value_.dtype());
    char* d = static_cast<char*>(y.raw());
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(d + i * es, value_.raw(), es);
  }

 private:
  Tensor value_;
};

class ShapeOp final : public Op {
 public:
  ShapeOp(int64_t start, int64_t end, bool has_end) : start_(start), end_(end), has_end_(has_end) {}
  bool reads_only_shape(size_t i) const override { return i == 0; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const int64_t r = static_cast<int64_t>(in[0]->rank());
    auto clamp = [r](int64_t v) {
      if (v < 0) v += r;
      return std::max<int64_t>(0, std::min(v, r));
    };
    const int64_t b = clamp(start_);
    const int64_t e = has_end_ ? clamp(end_) : r;
    const int64_t n = std::max<int64_t>(0, e - b);
    out[0]->ensure(DType::Int64, {n});
    for (int64_t i = 0; i < n; ++i) out[0]->data<int64_t>()[i] = in[0]->dim(static_cast<size_t>(b + i));
  }

 private:
  int64_t start_, end_;
  bool has_end_;
};

class SizeOp final : public Op {
 public:
  bool reads_only_shape(size_t i) const override { return i == 0; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    out[0]->ensure(DType::Int64, {});
    out[0]->data<int64_t>()[0] = in[0]->numel();
  }
};

class RangeOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& start = *in[0];
    if (in[1]->dtype() != start.dtype() || in[2]->dtype() != start.dtype())
      throw TypeError("start, limit and delta must have the same type");
    const double s = scalar_double(start, "start"), l = scalar_double(*in[1], "limit"), dl = scalar_double(*in[2], "delta");
    if (dl == 0) throw ValueError("delta must not be 0");
    const double count = std::ceil((l - s) / dl);
    if (!(count <= static_cast<double>(kMaxElements)))  // also NaN: a start or limit of NaN or Inf
      throw ValueError("range from " + std::to_string(s) + " to " + std::to_string(l) + " by " + std::to_string(dl) +
                       " has too many elements");
    const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
    Tensor& y = *out[0];
    y.ensure(start.dtype(), {n});
    dispatch_numeric(start.dtype(), "start", [&](auto t) {
      using T = decltype(t);
      const T s0 = start.data<T>()[0], d0 = in[2]->data<T>()[0];
      T* p = y.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(s0 + static_cast<T>(i) * d0);
    });
  }
};

// A Constant holding `values` in a new tensor of the given type and shape.
template <class T>
OpPtr constant_of(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t(dtype, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<T>());
  return std::make_unique<ConstantOp>(std::move(t));
}

}  // namespace

OpPtr build_constant(const BuildContext& ctx) {
  const auto& attrs = ctx.node().attributes;
  if (attrs.size() != 1) ctx.fail("expects exactly one value attribute");
  const std::string& name = attrs.begin()->first;
  if (name == "value") return std::make_unique<ConstantOp>(ctx.get_tensor("value")->clone());
  if (name == "value_float") return constant_of<float>(DType::Float32, {}, {ctx.get_float("value_float", 0.0f)});
  if (name == "value_floats") {
    const std::vector<float> v = ctx.get_floats("value_floats");
    return constant_of<float>(DType::Float32, {static_cast<int64_t>(v.size())}, v);
  }
  if (name == "value_int") return constant_of<int64_t>(DType::Int64, {}, {ctx.get_int("value_int", 0)});
  if (name == "value_ints") {
    const std::vector<int64_t> v = ctx.get_ints("value_ints");
    return constant_of<int64_t>(DType::Int64, {static_cast<int64_t>(v.size())}, v);
  }
  ctx.fail("attribute '" + name + "' is not supported (strings and sparse tensors are not)");
}

OpPtr build_constant_of_shape(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  const Tensor* v = ctx.get_tensor("value");
  if (!v) return std::make_unique<ConstantOfShapeOp>(Tensor(DType::Float32, {1}));
  if (v->numel() != 1) ctx.fail("attribute 'value' must hold one element, got shape " + shape_to_string(v->shape()));
  return std::make_unique<ConstantOfShapeOp>(v->clone());
}

OpPtr build_shape(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  return std::make_unique<ShapeOp>(ctx.get_int("start", 0), ctx.get_int("end", 0), ctx.has_attr("end"));
}

OpPtr build_size(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  return std::make_unique<SizeOp>();
}

OpPtr build_range(const BuildContext& ctx) {
  ctx.require_input(0, "start");
  ctx.require_input(1, "limit");
  ctx.require_input(2, "delta");
  return std::make_unique<RangeOp>();
}

}  // namespace lstmrt

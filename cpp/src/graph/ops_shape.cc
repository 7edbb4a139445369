// Shape computations and data movement: Reshape and friends (views, no copy), Transpose, Concat,
// Split, Slice, Gather, Expand, Tile, and the producers of shape tensors (Shape, Constant, Range).
// Where an attribute became an input in some opset (Squeeze/Unsqueeze axes and Split's split in
// 13, Slice's starts/ends in 10), the builder reads whichever the node's opset has.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// Copies input elements to the contiguous output, reading the input at `base` + the per-output-
// dim strides `in_strides` (which may be permuted, scaled or negative).
void strided_gather(const Tensor& x, int64_t base, Dims in_strides, Tensor& y) {
  const size_t es = dtype_size(x.dtype());
  StridedLoop loop(y.shape(), {in_strides});
  const char* src = static_cast<const char*>(x.raw()) + base * static_cast<int64_t>(es);
  char* dst = static_cast<char*>(y.raw());
  const int64_t st = loop.inner_stride(0);
  int64_t o = 0;
  auto copy_row = [&](auto t) {
    using T = decltype(t);
    loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
      const T* s = reinterpret_cast<const T*>(src) + off[0];
      T* d = reinterpret_cast<T*>(dst) + o;
      if (st == 1)
        std::memcpy(d, s, n * sizeof(T));
      else
        for (int64_t j = 0; j < n; ++j) d[j] = s[j * st];
      o += n;
    });
  };
  switch (es) {
    case 8:
      copy_row(int64_t());
      break;
    case 4:
      copy_row(int32_t());
      break;
    default:
      copy_row(uint8_t());
      break;
  }
}

// The axes list of Squeeze/Unsqueeze/Reduce: the attribute before `input_opset`, the optional
// input from it on. `present` tells whether any axes were given.
std::vector<int64_t> axes_from(const BuildContext& ctx, int input_opset, size_t slot, bool* from_input) {
  *from_input = false;
  if (ctx.opset() < input_opset || ctx.has_attr("axes")) return ctx.get_ints("axes");
  if (ctx.has_input(slot)) *from_input = true;
  return {};
}

// Squeeze/Unsqueeze read a constant axes input (opset 13 on) once, here, instead of on every run.
// Any other (not an integer list) is left to the run, which reports it as before.
void take_constant_axes(const BuildContext& ctx, size_t slot, std::vector<int64_t>* axes, bool* from_input) {
  const Tensor* c = ctx.constant(slot);
  if (!*from_input || !c || c->rank() > 1 || (c->dtype() != DType::Int64 && c->dtype() != DType::Int32)) return;
  *axes = c->to_int64_vector();
  *from_input = false;
}

// ---------------------------------------------------------------------------------------------

class IdentityOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    out[0]->view_of(*in[0], in[0]->shape());
  }
};

class DropoutOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }
  explicit DropoutOp(bool bool_mask) : bool_mask_(bool_mask) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    if (in.size() > 2 && in[2] && in[2]->numel() > 0 && in[2]->int_at(0) != 0)
      throw ValueError("training_mode = true is not supported (lstmrt runs inference only)");
    out[0]->view_of(*in[0], in[0]->shape());
    if (out.size() > 1 && out[1]) {
      Tensor& mask = *out[1];
      if (bool_mask_ || in[0]->dtype() != DType::Float32) {
        mask.ensure(DType::Bool, in[0]->shape());
        std::memset(mask.raw(), 1, mask.nbytes());
      } else {
        mask.ensure(DType::Float32, in[0]->shape());
        std::fill(mask.data<float>(), mask.data<float>() + mask.numel(), 1.0f);
      }
    }
  }

 private:
  bool bool_mask_;
};

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

class ReshapeOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }
  explicit ReshapeOp(bool allowzero) : allowzero_(allowzero) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    ShapeMemo& memo = shape_memo(ctx);
    memo.begin();
    memo.add_shape(x.shape());
    memo.add_values(*in[1]);
    if (!memo.hit()) memo.store(derive(x, *in[1]));
    out[0]->view_of(x, memo.shape);
  }

 private:
  DimVector derive(const Tensor& x, const Tensor& spec_tensor) const {
    const DimVector spec = int_values(spec_tensor, "shape");
    DimVector shape(spec.size());
    int64_t unknown = -1, known = 1;
    for (size_t i = 0; i < spec.size(); ++i) {
      int64_t v = spec[i];
      if (v == 0 && !allowzero_) {
        if (i >= x.rank())
          throw ValueError("cannot reshape input of shape " + shape_to_string(x.shape()) + " into " +
                           shape_to_string(spec) + ": a 0 at position " + std::to_string(i) + " copies a dimension the input lacks");
        v = x.dim(i);
      } else if (v == -1) {
        if (unknown >= 0)
          throw ValueError("cannot reshape input of shape " + shape_to_string(x.shape()) + " into " +
                           shape_to_string(spec) + ": more than one -1");
        unknown = static_cast<int64_t>(i);
        continue;
      } else if (v < 0) {
        throw ValueError("cannot reshape input of shape " + shape_to_string(x.shape()) + " into " +
                         shape_to_string(spec) + ": negative dimension");
      }
      shape[i] = v;
      known = checked_dim_product(known, v);
    }
    if (unknown >= 0) {
      if (known == 0 || x.numel() % known != 0)
        throw ValueError("cannot reshape input of shape " + shape_to_string(x.shape()) + " (" +
                         std::to_string(x.numel()) + " elements) into " + shape_to_string(spec));
      shape[unknown] = x.numel() / known;
    } else if (known != x.numel()) {
      throw ValueError("cannot reshape input of shape " + shape_to_string(x.shape()) + " (" + std::to_string(x.numel()) +
                       " elements) into " + shape_to_string(spec) + " (" + std::to_string(known) + " elements)");
    }
    return shape;
  }

  bool allowzero_;
};

class FlattenOp final : public Op {
 public:
  bool may_alias_input() const override { return true; }
  explicit FlattenOp(int64_t axis) : axis_(axis) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    ShapeMemo& memo = shape_memo(ctx);
    if (!memo.hit_shape(x.shape())) {
      memo.begin();
      memo.add_shape(x.shape());
      memo.store(derive(x));
    }
    out[0]->view_of(x, memo.shape);
  }

 private:
  DimVector derive(const Tensor& x) const {
    const int64_t r = static_cast<int64_t>(x.rank());
    int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis > r)
      throw ValueError("axis " + std::to_string(axis_) + " is out of range for input of shape " + shape_to_string(x.shape()));
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.dim(static_cast<size_t>(i));
    DimVector shape;
    shape.push_back(outer);
    shape.push_back(inner);
    return shape;
  }

  int64_t axis_;
};

// Squeeze and Unsqueeze: the output is a view of the input under a shape derived from the input's
// shape and the axes (an attribute, or input 1 from opset 13). The derived shape is remembered
// per run plan and recomputed only when the input shape or the fed axes change.
class AxesViewOp : public Op {
 public:
  bool may_alias_input() const override { return true; }
  AxesViewOp(std::vector<int64_t> axes, bool from_input) : axes_(std::move(axes)), from_input_(from_input) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    const Tensor* axes_in = from_input_ && in.size() > 1 ? in[1] : nullptr;
    ShapeMemo& memo = shape_memo(ctx);
    if (axes_in || !memo.hit_shape(x.shape())) {
      memo.begin();
      memo.add_shape(x.shape());
      if (axes_in) memo.add_values(*axes_in);
      if (!memo.hit()) memo.store(derive(x, axes_in));
    }
    out[0]->view_of(x, memo.shape);
  }

 protected:
  // The output shape; axes_in is the fed axes tensor, or null to use the attribute.
  virtual DimVector derive(const Tensor& x, const Tensor* axes_in) const = 0;

  std::vector<int64_t> axes_;
  bool from_input_;
};

class SqueezeOp final : public AxesViewOp {
 public:
  using AxesViewOp::AxesViewOp;

 private:
  DimVector derive(const Tensor& x, const Tensor* axes_in) const override {
    const int64_t r = static_cast<int64_t>(x.rank());
    const bool axes_fed = axes_in != nullptr;
    const DimVector fed = axes_fed ? int_values(*axes_in, "axes") : DimVector();
    const Dims axes = axes_fed ? Dims(fed) : Dims(axes_);
    DimVector drop(x.rank(), 0);
    if (axes.empty()) {
      for (size_t i = 0; i < x.rank(); ++i) drop[i] = x.dim(i) == 1;
    } else {
      for (int64_t a : axes) {
        const int64_t k = normalize_axis(a, r, "axes entry");
        if (x.dim(static_cast<size_t>(k)) != 1)
          throw ValueError("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_to_string(x.shape()) +
                           ": its size is " + std::to_string(x.dim(static_cast<size_t>(k))));
        drop[static_cast<size_t>(k)] = 1;
      }
    }
    DimVector shape;
    for (size_t i = 0; i < x.rank(); ++i)
      if (!drop[i]) shape.push_back(x.dim(i));
    return shape;
  }
};

class UnsqueezeOp final : public AxesViewOp {
 public:
  using AxesViewOp::AxesViewOp;

 private:
  DimVector derive(const Tensor& x, const Tensor* axes_in) const override {
    const DimVector fed = axes_in ? int_values(*axes_in, "axes") : DimVector();
    const Dims axes = axes_in ? Dims(fed) : Dims(axes_);
    const int64_t r = static_cast<int64_t>(x.rank() + axes.size());
    DimVector added(static_cast<size_t>(r), 0);
    for (int64_t a : axes) {
      const int64_t k = normalize_axis(a, r, "axes entry");
      if (added[static_cast<size_t>(k)]) throw ValueError("axes " + shape_to_string(axes) + " repeat an axis");
      added[static_cast<size_t>(k)] = 1;
    }
    DimVector shape;
    size_t j = 0;
    for (int64_t i = 0; i < r; ++i) shape.push_back(added[static_cast<size_t>(i)] ? 1 : x.dim(j++));
    return shape;
  }
};

class TransposeOp final : public Op {
 public:
  // The output is a view of the input when the transpose only moves size-1 dims (as exporters'
  // Transpose of a [1, batch=1, features] step does): the elements' order is then unchanged.
  bool may_alias_input() const override { return true; }
  explicit TransposeOp(std::vector<int64_t> perm) : perm_(std::move(perm)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    // The memo's aux holds the input strides per output dim, empty when the output is a view.
    ShapeMemo& memo = shape_memo(ctx);
    if (!memo.hit_shape(x.shape())) {
      memo.begin();
      memo.add_shape(x.shape());
      derive(x, memo);
    }
    if (memo.aux.empty()) {
      out[0]->view_of(x, memo.shape);
      return;
    }
    out[0]->ensure(x.dtype(), memo.shape);
    strided_gather(x, 0, memo.aux, *out[0]);
  }

 private:
  void derive(const Tensor& x, ShapeMemo& memo) const {
    const size_t r = x.rank();
    if (!perm_.empty() && perm_.size() != r)
      throw ValueError("perm " + shape_to_string(perm_) + " does not match input of shape " + shape_to_string(x.shape()));
    DimVector perm(r), seen(r, 0), shape(r);
    bool keeps_order = true;  // the dims larger than 1 keep their relative order
    int64_t last = -1;
    for (size_t i = 0; i < r; ++i) {
      const int64_t p = perm_.empty() ? static_cast<int64_t>(r - 1 - i)
                                      : normalize_axis(perm_[i], static_cast<int64_t>(r), "perm entry");
      if (seen[static_cast<size_t>(p)]) throw ValueError("perm " + shape_to_string(perm_) + " is not a permutation");
      seen[static_cast<size_t>(p)] = 1;
      perm[i] = p;
      shape[i] = x.dim(static_cast<size_t>(p));
      if (shape[i] != 1) {
        keeps_order = keeps_order && p > last;
        last = p;
      }
    }
    memo.aux.clear();
    if (!keeps_order) {
      const DimVector xs = row_major_strides(x.shape());
      for (size_t i = 0; i < r; ++i) memo.aux.push_back(xs[static_cast<size_t>(perm[i])]);
    }
    memo.store(shape);
  }

  std::vector<int64_t> perm_;
};

class ConcatOp final : public Op {
 public:
  explicit ConcatOp(int64_t axis) : axis_(axis) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& first = *in[0];
    ShapeMemo& memo = shape_memo(ctx);
    memo.begin();
    for (const Tensor* t : in) {
      memo.add(static_cast<int64_t>(t->dtype()));
      memo.add_shape(t->shape());
    }
    if (!memo.hit()) derive(in, memo);
    const size_t axis = static_cast<size_t>(memo.aux[0]);
    const Shape& shape = memo.shape;
    Tensor& y = *out[0];
    y.ensure(first.dtype(), shape);
    const size_t es = dtype_size(first.dtype());
    int64_t outer = 1;
    for (size_t i = 0; i < axis; ++i) outer *= shape[i];
    const int64_t out_row = outer == 0 ? 0 : y.numel() / outer;
    int64_t col = 0;
    for (const Tensor* t : in) {
      const int64_t row = outer == 0 ? 0 : t->numel() / outer;
      const char* s = static_cast<const char*>(t->raw());
      char* d = static_cast<char*>(y.raw());
      for (int64_t o = 0; o < outer; ++o) std::memcpy(d + (o * out_row + col) * es, s + o * row * es, row * es);
      col += row;
    }
  }

 private:
  // Checks the inputs; the memo gets the output shape and, in aux, the axis.
  void derive(const std::vector<const Tensor*>& in, ShapeMemo& memo) const {
    const Tensor& first = *in[0];
    const int64_t r = static_cast<int64_t>(first.rank());
    if (r == 0) throw ValueError("cannot concatenate scalars");
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, r));
    DimVector shape(first.shape().begin(), first.shape().end());
    shape[axis] = 0;
    for (const Tensor* t : in) {
      if (t->dtype() != first.dtype())
        throw TypeError(std::string("inputs have different types: ") + dtype_name(first.dtype()) + " and " +
                        dtype_name(t->dtype()));
      bool ok = t->rank() == first.rank();
      for (size_t i = 0; ok && i < first.rank(); ++i) ok = i == axis || t->dim(i) == first.dim(i);
      if (!ok)
        throw ValueError("cannot concatenate shapes " + shape_to_string(first.shape()) + " and " +
                         shape_to_string(t->shape()) + " along axis " + std::to_string(axis_));
      shape[axis] += t->dim(axis);
    }
    memo.aux.assign(1, static_cast<int64_t>(axis));
    memo.store(shape);
  }

  int64_t axis_;
};

class SplitOp final : public Op {
 public:
  SplitOp(int64_t axis, std::vector<int64_t> split, bool from_input, bool uneven_ok)
      : axis_(axis), split_(std::move(split)), from_input_(from_input), uneven_ok_(uneven_ok) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    const int64_t dim = x.dim(axis);
    const int64_t n = static_cast<int64_t>(out.size());
    DimVector sizes = from_input_ && in.size() > 1 && in[1] ? int_values(*in[1], "split")
                                                             : DimVector(split_.begin(), split_.end());
    if (sizes.empty()) {
      if (n == 0) throw ValueError("a Split needs at least one output");
      const int64_t chunk = (dim + n - 1) / n;
      if (dim % n != 0 && !uneven_ok_)
        throw ValueError("cannot split dimension " + std::to_string(axis_) + " of shape " + shape_to_string(x.shape()) +
                         " into " + std::to_string(n) + " equal parts");
      for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
    }
    int64_t total = 0;
    bool in_range = true;
    for (int64_t s : sizes) {
      in_range = in_range && s >= 0 && s <= dim;
      if (in_range) total += s;
    }
    if (static_cast<int64_t>(sizes.size()) != n || !in_range || total != dim)
      throw ValueError("split " + shape_to_string(sizes) + " does not divide dimension " + std::to_string(axis_) +
                       " of shape " + shape_to_string(x.shape()) + " into " + std::to_string(n) + " outputs");
    const size_t es = dtype_size(x.dtype());
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; ++i) outer *= x.dim(i);
    for (size_t i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
    int64_t offset = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      DimVector shape(x.shape().begin(), x.shape().end());
      shape[axis] = sizes[k];
      if (out[k]) {
        out[k]->ensure(x.dtype(), shape);
        const char* s = static_cast<const char*>(x.raw());
        char* d = static_cast<char*>(out[k]->raw());
        const int64_t row = sizes[k] * inner;
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(d + o * row * es, s + (o * dim * inner + offset * inner) * es, row * es);
      }
      offset += sizes[k];
    }
  }

 private:
  int64_t axis_;
  std::vector<int64_t> split_;
  bool from_input_;
  bool uneven_ok_;
};

class SliceOp final : public Op {
 public:
  // opset < 10: starts/ends/axes attributes; later: inputs starts, ends, axes, steps.
  SliceOp(bool from_inputs, std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes)
      : from_inputs_(from_inputs), starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const int64_t r = static_cast<int64_t>(x.rank());
    DimVector starts(starts_.begin(), starts_.end()), ends(ends_.begin(), ends_.end()),
        axes(axes_.begin(), axes_.end()), steps;
    if (from_inputs_) {
      starts = int_values(*in[1], "starts");
      ends = int_values(*in[2], "ends");
      axes = in.size() > 3 && in[3] ? int_values(*in[3], "axes") : DimVector();
      if (in.size() > 4 && in[4]) steps = int_values(*in[4], "steps");
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.resize(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
      throw ValueError("starts, ends, axes and steps have different lengths (" + std::to_string(starts.size()) + ", " +
                       std::to_string(ends.size()) + ", " + std::to_string(axes.size()) + ", " +
                       std::to_string(steps.size()) + ")");
    const DimVector xs = row_major_strides(x.shape());
    DimVector shape(x.shape().begin(), x.shape().end());
    DimVector st = xs;
    DimVector seen(x.rank(), 0);
    int64_t base = 0;
    for (size_t i = 0; i < starts.size(); ++i) {
      const size_t a = static_cast<size_t>(normalize_axis(axes[i], r, "axes entry"));
      if (seen[a]) throw ValueError("axes " + shape_to_string(axes) + " repeat an axis");
      seen[a] = 1;
      const int64_t dim = x.dim(a), step = steps[i];
      if (step == 0) throw ValueError("steps must not be 0");
      int64_t b = starts[i], e = ends[i];
      if (b < 0) b += dim;
      if (e < 0) e += dim;
      int64_t len;
      if (step > 0) {
        b = std::max<int64_t>(0, std::min(b, dim));
        e = std::max<int64_t>(0, std::min(e, dim));
        len = e > b ? (e - b + step - 1) / step : 0;
      } else {
        b = std::max<int64_t>(0, std::min(b, dim - 1));
        e = std::max<int64_t>(-1, std::min(e, dim - 1));
        len = b > e ? (b - e + (-step) - 1) / (-step) : 0;
      }
      shape[a] = len;
      st[a] = xs[a] * step;
      if (len > 0) base += b * xs[a];
    }
    out[0]->ensure(x.dtype(), shape);
    if (out[0]->numel() > 0) strided_gather(x, base, st, *out[0]);
  }

 private:
  bool from_inputs_;
  std::vector<int64_t> starts_, ends_, axes_;
};

class ExpandOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const DimVector target = int_values(*in[1], "shape");
    DimVector shape;
    try {
      shape = broadcast_shapes(x.shape(), target);
    } catch (const ValueError&) {
      throw ValueError("cannot expand input of shape " + shape_to_string(x.shape()) + " to " + shape_to_string(target));
    }
    out[0]->ensure(x.dtype(), shape);
    broadcast_copy(x, *out[0]);
  }
};

class TileOp final : public Op {
 public:
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const DimVector reps = int_values(*in[1], "repeats");
    if (reps.size() != x.rank())
      throw ValueError("repeats " + shape_to_string(reps) + " must have one entry per dimension of shape " +
                       shape_to_string(x.shape()));
    // Tiling is broadcasting [1, d0, 1, d1, ...] to [r0, d0, r1, d1, ...].
    DimVector src, dst, shape;
    for (size_t i = 0; i < x.rank(); ++i) {
      if (reps[i] < 0) throw ValueError("repeats " + shape_to_string(reps) + " has a negative entry");
      src.push_back(1);
      src.push_back(x.dim(i));
      dst.push_back(reps[i]);
      dst.push_back(x.dim(i));
      shape.push_back(checked_dim_product(reps[i], x.dim(i)));
    }
    out[0]->ensure(x.dtype(), shape);
    Tensor from, to;
    from.set_borrowed(x.dtype(), src, const_cast<void*>(x.raw()));
    to.set_borrowed(x.dtype(), dst, out[0]->raw());
    broadcast_copy(from, to);
  }
};

class GatherOp final : public Op {
 public:
  explicit GatherOp(int64_t axis) : axis_(axis) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const Tensor& idx = *in[1];
    expect_integer(idx, "indices");
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, static_cast<int64_t>(x.rank())));
    DimVector shape(x.shape().begin(), x.shape().begin() + axis);
    for (int64_t d : idx.shape()) shape.push_back(d);
    for (size_t i = axis + 1; i < x.rank(); ++i) shape.push_back(x.dim(i));
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; ++i) outer *= x.dim(i);
    for (size_t i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
    const int64_t dim = x.dim(axis), n = idx.numel();
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = idx.int_at(j);
      if (k < -dim || k >= dim)
        throw ValueError("index " + std::to_string(k) + " is out of range for axis " + std::to_string(axis_) +
                         " of data with shape " + shape_to_string(x.shape()));
    }
    Tensor& y = *out[0];
    y.ensure(x.dtype(), shape);
    const size_t es = dtype_size(x.dtype());
    const char* s = static_cast<const char*>(x.raw());
    char* d = static_cast<char*>(y.raw());
    const size_t row = static_cast<size_t>(inner) * es;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < n; ++j) {
        int64_t k = idx.int_at(j);
        if (k < 0) k += dim;
        std::memcpy(d + (o * n + j) * row, s + (o * dim + k) * row, row);
      }
    }
  }

 private:
  int64_t axis_;
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

OpPtr build_identity(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  return std::make_unique<IdentityOp>();
}

OpPtr build_dropout(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  if (ctx.opset() >= 12 && ctx.constant(2) && ctx.constant(2)->numel() > 0 && ctx.constant(2)->int_at(0) != 0)
    ctx.fail("training_mode = true is not supported (lstmrt runs inference only)");
  if (ctx.opset() < 7 && ctx.get_int("is_test", 0) == 0) ctx.fail("is_test = 0 is not supported");
  return std::make_unique<DropoutOp>(ctx.opset() >= 10);
}

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

OpPtr build_reshape(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  ctx.require_input(1, "shape");
  const int64_t allowzero = ctx.get_int("allowzero", 0);
  if (allowzero != 0 && allowzero != 1) ctx.fail("attribute 'allowzero' must be 0 or 1, got " + std::to_string(allowzero));
  return std::make_unique<ReshapeOp>(allowzero == 1);
}

OpPtr build_flatten(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  return std::make_unique<FlattenOp>(ctx.get_int("axis", 1));
}

OpPtr build_squeeze(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  bool from_input = false;
  std::vector<int64_t> axes = axes_from(ctx, 13, 1, &from_input);
  take_constant_axes(ctx, 1, &axes, &from_input);
  return std::make_unique<SqueezeOp>(std::move(axes), from_input);
}

OpPtr build_unsqueeze(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  bool from_input = false;
  std::vector<int64_t> axes = axes_from(ctx, 13, 1, &from_input);
  if (!from_input && axes.empty()) {
    if (ctx.opset() >= 13) ctx.require_input(1, "axes");
    ctx.fail("attribute 'axes' is required");
  }
  take_constant_axes(ctx, 1, &axes, &from_input);
  return std::make_unique<UnsqueezeOp>(std::move(axes), from_input);
}

OpPtr build_transpose(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  return std::make_unique<TransposeOp>(ctx.get_ints("perm"));
}

OpPtr build_concat(const BuildContext& ctx) {
  if (ctx.num_inputs() == 0) ctx.fail("needs at least one input");
  if (!ctx.has_attr("axis")) ctx.fail("attribute 'axis' is required");
  for (size_t i = 0; i < ctx.num_inputs(); ++i) ctx.require_input(i, "inputs");
  return std::make_unique<ConcatOp>(ctx.get_int("axis", 0));
}

OpPtr build_split(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  if (ctx.num_outputs() == 0) ctx.fail("has no outputs");
  std::vector<int64_t> split;
  bool from_input = false;
  if (ctx.opset() < 13 || ctx.has_attr("split"))
    split = ctx.get_ints("split");
  else
    from_input = ctx.has_input(1);
  if (ctx.has_attr("num_outputs") && ctx.get_int("num_outputs", 0) != static_cast<int64_t>(ctx.num_outputs()))
    ctx.fail("attribute num_outputs=" + std::to_string(ctx.get_int("num_outputs", 0)) + " but the node has " +
             std::to_string(ctx.num_outputs()) + " outputs");
  return std::make_unique<SplitOp>(ctx.get_int("axis", 0), std::move(split), from_input, ctx.opset() >= 18);
}

OpPtr build_slice(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  if (ctx.opset() < 10) {
    if (!ctx.has_attr("starts") || !ctx.has_attr("ends")) ctx.fail("attributes 'starts' and 'ends' are required");
    return std::make_unique<SliceOp>(false, ctx.get_ints("starts"), ctx.get_ints("ends"), ctx.get_ints("axes"));
  }
  ctx.require_input(1, "starts");
  ctx.require_input(2, "ends");
  return std::make_unique<SliceOp>(true, std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{});
}

OpPtr build_expand(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  ctx.require_input(1, "shape");
  return std::make_unique<ExpandOp>();
}

OpPtr build_tile(const BuildContext& ctx) {
  ctx.require_input(0, "input");
  ctx.require_input(1, "repeats");
  return std::make_unique<TileOp>();
}

OpPtr build_gather(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  ctx.require_input(1, "indices");
  return std::make_unique<GatherOp>(ctx.get_int("axis", 0));
}

OpPtr build_range(const BuildContext& ctx) {
  ctx.require_input(0, "start");
  ctx.require_input(1, "limit");
  ctx.require_input(2, "delta");
  return std::make_unique<RangeOp>();
}

}  // namespace lstmrt

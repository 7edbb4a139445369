// Operators that copy a selection or rearrangement of their input: Transpose, Concat, Split, Slice,
// Expand, Tile, Gather. Where an attribute became an input in some opset (Split's split in 13,
// Slice's starts/ends in 10), the builder reads whichever the node's opset has.
#include <algorithm>
#include <array>
#include <cstring>

#include "broadcast_apply.h"
#include "builders.h"
#include "cpu/threading.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// Copies the elements of an output of shape `shape` to the contiguous `dst`, reading the input
// at `src` + the per-output-dim strides `in_strides` (which may be permuted, scaled or negative).
template <class T>
void gather_rows(const T* src, Dims shape, Dims in_strides, T* dst) {
  StridedLoop loop(shape, {in_strides});
  const int64_t st = loop.inner_stride(0);
  int64_t o = 0;
  loop.for_each_row([&](const std::array<int64_t, 3>& off, int64_t n) {
    const T* s = src + off[0];
    T* d = dst + o;
    if (st == 1)
      std::memcpy(d, s, n * sizeof(T));
    else
      for (int64_t j = 0; j < n; ++j) d[j] = s[j * st];
    o += n;
  });
}

// Copies input elements to the contiguous output, reading the input at `base` + the per-output-
// dim strides `in_strides`. A large output splits over `threads` by ranges of its first dim
// larger than 1, each range gathered on its own.
void strided_gather(const Tensor& x, int64_t base, Dims in_strides, Tensor& y, int threads = 1) {
  const size_t es = dtype_size(x.dtype());
  size_t lead = 0;
  while (lead + 1 < y.rank() && y.dim(lead) == 1) ++lead;
  const int64_t rows = y.rank() ? y.dim(lead) : 1;
  const int64_t row_elements = rows ? y.numel() / rows : 0;
  auto copy = [&](auto t) {
    using T = decltype(t);
    const T* src = static_cast<const T*>(x.raw()) + base;
    T* dst = static_cast<T*>(y.raw());
    parallel_for(rows, elementwise_threads(y.numel(), threads), 1, [&](int64_t r0, int64_t r1) {
      DimVector part(y.shape().begin(), y.shape().end());
      if (!part.empty()) part[lead] = r1 - r0;
      const int64_t lead_stride = in_strides.size() ? in_strides[lead] : 0;
      gather_rows<T>(src + r0 * lead_stride, part, in_strides, dst + r0 * row_elements);
    });
  };
  switch (es) {
    case 8:
      copy(int64_t());
      break;
    case 4:
      copy(int32_t());
      break;
    default:
      copy(uint8_t());
      break;
  }
}

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
    if (memo.must_derive(x.shape())) derive(x, memo);
    if (memo.aux.empty()) {
      out[0]->view_of(x, memo.shape);
      return;
    }
    out[0]->ensure(x.dtype(), memo.shape);
    strided_gather(x, 0, memo.aux, *out[0], resolve_threads(ctx.threads));
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
    const AxisSplit a(shape, axis);
    int64_t at = 0;  // where along the axis the next input goes
    for (const Tensor* t : in) {
      const int64_t len = t->dim(axis);
      copy_along_axis(t->raw(), len, 0, y.raw(), a.n, at, len, a.outer, a.inner, dtype_size(first.dtype()));
      at += len;
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
    const AxisSplit a(x.shape(), axis);
    int64_t offset = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      DimVector shape(x.shape().begin(), x.shape().end());
      shape[axis] = sizes[k];
      if (out[k]) {
        out[k]->ensure(x.dtype(), shape);
        copy_along_axis(x.raw(), dim, offset, out[k]->raw(), sizes[k], 0, sizes[k], a.outer, a.inner,
                        dtype_size(x.dtype()));
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

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
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
    if (out[0]->numel() > 0) strided_gather(x, base, st, *out[0], resolve_threads(ctx.threads));
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
    const AxisSplit a(x.shape(), axis);
    const int64_t dim = a.n, n = idx.numel();
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = idx.int_at(j);
      if (k < -dim || k >= dim)
        throw ValueError("index " + std::to_string(k) + " is out of range for axis " + std::to_string(axis_) +
                         " of data with shape " + shape_to_string(x.shape()));
    }
    Tensor& y = *out[0];
    y.ensure(x.dtype(), shape);
    for (int64_t j = 0; j < n; ++j) {
      int64_t k = idx.int_at(j);
      if (k < 0) k += dim;
      copy_along_axis(x.raw(), dim, k, y.raw(), n, j, 1, a.outer, a.inner, dtype_size(x.dtype()));
    }
  }

 private:
  int64_t axis_;
};

}  // namespace

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
  bool from_input = false;
  std::vector<int64_t> split = list_attr_or_input(ctx, "split", 13, 1, &from_input);
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

}  // namespace lstmrt

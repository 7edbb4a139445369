// Operators whose output is a view of their input under another shape (no copy): Identity,
// Dropout, Reshape, Flatten, Squeeze, Unsqueeze. Where an attribute became an input in some opset
// (Squeeze/Unsqueeze axes in 13), the builder reads whichever the node's opset has.
#include <algorithm>
#include <cstring>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// Squeeze/Unsqueeze read a constant axes input (opset 13 on) once, here, instead of on every run.
// Any other (not an integer list) is left to the run, which reports it as before.
void take_constant_axes(const BuildContext& ctx, size_t slot, std::vector<int64_t>* axes, bool* from_input) {
  const Tensor* c = ctx.constant(slot);
  if (!*from_input || !c || c->rank() > 1 || (c->dtype() != DType::Int64 && c->dtype() != DType::Int32)) return;
  *axes = c->to_int64_vector();
  *from_input = false;
}

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
    if (memo.must_derive(x.shape())) memo.store(derive(x));
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
  std::vector<int64_t> axes = list_attr_or_input(ctx, "axes", 13, 1, &from_input);
  take_constant_axes(ctx, 1, &axes, &from_input);
  return std::make_unique<SqueezeOp>(std::move(axes), from_input);
}

OpPtr build_unsqueeze(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  bool from_input = false;
  std::vector<int64_t> axes = list_attr_or_input(ctx, "axes", 13, 1, &from_input);
  if (!from_input && axes.empty()) {
    if (ctx.opset() >= 13) ctx.require_input(1, "axes");
    ctx.fail("attribute 'axes' is required");
  }
  take_constant_axes(ctx, 1, &axes, &from_input);
  return std::make_unique<UnsqueezeOp>(std::move(axes), from_input);
}

}  // namespace lstmrt

// MaxPool and AveragePool over the shared window geometry (window.h), and the global pools.
#include <algorithm>
#include <limits>

#include "builders.h"
#include "op_util.h"
#include "window.h"

namespace lstmrt {

namespace {

void check_pool_input(const Tensor& X) {
  expect_dtype(X, DType::Float32, "X");
  if (X.rank() < 3) throw ValueError("X must have rank 3 or more (N, C, spatial...), got shape " + shape_to_string(X.shape()));
}

class PoolOp final : public Op {
 public:
  PoolOp(const BuildContext& ctx, bool max)
      : spec_(WindowSpec::from_node(ctx, true)), max_(max) {
    if (spec_.kernel.empty()) ctx.fail("kernel_shape is required");
    if (max_) {
      storage_order_ = ctx.get_int("storage_order", 0);
      if (storage_order_ != 0 && storage_order_ != 1)
        ctx.fail("storage_order must be 0 or 1, got " + std::to_string(storage_order_));
    } else {
      const int64_t c = ctx.get_int("count_include_pad", 0);
      if (c != 0 && c != 1) ctx.fail("count_include_pad must be 0 or 1, got " + std::to_string(c));
      count_include_pad_ = c == 1;
      if (ctx.opset() < 19 && !spec_.dilations.empty())
        for (int64_t d : spec_.dilations)
          if (d != 1) ctx.fail("dilations are an AveragePool attribute from opset 19 on");
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    check_pool_input(X);
    const Window w = resolve_window(spec_, Dims(X.shape().data() + 2, X.rank() - 2), Dims());
    DimVector shape;
    shape.push_back(X.dim(0));
    shape.push_back(X.dim(1));
    for (int64_t o : w.out) shape.push_back(o);
    const int64_t planes = checked_mul(X.dim(0), X.dim(1), "the input");
    checked_mul(planes, w.out_count, "the output");
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, shape);
    Tensor* I = out.size() > 1 ? out[1] : nullptr;
    if (I) I->ensure(DType::Int64, shape);
    if (Y.numel() == 0) return;
    const int64_t P = w.out_count, KS = w.kernel_count;
    ctx.scratch_tensor(1);  // sizes the scratch list first: growing it would move the tensors
    Tensor& table = ctx.scratch_tensor(0);
    Tensor& padded = ctx.scratch_tensor(1);
    TableMemo& memo = table_memo(ctx);
    if (!memo.same(Dims(X.shape().data() + 2, X.rank() - 2), Dims())) {
      table.ensure(DType::Int64, {P, KS});
      padded.ensure(DType::Int64, {P});
      window_offsets(w, table.data<int64_t>(), padded.data<int64_t>(), !max_);
      memo.valid = true;
    }
    const int64_t* t = table.data<int64_t>();
    for (int64_t c = 0; c < planes; ++c) {
      const float* x = X.data<float>() + c * w.in_count;
      float* y = Y.data<float>() + c * P;
      if (max_)
        max_plane(x, w, t, y, I ? I->data<int64_t>() + c * P : nullptr, c);
      else
        average_plane(x, w, t, padded.data<int64_t>(), y);
    }
  }

 private:
  // The window's largest value (NaN skipped, as ONNX Runtime does) and, when asked, its index
  // in the whole input tensor.
  void max_plane(const float* x, const Window& w, const int64_t* table, float* y, int64_t* idx, int64_t plane) const {
    const int64_t KS = w.kernel_count;
    for (int64_t p = 0; p < w.out_count; ++p) {
      const int64_t* offs = table + p * KS;
      float best = std::numeric_limits<float>::lowest();
      int64_t at = -1;
      for (int64_t k = 0; k < KS; ++k)
        if (offs[k] >= 0 && x[offs[k]] > best) {
          best = x[offs[k]];
          at = offs[k];
        }
      y[p] = best;
      if (idx) idx[p] = at < 0 ? -1 : plane * w.in_count + (storage_order_ ? to_column_major(at, w) : at);
    }
  }

  void average_plane(const float* x, const Window& w, const int64_t* table, const int64_t* padded, float* y) const {
    const int64_t KS = w.kernel_count;
    for (int64_t p = 0; p < w.out_count; ++p) {
      const int64_t* offs = table + p * KS;
      float sum = 0.0f;
      int64_t n = 0;
      for (int64_t k = 0; k < KS; ++k)
        if (offs[k] >= 0) {
          sum += x[offs[k]];
          ++n;
        }
      const int64_t count = count_include_pad_ ? padded[p] : n;
      y[p] = count > 0 ? sum / static_cast<float>(count) : 0.0f;
    }
  }

  // The offset of the same element when the plane is stored column-major (dim 0 fastest).
  static int64_t to_column_major(int64_t off, const Window& w) {
    DimVector idx(w.in.size(), 0);
    for (size_t d = w.in.size(); d-- > 0;) {
      idx[d] = off % w.in[d];
      off /= w.in[d];
    }
    int64_t col = 0;
    for (size_t d = w.in.size(); d-- > 0;) col = col * w.in[d] + idx[d];
    return col;
  }

  WindowSpec spec_;
  bool max_;
  int64_t storage_order_ = 0;
  bool count_include_pad_ = false;
};

// GlobalAveragePool and GlobalMaxPool: one value per (batch, channel) plane.
class GlobalPoolOp final : public Op {
 public:
  explicit GlobalPoolOp(bool max) : max_(max) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& X = *in[0];
    check_pool_input(X);
    DimVector shape(X.rank(), 1);
    shape[0] = X.dim(0);
    shape[1] = X.dim(1);
    const int64_t planes = X.dim(0) * X.dim(1);
    const int64_t n = planes ? X.numel() / planes : 0;
    if (n == 0 && planes > 0) throw ValueError("cannot pool an empty plane of shape " + shape_to_string(X.shape()));
    Tensor& Y = *out[0];
    Y.ensure(DType::Float32, shape);
    for (int64_t c = 0; c < planes; ++c) {
      const float* x = X.data<float>() + c * n;
      if (max_) {
        float best = x[0];
        for (int64_t i = 1; i < n; ++i) best = std::max(best, x[i]);
        Y.data<float>()[c] = best;
      } else {
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += x[i];
        Y.data<float>()[c] = static_cast<float>(sum / static_cast<double>(n));
      }
    }
  }

 private:
  bool max_;
};

}  // namespace

OpPtr build_pool(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  const bool max = ctx.node().op_type == "MaxPool";
  if (!max && ctx.has_output(1)) ctx.fail("AveragePool has one output");
  return std::make_unique<PoolOp>(ctx, max);
}

OpPtr build_global_pool(const BuildContext& ctx) {
  ctx.require_input(0, "X");
  return std::make_unique<GlobalPoolOp>(ctx.node().op_type == "GlobalMaxPool");
}

}  // namespace lstmrt

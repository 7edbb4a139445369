// Pad: the opset 2 attribute form, the opset 11 input form (pads and constant_value as inputs)
// and opset 18's axes input; modes constant, reflect, edge and wrap. Negative pads crop.
#include <algorithm>
#include <cstring>
#include <string>

#include "builders.h"
#include "op_util.h"
#include "window.h"

namespace lstmrt {

namespace {

enum class PadMode { Constant, Reflect, Edge, Wrap };

// The input index that output index i of an axis reads, or -1 for the constant. `n` is the
// input's size along the axis; `before` and `after` its pads. Negative pads crop first, and the
// modes then reflect, repeat or wrap the cropped part (as ONNX Runtime does).
int64_t source_index(int64_t i, int64_t n, int64_t before, int64_t after, PadMode mode) {
  const int64_t lo = before < 0 ? -before : 0;
  const int64_t m = n - lo - (after < 0 ? -after : 0);
  int64_t s = i - (before > 0 ? before : 0);
  if (s >= 0 && s < m) return lo + s;
  switch (mode) {
    case PadMode::Constant:
      return -1;
    case PadMode::Edge:
      return lo + (s < 0 ? 0 : m - 1);
    case PadMode::Wrap:
      return lo + ((s % m) + m) % m;
    case PadMode::Reflect: {
      // Mirrors about the first and last elements, which are not repeated; period 2(m - 1).
      if (m == 1) return lo;
      const int64_t period = 2 * (m - 1);
      s = ((s % period) + period) % period;
      return lo + (s < m ? s : period - s);
    }
  }
  return -1;
}

class PadOp final : public Op {
 public:
  PadOp(PadMode mode, std::vector<int64_t> pads, float value, bool from_inputs)
      : mode_(mode), pads_(std::move(pads)), value_(value), from_inputs_(from_inputs) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& X = *in[0];
    const size_t r = X.rank();
    const DimVector pads = full_pads(in, r);
    DimVector shape(r, 0);
    int64_t map_len = 0;
    for (size_t d = 0; d < r; ++d) {
      if (__builtin_add_overflow(X.dim(d), pads[d], &shape[d]) || __builtin_add_overflow(shape[d], pads[r + d], &shape[d]))
        throw ValueError("pads " + shape_to_string(pads) + " make axis " + std::to_string(d) + " too large");
      if (shape[d] < 0)
        throw ValueError("pads " + shape_to_string(pads) + " crop axis " + std::to_string(d) + " of the input " +
                         shape_to_string(X.shape()) + " below size 0");
      // What remains of the axis after cropping, which the modes other than constant read.
      const int64_t kept = X.dim(d) + std::min<int64_t>(pads[d], 0) + std::min<int64_t>(pads[r + d], 0);
      const bool grows = pads[d] > 0 || pads[r + d] > 0;
      if (grows && mode_ != PadMode::Constant && kept <= 0)
        throw ValueError("cannot pad axis " + std::to_string(d) + " of the input " + shape_to_string(X.shape()) +
                         " in " + mode_name() + " mode: nothing of it remains to repeat");
      if (grows && mode_ == PadMode::Reflect && std::max(pads[d], pads[r + d]) >= kept)
        throw ValueError("reflect pads " + shape_to_string(pads) + " must be smaller than the input's size along axis " +
                         std::to_string(d) + " (" + std::to_string(kept) + ")");
      map_len += shape[d];
    }
    int64_t count = 1;
    for (int64_t n : shape) count = checked_mul(count, n, "the padded output");
    Tensor& Y = *out[0];
    Y.ensure(X.dtype(), shape);
    if (Y.numel() == 0) return;
    if (r == 0) {
      std::memcpy(Y.raw(), X.raw(), X.nbytes());
      return;
    }
    Tensor& maps = ctx.scratch_tensor(0);
    maps.ensure(DType::Int64, {map_len});
    DimVector start(r, 0);  // where each axis's map begins in `maps`
    int64_t* m = maps.data<int64_t>();
    // The last axis's unpadded part, which every inside row copies whole: its map entries are
    // never read, and are left unset (all of them in constant mode, which fills the pads).
    const Run run{std::max<int64_t>(pads[r - 1], 0), -std::min<int64_t>(pads[r - 1], 0),
                  std::max<int64_t>(X.dim(r - 1) + std::min<int64_t>(pads[r - 1], 0) +
                                        std::min<int64_t>(pads[2 * r - 1], 0), 0)};
    const bool constant = mode_ == PadMode::Constant;
    for (size_t d = 0, at = 0; d < r; at += shape[d], ++d) {
      start[d] = static_cast<int64_t>(at);
      if (d + 1 == r && constant) break;
      for (int64_t i = 0; i < shape[d]; ++i) {
        if (d + 1 == r && i == run.out && run.length > 0) {
          i += run.length - 1;
          continue;
        }
        m[at + i] = source_index(i, X.dim(d), pads[d], pads[r + d], mode_);
      }
    }
    dispatch_all(X.dtype(), [&](auto t) {
      using T = decltype(t);
      copy_rows<T>(X, Y, m, start, run, constant, constant_value<T>(in));
    });
  }

 private:
  const char* mode_name() const {
    switch (mode_) {
      case PadMode::Reflect:
        return "reflect";
      case PadMode::Edge:
        return "edge";
      case PadMode::Wrap:
        return "wrap";
      default:
        return "constant";
    }
  }

  // pads as [begin of every axis, end of every axis], from the attribute or the inputs (with
  // axes: only those axes, the others 0).
  DimVector full_pads(const std::vector<const Tensor*>& in, size_t r) const {
    const DimVector given = from_inputs_ ? int_values(*in[1], "pads") : DimVector(pads_.begin(), pads_.end());
    const Tensor* axes_t = from_inputs_ && in.size() > 3 ? in[3] : nullptr;
    if (!axes_t) {
      if (given.size() != 2 * r)
        throw ValueError("pads has " + std::to_string(given.size()) + " entries, expected " + std::to_string(2 * r) +
                         " for an input of rank " + std::to_string(r));
      return given;
    }
    const DimVector axes = int_values(*axes_t, "axes");
    if (given.size() != 2 * axes.size())
      throw ValueError("pads has " + std::to_string(given.size()) + " entries, expected " +
                       std::to_string(2 * axes.size()) + " for " + std::to_string(axes.size()) + " axes");
    DimVector pads(2 * r, 0);
    DimVector seen(r, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t a = static_cast<size_t>(normalize_axis(axes[i], static_cast<int64_t>(r), "axes entry"));
      if (seen[a]++) throw ValueError("axes names axis " + std::to_string(a) + " twice");
      pads[a] = given[i];
      pads[r + a] = given[axes.size() + i];
    }
    return pads;
  }

  template <class T>
  T constant_value(const std::vector<const Tensor*>& in) const {
    if (!from_inputs_ || in.size() < 3 || !in[2]) return static_cast<T>(value_);
    const Tensor& v = *in[2];
    if (v.dtype() != in[0]->dtype())
      throw TypeError(std::string("constant_value is ") + dtype_name(v.dtype()) + " but data is " +
                      dtype_name(in[0]->dtype()));
    if (v.numel() != 1)
      throw ValueError("constant_value must hold one value, got shape " + shape_to_string(v.shape()));
    return v.data<T>()[0];
  }

  // Where an output row holds its input row's kept part: `length` elements from output index
  // `out` and input index `in`.
  struct Run {
    int64_t out, in, length;
  };

  // Walks the output row by row (the last axis); a row whose outer indices all map into the
  // input copies its kept part with memcpy and the pads through the last axis's map; any other
  // row is the constant.
  template <class T>
  static void copy_rows(const Tensor& X, Tensor& Y, const int64_t* m, const DimVector& start, const Run& run,
                        bool constant, T value) {
    const size_t r = X.rank();
    const DimVector xs = row_major_strides(X.shape());
    const int64_t width = Y.dim(r - 1), rows = Y.numel() / width;
    const int64_t* last = m + start[r - 1];
    const T* x = X.data<T>();
    T* y = Y.data<T>();
    DimVector idx(r, 0);
    for (int64_t row = 0; row < rows; ++row) {
      int64_t off = 0;
      bool inside = true;
      for (size_t d = 0; d + 1 < r; ++d) {
        const int64_t s = m[start[d] + idx[d]];
        inside = inside && s >= 0;
        off += s * xs[d];
      }
      T* dst = y + row * width;
      if (!inside) {
        for (int64_t i = 0; i < width; ++i) dst[i] = value;
      } else if (constant) {
        std::fill(dst, dst + std::min(run.out, width), value);
        if (run.length > 0) std::memcpy(dst + run.out, x + off + run.in, static_cast<size_t>(run.length) * sizeof(T));
        if (run.out + run.length < width) std::fill(dst + run.out + run.length, dst + width, value);
      } else {
        for (int64_t i = 0, n = std::min(run.out, width); i < n; ++i) dst[i] = last[i] >= 0 ? x[off + last[i]] : value;
        if (run.length > 0) std::memcpy(dst + run.out, x + off + run.in, static_cast<size_t>(run.length) * sizeof(T));
        for (int64_t i = run.out + run.length; i < width; ++i)
          dst[i] = last[i] >= 0 ? x[off + last[i]] : value;
      }
      for (size_t d = r - 1; d-- > 0;) {
        if (++idx[d] < Y.dim(d)) break;
        idx[d] = 0;
      }
    }
  }

  PadMode mode_;
  std::vector<int64_t> pads_;
  float value_;
  bool from_inputs_;
};

}  // namespace

OpPtr build_pad(const BuildContext& ctx) {
  ctx.require_input(0, "data");
  const std::string mode = ctx.get_string("mode", "constant");
  PadMode m;
  if (mode == "constant")
    m = PadMode::Constant;
  else if (mode == "reflect")
    m = PadMode::Reflect;
  else if (mode == "edge")
    m = PadMode::Edge;
  else if (mode == "wrap" && ctx.opset() >= 19)
    m = PadMode::Wrap;
  else
    ctx.fail("mode '" + mode + "' is not one of constant, reflect, edge" + (ctx.opset() >= 19 ? ", wrap" : "") +
             " (opset " + std::to_string(ctx.opset()) + ")");
  if (ctx.opset() < 11) {
    if (!ctx.has_attr("pads")) ctx.fail("attribute pads is required before opset 11");
    return std::make_unique<PadOp>(m, ctx.get_ints("pads"), ctx.get_float("value", 0.0f), false);
  }
  ctx.require_input(1, "pads");
  if (ctx.has_input(3) && ctx.opset() < 18) ctx.fail("input 3 (axes) exists from opset 18 on");
  return std::make_unique<PadOp>(m, std::vector<int64_t>{}, 0.0f, true);
}

}  // namespace lstmrt

// Pad: constant, reflect, edge and wrap padding (negative pads crop), in every opset form: the
// pads as an attribute (opsets 2-10), as an input (11+), with an optional axes input (18+).
// Each output row of the last dimension is filled as left padding, one copy from the input row,
// right padding; the rows' sources are found per dimension, so a row costs one lookup.
#include <algorithm>
#include <cstring>

#include "builders.h"
#include "op_util.h"

namespace lstmrt {

namespace {

enum class PadMode { Constant, Reflect, Edge, Wrap };

// One dimension's padding: negative pads crop first, and the copying modes then pad what is left
// (as the ONNX reference does), the input rows [lo, lo + kept) of the dimension.
struct DimPad {
  int64_t before = 0;  // the padding on the left, after cropping
  int64_t lo = 0;      // the first input index kept
  int64_t kept = 0;    // how many input indices are kept

  DimPad(int64_t pad_before, int64_t pad_after, int64_t n)
      : before(std::max<int64_t>(0, pad_before)),
        lo(std::max<int64_t>(0, -pad_before)),
        kept(std::max<int64_t>(0, n - std::max<int64_t>(0, -pad_before) - std::max<int64_t>(0, -pad_after))) {}

  // The input index that output index o reads, or -1 for the constant.
  int64_t source(PadMode mode, int64_t o) const {
    int64_t i = o - before;
    if (i >= 0 && i < kept) return lo + i;
    if (kept == 0) return -1;
    switch (mode) {
      case PadMode::Constant:
        return -1;
      case PadMode::Edge:
        return lo + (i < 0 ? 0 : kept - 1);
      case PadMode::Wrap:
        return lo + ((i % kept) + kept) % kept;
      case PadMode::Reflect: {
        if (kept == 1) return lo;
        const int64_t period = 2 * (kept - 1);
        i = ((i % period) + period) % period;
        return lo + (i < kept ? i : period - i);
      }
    }
    return -1;
  }
};

class PadOp final : public Op {
 public:
  PadOp(PadMode mode, std::vector<int64_t> attr_pads, float attr_value, bool from_inputs)
      : mode_(mode), attr_pads_(std::move(attr_pads)), attr_value_(attr_value), from_inputs_(from_inputs) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) const override {
    const Tensor& x = *in[0];
    const int64_t r = static_cast<int64_t>(x.rank());
    DimVector before(static_cast<size_t>(r), 0), after(static_cast<size_t>(r), 0);
    read_pads(in, r, before, after);
    DimVector shape(static_cast<size_t>(r));
    for (int64_t d = 0; d < r; ++d) {
      const size_t k = static_cast<size_t>(d);
      shape[k] = x.dim(k) + before[k] + after[k];
      if (shape[k] < 0)
        throw ValueError("pads " + pads_text(before, after) + " crop more than dimension " + std::to_string(d) +
                         " of shape " + shape_to_string(x.shape()) + " holds");
      if (mode_ != PadMode::Constant && DimPad(before[k], after[k], x.dim(k)).kept == 0 && shape[k] > 0)
        throw ValueError("cannot pad the empty dimension " + std::to_string(d) + " of shape " +
                         shape_to_string(x.shape()) + " by copying its values (mode " + mode_name() + ")");
    }
    Tensor& y = *out[0];
    y.ensure(x.dtype(), shape);
    if (y.numel() == 0) return;
    const size_t es = dtype_size(x.dtype());
    std::vector<uint8_t> fill(es, 0);
    constant_bytes(in, x.dtype(), fill.data());
    if (r == 0) {
      std::memcpy(y.raw(), x.raw(), es);
      return;
    }
    std::vector<DimPad> dims;
    for (int64_t d = 0; d < r; ++d) dims.emplace_back(before[d], after[d], x.dim(static_cast<size_t>(d)));
    fill_rows(x, y, dims, fill.data(), es);
  }

 private:
  void read_pads(const std::vector<const Tensor*>& in, int64_t r, DimVector& before, DimVector& after) const {
    DimVector pads = from_inputs_ ? int_values(*in[1], "pads") : DimVector(attr_pads_.begin(), attr_pads_.end());
    DimVector axes;
    if (from_inputs_ && in.size() > 3 && in[3]) {
      axes = int_values(*in[3], "axes");
      for (int64_t& a : axes) a = normalize_axis(a, r, "axes");
    } else {
      for (int64_t a = 0; a < r; ++a) axes.push_back(a);
    }
    if (pads.size() != 2 * axes.size())
      throw ValueError("pads has " + std::to_string(pads.size()) + " values, expected " +
                       std::to_string(2 * axes.size()) + " (a begin and an end for each of " +
                       std::to_string(axes.size()) + " axes)");
    const size_t A = axes.size();
    for (size_t i = 0; i < A; ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      if (pads[i] > kMaxElements || pads[i] < -kMaxElements || pads[A + i] > kMaxElements || pads[A + i] < -kMaxElements)
        throw ValueError("pads " + shape_to_string(pads) + " are beyond any tensor's size");
      before[a] = pads[i];
      after[a] = pads[A + i];
    }
  }

  void constant_bytes(const std::vector<const Tensor*>& in, DType dtype, uint8_t* bytes) const {
    double v = attr_value_;
    if (from_inputs_ && in.size() > 2 && in[2]) {
      const Tensor& c = *in[2];
      if (c.dtype() != dtype)
        throw TypeError(std::string("constant_value: expected ") + dtype_name(dtype) + " like the data, got " +
                        dtype_name(c.dtype()));
      if (c.numel() > 1) throw ValueError("constant_value: expected a single value, got shape " + shape_to_string(c.shape()));
      if (c.numel() == 0) return;  // an empty value: zeros
      std::memcpy(bytes, c.raw(), dtype_size(dtype));
      return;
    }
    dispatch_all(dtype, [&](auto t) {
      using T = decltype(t);
      const T value = static_cast<T>(v);
      std::memcpy(bytes, &value, sizeof(T));
    });
  }

  // Every output row of the last dimension: its source row (or none), then left, middle, right.
  void fill_rows(const Tensor& x, Tensor& y, const std::vector<DimPad>& dims, const uint8_t* fill, size_t es) const {
    const size_t r = x.rank();
    const int64_t n_out = y.dim(r - 1);
    const int64_t rows = y.numel() / n_out;
    DimVector idx(r - 1, 0);
    const DimVector in_strides = row_major_strides(x.shape());
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    for (int64_t row = 0; row < rows; ++row) {
      int64_t offset = 0;
      bool constant_row = false;
      for (size_t d = 0; d + 1 < r; ++d) {
        const int64_t i = dims[d].source(mode_, idx[d]);
        if (i < 0) {
          constant_row = true;
          break;
        }
        offset += i * in_strides[d];
      }
      char* o = dst + row * n_out * static_cast<int64_t>(es);
      fill_row(o, constant_row ? nullptr : src + offset * static_cast<int64_t>(es), dims[r - 1], n_out, fill, es);
      for (size_t d = r - 1; d-- > 0;) {  // the next row's index
        if (++idx[d] < y.dim(d)) break;
        idx[d] = 0;
      }
    }
  }

  void fill_row(char* o, const char* s, const DimPad& dim, int64_t n_out, const uint8_t* fill, size_t es) const {
    if (!s) {
      for (int64_t j = 0; j < n_out; ++j) std::memcpy(o + j * es, fill, es);
      return;
    }
    // The part of the output row that copies the kept input as it is, in one block.
    const int64_t begin = std::min(n_out, dim.before);
    const int64_t end = std::max(begin, std::min(n_out, dim.before + dim.kept));
    for (int64_t j = 0; j < begin; ++j) pad_one(o, s, dim, j, fill, es);
    if (end > begin) std::memcpy(o + begin * es, s + dim.lo * es, static_cast<size_t>(end - begin) * es);
    for (int64_t j = end; j < n_out; ++j) pad_one(o, s, dim, j, fill, es);
  }

  void pad_one(char* o, const char* s, const DimPad& dim, int64_t j, const uint8_t* fill, size_t es) const {
    const int64_t i = dim.source(mode_, j);
    std::memcpy(o + j * es, i < 0 ? reinterpret_cast<const char*>(fill) : s + i * es, es);
  }

  const char* mode_name() const {
    switch (mode_) {
      case PadMode::Constant:
        return "constant";
      case PadMode::Reflect:
        return "reflect";
      case PadMode::Edge:
        return "edge";
      case PadMode::Wrap:
        return "wrap";
    }
    return "?";
  }

  static std::string pads_text(const DimVector& before, const DimVector& after) {
    Shape all(before.begin(), before.end());
    all.insert(all.end(), after.begin(), after.end());
    return shape_to_string(all);
  }

  PadMode mode_;
  std::vector<int64_t> attr_pads_;
  float attr_value_;
  bool from_inputs_;
};

}  // namespace

OpPtr build_pad(const BuildContext& ctx) {
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
  const bool from_inputs = ctx.opset() >= 11;
  if (from_inputs) {
    ctx.require_input(1, "pads");
  } else if (!ctx.has_attr("pads")) {
    ctx.fail("attribute 'pads' is required before opset 11");
  }
  if (!from_inputs && ctx.num_inputs() > 1) ctx.fail("takes one input before opset 11, the pads being an attribute");
  if (ctx.opset() < 18 && ctx.has_input(3)) ctx.fail("the axes input needs opset 18");
  return std::make_unique<PadOp>(m, ctx.get_ints("pads"), ctx.get_float("value", 0.0f), from_inputs);
}

}  // namespace lstmrt

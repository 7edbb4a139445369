#include "window.h"

#include <algorithm>
#include <limits>

#include "lstmrt/errors.h"
#include "op_util.h"

namespace lstmrt {

namespace {

std::string list_to_string(const std::vector<int64_t>& v) { return shape_to_string(Shape(v.begin(), v.end())); }

void require_positive(const BuildContext& ctx, const std::vector<int64_t>& v, const char* name) {
  for (int64_t x : v)
    if (x < 1) ctx.fail(std::string(name) + " must be positive, got " + list_to_string(v));
}

void check_length(const WindowSpec& s, const std::vector<int64_t>& v, size_t expected, const char* name,
                  size_t dims) {
  if (!v.empty() && v.size() != expected)
    throw ValueError(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " +
                     std::to_string(expected) + " for a " + std::to_string(dims) + "-D " + s.op);
}

int64_t get_or(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return v.empty() ? fallback : v[i]; }

}  // namespace

void check_conv_operands(const Tensor& X, const Tensor& W) {
  expect_dtype(X, DType::Float32, "X");
  expect_dtype(W, DType::Float32, "W");
  if (X.rank() < 3) throw ValueError("X must have rank 3 or more (N, C, spatial...), got shape " + shape_to_string(X.shape()));
  if (W.rank() != X.rank())
    throw ValueError("W of shape " + shape_to_string(W.shape()) + " does not have the rank of X " + shape_to_string(X.shape()));
}

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  if (a < 0 || b < 0 || (a != 0 && b > std::numeric_limits<int64_t>::max() / a))
    throw ValueError(std::string(what) + " is too large (" + std::to_string(a) + " x " + std::to_string(b) + ")");
  return a * b;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw ValueError(std::string(what) + " is too large (" + std::to_string(a) + " + " + std::to_string(b) + ")");
  return r;
}

WindowSpec WindowSpec::from_node(const BuildContext& ctx, bool pooling) {
  WindowSpec s;
  s.op = ctx.node().op_type;
  s.pooling = pooling;
  s.kernel = ctx.get_ints("kernel_shape");
  s.strides = ctx.get_ints("strides");
  s.dilations = ctx.get_ints("dilations");
  s.pads = ctx.get_ints("pads");
  require_positive(ctx, s.kernel, "kernel_shape");
  require_positive(ctx, s.strides, "strides");
  require_positive(ctx, s.dilations, "dilations");
  for (int64_t p : s.pads)
    if (p < 0) ctx.fail("pads must not be negative, got " + list_to_string(s.pads));
  const std::string ap = ctx.get_string("auto_pad", "NOTSET");
  if (ap == "NOTSET")
    s.auto_pad = AutoPad::NotSet;
  else if (ap == "SAME_UPPER")
    s.auto_pad = AutoPad::SameUpper;
  else if (ap == "SAME_LOWER")
    s.auto_pad = AutoPad::SameLower;
  else if (ap == "VALID")
    s.auto_pad = AutoPad::Valid;
  else
    ctx.fail("auto_pad '" + ap + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  if (s.auto_pad != AutoPad::NotSet && !s.pads.empty()) {
    for (int64_t p : s.pads)
      if (p != 0) ctx.fail("pads " + list_to_string(s.pads) + " cannot be combined with auto_pad " + ap);
  }
  if (pooling) {
    const int64_t c = ctx.get_int("ceil_mode", 0);
    if (c != 0 && c != 1) ctx.fail("ceil_mode must be 0 or 1, got " + std::to_string(c));
    s.ceil_mode = c == 1;
  }
  if (!s.kernel.empty()) {
    try {
      s.check_rank(s.kernel.size());
    } catch (const ValueError& e) {
      ctx.fail(e.what());
    }
  }
  return s;
}

void WindowSpec::check_rank(size_t dims) const {
  check_length(*this, kernel, dims, "kernel_shape", dims);
  check_length(*this, strides, dims, "strides", dims);
  check_length(*this, dilations, dims, "dilations", dims);
  check_length(*this, pads, 2 * dims, "pads", dims);
}

Window resolve_window(const WindowSpec& spec, Dims in, Dims kernel) {
  const size_t n = in.size();
  spec.check_rank(n);
  if (spec.kernel.empty() && kernel.size() != n)
    throw ValueError(spec.op + " needs kernel_shape for a " + std::to_string(n) + "-D input");
  Window w;
  for (size_t d = 0; d < n; ++d) {
    const int64_t k = spec.kernel.empty() ? kernel[d] : spec.kernel[d];
    const int64_t s = get_or(spec.strides, d, 1), dil = get_or(spec.dilations, d, 1);
    if (k < 1) throw ValueError("the kernel's spatial dim " + std::to_string(d) + " is " + std::to_string(k));
    const int64_t dk = checked_mul(k - 1, dil, "the dilated kernel") + 1;
    int64_t pb = get_or(spec.pads, d, 0), pe = get_or(spec.pads, n + d, 0);
    if (spec.auto_pad == AutoPad::SameUpper || spec.auto_pad == AutoPad::SameLower) {
      // The padding that keeps ceil(in / stride) positions; any odd padding goes at the end
      // (UPPER) or the beginning (LOWER). The pools size it by the undilated kernel, as ONNX
      // Runtime does, so that with dilations their output may be shorter; with strides longer
      // than the kernel it is negative for them (the windows start inside the input) and zero
      // for Conv, again as in ONNX Runtime.
      const int64_t target = in[d] / s + (in[d] % s != 0 ? 1 : 0);
      const int64_t raw = checked_add((target - 1) * s, spec.pooling ? k : dk, "the padded window") - in[d];
      const int64_t need = spec.pooling ? raw : std::max<int64_t>(raw, 0);
      pb = spec.auto_pad == AutoPad::SameUpper ? need / 2 : (need + 1) / 2;
      pe = need - pb;
    } else if (spec.auto_pad == AutoPad::Valid) {
      pb = pe = 0;
    }
    const int64_t span = checked_add(checked_add(in[d], pb, "the padded input"), pe, "the padded input") - dk;
    // The pools count positions as ONNX Runtime does, dividing with truncation toward zero, so
    // that a window longer than the input by less than a stride still gives one position.
    const int64_t out_floor = span / s + 1;
    if (span < 0 && (!spec.pooling || out_floor < 0))
      throw ValueError("the input's spatial dim " + std::to_string(d) + " (size " + std::to_string(in[d]) +
                       ", padded " + std::to_string(in[d] + pb + pe) + ") is smaller than the " +
                       (dil > 1 ? "dilated " : "") + "kernel (" + std::to_string(dk) + ") of the " + spec.op);
    int64_t out = spec.ceil_mode && span > 0 ? (span + s - 1) / s + 1 : out_floor;
    // In ceil mode the last window must still start inside the input or its padding before.
    if (spec.ceil_mode && (out - 1) * s >= in[d] + pb) --out;
    w.add_dim(in[d], out, k, s, dil, pb, pe);
    w.out_count = checked_mul(w.out_count, out, "the output");
    w.kernel_count = checked_mul(w.kernel_count, k, "the kernel");
    w.in_count = checked_mul(w.in_count, in[d], "the input");
  }
  checked_mul(w.out_count, w.kernel_count, "the window table");
  return w;
}

bool TableMemo::same(Dims in, Dims kernel) {
  bool hit = valid && key.size() == in.size() + kernel.size();
  for (size_t i = 0; hit && i < in.size(); ++i) hit = key[i] == in[i];
  for (size_t i = 0; hit && i < kernel.size(); ++i) hit = key[in.size() + i] == kernel[i];
  if (hit) return true;
  key.clear();
  for (int64_t d : in) key.push_back(d);
  for (int64_t d : kernel) key.push_back(d);
  valid = false;
  return false;
}

TableMemo& table_memo(RunContext& ctx) {
  if (!*ctx.state) *ctx.state = std::make_unique<TableMemo>();
  return static_cast<TableMemo&>(**ctx.state);
}

void window_offsets(const Window& w, int64_t* table, int64_t* padded, bool clip) {
  const size_t n = w.in.size();
  DimVector o(n, 0), k(n, 0);
  for (int64_t p = 0; p < w.out_count; ++p) {
    std::fill(k.begin(), k.end(), 0);
    int64_t inside_padded = 0;
    for (int64_t kk = 0; kk < w.kernel_count; ++kk) {
      int64_t off = 0;
      bool inside = true, in_pad = true;
      for (size_t d = 0; d < n; ++d) {
        const int64_t i = o[d] * w.stride[d] - w.pad_begin[d] + k[d] * w.dilation[d];
        inside = inside && i >= 0 && i < w.in[d];
        in_pad = in_pad && i < w.in[d] + w.pad_end[d];
        off = off * w.in[d] + i;
      }
      table[p * w.kernel_count + kk] = inside && (in_pad || !clip) ? off : -1;
      inside_padded += in_pad ? 1 : 0;
      for (size_t d = n; d-- > 0;) {
        if (++k[d] < w.kernel[d]) break;
        k[d] = 0;
      }
    }
    if (padded) padded[p] = inside_padded;
    for (size_t d = n; d-- > 0;) {
      if (++o[d] < w.out[d]) break;
      o[d] = 0;
    }
  }
}

void window_runs(const Window& w, const int64_t* table, int64_t group, int64_t step, int64_t* runs) {
  const int64_t KS = w.kernel_count, P = w.out_count;
  for (int64_t q = 0; q * group < P; ++q) {
    const int64_t first = q * group, count = std::min(group, P - first);
    for (int64_t k = 0; k < KS; ++k) {
      const int64_t* t = table + first * KS + k;
      const int64_t start = t[0];
      bool run = start >= 0;
      for (int64_t j = 1; run && j < count; ++j) run = t[j * KS] == start + j * step;
      runs[q * KS + k] = run ? start : -1;
    }
  }
}

namespace {

// The runs of one panel's lanes at one kernel position (see window_segments); false when more
// than two are needed. `t` is the table at the panel's first position and this k.
bool panel_runs(const int64_t* t, int64_t KS, int64_t count, int64_t step, WindowSegment* seg) {
  seg[0] = seg[1] = WindowSegment{};
  int n = 0;
  bool open = false;
  for (int64_t j = 0; j < count; ++j) {
    const int64_t o = t[j * KS];
    if (o < 0) {
      open = false;
      continue;
    }
    WindowSegment& cur = seg[n > 0 ? n - 1 : 0];
    if (open && o == cur.offset + (j - cur.lane0) * step) {
      cur.lane_end = static_cast<int32_t>(j + 1);
      continue;
    }
    if (n == 2) return false;
    seg[n++] = WindowSegment{o, static_cast<int32_t>(j), static_cast<int32_t>(j + 1)};
    open = true;
  }
  return true;
}

}  // namespace

void window_segments(const Window& w, const int64_t* table, int64_t step, WindowSegment* segs) {
  const int64_t KS = w.kernel_count, P = w.out_count;
  for (int64_t q = 0; q * kPanelWidth < P; ++q) {
    const int64_t first = q * kPanelWidth, count = std::min(kPanelWidth, P - first);
    WindowSegment* panel = segs + q * KS * 2;
    bool ok = true;
    for (int64_t k = 0; ok && k < KS; ++k) ok = panel_runs(table + first * KS + k, KS, count, step, panel + 2 * k);
    if (!ok) panel[0].lane0 = -1;
  }
}

}  // namespace lstmrt

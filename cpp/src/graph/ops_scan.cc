// Scan (opset 9 and later): a body graph run once per slice of its scan inputs, carrying state
// from one iteration to the next and stacking its scan outputs. The speech front-ends cut audio
// into overlapping frames this way. The body is compiled once at load into its own Graph, with the
// values it reads from the enclosing graph as extra inputs (constants where they are constant).
#include <cstring>

#include "builders.h"
#include "error_context.h"
#include "lstmrt/graph/graph.h"
#include "op_util.h"
#include "subgraph.h"

namespace lstmrt {

namespace {

// Copies slice t along `axis` of `from` (of shape `shape`) into `to`, or with into_slice, `from`
// into slice t of `to`.
void copy_slice(Dims shape, size_t axis, size_t es, const void* from, void* to, int64_t t, bool into_slice) {
  const AxisSplit a(shape, axis);
  if (into_slice)
    copy_along_axis(from, 1, 0, to, a.n, t, 1, a.outer, a.inner, es);
  else
    copy_along_axis(from, a.n, t, to, 1, 0, 1, a.outer, a.inner, es);
}

struct ScanState final : OpState {
  Graph::ExecStatePtr exec;
  std::vector<Tensor> cur, next, slices;
  std::vector<const Tensor*> feeds, outs;
};

struct ScanSpec {
  size_t states = 0, scans = 0, outputs = 0;  // N, M and K
  std::vector<int64_t> in_axes, in_reverse, out_axes, out_reverse;
  std::vector<size_t> captured_inputs;  // node input index per captured body input
};

class ScanOp final : public Op {
 public:
  ScanOp(std::unique_ptr<Graph> body, ScanSpec spec) : body_(std::move(body)), s_(std::move(spec)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    if (!*ctx.state) *ctx.state = std::make_unique<ScanState>();
    ScanState& st = static_cast<ScanState&>(**ctx.state);
    if (!st.exec) st.exec = body_->new_exec_state();
    const int64_t T = length(in);
    st.cur.resize(s_.states);
    st.next.resize(s_.states);
    st.slices.resize(s_.scans);
    for (size_t j = 0; j < s_.states; ++j) st.cur[j].copy_from(*in[j]);
    for (int64_t t = 0; t < T; ++t) {
      st.feeds.clear();
      for (size_t j = 0; j < s_.states; ++j) st.feeds.push_back(&st.cur[j]);
      for (size_t k = 0; k < s_.scans; ++k) st.feeds.push_back(&slice_input(st, in, k, T, t));
      for (size_t i : s_.captured_inputs) st.feeds.push_back(in[i]);
      with_error_context([&] { return "iteration " + std::to_string(t) + " of the body"; },
                         [&] { body_->run_nested(*st.exec, st.feeds, ctx.threads, st.outs); });
      for (size_t j = 0; j < s_.states; ++j) st.next[j].copy_from(*st.outs[j]);
      std::swap(st.cur, st.next);
      for (size_t k = 0; k < s_.outputs && s_.states + k < out.size(); ++k)
        store_output(*st.outs[s_.states + k], *out[s_.states + k], k, T, t);
    }
    for (size_t j = 0; j < s_.states && j < out.size(); ++j) out[j]->copy_from(T > 0 ? st.cur[j] : *in[j]);
    if (T == 0)
      for (size_t k = 0; k < s_.outputs && s_.states + k < out.size(); ++k)
        throw ValueError("scan output " + std::to_string(k) + " has no iterations to take its shape from");
  }

 private:
  int64_t length(const std::vector<const Tensor*>& in) const {
    int64_t T = -1;
    for (size_t k = 0; k < s_.scans; ++k) {
      const Tensor& x = *in[s_.states + k];
      const size_t axis = static_cast<size_t>(normalize_axis(s_.in_axes[k], static_cast<int64_t>(x.rank()), "scan_input_axes"));
      if (T >= 0 && x.dim(axis) != T)
        throw ValueError("scan input " + std::to_string(k) + " of shape " + shape_to_string(x.shape()) + " has " +
                         std::to_string(x.dim(axis)) + " slices along axis " + std::to_string(axis) + ", the first has " +
                         std::to_string(T));
      T = x.dim(axis);
    }
    return T < 0 ? 0 : T;
  }

  // The slice of scan input k that iteration t reads (copied out: slices need not be contiguous).
  Tensor& slice_input(ScanState& st, const std::vector<const Tensor*>& in, size_t k, int64_t T, int64_t t) const {
    const Tensor& x = *in[s_.states + k];
    const size_t axis = static_cast<size_t>(normalize_axis(s_.in_axes[k], static_cast<int64_t>(x.rank()), "scan_input_axes"));
    Shape shape(x.shape());
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
    Tensor& slice = st.slices[k];
    slice.ensure(x.dtype(), shape);
    const int64_t at = s_.in_reverse[k] ? T - 1 - t : t;
    copy_slice(x.shape(), axis, dtype_size(x.dtype()), x.raw(), slice.raw(), at, false);
    return slice;
  }

  // Iteration t's scan output k into its place in the stacked output (sized at the first).
  void store_output(const Tensor& v, Tensor& y, size_t k, int64_t T, int64_t t) const {
    const int64_t rank = static_cast<int64_t>(v.rank()) + 1;
    const size_t axis = static_cast<size_t>(normalize_axis(s_.out_axes[k], rank, "scan_output_axes"));
    Shape shape(v.shape());
    shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis), T);
    if (t == 0) {
      y.ensure(v.dtype(), shape);
    } else if (y.dtype() != v.dtype() || y.shape() != shape) {
      throw ValueError("scan output " + std::to_string(k) + " changes its shape to " + shape_to_string(v.shape()) +
                       " at iteration " + std::to_string(t));
    }
    const int64_t at = s_.out_reverse[k] ? T - 1 - t : t;
    copy_slice(shape, axis, dtype_size(v.dtype()), v.raw(), y.raw(), at, true);
  }

  std::unique_ptr<Graph> body_;
  ScanSpec s_;
};

std::vector<int64_t> per_value(const BuildContext& ctx, const char* name, size_t count) {
  std::vector<int64_t> v = ctx.get_ints(name, std::vector<int64_t>(count, 0));
  if (v.size() != count)
    ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " + std::to_string(count));
  return v;
}

}  // namespace

OpPtr build_scan(const BuildContext& ctx) {
  if (ctx.opset() < 9) ctx.fail("Scan before opset 9 (with sequence_lens and a batch axis) is not supported");
  const GraphDesc* body = ctx.get_graph("body");
  if (!body) ctx.fail("attribute 'body' is required");
  // The importer appends the values the body reads from enclosing graphs as extra inputs and
  // names them in this attribute.
  const std::vector<std::string> captured = ctx.get_strings("lstmrt.captured");
  if (ctx.num_inputs() < captured.size()) ctx.fail("has fewer inputs than the values its body captures");
  const size_t real = ctx.num_inputs() - captured.size();
  const int64_t M = ctx.get_int("num_scan_inputs", -1);
  if (M < 1 || static_cast<size_t>(M) > real)
    ctx.fail("num_scan_inputs is " + std::to_string(M) + ", expected 1 to " + std::to_string(real));
  ScanSpec s;
  s.scans = static_cast<size_t>(M);
  s.states = real - s.scans;
  if (body->inputs.size() != real)
    ctx.fail("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " + std::to_string(real) +
             " (the states, then a slice of each scan input)");
  if (body->outputs.size() < s.states)
    ctx.fail("the body has " + std::to_string(body->outputs.size()) + " outputs, fewer than its " +
             std::to_string(s.states) + " states");
  s.outputs = body->outputs.size() - s.states;
  if (ctx.num_outputs() > s.states + s.outputs)
    ctx.fail("declares " + std::to_string(ctx.num_outputs()) + " outputs, the body gives " +
             std::to_string(s.states + s.outputs));
  for (size_t i = 0; i < real; ++i) ctx.require_input(i, i < s.states ? "state" : "scan input");
  s.in_axes = per_value(ctx, "scan_input_axes", s.scans);
  s.in_reverse = per_value(ctx, "scan_input_directions", s.scans);
  s.out_axes = per_value(ctx, "scan_output_axes", s.outputs);
  s.out_reverse = per_value(ctx, "scan_output_directions", s.outputs);
  for (int64_t d : s.in_reverse)
    if (d != 0 && d != 1) ctx.fail("scan_input_directions must hold 0 or 1");
  for (int64_t d : s.out_reverse)
    if (d != 0 && d != 1) ctx.fail("scan_output_directions must hold 0 or 1");

  GraphDesc sub = subgraph_desc(ctx, *body);
  for (GraphInputDesc d : body->inputs) {
    d.has_shape = false;  // exporters' body shapes are loose; the ops check what matters
    sub.inputs.push_back(std::move(d));
  }
  s.captured_inputs = capture_outer_values(ctx, captured, real, sub);
  return std::make_unique<ScanOp>(std::make_unique<Graph>(std::move(sub)), std::move(s));
}

}  // namespace lstmrt

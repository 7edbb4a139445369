// Loop: a body graph run once per iteration. tf2onnx writes the Keras recurrent layers it does not
// turn into LSTM/GRU nodes as a Loop over time steps, so this runs them in C++, without Python
// per step. The body is compiled once at load into its own Graph: the values it reads from the
// enclosing graph become its inputs (or its constants, when they are constant there), and the
// loop-carried values that only pass through the body unchanged with a constant start (tf2onnx
// carries the weights that way) become body constants too, so the body's MatMuls pack them.
#include <cstring>
#include <limits>

#include "builders.h"
#include "error_context.h"
#include "lstmrt/graph/graph.h"
#include "op_util.h"
#include "subgraph.h"

namespace lstmrt {

namespace {

// Where each body input comes from in an iteration.
struct Source {
  enum Kind { Iteration, Condition, Carried, Outer } kind;
  size_t index;  // Carried: which carried value; Outer: which Loop input
};

struct LoopState final : OpState {
  Graph::ExecStatePtr exec;
  std::vector<Tensor> cur, next;           // carried values: this iteration's and the next's
  std::vector<std::vector<uint8_t>> scan;  // scan outputs, concatenated iteration after iteration
  std::vector<Shape> scan_shape;
  std::vector<DType> scan_dtype;
  Tensor iteration, condition;
  std::vector<const Tensor*> feeds, outs;
};

class LoopOp final : public Op {
 public:
  LoopOp(std::unique_ptr<Graph> body, std::vector<Source> sources, std::vector<Tensor> carried_const, size_t scans)
      : body_(std::move(body)), sources_(std::move(sources)), carried_const_(std::move(carried_const)), scans_(scans) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    if (!*ctx.state) *ctx.state = std::make_unique<LoopState>();
    LoopState& st = static_cast<LoopState&>(**ctx.state);
    if (!st.exec) st.exec = body_->new_exec_state();
    const size_t N = carried_const_.size();
    int64_t trip = std::numeric_limits<int64_t>::max();
    if (in.size() > 0 && in[0] && in[0]->numel() > 0) trip = in[0]->int_at(0);
    bool cond = true;
    if (in.size() > 1 && in[1] && in[1]->numel() > 0) cond = in[1]->int_at(0) != 0;
    st.cur.resize(N);
    st.next.resize(N);
    for (size_t j = 0; j < N; ++j) {
      if (carried_const_[j].defined()) continue;
      const Tensor* v = in[2 + j];
      st.cur[j].ensure(v->dtype(), v->shape());
      std::memcpy(st.cur[j].raw(), v->raw(), v->nbytes());
    }
    st.iteration.ensure(DType::Int64, {});
    st.condition.ensure(DType::Bool, {});
    st.scan.resize(scans_);
    st.scan_shape.resize(scans_);
    st.scan_dtype.resize(scans_);
    for (auto& s : st.scan) s.clear();  // keeps the capacity: a repeated run allocates nothing
    int64_t it = 0;
    while (it < trip && cond) {
      st.iteration.data<int64_t>()[0] = it;
      st.condition.data<bool>()[0] = cond;
      gather_feeds(st, in);
      with_error_context([&] { return "iteration " + std::to_string(it) + " of the body"; },
                         [&] { body_->run_nested(*st.exec, st.feeds, ctx.threads, st.outs); });
      cond = st.outs[0]->numel() > 0 && st.outs[0]->int_at(0) != 0;
      for (size_t j = 0; j < N; ++j) {
        if (carried_const_[j].defined()) continue;
        const Tensor* o = st.outs[1 + j];
        st.next[j].ensure(o->dtype(), o->shape());
        std::memcpy(st.next[j].raw(), o->raw(), o->nbytes());
      }
      keep_scan_outputs(st, N, it);
      std::swap(st.cur, st.next);
      ++it;
    }
    for (size_t j = 0; j < N && j < out.size(); ++j) {
      if (!out[j]) continue;
      const Tensor& v = carried_const_[j].defined() ? carried_const_[j] : st.cur[j];
      out[j]->ensure(v.dtype(), v.shape());
      std::memcpy(out[j]->raw(), v.raw(), v.nbytes());
    }
    for (size_t k = 0; k < scans_ && N + k < out.size(); ++k) {
      if (!out[N + k]) continue;
      Shape shape{it};
      if (it > 0) shape.insert(shape.end(), st.scan_shape[k].begin(), st.scan_shape[k].end());
      out[N + k]->ensure(it > 0 ? st.scan_dtype[k] : DType::Float32, shape);
      if (!st.scan[k].empty()) std::memcpy(out[N + k]->raw(), st.scan[k].data(), st.scan[k].size());
    }
  }

 private:
  // The body's inputs for this iteration, in the order its graph declares them.
  void gather_feeds(LoopState& st, const std::vector<const Tensor*>& in) const {
    st.feeds.clear();
    for (const Source& s : sources_) {
      switch (s.kind) {
        case Source::Iteration:
          st.feeds.push_back(&st.iteration);
          break;
        case Source::Condition:
          st.feeds.push_back(&st.condition);
          break;
        case Source::Carried:
          st.feeds.push_back(&st.cur[s.index]);
          break;
        case Source::Outer:
          st.feeds.push_back(in[s.index]);
          break;
      }
    }
  }

  // Appends iteration `it`'s scan outputs (after the condition and the N carried values) to the
  // ones kept so far; every iteration must give them the same shape and dtype.
  void keep_scan_outputs(LoopState& st, size_t N, int64_t it) const {
    for (size_t k = 0; k < scans_; ++k) {
      const Tensor* o = st.outs[1 + N + k];
      if (it == 0) {
        st.scan_shape[k] = o->shape();
        st.scan_dtype[k] = o->dtype();
      } else if (o->shape() != st.scan_shape[k] || o->dtype() != st.scan_dtype[k]) {
        throw ValueError("scan output " + std::to_string(k) + " changes from " + shape_to_string(st.scan_shape[k]) +
                         " to " + shape_to_string(o->shape()) + " at iteration " + std::to_string(it));
      }
      const size_t b = o->nbytes();
      if (b == 0) continue;  // an empty scan output: nothing to keep (and no buffer to keep it in)
      st.scan[k].resize(static_cast<size_t>(it + 1) * b);
      std::memcpy(st.scan[k].data() + static_cast<size_t>(it) * b, o->raw(), b);
    }
  }

  std::unique_ptr<Graph> body_;
  std::vector<Source> sources_;
  std::vector<Tensor> carried_const_;  // per carried value: its value when constant through the loop
  size_t scans_;
};

}  // namespace

OpPtr build_loop(const BuildContext& ctx) {
  const GraphDesc* body = ctx.get_graph("body");
  if (!body) ctx.fail("attribute 'body' is required");
  // The importer appends the values the body reads from enclosing graphs as extra inputs and
  // names them in this attribute.
  const std::vector<std::string> captured = ctx.get_strings("lstmrt.captured");
  if (ctx.num_inputs() < captured.size() + 2) ctx.fail("expects the inputs M, cond and the loop-carried values");
  const size_t real = ctx.num_inputs() - captured.size();
  const size_t N = real - 2;
  if (body->inputs.size() != N + 2)
    ctx.fail("the body has " + std::to_string(body->inputs.size()) + " inputs, expected " + std::to_string(N + 2) +
             " (iteration number, condition and " + std::to_string(N) + " loop-carried values)");
  if (body->outputs.size() < N + 1)
    ctx.fail("the body has " + std::to_string(body->outputs.size()) + " outputs, expected at least " +
             std::to_string(N + 1));
  for (size_t j = 0; j < N; ++j) ctx.require_input(2 + j, "loop-carried value");
  const size_t scans = body->outputs.size() - 1 - N;
  if (ctx.num_outputs() > N + scans)
    ctx.fail("has " + std::to_string(ctx.num_outputs()) + " outputs, the body gives " + std::to_string(N + scans));

  GraphDesc sub = subgraph_desc(ctx, *body);
  std::vector<Source> sources;
  std::vector<Tensor> carried_const(N);
  auto add_input = [&](GraphInputDesc d, Source s) {
    d.has_shape = false;  // exporters' body shapes are loose; the ops check what matters
    sub.inputs.push_back(std::move(d));
    sources.push_back(s);
  };
  add_input(body->inputs[0], {Source::Iteration, 0});
  add_input(body->inputs[1], {Source::Condition, 0});
  for (size_t j = 0; j < N; ++j) {
    const GraphInputDesc& d = body->inputs[2 + j];
    const Tensor* c = ctx.constant(2 + j);
    if (c && body->outputs[1 + j] == d.name) {
      sub.initializers.emplace_back(d.name, *c);
      carried_const[j] = *c;
    } else {
      add_input(d, {Source::Carried, j});
    }
  }
  for (size_t i : capture_outer_values(ctx, captured, real, sub)) sources.push_back({Source::Outer, i});
  auto graph = std::make_unique<Graph>(std::move(sub));
  return std::make_unique<LoopOp>(std::move(graph), std::move(sources), std::move(carried_const), scans);
}

}  // namespace lstmrt

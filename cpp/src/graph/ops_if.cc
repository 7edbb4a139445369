// If: one of two branch graphs, chosen per run by a boolean. Silero VAD picks its 8 kHz or 16 kHz
// network this way, with its LSTM inside the branches. Both branches are compiled once at load
// into Graphs of their own, so a recurrent node in a branch is the same packed layer as anywhere
// else; the values a branch reads from the enclosing graph become its inputs, or its constants
// when they are constant there (weights then pack at load). A run costs the chosen branch only.
#include <cstring>

#include "builders.h"
#include "error_context.h"
#include "lstmrt/graph/graph.h"
#include "op_util.h"
#include "subgraph.h"

namespace lstmrt {

namespace {

struct IfState final : OpState {
  Graph::ExecStatePtr exec[2];  // per branch: else (0), then (1)
  std::vector<const Tensor*> feeds, outs;
};

// A branch compiled at load, and which of the If's inputs feed its graph inputs.
struct Branch {
  std::unique_ptr<Graph> graph;
  std::vector<size_t> feeds;  // If input index per graph input
};

class IfOp final : public Op {
 public:
  // branches[0] is the else branch and branches[1] the then branch; either may be missing when
  // the condition is known at load.
  explicit IfOp(Branch branches[2]) {
    for (int b = 0; b < 2; ++b) branches_[b] = std::move(branches[b]);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& cond = *in[0];
    if (cond.numel() != 1)
      throw ValueError("cond: expected a single value, got shape " + shape_to_string(cond.shape()));
    const int b = cond.int_at(0) != 0 ? 1 : 0;
    const Branch& branch = branches_[b];
    if (!branch.graph) throw ValueError("cond changed from the value it had at load");  // unreachable: constant
    if (!*ctx.state) *ctx.state = std::make_unique<IfState>();
    IfState& st = static_cast<IfState&>(**ctx.state);
    if (!st.exec[b]) st.exec[b] = branch.graph->new_exec_state();
    st.feeds.clear();
    for (size_t i : branch.feeds) st.feeds.push_back(in[i]);
    branch.graph->run_nested(*st.exec[b], st.feeds, ctx.threads, st.outs);
    if (st.outs.size() < out.size())
      throw ValueError(std::string(b ? "then" : "else") + "_branch has " + std::to_string(st.outs.size()) +
                       " outputs, the node " + std::to_string(out.size()));
    for (size_t k = 0; k < out.size(); ++k) {
      const Tensor& v = *st.outs[k];
      out[k]->ensure(v.dtype(), v.shape());
      if (v.nbytes()) std::memcpy(out[k]->raw(), v.raw(), v.nbytes());
    }
  }

 private:
  Branch branches_[2];
};

// Compiles one branch: its graph's inputs are the captured values it is fed (constants become its
// initializers).
Branch compile_branch(const BuildContext& ctx, const GraphDesc& body, const std::vector<std::string>& captured,
                      size_t first_captured) {
  if (!body.inputs.empty())
    ctx.fail("a branch graph takes no inputs, this one declares " + std::to_string(body.inputs.size()));
  if (body.outputs.size() < ctx.num_outputs())
    ctx.fail("a branch gives " + std::to_string(body.outputs.size()) + " outputs, the node declares " +
             std::to_string(ctx.num_outputs()));
  GraphDesc sub = subgraph_desc(ctx, body);
  Branch branch;
  branch.feeds = capture_outer_values(ctx, captured, first_captured, sub);
  branch.graph = std::make_unique<Graph>(std::move(sub));
  return branch;
}

}  // namespace

OpPtr build_if(const BuildContext& ctx) {
  const GraphDesc* then_branch = ctx.get_graph("then_branch");
  const GraphDesc* else_branch = ctx.get_graph("else_branch");
  if (!then_branch || !else_branch) ctx.fail("attributes 'then_branch' and 'else_branch' are required");
  // The importer appends the values the branches read from enclosing graphs as extra inputs and
  // names them in this attribute.
  const std::vector<std::string> captured = ctx.get_strings("lstmrt.captured");
  if (ctx.num_inputs() != captured.size() + 1) ctx.fail("expects the input cond and no other");
  // A condition known at load compiles only the branch it picks.
  const Tensor* cond = ctx.constant(0);
  if (cond && cond->numel() != 1) ctx.fail("cond: expected a single value, got shape " + shape_to_string(cond->shape()));
  Branch branches[2];
  for (int b = 0; b < 2; ++b) {
    if (cond && (cond->int_at(0) != 0) != (b == 1)) continue;
    with_error_context([&] { return std::string(b ? "then_branch" : "else_branch"); },
                       [&] { branches[b] = compile_branch(ctx, b ? *then_branch : *else_branch, captured, 1); });
  }
  return std::make_unique<IfOp>(branches);
}

}  // namespace lstmrt

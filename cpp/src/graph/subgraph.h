// What the ops with subgraphs (Loop, If, Scan) share: describing a subgraph to compile, and turning
// the values it reads from the enclosing graph into its constants or inputs.
#pragma once

#include <string>
#include <vector>

#include "lstmrt/graph/graph.h"
#include "lstmrt/graph/op.h"

namespace lstmrt {

// The description of a subgraph `body` to compile on its own: its nodes, initializers and
// outputs at the enclosing node's opset and precision. Its inputs are the caller's to add (each op
// feeds its body differently).
inline GraphDesc subgraph_desc(const BuildContext& ctx, const GraphDesc& body) {
  GraphDesc sub;
  sub.opset = ctx.opset();
  sub.weights = ctx.weight_type();
  sub.nodes = body.nodes;
  sub.initializers = body.initializers;
  sub.outputs = body.outputs;
  return sub;
}

// The importer appends the values a node's subgraphs read from the enclosing graphs to the node's
// inputs, from `first` on, named in `captured`. Those that are constant there become initializers
// of `sub` (so that a subgraph's weights pack at load); the others become its inputs, of any
// dtype. Returns, per input added to `sub`, the node input that feeds it.
inline std::vector<size_t> capture_outer_values(const BuildContext& ctx, const std::vector<std::string>& captured,
                                                size_t first, GraphDesc& sub) {
  std::vector<size_t> fed_by;
  for (size_t i = 0; i < captured.size(); ++i) {
    if (const Tensor* c = ctx.constant(first + i)) {
      sub.initializers.emplace_back(captured[i], *c);
      continue;
    }
    GraphInputDesc d;
    d.name = captured[i];
    d.has_dtype = false;
    sub.inputs.push_back(std::move(d));
    fed_by.push_back(first + i);
  }
  return fed_by;
}

}  // namespace lstmrt

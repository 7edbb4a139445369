// Elementwise nodes applied in place to the output of the node before them (graph_fuse.cc finds
// them): x * sigmoid(x) spelled as a Sigmoid and a Mul, and the Add of a residual. One pass over
// an output still in cache replaces a pass per node, each with a buffer of its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lstmrt/graph/op.h"

namespace lstmrt {

struct Epilogue {
  enum class Kind { Silu, Add };
  Kind kind = Kind::Silu;
  // Add: which of the node's epilogue operands is added, and whether it was the Add's first
  // input (the order the fallback runs the Add in).
  size_t operand = 0;
  bool operand_first = false;
  // Add: the Add node's own op and description, for an operand that broadcasts (then the Add
  // runs as it would have, into the output) and for the errors it raises.
  std::unique_ptr<Op> fallback;
  std::string where;
};

// Applies `epilogues` in order to y (float32). Each gives the bits its nodes would have given:
// the same sigmoid kernel and one rounded multiply or add per element. `operands` are the
// node's epilogue operands; `tmp` is scratch for a broadcasting Add.
void apply_epilogues(const std::vector<Epilogue>& epilogues, const std::vector<const Tensor*>& operands, Tensor& y,
                     Tensor& tmp, RunContext& ctx);

}  // namespace lstmrt

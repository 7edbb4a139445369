// A compiled node as the graph keeps it, shared by the passes that build a graph (graph_load.cc)
// and the code that runs it (graph.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "epilogue.h"
#include "lstmrt/graph/graph.h"

namespace lstmrt {

struct Graph::Node {
  NodeDesc desc;
  const OpSchema* schema = nullptr;
  std::string where;  // describe_node(desc, opset), the prefix of its errors
  std::unique_ptr<Op> op;
  std::vector<int> in;   // value id per input slot, -1 when absent; past op_inputs, the epilogue's
  size_t op_inputs = 0;  // the slots the op reads (set when an epilogue is fused in)
  std::vector<Epilogue> epilogues;  // applied to output 0 after the op runs (graph_fuse.cc)
  std::vector<int> out;  // value id per output slot (anonymous ids for empty names)
  std::vector<bool> out_needed;
  std::vector<size_t> shape_inputs;  // the input slots the op reads only the shape of
};

}  // namespace lstmrt

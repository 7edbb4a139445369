// The epilogue fusion pass: the elementwise nodes right after a node that takes an epilogue
// (OpTraits::takes_epilogue) become passes over that node's output (epilogue.h). A pattern is
// matched exactly: the intermediate values are read by nothing else and are not graph outputs,
// and a residual is computed before the node that takes it runs.
#include "graph_node.h"

namespace lstmrt {

struct Graph::EpilogueFuser {
  using Elementwise = OpTraits::Elementwise;

  std::vector<std::unique_ptr<Node>>& nodes;
  std::vector<int> count;                    // reads by nodes, plus one for a graph output
  std::vector<std::vector<size_t>> readers;  // the nodes that read each value (once per slot)
  std::vector<int> producer;                 // the node computing each value, -1 for none
  std::vector<bool> gone;                    // nodes fused into an earlier one

  EpilogueFuser(Graph& g)
      : nodes(g.nodes_), count(g.num_values_, 0), readers(g.num_values_), producer(g.num_values_, -1),
        gone(g.nodes_.size(), false) {
    for (size_t n = 0; n < nodes.size(); ++n) {
      for (int id : nodes[n]->in)
        if (id >= 0) {
          count[id]++;
          readers[id].push_back(n);
        }
      for (int id : nodes[n]->out)
        if (id >= 0) producer[id] = static_cast<int>(n);
    }
    for (int id : g.output_values_) count[id]++;
  }

  void run() {
    for (size_t p = 0; p < nodes.size(); ++p) {
      if (gone[p] || !nodes[p]->schema->traits.takes_epilogue || nodes[p]->out.size() != 1) continue;
      while (fuse_silu(p) || fuse_add(p)) {
      }
    }
    size_t kept = 0;
    for (size_t n = 0; n < nodes.size(); ++n)
      if (!gone[n]) nodes[kept++] = std::move(nodes[n]);
    nodes.resize(kept);
  }

  bool plays(size_t n, Elementwise e, size_t inputs) const {
    const Node& node = *nodes[n];
    return !gone[n] && node.schema->traits.elementwise == e && node.in.size() == inputs && node.out.size() == 1;
  }

  // y = c * sigmoid(c): c read by a Sigmoid and a Mul only, the Sigmoid's output by that Mul only.
  bool fuse_silu(size_t p) {
    const int c = nodes[p]->out[0];
    if (count[c] != 2 || readers[c].size() != 2 || readers[c][0] == readers[c][1]) return false;
    for (int pick = 0; pick < 2; ++pick) {
      const size_t s = readers[c][pick], m = readers[c][1 - pick];
      if (!plays(s, Elementwise::Sigmoid, 1) || !plays(m, Elementwise::Multiply, 2)) continue;
      const int sv = nodes[s]->out[0];
      const std::vector<int>& in = nodes[m]->in;
      if (count[sv] != 1 || readers[sv].size() != 1 || readers[sv][0] != m) continue;
      if (!((in[0] == c && in[1] == sv) || (in[0] == sv && in[1] == c))) continue;
      Epilogue e;
      e.kind = Epilogue::Kind::Silu;
      take(p, m, std::move(e));
      gone[s] = true;
      return true;
    }
    return false;
  }

  // y = c + r (either order): c read by the Add only, r computed before node p runs.
  bool fuse_add(size_t p) {
    const int c = nodes[p]->out[0];
    if (count[c] != 1 || readers[c].size() != 1) return false;
    const size_t a = readers[c][0];
    if (!plays(a, Elementwise::Add, 2)) return false;
    Node& add = *nodes[a];
    const bool first = add.in[1] == c;  // the residual is the Add's first input
    const int r = add.in[first ? 0 : 1];
    if (r < 0 || r == c || producer[r] >= static_cast<int>(p)) return false;
    Node& node = *nodes[p];
    if (node.op_inputs == 0) node.op_inputs = node.in.size();
    Epilogue e;
    e.kind = Epilogue::Kind::Add;
    e.operand = node.in.size() - node.op_inputs;
    e.operand_first = first;
    e.fallback = std::move(add.op);
    e.where = add.where;
    node.in.push_back(r);
    take(p, a, std::move(e));
    return true;
  }

  // Node p takes epilogue `e` and with it node `last`'s output, and `last` goes.
  void take(size_t p, size_t last, Epilogue e) {
    Node& node = *nodes[p];
    const Node& from = *nodes[last];
    if (node.op_inputs == 0) node.op_inputs = node.in.size();
    node.epilogues.push_back(std::move(e));
    node.out[0] = from.out[0];
    node.out_needed[0] = from.out_needed[0];
    node.desc.outputs[0] = from.desc.outputs[0];
    producer[from.out[0]] = static_cast<int>(p);
    gone[last] = true;
  }
};

void Graph::fuse_epilogues() { EpilogueFuser(*this).run(); }

}  // namespace lstmrt

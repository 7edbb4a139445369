// Compiling a model's graph: the passes Graph's constructor runs, in order. Each reads what the
// ones before it produced; none names an operator (what a pass needs to know of one, its schema's
// OpTraits or its Op says).
#include <algorithm>
#include <deque>
#include <functional>
#include <unordered_map>

#include "error_context.h"
#include "graph_node.h"
#include "lstmrt/errors.h"

namespace lstmrt {

// What the passes share while the graph is being compiled, and drop afterwards.
struct Graph::Loading {
  std::unordered_map<std::string, int> ids;          // value id per name
  std::unordered_map<std::string, size_t> producer;  // index into desc.nodes per produced name
  bool defined(const std::string& name) const { return producer.count(name) || ids.count(name); }
};

namespace {

// Checks a node's inputs and outputs against its operator's schema before it is built.
void check_arity(const OpSchema& schema, const NodeDesc& node, const std::string& where) {
  const int inputs = static_cast<int>(node.inputs.size());
  const int outputs = static_cast<int>(node.outputs.size());
  if (schema.max_inputs != OpSchema::kAny && inputs > schema.max_inputs)
    throw ValueError(where + ": has " + std::to_string(inputs) + " inputs; " + node.op_type + " takes at most " +
                     std::to_string(schema.max_inputs));
  for (int i = 0; i < schema.required_inputs; ++i)
    if (i >= inputs || node.inputs[static_cast<size_t>(i)].empty())
      throw ValueError(where + ": input " + std::to_string(i) + " is required (" + node.op_type + " needs its first " +
                       std::to_string(schema.required_inputs) + " inputs), but the node " +
                       (i >= inputs ? "has only " + std::to_string(inputs) : std::string("leaves it empty")));
  if (schema.max_outputs != OpSchema::kAny && outputs > schema.max_outputs)
    throw ValueError(where + ": declares " + std::to_string(outputs) + " outputs; " + node.op_type + " has at most " +
                     std::to_string(schema.max_outputs));
}

// The nodes the graph outputs need (nodes nobody reads are dropped, as ONNX Runtime does); every
// value they read must be defined.
std::vector<bool> needed_nodes(const GraphDesc& desc, const std::unordered_map<std::string, size_t>& producer,
                               const std::unordered_map<std::string, int>& ids) {
  auto defined = [&](const std::string& name) { return producer.count(name) || ids.count(name); };
  std::vector<bool> needed(desc.nodes.size(), false);
  std::vector<std::string> stack(desc.outputs.begin(), desc.outputs.end());
  std::unordered_map<std::string, bool> seen;
  for (const std::string& o : desc.outputs)
    if (!defined(o)) throw ValueError("graph output '" + o + "' is not produced by any node, initializer or input");
  while (!stack.empty()) {
    const std::string name = stack.back();
    stack.pop_back();
    if (name.empty() || seen[name]) continue;
    seen[name] = true;
    auto it = producer.find(name);
    if (it == producer.end()) continue;
    if (needed[it->second]) continue;
    needed[it->second] = true;
    const NodeDesc& node = desc.nodes[it->second];
    for (const std::string& i : node.inputs) {
      if (i.empty()) continue;
      if (!defined(i))
        throw ValueError(describe_node(node.op_type, node.name) + " reads '" + i +
                         "', which no node, initializer or graph input defines");
      stack.push_back(i);
    }
  }
  return needed;
}

// The needed nodes in topological order (Kahn's algorithm, ties in model order).
std::vector<size_t> topological_order(const GraphDesc& desc, const std::unordered_map<std::string, size_t>& producer,
                                      const std::vector<bool>& needed) {
  std::vector<int> pending(desc.nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(desc.nodes.size());
  for (size_t n = 0; n < desc.nodes.size(); ++n) {
    if (!needed[n]) continue;
    for (const std::string& i : desc.nodes[n].inputs) {
      auto it = producer.find(i);
      if (i.empty() || it == producer.end()) continue;
      pending[n]++;
      consumers[it->second].push_back(n);
    }
  }
  std::deque<size_t> ready;
  for (size_t n = 0; n < desc.nodes.size(); ++n)
    if (needed[n] && pending[n] == 0) ready.push_back(n);
  std::vector<size_t> order;
  while (!ready.empty()) {
    const size_t n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (size_t c : consumers[n])
      if (--pending[c] == 0) ready.push_back(c);
  }
  const size_t needed_count = static_cast<size_t>(std::count(needed.begin(), needed.end(), true));
  if (order.size() != needed_count) throw ValueError("the graph has a cycle");
  return order;
}

}  // namespace

Graph::Graph(GraphDesc desc) : opset_(desc.opset), weights_(desc.weights), inputs_(std::move(desc.inputs)) {
  Loading load;
  define_constants_and_inputs(desc, load);
  index_producers(desc, load);
  const std::vector<size_t> order =
      topological_order(desc, load.producer, needed_nodes(desc, load.producer, load.ids));
  check_supported(desc, order);
  build_nodes(desc, order, load);
  bind_outputs(desc.outputs, load);
  fuse_epilogues();
  find_static_nodes();
  assign_buffers();
  find_optional_inputs();
  index_recurrent_nodes();
  state_ = new_exec_state();
}

Graph::~Graph() = default;

int Graph::new_value(const std::string& name, Loading& load) {
  const int id = static_cast<int>(value_names_.size());
  value_names_.push_back(name);
  constants_.emplace_back();
  is_constant_.push_back(false);
  if (!name.empty()) load.ids[name] = id;
  return id;
}

void Graph::define_constants_and_inputs(GraphDesc& desc, Loading& load) {
  for (auto& init : desc.initializers) {
    if (load.ids.count(init.first)) throw ValueError("initializer '" + init.first + "' is defined twice");
    const int id = new_value(init.first, load);
    constants_[id] = std::move(init.second);
    is_constant_[id] = true;
  }
  for (const GraphInputDesc& in : inputs_) {
    if (load.ids.count(in.name)) throw ValueError("graph input '" + in.name + "' is defined twice");
    input_values_.push_back(new_value(in.name, load));
  }
}

void Graph::index_producers(const GraphDesc& desc, Loading& load) {
  for (size_t n = 0; n < desc.nodes.size(); ++n) {
    const NodeDesc& node = desc.nodes[n];
    model_op_counts_[registry_key(node)]++;
    for (const std::string& o : node.outputs) {
      if (o.empty()) continue;
      if (load.defined(o))
        throw ValueError("value '" + o + "' is produced by node '" + node.name + "' but is already defined");
      load.producer[o] = n;
    }
  }
}

void Graph::check_supported(const GraphDesc& desc, const std::vector<size_t>& order) const {
  // Every unsupported operator is named in one error, with its nodes.
  std::vector<std::string> unsupported;
  for (size_t n : order) {
    const NodeDesc& node = desc.nodes[n];
    if (!find_op(registry_key(node))) unsupported.push_back("'" + registry_key(node) + "' (node '" + node.name + "')");
  }
  if (!unsupported.empty())
    throw ValueError(std::string(unsupported.size() == 1 ? "unsupported operator " : "unsupported operators ") +
                     join(unsupported, 20) + " (opset " + std::to_string(opset_) +
                     "); lstmrt supports the ai.onnx operators: " + join(supported_ops()));
}

void Graph::build_nodes(GraphDesc& desc, const std::vector<size_t>& order, Loading& load) {
  Workspace fold_workspace;
  for (size_t n : order) {
    auto node = std::make_unique<Node>();
    node->desc = std::move(desc.nodes[n]);
    NodeDesc& d = node->desc;
    node->where = describe_node(d, opset_);
    node->schema = find_op(registry_key(d));
    check_arity(*node->schema, d, node->where);
    // Recurrent nodes always produce their final states (streaming reads them), so their output
    // list is padded to the full Y, Y_h (, Y_c) with anonymous values.
    if (node->schema->recurrent()) d.outputs.resize(static_cast<size_t>(node->schema->max_outputs));
    std::vector<const Tensor*> consts;
    bool all_constant = true;
    for (const std::string& i : d.inputs) {
      const int id = i.empty() ? -1 : load.ids.at(i);
      node->in.push_back(id);
      consts.push_back(id >= 0 && is_constant_[id] ? &constants_[id] : nullptr);
      all_constant = all_constant && (id < 0 || is_constant_[id]);
    }
    BuildContext ctx(d, opset_, consts, weights_, &warnings_);
    naming_node(node->where, [&] { node->op = node->schema->build(ctx); });
    for (const std::string& o : d.outputs) node->out.push_back(new_value(o, load));
    if (all_constant && !node->schema->recurrent()) {
      fold(*node, fold_workspace);
      ++folded_;
    } else {
      nodes_.push_back(std::move(node));
    }
  }
  num_values_ = value_names_.size();
}

void Graph::fold(const Node& node, Workspace& workspace) {
  // Every input is known: compute the outputs now and keep them as constants.
  std::vector<const Tensor*> in;
  for (int id : node.in) in.push_back(id < 0 ? nullptr : &constants_[id]);
  std::vector<Tensor> results(node.out.size());
  std::vector<Tensor*> out;
  for (Tensor& t : results) out.push_back(&t);
  std::vector<Tensor> scratch;
  std::unique_ptr<OpState> op_state;
  RunContext ctx;
  ctx.threads = 1;
  ctx.workspace = &workspace;
  ctx.scratch = &scratch;
  ctx.state = &op_state;
  naming_node(node.where, [&] { node.op->run(in, out, ctx); });
  for (size_t k = 0; k < node.out.size(); ++k) {
    if (!results[k].defined()) continue;  // an optional output the op did not produce (read: an error later)
    // Views (Reshape, Identity) of other constants become owned copies.
    constants_[node.out[k]] = results[k].holder() ? results[k] : results[k].clone();
    is_constant_[node.out[k]] = true;
  }
}

void Graph::bind_outputs(const std::vector<std::string>& outputs, const Loading& load) {
  // Which values are read (by a later node or as a graph output).
  std::vector<bool> read(num_values_, false);
  for (const auto& node : nodes_)
    for (int id : node->in)
      if (id >= 0) read[id] = true;
  for (const std::string& o : outputs) {
    const int id = load.ids.at(o);
    read[id] = true;
    output_values_.push_back(id);
    output_names_.push_back(o);
  }
  check_values_produced(read);
  for (auto& node : nodes_)
    for (size_t k = 0; k < node->out.size(); ++k)
      node->out_needed.push_back(read[node->out[k]] || node->op->always_computes(k));
}

void Graph::check_values_produced(const std::vector<bool>& read) const {
  std::vector<bool> produced(is_constant_.begin(), is_constant_.end());
  for (int id : input_values_) produced[id] = true;
  for (const auto& node : nodes_)
    for (int id : node->out) produced[id] = true;
  for (size_t id = 0; id < num_values_; ++id)
    if (read[id] && !produced[id])
      throw ValueError("value '" + value_names_[id] + "' is read, but the node that declares it (folded at load, " +
                       "its inputs being constant) does not produce it: an optional output its operator left out");
}

void Graph::find_static_nodes() {
  // A value is static when it is a constant or a static node's output; a node is static when
  // every input it reads the elements of is static (inputs it reads only the shape of may be
  // anything). Recurrent nodes never are: streaming replaces their initial states per run.
  std::vector<bool> is_static(is_constant_.begin(), is_constant_.end());
  static_node_.assign(nodes_.size(), false);
  static_readers_.assign(nodes_.size(), {});
  std::vector<int> producer(num_values_, -1);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    Node& node = *nodes_[n];
    for (size_t slot = 0; slot < node.in.size(); ++slot)
      if (node.in[slot] >= 0 && node.op->reads_only_shape(slot)) node.shape_inputs.push_back(slot);
    bool ok = !node.schema->recurrent();
    for (size_t slot = 0; slot < node.in.size() && ok; ++slot) {
      const int id = node.in[slot];
      ok = id < 0 || is_static[id] || node.op->reads_only_shape(slot);
    }
    if (!ok) continue;
    static_node_[n] = true;
    for (int id : node.out) {
      is_static[id] = true;
      producer[id] = static_cast<int>(n);
    }
    for (int id : node.in)
      if (id >= 0 && producer[id] >= 0) static_readers_[producer[id]].push_back(static_cast<int>(n));
  }
}

// Why this is long: the liveness of every value and the hand-over of slots are one walk over the
// nodes, and the rules for what lives to the end (outputs, final states, views) belong beside it.
void Graph::assign_buffers() {
  // Each computed value gets a slot: a tensor of the run plan whose buffer is reused from run to
  // run. A slot whose value nobody reads any more is handed to a value computed later, so the
  // intermediates of a long graph share a few buffers. Graph inputs have their own slots.
  const int forever = static_cast<int>(nodes_.size());
  slot_of_.assign(num_values_, -1);
  num_slots_ = 0;
  for (int id : input_values_) slot_of_[id] = static_cast<int>(num_slots_++);
  // last[v]: the last node reading v; graph outputs and recurrent final states live to the end.
  std::vector<int> last(num_values_, -1);
  for (size_t n = 0; n < nodes_.size(); ++n)
    for (int id : nodes_[n]->in)
      if (id >= 0) last[id] = static_cast<int>(n);
  for (int id : output_values_) last[id] = forever;
  for (const auto& node : nodes_)
    for (size_t k = 0; k < node->out.size(); ++k)
      if (node->out_needed[k] && last[node->out[k]] < 0) last[node->out[k]] = forever;
  // A recurrent node's final states (Y_h, Y_c) are read after the run for streaming
  // (RunRequest::collect_state), even when a node of the graph reads them earlier.
  for (const auto& node : nodes_)
    if (node->op->recurrent_layer())
      for (size_t k = 1; k < node->out.size(); ++k)
        if (node->out[k] >= 0) last[node->out[k]] = forever;
  // A view (Reshape, Squeeze, ...) reads its source's buffer for as long as the view is read, so
  // the source's buffer lives until the last read of any view of it. An op that only may alias
  // (ReduceMean with noop_with_empty_axes) may also own its output, so every value along a chain
  // of views is kept, not only the first.
  std::vector<int> parent(num_values_, -1);
  for (const auto& node : nodes_)
    if (node->op->may_alias_input() && !node->in.empty() && node->in[0] >= 0)
      for (int id : node->out) parent[id] = node->in[0];
  std::vector<int> until = last;
  for (size_t v = num_values_; v-- > 0;)  // values are numbered in topological order
    if (parent[v] >= 0) until[parent[v]] = std::max(until[parent[v]], until[v]);
  std::vector<std::vector<int>> dies_after(nodes_.size());
  std::vector<int> free_slots;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const Node& node = *nodes_[n];
    for (size_t k = 0; k < node.out.size(); ++k) {
      if (!node.out_needed[k]) continue;
      const int id = node.out[k];
      // A static node's outputs are kept from one run to the next, so their slots are theirs
      // alone: taken from no other value, and never handed on.
      if (static_node_[n] || free_slots.empty()) {
        slot_of_[id] = static_cast<int>(num_slots_++);
      } else {
        slot_of_[id] = free_slots.back();
        free_slots.pop_back();
      }
      if (!static_node_[n] && until[id] < forever)
        dies_after[static_cast<size_t>(std::max(until[id], static_cast<int>(n)))].push_back(id);
    }
    // Freed only after the node's outputs took their slots: an op never writes over its inputs.
    for (int id : dies_after[n]) free_slots.push_back(slot_of_[id]);
  }
}

void Graph::find_optional_inputs() {
  // Inputs that only feed recurrent nodes' initial states may be omitted: they read as zeros.
  // "Only feed" looks through the data movement that exporters put between a stacked state input
  // and each layer (the legacy exporter slices h0 per layer): an absent input makes the outputs
  // of ops that forward absence absent too, and a recurrent node reads an absent initial state as
  // zeros.
  std::vector<std::vector<std::pair<size_t, size_t>>> readers(num_values_);  // (node, slot)
  for (size_t n = 0; n < nodes_.size(); ++n)
    for (size_t slot = 0; slot < nodes_[n]->in.size(); ++slot)
      if (nodes_[n]->in[slot] >= 0) readers[nodes_[n]->in[slot]].emplace_back(n, slot);
  std::vector<bool> is_output(num_values_, false);
  for (int o : output_values_) is_output[o] = true;
  std::vector<int> state_only(num_values_, -1);  // memo: -1 unknown, 0 no, 1 yes
  std::function<bool(int)> only_state = [&](int id) -> bool {
    if (state_only[id] >= 0) return state_only[id] == 1;
    state_only[id] = 0;  // guards against cycles while computing
    bool ok = !readers[id].empty() && !is_output[id];
    for (const auto& rs : readers[id]) {
      if (!ok) break;
      const Node& node = *nodes_[rs.first];
      if (node.schema->recurrent()) {
        ok = node.schema->reads_state(rs.second);
      } else if (rs.second == 0 && node.schema->traits.forwards_absence) {
        for (size_t k = 0; k < node.out.size() && ok; ++k)
          ok = !node.out_needed[k] || only_state(node.out[k]);
      } else {
        ok = false;
      }
    }
    state_only[id] = ok ? 1 : 0;
    return ok;
  };
  input_optional_.assign(inputs_.size(), false);
  for (size_t i = 0; i < inputs_.size(); ++i) input_optional_[i] = only_state(input_values_[i]);
}

void Graph::index_recurrent_nodes() {
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const RnnLayer* layer = nodes_[n]->op->recurrent_layer();
    if (!layer) continue;
    RecurrentNodeInfo info;
    info.name = nodes_[n]->desc.name;
    info.cell = layer->cell();
    info.direction = layer->direction();
    info.num_directions = layer->num_directions();
    info.hidden_size = layer->hidden_size();
    info.input_size = layer->input_size();
    info.layout = layer->layout();
    recurrent_nodes_.push_back(static_cast<int>(n));
    recurrent_info_.push_back(info);
  }
  recurrent_slot_.assign(nodes_.size(), -1);
  for (size_t k = 0; k < recurrent_nodes_.size(); ++k) recurrent_slot_[recurrent_nodes_[k]] = static_cast<int>(k);

  // For streaming: which graph inputs reach each recurrent node's initial-state inputs (its
  // schema's state slots), following producers back through the graph.
  std::vector<int> producer_of(num_values_, -1);
  for (size_t n = 0; n < nodes_.size(); ++n)
    for (int id : nodes_[n]->out)
      if (id >= 0) producer_of[id] = static_cast<int>(n);
  std::vector<int> input_of_value(num_values_, -1);
  for (size_t i = 0; i < input_values_.size(); ++i) input_of_value[input_values_[i]] = static_cast<int>(i);
  for (int n : recurrent_nodes_) {
    std::vector<bool> seen(num_values_, false);
    std::vector<int> todo, found;
    for (size_t slot = 0; slot < nodes_[n]->in.size(); ++slot)
      if (nodes_[n]->schema->reads_state(slot) && nodes_[n]->in[slot] >= 0) todo.push_back(nodes_[n]->in[slot]);
    while (!todo.empty()) {
      const int id = todo.back();
      todo.pop_back();
      if (seen[id]) continue;
      seen[id] = true;
      if (input_of_value[id] >= 0) found.push_back(input_of_value[id]);
      if (producer_of[id] >= 0)
        for (int src : nodes_[producer_of[id]]->in)
          if (src >= 0) todo.push_back(src);
    }
    std::sort(found.begin(), found.end());
    recurrent_state_inputs_.push_back(found);
  }
}

std::vector<std::string> Graph::state_hiding_ops() const {
  std::vector<std::string> ops;
  for (const auto& node : nodes_)
    if (node->schema->traits.hides_state) ops.push_back(node->desc.op_type);
  std::sort(ops.begin(), ops.end());
  ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
  return ops;
}

}  // namespace lstmrt

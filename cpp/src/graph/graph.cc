// Building a graph (ordering, folding, op construction) and running it with per-shape plans.
#include "lstmrt/graph/graph.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <new>
#include <stdexcept>
#include <unordered_map>

#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

// Plans kept per graph: one per recent input-shape signature. A stream of ever-new shapes then
// keeps a bounded amount of memory.
constexpr size_t kMaxPlans = 8;

// The registry's name of a node's operator: the op_type for ai.onnx, "domain::op_type" otherwise.
std::string registry_key(const NodeDesc& node) {
  const bool standard = node.domain.empty() || node.domain == "ai.onnx";
  return standard ? node.op_type : node.domain + "::" + node.op_type;
}

// Operators that only move or select data from their first input: an absent (omitted initial
// state) first input makes their outputs absent rather than an error.
bool propagates_absence(const std::string& op) {
  static const char* const ops[] = {"Identity", "Slice",     "Gather", "Split",   "Squeeze",
                                    "Unsqueeze", "Reshape", "Transpose", "Flatten", "Dropout"};
  for (const char* o : ops)
    if (op == o) return true;
  return false;
}

std::string join(const std::vector<std::string>& names, size_t limit = 0) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (limit && i == limit) {
      s += ", ... (" + std::to_string(names.size() - limit) + " more)";
      break;
    }
    s += (i ? ", " : "") + names[i];
  }
  return s;
}

std::string declared_shape_text(const GraphInputDesc& in) {
  std::string s = "[";
  for (size_t i = 0; i < in.dims.size(); ++i) {
    if (i) s += ", ";
    if (in.dims[i] >= 0)
      s += std::to_string(in.dims[i]);
    else
      s += in.dim_names[i].empty() ? "?" : in.dim_names[i];
  }
  return s + "]";
}

// Prefixes an error from a node with the node's description, unless it already carries it.
template <class E>
[[noreturn]] void rethrow_with(const std::string& where, const E& e) {
  const std::string msg = e.what();
  if (msg.rfind(where, 0) == 0) throw E(msg);
  throw E(where + ": " + msg);
}

// Runs fn(), naming the node `where` in any error it raises; a failed allocation anywhere in it
// (a buffer, a vector) becomes a MemoryError that names the node too.
template <class Fn>
void naming_node(const std::string& where, Fn&& fn) {
  try {
    fn();
  } catch (const TypeError& e) {
    rethrow_with(where, e);
  } catch (const ValueError& e) {
    rethrow_with(where, e);
  } catch (const UnsupportedError& e) {
    rethrow_with(where, e);
  } catch (const MemoryError& e) {
    rethrow_with(where, e);
  } catch (const std::bad_alloc&) {
    throw MemoryError(where + ": out of memory");
  } catch (const std::length_error& e) {
    throw MemoryError(where + ": out of memory (" + e.what() + ")");
  }
}

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

}  // namespace

struct Graph::Node {
  NodeDesc desc;
  const OpSchema* schema = nullptr;
  std::string where;
  std::unique_ptr<Op> op;
  std::vector<int> in;   // value id per input slot, -1 when absent
  std::vector<int> out;  // value id per output slot (anonymous ids for empty names)
  std::vector<bool> out_needed;
  std::vector<size_t> shape_inputs;  // the input slots the op reads only the shape of
};

struct Graph::Plan {
  std::vector<Tensor> values;                 // per buffer slot (constants stay in the graph)
  std::vector<std::vector<Tensor>> scratch;   // per node
  std::vector<std::vector<const Tensor*>> in;  // per node, bound to `values` and the constants
  std::vector<std::vector<Tensor*>> out;
  std::vector<std::vector<Tensor>> unread;  // per node: where outputs nobody reads are written
  std::vector<bool> skip;  // per node: fed only by an absent optional input
  std::vector<std::unique_ptr<OpState>> op_state;  // per node: what its op keeps between runs
  // Per static node (see Graph::static_node_): whether its outputs hold the result for its
  // current inputs, and the shapes of its shape_inputs when it last ran.
  std::vector<uint8_t> fresh;
  std::vector<std::vector<Shape>> seen_shapes;
  uint64_t last_used = 0;
};

struct Graph::ExecState {
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans;
  std::vector<int64_t> key;
  // The plan of the previous run and its key: a run of the same shapes (a stream) takes it
  // without a search.
  Plan* last = nullptr;
  std::vector<int64_t> last_key;
  Workspace workspace;
  uint64_t clock = 0;
};

Graph::Graph(GraphDesc desc) : opset_(desc.opset), weights_(desc.weights), inputs_(std::move(desc.inputs)) {
  std::unordered_map<std::string, int> ids;
  auto new_value = [&](const std::string& name) {
    const int id = static_cast<int>(value_names_.size());
    value_names_.push_back(name);
    constants_.emplace_back();
    is_constant_.push_back(false);
    if (!name.empty()) ids[name] = id;
    return id;
  };

  for (auto& init : desc.initializers) {
    if (ids.count(init.first)) throw ValueError("initializer '" + init.first + "' is defined twice");
    const int id = new_value(init.first);
    constants_[id] = std::move(init.second);
    is_constant_[id] = true;
  }
  for (const GraphInputDesc& in : inputs_) {
    if (ids.count(in.name)) throw ValueError("graph input '" + in.name + "' is defined twice");
    input_values_.push_back(new_value(in.name));
  }

  // Which node produces each name; the model's operator counts.
  std::unordered_map<std::string, size_t> producer;
  for (size_t n = 0; n < desc.nodes.size(); ++n) {
    const NodeDesc& node = desc.nodes[n];
    const std::string key = node.domain.empty() || node.domain == "ai.onnx" ? node.op_type
                                                                             : node.domain + "::" + node.op_type;
    model_op_counts_[key]++;
    for (const std::string& o : node.outputs) {
      if (o.empty()) continue;
      if (producer.count(o) || ids.count(o))
        throw ValueError("value '" + o + "' is produced by node '" + node.name + "' but is already defined");
      producer[o] = n;
    }
  }

  // The nodes the outputs need (nodes nobody reads are dropped, as ONNX Runtime does).
  std::vector<bool> needed(desc.nodes.size(), false);
  std::vector<std::string> stack(desc.outputs.begin(), desc.outputs.end());
  std::unordered_map<std::string, bool> seen;
  for (const std::string& o : desc.outputs)
    if (!producer.count(o) && !ids.count(o))
      throw ValueError("graph output '" + o + "' is not produced by any node, initializer or input");
  while (!stack.empty()) {
    const std::string name = stack.back();
    stack.pop_back();
    if (name.empty() || seen[name]) continue;
    seen[name] = true;
    auto it = producer.find(name);
    if (it == producer.end()) continue;
    if (needed[it->second]) continue;
    needed[it->second] = true;
    for (const std::string& i : desc.nodes[it->second].inputs) {
      if (i.empty()) continue;
      if (!producer.count(i) && !ids.count(i))
        throw ValueError("node '" + desc.nodes[it->second].name + "' (" + desc.nodes[it->second].op_type +
                         ") reads '" + i + "', which no node, initializer or graph input defines");
      stack.push_back(i);
    }
  }

  // Topological order (Kahn's algorithm, ties in model order).
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
  size_t needed_count = 0;
  for (bool b : needed) needed_count += b;
  if (order.size() != needed_count) throw ValueError("the graph has a cycle");

  // Every unsupported operator is named in one error, with its nodes.
  std::vector<std::string> unsupported;
  for (size_t n : order) {
    const NodeDesc& node = desc.nodes[n];
    if (find_op(registry_key(node))) continue;
    const std::string op = registry_key(node);
    unsupported.push_back("'" + op + "' (node '" + node.name + "')");
  }
  if (!unsupported.empty())
    throw ValueError(std::string(unsupported.size() == 1 ? "unsupported operator " : "unsupported operators ") +
                     join(unsupported, 20) + " (opset " + std::to_string(opset_) +
                     "); lstmrt supports the ai.onnx operators: " + join(supported_ops()));

  // Build each node; fold those whose inputs are all constant.
  Workspace fold_workspace;
  for (size_t n : order) {
    NodeDesc& node = desc.nodes[n];
    const std::string where = node.op_type + " node '" + node.name + "' (opset " + std::to_string(opset_) + ")";
    const OpSchema& schema = *find_op(registry_key(node));
    OpBuilder builder = schema.build;
    check_arity(schema, node, where);
    // Recurrent nodes always produce their final states (streaming reads them), so their output
    // list is padded to the full Y, Y_h (, Y_c) with anonymous values.
    if (schema.recurrent()) node.outputs.resize(static_cast<size_t>(schema.max_outputs));
    std::vector<int> in_ids;
    std::vector<const Tensor*> consts;
    bool all_constant = true;
    for (const std::string& i : node.inputs) {
      if (i.empty()) {
        in_ids.push_back(-1);
        consts.push_back(nullptr);
        continue;
      }
      const int id = ids.at(i);
      in_ids.push_back(id);
      consts.push_back(is_constant_[id] ? &constants_[id] : nullptr);
      all_constant = all_constant && is_constant_[id];
    }
    std::unique_ptr<Op> op;
    {
      BuildContext ctx(node, opset_, consts, weights_, &warnings_);
      naming_node(where, [&] { op = builder(ctx); });
    }
    std::vector<int> out_ids;
    for (const std::string& o : node.outputs) out_ids.push_back(new_value(o));

    if (all_constant && !schema.recurrent()) {
      // Every input is known: compute the outputs now and keep them as constants.
      std::vector<const Tensor*> in;
      for (int id : in_ids) in.push_back(id < 0 ? nullptr : &constants_[id]);
      std::vector<Tensor> results(out_ids.size());
      std::vector<Tensor*> out;
      for (Tensor& t : results) out.push_back(&t);
      std::vector<Tensor> scratch;
      std::unique_ptr<OpState> op_state;
      RunContext ctx;
      ctx.threads = 1;
      ctx.workspace = &fold_workspace;
      ctx.scratch = &scratch;
      ctx.state = &op_state;
      naming_node(where, [&] { op->run(in, out, ctx); });
      for (size_t k = 0; k < out_ids.size(); ++k) {
        if (!results[k].defined()) continue;  // an optional output the op did not produce (read: an error below)
        // Views (Reshape, Identity) of other constants become owned copies.
        constants_[out_ids[k]] = results[k].holder() ? results[k] : results[k].clone();
        is_constant_[out_ids[k]] = true;
      }
      ++folded_;
      continue;
    }

    auto entry = std::make_unique<Node>();
    entry->schema = &schema;
    entry->where = where;
    entry->in = std::move(in_ids);
    entry->out = std::move(out_ids);
    entry->op = std::move(op);
    entry->desc = std::move(node);
    nodes_.push_back(std::move(entry));
  }
  num_values_ = value_names_.size();

  // Which node outputs are read (by a later node or as a graph output).
  std::vector<bool> read(num_values_, false);
  for (const auto& node : nodes_)
    for (int id : node->in)
      if (id >= 0) read[id] = true;
  for (const std::string& o : desc.outputs) {
    const int id = ids.at(o);
    read[id] = true;
    output_values_.push_back(id);
    output_names_.push_back(o);
  }
  check_values_produced(read);
  for (auto& node : nodes_)
    for (size_t k = 0; k < node->out.size(); ++k)
      node->out_needed.push_back(read[node->out[k]] || node->op->always_computes(k));
  find_static_nodes();
  assign_buffers();

  // Inputs that only feed recurrent nodes' initial states may be omitted: they read as zeros.
  // "Only feed" looks through the data movement that exporters put between a stacked state input
  // and each layer (the legacy exporter slices h0 per layer): an absent input makes those nodes'
  // outputs absent too, and a recurrent node reads an absent initial state as zeros.
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
      } else if (rs.second == 0 && propagates_absence(node.desc.op_type)) {
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
  state_ = new_exec_state();
}

Graph::~Graph() = default;

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

std::map<std::string, int> Graph::op_counts() const {
  std::map<std::string, int> counts;
  for (const auto& node : nodes_) counts[node->desc.op_type]++;
  return counts;
}

int Graph::input_index(const std::string& name) const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].name == name) return static_cast<int>(i);
  return -1;
}

int Graph::output_index(const std::string& name) const {
  for (size_t i = 0; i < output_names_.size(); ++i)
    if (output_names_[i] == name) return static_cast<int>(i);
  return -1;
}

size_t Graph::cached_plans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_->plans.size();
}

void Graph::check_inputs(const std::vector<const Tensor*>& inputs) const {
  if (inputs.size() != inputs_.size())
    throw ValueError("expected " + std::to_string(inputs_.size()) + " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const GraphInputDesc& d = inputs_[i];
    const Tensor* t = inputs[i];
    if (!t) {
      if (input_optional_[i]) continue;
      std::vector<std::string> names;
      for (size_t k = 0; k < inputs_.size(); ++k)
        if (!input_optional_[k]) names.push_back("'" + inputs_[k].name + "'");
      throw ValueError("missing input '" + d.name + "': feeds must give every required input (" + join(names) + ")");
    }
    if (d.has_dtype && t->dtype() != d.dtype)
      throw TypeError("input '" + d.name + "': expected " + onnx_type_string(d.dtype) + " (numpy " +
                      dtype_name(d.dtype) + "), got " + dtype_name(t->dtype()));
    if (!d.has_shape) continue;
    if (t->rank() != d.dims.size())
      throw ValueError("input '" + d.name + "': expected rank " + std::to_string(d.dims.size()) + " (shape " +
                       declared_shape_text(d) + "), got shape " + shape_to_string(t->shape()));
    for (size_t k = 0; k < d.dims.size(); ++k)
      if (d.dims[k] >= 0 && t->dim(k) != d.dims[k])
        throw ValueError("input '" + d.name + "': dimension " + std::to_string(k) + " must be " +
                         std::to_string(d.dims[k]) + " (the model declares shape " + declared_shape_text(d) +
                         "), got shape " + shape_to_string(t->shape()));
  }
}

void Graph::check_states(const RunRequest& r) const {
  for (int o : r.outputs)
    if (o < 0 || o >= static_cast<int>(output_names_.size()))
      throw ValueError("output index " + std::to_string(o) + " out of range");
  for (size_t k = 0; k < r.state_h.size() || k < r.state_c.size(); ++k) {
    if (k >= recurrent_nodes_.size())
      throw ValueError("initial states given for " + std::to_string(std::max(r.state_h.size(), r.state_c.size())) +
                       " recurrent nodes, the graph has " + std::to_string(recurrent_nodes_.size()));
    const Tensor* h = k < r.state_h.size() ? r.state_h[k] : nullptr;
    const Tensor* c = k < r.state_c.size() ? r.state_c[k] : nullptr;
    const std::string& name = recurrent_info_[k].name;
    if ((h && h->dtype() != DType::Float32) || (c && c->dtype() != DType::Float32))
      throw TypeError("initial state of recurrent node '" + name + "': expected float32");
    if (c && recurrent_info_[k].cell != CellKind::LSTM)
      throw ValueError("initial state of recurrent node '" + name + "': only LSTM has a cell state");
  }
}

Graph::Plan& Graph::plan_for(ExecState& state, const std::vector<const Tensor*>& inputs) const {
  std::vector<int64_t>& key = state.key;  // reused: a run of a known shape allocates nothing here
  key.clear();
  for (const Tensor* t : inputs) {
    if (!t) {
      key.push_back(-1);
      continue;
    }
    key.push_back(static_cast<int64_t>(t->rank()));
    key.insert(key.end(), t->shape().begin(), t->shape().end());
  }
  if (state.last && key == state.last_key) {
    state.last->last_used = ++state.clock;
    return *state.last;
  }
  auto it = state.plans.find(key);
  if (it != state.plans.end()) {
    it->second->last_used = ++state.clock;
    state.last = it->second.get();
    state.last_key = key;
    return *it->second;
  }
  if (state.plans.size() >= kMaxPlans) {
    auto oldest = state.plans.begin();
    for (auto p = state.plans.begin(); p != state.plans.end(); ++p)
      if (p->second->last_used < oldest->second->last_used) oldest = p;
    if (state.last == oldest->second.get()) state.last = nullptr;
    state.plans.erase(oldest);
  }
  auto plan = std::make_unique<Plan>();
  plan->values.resize(num_slots_);
  plan->scratch.resize(nodes_.size());
  plan->op_state.resize(nodes_.size());
  plan->in.resize(nodes_.size());
  plan->out.resize(nodes_.size());
  plan->unread.resize(nodes_.size());
  plan->fresh.assign(nodes_.size(), 0);
  plan->seen_shapes.resize(nodes_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) plan->seen_shapes[n].resize(nodes_[n]->shape_inputs.size());
  // Absent optional inputs make the data-movement nodes they feed absent too (see the
  // constructor); those nodes are skipped and recurrent nodes read zeros.
  std::vector<bool> absent(num_values_, false);
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (!inputs[i]) absent[input_values_[i]] = true;
  plan->skip.assign(nodes_.size(), false);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const Node& node = *nodes_[n];
    if (!node.in.empty() && node.in[0] >= 0 && absent[node.in[0]] && propagates_absence(node.desc.op_type)) {
      plan->skip[n] = true;
      for (int id : node.out) absent[id] = true;
    }
    for (int id : node.in) {
      const Tensor* t = nullptr;
      if (id >= 0 && !absent[id]) t = is_constant_[id] ? &constants_[id] : &plan->values[slot_of_[id]];
      plan->in[n].push_back(t);
    }
    // Outputs nobody reads go to tensors of their own, unless the op leaves them uncomputed.
    if (!node.op->skips_unread_outputs()) plan->unread[n].resize(node.out.size());
    for (size_t k = 0; k < node.out.size(); ++k) {
      Tensor* t = nullptr;
      if (node.out_needed[k])
        t = &plan->values[slot_of_[node.out[k]]];
      else if (!node.op->skips_unread_outputs())
        t = &plan->unread[n][k];
      plan->out[n].push_back(t);
    }
  }
  plan->last_used = ++state.clock;
  Plan& ref = *plan;
  state.plans.emplace(key, std::move(plan));
  state.last = &ref;
  state.last_key = key;
  return ref;
}

Graph::Plan& Graph::execute(ExecState& state, const std::vector<const Tensor*>& inputs, const RunRequest* streaming,
                            int threads) const {
  Plan& plan = plan_for(state, inputs);
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const Tensor* t = inputs[i];
    if (t) plan.values[slot_of_[input_values_[i]]].set_borrowed(t->dtype(), t->shape(), const_cast<void*>(t->raw()));
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (plan.skip[n]) continue;
    const Node& node = *nodes_[n];
    const bool is_static = static_node_[n];
    if (is_static) {
      if (plan.fresh[n] && same_shapes_read(plan, n)) continue;
      // Recomputed: what reads these outputs is stale until it runs again.
      plan.fresh[n] = 0;
      for (int reader : static_readers_[n]) plan.fresh[static_cast<size_t>(reader)] = 0;
    }
    RunContext ctx;
    ctx.threads = threads;
    ctx.workspace = &state.workspace;
    ctx.scratch = &plan.scratch[n];
    ctx.state = &plan.op_state[n];
    const int slot = recurrent_slot_[n];
    if (slot >= 0 && streaming) {
      if (static_cast<size_t>(slot) < streaming->state_h.size()) ctx.initial_h = streaming->state_h[slot];
      if (static_cast<size_t>(slot) < streaming->state_c.size()) ctx.initial_c = streaming->state_c[slot];
    }
    naming_node(node.where, [&] { node.op->run(plan.in[n], plan.out[n], ctx); });
    if (is_static) {
      for (size_t i = 0; i < node.shape_inputs.size(); ++i)
        plan.seen_shapes[n][i] = plan.in[n][node.shape_inputs[i]]->shape();
      plan.fresh[n] = 1;
    }
  }
  return plan;
}

bool Graph::same_shapes_read(const Plan& plan, size_t n) const {
  const Node& node = *nodes_[n];
  for (size_t i = 0; i < node.shape_inputs.size(); ++i) {
    const Tensor* t = plan.in[n][node.shape_inputs[i]];
    if (!t || t->shape() != plan.seen_shapes[n][i]) return false;
  }
  return true;
}

const Tensor& Graph::value(const Plan& plan, int id) const {
  return is_constant_[id] ? constants_[id] : plan.values[slot_of_[id]];
}

RunResult Graph::run(const RunRequest& r) const {
  RunResult result;
  run(r, result);
  return result;
}

void Graph::run(const RunRequest& r, RunResult& result) const {
  check_inputs(r.inputs);
  check_states(r);
  // Copied out of the plan, which the next run overwrites, into result's own buffers.
  auto collect = [&](const Plan& plan) {
    const size_t count = r.outputs.empty() ? output_values_.size() : r.outputs.size();
    result.outputs.resize(count);
    for (size_t k = 0; k < count; ++k) {
      const size_t o = r.outputs.empty() ? k : static_cast<size_t>(r.outputs[k]);
      result.outputs[k].copy_from(value(plan, output_values_[o]));
    }
    const size_t states = r.collect_state ? recurrent_nodes_.size() : 0;
    result.state_h.resize(states);
    result.state_c.resize(states);
    for (size_t k = 0; k < states; ++k) {
      const Node& node = *nodes_[static_cast<size_t>(recurrent_nodes_[k])];
      if (node.out.size() > 1)
        result.state_h[k].copy_from(value(plan, node.out[1]));
      else
        result.state_h[k] = Tensor();
      if (node.out.size() > 2)
        result.state_c[k].copy_from(value(plan, node.out[2]));
      else
        result.state_c[k] = Tensor();
    }
  };
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (lock.owns_lock()) {
    collect(execute(*state_, r.inputs, &r, r.threads));
  } else {
    // Another thread is running this graph: run on private plans rather than wait.
    ExecStatePtr private_state = new_exec_state();
    collect(execute(*private_state, r.inputs, &r, r.threads));
  }
}

Graph::ExecStatePtr Graph::new_exec_state() const { return ExecStatePtr(new ExecState()); }

void Graph::ExecStateDeleter::operator()(ExecState* s) const { delete s; }

void Graph::run_nested(ExecState& state, const std::vector<const Tensor*>& inputs, int threads,
                       std::vector<const Tensor*>& outputs) const {
  check_inputs(inputs);
  const Plan& plan = execute(state, inputs, nullptr, threads);
  outputs.clear();
  for (int id : output_values_) outputs.push_back(&value(plan, id));
}

}  // namespace lstmrt

// Running a compiled graph (graph_load.cc compiles it) on per-input-shape plans.
#include "lstmrt/graph/graph.h"

#include <algorithm>
#include <chrono>

#include "error_context.h"
#include "graph_node.h"
#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

// Plans kept per graph: one per recent input-shape signature. A stream of ever-new shapes then
// keeps a bounded amount of memory.
constexpr size_t kMaxPlans = 8;

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

}  // namespace

struct Graph::Plan {
  std::vector<Tensor> values;                 // per buffer slot (constants stay in the graph)
  std::vector<std::vector<Tensor>> scratch;   // per node
  std::vector<std::vector<const Tensor*>> in;  // per node, bound to `values` and the constants
  std::vector<std::vector<const Tensor*>> epilogue_in;  // per node: its epilogue's operands
  std::vector<Tensor> epilogue_tmp;                     // per node: scratch for its epilogue
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
  SharedScratch shared;
  uint64_t clock = 0;
};

std::map<std::string, int> Graph::op_counts() const {
  std::map<std::string, int> counts;
  for (const auto& node : nodes_) counts[node->desc.op_type]++;
  return counts;
}

std::vector<NodeSummary> Graph::node_summaries() const {
  std::vector<NodeSummary> out;
  for (const auto& node : nodes_) {
    NodeSummary s{node->desc.op_type, node->desc.name};
    for (const Epilogue& e : node->epilogues) s.op_type += e.kind == Epilogue::Kind::Silu ? "+SiLU" : "+Add";
    out.push_back(std::move(s));
  }
  return out;
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
    // Built only for a message: a run that passes allocates nothing here.
    auto node = [&] { return describe_node(cell_name(recurrent_info_[k].cell), recurrent_info_[k].name); };
    if ((h && h->dtype() != DType::Float32) || (c && c->dtype() != DType::Float32))
      throw TypeError("initial state of " + node() + ": expected float32");
    if (c && recurrent_info_[k].cell != CellKind::LSTM)
      throw ValueError("initial state of " + node() + ": only LSTM has a cell state");
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
  plan->epilogue_in.resize(nodes_.size());
  plan->epilogue_tmp.resize(nodes_.size());
  plan->out.resize(nodes_.size());
  plan->unread.resize(nodes_.size());
  plan->fresh.assign(nodes_.size(), 0);
  plan->seen_shapes.resize(nodes_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) plan->seen_shapes[n].resize(nodes_[n]->shape_inputs.size());
  // Absent optional inputs make the data-movement nodes they feed absent too (see
  // find_optional_inputs); those nodes are skipped and recurrent nodes read zeros.
  std::vector<bool> absent(num_values_, false);
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (!inputs[i]) absent[input_values_[i]] = true;
  plan->skip.assign(nodes_.size(), false);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const Node& node = *nodes_[n];
    if (!node.in.empty() && node.in[0] >= 0 && absent[node.in[0]] && node.schema->traits.forwards_absence) {
      plan->skip[n] = true;
      for (int id : node.out) absent[id] = true;
    }
    for (size_t slot = 0; slot < node.in.size(); ++slot) {
      const int id = node.in[slot];
      const Tensor* t = nullptr;
      if (id >= 0 && !absent[id]) t = is_constant_[id] ? &constants_[id] : &plan->values[slot_of_[id]];
      (node.epilogues.empty() || slot < node.op_inputs ? plan->in[n] : plan->epilogue_in[n]).push_back(t);
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
  std::vector<double>* node_seconds = streaming ? streaming->node_seconds : nullptr;
  if (node_seconds && node_seconds->size() < nodes_.size()) node_seconds->resize(nodes_.size(), 0.0);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (plan.skip[n]) continue;
    const Node& node = *nodes_[n];
    const auto started = node_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
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
    ctx.shared = &state.shared;
    ctx.scratch = &plan.scratch[n];
    ctx.state = &plan.op_state[n];
    const int slot = recurrent_slot_[n];
    if (slot >= 0 && streaming) {
      if (static_cast<size_t>(slot) < streaming->state_h.size()) ctx.initial_h = streaming->state_h[slot];
      if (static_cast<size_t>(slot) < streaming->state_c.size()) ctx.initial_c = streaming->state_c[slot];
    }
    naming_node(node.where, [&] { node.op->run(plan.in[n], plan.out[n], ctx); });
    if (!node.epilogues.empty())
      naming_node(node.where, [&] {
        apply_epilogues(node.epilogues, plan.epilogue_in[n], *plan.out[n][0], plan.epilogue_tmp[n], ctx);
      });
    if (is_static) {
      for (size_t i = 0; i < node.shape_inputs.size(); ++i)
        plan.seen_shapes[n][i] = plan.in[n][node.shape_inputs[i]]->shape();
      plan.fresh[n] = 1;
    }
    if (node_seconds)
      (*node_seconds)[n] += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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

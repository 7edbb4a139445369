// One graph node's computation (an Op), the context a builder sees at load, and the registry of
// builders by ONNX operator name.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <typeindex>
#include <vector>

#include "lstmrt/graph/tensor.h"
#include "lstmrt/rnn_layer.h"

namespace lstmrt {

struct GraphDesc;  // graph.h

// An ONNX attribute value as the importer hands it over.
struct Attribute {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor, Graph };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  Tensor t;
  std::shared_ptr<const GraphDesc> g;  // a subgraph (Loop's body)
};

const char* attribute_kind_name(Attribute::Kind kind);

// One ONNX node. An empty name in `inputs` or `outputs` is an absent optional slot.
struct NodeDesc {
  std::string name;
  std::string op_type;
  std::string domain;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;
};

// "LSTM node 'encoder'": how every message names a node.
std::string describe_node(const std::string& op_type, const std::string& name);
// "LSTM node 'encoder' (opset 14)": the prefix of every message about a node being loaded or run.
std::string describe_node(const NodeDesc& node, int opset);
// The registry's name of a node's operator: the op_type for ai.onnx, "domain::op_type" otherwise.
std::string registry_key(const NodeDesc& node);

// What a builder knows about its node at load: attributes, the opset, and which inputs are
// present and which of those are constants (initializers or folded subgraphs) with their values.
class BuildContext {
 public:
  BuildContext(const NodeDesc& node, int opset, std::vector<const Tensor*> constants,
               WeightType weights = WeightType::F32, std::vector<std::string>* warnings = nullptr);

  const NodeDesc& node() const { return node_; }
  int opset() const { return opset_; }
  // The type constant weights are packed in (the session's precision).
  WeightType weight_type() const { return weights_; }
  // A warning for the user about this node, prefixed with where(): the session shows it at load.
  void warn(const std::string& message) const;
  // Warns when weights packed as int8 lost many of their values (see lost_weight_fraction).
  void warn_if_int8_lost(double lost_fraction, const std::string& tensor) const;
  // Where warn() puts its messages (for a builder that builds another op through a context of
  // its own).
  std::vector<std::string>* warnings() const { return warnings_; }
  // "LSTM node 'encoder' (opset 14)", the prefix of every message about this node.
  std::string where() const;
  [[noreturn]] void fail(const std::string& message) const;

  size_t num_inputs() const { return node_.inputs.size(); }
  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_input(size_t i) const { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  bool has_output(size_t i) const { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  // The input's value when it is known at load, else nullptr (also for absent inputs).
  const Tensor* constant(size_t i) const { return i < constants_.size() ? constants_[i] : nullptr; }
  // Requires input i to be present (the message names it).
  void require_input(size_t i, const char* what) const;
  // Requires input i, when present, to be constant; returns it (nullptr when absent).
  const Tensor* constant_input(size_t i, const char* what) const;

  bool has_attr(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> get_floats(const std::string& name, const std::vector<float>& fallback = {}) const;
  std::vector<std::string> get_strings(const std::string& name) const;
  const Tensor* get_tensor(const std::string& name) const;
  const GraphDesc* get_graph(const std::string& name) const;

 private:
  const Attribute* find(const std::string& name, Attribute::Kind kind) const;

  const NodeDesc& node_;
  int opset_;
  std::vector<const Tensor*> constants_;
  WeightType weights_;
  std::vector<std::string>* warnings_;
};

// What an op keeps from one run to the next in a run plan (a Loop's nested plans).
struct OpState {
  virtual ~OpState() = default;
};

// Scratch that the nodes of one run state share, one object per type: memory an op fills and
// reads within its own run (Conv's packed windows), so that it stays in cache from one node to the
// next rather than each node keeping a copy of its own, cold again by the time the node runs.
class SharedScratch {
 public:
  template <class T>
  T& get() {
    std::unique_ptr<OpState>& p = by_type_[std::type_index(typeid(T))];
    if (!p) p = std::make_unique<T>();
    return static_cast<T&>(*p);
  }

 private:
  std::map<std::type_index, std::unique_ptr<OpState>> by_type_;
};

// What a running op may use besides its inputs and outputs.
struct RunContext {
  int threads = 1;
  // Scratch memory for the recurrent layers, reused across runs.
  Workspace* workspace = nullptr;
  // Scratch tensors private to this node in this plan, kept across runs.
  std::vector<Tensor>* scratch = nullptr;
  // This node's state in this plan (empty at first; the op fills it).
  std::unique_ptr<OpState>* state = nullptr;
  // Recurrent nodes: initial states that replace the node's initial_h / initial_c inputs for
  // this run (streaming), or nullptr.
  const Tensor* initial_h = nullptr;
  const Tensor* initial_c = nullptr;
  // The run state's shared scratch, or nullptr (one of the context's own then).
  SharedScratch* shared = nullptr;

  Tensor& scratch_tensor(size_t k) {
    if (scratch->size() <= k) scratch->resize(k + 1);
    return (*scratch)[k];
  }
  template <class T>
  T& shared_scratch() {
    if (!shared) {
      own_shared_ = std::make_unique<SharedScratch>();
      shared = own_shared_.get();
    }
    return shared->get<T>();
  }

 private:
  std::unique_ptr<SharedScratch> own_shared_;
};

// A built node. run() infers the output shapes from the inputs (which may read the values of
// small shape tensors), sizes the outputs with Tensor::ensure (or makes them views of an input)
// and computes them. Ops keep no per-run state, so one graph can run on several threads.
class Op {
 public:
  virtual ~Op() = default;
  // in[i] is nullptr for an absent optional input; out[i] is nullptr for an output nobody reads
  // when skips_unread_outputs() (else every declared output has a tensor).
  // Errors are ValueError/TypeError without the node's name; the graph adds it.
  virtual void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out,
                   RunContext& ctx) const = 0;
  // Recurrent nodes (LSTM, GRU, RNN) return their layer when the weights were constant.
  virtual const RnnLayer* recurrent_layer() const { return nullptr; }
  // Whether output k is computed even when nothing reads it (the recurrent nodes' final states,
  // which streaming reads after a run).
  virtual bool always_computes(size_t k) const {
    (void)k;
    return false;
  }
  // Whether the op leaves an output that nobody reads (a nullptr in `out`) uncomputed. Ops that
  // do not say so get a tensor for every declared output, read or not.
  virtual bool skips_unread_outputs() const { return false; }
  // Whether an output may be a view of input 0's buffer (Reshape, Squeeze, Identity, ...): the
  // graph then keeps that buffer alive while the view is, before reusing it for other values.
  virtual bool may_alias_input() const { return false; }
  // Whether the op reads only the shape of input i, not its elements (Shape, Size): the graph
  // then computes what derives from that shape once per run plan, not on every run.
  virtual bool reads_only_shape(size_t i) const {
    (void)i;
    return false;
  }
};

using OpBuilder = std::unique_ptr<Op> (*)(const BuildContext& ctx);

// What the graph's passes need to know about an operator beyond its arity. Each operator declares
// it in its registry entry, so that no pass of the graph names operators.
struct OpTraits {
  // Recurrent operators: their initial-state inputs, state_inputs of them from slot
  // first_state_input on (initial_h, and initial_c for an LSTM). Streaming replaces these, such a
  // node always computes its final states, and it is never folded at load.
  int first_state_input = -1;
  int state_inputs = 0;
  // The op only moves or selects the data of input 0 (Identity, Reshape, Slice, ...): an absent
  // input 0 (an omitted initial state that exporters slice per layer) makes its outputs absent
  // instead of an error, so a graph input that reaches only initial states this way is optional.
  bool forwards_absence = false;
  // The op carries values from one iteration of its subgraph to the next (Loop, Scan): a stream
  // could neither see nor carry them from one chunk to the next, so such a graph cannot stream.
  bool hides_state = false;
  // The op writes all of its float32 output 0 afresh (Conv), so the elementwise nodes that follow
  // it may be applied to that output in place as its epilogue (graph_fuse.cc).
  bool takes_epilogue = false;
  // The part the op can play in such an epilogue: x * sigmoid(x) spelled as a Sigmoid and a
  // Multiply of its input by its output, or an Add of another tensor (a residual).
  enum class Elementwise : uint8_t { None, Sigmoid, Multiply, Add };
  Elementwise elementwise = Elementwise::None;
};

// The traits of a recurrent operator whose initial states are `count` inputs from slot `first`.
constexpr OpTraits recurrent_state(int first, int count) {
  OpTraits t;
  t.first_state_input = first;
  t.state_inputs = count;
  return t;
}
// The traits with one flag set.
constexpr OpTraits with_flag(bool OpTraits::*flag) {
  OpTraits t;
  t.*flag = true;
  return t;
}
constexpr OpTraits kForwardsAbsence = with_flag(&OpTraits::forwards_absence);
constexpr OpTraits kHidesState = with_flag(&OpTraits::hides_state);
constexpr OpTraits kTakesEpilogue = with_flag(&OpTraits::takes_epilogue);
constexpr OpTraits elementwise(OpTraits::Elementwise e) {
  OpTraits t;
  t.elementwise = e;
  return t;
}

// What the graph checks of every node before its builder runs, so that no op reads an input
// slot that is missing or leaves a declared output unwritten: the leading inputs that must be
// present, and the most inputs and outputs the operator has (kAny: no limit); and the operator's
// traits.
struct OpSchema {
  static constexpr int kAny = -1;
  const char* op_type;
  OpBuilder build;
  int required_inputs;
  int max_inputs;
  int max_outputs;
  OpTraits traits = {};
  bool recurrent() const { return traits.state_inputs > 0; }
  bool reads_state(size_t slot) const {
    return recurrent() && static_cast<int>(slot) >= traits.first_state_input &&
           static_cast<int>(slot) < traits.first_state_input + traits.state_inputs;
  }
};

// The schema of an operator by its registry name (the op_type for ai.onnx, "domain::op_type"
// otherwise), or nullptr when it is not supported.
const OpSchema* find_op(const std::string& op_type);
// Every supported ai.onnx operator, sorted.
std::vector<std::string> supported_ops();

}  // namespace lstmrt

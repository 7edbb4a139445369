// A compiled ONNX graph: nodes in topological order, each an Op built once at load, with
// initializer-only subgraphs folded into constants, and per-input-shape run plans whose buffers
// are reused from one run to the next.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lstmrt/graph/op.h"
#include "lstmrt/graph/tensor.h"
#include "lstmrt/rnn_layer.h"
#include "lstmrt/weight_type.h"

namespace lstmrt {

// A graph input as declared in the model. dims[i] < 0 is a symbolic or unknown dimension, whose
// name (possibly empty) is dim_names[i]. has_shape is false when the model declares no shape.
struct GraphInputDesc {
  std::string name;
  bool has_dtype = true;  // false: any dtype (a value a Loop body captures from outside)
  DType dtype = DType::Float32;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;
};

struct GraphDesc {
  int opset = 0;  // the ai.onnx opset the model imports
  std::vector<NodeDesc> nodes;
  std::vector<std::pair<std::string, Tensor>> initializers;
  std::vector<GraphInputDesc> inputs;  // initializers excluded
  std::vector<std::string> outputs;
  WeightType weights = WeightType::F32;  // the session's precision, for every constant weight
};

// A recurrent node, for listing and for streaming.
struct RecurrentNodeInfo {
  std::string name;
  CellKind cell = CellKind::LSTM;
  Direction direction = Direction::Forward;
  int num_directions = 1;
  int64_t hidden_size = 0;
  int64_t input_size = 0;
  int64_t layout = 0;
};

struct RunRequest {
  // One per graph input, in inputs() order; nullptr for an input that is not fed (allowed only
  // for optional_input() ones, which then read as zeros).
  std::vector<const Tensor*> inputs;
  // Indices into outputs() of the outputs wanted; empty means all.
  std::vector<int> outputs;
  // Streaming: per recurrent node (recurrent_nodes() order), initial states that replace the
  // node's initial_h / initial_c inputs; empty vectors or nullptr entries mean no override.
  std::vector<const Tensor*> state_h;
  std::vector<const Tensor*> state_c;
  // Whether to return every recurrent node's final states.
  bool collect_state = false;
  int threads = 0;  // <= 0: the default
  // Profiling: when set, each top-level node's wall time (seconds, its fused epilogue included)
  // is added to its entry, resized to num_nodes() if smaller; nodes skipped this run add nothing.
  std::vector<double>* node_seconds = nullptr;
};

// A compiled node as a profile lists it.
struct NodeSummary {
  std::string op_type;  // with its fused epilogues: "Conv+SiLU"
  std::string name;
};

// A run's results. Graph::run(request, result) writes into the tensors already there, reusing
// their buffers, so a caller that keeps one RunResult across calls (a stream) allocates nothing
// for them in steady state.
struct RunResult {
  std::vector<Tensor> outputs;  // one per requested output, owned
  // Per recurrent node when collect_state: Y_h, and Y_c for LSTM (undefined otherwise).
  std::vector<Tensor> state_h;
  std::vector<Tensor> state_c;
};

class Graph {
 public:
  explicit Graph(GraphDesc desc);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  int opset() const { return opset_; }
  const std::vector<GraphInputDesc>& inputs() const { return inputs_; }
  const std::vector<std::string>& outputs() const { return output_names_; }
  // Whether input i may be left out of a run: it only feeds recurrent nodes' initial states.
  bool optional_input(size_t i) const { return input_optional_[i]; }
  const std::vector<RecurrentNodeInfo>& recurrent_nodes() const { return recurrent_info_; }
  // The graph inputs (indices into inputs()) whose values flow into recurrent node k's
  // initial_h or initial_c: feeding any of them sets that node's initial state explicitly.
  const std::vector<int>& recurrent_state_inputs(size_t k) const { return recurrent_state_inputs_[k]; }
  // Operator counts of the compiled graph (after folding), and of the model as given.
  std::map<std::string, int> op_counts() const;
  const std::map<std::string, int>& model_op_counts() const { return model_op_counts_; }
  // The operators of the compiled graph that carry state inside themselves (OpTraits::hides_state),
  // sorted: a graph with any cannot stream.
  std::vector<std::string> state_hiding_ops() const;
  // What loading found worth telling the user (int8 weights that lost many values), per node.
  const std::vector<std::string>& load_warnings() const { return warnings_; }
  size_t num_nodes() const { return nodes_.size(); }
  // The compiled nodes in run order (the entries of RunRequest::node_seconds).
  std::vector<NodeSummary> node_summaries() const;
  size_t num_folded() const { return folded_; }
  // Tensors per run plan: graph inputs plus the buffers the computed values share.
  size_t num_buffers() const { return num_slots_; }

  int input_index(const std::string& name) const;   // -1 when unknown
  int output_index(const std::string& name) const;  // -1 when unknown

  // Checks the request (missing, dtype, rank, fixed dimensions), runs the graph and copies the
  // requested outputs out. Safe to call from several threads; a call that finds the cached
  // plans busy runs on private ones.
  RunResult run(const RunRequest& request) const;
  // The same into `result`, whose tensors' buffers are reused (see RunResult).
  void run(const RunRequest& request, RunResult& result) const;

  // Number of cached per-shape plans (for tests).
  size_t cached_plans() const;

  // Nested runs (a Loop's body): the caller owns the plans and scratch memory, and the outputs are
  // not copied out.
  struct ExecState;
  struct ExecStateDeleter {
    void operator()(ExecState* s) const;
  };
  using ExecStatePtr = std::unique_ptr<ExecState, ExecStateDeleter>;
  ExecStatePtr new_exec_state() const;
  // Checks and runs the graph on `state`; `outputs` receives every graph output, pointing into
  // `state` (valid until its next run) or at the graph's constants.
  void run_nested(ExecState& state, const std::vector<const Tensor*>& inputs, int threads,
                  std::vector<const Tensor*>& outputs) const;

 private:
  struct Node;
  struct Plan;
  struct Loading;
  struct EpilogueFuser;  // graph_fuse.cc

  // The passes that compile a GraphDesc, in the order the constructor runs them (graph_load.cc).
  // A new value (an id) for `name`; anonymous when the name is empty.
  int new_value(const std::string& name, Loading& load);
  // Value ids for the initializers (constants) and the graph inputs.
  void define_constants_and_inputs(GraphDesc& desc, Loading& load);
  // Which node produces each value; the model's operator counts.
  void index_producers(const GraphDesc& desc, Loading& load);
  // Throws one error naming every operator of `order` that the registry lacks.
  void check_supported(const GraphDesc& desc, const std::vector<size_t>& order) const;
  // Builds each node's op (collecting its load warnings) and folds those whose inputs are all
  // constant into constants.
  void build_nodes(GraphDesc& desc, const std::vector<size_t>& order, Loading& load);
  void fold(const Node& node, Workspace& workspace);
  // The graph outputs' values, and which node outputs are read at all.
  void bind_outputs(const std::vector<std::string>& outputs, const Loading& load);
  // Fuses the elementwise nodes that follow a node taking an epilogue into it (graph_fuse.cc).
  void fuse_epilogues();
  // Throws when a value that is read (`read`, per value id) is neither an input, a constant nor
  // an output of a node that runs.
  void check_values_produced(const std::vector<bool>& read) const;
  // The nodes that compute only from constants and shapes, and run once per plan.
  void find_static_nodes();
  // The plan's buffer slots, shared by values whose lifetimes do not overlap.
  void assign_buffers();
  // The graph inputs that only feed recurrent nodes' initial states, and so may be left out.
  void find_optional_inputs();
  // The recurrent nodes, and the graph inputs that reach their initial states.
  void index_recurrent_nodes();
  void check_inputs(const std::vector<const Tensor*>& inputs) const;
  void check_states(const RunRequest& request) const;
  // Runs every node on the plan for these inputs; returns it (its tensors hold the results).
  Plan& execute(ExecState& state, const std::vector<const Tensor*>& inputs, const RunRequest* streaming,
                int threads) const;
  Plan& plan_for(ExecState& state, const std::vector<const Tensor*>& inputs) const;
  // Whether static node n's shape-only inputs have the shapes it last ran on in `plan`.
  bool same_shapes_read(const Plan& plan, size_t n) const;
  const Tensor& value(const Plan& plan, int id) const;

  int opset_;
  WeightType weights_;
  std::vector<GraphInputDesc> inputs_;
  std::vector<bool> input_optional_;
  std::vector<std::string> output_names_;
  std::vector<int> output_values_;    // value id per output
  std::vector<int> input_values_;     // value id per input
  size_t num_values_ = 0;
  std::vector<int> slot_of_;  // per value id: its buffer slot in a plan, -1 for constants
  size_t num_slots_ = 0;
  std::vector<std::string> value_names_;
  std::vector<Tensor> constants_;     // per value id; undefined unless the value is constant
  std::vector<bool> is_constant_;
  std::vector<std::unique_ptr<Node>> nodes_;
  // Per node: whether its outputs derive only from constants and the shapes of other values
  // (Shape -> Gather -> Concat -> ConstantOfShape, the zero initial state exporters build): such
  // a node runs when its inputs change, which in a plan of fixed input shapes is once.
  std::vector<bool> static_node_;
  std::vector<std::vector<int>> static_readers_;  // per node: the static nodes reading its outputs
  std::vector<int> recurrent_nodes_;  // node index per recurrent node
  std::vector<int> recurrent_slot_;   // per node: its index in recurrent_nodes_, or -1
  std::vector<RecurrentNodeInfo> recurrent_info_;
  std::vector<std::vector<int>> recurrent_state_inputs_;
  std::map<std::string, int> model_op_counts_;
  std::vector<std::string> warnings_;
  size_t folded_ = 0;

  mutable std::mutex mutex_;
  ExecStatePtr state_;
};

}  // namespace lstmrt

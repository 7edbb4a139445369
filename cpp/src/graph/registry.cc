// The operator registry ("LSTM" -> builder) and the context builders read their node through.
#include <algorithm>
#include <utility>

#include "builders.h"
#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

constexpr int kAny = OpSchema::kAny;

// Every supported ai.onnx operator: its builder (a family builder such as build_unary reads
// op_type itself), the leading inputs it requires and the most inputs and outputs it has, as the
// ONNX operator schemas give them over the opsets lstmrt loads (Loop's first two inputs may be
// empty, so it requires none, nor does Scan, whose opset 8 form starts with an empty
// sequence_lens; Loop, If and Scan take the values their subgraphs capture as inputs), and its
// traits (OpTraits in op.h says what each means and which pass reads it). Adding an operator
// means its builder and one line here.
const OpSchema kRegistry[] = {
    // Recurrent layers. ONNX slots 5 and 6: initial_h, initial_c.
    {"LSTM", build_lstm, 3, 8, 3, recurrent_state(5, 2)},
    {"GRU", build_gru, 3, 6, 2, recurrent_state(5, 1)},
    {"RNN", build_rnn, 3, 6, 2, recurrent_state(5, 1)},
    // Dense algebra and normalization.
    {"Gemm", build_gemm, 2, 3, 1},
    {"MatMul", build_matmul, 2, 2, 1},
    {"Conv", build_conv, 2, 3, 1, kTakesEpilogue},
    {"ConvTranspose", build_conv_transpose, 2, 3, 1},
    {"MaxPool", build_pool, 1, 1, 2},
    {"AveragePool", build_pool, 1, 1, 1},
    {"GlobalAveragePool", build_global_pool, 1, 1, 1},
    {"GlobalMaxPool", build_global_pool, 1, 1, 1},
    {"BatchNormalization", build_batch_norm, 5, 5, 5},
    {"InstanceNormalization", build_instance_norm, 3, 3, 1},
    {"Softmax", build_softmax, 1, 1, 1},
    {"LogSoftmax", build_softmax, 1, 1, 1},
    {"LayerNormalization", build_layer_norm, 2, 3, 3},
    {"DFT", build_dft, 1, 3, 1},
    {"STFT", build_stft, 2, 4, 1},
    {"ReduceMean", build_reduce, 1, 2, 1},
    {"ReduceSum", build_reduce, 1, 2, 1},
    {"ReduceMax", build_reduce, 1, 2, 1},
    {"ReduceMin", build_reduce, 1, 2, 1},
    {"ReduceProd", build_reduce, 1, 2, 1},
    {"ReduceSumSquare", build_reduce, 1, 2, 1},
    {"ReduceL2", build_reduce, 1, 2, 1},
    {"ArgMax", build_arg_reduce, 1, 1, 1},
    {"ArgMin", build_arg_reduce, 1, 1, 1},
    // Elementwise.
    {"Relu", build_unary, 1, 1, 1},
    {"LeakyRelu", build_unary, 1, 1, 1},
    {"Sigmoid", build_unary, 1, 1, 1, elementwise(OpTraits::Elementwise::Sigmoid)},
    {"HardSigmoid", build_unary, 1, 1, 1},
    {"HardSwish", build_unary, 1, 1, 1},
    {"Tanh", build_unary, 1, 1, 1},
    {"Elu", build_unary, 1, 1, 1},
    {"Selu", build_unary, 1, 1, 1},
    {"Celu", build_unary, 1, 1, 1},
    {"Gelu", build_unary, 1, 1, 1},
    {"Softplus", build_unary, 1, 1, 1},
    {"Softsign", build_unary, 1, 1, 1},
    {"ThresholdedRelu", build_unary, 1, 1, 1},
    {"Exp", build_unary, 1, 1, 1},
    {"Log", build_unary, 1, 1, 1},
    {"Sqrt", build_unary, 1, 1, 1},
    {"Reciprocal", build_unary, 1, 1, 1},
    {"Erf", build_unary, 1, 1, 1},
    {"Sin", build_unary, 1, 1, 1},
    {"Cos", build_unary, 1, 1, 1},
    {"Floor", build_unary, 1, 1, 1},
    {"Ceil", build_unary, 1, 1, 1},
    {"Round", build_unary, 1, 1, 1},
    {"Neg", build_unary, 1, 1, 1},
    {"Abs", build_unary, 1, 1, 1},
    {"Sign", build_unary, 1, 1, 1},
    {"Add", build_binary, 2, 2, 1, elementwise(OpTraits::Elementwise::Add)},
    {"Sub", build_binary, 2, 2, 1},
    {"Mul", build_binary, 2, 2, 1, elementwise(OpTraits::Elementwise::Multiply)},
    {"Div", build_binary, 2, 2, 1},
    {"Pow", build_binary, 2, 2, 1},
    {"Mod", build_binary, 2, 2, 1},
    {"PRelu", build_binary, 2, 2, 1},
    {"Max", build_variadic, 1, kAny, 1},
    {"Min", build_variadic, 1, kAny, 1},
    {"Sum", build_variadic, 1, kAny, 1},
    {"Mean", build_variadic, 1, kAny, 1},
    {"Clip", build_clip, 1, 3, 1},
    {"Equal", build_compare, 2, 2, 1},
    {"Less", build_compare, 2, 2, 1},
    {"Greater", build_compare, 2, 2, 1},
    {"LessOrEqual", build_compare, 2, 2, 1},
    {"GreaterOrEqual", build_compare, 2, 2, 1},
    {"And", build_logical, 2, 2, 1},
    {"Or", build_logical, 2, 2, 1},
    {"Xor", build_logical, 2, 2, 1},
    {"Not", build_not, 1, 1, 1},
    {"Where", build_where, 3, 3, 1},
    {"Cast", build_cast, 1, 1, 1},
    {"CastLike", build_cast_like, 2, 2, 1},
    // Shapes and data movement.
    {"Identity", build_identity, 1, 1, 1, kForwardsAbsence},
    {"Dropout", build_dropout, 1, 3, 2, kForwardsAbsence},
    {"Constant", build_constant, 0, 0, 1},
    {"ConstantOfShape", build_constant_of_shape, 1, 1, 1},
    {"Shape", build_shape, 1, 1, 1},
    {"Size", build_size, 1, 1, 1},
    {"Reshape", build_reshape, 2, 2, 1, kForwardsAbsence},
    {"Flatten", build_flatten, 1, 1, 1, kForwardsAbsence},
    {"Squeeze", build_squeeze, 1, 2, 1, kForwardsAbsence},
    {"Unsqueeze", build_unsqueeze, 1, 2, 1, kForwardsAbsence},
    {"Transpose", build_transpose, 1, 1, 1, kForwardsAbsence},
    {"Concat", build_concat, 1, kAny, 1},
    {"Split", build_split, 1, 2, kAny, kForwardsAbsence},
    {"Slice", build_slice, 1, 5, 1, kForwardsAbsence},
    {"Expand", build_expand, 2, 2, 1},
    {"Tile", build_tile, 2, 3, 1},
    {"Gather", build_gather, 2, 2, 1, kForwardsAbsence},
    {"Range", build_range, 3, 3, 1},
    {"Pad", build_pad, 1, 4, 1},
    {"TopK", build_topk, 1, 2, 2},
    {"GatherElements", build_gather_elements, 2, 2, 1},
    {"ScatterElements", build_scatter_elements, 3, 3, 1},
    {"Scatter", build_scatter_elements, 3, 3, 1},
    {"ReverseSequence", build_reverse_sequence, 2, 2, 1},
    // Quantized models (onnxruntime's quantization tools).
    {"QuantizeLinear", build_quantize_linear, 2, 3, 1},
    {"DequantizeLinear", build_dequantize_linear, 2, 3, 1},
    {"DynamicQuantizeLinear", build_dynamic_quantize_linear, 1, 1, 3},
    {"ConvInteger", build_conv_integer, 2, 4, 1},
    {"MatMulInteger", build_matmul_integer, 2, 4, 1},
    {"com.microsoft::DynamicQuantizeLSTM", build_dynamic_quantize_lstm, 3, 12, 3, recurrent_state(5, 2)},
    // Control flow.
    {"Loop", build_loop, 0, kAny, kAny, kHidesState},
    {"If", build_if, 1, kAny, kAny},
    {"Scan", build_scan, 0, kAny, kAny, kHidesState},
};

}  // namespace

const OpSchema* find_op(const std::string& op_type) {
  for (const OpSchema& e : kRegistry)
    if (op_type == e.op_type) return &e;
  return nullptr;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const OpSchema& e : kRegistry) names.emplace_back(e.op_type);
  std::sort(names.begin(), names.end());
  return names;
}

const char* attribute_kind_name(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::Int:
      return "int";
    case Attribute::Kind::Float:
      return "float";
    case Attribute::Kind::String:
      return "string";
    case Attribute::Kind::Ints:
      return "ints";
    case Attribute::Kind::Floats:
      return "floats";
    case Attribute::Kind::Strings:
      return "strings";
    case Attribute::Kind::Tensor:
      return "tensor";
    case Attribute::Kind::Graph:
      return "graph";
  }
  return "?";
}

BuildContext::BuildContext(const NodeDesc& node, int opset, std::vector<const Tensor*> constants,
                           WeightType weights, std::vector<std::string>* warnings)
    : node_(node), opset_(opset), constants_(std::move(constants)), weights_(weights), warnings_(warnings) {}

void BuildContext::warn(const std::string& message) const {
  if (warnings_) warnings_->push_back(where() + ": " + message);
}

namespace {
// A column that loses more than this share of its weights to rounding has been scaled by a few
// outliers; tests/test_precision.py's outlier case is far beyond it, Gaussian weights far below.
constexpr double kMaxLostWeightFraction = 0.25;
}  // namespace

void BuildContext::warn_if_int8_lost(double lost, const std::string& tensor) const {
  if (lost <= kMaxLostWeightFraction) return;
  warn(tensor + ": int8 rounds " + std::to_string(static_cast<int>(lost * 100.0 + 0.5)) +
       "% of one output channel's nonzero weights to 0 (a few large weights set its scale); precision='bf16' or "
       "'fp32' keeps them");
}

std::string describe_node(const std::string& op_type, const std::string& name) {
  return op_type + " node '" + name + "'";
}

std::string describe_node(const NodeDesc& node, int opset) {
  return describe_node(node.op_type, node.name) + " (opset " + std::to_string(opset) + ")";
}

std::string registry_key(const NodeDesc& node) {
  const bool standard = node.domain.empty() || node.domain == "ai.onnx";
  return standard ? node.op_type : node.domain + "::" + node.op_type;
}

std::string BuildContext::where() const { return describe_node(node_, opset_); }

void BuildContext::fail(const std::string& message) const { throw ValueError(where() + ": " + message); }

void BuildContext::require_input(size_t i, const char* what) const {
  if (!has_input(i)) fail(std::string("input ") + std::to_string(i) + " (" + what + ") is required");
}

const Tensor* BuildContext::constant_input(size_t i, const char* what) const {
  if (!has_input(i)) return nullptr;
  if (!constant(i))
    fail(std::string("input ") + std::to_string(i) + " (" + what +
         ") must be a constant (an initializer or computed from initializers only); '" + node_.inputs[i] +
         "' depends on the graph inputs");
  return constant(i);
}

bool BuildContext::has_attr(const std::string& name) const { return node_.attributes.count(name) != 0; }

const Attribute* BuildContext::find(const std::string& name, Attribute::Kind kind) const {
  auto it = node_.attributes.find(name);
  if (it == node_.attributes.end()) return nullptr;
  Attribute::Kind k = it->second.kind;
  // An empty list arrives without its element type; accept it for any list kind.
  const bool empty_list = (k == Attribute::Kind::Ints && it->second.ints.empty()) ||
                          (k == Attribute::Kind::Floats && it->second.floats.empty()) ||
                          (k == Attribute::Kind::Strings && it->second.strings.empty());
  const bool list_wanted = kind == Attribute::Kind::Ints || kind == Attribute::Kind::Floats ||
                           kind == Attribute::Kind::Strings;
  if (k != kind && !(empty_list && list_wanted))
    fail("attribute '" + name + "' must be of type " + attribute_kind_name(kind) + ", got " + attribute_kind_name(k));
  return &it->second;
}

int64_t BuildContext::get_int(const std::string& name, int64_t fallback) const {
  const Attribute* a = find(name, Attribute::Kind::Int);
  return a ? a->i : fallback;
}

float BuildContext::get_float(const std::string& name, float fallback) const {
  auto it = node_.attributes.find(name);
  // Some exporters write integral float attributes as ints; accept them.
  if (it != node_.attributes.end() && it->second.kind == Attribute::Kind::Int) return static_cast<float>(it->second.i);
  const Attribute* a = find(name, Attribute::Kind::Float);
  return a ? a->f : fallback;
}

std::string BuildContext::get_string(const std::string& name, const std::string& fallback) const {
  const Attribute* a = find(name, Attribute::Kind::String);
  return a ? a->s : fallback;
}

std::vector<int64_t> BuildContext::get_ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  const Attribute* a = find(name, Attribute::Kind::Ints);
  if (!a) return fallback;
  return a->kind == Attribute::Kind::Ints ? a->ints : std::vector<int64_t>{};
}

std::vector<float> BuildContext::get_floats(const std::string& name, const std::vector<float>& fallback) const {
  const Attribute* a = find(name, Attribute::Kind::Floats);
  if (!a) return fallback;
  return a->kind == Attribute::Kind::Floats ? a->floats : std::vector<float>{};
}

std::vector<std::string> BuildContext::get_strings(const std::string& name) const {
  const Attribute* a = find(name, Attribute::Kind::Strings);
  if (!a) return {};
  return a->kind == Attribute::Kind::Strings ? a->strings : std::vector<std::string>{};
}

const Tensor* BuildContext::get_tensor(const std::string& name) const {
  const Attribute* a = find(name, Attribute::Kind::Tensor);
  return a ? &a->t : nullptr;
}

const GraphDesc* BuildContext::get_graph(const std::string& name) const {
  const Attribute* a = find(name, Attribute::Kind::Graph);
  return a ? a->g.get() : nullptr;
}

}  // namespace lstmrt

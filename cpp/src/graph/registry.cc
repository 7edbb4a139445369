// The operator registry ("LSTM" -> builder) and the context builders read their node through.
#include <algorithm>
#include <utility>

#include "builders.h"
#include "lstmrt/errors.h"

namespace lstmrt {

namespace {

struct Entry {
  const char* op_type;
  OpBuilder build;
};

// Every supported ai.onnx operator. A family builder (build_unary, ...) reads op_type itself.
const Entry kRegistry[] = {
    // Recurrent layers.
    {"LSTM", build_lstm},
    {"GRU", build_gru},
    {"RNN", build_rnn},
    // Dense algebra and normalization.
    {"Gemm", build_gemm},
    {"MatMul", build_matmul},
    {"Softmax", build_softmax},
    {"LogSoftmax", build_softmax},
    {"LayerNormalization", build_layer_norm},
    {"ReduceMean", build_reduce},
    {"ReduceSum", build_reduce},
    {"ReduceMax", build_reduce},
    {"ReduceMin", build_reduce},
    {"ReduceProd", build_reduce},
    {"ReduceSumSquare", build_reduce},
    {"ReduceL2", build_reduce},
    {"ArgMax", build_arg_reduce},
    {"ArgMin", build_arg_reduce},
    // Elementwise.
    {"Relu", build_unary},
    {"LeakyRelu", build_unary},
    {"Sigmoid", build_unary},
    {"HardSigmoid", build_unary},
    {"HardSwish", build_unary},
    {"Tanh", build_unary},
    {"Elu", build_unary},
    {"Selu", build_unary},
    {"Celu", build_unary},
    {"Gelu", build_unary},
    {"Softplus", build_unary},
    {"Softsign", build_unary},
    {"ThresholdedRelu", build_unary},
    {"Exp", build_unary},
    {"Log", build_unary},
    {"Sqrt", build_unary},
    {"Reciprocal", build_unary},
    {"Erf", build_unary},
    {"Sin", build_unary},
    {"Cos", build_unary},
    {"Floor", build_unary},
    {"Ceil", build_unary},
    {"Round", build_unary},
    {"Neg", build_unary},
    {"Abs", build_unary},
    {"Sign", build_unary},
    {"Add", build_binary},
    {"Sub", build_binary},
    {"Mul", build_binary},
    {"Div", build_binary},
    {"Pow", build_binary},
    {"Mod", build_binary},
    {"PRelu", build_binary},
    {"Max", build_variadic},
    {"Min", build_variadic},
    {"Sum", build_variadic},
    {"Mean", build_variadic},
    {"Clip", build_clip},
    {"Equal", build_compare},
    {"Less", build_compare},
    {"Greater", build_compare},
    {"LessOrEqual", build_compare},
    {"GreaterOrEqual", build_compare},
    {"And", build_logical},
    {"Or", build_logical},
    {"Xor", build_logical},
    {"Not", build_not},
    {"Where", build_where},
    {"Cast", build_cast},
    {"CastLike", build_cast_like},
    // Shapes and data movement.
    {"Identity", build_identity},
    {"Dropout", build_dropout},
    {"Constant", build_constant},
    {"ConstantOfShape", build_constant_of_shape},
    {"Shape", build_shape},
    {"Size", build_size},
    {"Reshape", build_reshape},
    {"Flatten", build_flatten},
    {"Squeeze", build_squeeze},
    {"Unsqueeze", build_unsqueeze},
    {"Transpose", build_transpose},
    {"Concat", build_concat},
    {"Split", build_split},
    {"Slice", build_slice},
    {"Expand", build_expand},
    {"Tile", build_tile},
    {"Gather", build_gather},
    {"Range", build_range},
    {"TopK", build_topk},
    {"GatherElements", build_gather_elements},
    {"ScatterElements", build_scatter_elements},
    {"Scatter", build_scatter_elements},
    {"ReverseSequence", build_reverse_sequence},
    // Control flow.
    {"Loop", build_loop},
    // Convolutional front ends: convolution, pooling, padding, their normalizations.
    {"Conv", build_conv},
    {"ConvTranspose", build_conv_transpose},
    {"MaxPool", build_pool},
    {"AveragePool", build_pool},
    {"GlobalMaxPool", build_global_pool},
    {"GlobalAveragePool", build_global_pool},
    {"Pad", build_pad},
    {"BatchNormalization", build_batch_norm},
    {"InstanceNormalization", build_instance_norm},
};

}  // namespace

OpBuilder find_op_builder(const std::string& op_type) {
  for (const Entry& e : kRegistry)
    if (op_type == e.op_type) return e.build;
  return nullptr;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const Entry& e : kRegistry) names.emplace_back(e.op_type);
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

BuildContext::BuildContext(const NodeDesc& node, int opset, std::vector<const Tensor*> constants)
    : node_(node), opset_(opset), constants_(std::move(constants)) {}

std::string BuildContext::where() const {
  return node_.op_type + " node '" + node_.name + "' (opset " + std::to_string(opset_) + ")";
}

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

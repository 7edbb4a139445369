#include "lstmrt/activation.h"

#include <algorithm>
#include <cctype>

#include "lstmrt/errors.h"

namespace lstmrt {
namespace {

struct Entry {
  const char* name;
  ActKind kind;
  bool uses_alpha, uses_beta;
  float alpha, beta;  // the ONNX operator defaults
};

// Defaults are those of the standalone ONNX operators of the same name. Affine was an
// experimental ONNX op (alpha 1, beta 0: the identity); ScaledTanh's schema had no defaults, and
// alpha = beta = 1 makes it plain tanh. ONNX Runtime's recurrent kernels differ: they default
// Affine, ScaledTanh and ThresholdedRelu to alpha = beta = 0.
constexpr Entry kEntries[] = {
    {"Relu", ActKind::Relu, false, false, 0.0f, 0.0f},
    {"Tanh", ActKind::Tanh, false, false, 0.0f, 0.0f},
    {"Sigmoid", ActKind::Sigmoid, false, false, 0.0f, 0.0f},
    {"Affine", ActKind::Affine, true, true, 1.0f, 0.0f},
    {"LeakyRelu", ActKind::LeakyRelu, true, false, 0.01f, 0.0f},
    {"ThresholdedRelu", ActKind::ThresholdedRelu, true, false, 1.0f, 0.0f},
    {"ScaledTanh", ActKind::ScaledTanh, true, true, 1.0f, 1.0f},
    {"HardSigmoid", ActKind::HardSigmoid, true, true, 0.2f, 0.5f},
    {"Elu", ActKind::Elu, true, false, 1.0f, 0.0f},
    {"Softsign", ActKind::Softsign, false, false, 0.0f, 0.0f},
    {"Softplus", ActKind::Softplus, false, false, 0.0f, 0.0f},
};

const Entry& entry(ActKind kind) {
  for (const Entry& e : kEntries)
    if (e.kind == kind) return e;
  return kEntries[0];
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

ActKind parse_activation(const std::string& name, const std::string& argument) {
  const std::string key = lower(name);
  for (const Entry& e : kEntries)
    if (lower(e.name) == key) return e.kind;
  std::string known;
  for (const Entry& e : kEntries) known += std::string(known.empty() ? "" : ", ") + e.name;
  throw ValueError(argument + ": unknown activation '" + name + "'; expected one of " + known);
}

const char* activation_name(ActKind kind) { return entry(kind).name; }
bool activation_uses_alpha(ActKind kind) { return entry(kind).uses_alpha; }
bool activation_uses_beta(ActKind kind) { return entry(kind).uses_beta; }
float default_alpha(ActKind kind) { return entry(kind).alpha; }
float default_beta(ActKind kind) { return entry(kind).beta; }

}  // namespace lstmrt

// The ONNX recurrent activation functions, by name, with their alpha/beta.
#pragma once

#include <string>

namespace lstmrt {

enum class ActKind {
  Relu,
  Tanh,
  Sigmoid,
  Affine,
  LeakyRelu,
  ThresholdedRelu,
  ScaledTanh,
  HardSigmoid,
  Elu,
  Softsign,
  Softplus,
};

struct Activation {
  ActKind kind = ActKind::Sigmoid;
  float alpha = 0.0f;
  float beta = 0.0f;
};

// Parses an ONNX activation name (case-insensitive, as ONNX Runtime accepts); throws ValueError
// listing the known names otherwise.
ActKind parse_activation(const std::string& name, const std::string& argument);
const char* activation_name(ActKind kind);
// Which of alpha and beta the function reads.
bool activation_uses_alpha(ActKind kind);
bool activation_uses_beta(ActKind kind);
// The ONNX operator defaults (LeakyRelu alpha 0.01, HardSigmoid 0.2/0.5, ...).
float default_alpha(ActKind kind);
float default_beta(ActKind kind);

}  // namespace lstmrt

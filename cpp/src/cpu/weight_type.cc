#include "lstmrt/weight_type.h"

#include "lstmrt/errors.h"

namespace lstmrt {

const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::F32:
      return "fp32";
    case WeightType::BF16:
      return "bf16";
    case WeightType::I8:
      return "int8";
  }
  return "unknown";
}

WeightType parse_weight_type(const std::string& name) {
  if (name == "fp32") return WeightType::F32;
  if (name == "bf16") return WeightType::BF16;
  if (name == "int8") return WeightType::I8;
  throw ValueError("precision: expected 'fp32', 'bf16' or 'int8', got '" + name + "'");
}

double bytes_per_weight(WeightType type) {
  switch (type) {
    case WeightType::F32:
      return 4.0;
    case WeightType::BF16:
      return 2.0;
    case WeightType::I8:
      return 1.0;
  }
  return 4.0;
}

int64_t k_group(WeightType type) {
  switch (type) {
    case WeightType::F32:
      return 1;
    case WeightType::BF16:
      return 2;
    case WeightType::I8:
      return 4;
  }
  return 1;
}

}  // namespace lstmrt

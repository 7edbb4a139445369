#include "lstmrt/weight_type.h"

#include "lstmrt/errors.h"

namespace lstmrt {
namespace {

// The facts of each weight type, indexed by WeightType.
struct WeightTypeFacts {
  const char* name;
  double bytes;
  int64_t k_group;
};
constexpr WeightTypeFacts kFacts[] = {{"fp32", 4.0, 1}, {"bf16", 2.0, 2}, {"int8", 1.0, 4}};

const WeightTypeFacts& facts(WeightType type) { return kFacts[static_cast<int>(type)]; }

}  // namespace

const char* weight_type_name(WeightType type) { return facts(type).name; }

WeightType parse_weight_type(const std::string& name) {
  for (WeightType t : {WeightType::F32, WeightType::BF16, WeightType::I8})
    if (name == facts(t).name) return t;
  throw ValueError("precision: expected 'fp32', 'bf16' or 'int8', got '" + name + "'");
}

double bytes_per_weight(WeightType type) { return facts(type).bytes; }

int64_t k_group(WeightType type) { return facts(type).k_group; }

}  // namespace lstmrt

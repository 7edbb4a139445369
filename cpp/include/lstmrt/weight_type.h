// The element type constant weights are packed in: the `precision` a session or layer is built
// with. Activations, recurrent and cell states and the gate math stay float32 in every case.
#pragma once

#include <cstdint>
#include <string>

namespace lstmrt {

enum class WeightType {
  F32 = 0,   // float32, exact
  BF16 = 1,  // bfloat16 weights; activations rounded to bfloat16 for each product
  I8 = 2,    // int8 weights with a scale per output column; activations quantized per row to uint8
};

// "fp32", "bf16" or "int8", the names of the `precision` argument.
const char* weight_type_name(WeightType type);
// Parses a precision name; throws ValueError naming the accepted values otherwise.
WeightType parse_weight_type(const std::string& name);
// Bytes one packed weight occupies: what the cost model of a call reads from memory per weight.
double bytes_per_weight(WeightType type);
// Consecutive k values a packed panel interleaves per column: the dot-product instructions read
// pairs (bf16) or quads (int8) of them; K is padded with zeros to a multiple.
int64_t k_group(WeightType type);

}  // namespace lstmrt

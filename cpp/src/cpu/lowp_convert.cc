#include "cpu/lowp_convert.h"

#include <algorithm>
#include <limits>

namespace lstmrt {

RowQuantization row_quantization(float lo, float hi, bool finite) {
  RowQuantization r{1.0f, 0};
  if (!finite) {
    r.scale = std::numeric_limits<float>::quiet_NaN();
  } else if (hi > lo) {
    r.scale = (hi - lo) / 255.0f;
    r.zero = static_cast<int32_t>(std::min(255.0f, std::max(0.0f, round_even(-lo / r.scale))));
  }
  return r;
}

RowQuantization quantize_row_u8(const float* x, int64_t k, int64_t k_padded, uint8_t* q) {
  float lo = 0.0f, hi = 0.0f, poison = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    poison += x[i] * 0.0f;  // NaN once any value is NaN or infinite
  }
  const RowQuantization r = row_quantization(lo, hi, poison == 0.0f);
  if (poison != 0.0f) {
    std::fill(q, q + k_padded, uint8_t{0});
    return r;
  }
  const float inv = 1.0f / r.scale;
  const float zero = static_cast<float>(r.zero);
  for (int64_t i = 0; i < k; ++i) {
    const float v = round_even(x[i] * inv) + zero;
    q[i] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
  }
  std::fill(q + k, q + k_padded, uint8_t{0});
  return r;
}

void convert_row_bf16(const float* x, int64_t k, int64_t k_padded, uint16_t* out) {
  for (int64_t i = 0; i < k; ++i) out[i] = float_to_bf16(x[i]);
  std::fill(out + k, out + k_padded, uint16_t{0});
}

}  // namespace lstmrt

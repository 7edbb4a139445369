#include "cpu/lowp_convert.h"

#include <algorithm>
#include <limits>

namespace lstmrt {

RowQuantization quantize_row_u8(const float* x, int64_t k, int64_t k_padded, uint8_t* q) {
  float lo = 0.0f, hi = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    finite = finite && std::isfinite(x[i]);
  }
  RowQuantization r{1.0f, 0};
  if (!finite) {
    r.scale = std::numeric_limits<float>::quiet_NaN();
    std::fill(q, q + k_padded, uint8_t{0});
    return r;
  }
  if (hi > lo) {
    r.scale = (hi - lo) / 255.0f;
    r.zero = static_cast<int32_t>(std::nearbyint(-lo / r.scale));
    r.zero = std::min(255, std::max(0, r.zero));
  }
  const float inv = 1.0f / r.scale;
  for (int64_t i = 0; i < k; ++i) {
    const float v = std::nearbyint(x[i] * inv) + static_cast<float>(r.zero);
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

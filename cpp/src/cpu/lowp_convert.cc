#include "cpu/lowp_convert.h"

#include <algorithm>
#include <limits>

namespace lstmrt {

namespace {

// Round to nearest even for |v| < 2^22 by the float adder itself: adding 1.5 * 2^23 pushes the
// fraction out of the mantissa. Unlike std::nearbyint (a library call on baseline x86-64), the
// loops below then vectorize.
inline float round_even(float v) {
  const float magic = 12582912.0f;
  return (v + magic) - magic;
}

}  // namespace

RowQuantization quantize_row_u8(const float* x, int64_t k, int64_t k_padded, uint8_t* q) {
  float lo = 0.0f, hi = 0.0f, poison = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    poison += x[i] * 0.0f;  // NaN once any value is NaN or infinite
  }
  RowQuantization r{1.0f, 0};
  if (poison != 0.0f) {
    r.scale = std::numeric_limits<float>::quiet_NaN();
    std::fill(q, q + k_padded, uint8_t{0});
    return r;
  }
  if (hi > lo) {
    r.scale = (hi - lo) / 255.0f;
    r.zero = static_cast<int32_t>(std::min(255.0f, std::max(0.0f, round_even(-lo / r.scale))));
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

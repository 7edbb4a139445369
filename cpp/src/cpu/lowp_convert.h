// Float32 to the low-precision formats, in portable code shared by the weight packing and the
// conversion of activations before a low-precision GEMM: every ISA path then multiplies the same
// values.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace lstmrt {

// Round to nearest even; NaN stays a (quiet) NaN; subnormals become signed zero, as VDPBF16PS
// reads them.
inline uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// One activation row quantized to uint8: x ≈ scale * (q - zero), the range [min, max] of the row
// widened to include 0 so that 0 is exact. A row holding NaN or an infinity gets scale NaN, so
// that its products come out NaN, as the float32 product would.
struct RowQuantization {
  float scale;
  int32_t zero;
};

RowQuantization quantize_row_u8(const float* x, int64_t k, int64_t k_padded, uint8_t* q);
// x rounded to bfloat16, zeros from k to k_padded.
void convert_row_bf16(const float* x, int64_t k, int64_t k_padded, uint16_t* out);

}  // namespace lstmrt

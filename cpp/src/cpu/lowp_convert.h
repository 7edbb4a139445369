// Float32 to the low-precision formats, in portable code shared by the weight packing and the
// conversion of activations before a low-precision GEMM: every ISA path then multiplies the same
// values.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/kernels.h"

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


// The scale and zero point of a row whose values span [lo, hi] (lo <= 0 <= hi); `finite` false
// when the row holds NaN or an infinity.
RowQuantization row_quantization(float lo, float hi, bool finite);

// Round to nearest even for |v| < 2^22 by the float adder itself: adding 1.5 * 2^23 pushes the
// fraction out of the mantissa. The vector quantizers do the same two additions, so every path
// rounds alike (std::nearbyint would also be a library call per value on baseline x86-64).
inline float round_even(float v) {
  const float magic = 12582912.0f;
  return (v + magic) - magic;
}

// The portable quantizer; KernelTable::quantize_u8 holds the fastest path, with the same results.
RowQuantization quantize_row_u8(const float* x, int64_t k, int64_t k_padded, uint8_t* q);
// x rounded to bfloat16, zeros from k to k_padded.
void convert_row_bf16(const float* x, int64_t k, int64_t k_padded, uint16_t* out);

}  // namespace lstmrt

// The epilogue and masks shared by the AVX-512 low-precision kernels (lowp_avx512*.cc), each of
// which includes this into its own anonymous namespace.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "lstmrt/kernels.h"

namespace lstmrt {
namespace {

inline __mmask16 columns_mask(int64_t valid) {
  return valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1u);
}

// C = v + init for the valid columns of one row.
inline void store_row(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, __m512 v) {
  float* c = g.C + m * g.ldc + col;
  __m512 init = _mm512_setzero_ps();
  if (g.bias) init = _mm512_maskz_loadu_ps(mask, g.bias + col);
  else if (g.accumulate) init = _mm512_maskz_loadu_ps(mask, c);
  _mm512_mask_storeu_ps(c, mask, _mm512_add_ps(v, init));
}

// The int8 epilogue of one row and one panel: float(s - zero * b_sum) * (a_scale * b_scale).
inline void store_i8_row(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, __m512i s) {
  const __m512i sums = _mm512_maskz_loadu_epi32(mask, g.b_sum + col);
  const __m512 bscale = _mm512_maskz_loadu_ps(mask, g.b_scale + col);
  const __m512i t = _mm512_sub_epi32(s, _mm512_mullo_epi32(_mm512_set1_epi32(g.a_zero[m]), sums));
  const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(_mm512_set1_ps(g.a_scale[m]), bscale));
  store_row(g, m, col, mask, v);
}

}  // namespace
}  // namespace lstmrt

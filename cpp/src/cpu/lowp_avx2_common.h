// The epilogue shared by the AVX2 low-precision kernels (lowp_avx2*.cc): eight columns per YMM
// register, a panel's 16 columns in two halves.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "cpu/kernels.h"

namespace lstmrt {
namespace {

inline __m256i half_mask(int64_t valid) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int v = static_cast<int>(valid < 8 ? valid : 8);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), lane);
}

// C = v + init for the valid columns (up to 8) of one row from `col`.
inline void store_half(const LowpGemmArgs& g, int64_t m, int64_t col, int64_t valid, __m256 v) {
  float* c = g.C + m * g.ldc + col;
  const __m256i mask = half_mask(valid);
  __m256 init = _mm256_setzero_ps();
  if (g.bias) init = _mm256_maskload_ps(g.bias + col, mask);
  else if (g.accumulate) init = _mm256_maskload_ps(c, mask);
  _mm256_maskstore_ps(c, mask, _mm256_add_ps(v, init));
}

inline void store_i8_half(const LowpGemmArgs& g, int64_t m, int64_t col, int64_t valid, __m256i s) {
  const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.b_sum + col));
  const __m256 bscale = _mm256_loadu_ps(g.b_scale + col);
  const __m256i t = _mm256_sub_epi32(s, _mm256_mullo_epi32(_mm256_set1_epi32(g.a_zero[m]), sums));
  const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(_mm256_set1_ps(g.a_scale[m]), bscale));
  store_half(g, m, col, valid, v);
}

// Stores the valid columns of one row's panel, given its two halves.
template <class Store, class Reg>
inline void store_panel(const LowpGemmArgs& g, int64_t m, int64_t col, Reg lo, Reg hi, Store store) {
  store(g, m, col, g.N - col, lo);
  if (g.N - col > 8) store(g, m, col + 8, g.N - col - 8, hi);
}

}  // namespace
}  // namespace lstmrt

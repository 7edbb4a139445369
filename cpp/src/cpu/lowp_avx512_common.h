// The epilogue and masks shared by the AVX-512 low-precision kernels (lowp_avx512*.cc), each of
// which includes this into its own anonymous namespace.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/kernels.h"

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

// One register tile of the AVX-512 GEMMs: MR rows by NP panels of C, accumulated over the whole
// reduction. Each step reads 64 bytes of every panel (one k-group of 16 columns) and one k-group
// of each row of A, 4 bytes, broadcast; `Dot` says what those bytes are and how they multiply:
//   Dot::Acc             the accumulator register type
//   Dot::kGroup          the k values per step (4 for int8, 2 for bf16)
//   Dot::Weights         a step's panel operand, made once per panel by Dot::weights(bytes)
//   Dot::add(acc, group, w)  acc plus the products of a row's k-group (4 bytes as an int32) and w
//   Dot::store(g, m, col, mask, acc)   row m of C from its sums
template <class Dot>
struct Avx512Tile {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    typename Dot::Acc acc[MR][NP];
    for (int m = 0; m < MR; ++m)
      for (int p = 0; p < NP; ++p) acc[m][p] = Dot::zero();
    const char* A = static_cast<const char*>(g.A) + m0 * g.lda * Dot::kElementBytes;
    const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
    for (int64_t k = 0; k < g.kp; k += Dot::kGroup) {
      typename Dot::Weights w[NP];
      for (int p = 0; p < NP; ++p) w[p] = Dot::weights(B + p * g.panel_bytes + k * Dot::kElementBytes * 16);
      for (int m = 0; m < MR; ++m) {
        int32_t group;
        std::memcpy(&group, A + (m * g.lda + k) * Dot::kElementBytes, sizeof group);
        for (int p = 0; p < NP; ++p) acc[m][p] = Dot::add(acc[m][p], group, w[p]);
      }
    }
    for (int p = 0; p < NP; ++p) {
      const int64_t col = (p0 + p) * 16;
      if (col >= g.N) break;
      const __mmask16 mask = columns_mask(g.N - col);
      for (int m = 0; m < MR; ++m) Dot::store(g, m0 + m, col, mask, acc[m][p]);
    }
  }
};

// The float32 accumulators of the bf16 variants.
struct Bf16Sums {
  using Acc = __m512;
  static constexpr int64_t kGroup = 2;
  static constexpr int64_t kElementBytes = 2;
  static Acc zero() { return _mm512_setzero_ps(); }
  static void store(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, Acc acc) {
    store_row(g, m, col, mask, acc);
  }
};

}  // namespace
}  // namespace lstmrt

// The bfloat16 GEMM on AVX-512 CPUs without AVX512-BF16: each weight pair is widened to two
// float32 vectors (a bfloat16 is the upper half of a float32) and both products are added in
// VDPBF16PS's order, odd first. The products are exact, so the sums round as the instruction's do.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_convert.h"
#include "cpu/lowp_driver.h"
#include "cpu/lowp_variants.h"

namespace lstmrt {
namespace {

struct Bf16EmulatedTile {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    __m512 acc[MR][NP];
    for (int m = 0; m < MR; ++m)
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
    const uint16_t* A = static_cast<const uint16_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    for (int64_t k = 0; k < g.kp; k += 2) {
      __m512 odd[NP], even[NP];
      for (int p = 0; p < NP; ++p) {
        const __m512i b = _mm512_loadu_si512(B + p * g.panel_bytes + k * 32);
        odd[p] = _mm512_castsi512_ps(_mm512_and_si512(b, high));
        even[p] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
      }
      for (int m = 0; m < MR; ++m) {
        const __m512 a_odd = _mm512_set1_ps(bf16_to_float(A[m * g.lda + k + 1]));
        const __m512 a_even = _mm512_set1_ps(bf16_to_float(A[m * g.lda + k]));
        for (int p = 0; p < NP; ++p) {
          acc[m][p] = _mm512_add_ps(acc[m][p], _mm512_mul_ps(a_odd, odd[p]));
          acc[m][p] = _mm512_add_ps(acc[m][p], _mm512_mul_ps(a_even, even[p]));
        }
      }
    }
    for (int p = 0; p < NP; ++p) {
      const int64_t col = (p0 + p) * 16;
      if (col >= g.N) break;
      const __mmask16 mask = columns_mask(g.N - col);
      for (int m = 0; m < MR; ++m) store_row(g, m0 + m, col, mask, acc[m][p]);
    }
  }
};

void gemm_bf16_avx512(const LowpGemmArgs& g) { lowp_gemm_drive<6, 2, 8>(Bf16EmulatedTile{}, g); }

// quantize_row_u8 (lowp_convert.cc) sixteen values at a time: the same operations in the same
// order, so the same bytes. Masked-off lanes load as 0, which changes neither the range (it
// includes 0) nor the NaN check.
RowQuantization quantize_row_u8_avx512(const float* x, int64_t k, int64_t k_padded, uint8_t* q) {
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps(), poison = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(columns_mask(k - i), x + i);
    lo = _mm512_min_ps(lo, v);
    hi = _mm512_max_ps(hi, v);
    poison = _mm512_add_ps(poison, _mm512_mul_ps(v, _mm512_setzero_ps()));
  }
  const bool finite = _mm512_cmp_ps_mask(poison, _mm512_setzero_ps(), _CMP_NEQ_UQ) == 0;
  const RowQuantization r = row_quantization(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), finite);
  if (!finite) {
    std::memset(q, 0, static_cast<size_t>(k_padded));
    return r;
  }
  const __m512 inv = _mm512_set1_ps(1.0f / r.scale), zero = _mm512_set1_ps(static_cast<float>(r.zero));
  const __m512 magic = _mm512_set1_ps(12582912.0f), top = _mm512_set1_ps(255.0f);
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 mask = columns_mask(k - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + i), inv);
    v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), zero);
    v = _mm512_min_ps(top, _mm512_max_ps(_mm512_setzero_ps(), v));
    _mm512_mask_cvtepi32_storeu_epi8(q + i, mask, _mm512_cvttps_epi32(v));
  }
  if (k_padded > k) std::memset(q + k, 0, static_cast<size_t>(k_padded - k));
  return r;
}

// float_to_bf16 (lowp_convert.h) sixteen values at a time, in integer arithmetic.
void convert_row_bf16_avx512(const float* x, int64_t k, int64_t k_padded, uint16_t* out) {
  const __m512i exponent = _mm512_set1_epi32(0x7f800000), magnitude = _mm512_set1_epi32(0x7fffffff);
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 mask = columns_mask(k - i);
    const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, x + i));
    const __m512i high = _mm512_srli_epi32(u, 16);
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                                           _mm512_and_si512(high, _mm512_set1_epi32(1))), 16);
    const __mmask16 subnormal = _mm512_cmpeq_epi32_mask(_mm512_and_si512(u, exponent), _mm512_setzero_si512());
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, magnitude), exponent);
    __m512i b = _mm512_mask_mov_epi32(rounded, subnormal, _mm512_and_si512(high, _mm512_set1_epi32(0x8000)));
    b = _mm512_mask_mov_epi32(b, nan, _mm512_or_si512(high, _mm512_set1_epi32(0x40)));
    _mm512_mask_cvtepi32_storeu_epi16(out + i, mask, b);
  }
  for (int64_t i = k; i < k_padded; ++i) out[i] = 0;
}

}  // namespace

LowpGemmFn lowp_avx512_bf16() { return &gemm_bf16_avx512; }
QuantizeRowFn lowp_avx512_quantize_u8() { return &quantize_row_u8_avx512; }
ConvertRowFn lowp_avx512_convert_bf16() { return &convert_row_bf16_avx512; }

}  // namespace lstmrt

// The bfloat16 GEMM on AVX-512 CPUs without AVX512-BF16 (EmulatedBf16Dot), and the AVX-512
// converters of activation rows.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_convert.h"
#include "cpu/lowp_driver.h"
#include "cpu/lowp_variants.h"

namespace lstmrt {
namespace {

// A bfloat16 is the upper half of a float32: a weight pair's odd element is the dword masked to
// its upper half, the even one the dword shifted up. The pair's two products are added in
// VDPBF16PS's order, odd first; each product is exact, so the sums round as the instruction's do.
struct EmulatedBf16Dot : Bf16Sums {
  struct Weights {
    __m512 odd, even;
  };
  static Weights weights(const char* p) {
    const __m512i b = _mm512_loadu_si512(p);
    return {_mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32(static_cast<int>(0xffff0000u)))),
            _mm512_castsi512_ps(_mm512_slli_epi32(b, 16))};
  }
  static Acc add(Acc acc, int32_t pair, const Weights& w) {
    const __m512i a = _mm512_set1_epi32(pair);
    const __m512 a_odd = _mm512_castsi512_ps(_mm512_and_si512(a, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    const __m512 a_even = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16));
    acc = _mm512_add_ps(acc, _mm512_mul_ps(a_odd, w.odd));
    return _mm512_add_ps(acc, _mm512_mul_ps(a_even, w.even));
  }
};

void gemm_bf16_avx512(const LowpGemmArgs& g) { lowp_gemm_drive<6, 2, 8>(Avx512Tile<EmulatedBf16Dot>{}, g); }

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

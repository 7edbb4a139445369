// Eight floats in a YMM register (AVX2 + FMA). Included only by kernels_avx2.cc.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lstmrt {
namespace avx2_isa {

struct Vec {
  using reg = __m256;
  using mask = __m256;
  static constexpr int W = 8;

  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
  }
  // Masked loads touch only the first n floats, so a tail never reads past the buffer.
  static reg load_partial(const float* p, int64_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store_partial(float* p, reg v, int64_t n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  // dst with its lanes j in [lo, hi) (clipped to the vector) replaced by first[j - lo]. Only those
  // floats are read: the masked load never touches the others, wherever lane 0 would lie.
  // All ones in the lanes j with a <= j < b.
  static __m256i lanes_mask(int64_t a, int64_t b) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(a)), idx),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(b)), idx));
  }
  static reg load_lanes(reg dst, const float* first, int64_t lo, int64_t hi) {
    const int64_t a = lo < 0 ? 0 : lo, b = hi > W ? W : hi;
    if (a >= b) return dst;
    const __m256i m = lanes_mask(a, b);
    const auto base = reinterpret_cast<uintptr_t>(first) - static_cast<uintptr_t>(lo) * sizeof(float);
    return _mm256_blendv_ps(dst, _mm256_maskload_ps(reinterpret_cast<const float*>(base), m), _mm256_castsi256_ps(m));
  }
  // As load_lanes, lane j reading first[2 * (j - lo)]: a masked gather.
  static reg load_lanes_step2(reg dst, const float* first, int64_t lo, int64_t hi) {
    const int64_t a = lo < 0 ? 0 : lo, b = hi > W ? W : hi;
    if (a >= b) return dst;
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = lanes_mask(a, b);
    const auto base = reinterpret_cast<uintptr_t>(first) - static_cast<uintptr_t>(2 * lo) * sizeof(float);
    return _mm256_mask_i32gather_ps(dst, reinterpret_cast<const float*>(base), _mm256_add_epi32(idx, idx),
                                    _mm256_castsi256_ps(m), 4);
  }

  // dst[i * 16 + j] = src[j * ld + i] for i, j < 16: four 8 x 8 blocks, each transposed in
  // registers (pairs of rows interleaved, then groups of four, then 128-bit halves).
  static void transpose16(const float* src, int64_t ld, float* dst) {
    for (int jb = 0; jb < 16; jb += 8)
      for (int ib = 0; ib < 16; ib += 8) {
        reg r[8], t[8];
        for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (jb + j) * ld + ib);
        for (int j = 0; j < 8; j += 2) {
          t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
          t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
        }
        for (int g = 0; g < 8; g += 4) {
          r[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
          r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
          r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
          r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
        }
        for (int m = 0; m < 4; ++m) {
          _mm256_storeu_ps(dst + (ib + m) * 16 + jb, _mm256_permute2f128_ps(r[m], r[4 + m], 0x20));
          _mm256_storeu_ps(dst + (ib + 4 + m) * 16 + jb, _mm256_permute2f128_ps(r[m], r[4 + m], 0x31));
        }
      }
  }

  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  // 1 / d for d >= 1 (a sigmoid's denominator): a division (a 12-bit estimate would need two
  // Newton steps, no cheaper than the division on AVX2 cores).
  static reg recip_ge1(reg d) { return _mm256_div_ps(_mm256_set1_ps(1.0f), d); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static reg copysign(reg mag, reg sgn) {
    const reg sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
  }

  static mask gt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static mask ge(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  // a > b, or either is NaN.
  static mask gt_or_nan(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_NLE_UQ); }
  static reg select(mask m, reg if_true, reg if_false) { return _mm256_blendv_ps(if_false, if_true, m); }

  static reg round_nearest(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n for integral n in [-150, 128]: 2^n as two factors 2^a * 2^(n-a), a = floor(n/2), so
  // that both are normal floats and the product rounds once into the denormals.
  static reg scale_by_pow2(reg p, reg n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i a = _mm256_srai_epi32(ni, 1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2(a)), pow2(_mm256_sub_epi32(ni, a)));
  }

  // For x > 0 finite: x = m * 2^e with m in [1, 2); returns e as a float and sets m. Integer work
  // on the bits, so denormals split right also where the thread treats them as zero (DAZ): their
  // mantissa, converted to a float exactly, is normal. The other values keep their bits' reading,
  // which vlog tells them apart by: +0 gives e = -276; the sign bit adds 256 to e (-0: e = 129,
  // m = 1; any other x < 0: e >= 129); +inf gives e = 128, m = 1, and NaN e = 128, m > 1.
  static reg split_exponent(reg x, reg& m) {
    __m256i bits = _mm256_castps_si256(x);
    const __m256i mantissa_bits = _mm256_set1_epi32(0x007fffff);
    const __m256i denormal = _mm256_cmpeq_epi32(_mm256_srli_epi32(bits, 23), _mm256_setzero_si256());
    // A denormal x is (its mantissa as an integer) * 2^-149: split that integer's float instead.
    const __m256i scaled = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_and_si256(bits, mantissa_bits)));
    bits = _mm256_blendv_epi8(bits, scaled, denormal);
    const __m256i bias = _mm256_blendv_epi8(_mm256_set1_epi32(127), _mm256_set1_epi32(127 + 149), denormal);
    m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, mantissa_bits), _mm256_set1_epi32(0x3f800000)));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), bias));
  }

 private:
  // 2^i for i in [-126, 127].
  static reg pow2(__m256i i) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
  }
};

}  // namespace avx2_isa
}  // namespace lstmrt

// Sixteen floats in a ZMM register (AVX-512F/DQ). Included only by kernels_avx512.cc.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lstmrt {
namespace avx512_isa {

struct Vec {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;

  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  // Masked loads touch only the first n floats, so a tail never reads past the buffer.
  static reg load_partial(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store_partial(float* p, reg v, int64_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  // dst with its lanes j in [lo, hi) (clipped to the vector) replaced by first[j - lo]. Only those
  // floats are read: the masked load never touches the others, wherever lane 0 would lie.
  static reg load_lanes(reg dst, const float* first, int64_t lo, int64_t hi) {
    const int64_t a = lo < 0 ? 0 : lo, b = hi > W ? W : hi;
    if (a >= b) return dst;
    const __mmask16 m = static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
    const auto base = reinterpret_cast<uintptr_t>(first) - static_cast<uintptr_t>(lo) * sizeof(float);
    return _mm512_mask_loadu_ps(dst, m, reinterpret_cast<const float*>(base));
  }
  // As load_lanes, lane j reading first[2 * (j - lo)]: the even floats of two masked loads.
  static reg load_lanes_step2(reg dst, const float* first, int64_t lo, int64_t hi) {
    const int64_t a = lo < 0 ? 0 : lo, b = hi > W ? W : hi;
    if (a >= b) return dst;
    const __mmask16 lanes = static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
    // Lane j reads float 2j of the 32 from lane 0's address on: bit 2j of a 32-bit mask.
    const uint64_t spread = 0x55555555u & ((uint64_t{1} << (2 * b)) - 1u) & ~((uint64_t{1} << (2 * a)) - 1u);
    const auto base = reinterpret_cast<uintptr_t>(first) - static_cast<uintptr_t>(2 * lo) * sizeof(float);
    const reg even = _mm512_maskz_loadu_ps(static_cast<__mmask16>(spread), reinterpret_cast<const float*>(base));
    const reg odd = _mm512_maskz_loadu_ps(static_cast<__mmask16>(spread >> 16),
                                          reinterpret_cast<const float*>(base + W * sizeof(float)));
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_mask_mov_ps(dst, lanes, _mm512_permutex2var_ps(even, idx, odd));
  }

  // dst[i * 16 + j] = src[j * ld + i] for i, j < 16: a 16 x 16 block transposed in registers
  // (pairs of rows interleaved, then groups of four, then 128-bit quarters).
  static void transpose16(const float* src, int64_t ld, float* dst) {
    reg r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // r[4g + m], chunk L: column 4L + m of rows 4g .. 4g + 3.
    for (int g = 0; g < 4; ++g) {
      r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
      r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
      r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
      r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int m = 0; m < 4; ++m) {
      const reg u0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88), u1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xDD);
      const reg v0 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88), v1 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xDD);
      _mm512_storeu_ps(dst + m * 16, _mm512_shuffle_f32x4(u0, v0, 0x88));
      _mm512_storeu_ps(dst + (4 + m) * 16, _mm512_shuffle_f32x4(u1, v1, 0x88));
      _mm512_storeu_ps(dst + (8 + m) * 16, _mm512_shuffle_f32x4(u0, v0, 0xDD));
      _mm512_storeu_ps(dst + (12 + m) * 16, _mm512_shuffle_f32x4(u1, v1, 0xDD));
    }
  }

  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  // 1 / d for d >= 1 (a sigmoid's denominator), within 2 ulp: the 14-bit estimate and one Newton
  // step, a third of a division's cost. +inf (clamped to the largest float) gives 0 or the
  // denormal beside it; NaN stays NaN (min's second operand wins).
  static reg recip_ge1(reg d) {
    const reg dc = _mm512_min_ps(_mm512_set1_ps(3.4028234e38f), d);
    const reg r = _mm512_rcp14_ps(dc);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(dc, r, _mm512_set1_ps(1.0f)), r);
  }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg abs(reg a) { return _mm512_abs_ps(a); }
  static reg copysign(reg mag, reg sgn) {
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    // (sgn & sign) | (mag & ~sign), bitwise select with one ternary-logic instruction.
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign, _mm512_castps_si512(sgn),
                                                         _mm512_castps_si512(mag), 0xCA));
  }

  static mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static mask ge(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  // a > b, or either is NaN.
  static mask gt_or_nan(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLE_UQ); }
  static reg select(mask m, reg if_true, reg if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }

  static reg round_nearest(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n for integral n: one VSCALEFPS, which rounds once into the denormals and overflows to
  // inf where the product does.
  static reg scale_by_pow2(reg p, reg n) { return _mm512_scalef_ps(p, n); }

  // For x > 0 finite: x = m * 2^e with m in [1, 2); returns e as a float and sets m. Integer work
  // on the bits, so denormals split right also where the thread treats them as zero (DAZ): their
  // mantissa, converted to a float exactly, is normal. The other values keep their bits' reading,
  // which vlog tells them apart by: +0 gives e = -276; the sign bit adds 256 to e (-0: e = 129,
  // m = 1; any other x < 0: e >= 129); +inf gives e = 128, m = 1, and NaN e = 128, m > 1.
  static reg split_exponent(reg x, reg& m) {
    __m512i bits = _mm512_castps_si512(x);
    const __m512i mantissa_bits = _mm512_set1_epi32(0x007fffff);
    const __mmask16 denormal = _mm512_cmpeq_epi32_mask(_mm512_srli_epi32(bits, 23), _mm512_setzero_si512());
    __m512i bias = _mm512_set1_epi32(127);
    // A denormal x is (its mantissa as an integer) * 2^-149: split that integer's float instead.
    bits = _mm512_mask_mov_epi32(bits, denormal,
                                 _mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_and_si512(bits, mantissa_bits))));
    bias = _mm512_mask_mov_epi32(bias, denormal, _mm512_set1_epi32(127 + 149));
    m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, mantissa_bits), _mm512_set1_epi32(0x3f800000)));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bits, 23), bias));
  }
};

}  // namespace avx512_isa
}  // namespace lstmrt

// The portable "vector" of one float: the generic kernels are the templated kernels instantiated
// with this type, so every ISA runs the same algorithms (same polynomials, same operation order).
#pragma once

#include <cstdint>
#include <cstring>

namespace lstmrt {
namespace generic_isa {

struct Vec {
  using reg = float;
  using mask = bool;
  static constexpr int W = 1;

  static reg zero() { return 0.0f; }
  static reg set1(float v) { return v; }
  static reg load(const float* p) { return *p; }
  static void store(float* p, reg v) { *p = v; }
  // With W = 1 a partial vector is never needed; these exist so the templates compile.
  static reg load_partial(const float* p, int64_t n) { return n > 0 ? *p : 0.0f; }
  static void store_partial(float* p, reg v, int64_t n) {
    if (n > 0) *p = v;
  }
  // dst, or first[-lo] when the lane lies in [lo, hi).
  static reg load_lanes(reg dst, const float* first, int64_t lo, int64_t hi) {
    return lo <= 0 && hi > 0 ? first[-lo] : dst;
  }
  // dst, or first[-2 * lo] when the lane lies in [lo, hi).
  static reg load_lanes_step2(reg dst, const float* first, int64_t lo, int64_t hi) {
    return lo <= 0 && hi > 0 ? first[-2 * lo] : dst;
  }

  // dst[i * 16 + j] = src[j * ld + i] for i, j < 16.
  static void transpose16(const float* src, int64_t ld, float* dst) {
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) dst[i * 16 + j] = src[j * ld + i];
  }

  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
  // 1 / d for d >= 1 (a sigmoid's denominator).
  static reg recip_ge1(reg d) { return 1.0f / d; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }   // a*b + c
  static reg fnmadd(reg a, reg b, reg c) { return c - a * b; }  // c - a*b
  // x86 semantics: when either operand is NaN the second one is returned, so max(limit, x)
  // keeps a NaN x. The kernels rely on that order to propagate NaN.
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  static reg abs(reg a) {
    uint32_t u;
    std::memcpy(&u, &a, 4);
    u &= 0x7fffffffu;
    std::memcpy(&a, &u, 4);
    return a;
  }
  // The magnitude of `mag` with the sign of `sgn`.
  static reg copysign(reg mag, reg sgn) {
    uint32_t m, s;
    std::memcpy(&m, &mag, 4);
    std::memcpy(&s, &sgn, 4);
    m = (m & 0x7fffffffu) | (s & 0x80000000u);
    std::memcpy(&mag, &m, 4);
    return mag;
  }

  static mask gt(reg a, reg b) { return a > b; }
  static mask ge(reg a, reg b) { return a >= b; }
  static mask lt(reg a, reg b) { return a < b; }
  // a > b, or either is NaN.
  static mask gt_or_nan(reg a, reg b) { return !(a <= b); }
  static reg select(mask m, reg if_true, reg if_false) { return m ? if_true : if_false; }

  // Round to nearest (ties to even) for |a| < 2^22, with the magic-number trick; NaN stays NaN.
  static reg round_nearest(reg a) {
    if (!(a == a)) return a;
    const float t = a + 12582912.0f;  // 1.5 * 2^23: the sum's last mantissa bit is the units.
    return t - 12582912.0f;
  }
  // p * 2^n for integral n in [-150, 128] (or NaN, when p is NaN too): 2^n as two factors
  // 2^a * 2^(n-a), a = floor(n/2), so that both are normal floats and the product rounds once
  // into the denormals.
  static reg scale_by_pow2(reg p, reg n) {
    const int32_t ni = n == n ? static_cast<int32_t>(n) : 0;
    const int32_t a = ni >> 1;
    return p * pow2(a) * pow2(ni - a);
  }

  // For x > 0 finite: x = m * 2^e with m in [1, 2); returns e as a float and sets m. Integer work
  // on the bits, so denormals split right also where the thread treats them as zero (DAZ): their
  // mantissa, converted to a float exactly, is normal. The other values keep their bits' reading,
  // which vlog tells them apart by: +0 gives e = -276; the sign bit adds 256 to e (-0: e = 129,
  // m = 1; any other x < 0: e >= 129); +inf gives e = 128, m = 1, and NaN e = 128, m > 1.
  static reg split_exponent(reg x, reg& m) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    int32_t bias = 127;
    if ((bits >> 23) == 0) {  // a denormal: (its mantissa as an integer) * 2^-149
      const float scaled = static_cast<float>(bits & 0x007fffffu);
      std::memcpy(&bits, &scaled, 4);
      bias = 127 + 149;
    }
    const uint32_t mb = (bits & 0x007fffffu) | 0x3f800000u;
    std::memcpy(&m, &mb, 4);
    return static_cast<float>(static_cast<int32_t>(bits >> 23) - bias);
  }

 private:
  // 2^i for i in [-126, 127].
  static reg pow2(int32_t i) {
    uint32_t u = static_cast<uint32_t>(i + 127) << 23;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

}  // namespace generic_isa
}  // namespace lstmrt

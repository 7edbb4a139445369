// The portable "vector" of one float: the generic kernels are the templated kernels instantiated
// with this type, so every ISA runs the same algorithms (same polynomials, same operation order).
#pragma once

#include <cstdint>
#include <cstring>

namespace lstmrt {
namespace generic_isa {

struct Vec {
  using reg = float;
  using ireg = int32_t;
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

  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
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

  // Round to nearest (ties to even) for |a| < 2^22, with the magic-number trick.
  static ireg to_int_nearest(reg a) {
    // Only called on clamped, finite values or NaN; NaN yields an arbitrary integer and the
    // caller's NaN propagates through the polynomial instead.
    if (!(a == a)) return 0;
    const float t = a + 12582912.0f;  // 1.5 * 2^23: the sum's last mantissa bit is the units.
    return static_cast<ireg>(t - 12582912.0f);
  }
  static reg to_float(ireg i) { return static_cast<float>(i); }
  static ireg ihalf_floor(ireg i) { return i >> 1; }
  static ireg isub(ireg a, ireg b) { return a - b; }
  // 2^i for i in [-126, 127].
  static reg pow2(ireg i) {
    uint32_t u = static_cast<uint32_t>(i + 127) << 23;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

}  // namespace generic_isa
}  // namespace lstmrt

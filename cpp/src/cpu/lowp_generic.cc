// Portable low-precision GEMMs: the reference every SIMD variant must match bit for bit, and the
// path of CPUs without them. Compiled with floating-point contraction off, so that `a * b + c`
// rounds twice here as it does in the vector code.
#include <cstring>

#include "cpu/lowp_convert.h"
#include "cpu/kernels.h"

namespace lstmrt {
namespace {

float init_of(const LowpGemmArgs& g, int64_t m, int64_t n) {
  if (g.bias) return g.bias[n];
  return g.accumulate ? g.C[m * g.ldc + n] : 0.0f;
}

void gemm_i8_generic(const LowpGemmArgs& g) {
  const uint8_t* A = static_cast<const uint8_t*>(g.A);
  for (int64_t m = 0; m < g.M; ++m) {
    const uint8_t* a = A + m * g.lda;
    for (int64_t n = 0; n < g.N; ++n) {
      const int8_t* b = static_cast<const int8_t*>(g.B) + (n / 16) * g.panel_bytes + (n % 16) * 4;
      int32_t s = 0;
      for (int64_t k = 0; k < g.kp; k += 4)
        for (int e = 0; e < 4; ++e) s += static_cast<int32_t>(a[k + e]) * b[k * 16 + e];
      const float v = static_cast<float>(s - g.a_zero[m] * g.b_sum[n]) * (g.a_scale[m] * g.b_scale[n]);
      g.C[m * g.ldc + n] = v + init_of(g, m, n);
    }
  }
}

void gemm_bf16_generic(const LowpGemmArgs& g) {
  const uint16_t* A = static_cast<const uint16_t*>(g.A);
  for (int64_t m = 0; m < g.M; ++m) {
    const uint16_t* a = A + m * g.lda;
    for (int64_t n = 0; n < g.N; ++n) {
      const uint16_t* b =
          reinterpret_cast<const uint16_t*>(static_cast<const char*>(g.B) + (n / 16) * g.panel_bytes) + (n % 16) * 2;
      float s = 0.0f;
      for (int64_t pair = 0; pair < g.kp / 2; ++pair) {
        const uint16_t* ap = a + 2 * pair;
        const uint16_t* bp = b + 32 * pair;
        // Each product of two bfloat16 values is exact in float32: only the sums round.
        s = s + bf16_to_float(ap[1]) * bf16_to_float(bp[1]);
        s = s + bf16_to_float(ap[0]) * bf16_to_float(bp[0]);
      }
      g.C[m * g.ldc + n] = s + init_of(g, m, n);
    }
  }
}

}  // namespace

LowpGemmFn lowp_generic_i8() { return &gemm_i8_generic; }
LowpGemmFn lowp_generic_bf16() { return &gemm_bf16_generic; }

}  // namespace lstmrt

// The bfloat16 GEMM on AVX-512 CPUs without AVX512-BF16: each weight pair is widened to two
// float32 vectors (a bfloat16 is the upper half of a float32) and both products are added in
// VDPBF16PS's order, odd first. The products are exact, so the sums round as the instruction's do.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_convert.h"
#include "cpu/lowp_driver.h"

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

}  // namespace

LowpGemmFn lowp_avx512_bf16() { return &gemm_bf16_avx512; }

}  // namespace lstmrt

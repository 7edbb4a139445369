// The bfloat16 GEMM with AVX512-BF16: one VDPBF16PS multiplies 16 pairs of bfloat16 weights by a
// pair of activations and adds both products into 16 float32 sums. Compiled with -mavx512bf16.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

struct Bf16Tile {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    __m512 acc[MR][NP];
    for (int m = 0; m < MR; ++m)
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
    const uint16_t* A = static_cast<const uint16_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
    for (int64_t k = 0; k < g.kp; k += 2) {
      __m512i b[NP];
      for (int p = 0; p < NP; ++p) b[p] = _mm512_loadu_si512(B + p * g.panel_bytes + k * 32);
      for (int m = 0; m < MR; ++m) {
        int32_t pair;
        std::memcpy(&pair, A + m * g.lda + k, sizeof pair);
        const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
        for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_dpbf16_ps(acc[m][p], a, reinterpret_cast<__m512bh>(b[p]));
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

void gemm_bf16_avx512_bf16(const LowpGemmArgs& g) { lowp_gemm_drive<8, 2, 8>(Bf16Tile{}, g); }

}  // namespace

LowpGemmFn lowp_avx512_bf16_bf16() { return &gemm_bf16_avx512_bf16; }

}  // namespace lstmrt

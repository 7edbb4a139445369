// The int8 GEMM with AVX-512 VNNI: one VPDPBUSD multiplies 64 uint8 activations by 64 int8
// weights and adds them, four at a time, into 16 int32 sums. Compiled with -mavx512vnni.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

struct I8Tile {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    __m512i acc[MR][NP];
    for (int m = 0; m < MR; ++m)
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_si512();
    const uint8_t* A = static_cast<const uint8_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
    for (int64_t k = 0; k < g.kp; k += 4) {
      __m512i b[NP];
      for (int p = 0; p < NP; ++p) b[p] = _mm512_loadu_si512(B + p * g.panel_bytes + k * 16);
      for (int m = 0; m < MR; ++m) {
        int32_t quad;
        std::memcpy(&quad, A + m * g.lda + k, sizeof quad);
        const __m512i a = _mm512_set1_epi32(quad);
        for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], a, b[p]);
      }
    }
    for (int p = 0; p < NP; ++p) {
      const int64_t col = (p0 + p) * 16;
      if (col >= g.N) break;
      const __mmask16 mask = columns_mask(g.N - col);
      for (int m = 0; m < MR; ++m) store_i8_row(g, m0 + m, col, mask, acc[m][p]);
    }
  }
};

void gemm_i8_avx512_vnni(const LowpGemmArgs& g) { lowp_gemm_drive<8, 2, 8>(I8Tile{}, g); }

}  // namespace

LowpGemmFn lowp_avx512_vnni_i8() { return &gemm_i8_avx512_vnni; }

}  // namespace lstmrt

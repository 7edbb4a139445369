// The int8 GEMM with AVX-VNNI (VPDPBUSD on YMM, on CPUs that have it without AVX-512): eight
// columns' four-weight groups per instruction. Compiled with -mavxvnni.
#include <cstring>

#include "cpu/lowp_avx2_common.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

struct I8Tile {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    __m256i acc[MR][2 * NP];
    for (int m = 0; m < MR; ++m)
      for (int v = 0; v < 2 * NP; ++v) acc[m][v] = _mm256_setzero_si256();
    const uint8_t* A = static_cast<const uint8_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p0 * g.panel_bytes;
    for (int64_t k = 0; k < g.kp; k += 4) {
      __m256i b[2 * NP];
      for (int v = 0; v < 2 * NP; ++v)
        b[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B + (v / 2) * g.panel_bytes + k * 16 + (v % 2) * 32));
      for (int m = 0; m < MR; ++m) {
        int32_t quad;
        std::memcpy(&quad, A + m * g.lda + k, sizeof quad);
        const __m256i a = _mm256_set1_epi32(quad);
        for (int v = 0; v < 2 * NP; ++v) acc[m][v] = _mm256_dpbusd_avx_epi32(acc[m][v], a, b[v]);
      }
    }
    for (int p = 0; p < NP; ++p) {
      const int64_t col = (p0 + p) * 16;
      if (col >= g.N) break;
      for (int m = 0; m < MR; ++m) store_panel(g, m0 + m, col, acc[m][2 * p], acc[m][2 * p + 1], store_i8_half);
    }
  }
};

void gemm_i8_avx2_vnni(const LowpGemmArgs& g) { lowp_gemm_drive<4, 1, 4>(I8Tile{}, g); }

}  // namespace

LowpGemmFn lowp_avx2_vnni_i8() { return &gemm_i8_avx2_vnni; }

}  // namespace lstmrt

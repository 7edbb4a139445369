// The int8 GEMM with AVX-512 VNNI: one VPDPBUSD multiplies 64 uint8 activations by 64 int8
// weights and adds them, four at a time, into 16 int32 sums. Compiled with -mavx512vnni.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

struct Int8Dot {
  using Acc = __m512i;
  using Weights = __m512i;
  static constexpr int64_t kGroup = 4;
  static constexpr int64_t kElementBytes = 1;
  static Acc zero() { return _mm512_setzero_si512(); }
  static Weights weights(const char* p) { return _mm512_loadu_si512(p); }
  static Acc add(Acc acc, int32_t quad, Weights w) { return _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(quad), w); }
  static void store(const LowpGemmArgs& g, int64_t m, int64_t col, __mmask16 mask, Acc acc) {
    store_i8_row(g, m, col, mask, acc);
  }
};

void gemm_i8_avx512_vnni(const LowpGemmArgs& g) { lowp_gemm_drive<8, 2, 8>(Avx512Tile<Int8Dot>{}, g); }

}  // namespace

LowpGemmFn lowp_avx512_vnni_i8() { return &gemm_i8_avx512_vnni; }

}  // namespace lstmrt

// The bfloat16 GEMM with AVX512-BF16: one VDPBF16PS multiplies 16 pairs of bfloat16 weights by a
// pair of activations and adds both products into 16 float32 sums. Compiled with -mavx512bf16.
#include <cstring>

#include "cpu/lowp_avx512_common.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

struct NativeBf16Dot : Bf16Sums {
  using Weights = __m512bh;
  static Weights weights(const char* p) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p)); }
  static Acc add(Acc acc, int32_t pair, Weights w) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair)), w);
  }
};

void gemm_bf16_avx512_bf16(const LowpGemmArgs& g) { lowp_gemm_drive<8, 2, 8>(Avx512Tile<NativeBf16Dot>{}, g); }

}  // namespace

LowpGemmFn lowp_avx512_bf16_bf16() { return &gemm_bf16_avx512_bf16; }

}  // namespace lstmrt

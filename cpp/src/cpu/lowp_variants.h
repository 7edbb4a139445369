// The low-precision GEMM variants each lowp_*.cc file compiles, and the table filling that picks
// the best one per ISA path for this CPU.
#pragma once

#include "cpu/kernels.h"

namespace lstmrt {

LowpGemmFn lowp_generic_i8();
LowpGemmFn lowp_generic_bf16();
LowpGemmFn lowp_avx2_i8();
LowpGemmFn lowp_avx2_bf16();
LowpGemmFn lowp_avx2_vnni_i8();
LowpGemmFn lowp_avx512_bf16();
LowpGemmFn lowp_avx512_vnni_i8();
LowpGemmFn lowp_avx512_bf16_bf16();
LowpGemmFn lowp_amx_i8();
LowpGemmFn lowp_amx_bf16();

using QuantizeRowFn = RowQuantization (*)(const float*, int64_t, int64_t, uint8_t*);
using ConvertRowFn = void (*)(const float*, int64_t, int64_t, uint16_t*);
QuantizeRowFn lowp_avx512_quantize_u8();
ConvertRowFn lowp_avx512_convert_bf16();

// Sets t.gemm_bf16 / t.gemm_i8 to the best variant that the `isa` path and this CPU allow.
void fill_lowp_kernels(KernelTable& t, Isa isa);

}  // namespace lstmrt

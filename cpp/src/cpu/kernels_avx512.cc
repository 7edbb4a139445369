// AVX-512 kernels. This file alone is compiled with -mavx512f and friends (see CMakeLists.txt).
#include "cpu/vec_avx512.h"

#define LSTMRT_KERNEL_NS avx512_isa
namespace lstmrt {
namespace avx512_isa {
// 32 ZMM registers: 8 rows x 3 panels = 24 accumulators, 3 for B, 1 broadcast: 11 loads per 24
// FMAs (8 x 2 took 10 per 16, and the loads held it back). bench/TUNING.md ("GEMM tile") has the
// testing.time_gemm figures that re-derive it.
constexpr int kGemmRows = 8;
constexpr int kGemmPanels = 3;
// Matrix-vector: 4 panels = 4 independent accumulators; the loads of B bound it, not the FMAs.
constexpr int kGemvPanels = 4;
// Few rows against weights streamed from memory: up to 24 rows x 1 panel = 24 accumulators, so
// that each panel of B is read once for all of them (gemm_kernel_impl; bench/TUNING.md, "Tall
// tiles", has the figures).
constexpr int kTallRows = 24;
}  // namespace avx512_isa
}  // namespace lstmrt
#include "cpu/kernels_impl.h"

namespace lstmrt {
void fill_avx512_kernels(KernelTable& t) { avx512_isa::fill_table(t, Isa::Avx512); }
}  // namespace lstmrt

// AVX2 + FMA kernels. This file alone is compiled with -mavx2 -mfma (see CMakeLists.txt).
#include "cpu/vec_avx2.h"

#define LSTMRT_KERNEL_NS avx2_isa
namespace lstmrt {
namespace avx2_isa {
// 16 YMM registers: 6 rows x 2 vectors (one panel) = 12 accumulators, 2 for B, 1 broadcast.
constexpr int kGemmRows = 6;
constexpr int kGemmPanels = 1;
// Matrix-vector: 3 panels = 6 independent accumulators to cover the FMA latency.
constexpr int kGemvPanels = 3;
// No tall tile: 16 YMM registers hold no more rows of one panel than kGemmRows.
constexpr int kTallRows = 0;
}  // namespace avx2_isa
}  // namespace lstmrt
#include "cpu/kernels_impl.h"

namespace lstmrt {
void fill_avx2_kernels(KernelTable& t) { avx2_isa::fill_table(t, Isa::Avx2); }
}  // namespace lstmrt

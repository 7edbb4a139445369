// The portable kernels: plain C++, compiled without ISA flags; every CPU runs them.
#include "cpu/vec_generic.h"

#define LSTMRT_KERNEL_NS generic_isa
namespace lstmrt {
namespace generic_isa {
// A "vector" is one float here: 4 rows by one 16-wide panel keeps 64 scalar accumulators, which
// compilers map onto whatever SIMD the baseline target has.
constexpr int kGemmRows = 4;
constexpr int kGemmPanels = 1;
constexpr int kGemvPanels = 1;
// No tall tile: one scalar per row and column.
constexpr int kTallRows = 0;
}  // namespace generic_isa
}  // namespace lstmrt
#include "cpu/kernels_impl.h"

namespace lstmrt {
void fill_generic_kernels(KernelTable& t) { generic_isa::fill_table(t, Isa::Generic); }
}  // namespace lstmrt

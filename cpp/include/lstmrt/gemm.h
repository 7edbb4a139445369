// The multi-threaded GEMM driver over the kernel table's single-threaded kernel.
#pragma once

#include <cstdint>

#include "lstmrt/kernels.h"
#include "lstmrt/packed_matrix.h"

namespace lstmrt {

// C[M][N] = init + A[M][K] · Wᵀ with W packed in B (N = B.n(), K = B.k()); init as in
// KernelTable::gemm. Splits rows (or, for few rows, column panels) across `threads`.
void gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
          const float* bias, bool accumulate, float* C, int64_t ldc, int threads);

}  // namespace lstmrt

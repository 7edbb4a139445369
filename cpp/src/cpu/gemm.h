// The multi-threaded GEMM driver over the kernel table's single-threaded kernel.
#pragma once

#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"

namespace lstmrt {

// C[M][N] = init + A[M][K] · Wᵀ with W packed in B (N = B.n(), K = B.k()); init as in
// KernelTable::gemm. Splits rows (or, for few rows, column panels) across `threads`.
void gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
          const float* bias, bool accumulate, float* C, int64_t ldc, int threads);

// The whole of a low-precision product (B of type BF16 or I8) made ready for one of the kernel
// table's low-precision GEMMs: A's M rows (lda floats apart) converted with kt's converters into
// `rows` (M * B.k_padded() elements of B's type), and for int8 `scale` and `zero` (M each).
LowpGemmArgs prepare_lowp_gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
                               void* rows, float* scale, int32_t* zero, const float* bias, bool accumulate, float* C,
                               int64_t ldc);

}  // namespace lstmrt

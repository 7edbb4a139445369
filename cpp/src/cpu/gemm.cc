#include "lstmrt/gemm.h"

#include "lstmrt/threading.h"

namespace lstmrt {

void gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
          const float* bias, bool accumulate, float* C, int64_t ldc, int threads) {
  const int64_t N = B.n();
  const int64_t K = B.k();
  if (M <= 0 || N <= 0) return;
  // Below ~256 kFLOP a fork/join costs more than it saves.
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (threads <= 1 || flops < 262144.0) {
    kt.gemm(M, N, K, A, lda, B.panel(0), bias, accumulate, C, ldc);
    return;
  }
  if (M >= 8 * threads) {
    parallel_for(M, threads, 8, [&](int64_t m0, int64_t m1) {
      kt.gemm(m1 - m0, N, K, A + m0 * lda, lda, B.panel(0), bias, accumulate, C + m0 * ldc, ldc);
    });
  } else {
    parallel_for(B.panels(), threads, 1, [&](int64_t p0, int64_t p1) {
      const int64_t c0 = p0 * kPanelWidth;
      const int64_t c1 = p1 * kPanelWidth < N ? p1 * kPanelWidth : N;
      kt.gemm(M, c1 - c0, K, A, lda, B.panel(p0), bias ? bias + c0 : nullptr, accumulate, C + c0, ldc);
    });
  }
}

}  // namespace lstmrt

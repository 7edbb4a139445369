#include "cpu/gemm.h"

#include "cpu/lowp_convert.h"
#include "cpu/tuning.h"
#include "cpu/threading.h"

namespace lstmrt {
namespace {

// Runs fn(m0, m1, p0, p1) over row or column-panel ranges of M rows times B; how it splits is
// Tuning's gemm_min_flops_for_threads, gemm_min_rows_per_thread and gemm_max_shared_weight_bytes.
template <class Fn>
void split_work(int64_t M, const PackedMatrix& B, int threads, Fn&& fn) {
  const Tuning& tune = tuning();
  const int64_t K = B.k(), panels = B.panels();
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(B.n()) * static_cast<double>(K);
  if (threads <= 1 || flops < tune.gemm_min_flops_for_threads) return fn(0, M, 0, panels);
  const double weight_bytes = static_cast<double>(B.panel_bytes()) * static_cast<double>(panels);
  const int64_t min_rows = tune.gemm_min_rows_per_thread;
  // Rows that fit one block of the kernel read the weights once: split by rows, every thread
  // would stream all of them, where split by panels each streams its share.
  const bool streams_weights = weight_bytes > tune.gemm_max_shared_weight_bytes && M * K <= kGemmRowBlockFloats;
  if (M >= min_rows * threads && !streams_weights)
    parallel_for(M, threads, min_rows, [&](int64_t m0, int64_t m1) { fn(m0, m1, 0, panels); });
  else
    parallel_for(panels, threads, 1, [&](int64_t p0, int64_t p1) { fn(0, M, p0, p1); });
}

// Each thread's activations converted for a low-precision GEMM; grown to the largest call and
// kept, so that a steady stream of calls allocates nothing.
struct LowpScratch {
  AlignedBuffer rows, scale, zero;
  size_t row_bytes = 0, row_count = 0;
  void reserve(size_t bytes, size_t count) {
    if (bytes > row_bytes) {
      rows = aligned_alloc_floats((bytes + 3) / 4);
      row_bytes = bytes;
    }
    if (count > row_count) {
      scale = aligned_alloc_floats(count);
      zero = aligned_alloc_floats(count);
      row_count = count;
    }
  }
};
thread_local LowpScratch lowp_scratch;

void gemm_lowp(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
               const float* bias, bool accumulate, float* C, int64_t ldc, int threads) {
  const int64_t kp = B.k_padded();
  const bool i8 = B.type() == WeightType::I8;
  const size_t elem = i8 ? 1 : 2;
  LowpScratch& s = lowp_scratch;
  s.reserve(static_cast<size_t>(M * kp) * elem, static_cast<size_t>(M));
  float* a_scale = s.scale.get();
  int32_t* a_zero = reinterpret_cast<int32_t*>(s.zero.get());
  const LowpGemmArgs g =
      prepare_lowp_gemm(kt, M, A, lda, B, s.rows.get(), a_scale, a_zero, bias, accumulate, C, ldc);
  const LowpGemmFn fn = i8 ? kt.gemm_i8 : kt.gemm_bf16;
  split_work(M, B, threads, [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
    LowpGemmArgs part = g;
    const int64_t c0 = p0 * kPanelWidth;
    part.M = m1 - m0;
    part.N = (p1 * kPanelWidth < g.N ? p1 * kPanelWidth : g.N) - c0;
    part.A = static_cast<const char*>(g.A) + m0 * kp * static_cast<int64_t>(elem);
    part.a_scale = a_scale + m0;
    part.a_zero = a_zero + m0;
    part.B = B.panel_data(p0);
    if (i8) {
      part.b_scale = g.b_scale + c0;
      part.b_sum = g.b_sum + c0;
    }
    part.bias = bias ? bias + c0 : nullptr;
    part.C = C + m0 * ldc + c0;
    fn(part);
  });
}

}  // namespace

LowpGemmArgs prepare_lowp_gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
                               void* rows, float* scale, int32_t* zero, const float* bias, bool accumulate, float* C,
                               int64_t ldc) {
  const int64_t K = B.k(), kp = B.k_padded();
  const bool i8 = B.type() == WeightType::I8;
  for (int64_t m = 0; m < M; ++m) {
    if (i8) {
      const RowQuantization r = kt.quantize_u8(A + m * lda, K, kp, static_cast<uint8_t*>(rows) + m * kp);
      scale[m] = r.scale;
      zero[m] = r.zero;
    } else {
      kt.convert_bf16(A + m * lda, K, kp, static_cast<uint16_t*>(rows) + m * kp);
    }
  }
  LowpGemmArgs g;
  g.M = M;
  g.N = B.n();
  g.kp = kp;
  g.A = rows;
  g.lda = kp;
  g.a_scale = scale;
  g.a_zero = zero;
  g.B = B.panel_data(0);
  g.panel_bytes = B.panel_bytes();
  g.b_scale = B.scales();
  g.b_sum = B.column_sums();
  g.bias = bias;
  g.accumulate = accumulate;
  g.C = C;
  g.ldc = ldc;
  return g;
}

void gemm(const KernelTable& kt, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
          const float* bias, bool accumulate, float* C, int64_t ldc, int threads) {
  const int64_t N = B.n();
  const int64_t K = B.k();
  if (M <= 0 || N <= 0) return;
  if (B.type() != WeightType::F32) return gemm_lowp(kt, M, A, lda, B, bias, accumulate, C, ldc, threads);
  split_work(M, B, threads, [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
    const int64_t c0 = p0 * kPanelWidth;
    const int64_t c1 = p1 * kPanelWidth < N ? p1 * kPanelWidth : N;
    kt.gemm(m1 - m0, c1 - c0, K, A + m0 * lda, lda, B.panel(p0), bias ? bias + c0 : nullptr, accumulate,
            C + m0 * ldc + c0, ldc);
  });
}

}  // namespace lstmrt

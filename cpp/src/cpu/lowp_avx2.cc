// Low-precision GEMMs for AVX2 CPUs without VNNI. int8: the weights of four columns are widened
// to int16 and VPMADDWD multiplies them by the activations widened alike, summing pairs into
// int32 (no saturation: 255 * 127 * 2 fits); the pair sums are folded at the end. bfloat16: each
// weight pair is widened to float32 and both products are added in VDPBF16PS's order.
#include <cstring>

#include "cpu/lowp_avx2_common.h"
#include "cpu/lowp_convert.h"
#include "cpu/lowp_driver.h"

namespace lstmrt {
namespace {

// Four activations of one row as int16, repeated for four columns.
inline __m256i quad_as_int16(const uint8_t* a) {
  const uint64_t q = static_cast<uint64_t>(a[0]) | static_cast<uint64_t>(a[1]) << 16 |
                     static_cast<uint64_t>(a[2]) << 32 | static_cast<uint64_t>(a[3]) << 48;
  return _mm256_set1_epi64x(static_cast<long long>(q));
}

// The drivers' tile interface over a kernel that does one panel at a time (AVX2 has registers
// for one panel of these accumulators, not more).
template <class Panel>
struct OnePanelAtATime {
  template <int MR, int NP>
  void run(const LowpGemmArgs& g, int64_t m0, int64_t p0) const {
    for (int p = 0; p < NP; ++p) Panel::template run_panel<MR>(g, m0, p0 + p);
  }
};

struct I8MaddPanel {
  template <int MR>
  static void run_panel(const LowpGemmArgs& g, int64_t m0, int64_t p) {
    const int64_t col = p * 16;
    if (col >= g.N) return;
    // acc[m][q]: columns 4q..4q+3, two pair sums each.
    __m256i acc[MR][4];
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < 4; ++q) acc[m][q] = _mm256_setzero_si256();
    const uint8_t* A = static_cast<const uint8_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p * g.panel_bytes;
    for (int64_t k = 0; k < g.kp; k += 4) {
      __m256i b[4];
      for (int q = 0; q < 4; ++q)
        b[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B + k * 16 + q * 16)));
      for (int m = 0; m < MR; ++m) {
        const __m256i a = quad_as_int16(A + m * g.lda + k);
        for (int q = 0; q < 4; ++q) acc[m][q] = _mm256_add_epi32(acc[m][q], _mm256_madd_epi16(a, b[q]));
      }
    }
    for (int m = 0; m < MR; ++m) {
      // hadd gives columns 0 1 4 5 | 2 3 6 7 of the eight; the permute restores their order.
      const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[m][0], acc[m][1]), 0xD8);
      const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[m][2], acc[m][3]), 0xD8);
      store_panel(g, m0 + m, col, lo, hi, store_i8_half);
    }
  }
};

struct Bf16EmulatedPanel {
  template <int MR>
  static void run_panel(const LowpGemmArgs& g, int64_t m0, int64_t p) {
    const int64_t col = p * 16;
    if (col >= g.N) return;
    __m256 acc[MR][2];
    for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    const uint16_t* A = static_cast<const uint16_t*>(g.A) + m0 * g.lda;
    const char* B = static_cast<const char*>(g.B) + p * g.panel_bytes;
    const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    for (int64_t k = 0; k < g.kp; k += 2) {
      __m256 odd[2], even[2];
      for (int h = 0; h < 2; ++h) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B + k * 32 + h * 32));
        odd[h] = _mm256_castsi256_ps(_mm256_and_si256(b, high));
        even[h] = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
      }
      for (int m = 0; m < MR; ++m) {
        const __m256 a_odd = _mm256_set1_ps(bf16_to_float(A[m * g.lda + k + 1]));
        const __m256 a_even = _mm256_set1_ps(bf16_to_float(A[m * g.lda + k]));
        for (int h = 0; h < 2; ++h) {
          acc[m][h] = _mm256_add_ps(acc[m][h], _mm256_mul_ps(a_odd, odd[h]));
          acc[m][h] = _mm256_add_ps(acc[m][h], _mm256_mul_ps(a_even, even[h]));
        }
      }
    }
    for (int m = 0; m < MR; ++m) store_panel(g, m0 + m, col, acc[m][0], acc[m][1], store_half);
  }
};

void gemm_i8_avx2(const LowpGemmArgs& g) { lowp_gemm_drive<2, 1, 1>(OnePanelAtATime<I8MaddPanel>{}, g); }
void gemm_bf16_avx2(const LowpGemmArgs& g) { lowp_gemm_drive<4, 1, 1>(OnePanelAtATime<Bf16EmulatedPanel>{}, g); }

}  // namespace

LowpGemmFn lowp_avx2_i8() { return &gemm_i8_avx2; }
LowpGemmFn lowp_avx2_bf16() { return &gemm_bf16_avx2; }

}  // namespace lstmrt

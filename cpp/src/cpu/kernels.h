// The kernel table: one set of function pointers per ISA, chosen at run time.
//
// The table is filled with the generic (portable C++) kernels first; entries are then replaced by
// the AVX2 or AVX-512 versions when the CPU has them (see kernel_table.cc). Every kernel takes
// pointers and counts and handles the tail itself.
#pragma once

#include <cstdint>
#include <vector>

#include "lstmrt/activation.h"
#include "lstmrt/cpu_features.h"
#include "cpu/packed_matrix.h"
#include "lstmrt/weight_type.h"

namespace lstmrt {

// Per-row arguments of the fused LSTM pass. The gate blocks are in ONNX order i, o, f, c, each
// `hidden` floats; `xw` already holds X·Wᵀ + Wb + Rb for this row and timestep, `hr` holds
// H_{t-1}·Rᵀ. Writes C_t to c_out and H_t to h_out (c_out may alias c_prev).
struct LstmRowArgs {
  const float* xw;
  const float* hr;
  const float* c_prev;
  float* c_out;
  float* h_out;
  const float* peephole;  // [3*hidden] in order i, o, f, or nullptr.
  int64_t hidden;
  Activation f, g, h;
  float clip;  // <= 0 means no clip.
  bool input_forget;
};

// GRU, in two stages because with linear_before_reset = 0 the reset gate must be applied to
// H_{t-1} before the second recurrent product. Gate blocks in ONNX order z, r, h.
// Stage 1: z and r from xw and hr (the z, r blocks); stores z into `z_out`, and r⊙H_{t-1} into
// `rh_out` (linear_before_reset = 0) or r into `r_out` (= 1).
struct GruRowArgs {
  const float* xw;       // [3*hidden]: X·Wᵀ + biases for z, r, h (see rnn/layer_packing.cc for which).
  const float* hr_zr;    // [2*hidden]: H_{t-1}·R_zrᵀ
  const float* hr_h;     // [hidden]: (r⊙H_{t-1})·R_hᵀ (lbr=0) or H_{t-1}·R_hᵀ (lbr=1)
  const float* rb_h;     // [hidden]: Rbh for linear_before_reset = 1, else nullptr.
  const float* h_prev;
  float* z;              // [hidden] scratch: z between the stages
  float* r_or_rh;        // [hidden] scratch: r⊙H_{t-1} (lbr=0) or r (lbr=1)
  float* h_out;
  int64_t hidden;
  Activation f, g;
  float clip;
  bool linear_before_reset;
};

struct RnnRowArgs {
  const float* xw;
  const float* hr;
  float* h_out;
  int64_t hidden;
  Activation f;
  float clip;
};

// One low-precision GEMM: C[m][n] = init + the product of row m of A and column n of B, where B
// is a PackedMatrix of type BF16 or I8 and A has been converted to match (lowp_convert.h):
//   bf16: A holds bfloat16 rows; each k-pair adds the odd product, then the even one, to the
//         column's float32 sum (exactly what VDPBF16PS does), starting from 0; init is added last.
//   int8: A holds uint8 rows with a scale and zero point per row; the integer dot product s is
//         exact, and C = float(s - zero[m] * b_sum[n]) * (a_scale[m] * b_scale[n]) + init.
// init as in KernelTable::gemm. Every ISA path gives the same bits.
struct LowpGemmArgs {
  int64_t M = 0;
  int64_t N = 0;   // columns of C, from B's first column
  int64_t kp = 0;  // the padded reduction length, PackedMatrix::k_padded()
  const void* A = nullptr;  // uint8_t (int8) or uint16_t (bf16) rows
  int64_t lda = 0;          // elements from one row of A to the next
  const float* a_scale = nullptr;   // int8: per row of A
  const int32_t* a_zero = nullptr;  // int8: per row of A
  const void* B = nullptr;          // B's first panel
  int64_t panel_bytes = 0;
  const float* b_scale = nullptr;  // int8: per column, from B's first column
  const int32_t* b_sum = nullptr;  // int8: per column
  const float* bias = nullptr;
  bool accumulate = false;
  float* C = nullptr;
  int64_t ldc = 0;
};
using LowpGemmFn = void (*)(const LowpGemmArgs&);

// One activation row quantized to uint8: x ≈ scale * (q - zero), the row's range widened to
// include 0 so that 0 is exact; scale NaN for a row holding NaN or an infinity (its products
// then come out NaN, as the float32 product would).
struct RowQuantization {
  float scale;
  int32_t zero;
};

// One run of lanes in a panel of Conv's column operand (KernelTable::pack_window_panel): lanes
// [lane0, lane_end) read the input from `offset` on, one stride apart; empty when
// lane_end <= lane0.
struct WindowSegment {
  int64_t offset = 0;
  int32_t lane0 = 0;
  int32_t lane_end = 0;
};

struct FftPlan;  // cpu/fft_plan.h

struct KernelTable {
  Isa isa = Isa::Generic;

  // C[m][n] = init + sum_k A[m][k] * B[k][n] for m < M, n < N, where B points at the first
  // panel of a PackedMatrix (any panel: N then counts the columns from there on).
  // init is bias[n] when bias is set, else C's own value when accumulate, else 0.
  // Single-threaded; gemm.h splits the work across threads.
  void (*gemm)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
               const float* bias, bool accumulate, float* C, int64_t ldc) = nullptr;

  // gemm over B's rows read in place from an input: B[k][n] = base[offsets[k] + n], which it
  // reads for every n below N rounded up to whole panels (kPanelWidth), so the caller leaves that
  // much readable past each row's last column. init is C's own value when accumulate, else 0.
  // Each C[m][n] is summed in the order gemm sums it, so that the two give the same bits for the
  // same B. Conv's stride-1 windows: a kernel position's row is the input, shifted.
  void (*gemm_shifted)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* base,
                       const int64_t* offsets, bool accumulate, float* C, int64_t ldc) = nullptr;

  // C[n] = sum_k a[k] * B[k][n] for n < N, B packed as for gemm, summed as two chains, over
  // k < split and over k >= split, added at the end (for every split, the same bits whichever
  // chain runs first). The recurrent product of one row: a thread owning the hidden units past
  // `split` starts with them (upper_first), so that the other units' values, which another core
  // has just written, arrive while it works. One split for the whole layer keeps every thread
  // count's results bit for bit the same.
  void (*recurrent_gemv)(int64_t N, int64_t K, int64_t split, bool upper_first, const float* a, const float* B,
                         float* C) = nullptr;

  // C[m][n] = sum_k A[m][k] * B[k][n] for m < M, each row summed exactly as recurrent_gemv sums
  // one: the recurrent product of several rows, whose every row then has the bits it would have
  // alone (a stream stepped in a pool equals the stream stepped by itself).
  void (*recurrent_gemm)(int64_t M, int64_t N, int64_t K, int64_t split, const float* A, int64_t lda,
                         const float* B, float* C, int64_t ldc) = nullptr;

  // The first `bins` bins (at most plan.n / 2 + 1) of the DFT of `frames` (at most kPanelWidth)
  // real frames, frame j's `samples` (at most plan.n, zeros after them) read at x + j * step,
  // sample n times window[n]: bin k of frame j to re[k * ld_bin + j * ld_frame], its imaginary
  // part (negated with negate_im) to the same place in im. `work` holds
  // plan.rfft16_work_floats() floats. The frames go in the vector lanes (an STFT's frames, kPanelWidth FFTs at a time).
  // plan is FftPlan::make_real's.
  void (*rfft16)(const FftPlan& plan, const float* x, int64_t step, int64_t frames, int64_t samples,
                 const float* window, float* work, float* re, float* im, int64_t ld_bin, int64_t ld_frame,
                 int64_t bins, bool negate_im) = nullptr;

  // x[i] = act(x[i]) for i < n, in place.
  void (*activation)(const Activation& act, float* x, int64_t n) = nullptr;

  // x[i] = x[i] * sigmoid(x[i]) for i < n, in place, with the bits of activation's Sigmoid then a
  // product (a Conv's fused SiLU epilogue, in one pass).
  void (*silu)(float* x, int64_t n) = nullptr;

  // y[i] = log(x[i]) for i < n, within 1 ulp (x and y may be the same array); denormal x too,
  // also on threads that treat them as zero.
  void (*log)(const float* x, float* y, int64_t n) = nullptr;

  // d[i] += s[i] * w for i < n, one fused multiply-add per element where the ISA has FMA (the
  // generic path multiplies, then adds). d and s do not overlap. Conv's depthwise loop.
  void (*add_scaled)(float* d, const float* s, float w, int64_t n) = nullptr;

  // One kPanelWidth-wide panel of Conv's column operand: for each channel c < channels and
  // kernel position k < kernel_count, lane j of dst[(c * kernel_count + k) * kPanelWidth + j] is
  // x[c * plane + s.offset + (j - s.lane0) * step] when j lies in one of the two segments
  // s = seg[2k], seg[2k + 1], and 0 otherwise. Two segments because a panel of output positions
  // that wraps to the next output row reads two runs of the input; padding leaves lanes out.
  // Only the elements named are read.
  void (*pack_window_panel)(const float* x, int64_t channels, int64_t plane, int64_t kernel_count,
                            const WindowSegment* seg, int64_t step, float* dst) = nullptr;

  void (*lstm_row)(const LstmRowArgs& a) = nullptr;
  void (*gru_row_stage1)(const GruRowArgs& a) = nullptr;
  void (*gru_row_stage2)(const GruRowArgs& a) = nullptr;
  void (*rnn_row)(const RnnRowArgs& a) = nullptr;

  // An activation row converted for the low-precision GEMMs (lowp_convert.h has the portable
  // definitions, which every path reproduces exactly).
  RowQuantization (*quantize_u8)(const float* x, int64_t k, int64_t k_padded, uint8_t* q) = nullptr;
  void (*convert_bf16)(const float* x, int64_t k, int64_t k_padded, uint16_t* out) = nullptr;

  // Low-precision GEMMs (single-threaded), and the name of the variant each entry is.
  LowpGemmFn gemm_bf16 = nullptr;
  LowpGemmFn gemm_i8 = nullptr;
  const char* bf16_variant = "";
  const char* i8_variant = "";
};

// One compiled low-precision kernel, for the tests that run every variant the CPU can run.
struct LowpVariant {
  const char* name;   // "generic", "avx2", "avx2_vnni", "avx512", "avx512_vnni", "avx512_bf16", "amx"
  WeightType type;    // BF16 or I8
  bool supported;     // the CPU (and LSTMRT_DISABLE_ISA) allow it
  LowpGemmFn gemm;
};
const std::vector<LowpVariant>& lowp_variants();

// The table in use by this process: the best the CPU supports, or LSTMRT_ISA's choice.
const KernelTable& kernels();
// The table of one ISA (for tests and for forcing); throws UnsupportedError if it cannot run here.
const KernelTable& kernels_for(Isa isa);
// Makes `isa` the active path for the whole process; returns the previous one.
Isa set_active_isa(Isa isa);

// Filled by kernels_{generic,avx2,avx512}.cc, each compiled with its own flags.
void fill_generic_kernels(KernelTable& t);
void fill_avx2_kernels(KernelTable& t);
void fill_avx512_kernels(KernelTable& t);

}  // namespace lstmrt

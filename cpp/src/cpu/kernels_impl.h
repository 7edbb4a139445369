// The kernels, written once against a vector type `Vec` and compiled once per ISA.
//
// Each kernels_<isa>.cc defines LSTMRT_KERNEL_NS (a namespace of its own) and the Vec type in
// it, then includes this file. Everything here is internal to that namespace: code built with
// AVX-512 flags must never be linked in place of a portable function (a one-definition-rule
// merge would run AVX-512 instructions on CPUs without them), so nothing here is shared.
//
// Error bounds (measured against float64 in tests/test_isa_paths.py):
//   exp: relative error below 2e-7 for results in the normal range.
//   tanh: x P(x^2) / Q(x^2) (coefficients from tools/fit_tanh.py), relative error below 3e-7.
//   sigmoid: 1 / (1 + exp(-x)), relative error below 3e-7 (absolute below 1e-7).
// NaN in gives NaN out; +-inf give the limits; results below the smallest normal float may be
// flushed to zero.
#pragma once

#ifndef LSTMRT_KERNEL_NS
#error "define LSTMRT_KERNEL_NS and Vec before including kernels_impl.h"
#endif

#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/kernels_fft_impl.h"
#include "cpu/kernels_window_impl.h"
#include "cpu/tuning.h"

namespace lstmrt {
namespace LSTMRT_KERNEL_NS {
namespace {

using reg = Vec::reg;
constexpr int W = Vec::W;

// ---------------------------------------------------------------------------------------------
// Elementary functions.

inline reg vexp(reg x) {
  // exp(x) = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2)/2. Vec::scale_by_pow2 applies
  // 2^n over the whole clamped range [-104, 88.8] (n in [-150, 128]), so results round correctly
  // into the denormals and overflow to +inf exactly where exp does. max(lo, x) and min(hi, .)
  // keep a NaN x (second operand wins).
  const reg xc = Vec::min(Vec::set1(88.8f), Vec::max(Vec::set1(-104.0f), x));
  const reg nf = Vec::round_nearest(Vec::mul(xc, Vec::set1(1.44269504088896341f)));
  // ln 2 split in a part with few mantissa bits (n * hi is exact) and the rest.
  reg r = Vec::fnmadd(nf, Vec::set1(0.693145751953125f), xc);
  r = Vec::fnmadd(nf, Vec::set1(1.42860682030941723e-6f), r);
  // e^r by its Taylor series to degree 7: the first omitted term is below 5.3e-9 for |r| <= 0.347.
  reg p = Vec::set1(1.0f / 5040.0f);
  p = Vec::fmadd(p, r, Vec::set1(1.0f / 720.0f));
  p = Vec::fmadd(p, r, Vec::set1(1.0f / 120.0f));
  p = Vec::fmadd(p, r, Vec::set1(1.0f / 24.0f));
  p = Vec::fmadd(p, r, Vec::set1(1.0f / 6.0f));
  p = Vec::fmadd(p, r, Vec::set1(0.5f));
  p = Vec::fmadd(p, r, Vec::set1(1.0f));
  p = Vec::fmadd(p, r, Vec::set1(1.0f));
  return Vec::scale_by_pow2(p, nf);
}

inline reg vsigmoid(reg x) {
  // exp(-x) overflows to +inf for x < -88.7, where 1 / (1 + exp(-x)) is 0 (or below the smallest
  // normal float), the right limit.
  const reg one = Vec::set1(1.0f);
  return Vec::recip_ge1(Vec::add(one, vexp(Vec::sub(Vec::zero(), x))));
}

inline reg vtanh(reg x) {
  // x * P(x^2) / Q(x^2), fitted by tools/fit_tanh.py on [0, 9] for the least relative error
  // (5 ulp in float32). P(0) = Q(0) = 1: a tiny x (whose square underflows) and +-0 come out
  // unchanged. Beyond +-9 the input is clamped, where the fit gives exactly +-1, as tanh does in
  // float32; max(lo, x) and min(hi, .) keep a NaN x (second operand wins). One division and
  // nine multiply-adds, against two exponentials' worth for 1 - 2/(e^2x + 1).
  const reg xc = Vec::min(Vec::set1(9.0f), Vec::max(Vec::set1(-9.0f), x));
  const reg t = Vec::mul(xc, xc);
  reg p = Vec::set1(-1.1610096565e-11f);
  p = Vec::fmadd(p, t, Vec::set1(2.9793795875e-08f));
  p = Vec::fmadd(p, t, Vec::set1(2.7685928217e-05f));
  p = Vec::fmadd(p, t, Vec::set1(3.8527499419e-03f));
  p = Vec::fmadd(p, t, Vec::set1(1.3667608798e-01f));
  p = Vec::fmadd(p, t, Vec::set1(1.0f));
  reg q = Vec::set1(1.2646208916e-06f);
  q = Vec::fmadd(q, t, Vec::set1(3.9108801866e-04f));
  q = Vec::fmadd(q, t, Vec::set1(2.7189223096e-02f));
  q = Vec::fmadd(q, t, Vec::set1(4.7000941634e-01f));
  q = Vec::fmadd(q, t, Vec::set1(1.0f));
  return Vec::div(Vec::mul(xc, p), q);
}

// log(1 + u) for u in [0, 1], accurate relative to the result also for tiny u.
inline reg vlog1p_unit(reg u) {
  const reg one = Vec::set1(1.0f);
  const reg w = Vec::add(one, u);  // w in [1, 2]
  // Bring w into [sqrt(1/2), sqrt(2)): m = w / 2 and e = 1 above sqrt(2).
  const auto above = Vec::gt(w, Vec::set1(1.41421356f));
  const reg m = Vec::select(above, Vec::mul(w, Vec::set1(0.5f)), w);
  const reg e = Vec::select(above, one, Vec::zero());
  // log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172: the series to s^9 errs < 1e-9.
  const reg s = Vec::div(Vec::sub(m, one), Vec::add(m, one));
  const reg s2 = Vec::mul(s, s);
  reg q = Vec::set1(2.0f / 9.0f);
  q = Vec::fmadd(q, s2, Vec::set1(2.0f / 7.0f));
  q = Vec::fmadd(q, s2, Vec::set1(2.0f / 5.0f));
  q = Vec::fmadd(q, s2, Vec::set1(2.0f / 3.0f));
  q = Vec::fmadd(q, s2, Vec::set1(2.0f));
  const reg log_w = Vec::fmadd(e, Vec::set1(0.693147180559945f), Vec::mul(q, s));
  // log(w) * u / (w - 1) corrects the rounding of 1 + u (a classic trick); when w rounds to 1
  // the answer is u itself.
  const reg wm1 = Vec::sub(w, one);
  const reg corrected = Vec::div(Vec::mul(log_w, u), Vec::select(Vec::gt(wm1, Vec::zero()), wm1, one));
  return Vec::select(Vec::gt(wm1, Vec::zero()), corrected, u);
}

// Natural log, within 1 ulp (tests/test_isa_paths.py). x = m * 2^e, m brought into
// [sqrt(1/2), sqrt(2)); log(m) by a polynomial in m - 1; e * ln 2 in two parts so that e * hi
// is exact. log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN. The special values
// are told apart by the split's integer work, never by comparing x itself, so that a denormal x
// is a positive number also where the thread treats denormals as zero (DAZ).
inline reg vlog(reg x) {
  const reg one = Vec::set1(1.0f);
  reg m0;
  const reg e0 = Vec::split_exponent(x, m0);
  const auto above = Vec::gt(m0, Vec::set1(1.41421356f));
  const reg m = Vec::select(above, Vec::mul(m0, Vec::set1(0.5f)), m0);
  const reg e = Vec::select(above, Vec::add(e0, one), e0);
  // log(1 + f) = f - f^2 / 2 + f^3 P(f), f = m - 1 exact, |f| < 0.415 (Cephes' logf polynomial).
  const reg f = Vec::sub(m, one);
  const reg z = Vec::mul(f, f);
  reg p = Vec::set1(7.0376836292e-2f);
  p = Vec::fmadd(p, f, Vec::set1(-1.1514610310e-1f));
  p = Vec::fmadd(p, f, Vec::set1(1.1676998740e-1f));
  p = Vec::fmadd(p, f, Vec::set1(-1.2420140846e-1f));
  p = Vec::fmadd(p, f, Vec::set1(1.4249322787e-1f));
  p = Vec::fmadd(p, f, Vec::set1(-1.6668057665e-1f));
  p = Vec::fmadd(p, f, Vec::set1(2.0000714765e-1f));
  p = Vec::fmadd(p, f, Vec::set1(-2.4999993993e-1f));
  p = Vec::fmadd(p, f, Vec::set1(3.3333331174e-1f));
  reg tail = Vec::mul(Vec::mul(f, z), p);
  tail = Vec::fmadd(Vec::set1(-0.5f), z, tail);
  tail = Vec::fmadd(e, Vec::set1(1.42860682030941723e-6f), tail);
  reg r = Vec::fmadd(e, Vec::set1(0.693145751953125f), Vec::add(f, tail));
  // The special values by what the split gives them (Vec::split_exponent).
  const reg neg_inf = Vec::set1(-__builtin_inff());
  const auto exactly_one = Vec::lt(m0, Vec::set1(1.00000012f));
  r = Vec::select(Vec::ge(e0, Vec::set1(128.5f)), Vec::set1(__builtin_nanf("")), r);
  r = Vec::select(Vec::lt(e0, Vec::set1(-275.0f)), neg_inf, r);
  r = Vec::select(exactly_one, Vec::select(Vec::lt(e0, Vec::set1(129.5f)), Vec::select(Vec::ge(e0, Vec::set1(128.5f)),
                                                                                       neg_inf, r), r), r);
  return Vec::select(Vec::gt(e0, Vec::set1(127.5f)), Vec::select(Vec::lt(e0, Vec::set1(128.5f)), x, r), r);
}

inline reg vsoftplus(reg x) {
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, accurate for very negative x.
  const reg t = vexp(Vec::sub(Vec::zero(), Vec::abs(x)));
  return Vec::add(Vec::max(Vec::zero(), x), vlog1p_unit(t));
}

// One ONNX activation. The switch is on a value fixed for the whole call, so it predicts well.
inline reg apply(const Activation& a, reg x) {
  switch (a.kind) {
    case ActKind::Sigmoid:
      return vsigmoid(x);
    case ActKind::Tanh:
      return vtanh(x);
    case ActKind::Relu:
      return Vec::max(Vec::zero(), x);
    case ActKind::Affine:
      return Vec::fmadd(Vec::set1(a.alpha), x, Vec::set1(a.beta));
    case ActKind::LeakyRelu:
      return Vec::select(Vec::ge(x, Vec::zero()), x, Vec::mul(Vec::set1(a.alpha), x));
    case ActKind::ThresholdedRelu:
      // A NaN input passes through as NaN.
      return Vec::select(Vec::gt_or_nan(x, Vec::set1(a.alpha)), x, Vec::zero());
    case ActKind::ScaledTanh:
      return Vec::mul(Vec::set1(a.alpha), vtanh(Vec::mul(Vec::set1(a.beta), x)));
    case ActKind::HardSigmoid:
      return Vec::min(Vec::set1(1.0f),
                      Vec::max(Vec::zero(), Vec::fmadd(Vec::set1(a.alpha), x, Vec::set1(a.beta))));
    case ActKind::Elu:
      return Vec::select(Vec::ge(x, Vec::zero()), x,
                         Vec::mul(Vec::set1(a.alpha), Vec::sub(vexp(x), Vec::set1(1.0f))));
    case ActKind::Softsign: {
      const reg ax = Vec::abs(x);
      const reg q = Vec::div(x, Vec::add(Vec::set1(1.0f), ax));
      // inf / inf would be NaN; the limit is +-1.
      return Vec::select(Vec::gt(ax, Vec::set1(3.0e38f)), Vec::copysign(Vec::set1(1.0f), x), q);
    }
    case ActKind::Softplus:
      return vsoftplus(x);
  }
  return x;
}

// Bounds an activation's input to [-clip, clip]; clip <= 0 means no clipping. NaN passes.
inline reg clamp(reg x, float clip) {
  if (clip <= 0.0f) return x;
  return Vec::min(Vec::set1(clip), Vec::max(Vec::set1(-clip), x));
}

// Loads and stores of the j-th chunk of a row: a full vector, or the masked remainder.
template <bool Tail>
inline reg ld(const float* p, int64_t n) {
  if constexpr (Tail) return Vec::load_partial(p, n);
  else return Vec::load(p);
}
template <bool Tail>
inline void st(float* p, reg v, int64_t n) {
  if constexpr (Tail) Vec::store_partial(p, v, n);
  else Vec::store(p, v);
}

// Runs body(tail, j, n) over a row of `count` floats: full vectors, then one masked remainder.
// `tail` is std::false_type or std::true_type, so each body is compiled twice, once without masks.
template <class Body>
inline void for_each_chunk(int64_t count, Body&& body) {
  int64_t j = 0;
  for (; j + W <= count; j += W) body(std::false_type{}, j, int64_t{W});
  if (j < count) body(std::true_type{}, j, count - j);
}
#define LSTMRT_TAIL constexpr bool Tail = decltype(tail)::value

// ---------------------------------------------------------------------------------------------
// Activations over an array (the test hook and any caller that wants one function).

void activation_kernel(const Activation& act, float* x, int64_t n) {
  for_each_chunk(n, [&](auto tail, int64_t j, int64_t c) {
    LSTMRT_TAIL;
    st<Tail>(x + j, apply(act, ld<Tail>(x + j, c)), c); });
}

void silu_kernel(float* x, int64_t n) {
  for_each_chunk(n, [&](auto tail, int64_t j, int64_t c) {
    LSTMRT_TAIL;
    const reg v = ld<Tail>(x + j, c);
    st<Tail>(x + j, Vec::mul(v, vsigmoid(v)), c); });
}

// y[i] = log(x[i]) for i < n (x and y may be the same array).
void log_kernel(const float* x, float* y, int64_t n) {
  for_each_chunk(n, [&](auto tail, int64_t j, int64_t c) {
    LSTMRT_TAIL;
    st<Tail>(y + j, vlog(ld<Tail>(x + j, c)), c); });
}

void add_scaled_kernel(float* d, const float* s, float w, int64_t n) {
  const reg wv = Vec::set1(w);
  for_each_chunk(n, [&](auto tail, int64_t j, int64_t c) {
    LSTMRT_TAIL;
    st<Tail>(d + j, Vec::fmadd(ld<Tail>(s + j, c), wv, ld<Tail>(d + j, c)), c); });
}

// ---------------------------------------------------------------------------------------------
// Fused per-row passes. ONNX gate order: LSTM i, o, f, c; GRU z, r, h.

void lstm_row_kernel(const LstmRowArgs& a) {
  const int64_t H = a.hidden;
  const float clip = a.clip;
  for_each_chunk(H, [&](auto tail, int64_t j, int64_t n) {
    LSTMRT_TAIL;
    const reg c_prev = ld<Tail>(a.c_prev + j, n);
    reg gi = Vec::add(ld<Tail>(a.xw + j, n), ld<Tail>(a.hr + j, n));
    reg go = Vec::add(ld<Tail>(a.xw + H + j, n), ld<Tail>(a.hr + H + j, n));
    reg gf = Vec::add(ld<Tail>(a.xw + 2 * H + j, n), ld<Tail>(a.hr + 2 * H + j, n));
    reg gc = Vec::add(ld<Tail>(a.xw + 3 * H + j, n), ld<Tail>(a.hr + 3 * H + j, n));
    if (a.peephole) {
      // Peepholes are stored i, o, f: i and f look at C_{t-1}, o at C_t (below).
      gi = Vec::fmadd(ld<Tail>(a.peephole + j, n), c_prev, gi);
      gf = Vec::fmadd(ld<Tail>(a.peephole + 2 * H + j, n), c_prev, gf);
    }
    const reg i = apply(a.f, clamp(gi, clip));
    const reg f = a.input_forget ? Vec::sub(Vec::set1(1.0f), i) : apply(a.f, clamp(gf, clip));
    const reg g = apply(a.g, clamp(gc, clip));
    const reg c = Vec::fmadd(f, c_prev, Vec::mul(i, g));
    if (a.peephole) go = Vec::fmadd(ld<Tail>(a.peephole + H + j, n), c, go);
    const reg o = apply(a.f, clamp(go, clip));
    // clip bounds the gates' pre-activations only; h() sees C_t unclipped, as in ONNX Runtime
    // (the ONNX reference evaluator ignores clip altogether).
    const reg h = Vec::mul(o, apply(a.h, c));
    st<Tail>(a.c_out + j, c, n);
    st<Tail>(a.h_out + j, h, n);
  });
}

void gru_row_stage1_kernel(const GruRowArgs& a) {
  const int64_t H = a.hidden;
  for_each_chunk(H, [&](auto tail, int64_t j, int64_t n) {
    LSTMRT_TAIL;
    const reg z = apply(a.f, clamp(Vec::add(ld<Tail>(a.xw + j, n), ld<Tail>(a.hr_zr + j, n)), a.clip));
    const reg r =
        apply(a.f, clamp(Vec::add(ld<Tail>(a.xw + H + j, n), ld<Tail>(a.hr_zr + H + j, n)), a.clip));
    st<Tail>(a.z + j, z, n);
    st<Tail>(a.r_or_rh + j, a.linear_before_reset ? r : Vec::mul(r, ld<Tail>(a.h_prev + j, n)), n);
  });
}

void gru_row_stage2_kernel(const GruRowArgs& a) {
  const int64_t H = a.hidden;
  for_each_chunk(H, [&](auto tail, int64_t j, int64_t n) {
    LSTMRT_TAIL;
    reg pre = ld<Tail>(a.xw + 2 * H + j, n);
    if (a.linear_before_reset) {
      // h~ = g(Xh·Wᵀ + Wbh + r ⊙ (H_{t-1}·Rhᵀ + Rbh))
      const reg rec = Vec::add(ld<Tail>(a.hr_h + j, n), ld<Tail>(a.rb_h + j, n));
      pre = Vec::fmadd(ld<Tail>(a.r_or_rh + j, n), rec, pre);
    } else {
      // h~ = g(Xh·Wᵀ + (r ⊙ H_{t-1})·Rhᵀ + Rbh + Wbh); both biases are folded into xw.
      pre = Vec::add(pre, ld<Tail>(a.hr_h + j, n));
    }
    const reg hh = apply(a.g, clamp(pre, a.clip));
    const reg z = ld<Tail>(a.z + j, n);
    const reg hp = ld<Tail>(a.h_prev + j, n);
    // H_t = (1 - z) ⊙ h~ + z ⊙ H_{t-1} = h~ + z ⊙ (H_{t-1} - h~)
    st<Tail>(a.h_out + j, Vec::fmadd(z, Vec::sub(hp, hh), hh), n);
  });
}

void rnn_row_kernel(const RnnRowArgs& a) {
  for_each_chunk(a.hidden, [&](auto tail, int64_t j, int64_t n) {
    LSTMRT_TAIL;
    const reg pre = Vec::add(ld<Tail>(a.xw + j, n), ld<Tail>(a.hr + j, n));
    st<Tail>(a.h_out + j, apply(a.f, clamp(pre, a.clip)), n);
  });
}

// ---------------------------------------------------------------------------------------------
// GEMM: C[M][N] = init + A[M][K] · B[K][N], B packed in panels of kPanelWidth columns.

constexpr int kVecPerPanel = static_cast<int>(kPanelWidth) / W;

// How far ahead (in k) a GEMM whose weights stream from memory prefetches them: 48 rows of a
// panel, 3 KiB, enough cycles of FMAs ahead to cover memory's latency also for a tall tile.
// bench/TUNING.md ("Tall tiles") has the figures; test_bench_real_models.py's ddddocr re-derives it.
constexpr int64_t kPrefetchAheadK = 48;
// Floats in one 64-byte cache line: the step of a prefetch over a row of C.
constexpr int64_t kFloatsPerLine = 16;

// Where a tile reads row k of its panels of B. Packed: a PackedMatrix's panels, panel_stride
// floats apart, each row kPanelWidth floats. Shifted: rows of an input read in place, row k at
// base + offsets[k], panel p's columns kPanelWidth * p on (KernelTable::gemm_shifted).
struct PackedB {
  const float* B;
  int64_t panel_stride;
  const float* row(int p, int64_t k) const { return B + p * panel_stride + k * kPanelWidth; }
  PackedB from_panel(int64_t p) const { return {B + p * panel_stride, panel_stride}; }
};
struct ShiftedB {
  const float* base;
  const int64_t* offsets;
  const float* row(int p, int64_t k) const { return base + offsets[k] + p * kPanelWidth; }
  ShiftedB from_panel(int64_t p) const { return {base + p * kPanelWidth, offsets}; }
};

// acc[m] += A[m][k] · B[k] over k0 <= k < k1, for MR rows by NP panels held in registers; A[m][k]
// at A[m * lda + k], or with kKMajorA (rows packed k-major, one pointer for all of them) at
// A[k * lda + m]. With kPrefetchB (packed B only), each panel is also prefetched kPrefetchAheadK
// rows ahead (past a panel's end that touches the next panel or nothing: a prefetch never faults).
template <int MR, int NP, bool kPrefetchB = false, bool kKMajorA = false, class Src>
inline void accumulate_k(int64_t k0, int64_t k1, const float* A, int64_t lda, const Src& src,
                         reg (&acc)[MR][NP * kVecPerPanel]) {
  constexpr int NV = NP * kVecPerPanel;
  for (int64_t k = k0; k < k1; ++k) {
    reg b[NV];
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < kVecPerPanel; ++v) b[p * kVecPerPanel + v] = Vec::load(src.row(p, k) + v * W);
    if constexpr (kPrefetchB)
      for (int p = 0; p < NP; ++p) __builtin_prefetch(src.row(p, k + kPrefetchAheadK), 0, 3);
    // Unrolled whole, so that the accumulators stay in registers also for tall tiles, past GCC's
    // own unrolling limits.
#pragma GCC unroll 32
    for (int m = 0; m < MR; ++m) {
      const reg a = Vec::set1(kKMajorA ? A[k * lda + m] : A[m * lda + k]);
      for (int v = 0; v < NV; ++v) acc[m][v] = Vec::fmadd(a, b[v], acc[m][v]);
    }
  }
}

// MR rows by NP panels of C, accumulated in registers over the whole K. With `prefetch_c`, the
// tile's lines of C are prefetched for writing first, so that fetching them (C is cold) overlaps
// the K loop instead of holding up the stores at its end.
template <int MR, int NP, bool kPrefetchB = false, class Src = PackedB, bool kKMajorA = false>
inline void micro_tile(int64_t K, const float* A, int64_t lda, const Src& src, const float* bias, bool accumulate,
                       float* C, int64_t ldc, int64_t cols, bool prefetch_c = false) {
  constexpr int NV = NP * kVecPerPanel;
  reg acc[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) acc[m][v] = Vec::zero();
  if (prefetch_c)
    for (int m = 0; m < MR; ++m)
      for (int64_t col = 0; col < NV * W; col += kFloatsPerLine) __builtin_prefetch(C + m * ldc + col, 1, 3);
  accumulate_k<MR, NP, kPrefetchB, kKMajorA>(0, K, A, lda, src, acc);
  // Store the valid columns: whole vectors, then a masked one; vectors past `cols` are skipped.
  for (int v = 0; v < NV; ++v) {
    const int64_t col = static_cast<int64_t>(v) * W;
    const int64_t valid = cols - col;
    if (valid <= 0) break;
    const bool full = valid >= W;
    for (int m = 0; m < MR; ++m) {
      float* c = C + m * ldc + col;
      reg init = Vec::zero();
      if (bias) init = full ? Vec::load(bias + col) : Vec::load_partial(bias + col, valid);
      else if (accumulate) init = full ? Vec::load(c) : Vec::load_partial(c, valid);
      const reg out = Vec::add(acc[m][v], init);
      if (full) Vec::store(c, out);
      else Vec::store_partial(c, out, valid);
    }
  }
}

// Row count fixed at compile time so that the accumulators stay in registers; the last partial
// row block dispatches to the instantiation of its height.
template <int NP, int MR, bool kPrefetchB, class Src, bool kKMajorA = false>
inline void rows_tile(int64_t rows, int64_t K, const float* A, int64_t lda, const Src& src, const float* bias,
                      bool acc, float* C, int64_t ldc, int64_t cols, bool prefetch_c) {
  if constexpr (MR > 0) {
    if (rows == MR)
      return micro_tile<MR, NP, kPrefetchB, Src, kKMajorA>(K, A, lda, src, bias, acc, C, ldc, cols, prefetch_c);
    return rows_tile<NP, MR - 1, kPrefetchB, Src, kKMajorA>(rows, K, A, lda, src, bias, acc, C, ldc, cols, prefetch_c);
  }
}

// When to prefetch C and B: kColdOutputBytes and kStreamedWeightBytes (cpu/tuning.h).

// Rows in blocks of kGemmRowBlockFloats of A, which stay in L2 while every panel of B streams past.
template <int MR, int NP, bool kPrefetchB, class Src>
void gemm_rows(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const Src& src, const float* bias,
               bool accumulate, float* C, int64_t ldc, bool prefetch_c) {
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  int64_t block = (kGemmRowBlockFloats / (K > 0 ? K : 1)) / MR * MR;
  if (block < MR) block = MR;
  for (int64_t m0 = 0; m0 < M; m0 += block) {
    const int64_t m1 = M - m0 < block ? M : m0 + block;
    int64_t p = 0;
    for (; p < panels; p += NP) {
      const bool whole = p + NP <= panels;
      const int64_t col = p * kPanelWidth;
      const float* bs = bias ? bias + col : nullptr;
      for (int64_t m = m0; m < m1; m += MR) {
        const int64_t rows = m1 - m < MR ? m1 - m : MR;
        const float* Am = A + m * lda;
        float* Cm = C + m * ldc + col;
        if (whole) {
          rows_tile<NP, MR, kPrefetchB>(rows, K, Am, lda, src.from_panel(p), bs, accumulate, Cm, ldc, N - col,
                                        prefetch_c);
        } else {
          // Fewer than NP panels left: one panel at a time.
          for (int64_t q = p; q < panels; ++q) {
            const int64_t off = (q - p) * kPanelWidth;
            rows_tile<1, MR, kPrefetchB>(rows, K, Am, lda, src.from_panel(q), bs ? bs + off : nullptr, accumulate,
                                         Cm + off, ldc, N - col - off, prefetch_c);
          }
        }
      }
    }
  }
}

template <int MR, int NP, int NP_GEMV, int TALL>
void gemm_kernel_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                      const float* bias, bool accumulate, float* C, int64_t ldc) {
  const PackedB packed{B, K * kPanelWidth};
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  if (M == 1) {
    // Matrix-vector: one row, several panels at once for independent accumulators. No software
    // prefetch: the hardware already streams the weights at the rate of the cache they sit in,
    // and prefetching slowed it (bench/README.md, time_gemm 1xNxK).
    int64_t p = 0;
    for (; p + NP_GEMV <= panels; p += NP_GEMV) {
      const int64_t col = p * kPanelWidth;
      micro_tile<1, NP_GEMV>(K, A, lda, packed.from_panel(p), bias ? bias + col : nullptr, accumulate, C + col, ldc,
                             N - col);
    }
    for (; p < panels; ++p) {
      const int64_t col = p * kPanelWidth;
      micro_tile<1, 1>(K, A, lda, packed.from_panel(p), bias ? bias + col : nullptr, accumulate, C + col, ldc, N - col);
    }
    return;
  }
  const bool prefetch_c = M * N * static_cast<int64_t>(sizeof(float)) > kColdOutputBytes;
  const bool streamed = panels * packed.panel_stride * static_cast<int64_t>(sizeof(float)) >= kStreamedWeightBytes;
  if constexpr (TALL > MR) {
    // Rows few enough for one tall tile: each panel of the streamed weights is read once, by all
    // of them, rather than once per tile of MR rows (the later reads from L2 stall too). The
    // rows are packed k-major first, so that the tile reads them through one pointer.
    if (streamed && M <= TALL) {
      thread_local std::vector<float> rows_k_major;
      rows_k_major.resize(static_cast<size_t>(M * K));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) rows_k_major[static_cast<size_t>(k * M + m)] = A[m * lda + k];
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t col = p * kPanelWidth;
        rows_tile<1, TALL, true, PackedB, true>(M, K, rows_k_major.data(), M, packed.from_panel(p),
                                                bias ? bias + col : nullptr, accumulate, C + col, ldc, N - col,
                                                prefetch_c);
      }
      return;
    }
  }
  if (streamed)
    gemm_rows<MR, NP, true>(M, N, K, A, lda, packed, bias, accumulate, C, ldc, prefetch_c);
  else
    gemm_rows<MR, NP, false>(M, N, K, A, lda, packed, bias, accumulate, C, ldc, prefetch_c);
}

// See KernelTable::gemm_shifted: gemm's tiles over rows of an input read in place.
template <int MR, int NP>
void gemm_shifted_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* base,
                       const int64_t* offsets, bool accumulate, float* C, int64_t ldc) {
  const bool prefetch_c = M * N * static_cast<int64_t>(sizeof(float)) > kColdOutputBytes;
  gemm_rows<MR, NP, false>(M, N, K, A, lda, ShiftedB{base, offsets}, nullptr, accumulate, C, ldc, prefetch_c);
}

// One row times B, summed in two chains, k < split and k >= split, added at the end: see
// KernelTable::recurrent_gemv. The chain holding the caller's own part of `a` runs first, while
// the lines of the other part (just written by another core) are fetched.
template <int NP>
inline void two_chain_tile(int64_t K, int64_t split, bool upper_first, bool prefetch, const float* a,
                           const float* B, int64_t panel_stride, float* C, int64_t cols) {
  constexpr int NV = NP * kVecPerPanel;
  reg lo[1][NV], hi[1][NV];
  for (int v = 0; v < NV; ++v) {
    lo[0][v] = Vec::zero();
    hi[0][v] = Vec::zero();
  }
  const int64_t other0 = upper_first ? 0 : split, other1 = upper_first ? split : K;
  if (prefetch)
    for (int64_t k = other0; k < other1; k += 16) __builtin_prefetch(a + k, 0, 3);
  if (upper_first) {
    accumulate_k<1, NP>(split, K, a, 0, PackedB{B, panel_stride}, hi);
    accumulate_k<1, NP>(0, split, a, 0, PackedB{B, panel_stride}, lo);
  } else {
    accumulate_k<1, NP>(0, split, a, 0, PackedB{B, panel_stride}, lo);
    accumulate_k<1, NP>(split, K, a, 0, PackedB{B, panel_stride}, hi);
  }
  for (int v = 0; v < NV; ++v) {
    const int64_t col = static_cast<int64_t>(v) * W;
    const int64_t valid = cols - col;
    if (valid <= 0) break;
    const reg out = Vec::add(lo[0][v], hi[0][v]);
    if (valid >= W) Vec::store(C + col, out);
    else Vec::store_partial(C + col, out, valid);
  }
}

template <int NP>
void recurrent_gemv_impl(int64_t N, int64_t K, int64_t split, bool upper_first, const float* a, const float* B,
                         float* C) {
  if (split > K) split = K;
  const int64_t ps = K * kPanelWidth;
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  int64_t p = 0;
  for (; p + NP <= panels; p += NP)
    two_chain_tile<NP>(K, split, upper_first, p == 0, a, B + p * ps, ps, C + p * kPanelWidth, N - p * kPanelWidth);
  for (; p < panels; ++p)
    two_chain_tile<1>(K, split, upper_first, p == 0, a, B + p * ps, ps, C + p * kPanelWidth, N - p * kPanelWidth);
}

// MR rows by NP panels of C = A·B summed as recurrent_gemv sums one row: the chain over k < split
// is stored, then the chain over k >= split is added to it (two passes, as both chains' registers
// would not fit at once).
template <int MR, int NP>
inline void two_chain_rows(int64_t K, int64_t split, const float* A, int64_t lda, const float* B, int64_t ps,
                           float* C, int64_t ldc, int64_t cols, bool prefetch_c) {
  constexpr int NV = NP * kVecPerPanel;
  if (prefetch_c)  // as in micro_tile: a cold C arrives while the first chain runs
    for (int m = 0; m < MR; ++m)
      for (int64_t col = 0; col < NV * W; col += kFloatsPerLine) __builtin_prefetch(C + m * ldc + col, 1, 3);
  for (int half = 0; half < 2; ++half) {
    reg acc[MR][NV];
    for (int m = 0; m < MR; ++m)
      for (int v = 0; v < NV; ++v) acc[m][v] = Vec::zero();
    accumulate_k<MR, NP>(half ? split : 0, half ? K : split, A, lda, PackedB{B, ps}, acc);
    for (int v = 0; v < NV; ++v) {
      const int64_t col = static_cast<int64_t>(v) * W;
      const int64_t valid = cols - col;
      if (valid <= 0) break;
      const bool full = valid >= W;
      for (int m = 0; m < MR; ++m) {
        float* c = C + m * ldc + col;
        reg out = acc[m][v];
        if (half) out = Vec::add(full ? Vec::load(c) : Vec::load_partial(c, valid), out);
        if (full) Vec::store(c, out);
        else Vec::store_partial(c, out, valid);
      }
    }
  }
}

template <int MR, int NP>
inline void two_chain_block(int64_t rows, int64_t K, int64_t split, const float* A, int64_t lda, const float* B,
                            int64_t ps, float* C, int64_t ldc, int64_t cols, bool prefetch_c) {
  if constexpr (MR > 1) {
    if (rows < MR) return two_chain_block<MR - 1, NP>(rows, K, split, A, lda, B, ps, C, ldc, cols, prefetch_c);
  }
  two_chain_rows<MR, NP>(K, split, A, lda, B, ps, C, ldc, cols, prefetch_c);
}

// See KernelTable::recurrent_gemm. Rows in blocks that stay in L2 while the panels pass, as in
// gemm_rows.
template <int MR, int NP>
void recurrent_gemm_impl(int64_t M, int64_t N, int64_t K, int64_t split, const float* A, int64_t lda,
                         const float* B, float* C, int64_t ldc) {
  if (split > K) split = K;
  const int64_t ps = K * kPanelWidth;
  const int64_t panels = (N + kPanelWidth - 1) / kPanelWidth;
  const bool prefetch_c = M * N * static_cast<int64_t>(sizeof(float)) > kColdOutputBytes;
  int64_t block = (kGemmRowBlockFloats / (K > 0 ? K : 1)) / MR * MR;
  if (block < MR) block = MR;
  for (int64_t m0 = 0; m0 < M; m0 += block) {
    const int64_t m1 = M - m0 < block ? M : m0 + block;
    for (int64_t p = 0; p < panels;) {
      const int64_t col = p * kPanelWidth;
      const bool whole = p + NP <= panels;
      for (int64_t m = m0; m < m1; m += MR) {
        const int64_t rows = m1 - m < MR ? m1 - m : MR;
        if (whole)
          two_chain_block<MR, NP>(rows, K, split, A + m * lda, lda, B + p * ps, ps, C + m * ldc + col, ldc, N - col,
                                  prefetch_c);
        else
          two_chain_block<MR, 1>(rows, K, split, A + m * lda, lda, B + p * ps, ps, C + m * ldc + col, ldc, N - col,
                                 prefetch_c);
      }
      p += whole ? NP : 1;
    }
  }
}

void fill_table(KernelTable& t, Isa isa) {
  t.isa = isa;
  t.gemm = &gemm_kernel_impl<kGemmRows, kGemmPanels, kGemvPanels, kTallRows>;
  t.gemm_shifted = &gemm_shifted_impl<kGemmRows, kGemmPanels>;
  t.recurrent_gemv = &recurrent_gemv_impl<kGemvPanels>;
  t.recurrent_gemm = &recurrent_gemm_impl<kGemmRows, kGemmPanels>;
  t.activation = &activation_kernel;
  t.silu = &silu_kernel;
  t.log = &log_kernel;
  t.add_scaled = &add_scaled_kernel;
  t.pack_window_panel = &pack_window_panel_kernel;
  t.rfft16 = &rfft16_kernel;
  t.lstm_row = &lstm_row_kernel;
  t.gru_row_stage1 = &gru_row_stage1_kernel;
  t.gru_row_stage2 = &gru_row_stage2_kernel;
  t.rnn_row = &rnn_row_kernel;
}

}  // namespace
}  // namespace LSTMRT_KERNEL_NS
}  // namespace lstmrt

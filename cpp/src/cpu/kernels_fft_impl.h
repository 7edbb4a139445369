// The FFT of windowed frames (KernelTable::rfft16), written once against `Vec` and compiled once
// per ISA with the other kernels (kernels_impl.h includes this file; see there for how). The
// frames go in the lanes: every complex value below is kPanelWidth frames' values at one point,
// so each butterfly works on kPanelWidth transforms at once.
#pragma once

#ifndef LSTMRT_KERNEL_NS
#error "include kernels_impl.h, not this file"
#endif

#include <cstdint>
#include <cstring>

#include "cpu/fft_plan.h"
#include "cpu/kernels.h"

namespace lstmrt {
namespace LSTMRT_KERNEL_NS {
namespace {

// A complex value of Vec::W lanes.
struct Cx {
  typename Vec::reg re, im;
};

inline Cx cx_add(Cx a, Cx b) { return {Vec::add(a.re, b.re), Vec::add(a.im, b.im)}; }
inline Cx cx_sub(Cx a, Cx b) { return {Vec::sub(a.re, b.re), Vec::sub(a.im, b.im)}; }
// a times -i.
inline Cx cx_neg_i(Cx a) { return {a.im, Vec::sub(Vec::zero(), a.re)}; }
// a times (wr + i wi).
inline Cx cx_mul(Cx a, float wr, float wi) {
  const typename Vec::reg r = Vec::set1(wr), i = Vec::set1(wi);
  return {Vec::fnmadd(a.im, i, Vec::mul(a.re, r)), Vec::fmadd(a.re, i, Vec::mul(a.im, r))};
}

// b[u] = sum_t a[t] exp(-2 pi i t u / R).
template <int R>
inline void butterfly(const Cx (&a)[R], Cx (&b)[R], const FftStage& st) {
  if constexpr (R == 2) {
    b[0] = cx_add(a[0], a[1]);
    b[1] = cx_sub(a[0], a[1]);
  } else if constexpr (R == 4) {
    const Cx s02 = cx_add(a[0], a[2]), d02 = cx_sub(a[0], a[2]);
    const Cx s13 = cx_add(a[1], a[3]), d13 = cx_neg_i(cx_sub(a[1], a[3]));
    b[0] = cx_add(s02, s13);
    b[1] = cx_add(d02, d13);
    b[2] = cx_sub(s02, s13);
    b[3] = cx_sub(d02, d13);
  } else {
    for (int u = 0; u < R; ++u) {
      b[u] = a[0];
      for (int t = 1; t < R; ++t) {
        const Cx p = cx_mul(a[t], st.dft_re[t * R + u], st.dft_im[t * R + u]);
        b[u] = cx_add(b[u], p);
      }
    }
  }
}

// One Stockham stage over `s` interleaved sequences of st.length points: from (sr, si) to
// (dr, di), each point kPanelWidth floats.
template <int R>
void fft_stage(const FftStage& st, int64_t s, const float* sr, const float* si, float* dr, float* di) {
  constexpr int64_t P = kPanelWidth;
  const int64_t m = st.length / R;
  for (int64_t p = 0; p < m; ++p) {
    float twr[R], twi[R];
    for (int u = 1; u < R; ++u) {
      twr[u] = st.twiddle_re[static_cast<size_t>((u - 1) * m + p)];
      twi[u] = st.twiddle_im[static_cast<size_t>((u - 1) * m + p)];
    }
    for (int64_t q = 0; q < s; ++q)
      for (int64_t lane = 0; lane < P; lane += Vec::W) {
        Cx a[R], b[R];
        for (int t = 0; t < R; ++t) {
          const int64_t i = (q + s * (p + t * m)) * P + lane;
          a[t] = {Vec::load(sr + i), Vec::load(si + i)};
        }
        butterfly<R>(a, b, st);
        for (int u = 0; u < R; ++u) {
          const Cx out = u == 0 ? b[0] : cx_mul(b[u], twr[u], twi[u]);
          const int64_t i = (q + s * (R * p + u)) * P + lane;
          Vec::store(dr + i, out.re);
          Vec::store(di + i, out.im);
        }
      }
  }
}

// See KernelTable::rfft16.
void rfft16_kernel(const FftPlan& plan, const float* x, int64_t step, int64_t frames, const float* window,
                   float* work, float* re, float* im, int64_t ldo, int64_t bins, bool negate_im) {
  constexpr int64_t P = kPanelWidth;
  const int64_t N = plan.n, E = N * P;
  float* buf[2][2] = {{work, work + E}, {work + 2 * E, work + 3 * E}};
  // The frames in the lanes, windowed, as real values; lanes past `frames` are zero.
  float* xr = buf[0][0];
  int64_t e = 0;
  if (frames == P)
    for (; e + P <= N; e += P) Vec::transpose16(x + e, step, xr + e * P);
  for (int64_t i = e; i < N; ++i)
    for (int64_t j = 0; j < P; ++j) xr[i * P + j] = j < frames ? x[j * step + i] : 0.0f;
  for (int64_t i = 0; i < N; ++i) {
    const typename Vec::reg w = Vec::set1(window[i]);
    for (int64_t lane = 0; lane < P; lane += Vec::W)
      Vec::store(xr + i * P + lane, Vec::mul(Vec::load(xr + i * P + lane), w));
  }
  std::memset(buf[0][1], 0, static_cast<size_t>(E) * sizeof(float));
  int from = 0;
  int64_t s = 1;
  for (const FftStage& st : plan.stages) {
    float* const* src = buf[from];
    float* const* dst = buf[1 - from];
    switch (st.radix) {
      case 2: fft_stage<2>(st, s, src[0], src[1], dst[0], dst[1]); break;
      case 3: fft_stage<3>(st, s, src[0], src[1], dst[0], dst[1]); break;
      case 4: fft_stage<4>(st, s, src[0], src[1], dst[0], dst[1]); break;
      default: fft_stage<5>(st, s, src[0], src[1], dst[0], dst[1]); break;
    }
    s *= st.radix;
    from = 1 - from;
  }
  // Bin k of every frame lies at point k, in order.
  const float* rr = buf[from][0];
  const float* ri = buf[from][1];
  const typename Vec::reg sign = Vec::set1(negate_im ? -1.0f : 1.0f);
  for (int64_t k = 0; k < bins; ++k) {
    if (frames == P) {
      for (int64_t lane = 0; lane < P; lane += Vec::W) {
        Vec::store(re + k * ldo + lane, Vec::load(rr + k * P + lane));
        Vec::store(im + k * ldo + lane, Vec::mul(Vec::load(ri + k * P + lane), sign));
      }
      continue;
    }
    for (int64_t j = 0; j < frames; ++j) {
      re[k * ldo + j] = rr[k * P + j];
      im[k * ldo + j] = negate_im ? -ri[k * P + j] : ri[k * P + j];
    }
  }
}

}  // namespace
}  // namespace LSTMRT_KERNEL_NS
}  // namespace lstmrt

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

// One stage in place over `blocks` blocks of st.length points (re, im), each point kPanelWidth
// floats.
template <int R>
void fft_stage(const FftStage& st, int64_t blocks, float* re, float* im) {
  constexpr int64_t P = kPanelWidth;
  const int64_t m = st.length / R;
  for (int64_t p = 0; p < m; ++p) {
    float twr[R], twi[R];
    for (int u = 1; u < R; ++u) {
      twr[u] = st.twiddle_re[static_cast<size_t>((u - 1) * m + p)];
      twi[u] = st.twiddle_im[static_cast<size_t>((u - 1) * m + p)];
    }
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t lane = 0; lane < P; lane += Vec::W) {
        const int64_t first = (b * st.length + p) * P + lane;
        Cx a[R], out[R];
        for (int t = 0; t < R; ++t) a[t] = {Vec::load(re + first + t * m * P), Vec::load(im + first + t * m * P)};
        butterfly<R>(a, out, st);
        for (int u = 0; u < R; ++u) {
          const Cx v = u == 0 ? out[0] : cx_mul(out[u], twr[u], twi[u]);
          Vec::store(re + first + u * m * P, v.re);
          Vec::store(im + first + u * m * P, v.im);
        }
      }
  }
}

// The frames in the lanes, windowed: sample e of frame j to dst[e * kPanelWidth + j], zeros in
// the lanes past `frames` and at the samples from `samples` on (a frame shorter than the DFT).
void gather_frames(const float* x, int64_t step, int64_t frames, int64_t samples, const float* window, int64_t n,
                   float* dst) {
  constexpr int64_t P = kPanelWidth;
  int64_t e = 0;
  if (frames == P)
    for (; e + P <= samples; e += P) Vec::transpose16(x + e, step, dst + e * P);
  for (int64_t i = e; i < n; ++i)
    for (int64_t j = 0; j < P; ++j) dst[i * P + j] = j < frames && i < samples ? x[j * step + i] : 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const typename Vec::reg w = Vec::set1(window[i]);
    for (int64_t lane = 0; lane < P; lane += Vec::W)
      Vec::store(dst + i * P + lane, Vec::mul(Vec::load(dst + i * P + lane), w));
  }
}

// The plan's stages, in place on (re, im); point k ends at plan.order[k].
void run_stages(const FftPlan& plan, float* re, float* im) {
  int64_t blocks = 1;
  for (const FftStage& st : plan.stages) {
    switch (st.radix) {
      case 2: fft_stage<2>(st, blocks, re, im); break;
      case 3: fft_stage<3>(st, blocks, re, im); break;
      case 4: fft_stage<4>(st, blocks, re, im); break;
      default: fft_stage<5>(st, blocks, re, im); break;
    }
    blocks *= st.radix;
  }
}

// Bin k of the real frames from the spectrum Z of their halves (z[m] = x[2m] + i x[2m + 1], M
// points): X[k] = E[k] + exp(-2 pi i k / n) O[k], where E[k] = (Z[k] + conj Z[M - k]) / 2 and
// O[k] = (Z[k] - conj Z[M - k]) / 2i are the spectra of the even and odd samples.
inline Cx unzip(const FftPlan& plan, const float* zr, const float* zi, int64_t k, int64_t lane) {
  constexpr int64_t P = kPanelWidth;
  const int64_t M = plan.n / 2;
  const int64_t a_at = plan.order[static_cast<size_t>(k % M)] * P + lane;
  const int64_t b_at = plan.order[static_cast<size_t>((M - k) % M)] * P + lane;
  const typename Vec::reg half = Vec::set1(0.5f);
  const Cx a{Vec::load(zr + a_at), Vec::load(zi + a_at)};
  const Cx b{Vec::load(zr + b_at), Vec::sub(Vec::zero(), Vec::load(zi + b_at))};
  const Cx even{Vec::mul(Vec::add(a.re, b.re), half), Vec::mul(Vec::add(a.im, b.im), half)};
  const Cx d{Vec::mul(Vec::sub(a.re, b.re), half), Vec::mul(Vec::sub(a.im, b.im), half)};
  const Cx odd{d.im, Vec::sub(Vec::zero(), d.re)};  // d / i
  return cx_add(even, cx_mul(odd, plan.unzip_re[static_cast<size_t>(k)], plan.unzip_im[static_cast<size_t>(k)]));
}

// See KernelTable::rfft16.
void rfft16_kernel(const FftPlan& plan, const float* x, int64_t step, int64_t frames, int64_t samples,
                   const float* window, float* work, float* re, float* im, int64_t ld_bin, int64_t ld_frame,
                   int64_t bins, bool negate_im) {
  constexpr int64_t P = kPanelWidth;
  const int64_t N = plan.n, points = plan.real_halves ? N / 2 : N, E = points * P;
  // The transform in place in (zr, zi), small enough for L1 at the speech front ends' lengths.
  float* zr = work;
  float* zi = work + E;
  if (plan.real_halves) {
    // Even samples to the real parts, odd ones to the imaginary parts.
    float* even_odd = work + 2 * E;
    gather_frames(x, step, frames, samples, window, N, even_odd);
    for (int64_t m = 0; m < points; ++m) {
      std::memcpy(zr + m * P, even_odd + 2 * m * P, P * sizeof(float));
      std::memcpy(zi + m * P, even_odd + (2 * m + 1) * P, P * sizeof(float));
    }
  } else {
    gather_frames(x, step, frames, samples, window, N, zr);
    std::memset(zi, 0, static_cast<size_t>(E) * sizeof(float));
  }
  run_stages(plan, zr, zi);
  const typename Vec::reg sign = Vec::set1(negate_im ? -1.0f : 1.0f);
  alignas(64) float lanes_re[P], lanes_im[P];
  const bool rows = frames == P && ld_frame == 1;  // each bin's frames a contiguous row
  for (int64_t k = 0; k < bins; ++k) {
    // Bin k of every frame, in lanes: the plan's point k, or unzipped from the halves' spectrum.
    for (int64_t lane = 0; lane < P; lane += Vec::W) {
      Cx v;
      if (plan.real_halves) {
        v = unzip(plan, zr, zi, k, lane);
      } else {
        const int64_t at = plan.order[static_cast<size_t>(k)] * P + lane;
        v = {Vec::load(zr + at), Vec::load(zi + at)};
      }
      v.im = Vec::mul(v.im, sign);
      if (rows) {
        Vec::store(re + k * ld_bin + lane, v.re);
        Vec::store(im + k * ld_bin + lane, v.im);
      } else {
        Vec::store(lanes_re + lane, v.re);
        Vec::store(lanes_im + lane, v.im);
      }
    }
    if (rows) continue;
    for (int64_t j = 0; j < frames; ++j) {
      re[k * ld_bin + j * ld_frame] = lanes_re[j];
      im[k * ld_bin + j * ld_frame] = lanes_im[j];
    }
  }
}

}  // namespace
}  // namespace LSTMRT_KERNEL_NS
}  // namespace lstmrt

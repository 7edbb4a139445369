// Conv's window packing, written once against `Vec` and compiled once per ISA with the other
// kernels (kernels_impl.h includes this file; see there for how).
#pragma once

#ifndef LSTMRT_KERNEL_NS
#error "include kernels_impl.h, not this file"
#endif

#include <cstdint>

#include "cpu/kernels.h"

namespace lstmrt {
namespace LSTMRT_KERNEL_NS {
namespace {

// Whether kernel positions [k, k + 16) each read all 16 lanes in one run, from consecutive
// offsets: then the panel rows are a 16 x 16 block of the input (rows `step` apart) transposed.
inline bool whole_block(const WindowSegment* seg, int64_t k, int64_t kernel_count) {
  if (k + kPanelWidth > kernel_count) return false;
  const int64_t base = seg[2 * k].offset;
  for (int64_t i = 0; i < kPanelWidth; ++i) {
    const WindowSegment& s0 = seg[2 * (k + i)];
    const WindowSegment& s1 = seg[2 * (k + i) + 1];
    if (s0.lane0 != 0 || s0.lane_end != kPanelWidth || s0.offset != base + i || s1.lane_end > s1.lane0) return false;
  }
  return true;
}

// Panel rows from segments of stride 1 or 2: one or two masked loads per vector.
template <int64_t kStep>
inline void pack_masked(const float* x, int64_t channels, int64_t plane, int64_t row, const WindowSegment& s0,
                        const WindowSegment& s1, float* d) {
  for (int64_t v = 0; v < kPanelWidth / Vec::W; ++v) {
    const int64_t f = v * Vec::W;
    const int64_t a0 = s0.lane0 - f, b0 = s0.lane_end - f, a1 = s1.lane0 - f, b1 = s1.lane_end - f;
    for (int64_t c = 0; c < channels; ++c) {
      const float* xc = x + c * plane;
      typename Vec::reg r = Vec::zero();
      if constexpr (kStep == 1) {
        r = Vec::load_lanes(r, xc + s0.offset, a0, b0);
        r = Vec::load_lanes(r, xc + s1.offset, a1, b1);
      } else {
        r = Vec::load_lanes_step2(r, xc + s0.offset, a0, b0);
        r = Vec::load_lanes_step2(r, xc + s1.offset, a1, b1);
      }
      Vec::store(d + c * row + f, r);
    }
  }
}

// See KernelTable::pack_window_panel. Strides 1 and 2 (every same-padded stride-1 Conv, whose
// windows are linear in the position even across output rows, and the stride-2 ones) load each
// vector with one or two masked loads. Longer strides (an STFT as a Conv: frames a hop apart)
// transpose 16 x 16 blocks where 16 kernel positions read whole runs, and copy lane by lane
// elsewhere. Kernel positions go outermost, so that a segment's masks are worked out once for
// all the channels.
void pack_window_panel_kernel(const float* x, int64_t channels, int64_t plane, int64_t kernel_count,
                              const WindowSegment* seg, int64_t step, float* dst) {
  const int64_t row = kernel_count * kPanelWidth;  // from one channel's panel rows to the next's
  for (int64_t k = 0; k < kernel_count;) {
    const WindowSegment s0 = seg[2 * k], s1 = seg[2 * k + 1];
    float* d = dst + k * kPanelWidth;
    if (step == 1 || step == 2) {
      if (step == 1) pack_masked<1>(x, channels, plane, row, s0, s1, d);
      else pack_masked<2>(x, channels, plane, row, s0, s1, d);
      ++k;
      continue;
    }
    if (whole_block(seg, k, kernel_count)) {
      for (int64_t c = 0; c < channels; ++c) Vec::transpose16(x + c * plane + s0.offset, step, d + c * row);
      k += kPanelWidth;
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const float* xc = x + c * plane;
      float* dc = d + c * row;
      for (int64_t j = 0; j < kPanelWidth; ++j) dc[j] = 0.0f;
      for (int64_t j = s0.lane0; j < s0.lane_end; ++j) dc[j] = xc[s0.offset + (j - s0.lane0) * step];
      for (int64_t j = s1.lane0; j < s1.lane_end; ++j) dc[j] = xc[s1.offset + (j - s1.lane0) * step];
    }
    ++k;
  }
}

}  // namespace
}  // namespace LSTMRT_KERNEL_NS
}  // namespace lstmrt

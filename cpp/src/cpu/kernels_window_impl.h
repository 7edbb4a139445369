// Conv's window packing, written once against `Vec` and compiled once per ISA with the other
// kernels (kernels_impl.h includes this file; see there for how).
#pragma once

#ifndef LSTMRT_KERNEL_NS
#error "include kernels_impl.h, not this file"
#endif

#include <cstdint>

#include "lstmrt/kernels.h"

namespace lstmrt {
namespace LSTMRT_KERNEL_NS {
namespace {

// See KernelTable::pack_window_panel. Unit and double strides (every same-padded stride-1 Conv,
// whose windows are linear in the position even across output rows, and the stride-2 ones) load
// each vector with one or two masked loads; other strides copy lane by lane. Kernel positions go
// outermost, so that a segment's masks are worked out once for all the channels.
void pack_window_panel_kernel(const float* x, int64_t channels, int64_t plane, int64_t kernel_count,
                              const WindowSegment* seg, int64_t step, float* dst) {
  constexpr int64_t kVecs = kPanelWidth / Vec::W;
  const int64_t row = kernel_count * kPanelWidth;  // from one channel's panel rows to the next's
  for (int64_t k = 0; k < kernel_count; ++k) {
    const WindowSegment s0 = seg[2 * k], s1 = seg[2 * k + 1];
    float* d = dst + k * kPanelWidth;
    if (step == 1 || step == 2) {
      for (int64_t v = 0; v < kVecs; ++v) {
        const int64_t f = v * Vec::W;
        const int64_t a0 = s0.lane0 - f, b0 = s0.lane_end - f, a1 = s1.lane0 - f, b1 = s1.lane_end - f;
        for (int64_t c = 0; c < channels; ++c) {
          const float* xc = x + c * plane;
          typename Vec::reg r = Vec::zero();
          if (step == 1) {
            r = Vec::load_lanes(r, xc + s0.offset, a0, b0);
            r = Vec::load_lanes(r, xc + s1.offset, a1, b1);
          } else {
            r = Vec::load_lanes_step2(r, xc + s0.offset, a0, b0);
            r = Vec::load_lanes_step2(r, xc + s1.offset, a1, b1);
          }
          Vec::store(d + c * row + f, r);
        }
      }
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const float* xc = x + c * plane;
      float* dc = d + c * row;
      for (int64_t j = 0; j < kPanelWidth; ++j) dc[j] = 0.0f;
      for (int64_t j = s0.lane0; j < s0.lane_end; ++j) dc[j] = xc[s0.offset + (j - s0.lane0) * step];
      for (int64_t j = s1.lane0; j < s1.lane_end; ++j) dc[j] = xc[s1.offset + (j - s1.lane0) * step];
    }
  }
}

}  // namespace
}  // namespace LSTMRT_KERNEL_NS
}  // namespace lstmrt

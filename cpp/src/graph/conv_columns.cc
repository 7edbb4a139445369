#include "conv_columns.h"

#include <algorithm>

#include "lstmrt/threading.h"

#if defined(__unix__)
#include <unistd.h>
#endif

namespace lstmrt {

namespace {

// The L1 data cache when the system says, else 48 KiB.
int64_t l1d_bytes() {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const long v = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (v >= 16384 && v <= (1 << 20)) return v;
#endif
  return 48 << 10;
}

// The longest chunk of the reduction: two column panels of it (the GEMM's 2-panel tiles) fill
// two thirds of L1, the rest left to the weights' rows and the output. testing.time_gemm at
// ddddocr's Conv shapes (K 216 to 576) re-derives the fraction: whole 173-183 GFLOP/s, chunked
// 187-197 here.
int64_t longest_chunk() {
  static const int64_t k = std::max<int64_t>(64, l1d_bytes() * 2 / 3 / (2 * kPanelWidth * int64_t{sizeof(float)}));
  return k;
}

}  // namespace

int64_t column_block(int64_t positions, int64_t window_row) {
  const int64_t panels = (positions + kPanelWidth - 1) / kPanelWidth;
  const int64_t most = std::max<int64_t>(1, kWindowBlockFloats / std::max<int64_t>(window_row, 1) / kPanelWidth);
  const int64_t blocks = (panels + most - 1) / most;
  return std::min(positions, (panels + blocks - 1) / blocks * kPanelWidth);
}

ReductionChunks reduction_chunks(int64_t channels, int64_t kernel_count) {
  ReductionChunks r;
  const int64_t K = channels * kernel_count, most = longest_chunk();
  const int64_t wanted = (K + most - 1) / most;
  if (wanted <= 1) {
    r.per = channels;
    return r;
  }
  if (channels > 1) {
    // Whole channels per chunk: several channels' kernels when they fit, one otherwise.
    r.per = (channels + std::min(wanted, channels) - 1) / std::min(wanted, channels);
    r.count = (channels + r.per - 1) / r.per;
    return r;
  }
  r.by_channel = false;
  r.per = (kernel_count + wanted - 1) / wanted;
  r.count = (kernel_count + r.per - 1) / r.per;
  return r;
}

void pack_columns(const float* x, int64_t c0, int64_t channels, int64_t k0, int64_t kcount, const Window& w,
                  const int64_t* table, const WindowSegment* segs, int64_t p0, PackedMatrix& col, int threads) {
  const int64_t KS = w.kernel_count, plane = w.in_count, n = col.n(), step = w.stride.back();
  const KernelTable& kt = kernels();
  x += c0 * plane;
  // A panel is a few hundred nanoseconds per channel: below a few thousand floats, spreading
  // panels over threads costs more than it saves.
  const int workers = col.k() * n >= 65536 ? threads : 1;
  parallel_for(col.panels(), workers, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t first = q * kPanelWidth, count = std::min<int64_t>(kPanelWidth, n - first);
      const WindowSegment* seg = segs + (p0 + first) / kPanelWidth * KS * 2;
      float* dst = col.mutable_panel(q);
      if (seg[0].lane0 >= 0) {
        kt.pack_window_panel(x, channels, plane, kcount, seg + 2 * k0, step, dst);
        continue;
      }
      // Output rows shorter than a panel: lane by lane from the table.
      const int64_t* offs = table + (p0 + first) * KS + k0;
      for (int64_t c = 0; c < channels; ++c) {
        const float* xc = x + c * plane;
        for (int64_t k = 0; k < kcount; ++k, dst += kPanelWidth) {
          for (int64_t j = 0; j < count; ++j) {
            const int64_t o = offs[j * KS + k];
            dst[j] = o >= 0 ? xc[o] : 0.0f;
          }
          for (int64_t j = count; j < kPanelWidth; ++j) dst[j] = 0.0f;
        }
      }
    }
  });
}

}  // namespace lstmrt

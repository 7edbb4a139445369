#include "conv_columns.h"

#include <algorithm>
#include <atomic>

#include "cpu/gemm.h"
#include "cpu/threading.h"

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

// The longest chunk of the reduction: one tile's column panels of it (kTilePanels) fill
// two thirds of L1, the rest left to the weights' rows and the output. testing.time_gemm at
// ddddocr's Conv shapes (K 216 to 576), whole against cut in chunks, re-derives the fraction
// (bench/RESULTS.md has the figures).
int64_t longest_chunk() {
  static const int64_t k =
      std::max<int64_t>(64, l1d_bytes() * 2 / 3 / (kTilePanels * kPanelWidth * int64_t{sizeof(float)}));
  return k;
}

}  // namespace

int64_t column_block(int64_t positions, int64_t window_row) {
  const int64_t panels = (positions + kPanelWidth - 1) / kPanelWidth;
  const int64_t most = std::max<int64_t>(1, kWindowBlockFloats / std::max<int64_t>(window_row, 1) / kPanelWidth);
  const int64_t blocks = (panels + most - 1) / most;
  return std::min(positions, round_to_tiles((panels + blocks - 1) / blocks) * kPanelWidth);
}

int64_t round_to_tiles(int64_t panels) { return (panels + kTilePanels - 1) / kTilePanels * kTilePanels; }

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
                  const int64_t* table, const WindowSegment* segs, int64_t p0, PackedMatrix& col) {
  const int64_t KS = w.kernel_count, plane = w.in_count, n = col.n(), step = w.stride.back();
  const KernelTable& kt = kernels();
  x += c0 * plane;
  for (int64_t q = 0; q < col.panels(); ++q) {
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
}

namespace {

// Below this many flops a Conv stays on one thread: a fork and join (a few microseconds) would
// cost more than it saves. bench/test_bench_real_models.py's ddddocr at 2 threads re-derives it.
constexpr double kMinFlopsForThreads = 1 << 20;

// One thread's share of the product: output positions [p0, p1) (p0 a multiple of kPanelWidth)
// of output channels [m0, m1).
struct Share {
  int64_t p0, p1, m0, m1;
};

// A share, block by block of positions and, within a block, chunk by chunk of the reduction,
// each added into y.
void channel_rows_range(const ChannelRows& a, const ReductionChunks& chunks, const Share& s, PackedMatrix& col) {
  const Window& w = *a.window;
  const int64_t P = w.out_count, KS = w.kernel_count, Kg = a.channels * KS;
  const int64_t block = column_block(s.p1 - s.p0, Kg);
  for (int64_t p0 = s.p0; p0 < s.p1; p0 += block) {
    const int64_t p1 = std::min(s.p1, p0 + block);
    if (a.bias)
      for (int64_t m = s.m0; m < s.m1; ++m) std::fill(a.y + m * P + p0, a.y + m * P + p1, a.bias[m]);
    for (int64_t i = 0; i < chunks.count; ++i) {
      // Channels [c0, c1) and kernel positions [k0, k1): columns [c0 * KS + k0, ...) of w.
      const int64_t lo = i * chunks.per, hi = std::min(lo + chunks.per, chunks.by_channel ? a.channels : KS);
      const int64_t c0 = chunks.by_channel ? lo : 0, c1 = chunks.by_channel ? hi : a.channels;
      const int64_t k0 = chunks.by_channel ? 0 : lo, k1 = chunks.by_channel ? KS : hi;
      col.resize(p1 - p0, (c1 - c0) * (k1 - k0));
      pack_columns(a.x, c0, c1 - c0, k0, k1 - k0, w, a.table, a.segs, p0, col);
      gemm(kernels(), s.m1 - s.m0, a.w + s.m0 * Kg + c0 * KS + k0, Kg, col, nullptr, a.bias != nullptr || i > 0,
           a.y + s.m0 * P + p0, P, 1);
    }
  }
}

// Output channels per share when the threads split them: whole 8-row tiles on AVX-512 (the AVX2
// and generic kernels' 6 and 4 rows leave one short tile per share).
constexpr int64_t kRowShareStep = 8;
// What packing one share's windows costs, in rows of the product over them: the threads that
// split the output channels each pack all the windows. test_bench_real_models.py's ddddocr at 2
// threads re-derives it.
constexpr int64_t kPackCostRows = 8;

// Whether `pieces` threads split the output channels rather than the positions: few panels split
// in whole tiles leave one thread more of them (10 panels in tiles of 3: 6 and 4), and splitting
// the channels, each thread packing all the windows, then costs it less.
bool split_channels(int64_t panels, int64_t out_channels, int64_t pieces) {
  if (pieces < 2 || out_channels < pieces * kRowShareStep) return false;
  int64_t most_panels = 0;
  for (int64_t t = 0; t < pieces; ++t)
    most_panels = std::max(most_panels, std::min(panels, round_to_tiles(panels * (t + 1) / pieces)) -
                                            std::min(panels, round_to_tiles(panels * t / pieces)));
  const int64_t steps = (out_channels + kRowShareStep - 1) / kRowShareStep;
  const int64_t most_rows = (steps + pieces - 1) / pieces * kRowShareStep;
  return panels * (most_rows + kPackCostRows) < most_panels * out_channels;
}

}  // namespace

namespace {

std::atomic<int64_t> g_zero_tail_positions{0};
std::atomic<int64_t> g_channel_split_runs{0};

// The first output position of a 1-D window from which every window reads only zeros and
// padding in the `channels` channels of x; the output count when none does or the window is not
// 1-D.
int64_t zero_tail_start(const float* x, int64_t channels, const Window& w) {
  if (w.in.size() != 1) return w.out_count;
  const int64_t in = w.in[0];
  int64_t last = -1;  // the last nonzero input, over all channels
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * in;
    for (int64_t i = in - 1; i > last; --i)
      if (xc[i] != 0.0f) {
        last = i;
        break;
      }
  }
  // Position p's window starts at p * stride - pad_begin; past `last` it reads only zeros.
  const int64_t reach = last + w.pad_begin[0];
  const int64_t first = reach < 0 ? 0 : reach / w.stride[0] + 1;
  return std::max<int64_t>(0, std::min(w.out_count, first));
}

}  // namespace

int64_t zero_tail_positions() { return g_zero_tail_positions.load(std::memory_order_relaxed); }
int64_t channel_split_runs() { return g_channel_split_runs.load(std::memory_order_relaxed); }

int64_t fill_silent_tail(const ChannelRows& a) {
  const int64_t out_count = a.window->out_count;
  const int64_t live = a.finite_weights ? zero_tail_start(a.x, a.channels, *a.window) : out_count;
  if (live == out_count) return live;
  g_zero_tail_positions.fetch_add(out_count - live, std::memory_order_relaxed);
  for (int64_t m = 0; m < a.out_channels; ++m)
    std::fill(a.y + m * out_count + live, a.y + (m + 1) * out_count, a.bias ? a.bias[m] + 0.0f : 0.0f);
  return live;
}

void multiply_channel_rows(const ChannelRows& a, std::vector<PackedMatrix>& cols, int threads) {
  const Window& w = *a.window;
  const int64_t P = fill_silent_tail(a), panels = (P + kPanelWidth - 1) / kPanelWidth;
  const ReductionChunks chunks = reduction_chunks(a.channels, w.kernel_count);
  const double flops = 2.0 * static_cast<double>(a.out_channels) * static_cast<double>(a.channels * w.kernel_count) *
                       static_cast<double>(P);
  const int64_t pieces = flops >= kMinFlopsForThreads ? std::min<int64_t>(std::max(threads, 1), panels) : 1;
  if (static_cast<int64_t>(cols.size()) < pieces) cols.resize(static_cast<size_t>(pieces));
  const bool by_channels = split_channels(panels, a.out_channels, pieces);
  if (by_channels) g_channel_split_runs.fetch_add(1, std::memory_order_relaxed);
  const int64_t steps = (a.out_channels + kRowShareStep - 1) / kRowShareStep;
  parallel_for(pieces, static_cast<int>(pieces), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      Share s{0, P, 0, a.out_channels};
      if (by_channels) {
        s.m0 = std::min(a.out_channels, steps * t / pieces * kRowShareStep);
        s.m1 = std::min(a.out_channels, steps * (t + 1) / pieces * kRowShareStep);
      } else {
        s.p0 = std::min(P, round_to_tiles(panels * t / pieces) * kPanelWidth);
        s.p1 = std::min(P, round_to_tiles(panels * (t + 1) / pieces) * kPanelWidth);
      }
      if (s.p0 < s.p1 && s.m0 < s.m1) channel_rows_range(a, chunks, s, cols[static_cast<size_t>(t)]);
    }
  });
}

}  // namespace lstmrt

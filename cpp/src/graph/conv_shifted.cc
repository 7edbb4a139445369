#include "conv_shifted.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/threading.h"

namespace lstmrt {

namespace {

std::atomic<bool> g_enabled{true};
std::atomic<int64_t> g_runs{0};

// The product over shifted rows runs slower per flop than over packed windows (unaligned loads
// from the padded input's rows), so it pays only where packing costs much per flop: few output
// channels to share it, and window rows long enough that the copy, not the product, bounds
// packing. A 1x1 kernel's windows are the input itself, which packs at the speed of a copy.
// bench/test_bench_real_models.py (ddddocr's 24-channel 3x3 Convs) re-derives the bounds;
// bench/TUNING.md has the figures.
constexpr int64_t kShiftedMaxOutChannels = 32;
constexpr int64_t kShiftedMinWindowRow = 32;

// Below this many flops the product stays on one thread (as multiply_channel_rows decides).
constexpr double kMinFlopsForThreads = 1 << 20;

// The padded input's geometry: rows of `pitch` floats, `rows` of them per channel.
struct PaddedGrid {
  int64_t pitch = 1, rows = 1, plane = 1;
  int64_t columns = 0;  // output positions on the grid: (out rows - 1) * pitch + out row length
};

PaddedGrid grid_of(const Window& w) {
  PaddedGrid g;
  const size_t d = w.in.size();
  g.pitch = w.in[d - 1] + w.pad_begin[d - 1] + w.pad_end[d - 1];
  g.rows = d == 2 ? w.in[0] + w.pad_begin[0] + w.pad_end[0] : 1;
  g.plane = g.rows * g.pitch;
  g.columns = (d == 2 ? (w.out[0] - 1) * g.pitch : 0) + w.out[d - 1];
  return g;
}

// Grows `buf` to at least `floats` (zero-filled when it grows).
void reserve(AlignedBuffer& buf, size_t& have, size_t floats) {
  if (floats <= have) return;
  buf = aligned_alloc_floats(floats);
  have = floats;
}

// The group's channels, zero-padded, into `dst` (channels planes of g.plane floats).
void pad_input(const float* x, int64_t channels, const Window& w, const PaddedGrid& g, float* dst) {
  const size_t d = w.in.size();
  const int64_t in_w = w.in[d - 1], in_h = d == 2 ? w.in[0] : 1;
  const int64_t top = d == 2 ? w.pad_begin[0] : 0, left = w.pad_begin[d - 1];
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = dst + c * g.plane;
    std::memset(plane, 0, static_cast<size_t>(top * g.pitch) * sizeof(float));
    for (int64_t r = 0; r < in_h; ++r) {
      float* row = plane + (top + r) * g.pitch;
      std::memset(row, 0, static_cast<size_t>(left) * sizeof(float));
      std::memcpy(row + left, x + (c * in_h + r) * in_w, static_cast<size_t>(in_w) * sizeof(float));
      std::memset(row + left + in_w, 0, static_cast<size_t>(g.pitch - left - in_w) * sizeof(float));
    }
    const int64_t below = g.rows - top - in_h;
    std::memset(plane + (top + in_h) * g.pitch, 0, static_cast<size_t>(below * g.pitch) * sizeof(float));
  }
}

// Where row k = (channel, kernel position) of the product starts in the padded input.
void row_offsets(int64_t channels, const Window& w, const PaddedGrid& g, std::vector<int64_t>& offsets) {
  const size_t d = w.in.size();
  const int64_t kh = d == 2 ? w.kernel[0] : 1, kw = w.kernel[d - 1];
  const int64_t dh = d == 2 ? w.dilation[0] : 1, dw = w.dilation[d - 1];
  offsets.clear();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) offsets.push_back(c * g.plane + i * dh * g.pitch + j * dw);
}

// Grid columns [n_begin, n_end) of the product (n_begin a multiple of kPanelWidth), block by
// block and chunk by chunk of the reduction as channel_rows_range goes, into `out` (ldc floats
// a row).
void shifted_range(const ChannelRows& a, const float* padded, const int64_t* offsets, const ReductionChunks& chunks,
                   int64_t n_begin, int64_t n_end, float* out, int64_t ldc) {
  const KernelTable& kt = kernels();
  const int64_t KS = a.window->kernel_count, Kg = a.channels * KS;
  const int64_t block = column_block(n_end - n_begin, Kg);
  for (int64_t n0 = n_begin; n0 < n_end; n0 += block) {
    const int64_t n1 = std::min(n_end, n0 + block);
    if (a.bias)
      for (int64_t m = 0; m < a.out_channels; ++m) std::fill(out + m * ldc + n0, out + m * ldc + n1, a.bias[m]);
    for (int64_t i = 0; i < chunks.count; ++i) {
      // Rows [first, first + count) of the product: whole channels, or one channel's kernel
      // positions (reduction_chunks cuts by kernel positions only for a single channel).
      const int64_t lo = i * chunks.per, hi = std::min(lo + chunks.per, chunks.by_channel ? a.channels : KS);
      const int64_t first = chunks.by_channel ? lo * KS : lo, count = (hi - lo) * (chunks.by_channel ? KS : 1);
      kt.gemm_shifted(a.out_channels, n1 - n0, count, a.w + first, Kg, padded + n0, offsets + first,
                      a.bias != nullptr || i > 0, out + n0, ldc);
    }
  }
}

}  // namespace

void set_shifted_rows_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
bool shifted_rows_enabled() { return g_enabled.load(std::memory_order_relaxed); }
int64_t shifted_rows_runs() { return g_runs.load(std::memory_order_relaxed); }

bool shifted_rows_apply(const Window& w, int64_t out_channels, int64_t window_row) {
  if (!shifted_rows_enabled() || w.in.empty() || w.in.size() > 2) return false;
  if (w.kernel_count == 1 || out_channels > kShiftedMaxOutChannels || window_row < kShiftedMinWindowRow) return false;
  for (size_t i = 0; i < w.in.size(); ++i)
    if (w.stride[i] != 1 || w.pad_begin[i] < 0 || w.pad_end[i] < 0) return false;
  const PaddedGrid g = grid_of(w);
  return 4 * w.out.back() >= 3 * g.pitch;
}

void multiply_shifted_rows(const ChannelRows& a, ShiftedScratch& s, int threads) {
  g_runs.fetch_add(1, std::memory_order_relaxed);
  const Window& w = *a.window;
  const PaddedGrid g = grid_of(w);
  const int64_t P = w.out_count;
  // A grid whose pitch is the output row's length is the output itself (every 1-D Conv's, whose
  // silent tail, if any, is filled already and left out).
  const bool in_place = g.columns == P;
  const int64_t live = fill_silent_tail(a);
  const int64_t columns = in_place ? live : g.columns, panels = (columns + kPanelWidth - 1) / kPanelWidth;
  // The last panel's vectors read up to a panel past the grid's last column.
  reserve(s.padded, s.padded_floats, static_cast<size_t>(a.channels * g.plane + kPanelWidth));
  pad_input(a.x, a.channels, w, g, s.padded.get());
  row_offsets(a.channels, w, g, s.offsets);
  float* out = a.y;
  int64_t ldc = P;
  if (!in_place) {
    ldc = panels * kPanelWidth;
    reserve(s.grid, s.grid_floats, static_cast<size_t>(a.out_channels * ldc));
    out = s.grid.get();
  }
  const ReductionChunks chunks = reduction_chunks(a.channels, w.kernel_count);
  const double flops = 2.0 * static_cast<double>(a.out_channels) * static_cast<double>(a.channels * w.kernel_count) *
                       static_cast<double>(columns);
  const int pieces = flops >= kMinFlopsForThreads ? static_cast<int>(std::min<int64_t>(std::max(threads, 1), panels)) : 1;
  const float* padded = s.padded.get();
  const int64_t* offsets = s.offsets.data();
  parallel_for(pieces, pieces, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = std::min(columns, round_to_tiles(panels * t / pieces) * kPanelWidth);
      const int64_t e = std::min(columns, round_to_tiles(panels * (t + 1) / pieces) * kPanelWidth);
      if (b < e) shifted_range(a, padded, offsets, chunks, b, e, out, ldc);
    }
  });
  if (in_place) return;
  const int64_t out_rows = w.out.size() == 2 ? w.out[0] : 1, out_w = w.out.back();
  for (int64_t m = 0; m < a.out_channels; ++m)
    for (int64_t r = 0; r < out_rows; ++r)
      std::memcpy(a.y + m * P + r * out_w, out + m * ldc + r * g.pitch, static_cast<size_t>(out_w) * sizeof(float));
}

}  // namespace lstmrt

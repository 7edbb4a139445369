// Conv's column operand: the windows of a block of output positions packed as the GEMM's panels,
// and how a product is cut into blocks of positions and chunks of its reduction.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"
#include "window.h"

namespace lstmrt {

// A Conv's window matrix (either layout) is built and multiplied this many floats (positions x
// window row) at a time, so that its scratch stays bounded whatever the image size and a block is
// still in cache when the GEMM reads it. bench/test_bench_real_models.py (ddddocr, the onnx-asr
// front ends) re-derives it.
constexpr int64_t kWindowBlockFloats = int64_t{1} << 18;

// The most panels one GEMM tile spans (the AVX-512 kernel's): blocks and threads' ranges of
// positions in whole tiles leave no tile with a panel missing but the last.
constexpr int64_t kTilePanels = 3;
// `panels` rounded up to whole tiles.
int64_t round_to_tiles(int64_t panels);

// Output positions per block of the packed column operand: whole tiles of panels, at most a
// bounded number of floats, and the blocks of one size, so that no short last block runs the
// GEMM on a sliver of panels.
int64_t column_block(int64_t positions, int64_t window_row);

// The reduction (channels x kernel positions) cut into chunks, each multiplied on its own and
// added into the output: a pair of column panels of one chunk stays in L1 while the tiles of the
// weights pass over it, where panels of the whole reduction would stream from L2 once per tile.
// By channels where there are enough of them, else (one channel, a long kernel) by kernel
// positions.
struct ReductionChunks {
  int64_t count = 1;
  bool by_channel = true;
  int64_t per = 0;  // channels, or kernel positions, per chunk (the last may have fewer)
};
ReductionChunks reduction_chunks(int64_t channels, int64_t kernel_count);

// Packs the windows of output positions [p0, p0 + col.n()) of one image and group, at channels
// [c0, c0 + channels) and kernel positions [k0, k0 + kcount), as the GEMM's column operand: panel
// q holds, for each channel and kernel position in that order, the inputs that its 16 positions
// read there (zero in the padding, and past the last position). `x` points at the group's first
// channel; `table` is window_offsets' table and `segs` window_segments' for it, with the last
// spatial stride as the step; p0 is a multiple of kPanelWidth.
void pack_columns(const float* x, int64_t c0, int64_t channels, int64_t k0, int64_t kcount, const Window& w,
                  const int64_t* table, const WindowSegment* segs, int64_t p0, PackedMatrix& col);

// One image and group of a Conv with output positions in the GEMM's column panels:
// y[m][p] = bias[m] + w[m] · (the window of p), for m < out_channels and p < the window's
// out_count, with w row-major [out_channels][channels * kernel_count] and y [out_channels][P].
struct ChannelRows {
  const float* x = nullptr;  // the group's first input channel
  const float* w = nullptr;
  const float* bias = nullptr;  // or null
  int64_t channels = 0, out_channels = 0;
  const Window* window = nullptr;
  const int64_t* table = nullptr;        // window_offsets'
  const WindowSegment* segs = nullptr;  // window_segments'
  float* y = nullptr;
  // Whether every weight is finite: then a window of zeros gives exactly the bias (0 * w is a
  // zero for finite w), and the trailing positions whose windows read only zeros are filled with
  // it instead of multiplied.
  bool finite_weights = false;
};

// With finite weights and a 1-D window, the output positions from which every window reads only
// zeros and padding in all of a's channels (the silence a waveform is padded with: Whisper's
// frames pad every clip to 30 s) are the bias (0 without one), exactly what the product gives:
// fills them and returns the first; else returns the output count. Both of Conv's channel-row
// paths start with it and multiply only the positions before.
int64_t fill_silent_tail(const ChannelRows& a);
// How many output positions (per output channel) have been filled that way, for tests.
int64_t zero_tail_positions();

// Computes it: the positions fill_silent_tail leaves split into one range of whole panels per
// thread, each thread packing its own blocks into its own entry of `cols` (grown to the thread
// count and kept for the next run) and multiplying them alone, so that a Conv forks once, not
// once per block and chunk. Where whole tiles of few panels would split unevenly, the threads
// split the output channels instead, each packing all the windows. Every output element is summed
// in the same order whatever the thread count and the split.
void multiply_channel_rows(const ChannelRows& a, std::vector<PackedMatrix>& cols, int threads);
// How many products multiply_channel_rows has split by output channels, for tests.
int64_t channel_split_runs();

}  // namespace lstmrt

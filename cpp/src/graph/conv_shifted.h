// Conv with stride 1 as a product over its input read in place: on a zero-padded copy of the
// input, kernel position k's window row for every output position is the copy shifted by k's
// offset, so the GEMM reads the copy directly (KernelTable::gemm_shifted) instead of packing
// each window, which for a 3x3 kernel writes nine times the input.
#pragma once

#include <cstdint>

#include "conv_columns.h"
#include "cpu/aligned_buffer.h"
#include "window.h"

namespace lstmrt {

// What the shifted product keeps between runs: the padded input, the offsets of its rows, and
// the output on the padded grid.
struct ShiftedScratch {
  AlignedBuffer padded, grid;
  size_t padded_floats = 0, grid_floats = 0;
  std::vector<int64_t> offsets;
};

// Whether this path computes a Conv of window `w`, `out_channels` per group and `window_row`
// (channels per group x kernel positions) long rows, and pays: stride 1 in one or two spatial
// dims, no negative padding, a thin product (see kShiftedMaxOutChannels), and the padded grid's
// columns past each output row, which it computes and drops, at most a quarter of the row.
bool shifted_rows_apply(const Window& w, int64_t out_channels, int64_t window_row);

// One image and group of such a Conv, as multiply_channel_rows computes it, to the same bits
// (its silent tail too: fill_silent_tail).
// The output positions are those of the padded grid (row pitch: the padded input's width), each
// thread taking whole panels of them; the rows are then copied out without the grid's extra
// columns.
void multiply_shifted_rows(const ChannelRows& a, ShiftedScratch& scratch, int threads);

// For tests: a switch (false sends every Conv through multiply_channel_rows, so that the two
// paths can be compared bit for bit), and how many products this path has run.
void set_shifted_rows_enabled(bool enabled);
bool shifted_rows_enabled();
int64_t shifted_rows_runs();

}  // namespace lstmrt

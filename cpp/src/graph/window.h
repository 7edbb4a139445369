// The sliding-window geometry that Conv and the pools share: kernel_shape, strides, dilations,
// pads, auto_pad and ceil_mode read from the node once, and resolved per run against the input's
// spatial size into output sizes and a table of where each window reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lstmrt/graph/op.h"
#include "cpu/kernels.h"
#include "small_vector.h"

namespace lstmrt {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

// The window attributes as the node gives them (lists empty when absent).
struct WindowSpec {
  std::string op;  // "Conv", "MaxPool", ... for messages
  std::vector<int64_t> kernel, strides, dilations, pads;
  AutoPad auto_pad = AutoPad::NotSet;
  bool ceil_mode = false;
  bool pooling = false;  // the pools size SAME padding by the undilated kernel (see resolve_window)

  // Reads and checks the attributes; `pooling` also reads ceil_mode (Conv has none).
  static WindowSpec from_node(const BuildContext& ctx, bool pooling);
  // Checks the list lengths against a spatial rank (known at load when kernel_shape or a constant
  // weight gives it); throws ValueError such as "pads has 3 entries, expected 4 for a 2-D Conv".
  void check_rank(size_t dims) const;
};

// The spec resolved for one input: per spatial dim the input and output size, the kernel, the
// stride, the dilation and the padding before.
struct Window {
  DimVector in, out, kernel, stride, dilation, pad_begin, pad_end;
  int64_t out_count = 1;     // product of out
  int64_t kernel_count = 1;  // product of kernel
  int64_t in_count = 1;      // product of in

  // Appends one spatial dim (the products are the caller's to update, each with its own check).
  void add_dim(int64_t in_size, int64_t out_size, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe) {
    in.push_back(in_size);
    out.push_back(out_size);
    kernel.push_back(k);
    stride.push_back(s);
    dilation.push_back(dil);
    pad_begin.push_back(pb);
    pad_end.push_back(pe);
  }
};

// Resolves `spec` for an input whose spatial dims are `in`; `kernel` is the kernel size when the
// spec has no kernel_shape (Conv's weights), else ignored. Throws ValueError for any mismatch or an
// input smaller than its window.
Window resolve_window(const WindowSpec& spec, Dims in, Dims kernel);

// Fills table[p * kernel_count + k] with the offset, within one row-major input plane, of the
// element that kernel position k of output position p reads, or -1 where it reads padding.
// `padded` (out_count entries, may be null) receives how many kernel positions of each window
// lie inside the padded input (AveragePool's count_include_pad divisor). `clip` also marks -1
// the elements past a negative end padding (SAME pools with long strides), which AveragePool
// leaves out of its sums as ONNX Runtime does.
void window_offsets(const Window& w, int64_t* table, int64_t* padded, bool clip = false);

// For a window table made by window_offsets, marks the table's arithmetic runs: for each group
// of `group` consecutive output positions (from position q * group; fewer in the last group) and
// each kernel position k, runs[q * kernel_count + k] is the offset s such that those positions
// read s, s + step, s + 2 * step, ... at k, or -1 where they do not (padding, a wrap to the next
// row). A packing loop then copies a run without looking up each of its offsets.
void window_runs(const Window& w, const int64_t* table, int64_t group, int64_t step, int64_t* runs);

// For a window table made by window_offsets, the segments that KernelTable::pack_window_panel
// reads: for each panel of kPanelWidth consecutive output positions (from q * kPanelWidth; fewer
// in the last) and each kernel position k, segs[(q * kernel_count + k) * 2 + i], i = 0, 1, are the
// runs of lanes whose offsets go up by `step` from lane to lane, padding left out. A panel where
// some k needs more than two runs (output rows shorter than a panel) is marked with lane0 = -1 in
// its first segment: its caller copies it from the table.
void window_segments(const Window& w, const int64_t* table, int64_t step, WindowSegment* segs);

// The input spatial size and kernel that a node's window table (its scratch tensor 0) was made
// for: runs of the same shapes (every run after the first, in a plan) reuse the table. An op that
// keeps more between runs derives its state from this one and makes it before table_memo() does.
struct TableMemo : OpState {
  DimVector key;
  bool valid = false;

  // Whether the table is for these shapes; if not, takes them as the new key, and the caller
  // remakes the table and then sets `valid`.
  bool same(Dims in, Dims kernel);
};

// The node's TableMemo in this plan, made on first use.
TableMemo& table_memo(RunContext& ctx);

// a * b (of non-negative values) and a + b, throwing ValueError naming `what` when the result
// overflows int64 (pads or strides near the int64 limits in a bad model).
int64_t checked_mul(int64_t a, int64_t b, const char* what);

// Checks a Conv's or ConvTranspose's X and W: float32, rank 3 or more (N, C, spatial...), the
// same rank.
void check_conv_operands(const Tensor& X, const Tensor& W);
int64_t checked_add(int64_t a, int64_t b, const char* what);

}  // namespace lstmrt

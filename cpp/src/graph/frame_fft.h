// FFTs of a signal's frames (KernelTable::rfft16), kPanelWidth frames at a time, split over
// threads: the STFT, whether a model spells it as an STFT node or as a strided Conv.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/fft_plan.h"
#include "lstmrt/graph/op.h"

namespace lstmrt {

// Where the frames are and where their bins go: frame t reads x + t * step for `samples` samples
// (zeros after them up to plan.n; all times window); bin k of frame t goes to
// re[k * ld_bin + t * ld_frame] and im likewise.
struct FrameFft {
  const FftPlan* plan = nullptr;  // FftPlan::make_real's
  const float* x = nullptr;
  int64_t step = 1, frames = 0, samples = 0;
  const float* window = nullptr;  // plan->n values
  int64_t bins = 0;               // at most plan->n / 2 + 1
  bool negate_im = false;
  float* re = nullptr;
  float* im = nullptr;
  int64_t ld_bin = 0, ld_frame = 0;
};

// The threads' work spaces, one set per run state (RunContext::shared_scratch) for every node
// that takes FFTs of frames, grown to the thread count and kept from run to run.
struct FrameFftWork final : OpState {
  std::vector<std::vector<float>> per_thread;
};

// Computes them, each thread in its own entry of work.per_thread. A frame's bins have the same
// bits whatever the thread count.
void run_frame_fft(const FrameFft& f, FrameFftWork& work, int threads);

// For tests: a switch (false sends every STFT, and every Conv that is one, through its product),
// whether it is on, and how many signals (images) have gone through run_frame_fft.
void set_frame_fft_enabled(bool enabled);
bool frame_fft_enabled();
int64_t frame_fft_runs();

}  // namespace lstmrt

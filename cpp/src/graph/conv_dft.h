// A Conv whose weights are a windowed DFT, the STFT as exporters of speech front ends spell it (a
// strided 1-D Conv of a waveform with rows window * cos and -window * sin), computed as FFTs of
// its frames: O(n log n) per frame instead of the product's O(n^2).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "conv_columns.h"
#include "cpu/fft_plan.h"
#include "frame_fft.h"
#include "window.h"

namespace lstmrt {

struct DftConv {
  FftPlan plan;               // length n, the kernel's
  std::vector<float> window;  // n
  int64_t bins = 0;           // n / 2 + 1: output channels [0, bins) real parts, [bins, 2 bins) imaginary
  bool negate_im = false;     // the imaginary rows hold +window * sin (the conjugate spectrum)
};

// The DFT behind weights [rows][n] (a Conv's W [rows, 1, n]), or nothing: rows must be
// 2 * (n / 2 + 1), row k < bins window[j] cos(2 pi k j / n) and row bins + k -window[j] sin(...)
// (or all of them +), each within kDftWeightTolerance of the largest window value, and n a length
// FftPlan factors.
std::optional<DftConv> detect_dft_weights(const float* w, int64_t rows, int64_t n);

// Whether a run of such a Conv over window `w` takes the FFTs: 1-D, stride any, no padding, no
// dilation, and the switch on (set_frame_fft_enabled).
bool dft_frames_apply(const Window& w);

// One image of such a Conv (a.channels 1, a.out_channels 2 * bins, no bias): the frames
// fill_silent_tail leaves, through run_frame_fft.
void multiply_dft_frames(const ChannelRows& a, const DftConv& dft, FrameFftWork& work, int threads);

}  // namespace lstmrt

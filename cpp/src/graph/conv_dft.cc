#include "conv_dft.h"

#include <algorithm>
#include <cmath>

#include "frame_fft.h"

namespace lstmrt {

namespace {

// How far a weight may be from window * cos (or sin), relative to the largest window value: the
// exporters' weights are the float32 roundings of the products (within 3e-8 in onnx-asr's front
// ends). Weights that far off move an output by at most 1e-6 of the sum of its inputs'
// magnitudes (times the window's largest value), below the worst-case rounding of the product's
// own float32 sum of n terms from n = 17 on (n * 2^-24: 2.4e-5 at n = 400).
constexpr double kDftWeightTolerance = 1e-6;

// Whether rows [first, first + bins) of w are window * f(2 pi k j / n) times `sign`, f cos or sin.
bool rows_match(const float* w, int64_t first, int64_t bins, int64_t n, const std::vector<double>& table,
                const float* window, double sign, double tolerance) {
  for (int64_t k = 0; k < bins; ++k) {
    const float* row = w + (first + k) * n;
    for (int64_t j = 0; j < n; ++j) {
      const double expected = sign * static_cast<double>(window[j]) * table[static_cast<size_t>((k * j) % n)];
      if (!(std::abs(static_cast<double>(row[j]) - expected) <= tolerance)) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<DftConv> detect_dft_weights(const float* w, int64_t rows, int64_t n) {
  const int64_t bins = n / 2 + 1;
  if (n < 2 || rows != 2 * bins) return std::nullopt;
  std::optional<FftPlan> plan = FftPlan::make_real(n);
  if (!plan) return std::nullopt;
  // Row 0 is window * cos(0): the window itself.
  const float* window = w;
  double largest = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(window[j])) return std::nullopt;
    largest = std::max(largest, std::abs(static_cast<double>(window[j])));
  }
  if (largest == 0.0) return std::nullopt;
  const double tolerance = kDftWeightTolerance * largest;
  std::vector<double> cos_table(static_cast<size_t>(n)), sin_table(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double theta = 2.0 * M_PI * static_cast<double>(i) / static_cast<double>(n);
    cos_table[static_cast<size_t>(i)] = std::cos(theta);
    sin_table[static_cast<size_t>(i)] = std::sin(theta);
  }
  if (!rows_match(w, 0, bins, n, cos_table, window, 1.0, tolerance)) return std::nullopt;
  DftConv d;
  if (!rows_match(w, bins, bins, n, sin_table, window, -1.0, tolerance)) {
    if (!rows_match(w, bins, bins, n, sin_table, window, 1.0, tolerance)) return std::nullopt;
    d.negate_im = true;
  }
  d.plan = std::move(*plan);
  d.window.assign(window, window + n);
  d.bins = bins;
  return d;
}

bool dft_frames_apply(const Window& w) {
  return frame_fft_enabled() && w.in.size() == 1 && w.pad_begin[0] == 0 &&
         w.pad_end[0] == 0 && w.dilation[0] == 1;
}

void multiply_dft_frames(const ChannelRows& a, const DftConv& dft, FrameFftWork& work, int threads) {
  const Window& w = *a.window;
  FrameFft f;
  f.plan = &dft.plan;
  f.x = a.x;
  f.step = w.stride[0];
  f.frames = fill_silent_tail(a);
  f.samples = dft.plan.n;
  f.window = dft.window.data();
  f.bins = dft.bins;
  f.negate_im = dft.negate_im;
  f.re = a.y;
  f.im = a.y + dft.bins * w.out_count;
  f.ld_bin = w.out_count;
  f.ld_frame = 1;
  run_frame_fft(f, work, threads);
}

}  // namespace lstmrt

#include "conv_dft.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/threading.h"

namespace lstmrt {

namespace {

std::atomic<bool> g_enabled{true};
std::atomic<int64_t> g_runs{0};

// How far a weight may be from window * cos (or sin), relative to the largest window value: the
// exporters' weights are the float32 roundings of the products (within 3e-8 in onnx-asr's front
// ends), and a product of weights that far off differs from the FFT by less than float32 sums
// of n terms already do.
constexpr double kDftWeightTolerance = 1e-6;

// Below this many frames per thread, the FFTs stay on one thread (a fork costs a few frames'
// worth). bench/test_bench_real_models.py's onnx-asr front ends at 2 threads re-derive it.
constexpr int64_t kMinFramesPerThread = 4 * kPanelWidth;

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
  return g_enabled.load(std::memory_order_relaxed) && w.in.size() == 1 && w.pad_begin[0] == 0 &&
         w.pad_end[0] == 0 && w.dilation[0] == 1;
}

void multiply_dft_frames(const ChannelRows& a, const DftConv& dft, std::vector<std::vector<float>>& work,
                         int threads) {
  g_runs.fetch_add(1, std::memory_order_relaxed);
  const Window& w = *a.window;
  const int64_t T = w.out_count, frames = fill_silent_tail(a), step = w.stride[0];
  const int64_t blocks = (frames + kPanelWidth - 1) / kPanelWidth;
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(threads, frames / kMinFramesPerThread));
  if (static_cast<int64_t>(work.size()) < pieces) work.resize(static_cast<size_t>(pieces));
  const KernelTable& kt = kernels();
  parallel_for(pieces, static_cast<int>(pieces), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      std::vector<float>& buf = work[static_cast<size_t>(p)];
      buf.resize(static_cast<size_t>(4 * dft.plan.n * kPanelWidth));
      for (int64_t b = blocks * p / pieces; b < blocks * (p + 1) / pieces; ++b) {
        const int64_t t0 = b * kPanelWidth, count = std::min(kPanelWidth, frames - t0);
        kt.rfft16(dft.plan, a.x + t0 * step, step, count, dft.window.data(), buf.data(), a.y + t0,
                  a.y + dft.bins * T + t0, T, dft.bins, dft.negate_im);
      }
    }
  });
}

void set_dft_frames_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
int64_t dft_frames_runs() { return g_runs.load(std::memory_order_relaxed); }

}  // namespace lstmrt

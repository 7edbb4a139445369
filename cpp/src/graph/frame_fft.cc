#include "frame_fft.h"

#include <algorithm>
#include <atomic>

#include "cpu/kernels.h"
#include "cpu/threading.h"

namespace lstmrt {

namespace {

// Below this many frames per thread, the FFTs stay on one thread (a fork costs a few frames'
// worth). bench/test_bench_real_models.py's onnx-asr front ends at 2 threads re-derive it.
constexpr int64_t kMinFramesPerThread = 4 * kPanelWidth;

std::atomic<bool> g_enabled{true};
std::atomic<int64_t> g_runs{0};

}  // namespace

void set_frame_fft_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
bool frame_fft_enabled() { return g_enabled.load(std::memory_order_relaxed); }
int64_t frame_fft_runs() { return g_runs.load(std::memory_order_relaxed); }

void run_frame_fft(const FrameFft& f, FrameFftWork& work, int threads) {
  g_runs.fetch_add(1, std::memory_order_relaxed);
  const int64_t blocks = (f.frames + kPanelWidth - 1) / kPanelWidth;
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(threads, f.frames / kMinFramesPerThread));
  std::vector<std::vector<float>>& bufs = work.per_thread;
  if (static_cast<int64_t>(bufs.size()) < pieces) bufs.resize(static_cast<size_t>(pieces));
  const KernelTable& kt = kernels();
  parallel_for(pieces, static_cast<int>(pieces), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      std::vector<float>& buf = bufs[static_cast<size_t>(p)];
      buf.resize(static_cast<size_t>(f.plan->rfft16_work_floats()));
      for (int64_t b = blocks * p / pieces; b < blocks * (p + 1) / pieces; ++b) {
        const int64_t t0 = b * kPanelWidth, count = std::min(kPanelWidth, f.frames - t0);
        kt.rfft16(*f.plan, f.x + t0 * f.step, f.step, count, f.samples, f.window, buf.data(), f.re + t0 * f.ld_frame,
                  f.im + t0 * f.ld_frame, f.ld_bin, f.ld_frame, f.bins, f.negate_im);
      }
    }
  });
}

}  // namespace lstmrt

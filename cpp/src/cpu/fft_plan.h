// A plan for complex FFTs of one length, factored into radix 2, 3, 4 and 5 stages, with each
// stage's twiddle factors: the data the kernel table's rfft16 reads (KernelTable::rfft16).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "cpu/packed_matrix.h"

namespace lstmrt {

// One stage of an in-place FFT by decimation in frequency: on each block of `length` points,
// `radix`-point DFTs of points `length / radix` apart, each output u then times
// exp(-2 pi i p u / length) for its position p < length / radix, written back where the inputs
// were; output u of every DFT makes the block of length / radix points the next stage splits.
struct FftStage {
  int radix = 0;
  int64_t length = 0;
  // twiddle_re/im[(u - 1) * (length / radix) + p] = exp(-2 pi i p u / length) for 1 <= u < radix.
  std::vector<float> twiddle_re, twiddle_im;
  // dft_re/im[t * radix + u] = exp(-2 pi i t u / radix), for the radices without a butterfly of
  // their own (3 and 5).
  std::vector<float> dft_re, dft_im;
};

struct FftPlan {
  int64_t n = 0;
  std::vector<FftStage> stages;
  // Where the stages leave point k of the transform (the mixed-radix digit reversal of k).
  std::vector<int64_t> order;
  // A real transform of even length n as a complex one of n / 2 points (the even samples as real
  // parts, the odd as imaginary): then `stages` are those of n / 2 points, and unzip_re/im[k] =
  // exp(-2 pi i k / n) for k <= n / 2 separate the two halves' spectra afterwards.
  bool real_halves = false;
  std::vector<float> unzip_re, unzip_im;

  // Floats of work space KernelTable::rfft16 takes with this plan: the transform of kPanelWidth
  // frames in place, real and imaginary parts (and for real halves the gathered samples after them).
  int64_t rfft16_work_floats() const { return 2 * n * kPanelWidth; }

  // The plan for complex transforms of length n, or nothing when n has a prime factor above 5
  // (or is below 2).
  static std::optional<FftPlan> make(int64_t n);
  // The plan for real transforms of length n: of n / 2 complex points where n is even.
  static std::optional<FftPlan> make_real(int64_t n);
};

}  // namespace lstmrt

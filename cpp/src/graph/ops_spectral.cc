// DFT and STFT as GEMMs on the core's packed kernels: a DFT of length N is a product with an
// N-column matrix of cosines and sines, packed once, with the STFT's window folded in. The frames
// of an STFT are rows of the signal `frame_step` samples apart, read in place (overlapping rows
// of one GEMM operand), so no frame is copied. A onesided STFT or DFT of a real signal, the speech
// front ends' (a few hundred short transforms per second of audio), runs instead as FFTs of its
// frames, sixteen at a time in the vector lanes (frame_fft.h), when its length has no prime factor
// above 5.
#include <cmath>
#include <cstring>
#include <optional>

#include "builders.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/packed_matrix.h"
#include "cpu/threading.h"
#include "frame_fft.h"
#include "op_util.h"

namespace lstmrt {

namespace {

// What a DFT matrix is built from; two runs with the same key share it.
struct DftKey {
  int64_t length = 0;      // N, the DFT length
  int64_t samples = 0;     // input samples per transform read (min of the signal and N)
  int64_t components = 1;  // 1: real input, 2: complex (re, im) pairs
  bool onesided = false;
  bool inverse = false;
  bool operator==(const DftKey& o) const {
    return length == o.length && samples == o.samples && components == o.components && onesided == o.onesided &&
           inverse == o.inverse;
  }
  // An inverse of a onesided spectrum (irfft): the input holds the first N/2 + 1 bins of a
  // Hermitian spectrum, the output is N real values.
  bool real_output() const { return onesided && inverse; }
  // Values per transform in the output: bins, or samples for a real output.
  int64_t outputs() const { return real_output() ? length : (onesided ? length / 2 + 1 : length); }
  int64_t output_components() const { return real_output() ? 1 : 2; }
  int64_t columns() const { return outputs() * output_components(); }
};

// The irfft's rows: x_k = 1/N sum_j w_j (a_j cos θ_jk - b_j sin θ_jk) over the stored bins, where
// w_j = 2 counts the bin's conjugate twin in the full spectrum (1 for bin 0 and bin N/2).
PackedMatrix irfft_matrix(const DftKey& key) {
  const int64_t N = key.length, K = key.samples * 2;
  std::vector<float> w(static_cast<size_t>(N * K));
  for (int64_t k = 0; k < N; ++k) {
    float* row = w.data() + k * K;
    for (int64_t j = 0; j < key.samples; ++j) {
      const double twin = (j == 0 || 2 * j == N) ? 1.0 : 2.0;
      const double theta = 2.0 * M_PI * static_cast<double>((j * k) % N) / static_cast<double>(N);
      row[2 * j] = static_cast<float>(twin * std::cos(theta) / static_cast<double>(N));
      row[2 * j + 1] = static_cast<float>(-twin * std::sin(theta) / static_cast<double>(N));
    }
  }
  return PackedMatrix(w.data(), N, K, K);
}

// Rows (re_0, im_0, re_1, im_1, ...) of the transform as weights over the interleaved input
// samples, each times window[k] when a window is given.
PackedMatrix dft_matrix(const DftKey& key, const float* window) {
  if (key.real_output()) return irfft_matrix(key);
  const int64_t bins = key.outputs(), K = key.samples * key.components;
  const double sign = key.inverse ? 1.0 : -1.0;
  const double scale = key.inverse ? 1.0 / static_cast<double>(key.length) : 1.0;
  std::vector<float> w(static_cast<size_t>(2 * bins * K));
  for (int64_t j = 0; j < bins; ++j) {
    float* re = w.data() + (2 * j) * K;
    float* im = re + K;
    for (int64_t k = 0; k < key.samples; ++k) {
      // The angle from j * k modulo N in integers, so that long transforms keep their precision.
      const double theta = 2.0 * M_PI * static_cast<double>((j * k) % key.length) / static_cast<double>(key.length);
      const double g = scale * (window ? window[k] : 1.0);
      const double c = g * std::cos(theta), s = g * sign * std::sin(theta);
      // (a + ib)(cos + i·sign·sin) = (a cos - b sign sin) + i (b cos + a sign sin)
      if (key.components == 1) {
        re[k] = static_cast<float>(c);
        im[k] = static_cast<float>(s);
      } else {
        re[2 * k] = static_cast<float>(c);
        re[2 * k + 1] = static_cast<float>(-s);
        im[2 * k] = static_cast<float>(s);
        im[2 * k + 1] = static_cast<float>(c);
      }
    }
  }
  return PackedMatrix(w.data(), 2 * bins, K, K);
}

// The packed matrix of a node in a plan, rebuilt when the key (or the window) changes; and for
// FFTs of frames, the plan of the frame length and a window of ones.
struct DftState final : OpState {
  DftKey key;
  std::vector<float> window;
  PackedMatrix matrix;
  int64_t fft_length = 0;
  std::optional<FftPlan> fft;
  std::vector<float> ones;

  // The real-transform plan of length n, or null where n has a prime factor above 5.
  const FftPlan* fft_plan(int64_t n) {
    if (fft_length != n) {
      fft = FftPlan::make_real(n);
      fft_length = n;
      ones.assign(static_cast<size_t>(n), 1.0f);
    }
    return fft ? &*fft : nullptr;
  }

  const PackedMatrix& get(const DftKey& k, const Tensor* win) {
    const bool same_window = win ? (window.size() == static_cast<size_t>(win->numel()) &&
                                    std::equal(window.begin(), window.end(), win->data<float>()))
                                 : window.empty();
    if (matrix.empty() || !(key == k) || !same_window) {
      key = k;
      window.assign(win ? win->data<float>() : nullptr, win ? win->data<float>() + win->numel() : nullptr);
      matrix = dft_matrix(k, win ? window.data() : nullptr);
    }
    return matrix;
  }
};

DftState& dft_state(RunContext& ctx) {
  if (!*ctx.state) *ctx.state = std::make_unique<DftState>();
  return static_cast<DftState&>(**ctx.state);
}

int64_t scalar_int(const Tensor& t, const char* what) {
  expect_integer(t, what);
  if (t.numel() != 1) throw ValueError(std::string(what) + ": expected a single value, got shape " + shape_to_string(t.shape()));
  return t.int_at(0);
}

// ---------------------------------------------------------------------------------------------

class StftOp final : public Op {
 public:
  explicit StftOp(bool onesided) : onesided_(onesided) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& signal = *in[0];
    expect_dtype(signal, DType::Float32, "signal");
    // [batch, length] is a real signal too (onnxruntime takes it, and exporters write it).
    if ((signal.rank() != 3 && signal.rank() != 2) || (signal.rank() == 3 && signal.dim(2) != 1 && signal.dim(2) != 2))
      throw ValueError("signal: expected shape [batch, length], [batch, length, 1] (real) or [batch, length, 2] "
                       "(complex), got " + shape_to_string(signal.shape()));
    const int64_t step = scalar_int(*in[1], "frame_step");
    const Tensor* window = in.size() > 2 ? in[2] : nullptr;
    const Tensor* length_in = in.size() > 3 ? in[3] : nullptr;
    if (window) {
      expect_dtype(*window, DType::Float32, "window");
      if (window->rank() != 1) throw ValueError("window: expected a 1-D tensor, got shape " + shape_to_string(window->shape()));
    }
    int64_t n = length_in ? scalar_int(*length_in, "frame_length") : (window ? window->numel() : 0);
    if (!window && !length_in) throw ValueError("needs a window or a frame_length");
    if (window && window->numel() != n)
      throw ValueError("window has " + std::to_string(window->numel()) + " values, frame_length is " + std::to_string(n));
    const int64_t batch = signal.dim(0), L = signal.dim(1), c = signal.rank() == 3 ? signal.dim(2) : 1;
    if (step <= 0) throw ValueError("frame_step must be positive, got " + std::to_string(step));
    if (n <= 0 || n > L)
      throw ValueError("frame_length " + std::to_string(n) + " must be in [1, signal length " + std::to_string(L) + "]");
    if (onesided_ && c == 2) throw ValueError("onesided = 1 needs a real signal, got a complex one");
    DftKey key;
    key.length = n;
    key.samples = n;
    key.components = c;
    key.onesided = onesided_;
    const int64_t frames = 1 + (L - n) / step, bins = key.outputs();
    Tensor& y = *out[0];
    y.ensure(DType::Float32, {batch, frames, bins, 2});
    if (y.numel() == 0) return;
    const int threads = resolve_threads(ctx.threads);
    DftState& state = dft_state(ctx);
    const FftPlan* plan = c == 1 && onesided_ && frame_fft_enabled() ? state.fft_plan(n) : nullptr;
    if (plan) {
      // y[b][t][k] = (re, im) of bin k of frame t.
      FrameFft f;
      f.plan = plan;
      f.step = step;
      f.frames = frames;
      f.samples = n;
      f.window = window ? window->data<float>() : state.ones.data();
      f.bins = bins;
      f.ld_bin = 2;
      f.ld_frame = bins * 2;
      for (int64_t b = 0; b < batch; ++b) {
        f.x = signal.data<float>() + b * L;
        f.re = y.data<float>() + b * frames * bins * 2;
        f.im = f.re + 1;
        run_frame_fft(f, ctx.shared_scratch<FrameFftWork>(), threads);
      }
      return;
    }
    const PackedMatrix& m = state.get(key, window);
    for (int64_t b = 0; b < batch; ++b)
      gemm(kernels(), frames, signal.data<float>() + b * L * c, step * c, m, nullptr, false,
           y.data<float>() + b * frames * bins * 2, bins * 2, threads);
  }

 private:
  bool onesided_;
};

// ---------------------------------------------------------------------------------------------

class DftOp final : public Op {
 public:
  DftOp(int64_t axis_attr, bool axis_from_input, bool onesided, bool inverse)
      : axis_attr_(axis_attr), axis_from_input_(axis_from_input), onesided_(onesided), inverse_(inverse) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    const Tensor& x = *in[0];
    expect_dtype(x, DType::Float32, "input");
    const int64_t r = static_cast<int64_t>(x.rank());
    if (r < 2 || (x.dim(r - 1) != 1 && x.dim(r - 1) != 2))
      throw ValueError("input: expected a last dimension of 1 (real) or 2 (complex), got shape " +
                       shape_to_string(x.shape()));
    int64_t axis = axis_attr_;
    if (axis_from_input_ && in.size() > 2 && in[2]) axis = scalar_int(*in[2], "axis");
    axis = normalize_axis(axis, r, "axis");
    if (axis == r - 1) throw ValueError("axis must not be the last dimension, which holds the real and imaginary parts");
    const int64_t c = x.dim(r - 1), n = x.dim(static_cast<size_t>(axis));
    DftKey key;
    key.components = c;
    key.onesided = onesided_;
    key.inverse = inverse_;
    // An irfft's input holds N/2 + 1 bins, so its length defaults to 2 (n - 1) samples.
    key.length = key.real_output() ? 2 * (n - 1) : n;
    if (in.size() > 1 && in[1]) key.length = scalar_int(*in[1], "dft_length");
    if (key.length <= 0) throw ValueError("dft_length must be positive, got " + std::to_string(key.length));
    if (key.real_output() && c != 2) throw ValueError("an inverse onesided DFT needs a complex input");
    if (onesided_ && !inverse_ && c == 2) throw ValueError("onesided = 1 needs a real input, got a complex one");
    key.samples = std::min(n, key.real_output() ? key.length / 2 + 1 : key.length);
    const int64_t per = key.outputs(), oc = key.output_components(), cols = key.columns();
    DimVector shape(x.shape().begin(), x.shape().end());
    shape[static_cast<size_t>(axis)] = per;
    shape.back() = oc;
    Tensor& y = *out[0];
    y.ensure(DType::Float32, shape);
    if (y.numel() == 0) return;
    int64_t outer = 1, inner = 1;  // the dims before the axis, and after it (the parts excluded)
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<size_t>(d));
    for (int64_t d = axis + 1; d < r - 1; ++d) inner *= x.dim(static_cast<size_t>(d));
    if (key.samples == 0) {
      std::memset(y.raw(), 0, y.nbytes());
      return;
    }
    const int threads = resolve_threads(ctx.threads);
    DftState& state = dft_state(ctx);
    const FftPlan* plan =
        inner == 1 && c == 1 && onesided_ && !inverse_ && frame_fft_enabled() ? state.fft_plan(key.length) : nullptr;
    if (plan) {
      // Each transform's samples are a row of n values: FFTs of the rows, zero-padded to the
      // length; y[o][k] = (re, im) of bin k of row o.
      FrameFft f;
      f.plan = plan;
      f.x = x.data<float>();
      f.step = n;
      f.frames = outer;
      f.samples = key.samples;
      f.window = state.ones.data();
      f.bins = per;
      f.re = y.data<float>();
      f.im = f.re + 1;
      f.ld_bin = 2;
      f.ld_frame = per * 2;
      run_frame_fft(f, ctx.shared_scratch<FrameFftWork>(), threads);
      return;
    }
    const PackedMatrix& m = state.get(key, nullptr);
    if (inner == 1) {
      // The transformed axis is next to the parts: each transform reads n * c contiguous values.
      gemm(kernels(), outer, x.data<float>(), n * c, m, nullptr, false, y.data<float>(), cols, threads);
      return;
    }
    // Otherwise gather each (outer, inner) transform's samples into rows first, then scatter back.
    Tensor& res = ctx.scratch_tensor(1);  // first: making slot 1 may move slot 0
    Tensor& rows = ctx.scratch_tensor(0);
    rows.ensure(DType::Float32, {outer * inner, key.samples * c});
    res.ensure(DType::Float32, {outer * inner, cols});
    const float* s = x.data<float>();
    float* a = rows.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t k = 0; k < key.samples; ++k)
          std::memcpy(a + ((o * inner + i) * key.samples + k) * c, s + ((o * n + k) * inner + i) * c, c * sizeof(float));
    gemm(kernels(), outer * inner, a, key.samples * c, m, nullptr, false, res.data<float>(), cols, threads);
    float* d = y.data<float>();
    const float* q = res.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t j = 0; j < per; ++j)
          std::memcpy(d + ((o * per + j) * inner + i) * oc, q + ((o * inner + i) * per + j) * oc, oc * sizeof(float));
  }

 private:
  int64_t axis_attr_;
  bool axis_from_input_;
  bool onesided_, inverse_;
};

}  // namespace

OpPtr build_stft(const BuildContext& ctx) {
  const int64_t onesided = ctx.get_int("onesided", 1);
  if (onesided != 0 && onesided != 1) ctx.fail("onesided must be 0 or 1, got " + std::to_string(onesided));
  return std::make_unique<StftOp>(onesided == 1);
}

OpPtr build_dft(const BuildContext& ctx) {
  const int64_t onesided = ctx.get_int("onesided", 0), inverse = ctx.get_int("inverse", 0);
  if (onesided != 0 && onesided != 1) ctx.fail("onesided must be 0 or 1, got " + std::to_string(onesided));
  if (inverse != 0 && inverse != 1) ctx.fail("inverse must be 0 or 1, got " + std::to_string(inverse));
  // Opset 20 moved the axis from an attribute (default 1) to the third input (default -2).
  const bool from_input = ctx.opset() >= 20;
  if (from_input && ctx.has_attr("axis")) ctx.fail("attribute 'axis' is an input from opset 20");
  return std::make_unique<DftOp>(from_input ? -2 : ctx.get_int("axis", 1), from_input, onesided == 1, inverse == 1);
}

}  // namespace lstmrt

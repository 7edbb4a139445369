// lstmrt._core.testing: Conv's kernels (the window packing and the product over shifted rows)
// on guarded buffers, and the switch between Conv's two stride-1 paths.
#include <tuple>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "guarded_buffers.h"
#include "cpu/fft_plan.h"
#include "cpu/kernels.h"
#include "graph/frame_fft.h"
#include "graph/conv_shifted.h"

namespace lstmrt {

void register_conv_kernel_tests(py::module_& t) {
  t.def(
      "pack_window_panel",
      [](const std::string& isa, py::handle x_obj, const std::vector<std::tuple<int64_t, int, int>>& segments,
         int64_t step) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto xo = float_array(x_obj, "x");
        if (!xo || xo->ndim() != 2) throw ValueError("pack_window_panel: expected x [channels, plane]");
        if (segments.size() % 2 != 0) throw ValueError("pack_window_panel: two segments per kernel position");
        const int64_t C = xo->shape(0), plane = xo->shape(1), KS = static_cast<int64_t>(segments.size() / 2);
        std::vector<WindowSegment> seg;
        for (const auto& s : segments) seg.push_back(WindowSegment{std::get<0>(s), std::get<1>(s), std::get<2>(s)});
        auto x = guarded_copy(xo->data(), static_cast<size_t>(C * plane));
        auto out = std::make_unique<GuardedFloats>(static_cast<size_t>(C * KS * kPanelWidth));
        {
          py::gil_scoped_release release;
          kt.pack_window_panel(x->data(), C, plane, KS, seg.data(), step, out->data());
        }
        return result_array(*out, {static_cast<py::ssize_t>(C), static_cast<py::ssize_t>(KS), kPanelWidth});
      },
      py::arg("isa"), py::arg("x"), py::arg("segments"), py::arg("step"),
      "One panel of Conv's column operand through one ISA's kernel; segments are (offset, lane0, lane_end).");

  t.def(
      "gemm_shifted",
      [](const std::string& isa, py::handle A_obj, py::handle x_obj, const std::vector<int64_t>& offsets, int64_t N,
         py::handle C_obj) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto Ao = float_array(A_obj, "A");
        const auto xo = float_array(x_obj, "x");
        const auto Co = float_array(C_obj, "C");
        if (!Ao || !xo || Ao->ndim() != 2 || xo->ndim() != 1)
          throw ValueError("gemm_shifted: expected A [M, K] and x [length]");
        const int64_t M = Ao->shape(0), K = Ao->shape(1), length = xo->shape(0);
        if (static_cast<int64_t>(offsets.size()) != K) throw ValueError("gemm_shifted: one offset per column of A");
        const int64_t readable = (N + kPanelWidth - 1) / kPanelWidth * kPanelWidth;
        for (int64_t o : offsets)
          if (o < 0 || o + readable > length)
            throw ValueError("gemm_shifted: x must hold every offset plus N rounded up to whole panels");
        if (Co && (Co->ndim() != 2 || Co->shape(0) != M || Co->shape(1) != N))
          throw ValueError("gemm_shifted: C must be [M, N]");
        auto a = guarded_copy(Ao->data(), static_cast<size_t>(M * K));
        auto x = guarded_copy(xo->data(), static_cast<size_t>(length));
        auto c = Co ? guarded_copy(Co->data(), static_cast<size_t>(M * N))
                    : std::make_unique<GuardedFloats>(static_cast<size_t>(M * N));
        {
          py::gil_scoped_release release;
          kt.gemm_shifted(M, N, K, a->data(), K, x->data(), offsets.data(), Co.has_value(), c->data(), N);
        }
        return result_array(*c, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
      },
      py::arg("isa"), py::arg("A"), py::arg("x"), py::arg("offsets"), py::arg("N"), py::arg("C") = py::none(),
      "C[m][n] = (C given: C[m][n] +) sum_k A[m][k] * x[offsets[k] + n] through one ISA's gemm_shifted.");

  t.def(
      "rfft16",
      [](const std::string& isa, py::handle x_obj, int64_t n, int64_t step, int64_t frames, py::handle window_obj,
         int64_t bins, bool negate_im, int64_t samples) {
        const KernelTable& kt = kernels_for(parse_isa(isa));
        const auto xo = float_array(x_obj, "x");
        const auto wo = float_array(window_obj, "window");
        const std::optional<FftPlan> plan = FftPlan::make_real(n);
        if (!plan) throw ValueError("rfft16: no plan for length " + std::to_string(n) + " (factors 2, 3, 5 only)");
        if (!xo || !wo || xo->ndim() != 1 || wo->ndim() != 1 || wo->shape(0) != n)
          throw ValueError("rfft16: expected x [length] and window [n]");
        if (frames < 1 || frames > kPanelWidth || bins < 1 || bins > n / 2 + 1 || step < 1)
          throw ValueError("rfft16: frames in [1, 16], bins in [1, n / 2 + 1], step positive");
        if (samples < 0) samples = n;
        if (samples < 1 || samples > n) throw ValueError("rfft16: samples in [1, n]");
        if ((frames - 1) * step + samples > xo->shape(0)) throw ValueError("rfft16: x too short for the frames");
        auto x = guarded_copy(xo->data(), static_cast<size_t>(xo->shape(0)));
        auto w = guarded_copy(wo->data(), static_cast<size_t>(n));
        std::vector<float> work(static_cast<size_t>(plan->rfft16_work_floats()));
        auto re = std::make_unique<GuardedFloats>(static_cast<size_t>(bins * frames));
        auto im = std::make_unique<GuardedFloats>(static_cast<size_t>(bins * frames));
        {
          py::gil_scoped_release release;
          kt.rfft16(*plan, x->data(), step, frames, samples, w->data(), work.data(), re->data(), im->data(), frames, 1,
                    bins, negate_im);
        }
        const std::vector<py::ssize_t> shape = {static_cast<py::ssize_t>(bins), static_cast<py::ssize_t>(frames)};
        return py::make_tuple(result_array(*re, shape), result_array(*im, shape));
      },
      py::arg("isa"), py::arg("x"), py::arg("n"), py::arg("step"), py::arg("frames"), py::arg("window"),
      py::arg("bins"), py::arg("negate_im") = false, py::arg("samples") = -1,
      "(re, im) [bins, frames]: the DFT of `frames` windowed frames of x, `step` apart, each its first `samples` "
      "(all n by default) and zeros, through one ISA's rfft16.");

  t.def("set_frame_fft", &set_frame_fft_enabled, py::arg("enabled"),
        "False sends every STFT, and every Conv whose weights are a windowed DFT, through its product instead of "
        "FFTs of the frames (for tests that compare the two).");
  t.def("frame_fft_runs", &frame_fft_runs, "How many signals (Conv images, STFT batch rows) went through FFTs.");
  t.def("set_conv_shifted_rows", &set_shifted_rows_enabled, py::arg("enabled"),
        "False sends every Conv through the packed window columns instead of the shifted rows (for tests that "
        "compare the two).");
  t.def("conv_shifted_rows_runs", &shifted_rows_runs, "How many image-groups Conv has computed over shifted rows.");
  t.def("conv_channel_split_runs", &channel_split_runs,
        "How many image-groups Conv has split over its threads by output channels rather than positions.");
  t.def("conv_zero_tail_positions", &zero_tail_positions,
        "How many output positions Conv has filled with the bias because their windows read only zeros.");
}

}  // namespace lstmrt

"""DFT and STFT against onnxruntime: real and complex input, onesided, inverse, dft_length
shorter and longer than the signal, every axis, windows, frame steps; the speech front-ends'
shapes (a 400-sample Hann window every 160 samples, a 512-point DFT)."""

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run
from checks import assert_close

rng = np.random.default_rng(7)


def _check(model, feeds, atol):
    got = lstmrt.InferenceSession(model).run(None, feeds)
    want = ort_run(model, feeds)
    for g, w in zip(got, want):
        assert_same(g, w, atol=atol, rtol=1e-4)


def _tol(n):
    """float32 sums of n terms of size up to 1 (a few ULPs per term), compared with another
    float32 summation order."""
    return 1e-6 * n + 1e-5


@pytest.mark.parametrize("shape,axis", [((2, 16, 1), 1), ((3, 12, 2), 1), ((2, 5, 8, 1), 1), ((2, 5, 8, 2), 2),
                                        ((2, 5, 8, 1), -2), ((1, 1, 7, 1), 2)])
@pytest.mark.parametrize("onesided,inverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("length", [None, 6, 20])
def test_dft_opset17(shape, axis, onesided, inverse, length):
    x = rng.standard_normal(shape).astype(np.float32)
    feeds = {"x": x}
    ins = ["x"]
    if length is not None:
        feeds["n"] = np.array(length, np.int64)
        ins.append("n")
    node = helper.make_node("DFT", ins, ["y"], axis=axis, onesided=onesided, inverse=inverse)
    model = make_model([node], feeds, ["y"], opset=17)
    # A onesided transform of a complex input is not defined, nor an inverse one (irfft) of a
    # real input.
    if (onesided and not inverse and shape[-1] == 2) or (onesided and inverse and shape[-1] == 1):
        with pytest.raises(ValueError, match="onesided|complex"):
            lstmrt.InferenceSession(model).run(None, feeds)
        return
    tol = _tol(max(shape[axis], length or 0))
    if onesided and inverse:
        # onnxruntime's irfft of a truncated spectrum (dft_length below 2 (n - 1)) is off by up to
        # 0.2 from NumPy's irfft; NumPy in float64 is the reference.
        z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
        want = np.fft.irfft(z, n=length, axis=axis % x.ndim)[..., None]
        assert_close(lstmrt.InferenceSession(model).run(None, feeds)[0], want, atol=tol, rtol=1e-4)
        return
    _check(model, feeds, tol)


@pytest.mark.parametrize("axis", [-2, 1])
def test_dft_opset20_axis_input(axis):
    x = rng.standard_normal((2, 10, 3, 1)).astype(np.float32)
    feeds = {"x": x, "n": np.array(10, np.int64), "axis": np.array(axis, np.int64)}
    node = helper.make_node("DFT", ["x", "n", "axis"], ["y"])
    _check(make_model([node], feeds, ["y"], opset=20), feeds, _tol(10))


def _stft_reference(x, step, n, window, onesided):
    """The STFT in float64 from NumPy's FFT: each frame times the window, transformed."""
    frames = 1 + (x.shape[1] - n) // step
    w = np.ones(n) if window is None else window.astype(np.float64)
    sig = x[..., 0] + (1j * x[..., 1] if x.shape[-1] == 2 else 0)
    out = []
    for f in range(frames):
        spec = np.fft.fft(sig[:, f * step:f * step + n].astype(np.complex128) * w, axis=-1)
        out.append(spec[:, :n // 2 + 1] if onesided else spec)
    spec = np.stack(out, axis=1)
    return np.stack([spec.real, spec.imag], axis=-1)


@pytest.mark.parametrize("n,step,window", [(400, 160, "hann"), (512, 128, "hann"), (16, 5, None), (64, 64, "ones")])
@pytest.mark.parametrize("onesided", [1, 0])
def test_stft(n, step, window, onesided):
    """Against a float64 reference: onnxruntime's own STFT is off by about 1e-3 for a 400-point
    frame (it is within 3e-5 at 512), lstmrt's by about 2e-5 at both."""
    x = rng.standard_normal((2, 1600, 1)).astype(np.float32)
    feeds = {"x": x, "step": np.array(step, np.int64)}
    ins = ["x", "step"]
    w = None
    if window is not None:
        w = (np.hanning(n + 1)[:-1] if window == "hann" else np.ones(n)).astype(np.float32)
        feeds["w"] = w
        ins.append("w")
    else:
        ins.append("")
    feeds["n"] = np.array(n, np.int64)
    ins.append("n")
    node = helper.make_node("STFT", ins, ["y"], onesided=onesided)
    got = lstmrt.InferenceSession(make_model([node], feeds, ["y"], opset=17)).run(None, feeds)[0]
    want = _stft_reference(x, step, n, w, onesided)
    assert got.shape == want.shape
    assert_close(got, want, atol=_tol(n), rtol=1e-4)


def test_stft_complex_signal_and_window_as_initializer():
    x = rng.standard_normal((1, 300, 2)).astype(np.float32)
    w = np.hamming(32).astype(np.float32)
    feeds = {"x": x}
    node = helper.make_node("STFT", ["x", "step", "w"], ["y"], onesided=0)
    model = make_model([node], feeds, ["y"], opset=17, initializers={"step": np.array(8, np.int64), "w": w})
    _check(model, feeds, _tol(32))
    got = lstmrt.InferenceSession(model).run(None, feeds)[0]
    assert_close(got, _stft_reference(x, 8, 32, w, 0), atol=_tol(32), rtol=1e-4)


@pytest.mark.parametrize("bad,pattern", [({"step": 0}, "frame_step"), ({"n": 5000}, "frame_length"),
                                         ({"n": 17}, "window has 16")])
def test_stft_bad_input_is_a_clear_error(bad, pattern):
    feeds = {"x": np.zeros((1, 100, 1), np.float32), "step": np.array(bad.get("step", 4), np.int64),
             "w": np.ones(16, np.float32), "n": np.array(bad.get("n", 16), np.int64)}
    sess = lstmrt.InferenceSession(make_model([helper.make_node("STFT", ["x", "step", "w", "n"], ["y"])], feeds, ["y"],
                                              opset=17))
    with pytest.raises(ValueError, match=pattern):
        sess.run(None, feeds)


def test_stft_of_a_rank_2_signal():
    """The speech front-ends feed [batch, length]; onnxruntime reads it as a real signal."""
    x = rng.standard_normal((2, 1000)).astype(np.float32)
    feeds = {"x": x}
    model = make_model([helper.make_node("STFT", ["x", "step", "w"], ["y"])], feeds, ["y"], opset=17,
                       initializers={"step": np.array(160, np.int64), "w": np.hanning(400).astype(np.float32)})
    got = lstmrt.InferenceSession(model).run(None, feeds)[0]
    want = _stft_reference(x[..., None], 160, 400, np.hanning(400).astype(np.float32), 1)
    assert_close(got, want, atol=_tol(400), rtol=1e-4)


def _stft_model(n, step, batch=1, samples=16000, window=True):
    x = rng.standard_normal((batch, samples, 1)).astype(np.float32)
    feeds = {"x": x}
    inits = {"step": np.array(step, np.int64), "n": np.array(n, np.int64)}
    ins = ["x", "step", "", "n"]
    if window:
        inits["w"] = np.hanning(n + 1)[:-1].astype(np.float32)
        ins[2] = "w"
    return make_model([helper.make_node("STFT", ins, ["y"])], feeds, ["y"], opset=17, initializers=inits), feeds


@pytest.mark.parametrize("n,step,batch,window,fft", [(400, 160, 2, True, True), (512, 160, 1, False, True),
                                                     (75, 7, 1, True, True), (14, 3, 1, True, False)])
def test_onesided_stft_of_a_real_signal_runs_as_ffts(n, step, batch, window, fft):
    """FFTs of the frames (frame_fft.h) where the length factors into 2, 3 and 5 (not 14), within
    the tolerance of the GEMM path (switched off through lstmrt._core.testing) against float64."""
    from lstmrt._core import testing

    model, feeds = _stft_model(n, step, batch, window=window)
    before = testing.frame_fft_runs()
    got = lstmrt.InferenceSession(model).run(None, feeds)[0]
    assert testing.frame_fft_runs() - before == (batch if fft else 0)
    testing.set_frame_fft(False)
    try:
        product = lstmrt.InferenceSession(model).run(None, feeds)[0]
    finally:
        testing.set_frame_fft(True)
    w = np.hanning(n + 1)[:-1].astype(np.float32) if window else None
    want = _stft_reference(feeds["x"], step, n, w, 1)
    assert_close(got, want, atol=_tol(n), rtol=1e-4)
    assert_close(product, want, atol=_tol(n), rtol=1e-4)


def test_stft_ffts_give_the_same_bits_on_two_threads():
    model, feeds = _stft_model(512, 160, samples=48000)
    one = lstmrt.InferenceSession(model, threads=1).run(None, feeds)[0]
    two = lstmrt.InferenceSession(model, threads=2).run(None, feeds)[0]
    np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))


@pytest.mark.parametrize("length,fft", [(512, True), (400, True), (300, True), (14, False)])
def test_onesided_dft_of_real_rows_runs_as_ffts(length, fft):
    """wespeaker's DFT: frames of 400 samples as rows, a onesided DFT of 512 points (zero-padded),
    or shorter (truncated); FFTs where the length factors into 2, 3 and 5 (not 14), against
    float64 and the GEMM path (switched off through lstmrt._core.testing)."""
    from lstmrt._core import testing

    x = rng.standard_normal((2, 99, 400, 1)).astype(np.float32)
    feeds = {"x": x}
    model = make_model([helper.make_node("DFT", ["x", "n"], ["y"], axis=-2, onesided=1)], feeds, ["y"], opset=17,
                       initializers={"n": np.array(length, np.int64)})
    before = testing.frame_fft_runs()
    got = lstmrt.InferenceSession(model).run(None, feeds)[0]
    assert testing.frame_fft_runs() - before == (1 if fft else 0)
    testing.set_frame_fft(False)
    try:
        product = lstmrt.InferenceSession(model).run(None, feeds)[0]
    finally:
        testing.set_frame_fft(True)
    spec = np.fft.rfft(x[..., 0].astype(np.float64), n=length, axis=-1)
    want = np.stack([spec.real, spec.imag], axis=-1)
    assert_close(got, want, atol=_tol(length), rtol=1e-4)
    assert_close(product, want, atol=_tol(length), rtol=1e-4)
    two = lstmrt.InferenceSession(model, threads=2).run(None, feeds)[0]
    np.testing.assert_array_equal(got.view(np.uint32), two.view(np.uint32))

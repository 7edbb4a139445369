"""A Conv whose weights are a windowed DFT (the STFT as speech front ends export it: a strided 1-D
Conv of a waveform with rows window * cos and -window * sin) runs as FFTs of its frames
(cpp/src/graph/conv_dft.cc, KernelTable::rfft16).

The kernel is checked on every ISA against numpy.fft.rfft in float64. A session runs each Conv
twice, as FFTs and through its product (the path switched off through lstmrt._core.testing),
and against onnxruntime; a counter shows which Convs took the FFTs.

Tolerances: the FFT's error is a few float32 roundings per stage (log n stages) times the frame's
magnitude, below a GEMM's sqrt(n) roundings; the kernel is held to 2e-6 of the largest bin. A
session's output against onnxruntime (whose sums of n = 400 to 512 products carry their own
rounding) to 2e-5 of the largest output, about 40 float32 roundings of it.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import make_model, ort_run

rng = np.random.default_rng(1204)


def dft_weights(n, window, sign=-1.0):
    """[2 (n // 2 + 1), 1, n]: window * cos rows, then sign * window * sin rows, as float32."""
    bins = n // 2 + 1
    theta = 2.0 * np.pi * ((np.arange(bins)[:, None] * np.arange(n)) % n) / n
    with np.errstate(invalid="ignore"):  # an infinite window times sin(0)
        rows = np.concatenate([window * np.cos(theta), sign * window * np.sin(theta)])
    return rows.astype(np.float32)[:, None, :]


def hann(n, width=None):
    """A periodic Hann window of `width` taps centred in n (zeros around it, as NeMo pads 400 to 512)."""
    width = width or n
    w = np.zeros(n)
    start = (n - width) // 2
    w[start:start + width] = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(width) / width)
    return w


@pytest.mark.parametrize("n", [512, 400, 2, 3, 5, 6, 12, 60, 100])
@pytest.mark.parametrize("frames", [16, 7, 1])
def test_rfft16_matches_numpy(isa, n, frames):
    step = n // 3 + 1
    x = rng.standard_normal((frames - 1) * step + n).astype(np.float32)
    window = rng.uniform(0.0, 1.0, n).astype(np.float32)
    bins = n // 2 + 1
    for negate in (False, True):
        re, im = testing.rfft16(isa, x, n, step, frames, window, bins, negate)
        framed = np.stack([x[j * step:j * step + n].astype(np.float64) * window for j in range(frames)])
        expected = np.fft.rfft(framed, axis=1).T
        if negate:
            expected = expected.conj()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(re, expected.real, rtol=0, atol=2e-6 * scale, err_msg=f"{isa} n={n} re")
        np.testing.assert_allclose(im, expected.imag, rtol=0, atol=2e-6 * scale, err_msg=f"{isa} n={n} im")


@pytest.mark.parametrize("n,samples,frames", [(512, 400, 16), (512, 400, 3), (60, 17, 16), (9, 1, 5)])
def test_rfft16_pads_short_frames_with_zeros(isa, n, samples, frames):
    # A DFT longer than its frames (wespeaker: 400 samples in a 512-point DFT): the frames are
    # rows of `samples` values back to back, and nothing past the last one is read (guard pages).
    x = rng.standard_normal(frames * samples).astype(np.float32)
    window = np.ones(n, np.float32)
    re, im = testing.rfft16(isa, x, n, samples, frames, window, n // 2 + 1, False, samples)
    expected = np.fft.rfft(x.astype(np.float64).reshape(frames, samples), n=n, axis=1).T
    scale = np.abs(expected).max()
    np.testing.assert_allclose(re, expected.real, rtol=0, atol=2e-6 * scale)
    np.testing.assert_allclose(im, expected.imag, rtol=0, atol=2e-6 * scale)


def test_rfft16_refuses_lengths_without_a_plan():
    with pytest.raises(ValueError, match="no plan for length 14"):
        testing.rfft16("generic", np.zeros(14, np.float32), 14, 1, 1, np.ones(14, np.float32), 8)


def stft_model(weights, batch=1, samples=16000, hop=160, bias=None, **attrs):
    inputs, inits = ["x", "w"], {"w": weights}
    if bias is not None:
        inputs.append("b")
        inits["b"] = bias
    feeds = {"x": (0.3 * rng.standard_normal((batch, 1, samples))).astype(np.float32)}
    model = make_model([helper.make_node("Conv", inputs, ["y"], strides=[hop], **attrs)], feeds, ["y"],
                       initializers=inits)
    return model, feeds


def run_both_ways(model, feeds, threads=1):
    """(FFT output, product output, how many images took the FFTs)."""
    sess = lstmrt.InferenceSession(model, threads=threads)
    before = testing.frame_fft_runs()
    fft = sess.run(None, feeds)[0]
    took = testing.frame_fft_runs() - before
    testing.set_frame_fft(False)
    try:
        product = lstmrt.InferenceSession(model, threads=threads).run(None, feeds)[0]
    finally:
        testing.set_frame_fft(True)
    return fft, product, took


def assert_near(got, expected, name):
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * scale, err_msg=name)


# (name, n, window, sign of the sine rows, batch, hop)
STFTS = [
    ("nemo-512-hann400", 512, hann(512, 400), -1.0, 1, 160),
    ("whisper-400", 400, hann(400), -1.0, 2, 160),
    ("kaldi-512-povey", 512, np.pad(hann(400) ** 0.85, (0, 112)), -1.0, 1, 160),
    ("conjugate-256", 256, hann(256), 1.0, 1, 64),
    ("odd-75-hop-1", 75, hann(75), -1.0, 1, 1),
]


@pytest.mark.parametrize("name,n,window,sign,batch,hop", STFTS, ids=[s[0] for s in STFTS])
def test_stft_conv_runs_as_ffts(name, n, window, sign, batch, hop):
    model, feeds = stft_model(dft_weights(n, window, sign), batch=batch, samples=4000 if hop == 1 else 16000,
                              hop=hop)
    fft, product, took = run_both_ways(model, feeds)
    assert took == batch
    expected = ort_run(model, feeds)[0]
    assert fft.shape == expected.shape
    assert_near(fft, expected, f"{name}: FFT against onnxruntime")
    assert_near(product, expected, f"{name}: product against onnxruntime")


def test_two_threads_give_the_bits_of_one():
    model, feeds = stft_model(dft_weights(512, hann(512, 400)), samples=48000)
    one = lstmrt.InferenceSession(model, threads=1).run(None, feeds)[0]
    two = lstmrt.InferenceSession(model, threads=2).run(None, feeds)[0]
    np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))


def test_silence_after_the_audio_gives_zeros():
    # Whisper pads every clip to 30 s: the frames that read only the padding are zeros without
    # an FFT, as the product gives them.
    model, feeds = stft_model(dft_weights(400, hann(400)), samples=32000)
    feeds["x"][..., 12000:] = 0.0
    before = testing.conv_zero_tail_positions()
    fft, product, took = run_both_ways(model, feeds)
    assert took == 1 and testing.conv_zero_tail_positions() > before
    last_sounding = (12000 - 1) // 160
    assert np.all(fft[..., last_sounding + 1:] == 0.0)
    assert_near(fft, ort_run(model, feeds)[0], "silent tail")


def weights_off_by(n, delta):
    w = dft_weights(n, hann(n))
    w[7, 0, 100] += delta
    return w


# Convs the FFTs must leave to the product: weights that are not a DFT (or not quite), a bias, a
# padding or dilation, more than one channel, a length without a plan, a window that is not finite.
NOT_TAKEN = [
    ("off-by-1e-3", lambda: stft_model(weights_off_by(400, 1e-3))),
    ("random", lambda: stft_model(rng.standard_normal((402, 1, 400)).astype(np.float32))),
    ("bias", lambda: stft_model(dft_weights(400, hann(400)), bias=np.zeros(402, np.float32))),
    ("padded", lambda: stft_model(dft_weights(400, hann(400)), pads=[200, 200])),
    ("dilated", lambda: stft_model(dft_weights(64, hann(64)), dilations=[2])),
    ("length-14", lambda: stft_model(dft_weights(14, hann(14)))),
    ("cos-rows-only", lambda: stft_model(dft_weights(400, hann(400))[:201])),
    ("window-with-inf", lambda: stft_model(dft_weights(400, np.where(np.arange(400) == 5, np.inf, hann(400))))),
]


@pytest.mark.parametrize("name,build", NOT_TAKEN, ids=[c[0] for c in NOT_TAKEN])
def test_other_convs_keep_their_product(name, build):
    model, feeds = build()
    sess = lstmrt.InferenceSession(model, threads=1)
    before = testing.frame_fft_runs()
    got = sess.run(None, feeds)[0]
    assert testing.frame_fft_runs() == before
    if name != "window-with-inf":
        expected = ort_run(model, feeds)[0]
        assert_near(got, expected, name)


def test_every_kernel_path_runs_the_stft_conv(isa):
    model, feeds = stft_model(dft_weights(400, hann(400)), batch=2, samples=8000)
    expected = ort_run(model, feeds)[0]
    with lstmrt.use_isa(isa):
        before = testing.frame_fft_runs()
        got = lstmrt.InferenceSession(model, threads=2).run(None, feeds)[0]
        assert testing.frame_fft_runs() - before == 2
    assert_near(got, expected, f"{isa}: FFT against onnxruntime")

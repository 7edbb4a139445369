"""A 1-D Conv over an input whose tail is zeros (Whisper's front end pads every clip to 30 s with
silence) fills the outputs whose windows read only zeros with the bias instead of multiplying.

Each case runs with the weights as an initializer (the skip applies: they are constant and
checked finite at load) and fed as an input (no skip: the same product over every position), and
the two must give the same bits, also with a bias of -0.0 and with no bias; onnxruntime checks
both within the tolerance of test_session_conv.py. Weights holding an infinity must not skip
(0 * inf is NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(777)
ATOL, RTOL = 1e-5, 1e-5


def conv_pair(x, w, b, attrs):
    """Outputs with the weights constant and with them fed (and onnxruntime's), at 1 and 2 threads."""
    inputs = ["x", "w"] + (["b"] if b is not None else [])
    node = helper.make_node("Conv", inputs, ["y"], **attrs)
    consts = {"w": w, **({"b": b} if b is not None else {})}
    constant = make_model([node], {"x": x}, ["y"], opset=17, initializers=consts)
    fed_feeds = {"x": x, **consts}
    fed = make_model([node], fed_feeds, ["y"], opset=17)
    results = []
    for threads in (1, 2):
        results.append(lstmrt.InferenceSession(constant, threads=threads).run(None, {"x": x})[0])
        results.append(lstmrt.InferenceSession(fed, threads=threads).run(None, fed_feeds)[0])
    return results, ort_run(constant, {"x": x})[0]


def silence_after(x, start):
    x = x.copy()
    x[..., start:] = 0.0
    return x


CASES = [
    ("stft-like", (1, 1, 2000), (24, 1, 40), dict(strides=[16]), 700),
    ("padded", (1, 1, 1000), (12, 1, 25), dict(strides=[10], pads=[12, 12]), 333),
    ("channels", (2, 3, 900), (16, 3, 9), dict(strides=[4], pads=[4, 4]), 500),
    ("all-silent", (1, 2, 640), (8, 2, 16), dict(strides=[8]), 0),
    ("no-silence", (1, 1, 640), (8, 1, 16), dict(strides=[8]), 640),
    # Stride 1, few channels: over shifted rows (test_session_conv_shifted.py), which skip too.
    ("stride-1-shifted", (1, 8, 300), (16, 8, 5), dict(pads=[2, 2]), 120),
]


@pytest.mark.parametrize("bias", ["bias", "negative-zero-bias", "no-bias"])
@pytest.mark.parametrize("name,x_shape,w_shape,attrs,silent_from", CASES, ids=[c[0] for c in CASES])
def test_silent_tail_gives_the_bits_of_the_full_product(name, x_shape, w_shape, attrs, silent_from, bias):
    x = silence_after(rng.uniform(-1, 1, x_shape).astype(np.float32), silent_from)
    w = rng.uniform(-1, 1, w_shape).astype(np.float32)
    b = None if bias == "no-bias" else rng.uniform(-1, 1, w_shape[0]).astype(np.float32)
    if bias == "negative-zero-bias":
        b[::2] = -0.0
    before = testing.conv_zero_tail_positions()
    shifted_before = testing.conv_shifted_rows_runs()
    results, expected = conv_pair(x, w, b, attrs)
    assert (testing.conv_shifted_rows_runs() > shifted_before) == (name == "stride-1-shifted")
    # Two constant-weight runs skip; the fed-weight runs do not.
    out_count = results[0].shape[-1]
    skipped = testing.conv_zero_tail_positions() - before
    assert (skipped > 0) == (silent_from < x_shape[-1]) and skipped <= 2 * x_shape[0] * out_count
    for got in results[1:]:
        np.testing.assert_array_equal(results[0].view(np.uint32), got.view(np.uint32))
    assert_same(results[0], expected, atol=ATOL, rtol=RTOL, name=name)


def test_a_channel_that_sounds_later_keeps_its_positions():
    # Silence in one channel is not silence: the window must read every channel's zeros.
    x = silence_after(rng.uniform(-1, 1, (1, 2, 800)).astype(np.float32), 200)
    x[0, 1, 600] = 0.5
    w = rng.uniform(-1, 1, (8, 2, 16)).astype(np.float32)
    results, expected = conv_pair(x, w, None, dict(strides=[8]))
    assert np.any(results[0][0, :, 70:75] != 0)
    for got in results[1:]:
        np.testing.assert_array_equal(results[0], got)
    assert_same(results[0], expected, atol=ATOL, rtol=RTOL, name="late channel")


def test_weights_with_an_infinity_multiply_the_silence():
    x = silence_after(rng.uniform(-1, 1, (1, 1, 640)).astype(np.float32), 100)
    w = rng.uniform(-1, 1, (8, 1, 16)).astype(np.float32)
    w[3, 0, 5] = np.inf
    before = testing.conv_zero_tail_positions()
    results, expected = conv_pair(x, w, None, dict(strides=[8]))
    assert testing.conv_zero_tail_positions() == before
    assert np.all(np.isnan(results[0][0, 3, 20:]))  # 0 * inf
    for got in results[1:]:
        np.testing.assert_array_equal(results[0], got)
    np.testing.assert_array_equal(np.isnan(results[0]), np.isnan(expected))

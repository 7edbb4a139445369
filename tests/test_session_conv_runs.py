"""Conv's packing of window runs against onnxruntime: output positions go 16 at a time; the
column operand of the GEMM path packs each panel from at most two runs per kernel position
(window_segments: padding left out, a wrap to the next output row starting the second run) and
falls back to the table when rows are shorter than a panel, and the depthwise loop copies the
groups whose inputs lie at a fixed step (window_runs) and takes any other through the table. The cases sweep the group's tail (1 to 16 positions in the last
group), row widths that do and do not divide 16, strides 1 to 3, dilations and padding, for the
GEMM path with positions in column panels, the depthwise loop and a strided one-channel Conv1d
(the STFT front-ends); and long Pad rows (their kept part is copied whole).

Tolerances as in test_session_conv.py: 1e-5 absolute plus 1e-5 relative, inputs in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2177)
ATOL, RTOL = 1e-5, 1e-5


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def check(x, w, b, threads=1, **attrs):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    model = make_model([node], {"x": x}, ["y"], opset=13, initializers={"w": w, "b": b})
    expected = ort_run(model, {"x": x})[0]
    got = lstmrt.InferenceSession(model, threads=threads).run(None, {"x": x})[0]
    assert_same(got, expected, atol=ATOL, rtol=RTOL, name=f"{x.shape} {w.shape} {attrs}")


# Lengths giving 64 + t output positions (t = 0..16) at stride 1 with kernel 3 and no padding:
# the GEMM takes positions in its column panels from 64 positions on.
@pytest.mark.parametrize("tail", range(17))
def test_conv1d_panels_every_tail(tail):
    x = f(1, 3, 66 + tail)
    check(x, f(5, 3, 3), f(5))
    check(x, f(5, 3, 3), f(5), pads=[1, 2])


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 3]], ids=["nopad", "pad1", "padmixed"])
@pytest.mark.parametrize("width", [16, 23, 40])
def test_conv2d_panels_rows_and_padding(stride, dilation, pads, width):
    # Output rows of 16 positions fill whole groups; 23 and 40 put row wraps inside groups.
    x = f(2, 4, 19, width)
    check(x, f(6, 4, 3, 3), f(6), strides=[stride, stride], dilations=[dilation, dilation], pads=pads)


def test_conv3d_panels():
    x = f(1, 2, 6, 7, 9)
    check(x, f(3, 2, 2, 3, 2), f(3), strides=[1, 2, 1], pads=[1, 0, 1, 0, 1, 1])


@pytest.mark.parametrize("tail", range(17))
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_every_tail(tail, stride):
    # 32 + tail positions at stride 1 (fewer at 2): every length of the last group.
    n = 32 + tail
    x = f(1, 4, (n - 1) * stride + 3 - 2)
    check(x, f(4, 1, 3), f(4), group=4, strides=[stride], pads=[1, 0])
    check(x, f(8, 1, 3), f(8), group=4, strides=[stride], pads=[0, 1], dilations=[1])


@pytest.mark.parametrize("attrs", [{}, {"pads": [1, 1, 1, 1]}, {"strides": [2, 2], "pads": [1, 0, 0, 1]},
                                   {"dilations": [2, 1], "pads": [2, 2, 2, 2]}],
                         ids=["plain", "pad1", "stride2", "dilation"])
@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise_2d(attrs, threads):
    x = f(2, 6, 17, 21)
    check(x, f(6, 1, 3, 3), f(6), threads=threads, group=6, **attrs)


@pytest.mark.parametrize("frames", [1, 15, 16, 17, 100])
@pytest.mark.parametrize("threads", [1, 2])
def test_strided_conv1d_front_end(frames, threads):
    # One input channel, a window of 40 samples every 16 (a small STFT as a Conv1d): every group
    # of positions reads its kernel position at a step of 16.
    x = f(2, 1, (frames - 1) * 16 + 40)
    check(x, f(42, 1, 40), f(42), threads=threads, strides=[16])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", [[0, 200, 0, 200], [0, 0, 0, 7], [0, 3, 0, -5], [1, -4, 0, 9]])
def test_pad_long_rows(mode, pads):
    x = f(2, 4000)
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode=mode)
    model = make_model([node], {"x": x}, ["y"], opset=13, initializers={"p": np.array(pads, np.int64)})
    got = lstmrt.InferenceSession(model).run(None, {"x": x})[0]
    assert_same(got, ort_run(model, {"x": x})[0], atol=0, rtol=0)

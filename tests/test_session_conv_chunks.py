"""Conv's reduction cut into chunks (conv_columns.h, reduction_chunks): a window row longer than
two L1-sized column panels is multiplied a chunk of channels (or, with one channel, of kernel
positions) at a time, each chunk added into the output. Against onnxruntime, with and without a
bias, chunks of unequal size, and 1 and 2 threads giving the same bits.

Tolerances as in test_session_conv.py: 1e-5 absolute plus 1e-5 relative, inputs in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(4242)
ATOL, RTOL = 1e-5, 1e-5


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def check(x, w, b, **attrs):
    inputs, inits = ["x", "w"], {"w": w}
    if b is not None:
        inputs.append("b")
        inits["b"] = b
    model = make_model([helper.make_node("Conv", inputs, ["y"], **attrs)], {"x": x}, ["y"], opset=13,
                       initializers=inits)
    expected = ort_run(model, {"x": x})[0]
    one = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]
    two = lstmrt.InferenceSession(model, threads=2).run(None, {"x": x})[0]
    assert_same(one, expected, atol=ATOL, rtol=RTOL, name=f"{x.shape} {w.shape} {attrs}")
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels", [29, 37, 64])
def test_chunks_of_channels(channels, bias):
    # 3x3 windows over 29 to 64 channels: rows of 261 to 576 floats, two or three chunks.
    x = f(1, channels, 12, 21)
    w = f(19, channels, 3, 3)
    check(x, w, f(19) if bias else None, pads=[1, 1, 1, 1])


def test_chunks_of_channels_with_strides_and_groups():
    x = f(2, 2 * 40, 17, 18)
    check(x, f(2 * 24, 40, 3, 3), f(2 * 24), strides=[2, 1], pads=[1, 0, 1, 2], group=2)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel", [300, 601])
def test_chunks_of_kernel_positions(kernel, bias):
    # One channel, a long kernel at a long stride: an STFT as a Conv, its frames a hop apart.
    x = f(1, 1, 37 * 64 + kernel)
    check(x, f(70, 1, kernel), f(70) if bias else None, strides=[37])


def test_one_long_kernel_per_chunk():
    # Two channels whose kernels are each longer than a chunk: one channel per chunk.
    x = f(1, 2, 5 * 150 + 40)
    check(x, f(33, 2, 300), f(33), strides=[5], pads=[3, 7])

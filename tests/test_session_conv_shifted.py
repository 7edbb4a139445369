"""Conv over shifted rows (cpp/src/graph/conv_shifted.cc): a stride-1 Conv with few output
channels multiplies a zero-padded copy of its input in place instead of packing every window.

Each case runs three ways: over shifted rows, over packed windows (the path switched off through
lstmrt._core.testing), and in onnxruntime. The first two must give the same bits (each output is
summed in the same order), and match onnxruntime within the tolerance of test_session_conv.py
(1e-5 absolute plus 1e-5 relative, inputs in [-1, 1]). A counter shows which cases took the path.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(4242)
ATOL, RTOL = 1e-5, 1e-5


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


# (name, x shape, W shape, Conv attributes, bias, whether the shifted path takes it)
CASES = [
    ("3x3-same", (1, 8, 9, 20), (16, 8, 3, 3), dict(pads=[1, 1, 1, 1]), True, True),
    ("3x3-valid-batch2", (2, 6, 7, 21), (12, 6, 3, 3), {}, False, True),
    ("5x5-asymmetric-pads", (1, 4, 11, 23), (8, 4, 5, 5), dict(pads=[2, 0, 1, 3]), True, True),
    ("3x3-dilation2", (1, 5, 12, 30), (10, 5, 3, 3), dict(pads=[2, 2, 2, 2], dilations=[2, 2]), True, True),
    ("3x1-rows-only", (1, 16, 10, 17), (32, 16, 3, 1), dict(pads=[1, 0, 1, 0]), True, True),
    ("same-upper", (1, 7, 8, 19), (9, 7, 4, 4), dict(auto_pad="SAME_UPPER"), True, True),
    ("groups2", (1, 16, 6, 25), (32, 8, 3, 3), dict(pads=[1, 1, 1, 1], group=2), True, True),
    ("1d-k5", (2, 12, 100), (24, 12, 5), dict(pads=[2, 2]), True, True),
    ("1d-dilated-valid", (1, 12, 100), (16, 12, 3), dict(dilations=[3]), False, True),
    # Not taken: too many output channels, a 1x1 kernel, a stride, short window rows, output rows
    # shorter than 3/4 of the padded row.
    ("wide-output", (1, 8, 9, 20), (40, 8, 3, 3), dict(pads=[1, 1, 1, 1]), True, False),
    ("1x1", (1, 32, 9, 20), (16, 32, 1, 1), {}, True, False),
    ("stride2", (1, 8, 9, 20), (16, 8, 3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2]), True, False),
    ("short-window-rows", (1, 3, 9, 20), (16, 3, 3, 3), dict(pads=[1, 1, 1, 1]), True, False),
    ("narrow-rows", (1, 8, 9, 6), (16, 8, 5, 5), dict(pads=[2, 2, 2, 2]), True, False),
]


def conv_model(x_shape, w_shape, attrs, bias, input_shapes=None):
    inits = {"w": f(*w_shape)}
    inputs = ["x", "w"]
    if bias:
        inits["b"] = f(w_shape[0])
        inputs.append("b")
    feeds = {"x": f(*x_shape)}
    return make_model([helper.make_node("Conv", inputs, ["y"], **attrs)], feeds, ["y"], opset=17,
                      initializers=inits, input_shapes=input_shapes), feeds


@pytest.fixture
def shifted_on():
    yield
    testing.set_conv_shifted_rows(True)


@pytest.mark.parametrize("name,x_shape,w_shape,attrs,bias,taken", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("threads", [1, 2])
def test_shifted_rows_equal_packed_windows(shifted_on, name, x_shape, w_shape, attrs, bias, taken, threads):
    model, feeds = conv_model(x_shape, w_shape, attrs, bias)
    sess = lstmrt.InferenceSession(model, threads=threads)
    before = testing.conv_shifted_rows_runs()
    shifted = sess.run(None, feeds)[0]
    assert (testing.conv_shifted_rows_runs() > before) == taken
    testing.set_conv_shifted_rows(False)
    packed = sess.run(None, feeds)[0]
    np.testing.assert_array_equal(shifted.view(np.uint32), packed.view(np.uint32))
    assert_same(shifted, ort_run(model, feeds)[0], atol=ATOL, rtol=RTOL, name=name)


def test_shifted_rows_keep_up_with_changing_shapes(shifted_on):
    # The padded copy and the grid are kept between runs: a larger input grows them, a smaller
    # one reuses them, and both stay right.
    model, _ = conv_model((1, 8, 9, 20), (16, 8, 3, 3), dict(pads=[1, 1, 1, 1]), True,
                          input_shapes={"x": [1, 8, "h", "w"]})
    sess = lstmrt.InferenceSession(model, threads=1)
    for h, w in [(9, 20), (17, 41), (5, 12), (17, 41)]:
        feeds = {"x": f(1, 8, h, w)}
        assert_same(sess.run(None, feeds)[0], ort_run(model, feeds)[0], atol=ATOL, rtol=RTOL, name=f"{h}x{w}")

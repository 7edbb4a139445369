"""How Conv's threads share a product over packed windows (conv_columns.cc, split_channels): by
ranges of whole tiles of output positions, or, where few panels would split unevenly (10 panels
in tiles of 3: 6 and 4), by output channels, each thread packing all the windows.

Either way every output is summed in the same order: 2 threads must give the bits of 1, and both
must match onnxruntime. Inputs and weights are in [-1, 1] and each output sums 360 to 576
products: the sum of their magnitudes reaches about 150, and float32 sums of that many terms in
two orders (ours and onnxruntime's) differ by up to about sqrt(K) * 2^-24 * 150, 2e-4 at the
extreme, so 1e-4 absolute plus 1e-5 relative (1e-5 absolute, as in test_session_conv.py, was
exceeded). A counter shows which cases split by channels.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(77)
ATOL, RTOL = 1e-4, 1e-5


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


# (name, x shape, W shape, Conv attributes, bias, whether 2 threads split the output channels)
CASES = [
    # ddddocr's last stage: 160 positions (10 panels), 256 output channels.
    ("3x3-10-panels-256", (1, 64, 8, 20), (256, 64, 3, 3), dict(pads=[1, 1, 1, 1]), True, True),
    ("3x3-10-panels-192-strided", (1, 48, 16, 40), (192, 48, 3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2]), True,
     True),
    # Output channels not a multiple of the share step, no bias, a reduction in chunks.
    ("3x3-10-panels-203-chunks", (1, 40, 8, 20), (203, 40, 3, 3), dict(pads=[1, 1, 1, 1]), False, True),
    ("3x3-8-panels-2-groups", (1, 64, 8, 16), (256, 32, 3, 3), dict(pads=[1, 1, 1, 1], group=2), True, True),
    # Not split by channels: panels that split evenly, or too few channels to pay for packing twice.
    ("3x3-40-panels", (1, 48, 16, 40), (192, 48, 3, 3), dict(pads=[1, 1, 1, 1]), True, False),
    ("3x3-6-panels", (1, 64, 8, 12), (256, 64, 3, 3), dict(pads=[1, 1, 1, 1]), True, False),
    ("1x1-10-panels-64", (1, 256, 8, 20), (64, 256, 1, 1), {}, True, False),
    ("3x3-10-panels-12", (1, 64, 8, 20), (12, 64, 3, 3), dict(pads=[1, 1, 1, 1], strides=[1, 1]), True, False),
]


@pytest.mark.parametrize("name,x_shape,w_shape,attrs,bias,split", CASES, ids=[c[0] for c in CASES])
def test_two_threads_give_the_bits_of_one(name, x_shape, w_shape, attrs, bias, split):
    inputs, inits = ["x", "w"], {"w": f(*w_shape)}
    if bias:
        inputs.append("b")
        inits["b"] = f(w_shape[0])
    feeds = {"x": f(*x_shape)}
    model = make_model([helper.make_node("Conv", inputs, ["y"], **attrs)], feeds, ["y"], initializers=inits)
    one = lstmrt.InferenceSession(model, threads=1).run(None, feeds)[0]
    two_sess = lstmrt.InferenceSession(model, threads=2)
    before = testing.conv_channel_split_runs()
    two = two_sess.run(None, feeds)[0]
    assert (testing.conv_channel_split_runs() > before) == split
    np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))
    assert_same(one, ort_run(model, feeds)[0], atol=ATOL, rtol=RTOL, name=name)

"""The Convs of one session share one scratch (cpp/src/graph/ops_conv.cc, ConvScratch): the
packed windows and the padded input that each Conv fills and reads within its own run.

A chain of Convs of different sizes and paths (shifted rows, packed windows, 1x1, strided) runs
in one session, so that each Conv finds the scratch as a Conv of another shape left it. Each
output must have the bits that the same Conv gives alone in its own session fed the same input
(every output is summed in the same order whatever the scratch held before), and the chain must
match onnxruntime within the tolerance of test_session_conv.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(20261204)
ATOL, RTOL = 1e-4, 1e-4  # eight Convs deep, inputs in [-1, 1], weights scaled to keep values O(1)

# (out channels, kernel, Conv attributes): small and large products, both Conv paths, a stride
# that shrinks the image, a 1x1 that packs at the speed of a copy.
CHAIN = [
    (24, 3, dict(pads=[1, 1, 1, 1])),  # shifted rows
    (96, 3, dict(pads=[1, 1, 1, 1], strides=[2, 2])),  # packed windows, smaller image
    (48, 1, {}),
    (192, 3, dict(pads=[1, 1, 1, 1])),  # the largest scratch
    (16, 3, dict(pads=[1, 1, 1, 1])),  # shifted rows again, after the large one
    (64, 3, dict(pads=[1, 1, 1, 1], strides=[2, 2])),
    (24, 3, dict(pads=[2, 2, 2, 2], dilations=[2, 2])),
    (32, 1, {}),
]


def chain_model(channels, input_shapes=None):
    nodes, inits = [], {}
    prev, c_in = "x", channels
    for i, (c_out, k, attrs) in enumerate(CHAIN):
        scale = 1.0 / np.sqrt(c_in * k * k)
        inits[f"w{i}"] = (rng.uniform(-1.0, 1.0, (c_out, c_in, k, k)) * scale).astype(np.float32)
        inits[f"b{i}"] = rng.uniform(-0.1, 0.1, c_out).astype(np.float32)
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"y{i}"], **attrs))
        prev, c_in = f"y{i}", c_out
    feeds = {"x": rng.uniform(-1.0, 1.0, (1, channels, 24, 56)).astype(np.float32)}
    outputs = [f"y{i}" for i in range(len(CHAIN))]
    return make_model(nodes, feeds, outputs, initializers=inits, input_shapes=input_shapes), inits, outputs


def alone(inits, i, x, threads):
    """Conv i of the chain in a session of its own, fed x."""
    _, _, attrs = CHAIN[i]
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], {"x": x}, ["y"],
                       initializers={"w": inits[f"w{i}"], "b": inits[f"b{i}"]})
    return lstmrt.InferenceSession(model, threads=threads).run(None, {"x": x})[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_each_conv_of_a_chain_gives_its_bits_alone(threads):
    model, inits, outputs = chain_model(8)
    sess = lstmrt.InferenceSession(model, threads=threads)
    feeds = {"x": rng.uniform(-1.0, 1.0, (1, 8, 24, 56)).astype(np.float32)}
    before = testing.conv_shifted_rows_runs()
    got = sess.run(None, feeds)
    assert testing.conv_shifted_rows_runs() > before, "no Conv of the chain took the shifted rows"
    inputs = [feeds["x"]] + got[:-1]
    for i, (x, y) in enumerate(zip(inputs, got)):
        np.testing.assert_array_equal(y.view(np.uint32), alone(inits, i, x, threads).view(np.uint32),
                                      err_msg=f"Conv {i} of the chain")
    for name, g, e in zip(outputs, got, ort_run(model, feeds)):
        assert_same(g, e, atol=ATOL, rtol=RTOL, name=name)


def test_plans_of_other_shapes_share_the_scratch():
    # Each input shape has its own run plan; the scratch is the run state's, shared by all of
    # them: a large image, a small one, then the large one again.
    model, _, outputs = chain_model(8, input_shapes={"x": [1, 8, "h", "w"]})
    sess = lstmrt.InferenceSession(model, threads=2)
    for h, w in [(24, 56), (9, 17), (40, 72), (24, 56)]:
        feeds = {"x": rng.uniform(-1.0, 1.0, (1, 8, h, w)).astype(np.float32)}
        for name, g, e in zip(outputs, sess.run(None, feeds), ort_run(model, feeds)):
            assert_same(g, e, atol=ATOL, rtol=RTOL, name=f"{name} at {h}x{w}")

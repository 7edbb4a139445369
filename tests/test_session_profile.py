"""InferenceSession.profile: one row per compiled node, in run order, with its fused epilogues in
its op type, times that are real (positive for nodes that compute, and dominated by the node that
does the most work), and the same checks on its feeds as run."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import make_model

rng = np.random.default_rng(7)


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def conv_silu_relu_model():
    """A heavy Conv with a SiLU (fused into it), then a light Relu."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Mul", ["c", "s"], ["m"]),
             helper.make_node("Relu", ["m"], ["y"])]
    feeds = {"x": f(1, 32, 32, 32)}
    return make_model(nodes, feeds, ["y"], opset=13, initializers={"w": f(64, 32, 3, 3)}), feeds


def test_profile_lists_compiled_nodes_in_run_order():
    model, feeds = conv_silu_relu_model()
    sess = lstmrt.InferenceSession(model, threads=1)
    rows = sess.profile(feeds, repeat=3)
    assert [(r.op_type, r.name) for r in rows] == [("Conv+SiLU", "Conv_0"), ("Relu", "Relu_3")]  # the importer names unnamed nodes
    conv, relu = rows
    assert conv.seconds > 0 and relu.seconds > 0
    # 2 * 64 * 288 * 1024 flops against a pass over 64K floats.
    assert conv.seconds > relu.seconds


def test_profile_names_nodes_and_leaves_run_unchanged():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="first"), helper.make_node("Neg", ["r"], ["y"], name="second")]
    feeds = {"x": f(4, 5)}
    sess = lstmrt.InferenceSession(make_model(nodes, feeds, ["y"]), threads=1)
    before = sess.run(None, feeds)[0]
    assert [(r.op_type, r.name) for r in sess.profile(feeds, repeat=2)] == [("Relu", "first"), ("Neg", "second")]
    np.testing.assert_array_equal(sess.run(None, feeds)[0], before)
    np.testing.assert_array_equal(before, -np.maximum(feeds["x"], 0))


def test_profile_checks_its_arguments():
    model, feeds = conv_silu_relu_model()
    sess = lstmrt.InferenceSession(model, threads=1)
    with pytest.raises(ValueError, match="repeat: expected at least 1, got 0"):
        sess.profile(feeds, repeat=0)
    with pytest.raises(ValueError, match="input 'x': dimension 1 must be 32"):
        sess.profile({"x": f(1, 3, 32, 32)})
    with pytest.raises(ValueError, match="missing input 'x'"):
        sess.profile({})

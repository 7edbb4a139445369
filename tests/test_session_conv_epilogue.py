"""Epilogue fusion (graph_fuse.cc, epilogue.h): a Conv followed by x * sigmoid(x) spelled as a
Sigmoid and a Mul, or by the Add of a residual, runs those nodes as passes over the Conv's output.

Each fused graph is checked against onnxruntime, bit for bit against the unfused path (the same
graph with the intermediate also a graph output, which keeps it from being fused), and 1 thread
against 2. The cases that must not fuse (the intermediate read twice or a graph output, a Mul of
another operand, a residual computed after the Conv) must keep their nodes and stay right, and a
residual that broadcasts runs through the Add as it was.

Tolerances as in test_session_conv.py: 1e-5 absolute plus 1e-5 relative, inputs in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(5150)
ATOL, RTOL = 1e-5, 1e-5
C, M, H, W = 6, 8, 9, 20


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


WEIGHTS = {"w": f(M, C, 3, 3), "b": f(M), "w2": f(M, M, 1, 1)}


def conv(x, y, w="w", **attrs):
    inputs = [x, w, "b"] if w == "w" else [x, w]
    return helper.make_node("Conv", inputs, [y], pads=[1, 1, 1, 1] if w == "w" else [0, 0, 0, 0], **attrs)


def silu(c, y, sigmoid_first=False):
    mul = [f"{c}_sig", c] if sigmoid_first else [c, f"{c}_sig"]
    return [helper.make_node("Sigmoid", [c], [f"{c}_sig"]), helper.make_node("Mul", mul, [y])]


def compiled(model, threads=1):
    return lstmrt.InferenceSession(model, threads=threads).op_counts(compiled=True)


def run_all(nodes, feeds, outputs, extra_outputs=()):
    """Runs the graph on lstmrt (1 and 2 threads) and onnxruntime; returns lstmrt's outputs, its
    compiled op counts, and, with extra_outputs, the unfused path's outputs."""
    model = make_model(nodes, feeds, outputs, opset=13, initializers=WEIGHTS)
    got = lstmrt.InferenceSession(model, threads=1).run(None, feeds)
    two = lstmrt.InferenceSession(model, threads=2).run(None, feeds)
    for g, e, t, name in zip(got, ort_run(model, feeds), two, outputs):
        assert_same(g, e, atol=ATOL, rtol=RTOL, name=name)
        np.testing.assert_array_equal(g, t)
    unfused = None
    if extra_outputs:
        plain = make_model(nodes, feeds, list(outputs) + list(extra_outputs), opset=13, initializers=WEIGHTS)
        unfused = lstmrt.InferenceSession(plain, threads=1).run(None, feeds)[:len(outputs)]
    return got, compiled(model), unfused


@pytest.mark.parametrize("sigmoid_first", [False, True])
def test_silu_fuses(sigmoid_first):
    feeds = {"x": f(1, C, H, W)}
    got, ops, unfused = run_all([conv("x", "c"), *silu("c", "y", sigmoid_first)], feeds, ["y"], ["c"])
    assert ops == {"Conv": 1}
    np.testing.assert_array_equal(got[0], unfused[0])


@pytest.mark.parametrize("residual_first", [False, True])
def test_residual_add_fuses(residual_first):
    feeds = {"x": f(2, C, H, W), "r": f(2, M, H, W)}
    add = helper.make_node("Add", ["r", "c"] if residual_first else ["c", "r"], ["y"])
    got, ops, unfused = run_all([conv("x", "c"), add], feeds, ["y"], ["c"])
    assert ops == {"Conv": 1}
    np.testing.assert_array_equal(got[0], unfused[0])


def test_residual_block_chain():
    """ddddocr's block: Conv, SiLU, a 1x1 Conv and the Add of the block's input; and a SiLU then an
    Add on one Conv."""
    feeds = {"x": f(1, C, H, W), "h": f(1, M, H, W)}
    nodes = [conv("x", "c"), *silu("c", "s"), conv("s", "d", w="w2"), helper.make_node("Add", ["d", "h"], ["y"]),
             conv("x", "e"), *silu("e", "t"), helper.make_node("Add", ["h", "t"], ["z"])]
    got, ops, unfused = run_all(nodes, feeds, ["y", "z"], ["c", "d", "e", "t"])
    assert ops == {"Conv": 3}
    for g, u in zip(got, unfused):
        np.testing.assert_array_equal(g, u)


def test_intermediate_read_twice_does_not_fuse():
    feeds = {"x": f(1, C, H, W)}
    nodes = [conv("x", "c"), *silu("c", "y"), helper.make_node("Relu", ["c"], ["z"])]
    _, ops, _ = run_all(nodes, feeds, ["y", "z"])
    assert ops["Sigmoid"] == 1 and ops["Mul"] == 1
    nodes = [conv("x", "c"), helper.make_node("Add", ["c", "x2"], ["y"]), helper.make_node("Neg", ["c"], ["z"])]
    _, ops, _ = run_all(nodes, {**feeds, "x2": f(1, M, H, W)}, ["y", "z"])
    assert ops["Add"] == 1


def test_sigmoid_output_read_twice_does_not_fuse():
    feeds = {"x": f(1, C, H, W)}
    nodes = [conv("x", "c"), *silu("c", "y"), helper.make_node("Neg", ["c_sig"], ["z"])]
    _, ops, _ = run_all(nodes, feeds, ["y", "z"])
    assert ops["Sigmoid"] == 1 and ops["Mul"] == 1


def test_intermediate_graph_output_does_not_fuse():
    feeds = {"x": f(1, C, H, W)}
    _, ops, _ = run_all([conv("x", "c"), *silu("c", "y")], feeds, ["y", "c"])
    assert ops["Sigmoid"] == 1
    _, ops, _ = run_all([conv("x", "c"), *silu("c", "y")], feeds, ["y", "c_sig"])
    assert ops["Sigmoid"] == 1


def test_mul_of_another_operand_does_not_fuse():
    feeds = {"x": f(1, C, H, W), "d": f(1, M, H, W)}
    nodes = [conv("x", "c"), helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["s", "d"], ["y"])]
    _, ops, _ = run_all(nodes, feeds, ["y"])
    assert ops["Sigmoid"] == 1 and ops["Mul"] == 1
    # The Conv's output times itself: not x * sigmoid(x).
    nodes = [conv("x", "c"), helper.make_node("Mul", ["c", "c"], ["y"])]
    _, ops, _ = run_all(nodes, feeds, ["y"])
    assert ops["Mul"] == 1
    # Add of the Conv's output to itself: no residual.
    nodes = [conv("x", "c"), helper.make_node("Add", ["c", "c"], ["y"])]
    _, ops, _ = run_all(nodes, feeds, ["y"])
    assert ops["Add"] == 1


def test_residual_computed_after_the_conv_does_not_fuse():
    # Nodes in this order: the Conv runs before the node computing its residual.
    feeds = {"x": f(1, C, H, W), "h": f(1, M, H, W)}
    nodes = [conv("x", "c"), helper.make_node("Neg", ["h"], ["r"]), helper.make_node("Add", ["c", "r"], ["y"])]
    _, ops, _ = run_all(nodes, feeds, ["y"])
    assert ops["Add"] == 1


@pytest.mark.parametrize("shape", [(1, M, 1, 1), (W,), (3, M, H, W)], ids=["per-channel", "row", "batch"])
def test_residual_that_broadcasts(shape):
    """Fused, but run as the Add would be: the output takes the broadcast shape."""
    feeds = {"x": f(1, C, H, W), "r": f(*shape)}
    got, ops, unfused = run_all([conv("x", "c"), helper.make_node("Add", ["c", "r"], ["y"])], feeds, ["y"], ["c"])
    assert ops == {"Conv": 1}
    np.testing.assert_array_equal(got[0], unfused[0])


def test_residual_that_does_not_broadcast_names_the_add():
    feeds = {"x": f(1, C, H, W), "r": f(1, M, H, 7)}
    model = make_model([conv("x", "c"), helper.make_node("Add", ["c", "r"], ["y"], name="skip")], feeds, ["y"],
                       opset=13, initializers=WEIGHTS, input_shapes={"r": [1, M, H, "n"]})
    sess = lstmrt.InferenceSession(model)
    with pytest.raises(ValueError, match="Add node 'skip'"):
        sess.run(None, feeds)
    # The next good call is right.
    good = {"x": feeds["x"], "r": f(1, M, H, W)}
    assert_same(sess.run(None, good)[0], ort_run(model, good)[0], atol=ATOL, rtol=RTOL)


def test_epilogue_inside_an_if_branch():
    """A branch is a graph of its own: its Conv and SiLU fuse there too."""
    feeds = {"x": f(1, C, H, W), "cond": np.array(True)}
    branch = helper.make_graph([conv("x", "c"), *silu("c", "y")], "then", [],
                               [helper.make_tensor_value_info("y", 1, None)])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "else", [],
                              [helper.make_tensor_value_info("z", 1, None)])
    node = helper.make_node("If", ["cond"], ["out"], then_branch=branch, else_branch=other)
    model = make_model([node], feeds, ["out"], opset=13, initializers=WEIGHTS)
    got = lstmrt.InferenceSession(model).run(None, feeds)[0]
    assert_same(got, ort_run(model, feeds)[0], atol=ATOL, rtol=RTOL)

"""If: both branches compiled at load, the values they read from the enclosing graph captured,
nesting, a recurrent node inside a branch, a condition known at load; against onnxruntime."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run
from reference import random_weights

H, I = 8, 4


def _branch(name, nodes, outputs):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                               for o in outputs])


def _lstm_weights(seed):
    return random_weights(np.random.default_rng(seed), "lstm", H, I, scale=0.5)


def _vad_like_model(cond_from_input=True):
    """A Silero-like model: an If on the sample rate, each branch an LSTM over the outer input with
    the outer state, reading the outer weights; the state comes back out."""
    then_nodes = [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y_t", "h_t", "c_t"],
                                   hidden_size=H, name="lstm_16k"),
                  helper.make_node("Squeeze", ["y_t", "one"], ["ys_t"])]
    else_nodes = [helper.make_node("Neg", ["x"], ["xn"]),
                  helper.make_node("LSTM", ["xn", "W", "R", "B", "", "h0", "c0"], ["y_e", "h_e", "c_e"],
                                   hidden_size=H, name="lstm_8k"),
                  helper.make_node("Squeeze", ["y_e", "one"], ["ys_e"])]
    nodes = [helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]) if cond_from_input else
             helper.make_node("Constant", [], ["is16k"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
             helper.make_node("If", ["is16k"], ["y", "hn", "cn"],
                              then_branch=_branch("then", then_nodes, ["ys_t", "h_t", "c_t"]),
                              else_branch=_branch("else", else_nodes, ["ys_e", "h_e", "c_e"]))]
    feeds = {"x": np.zeros((5, 1, I), np.float32), "h0": np.zeros((1, 1, H), np.float32),
             "c0": np.zeros((1, 1, H), np.float32)}
    shapes = {"x": ["T", "N", I], "h0": [1, "N", H], "c0": [1, "N", H]}
    if cond_from_input:
        feeds["sr"] = np.array(16000, np.int64)
        shapes["sr"] = []
    inits = dict(_lstm_weights(0), sr16k=np.array(16000, np.int64), one=np.array([1], np.int64))
    return make_model(nodes, feeds, ["y", "hn", "cn"], initializers=inits, input_shapes=shapes)


@pytest.mark.parametrize("sr", [16000, 8000])
def test_if_on_a_sample_rate_with_an_lstm_in_each_branch(sr):
    model = _vad_like_model()
    sess = lstmrt.InferenceSession(model)
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((6, 2, I)).astype(np.float32), "h0": rng.standard_normal((1, 2, H)).astype(
        np.float32), "c0": rng.standard_normal((1, 2, H)).astype(np.float32), "sr": np.array(sr, np.int64)}
    for got, want, name in zip(sess.run(None, feeds), ort_run(model, feeds), ["y", "hn", "cn"]):
        assert_same(got, want, name=name)
    # The state fed back, as the packages feed Silero VAD: every call agrees with onnxruntime.
    for _ in range(3):
        got = sess.run(None, feeds)
        want = ort_run(model, feeds)
        for g, w in zip(got, want):
            assert_same(g, w)
        feeds["h0"], feeds["c0"] = got[1], got[2]


def test_condition_known_at_load_compiles_one_branch():
    model = _vad_like_model(cond_from_input=False)
    sess = lstmrt.InferenceSession(model)
    feeds = {"x": np.ones((3, 1, I), np.float32), "h0": np.zeros((1, 1, H), np.float32),
             "c0": np.zeros((1, 1, H), np.float32)}
    for got, want in zip(sess.run(None, feeds), ort_run(model, feeds)):
        assert_same(got, want)


def test_nested_ifs_read_values_from_every_enclosing_scope():
    inner_then = _branch("inner_then", [helper.make_node("Add", ["x", "a"], ["r1"])], ["r1"])
    inner_else = _branch("inner_else", [helper.make_node("Mul", ["x", "b"], ["r2"])], ["r2"])
    outer_then = _branch("outer_then", [helper.make_node("Relu", ["x"], ["rx"]),
                                        helper.make_node("If", ["c2"], ["r3"], then_branch=inner_then,
                                                         else_branch=inner_else),
                                        helper.make_node("Add", ["r3", "rx"], ["r4"])], ["r4"])
    outer_else = _branch("outer_else", [helper.make_node("Sub", ["x", "a"], ["r5"])], ["r5"])
    node = helper.make_node("If", ["c1"], ["y"], then_branch=outer_then, else_branch=outer_else)
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    feeds = {"x": x, "a": x + 1, "b": x * 2, "c1": np.array(True), "c2": np.array(True)}
    model = make_model([node], feeds, ["y"])
    sess = lstmrt.InferenceSession(model)
    for c1 in (True, False):
        for c2 in (True, False):
            feeds.update(c1=np.array(c1), c2=np.array(c2))
            assert_same(sess.run(None, feeds)[0], ort_run(model, feeds)[0], name=f"c1={c1} c2={c2}")


def test_branches_with_outputs_of_other_shapes_and_a_bad_condition():
    then_b = _branch("t", [helper.make_node("Concat", ["x", "x"], ["cat"], axis=0)], ["cat"])
    else_b = _branch("e", [helper.make_node("Identity", ["x"], ["same"])], ["same"])
    x = np.ones((2, 3), np.float32)
    feeds = {"x": x, "c": np.array([True])}
    model = make_model([helper.make_node("If", ["c"], ["y"], then_branch=then_b, else_branch=else_b)], feeds, ["y"],
                       input_shapes={"c": [None]})
    sess = lstmrt.InferenceSession(model)
    assert sess.run(None, feeds)[0].shape == (4, 3)
    assert sess.run(None, {"x": x, "c": np.array([False])})[0].shape == (2, 3)
    with pytest.raises(ValueError, match="If node.*cond"):
        sess.run(None, {"x": x, "c": np.array([True, False])})
    assert sess.run(None, feeds)[0].shape == (4, 3)

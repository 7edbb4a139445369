"""The bad-input catalogue: each mistake raises a clear exception (type and message checked), and
the session is still usable afterwards (a good run right after gives correct results)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import make_model, ort_run
from checks import assert_close

rng = np.random.default_rng(11)
HIDDEN, INP = 4, 3


def good_model(opset=17):
    """x [seq, batch, 3] -> LSTM -> MatMul head, plus an Add of two free-shaped inputs."""
    w = {"W": rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, INP)).astype(np.float32),
         "R": rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32),
         "head": rng.standard_normal((HIDDEN, 2)).astype(np.float32)}
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["Y", "Y_h"], hidden_size=HIDDEN, name="lstm"),
             helper.make_node("MatMul", ["Y_h", "head"], ["out"], name="head"),
             helper.make_node("Add", ["a", "b"], ["sum"], name="adder")]
    inputs = {"x": np.zeros((1, 1, INP), np.float32), "a": np.zeros(1, np.float32), "b": np.zeros(1, np.float32)}
    shapes = {"x": ["seq", "batch", INP], "a": ["n"], "b": ["m"]}
    return make_model(nodes, inputs, ["out", "sum"], opset=opset, initializers=w, input_shapes=shapes)


MODEL = good_model()


def good_feeds():
    return {"x": rng.standard_normal((5, 2, INP)).astype(np.float32), "a": np.arange(3, dtype=np.float32),
            "b": np.ones(3, np.float32)}


@pytest.fixture(scope="module")
def sess():
    return lstmrt.InferenceSession(MODEL, threads=1)


def assert_still_good(sess):
    feeds = good_feeds()
    for g, e in zip(sess.run(None, feeds), ort_run(MODEL, feeds)):
        assert_close(g, e, atol=1e-5, rtol=1e-4)


def model_with(node, inputs=None, opset=17, inits=None):
    inputs = inputs if inputs is not None else {"x": np.zeros((2, 3), np.float32)}
    return make_model([node], inputs, list(node.output), opset=opset, initializers=inits)


# --- load-time errors ----------------------------------------------------------------------

def test_unsupported_operator_names_node_opset_and_supported_list():
    m = model_with(helper.make_node("NonMaxSuppression", ["x"], ["y"], name="nms_1"))
    with pytest.raises(ValueError) as e:
        lstmrt.InferenceSession(m)
    msg = str(e.value)
    for part in ("NonMaxSuppression", "'nms_1'", "opset 17", "LSTM", "Gather", "MatMul"):
        assert part in msg


def test_operator_from_another_domain():
    m = model_with(helper.make_node("FusedMatMul", ["x"], ["y"], name="fm", domain="com.microsoft"))
    with pytest.raises(ValueError, match="com.microsoft::FusedMatMul.*'fm'"):
        lstmrt.InferenceSession(m)


@pytest.mark.parametrize("node,pattern", [
    (helper.make_node("Cast", ["x"], ["y"], name="c", to=11), r"Cast node 'c' \(opset 17\).*DOUBLE"),
    (helper.make_node("Gelu", ["x"], ["y"], name="g", approximate="erf"), r"Gelu node 'g'.*approximate"),
    (helper.make_node("Mod", ["x", "x"], ["y"], name="m", fmod=2), r"Mod node 'm'.*fmod"),
    (helper.make_node("Reshape", ["x", "x"], ["y"], name="r", allowzero=3), r"Reshape node 'r'.*allowzero"),
    (helper.make_node("LayerNormalization", ["x", "x"], ["y"], name="ln", stash_type=0), r"'ln'.*stash_type"),
])
def test_unsupported_attribute_value(node, pattern):
    opset = 20 if node.op_type == "Gelu" else 17
    with pytest.raises(ValueError, match=pattern):
        lstmrt.InferenceSession(model_with(node, opset=opset))


@pytest.mark.parametrize("attrs,pattern", [
    ({"direction": "sideways"}, "direction.*sideways"),
    ({"activations": ["Swish", "Tanh", "Tanh"]}, "activation.*Swish"),
    ({"clip": -1.0}, "clip"),
    ({"layout": 1}, "layout.*opset 14"),
    ({"linear_before_reset": 1}, "linear_before_reset"),
])
def test_unsupported_recurrent_attribute(attrs, pattern):
    w = {"W": np.zeros((1, 8, 3), np.float32), "R": np.zeros((1, 8, 2), np.float32)}
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="enc", hidden_size=2, **attrs)
    m = model_with(node, {"x": np.zeros((1, 1, 3), np.float32)}, opset=13, inits=w)
    with pytest.raises(ValueError, match=pattern) as e:
        lstmrt.InferenceSession(m)
    assert "LSTM node 'enc'" in str(e.value)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        lstmrt.InferenceSession(str(p))
    with pytest.raises(ValueError, match="empty"):
        lstmrt.InferenceSession(b"")


@pytest.mark.parametrize("content", [b"this is a text file, not a model\n", bytes(range(256)) * 4,
                                     np.zeros(64, np.uint8).tobytes(), b"\x08\x07"])
def test_not_onnx(tmp_path, content):
    p = tmp_path / "junk.onnx"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        lstmrt.InferenceSession(str(p))


def test_truncated_file(tmp_path):
    data = MODEL.SerializeToString()
    for cut in sorted({1, 10, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 1}):
        p = tmp_path / f"cut{cut}.onnx"
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            lstmrt.InferenceSession(str(p))
    # Every cut point fails cleanly (a ValueError, never a crash or a wrong model).
    for cut in range(1, len(data), max(1, len(data) // 200)):
        with pytest.raises(ValueError):
            lstmrt.InferenceSession(data[:cut])


@pytest.mark.parametrize("opset", [6, 23, 100])
def test_unknown_opset(opset):
    m = good_model()
    m.opset_import[0].version = opset
    with pytest.raises(ValueError, match=f"opset {opset}.*7 to 22"):
        lstmrt.InferenceSession(m)


def test_missing_file_and_wrong_argument():
    with pytest.raises(FileNotFoundError, match="no-such.onnx"):
        lstmrt.InferenceSession("/no/where/no-such.onnx")
    with pytest.raises(TypeError, match="path, bytes or an onnx.ModelProto"):
        lstmrt.InferenceSession(12)


def test_undefined_value():
    m = model_with(helper.make_node("Add", ["x", "ghost"], ["y"], name="add"))
    with pytest.raises(ValueError, match="'ghost'"):
        lstmrt.InferenceSession(m)


def test_unsupported_input_type():
    m = model_with(helper.make_node("Identity", ["x"], ["y"]), {"x": np.zeros(3, np.float32)})
    m.graph.input[0].type.tensor_type.elem_type = 11  # DOUBLE
    with pytest.raises(TypeError, match="'x'.*double"):
        lstmrt.InferenceSession(m)


# --- run-time errors, each followed by a good run ---------------------------------------------

def test_missing_feed(sess):
    feeds = good_feeds()
    del feeds["x"]
    with pytest.raises(ValueError, match="missing input 'x'"):
        sess.run(None, feeds)
    assert_still_good(sess)


def test_unknown_feed_name(sess):
    with pytest.raises(ValueError, match="unknown input 'y'.*'x', 'a', 'b'"):
        sess.run(None, {**good_feeds(), "y": np.zeros(1, np.float32)})
    assert_still_good(sess)


def test_wrong_dtype(sess):
    feeds = good_feeds()
    feeds["x"] = feeds["x"].astype(np.float64)
    with pytest.raises(TypeError, match=r"input 'x'.*tensor\(float\).*float64"):
        sess.run(None, feeds)
    with pytest.raises(TypeError, match="input 'a'.*list"):
        sess.run(None, {**good_feeds(), "a": [1.0, 2.0, 3.0]})
    assert_still_good(sess)


def test_wrong_rank(sess):
    feeds = good_feeds()
    feeds["x"] = feeds["x"][0]
    with pytest.raises(ValueError, match=r"input 'x'.*rank 3.*\[seq, batch, 3\].*\[2, 3\]"):
        sess.run(None, feeds)
    assert_still_good(sess)


def test_dimension_contradicts_model(sess):
    feeds = good_feeds()
    feeds["x"] = np.zeros((5, 2, 4), np.float32)
    with pytest.raises(ValueError, match=r"input 'x': dimension 2 must be 3.*\[5, 2, 4\]"):
        sess.run(None, feeds)
    assert_still_good(sess)


def test_shape_error_inside_graph(sess):
    feeds = good_feeds()
    feeds["b"] = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"Add node 'adder'.*\[3\].*\[4\]"):
        sess.run(None, feeds)
    assert_still_good(sess)


def test_unknown_output_name_and_bad_feeds_type(sess):
    with pytest.raises(ValueError, match="unknown output 'nope'.*'out', 'sum'"):
        sess.run(["nope"], good_feeds())
    with pytest.raises(TypeError, match="feeds"):
        sess.run(None, [good_feeds()["x"]])
    with pytest.raises(TypeError, match="output_names"):
        sess.run("out", good_feeds())
    assert_still_good(sess)


def test_failed_first_run_of_a_new_shape_then_that_shape_works(sess):
    # The failure happens after the plan for this input-shape signature was created.
    feeds = good_feeds()
    feeds["x"] = rng.standard_normal((7, 3, INP)).astype(np.float32)
    bad = dict(feeds, b=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="adder"):
        sess.run(None, bad)
    for g, e in zip(sess.run(None, feeds), ort_run(MODEL, feeds)):
        assert_close(g, e, atol=1e-5, rtol=1e-4)


def test_value_error_in_a_recurrent_node():
    w = {"W": np.zeros((1, 8, 3), np.float32), "R": np.zeros((1, 8, 2), np.float32)}
    node = helper.make_node("LSTM", ["x", "W", "R", "", "lens"], ["y"], name="enc", hidden_size=2)
    m = make_model([node], {"x": np.zeros((4, 2, 3), np.float32), "lens": np.zeros(2, np.int32)}, ["y"],
                   opset=13, initializers=w, input_shapes={"x": ["s", "b", 3], "lens": ["b"]})
    s = lstmrt.InferenceSession(m)
    x = np.zeros((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"LSTM node 'enc'.*sequence_lens.*9"):
        s.run(None, {"x": x, "lens": np.array([2, 9], np.int32)})
    assert s.run(None, {"x": x, "lens": np.array([2, 4], np.int32)})[0].shape == (4, 1, 2, 2)


def test_integer_division_by_zero():
    m = make_model([helper.make_node("Div", ["a", "b"], ["y"], name="div")],
                   {"a": np.zeros(2, np.int64), "b": np.zeros(2, np.int64)}, ["y"], opset=13)
    s = lstmrt.InferenceSession(m)
    with pytest.raises(ValueError, match="Div node 'div'.*division by zero"):
        s.run(None, {"a": np.array([1, 2]), "b": np.array([1, 0])})
    np.testing.assert_array_equal(s.run(None, {"a": np.array([4, 9]), "b": np.array([2, 3])})[0], [2, 3])

"""Pad against onnxruntime: every mode, negative pads (crops), the attribute form (opset 2-10),
the input form (11+) with and without a constant value, the axes input (18+), integer data."""

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(3)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape,pads", [((2, 5), [0, 2, 0, 3]), ((3, 4, 6), [1, 0, 2, 1, 3, 4]),
                                        ((1, 576), [0, 64, 0, 0]), ((4, 7), [-1, 2, 0, -3]),
                                        ((2, 3, 4), [0, 0, -2, 0, 1, 1]), ((5,), [4, 4])])
def test_pad_modes_against_onnxruntime(mode, shape, pads):
    x = rng.standard_normal(shape).astype(np.float32)
    feeds = {"x": x, "pads": np.array(pads, np.int64), "v": np.array(1.5, np.float32)}
    ins = ["x", "pads", "v"] if mode == "constant" else ["x", "pads"]
    if mode != "constant":
        feeds.pop("v")
    model = make_model([helper.make_node("Pad", ins, ["y"], mode=mode)], feeds, ["y"], opset=19)
    assert_same(lstmrt.InferenceSession(model).run(None, feeds)[0], ort_run(model, feeds)[0])


def test_pad_attribute_form():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    model = make_model([helper.make_node("Pad", ["x"], ["y"], pads=[1, 0, 0, 2], value=7.0)], {"x": x}, ["y"], opset=10)
    assert_same(lstmrt.InferenceSession(model).run(None, {"x": x})[0], ort_run(model, {"x": x})[0])


def test_pad_integer_data():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    feeds = {"x": x, "pads": np.array([1, 0, 0, 2], np.int64), "v": np.array(7, np.int64)}
    model = make_model([helper.make_node("Pad", ["x", "pads", "v"], ["y"])], feeds, ["y"], opset=13,
                       output_types={"y": 7})
    assert_same(lstmrt.InferenceSession(model).run(None, feeds)[0], ort_run(model, feeds)[0])


@pytest.mark.parametrize("mode", ["reflect", "wrap", "edge"])
def test_pads_longer_than_the_dimension_follow_numpy(mode):
    """onnxruntime refuses reflect pads of n or more; the ONNX reference pads as NumPy does."""
    x = rng.standard_normal((2, 3)).astype(np.float32)
    feeds = {"x": x, "pads": np.array([0, 7, 0, 5], np.int64)}
    sess = lstmrt.InferenceSession(make_model([helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)], feeds, ["y"],
                                              opset=19))
    np.testing.assert_array_equal(sess.run(None, feeds)[0], np.pad(x, ((0, 0), (7, 5)), mode=mode))


def test_pad_axes_input():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    feeds = {"x": x, "pads": np.array([1, 1, 3, 0], np.int64), "axes": np.array([-1, 0], np.int64)}
    model = make_model([helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode="reflect")], feeds, ["y"],
                       opset=18)
    assert_same(lstmrt.InferenceSession(model).run(None, feeds)[0], ort_run(model, feeds)[0])


@pytest.mark.parametrize("pads,pattern", [([1, 2, 3], "pads has 3 values"), ([0, -9, 0, 0], "crop more"),
                                          ([0, 2**62, 0, 0], "beyond")])
def test_pad_bad_pads_are_clear_errors(pads, pattern):
    x = np.ones((2, 5), np.float32)
    feeds = {"x": x, "pads": np.array(pads, np.int64)}
    sess = lstmrt.InferenceSession(make_model([helper.make_node("Pad", ["x", "pads"], ["y"])], feeds, ["y"],
                                              input_shapes={"pads": [None]}))
    with pytest.raises(ValueError, match=pattern):
        sess.run(None, feeds)


def test_pad_unknown_mode_is_refused_at_load():
    x = np.ones((2, 5), np.float32)
    feeds = {"x": x, "pads": np.zeros(4, np.int64)}
    with pytest.raises(ValueError, match="mode 'mirror'"):
        lstmrt.InferenceSession(make_model([helper.make_node("Pad", ["x", "pads"], ["y"], mode="mirror")], feeds, ["y"]))

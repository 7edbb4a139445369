"""BatchNormalization (inference, opsets 7/9/14/15, spatial=0 of opset 7) and
InstanceNormalization against onnxruntime, and training mode refused.

Both normalize with float32 statistics computed in a different order than onnxruntime's; with
inputs in [-1, 1] and variances near 1, 1e-5 absolute plus 1e-5 relative covers the rounding."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2124)


def f(*shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def check(node, feeds, consts, opset):
    model = make_model([node], feeds, ["y"], opset=opset, initializers=consts)
    expected = ort_run(model, feeds)
    got = lstmrt.InferenceSession(model, threads=1).run(None, feeds)
    assert_same(got[0], expected[0], atol=1e-5, rtol=1e-5)


def bn_params(shape):
    return {"s": f(*shape), "b": f(*shape), "m": f(*shape), "v": f(*shape, low=0.2, high=2.0)}


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 4, 3, 5), (2, 2, 3, 2, 3)])
def test_batch_norm(opset, shape):
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)
    check(node, {"x": f(*shape)}, bn_params((shape[1],)), opset)


def test_batch_norm_not_spatial():
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0)
    check(node, {"x": f(2, 3, 4)}, bn_params((3, 4)), 7)


def test_batch_norm_training_refused():
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], training_mode=1)
    model = make_model([node], {"x": f(2, 3)}, ["y"], opset=15, initializers=bn_params((3,)))
    with pytest.raises(ValueError, match="training_mode=1 is not supported"):
        lstmrt.InferenceSession(model)


def test_batch_norm_bad_param_shape():
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    model = make_model([node], {"x": f(2, 3, 4)}, ["y"], opset=15, initializers=bn_params((4,)))
    with pytest.raises(ValueError, match=r"scale has shape \[4\], expected \[3\]"):
        lstmrt.InferenceSession(model).run(None, {"x": f(2, 3, 4)})


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 3, 5), (2, 2, 3, 2, 3)])
def test_instance_norm(shape):
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)
    check(node, {"x": f(*shape)}, {"s": f(shape[1]), "b": f(shape[1])}, 13)


def test_instance_norm_bad_scale():
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])
    model = make_model([node], {"x": f(2, 3, 4)}, ["y"], opset=13, initializers={"s": f(2), "b": f(3)})
    with pytest.raises(ValueError, match=r"scale has shape \[2\], expected \[3\]"):
        lstmrt.InferenceSession(model).run(None, {"x": f(2, 3, 4)})


def test_batch_norm_params_fed():
    # Statistics computed in the graph (fed here) rather than initializers.
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    feeds = dict({"x": f(2, 3, 4)}, **bn_params((3,)))
    model = make_model([node], feeds, ["y"], opset=15)
    assert_same(lstmrt.InferenceSession(model).run(None, feeds)[0], ort_run(model, feeds)[0], atol=1e-5, rtol=1e-5)

"""MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, BatchNormalization and
InstanceNormalization against onnxruntime, over the attributes a CRNN's layers use."""

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(21)


def _check(node, feeds, opset=19, inits=None):
    model = make_model([node], feeds, ["y"], opset=opset, initializers=inits)
    assert_same(lstmrt.InferenceSession(model).run(None, feeds)[0], ort_run(model, feeds)[0], atol=1e-5, rtol=1e-5)


POOLS = [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 1], strides=[2, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel_shape=[2, 3], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[2, 2], auto_pad="VALID", strides=[3, 2]),
]


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", POOLS)
def test_pool_2d(op, attrs):
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    _check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": x})


@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
                                   dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1,
                                        pads=[1, 1, 1, 1])])
def test_average_pool_counting_the_pads(attrs):
    x = rng.standard_normal((1, 2, 8, 7)).astype(np.float32)
    _check(helper.make_node("AveragePool", ["x"], ["y"], **attrs), {"x": x})


def test_max_pool_1d_and_dilations():
    x = rng.standard_normal((2, 4, 30)).astype(np.float32)
    _check(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2], dilations=[2]), {"x": x})
    _check(helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[4], strides=[3], pads=[1, 2]), {"x": x})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 9)])
def test_global_pools(op, shape):
    _check(helper.make_node(op, ["x"], ["y"]), {"x": rng.standard_normal(shape).astype(np.float32)})


@pytest.mark.parametrize("shape", [(2, 4, 6, 5), (3, 4, 7), (5, 4)])
def test_batch_normalization(shape):
    C = shape[1]
    inits = {"s": rng.standard_normal(C).astype(np.float32), "b": rng.standard_normal(C).astype(np.float32),
             "m": rng.standard_normal(C).astype(np.float32), "v": rng.uniform(0.5, 2, C).astype(np.float32)}
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)
    _check(node, {"x": rng.standard_normal(shape).astype(np.float32)}, opset=15, inits=inits)


def test_instance_normalization():
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32) * 3 + 1
    inits = {"s": rng.standard_normal(3).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}
    _check(helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4), {"x": x}, inits=inits)


@pytest.mark.parametrize("node,pattern", [
    (helper.make_node("MaxPool", ["x"], ["y"]), "kernel_shape"),
    (helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2]), "Indices"),
    (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[0, 1]), "strides"),
    (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2]), "kernel_shape"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[20, 2]), "window spans"),
])
def test_pool_bad_attributes(node, pattern):
    x = np.ones((1, 1, 6, 6), np.float32)
    with pytest.raises(ValueError, match=pattern):
        lstmrt.InferenceSession(make_model([node], {"x": x}, list(node.output))).run(None, {"x": x})


def test_batch_norm_training_mode_is_refused():
    x = np.ones((1, 2, 3), np.float32)
    inits = {k: np.ones(2, np.float32) for k in "sbmv"}
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], training_mode=1)
    with pytest.raises(ValueError, match="training_mode"):
        lstmrt.InferenceSession(make_model([node], {"x": x}, ["y"], opset=15, initializers=inits))

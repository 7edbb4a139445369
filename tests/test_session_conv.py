"""Conv against onnxruntime: 1-D and 2-D, groups (depthwise too), strides, dilations, explicit
pads and every auto_pad, bias or none, constant weights (packed at load) and weights fed at run
time; bad attributes are clear errors."""

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(11)


def _tol(k):
    """float32 sums of k products of values up to about 1."""
    return 2e-6 * k + 1e-5


CASES_1D = [
    # (C, M, group, length, kernel, attrs)
    (1, 258, 1, 576, 256, dict(strides=[128])),                           # an STFT written as a Conv
    (129, 128, 1, 4, 3, dict(pads=[1, 1])),
    (16, 16, 16, 50, 5, dict(pads=[2, 2])),                               # depthwise
    (8, 12, 4, 33, 3, dict(strides=[2], dilations=[2], pads=[0, 3])),
    (6, 4, 2, 20, 4, dict(auto_pad="SAME_UPPER", strides=[3])),
    (6, 4, 1, 20, 4, dict(auto_pad="SAME_LOWER", strides=[2])),
    (5, 3, 1, 9, 3, dict(auto_pad="VALID")),
]


@pytest.mark.parametrize("C,M,group,length,kernel,attrs", CASES_1D)
@pytest.mark.parametrize("weights", ["constant", "fed"])
def test_conv1d(C, M, group, length, kernel, attrs, weights):
    x = rng.standard_normal((2, C, length)).astype(np.float32)
    W = (rng.standard_normal((M, C // group, kernel)) / np.sqrt(C // group * kernel)).astype(np.float32)
    B = rng.standard_normal(M).astype(np.float32)
    _check(x, W, B, group, attrs, weights, C // group * kernel)


CASES_2D = [
    (1, 8, 1, (64, 40), (3, 3), dict(pads=[1, 1, 1, 1])),
    (8, 16, 1, (16, 20), (3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1])),
    (8, 8, 8, (9, 11), (3, 3), dict(pads=[1, 0, 2, 1], dilations=[2, 1])),
    (6, 9, 3, (10, 7), (2, 3), dict(auto_pad="SAME_UPPER", strides=[2, 3])),
    (4, 5, 1, (12, 12), (5, 1), dict(auto_pad="SAME_LOWER")),
    (3, 2, 1, (6, 6), (6, 6), dict()),
]


@pytest.mark.parametrize("C,M,group,hw,kernel,attrs", CASES_2D)
@pytest.mark.parametrize("weights", ["constant", "fed"])
def test_conv2d(C, M, group, hw, kernel, attrs, weights):
    x = rng.standard_normal((2, C) + hw).astype(np.float32)
    W = (rng.standard_normal((M, C // group) + kernel) / np.sqrt(C // group * np.prod(kernel))).astype(np.float32)
    B = rng.standard_normal(M).astype(np.float32)
    _check(x, W, B, group, attrs, weights, C // group * int(np.prod(kernel)))


def _check(x, W, B, group, attrs, weights, k):
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], group=group, kernel_shape=list(W.shape[2:]), **attrs)
    if weights == "constant":
        feeds = {"x": x}
        model = make_model([node], feeds, ["y"], initializers={"W": W, "B": B})
    else:
        feeds = {"x": x, "W": W, "B": B}
        model = make_model([node], feeds, ["y"])
    sess = lstmrt.InferenceSession(model)
    want = ort_run(model, feeds)[0]
    assert_same(sess.run(None, feeds)[0], want, atol=_tol(k), rtol=1e-4)
    assert_same(sess.run(None, feeds)[0], want, atol=_tol(k), rtol=1e-4)  # a second run reuses the buffers


def test_conv_without_bias_allocates_nothing_on_a_repeated_run():
    x = rng.standard_normal((1, 4, 30)).astype(np.float32)
    W = rng.standard_normal((6, 4, 3)).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1])], {"x": x}, ["y"],
                       initializers={"W": W})
    sess = lstmrt.InferenceSession(model)
    assert_same(sess.run(None, {"x": x})[0], ort_run(model, {"x": x})[0], atol=_tol(12))
    before = lstmrt._core.tensor_buffer_allocations()
    sess.run(None, {"x": x})
    assert lstmrt._core.tensor_buffer_allocations() == before


@pytest.mark.parametrize("attrs,shape,pattern", [
    (dict(pads=[1, 1, 1]), (1, 2, 9), "pads"),
    (dict(strides=[0]), (1, 2, 9), "strides"),
    (dict(group=3), (1, 2, 9), "group"),
    (dict(auto_pad="SOMETIMES"), (1, 2, 9), "auto_pad"),
    (dict(), (1, 2, 2), "kernel spans"),
    (dict(kernel_shape=[5]), (1, 2, 9), "kernel_shape"),
])
def test_conv_bad_attributes_are_clear_errors(attrs, shape, pattern):
    x = np.ones(shape, np.float32)
    W = np.ones((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match=pattern):
        sess = lstmrt.InferenceSession(make_model([helper.make_node("Conv", ["x", "W"], ["y"], **attrs)], {"x": x},
                                                  ["y"], initializers={"W": W}))
        sess.run(None, {"x": x})

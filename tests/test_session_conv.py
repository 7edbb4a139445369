"""Conv, the pools, Pad, BatchNormalization and InstanceNormalization in small models built with
onnx.helper, against onnxruntime, over their attributes (groups, dilations, strides, each
auto_pad, each pad mode, ceil_mode, 1-D, 2-D and 3-D, odd sizes), and bad attributes refused.

Tolerances: a Conv output is a float32 sum of at most a few hundred products, accumulated in a
different order than onnxruntime's; 1e-5 absolute plus 1e-5 relative covers that rounding with
inputs in [-1, 1]. The pools and Pad select or average values and match to the same bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt import _core
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2121)
ATOL, RTOL = 1e-5, 1e-5


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def check(nodes, feeds, consts=None, opset=17, outputs=("y",), output_types=None):
    """Runs the model with `consts` as initializers, and again with them fed as inputs (so that the
    weights are not packed at load), against onnxruntime."""
    consts = consts or {}
    for as_inputs in (False, True):
        inputs = dict(feeds, **consts) if as_inputs else dict(feeds)
        inits = {} if as_inputs else consts
        model = make_model(nodes, inputs, list(outputs), opset=opset, initializers=inits, output_types=output_types)
        expected = ort_run(model, inputs)
        got = lstmrt.InferenceSession(model, threads=1).run(None, inputs)
        for name, g, e in zip(outputs, got, expected):
            assert_same(g, e, atol=ATOL, rtol=RTOL, name=f"{name} (weights as {'inputs' if as_inputs else 'initializers'})")


def conv_node(**attrs):
    return helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)


# --- Conv ------------------------------------------------------------------------------------
CONV_CASES = []
for dims, size in ((1, (13,)), (2, (7, 9)), (3, (6, 5, 7))):
    k = (3,) * dims
    CONV_CASES += [
        (f"{dims}d-plain", size, 4, 6, k, {}),
        (f"{dims}d-stride2", size, 4, 6, k, {"strides": [2] * dims}),
        (f"{dims}d-dilation2", size, 2, 3, k, {"dilations": [2] * dims}),
        (f"{dims}d-pads", size, 3, 5, k, {"pads": [1] * dims + [2] * dims}),
        (f"{dims}d-group2", size, 4, 6, k, {"group": 2}),
        (f"{dims}d-depthwise", size, 6, 6, k, {"group": 6, "pads": [1] * (2 * dims)}),
        (f"{dims}d-depthwise-x2", size, 3, 6, k, {"group": 3}),
    ]
    for ap in ("SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"):
        for s in (1, 2, 3):
            CONV_CASES.append((f"{dims}d-{ap}-s{s}", size, 2, 4, (2,) * dims, {"auto_pad": ap, "strides": [s] * dims}))
CONV_CASES += [
    ("2d-1x1", (5, 6), 8, 20, (1, 1), {}),
    ("2d-1x1-stride", (5, 6), 8, 20, (1, 1), {"strides": [2, 3]}),
    ("2d-rect-kernel", (9, 5), 3, 17, (5, 2), {"strides": [2, 1], "dilations": [1, 2], "pads": [2, 0, 1, 1]}),
    ("2d-many-channels", (6, 6), 32, 24, (3, 3), {"pads": [1, 1, 1, 1], "group": 4}),
    ("1d-long", (100,), 16, 16, (5,), {"pads": [2, 2]}),
    ("2d-kernel-shape-attr", (5, 5), 2, 3, (3, 3), {"kernel_shape": [3, 3]}),
]


@pytest.mark.parametrize("size,cin,cout,k,attrs", [pytest.param(*c[1:], id=c[0]) for c in CONV_CASES])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv(size, cin, cout, k, attrs, bias):
    group = attrs.get("group", 1)
    x = f(2, cin, *size)
    w = f(cout, cin // group, *k)
    consts = {"w": w}
    if bias:
        consts["b"] = f(cout)
        node = conv_node(**attrs)
    else:
        node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    check([node], {"x": x}, consts, opset=11)


def test_conv_repeated_run_allocates_nothing():
    x = f(1, 4, 12, 10)
    model = make_model([conv_node(pads=[1, 1, 1, 1], group=2)], {"x": x}, ["y"], opset=13,
                       initializers={"w": f(6, 2, 3, 3), "b": f(6)})
    sess = lstmrt.InferenceSession(model, threads=1)
    first = sess.run(None, {"x": x})[0]
    before = _core.tensor_buffer_allocations()
    for _ in range(3):
        again = sess.run(None, {"x": x})[0]
    assert _core.tensor_buffer_allocations() == before
    np.testing.assert_array_equal(first, again)


def test_conv_threads_agree():
    x = f(2, 8, 20, 20)
    model = make_model([conv_node(pads=[1, 1, 1, 1])], {"x": x}, ["y"], opset=13,
                       initializers={"w": f(16, 8, 3, 3), "b": f(16)})
    one = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]
    two = lstmrt.InferenceSession(model, threads=2).run(None, {"x": x})[0]
    assert_same(two, one, atol=ATOL, rtol=RTOL)


BAD_CONV = [
    ({"pads": [1, 1, 1]}, "pads has 3 entries, expected 4 for a 2-D Conv"),
    ({"strides": [1]}, "strides has 1 entries, expected 2 for a 2-D Conv"),
    ({"strides": [0, 1]}, "strides must be positive"),
    ({"dilations": [1, -1]}, "dilations must be positive"),
    ({"pads": [-1, 0, 0, 0]}, "pads must not be negative"),
    ({"auto_pad": "SAME"}, "auto_pad 'SAME' is not one of"),
    ({"group": 3}, "not a multiple of group 3"),
    ({"group": 0}, "group must be positive"),
    ({"kernel_shape": [2, 2]}, "kernel_shape [2, 2] does not match W"),
    ({"kernel_shape": [3]}, "kernel_shape has 1 entries, expected 2"),
    ({"pads": [2**62, 0, 2**62, 0]}, "the padded input is too large"),
    ({"dilations": [2**62, 1]}, "the dilated kernel is too large"),
]


@pytest.mark.parametrize("attrs,message", BAD_CONV, ids=[m for _, m in BAD_CONV])
def test_conv_bad_attributes(attrs, message):
    model = make_model([conv_node(**attrs)], {"x": f(1, 4, 5, 5)}, ["y"], opset=13,
                       initializers={"w": f(4, 4, 3, 3), "b": f(4)})
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lstmrt.InferenceSession(model).run(None, {"x": f(1, 4, 5, 5)})


BAD_CONV_RUN = [
    ((1, 3, 5, 5), "X has 3 channels but W"),
    ((1, 4, 2, 5), "smaller than the kernel"),
    ((4, 5, 5), "does not have the rank of X"),
]


@pytest.mark.parametrize("shape,message", BAD_CONV_RUN, ids=[m for _, m in BAD_CONV_RUN])
def test_conv_bad_inputs(shape, message):
    model = make_model([conv_node()], {"x": f(1, 4, 5, 5)}, ["y"], opset=13,
                       initializers={"w": f(4, 4, 3, 3), "b": f(4)}, input_shapes={"x": None})
    sess = lstmrt.InferenceSession(model)
    with pytest.raises(ValueError, match=message):
        sess.run(None, {"x": f(*shape)})


def test_conv_bad_bias():
    model = make_model([conv_node()], {"x": f(1, 4, 5, 5)}, ["y"], opset=13,
                       initializers={"w": f(4, 4, 3, 3), "b": f(3)})
    with pytest.raises(ValueError, match="B of shape"):
        lstmrt.InferenceSession(model).run(None, {"x": f(1, 4, 5, 5)})


def test_conv_weights_fed_with_changing_kernel():
    # The window table is kept between runs; a run whose kernel changes (weights fed as an
    # input) must remake it.
    x = f(1, 2, 6, 6)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"])], {"x": x, "w": f(3, 2, 3, 3)}, ["y"], opset=13,
                       input_shapes={"w": [3, 2, "kh", "kw"]})
    sess = lstmrt.InferenceSession(model, threads=1)
    for k in ((3, 3), (2, 3), (3, 3), (1, 1)):
        feeds = {"x": x, "w": f(3, 2, *k)}
        assert_same(sess.run(None, feeds)[0], ort_run(model, feeds)[0], atol=ATOL, rtol=RTOL, name=f"kernel {k}")
    depthwise = make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=2)], {"x": x, "w": f(4, 1, 3, 3)}, ["y"],
                           opset=13, input_shapes={"w": [4, 1, "kh", "kw"]})
    sess = lstmrt.InferenceSession(depthwise, threads=1)
    for k in ((3, 3), (2, 2), (3, 3)):
        feeds = {"x": x, "w": f(4, 1, *k)}
        assert_same(sess.run(None, feeds)[0], ort_run(depthwise, feeds)[0], atol=ATOL, rtol=RTOL, name=f"kernel {k}")


def test_conv_int_input_refused():
    x = np.ones((1, 2, 4, 4), np.int64)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"])], {"x": x}, ["y"], opset=13,
                       initializers={"w": f(2, 2, 3, 3)})
    with pytest.raises(TypeError, match="X: expected float32, got int64"):
        lstmrt.InferenceSession(model).run(None, {"x": x})


def test_conv_large_image_in_blocks():
    # 298 x 301 output positions with a window row of 2 x 3 x 3 take several blocks of the window
    # matrix, the last one partial.
    x = f(1, 2, 300, 301)
    model = make_model([conv_node(pads=[0, 1, 0, 1])], {"x": x}, ["y"], opset=13,
                       initializers={"w": f(5, 2, 3, 3), "b": f(5)})
    got = lstmrt.InferenceSession(model, threads=2).run(None, {"x": x})[0]
    assert_same(got, ort_run(model, {"x": x})[0], atol=ATOL, rtol=RTOL)

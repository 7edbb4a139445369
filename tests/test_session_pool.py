"""MaxPool, AveragePool, GlobalMaxPool and GlobalAveragePool against onnxruntime over their
attributes (strides, pads, each auto_pad, ceil_mode, dilations, count_include_pad,
storage_order with the Indices output; 1-D, 2-D and 3-D, odd sizes), and bad attributes refused.

The pools select or average at most a few dozen values; 1e-6 absolute plus 1e-6 relative covers
the averages' rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2122)


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def check(op, x, opset, outputs=("y",), **attrs):
    node = helper.make_node(op, ["x"], list(outputs), **attrs)
    types = {"i": TensorProto.INT64}
    model = make_model([node], {"x": x}, list(outputs), opset=opset, output_types=types)
    expected = ort_run(model, {"x": x})
    got = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})
    for name, g, e in zip(outputs, got, expected):
        assert_same(g, e, atol=1e-6, rtol=1e-6, name=name)


SIZES = {1: (11,), 2: (7, 8), 3: (5, 6, 4)}
CASES = []
for dims, size in SIZES.items():
    k = [3] * dims
    CASES += [
        (f"{dims}d-plain", size, {"kernel_shape": k}),
        (f"{dims}d-stride2", size, {"kernel_shape": k, "strides": [2] * dims}),
        (f"{dims}d-pads", size, {"kernel_shape": k, "pads": [1] * dims + [2] * dims}),
        (f"{dims}d-ceil", size, {"kernel_shape": k, "strides": [2] * dims, "ceil_mode": 1}),
        (f"{dims}d-ceil-pads", size, {"kernel_shape": [2] * dims, "strides": [3] * dims, "pads": [1] * (2 * dims),
                                      "ceil_mode": 1}),
        (f"{dims}d-dilations", size, {"kernel_shape": [2] * dims, "dilations": [2] * dims}),
    ]
    for ap in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        for s in (1, 2):
            CASES.append((f"{dims}d-{ap}-s{s}", size, {"kernel_shape": [2] * dims, "auto_pad": ap, "strides": [s] * dims}))
    CASES.append((f"{dims}d-SAME_UPPER-dilations", size, {"kernel_shape": [3] * dims, "auto_pad": "SAME_UPPER",
                                                          "strides": [2] * dims, "dilations": [2] * dims}))
    CASES.append((f"{dims}d-SAME_LOWER-dilations", size, {"kernel_shape": [2] * dims, "auto_pad": "SAME_LOWER",
                                                          "dilations": [2] * dims}))


@pytest.mark.parametrize("size,attrs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_maxpool(size, attrs):
    check("MaxPool", f(2, 3, *size), 12, **attrs)


@pytest.mark.parametrize("size,attrs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
@pytest.mark.parametrize("include", [0, 1], ids=["exclude-pad", "include-pad"])
def test_averagepool(size, attrs, include):
    check("AveragePool", f(2, 3, *size), 19, count_include_pad=include, **attrs)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("size", [(7, 8), (5, 6, 4)], ids=["2d", "3d"])
def test_maxpool_indices(order, size):
    dims = len(size)
    check("MaxPool", f(2, 3, *size), 12, outputs=("y", "i"), kernel_shape=[2] * dims, strides=[2] * dims,
          pads=[1] * (2 * dims), storage_order=order)


@pytest.mark.parametrize("op", ["GlobalMaxPool", "GlobalAveragePool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 3, 7), (2, 2, 3, 2, 5)])
def test_global_pool(op, shape):
    check(op, f(*shape), 13)


BAD = [
    ("MaxPool", {}, "kernel_shape is required"),
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [1, 1, 1]}, "pads has 3 entries, expected 4 for a 2-D MaxPool"),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [1, 1, 1]}, "strides has 3 entries, expected 2"),
    ("MaxPool", {"kernel_shape": [2, 2], "ceil_mode": 2}, "ceil_mode must be 0 or 1"),
    ("MaxPool", {"kernel_shape": [2, 2], "storage_order": 2}, "storage_order must be 0 or 1"),
    ("MaxPool", {"kernel_shape": [2, 2], "auto_pad": "bogus"}, "auto_pad 'bogus' is not one of"),
    ("MaxPool", {"kernel_shape": [2, 2], "auto_pad": "VALID", "pads": [1, 1, 1, 1]}, "cannot be combined"),
    ("MaxPool", {"kernel_shape": [3]}, "kernel_shape has 1 entries, expected 2"),
    ("MaxPool", {"kernel_shape": [9, 2]}, "smaller than the kernel"),
    ("AveragePool", {"kernel_shape": [2, 0]}, "kernel_shape must be positive"),
    ("AveragePool", {"kernel_shape": [2, 2], "count_include_pad": 3}, "count_include_pad must be 0 or 1"),
]


@pytest.mark.parametrize("op,attrs,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_attributes(op, attrs, message):
    x = f(1, 2, 5, 5)
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=19)
    with pytest.raises(ValueError, match=message):
        lstmrt.InferenceSession(model).run(None, {"x": x})


def test_bad_rank():
    x = f(3, 5)
    model = make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2])], {"x": x}, ["y"], opset=12)
    with pytest.raises(ValueError, match="rank 3 or more"):
        lstmrt.InferenceSession(model).run(None, {"x": x})


def test_pool_repeated_and_changing_shapes():
    # The window table is kept between runs of one input size and remade when it changes.
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1],
                            count_include_pad=1)
    model = make_model([node], {"x": f(1, 2, 7, 6)}, ["y"], opset=19, input_shapes={"x": [1, 2, "h", "w"]})
    sess = lstmrt.InferenceSession(model, threads=1)
    for shape in ((1, 2, 7, 6), (1, 2, 4, 9), (1, 2, 7, 6), (1, 2, 7, 6)):
        x = f(*shape)
        assert_same(sess.run(None, {"x": x})[0], ort_run(model, {"x": x})[0], atol=1e-6, rtol=1e-6, name=str(shape))

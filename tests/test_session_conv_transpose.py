"""ConvTranspose against onnxruntime: 1-D, 2-D and 3-D, strides, pads, output_padding,
dilations, group, output_shape and each auto_pad, with the weights as initializers (packed at
load) and as inputs; and bad attributes refused. Tolerances as for Conv (test_session_conv.py):
float32 sums of at most a few hundred products in [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2125)


def f(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def check(x, w, b, attrs, opset=11):
    ins = ["x", "w"] + (["b"] if b is not None else [])
    consts = {"w": w, **({"b": b} if b is not None else {})}
    node = helper.make_node("ConvTranspose", ins, ["y"], **attrs)
    for as_inputs in (False, True):
        feeds = dict({"x": x}, **consts) if as_inputs else {"x": x}
        model = make_model([node], feeds, ["y"], opset=opset, initializers={} if as_inputs else consts)
        expected = ort_run(model, feeds)
        got = lstmrt.InferenceSession(model, threads=1).run(None, feeds)
        assert_same(got[0], expected[0], atol=1e-5, rtol=1e-5, name=f"y (weights as {'inputs' if as_inputs else 'initializers'})")


SIZES = {1: (9,), 2: (5, 6), 3: (3, 4, 3)}
CASES = []
for dims, size in SIZES.items():
    CASES += [
        (f"{dims}d-plain", size, 3, 4, 1, {}),
        (f"{dims}d-stride2", size, 3, 4, 1, {"strides": [2] * dims}),
        (f"{dims}d-stride3-outpad", size, 2, 3, 1, {"strides": [3] * dims, "output_padding": [2] * dims}),
        (f"{dims}d-pads", size, 2, 3, 1, {"strides": [2] * dims, "pads": [1] * dims + [0] * dims}),
        (f"{dims}d-dilation", size, 2, 3, 1, {"dilations": [2] * dims}),
        (f"{dims}d-group", size, 4, 6, 2, {"strides": [2] * dims}),
        (f"{dims}d-depthwise", size, 3, 3, 3, {}),
        (f"{dims}d-output-shape", size, 2, 3, 1, {"strides": [2] * dims, "output_shape": [s * 2 + 1 for s in size]}),
        (f"{dims}d-output-shape-odd", size, 2, 3, 1, {"strides": [2] * dims, "output_shape": [s * 2 for s in size]}),
        (f"{dims}d-output-shape-upper", size, 2, 3, 1, {"strides": [2] * dims, "output_shape": [s * 2 for s in size],
                                                        "auto_pad": "SAME_UPPER"}),
    ]
    for ap in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        for s in (1, 2):
            CASES.append((f"{dims}d-{ap}-s{s}", size, 2, 3, 1, {"auto_pad": ap, "strides": [s] * dims}))


@pytest.mark.parametrize("size,cin,cout,group,attrs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_transpose(size, cin, cout, group, attrs, bias):
    dims = len(size)
    k = (3,) * dims if dims < 3 else (2, 3, 2)
    attrs = dict(attrs, group=group) if group > 1 else attrs
    check(f(2, cin, *size), f(cin, cout // group, *k), f(cout) if bias else None, attrs)


BAD = [
    ({"pads": [1, 1, 1]}, "pads has 3 entries, expected 4 for a 2-D ConvTranspose"),
    ({"output_padding": [1]}, "output_padding has 1 entries, expected 2"),
    ({"output_padding": [1, 1]}, "output_padding .* must be smaller than the stride"),
    ({"output_shape": [1, 2, 3]}, "output_shape has 3 entries, expected 2"),
    ({"group": 3}, "not a multiple of group 3"),
    ({"strides": [0, 1]}, "strides must be positive"),
    ({"pads": [5, 5, 5, 5]}, "pads larger than the output"),
]


@pytest.mark.parametrize("attrs,message", BAD, ids=[m for _, m in BAD])
def test_bad_attributes(attrs, message):
    x = f(1, 4, 3, 3)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)
    model = make_model([node], {"x": x}, ["y"], opset=11, initializers={"w": f(4, 2, 3, 3)})
    with pytest.raises(ValueError, match=message):
        lstmrt.InferenceSession(model).run(None, {"x": x})

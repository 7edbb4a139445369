"""Conv, ConvTranspose, MaxPool and AveragePool on random attribute combinations (1-3 spatial
dims, sizes 1-6, kernels 1-3, strides, dilations, pads or each auto_pad, groups, ceil_mode,
count_include_pad, output_padding) against onnxruntime: the corners that the sweeps in
test_session_conv.py and test_session_pool.py do not name (windows longer than the input,
strides longer than the kernel under SAME padding). Where onnxruntime refuses a combination
(dilated SAME Conv, pads not smaller than the kernel) lstmrt may compute it or refuse it; it must
not crash. Tolerances as in test_session_conv.py."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import make_model, ort_run
from checks import assert_close

CASES_PER_OP = 120


def random_case(op, rng):
    dims = int(rng.integers(1, 4))
    size = [int(v) for v in rng.integers(1, 7, dims)]
    k = [int(v) for v in rng.integers(1, 4, dims)]
    attrs = {}
    if rng.random() < 0.5:
        attrs["strides"] = [int(v) for v in rng.integers(1, 4, dims)]
    if rng.random() < 0.4:
        attrs["dilations"] = [int(v) for v in rng.integers(1, 3, dims)]
    ap = str(rng.choice(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if ap != "NOTSET":
        attrs["auto_pad"] = ap
    elif rng.random() < 0.6:
        attrs["pads"] = [int(v) for v in rng.integers(0, 3, 2 * dims)]
    cin = int(rng.integers(1, 5))
    x = rng.uniform(-1, 1, (2, cin, *size)).astype(np.float32)
    inits, ins = {}, ["x"]
    if op in ("Conv", "ConvTranspose"):
        group = int(rng.choice([1, cin]))
        attrs["group"] = group
        cout = group * int(rng.integers(1, 3))
        wshape = (cout, cin // group, *k) if op == "Conv" else (cin, cout // group, *k)
        inits["w"] = rng.uniform(-1, 1, wshape).astype(np.float32)
        ins.append("w")
        if op == "ConvTranspose" and rng.random() < 0.3:
            attrs["output_padding"] = [int(rng.integers(0, 2)) for _ in range(dims)]
        if rng.random() < 0.5:
            inits["b"] = rng.uniform(-1, 1, (cout,)).astype(np.float32)
            ins.append("b")
    else:
        attrs["kernel_shape"] = k
        if rng.random() < 0.4:
            attrs["ceil_mode"] = 1
        if op == "AveragePool" and rng.random() < 0.5:
            attrs["count_include_pad"] = 1
    model = make_model([helper.make_node(op, ins, ["y"], **attrs)], {"x": x}, ["y"], opset=19, initializers=inits)
    return model, x, attrs


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose", "MaxPool", "AveragePool"])
def test_random_windows(op):
    rng = np.random.default_rng(sum(map(ord, op)))
    compared = 0
    for i in range(CASES_PER_OP):
        model, x, attrs = random_case(op, rng)
        try:
            expected = ort_run(model, {"x": x})[0]
        except Exception:  # onnxruntime refuses it: lstmrt may too, with a ValueError
            try:
                lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})
            except ValueError:
                pass
            continue
        got = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]
        what = f"case {i}: x {x.shape}, {attrs}"
        assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
        assert_close(got, expected, atol=1e-5, rtol=1e-5, name=what)
        compared += 1
    assert compared >= CASES_PER_OP // 2, f"only {compared} of {CASES_PER_OP} cases ran in onnxruntime"

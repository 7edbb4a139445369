"""Pad against onnxruntime: the opset 2 attribute form, the opset 11 input form with and without
constant_value, opset 18's axes, modes constant, reflect, edge and wrap (opset 19), negative pads
that crop, every dtype; and bad pads refused. Pad copies values, so results match exactly."""

from __future__ import annotations

import numpy as np
import pytest
import onnx
from onnx import TensorProto, helper

import lstmrt
from node_cases import onnx_node_cases
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(2123)
TYPES = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.int32: TensorProto.INT32,
         np.bool_: TensorProto.BOOL}


def data(shape, dtype=np.float32):
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.uniform(-10, 10, size=shape).astype(dtype)


def check(x, opset, pads=None, value=None, axes=None, attrs=None, as_initializers=True):
    ins, feeds, consts = ["x"], {"x": x}, {}
    if pads is not None:
        ins.append("pads")
        consts["pads"] = np.array(pads, np.int64)
    if value is not None:
        ins.append("value")
        consts["value"] = np.array(value, x.dtype)
    if axes is not None:
        if value is None:
            ins.append("")
        ins.append("axes")
        consts["axes"] = np.array(axes, np.int64)
    node = helper.make_node("Pad", ins, ["y"], **(attrs or {}))
    if not as_initializers:
        feeds.update(consts)
        consts = {}
    model = make_model([node], feeds, ["y"], opset=opset, initializers=consts,
                       output_types={"y": TYPES[x.dtype.type]})
    expected = ort_run(model, feeds)
    got = lstmrt.InferenceSession(model, threads=1).run(None, feeds)
    assert_same(got[0], expected[0], atol=0, rtol=0)


MODES = ["constant", "reflect", "edge"]
PADS = {
    "1d": ((7,), [2, 3]),
    "2d": ((4, 5), [1, 2, 3, 1]),
    "3d": ((2, 3, 4), [0, 1, 2, 1, 0, 2]),
    "crop": ((5, 6), [-1, 2, 1, -2]),
    "crop-only": ((5, 6), [-1, -2, -1, 0]),
    "zero": ((3, 4), [0, 0, 0, 0]),
}


@pytest.mark.parametrize("name", list(PADS))
@pytest.mark.parametrize("mode", MODES + ["wrap"])
@pytest.mark.parametrize("fed", [False, True], ids=["const-pads", "fed-pads"])
def test_pad_input_form(name, mode, fed):
    shape, pads = PADS[name]
    value = 1.5 if mode == "constant" else None
    check(data(shape), 19, pads=pads, value=value, attrs={"mode": mode}, as_initializers=not fed)


@pytest.mark.parametrize("name", ["1d", "2d", "3d", "crop"])
@pytest.mark.parametrize("mode", MODES)
def test_pad_attribute_form(name, mode):
    shape, pads = PADS[name]
    check(data(shape), 10, attrs={"mode": mode, "pads": pads, "value": -2.0})


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_pad_dtypes(dtype):
    check(data((3, 4), dtype), 13, pads=[1, 0, 2, 1], attrs={"mode": "constant"})
    check(data((3, 4), dtype), 13, pads=[1, 2, 2, 1], attrs={"mode": "edge"})


@pytest.mark.parametrize("axes,pads", [([1], [2, 1]), ([-1, 0], [1, 2, 0, 1]), ([0, 2], [1, 1, 2, 0])])
@pytest.mark.parametrize("mode", MODES)
def test_pad_axes(axes, pads, mode):
    check(data((3, 4, 5)), 18, pads=pads, axes=axes, attrs={"mode": mode})


def test_pad_default_value():
    check(data((2, 3)), 13, pads=[1, 1, 1, 1])


BAD = [
    ([1, 1, 1], {}, "pads has 3 entries, expected 4 for an input of rank 2"),
    ([-3, 0, -3, 0], {}, "crop axis 0"),
    ([3, 0, 0, 0], {"mode": "reflect"}, "reflect pads"),
    ([0, 1, 0, -4], {"mode": "edge"}, "nothing of it remains"),
    ([0, 2**62, 0, 2**62], {}, "make axis 1 too large"),
    ([2**31, 2**40, 2**31, 2**40], {}, "the padded output is too large"),
]


@pytest.mark.parametrize("pads,attrs,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_pads(pads, attrs, message):
    x = data((3, 4))
    model = make_model([helper.make_node("Pad", ["x", "pads"], ["y"], **attrs)], {"x": x}, ["y"], opset=13,
                       initializers={"pads": np.array(pads, np.int64)})
    with pytest.raises(ValueError, match=message):
        lstmrt.InferenceSession(model).run(None, {"x": x})


def test_bad_mode():
    x = data((3, 4))
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap")
    model = make_model([node], {"x": x}, ["y"], opset=13, initializers={"pads": np.array([0, 1, 0, 1], np.int64)})
    with pytest.raises(ValueError, match="mode 'wrap' is not one of constant, reflect, edge"):
        lstmrt.InferenceSession(model)


def test_pad_random():
    # Random ranks, sizes, modes and pads from -3 to 4 (crops larger than an axis included):
    # where onnxruntime computes a result lstmrt must give the same; where it refuses one (a
    # repeating mode over an axis cropped to nothing), lstmrt may return the empty result or a
    # ValueError, never crash.
    r = np.random.default_rng(77)
    compared = 0
    for i in range(200):
        shape = [int(v) for v in r.integers(1, 6, int(r.integers(1, 4)))]
        mode = str(r.choice(["constant", "reflect", "edge", "wrap"]))
        pads = [int(v) for v in r.integers(-3, 5, 2 * len(shape))]
        x = r.uniform(-5, 5, shape).astype(np.float32)
        model = make_model([helper.make_node("Pad", ["x", "p"], ["y"], mode=mode)], {"x": x}, ["y"], opset=19,
                           initializers={"p": np.array(pads, np.int64)})
        try:
            expected = ort_run(model, {"x": x})[0]
        except Exception:
            try:
                lstmrt.InferenceSession(model).run(None, {"x": x})
            except ValueError:
                pass
            continue
        got = lstmrt.InferenceSession(model).run(None, {"x": x})[0]
        assert_same(got, expected, atol=0, rtol=0, name=f"case {i}: {shape} {mode} {pads}")
        compared += 1
    assert compared >= 50


def _pad_node_cases():
    return [c for c in onnx_node_cases() if c.data_sets and {n.op_type for n in c.model.graph.node} == {"Pad"}]


def test_pad_onnx_node_cases_at_opset_21():
    # The onnx package's Pad node cases are written at opset 25 (new element types only), above
    # lstmrt's opset range, so test_session_onnx_node_tests.py does not collect them; Pad-21 has
    # the same semantics for the types lstmrt computes with, so they run here at opset 21.
    cases = _pad_node_cases()
    assert len(cases) >= 5
    for case in cases:
        model = onnx.ModelProto()
        model.CopyFrom(case.model)  # the cases are shared with other tests
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = 21
        model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", 21)])
        sess = lstmrt.InferenceSession(model, threads=1)
        names = [i.name for i in sess.get_inputs()]
        for inputs, expected in case.data_sets:
            got = sess.run(None, dict(zip(names, inputs)))
            assert_same(got[0], np.asarray(expected[0]), atol=0, rtol=0, name=case.name)

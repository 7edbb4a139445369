"""The Sigmoid and Tanh operators on float32 run the kernel table's vector activations: on every
kernel path the machine has (the others skipped with the reason), at every tail length, with the
special values, against a float64 NumPy reference. Bound: 1e-6 relative plus 1e-7 absolute, a few
float32 roundings (the kernels are ULP-bounded in test_isa_paths.py)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import assert_same, make_model

ISAS = ("generic", "avx2", "avx512")
SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 100.0, -100.0, 1e30, -1e30, np.inf, -np.inf], np.float32)
REFERENCE = {"Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "Tanh": np.tanh}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("op", list(REFERENCE))
def test_activation_op_every_path_and_tail(isa, op):
    info = lstmrt.cpu_info()
    if isa not in info["supported_isas"]:
        pytest.skip(f"{isa}: not compiled or not supported here (supported: {info['supported_isas']})")
    rng = np.random.default_rng(31)
    with lstmrt.use_isa(isa):
        for n in list(range(1, 41)) + [257]:
            x = (rng.standard_normal(n) * 6).astype(np.float32)
            x[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
            model = make_model([helper.make_node(op, ["x"], ["y"])], {"x": x}, ["y"], opset=13)
            got = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]
            with np.errstate(over="ignore"):
                expected = REFERENCE[op](x.astype(np.float64)).astype(np.float32)
            assert_same(got, expected, atol=1e-7, rtol=1e-6, name=f"{op} on {isa}, n={n}")


def test_sigmoid_nan_passes():
    x = np.array([np.nan, 1.0, np.nan], np.float32)
    model = make_model([helper.make_node("Sigmoid", ["x"], ["y"])], {"x": x}, ["y"], opset=13)
    got = lstmrt.InferenceSession(model).run(None, {"x": x})[0]
    assert np.isnan(got[0]) and np.isnan(got[2]) and abs(got[1] - 0.7310586) < 1e-6


@pytest.mark.parametrize("op", ["Sigmoid", "Log", "Exp", "Relu"])
def test_large_unary_on_two_threads(op):
    """A unary pass of 64 Ki floats or more is split over the threads (ops_unary.cc,
    kMinParallelElements): the same bits as one thread, pieces ending anywhere in a vector."""
    rng = np.random.default_rng(32)
    for n in (65535, 65536, 200003):
        x = np.abs(rng.standard_normal(n)).astype(np.float32) + 0.01
        model = make_model([helper.make_node(op, ["x"], ["y"])], {"x": x}, ["y"], opset=13)
        one = lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]
        two = lstmrt.InferenceSession(model, threads=2).run(None, {"x": x})[0]
        np.testing.assert_array_equal(one, two)

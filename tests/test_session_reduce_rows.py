"""ReduceMax and ReduceMin of float32 rows into one value, and reductions that keep the last axis,
bit for bit against a sequential reference: a running acc = (v > acc or v is NaN) ? v : acc from
the identity, so the last NaN wins and of equal zeros the first; sums in the input's order. Rows
of every length from 1 to 40 and 1000 (the vectorized lanes' tails), with NaNs and signed zeros
placed at random."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import make_model


def sequential(x, is_max):
    acc = np.float32(-np.inf if is_max else np.inf)
    for v in x:
        if (v > acc if is_max else v < acc) or v != v:
            acc = v
    return acc


def run(op, x, axes, keepdims=0):
    model = make_model([helper.make_node(op, ["x"], ["y"], axes=axes, keepdims=keepdims)], {"x": x}, ["y"], opset=13)
    return lstmrt.InferenceSession(model, threads=1).run(None, {"x": x})[0]


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("kind", ["plain", "nan", "zeros", "all-zero"])
def test_extreme_of_rows(op, kind):
    rng = np.random.default_rng(41)
    for n in list(range(1, 41)) + [1000]:
        x = rng.standard_normal((3, n)).astype(np.float32)
        if kind == "nan":
            x[rng.random((3, n)) < 0.1] = np.nan
            x[1, -1] = np.nan
        if kind == "zeros":
            # A zero extreme: the other values lie on the far side of it.
            x = -np.abs(x) if op == "ReduceMax" else np.abs(x)
            x[rng.random((3, n)) < 0.2] = 0.0
            x[rng.random((3, n)) < 0.2] = -0.0
        if kind == "all-zero":
            x = np.where(rng.random((3, n)) < 0.5, np.float32(0.0), np.float32(-0.0)).astype(np.float32)
        got = run(op, x, [1])
        expected = np.array([sequential(row, op == "ReduceMax") for row in x], np.float32)
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32), err_msg=f"{op} {kind} n={n}")


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceSumSquare", "ReduceMax", "ReduceMin", "ReduceProd"])
def test_reduce_keeping_last_axis(op):
    rng = np.random.default_rng(43)
    x = rng.uniform(-2, 2, (2, 3, 37)).astype(np.float32)
    got = run(op, x, [1])
    acc = x[:, 0].copy() if op != "ReduceSumSquare" else x[:, 0] * x[:, 0]
    for i in range(1, 3):
        v = x[:, i]
        acc = {"ReduceSum": lambda: acc + v, "ReduceSumSquare": lambda: acc + v * v,
               "ReduceMax": lambda: np.where((v > acc) | np.isnan(v), v, acc),
               "ReduceMin": lambda: np.where((v < acc) | np.isnan(v), v, acc),
               "ReduceProd": lambda: acc * v}[op]()
    np.testing.assert_array_equal(got, acc.astype(np.float32))

"""ReduceMax and ReduceMin of float32 rows into one value, and reductions that keep the last axis,
bit for bit against a sequential reference: a running acc = (v > acc or v is NaN) ? v : acc from
the identity, so the last NaN wins and of equal zeros the first; sums in the input's order. Rows
of every length from 1 to 40 and 1000 (the vectorized lanes' tails), with NaNs and signed zeros
placed at random. Sums of a float32 row of 32 or more into one value run in lanes: a fixed order
other than the input's, held to the float32 error bound against float64 instead; reductions of
the trailing axes run block by block, bit for bit against the sequential reference."""

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


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL2"])
def test_long_rows_sum_in_lanes_within_the_float32_bound(op):
    # Rows of 32 and more are summed in lanes, added pairwise: a fixed order whose error stays
    # within n u of the sum of the terms' magnitudes (u = 2^-24), against float64.
    rng = np.random.default_rng(47)
    for n in (32, 33, 63, 64, 100, 1001, 4096):
        x = rng.uniform(-2, 2, (5, n)).astype(np.float32)
        got = run(op, x, [1]).astype(np.float64)
        x64 = x.astype(np.float64)
        terms = x64 * x64 if op in ("ReduceSumSquare", "ReduceL2") else x64
        total = terms.sum(axis=1)
        bound = (n + 1) * 2.0 ** -24 * np.abs(terms).sum(axis=1)
        if op == "ReduceMean":
            total, bound = total / n, bound / n + 2.0 ** -24 * np.abs(total / n)
        if op == "ReduceL2":
            # sqrt halves the relative error of the sum and adds half an ulp of its own.
            total, bound = np.sqrt(total), bound / (2 * np.sqrt(total)) + 2.0 ** -24 * np.sqrt(total)
        assert np.all(np.abs(got - total) <= bound), f"{op} n={n}"


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_trailing_axes_reduce_block_by_block(dtype):
    # Reduced axes that are the trailing ones (size-1 axes between them aside) reduce one
    # contiguous block per output; short blocks (a complex number's two parts) in order.
    rng = np.random.default_rng(53)
    for shape, axes in [((4, 257, 2), [2]), ((3, 4, 1, 7), [1, 3]), ((2, 3, 4, 5), [2, 3]),
                        ((6, 1, 30), [2]), ((2, 3), [0, 1]), ((3, 4, 1), [1])]:
        x = (rng.uniform(-2, 2, shape) * (1 if dtype == np.float32 else 50)).astype(dtype)
        for op in ("ReduceSum", "ReduceSumSquare", "ReduceMax", "ReduceMin", "ReduceProd"):
            if op == "ReduceProd" and dtype != np.float32:
                continue
            got = run(op, x, axes, keepdims=1)
            flat = np.moveaxis(x, axes, list(range(x.ndim - len(axes), x.ndim)))
            blocks = flat.reshape(flat.shape[:x.ndim - len(axes)] + (-1,))
            expected = np.empty(blocks.shape[:-1], dtype)
            for idx in np.ndindex(*blocks.shape[:-1]):
                row = blocks[idx]
                if op in ("ReduceMax", "ReduceMin"):
                    expected[idx] = sequential(row, op == "ReduceMax") if dtype == np.float32 else (
                        row.max() if op == "ReduceMax" else row.min())
                    continue
                acc = dtype(1 if op == "ReduceProd" else 0)
                for v in row:  # in order: every block here is shorter than the lanes' threshold
                    acc = {"ReduceSum": acc + v, "ReduceSumSquare": acc + v * v, "ReduceProd": acc * v}[op]
                expected[idx] = acc
            np.testing.assert_array_equal(got.reshape(expected.shape), expected, err_msg=f"{op} {shape} {axes}")


@pytest.mark.parametrize("op", ["ReduceSumSquare", "ReduceSum", "ReduceMax"])
def test_middle_axes_split_over_threads_in_order(op):
    # Reduced axes in the middle, a long kept inner block (a spectrum's (re, im) axis): each
    # output adds its rows in order, split over threads by inner ranges past 64 Ki outputs.
    rng = np.random.default_rng(59)
    x = rng.uniform(-2, 2, (2, 3, 1, 40000)).astype(np.float32)
    model = make_model([helper.make_node(op, ["x"], ["y"], axes=[1], keepdims=0)], {"x": x}, ["y"], opset=13)
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, {"x": x})[0] for t in (1, 2))
    acc = x[:, 0] * x[:, 0] if op == "ReduceSumSquare" else x[:, 0].copy()
    for i in range(1, 3):
        v = x[:, i]
        acc = {"ReduceSum": lambda: acc + v, "ReduceSumSquare": lambda: acc + v * v,
               "ReduceMax": lambda: np.where((v > acc) | np.isnan(v), v, acc)}[op]()
    np.testing.assert_array_equal(one, acc)
    np.testing.assert_array_equal(two, acc)

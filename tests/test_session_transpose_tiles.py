"""Transpose of the last two dims in 16 x 16 tiles (ops_movement.cc, transpose_last_two): every
tail of a tile in both dims, outer dims kept or permuted, 4-byte element types, against NumPy
(a copy: the bits must be equal)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from session_helpers import make_model


def run(x, perm):
    model = make_model([helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], {"x": x}, ["y"], opset=13,
                       output_types={"y": helper.np_dtype_to_tensor_dtype(x.dtype)})
    return lstmrt.InferenceSession(model).run(None, {"x": x})[0]


@pytest.mark.parametrize("rows", [2, 15, 16, 17, 33])
@pytest.mark.parametrize("cols", [2, 16, 31, 40])
def test_last_two_swapped_every_tail(rows, cols):
    x = np.random.default_rng(rows * 100 + cols).standard_normal((3, cols, rows)).astype(np.float32)
    x[0, 0, 0] = -0.0
    got = run(x, (0, 2, 1))
    np.testing.assert_array_equal(got.view(np.uint32), np.ascontiguousarray(x.transpose(0, 2, 1)).view(np.uint32))


@pytest.mark.parametrize("perm", [(1, 0, 3, 2), (2, 0, 3, 1)])
def test_outer_dims_permuted(perm):
    x = np.arange(4 * 5 * 19 * 18, dtype=np.int32).reshape(4, 5, 19, 18)
    np.testing.assert_array_equal(run(x, perm), x.transpose(perm))


def test_matrix():
    x = np.random.default_rng(1).standard_normal((37, 21)).astype(np.float32)
    np.testing.assert_array_equal(run(x, (1, 0)), x.T)

"""Conv's paths against each other on random shapes large enough to take them (1-D and 2-D,
inputs up to 40 wide, kernels 1-5, dilations, pads, groups, strides, a silent tail in a third of
the cases): over shifted rows or packed windows (lstmrt._core.testing switches), at 1 and 2
threads, every run must give the same bits, and onnxruntime's result within the tolerance of
test_session_conv.py (1e-5 absolute plus 1e-5 relative, inputs in [-1, 1])."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import lstmrt
from lstmrt._core import testing
from session_helpers import assert_same, make_model, ort_run

CASES = 60


def random_case(rng):
    d = int(rng.integers(1, 3))
    C, M, N = int(rng.integers(1, 12)), int(rng.integers(1, 33)), int(rng.integers(1, 3))
    ks = [int(rng.integers(1, 6)) for _ in range(d)]
    dil = [int(rng.integers(1, 3)) for _ in range(d)]
    pads = [int(rng.integers(0, 5)) for _ in range(2 * d)]
    size = [int(rng.integers(max(1, (k - 1) * dl + 1 - pads[j] - pads[j + d]), 40))
            for j, (k, dl) in enumerate(zip(ks, dil))]
    group = 2 if C % 2 == 0 and M % 2 == 0 and rng.random() < 0.25 else 1
    strides = [int(rng.integers(1, 3)) if rng.random() < 0.3 else 1 for _ in range(d)]
    x = rng.uniform(-1, 1, (N, C, *size)).astype(np.float32)
    if rng.random() < 0.3:
        x[..., size[-1] // 2:] = 0.0
    w = rng.uniform(-1, 1, (M, C // group, *ks)).astype(np.float32)
    b = rng.uniform(-1, 1, M).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=ks, dilations=dil, pads=pads, group=group,
                            strides=strides)
    return make_model([node], {"x": x}, ["y"], opset=17, initializers={"w": w, "b": b}), {"x": x}


@pytest.fixture
def shifted_on():
    yield
    testing.set_conv_shifted_rows(True)


def test_random_convs_give_the_same_bits_on_every_path(shifted_on):
    rng = np.random.default_rng(2026)
    taken = 0
    for i in range(CASES):
        model, feeds = random_case(rng)
        runs = []
        for shifted in (True, False):
            testing.set_conv_shifted_rows(shifted)
            for threads in (1, 2):
                before = testing.conv_shifted_rows_runs()
                runs.append(lstmrt.InferenceSession(model, threads=threads).run(None, feeds)[0])
                taken += testing.conv_shifted_rows_runs() > before
        for got in runs[1:]:
            np.testing.assert_array_equal(runs[0].view(np.uint32), got.view(np.uint32), err_msg=f"case {i}")
        assert_same(runs[0], ort_run(model, feeds)[0], atol=1e-5, rtol=1e-5, name=f"case {i}")
    assert taken >= 10  # the shifted rows ran in a good part of the cases

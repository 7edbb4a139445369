"""The onnx package's backend node test cases, collected once per test run and shared."""

from __future__ import annotations

import functools
import warnings

import numpy as np


@functools.lru_cache(maxsize=1)
def onnx_node_cases() -> tuple:
    """Every node case that has a model (copy a case's model before changing it: all tests share it)."""
    from onnx.backend.test.case.node import collect_testcases

    state = np.random.get_state()  # the generators reseed NumPy's global RNG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    np.random.set_state(state)
    return tuple(c for c in cases if c.model is not None)

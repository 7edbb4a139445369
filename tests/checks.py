"""Comparison helpers shared by the tests.

Every comparison is ``|got - expected| <= atol + rtol * |expected|``
elementwise; NaN must meet NaN and infinities must match exactly. Integer and
boolean results are compared exactly whatever the tolerance.  A failure
names the output, prints the number of mismatches and, for the worst few, the
index, the value obtained and the value expected.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def mismatch_report(got: np.ndarray, expected: np.ndarray, bad: np.ndarray,
                    tol: Optional[np.ndarray] = None, limit: int = 8) -> str:
    idx = np.argwhere(bad)
    g64 = got.astype(np.float64)
    e64 = expected.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g64 - e64)
    err = np.where(np.isnan(err), np.inf, err)
    order = np.argsort(-err[bad], kind="stable")[:limit]
    lines = []
    for k in order:
        i = tuple(int(v) for v in idx[k])
        line = f"  at {i}: got {g64[i]!r}, expected {e64[i]!r}, |diff| {err[i]:.3g}"
        if tol is not None:
            line += f", allowed {float(tol[i]):.3g}"
        lines.append(line)
    return "\n".join(lines)


def assert_close(got, expected, *, atol: float, rtol: float, name: str = "output",
                 context: str = "") -> None:
    """Asserts ``got`` matches ``expected`` (shape, and values within
    ``atol + rtol*|expected|``; NaN positions and infinities must agree)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    where = f"{name}{' [' + context + ']' if context else ''}"
    assert got.shape == expected.shape, \
        f"{where}: shape {got.shape}, expected {expected.shape}"
    if got.dtype.kind in "biu" and expected.dtype.kind in "biu":
        atol = rtol = 0.0
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    nan_g, nan_e = np.isnan(g), np.isnan(e)
    inf_e = np.isinf(e)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = atol + rtol * np.abs(e)
        diff = np.abs(g - e)
        bad = np.where(inf_e, g != e, ~(diff <= tol))
    bad = np.where(nan_e, ~nan_g, bad) | (nan_g & ~nan_e)
    if np.any(bad):
        n = int(np.count_nonzero(bad))
        raise AssertionError(
            f"{where}: {n} of {bad.size} elements differ by more than "
            f"atol={atol:.3g} + rtol={rtol:.3g}*|expected|\n"
            + mismatch_report(got, expected, bad, tol))


def assert_equal(got, expected, *, name: str = "output", context: str = "") -> None:
    """Bitwise equality (NaN equal to NaN), with the same failure report."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    where = f"{name}{' [' + context + ']' if context else ''}"
    assert got.shape == expected.shape, f"{where}: shape {got.shape}, expected {expected.shape}"
    assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype}, expected {expected.dtype}"
    bad = ~((got == expected) | (np.isnan(got) & np.isnan(expected)))
    if np.any(bad):
        raise AssertionError(f"{where}: {int(np.count_nonzero(bad))} of {bad.size} elements "
                             f"are not identical\n" + mismatch_report(got, expected, bad))


def assert_outputs_close(got: Sequence[np.ndarray], expected: Sequence[np.ndarray], *,
                         atol: float, rtol: float, names: Sequence[str], context: str = "") -> None:
    assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
    for g, e, n in zip(got, expected, names):
        assert np.asarray(g).dtype == np.float32, f"{n}: dtype {np.asarray(g).dtype}, expected float32"
        assert_close(g, e, atol=atol, rtol=rtol, name=n, context=context)

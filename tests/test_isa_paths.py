"""Every kernel path (ISA) on this machine, tested directly.

Parametrized over all three path names; a path this CPU cannot run, or that
the build lacks, is skipped with the reason, so the skip shows in the report.

(a) The vector activation kernels against float64 NumPy over the whole float
    range: a dense grid, random values, magnitudes from the smallest
    denormal to FLT_MAX, +-0, +-inf and NaN, and every length 0..70 (the
    test hook puts the buffer's end against a guard page, so a read or write
    past the tail crashes).
(b) The packed-weight GEMM at every N tail 1..130 and every K tail 1..130.
(c) Whole LSTM/GRU/RNN runs on each path against the generic path, hidden
    sizes 1..130 covering every remainder modulo 16.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import reference
from checks import assert_close, mismatch_report

import lstmrt
from lstmrt._core import testing

ALL_ISAS = ("generic", "avx2", "avx512")
F32 = np.float32
U = 2.0 ** -24                      # float32 unit roundoff
TINY = float(np.finfo(F32).tiny)    # smallest normal float32, 1.18e-38


# The `isa` fixture (every kernel path this build compiled and this CPU runs) is conftest.py's.


# ---------------------------------------------------------------------------
# (a) activations

# Error bound per activation: |got - exact| <= ULPS * u * scale(x) + TINY,
# where u = 2^-24 and ``scale`` is |exact| except where noted.  The bounds
# are 1.5-3x what the kernels were measured to achieve on all three paths
# (sigmoid 2.5u, softsign 2u, softplus 5.8u, relu/leaky/thresholded exact;
# tanh 4.8u and scaled tanh 5.6u with fused multiply-adds, 6.2u and 7u on the
# generic path, whose multiply-adds round twice: tanh is a rational fit traded
# for speed, see tools/fit_tanh.py), so they are tight enough to catch a bad
# polynomial or a wrong range reduction.  TINY absorbs flushing of denormal
# results to zero.
#   Affine, HardSigmoid: alpha*x + beta cancels near its root, so the bound is
#     relative to |alpha*x| + |beta| (two roundings), not to the result.
#   Elu: alpha*(e^x - 1) for x < 0 may lose relative accuracy as x -> 0- when
#     computed as exp(x) - 1; the absolute part alpha*2u allows that.
ULPS = {
    "Sigmoid": 8, "Tanh": 10, "Relu": 0, "Affine": 3, "LeakyRelu": 1, "ThresholdedRelu": 0,
    "ScaledTanh": 12, "HardSigmoid": 3, "Elu": 8, "Softsign": 6, "Softplus": 16,
}
# alpha, beta used when testing each activation (float32-representable).
PARAMS = {
    "Affine": [(0.75, -0.3125), (-1.5, 2.0)],
    "LeakyRelu": [(0.01, 0.0), (0.3, 0.0)],
    "ThresholdedRelu": [(1.0, 0.0), (-0.5, 0.0)],
    "ScaledTanh": [(1.0, 1.0), (1.7159, 0.6666)],
    "HardSigmoid": [(0.2, 0.5), (0.75, 0.125)],
    "Elu": [(1.0, 0.0), (0.4, 0.0)],
}


def _inputs():
    rng = np.random.default_rng(42)
    max32 = float(np.finfo(F32).max)
    mags = np.geomspace(1.4e-45, max32, 6000)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, TINY, -TINY, 1e-45, -1e-45, 1e-40, -1e-40,
                max32, -max32, 88.0, -88.0, 88.8, -88.8, 89.5, -89.5, 104.0, -104.0, 20.0, -20.0,
                9.0, -9.0, 1e-4, -1e-4, 0.5, -0.5, 2.0 ** -12, -(2.0 ** -12)]
    x = np.concatenate([
        np.linspace(-40.0, 40.0, 160_001),                 # dense grid, step 5e-4
        rng.standard_normal(20_000) * 4.0,
        rng.uniform(-200.0, 200.0, 5_000),
        mags, -mags,
        np.array(specials),
    ]).astype(F32)
    return x


X_ALL = _inputs()


def _exact(name, x, alpha, beta):
    return reference.apply_activation(name, x.astype(np.float64), alpha, beta)


def _check_activation(isa, name, x, alpha, beta):
    got = testing.activation(isa, name, x, alpha, beta)
    assert got.dtype == F32 and got.shape == x.shape
    # The kernel sees alpha and beta as float32; so does the exact value.
    alpha, beta = float(F32(alpha)), float(F32(beta))
    exact = _exact(name, x, alpha, beta)
    with np.errstate(over="ignore"):
        exact32 = exact.astype(F32)
    g = got.astype(np.float64)
    x64 = x.astype(np.float64)
    if name in ("Affine", "HardSigmoid"):
        with np.errstate(over="ignore", invalid="ignore"):
            scale = np.abs(alpha * x64) + abs(beta)
    else:
        scale = np.abs(exact)
    floor = TINY + (abs(alpha) * 2 * U if name == "Elu" else 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = ULPS[name] * U * scale + floor
        err = np.abs(g - exact)
    nan_in = np.isnan(exact)
    inf_out = np.isinf(exact32)    # exact result beyond float32: must be that infinity
    bad = np.where(nan_in, ~np.isnan(g), np.where(inf_out, g != exact32, ~(err <= bound)))
    if np.any(bad):
        idx = np.flatnonzero(bad)
        raise AssertionError(
            f"{isa} {name}(alpha={alpha}, beta={beta}): {idx.size} of {x.size} values outside "
            f"{ULPS[name]}u*scale + {floor:.3g}\n"
            + "\n".join(f"  x={x[i]!r}: got {got[i]!r}, expected {exact[i]!r}"
                        for i in idx[np.argsort(-np.nan_to_num(err[idx], nan=np.inf))][:8]))


def _param_sets(name):
    return PARAMS.get(name, [(0.0, 0.0)])


@pytest.mark.parametrize("name", reference.ACTIVATION_NAMES)
def test_activation_whole_range(isa, name):
    for alpha, beta in _param_sets(name):
        _check_activation(isa, name, X_ALL, alpha, beta)


@pytest.mark.parametrize("name", reference.ACTIVATION_NAMES)
def test_activation_every_length(isa, name):
    """Lengths 0..70 cover every tail of 4-, 8- and 16-lane vectors, twice;
    NaN and inf sit in the tail so the remainder path handles them too."""
    rng = np.random.default_rng(7)
    alpha, beta = _param_sets(name)[-1]
    for n in range(0, 71):
        x = rng.uniform(-6.0, 6.0, n).astype(F32)
        if n >= 1:
            x[-1] = np.nan
        if n >= 2:
            x[-2] = -np.inf
        if n >= 3:
            x[n // 2] = np.inf
        _check_activation(isa, name, x, alpha, beta)


def test_activation_nan_propagates(isa):
    """NaN in gives NaN out, for every activation (a NaN must not be hidden by
    a max/min or a comparison select)."""
    failures = []
    for name in reference.ACTIVATION_NAMES:
        for alpha, beta in _param_sets(name):
            x = np.full(37, np.nan, F32)
            got = testing.activation(isa, name, x, alpha, beta)
            if not np.all(np.isnan(got)):
                failures.append(f"{name}(alpha={alpha}, beta={beta}): {got[:4]!r}")
    assert not failures, f"{isa}: NaN input gave a number:\n  " + "\n  ".join(failures)


# ---------------------------------------------------------------------------
# (b) GEMM

def _gemm_shapes():
    """(M, N, K): every N in 1..130 and every K in 1..130 at least once,
    paired by two different permutations, M cycling 1..9; then a few large
    shapes that cross several packed panels and cache blocks."""
    rng = np.random.default_rng(2024)
    shapes = []
    for perm_seed in range(2):
        ks = rng.permutation(np.arange(1, 131))
        for i, n in enumerate(range(1, 131)):
            shapes.append((1 + (i + perm_seed * 4) % 9, n, int(ks[i])))
    shapes += [(64, 257, 300), (33, 512, 129), (1, 1024, 512), (9, 131, 1000)]
    return shapes


def _check_gemm(isa, M, N, K, with_bias, rng):
    A = rng.uniform(-1, 1, (M, K)).astype(F32)
    W = rng.uniform(-1, 1, (N, K)).astype(F32)
    bias = rng.uniform(-1, 1, N).astype(F32) if with_bias else None
    got = testing.gemm(isa, A, W, bias)
    assert got.dtype == F32 and got.shape == (M, N), f"shape {got.shape}, expected {(M, N)}"
    A64, W64 = A.astype(np.float64), W.astype(np.float64)
    want = A64 @ W64.T
    scale = np.abs(A64) @ np.abs(W64).T
    if bias is not None:
        want = want + bias
        scale = scale + np.abs(bias)
    # Any summation order, with or without FMA, stays within (K+1)u*sum|a*w|
    # (+|bias|); (K+2) leaves room for the bias add.  The kernels measure ~4u.
    bound = (K + 2) * U * scale
    err = np.abs(got - want)
    bad = ~(err <= bound)
    if np.any(bad):
        raise AssertionError(f"{isa} gemm M={M} N={N} K={K} bias={with_bias}: "
                             f"{int(bad.sum())} entries beyond (K+2)u*sum|a*w|\n"
                             + mismatch_report(got, want, bad, bound))


def test_gemm_every_tail(isa):
    rng = np.random.default_rng(11)
    for i, (M, N, K) in enumerate(_gemm_shapes()):
        _check_gemm(isa, M, N, K, with_bias=bool(i % 2), rng=rng)


def test_add_scaled_every_length(isa):
    """Conv's depthwise multiply-add d + s * w at every length from 0 to 127 (every tail of every
    vector width), with infinities and NaN: within 2u of |d| + |s * w| of the float64 value (one
    fused rounding on the FMA paths, a multiply and an add on the generic one)."""
    rng = np.random.default_rng(13)
    for n in range(128):
        d = rng.uniform(-4, 4, n).astype(F32)
        s = rng.uniform(-4, 4, n).astype(F32)
        w = F32(rng.uniform(-2, 2))
        got = testing.add_scaled(isa, d, s, float(w))
        want = d.astype(np.float64) + s.astype(np.float64) * np.float64(w)
        bound = 2 * U * (np.abs(d) + np.abs(s * np.float64(w))) + TINY
        bad = ~(np.abs(got - want) <= bound)
        if np.any(bad):
            raise AssertionError(f"{isa} add_scaled n={n}: {int(bad.sum())} entries beyond the bound\n"
                                 + mismatch_report(got, want, bad, bound))
    special = np.array([np.inf, -np.inf, np.nan, 1.0, 0.0], F32)
    got = testing.add_scaled(isa, special, np.ones(5, F32), 2.0)
    np.testing.assert_array_equal(got, np.array([np.inf, -np.inf, np.nan, 3.0, 2.0], F32))


def test_gemm_sizes_that_prefetch(isa):
    """The GEMM prefetches C when it is larger than a core's L2 (over 1 MiB) and the weights when
    they stream from memory (16 MiB and more): kColdOutputBytes and kStreamedWeightBytes in
    kernels_impl.h. Shapes just past each size, with partial row tiles and panels."""
    rng = np.random.default_rng(12)
    for M, N, K in [(300, 1000, 7),      # C 1.2 MB
                    (9, 4100, 1024),     # weights 16.8 MB (257 panels)
                    (70, 4100, 1024)]:   # both
        _check_gemm(isa, M, N, K, with_bias=M != 9, rng=rng)


def test_gemm_tall_tiles_sum_as_the_others(isa):
    """Up to 24 rows against weights streamed from memory run as one tall tile per panel on
    AVX-512 (kTallRows): within the bound, and the same bits as the rows multiplied 8 at a time
    (the ordinary tiles), since every output is summed in the same order."""
    rng = np.random.default_rng(14)
    W = rng.uniform(-1, 1, (4100, 1024)).astype(F32)  # 16.8 MB packed
    for M in (12, 20, 24, 25):
        A = rng.uniform(-1, 1, (M, 1024)).astype(F32)
        got = testing.gemm(isa, A, W)
        by_eight = np.vstack([testing.gemm(isa, A[i:i + 8], W) for i in range(0, M, 8)])
        np.testing.assert_array_equal(got.view(np.uint32), by_eight.view(np.uint32), err_msg=f"{isa} M={M}")
        want = A.astype(np.float64) @ W.astype(np.float64).T
        bound = 1026 * U * (np.abs(A).astype(np.float64) @ np.abs(W).astype(np.float64).T)
        assert np.all(np.abs(got - want) <= bound), f"{isa} M={M}"


def test_gemm_shapes_cover_every_tail():
    shapes = _gemm_shapes()
    assert {n for _, n, _ in shapes} >= set(range(1, 131))
    assert {k for _, _, k in shapes} >= set(range(1, 131))
    assert {m for m, _, _ in shapes} >= set(range(1, 10))


def test_gemm_special_values(isa):
    """Zeros, exact small integers (the result must be exact), and an
    infinity that must reach exactly the outputs that use it."""
    rng = np.random.default_rng(3)
    for M, N, K in [(3, 17, 5), (1, 33, 9), (5, 130, 130)]:
        A = rng.integers(-4, 5, (M, K)).astype(F32)
        W = rng.integers(-4, 5, (N, K)).astype(F32)
        b = rng.integers(-4, 5, N).astype(F32)
        got = testing.gemm(isa, A, W, b)
        assert_close(got, A.astype(np.float64) @ W.T.astype(np.float64) + b, atol=0, rtol=0,
                     name=f"{isa} integer gemm {M}x{N}x{K}")
        zero = testing.gemm(isa, np.zeros((M, K), F32), W, None)
        assert_close(zero, np.zeros((M, N)), atol=0, rtol=0, name=f"{isa} zero gemm")
        A2 = np.abs(A) + 1
        W2 = np.abs(W) + 1
        A2[M - 1, K - 1] = np.inf
        got = testing.gemm(isa, A2, W2, None)
        want = A2.astype(np.float64) @ W2.T.astype(np.float64)   # last row inf, others exact
        assert_close(got, want, atol=0, rtol=0, name=f"{isa} gemm with inf")


def _recurrent_cases():
    """(N, K, split): every N in 1..70 (every panel tail, and groups of panels with a tail),
    K from 1 to 130, split inside K, at its ends, and past it (then one chain is empty)."""
    rng = np.random.default_rng(77)
    cases = []
    for n in range(1, 71):
        K = int(rng.integers(1, 131))
        for split in sorted({0, K // 2, int(rng.integers(0, K + 1)), K, K + 16}):
            cases.append((n, K, split))
    return cases + [(512, 128, 64), (384, 256, 128), (257, 72, 48)]


def test_recurrent_gemv_matches_float64_and_is_one_sum_in_either_order(isa):
    """The one-row recurrent product sums k < split and k >= split apart and adds the two at the
    end. Whichever chain runs first, the bits are the same: that is what keeps a 2-thread layer,
    whose second thread starts with its own units (past the split), equal to 1 thread."""
    rng = np.random.default_rng(12)
    for N, K, split in _recurrent_cases():
        a = rng.uniform(-1, 1, K).astype(F32)
        W = rng.uniform(-1, 1, (N, K)).astype(F32)
        lower_first = testing.recurrent_gemv(isa, a, W, split, False)
        upper_first = testing.recurrent_gemv(isa, a, W, split, True)
        name = f"{isa} recurrent gemv N={N} K={K} split={split}"
        np.testing.assert_array_equal(upper_first, lower_first, err_msg=f"{name}: upper chain first")
        A64, W64 = a.astype(np.float64), W.astype(np.float64)
        want = W64 @ A64
        bound = (K + 2) * U * (np.abs(W64) @ np.abs(A64))
        bad = ~(np.abs(lower_first - want) <= bound)
        if np.any(bad):
            raise AssertionError(f"{name}: {int(bad.sum())} entries beyond (K+2)u*sum|a*w|\n"
                                 + mismatch_report(lower_first, want, bad, bound))


def test_recurrent_gemm_rows_equal_recurrent_gemv(isa):
    """Several rows' recurrent product gives each row the bits recurrent_gemv gives it alone, for
    every row tail of the register block and every column tail: a stream stepped in a pool
    equals the stream stepped by itself."""
    rng = np.random.default_rng(13)
    cases = [(M, N, K, split) for (N, K, split) in [(c[0], c[1], c[2]) for c in _recurrent_cases()[::7]]
             for M in (2, 3, 5, 9)] + [(M, 512, 128, 64) for M in range(2, 18)] + [(40, 96, 2000, 1000)]
    for M, N, K, split in cases:
        A = rng.uniform(-1, 1, (M, K)).astype(F32)
        W = rng.uniform(-1, 1, (N, K)).astype(F32)
        got = testing.recurrent_gemm(isa, A, W, split)
        for m in range(M):
            np.testing.assert_array_equal(got[m], testing.recurrent_gemv(isa, A[m], W, split, False),
                                          err_msg=f"{isa} recurrent gemm M={M} N={N} K={K} split={split} row {m}")


def test_recurrent_gemv_special_values(isa):
    """Exact small integers give the exact result; an infinity reaches exactly its outputs."""
    rng = np.random.default_rng(4)
    for N, K, split in [(17, 5, 2), (33, 40, 32), (130, 130, 64)]:
        a = rng.integers(-4, 5, K).astype(F32)
        W = rng.integers(-4, 5, (N, K)).astype(F32)
        want = W.astype(np.float64) @ a.astype(np.float64)
        for upper in (False, True):
            assert_close(testing.recurrent_gemv(isa, a, W, split, upper), want, atol=0, rtol=0,
                         name=f"{isa} integer recurrent gemv {N}x{K}")
        a2, W2 = np.abs(a) + 1, np.abs(W) + 1
        W2[N - 1, K - 1] = np.inf
        assert_close(testing.recurrent_gemv(isa, a2, W2, split, True), W2.astype(np.float64) @ a2, atol=0, rtol=0,
                     name=f"{isa} recurrent gemv with inf")


# ---------------------------------------------------------------------------
# (c) whole layers against the generic path

def _hidden_sizes():
    """16 hidden sizes in 1..130, one per remainder modulo 16, spread over the
    range (several full 16-wide blocks before the remainder)."""
    sizes = []
    for r in range(16):
        q = (r * 5) % 9
        h = 16 * q + r
        if h == 0:
            h = 128
        if h > 130:
            h -= 16
        sizes.append(h)
    return sizes


HIDDEN_SIZES = _hidden_sizes()


def test_hidden_sizes_cover_every_remainder():
    assert sorted(h % 16 for h in HIDDEN_SIZES) == list(range(16))
    assert all(1 <= h <= 130 for h in HIDDEN_SIZES)


def _layer_inputs(cell, hidden, rng):
    G = reference.GATES[cell]
    S, N, nd = 4, 3, 2
    I = 1 + (hidden * 7) % 37
    d = {
        "X": rng.uniform(-1, 1, (S, N, I)).astype(F32),
        "W": (rng.uniform(-1, 1, (nd, G * hidden, I)) / math.sqrt(I)).astype(F32),
        "R": (rng.uniform(-0.8, 0.8, (nd, G * hidden, hidden)) / math.sqrt(hidden)).astype(F32),
        "B": rng.uniform(-0.5, 0.5, (nd, 2 * G * hidden)).astype(F32),
        "sequence_lens": np.array([S, 1, S - 1], np.int32),
        "initial_h": rng.uniform(-1, 1, (nd, N, hidden)).astype(F32),
    }
    if cell == "lstm":
        d["initial_c"] = rng.uniform(-1, 1, (nd, N, hidden)).astype(F32)
        d["P"] = rng.uniform(-0.5, 0.5, (nd, 3 * hidden)).astype(F32)
    return d


def _run(cell, d, **attrs):
    return getattr(lstmrt.ops, cell)(**d, direction="bidirectional", **attrs)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layers_match_generic(isa, cell):
    """Different paths round differently (FMA, summation order, activation
    polynomials), so agreement is to float32 tolerance, not bitwise:
    atol 2e-6 + rtol 2e-5, scaled by sqrt(K/16) for accumulation length K.
    The differences measured are <= 3e-7 (under 5% of this bound); a wrong
    tail or a skipped lane produces errors of order 0.1."""
    rng = np.random.default_rng(100 + len(cell))
    attr_sets = [{}]
    if cell == "lstm":
        attr_sets.append({"clip": 0.8, "activations": ["HardSigmoid", "Softsign", "Elu"] * 2})
    if cell == "gru":
        attr_sets.append({"linear_before_reset": 1, "activations": ["Sigmoid", "Softplus"] * 2})
    if cell == "rnn":
        attr_sets.append({"activations": ["Relu", "ScaledTanh"], "activation_alpha": [1.2],
                          "activation_beta": [0.7]})
    for hidden in HIDDEN_SIZES:
        d = _layer_inputs(cell, hidden, rng)
        k = d["X"].shape[2] + hidden
        scale = math.sqrt(max(1.0, k / 16))
        for attrs in attr_sets:
            with lstmrt.use_isa("generic"):
                want = _run(cell, d, **attrs)
            with lstmrt.use_isa(isa):
                assert lstmrt.cpu_info()["isa"] == isa
                got = _run(cell, d, **attrs)
            for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
                assert_close(g, w, atol=2e-6 * scale, rtol=2e-5 * scale, name=name,
                             context=f"{cell} isa={isa} hidden={hidden} {attrs}")


# ---------------------------------------------------------------------------
# choosing the path

def test_cpu_info_shape():
    info = lstmrt.cpu_info()
    for key in ("isa", "supported_isas", "compiled_isas", "features"):
        assert key in info, f"cpu_info() lacks {key!r}"
    assert "generic" in info["supported_isas"]
    assert set(info["supported_isas"]) <= set(info["compiled_isas"]) <= set(ALL_ISAS)
    assert info["isa"] in info["supported_isas"]
    assert isinstance(info["features"], dict)


def test_set_isa_returns_previous_and_use_isa_restores(isa):
    before = lstmrt.cpu_info()["isa"]
    prev = lstmrt.set_isa(isa)
    try:
        assert prev == before
        assert lstmrt.cpu_info()["isa"] == isa
    finally:
        lstmrt.set_isa(before)
    with lstmrt.use_isa("generic"):
        assert lstmrt.cpu_info()["isa"] == "generic"
        with lstmrt.use_isa(isa):
            assert lstmrt.cpu_info()["isa"] == isa
        assert lstmrt.cpu_info()["isa"] == "generic"
    assert lstmrt.cpu_info()["isa"] == before


def test_use_isa_restores_after_exception():
    before = lstmrt.cpu_info()["isa"]
    with pytest.raises(KeyError):
        with lstmrt.use_isa("generic"):
            raise KeyError("boom")
    assert lstmrt.cpu_info()["isa"] == before


def test_unknown_isa_is_value_error():
    before = lstmrt.cpu_info()["isa"]
    for bad in ("sse9", "", "AVX3"):
        with pytest.raises(ValueError):
            lstmrt.set_isa(bad)
    assert lstmrt.cpu_info()["isa"] == before


def test_unavailable_isa_is_runtime_error():
    """Forcing a path the CPU lacks raises RuntimeError naming it. On a CPU that has every path,
    LSTMRT_DISABLE_ISA makes lstmrt treat some as absent, in a subprocess."""
    info = lstmrt.cpu_info()
    missing = [i for i in ALL_ISAS if i not in info["supported_isas"]]
    before = info["isa"]
    for name in missing:
        with pytest.raises(RuntimeError, match=name):
            lstmrt.set_isa(name)
    assert lstmrt.cpu_info()["isa"] == before
    code = ("import lstmrt\n"
            "info = lstmrt.cpu_info()\n"
            "assert 'avx512' not in info['supported_isas'] and 'avx2' not in info['supported_isas'], info\n"
            "assert info['isa'] == 'generic', info\n"
            "for name in ('avx2', 'avx512'):\n"
            "    try:\n"
            "        lstmrt.set_isa(name)\n"
            "    except RuntimeError as e:\n"
            "        assert name in str(e), e\n"
            "    else:\n"
            "        raise AssertionError('no error for ' + name)\n"
            "print('refused')\n")
    r = _python_with_env(code, LSTMRT_DISABLE_ISA="avx512,avx2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "refused"
    # Forcing a disabled path through LSTMRT_ISA fails at import, naming it.
    r = _python_with_env("import lstmrt", LSTMRT_DISABLE_ISA="avx512", LSTMRT_ISA="avx512")
    assert r.returncode != 0 and "LSTMRT_ISA=avx512" in r.stderr


def _python_with_env(code, **env):
    full = dict(os.environ)
    full.update(env)
    pypath = [os.path.dirname(os.path.dirname(lstmrt.__file__))]
    if full.get("PYTHONPATH"):
        pypath.append(full["PYTHONPATH"])
    full["PYTHONPATH"] = os.pathsep.join(pypath)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=120)


def test_env_var_forces_isa(isa):
    r = _python_with_env("import lstmrt; print(lstmrt.cpu_info()['isa'])", LSTMRT_ISA=isa)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == isa


def test_env_var_unknown_isa_fails_at_import():
    r = _python_with_env("import lstmrt", LSTMRT_ISA="nonsense")
    assert r.returncode != 0
    assert "nonsense" in r.stderr and "ValueError" in r.stderr, r.stderr


def test_log_within_one_ulp(isa):
    """log(x) by the kernel table, over every magnitude a float32 has (denormals included, split
    by integer work so that a thread treating them as zero still gets them right), around 1,
    and at every tail length: within 1 ulp of the float64 value; and the special values."""
    rng = np.random.default_rng(17)
    x = np.concatenate([np.exp(rng.uniform(-103.2, 88.7, 200000)), rng.uniform(0.5, 2.0, 100000),
                        rng.uniform(0.999, 1.001, 20000), rng.uniform(0, 1e-38, 20000),
                        np.array([1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38, 1.0, 2.0, 0.5,
                                  0.70710677, 0.7071068, 1.4142135, 1.4142137])]).astype(F32)
    got = testing.log(isa, x).astype(np.float64)
    want = np.log(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(F32)).astype(np.float64)
    bad = ~(np.abs(got - want) <= ulp)
    if np.any(bad):
        raise AssertionError(f"{isa} log: {int(bad.sum())} values beyond 1 ulp\n" + mismatch_report(got, want, bad, ulp))
    for n in range(1, 40):
        np.testing.assert_array_equal(testing.log(isa, x[:n]), testing.log(isa, x)[:n])
    special = np.array([0.0, -0.0, -1.0, -1e-45, np.inf, -np.inf, np.nan], F32)
    np.testing.assert_array_equal(testing.log(isa, special), np.array([-np.inf, -np.inf, np.nan, np.nan, np.inf,
                                                                        np.nan, np.nan], F32))

"""Every compiled low-precision GEMM variant (generic, AVX2, AVX2-VNNI, AVX-512 emulation,
AVX-512 VNNI, AVX512-BF16, AMX int8 and bf16), at every tail of rows, columns and reduction length, against the NumPy
reference written from the kernels' contract: bit for bit, since each variant sums exactly
(int8) or in VDPBF16PS's order (bf16), except AMX's bf16 tiles, which round in their own order
and are held to a bound instead. Variants this CPU cannot run are skipped, with
the reason shown."""

import numpy as np
import pytest

from lstmrt import _core

from lowp_reference import gemm_bf16, gemm_int8, quantize_rows, quantize_weights, to_bf16

testing = _core.testing
VARIANTS = [(v["precision"], v["name"], v["supported"]) for v in testing.lowp_variants()]
SHAPES = [(M, N, K) for M in (1, 2, 3, 7, 9) for N in (1, 5, 16, 17, 31, 33) for K in (1, 2, 3, 4, 5, 8, 13, 64)]


def variant_params():
    return [pytest.param(p, n, marks=[] if ok else pytest.mark.skip(reason=f"this CPU cannot run the {n} {p} kernel"),
                         id=f"{p}-{n}") for p, n, ok in VARIANTS]


def reference(precision, A, W, init):
    return (gemm_int8 if precision == "int8" else gemm_bf16)(A, W, init)


# AMX's bf16 tile unit rounds its sums in an order of its own: each of its K/2 pair additions may
# round differently from VDPBF16PS's, by half an ulp of the running sum at most, so the bound is
# K ulps (2^-23 relative) of the largest sum of |products| it can reach.
def rounds_its_own_way(precision, variant):
    return precision == "bf16" and variant == "amx"


def assert_matches(precision, variant, got, A, W, init, msg):
    want = reference(precision, A, W, init)
    if not rounds_its_own_way(precision, variant):
        np.testing.assert_array_equal(got, want, err_msg=msg)
        return
    a, w = to_bf16(A).astype(np.float64), to_bf16(W).astype(np.float64)
    bound = (np.abs(a) @ np.abs(w).T) * A.shape[1] * 2.0 ** -23 + np.abs(np.asarray(init, np.float64)) * 2.0 ** -23
    assert np.all(np.abs(got.astype(np.float64) - want) <= bound + 1e-30), msg


@pytest.mark.parametrize("precision,variant", variant_params())
def test_variant_matches_reference_at_every_tail(precision, variant):
    rng = np.random.default_rng(7)
    for M, N, K in SHAPES:
        A = rng.standard_normal((M, K)).astype(np.float32)
        W = (rng.standard_normal((N, K)) * 0.3).astype(np.float32)
        bias = rng.standard_normal(N).astype(np.float32)
        got = testing.lowp_gemm(variant, precision, A, W, bias)
        assert_matches(precision, variant, got, A, W, bias[None, :], f"M={M} N={N} K={K}")
        C = rng.standard_normal((M, N)).astype(np.float32)
        got = testing.lowp_gemm(variant, precision, A, W, None, C)
        assert_matches(precision, variant, got, A, W, C, f"accumulate M={M} N={N} K={K}")


@pytest.mark.parametrize("precision,variant", variant_params())
def test_variant_on_a_recurrent_sized_product(precision, variant):
    # Long reductions, many row blocks and panels: the loops a layer runs, not only the tails.
    rng = np.random.default_rng(3)
    # The AMX variants take blocks of 16 rows (int8: K a multiple of 64, bf16: of 32) and pad or
    # hand on the rest.
    for M, N, K in [(1, 512, 128), (20, 96, 300), (33, 130, 256), (16, 17, 64), (48, 33, 128), (17, 40, 192),
                    (5, 48, 96)]:
        A = np.tanh(rng.standard_normal((M, K))).astype(np.float32)
        W = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(np.float32)
        got = testing.lowp_gemm(variant, precision, A, W, None)
        assert_matches(precision, variant, got, A, W, np.float32(0), f"M={M} N={N} K={K}")


def test_every_variant_gives_the_same_bits():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((13, 77)).astype(np.float32)
    W = rng.standard_normal((45, 77)).astype(np.float32)
    for precision in ("int8", "bf16"):
        runs = {n: testing.lowp_gemm(n, precision, A, W) for p, n, ok in VARIANTS
                if p == precision and ok and not rounds_its_own_way(p, n)}
        first = next(iter(runs.values()))
        for name, got in runs.items():
            np.testing.assert_array_equal(got, first, err_msg=f"{precision} {name}")


def test_int8_packing_follows_the_layout_and_the_rounding():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((37, 19)).astype(np.float32)
    W[3] = 0.0  # a zero column of B: scale 1, all zeros
    values, scales, sums, lost = testing.lowp_pack(W, "int8")
    q, s = quantize_weights(W)
    np.testing.assert_array_equal(values, q.astype(np.float32))
    np.testing.assert_array_equal(scales, s)
    np.testing.assert_array_equal(sums, q.sum(axis=1))
    assert scales[3] == 1.0 and not values[3].any()
    # Round-to-nearest of a per-row scale errs by at most half a step on every weight.
    assert np.all(np.abs(values * scales[:, None] - W) <= scales[:, None] * 0.5 * (1 + 1e-6))
    # Gaussian weights: few round to 0 (below half a step of max/127); a zero column loses none.
    assert 0.0 <= lost < 0.25
    W[5, 0] = 1e4  # one outlier: the rest of its column rounds to 0
    assert testing.lowp_pack(W, "int8")[3] == 18 / 19


def test_bf16_packing_rounds_to_nearest_even():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((21, 9)).astype(np.float32)
    W[0, :3] = [1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1e-40]  # a tie to even each way, a subnormal
    values, _, _, _ = testing.lowp_pack(W, "bf16")
    np.testing.assert_array_equal(values, to_bf16(W))
    assert values[0, 0] == 1.0 and values[0, 1] == 1.0 + 2.0 ** -6 and values[0, 2] == 0.0


def test_activation_rows_quantize_with_zero_exact():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((6, 50)).astype(np.float32)
    A[1] = np.abs(A[1])  # all positive: the range still includes 0
    A[2] = 0.0
    q, scale, zero = testing.quantize_rows(A)
    rq, rs, rz = quantize_rows(A)
    np.testing.assert_array_equal(q, rq)
    np.testing.assert_array_equal(scale, rs)
    np.testing.assert_array_equal(zero, rz)
    assert zero[1] == 0 and scale[2] == 1.0 and not q[2].any()
    recon = (q.astype(np.float32) - zero[:, None]) * scale[:, None]
    assert np.all(np.abs(recon - A) <= scale[:, None] * 0.5 * (1 + 1e-5))


def test_a_row_with_nan_or_inf_gives_nan_products():
    A = np.ones((3, 8), np.float32)
    A[0, 2] = np.nan
    A[1, 5] = np.inf
    W = np.ones((4, 8), np.float32)
    for p, n, ok in VARIANTS:
        if p == "int8" and ok:
            got = testing.lowp_gemm(n, "int8", A, W)
            assert np.isnan(got[:2]).all() and np.allclose(got[2], 8.0, rtol=1e-2), n


def test_int8_refuses_weights_it_cannot_scale():
    W = np.ones((4, 8), np.float32)
    W[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"weight \[2\]\[5\] is NaN"):
        testing.lowp_pack(W, "int8")
    W[2, 5] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        testing.lowp_pack(W, "int8")
    with pytest.raises(ValueError, match="precision: expected 'fp32', 'bf16' or 'int8', got 'int4'"):
        testing.lowp_pack(W, "int4")


def isa_params():
    supported = _core.cpu_info()["supported_isas"]
    return [pytest.param(i, marks=[] if i in supported else pytest.mark.skip(reason=f"this CPU cannot run {i}"), id=i)
            for i in ("generic", "avx2", "avx512")]


@pytest.mark.parametrize("isa", isa_params())
def test_each_path_quantizes_rows_like_the_reference(isa):
    rng = np.random.default_rng(9)
    for K in list(range(1, 41)) + [255, 256, 1000]:
        A = (rng.standard_normal((3, K)) * rng.uniform(0.01, 10)).astype(np.float32)
        A[1] = np.abs(A[1]) + 0.5  # all positive: zero point 0
        q, scale, zero = testing.quantize_rows(A, isa)
        rq, rs, rz = quantize_rows(A)
        np.testing.assert_array_equal(q, rq, err_msg=f"K={K}")
        np.testing.assert_array_equal(scale, rs, err_msg=f"K={K}")
        np.testing.assert_array_equal(zero, rz, err_msg=f"K={K}")
    bad = np.ones((2, 33), np.float32)
    bad[0, 32] = np.nan
    bad[1, 0] = -np.inf
    _, scale, _ = testing.quantize_rows(bad, isa)
    assert np.isnan(scale).all()


@pytest.mark.parametrize("isa", isa_params())
def test_each_path_rounds_to_bf16_like_the_reference(isa):
    rng = np.random.default_rng(10)
    specials = np.array([0.0, -0.0, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1e-40, -1e-40, np.inf, -np.inf, np.nan,
                         3.4e38, -2.5e-38, 1.17549435e-38], np.float32)
    for K in list(range(1, 35)) + [100]:
        x = rng.standard_normal(K).astype(np.float32) * np.float32(10.0) ** rng.integers(-30, 30, K).astype(np.float32)
        x[: min(K, len(specials))] = specials[: min(K, len(specials))]
        got = testing.convert_bf16(x, isa)
        want = (to_bf16(x).view(np.uint32) >> 16).astype(np.uint16)
        np.testing.assert_array_equal(got, want, err_msg=f"K={K}")

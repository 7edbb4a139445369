"""NumPy written from the definitions of lstmrt's low-precision products (kernels.h,
packed_matrix.h): the reference the kernel tests hold every variant to, bit for bit."""

import numpy as np

F32 = np.float32


def to_bf16(x):
    """float32 -> bfloat16 (as the float32 it represents): round to nearest even, subnormals to 0."""
    u = np.ascontiguousarray(x, dtype=F32).view(np.uint32).astype(np.uint64)
    exponent = u & 0x7F800000
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    out = np.where(exponent == 0, (u >> 16 << 16) & 0x80000000, rounded)
    out = np.where(nan, ((u >> 16) | 0x40) << 16, out)
    return out.astype(np.uint32).view(F32)


def quantize_weights(W):
    """Per row n of W [N, K]: scale = max|W[n]| / 127 (1 for a zero row), q = round(W / scale)."""
    W = np.asarray(W, F32)
    amax = np.abs(W).max(axis=1) if W.shape[1] else np.zeros(W.shape[0], F32)
    scale = np.where(amax > 0, amax / F32(127), F32(1)).astype(F32)
    q = np.clip(np.rint(W / scale[:, None]), -127, 127).astype(np.int64)
    return q, scale


def quantize_rows(A):
    """Per row of A: the range widened to include 0 over 255 steps, a zero point, q in [0, 255]."""
    A = np.asarray(A, F32)
    lo = np.minimum(A.min(axis=1), F32(0)) if A.shape[1] else np.zeros(A.shape[0], F32)
    hi = np.maximum(A.max(axis=1), F32(0)) if A.shape[1] else np.zeros(A.shape[0], F32)
    spread = hi > lo
    scale = np.where(spread, (hi - lo) / F32(255), F32(1)).astype(F32)
    zero = np.where(spread, np.clip(np.rint(-lo / scale), 0, 255), 0).astype(np.int64)
    inv = (F32(1) / scale).astype(F32)
    q = np.clip(np.rint(A * inv[:, None]) + zero[:, None].astype(F32), 0, 255).astype(np.int64)
    return q, scale, zero


def gemm_int8(A, W, init):
    qa, sa, za = quantize_rows(A)
    qw, sw = quantize_weights(W)
    s = qa @ qw.T
    t = s - za[:, None] * qw.sum(axis=1)[None, :]
    return (t.astype(F32) * (sa[:, None] * sw[None, :]).astype(F32)).astype(F32) + init


def gemm_bf16(A, W, init):
    a = to_bf16(A)
    w = to_bf16(W)
    K = a.shape[1]
    if K % 2:
        a = np.concatenate([a, np.zeros((a.shape[0], 1), F32)], axis=1)
        w = np.concatenate([w, np.zeros((w.shape[0], 1), F32)], axis=1)
    acc = np.zeros((a.shape[0], w.shape[0]), F32)
    for k in range(0, a.shape[1], 2):
        # Each product is exact in float32; each sum rounds: the odd element first.
        acc = (acc + a[:, k + 1, None] * w[None, :, k + 1]).astype(F32)
        acc = (acc + a[:, k, None] * w[None, :, k]).astype(F32)
    return (acc + init).astype(F32)

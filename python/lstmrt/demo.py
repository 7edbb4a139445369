"""`python -m lstmrt demo`: build a small LSTM, run it, check it against NumPy, time it."""

from __future__ import annotations

import time

import numpy as np

from . import cpu_info, ops


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_lstm(X, W, R, B):
    """The ONNX LSTM equations in float64 (forward, default activations), for the check."""
    H = R.shape[-1]
    h = np.zeros((X.shape[1], H))
    c = np.zeros((X.shape[1], H))
    Y = []
    bias = B[0, : 4 * H] + B[0, 4 * H:]
    for x in X.astype(np.float64):
        gates = x @ W[0].T + h @ R[0].T + bias
        i, o, f, g = np.split(gates, 4, axis=1)  # ONNX gate order i, o, f, c
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        Y.append(h)
    return np.stack(Y)[:, None], h[None], c[None]


def run_demo(seq_length: int = 100, batch: int = 1, input_size: int = 64, hidden_size: int = 128) -> int:
    info = cpu_info()
    print(f"lstmrt on {info['brand'] or info['vendor']}: kernel path {info['isa']} "
          f"(supported: {', '.join(info['supported_isas'])}), {info['default_threads']} threads")
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(hidden_size)
    W = (rng.standard_normal((1, 4 * hidden_size, input_size)) * scale).astype(np.float32)
    R = (rng.standard_normal((1, 4 * hidden_size, hidden_size)) * scale).astype(np.float32)
    B = (rng.standard_normal((1, 8 * hidden_size)) * 0.1).astype(np.float32)
    X = rng.standard_normal((seq_length, batch, input_size)).astype(np.float32)

    layer = ops.LSTM(W, R, B)
    print(f"model: {layer!r}; input X {X.shape}")
    Y, Y_h, Y_c = layer(X)
    ref = _numpy_lstm(X, W, R, B)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip((Y, Y_h, Y_c), ref))
    print(f"agreement with the float64 NumPy reference: max |difference| = {worst:.2e} over Y, Y_h, Y_c")

    for _ in range(10):
        layer(X)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        layer(X)
        times.append(time.perf_counter() - t0)
    print(f"time per call (seq {seq_length}, batch {batch}): median {np.median(times) * 1e6:.1f} us, "
          f"best {np.min(times) * 1e6:.1f} us")
    step = X[:1]
    for _ in range(10):
        layer(step)
    times = []
    for _ in range(1000):
        t0 = time.perf_counter()
        layer(step)
        times.append(time.perf_counter() - t0)
    print(f"time per call (one timestep): median {np.median(times) * 1e6:.1f} us")
    if worst > 1e-4:
        print("FAILED: lstmrt and the reference disagree")
        return 1
    print("OK")
    return 0

"""`python -m lstmrt demo`: the main job in two parts.

1. A recurrent layer: build a small LSTM from arrays, run it, check it against a float64 NumPy
   reference written from the ONNX equations, and time it (beside onnxruntime on the same
   weights, when onnxruntime is installed).
2. A whole model: load a character-level language model exported from PyTorch (shipped with the
   package), stream it one character per call, print what it writes, and check that the text is
   exactly the one PyTorch generated from the same prompt.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from . import cpu_info, ops
from ._format import format_duration

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_models")


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


def _median_s(fn, calls):
    """The median time of one call of ``fn``, in seconds, after 10 untimed calls."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _onnxruntime_lstm(W, R, B):
    """A function that runs the same LSTM in onnxruntime, or None when it is not installed."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    hidden = R.shape[-1]
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=hidden)
    graph = helper.make_graph(
        [node], "lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", W.shape[-1]])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Y_h", "Y_c")],
        [numpy_helper.from_array(a, n) for a, n in ((W, "W"), (R, "R"), (B, "B"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda X: sess.run(None, {"X": X})


def layer_demo(seq_length: int, batch: int, input_size: int, hidden_size: int) -> bool:
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(hidden_size)
    W = (rng.standard_normal((1, 4 * hidden_size, input_size)) * scale).astype(np.float32)
    R = (rng.standard_normal((1, 4 * hidden_size, hidden_size)) * scale).astype(np.float32)
    B = (rng.standard_normal((1, 8 * hidden_size)) * 0.1).astype(np.float32)
    X = rng.standard_normal((seq_length, batch, input_size)).astype(np.float32)

    layer = ops.LSTM(W, R, B)
    print(f"[1] layer: {layer!r}, input X {X.shape}")
    outputs = layer(X)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(outputs, _numpy_lstm(X, W, R, B)))
    print(f"    agreement with the float64 NumPy reference: max |difference| = {worst:.2e} over Y, Y_h, Y_c")
    ours = _median_s(lambda: layer(X), 200)
    print(f"    time per call, whole sequence of {seq_length} steps (batch {batch}): {format_duration(ours)} (median)")
    ort_lstm = _onnxruntime_lstm(W, R, B)
    if ort_lstm is None:
        print("    onnxruntime is not installed: no comparison (pip install onnxruntime to see one)")
    else:
        theirs = _median_s(lambda: ort_lstm(X), 200)
        print(f"    onnxruntime, same weights and input: {format_duration(theirs)} (median), "
              f"so lstmrt takes {ours / theirs:.2f}x its time ({theirs / ours:.1f}x as fast)")
    stream = layer.stream()
    step = X[:1]
    print(f"    time per call, one timestep through a stream: {format_duration(_median_s(lambda: stream(step), 2000))} (median)")
    return worst <= 1e-4


def model_demo(chars_to_write: int = 200) -> bool:
    from .session import InferenceSession

    with open(os.path.join(MODELS, "char_lm.json")) as f:
        meta = json.load(f)
    chars = meta["chars"]
    index = {ch: i for i, ch in enumerate(chars)}
    sess = InferenceSession(os.path.join(MODELS, "char_lm.onnx"))
    nodes = ", ".join(f"{n['cell']}({n['input_size']}->{n['hidden_size']})" for n in sess.recurrent_nodes)
    print(f"[2] model: character-level language model exported by torch.onnx.export: {nodes}")
    stream = sess.stream()  # h and c of both layers stay inside lstmrt between calls
    prompt = meta["prompt"]
    logits = stream.run(["logits"], {"tokens": np.array([[index[ch] for ch in prompt]], np.int64)})[0]
    text = prompt
    times = []
    for _ in range(chars_to_write):
        nxt = int(np.argmax(logits[0, -1]))  # greedy decoding
        text += chars[nxt]
        token = np.array([[nxt]], np.int64)
        t0 = time.perf_counter()
        logits = stream.run(["logits"], {"tokens": token})[0]
        times.append(time.perf_counter() - t0)
    print("    it writes, one character per call:\n")
    for line in text.splitlines():
        print("      " + line)
    print()
    same = text == meta["pytorch_greedy"][: len(text)]
    print(f"    identical to the text PyTorch generated from the same prompt: {'yes' if same else 'NO'}")
    print(f"    time per character (one stream step): {format_duration(np.median(times))} (median)")
    return same


def run_demo(seq_length: int = 100, batch: int = 1, input_size: int = 64, hidden_size: int = 128) -> int:
    info = cpu_info()
    print(f"lstmrt on {info['brand'] or info['vendor']}: kernel path {info['isa']} "
          f"(supported: {', '.join(info['supported_isas'])}), {info['default_threads']} threads\n")
    ok = layer_demo(seq_length, batch, input_size, hidden_size)
    print()
    ok = model_demo() and ok
    print("\nOK" if ok else "\nFAILED: lstmrt disagrees with its reference")
    return 0 if ok else 1

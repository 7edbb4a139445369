"""lstmrt at each precision against onnxruntime at fp32 and at its one-line int8
(``quantize_dynamic(..., weight_type=QuantType.QInt8)``, which turns an LSTM into
DynamicQuantizeLSTM; it has no int8 GRU, so its GRU rows stay fp32), interleaved in one run.

Rows: LSTM and GRU (linear_before_reset=1, as PyTorch exports it), input = hidden in 128, 256,
512, (seq, batch) in (1, 1), (100, 1), (100, 32), 1 and 2 threads. Each row also records the max
absolute error of every low-precision engine against lstmrt fp32 on the same input (the
accuracy table of bench/RESULTS.md). OpenVINO (bench extra) runs at its default precision on
this CPU (bf16 where it has AVX512-BF16 or AMX, which the row records) and at fp32; tract (bench
extra, fp32: it has no low-precision recurrent path) with the input shape fixed so that it
optimizes for it; PyTorch (when installed, never required) as nn.LSTM/nn.GRU at fp32 and after
``torch.ao.quantization.quantize_dynamic`` to qint8 weights. A peer that is not installed is left
out of the row.

    PYTHONPATH=python python -m pytest bench/test_bench_precision.py --benchmark-only -s
"""

import os
import tempfile
import warnings

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")

import lstmrt  # noqa: E402
from bench_models import (make_input, make_weights, onnx_rnn_model, ort_int8_model, ort_session, record,  # noqa: E402
                          run_interleaved, torch_module, torch_to_onnx_y)

ROWS = [(cell, H, seq, batch) for cell in ("lstm", "gru") for H in (128, 256, 512)
        for seq, batch in ((1, 1), (100, 1), (100, 32))]


def openvino_models(model, threads):
    """OpenVINO's CPU plugin compiled at its default precision and at fp32, or {} when not installed."""
    try:
        import openvino as ov
    except ImportError:
        return {}
    core = ov.Core()
    default = core.get_property("CPU", "INFERENCE_PRECISION_HINT")
    read = core.read_model(model.SerializeToString(), b"")
    out = {}
    default_name = default.get_type_name() if hasattr(default, "get_type_name") else str(default)
    for name, hint in ((f"openvino default ({default_name})", None), ("openvino fp32", "f32")):
        config = {"INFERENCE_NUM_THREADS": threads}
        if hint:
            config["INFERENCE_PRECISION_HINT"] = hint
        out[name] = core.compile_model(read, "CPU", config)
    return out


def tract_runnable(model, X):
    """tract's optimized plan for X's exact shape; None when tract is not installed or cannot run
    the row (tract 0.23 fails batch > 1 LSTMs without initial states: its Scan body keeps batch 1)."""
    try:
        import tract
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        inference = tract.onnx().load(path)
    inference.set_input_fact(0, ",".join(str(d) for d in X.shape) + ",f32")
    runnable = inference.into_model().into_runnable()
    try:
        runnable.run([X])
    except tract.TractError as e:
        print(f"\ntract cannot run this row: {str(e).splitlines()[0]}")
        return None
    return runnable


def torch_calls(cell, weights, H, threads):
    """Calls X -> Y of PyTorch's module at fp32 and dynamically quantized to qint8, or {} without
    PyTorch."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads)
    fp32 = torch_module(cell, [weights], H)
    with warnings.catch_warnings():
        # Deprecated in favour of torchao, still shipped: the warnings say so on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        # quantize_dynamic swaps a module's children, not the module itself: hence the Sequential.
        int8 = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(fp32), {torch.nn.LSTM, torch.nn.GRU},
                                                      dtype=torch.qint8)

    def call(module):
        def run(X):
            with torch.inference_mode():
                return module(torch.from_numpy(X))[0].numpy()
        return run

    return {"pytorch fp32": call(fp32), "pytorch int8 (quantize_dynamic)": call(int8)}


def layer(cell, weights, threads, precision):
    W, R, B = weights
    if cell == "lstm":
        return lstmrt.ops.LSTM(W, R, B, threads=threads, precision=precision)
    return lstmrt.ops.GRU(W, R, B, linear_before_reset=1, threads=threads, precision=precision)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cell,H,seq,batch", ROWS, ids=[f"{c}-h{h}-s{s}-b{b}" for c, h, s, b in ROWS])
def test_precision(benchmark, request, cell, H, seq, batch, threads):
    weights = make_weights(cell, H, H)
    X = make_input(seq, batch, H)
    model = onnx_rnn_model(cell, [weights], H)
    layers = {p: layer(cell, weights, threads, p) for p in ("fp32", "bf16", "int8")}
    sessions = {"onnxruntime fp32": ort_session(model, threads)}
    if cell == "lstm":
        sessions["onnxruntime int8"] = ort_session(ort_int8_model(model), threads)
    compiled = openvino_models(model, threads)
    exact = layers["fp32"](X)[0]
    errors = {f"lstmrt {p}": float(np.abs(layers[p](X)[0] - exact).max()) for p in ("bf16", "int8")}
    for name, s in sessions.items():
        errors[name] = float(np.abs(s.run(["Y"], {"X": X})[0] - exact).max())
    requests = {name: c.create_infer_request() for name, c in compiled.items()}
    for name, r in requests.items():
        errors[name] = float(np.abs(r.infer({"X": X})["Y"] - exact).max())
    tract_plan = tract_runnable(model, X)
    if tract_plan is not None:
        errors["tract fp32"] = float(np.abs(tract_plan.run([X])[0].to_numpy() - exact).max())
    torch_runs = torch_calls(cell, weights, H, threads)
    for name, run in torch_runs.items():
        errors[name] = float(np.abs(torch_to_onnx_y(run(X), 1) - exact).max())
    calls = {f"lstmrt {p}": (lambda l=l: l(X)) for p, l in layers.items()}
    calls.update({name: (lambda s=s: s.run(None, {"X": X})) for name, s in sessions.items()})
    calls.update({name: (lambda r=r: r.infer({"X": X})) for name, r in requests.items()})
    if tract_plan is not None:
        calls["tract fp32"] = lambda: tract_plan.run([X])
    calls.update({name: (lambda run=run: run(X)) for name, run in torch_runs.items()})
    result = run_interleaved(benchmark, request, calls)
    record(benchmark, "precision", cell=cell, hidden=H, seq=seq, batch=batch, threads=threads, errors=errors)
    if result:
        us = {n: r["median"] * 1e6 for n, r in result.items()}
        line = ", ".join(f"{n} {v:.1f} us" for n, v in us.items())
        err = ", ".join(f"{n} {v:.1e}" for n, v in errors.items())
        print(f"\n{cell} H={H} seq={seq} batch={batch} threads={threads}: {line}; max error vs fp32: {err}")

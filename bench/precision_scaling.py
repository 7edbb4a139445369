"""Thread scaling of lstmrt fp32/bf16/int8 against onnxruntime fp32 and int8 (quantize_dynamic)
on a few LSTM/GRU rows, 1 to 8 threads: medians of at least 0.6 s of calls per engine, one engine
after the other (a quick scan for a many-core machine, not an interleaved benchmark). One JSON
line per row and thread count on stdout, and $OUT/scaling.json (or /tmp) at the end.

    PYTHONPATH=python python bench/precision_scaling.py
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstmrt  # noqa: E402
from bench_models import make_input, make_weights, onnx_rnn_model, ort_int8_model, ort_session  # noqa: E402

ROWS = [("lstm", 256, 100, 1), ("lstm", 512, 100, 1), ("lstm", 256, 100, 32), ("lstm", 512, 100, 32),
        ("gru", 512, 100, 32)]


def median_seconds(fn, seconds=0.6):
    fn()
    start, samples = time.perf_counter(), []
    while time.perf_counter() - start < seconds or len(samples) < 3:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return float(np.median(samples))


def layer(cell, weights, threads, precision):
    W, R, B = weights
    if cell == "lstm":
        return lstmrt.ops.LSTM(W, R, B, threads=threads, precision=precision)
    return lstmrt.ops.GRU(W, R, B, linear_before_reset=1, threads=threads, precision=precision)


def main():
    results = []
    for cell, H, seq, batch in ROWS:
        weights = make_weights(cell, H, H)
        X = make_input(seq, batch, H)
        model = onnx_rnn_model(cell, [weights], H)
        quantized = ort_int8_model(model) if cell == "lstm" else None
        for threads in (1, 2, 4, 8):
            row = {"cell": cell, "H": H, "seq": seq, "batch": batch, "threads": threads}
            for precision in ("fp32", "bf16", "int8"):
                l = layer(cell, weights, threads, precision)
                row["lstmrt " + precision] = median_seconds(lambda: l(X))
            fp32 = ort_session(model.SerializeToString(), threads)
            row["ort fp32"] = median_seconds(lambda: fp32.run(None, {"X": X}))
            if quantized:
                int8 = ort_session(quantized, threads)
                row["ort int8"] = median_seconds(lambda: int8.run(None, {"X": X}))
            print(json.dumps({k: round(v * 1e6, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
            results.append(row)
    with open(os.path.join(os.environ.get("OUT", "/tmp"), "scaling.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()

"""Thread scaling of lstmrt fp32/bf16/int8 against onnxruntime fp32 and int8 (quantize_dynamic)
on a few LSTM/GRU rows, 1 to 8 threads: medians of at least 0.6 s of calls per engine, one engine
after the other (a quick scan for a many-core machine, not an interleaved benchmark). One JSON
line per row and thread count on stdout, and $OUT/scaling.json (or /tmp) at the end.

    PYTHONPATH=python python bench/precision_scaling.py
"""
import os, sys, time, tempfile, json
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstmrt
from bench_models import make_weights, make_input, onnx_rnn_model
import onnxruntime as ort
from onnxruntime.quantization import quantize_dynamic, QuantType

def ort_sess(data, threads):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1; so.log_severity_level = 3
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])

def med(fn, secs=0.6):
    fn(); t0 = time.perf_counter(); n = 0; samples = []
    while time.perf_counter() - t0 < secs or n < 3:
        t = time.perf_counter(); fn(); samples.append(time.perf_counter() - t); n += 1
    return float(np.median(samples))

res = []
for cell, H, seq, b in [("lstm", 256, 100, 1), ("lstm", 512, 100, 1), ("lstm", 256, 100, 32), ("lstm", 512, 100, 32), ("gru", 512, 100, 32)]:
    w = make_weights(cell, H, H); X = make_input(seq, b, H); model = onnx_rnn_model(cell, [w], H)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "q.onnx")
        open(src, "wb").write(model.SerializeToString()); quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        q = open(dst, "rb").read()
    for threads in (1, 2, 4, 8):
        row = {"cell": cell, "H": H, "seq": seq, "batch": b, "threads": threads}
        for p in ("fp32", "bf16", "int8"):
            W, R, B = w
            l = lstmrt.ops.LSTM(W, R, B, threads=threads, precision=p) if cell == "lstm" else lstmrt.ops.GRU(W, R, B, linear_before_reset=1, threads=threads, precision=p)
            row["lstmrt " + p] = med(lambda: l(X))
        o = ort_sess(model.SerializeToString(), threads); row["ort fp32"] = med(lambda: o.run(None, {"X": X}))
        if cell == "lstm":
            o8 = ort_sess(q, threads); row["ort int8"] = med(lambda: o8.run(None, {"X": X}))
        print(json.dumps({k: (round(v * 1e6, 1) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
        res.append(row)
json.dump(res, open(os.path.join(os.environ.get("OUT", "/tmp"), "scaling.json"), "w"))

"""How close lstmrt's int8 and bf16 LSTM rows come to this machine's floor at that precision.

A row's floor is the larger of two times: its multiply-adds at the precision's measured peak
(the best of a few compute-bound packed GEMMs through the same low-precision kernels lstmrt runs,
measured like bench_models.measure_machine's FMA peak), and its weights' bytes streamed at the
bandwidth measured for weights of that size (an M=1 product of the row's own R, and of W when a
step projects its own input, read once per step; otherwise W once per call). lstmrt's median
time per call is measured beside it, so the last column says how far above the floor it runs.
One JSON line per row on stdout.

    PYTHONPATH=python python bench/precision_floors.py [--rows misses|all] [--threads 1 2]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstmrt  # noqa: E402
from lstmrt._core import testing  # noqa: E402
from bench_models import make_input, make_weights  # noqa: E402

# The rows bench/RESULTS.md lists below a target (int8 under 1.5x onnxruntime int8, bf16 under
# 1.3x OpenVINO bf16): (precision, H, seq, batch).
MISSES = [("int8", 128, 100, 32), ("int8", 256, 100, 32), ("int8", 512, 100, 32),
          ("bf16", 128, 100, 32), ("bf16", 256, 100, 1), ("bf16", 256, 100, 32), ("bf16", 512, 100, 1),
          ("bf16", 512, 100, 32)]
ALL = [(p, H, seq, batch) for p in ("int8", "bf16") for H in (128, 256, 512) for seq, batch in ((1, 1), (100, 1), (100, 32))]
BYTES_PER_WEIGHT = {"int8": 1, "bf16": 2}
GATES = 4
PEAK_SHAPES = ((256, 1024, 1024), (64, 1024, 512), (32, 2048, 512))


def best_seconds(M, N, K, threads, precision, rounds=5, target_s=0.05):
    """The lowest seconds per packed GEMM call over ``rounds`` measurements of about target_s."""
    isa = lstmrt.cpu_info()["isa"]
    wall = threads > 1
    est = testing.time_gemm(isa, M, N, K, reps=1, threads=threads, wall=wall, precision=precision)
    reps = max(1, min(100000, int(target_s / max(est, 1e-9))))
    return min(testing.time_gemm(isa, M, N, K, reps=reps, threads=threads, wall=wall, precision=precision)
               for _ in range(rounds))


def peak_ops(precision, threads):
    """Multiply-adds x 2 per second: the best of PEAK_SHAPES."""
    return max(2.0 * M * N * K / best_seconds(M, N, K, threads, precision) for M, N, K in PEAK_SHAPES)


def stream_seconds(N, K, threads, precision):
    """Seconds to stream an [N, K] weight matrix once through an M=1 product (its bandwidth)."""
    return best_seconds(1, N, K, threads, precision)


def median_call(fn, seconds=1.0):
    fn()
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 5:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return float(np.median(samples))


def row_floor(precision, H, seq, batch, threads, peak):
    """(floor seconds, what bounds it) of an LSTM with input = hidden = H."""
    G = GATES
    compute = 2.0 * seq * batch * G * H * (H + H) / peak
    # W and R are both [G*H, H] here (input = hidden): one measurement streams either.
    matrix = stream_seconds(G * H, H, threads, precision)
    # Per-step projection reads W every step (from 8 rows per thread on: the plan in
    # cpp/src/rnn/call_plan.cc); the up-front GEMM reads it once.
    per_step_w = batch // threads >= 8
    memory = seq * matrix + (seq * matrix if per_step_w else matrix)
    return (compute, "compute") if compute >= memory else (memory, "weights")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", choices=("misses", "all"), default="misses")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = MISSES if args.rows == "misses" else ALL
    peaks = {(p, t): peak_ops(p, t) for p in ("int8", "bf16") for t in args.threads}
    for (p, t), v in peaks.items():
        print(json.dumps({"peak": p, "threads": t, "gops": round(v / 1e9, 1)}), flush=True)
    for precision, H, seq, batch in rows:
        W, R, B = make_weights("lstm", H, H)
        X = make_input(seq, batch, H)
        for threads in args.threads:
            layer = lstmrt.ops.LSTM(W, R, B, threads=threads, precision=precision)
            measured = median_call(lambda: layer(X))
            floor, bound = row_floor(precision, H, seq, batch, threads, peaks[(precision, threads)])
            print(json.dumps({"precision": precision, "H": H, "seq": seq, "batch": batch, "threads": threads,
                              "lstmrt_us": round(measured * 1e6, 1), "floor_us": round(floor * 1e6, 1),
                              "bound": bound, "lstmrt_over_floor": round(measured / floor, 2)}), flush=True)


if __name__ == "__main__":
    main()

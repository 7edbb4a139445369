"""Times the layers whose call plan depends on the L2 size, under this process's tuning.

The cache thresholds in cpp/src/cpu/tuning.h are fractions of the L2 per core (capped at 1 MiB,
kMaxTunedL2Bytes). To see whether another L2 value plans better on this machine, run this script
in alternated processes with LSTMRT_L2_BYTES set to each value and compare the medians
(bench/TUNING.md, "Cache sizes"):

    for i in 1 2 3; do
      LSTMRT_L2_BYTES=1048576 PYTHONPATH=python python bench/l2_plans.py
      LSTMRT_L2_BYTES=2097152 PYTHONPATH=python python bench/l2_plans.py
    done

Note that LSTMRT_L2_BYTES is capped like the detected size: to time values above 1 MiB, raise
kMaxTunedL2Bytes in a local build. Each row prints the median call time and the plan it ran.
"""

import time

import numpy as np

import lstmrt

# (cell, hidden, seq, batch): layers whose split or projection moves between a 1 and a 2 MiB L2.
CASES = [("LSTM", 512, 100, 32), ("GRU", 512, 100, 32), ("LSTM", 256, 100, 16), ("LSTM", 192, 100, 8),
         ("LSTM", 320, 100, 32), ("GRU", 384, 100, 32)]
GATES = {"LSTM": 4, "GRU": 3}
SECONDS = 1.5


def main():
    print(f"tuned L2: {lstmrt._core.tuning()['tuned_l2_bytes']} bytes")
    for cell, H, S, N in CASES:
        g = GATES[cell]
        rng = np.random.default_rng(0)
        s = 1.0 / np.sqrt(H)
        W = rng.uniform(-s, s, (1, g * H, H)).astype(np.float32)
        R = rng.uniform(-s, s, (1, g * H, H)).astype(np.float32)
        layer = getattr(lstmrt.ops, cell)(W, R)
        X = rng.uniform(-1, 1, (S, N, H)).astype(np.float32)
        for _ in range(3):
            layer(X)
        times = []
        end = time.perf_counter() + SECONDS
        while time.perf_counter() < end:
            t = time.perf_counter()
            layer(X)
            times.append(time.perf_counter() - t)
        plan = layer.plan(S, N)
        print(f"{cell} h{H} s{S} b{N}: {np.median(times) * 1e3:8.2f} ms  split={plan['split']} "
              f"projection={plan['projection'][0]}")


if __name__ == "__main__":
    main()

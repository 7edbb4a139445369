"""Concurrency and soak checks that are too long for the test suite (tests/fuzz/README.md).

    python tools/soak.py [--steps 1000000] [--cycles 100000] [--runs 2000] [--threads 8]

1. `threads` Python threads each make `runs` runs on one shared session and `runs` steps on a
   stream of their own; every result must equal, bit for bit, the serial run of the same input.
2. One stream of the demo's char LM steps `steps` times; RSS is printed every 100k steps and must
   not grow after the first sample.
3. A pool opens and closes `cycles` streams (each stepped once); RSS must stay flat.
Prints what it measured and exits non-zero on any mismatch or growth.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np

import lstmrt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAR_LM = os.path.join(ROOT, "tests", "data", "models", "torch_char_lm_legacy.onnx")
GROWTH_KIB = 8 << 10  # RSS may move by allocator noise, not by a leak of a few bytes a step


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def concurrent_runs(threads: int, runs: int) -> bool:
    sess = lstmrt.InferenceSession(CHAR_LM)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 30, (1, int(rng.integers(1, 12)))).astype(np.int64) for _ in range(16)]
    serial = [sess.run(None, {"tokens": x}) for x in inputs]
    reference_stream = sess.stream()
    serial_stream = [reference_stream.run(None, {"tokens": inputs[i % len(inputs)][:, :1]}) for i in range(runs)]
    bad = []

    def work(k: int) -> None:
        stream = sess.stream()
        for i in range(runs):
            j = (i + k) % len(inputs)
            got = sess.run(None, {"tokens": inputs[j]})
            if any(not np.array_equal(a, b) for a, b in zip(got, serial[j])):
                bad.append(("run", k, i))
            s = stream.run(None, {"tokens": inputs[i % len(inputs)][:, :1]})
            if any(not np.array_equal(a, b) for a, b in zip(s, serial_stream[i])):
                bad.append(("stream", k, i))

    start = time.monotonic()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(f"concurrency: {threads} threads x {runs} runs on one session and a stream each: "
          f"{len(bad)} mismatches against serial runs ({time.monotonic() - start:.1f} s)")
    return not bad


def grew(samples) -> bool:
    """Whether RSS rose past allocator noise after the first sample (the warm-up)."""
    return len(samples) > 1 and max(samples[1:]) - samples[0] > GROWTH_KIB


def stream_soak(steps: int) -> bool:
    sess = lstmrt.InferenceSession(CHAR_LM, threads=1)
    stream = sess.stream()
    token = np.zeros((1, 1), np.int64)
    samples = []
    start = time.monotonic()
    for i in range(1, steps + 1):
        token[0, 0] = i % 30
        stream.run(None, {"tokens": token})
        if i % 100_000 == 0:
            samples.append(rss_kib())
            print(f"  stream step {i}: RSS {samples[-1] / 1024:.1f} MiB")
    rose = grew(samples)
    print(f"stream soak: {steps} steps in {time.monotonic() - start:.0f} s, RSS "
          f"{'grew' if rose else 'flat after warm-up'}")
    return not rose


def pool_cycles(cycles: int) -> bool:
    sess = lstmrt.InferenceSession(CHAR_LM, threads=1)
    pool = sess.stream_pool()
    token = np.zeros((1, 1), np.int64)
    samples = []
    start = time.monotonic()
    for i in range(1, cycles + 1):
        sid = pool.open()
        pool.run([sid], None, {"tokens": token})
        pool.close(sid)
        if i % (cycles // 10 or 1) == 0:
            samples.append(rss_kib())
    rose = grew(samples)
    print(f"pool cycles: {cycles} open/run/close in {time.monotonic() - start:.0f} s, RSS samples (MiB) "
          f"{[round(s / 1024, 1) for s in samples]}: {'grew' if rose else 'flat'}; {len(pool)} streams left open")
    return not rose and len(pool) == 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--cycles", type=int, default=100_000)
    args = p.parse_args()
    ok = concurrent_runs(args.threads, args.runs)
    ok = stream_soak(args.steps) and ok
    ok = pool_cycles(args.cycles) and ok
    print("all checks passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

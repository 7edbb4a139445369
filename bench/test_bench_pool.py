"""Pools of streams (issue 22): one tick of n streams through lstmrt's stream_pool against
onnxruntime running the same n rows as one batch with the state fed and fetched by hand.

Two models: LSTM(64->128) + Linear (test_bench_stream.py's model; its LSTM state carried as
recurrent-node state) and Silero VAD (silero_vad_16k_op15.onnx, its explicit state/stateN
carried with carry=). Two patterns: the same streams every tick (onnxruntime feeds the arrays it
got back), and a subset that changes every tick (three quarters of the streams, a new random
choice each tick; onnxruntime gathers the state rows with NumPy fancy indexing and scatters them
back, as a user would). Both engines run the same model file with 1 and 2 threads, timed
interleaved in the same run. Also: the per-call overhead of a carried Silero step against
run() with the state fed, and the memory of 10000 open Silero streams.

    PYTHONPATH=python:bench:tests python -m pytest bench/test_bench_pool.py --benchmark-only \
        --benchmark-max-time=1 --benchmark-json=bench/results_pool.json -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

import lstmrt  # noqa: E402
import real_models as rm  # noqa: E402
from bench_models import record, run_interleaved  # noqa: E402
from test_bench_stream import MODEL as LSTM_MODEL, I as LSTM_I, H as LSTM_H  # noqa: E402

SIZES = [10, 100, 1000, 10000]
SILERO = "silero_vad/data/silero_vad_16k_op15.onnx"
SUBSETS = 8  # changing-subset ticks cycle through this many precomputed choices


def _ort(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _silero_path():
    path, why = rm.model_path("silero-vad", SILERO)
    if path is None:
        pytest.skip(why)
    return path


class Case:
    """One model's pool and onnxruntime session for n streams, and their ticks."""

    def __init__(self, model, n, threads, changing):
        rng = np.random.default_rng(n)
        self.n, self.changing = n, changing
        m = max(1, 3 * n // 4) if changing else n
        self.subsets = [np.sort(rng.choice(n, m, replace=False)) if changing else np.arange(n)
                        for _ in range(SUBSETS if changing else 1)]
        self.k = 0
        if model == "lstm":
            sess = lstmrt.InferenceSession(LSTM_MODEL, threads=threads)
            self.pool = sess.stream_pool()
            self.ort = _ort(LSTM_MODEL, threads)
            self.x = rng.standard_normal((1, m, LSTM_I)).astype(np.float32)
            self.state = {"h0": np.zeros((1, n, LSTM_H), np.float32), "c0": np.zeros((1, n, LSTM_H), np.float32)}
            self.back = {"h0": 1, "c0": 2}  # state input -> index of its output
            self.axis = 1
            self.feeds = {"x": self.x}
            self.wanted = ["out"]
        else:
            path = _silero_path()
            sess = lstmrt.InferenceSession(path, threads=threads)
            self.pool = sess.stream_pool(carry={"stateN": "state"})
            self.ort = _ort(path, threads)
            chunks = list(rm.silero_chunks(rm.speech_like_audio(1.0)))
            self.x = np.concatenate([chunks[i % len(chunks)] for i in range(m)])
            self.state = {"state": np.zeros((2, n, 128), np.float32)}
            self.back = {"state": 1}
            self.axis = 1
            self.feeds = {"input": self.x, "sr": np.array(16000, np.int64)}
            self.wanted = ["output"]
        self.ids = np.array([self.pool.open() for _ in range(n)], np.int64)
        self.sub_ids = [self.ids[s] for s in self.subsets]

    def lstmrt_tick(self):
        k = self.k = (self.k + 1) % len(self.subsets)
        return self.pool.run(self.sub_ids[k], self.wanted, self.feeds)[0]

    def ort_tick(self):
        k = self.k = (self.k + 1) % len(self.subsets)
        feeds = dict(self.feeds)
        if self.changing:
            idx = self.subsets[k]
            for name, full in self.state.items():
                feeds[name] = full[:, idx]
            outs = self.ort.run(None, feeds)
            for name, j in self.back.items():
                self.state[name][:, idx] = outs[j]
        else:
            feeds.update(self.state)
            outs = self.ort.run(None, feeds)
            for name, j in self.back.items():
                self.state[name] = outs[j]
        return outs[0]


def _check(case_a, case_b):
    # The engines agree on the first ticks before anything is timed.
    for _ in range(3):
        np.testing.assert_allclose(case_a.lstmrt_tick(), case_b.ort_tick(), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("pattern", ["same", "changing"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("model", ["lstm", "silero"])
def test_pool_tick(benchmark, request, model, threads, n, pattern):
    changing = pattern == "changing"
    _check(Case(model, n, threads, changing), Case(model, n, threads, changing))
    case = Case(model, n, threads, changing)
    record(benchmark, "pool_tick", model=model, streams=n, pattern=pattern, threads=threads)
    benchmark.group = f"pool tick {model} {pattern} n={n}, {threads} thread(s)"
    result = run_interleaved(benchmark, request, {"lstmrt": case.lstmrt_tick, "onnxruntime": case.ort_tick})
    if result:
        a, b = result["lstmrt"]["median"], result["onnxruntime"]["median"]
        print(f"\npool tick {model} {pattern} n={n} threads={threads}: lstmrt {a * 1e6:.1f} us, "
              f"onnxruntime {b * 1e6:.1f} us, speedup {b / a:.2f}x")


@pytest.mark.parametrize("threads", [1, 2])
def test_carried_step_overhead(benchmark, request, threads):
    """One Silero chunk: a carried stream against lstmrt's own run() with the state fed and
    fetched by hand (the difference is what carrying saves per call)."""
    path = _silero_path()
    sess = lstmrt.InferenceSession(path, threads=threads)
    chunk = next(iter(rm.silero_chunks(rm.speech_like_audio(0.1))))
    sr = np.array(16000, np.int64)
    stream = sess.stream(carry={"stateN": "state"})
    held = {"state": np.zeros((2, 1, 128), np.float32)}

    def carried():
        return stream.run(["output"], {"input": chunk, "sr": sr})

    def fed():
        out, held["state"] = sess.run(None, {"input": chunk, "sr": sr, "state": held["state"]})
        return out

    record(benchmark, "carry_overhead", model="silero_vad_16k_op15.onnx", threads=threads)
    benchmark.group = f"carried step vs run() with state fed, {threads} thread(s)"
    result = run_interleaved(benchmark, request, {"carried": carried, "run_fed": fed})
    if result:
        a, b = result["carried"]["median"], result["run_fed"]["median"]
        print(f"\ncarried step {a * 1e6:.2f} us, run() with state fed {b * 1e6:.2f} us, "
              f"difference {(b - a) * 1e6:.2f} us ({threads} thread(s))")


_RSS = r"""
import json, sys, gc
import numpy as np
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
path, engine, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.zeros((1, 576), np.float32)
sr = np.array(16000, np.int64)
if engine == "lstmrt":
    import lstmrt
    sess = lstmrt.InferenceSession(path, threads=1)
    pool = sess.stream_pool(carry={"stateN": "state"})
    pool.run([pool.open()], None, {"input": x, "sr": sr})
    gc.collect(); before = rss()
    ids = [pool.open() for _ in range(n)]
    gc.collect(); opened = rss() - before
    pool.run(ids, None, {"input": np.zeros((n, 576), np.float32), "sr": sr})
    gc.collect(); after = rss()
else:
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    state = np.zeros((2, 1, 128), np.float32)
    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"input": x, "sr": sr, "state": state})
    gc.collect(); before = rss()
    sessions = [ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]) for _ in range(n)]
    for s in sessions:
        s.run(None, {"input": x, "sr": sr, "state": state})
    gc.collect(); after = rss()
    opened = after - before
print(json.dumps({"engine": engine, "streams": n, "bytes": after - before, "opened_bytes": opened}))
"""


def test_memory_per_stream(benchmark):
    """RSS growth of 10000 open Silero streams in one pool against 100 onnxruntime sessions (one
    per stream, as servers do, each run once), per stream; each in a fresh process. For the pool,
    after opening (the streams' state) and after one tick of all 10000 (adding the run plan's
    buffers for a batch of 10000, which more streams in smaller ticks do not grow)."""
    path = _silero_path()
    rows = {}
    for engine, n in (("lstmrt", 10000), ("onnxruntime", 100)):
        out = subprocess.run([sys.executable, "-c", _RSS, path, engine, str(n)], capture_output=True, text=True,
                             timeout=600, env=dict(os.environ))
        assert out.returncode == 0, out.stderr[-2000:]
        rows[engine] = json.loads(out.stdout.strip().splitlines()[-1])
    record(benchmark, "pool_memory", rows=rows)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    for engine, r in rows.items():
        print(f"\n{engine}: {r['streams']} streams, RSS +{r['bytes'] / 2**20:.1f} MiB, "
              f"{r['bytes'] / r['streams'] / 1024:.1f} KiB per stream (opened only: "
              f"{r['opened_bytes'] / r['streams'] / 1024:.2f} KiB per stream)")

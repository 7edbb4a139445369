"""Multi-threaded runs on an oversubscribed machine give exactly the single-threaded results.

Busy processes take the cores, so lstmrt's worker threads get descheduled in the middle of a
sequence; the phase scheduler then lets a waiting thread run a late teammate's partitions. Who
computes a partition must not change a single bit: every partition is computed by the same
kernel on the same data whoever runs it.
"""

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

import lstmrt

from reference import random_weights


def _burn(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1


@pytest.fixture()
def busy_cores():
    procs = [mp.get_context("spawn").Process(target=_burn, args=(2.0,)) for _ in range(os.cpu_count() or 2)]
    for p in procs:
        p.start()
    time.sleep(0.2)
    yield
    for p in procs:
        p.terminate()
        p.join()


@pytest.mark.parametrize("cell,kw", [("LSTM", {}), ("GRU", {"linear_before_reset": 0}), ("GRU", {"linear_before_reset": 1}),
                                     ("RNN", {})], ids=["lstm", "gru-lbr0", "gru-lbr1", "rnn"])
def test_two_threads_equal_one_thread_under_load(busy_cores, cell, kw):
    rng = np.random.default_rng(5)
    H, I = 96, 40
    W, R, B = random_weights(rng, cell, H, I, directions=2).values()
    # Batch 4 splits the hidden units across the threads; batch 16 splits the rows.
    X = rng.standard_normal((60, 16, I)).astype(np.float32)
    lens = np.array([60, 17, 0, 45] * 4, np.int32)
    uni_one = getattr(lstmrt.ops, cell)(W[:1], R[:1], B[:1], threads=1, **kw)
    uni_two = getattr(lstmrt.ops, cell)(W[:1], R[:1], B[:1], threads=2, **kw)
    bi_one = getattr(lstmrt.ops, cell)(W, R, B, threads=1, direction="bidirectional", **kw)
    bi_two = getattr(lstmrt.ops, cell)(W, R, B, threads=2, direction="bidirectional", **kw)
    want_uni = uni_one(X, lens)
    want_bi = bi_one(X, lens)
    for _ in range(6):
        for got, want in ((uni_two(X, lens), want_uni), (bi_two(X, lens), want_bi)):
            for g_, w_ in zip(got, want):
                np.testing.assert_array_equal(g_, w_)


@pytest.mark.parametrize("batch", [4, 16], ids=["split-units", "split-rows"])
@pytest.mark.parametrize("layout", [0, 1])
def test_two_threads_equal_one_thread(batch, layout):
    """Both ways of sharing a call between threads give exactly the one-thread result."""
    rng = np.random.default_rng(batch + layout)
    H, I = 48, 24
    for cell, g, kw in (("LSTM", 4, {}), ("GRU", 3, {"linear_before_reset": 0}), ("RNN", 1, {})):
        W = (rng.standard_normal((1, g * H, I)) * 0.3).astype(np.float32)
        R = (rng.standard_normal((1, g * H, H)) * 0.3).astype(np.float32)
        shape = (30, batch, I) if layout == 0 else (batch, 30, I)
        X = rng.standard_normal(shape).astype(np.float32)
        lens = rng.integers(0, 31, size=batch).astype(np.int32)
        one = getattr(lstmrt.ops, cell)(W, R, layout=layout, threads=1, **kw)(X, lens)
        two = getattr(lstmrt.ops, cell)(W, R, layout=layout, threads=2, **kw)(X, lens)
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a, b)

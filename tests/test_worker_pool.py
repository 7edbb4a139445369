"""lstmrt's worker pool: every piece of work runs exactly once, whoever runs it.

A call posts its members to pooled workers and runs member 0 itself. A worker that has not
started its member when the caller is done is skipped and the caller runs that member; in a
recurrent layer the caller also takes over, at once, the partitions of a worker that has not
arrived yet, and a worker that arrives late catches up and joins at the step in progress.
``testing.hold_workers`` makes workers ignore posted work, which turns "late" and "absent" into
deterministic cases. Results are compared bit for bit with one thread: every partition is
computed by the same kernel on the same data, whichever thread runs it.
"""

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pytest

import lstmrt
from lstmrt import _core

from reference import random_weights

testing = _core.testing


@contextmanager
def held_workers():
    testing.hold_workers(True)
    try:
        yield
    finally:
        testing.hold_workers(False)


def _stats_delta(before):
    after = testing.pool_stats()
    return {k: after[k] - before[k] for k in ("jobs_by_workers", "members_taken_back")}


@pytest.mark.parametrize("n,threads,grain", [(1, 2, 1), (2, 2, 1), (7, 2, 1), (100, 2, 8), (100, 3, 8), (1000, 4, 1),
                                             (5, 8, 1), (0, 2, 1)])
def test_parallel_for_runs_every_index_once(n, threads, grain):
    runs, _ = testing.parallel_for_owners(n, threads, grain)
    assert runs == [1] * n


def test_parallel_for_with_workers_held_runs_everything_on_the_caller():
    before = testing.pool_stats()
    with held_workers():
        runs, on_caller = testing.parallel_for_owners(64, 2, 1)
    assert runs == [1] * 64
    assert on_caller == [1] * 64
    delta = _stats_delta(before)
    if lstmrt.cpu_info()["default_threads"] >= 2:
        assert delta["members_taken_back"] >= 1
    assert delta["jobs_by_workers"] == 0


def test_parallel_for_from_many_threads_at_once():
    errors = []

    def hammer():
        try:
            for _ in range(200):
                runs, _ = testing.parallel_for_owners(37, 2, 1)
                if runs != [1] * 37:
                    errors.append(runs)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _layer_pair(cell, batch, direction="forward", H=40, I=24, seed=0, **kw):
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    W, R, B = random_weights(rng, cell, H, I, directions=d).values()
    cls = getattr(lstmrt.ops, cell)
    one = cls(W, R, B, threads=1, direction=direction, **kw)
    two = cls(W, R, B, threads=2, direction=direction, **kw)
    return one, two, rng


CELLS = [("LSTM", {}), ("GRU", {"linear_before_reset": 0}), ("GRU", {"linear_before_reset": 1}), ("RNN", {})]
CELL_IDS = ["lstm", "gru-lbr0", "gru-lbr1", "rnn"]


@pytest.mark.parametrize("cell,kw", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("batch,direction", [(1, "forward"), (4, "forward"), (16, "forward"), (3, "bidirectional"),
                                             (1, "bidirectional")],
                         ids=["units-b1", "units-b4", "rows-b16", "bidir", "bidir-b1"])
def test_layer_with_workers_held_equals_one_thread(cell, kw, batch, direction):
    """No worker ever starts: the caller runs every partition of every step, then the members.
    (At batch 1 this small layer runs on one thread, from the whole copy that it keeps beside
    its 2-thread split: the same numbers again.)"""
    one, two, rng = _layer_pair(cell, batch, direction, **kw)
    X = rng.standard_normal((25, batch, 24)).astype(np.float32)
    lens = rng.integers(0, 26, size=batch).astype(np.int32)
    want = one(X, lens)
    with held_workers():
        got = two(X, lens)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # And with the workers back, the same again.
    for g, w in zip(two(X, lens), want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("cell,kw", CELLS, ids=CELL_IDS)
# H=32: whole copy for every cell; H=64 and 72 (uneven partitions: 32 + 40): LSTM runs 100-step
# calls on both threads, GRU and RNN on one thread from the whole copy.
@pytest.mark.parametrize("H,I", [(32, 16), (64, 64), (72, 40)], ids=["h32", "h64", "h72"])
def test_small_layers_give_one_thread_results_on_either_copy(cell, kw, H, I):
    """A layer built for 2 threads keeps a whole copy of small weights for calls on one thread
    (single steps, short calls) and runs longer ones on its split: every call, and every step of a
    stream, equals the 1-thread layer bit for bit."""
    one, two, rng = _layer_pair(cell, 1, H=H, I=I, **kw)
    for seq in (1, 3, 100):
        X = rng.standard_normal((seq, 1, I)).astype(np.float32)
        for g, w in zip(two(X), one(X)):
            np.testing.assert_array_equal(g, w)
    s1, s2 = one.stream(), two.stream()
    for _ in range(5):
        X = rng.standard_normal((1, 1, I)).astype(np.float32)
        for g, w in zip(s2(X), s1(X)):
            np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
@pytest.mark.parametrize("cell,H,team", [("LSTM", 64, False), ("LSTM", 80, True), ("GRU", 80, False),
                                         ("GRU", 96, True)])
def test_single_steps_get_a_second_thread_from_90_kflop(cell, H, team):
    """A stream step of 2·G·H·(I+H) FLOP runs on one thread below 90 kFLOP (LSTM H64: 66k, GRU H80:
    77k) and forms a team from there (LSTM H80: 102k, GRU H96: 111k): min_call_flops_for_threads
    in cpu/tuning.h (bench/TUNING.md has the measurements). Either way the steps equal one
    thread's."""
    one, two, rng = _layer_pair(cell, 1, H=H, I=H, **({"linear_before_reset": 1} if cell == "GRU" else {}))
    s1, s2 = one.stream(), two.stream()
    before = testing.pool_stats()
    for _ in range(20):
        X = rng.standard_normal((1, 1, H)).astype(np.float32)
        for g, w in zip(s2(X), s1(X)):
            np.testing.assert_array_equal(g, w)
    after = testing.pool_stats()
    delta = {k: after[k] - before[k] for k in ("jobs_by_workers", "members_taken_back", "sleepers_left")}
    # A team that found its worker asleep may run on the caller alone (WakePolicy): it still
    # chose two threads.
    teams = delta["jobs_by_workers"] + delta["members_taken_back"] + delta["sleepers_left"]
    assert (teams > 0) == team, delta


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs for a worker to join a running call")
@pytest.mark.parametrize("cell,kw", [("LSTM", {}), ("GRU", {"linear_before_reset": 0})], ids=["lstm", "gru-lbr0"])
def test_worker_arriving_mid_call_catches_up(cell, kw):
    """The worker is released while the caller is part-way through a long sequence: it catches up
    with the step in progress and joins; the result is the one-thread result."""
    one, two, rng = _layer_pair(cell, 1, H=256, I=256, seed=3, **kw)
    X = rng.standard_normal((3000, 1, 256)).astype(np.float32)
    want = one(X)
    for attempt in range(3):
        before = testing.pool_stats()
        result = {}
        testing.hold_workers(True)
        try:
            t = threading.Thread(target=lambda: result.setdefault("y", two(X)))
            t.start()
            time.sleep(0.003)  # the call (tens of ms) is under way, every partition on the caller
        finally:
            testing.hold_workers(False)
        t.join()
        for g, w in zip(result["y"], want):
            np.testing.assert_array_equal(g, w)
        if _stats_delta(before)["jobs_by_workers"] >= 1:
            return  # the worker did start inside the call
    pytest.fail("the released worker never started within a call of 3000 steps")


_SPIN_ZERO_SCRIPT = r"""
import numpy as np, lstmrt
assert lstmrt.cpu_info()["worker_spin_us"] == 0, lstmrt.cpu_info()["worker_spin_us"]
rng = np.random.default_rng(1)
H = 256
W = (rng.standard_normal((1, 4 * H, H)) * 0.1).astype(np.float32)
R = (rng.standard_normal((1, 4 * H, H)) * 0.1).astype(np.float32)
one = lstmrt.ops.LSTM(W, R, threads=1)
two = lstmrt.ops.LSTM(W, R, threads=2)
for seq in (1, 1, 3, 40, 1, 7):
    for _ in range(30):
        X = rng.standard_normal((seq, 1, H)).astype(np.float32)
        for a, b in zip(one(X), two(X)):
            assert np.array_equal(a, b)
print("ok")
"""


def test_workers_that_sleep_after_every_job_give_the_same_results():
    """LSTMRT_SPIN_US=0: a worker sleeps as soon as it is idle, so every call wakes it (or starts
    without it)."""
    env = dict(os.environ, LSTMRT_SPIN_US="0")
    out = subprocess.run([sys.executable, "-c", _SPIN_ZERO_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _forked_child(conn):
    before = testing.pool_stats()
    rng = np.random.default_rng(2)
    W = (rng.standard_normal((1, 4 * 256, 256)) * 0.1).astype(np.float32)
    R = (rng.standard_normal((1, 4 * 256, 256)) * 0.1).astype(np.float32)
    X = rng.standard_normal((200, 1, 256)).astype(np.float32)
    one = lstmrt.ops.LSTM(W, R, threads=1)(X)
    layer = lstmrt.ops.LSTM(W, R, threads=2)
    # A worker that starts late for a call is not waited for (its share runs on the caller), and
    # a new thread can be late on a busy 2-CPU machine (the parent's worker still spinning, other
    # processes on both CPUs): the child's workers must take a job within some seconds of calls,
    # not necessarily the first.
    same = True
    deadline = time.perf_counter() + 10.0
    while time.perf_counter() < deadline:
        same = same and all(np.array_equal(a, b) for a, b in zip(one, layer(X)))
        if testing.pool_stats()["jobs_by_workers"] > before["jobs_by_workers"]:
            break
    conn.send((same, testing.pool_stats()["jobs_by_workers"] - before["jobs_by_workers"]))
    conn.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_starts_workers_of_its_own():
    # The parent has a worker now.
    one, two, rng = _layer_pair("LSTM", 1, H=256, I=256)
    two(rng.standard_normal((50, 1, 256)).astype(np.float32))
    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12 warns about fork with threads
        p = ctx.Process(target=_forked_child, args=(child_end,))
        p.start()
    assert parent_end.poll(60), "the forked child did not answer"
    same, jobs = parent_end.recv()
    p.join(10)
    assert same
    if lstmrt.cpu_info()["default_threads"] >= 2:
        assert jobs >= 1, "the child's calls never ran on a worker"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs for the worker")
def test_worker_woken_for_a_call_it_missed_stays_awake_for_the_next():
    """Serial work with short parallel sections, after an idle spell: the first section wakes
    the sleeping worker, usually too late for that section (the caller then runs its piece). The
    wake-up must still end the worker's sleep, so that it spins and takes the next sections; a
    worker that went back to sleep whenever its piece had been taken back missed nearly all."""
    if lstmrt.cpu_info()["worker_spin_us"] < 500:
        pytest.skip("LSTMRT_SPIN_US is set below the gap between the sections")
    testing.parallel_for_owners(2, 2, 1)  # the worker exists
    time.sleep(0.05)  # ... and is asleep now
    before = testing.pool_stats()
    calls = 300
    for _ in range(calls):
        end = time.perf_counter() + 100e-6
        while time.perf_counter() < end:  # the serial part of the work
            pass
        runs, _ = testing.parallel_for_owners(40000, 2, 1)  # two pieces of a few microseconds
        assert runs[0] == 1 and runs[-1] == 1
    delta = _stats_delta(before)
    assert delta["jobs_by_workers"] + delta["members_taken_back"] == calls
    assert delta["jobs_by_workers"] >= calls // 4, delta


@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
def test_scheduler_counts_the_partitions_it_adopts_from_an_absent_worker():
    """pool_stats() also counts the step scheduler's slow paths (the benchmark records them per
    block): with the worker held, the caller adopts its partitions at every step."""
    one, two, rng = _layer_pair("LSTM", 1, H=256, I=256, seed=5)
    # 40 steps: 42 MFLOP, enough to wake a worker that slept (cpu/tuning.h,
    # min_call_flops_to_wake_workers); a held worker that is awake never sleeps.
    X = rng.standard_normal((40, 1, 256)).astype(np.float32)
    before = testing.pool_stats()
    with held_workers():
        got = two(X)
    after = testing.pool_stats()
    for g, w in zip(got, one(X)):
        np.testing.assert_array_equal(g, w)
    assert after["adopted"] - before["adopted"] >= 40
    for key in ("grace_expired", "stolen_after_grace", "cpu_moves"):
        assert after[key] >= before[key] >= 0


# ---------------------------------------------------------------------------------------------
# Sleeping workers (worker_pool.h, WakePolicy): a call below cpu/tuning.h's
# min_call_flops_to_wake_workers (32 MFLOP) leaves a sleeping worker asleep and runs on the caller,
# unless the previous call that did so ended less than one spin time before; a larger call wakes it.

@contextmanager
def sleeping_workers():
    """Every pooled worker asleep (spin time 0), the spin time restored afterwards."""
    default = lstmrt.cpu_info()["worker_spin_us"]
    testing.set_worker_spin_us(0)
    try:
        testing.parallel_for_owners(2, 2, 1)  # a worker exists
        time.sleep(0.02)  # ... and, with no spin time, has gone to sleep
        yield
    finally:
        testing.set_worker_spin_us(default)


def _pool_delta(before):
    after = testing.pool_stats()
    return {k: after[k] - before[k] for k in ("wakes", "sleepers_left", "jobs_by_workers", "members_taken_back")}


def _stream_steps(one, two, rng, steps, inputs=128):
    for _ in range(steps):
        X = rng.standard_normal((1, 1, inputs)).astype(np.float32)
        for g, w in zip(two(X), one(X)):
            np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
def test_small_calls_leave_a_sleeping_worker_asleep():
    """Stream steps of LSTM H128 (262 kFLOP: a team of two when the worker is awake) that find the
    worker asleep run on the caller alone, without waking it: with a spin time of 0 no two calls
    come within one spin time. The steps equal one thread's."""
    one, two, rng = _layer_pair("LSTM", 1, H=128, I=128, seed=7)
    s1, s2 = one.stream(), two.stream()
    with sleeping_workers():
        before = testing.pool_stats()
        _stream_steps(s1, s2, rng, 20)
        delta = _pool_delta(before)
    assert delta == {"wakes": 0, "sleepers_left": 20, "jobs_by_workers": 0, "members_taken_back": 0}, delta


@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
def test_small_calls_faster_than_the_spin_time_wake_a_sleeping_worker():
    """The first small call after an idle spell leaves the worker asleep; the next, coming within
    one spin time, wakes it, and from then on the awake worker takes its share of the calls."""
    one, two, rng = _layer_pair("LSTM", 1, H=128, I=128, seed=8)
    s1, s2 = one.stream(), two.stream()
    with sleeping_workers():
        before = testing.pool_stats()
        _stream_steps(s1, s2, rng, 1)  # spin time 0: not within it, left asleep
        assert _pool_delta(before) == {"wakes": 0, "sleepers_left": 1, "jobs_by_workers": 0,
                                       "members_taken_back": 0}
        testing.set_worker_spin_us(5_000_000)  # calls within 5 s are a burst; the worker sleeps on
        _stream_steps(s1, s2, rng, 1)
        delta = _pool_delta(before)
        assert delta["wakes"] == 1 and delta["sleepers_left"] == 1, delta
        deadline = time.perf_counter() + 5.0
        while _pool_delta(before)["jobs_by_workers"] == 0 and time.perf_counter() < deadline:
            _stream_steps(s1, s2, rng, 10)  # the woken worker spins between them
        delta = _pool_delta(before)
        testing.set_worker_spin_us(0)  # no 5 s of spinning left behind
    assert delta["jobs_by_workers"] >= 1, delta
    # On a machine whose CPUs other processes keep busy, the woken worker may not get a CPU in
    # time: the caller then takes its share back, and a later call wakes it again. Every wake
    # past the first must come from such a take-back, never from the worker sleeping on its own.
    assert delta["sleepers_left"] == 1, delta
    assert delta["wakes"] == 1 or delta["wakes"] - 1 <= delta["members_taken_back"], delta


@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
def test_a_large_call_wakes_a_sleeping_worker():
    """100 steps of LSTM H256 (105 MFLOP) gain from a worker even when it arrives late: the call
    wakes it, and the result equals one thread's."""
    one, two, rng = _layer_pair("LSTM", 1, H=256, I=256, seed=9)
    X = rng.standard_normal((100, 1, 256)).astype(np.float32)
    want = one(X)
    with sleeping_workers():
        before = testing.pool_stats()
        got = two(X)
        delta = _pool_delta(before)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert delta["wakes"] == 1 and delta["sleepers_left"] == 0, delta
    assert delta["jobs_by_workers"] + delta["members_taken_back"] == 1, delta

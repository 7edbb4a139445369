"""Where lstmrt's threads run: a worker queued on its caller's CPU moves off it.

On a 2-CPU virtual machine the OS now and then puts a call's worker on the CPU of the thread
that posted its job (a waking thread placed on its waker's CPU) while the other CPU idles. Each of
the two then waits for the other to get a turn, and the kernel's load balancer leaves two busy
threads together for ~10 ms: in the benchmark, 2-thread rows ran 2-5x slower for whole rounds.
A worker that finds itself on its caller's CPU moves to another CPU of its affinity mask
(``move_off_cpu``: the mask is kept). These tests need Linux and two CPUs.
"""

import os
import sys
import threading
import time

import numpy as np
import pytest

import lstmrt
from lstmrt import _core

testing = _core.testing

needs_two_cpus = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs this process may use")


def _in_thread(fn):
    """Runs fn on a new Python thread (whose CPU mask the test may change) and returns its result."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the test's thread
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the helper thread did not finish"
    if "error" in out:
        raise out["error"]
    return out["value"]


@needs_two_cpus
def test_move_off_cpu_moves_the_thread_and_keeps_its_mask():
    def go():
        mask = os.sched_getaffinity(0)
        cpu = testing.current_cpu()
        moved = testing.move_off_cpu(cpu)
        return mask, cpu, moved, testing.current_cpu(), os.sched_getaffinity(0)

    mask, cpu, moved, now, mask_after = _in_thread(go)
    assert cpu in mask
    assert moved
    assert now != cpu and now in mask
    assert mask_after == mask


@needs_two_cpus
def test_move_off_cpu_refuses_where_it_cannot_move():
    def go():
        cpu = testing.current_cpu()
        os.sched_setaffinity(0, {cpu})
        pinned = testing.move_off_cpu(cpu)  # no other CPU in the mask
        still = testing.current_cpu(), os.sched_getaffinity(0)
        os.sched_setaffinity(0, os.sched_getaffinity(os.getpid()))
        here = testing.current_cpu()
        other = next(c for c in os.sched_getaffinity(0) if c != here)
        return cpu, pinned, still, testing.move_off_cpu(other), testing.move_off_cpu(-1), testing.move_off_cpu(1 << 20)

    cpu, pinned, still, not_there, negative, too_big = _in_thread(go)
    assert not pinned
    assert still == (cpu, {cpu})
    assert not not_there  # the thread is not on that CPU
    assert not negative and not too_big


def _thread_state(tid):
    """(CPU the thread last ran on, its CPU time in ns) from /proc."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        cpu = int(f.read().rsplit(")", 1)[1].split()[36])
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        run_ns = int(f.read().split()[0])
    return cpu, run_ns


def _worker_tids():
    tids = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() == "lstmrt-worker":
                    tids.append(int(tid))
        except OSError:
            continue
    return tids


@needs_two_cpus
@pytest.mark.skipif(lstmrt.cpu_info()["default_threads"] < 2, reason="lstmrt uses one thread here")
def test_worker_queued_on_the_callers_cpu_moves_off():
    """The caller and its worker are put on one CPU (both pinned there for a few calls), then both
    may run anywhere again. From there the kernel alone took 1-19 calls (2-36 ms) to separate
    them; the worker must move itself, and the results stay those of one thread."""
    rng = np.random.default_rng(4)
    H = 256
    W = (rng.standard_normal((1, 4 * H, H)) * 0.1).astype(np.float32)
    R = (rng.standard_normal((1, 4 * H, H)) * 0.1).astype(np.float32)
    X = rng.standard_normal((50, 1, H)).astype(np.float32)
    one = lstmrt.ops.LSTM(W, R, threads=1)
    two = lstmrt.ops.LSTM(W, R, threads=2)
    want = one(X)
    two(X)  # the pool has its worker
    workers = _worker_tids()
    assert workers, "no thread named lstmrt-worker"
    allowed = os.sched_getaffinity(0)

    def check(y):
        for g, w in zip(y, want):
            np.testing.assert_array_equal(g, w)

    def go():
        me = threading.get_native_id()
        moves_before = testing.pool_stats()["cpu_moves"]
        calls_to_part = []
        try:
            for _ in range(10):
                cpu = testing.current_cpu()
                os.sched_setaffinity(0, {cpu})
                for tid in workers:
                    os.sched_setaffinity(tid, {cpu})
                for _ in range(3):
                    check(two(X))
                for tid in workers:
                    os.sched_setaffinity(tid, allowed)
                os.sched_setaffinity(0, allowed)
                busy_before = {tid: _thread_state(tid)[1] for tid in workers}
                deadline = time.perf_counter() + 2.0
                calls = 0
                while time.perf_counter() < deadline:
                    check(two(X))
                    calls += 1
                    # The worker that ran the calls is the one whose CPU time grew.
                    busy = [tid for tid in workers if _thread_state(tid)[1] > busy_before[tid]]
                    here = _thread_state(me)[0]
                    if busy and all(_thread_state(tid)[0] != here for tid in busy):
                        break
                else:
                    calls = None
                calls_to_part.append(calls)
                time.sleep(0.02)  # the worker goes to sleep, as between a user's calls
        finally:
            os.sched_setaffinity(0, allowed)
            for tid in workers:
                try:
                    os.sched_setaffinity(tid, allowed)
                except OSError:
                    pass
        return calls_to_part, testing.pool_stats()["cpu_moves"] - moves_before

    calls_to_part, moves = _in_thread(go)
    assert None not in calls_to_part, f"caller and worker stayed on one CPU for 2 s of calls: {calls_to_part}"
    # The kernel may part them first now and then; the worker's own moves must show.
    assert moves >= 1, f"the worker never moved itself (calls until parted: {calls_to_part})"

"""The step scheduler serves one call after another (a layer's workspace keeps it).

Phases are numbered on from the previous call, so that the scheduler's marks stay in the caches
of the cores that own them (cpp/src/cpu/phase_scheduler.h). These tests drive one
scheduler directly, every member on a thread of its own: every partition of every phase of
every call runs exactly once, whatever the shapes of the calls before it, and after a call that
never ended (as one that threw would leave it).
"""

import numpy as np
import pytest

import lstmrt
from lstmrt import _core

from reference import random_weights

testing = _core.testing


def _check(calls):
    results = testing.scheduler_calls(calls)
    previous_end = None
    for (parts, team, phases, end), (first, counts) in zip(calls, results):
        assert counts == [1] * (parts * phases), (parts, team, phases, counts)
        if previous_end is not None:
            assert first >= previous_end, "a call reused the phase numbers of the one before"
        previous_end = first + phases
    return results


def test_phases_number_on_from_call_to_call():
    results = _check([(2, 2, 3, True), (2, 2, 1, True), (2, 2, 5, True)])
    # Same shape, ended calls: no phase number is skipped, so no mark had to be rewritten.
    assert [first for first, _ in results][1:] == [results[0][0] + 3, results[0][0] + 4]


def test_calls_of_changing_shapes():
    _check([(2, 2, 4, True), (1, 1, 3, True), (2, 2, 2, True), (4, 3, 3, True), (3, 2, 2, True),
            (2, 2, 0, True), (2, 2, 2, True), (17, 2, 2, True), (2, 2, 1, True)])


def test_a_call_that_never_ended_does_not_disturb_the_next():
    results = _check([(2, 2, 3, True), (2, 2, 2, False), (2, 2, 2, True), (2, 2, 3, False), (1, 1, 1, True),
                      (2, 2, 2, True)])
    # The call after an unended one starts past every phase the unended one used.
    assert results[2][0] > results[1][0] + 1
    assert results[4][0] > results[3][0] + 2


@pytest.mark.parametrize("seed", range(3))
def test_random_sequences_of_calls(seed):
    rng = np.random.default_rng(seed)
    calls = [(int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 6)), bool(rng.random() < 0.8))
             for _ in range(25)]
    _check(calls)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_a_layer_alternating_call_shapes_equals_one_thread(cell):
    """One layer, one workspace: calls on 1 thread (single steps, from the whole copy), on 2 (long
    sequences, units split), rows split (batch 16), with the workers held and back, and a stream
    beside them: each equals the 1-thread layer bit for bit."""
    rng = np.random.default_rng(7)
    H, I = 72, 40
    w = random_weights(rng, cell, H, I)
    W, R = w["W"], w["R"]
    one = getattr(lstmrt.ops, cell)(W, R, threads=1)
    two = getattr(lstmrt.ops, cell)(W, R, threads=2)
    s1, s2 = one.stream(), two.stream()
    for i, (seq, batch) in enumerate([(100, 1), (1, 1), (30, 16), (100, 1), (1, 4), (50, 1), (2, 1), (100, 1)]):
        X = rng.standard_normal((seq, batch, I)).astype(np.float32)
        if i == 3:
            testing.hold_workers(True)
        try:
            got = two(X)
        finally:
            testing.hold_workers(False)
        for g_, w in zip(got, one(X)):
            np.testing.assert_array_equal(g_, w)
        x = rng.standard_normal((1, 1, I)).astype(np.float32)
        for g_, w in zip(s2(x), s1(x)):
            np.testing.assert_array_equal(g_, w)

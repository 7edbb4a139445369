"""Stateful mode of the prepacked layers: lstmrt.ops.LSTM/GRU/RNN(...).stream()."""

import threading

import numpy as np
import pytest

from checks import assert_close
from lstmrt import ops
from reference import random_weights

RNG = np.random.default_rng(1234)
CELLS = ("LSTM", "GRU", "RNN")


def make_layer(cell, hidden=24, input_size=7, layout=0, direction="forward", **kw):
    nd = 2 if direction == "bidirectional" else 1
    w = random_weights(RNG, cell, hidden, input_size, directions=nd, scale=0.4, bias_scale=0.2)
    return getattr(ops, cell)(**w, layout=layout, direction=direction, **kw)


def split_time(X, layout, cuts):
    axis = 0 if layout == 0 else 1
    return np.split(X, cuts, axis=axis), axis


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("cuts", [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4, 9], []], ids=["one-step", "uneven", "whole"])
def test_chunked_stream_equals_one_run(cell, layout, cuts):
    layer = make_layer(cell, layout=layout)
    seq, batch = 12, 3
    shape = (seq, batch, 7) if layout == 0 else (batch, seq, 7)
    X = RNG.standard_normal(shape).astype(np.float32)
    whole = layer(X)
    stream = layer.stream()
    chunks, axis = split_time(X, layout, cuts)
    outs = [stream(c) for c in chunks]
    Y = np.concatenate([o[0] for o in outs], axis=axis)
    assert_close(Y, whole[0], atol=1e-6, rtol=0)
    for got, want in zip(outs[-1][1:], whole[1:]):
        assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_first_call_starts_from_fed_state_then_carries(cell):
    layer = make_layer(cell)
    X = RNG.standard_normal((6, 2, 7)).astype(np.float32)
    h0 = RNG.standard_normal((1, 2, 24)).astype(np.float32)
    extra = (RNG.standard_normal((1, 2, 24)).astype(np.float32),) if cell == "LSTM" else ()
    whole = layer(X, None, h0, *extra)
    stream = layer.stream()
    first = stream(X[:2], None, h0, *extra)
    second = stream(X[2:])
    assert_close(np.concatenate([first[0], second[0]]), whole[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_snapshot_restore_and_reset(cell):
    layer = make_layer(cell)
    stream = layer.stream()
    zero = stream.get_state()  # before the first call: the zero state of one row it starts from
    assert sorted(zero) == (["c", "h"] if cell.upper() == "LSTM" else ["h"])
    assert all(v.dtype == np.float32 and v.shape[1] == 1 and not v.any() for v in zero.values())
    other = layer.stream()
    other.set_state(zero)  # ... which set_state takes back
    X = RNG.standard_normal((5, 2, 7)).astype(np.float32)
    stream(X[:2])
    snap = stream.get_state()
    assert set(snap) == ({"h", "c"} if cell == "LSTM" else {"h"})
    after = stream(X[2:])
    stream.set_state(snap)
    again = stream(X[2:])
    for a, b in zip(after, again):
        np.testing.assert_array_equal(a, b)
    snap["h"][...] = 99.0  # a snapshot is a copy: changing it changes nothing
    stream.reset()
    fresh = layer.stream()
    for a, b in zip(stream(X), fresh(X)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
def test_reverse_and_bidirectional_refuse_to_stream(direction):
    layer = make_layer("LSTM", direction=direction)
    with pytest.raises(ValueError, match=f"cannot stream a {direction} layer"):
        layer.stream()


def test_failed_call_leaves_state_untouched():
    layer = make_layer("LSTM")
    stream = layer.stream()
    X = RNG.standard_normal((4, 2, 7)).astype(np.float32)
    stream(X[:1])
    before = stream.get_state()
    with pytest.raises(ValueError, match="X"):
        stream(np.zeros((1, 2, 5), np.float32))  # wrong input size
    with pytest.raises(TypeError, match="X"):
        stream(X[1:2].astype(np.float64))
    with pytest.raises(ValueError, match="batch of 2"):
        stream(np.zeros((1, 3, 7), np.float32))  # another batch size without fed state
    after = stream.get_state()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_set_state_checks_shape():
    stream = make_layer("GRU").stream()
    with pytest.raises(ValueError, match=r"state\['h'\]"):
        stream.set_state({"h": np.zeros((1, 2, 5), np.float32)})
    with pytest.raises(TypeError, match=r"state\['h'\]"):
        stream.set_state({"h": np.zeros((1, 2, 24), np.float64)})
    with pytest.raises(ValueError, match="'h'"):
        stream.set_state({})


def test_streams_are_independent_and_thread_safe():
    layer = make_layer("LSTM", hidden=64)
    X = RNG.standard_normal((40, 2, 7)).astype(np.float32)
    want = layer(X)
    results = {}

    def feed(name):
        s = layer.stream()
        ys = [s(X[t:t + 1])[0] for t in range(X.shape[0])]
        results[name] = np.concatenate(ys)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in range(4):
        assert_close(results[name], want[0], atol=1e-6, rtol=0)


def test_one_stream_from_two_threads_is_serialized():
    # Two threads step the same stream; calls are serialized, so the state advances by exactly
    # one step per call: the result after 2N calls equals a stream fed the same 2N steps.
    layer = make_layer("GRU", hidden=32)
    step = RNG.standard_normal((1, 1, 7)).astype(np.float32)
    shared = layer.stream()
    n = 200

    def hammer():
        for _ in range(n):
            shared(step)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    solo = layer.stream()
    for _ in range(2 * n):
        last = solo(step)
    assert_close(shared.get_state()["h"], last[1], atol=1e-6, rtol=0)


_STATE_CALLS_DURING_RUN = r"""
import sys, threading, time
import numpy as np
from lstmrt import ops
rng = np.random.default_rng(0)
H = 256
layer = ops.LSTM((rng.standard_normal((1, 4 * H, H)) * 0.05).astype(np.float32),
                 (rng.standard_normal((1, 4 * H, H)) * 0.05).astype(np.float32), threads=1)
st = layer.stream()
X = rng.standard_normal((3000, 1, H)).astype(np.float32)
started = threading.Event()
def run():
    started.set()
    st(X)
t = threading.Thread(target=run)
t.start()
started.wait()
time.sleep(0.005)  # the run is computing, its stream locked and the GIL released
getattr(st, sys.argv[1])(*([{"h": np.zeros((1, 1, H), np.float32), "c": np.zeros((1, 1, H), np.float32)}]
                           if sys.argv[1] == "set_state" else []))
t.join()
print("ok")
"""


@pytest.mark.parametrize("method", ["reset", "get_state", "set_state"])
def test_state_calls_wait_for_a_running_call_without_holding_the_gil(method):
    """A thread that resets, reads or sets a stream while another thread's call on it computes
    must wait with the GIL released: holding it, it blocked the running call from taking the GIL
    back to return, and both threads hung. Run in a subprocess, so that a hang fails the test."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _STATE_CALLS_DURING_RUN, method], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr

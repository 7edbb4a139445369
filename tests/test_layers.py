"""Prepacked layers (lstmrt.ops.LSTM/GRU/RNN): same results as the functional
API, repeatable, and usable from several Python threads at once with the GIL
released during the computation.
"""

import threading

import numpy as np
import pytest

from checks import assert_equal
from reference import random_weights

import lstmrt

FN = {"lstm": lambda: lstmrt.ops.lstm, "gru": lambda: lstmrt.ops.gru, "rnn": lambda: lstmrt.ops.rnn}
LAYER = {"lstm": lambda: lstmrt.ops.LSTM, "gru": lambda: lstmrt.ops.GRU, "rnn": lambda: lstmrt.ops.RNN}
NAMES = ("Y", "Y_h", "Y_c")


def make(cell, S, N, I, H, nd, seed, layout=0):
    rng = np.random.default_rng(seed)

    def f(scale, *shape):
        return (rng.uniform(-1, 1, shape) * scale).astype(np.float32)

    weights = random_weights(rng, cell, H, I, directions=nd, scale=None, bias_scale=0.5,
                             peepholes=cell == "lstm")
    lens = rng.integers(0, S + 1, N).astype(np.int32)
    state_shape = (nd, N, H) if layout == 0 else (N, nd, H)
    runtime = {"X": f(1.0, S, N, I) if layout == 0 else f(1.0, N, S, I),
               "sequence_lens": lens, "initial_h": f(1.0, *state_shape)}
    if cell == "lstm":
        runtime["initial_c"] = f(1.0, *state_shape)
    return weights, runtime


ATTRS = {
    "lstm": [{}, {"direction": "bidirectional", "clip": 0.9, "input_forget": 1},
             {"direction": "reverse", "activations": ["HardSigmoid", "Elu", "Softsign"],
              "activation_alpha": [0.3, 0.8], "activation_beta": [0.4], "layout": 1}],
    "gru": [{}, {"direction": "bidirectional", "linear_before_reset": 1},
            {"direction": "reverse", "activations": ["Sigmoid", "LeakyRelu"], "layout": 1}],
    "rnn": [{}, {"direction": "bidirectional", "activations": ["Relu", "Tanh"]},
            {"direction": "reverse", "activations": ["Affine"], "activation_alpha": [0.5],
             "activation_beta": [0.1], "layout": 1}],
}


def _cases():
    for cell, attr_list in ATTRS.items():
        for i, attrs in enumerate(attr_list):
            yield pytest.param(cell, attrs, id=f"{cell}-{i}")


def _nd(attrs):
    return 2 if attrs.get("direction") == "bidirectional" else 1


@pytest.mark.parametrize("cell,attrs", list(_cases()))
def test_layer_equals_function(cell, attrs):
    weights, runtime = make(cell, S=7, N=5, I=9, H=17, nd=_nd(attrs), seed=1,
                            layout=attrs.get("layout", 0))
    layer = LAYER[cell]()(**weights, **attrs)
    got = layer(**runtime)
    want = FN[cell]()(**weights, **runtime, **attrs)
    assert len(got) == len(want) == (3 if cell == "lstm" else 2)
    for name, g, w in zip(NAMES, got, want):
        assert_equal(g, w, name=name, context=f"layer vs function, {cell} {attrs}")


@pytest.mark.parametrize("cell,wrong", [("lstm", "linear_before_reset"), ("gru", "input_forget"),
                                        ("rnn", "input_forget"), ("lstm", "thread")])
def test_attribute_of_another_cell_is_refused(cell, wrong):
    weights, _ = make(cell, S=2, N=1, I=3, H=4, nd=1, seed=0)
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{wrong}'"):
        LAYER[cell]()(**weights, **{wrong: 1})


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_peepholes_only_on_lstm(cell):
    weights, _ = make(cell, S=2, N=1, I=3, H=4, nd=1, seed=0)
    with pytest.raises(TypeError, match="no peephole weights P"):
        LAYER[cell]()(weights["W"], weights["R"], weights["B"], np.zeros((1, 12), np.float32))


def test_signatures_list_each_cells_own_attributes():
    import inspect

    lstm, gru = inspect.signature(lstmrt.ops.LSTM), inspect.signature(lstmrt.ops.gru)
    assert "input_forget" in lstm.parameters and "linear_before_reset" not in lstm.parameters
    assert "linear_before_reset" in gru.parameters and "input_forget" not in gru.parameters
    assert list(gru.parameters)[:6] == ["X", "W", "R", "B", "sequence_lens", "initial_h"]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layer_optional_runtime_inputs(cell):
    """Each optional runtime input may be left out; the result equals the
    functional API with the same inputs left out."""
    weights, runtime = make(cell, S=4, N=3, I=5, H=6, nd=1, seed=2)
    layer = LAYER[cell]()(**weights)
    fn = FN[cell]()
    for drop in ["sequence_lens", "initial_h", "initial_c"]:
        if drop not in runtime:
            continue
        rt = {k: v for k, v in runtime.items() if k != drop}
        for name, g, w in zip(NAMES, layer(**rt), fn(**weights, **rt)):
            assert_equal(g, w, name=name, context=f"without {drop}")
    for name, g, w in zip(NAMES, layer(runtime["X"]), fn(runtime["X"], **weights)):
        assert_equal(g, w, name=name, context="X only")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layer_positional_call(cell):
    weights, runtime = make(cell, S=4, N=3, I=5, H=6, nd=1, seed=3)
    layer = LAYER[cell]()(**weights)
    order = ["X", "sequence_lens", "initial_h"] + (["initial_c"] if cell == "lstm" else [])
    for name, g, w in zip(NAMES, layer(*[runtime[k] for k in order]), layer(**runtime)):
        assert_equal(g, w, name=name, context="positional vs keyword")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layer_repeated_calls_identical(cell):
    """The layer keeps no state between calls: the same call gives the same
    bits every time, also with differently shaped calls in between."""
    weights, runtime = make(cell, S=9, N=6, I=8, H=33, nd=2, seed=4)
    layer = LAYER[cell]()(**weights, direction="bidirectional")
    first = layer(**runtime)
    _, other = make(cell, S=3, N=11, I=8, H=33, nd=2, seed=5)
    for i in range(6):
        if i % 2:
            layer(**other)
        again = layer(**runtime)
        for name, g, w in zip(NAMES, again, first):
            assert_equal(g, w, name=name, context=f"call {i + 2}")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layer_weights_are_copied(cell):
    """Packing copies the weights: changing the caller's arrays afterwards
    does not change the layer."""
    weights, runtime = make(cell, S=4, N=2, I=5, H=7, nd=1, seed=6)
    layer = LAYER[cell]()(**weights)
    want = layer(**runtime)
    for v in weights.values():
        v[...] = 0.0
    for name, g, w in zip(NAMES, layer(**runtime), want):
        assert_equal(g, w, name=name, context="after zeroing the caller's weights")


def test_layer_outputs_are_fresh_arrays():
    weights, runtime = make("lstm", S=4, N=2, I=5, H=7, nd=1, seed=7)
    layer = lstmrt.ops.LSTM(**weights)
    a = layer(**runtime)
    b = layer(**runtime)
    for x, y in zip(a, b):
        assert not np.shares_memory(x, y), "two calls returned the same output buffer"
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable


@pytest.mark.parametrize("kind", ["read-only", "unaligned", "zero-size"])
def test_borrowed_float32_inputs(kind):
    """C-contiguous float32 inputs are read in place (no conversion): also read-only, unaligned and
    zero-size ones, which give the results of an ordinary copy and are left as they were."""
    weights, runtime = make("lstm", S=4, N=2, I=5, H=7, nd=1, seed=8)
    layer = lstmrt.ops.LSTM(**weights)
    X = runtime["X"]
    if kind == "zero-size":
        X = np.zeros((0, 2, 5), np.float32)
    want = layer(X.copy(), initial_h=runtime["initial_h"].copy(), initial_c=runtime["initial_c"].copy())
    if kind == "read-only":
        X = X.copy()
        X.flags.writeable = False
    elif kind == "unaligned":
        raw = np.zeros(X.nbytes + 1, np.uint8)
        X = np.frombuffer(raw.data, np.float32, X.size, offset=1).reshape(X.shape)
        X[...] = runtime["X"]
        assert not X.flags.aligned and X.flags.c_contiguous
    before = X.copy()
    got = layer(X, initial_h=runtime["initial_h"], initial_c=runtime["initial_c"])
    for name, g, w in zip(NAMES, got, want):
        assert_equal(g, w, name=name, context=f"{kind} X")
    np.testing.assert_array_equal(X, before)


# ---------------------------------------------------------------------------
# threads

BIG = dict(S=300, N=8, I=256, H=256)


@pytest.fixture(scope="module")
def big_lstm():
    weights, runtime = make("lstm", nd=1, seed=8, **BIG)
    layer = lstmrt.ops.LSTM(**weights)
    return layer, runtime, layer(**runtime)


def test_gil_released_during_compute(big_lstm):
    """While a long call runs, another Python thread keeps running.

    A spinning thread timestamps its progress.  If the call held the GIL,
    no Python bytecode could run during it, except in the interpreter's
    switch slices (1 ms here) around its start and end; so the middle half
    of a call lasting >= 20 ms would see no timestamps at all.  This checks
    progress, not speed.
    """
    import sys
    import time

    layer, runtime, _ = big_lstm
    # Lengthen the sequence until one call takes >= 20 ms, and shorten the interpreter's switch
    # interval to 1 ms, so that the middle half of a call is far longer than any switch slice.
    runtime = dict(runtime)
    X = runtime["X"]
    while True:
        t0 = time.perf_counter()
        want = layer(**runtime)
        if time.perf_counter() - t0 >= 0.02:
            break
        X = np.concatenate([X, X], axis=0)
        runtime["X"] = X
    stamps = []
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1
            if n % 64 == 0:
                stamps.append(time.perf_counter())

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    t = threading.Thread(target=spin)
    t.start()
    try:
        windows = []
        for _ in range(3):
            t0 = time.perf_counter()
            got = layer(**runtime)
            t1 = time.perf_counter()
            windows.append((t0, t1))
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_interval)
    for name, g, w in zip(NAMES, got, want):
        assert_equal(g, w, name=name, context="with a busy Python thread")
    inside = []
    for t0, t1 in windows:
        d = t1 - t0
        lo, hi = t0 + d / 4, t1 - d / 4
        inside.append(sum(lo < s < hi for s in stamps))
    durations = [round((t1 - t0) * 1e3, 1) for t0, t1 in windows]
    assert max(inside) > 10, (
        f"a Python thread made no progress in the middle of calls lasting {durations} ms "
        f"(stamps inside: {inside}): the GIL seems held during the computation")


@pytest.mark.parametrize("shared_layer", [True, False], ids=["one-layer", "two-layers"])
def test_concurrent_calls_from_two_threads(big_lstm, shared_layer):
    """Two threads calling at once (the same layer, or two layers) each get
    exactly the single-threaded result."""
    layer, runtime, want = big_lstm
    weights2, runtime2 = make("lstm", nd=1, seed=9, **BIG)
    layer2 = layer if shared_layer else lstmrt.ops.LSTM(**weights2)
    want2 = layer2(**runtime2)
    results = {}
    errors = []
    barrier = threading.Barrier(2)

    def work(key, lay, rt):
        try:
            barrier.wait()
            results[key] = [lay(**rt) for _ in range(2)]
        except BaseException as e:  # reported below, in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=("a", layer, runtime)),
               threading.Thread(target=work, args=("b", layer2, runtime2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for key, expected in (("a", want), ("b", want2)):
        for k, outs in enumerate(results[key]):
            for name, g, w in zip(NAMES, outs, expected):
                assert_equal(g, w, name=name, context=f"thread {key} call {k}")


def test_concurrent_functional_calls():
    """The functional API from two threads, different cells at once."""
    wl, rl = make("lstm", S=60, N=4, I=128, H=128, nd=2, seed=10)
    wg, rg = make("gru", S=60, N=4, I=128, H=128, nd=2, seed=11)
    want_l = lstmrt.ops.lstm(**wl, **rl, direction="bidirectional")
    want_g = lstmrt.ops.gru(**wg, **rg, direction="bidirectional")
    out = {}

    def run_l():
        out["l"] = [lstmrt.ops.lstm(**wl, **rl, direction="bidirectional") for _ in range(3)]

    def run_g():
        out["g"] = [lstmrt.ops.gru(**wg, **rg, direction="bidirectional") for _ in range(3)]

    threads = [threading.Thread(target=run_l), threading.Thread(target=run_g)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, want in (("l", want_l), ("g", want_g)):
        assert len(out.get(key, [])) == 3, f"thread {key} did not finish its calls"
        for outs in out[key]:
            for name, g, w in zip(NAMES, outs, want):
                assert_equal(g, w, name=name, context=f"concurrent {key}")

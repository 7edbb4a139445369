"""The error contract of lstmrt.ops: one test per kind of bad input.

* A non-float32 array (or a non-array) -> TypeError naming the argument; no
  silent conversion.  sequence_lens that is not int32 -> TypeError.
* Wrong rank or shape, sizes contradicting hidden_size or the direction
  count, unknown or wrongly counted activations, sequence_lens out of
  [0, seq_length], unknown direction or layout -> ValueError naming the
  argument and giving the expected and the actual value.

Each check asserts the exception type, that the message names the argument
(as a whole word), and where the contract asks for it, that both the expected
and the actual size appear in the message.

Also here: non-contiguous inputs give the same result as contiguous copies,
and a prepacked layer still works after a call that failed.
"""

import re

import numpy as np
import pytest

from checks import assert_equal
from reference import GATES

import lstmrt

S, N, I, H = 5, 3, 4, 6
CELLS = ("lstm", "gru", "rnn")
FN = {"lstm": lambda: lstmrt.ops.lstm, "gru": lambda: lstmrt.ops.gru, "rnn": lambda: lstmrt.ops.rnn}
LAYER = {"lstm": lambda: lstmrt.ops.LSTM, "gru": lambda: lstmrt.ops.GRU, "rnn": lambda: lstmrt.ops.RNN}


def make_inputs(cell, nd=1, seed=0):
    rng = np.random.default_rng(seed)
    g = GATES[cell]

    def f(*shape):
        return rng.uniform(-0.5, 0.5, shape).astype(np.float32)

    d = {"X": f(S, N, I), "W": f(nd, g * H, I), "R": f(nd, g * H, H), "B": f(nd, 2 * g * H),
         "sequence_lens": np.array([S, 2, 0], np.int32), "initial_h": f(nd, N, H)}
    if cell == "lstm":
        d["initial_c"] = f(nd, N, H)
        d["P"] = f(nd, 3 * H)
    return d


def call(cell, inputs=None, **attrs):
    d = make_inputs(cell) if inputs is None else inputs
    return FN[cell]()(**d, **attrs)


def _word(name):
    return rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"


def expect_error(exc, names, fn, *, numbers=()):
    """Calls fn, which must raise ``exc`` with a message naming one of
    ``names`` (as a whole word) and containing each of ``numbers``."""
    if isinstance(names, str):
        names = (names,)
    pattern = "|".join(_word(n) for n in names)
    with pytest.raises(exc, match=pattern) as info:
        fn()
    msg = str(info.value)
    for n in numbers:
        assert re.search(_word(str(n)), msg), f"message does not give {n}: {msg!r}"
    return msg


def with_input(cell, name, value, nd=1):
    d = make_inputs(cell, nd)
    d[name] = value
    return d


def float_inputs(cell):
    return ["X", "W", "R", "B", "initial_h"] + (["initial_c", "P"] if cell == "lstm" else [])


# ---------------------------------------------------------------------------
# dtype


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32])
def test_non_float32_input_is_type_error(cell, dtype):
    for name in float_inputs(cell):
        d = make_inputs(cell)
        d[name] = d[name].astype(dtype)
        expect_error(TypeError, name, lambda: call(cell, d))


@pytest.mark.parametrize("cell", CELLS)
def test_list_instead_of_array_is_type_error(cell):
    d = make_inputs(cell)
    d["X"] = d["X"].tolist()
    expect_error(TypeError, "X", lambda: call(cell, d))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64, np.int16, np.uint32])
def test_sequence_lens_not_int32_is_type_error(cell, dtype):
    d = make_inputs(cell)
    d["sequence_lens"] = d["sequence_lens"].astype(dtype)
    expect_error(TypeError, "sequence_lens", lambda: call(cell, d))


@pytest.mark.parametrize("cell", CELLS)
def test_layer_constructor_checks_dtypes(cell):
    d = make_inputs(cell)
    weights = ["W", "R", "B"] + (["P"] if cell == "lstm" else [])
    for name in weights:
        w = {k: d[k] for k in weights}
        w[name] = w[name].astype(np.float64)
        expect_error(TypeError, name, lambda: LAYER[cell]()(**w))


@pytest.mark.parametrize("cell", CELLS)
def test_layer_call_checks_dtypes(cell):
    d = make_inputs(cell)
    layer = LAYER[cell]()(d["W"], d["R"], d["B"], **({"P": d["P"]} if cell == "lstm" else {}))
    expect_error(TypeError, "X", lambda: layer(d["X"].astype(np.float64)))
    expect_error(TypeError, "initial_h",
                 lambda: layer(d["X"], initial_h=d["initial_h"].astype(np.float64)))
    expect_error(TypeError, "sequence_lens",
                 lambda: layer(d["X"], sequence_lens=d["sequence_lens"].astype(np.int64)))


# ---------------------------------------------------------------------------
# rank and shape


@pytest.mark.parametrize("cell", CELLS)
def test_wrong_rank(cell):
    d = make_inputs(cell)
    bad = {
        "X": [d["X"][0], d["X"][None]],
        "W": [d["W"][0], d["W"][None]],
        "R": [d["R"][0], d["R"][None]],
        "B": [d["B"][0], d["B"][None]],
        "initial_h": [d["initial_h"][0], d["initial_h"][None]],
        "sequence_lens": [d["sequence_lens"][None], np.array(3, np.int32)],
    }
    if cell == "lstm":
        bad["initial_c"] = [d["initial_c"][0]]
        bad["P"] = [d["P"][0], d["P"][None]]
    for name, values in bad.items():
        for v in values:
            expect_error(ValueError, name, lambda: call(cell, with_input(cell, name, v)))


@pytest.mark.parametrize("cell", CELLS)
def test_x_input_size_contradicts_w(cell):
    d = with_input(cell, "X", np.zeros((S, N, I + 1), np.float32))
    expect_error(ValueError, ("X", "W"), lambda: call(cell, d), numbers=(I, I + 1))


@pytest.mark.parametrize("cell", CELLS)
def test_w_rows_wrong(cell):
    d = make_inputs(cell)
    d["W"] = np.zeros((1, GATES[cell] * H + 1, I), np.float32)
    expect_error(ValueError, "W", lambda: call(cell, d), numbers=(GATES[cell] * H + 1,))


@pytest.mark.parametrize("cell", CELLS)
def test_r_shape_wrong(cell):
    d = make_inputs(cell)
    d["R"] = np.zeros((1, GATES[cell] * H, H + 1), np.float32)
    expect_error(ValueError, ("R", "W", "hidden_size"), lambda: call(cell, d))


@pytest.mark.parametrize("cell", CELLS)
def test_b_length_wrong(cell):
    d = make_inputs(cell)
    d["B"] = np.zeros((1, 2 * GATES[cell] * H - 1), np.float32)
    expect_error(ValueError, "B", lambda: call(cell, d),
                 numbers=(2 * GATES[cell] * H, 2 * GATES[cell] * H - 1))


def test_p_length_wrong():
    d = make_inputs("lstm")
    d["P"] = np.zeros((1, 3 * H + 2), np.float32)
    expect_error(ValueError, "P", lambda: call("lstm", d), numbers=(3 * H, 3 * H + 2))


@pytest.mark.parametrize("cell", CELLS)
def test_initial_h_shape_wrong(cell):
    for shape in [(1, N + 1, H), (1, N, H + 1), (2, N, H)]:
        d = with_input(cell, "initial_h", np.zeros(shape, np.float32))
        expect_error(ValueError, "initial_h", lambda: call(cell, d))


def test_initial_c_shape_wrong():
    for shape in [(1, N + 1, H), (1, N, H - 1), (2, N, H)]:
        d = with_input("lstm", "initial_c", np.zeros(shape, np.float32))
        expect_error(ValueError, "initial_c", lambda: call("lstm", d))


@pytest.mark.parametrize("cell", CELLS)
def test_initial_h_shape_wrong_for_layout_1(cell):
    d = make_inputs(cell)
    d["X"] = np.ascontiguousarray(d["X"].transpose(1, 0, 2))
    d["initial_h"] = np.zeros((1, N, H), np.float32)  # layout 0 shape; layout 1 wants [N, 1, H]
    d.pop("initial_c", None)
    expect_error(ValueError, "initial_h", lambda: call(cell, d, layout=1))


@pytest.mark.parametrize("cell", CELLS)
def test_sequence_lens_length_wrong(cell):
    d = with_input(cell, "sequence_lens", np.array([S, S], np.int32))
    expect_error(ValueError, "sequence_lens", lambda: call(cell, d), numbers=(N,))


@pytest.mark.parametrize("cell", CELLS)
def test_hidden_size_contradicts_weights(cell):
    expect_error(ValueError, ("hidden_size", "R", "W"), lambda: call(cell, hidden_size=H + 1),
                 numbers=(H + 1,))
    expect_error(ValueError, ("hidden_size", "R", "W"), lambda: call(cell, hidden_size=H - 1),
                 numbers=(H - 1,))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("value", [0, -3])
def test_hidden_size_not_positive(cell, value):
    expect_error(ValueError, ("hidden_size", "R"), lambda: call(cell, hidden_size=value))


@pytest.mark.parametrize("cell", CELLS)
def test_direction_count_contradicts_weights(cell):
    # Weights for one direction, attribute says two.
    expect_error(ValueError, ("W", "R", "direction"), lambda: call(cell, direction="bidirectional"),
                 numbers=(2,))
    # Weights for two directions, attribute says one.
    d2 = make_inputs(cell, nd=2)
    d2["initial_h"] = d2["initial_h"][:1]
    if cell == "lstm":
        d2["initial_c"] = d2["initial_c"][:1]
    expect_error(ValueError, ("W", "R", "B", "P", "direction"), lambda: call(cell, d2))


@pytest.mark.parametrize("cell", CELLS)
def test_b_direction_count_wrong(cell):
    d = make_inputs(cell)
    d["B"] = np.zeros((2, 2 * GATES[cell] * H), np.float32)
    expect_error(ValueError, "B", lambda: call(cell, d))


def test_p_direction_count_wrong():
    d = make_inputs("lstm")
    d["P"] = np.zeros((2, 3 * H), np.float32)
    expect_error(ValueError, "P", lambda: call("lstm", d))


# ---------------------------------------------------------------------------
# attributes


@pytest.mark.parametrize("cell", CELLS)
def test_unknown_activation(cell):
    k = {"lstm": 3, "gru": 2, "rnn": 1}[cell]
    names = ["Tanh"] * k
    names[-1] = "Swish"
    msg = expect_error(ValueError, "activations", lambda: call(cell, activations=names))
    assert "Swish" in msg


@pytest.mark.parametrize("cell,names", [
    ("lstm", ["Sigmoid", "Tanh"]),
    ("lstm", ["Sigmoid", "Tanh", "Tanh", "Tanh"]),
    ("gru", ["Sigmoid"]),
    ("gru", ["Sigmoid", "Tanh", "Tanh"]),
    ("rnn", ["Tanh", "Tanh"]),
    ("rnn", []),
], ids=lambda v: v if isinstance(v, str) else str(len(v)))
def test_activation_list_wrong_length(cell, names):
    if not names:
        # An empty list is "not given" in ONNX terms: it must mean the default.
        call(cell, activations=names)
        return
    expect_error(ValueError, "activations", lambda: call(cell, activations=names),
                 numbers=(len(names),))


@pytest.mark.parametrize("cell,names", [
    ("lstm", ["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh"]),
    ("gru", ["Sigmoid", "Tanh", "Sigmoid"]),
    ("rnn", ["Tanh", "Tanh", "Tanh"]),
    # One direction's list for a bidirectional layer: ONNX wants one per direction (and
    # onnxruntime refuses it too), so it is not silently reused for both.
    ("lstm", ["Sigmoid", "Tanh", "Tanh"]),
    ("gru", ["Sigmoid", "Tanh"]),
    ("rnn", ["Tanh"]),
], ids=lambda v: v if isinstance(v, str) else str(len(v)))
def test_activation_list_wrong_length_bidirectional(cell, names):
    d = make_inputs(cell, nd=2)
    expect_error(ValueError, "activations",
                 lambda: call(cell, d, direction="bidirectional", activations=names),
                 numbers=(len(names),))


@pytest.mark.parametrize("cell", CELLS)
def test_too_many_alpha_values(cell):
    # One LeakyRelu takes one alpha; three values cannot all be consumed.
    k = {"lstm": 3, "gru": 2, "rnn": 1}[cell]
    names = ["LeakyRelu"] + ["Tanh"] * (k - 1)
    expect_error(ValueError, "activation_alpha",
                 lambda: call(cell, activations=names, activation_alpha=[0.1, 0.2, 0.3]))
    expect_error(ValueError, "activation_beta",
                 lambda: call(cell, activations=names, activation_beta=[0.5]))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lens", [[-1, 2, 3], [S + 1, 2, 3], [2, 3, 2 ** 31 - 1]])
def test_sequence_lens_out_of_range(cell, lens):
    d = with_input(cell, "sequence_lens", np.array(lens, np.int32))
    expect_error(ValueError, "sequence_lens", lambda: call(cell, d))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("direction", ["backward", "", "bidirectional ", "both"])
def test_unknown_direction(cell, direction):
    msg = expect_error(ValueError, "direction", lambda: call(cell, direction=direction))
    assert "forward" in msg, "the message should list the accepted values"


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layout", [2, -1])
def test_bad_layout(cell, layout):
    expect_error(ValueError, "layout", lambda: call(cell, layout=layout), numbers=(layout,))


@pytest.mark.parametrize("value", [2, -1])
def test_bad_input_forget(value):
    # ONNX: "Couple the input and forget gates if 1"; only 0 and 1 mean anything.
    expect_error(ValueError, "input_forget", lambda: call("lstm", input_forget=value))


@pytest.mark.parametrize("value", [2, -1])
def test_bad_linear_before_reset(value):
    expect_error(ValueError, "linear_before_reset", lambda: call("gru", linear_before_reset=value))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("clip", [0.0, -1.0])
def test_clip_not_positive(cell, clip):
    # A threshold of 0 or less cannot bound anything (onnxruntime refuses it too).
    expect_error(ValueError, "clip", lambda: call(cell, clip=clip))


# ---------------------------------------------------------------------------
# non-contiguous inputs


def _noncontiguous(d):
    """Same values, but every array is a non-contiguous view."""
    out = {}
    for k, v in d.items():
        if v is None:
            out[k] = None
            continue
        if v.ndim == 3 and k == "X":
            view = np.ascontiguousarray(v.transpose(1, 0, 2)).transpose(1, 0, 2)  # transposed view
        elif v.ndim == 3:
            big = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype)
            big[..., ::2] = v
            view = big[..., ::2]                                                 # strided slice
        elif v.ndim == 2:
            view = np.asfortranarray(v)                                          # column-major
            if view.flags.c_contiguous:  # one row: Fortran order is also C order
                big = np.zeros((v.shape[0], 3 * v.shape[1]), v.dtype)
                big[:, ::3] = v
                view = big[:, ::3]
        else:
            big = np.zeros(2 * v.shape[0], v.dtype)
            big[::2] = v
            view = big[::2]
        assert not view.flags.c_contiguous or view.size <= 1, k
        np.testing.assert_array_equal(view, v)
        out[k] = view
    return out


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_noncontiguous_inputs_match_contiguous(cell, direction):
    nd = 2 if direction == "bidirectional" else 1
    d = make_inputs(cell, nd=nd, seed=3)
    want = call(cell, d, direction=direction)
    got = call(cell, _noncontiguous(d), direction=direction)
    for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
        assert_equal(g, w, name=name, context="non-contiguous inputs")


@pytest.mark.parametrize("cell", CELLS)
def test_noncontiguous_layer_inputs(cell):
    d = make_inputs(cell, seed=4)
    nc = _noncontiguous(d)
    extra = {"P": d["P"]} if cell == "lstm" else {}
    layer = LAYER[cell]()(d["W"], d["R"], d["B"], **extra)
    layer_nc = LAYER[cell]()(nc["W"], nc["R"], nc["B"], **({"P": nc["P"]} if cell == "lstm" else {}))
    runtime = ["X", "sequence_lens", "initial_h"] + (["initial_c"] if cell == "lstm" else [])
    want = layer(*[d[k] for k in runtime])
    for lay in (layer, layer_nc):
        got = lay(*[nc[k] for k in runtime])
        for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
            assert_equal(g, w, name=name, context="non-contiguous layer inputs")


def test_inputs_are_not_modified():
    d = make_inputs("lstm", nd=2, seed=5)
    before = {k: v.copy() for k, v in d.items()}
    call("lstm", d, direction="bidirectional", clip=0.3)
    for k, v in d.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was modified")


# ---------------------------------------------------------------------------
# recovery after an error


@pytest.mark.parametrize("cell", CELLS)
def test_layer_still_correct_after_failed_calls(cell):
    d = make_inputs(cell, seed=6)
    extra = {"P": d["P"]} if cell == "lstm" else {}
    layer = LAYER[cell]()(d["W"], d["R"], d["B"], **extra)
    runtime = ["X", "sequence_lens", "initial_h"] + (["initial_c"] if cell == "lstm" else [])
    args = [d[k] for k in runtime]
    want = layer(*args)
    failing = [
        (TypeError, lambda: layer(d["X"].astype(np.float64))),
        (ValueError, lambda: layer(np.zeros((S, N, I + 3), np.float32))),
        (ValueError, lambda: layer(d["X"], sequence_lens=np.array([S + 4, 1, 1], np.int32))),
        (ValueError, lambda: layer(d["X"], initial_h=np.zeros((1, N + 1, H), np.float32))),
        (TypeError, lambda: layer(d["X"], sequence_lens=np.array([1, 1, 1], np.int64))),
    ]
    for exc, fn in failing:
        with pytest.raises(exc):
            fn()
        got = layer(*args)
        for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
            assert_equal(g, w, name=name, context="after a failed call")
    # A differently sized (valid) call in between must not disturb it either.
    layer(np.ones((S + 7, N + 5, I), np.float32))
    got = layer(*args)
    for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
        assert_equal(g, w, name=name, context="after a larger call")


@pytest.mark.parametrize("cell", CELLS)
def test_function_still_correct_after_failed_calls(cell):
    d = make_inputs(cell, seed=7)
    want = call(cell, d)
    with pytest.raises(ValueError):
        call(cell, d, activations=["Nope"] * {"lstm": 3, "gru": 2, "rnn": 1}[cell])
    with pytest.raises(TypeError):
        call(cell, with_input(cell, "W", d["W"].astype(np.float64)))
    got = call(cell, d)
    for name, g, w in zip(("Y", "Y_h", "Y_c"), got, want):
        assert_equal(g, w, name=name, context="after failed calls")



# A constructor that raises leaves its half-built `self` in the traceback, where pytest, a debugger
# or a logging handler shows it; `cls.__new__(cls)` makes one too. Using one must raise TypeError,
# never crash: the checks run in a child process so that a crash fails the test, not the run.
_HALF_BUILT = r"""
import numpy as np, lstmrt
from lstmrt import _core

def failed_layer():
    try:
        lstmrt.ops.GRU(np.zeros((1, 12, 3), np.float32), np.zeros((1, 11, 4), np.float32))
    except ValueError as e:
        tb = e.__traceback__
        while "self" not in tb.tb_frame.f_locals:
            tb = tb.tb_next
        return tb.tb_frame.f_locals["self"]

layer = failed_layer()
x = np.zeros((1, 1, 3), np.float32)
stream = _core.GraphStream.__new__(_core.GraphStream)
pool = _core.StreamPool.__new__(_core.StreamPool)
uses = {
    "repr(layer)": lambda: repr(layer), "layer.hidden_size": lambda: layer.hidden_size,
    "layer(x)": lambda: layer(x), "layer.stream()": lambda: layer.stream(),
    "new RnnLayer": lambda: _core.RnnLayer.__new__(_core.RnnLayer).run(x),
    "stream.run": lambda: stream.run(None, {}), "stream.reset": lambda: stream.reset(),
    "stream.get_state": lambda: stream.get_state(), "stream.carry": lambda: stream.carry,
    "pool.open": lambda: pool.open(), "pool.run": lambda: pool.run([0], None, {}),
    "len(pool)": lambda: len(pool), "pool.get_state": lambda: pool.get_state(0),
}
for name, use in uses.items():
    try:
        use()
    except TypeError as e:
        assert "__init__ did not complete" in str(e), (name, e)
        print(name, "refused")
    else:
        raise AssertionError(name + ": a half-built object was usable")
"""


def test_half_built_objects_refuse_use_instead_of_crashing():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _HALF_BUILT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.count("refused") == 13, done.stdout

"""lstmrt.ops.lstm/gru/rnn against the float64 NumPy reference, over the
seeded sweep of configurations in configs.py.

Tolerances (configs.tolerance) are absolute plus relative and scale with the
accumulation length and the sequence length; the reasoning is in that
function's docstring.
"""

import numpy as np
import pytest

import configs
import reference
from checks import assert_close, assert_outputs_close

import lstmrt

CASES = configs.sweep()


def run_lstmrt(case, inputs):
    args, kwargs = configs.call_args(case, inputs)
    return getattr(lstmrt.ops, case.cell)(*args, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=configs.case_id)
def test_matches_reference(case):
    seed, expected = configs.materialize(case)
    inputs = case.inputs(seed)
    got = run_lstmrt(case, inputs)
    atol, rtol = configs.tolerance(case)
    assert_outputs_close(got, expected, atol=atol, rtol=rtol, names=case.output_names,
                         context=case.describe())


def _len0_rows(case, inputs):
    lens = inputs["sequence_lens"]
    return [] if lens is None else [int(b) for b in np.flatnonzero(lens == 0)]


@pytest.mark.parametrize("case", [c for c in CASES if c.lens in ("ragged", "zero")],
                         ids=configs.case_id)
def test_zero_length_keeps_initial_state(case):
    """lstmrt's rule (unlike onnxruntime, which returns zeros): a sequence of
    length 0 produces zero Y and returns its initial state as Y_h / Y_c."""
    seed, _ = configs.materialize(case)
    inputs = case.inputs(seed)
    rows = _len0_rows(case, inputs)
    assert rows, "the ragged/zero generator always makes a length-0 row"
    got = run_lstmrt(case, inputs)
    nd, H = case.num_directions, case.hidden
    states = [("initial_h", 1)] + ([("initial_c", 2)] if case.cell == "lstm" else [])
    Y = got[0] if case.layout == 0 else got[0].transpose(1, 2, 0, 3)
    for b in rows:
        assert not np.any(Y[:, :, b, :]), f"Y of the length-0 sequence {b} is not zero"
        for name, k in states:
            init = inputs[name]
            out = got[k]
            if case.layout == 1:
                init = None if init is None else init.transpose(1, 0, 2)
                out = out.transpose(1, 0, 2)
            want = np.zeros((nd, H), np.float32) if init is None else init[:, b, :]
            assert_close(out[:, b, :], want, atol=0, rtol=0,
                         name=f"{case.output_names[k]} of length-0 sequence {b}")


def test_sweep_covers_what_it_promises():
    """The generator keeps its promises: sizes, lengths, attributes, and every
    activation with both default and explicit alpha/beta."""
    cells = {c.cell for c in CASES}
    assert cells == {"lstm", "gru", "rnn"}
    for attr, wanted in [("input_size", {1, 3, 37, 200}), ("hidden", {1, 3, 37, 200})]:
        have = {getattr(c, attr) for c in CASES}
        assert wanted <= have, f"{attr}: missing {wanted - have}"
    assert max(c.batch for c in CASES) >= 200
    assert max(c.seq for c in CASES) >= 1000
    assert {"none", "full", "zero", "ragged", "ragged_nonzero"} <= {c.lens for c in CASES}
    assert {0, 1} <= {c.layout for c in CASES}
    assert set(configs.DIRECTIONS) <= {c.direction for c in CASES}
    for cell in ("lstm", "gru", "rnn"):
        mine = [c for c in CASES if c.cell == cell]
        used = {(n, c.alpha is not None or c.beta is not None)
                for c in mine for n in (c.activations or ())}
        for name in reference.ACTIVATION_NAMES:
            assert (name, False) in used, f"{cell}: {name} never used with default alpha/beta"
            if name in configs.PARAM_RANGES:
                assert (name, True) in used, f"{cell}: {name} never used with explicit alpha/beta"
        assert any(c.clip is not None for c in mine)
        assert any(not c.pass_hidden_size for c in mine)
        assert any(not c.bias for c in mine) and any(not c.init_h for c in mine)
    lstm = [c for c in CASES if c.cell == "lstm"]
    assert any(c.peephole for c in lstm) and any(c.input_forget for c in lstm)
    assert any(c.linear_before_reset for c in CASES if c.cell == "gru")


# ---------------------------------------------------------------------------
# Hand-computed pins of the semantic choices, independent of the reference.
# With W = R = B = 0 every gate pre-activation is 0 (plus peepholes), so the
# expected values can be written down directly.

def _zero_lstm(H=1, N=1, S=1):
    z = np.zeros
    return dict(X=z((S, N, 1), np.float32), W=z((1, 4 * H, 1), np.float32),
                R=z((1, 4 * H, H), np.float32))


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_lstm_clip_leaves_cell_state_fed_to_h_unclipped():
    """i = f = o = 0.5, g = 0, so C_1 = 0.5*C_0 = 5.  clip bounds the gates'
    pre-activations only, so h = 0.5*tanh(5), as onnxruntime computes (the
    onnx reference evaluator ignores clip); Y_c stays 5.
    reference.LSTM_CLIPS_CELL_STATE records lstmrt's choice."""
    d = _zero_lstm()
    c0 = np.full((1, 1, 1), 10.0, np.float32)
    Y, Y_h, Y_c = lstmrt.ops.lstm(**d, initial_c=c0, clip=1.0)
    c_into_h = 1.0 if reference.LSTM_CLIPS_CELL_STATE else 5.0
    assert_close(Y_h, np.full((1, 1, 1), 0.5 * np.tanh(c_into_h)), atol=1e-7, rtol=1e-6, name="Y_h")
    assert_close(Y_c, np.full((1, 1, 1), 5.0), atol=1e-6, rtol=0, name="Y_c (unclipped)")


def test_lstm_peephole_order_and_new_cell_state_for_o():
    """P = [P_i, P_o, P_f].  i and f look at C_0, o at the new C_1."""
    d = _zero_lstm()
    c0 = np.full((1, 1, 1), 1.0, np.float32)
    pi, po, pf = 0.5, 2.0, -1.0
    P = np.array([[pi, po, pf]], np.float32)
    Y, Y_h, Y_c = lstmrt.ops.lstm(**d, initial_c=c0, P=P)
    i, f = _sig(pi * 1.0), _sig(pf * 1.0)
    c1 = f * 1.0 + i * 0.0
    o = _sig(po * c1)
    assert_close(Y_c, np.full((1, 1, 1), c1), atol=1e-7, rtol=1e-6, name="Y_c")
    assert_close(Y_h, np.full((1, 1, 1), o * np.tanh(c1)), atol=1e-7, rtol=1e-6, name="Y_h")


def test_lstm_input_forget_couples_gates():
    """input_forget=1: f = 1 - i, whatever the f weights and peephole say."""
    d = _zero_lstm()
    d["W"][0, 2 * 1:3 * 1] = 5.0          # f's weights: ignored
    d["X"][:] = 1.0
    B = np.zeros((1, 8), np.float32)
    B[0, 0] = 1.0                          # i pre-activation 1
    B[0, 3] = 0.5                          # g pre-activation 0.5
    c0 = np.full((1, 1, 1), 2.0, np.float32)
    P = np.array([[0.0, 0.0, 3.0]], np.float32)
    _, _, Y_c = lstmrt.ops.lstm(**d, B=B, initial_c=c0, P=P, input_forget=1)
    i = _sig(1.0)
    assert_close(Y_c, np.full((1, 1, 1), (1 - i) * 2.0 + i * np.tanh(0.5)), atol=1e-6, rtol=1e-6,
                 name="Y_c")


def test_reverse_starts_at_each_sequence_last_valid_step():
    """RNN with Relu, W = 1, R = 1, no bias: h_t = h_{t+1} + x_t backwards, so
    Y_h is the sum of the valid inputs and Y[t] the suffix sums up to the
    sequence's own end; steps past the end are zero."""
    X = np.arange(1, 6, dtype=np.float32).reshape(5, 1, 1).repeat(2, axis=1)  # 1..5 per batch
    W = np.ones((1, 1, 1), np.float32)
    R = np.ones((1, 1, 1), np.float32)
    lens = np.array([5, 3], np.int32)
    Y, Y_h = lstmrt.ops.rnn(X, W, R, sequence_lens=lens, direction="reverse", activations=["Relu"])
    want_Y = np.zeros((5, 1, 2, 1), np.float32)
    want_Y[:, 0, 0, 0] = [15, 14, 12, 9, 5]
    want_Y[:3, 0, 1, 0] = [6, 5, 3]
    assert_close(Y, want_Y, atol=0, rtol=1e-7, name="Y")
    assert_close(Y_h, np.array([[[15], [6]]], np.float32), atol=0, rtol=1e-7, name="Y_h")

"""A NumPy reference for the ONNX LSTM, GRU and RNN operators.

It is written from the equations in the ONNX operator documentation (opsets 7,
14 and 22) and from the semantic decisions of lstmrt, and it is deliberately
simple: one time step at a time, the whole batch at once, in float64 unless a
caller asks for another dtype.  Where ONNX leaves a choice open, the choice
made here is lstmrt's and is stated where it is made:

* ``sequence_lens``: a sequence of length L updates its state at steps
  0..L-1 only.  Y is zero at steps >= L.  Y_h (and Y_c) hold the state after
  the last valid step.  The reverse direction starts at the sequence's own
  last valid step L-1 and runs down to step 0.  A length of 0 gives zero Y
  and Y_h/Y_c equal to the *initial* state (onnxruntime returns zeros here).
* ``clip`` bounds the gates' pre-activations to [-clip, clip].  For LSTM,
  C_t goes into h() unclipped, as in onnxruntime (the ONNX text could be read
  to clip it too, as an activation input); ``LSTM_CLIPS_CELL_STATE``
  below is the one place that states the choice.
* Peepholes P are [num_directions, 3*hidden] in the order i, o, f.  The i and
  f gates look at C_{t-1}, the o gate at the new C_t.
* ``activation_alpha`` / ``activation_beta`` are consumed in the order of the
  activation list (all directions, in order), and only by the activations
  that take that parameter; an activation that finds the list exhausted uses
  its default.  This is how onnxruntime's LSTM and GRU kernels read them.
* Defaults of alpha and beta are those of the ONNX operator of the same name
  (see ``ACTIVATION_PARAMS``).

The functions take the same arguments as ``lstmrt.ops.lstm/gru/rnn`` so that
a test can pass one keyword dictionary to both.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

# name -> (takes alpha, takes beta, default alpha, default beta).
# LeakyRelu, ThresholdedRelu, HardSigmoid and Elu take the defaults of the
# ONNX operators of the same name.  Affine and ScaledTanh were experimental
# ONNX operators (removed in opset 10): Affine's schema had alpha=1, beta=0;
# ScaledTanh's had no defaults, and alpha=1, beta=1 is what onnxruntime's
# contrib ScaledTanh kernel uses, so the defaults give the identity and plain
# tanh.  NOTE: onnxruntime 1.31's LSTM/GRU/RNN kernels agree for LeakyRelu
# (0.01), HardSigmoid (0.2, 0.5) and Elu (1.0) but default Affine,
# ScaledTanh and ThresholdedRelu to alpha=beta=0 (so Affine and ScaledTanh
# are constant 0 and ThresholdedRelu is a plain Relu there).
ACTIVATION_PARAMS: Dict[str, Tuple[bool, bool, float, float]] = {
    "Sigmoid": (False, False, 0.0, 0.0),
    "Tanh": (False, False, 0.0, 0.0),
    "Relu": (False, False, 0.0, 0.0),
    "Affine": (True, True, 1.0, 0.0),
    "LeakyRelu": (True, False, 0.01, 0.0),
    "ThresholdedRelu": (True, False, 1.0, 0.0),
    "ScaledTanh": (True, True, 1.0, 1.0),
    "HardSigmoid": (True, True, 0.2, 0.5),
    "Elu": (True, False, 1.0, 0.0),
    "Softsign": (False, False, 0.0, 0.0),
    "Softplus": (False, False, 0.0, 0.0),
}
ACTIVATION_NAMES: Tuple[str, ...] = tuple(ACTIVATION_PARAMS)

# Activations whose output jumps at some input (ThresholdedRelu at alpha).
# Tests keep the pre-activations of these away from the jump, see ``Trace``.
DISCONTINUOUS = frozenset({"ThresholdedRelu"})

# Whether clip also bounds C_t on its way into h(). The ONNX text says clip
# "is applied to the input of activations", which C_t is; lstmrt, like
# onnxruntime, does not clip it. Every test that depends on the choice reads
# it from here.
LSTM_CLIPS_CELL_STATE = False

DEFAULT_ACTIVATIONS = {
    "lstm": ("Sigmoid", "Tanh", "Tanh"),
    "gru": ("Sigmoid", "Tanh"),
    "rnn": ("Tanh",),
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def random_weights(rng: np.random.Generator, cell: str, hidden: int, input_size: int, *, directions: int = 1,
                   scale: Optional[float] = 0.3, bias_scale: float = 0.1, peepholes: bool = False) -> dict:
    """Normal float32 W, R and B (and P with ``peepholes``) of the shapes ONNX gives ``cell``.

    ``scale`` multiplies W and R; None scales each by 1/sqrt(its fan-in), which keeps the gates'
    pre-activations near unit size at any width.
    """
    g = GATES[cell.lower()]

    def normal(shape, s):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    w = {"W": normal((directions, g * hidden, input_size), input_size ** -0.5 if scale is None else scale),
         "R": normal((directions, g * hidden, hidden), hidden ** -0.5 if scale is None else scale),
         "B": normal((directions, 2 * g * hidden), bias_scale)}
    if peepholes:
        w["P"] = normal((directions, 3 * hidden), bias_scale)
    return w


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows; pick the algebraic form that stays accurate.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def apply_activation(name: str, x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """One ONNX RNN activation, elementwise, in the dtype of ``x``.

    NaN in gives NaN out for every function (comparisons are written so that
    NaN falls through to an arithmetic branch that propagates it).
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if name == "Sigmoid":
            return _sigmoid(x)
        if name == "Tanh":
            return np.tanh(x)
        if name == "Relu":
            return np.where(x < 0, 0.0, x).astype(x.dtype)
        if name == "Affine":
            return (alpha * x + beta).astype(x.dtype)
        if name == "LeakyRelu":
            return np.where(x < 0, alpha * x, x).astype(x.dtype)
        if name == "ThresholdedRelu":
            # ONNX ThresholdedRelu: y = x for x > alpha, else 0.
            return np.where(x <= alpha, 0.0, x).astype(x.dtype)
        if name == "ScaledTanh":
            return (alpha * np.tanh(beta * x)).astype(x.dtype)
        if name == "HardSigmoid":
            y = alpha * x + beta
            return np.where(y < 0, 0.0, np.where(y > 1, 1.0, y)).astype(x.dtype)
        if name == "Elu":
            return np.where(x < 0, alpha * np.expm1(x), x).astype(x.dtype)
        if name == "Softsign":
            # The limits +-1 at +-inf (x/(1+|x|) would give inf/inf = NaN there).
            return np.where(np.isinf(x), np.sign(x), x / (1.0 + np.abs(x))).astype(x.dtype)
        if name == "Softplus":
            # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
            return np.where(np.isnan(x), x, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))
    raise ValueError(f"activations: unknown activation {name!r}")


class Trace:
    """Collects, during a reference run, how close any pre-activation came to
    a discontinuity of its activation function (ThresholdedRelu's alpha).

    A float32 engine and a float64 reference can legitimately land on opposite
    sides of the jump when the input is within rounding error of it; tests use
    ``min_margin`` to reject such inputs instead of loosening tolerances.
    """

    def __init__(self) -> None:
        self.min_margin = math.inf

    def note(self, name: str, x: np.ndarray, alpha: float) -> None:
        if name in DISCONTINUOUS and x.size:
            self.min_margin = min(self.min_margin, float(np.min(np.abs(x - alpha))))


def resolve_activations(
    cell: str,
    num_directions: int,
    activations: Optional[Sequence[str]] = None,
    activation_alpha: Optional[Sequence[float]] = None,
    activation_beta: Optional[Sequence[float]] = None,
) -> List[List[Tuple[str, float, float]]]:
    """Returns, per direction, the list of (name, alpha, beta) of each
    gate function (LSTM: f, g, h; GRU: f, g; RNN: f)."""
    k = len(DEFAULT_ACTIVATIONS[cell])
    if activations is None:
        names = list(DEFAULT_ACTIVATIONS[cell]) * num_directions
    else:
        names = list(activations)
        if len(names) != k * num_directions:
            raise ValueError(
                f"activations: expected {k * num_directions} names, got {len(names)}")
    alphas = list(activation_alpha) if activation_alpha is not None else []
    betas = list(activation_beta) if activation_beta is not None else []
    ai = bi = 0
    resolved = []
    for name in names:
        if name not in ACTIVATION_PARAMS:
            raise ValueError(f"activations: unknown activation {name!r}")
        takes_a, takes_b, def_a, def_b = ACTIVATION_PARAMS[name]
        a, b = def_a, def_b
        if takes_a and ai < len(alphas):
            a = float(alphas[ai])
            ai += 1
        if takes_b and bi < len(betas):
            b = float(betas[bi])
            bi += 1
        resolved.append((name, a, b))
    return [resolved[d * k:(d + 1) * k] for d in range(num_directions)]


def _num_directions(direction: str) -> int:
    if direction in ("forward", "reverse"):
        return 1
    if direction == "bidirectional":
        return 2
    raise ValueError(f"direction: expected forward, reverse or bidirectional, got {direction!r}")


def _run(
    cell: str,
    X, W, R, B, sequence_lens, initial_h, initial_c, P,
    hidden_size, direction, layout, activations, activation_alpha, activation_beta,
    clip, input_forget, linear_before_reset, dtype, trace: Optional[Trace],
    clip_cell_state: Optional[bool] = None,
):
    dt = np.dtype(dtype)
    if clip_cell_state is None:
        clip_cell_state = LSTM_CLIPS_CELL_STATE
    nd = _num_directions(direction)
    G = GATES[cell]
    X = np.asarray(X).astype(dt)
    W = np.asarray(W).astype(dt)
    R = np.asarray(R).astype(dt)
    if hidden_size is None:
        hidden_size = R.shape[-1]
    H = int(hidden_size)
    if layout == 1:
        X = X.transpose(1, 0, 2)
    elif layout != 0:
        raise ValueError(f"layout: expected 0 or 1, got {layout!r}")
    S, N, I = X.shape
    if W.shape != (nd, G * H, I) or R.shape != (nd, G * H, H):
        raise ValueError(f"W/R: bad shapes {W.shape}, {R.shape}")

    def state(v):
        if v is None:
            return np.zeros((nd, N, H), dt)
        v = np.asarray(v).astype(dt)
        return v.transpose(1, 0, 2) if layout == 1 else v

    h0 = state(initial_h)
    c0 = state(initial_c)
    if B is None:
        B = np.zeros((nd, 2 * G * H), dt)
    B = np.asarray(B).astype(dt)
    if P is None:
        P = np.zeros((nd, 3 * H), dt)
    P = np.asarray(P).astype(dt)
    if sequence_lens is None:
        lens = np.full(N, S, np.int64)
    else:
        lens = np.asarray(sequence_lens).astype(np.int64)
        if lens.shape != (N,) or np.any(lens < 0) or np.any(lens > S):
            raise ValueError("sequence_lens: out of range")
    acts = resolve_activations(cell, nd, activations, activation_alpha, activation_beta)

    def act(k, x, d):
        name, a, b = acts[d][k]
        if clip is not None:
            x = np.clip(x, -clip, clip)
        if trace is not None:
            trace.note(name, x, a)
        return apply_activation(name, x, a, b)

    Y = np.zeros((S, nd, N, H), dt)
    Y_h = np.zeros((nd, N, H), dt)
    Y_c = np.zeros((nd, N, H), dt)
    for d in range(nd):
        reverse = direction == "reverse" or d == 1
        Wd, Rd = W[d], R[d]
        Wb, Rb = B[d, :G * H], B[d, G * H:]
        h = h0[d].copy()
        c = c0[d].copy()
        steps = range(S - 1, -1, -1) if reverse else range(S)
        for t in steps:
            valid = (t < lens)[:, None]
            xw = X[t] @ Wd.T + Wb
            hr = h @ Rd.T + Rb
            if cell == "lstm":
                # ONNX gate order in W, R, B: i, o, f, c.  P order: i, o, f.
                gi, go, gf, gc = (xw[:, k * H:(k + 1) * H] + hr[:, k * H:(k + 1) * H] for k in range(4))
                pi, po, pf = P[d, :H], P[d, H:2 * H], P[d, 2 * H:]
                i = act(0, gi + pi * c, d)
                if input_forget:
                    f = 1.0 - i
                else:
                    f = act(0, gf + pf * c, d)
                g = act(1, gc, d)
                c_new = f * c + i * g
                o = act(0, go + po * c_new, d)
                # clip_cell_state=True would clip C_t on its way into h() (one reading
                # of the ONNX text); lstmrt and onnxruntime do not (the default).
                if clip_cell_state:
                    h_act = act(2, c_new, d)
                else:
                    name, a, b = acts[d][2]
                    h_act = apply_activation(name, c_new, a, b)
                h_new = o * h_act
                c = np.where(valid, c_new, c)
            elif cell == "gru":
                # ONNX gate order in W, R, B: z, r, h.
                z = act(0, xw[:, :H] + hr[:, :H], d)
                r = act(0, xw[:, H:2 * H] + hr[:, H:2 * H], d)
                if linear_before_reset:
                    hh = act(1, xw[:, 2 * H:] + r * hr[:, 2 * H:], d)
                else:
                    hh = act(1, xw[:, 2 * H:] + (r * h) @ Rd[2 * H:].T + Rb[2 * H:], d)
                h_new = (1.0 - z) * hh + z * h
            else:
                h_new = act(0, xw + hr, d)
            h = np.where(valid, h_new, h)
            Y[t, d] = np.where(valid, h_new, 0.0)
        Y_h[d] = h
        Y_c[d] = c
    if layout == 1:
        Y = Y.transpose(2, 0, 1, 3)
        Y_h = Y_h.transpose(1, 0, 2)
        Y_c = Y_c.transpose(1, 0, 2)
    return Y, Y_h, Y_c


def lstm(X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None, *,
         hidden_size=None, direction="forward", layout=0, activations=None,
         activation_alpha=None, activation_beta=None, clip=None, input_forget=0,
         dtype=np.float64, trace: Optional[Trace] = None,
         clip_cell_state: Optional[bool] = None):
    """ONNX LSTM.  Returns (Y, Y_h, Y_c) in ``dtype``.

    ``clip_cell_state`` says whether clip also bounds C_t on its way into h();
    None means lstmrt's choice (``LSTM_CLIPS_CELL_STATE``), False is what
    onnxruntime does.
    """
    return _run("lstm", X, W, R, B, sequence_lens, initial_h, initial_c, P, hidden_size,
                direction, layout, activations, activation_alpha, activation_beta, clip,
                input_forget, 0, dtype, trace, clip_cell_state)


def gru(X, W, R, B=None, sequence_lens=None, initial_h=None, *,
        hidden_size=None, direction="forward", layout=0, activations=None,
        activation_alpha=None, activation_beta=None, clip=None, linear_before_reset=0,
        dtype=np.float64, trace: Optional[Trace] = None):
    """ONNX GRU.  Returns (Y, Y_h) in ``dtype``."""
    Y, Y_h, _ = _run("gru", X, W, R, B, sequence_lens, initial_h, None, None, hidden_size,
                     direction, layout, activations, activation_alpha, activation_beta, clip,
                     0, linear_before_reset, dtype, trace)
    return Y, Y_h


def rnn(X, W, R, B=None, sequence_lens=None, initial_h=None, *,
        hidden_size=None, direction="forward", layout=0, activations=None,
        activation_alpha=None, activation_beta=None, clip=None,
        dtype=np.float64, trace: Optional[Trace] = None):
    """ONNX RNN.  Returns (Y, Y_h) in ``dtype``."""
    Y, Y_h, _ = _run("rnn", X, W, R, B, sequence_lens, initial_h, None, None, hidden_size,
                     direction, layout, activations, activation_alpha, activation_beta, clip,
                     0, 0, dtype, trace)
    return Y, Y_h


FUNCTIONS: Dict[str, Callable] = {"lstm": lstm, "gru": gru, "rnn": rnn}

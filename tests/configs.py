"""The seeded sweep of LSTM/GRU/RNN configurations shared by the reference
test and the onnxruntime test.

``sweep()`` returns the same list of ``Case`` objects on every call: a set of
hand-written corner cases, one case per (cell, activation, explicit or
default alpha/beta), and a seeded random draw over sizes and attributes.
Sizes are kept so that the float64 reference (a Python loop over time steps)
stays fast; the one long sequence is narrow.

Weights are drawn so that the recurrence is contractive (R's entries are
uniform in +-0.8/sqrt(hidden), W's in +-1/sqrt(input)): gate pre-activations
are O(1) and the unbounded activations (Relu, Affine, Softplus, ...) cannot
blow up over time, so differences stay at rounding level rather than being
amplified by an unstable recurrence.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

import reference

CELLS = ("lstm", "gru", "rnn")
DIRECTIONS = ("forward", "reverse", "bidirectional")
OUTPUT_NAMES = {"lstm": ("Y", "Y_h", "Y_c"), "gru": ("Y", "Y_h"), "rnn": ("Y", "Y_h")}

# Activations whose output is bounded for any input; the others may grow, so
# cases that use them as gates are kept short (see ``_limit_for_unbounded``).
BOUNDED = frozenset({"Sigmoid", "Tanh", "HardSigmoid", "Softsign", "ScaledTanh"})

# Explicit alpha/beta ranges per activation: wide enough to be distinguishable
# from the defaults, narrow enough to keep the recurrence contractive.
PARAM_RANGES = {
    "Affine": ((-1.1, 1.1), (-0.5, 0.5)),
    "LeakyRelu": ((0.02, 0.9), None),
    "ThresholdedRelu": ((-0.4, 0.6), None),
    "ScaledTanh": ((0.3, 1.7), (0.3, 2.0)),
    "HardSigmoid": ((0.1, 0.6), (0.2, 0.8)),
    "Elu": ((0.1, 1.5), None),
}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    cell: str
    direction: str = "forward"
    layout: int = 0
    seq: int = 5
    batch: int = 3
    input_size: int = 4
    hidden: int = 5
    lens: str = "none"            # none | full | zero | ragged (has 0 and full) | ragged_nonzero
    bias: bool = True
    init_h: bool = True
    init_c: bool = True           # LSTM only
    peephole: bool = False        # LSTM only
    activations: Optional[Tuple[str, ...]] = None
    alpha: Optional[Tuple[float, ...]] = None
    beta: Optional[Tuple[float, ...]] = None
    clip: Optional[float] = None
    input_forget: int = 0         # LSTM only
    linear_before_reset: int = 0  # GRU only
    pass_hidden_size: bool = True
    x_scale: float = 1.0
    seed: int = 0

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @property
    def output_names(self) -> Tuple[str, ...]:
        return OUTPUT_NAMES[self.cell]

    @property
    def k(self) -> int:
        """Largest accumulation length of one output: input + hidden."""
        return self.input_size + self.hidden

    def attributes(self) -> Dict[str, object]:
        """Keyword attributes for lstmrt.ops.* and reference.* (None = absent)."""
        kw: Dict[str, object] = {
            "hidden_size": self.hidden if self.pass_hidden_size else None,
            "direction": self.direction,
            "layout": self.layout,
            "activations": list(self.activations) if self.activations is not None else None,
            "activation_alpha": list(self.alpha) if self.alpha is not None else None,
            "activation_beta": list(self.beta) if self.beta is not None else None,
            "clip": self.clip,
        }
        if self.cell == "lstm":
            kw["input_forget"] = self.input_forget
        if self.cell == "gru":
            kw["linear_before_reset"] = self.linear_before_reset
        return kw

    def inputs(self, data_seed: Optional[int] = None) -> Dict[str, Optional[np.ndarray]]:
        """Input arrays (float32, lens int32), keyed by ONNX input name."""
        return _inputs(self, self.seed if data_seed is None else data_seed)

    def describe(self) -> str:
        fields = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                  if getattr(self, f.name) != f.default or f.name in ("cell",)]
        return "Case(" + ", ".join(fields) + ")"


def _inputs(case: Case, seed: int) -> Dict[str, Optional[np.ndarray]]:
    rng = np.random.default_rng(seed)
    nd, S, N, I, H = case.num_directions, case.seq, case.batch, case.input_size, case.hidden
    G = reference.GATES[case.cell]

    def u(scale, *shape):
        return (rng.uniform(-1.0, 1.0, shape) * scale).astype(np.float32)

    X = u(case.x_scale, S, N, I)
    W = u(1.0 / math.sqrt(I), nd, G * H, I)
    R = u(0.8 / math.sqrt(H), nd, G * H, H)
    B = u(0.5, nd, 2 * G * H) if case.bias else None
    h0 = u(1.0, nd, N, H) if case.init_h else None
    c0 = u(2.0, nd, N, H) if (case.cell == "lstm" and case.init_c) else None
    P = u(0.5, nd, 3 * H) if (case.cell == "lstm" and case.peephole) else None
    lens = None
    if case.lens == "full":
        lens = np.full(N, S, np.int32)
    elif case.lens == "zero":
        lens = np.zeros(N, np.int32)
    elif case.lens in ("ragged", "ragged_nonzero"):
        low = 0 if case.lens == "ragged" else 1
        lens = rng.integers(low, S + 1, N).astype(np.int32)
        if case.lens == "ragged":
            lens[0] = 0
        if case.lens == "ragged" and N >= 2:
            lens[-1] = S
        if case.lens == "ragged" and N >= 3:
            lens[1] = max(1, S // 2)
    if case.layout == 1:
        X = np.ascontiguousarray(X.transpose(1, 0, 2))
        h0 = None if h0 is None else np.ascontiguousarray(h0.transpose(1, 0, 2))
        c0 = None if c0 is None else np.ascontiguousarray(c0.transpose(1, 0, 2))
    out = {"X": X, "W": W, "R": R, "B": B, "sequence_lens": lens, "initial_h": h0}
    if case.cell == "lstm":
        out["initial_c"] = c0
        out["P"] = P
    return out


def call_args(case: Case, inputs: Dict[str, Optional[np.ndarray]]) -> Tuple[tuple, dict]:
    """Positional inputs and keyword attributes for lstmrt.ops.<cell>."""
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h"]
    if case.cell == "lstm":
        names += ["initial_c", "P"]
    return tuple(inputs[n] for n in names), case.attributes()


# Margin kept between any ThresholdedRelu input and its threshold, relative
# to the input's scale: float32 rounding of a pre-activation is ~1e-6 of it.
THRESHOLD_MARGIN = 2e-4


@functools.lru_cache(maxsize=None)
def materialize(case: Case) -> Tuple[int, Tuple]:
    """Returns (data seed, float64 reference outputs).

    For a case with a discontinuous activation (ThresholdedRelu), data seeds
    are tried in turn until no pre-activation falls within THRESHOLD_MARGIN
    of the jump, so that a float32 engine and the float64 reference cannot
    legitimately disagree by a whole step.
    """
    fn = reference.FUNCTIONS[case.cell]
    names = case.activations or ()
    discontinuous = any(n in reference.DISCONTINUOUS for n in names)
    for attempt in range(50):
        seed = case.seed + 7919 * attempt
        inputs = _inputs(case, seed)
        args, kwargs = call_args(case, inputs)
        trace = reference.Trace()
        outs = fn(*args, **kwargs, trace=trace)
        if not discontinuous or trace.min_margin > THRESHOLD_MARGIN:
            return seed, outs
    raise RuntimeError(f"no data seed keeps ThresholdedRelu inputs off its threshold: {case}")


def reference_outputs(case: Case, inputs, **extra) -> Tuple:
    args, kwargs = call_args(case, inputs)
    return reference.FUNCTIONS[case.cell](*args, **kwargs, **extra)


def tolerance(case: Case) -> Tuple[float, float]:
    """(atol, rtol) for lstmrt (float32) against the float64 reference.

    The engine computes in float32 (unit roundoff u = 6e-8).  A pre-activation
    is a dot product of length input+hidden; with the weight scaling above
    its rounding error grows like u*sqrt(K) typically and u*K at worst.  The
    vector activation kernels add a few ulp.  The recurrence is contractive,
    so errors do not compound, but each step adds its own; over a long
    sequence they random-walk, growing like sqrt(steps).  Measured over the
    sweep, lstmrt, the reference run in numpy float32, and onnxruntime all
    stay within 15% of these bounds (worst: gru-saturating), which are still
    far below what a real bug (a wrong gate, a wrong step, a missed tail)
    produces: O(0.01..1).
    """
    k_factor = math.sqrt(max(1.0, case.k / 16.0))
    t_factor = math.sqrt(max(1.0, case.seq / 64.0))
    atol = 2e-6 * k_factor * t_factor
    rtol = 2e-5 * k_factor * t_factor
    return atol, rtol


def _act_names(rng, cell: str, nd: int, forced: Optional[Tuple[int, str]] = None):
    k = len(reference.DEFAULT_ACTIVATIONS[cell])
    names = [str(rng.choice(reference.ACTIVATION_NAMES)) for _ in range(k * nd)]
    if forced is not None:
        slot, name = forced
        names[slot] = name
    return tuple(names)


def _params(rng, names) -> Tuple[Optional[Tuple[float, ...]], Optional[Tuple[float, ...]]]:
    """Explicit alpha/beta lists, consumed only by activations that take them."""
    alphas, betas = [], []
    for n in names:
        ranges = PARAM_RANGES.get(n)
        if ranges is None:
            continue
        a_rng, b_rng = ranges
        alphas.append(round(float(rng.uniform(*a_rng)), 4))
        if b_rng is not None:
            betas.append(round(float(rng.uniform(*b_rng)), 4))
    return (tuple(alphas) or None), (tuple(betas) or None)


def _limit_for_unbounded(case: Case) -> Case:
    """Keeps sequences short where an unbounded function drives a gate, so that
    the state cannot grow out of float32's comfortable range."""
    names = case.activations or ()
    k = len(reference.DEFAULT_ACTIVATIONS[case.cell])
    gate_slots = [n for i, n in enumerate(names) if case.cell != "rnn" and i % k == 0]
    if any(n not in BOUNDED for n in gate_slots):
        return dataclasses.replace(case, seq=min(case.seq, 5))
    return case


def _corner_cases() -> List[Case]:
    c = []
    for cell in CELLS:
        c += [
            Case(f"{cell}-minimal", cell, seq=1, batch=1, input_size=1, hidden=1,
                 bias=False, init_h=False, init_c=False),
            Case(f"{cell}-defaults-no-optional", cell, seq=4, batch=2, input_size=3, hidden=3,
                 bias=False, init_h=False, init_c=False, pass_hidden_size=False),
            Case(f"{cell}-wide", cell, seq=3, batch=2, input_size=200, hidden=200,
                 direction="bidirectional", lens="ragged", seed=1),
            Case(f"{cell}-big-batch", cell, seq=4, batch=200, input_size=37, hidden=37,
                 lens="ragged", direction="reverse", seed=2),
            Case(f"{cell}-long", cell, seq=2000, batch=2, input_size=3, hidden=8,
                 direction="bidirectional", lens="ragged_nonzero", seed=3),
            Case(f"{cell}-all-lens-zero", cell, seq=6, batch=4, input_size=3, hidden=5,
                 lens="zero", direction="bidirectional", layout=1, seed=4),
            Case(f"{cell}-layout1-ragged", cell, seq=9, batch=5, input_size=17, hidden=33,
                 lens="ragged", direction="bidirectional", layout=1, seed=5),
            Case(f"{cell}-saturating", cell, seq=20, batch=3, input_size=8, hidden=16,
                 x_scale=8.0, direction="bidirectional", seed=6),
            Case(f"{cell}-clip", cell, seq=10, batch=3, input_size=5, hidden=7, clip=0.4,
                 x_scale=3.0, direction="bidirectional", lens="ragged", seed=7),
        ]
    c += [
        Case("lstm-peephole", "lstm", seq=7, batch=3, input_size=5, hidden=9, peephole=True,
             direction="bidirectional", lens="ragged", seed=10),
        Case("lstm-peephole-input-forget", "lstm", seq=7, batch=3, input_size=5, hidden=9,
             peephole=True, input_forget=1, direction="reverse", seed=11),
        Case("lstm-input-forget-clip", "lstm", seq=7, batch=4, input_size=3, hidden=3,
             input_forget=1, clip=0.7, x_scale=4.0, direction="bidirectional", layout=1, seed=12),
        Case("lstm-peephole-no-init-c", "lstm", seq=5, batch=2, input_size=3, hidden=4,
             peephole=True, init_c=False, seed=13),
        Case("lstm-init-c-only", "lstm", seq=5, batch=2, input_size=3, hidden=4,
             init_h=False, init_c=True, seed=14),
        Case("lstm-clip-cell-state", "lstm", seq=12, batch=3, input_size=4, hidden=6, clip=1.5,
             peephole=True, x_scale=2.0, seed=15),
        Case("gru-linear-before-reset", "gru", seq=8, batch=4, input_size=6, hidden=10,
             linear_before_reset=1, direction="bidirectional", lens="ragged", seed=20),
        Case("gru-linear-before-reset-no-bias", "gru", seq=8, batch=4, input_size=6, hidden=10,
             linear_before_reset=1, bias=False, direction="reverse", layout=1, seed=21),
        Case("gru-linear-before-reset-clip", "gru", seq=8, batch=4, input_size=6, hidden=10,
             linear_before_reset=1, clip=0.5, x_scale=3.0, seed=22),
    ]
    return c


def _activation_cases() -> List[Case]:
    """Every activation in every cell, in a rotating slot, with default and
    with explicit alpha/beta."""
    rng = np.random.default_rng(1234)
    out = []
    for cell in CELLS:
        k = len(reference.DEFAULT_ACTIVATIONS[cell])
        for j, name in enumerate(reference.ACTIVATION_NAMES):
            for explicit in (False, True):
                direction = DIRECTIONS[(j + explicit) % 3]
                nd = 2 if direction == "bidirectional" else 1
                slot = (j + explicit * 2) % (k * nd)
                names = _act_names(rng, cell, nd, forced=(slot, name))
                alpha = beta = None
                if explicit:
                    alpha, beta = _params(rng, names)
                case = Case(
                    f"{cell}-act-{name}-{'explicit' if explicit else 'default'}", cell,
                    direction=direction, seq=int(rng.integers(2, 9)), batch=int(rng.integers(1, 6)),
                    input_size=int(rng.choice([1, 3, 8, 17])), hidden=int(rng.choice([1, 3, 5, 16, 19])),
                    lens=str(rng.choice(["none", "ragged", "ragged_nonzero"])),
                    activations=names, alpha=alpha, beta=beta,
                    clip=(1.5 if (j + explicit) % 4 == 0 else None),
                    layout=int((j + explicit) % 2),
                    peephole=(cell == "lstm" and j % 3 == 0),
                    linear_before_reset=int(cell == "gru" and j % 2 == 1),
                    seed=int(rng.integers(1 << 30)))
                out.append(_limit_for_unbounded(case))
    return out


def _random_cases(n_per_cell: int = 22) -> List[Case]:
    rng = np.random.default_rng(20240611)
    inputs = [1, 2, 3, 5, 8, 16, 17, 33, 37, 64, 200]
    hiddens = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 37, 64, 65, 200]
    batches = [1, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 33, 64, 70]
    seqs = [1, 2, 3, 4, 5, 7, 8, 13, 17, 25, 33, 50]
    out = []
    for cell in CELLS:
        for i in range(n_per_cell):
            I, H = int(rng.choice(inputs)), int(rng.choice(hiddens))
            N, S = int(rng.choice(batches)), int(rng.choice(seqs))
            # Keep the float64 reference cheap: bound steps*batch*hidden.
            while S * N * H * max(H, I) > 4_000_000 and S > 1:
                S = max(1, S // 2)
            direction = str(rng.choice(DIRECTIONS))
            nd = 2 if direction == "bidirectional" else 1
            acts = alpha = beta = None
            r = rng.random()
            if r < 0.3:
                acts = _act_names(rng, cell, nd)
                if rng.random() < 0.5:
                    alpha, beta = _params(rng, acts)
            case = Case(
                f"{cell}-rand{i:02d}", cell, direction=direction, layout=int(rng.random() < 0.3),
                seq=S, batch=N, input_size=I, hidden=H,
                lens=str(rng.choice(["none", "full", "ragged", "ragged_nonzero"])),
                bias=bool(rng.random() < 0.8), init_h=bool(rng.random() < 0.6),
                init_c=bool(rng.random() < 0.6), peephole=bool(cell == "lstm" and rng.random() < 0.4),
                activations=acts, alpha=alpha, beta=beta,
                clip=(float(round(rng.uniform(0.3, 3.0), 3)) if rng.random() < 0.25 else None),
                input_forget=int(cell == "lstm" and rng.random() < 0.2),
                linear_before_reset=int(cell == "gru" and rng.random() < 0.5),
                pass_hidden_size=bool(rng.random() < 0.8),
                x_scale=float(rng.choice([1.0, 1.0, 3.0])),
                seed=int(rng.integers(1 << 30)))
            out.append(_limit_for_unbounded(case))
    return out


@functools.lru_cache(maxsize=1)
def sweep() -> Tuple[Case, ...]:
    cases = tuple(_corner_cases() + _activation_cases() + _random_cases())
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "duplicate case names"
    return cases


def case_id(case: Case) -> str:
    return case.name

"""The ONNX recurrent operators on NumPy arrays.

Functions (``lstm``, ``gru``, ``rnn``) take the ONNX operator's inputs and attributes and return
its outputs. Layer classes (``LSTM``, ``GRU``, ``RNN``) pack the weights once and can then be
called many times. Everything is float32; sequence_lens is int32. Shapes, defaults and
attribute meanings are exactly ONNX's (opsets 7, 14 and 22).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np

from . import _core

__all__ = ["lstm", "gru", "rnn", "LSTM", "GRU", "RNN"]


# Every attribute of the three operators once: its default, and the cells that have it.
_ATTRIBUTE_DEFAULTS = {
    "hidden_size": None, "direction": "forward", "layout": 0, "activations": None,
    "activation_alpha": None, "activation_beta": None, "clip": None,
    "input_forget": 0, "linear_before_reset": 0,
}
_CELL_ONLY = {"input_forget": "LSTM", "linear_before_reset": "GRU"}


def _signature_parameters(cell: str, leading: Sequence[str]) -> list:
    """The parameters of ``cell``'s layer or function, for ``help()`` and ``inspect.signature``."""
    P = inspect.Parameter
    required = 3 if leading[0] == "X" else 2  # X (of the functions), W and R have no default
    params = [P(name, P.POSITIONAL_OR_KEYWORD, **({} if i < required else {"default": None}))
              for i, name in enumerate(leading)]
    params += [P(name, P.KEYWORD_ONLY, default=default) for name, default in _ATTRIBUTE_DEFAULTS.items()
               if _CELL_ONLY.get(name, cell) == cell]
    return params


def _attributes(cell: str, attributes: dict) -> dict:
    """The keyword arguments of _core.RnnLayer for ``cell``, from the caller's attributes (checked)."""
    unknown = [n for n in attributes if n not in _ATTRIBUTE_DEFAULTS or _CELL_ONLY.get(n, cell) != cell]
    if unknown:
        raise TypeError(f"{cell}: unexpected keyword argument {unknown[0]!r}")
    a = {**_ATTRIBUTE_DEFAULTS, **attributes}
    if not isinstance(a["direction"], str):
        raise ValueError(f"direction: expected 'forward', 'reverse' or 'bidirectional', got {a['direction']!r}")
    if isinstance(a["activations"], str):
        raise ValueError("activations: expected a list of activation names, got a single string")
    for name in ("hidden_size", "layout"):
        value = a[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
    return dict(
        hidden_size=None if a["hidden_size"] is None else int(a["hidden_size"]),
        direction=a["direction"],
        layout=int(a["layout"]),
        activations=[str(x) for x in (a["activations"] or [])],
        activation_alpha=[float(x) for x in (a["activation_alpha"] or [])],
        activation_beta=[float(x) for x in (a["activation_beta"] or [])],
        clip=None if a["clip"] is None else float(a["clip"]),
        input_forget=int(a["input_forget"]),
        linear_before_reset=int(a["linear_before_reset"]),
    )


PRECISIONS = ("fp32", "bf16", "int8")
# The share above which a session warns too (registry.cc, kMaxLostWeightFraction).
_MAX_LOST_WEIGHT_FRACTION = 0.25


def check_precision(precision) -> str:
    """Returns ``precision`` when it is one of PRECISIONS; ValueError naming the accepted values otherwise."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision: expected 'fp32', 'bf16' or 'int8', got {precision!r}")
    return precision


class _Layer(_core.RnnLayer):
    """Base of the prepacked layers. Calling one goes straight to C++ (no Python frame)."""

    _cell = ""

    def __init__(self, W, R, B=None, P=None, *, threads=None, precision="fp32", **attributes):
        if P is not None and self._cell != "LSTM":
            raise TypeError(f"{self._cell}: takes no peephole weights P (only LSTM has them)")
        _core.RnnLayer.__init__(
            self, self._cell, W, R, B, P, threads=0 if threads is None else int(threads),
            precision=check_precision(precision), **_attributes(self._cell, attributes))
        for tensor, lost in zip(("W", "R"), self.lost_weight_fraction):
            if lost > _MAX_LOST_WEIGHT_FRACTION:
                warnings.warn(f"{self._cell}: {tensor}: int8 rounds {lost:.0%} of one output channel's nonzero weights "
                              "to 0 (a few large weights set its scale); precision='bf16' or 'fp32' keeps them",
                              RuntimeWarning, stacklevel=3)

    def stream(self) -> "_core.RnnStream":
        """A stateful handle: ``stream(X_chunk)`` continues from the state the previous chunk left.

        ``X_chunk`` is float32 [chunk_length, batch_size, input_size] (layout 1: batch first), and
        the call returns what the layer returns for that chunk. ``reset()`` forgets the state;
        ``get_state()`` returns copies ``{"h": [1, batch_size, hidden_size], "c": ...}`` (LSTM
        only for "c"), ``set_state(d)`` restores them; a fed ``initial_h`` / ``initial_c``
        replaces the state for that call. Reverse and bidirectional layers cannot stream.
        """
        return _core.RnnLayer.stream(self)

    def __repr__(self) -> str:
        acts = ", ".join(name for name, _, _ in self.activations)
        return (f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"num_directions={self.num_directions}, layout={self.layout}, activations=[{acts}])")


# The layers' and functions' docstrings are filled in from _LAYER_DOC and _FUNCTION_DOC below.
class LSTM(_Layer):
    _cell = "LSTM"


class GRU(_Layer):
    _cell = "GRU"


class RNN(_Layer):
    _cell = "RNN"


def lstm(X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None,
         **attributes) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    return LSTM(W, R, B, P, **attributes)(X, sequence_lens, initial_h, initial_c)


def gru(X, W, R, B=None, sequence_lens=None, initial_h=None, **attributes) -> Tuple[np.ndarray, np.ndarray]:
    return GRU(W, R, B, **attributes)(X, sequence_lens, initial_h)


def rnn(X, W, R, B=None, sequence_lens=None, initial_h=None, **attributes) -> Tuple[np.ndarray, np.ndarray]:
    return RNN(W, R, B, **attributes)(X, sequence_lens, initial_h)


# The docstrings of the three cells, from one text: what differs is the gate order, the LSTM's
# cell state and peepholes, and the attribute only one cell has.
_CELL_DOC = {
    "LSTM": dict(name="LSTM", gates=4, order=" in ONNX gate order i, o, f, c", states="initial_h, initial_c",
                 outputs="(Y, Y_h, Y_c)", weights="W, R, B=None, P=None",
                 extra_inputs="    - ``initial_h`` / ``initial_c``: [D, batch_size, hidden_size] or None for zeros\n"
                              "    - ``P``: [D, 3*hidden_size] peephole weights in order i, o, f, or None\n",
                 last="``Y_h`` / ``Y_c`` [D, batch_size, hidden_size] (layout 1: [batch_size, D, hidden_size]): every "
                      "step's hidden state, and the last one (and the last cell state)",
                 attribute=", ``input_forget`` (couple the input and forget gates)"),
    "GRU": dict(name="GRU", gates=3, order=" in ONNX gate order z, r, h", states="initial_h",
                outputs="(Y, Y_h)", weights="W, R, B=None",
                extra_inputs="    - ``initial_h``: [D, batch_size, hidden_size] or None for zeros\n",
                last="``Y_h`` [D, batch_size, hidden_size] (layout 1: [batch_size, D, hidden_size]): every step's "
                     "hidden state, and the last one",
                attribute=", ``linear_before_reset`` (apply the reset gate after the recurrent product)"),
    "RNN": dict(name="RNN (Elman)", gates=1, order="", states="initial_h", outputs="(Y, Y_h)", weights="W, R, B=None",
                extra_inputs="    - ``initial_h``: [D, batch_size, hidden_size] or None for zeros\n",
                last="``Y_h`` [D, batch_size, hidden_size] (layout 1: [batch_size, D, hidden_size]): every step's "
                     "hidden state, and the last one",
                attribute=""),
}

_FUNCTION_DOC = """Runs the ONNX {name} operator on arrays and returns ``{outputs}``.

    Shapes (D = num_directions: 1, or 2 for ``direction="bidirectional"``; G = {gates} gates;
    all arrays float32 unless noted; ``layout=1`` swaps the first two axes of X, Y and the states):

    - ``X``: [seq_length, batch_size, input_size] (layout 1: [batch_size, seq_length, input_size])
    - ``W``: [D, G*hidden_size, input_size], the input weights{order}
    - ``R``: [D, G*hidden_size, hidden_size], the recurrent weights, same gate order
    - ``B``: [D, 2*G*hidden_size] (input biases then recurrent biases) or None for zeros
    - ``sequence_lens``: int32 [batch_size] or None (every sequence has seq_length steps)
{extra_inputs}    - returns ``Y`` [seq_length, D, batch_size, hidden_size] (layout 1: [batch_size, seq_length,
      D, hidden_size]) and {last}.

    Attributes are the ONNX operator's: ``hidden_size`` (read from R when None), ``direction``
    ('forward', 'reverse' or 'bidirectional'), ``layout`` (0 or 1), ``activations`` (names, G-1
    per direction for LSTM/GRU, 1 for RNN), ``activation_alpha``/``activation_beta``, ``clip``
    (bound on the gates' pre-activations){attribute}. Wrong dtypes raise TypeError (nothing is
    converted), wrong shapes or attributes ValueError naming the argument.

    To call the same weights many times, build a :class:`{cls}` once instead: it packs them once.
    """

_LAYER_DOC = """A prepacked ONNX {name} layer: the weights are packed once, then each call only computes.

    ``{cls}({weights}, **attributes)`` takes the weights and attributes of :func:`{fn}`
    (float32, same shapes; ``threads`` bounds the threads a call uses, default all cores or
    ``LSTMRT_NUM_THREADS``; ``precision`` is ``"fp32"``, ``"bf16"`` or ``"int8"``, the type W and R
    are packed in, see :class:`lstmrt.InferenceSession`). ``layer(X, sequence_lens=None, {states_kw})``
    returns ``{outputs}`` for X float32 [seq_length, batch_size, input_size], with the shapes
    :func:`{fn}` documents. Properties: ``input_size``, ``hidden_size``, ``num_directions``,
    ``layout``, ``activations``. :meth:`stream` gives a stateful handle for feeding a sequence in chunks.
    """


def _set_signatures() -> None:
    """help() and inspect.signature show each cell's own attributes and text, from the tables above."""
    P = inspect.Parameter
    layer_extra = [P("threads", P.KEYWORD_ONLY, default=None), P("precision", P.KEYWORD_ONLY, default="fp32")]
    for cls, fn, states in ((LSTM, lstm, ("initial_h", "initial_c")), (GRU, gru, ("initial_h",)),
                            (RNN, rnn, ("initial_h",))):
        weights = ("W", "R", "B") + (("P",) if cls is LSTM else ())
        cls.__signature__ = inspect.Signature(_signature_parameters(cls._cell, weights) + layer_extra)
        leading = ("X", "W", "R", "B", "sequence_lens") + states + (("P",) if cls is LSTM else ())
        fn.__signature__ = inspect.Signature(_signature_parameters(cls._cell, leading),
                                             return_annotation=inspect.signature(fn).return_annotation)
        doc = dict(_CELL_DOC[cls._cell], cls=cls.__name__, fn=fn.__name__)
        doc["states_kw"] = ", ".join(f"{n}=None" for n in doc["states"].split(", "))
        fn.__doc__ = _FUNCTION_DOC.format(**doc)
        cls.__doc__ = _LAYER_DOC.format(**doc)


_set_signatures()

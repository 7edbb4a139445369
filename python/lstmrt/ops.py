"""The ONNX recurrent operators on NumPy arrays.

Functions (``lstm``, ``gru``, ``rnn``) take the ONNX operator's inputs and attributes and return
its outputs. Layer classes (``LSTM``, ``GRU``, ``RNN``) pack the weights once and can then be
called many times. Everything is float32; sequence_lens is int32. Shapes, defaults and
attribute meanings are exactly ONNX's (opsets 7, 14 and 22).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from . import _core

__all__ = ["lstm", "gru", "rnn", "LSTM", "GRU", "RNN"]


def _attributes(
    hidden_size,
    direction,
    layout,
    activations,
    activation_alpha,
    activation_beta,
    clip,
):
    if not isinstance(direction, str):
        raise ValueError(f"direction: expected 'forward', 'reverse' or 'bidirectional', got {direction!r}")
    if isinstance(activations, str):
        raise ValueError("activations: expected a list of activation names, got a single string")
    for name, value in (("hidden_size", hidden_size), ("layout", layout)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
    return dict(
        hidden_size=None if hidden_size is None else int(hidden_size),
        direction=direction,
        layout=int(layout),
        activations=[str(a) for a in (activations or [])],
        activation_alpha=[float(a) for a in (activation_alpha or [])],
        activation_beta=[float(b) for b in (activation_beta or [])],
        clip=None if clip is None else float(clip),
    )


class _Layer(_core.RnnLayer):
    """Base of the prepacked layers. Calling one goes straight to C++ (no Python frame)."""

    _cell = ""

    def __init__(self, W, R, B=None, P=None, *, hidden_size=None, direction="forward", layout=0,
                 activations=None, activation_alpha=None, activation_beta=None, clip=None,
                 input_forget=0, linear_before_reset=0, threads=None):
        _core.RnnLayer.__init__(
            self, self._cell, W, R, B, P,
            input_forget=int(input_forget), linear_before_reset=int(linear_before_reset),
            threads=0 if threads is None else int(threads),
            **_attributes(hidden_size, direction, layout, activations, activation_alpha, activation_beta, clip),
        )

    def stream(self) -> "_core.RnnStream":
        """A stateful handle: ``stream(X_chunk)`` continues from the state the previous chunk left.

        ``reset()``, ``get_state()`` and ``set_state()`` manage the state; a fed ``initial_h`` /
        ``initial_c`` replaces it for that call. Reverse and bidirectional layers cannot stream.
        """
        return _core.RnnLayer.stream(self)

    def __repr__(self) -> str:
        acts = ", ".join(name for name, _, _ in self.activations)
        return (f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"num_directions={self.num_directions}, layout={self.layout}, activations=[{acts}])")


class LSTM(_Layer):
    """A prepacked ONNX LSTM layer: ``LSTM(W, R, B=None, P=None, **attributes)(X, ...) -> (Y, Y_h, Y_c)``."""

    _cell = "LSTM"

    def __init__(self, W, R, B=None, P=None, *, hidden_size=None, direction="forward", layout=0,
                 activations=None, activation_alpha=None, activation_beta=None, clip=None,
                 input_forget=0, threads=None):
        super().__init__(W, R, B, P, hidden_size=hidden_size, direction=direction, layout=layout,
                         activations=activations, activation_alpha=activation_alpha,
                         activation_beta=activation_beta, clip=clip, input_forget=input_forget,
                         threads=threads)



class GRU(_Layer):
    """A prepacked ONNX GRU layer: ``GRU(W, R, B=None, **attributes)(X, ...) -> (Y, Y_h)``."""

    _cell = "GRU"

    def __init__(self, W, R, B=None, *, hidden_size=None, direction="forward", layout=0,
                 activations=None, activation_alpha=None, activation_beta=None, clip=None,
                 linear_before_reset=0, threads=None):
        super().__init__(W, R, B, None, hidden_size=hidden_size, direction=direction, layout=layout,
                         activations=activations, activation_alpha=activation_alpha,
                         activation_beta=activation_beta, clip=clip,
                         linear_before_reset=linear_before_reset, threads=threads)



class RNN(_Layer):
    """A prepacked ONNX RNN (Elman) layer: ``RNN(W, R, B=None, **attributes)(X, ...) -> (Y, Y_h)``."""

    _cell = "RNN"

    def __init__(self, W, R, B=None, *, hidden_size=None, direction="forward", layout=0,
                 activations=None, activation_alpha=None, activation_beta=None, clip=None, threads=None):
        super().__init__(W, R, B, None, hidden_size=hidden_size, direction=direction, layout=layout,
                         activations=activations, activation_alpha=activation_alpha,
                         activation_beta=activation_beta, clip=clip, threads=threads)



def lstm(X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None, *,
         hidden_size: Optional[int] = None, direction: str = "forward", layout: int = 0,
         activations: Optional[Sequence[str]] = None, activation_alpha: Optional[Sequence[float]] = None,
         activation_beta: Optional[Sequence[float]] = None, clip: Optional[float] = None,
         input_forget: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX LSTM: returns (Y, Y_h, Y_c). Gate order i, o, f, c; peepholes P in order i, o, f."""
    return LSTM(W, R, B, P, hidden_size=hidden_size, direction=direction, layout=layout,
                activations=activations, activation_alpha=activation_alpha, activation_beta=activation_beta,
                clip=clip, input_forget=input_forget)(X, sequence_lens, initial_h, initial_c)


def gru(X, W, R, B=None, sequence_lens=None, initial_h=None, *, hidden_size: Optional[int] = None,
        direction: str = "forward", layout: int = 0, activations: Optional[Sequence[str]] = None,
        activation_alpha: Optional[Sequence[float]] = None, activation_beta: Optional[Sequence[float]] = None,
        clip: Optional[float] = None, linear_before_reset: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """ONNX GRU: returns (Y, Y_h). Gate order z, r, h."""
    return GRU(W, R, B, hidden_size=hidden_size, direction=direction, layout=layout, activations=activations,
               activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip,
               linear_before_reset=linear_before_reset)(X, sequence_lens, initial_h)


def rnn(X, W, R, B=None, sequence_lens=None, initial_h=None, *, hidden_size: Optional[int] = None,
        direction: str = "forward", layout: int = 0, activations: Optional[Sequence[str]] = None,
        activation_alpha: Optional[Sequence[float]] = None, activation_beta: Optional[Sequence[float]] = None,
        clip: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """ONNX RNN: returns (Y, Y_h)."""
    return RNN(W, R, B, hidden_size=hidden_size, direction=direction, layout=layout, activations=activations,
               activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip)(
        X, sequence_lens, initial_h)

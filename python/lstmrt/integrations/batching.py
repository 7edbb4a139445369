"""Ragged sequences run in batches with results equal to running each sequence alone: the logic
that the Ray and Dask integrations share, usable on its own (no cluster needed).

    runner = SequenceRunner("model.onnx", threads=2)
    outputs = runner.run_rows([seq_a, seq_b, seq_c], indices=[10, 11, 12])

Sequences are grouped into buckets (:func:`plan_buckets`) and each bucket is one ``session.run``.
How a bucket of different lengths is made one batch depends on ``padding``:

* ``"none"``: a bucket holds sequences of one length only, so nothing is padded. Always exact.
* ``"lengths"``: sequences are padded to the bucket's longest and the model's lengths input (a
  graph input that reaches the recurrent nodes' ``sequence_lens``) is fed, so the recurrence
  stops at each row's own length (ONNX semantics); outputs with a time axis are cut to it.
* ``"causal"``: sequences are padded at the end and outputs cut to each row's length. Exact only
  when an output step depends on earlier steps alone (forward recurrences and per-step layers);
  refused for reverse or bidirectional recurrent nodes and for outputs without a time axis.
* ``"auto"`` (default): ``"lengths"`` when the model has a lengths input, else ``"none"``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["RowError", "SequenceRunner", "plan_buckets", "load_session", "PAD_RATIO"]

# A padded bucket takes sequences up to this factor longer than its shortest one, so padding adds
# at most this fraction of wasted steps; bench/bench_scale_out.py times the trade-off.
PAD_RATIO = 1.25

_PADDINGS = ("auto", "none", "lengths", "causal")
_ON_ERROR = ("raise", "skip")


class RowError(ValueError):
    """A row of the dataset that cannot be run: ``index`` names it in the dataset (its index
    label, id column or position, whichever the caller gave) and ``reason`` says why."""

    def __init__(self, index: Any, reason: str):
        self.index = index
        self.reason = reason
        super().__init__(f"row {index!r}: {reason}")

    def __reduce__(self):
        # Exceptions pickle through their args; this one is rebuilt from index and reason so that
        # it crosses from a Ray or Dask worker to the driver intact.
        return (RowError, (self.index, self.reason))


def plan_buckets(lengths: Sequence[int], max_batch: int, pad: bool) -> List[Tuple[List[int], int]]:
    """Groups rows into batches: a list of ``(positions, padded_length)``.

    Without ``pad`` a bucket holds rows of one length; with it, rows sorted by length are taken
    while the longest stays within :data:`PAD_RATIO` of the shortest. No bucket has more than
    ``max_batch`` rows. Every position of ``lengths`` appears in exactly one bucket.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch: expected a positive integer, got {max_batch!r}")
    order = sorted(range(len(lengths)), key=lambda k: (lengths[k], k))
    buckets: List[Tuple[List[int], int]] = []
    current: List[int] = []
    for k in order:
        if current:
            first = lengths[current[0]]
            fits = lengths[k] <= first * PAD_RATIO if pad else lengths[k] == first
            if len(current) == max_batch or not fits:
                buckets.append((current, lengths[current[-1]]))
                current = []
        current.append(k)
    if current:
        buckets.append((current, lengths[current[-1]]))
    return buckets


def load_session(model: Any, threads: Optional[int] = None, precision: Optional[str] = None):
    """An :class:`lstmrt.InferenceSession` from a path, the model's bytes, an ONNX ModelProto or
    another session (its model is reloaded with this ``threads``). ``precision`` is passed on only
    when given, for builds whose session takes it."""
    from ..session import InferenceSession

    if isinstance(model, InferenceSession):
        model = model._model
    elif isinstance(model, os.PathLike):
        model = os.fspath(model)
    kwargs: Dict[str, Any] = {"threads": threads}
    if precision is not None:
        kwargs["precision"] = precision
    return InferenceSession(model, **kwargs)


def _ancestors(graph, name: str) -> set:
    producers = {out: node for node in graph.node for out in node.output}
    seen, todo = set(), [name]
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        node = producers.get(t)
        if node is not None:
            todo.extend(i for i in node.input if i)
    return seen


def find_lengths_input(model_bytes: bytes, sequence_input: str) -> Optional[str]:
    """The graph input (integer, rank 1) that the recurrent nodes' ``sequence_lens`` is computed
    from, or None when no recurrent node takes one from the inputs."""
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    initializers = {t.name for t in graph.initializer}
    candidates = {}
    for vi in graph.input:
        tt = vi.type.tensor_type
        if vi.name in initializers or vi.name == sequence_input:
            continue
        if tt.elem_type in (onnx.TensorProto.INT32, onnx.TensorProto.INT64) and len(tt.shape.dim) == 1:
            candidates[vi.name] = vi
    found = set()
    for node in graph.node:
        if node.op_type in ("LSTM", "GRU", "RNN") and len(node.input) > 4 and node.input[4]:
            found |= _ancestors(graph, node.input[4]) & set(candidates)
    if len(found) > 1:
        raise ValueError(f"several inputs reach the recurrent nodes' sequence_lens ({sorted(found)}): "
                         "name one with lengths_input=")
    return found.pop() if found else None


class SequenceRunner:
    """Runs a column of variable-length sequences through a model, one output per sequence.

    ``model``: a path, bytes, ModelProto or :class:`lstmrt.InferenceSession`; the session is
    loaded on first use, so a runner pickles small (it carries the model, never a session).
    ``input_name`` is the sequence input (default: the only required input besides a lengths
    input); ``output_name`` the output kept per row (default: the first). A row is an array of
    shape ``[T]`` or ``[T, features...]``; with ``batch_first`` the model takes ``[batch, T, ...]``,
    else ``[T, batch, ...]``. ``padding`` is described in the module docstring. ``threads`` bounds
    a run's threads; ``precision`` is passed to the session when given.
    """

    def __init__(self, model: Any, *, input_name: Optional[str] = None, output_name: Optional[str] = None,
                 lengths_input: Optional[str] = None, padding: str = "auto", batch_first: bool = True,
                 max_batch: int = 64, threads: Optional[int] = None, precision: Optional[str] = None):
        if padding not in _PADDINGS:
            raise ValueError(f"padding: expected one of {_PADDINGS}, got {padding!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch: expected a positive integer, got {max_batch!r}")
        from ..session import InferenceSession

        self._model = model._model if isinstance(model, InferenceSession) else model
        if isinstance(self._model, os.PathLike):
            self._model = os.fspath(self._model)
        self._input_name = input_name
        self._output_name = output_name
        self._lengths_input = lengths_input
        self._padding_arg = padding
        self.batch_first = bool(batch_first)
        self.max_batch = max_batch
        self.threads = threads
        self.precision = precision
        self._session = None
        self._lock = threading.Lock()

    # -- pickling: the model travels, the compiled session is rebuilt where it lands ----------

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_session"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- set-up on first use ----------------------------------------------------------------

    @property
    def session(self):
        """The session, loaded (and the model's inputs and outputs checked) on first use."""
        if self._session is None:
            self._setup()
        return self._session

    @property
    def padding(self) -> str:
        """The padding mode in use (``"auto"`` resolved)."""
        self.session
        return self._padding

    def _setup(self) -> None:
        session = load_session(self._model, self.threads, self.precision)
        inputs = {i.name: i for i in session.get_inputs()}
        optional = set(session.optional_inputs)
        required = [n for n in inputs if n not in optional]
        model_bytes = session._model
        if self._input_name is None:
            lengths = self._lengths_input
            if lengths is None and len(required) > 1:
                # Try each required input as the sequence input; a lengths input is the one left.
                for name in required:
                    lengths = find_lengths_input(model_bytes, name)
                    if lengths is not None and set(required) == {name, lengths}:
                        self._input_name = name
                        break
            if self._input_name is None:
                rest = [n for n in required if n != lengths]
                if len(rest) != 1:
                    raise ValueError(f"the model has several required inputs {required}: name the sequence input "
                                     "with input_name=")
                self._input_name = rest[0]
        if self._input_name not in inputs:
            raise ValueError(f"input_name: the model has no input {self._input_name!r} (inputs: {list(inputs)})")
        if self._lengths_input is None:
            self._lengths_input = find_lengths_input(model_bytes, self._input_name)
        elif self._lengths_input not in inputs:
            raise ValueError(f"lengths_input: the model has no input {self._lengths_input!r}")
        others = [n for n in required if n not in (self._input_name, self._lengths_input)]
        if others:
            raise ValueError(f"the model needs inputs {others} besides the sequence input {self._input_name!r}: "
                             "SequenceRunner feeds only the sequence (and its lengths)")
        outputs = [o.name for o in session.get_outputs()]
        if self._output_name is None:
            self._output_name = outputs[0]
        elif self._output_name not in outputs:
            raise ValueError(f"output_name: the model has no output {self._output_name!r} (outputs: {outputs})")
        padding = self._padding_arg
        if padding == "auto":
            padding = "lengths" if self._lengths_input is not None else "none"
        if padding == "lengths" and self._lengths_input is None:
            raise ValueError("padding='lengths': no model input reaches a recurrent node's sequence_lens")
        if padding == "causal":
            both = [n["name"] for n in session.recurrent_nodes if n["direction"] != "forward"]
            if both:
                raise ValueError(f"padding='causal' would change the outputs: recurrent nodes {both} read the "
                                 "sequence backwards, so padding at the end reaches every step")
        decl = inputs[self._input_name]
        self._dtype = np.int64 if decl.type == "tensor(int64)" else np.int32 if decl.type == "tensor(int32)" \
            else np.float32
        if decl.type not in ("tensor(int64)", "tensor(int32)", "tensor(float)"):
            raise ValueError(f"input {self._input_name!r} is {decl.type}: SequenceRunner feeds float32 or integer "
                             "sequences")
        # Feature dims after batch and time: fixed ones are checked on every row.
        self._features = None if decl.shape is None else [d if isinstance(d, int) else None for d in decl.shape[2:]]
        self._padding = padding
        self._session = session
        self._axes = None
        self._row_ndim = None

    @property
    def output_row_ndim(self) -> int:
        """The rank of one row's output (the model's output without its batch axis)."""
        self.session
        if self._row_ndim is None:
            declared = {o.name: o.shape for o in self._session.get_outputs()}.get(self._output_name)
            return len(declared) - 1 if declared else 1
        return self._row_ndim

    def _probe_axes(self, features: Tuple[int, ...]) -> None:
        # Which output axis follows the batch and which the time: three tiny runs that change one
        # of them at a time (a fixed output dimension of the same size is not confused with them).
        def shape(batch, steps):
            x = np.zeros(self._layout(batch, steps) + features, self._dtype)
            feeds = {self._input_name: x}
            if self._lengths_input is not None:
                feeds[self._lengths_input] = np.full(batch, steps, self._lengths_dtype())
            return self._session.run([self._output_name], feeds)[0].shape

        base, more_rows, more_steps = shape(2, 3), shape(3, 3), shape(2, 5)
        batch_axes = [a for a in range(len(base)) if base[a] != more_rows[a]]
        time_axes = [a for a in range(len(base)) if base[a] != more_steps[a]]
        if len(batch_axes) != 1 or time_axes and (len(time_axes) != 1 or time_axes == batch_axes):
            raise ValueError(f"output {self._output_name!r} (shape {list(base)} for 2 rows of 3 steps) has no single "
                             "batch axis and at most one time axis: it cannot be split per row")
        if self._padding == "causal" and not time_axes:
            raise ValueError(f"padding='causal' would change the outputs: output {self._output_name!r} has no time "
                             "axis, so it summarises the padding too; use padding='none'")
        self._axes = (batch_axes[0], time_axes[0] if time_axes else None)
        self._row_ndim = len(base) - 1

    def _layout(self, batch: int, steps: int) -> Tuple[int, int]:
        return (batch, steps) if self.batch_first else (steps, batch)

    def _lengths_dtype(self):
        decl = {i.name: i for i in self._session.get_inputs()}[self._lengths_input]
        return np.int32 if decl.type == "tensor(int32)" else np.int64

    # -- rows ---------------------------------------------------------------------------------

    def check_row(self, row: Any) -> np.ndarray:
        """The row as the array the model takes; ValueError saying what is wrong with it."""
        self.session
        if row is None:
            raise ValueError("missing sequence (None)")
        try:
            x = np.asarray(row)
        except (ValueError, TypeError) as e:
            raise ValueError(f"not an array: {e}") from None
        if x.dtype == object:
            try:
                x = np.stack([np.asarray(step) for step in x]) if x.size else x
            except (ValueError, TypeError):
                raise ValueError("steps of different shapes") from None
        if x.size and x.dtype.kind not in "biuf":
            raise ValueError(f"dtype {x.dtype} is not numeric")
        if np.issubdtype(self._dtype, np.integer) and x.size and x.dtype.kind == "f":
            raise ValueError(f"float values for the integer input {self._input_name!r}")
        expected = self._features
        if expected is not None and x.ndim != 1 + len(expected):
            raise ValueError(f"expected a sequence of shape [T{''.join(', ' + str(d or '?') for d in expected)}], "
                             f"got shape {list(x.shape)}")
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError("empty sequence (no steps)")
        if expected is not None:
            for axis, (got, want) in enumerate(zip(x.shape[1:], expected), start=1):
                if want is not None and got != want:
                    raise ValueError(f"feature size {list(x.shape[1:])} where the model takes "
                                     f"{[d if d is not None else '?' for d in expected]} (shape {list(x.shape)})")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
            raise ValueError(f"NaN or infinite value at step {bad}")
        return np.ascontiguousarray(x, dtype=self._dtype)

    def run_rows(self, rows: Sequence[Any], indices: Optional[Sequence[Any]] = None,
                 on_error: str = "raise") -> List[Optional[np.ndarray]]:
        """One output array per row, in order, each equal to running that row alone.

        ``indices`` name the rows in errors (default: their positions). A row that cannot run
        raises :class:`RowError` naming it, or with ``on_error="skip"`` gives None.
        """
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error: expected one of {_ON_ERROR}, got {on_error!r}")
        rows = list(rows)
        indices = list(range(len(rows))) if indices is None else list(indices)
        if len(indices) != len(rows):
            raise ValueError(f"indices: {len(indices)} labels for {len(rows)} rows")
        self.session
        results: List[Optional[np.ndarray]] = [None] * len(rows)
        arrays: List[Optional[np.ndarray]] = []
        for k, row in enumerate(rows):
            try:
                arrays.append(self.check_row(row))
            except ValueError as e:
                if on_error == "raise":
                    raise RowError(indices[k], str(e)) from None
                arrays.append(None)
        good = [k for k, a in enumerate(arrays) if a is not None]
        if not good:
            return results
        features = arrays[good[0]].shape[1:]
        if self._features is None or any(d is None for d in self._features):
            # The first valid row fixes the feature shape the declared input leaves open.
            for k in good[1:]:
                if arrays[k].shape[1:] != features:
                    error = f"feature size {list(arrays[k].shape[1:])} where this batch's rows have {list(features)}"
                    if on_error == "raise":
                        raise RowError(indices[k], error)
                    arrays[k] = None
            good = [k for k in good if arrays[k] is not None]
        if self._axes is None:
            with self._lock:
                if self._axes is None:
                    self._probe_axes(features)
        lengths = [arrays[k].shape[0] for k in good]
        for positions, padded in plan_buckets(lengths, self.max_batch, self._padding != "none"):
            members = [good[p] for p in positions]
            self._run_bucket(members, padded, arrays, indices, results, on_error)
        return results

    def _run_bucket(self, members: List[int], padded: int, arrays, indices, results, on_error) -> None:
        try:
            outs = self._run_batch([arrays[k] for k in members], padded)
        except ValueError as e:
            if len(members) == 1:
                if on_error == "raise":
                    raise RowError(indices[members[0]], f"the model refused it: {e}") from None
                return
            # One bad row fails its whole batch: run each alone to find it and keep the others.
            for k in members:
                self._run_bucket([k], arrays[k].shape[0], arrays, indices, results, on_error)
            return
        for k, out in zip(members, outs):
            results[k] = out

    def _run_batch(self, xs: List[np.ndarray], padded: int) -> List[np.ndarray]:
        batch = np.zeros((len(xs), padded) + xs[0].shape[1:], self._dtype)
        for r, x in enumerate(xs):
            batch[r, :len(x)] = x
        if not self.batch_first:
            batch = np.ascontiguousarray(np.swapaxes(batch, 0, 1))
        feeds = {self._input_name: batch}
        if self._lengths_input is not None:
            feeds[self._lengths_input] = np.array([len(x) for x in xs], self._lengths_dtype())
        with self._lock:
            out = self._session.run([self._output_name], feeds)[0]
        batch_axis, time_axis = self._axes
        rows = []
        for r, x in enumerate(xs):
            y = np.take(out, r, axis=batch_axis)
            if time_axis is not None and len(x) != padded:
                t = time_axis - (time_axis > batch_axis)
                y = np.take(y, np.arange(len(x)), axis=t)
            rows.append(np.ascontiguousarray(y))
        return rows

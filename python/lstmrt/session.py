"""InferenceSession: run a whole exported ONNX model (embeddings, reshapes, recurrent layers and a
dense head) with lstmrt, through the part of onnxruntime's session API that users call.

    sess = lstmrt.InferenceSession("model.onnx")
    [y] = sess.run(None, {"x": x})

Each ``run`` is one call into the compiled C++ graph, with the GIL released while it computes.
Sessions pickle (they carry the model bytes, not a path), so they travel to worker processes.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _core

from . import onnx_import
from .ops import check_precision

__all__ = ["InferenceSession", "NodeArg", "NodeTime"]


class NodeTime(NamedTuple):
    """One compiled node's share of a run (see :meth:`InferenceSession.profile`)."""

    op_type: str
    name: str
    seconds: float


class NodeArg:
    """A graph input or output: ``name``, ``type`` (``'tensor(float)'``) and ``shape`` (ints for
    fixed dimensions, strings for symbolic ones, None for unknown ones), as onnxruntime reports."""

    __slots__ = ("name", "type", "shape")

    def __init__(self, name: str, type: str, shape: Optional[List[Any]]):
        self.name = name
        self.type = type
        self.shape = shape

    def __repr__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodeArg) and (self.name, self.type, self.shape) == (other.name, other.type, other.shape)

    def __hash__(self) -> int:
        return hash((self.name, self.type))


def _restore(model_bytes: bytes, threads: Optional[int], precision: str = "fp32") -> "InferenceSession":
    return InferenceSession(model_bytes, threads=threads, precision=precision)


class InferenceSession:
    """A compiled ONNX model.

    ``model`` is a path (external data beside the file is loaded too), the model's bytes, or an
    ``onnx.ModelProto``. ``threads`` bounds the threads one run uses (default: all cores, or
    ``LSTMRT_NUM_THREADS``). onnxruntime's ``sess_options``, ``providers`` and
    ``provider_options`` arguments are accepted and ignored, except
    ``sess_options.intra_op_num_threads`` when ``threads`` is None. Any other keyword is a
    TypeError naming it (a misspelt ``thread=1`` is not silently ignored).

    ``precision`` is the type every constant weight matrix (of LSTM, GRU, RNN, Gemm, MatMul and
    Conv) is packed in at load: ``"fp32"`` (exact), ``"bf16"`` (bfloat16 weights; each product
    rounds its activations to bfloat16 too) or ``"int8"`` (int8 weights with a scale per output
    channel; each product quantizes its activations per row to uint8). Activations between
    products, the recurrent and cell states and the gate math stay float32 in every case. bf16
    runs on AVX512-BF16 and int8 on VNNI where the CPU has them, elsewhere on exact emulations
    (``lstmrt.cpu_info()["precision_kernels"]`` says which).

    Loading fails with ValueError naming the node for an unsupported operator or attribute, and
    for an empty, truncated or non-ONNX file or an unknown opset. ``run`` raises TypeError for a
    feed of the wrong dtype and ValueError for a missing or unknown feed, a wrong rank or a
    dimension that contradicts the model; the session stays usable after any error.
    """

    def __init__(self, model: Any, sess_options: Any = None, providers: Any = None,
                 provider_options: Any = None, *, threads: Optional[int] = None, precision: str = "fp32"):
        # onnxruntime's ``sess_options``/``providers``/``provider_options`` are accepted so that
        # code written for onnxruntime runs unchanged; only intra_op_num_threads is read.
        if threads is None and sess_options is not None:
            n = getattr(sess_options, "intra_op_num_threads", 0) or 0
            threads = int(n) if n > 0 else None
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                    or threads < 0):
            raise ValueError(f"threads: expected a non-negative integer or None, got {threads!r}")
        check_precision(precision)
        proto = onnx_import.load_model(model)
        self._threads = None if threads is None else int(threads)
        self._precision = precision
        self._graph = onnx_import.compile_model(proto, precision)
        for message in self._graph.load_warnings:
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        # Reshapes that fix the sequence length (PyTorch's dynamo exporter): named in errors.
        self._frozen = onnx_import.frozen_sequence_reshapes(proto)
        # Kept for pickling; bytes passed in are reused as they are.
        self._model_bytes: Optional[bytes] = bytes(model) if isinstance(model, (bytes, bytearray, memoryview)) else None
        self._proto = None if self._model_bytes is not None else proto
        self._inputs = [NodeArg(name, type_, shape) for name, type_, shape in self._graph.inputs]
        declared = {o.name: o for o in proto.graph.output}
        self._outputs = []
        for name in self._graph.outputs:
            vi = declared.get(name)
            type_ = "tensor(float)"
            shape = None
            if vi is not None and vi.type.WhichOneof("value") == "tensor_type":
                if vi.type.tensor_type.elem_type:
                    type_ = onnx_import.type_string(vi.type.tensor_type.elem_type)
                shape = onnx_import.value_shape(vi)
            self._outputs.append(NodeArg(name, type_, shape))

    # -- onnxruntime-compatible API ------------------------------------------------------------

    def get_inputs(self) -> List[NodeArg]:
        """The graph inputs a run may feed (initializers excluded)."""
        return list(self._inputs)

    def get_outputs(self) -> List[NodeArg]:
        """The graph outputs, in graph order: name, type and the declared shape."""
        return list(self._outputs)

    def get_providers(self) -> List[str]:
        """``["lstmrt"]``: what onnxruntime's method of that name returns, for code that asks."""
        return ["lstmrt"]

    def run(self, output_names: Optional[Sequence[str]], input_feed: Mapping[str, np.ndarray],
            run_options: Any = None) -> List[np.ndarray]:
        """Runs the model: ``output_names`` None (or empty) means every output, in graph order.

        ``input_feed`` maps input names to NumPy arrays of the declared dtype. Inputs that only
        feed a recurrent node's initial_h/initial_c may be left out: they are zeros.
        """
        if isinstance(output_names, str):
            raise TypeError(f"output_names: expected a list of output names or None, got the string {output_names!r}")
        names = list(output_names) if output_names else None
        if not self._frozen:
            return self._graph.run(input_feed, names, self._threads or 0)
        onnx_import.check_frozen_length(self._frozen, input_feed)
        try:
            return self._graph.run(input_feed, names, self._threads or 0)
        except ValueError as e:
            raise ValueError(str(e) + onnx_import.frozen_sequence_hint(self._frozen)) from e

    # -- lstmrt additions ----------------------------------------------------------------------

    def run_with_state(self, input_feed: Mapping[str, np.ndarray],
                       state: Optional[Mapping[str, Tuple[np.ndarray, ...]]] = None,
                       output_names: Optional[Sequence[str]] = None
                       ) -> Tuple[List[np.ndarray], Dict[str, Tuple[np.ndarray, ...]]]:
        """Runs with per-recurrent-node initial states and returns every node's final state.

        ``state`` maps a recurrent node's name to ``(h, c)`` (LSTM) or ``(h,)``; it replaces that
        node's initial_h/initial_c inputs for this run. Returns ``(outputs, final_state)`` with
        ``final_state`` in the same form, for every node in :attr:`recurrent_nodes`.
        """
        names = list(output_names) if output_names else None
        outputs, final = self._graph.run_with_state(input_feed, None if state is None else dict(state), names,
                                                    self._threads or 0)
        return outputs, final

    def stream(self, carry: Any = None) -> "_core.GraphStream":
        """A stateful stream: ``stream.run(output_names, feeds)`` takes and returns what
        :meth:`run` does, and carries the state of every LSTM/GRU/RNN node to the next call.

        The first call starts from what the model says (fed initial-state inputs, or zeros);
        later calls start each recurrent node from the carried state, unless the call feeds an
        input that reaches that node's initial state. ``reset()`` forgets the state;
        ``get_state()`` / ``set_state(d)`` snapshot and restore it as copies, keyed
        ``"<node>:h"`` and ``"<node>:c"``. Calls on one stream are serialized; separate streams
        run concurrently. A failed call leaves the state as it was. Models with a reverse or
        bidirectional recurrent node, or a Loop, cannot stream (ValueError naming the node).

        ``carry={"stateN": "state"}`` carries model outputs into inputs: after each call the
        output becomes the input of the next call, inside lstmrt, so the caller feeds only the
        data (Silero VAD's ``state``, DTLN's ``input_3``, ``h0``/``c0`` of exported models).
        The first call uses what is fed, else zeros of the input's declared shape (symbolic
        dimensions 1). The carried tensors appear in ``get_state()`` under the input's name.
        ``carry="auto"`` pairs outputs and inputs whose names say so (``state``/``stateN``,
        ``h``/``hn``, ``h0``/``hn``) and whose declared shapes agree, and refuses when unsure;
        ``stream.carry`` tells what was paired. Unknown names, a name used twice, or an output
        whose declared shape or type differs from its input's raise ValueError naming both.
        """
        pairs = self._carry_pairs(carry)
        if self._frozen:
            return _FrozenLengthStream(self._graph, self._threads or 0, self._frozen, pairs)
        return _core.GraphStream(self._graph, self._threads or 0, pairs)

    def stream_pool(self, carry: Any = None, batch_axes: Optional[Mapping[str, int]] = None) -> "_core.StreamPool":
        """Many independent streams (one sequence each) stepped together in batched calls.

        ``sid = pool.open()`` starts a stream (zero state), ``pool.close(sid)`` ends it.
        ``pool.run(stream_ids, output_names, feeds)`` runs one chunk for the listed streams at
        once: row k of every batched feed belongs to ``stream_ids[k]`` (a list or an integer
        array). Streams not listed are untouched. The states live in the pool: a call of the
        same streams in the same order as the previous one moves no state, another subset moves
        only the rows that changed place. ``pool.reset(sid)``, ``pool.get_state(sid)``,
        ``pool.set_state(sid, d)`` manage one stream; ``pool.ids`` lists the open ones. Calls on
        one pool are serialized; one call uses the session's threads.

        ``carry`` is as for :meth:`stream`, the same for every stream. Each stream is one row
        along the batch axis of each carried tensor, read from the input's declared symbolic
        dimension named like a batch (``batch``, ``N``); ``batch_axes={"state": 1}`` gives it
        where the model does not say. A bad id, a repeated id, or a batch that does not have
        one row per stream raise ValueError and change no stream's state.
        """
        pairs = self._carry_pairs(carry)
        axes = self._carry_batch_axes(pairs, batch_axes)
        if self._frozen:
            return _FrozenLengthPool(self._graph, self._threads or 0, self._frozen, pairs, axes)
        return _core.StreamPool(self._graph, self._threads or 0, pairs, axes)

    # -- carry= ----------------------------------------------------------------------------------

    def _carry_pairs(self, carry: Any) -> List[Tuple[str, str]]:
        """carry= as (output, input) pairs, checked against the declared names, types and shapes."""
        if carry is None:
            return []
        if isinstance(carry, str):
            if carry != "auto":
                raise ValueError(f"carry: expected a dict {{output: input}}, 'auto' or None, got {carry!r}")
            return self._auto_carry()
        if not isinstance(carry, Mapping):
            raise TypeError(f"carry: expected a dict {{output name: input name}}, 'auto' or None, got {type(carry).__name__}")
        ins = {i.name: i for i in self._inputs}
        outs = {o.name: o for o in self._outputs}
        pairs = []
        seen: Dict[str, str] = {}
        for out, inp in carry.items():
            if not isinstance(out, str) or not isinstance(inp, str):
                raise TypeError(f"carry: names must be str, got {out!r}: {inp!r}")
            if out not in outs:
                raise ValueError(f"carry: the model has no output {out!r} (its outputs are {', '.join(outs)})")
            if inp not in ins:
                raise ValueError(f"carry: the model has no input {inp!r} to carry {out!r} into (its inputs are "
                                 f"{', '.join(ins)})")
            if inp in seen:
                raise ValueError(f"carry: input {inp!r} is fed by both {seen[inp]!r} and {out!r}")
            seen[inp] = out
            why = _declared_mismatch(outs[out], ins[inp])
            if why:
                raise ValueError(f"carry: output {out!r} cannot feed input {inp!r}: {why}")
            pairs.append((out, inp))
        return pairs

    def _auto_carry(self) -> List[Tuple[str, str]]:
        found: Dict[str, List[str]] = {}
        for o in self._outputs:
            found[o.name] = [i.name for i in self._inputs if _names_pair(i.name, o.name) and not _declared_mismatch(o, i)]
        pairs = []
        for out, inps in found.items():
            if len(inps) > 1:
                raise ValueError(f"carry='auto': output {out!r} could feed any of {inps}; give carry={{...}}")
            if inps:
                pairs.append((out, inps[0]))
        targets = [i for _, i in pairs]
        for t in set(targets):
            if targets.count(t) > 1:
                raise ValueError(f"carry='auto': input {t!r} is paired with several outputs "
                                 f"{[o for o, i in pairs if i == t]}; give carry={{...}}")
        if not pairs:
            raise ValueError("carry='auto' found no output whose name and shape pair it with an input (like "
                             "stateN/state or hn/h0); give carry={output: input}. Outputs: "
                             f"{[o.name for o in self._outputs]}, inputs: {[i.name for i in self._inputs]}")
        return pairs

    def _carry_batch_axes(self, pairs: List[Tuple[str, str]], batch_axes: Optional[Mapping[str, int]]) -> List[int]:
        given = dict(batch_axes or {})
        carried = [i for _, i in pairs]
        for name in given:
            if name not in carried:
                raise ValueError(f"batch_axes: {name!r} is not a carried input (carried: {carried})")
        ins = {i.name: i for i in self._inputs}
        axes = []
        for name in carried:
            shape = ins[name].shape
            if name in given:
                a = given[name]
                if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                    raise TypeError(f"batch_axes[{name!r}]: expected an int, got {a!r}")
                rank = len(shape) if shape is not None else None
                if rank is not None and not -rank <= a < rank:
                    raise ValueError(f"batch_axes[{name!r}]: axis {a} is out of range for shape {shape}")
                axes.append(int(a) % rank if rank else int(a))
                continue
            named = [k for k, d in enumerate(shape or []) if isinstance(d, str) and _is_batch_name(d)]
            if len(named) != 1:
                raise ValueError(f"stream_pool: the batch axis of carried input {name!r} (shape {shape}) is "
                                 f"{'ambiguous' if named else 'not named in the model'}; give batch_axes="
                                 f"{{{name!r}: axis}}")
            axes.append(named[0])
        return axes

    @property
    def frozen_sequence_length(self) -> Optional[int]:
        """The sequence length the exporter fixed in the graph (see :meth:`stream`'s errors), or
        None when the model takes any length."""
        return self._frozen[0]["length"] if self._frozen else None

    @property
    def recurrent_nodes(self) -> List[Dict[str, Any]]:
        """Every LSTM/GRU/RNN node: name, cell, direction, num_directions, hidden_size,
        input_size, layout."""
        return self._graph.recurrent_nodes

    @property
    def optional_inputs(self) -> List[str]:
        """Inputs that may be left out of a run's feeds (initial states, zeros when absent)."""
        return list(self._graph.optional_inputs)

    @property
    def precision(self) -> str:
        """The type the constant weights are packed in: ``"fp32"``, ``"bf16"`` or ``"int8"``."""
        return self._precision

    @property
    def threads(self) -> Optional[int]:
        """The thread bound given at construction (None: the default, all cores)."""
        return self._threads

    def op_counts(self, compiled: bool = False) -> Dict[str, int]:
        """Operator counts of the model as given, or of the compiled graph after folding."""
        return dict(self._graph.op_counts if compiled else self._graph.model_op_counts)

    def profile(self, input_feed: Mapping[str, np.ndarray], repeat: int = 10) -> List["NodeTime"]:
        """Runs the model ``repeat`` times and returns each compiled node's mean time per run, in
        run order, as :class:`NodeTime` ``(op_type, name, seconds)``. ``op_type`` shows fused
        epilogues (``Conv+SiLU``); nodes that ran once per input shape (the shape arithmetic
        exporters emit) count their first run only, spread over the repeats."""
        return [NodeTime(*row) for row in self._graph.profile(input_feed, repeat, self._threads or 0)]

    @property
    def _model(self) -> bytes:
        if self._model_bytes is None:
            self._model_bytes = self._proto.SerializeToString()
            self._proto = None
        return self._model_bytes

    def __reduce__(self):
        return (_restore, (self._model, self._threads, self._precision))

    def __repr__(self) -> str:
        ins = ", ".join(i.name for i in self._inputs)
        outs = ", ".join(o.name for o in self._outputs)
        return f"InferenceSession(inputs=[{ins}], outputs=[{outs}], recurrent_nodes={len(self.recurrent_nodes)})"


def _declared_mismatch(out: NodeArg, inp: NodeArg) -> str:
    """Why a declared output cannot feed a declared input (empty when it can, or is unknown)."""
    if out.type != inp.type:
        return f"it is {out.type} and the input is {inp.type}"
    if out.shape is None or inp.shape is None:
        return ""
    if len(out.shape) != len(inp.shape):
        return f"its declared shape {out.shape} and the input's {inp.shape} differ in rank"
    for a, b in zip(out.shape, inp.shape):
        if isinstance(a, int) and isinstance(b, int) and a != b:
            return f"its declared shape {out.shape} differs from the input's {inp.shape}"
    return ""


def _names_pair(inp: str, out: str) -> bool:
    """Whether the names say that `out` is the next value of `inp`: state/stateN, h/hn, h0/hn."""
    stems = {inp}
    for tail in ("0", "_0", "_in", "_prev"):
        if inp.endswith(tail) and len(inp) > len(tail):
            stems.add(inp[:-len(tail)])
    return any(out in (s + "N", s + "n", s + "_n", s + "_out", s + "_new", s + "_next") for s in stems)


def _is_batch_name(dim: str) -> bool:
    return dim.lower() in ("n", "b", "bs", "batch", "batch_size", "batchsize") or dim.lower().startswith("batch")


# Streams of a model with a frozen sequence length: the same, with errors that say why. Only such
# models get them, so that other streams keep calling C++ with no Python frame in between.
class _FrozenLengthStream(_core.GraphStream):
    def __init__(self, graph: "_core.Graph", threads: int, frozen: List[Dict[str, Any]], carry: Any = None):
        _core.GraphStream.__init__(self, graph, threads, carry)
        self._frozen = frozen

    def run(self, output_names, feeds):
        onnx_import.check_frozen_length(self._frozen, feeds)
        try:
            return _core.GraphStream.run(self, output_names, feeds)
        except ValueError as e:
            raise ValueError(str(e) + onnx_import.frozen_sequence_hint(self._frozen)) from e


class _FrozenLengthPool(_core.StreamPool):
    def __init__(self, graph: "_core.Graph", threads: int, frozen: List[Dict[str, Any]], carry: Any = None,
                 batch_axes: Optional[List[int]] = None):
        _core.StreamPool.__init__(self, graph, threads, carry, batch_axes or [])
        self._frozen = frozen

    def run(self, stream_ids, output_names, feeds):
        onnx_import.check_frozen_length(self._frozen, feeds)
        try:
            return _core.StreamPool.run(self, stream_ids, output_names, feeds)
        except ValueError as e:
            raise ValueError(str(e) + onnx_import.frozen_sequence_hint(self._frozen)) from e

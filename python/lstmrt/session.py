"""InferenceSession: run a whole exported ONNX model (embeddings, reshapes, recurrent layers and a
dense head) with lstmrt, through the part of onnxruntime's session API that users call.

    sess = lstmrt.InferenceSession("model.onnx")
    [y] = sess.run(None, {"x": x})

Each ``run`` is one call into the compiled C++ graph, with the GIL released while it computes.
Sessions pickle (they carry the model bytes, not a path), so they travel to worker processes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _core

from . import onnx_import

__all__ = ["InferenceSession", "NodeArg"]


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
        if not isinstance(precision, str) or precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"precision: expected 'fp32', 'bf16' or 'int8', got {precision!r}")
        proto = onnx_import.load_model(model)
        self._threads = None if threads is None else int(threads)
        self._precision = precision
        self._graph = onnx_import.compile_model(proto, precision)
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

    def stream(self) -> "_core.GraphStream":
        """A stateful stream: ``stream.run(output_names, feeds)`` takes and returns what
        :meth:`run` does, and carries the state of every LSTM/GRU/RNN node to the next call.

        The first call starts from what the model says (fed initial-state inputs, or zeros);
        later calls start each recurrent node from the carried state, unless the call feeds an
        input that reaches that node's initial state. ``reset()`` forgets the state;
        ``get_state()`` / ``set_state(d)`` snapshot and restore it as copies, keyed
        ``"<node>:h"`` and ``"<node>:c"``. Calls on one stream are serialized; separate streams
        run concurrently. A failed call leaves the state as it was. Models with a reverse or
        bidirectional recurrent node, or a Loop, cannot stream (ValueError naming the node).
        """
        if self._frozen:
            return _FrozenLengthStream(self._graph, self._threads or 0, self._frozen)
        return _core.GraphStream(self._graph, self._threads or 0)

    def stream_pool(self) -> "_core.StreamPool":
        """Many independent streams (one sequence each) stepped together in batched calls.

        ``sid = pool.open()`` starts a stream (zero state), ``pool.close(sid)`` ends it.
        ``pool.run(stream_ids, output_names, feeds)`` runs one chunk for the listed streams at
        once: row k of every batched feed belongs to ``stream_ids[k]``; their states are
        gathered into one batch and scattered back afterwards. Streams not listed are untouched.
        ``pool.reset(sid)``, ``pool.get_state(sid)``, ``pool.set_state(sid, d)`` manage one
        stream; ``pool.ids`` lists the open ones. Calls on one pool are serialized.
        """
        if self._frozen:
            return _FrozenLengthPool(self._graph, self._threads or 0, self._frozen)
        return _core.StreamPool(self._graph, self._threads or 0)

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


# Streams of a model with a frozen sequence length: the same, with errors that say why. Only such
# models get them, so that other streams keep calling C++ with no Python frame in between.
class _FrozenLengthStream(_core.GraphStream):
    def __init__(self, graph: "_core.Graph", threads: int, frozen: List[Dict[str, Any]]):
        _core.GraphStream.__init__(self, graph, threads)
        self._frozen = frozen

    def run(self, output_names, feeds):
        onnx_import.check_frozen_length(self._frozen, feeds)
        try:
            return _core.GraphStream.run(self, output_names, feeds)
        except ValueError as e:
            raise ValueError(str(e) + onnx_import.frozen_sequence_hint(self._frozen)) from e


class _FrozenLengthPool(_core.StreamPool):
    def __init__(self, graph: "_core.Graph", threads: int, frozen: List[Dict[str, Any]]):
        _core.StreamPool.__init__(self, graph, threads)
        self._frozen = frozen

    def run(self, stream_ids, output_names, feeds):
        onnx_import.check_frozen_length(self._frozen, feeds)
        try:
            return _core.StreamPool.run(self, stream_ids, output_names, feeds)
        except ValueError as e:
            raise ValueError(str(e) + onnx_import.frozen_sequence_hint(self._frozen)) from e

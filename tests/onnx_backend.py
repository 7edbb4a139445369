"""An ``onnx.backend.base.Backend`` that runs single-node LSTM/GRU/RNN
models through lstmrt.ops, so the onnx package's own backend node tests can
be run against lstmrt.

Node attributes are decoded in one place (``_decode_attributes``) by a small
registry of per-operator builders; anything the backend does not support
(another operator, more than one node, an unknown attribute) raises
``NotImplementedError`` naming it.

When W, R (and B, P) are graph initializers, ``prepare`` packs them once into
an ``lstmrt.ops.LSTM/GRU/RNN`` layer and every ``run`` reuses it; otherwise
each ``run`` calls the functional API.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Dict, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep

import lstmrt

# ONNX input order of each operator; the optional ones may be "" or absent.
_INPUTS = {
    "LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
    "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
    "RNN": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
}
_WEIGHTS = {"LSTM": ["W", "R", "B", "P"], "GRU": ["W", "R", "B"], "RNN": ["W", "R", "B"]}
_RUNTIME = {"LSTM": ["X", "sequence_lens", "initial_h", "initial_c"],
            "GRU": ["X", "sequence_lens", "initial_h"], "RNN": ["X", "sequence_lens", "initial_h"]}

_COMMON_ATTRS = {"hidden_size", "direction", "layout", "activations", "activation_alpha",
                 "activation_beta", "clip"}
# Operator -> (lstmrt function, layer class, extra attributes it takes).
_REGISTRY: Dict[str, tuple] = {
    "LSTM": (lambda: lstmrt.ops.lstm, lambda: lstmrt.ops.LSTM, {"input_forget"}),
    "GRU": (lambda: lstmrt.ops.gru, lambda: lstmrt.ops.GRU, {"linear_before_reset"}),
    "RNN": (lambda: lstmrt.ops.rnn, lambda: lstmrt.ops.RNN, set()),
}


def _decode_attributes(node: onnx.NodeProto) -> Dict[str, Any]:
    """ONNX node attributes -> lstmrt keyword arguments.

    Strings are decoded, lists become Python lists, and absent attributes are
    simply not passed (lstmrt applies the ONNX defaults).  ``output_sequence``
    (opset 1 only) is refused: it changes which outputs exist.
    """
    allowed = _COMMON_ATTRS | _REGISTRY[node.op_type][2]
    out: Dict[str, Any] = {}
    for attr in node.attribute:
        if attr.name not in allowed:
            raise NotImplementedError(f"{node.op_type}: attribute {attr.name!r} is not supported")
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list):
            value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        out[attr.name] = value
    return out


class LstmrtRep(BackendRep):
    """A prepared single-node model."""

    def __init__(self, graph: onnx.GraphProto):
        if len(graph.node) != 1:
            raise NotImplementedError(f"only single-node graphs are supported, got {len(graph.node)} nodes")
        node = graph.node[0]
        if node.domain not in ("", "ai.onnx") or node.op_type not in _REGISTRY:
            raise NotImplementedError(f"operator {node.domain or 'ai.onnx'}.{node.op_type} is not supported")
        self.op = node.op_type
        self.attrs = _decode_attributes(node)
        names = list(node.input) + [""] * (len(_INPUTS[self.op]) - len(node.input))
        # ONNX input slot name -> graph value name ("" when absent).
        self.slots = dict(zip(_INPUTS[self.op], names))
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        initializer_names = set(self.initializers)
        self.graph_inputs = [vi.name for vi in graph.input if vi.name not in initializer_names]
        self.outputs = [o for o in node.output]
        self.graph_outputs = [vi.name for vi in graph.output]
        self.layer = None
        weights = [self.slots[w] for w in _WEIGHTS[self.op]]
        if all(w == "" or w in self.initializers for w in weights):
            wargs = {w: (self.initializers[self.slots[w]] if self.slots[w] else None)
                     for w in _WEIGHTS[self.op]}
            self.layer = _REGISTRY[self.op][1]()(**wargs, **self.attrs)

    def _feed(self, inputs: Any) -> Dict[str, np.ndarray]:
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            inputs = list(inputs)
            if len(inputs) != len(self.graph_inputs):
                raise ValueError(f"expected {len(self.graph_inputs)} inputs, got {len(inputs)}")
            feed = dict(zip(self.graph_inputs, inputs))
        feed.update({k: v for k, v in self.initializers.items() if k not in feed})
        return feed

    def run(self, inputs: Any, **kwargs: Any):
        feed = self._feed(inputs)

        def value(slot: str) -> Optional[np.ndarray]:
            name = self.slots[slot]
            return feed[name] if name else None

        if self.layer is not None:
            results = self.layer(*[value(s) for s in _RUNTIME[self.op]])
        else:
            fn = _REGISTRY[self.op][0]()
            results = fn(*[value(s) for s in _INPUTS[self.op]], **self.attrs)
        produced = dict(zip(self.outputs, results))
        produced.pop("", None)
        names = self.graph_outputs or [o for o in self.outputs if o]
        Outputs = namedtuple("Outputs", [f"o{i}" for i in range(len(names))])
        return Outputs(*[produced[n] for n in names])


class LstmrtBackend(Backend):
    """Runs single-node ONNX LSTM/GRU/RNN models on the CPU with lstmrt."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        g = model.graph
        return len(g.node) == 1 and g.node[0].op_type in _REGISTRY and cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> LstmrtRep:
        super().prepare(model, device, **kwargs)  # runs the onnx checker
        if not cls.supports_device(device):
            raise NotImplementedError(f"device {device!r} is not supported (CPU only)")
        return LstmrtRep(model.graph)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Optional[Sequence] = None, **kwargs: Any):
        super().run_node(node, inputs, device=device, outputs_info=outputs_info, **kwargs)
        graph = onnx.helper.make_graph(
            [node], "run_node",
            [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None)
             for n in node.input if n],
            [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None)
             for n in node.output if n])
        return LstmrtRep(graph).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


prepare = LstmrtBackend.prepare
run_model = LstmrtBackend.run_model
run_node = LstmrtBackend.run_node
supports_device = LstmrtBackend.supports_device

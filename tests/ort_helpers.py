"""Runs one ONNX LSTM/GRU/RNN node in onnxruntime.

``run_ort`` takes the inputs (keyed by ONNX input name, in lstmrt's layout)
and the node attributes, and returns onnxruntime's outputs.  onnxruntime's
CPU kernels refuse ``layout=1``; such a call is run as layout 0 on
transposed inputs and the outputs are transposed back.

``ort_attributes_for`` turns lstmrt keyword attributes into node attributes
that make onnxruntime compute what lstmrt's semantics give (see the module
docstring of ``reference``): ``hidden_size`` always written (onnxruntime
requires it) and every activation's alpha/beta written out explicitly.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

import reference

OP_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
INPUT_NAMES = {
    "lstm": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
    "gru": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
    "rnn": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
}
OUTPUT_NAMES = {"lstm": ["Y", "Y_h", "Y_c"], "gru": ["Y", "Y_h"], "rnn": ["Y", "Y_h"]}


def make_model(cell: str, inputs: Dict[str, np.ndarray], attrs: Dict[str, object], opset: int = 22):
    """A single-node ONNX model with the given present inputs as graph inputs."""
    from onnx import helper

    from session_helpers import make_model as make_graph_model

    names = [name if inputs.get(name) is not None else "" for name in INPUT_NAMES[cell]]
    while names and names[-1] == "":
        names.pop()
    node = helper.make_node(OP_NAMES[cell], names, OUTPUT_NAMES[cell],
                            **{k: v for k, v in attrs.items() if v is not None})
    present = {name: inputs[name] for name in names if name}
    return make_graph_model([node], present, OUTPUT_NAMES[cell], opset=opset, name=f"single_{cell}")


def make_session(model, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_attributes_for(cell: str, kwargs: Dict[str, object], hidden_size: int) -> Dict[str, object]:
    """ONNX node attributes that make onnxruntime compute what lstmrt computes.

    onnxruntime (1.31) reads alpha/beta like lstmrt does, consumed in list
    order only by the activations that take the parameter, but it defaults
    ThresholdedRelu, Affine and ScaledTanh to alpha=beta=0 where lstmrt uses
    the ONNX operator defaults.  So every parameter is written out explicitly.
    """
    direction = kwargs.get("direction", "forward")
    nd = 2 if direction == "bidirectional" else 1
    attrs: Dict[str, object] = {"hidden_size": hidden_size, "direction": direction}
    for key in ("clip", "input_forget", "linear_before_reset"):
        if kwargs.get(key) is not None:
            attrs[key] = kwargs[key]
    if kwargs.get("activations") is None and kwargs.get("activation_alpha") is None \
            and kwargs.get("activation_beta") is None:
        return attrs
    resolved = reference.resolve_activations(cell, nd, kwargs.get("activations"),
                                             kwargs.get("activation_alpha"),
                                             kwargs.get("activation_beta"))
    flat = [e for per_dir in resolved for e in per_dir]
    attrs["activations"] = [name for name, _, _ in flat]
    alphas = [a for name, a, _ in flat if reference.ACTIVATION_PARAMS[name][0]]
    betas = [b for name, _, b in flat if reference.ACTIVATION_PARAMS[name][1]]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def run_ort(cell: str, inputs: Dict[str, Optional[np.ndarray]], attrs: Dict[str, object],
            layout: int = 0, opset: int = 22, threads: int = 1) -> List[np.ndarray]:
    """Runs the node; ``inputs`` in lstmrt's layout, outputs in that layout too."""
    feed = {k: v for k, v in inputs.items() if v is not None}
    if layout == 1:
        feed = dict(feed)
        feed["X"] = np.ascontiguousarray(feed["X"].transpose(1, 0, 2))
        for k in ("initial_h", "initial_c"):
            if k in feed:
                feed[k] = np.ascontiguousarray(feed[k].transpose(1, 0, 2))
    attrs = {k: v for k, v in attrs.items() if k != "layout"}
    sess = make_session(make_model(cell, feed, attrs, opset), threads)
    outs = sess.run(None, feed)
    if layout == 1:
        outs = [outs[0].transpose(2, 0, 1, 3)] + [o.transpose(1, 0, 2) for o in outs[1:]]
    return outs

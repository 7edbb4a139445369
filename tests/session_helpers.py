"""Small ONNX models for the session tests, built with onnx.helper, and an onnxruntime runner."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from checks import assert_close

ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
        np.dtype(np.int32): TensorProto.INT32, np.dtype(np.bool_): TensorProto.BOOL,
        np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8}


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Dict[str, np.ndarray], outputs: Sequence[str], *,
               opset: int = 17, initializers: Optional[Dict[str, np.ndarray]] = None,
               input_shapes: Optional[Dict[str, List]] = None, output_types: Optional[Dict[str, int]] = None,
               name: str = "test") -> onnx.ModelProto:
    """A model whose graph inputs are `inputs` (shapes from the arrays unless `input_shapes` says
    otherwise: ints, strings for symbolic dims) and whose outputs are `outputs` (float unless
    `output_types` says otherwise)."""
    input_shapes = input_shapes or {}
    output_types = output_types or {}
    graph_inputs = [helper.make_tensor_value_info(k, ELEM[v.dtype], input_shapes.get(k, list(v.shape)))
                    for k, v in inputs.items()]
    graph_outputs = [helper.make_tensor_value_info(o, output_types.get(o, TensorProto.FLOAT), None) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(list(nodes), name, graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    return model


def ort_run(model: onnx.ModelProto, feeds: Dict[str, np.ndarray], outputs: Optional[List[str]] = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(outputs, feeds)


def assert_same(got, expected, atol: float = 1e-5, rtol: float = 1e-4, name: str = "output") -> None:
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype}, expected {expected.dtype}"
    assert got.shape == expected.shape, f"{name}: shape {got.shape}, expected {expected.shape}"
    assert_close(got, expected, atol=atol, rtol=rtol, name=name)

"""Mutations of ONNX models and of their feeds, for the fuzz harness.

A case is a model's bytes plus the feeds to run it with. Mutations are byte-level (flips,
interesting bytes, truncation, spliced repeats) or structured through the onnx protobuf
(attribute values, integer constants, node arity, value names, declared input shapes, operator
types, opsets). Feeds come from the model's declared inputs, sometimes mutated the way a careless
caller would (zero-size dims, dims NumPy allows for free, NaN, wrong dtype or rank, strides).
Everything is drawn from one numpy Generator, so a seed names a case.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

# Integers that sit on the edges of what shapes, axes and indices can be.
INTERESTING_INTS = [0, 1, -1, 2, -2, 3, 7, 255, 2**31 - 1, 2**31, -(2**31), 2**32, 2**40, 2**57, 2**62,
                    2**63 - 1, -(2**63)]
INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF]

ELEM_DTYPES = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64, TensorProto.INT32: np.int32,
               TensorProto.BOOL: np.bool_, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}

SAME_ARITY_OPS = [["Relu", "Sigmoid", "Tanh", "Identity", "Neg", "Exp", "Shape", "Size", "Transpose", "Flatten",
                   "Softmax", "Not", "Abs", "Squeeze", "Unsqueeze"],
                  ["Add", "Mul", "Sub", "Div", "MatMul", "Reshape", "Expand", "Gather", "Equal", "Less", "Tile",
                   "Concat", "Pow", "Mod", "Max", "Min", "GatherElements"],
                  ["Slice", "Where", "Clip", "Range", "Gemm", "ScatterElements"]]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _interesting_int(rng: np.random.Generator, near: Optional[int] = None) -> int:
    if near is not None and rng.random() < 0.4:
        return int(near) + int(rng.integers(-3, 4))
    return int(_pick(rng, INTERESTING_INTS))


# Byte-level mutations.

def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = int(rng.integers(4))
    if kind == 0:
        for _ in range(int(rng.integers(1, 5))):
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        for _ in range(int(rng.integers(1, 3))):
            b[int(rng.integers(len(b)))] = _pick(rng, INTERESTING_BYTES)
    elif kind == 2:
        b = b[:int(rng.integers(len(b)))]
    else:
        start = int(rng.integers(len(b)))
        piece = b[start:start + int(rng.integers(1, 32))]
        at = int(rng.integers(len(b)))
        b[at:at] = piece
    return bytes(b)


# Structured mutations: each takes the model and the generator, changes the model in place, and
# returns False when it found nothing to change.

def _all_nodes(graph: onnx.GraphProto) -> List[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(a.g))
    return nodes


def _mutate_int_attribute(model, rng) -> bool:
    attrs = [a for n in _all_nodes(model.graph) for a in n.attribute
             if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)]
    if not attrs:
        return False
    a = _pick(rng, attrs)
    if a.type == onnx.AttributeProto.INT:
        a.i = _interesting_int(rng, a.i)
    elif len(a.ints) and rng.random() < 0.7:
        k = int(rng.integers(len(a.ints)))
        a.ints[k] = _interesting_int(rng, a.ints[k])
    elif len(a.ints) and rng.random() < 0.5:
        del a.ints[int(rng.integers(len(a.ints)))]
    else:
        a.ints.append(_interesting_int(rng))
    return True


def _int_tensors(model) -> List[onnx.TensorProto]:
    tensors = [t for t in model.graph.initializer if t.data_type in (TensorProto.INT64, TensorProto.INT32)]
    for n in _all_nodes(model.graph):
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type in (TensorProto.INT64, TensorProto.INT32):
                tensors.append(a.t)
    return tensors


def _mutate_int_constant(model, rng) -> bool:
    tensors = _int_tensors(model)
    if not tensors:
        return False
    t = _pick(rng, tensors)
    arr = numpy_helper.to_array(t).copy()
    if arr.size == 0:
        return False
    flat = arr.reshape(-1)
    k = int(rng.integers(flat.size))
    info = np.iinfo(flat.dtype)
    flat[k] = int(np.clip(_interesting_int(rng, int(flat[k])), info.min, info.max))
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return True


def _mutate_float_constant(model, rng) -> bool:
    tensors = [t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT]
    if not tensors:
        return False
    t = _pick(rng, tensors)
    arr = numpy_helper.to_array(t).copy()
    if arr.size == 0:
        return False
    arr.reshape(-1)[int(rng.integers(arr.size))] = _pick(rng, [np.nan, np.inf, -np.inf, 1e38, 0.0, -0.0])
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return True


def _mutate_tensor_dims(model, rng) -> bool:
    tensors = list(model.graph.initializer)
    if not tensors:
        return False
    t = _pick(rng, tensors)
    if len(t.dims) and rng.random() < 0.7:
        k = int(rng.integers(len(t.dims)))
        t.dims[k] = max(0, _interesting_int(rng, t.dims[k]))
    elif len(t.dims):
        del t.dims[int(rng.integers(len(t.dims)))]
    else:
        t.dims.append(int(rng.integers(0, 4)))
    return True


def _mutate_node_arity(model, rng) -> bool:
    nodes = _all_nodes(model.graph)
    if not nodes:
        return False
    n = _pick(rng, nodes)
    kind = int(rng.integers(6))
    if kind == 0:
        n.output.append(n.name + "_extra_" + str(int(rng.integers(100))))
        if rng.random() < 0.5:
            model.graph.output.add().name = n.output[-1]
    elif kind == 1 and len(n.output) > 1:
        del n.output[-1]
    elif kind == 2 and len(n.input):
        n.input[int(rng.integers(len(n.input)))] = ""
    elif kind == 3 and len(n.input):
        del n.input[-1]
    elif kind == 4:
        values = [v for m in nodes for v in m.output] + [i.name for i in model.graph.input]
        if values:
            n.input.append(_pick(rng, values))
    elif kind == 5 and len(n.output):
        # A node's output read as a graph output (an optional output most of all).
        model.graph.output.add().name = _pick(rng, list(n.output)) or n.output[0]
    else:
        return False
    return True


def _mutate_value_names(model, rng) -> bool:
    nodes = _all_nodes(model.graph)
    values = [v for n in nodes for v in n.output] + [i.name for i in model.graph.input] + \
        [t.name for t in model.graph.initializer]
    readers = [n for n in nodes if len(n.input)]
    if not values or not readers:
        return False
    n = _pick(rng, readers)
    n.input[int(rng.integers(len(n.input)))] = _pick(rng, values)
    return True


def _mutate_input_shape(model, rng) -> bool:
    inputs = [i for i in model.graph.input if i.type.HasField("tensor_type")]
    if not inputs:
        return False
    tt = _pick(rng, inputs).type.tensor_type
    kind = int(rng.integers(4))
    dims = tt.shape.dim
    if kind == 0 and len(dims):
        dims[int(rng.integers(len(dims)))].dim_value = max(0, _interesting_int(rng))
    elif kind == 1 and len(dims):
        del dims[int(rng.integers(len(dims)))]
    elif kind == 2:
        tt.shape.dim.add().dim_param = "extra"
    else:
        tt.elem_type = int(_pick(rng, list(ELEM_DTYPES)))
    return True


def _mutate_op_type(model, rng) -> bool:
    nodes = [n for n in _all_nodes(model.graph) if any(n.op_type in g for g in SAME_ARITY_OPS)]
    if not nodes:
        return False
    n = _pick(rng, nodes)
    group = next(g for g in SAME_ARITY_OPS if n.op_type in g)
    n.op_type = _pick(rng, group)
    return True


def _mutate_opset(model, rng) -> bool:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = int(_pick(rng, [1, 6, 7, 9, 10, 11, 12, 13, 14, 17, 18, 21, 22, 99]))
            return True
    return False


STRUCTURED: List[Callable[[onnx.ModelProto, np.random.Generator], bool]] = [
    _mutate_int_attribute, _mutate_int_attribute, _mutate_int_constant, _mutate_int_constant, _mutate_float_constant,
    _mutate_tensor_dims, _mutate_node_arity, _mutate_node_arity, _mutate_value_names, _mutate_input_shape,
    _mutate_op_type, _mutate_opset,
]


def mutate_structured(data: bytes, rng: np.random.Generator) -> bytes:
    model = onnx.load_from_string(data)
    for _ in range(int(rng.integers(1, 3))):
        for _attempt in range(4):
            try:
                if _pick(rng, STRUCTURED)(model, rng):
                    break
            except Exception:  # noqa: BLE001 (a mutation that an earlier one made impossible)
                continue
    return model.SerializeToString()


# Feeds.

def _dims_of(vi: onnx.ValueInfoProto, rng: np.random.Generator) -> List[int]:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return [int(rng.integers(1, 4))]
    return [d.dim_value if d.HasField("dim_value") else int(rng.integers(1, 4)) for d in tt.shape.dim]


def plausible_feeds(data: bytes, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Feeds for the model's declared inputs (initializers excluded); {} when it does not parse."""
    try:
        model = onnx.load_from_string(data)
    except Exception:
        return {}
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    symbolic: Dict[str, int] = {}
    for vi in model.graph.input:
        if vi.name in inits or not isinstance(vi.name, str) or not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        dims = []
        for d in (tt.shape.dim if tt.HasField("shape") else []):
            if d.HasField("dim_value"):
                dims.append(min(int(d.dim_value), 64))
            else:
                dims.append(symbolic.setdefault(d.dim_param, int(rng.integers(1, 4))))
        dtype = ELEM_DTYPES.get(tt.elem_type, np.float32)
        if np.issubdtype(dtype, np.integer):
            feeds[vi.name] = rng.integers(0, 5, dims).astype(dtype)
        elif dtype == np.bool_:
            feeds[vi.name] = rng.random(dims) < 0.5
        else:
            feeds[vi.name] = rng.standard_normal(dims).astype(dtype)
    return feeds


def mutate_feeds(feeds: Dict[str, np.ndarray], rng: np.random.Generator) -> Dict[str, np.ndarray]:
    if not feeds:
        return feeds
    feeds = dict(feeds)
    name = _pick(rng, sorted(feeds))
    x = feeds[name]
    kind = int(rng.integers(8))
    if kind == 0 and x.ndim:
        shape = list(x.shape)
        shape[int(rng.integers(x.ndim))] = 0
        feeds[name] = np.zeros(shape, x.dtype)
    elif kind == 1 and x.ndim >= 2:
        # Zero elements with a dimension no machine holds: NumPy makes it for free.
        shape = list(x.shape)
        zero, huge = rng.choice(x.ndim, 2, replace=False)
        shape[zero], shape[huge] = 0, _pick(rng, [2**31, 2**40, 2**57])
        feeds[name] = np.empty(shape, x.dtype)
    elif kind == 2 and x.dtype.kind == "f" and x.size:
        x = x.copy()
        x.reshape(-1)[int(rng.integers(x.size))] = _pick(rng, [np.nan, np.inf, -np.inf])
        feeds[name] = x
    elif kind == 3:
        feeds[name] = x.astype(_pick(rng, [np.float64, np.int32, np.int64, np.float32, np.bool_]))
    elif kind == 4:
        feeds[name] = x[None] if rng.random() < 0.5 or x.ndim == 0 else x.reshape(-1)
    elif kind == 5 and x.ndim:
        axis = int(rng.integers(x.ndim))
        if rng.random() < 0.5:
            feeds[name] = np.flip(x, axis=axis)  # negative strides
        else:
            feeds[name] = np.repeat(x, 2, axis=axis)[(slice(None),) * axis + (slice(None, None, 2),)]  # strided
    elif kind == 6 and x.ndim:
        shape = list(x.shape)
        shape[int(rng.integers(x.ndim))] = _pick(rng, [5, 17, 1000])
        feeds[name] = np.zeros(shape, x.dtype)
    else:
        del feeds[name]
    return feeds


def make_case(fixture: bytes, seed: int) -> Dict[str, object]:
    """The case a seed names: the mutated model and its feeds."""
    rng = np.random.default_rng(seed)
    kind = rng.random()
    if kind < 0.25:
        data = mutate_bytes(fixture, rng)
    elif kind < 0.85:
        data = mutate_structured(fixture, rng)
    else:
        data = fixture  # a good model with bad feeds
    feeds = plausible_feeds(data, rng)
    if kind >= 0.85 or rng.random() < 0.2:
        feeds = mutate_feeds(feeds, rng)
    return {"model": data, "feeds": feeds}

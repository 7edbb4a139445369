"""Loading an ONNX model and compiling it into lstmrt's C++ graph.

The file is parsed here with the ``onnx`` package (an optional dependency: ``pip install
lstmrt[onnx]``); the nodes, initializers, inputs and outputs are then handed to the C++ graph
builder in one call. The builder orders the nodes, folds every subgraph that depends only on
initializers into constants (the legacy exporter's Slice/Concat weight reordering, shape
arithmetic on constants), packs the recurrent and dense weights, and checks each node against the
operator registry, so an unsupported operator or attribute fails here, at load.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import _core

__all__ = ["MIN_OPSET", "MAX_OPSET", "load_model", "compile_model", "describe_model", "supported_ops",
           "ai_onnx_opset", "type_string", "value_shape"]

# The ai.onnx opsets whose operator semantics lstmrt implements.
MIN_OPSET = 7
MAX_OPSET = 22

# The element types the graph computes with, from the runtime's one table (tensor.h's
# kDTypeFacts): ONNX TensorProto code -> ONNX Runtime's type string, and the NumPy dtypes.
_SUPPORTED_ELEM_TYPES = {code: onnx_type for _, _, code, onnx_type in _core.dtypes()}
_SUPPORTED_NUMPY = tuple(np.dtype(name) for name, _, _, _ in _core.dtypes())
_SUPPORTED_NAMES = [name for name, _, _, _ in _core.dtypes()]


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("loading ONNX models needs the 'onnx' package: pip install 'lstmrt[onnx]'") from e
    return onnx


def supported_ops() -> List[str]:
    """The ai.onnx operators lstmrt's graph runtime implements."""
    return list(_core.supported_ops())


def _parse(data: bytes, what: str):
    onnx = _onnx()
    if len(data) == 0:
        raise ValueError(f"{what}: empty (0 bytes), not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{what}: not a valid ONNX model (truncated or not ONNX): {e}") from None
    _check_structure(model, what)
    return model


def _check_structure(model, what: str) -> None:
    """Rejects protobuf messages that parsed but are no usable model (random or cut-off bytes)."""
    if not model.HasField("graph") or len(model.graph.output) == 0:
        raise ValueError(f"{what}: not a valid ONNX model (truncated or not ONNX): it has no graph with outputs")
    if model.ir_version <= 0:
        raise ValueError(f"{what}: not a valid ONNX model (truncated or not ONNX): it has no IR version")


def load_model(model: Any):
    """Returns the ``onnx.ModelProto`` for a path, bytes, or a ModelProto.

    A path loads its external data (``.onnx.data`` beside the file) too. Raises
    FileNotFoundError for a missing file, ValueError for an empty, truncated or non-ONNX file
    and for an opset outside 7..22, TypeError for any other kind of argument.
    """
    onnx = _onnx()
    if isinstance(model, onnx.ModelProto):
        _check_structure(model, "the ModelProto")
        _check_names(model.graph)
        _check_external_data(model, None)  # loaded without its external data
        _check_opset(model)
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        proto = _parse(bytes(model), "the model bytes")
        _check_names(proto.graph)
        _check_external_data(proto, None)
        _check_opset(proto)
        return proto
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such ONNX model file: '{path}'")
        if os.path.isdir(path):
            raise ValueError(f"'{path}' is a directory, not an ONNX model file")
        with open(path, "rb") as f:
            data = f.read()
        proto = _parse(data, f"'{path}'")
        _check_names(proto.graph)
        _check_external_data(proto, os.path.dirname(os.path.abspath(path)))
        if _uses_external_data(proto):
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(proto, os.path.dirname(os.path.abspath(path)))
        _check_opset(proto)
        return proto
    raise TypeError(f"model: expected a path, bytes or an onnx.ModelProto, got {type(model).__name__}")


def _check_names(g, what: str = "the graph") -> None:
    """Every value, operator and attribute name must be text: protobuf hands names that are not
    valid UTF-8 (a damaged file) over as bytes, which the graph's inputs and outputs cannot be
    named by. Node names only appear in messages, which escape their bytes."""
    def check(name, kind):
        if isinstance(name, bytes):
            raise ValueError(f"{what}: the {kind} name {name!r} is not valid UTF-8 (a damaged file, or not ONNX)")

    for vi in list(g.input) + list(g.output) + list(g.value_info):
        check(vi.name, "value")
        if vi.type.HasField("tensor_type"):
            for d in vi.type.tensor_type.shape.dim:
                check(d.dim_param, "dimension")
    for t in g.initializer:
        check(t.name, "initializer")
    for node in g.node:
        check(node.op_type, "operator")
        check(node.domain, "domain")
        for name in list(node.input) + list(node.output):
            check(name, "value")
        for a in node.attribute:
            check(a.name, "attribute")
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _check_names(sub, f"{what}, in node '{node.name}'")


def _graph_tensors(g):
    yield from g.initializer
    for n in g.node:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _graph_tensors(a.g)
            for sub in a.graphs:
                yield from _graph_tensors(sub)


def _external_tensors(model):
    from onnx import TensorProto

    return [t for t in _graph_tensors(model.graph)
            if t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL]


def _uses_external_data(model) -> bool:
    return bool(_external_tensors(model))


def _check_external_data(model, base_dir: Optional[str]) -> None:
    for t in _external_tensors(model):
        location = next((e.value for e in t.external_data if e.key == "location"), "?")
        if base_dir is None:
            raise ValueError(f"tensor '{t.name}' is stored in the external file '{location}'; load the model from "
                             f"its path so that the data beside it is found")
        # The data must lie in the model's folder or below it: a model file is not allowed to
        # make lstmrt read any other file of the machine (absolute paths, '..', links out).
        inside = os.path.realpath(os.path.join(base_dir, location))
        root = os.path.realpath(base_dir)
        if os.path.isabs(location) or os.path.commonpath([inside, root]) != root:
            raise ValueError(f"tensor '{t.name}' is stored in the external file '{location}', which lies outside "
                             f"the model's folder {base_dir}; lstmrt reads external data only from that folder")
        if not os.path.exists(os.path.join(base_dir, location)):
            raise FileNotFoundError(f"tensor '{t.name}' is stored in the external file '{location}', which is "
                                    f"missing from {base_dir}")


def ai_onnx_opset(model) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise ValueError("the model imports no ai.onnx opset")


def _check_opset(model) -> int:
    v = ai_onnx_opset(model)
    if not MIN_OPSET <= v <= MAX_OPSET:
        raise ValueError(f"the model uses ai.onnx opset {v}, which lstmrt does not know; "
                         f"lstmrt supports opsets {MIN_OPSET} to {MAX_OPSET}")
    return v


# ------------------------------------------------------------------------------------------------
# Converting the graph into the C++ builder's plain description.

def _tensor_array(t, what: str) -> np.ndarray:
    from onnx import numpy_helper

    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:
        raise ValueError(f"{what}: cannot read the tensor data (truncated file?): {e}") from None
    if arr.dtype not in _SUPPORTED_NUMPY:
        raise TypeError(f"{what}: element type {arr.dtype} is not supported "
                        f"(lstmrt computes with {', '.join(_SUPPORTED_NAMES[:-1])} and {_SUPPORTED_NAMES[-1]})")
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one.)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _attribute(a, where: str) -> Tuple[str, Any]:
    from onnx import AttributeProto as A

    if a.ref_attr_name:
        raise ValueError(f"{where}: attribute '{a.name}' refers to a function attribute outside a function")
    if a.type == A.INT:
        return ("int", int(a.i))
    if a.type == A.FLOAT:
        return ("float", float(a.f))
    if a.type == A.STRING:
        return ("string", a.s.decode("utf-8", "replace"))
    if a.type == A.INTS:
        return ("ints", [int(v) for v in a.ints])
    if a.type == A.FLOATS:
        return ("floats", [float(v) for v in a.floats])
    if a.type == A.STRINGS:
        return ("strings", [s.decode("utf-8", "replace") for s in a.strings])
    if a.type == A.TENSOR:
        return ("tensor", _tensor_array(a.t, f"{where}: attribute '{a.name}'"))
    # Subgraphs are described by _describe_graph (they need the enclosing scope); sparse tensors
    # and type protos: no supported operator reads them.
    return ("graph", None)


def value_shape(vi) -> Optional[List[Any]]:
    """A ValueInfo's shape as onnxruntime reports it: ints, strings for symbolic dims, None for
    unknown ones; None when no shape is declared."""
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims: List[Any] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _elem_type(vi, what: str) -> int:
    if vi.type.WhichOneof("value") != "tensor_type":
        raise TypeError(f"{what} '{vi.name}' is not a tensor ({vi.type.WhichOneof('value')}); "
                        f"lstmrt supports tensor inputs and outputs only")
    return int(vi.type.tensor_type.elem_type)


def type_string(elem_type: int) -> str:
    """'tensor(float)' and the like, as onnxruntime names types."""
    if elem_type in _SUPPORTED_ELEM_TYPES:
        return _SUPPORTED_ELEM_TYPES[elem_type]
    from onnx import helper

    try:
        np_type = helper.tensor_dtype_to_np_dtype(elem_type)
        names = {np.dtype(np.float64): "double", np.dtype(np.float16): "float16"}
        return f"tensor({names.get(np.dtype(np_type), np.dtype(np_type).name)})"
    except Exception:
        return f"tensor(type {elem_type})"


def _inline_functions(model) -> List[Any]:
    """The graph's nodes with calls of model-local functions replaced by their bodies."""
    from onnx import helper

    functions = {(f.domain, f.name): f for f in model.functions}
    if not functions:
        return list(model.graph.node)
    counter = [0]

    def expand(node, depth: int) -> List[Any]:
        f = functions.get((node.domain, node.op_type))
        if f is None:
            return [node]
        if depth > 32:
            raise ValueError(f"function '{node.op_type}' calls itself too deeply")
        counter[0] += 1
        prefix = f"{node.name or node.op_type}/{counter[0]}/"
        rename = {formal: actual for formal, actual in zip(f.input, node.input)}
        rename.update({formal: actual for formal, actual in zip(f.output, node.output)})
        attrs = {a.name: a for a in node.attribute}
        for a in f.attribute_proto:
            attrs.setdefault(a.name, a)
        out = []
        for inner in f.node:
            new = helper.make_node(inner.op_type, [], [], name=prefix + inner.name, domain=inner.domain)
            new.input.extend([rename.get(i, prefix + i) if i else "" for i in inner.input])
            new.output.extend([rename.get(o, prefix + o) if o else "" for o in inner.output])
            for a in inner.attribute:
                if a.ref_attr_name:
                    if a.ref_attr_name not in attrs:
                        continue  # an optional attribute the caller did not set
                    b = new.attribute.add()
                    b.CopyFrom(attrs[a.ref_attr_name])
                    b.name = a.name
                else:
                    new.attribute.add().CopyFrom(a)
            out.extend(expand(new, depth + 1))
        return out

    nodes: List[Any] = []
    for node in model.graph.node:
        nodes.extend(expand(node, 0))
    return nodes


def _graph_reads(g) -> List[str]:
    """Names a graph (and the graphs nested in it) reads but does not define: the values it
    takes from the enclosing scopes, in order of first use."""
    defined = {vi.name for vi in g.input} | {t.name for t in g.initializer} | {""}
    reads: List[str] = []
    for node in g.node:
        names = list(node.input)
        for a in node.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                names.extend(_graph_reads(sub))
        for name in names:
            if name not in defined and name not in reads:
                reads.append(name)
        defined.update(node.output)
    return [name for name in reads if name not in defined]


def _describe_graph(g, opset: int, nodes_in, main: bool) -> Tuple[list, list, list, list]:
    """(nodes, initializers, inputs, outputs) of a graph or subgraph, as the C++ builder takes them.

    A node with a subgraph (Loop's body) gets the names that the subgraph reads from the
    enclosing scopes appended to its inputs, listed in its attribute ``lstmrt.captured``, so that
    the builder sees them as ordinary inputs (constant or not) of that node.
    """
    what = "initializer" if main else "subgraph initializer"
    if len(g.sparse_initializer):
        raise ValueError("sparse initializers are not supported")
    initializers = [(t.name, _tensor_array(t, f"{what} '{t.name}'")) for t in g.initializer]
    init_names = {name for name, _ in initializers}
    inputs = []
    for vi in g.input:
        if vi.name in init_names:
            continue  # IR < 4 models list initializers as inputs too; they stay constants
        elem = _elem_type(vi, "graph input")
        if elem not in _SUPPORTED_ELEM_TYPES and (main or elem != 0):
            raise TypeError(f"graph input '{vi.name}' has type {type_string(elem)}; lstmrt supports "
                            f"{', '.join(_SUPPORTED_ELEM_TYPES.values())}")
        inputs.append((vi.name, elem, value_shape(vi) if main else None))
    nodes = []
    for i, node in enumerate(nodes_in):
        name = node.name or f"{node.op_type}_{i}"
        where = f"{node.op_type} node '{name}' (opset {opset})"
        attrs = {}
        node_inputs = list(node.input)
        for a in node.attribute:
            subgraphs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
            if a.HasField("g"):
                attrs[a.name] = ("graph", _describe_graph(a.g, opset, list(a.g.node), main=False))
            else:
                attrs[a.name] = _attribute(a, where)
            for sub in subgraphs:
                for captured in _graph_reads(sub):
                    if captured not in node_inputs[len(node.input):]:
                        node_inputs.append(captured)
        if len(node_inputs) > len(node.input):
            attrs["lstmrt.captured"] = ("strings", node_inputs[len(node.input):])
        nodes.append((name, node.op_type, node.domain, node_inputs, list(node.output), attrs))
    outputs = [o.name for o in g.output]
    return nodes, initializers, inputs, outputs


def describe_model(model) -> Dict[str, Any]:
    """The plain description the C++ builder takes: opset, nodes, initializers, inputs, outputs."""
    opset = _check_opset(model)
    nodes, initializers, inputs, outputs = _describe_graph(model.graph, opset, _inline_functions(model), main=True)
    return {"opset": opset, "nodes": nodes, "initializers": initializers, "inputs": inputs, "outputs": outputs}


def compile_model(model, precision: str = "fp32") -> "_core.Graph":
    """Compiles a loaded ModelProto into the C++ graph (folding, packing, op building), its
    constant weights packed in ``precision`` ("fp32", "bf16" or "int8")."""
    d = describe_model(model)
    return _core.Graph(d["opset"], d["nodes"], d["initializers"], d["inputs"], d["outputs"], precision)


# ------------------------------------------------------------------------------------------------
# Dimensions an exporter froze

_RECURRENT_OPS = ("LSTM", "GRU", "RNN")
EXPORT_SECTION = "README.md, 'Exporting a model so that it streams'"


def frozen_sequence_reshapes(model) -> List[Dict[str, Any]]:
    """The Reshape/Expand nodes that fix the sequence length of a recurrent layer's output to a
    constant, in a model whose inputs declare a symbolic dimension: what PyTorch's dynamo exporter
    writes (``torch.onnx.export(..., dynamo=True)`` reshapes ``Y`` with the example input's
    length, e.g. ``[6, -1, 8]``). Such a model runs only on sequences of that length.

    Each entry: ``node`` (its name), ``op``, ``shape`` (the constant), ``length`` (the frozen
    sequence length: the constant's first entry above 1 before the last axis) and ``axes``
    (``{graph input: its sequence axis}`` for the inputs that reach a recurrent layer's X).
    """
    g = model.graph
    if not any(isinstance(d, str) for vi in g.input for d in (value_shape(vi) or [])):
        return []
    constants: Dict[str, np.ndarray] = {}
    for t in g.initializer:
        if t.data_type == 7 and len(t.dims) == 1:  # INT64 vectors: shapes
            constants[t.name] = _onnx().numpy_helper.to_array(t)
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = _onnx().numpy_helper.to_array(node.attribute[0].t)
    producer = {out: node for node in g.node for out in node.output}

    def from_recurrent(name: str, depth: int = 4) -> bool:
        # Y reaches the Reshape through Squeeze/Transpose/Identity (a few layout nodes).
        node = producer.get(name)
        if node is None or depth == 0:
            return False
        if node.op_type in _RECURRENT_OPS:
            return True
        return node.op_type in ("Squeeze", "Transpose", "Identity", "Unsqueeze") and from_recurrent(node.input[0], depth - 1)

    declared = {vi.name: value_shape(vi) or [] for vi in g.input}
    axes: Dict[str, int] = {}
    for node in g.node:
        if node.op_type not in _RECURRENT_OPS or not node.input:
            continue
        layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
        name, axis = node.input[0], (1 if layout == 1 else 0)
        for _ in range(4):  # back through the layout nodes between the graph input and X
            src = producer.get(name)
            if src is None or src.op_type not in ("Transpose", "Identity", "Cast"):
                break
            if src.op_type == "Transpose":
                perm = next((list(a.ints) for a in src.attribute if a.name == "perm"), None)
                if perm is None or not 0 <= axis < len(perm):
                    break
                axis = perm[axis]
            name = src.input[0]
        dims = declared.get(name)
        if dims and 0 <= axis < len(dims) and isinstance(dims[axis], str):  # a bad perm gives any axis
            axes[name] = axis

    found = []
    for node in g.node:
        if node.op_type not in ("Reshape", "Expand") or len(node.input) < 2 or node.input[1] not in constants:
            continue
        shape = [int(v) for v in np.asarray(constants[node.input[1]]).reshape(-1)]
        fixed = [v for v in shape[:-1] if v > 1]
        if fixed and from_recurrent(node.input[0]):
            found.append({"node": node.name, "op": node.op_type, "shape": shape, "length": fixed[0], "axes": axes})
    return found


def check_frozen_length(frozen: List[Dict[str, Any]], feeds: Any) -> None:
    """Raises ValueError (with :func:`frozen_sequence_hint`) when a feed's sequence axis is not the
    frozen length: such a run could fail deep in the graph, or, worse, reshape into wrong rows."""
    if not isinstance(feeds, dict):
        return
    f = frozen[0]
    for name, axis in f["axes"].items():
        shape = getattr(feeds.get(name), "shape", None)
        if shape is not None and len(shape) > axis and shape[axis] != f["length"]:
            raise ValueError(f"input '{name}': a sequence of {shape[axis]} step{'' if shape[axis] == 1 else 's'} (axis {axis} of shape "
                             f"{list(shape)})" + frozen_sequence_hint(frozen))


def frozen_sequence_hint(frozen: List[Dict[str, Any]]) -> str:
    """A plain-words explanation of :func:`frozen_sequence_reshapes`' findings, for error messages."""
    f = frozen[0]
    return (f"\nThis model only runs on sequences of {f['length']} steps: its {f['op']} node '{f['node']}' "
            f"reshapes a recurrent layer's output to the constant shape {f['shape']}, although the inputs "
            f"declare the sequence length symbolic. PyTorch's dynamo exporter "
            f"(torch.onnx.export(..., dynamo=True)) freezes the sequence length at the example input's; "
            f"export with dynamo=False and dynamic_axes to run or stream other lengths (see {EXPORT_SECTION}).")

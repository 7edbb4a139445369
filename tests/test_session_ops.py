"""Every supported operator, in small models built with onnx.helper, against onnxruntime.

Each case is one or a few nodes with NumPy broadcasting where the operator has it, and the opset
variants where an attribute became an input (Squeeze/Unsqueeze axes and Split's split in 13,
Slice's starts/ends in 10, Reduce* axes in 13/18, Clip's bounds in 11, Softmax's axis in 13).
The graph inputs are fed at run time, so nothing is folded away; a second run of every case
uses constants instead (initializers), so the same ops also run in the load-time folding.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run

rng = np.random.default_rng(1234)
F, I64, I32, B = np.float32, np.int64, np.int32, np.bool_


def f(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(F)


def i64(*values):
    return np.array(values, dtype=I64)


def node(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), **attrs)


U8, I8 = np.uint8, np.int8
OUT_TYPES = {F: TensorProto.FLOAT, I64: TensorProto.INT64, I32: TensorProto.INT32, B: TensorProto.BOOL,
             U8: TensorProto.UINT8, I8: TensorProto.INT8}

# (id, opset, nodes, inputs, {output: dtype}, constants)
CASES = []


def case(id_, opset, nodes, inputs, outputs=None, consts=None):
    CASES.append(pytest.param(opset, nodes, inputs, outputs or {"y": F}, consts or {}, id=id_))


# --- elementwise arithmetic with broadcasting ----------------------------------------------
for op in ("Add", "Sub", "Mul", "Div"):
    for sa, sb in (((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), (2, 3)), ((1,), (5, 1, 1))):
        b = f(*sb, low=0.5, high=2.0)
        case(f"{op}-{sa}-{sb}", 14, [node(op, ["a", "b"])], {"a": f(*sa), "b": b})
case("Add-int64", 14, [node("Add", ["a", "b"])], {"a": i64(1, 2, 3), "b": i64(10)}, {"y": I64})
case("Mul-int32", 14, [node("Mul", ["a", "b"])], {"a": np.arange(6, dtype=I32).reshape(2, 3),
                                                   "b": np.array([[2], [3]], I32)}, {"y": I32})
case("Div-int64", 14, [node("Div", ["a", "b"])], {"a": i64(7, 8, 9, 10), "b": i64(2)}, {"y": I64})
case("Pow-float", 15, [node("Pow", ["a", "b"])], {"a": f(2, 3, low=0.1, high=2), "b": f(3, low=-2, high=2)})
case("Pow-square", 15, [node("Pow", ["a", "b"])], {"a": f(2, 3), "b": np.array(2.0, F)})
case("Pow-int-exponent", 15, [node("Pow", ["a", "b"])], {"a": f(4), "b": i64(3)})
case("Mod-int", 13, [node("Mod", ["a", "b"])], {"a": i64(-7, 7, 5), "b": i64(3, -3, 2)}, {"y": I64})
case("Mod-fmod", 13, [node("Mod", ["a", "b"], fmod=1)], {"a": f(5), "b": f(5, low=0.5, high=1.5)})
case("PRelu", 16, [node("PRelu", ["a", "b"])], {"a": f(2, 3, 4), "b": f(4)})
for op in ("Max", "Min", "Sum", "Mean"):
    case(f"{op}-variadic", 13, [node(op, ["a", "b", "c"])], {"a": f(2, 1, 4), "b": f(3, 1), "c": f(4)})
case("Max-single", 13, [node("Max", ["a"])], {"a": f(3)})

# --- comparisons and logic -----------------------------------------------------------------
for op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
    a = np.array([[1, 2, 3], [3, 2, 1]], F)
    case(f"{op}-float", 16, [node(op, ["a", "b"])], {"a": a, "b": np.array([2, 2, 2], F)}, {"y": B})
    case(f"{op}-int64", 16, [node(op, ["a", "b"])], {"a": i64(1, 5, 3), "b": i64(3)}, {"y": B})
case("Equal-bool", 11, [node("Equal", ["a", "b"])], {"a": np.array([True, False]), "b": np.array([True])}, {"y": B})
for op in ("And", "Or", "Xor"):
    case(op, 7, [node(op, ["a", "b"])], {"a": np.array([[True, False], [False, True]]),
                                        "b": np.array([True, False])}, {"y": B})
case("Not", 1 + 6, [node("Not", ["a"])], {"a": np.array([True, False, True])}, {"y": B})
case("Where-float", 16, [node("Where", ["c", "a", "b"])],
     {"c": np.array([[True], [False]]), "a": f(2, 3), "b": f(3)})
case("Where-scalar-else", 16, [node("Where", ["c", "a", "b"])],
     {"c": rng.random((2, 40)) < 0.5, "a": f(2, 40), "b": np.array(0.0, F)})
case("Where-scalar-then", 16, [node("Where", ["c", "a", "b"])],
     {"c": rng.random((3, 1, 33)) < 0.5, "a": np.array(-1.5, F), "b": f(3, 4, 33)})
case("Where-all-contiguous", 16, [node("Where", ["c", "a", "b"])],
     {"c": rng.random((5, 17)) < 0.5, "a": f(5, 17), "b": f(5, 17)})
case("Where-int64", 16, [node("Where", ["c", "a", "b"])], {"c": np.array([True, False, True]), "a": i64(1, 2, 3),
                                                           "b": i64(-1)}, {"y": I64})

# --- unary ---------------------------------------------------------------------------------
UNARY = [("Relu", 14, {}), ("LeakyRelu", 16, {"alpha": 0.2}), ("Sigmoid", 13, {}), ("Tanh", 13, {}),
         ("Exp", 13, {}), ("Neg", 13, {}), ("Abs", 13, {}), ("Erf", 13, {}), ("Softplus", 7, {}),
         ("Softsign", 7, {}), ("Elu", 7, {"alpha": 0.7}), ("HardSigmoid", 7, {"alpha": 0.3, "beta": 0.4}),
         ("Floor", 13, {}), ("Ceil", 13, {}), ("Sign", 13, {}), ("Selu", 7, {}), ("Celu", 12, {"alpha": 1.5}),
         ("HardSwish", 14, {}), ("ThresholdedRelu", 10, {"alpha": 0.5}), ("Sin", 7, {}), ("Cos", 7, {}),
         ("Gelu", 20, {}), ("Gelu", 20, {"approximate": "tanh"})]
for op, opset, attrs in UNARY:
    case(f"{op}-{attrs.get('approximate', '')}", opset, [node(op, ["x"], **attrs)], {"x": f(3, 4, low=-4, high=4)})
for op in ("Log", "Sqrt", "Reciprocal"):
    case(op, 13, [node(op, ["x"])], {"x": f(3, 4, low=0.1, high=4)})
case("Round-half-even", 11, [node("Round", ["x"])], {"x": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3], F)})
case("Relu-int", 14, [node("Relu", ["x"])], {"x": np.array([-2, 0, 3], I32)}, {"y": I32})
case("Abs-int", 13, [node("Abs", ["x"])], {"x": i64(-2, 0, 3)}, {"y": I64})
case("Clip-attrs-opset7", 7, [node("Clip", ["x"], min=-0.5, max=0.7)], {"x": f(10)})
case("Clip-inputs-opset13", 13, [node("Clip", ["x", "lo", "hi"])], {"x": f(10), "lo": np.array(-0.3, F),
                                                                     "hi": np.array(0.2, F)})
case("Clip-min-only", 13, [node("Clip", ["x", "lo"])], {"x": f(10), "lo": np.array(0.0, F)})
case("Clip-int", 13, [node("Clip", ["x", "lo", "hi"])], {"x": i64(-5, 0, 5), "lo": np.array(-1, I64),
                                                         "hi": np.array(2, I64)}, {"y": I64})

# --- Cast ----------------------------------------------------------------------------------
case("Cast-float-int64", 13, [node("Cast", ["x"], to=TensorProto.INT64)],
     {"x": np.array([-2.7, -0.5, 0.5, 2.7], F)}, {"y": I64})
case("Cast-int64-float", 13, [node("Cast", ["x"], to=TensorProto.FLOAT)], {"x": i64(1, -2, 3)})
case("Cast-float-bool", 13, [node("Cast", ["x"], to=TensorProto.BOOL)], {"x": np.array([0, 1.5, -0.0], F)}, {"y": B})
case("Cast-bool-float", 13, [node("Cast", ["x"], to=TensorProto.FLOAT)], {"x": np.array([True, False])})
case("Cast-int32-int64", 9, [node("Cast", ["x"], to=TensorProto.INT64)], {"x": np.array([1, -2], I32)}, {"y": I64})
case("CastLike", 15, [node("CastLike", ["x", "t"])], {"x": np.array([1.9, -2.2], F), "t": i64(0)}, {"y": I64})

# --- shapes and data movement ---------------------------------------------------------------
case("Reshape-0-minus1", 13, [node("Reshape", ["x", "s"])], {"x": f(2, 3, 4), "s": i64(0, -1)})
case("Reshape-allowzero", 14, [node("Reshape", ["x", "s"], allowzero=1)], {"x": f(2, 0, 4), "s": i64(0, 8)})
case("Reshape-opset7", 7, [node("Reshape", ["x", "s"])], {"x": f(2, 3, 4), "s": i64(4, 6)})
for axis in (0, 2, -1):
    case(f"Flatten-{axis}", 13, [node("Flatten", ["x"], axis=axis)], {"x": f(2, 3, 4)})
case("Squeeze-attr-opset11", 11, [node("Squeeze", ["x"], axes=[1, -1])], {"x": f(2, 1, 3, 1)})
case("Squeeze-all-opset11", 11, [node("Squeeze", ["x"])], {"x": f(1, 3, 1)})
case("Squeeze-input-opset13", 13, [node("Squeeze", ["x", "a"])], {"x": f(2, 1, 3, 1), "a": i64(-1)})
case("Squeeze-noaxes-opset13", 13, [node("Squeeze", ["x"])], {"x": f(1, 3, 1)})
case("Unsqueeze-attr-opset11", 11, [node("Unsqueeze", ["x"], axes=[0, -1])], {"x": f(2, 3)})
case("Unsqueeze-attr-opset7", 7, [node("Unsqueeze", ["x"], axes=[0, 3])], {"x": f(2, 3)})
case("Unsqueeze-input-opset13", 13, [node("Unsqueeze", ["x", "a"])], {"x": f(2, 3), "a": i64(1, -1)})
case("Unsqueeze-scalar", 13, [node("Unsqueeze", ["x", "a"])], {"x": i64(5).reshape(()), "a": i64(0)}, {"y": I64})
case("Transpose-default", 13, [node("Transpose", ["x"])], {"x": f(2, 3, 4)})
case("Transpose-perm", 13, [node("Transpose", ["x"], perm=[1, 0, 2])], {"x": f(2, 3, 4)})
case("Transpose-4d", 13, [node("Transpose", ["x"], perm=[0, 2, 3, 1])], {"x": f(2, 3, 4, 5)})
case("Concat-float", 13, [node("Concat", ["a", "b", "c"], axis=-1)], {"a": f(2, 1), "b": f(2, 3), "c": f(2, 0)})
case("Concat-int64", 11, [node("Concat", ["a", "b"], axis=0)], {"a": i64(1), "b": i64(2, 3)}, {"y": I64})
case("Split-attr-opset11", 11, [node("Split", ["x"], ["y", "z"], axis=1, split=[1, 3])], {"x": f(2, 4)},
     {"y": F, "z": F})
case("Split-equal-opset13", 13, [node("Split", ["x"], ["y", "z"], axis=0)], {"x": f(4, 3)}, {"y": F, "z": F})
case("Split-input-opset13", 13, [node("Split", ["x", "s"], ["y", "z", "w"], axis=-1)],
     {"x": f(2, 6), "s": i64(1, 2, 3)}, {"y": F, "z": F, "w": F})
case("Split-uneven-opset18", 18, [node("Split", ["x"], ["y", "z", "w"], axis=0, num_outputs=3)], {"x": f(7, 2)},
     {"y": F, "z": F, "w": F})
case("Slice-attrs-opset9", 9, [node("Slice", ["x"], starts=[1, 0], ends=[3, -1], axes=[0, 2])], {"x": f(4, 3, 5)})
case("Slice-inputs", 13, [node("Slice", ["x", "s", "e", "a", "p"])],
     {"x": f(5, 6), "s": i64(-1, 1), "e": i64(-100, 9223372036854775807), "a": i64(0, 1), "p": i64(-2, 2)})
case("Slice-noaxes", 10, [node("Slice", ["x", "s", "e"])], {"x": f(5, 6), "s": i64(1), "e": i64(3)})
case("Slice-empty", 13, [node("Slice", ["x", "s", "e"])], {"x": f(5, 6), "s": i64(3), "e": i64(1)})
case("Slice-reverse", 13, [node("Slice", ["x", "s", "e", "a", "p"])],
     {"x": f(4, 3), "s": i64(-1), "e": i64(-9223372036854775807), "a": i64(0), "p": i64(-1)})
case("Shape", 13, [node("Shape", ["x"])], {"x": f(2, 3, 4)}, {"y": I64})
case("Shape-start-end", 15, [node("Shape", ["x"], start=1, end=-1)], {"x": f(2, 3, 4, 5)}, {"y": I64})
case("Size", 13, [node("Size", ["x"])], {"x": f(2, 3, 4)}, {"y": I64})
case("Expand", 13, [node("Expand", ["x", "s"])], {"x": f(3, 1), "s": i64(2, 1, 4)})
case("Expand-smaller-shape", 13, [node("Expand", ["x", "s"])], {"x": f(2, 3), "s": i64(1, 1)})
case("Tile", 13, [node("Tile", ["x", "r"])], {"x": f(2, 3), "r": i64(2, 3)})
case("Gather-axis0", 13, [node("Gather", ["x", "i"])], {"x": f(5, 3), "i": i64(0, -1, 2, 2).reshape(2, 2)})
case("Gather-axis1-int32", 13, [node("Gather", ["x", "i"], axis=1)], {"x": f(2, 4, 3), "i": np.array([3, 0], I32)})
case("Gather-scalar", 13, [node("Gather", ["x", "i"])], {"x": i64(4, 5, 6), "i": np.array(1, I64)}, {"y": I64})
case("ConstantOfShape-int", 9, [node("ConstantOfShape", ["s"], value=helper.make_tensor("v", TensorProto.INT64, [1], [7]))],
     {"s": i64(2, 3)}, {"y": I64})
case("ConstantOfShape-default", 9, [node("ConstantOfShape", ["s"])], {"s": i64(3)})
case("Range-float", 11, [node("Range", ["a", "b", "c"])], {"a": np.array(1.0, F), "b": np.array(3.2, F),
                                                           "c": np.array(0.5, F)})
case("Range-int", 11, [node("Range", ["a", "b", "c"])], {"a": np.array(10, I64), "b": np.array(2, I64),
                                                         "c": np.array(-3, I64)}, {"y": I64})
case("Identity", 13, [node("Identity", ["x"])], {"x": f(2, 3)})
case("Dropout-opset12", 12, [node("Dropout", ["x", "r"], ["y", "m"])], {"x": f(2, 3), "r": np.array(0.5, F)},
     {"y": F, "m": B})
# (Before opset 12 onnxruntime's inference mask is all False, the spec's all True; only y is compared.)
case("Dropout-opset10", 10, [node("Dropout", ["x"], ["y"], ratio=0.3)], {"x": f(2, 3)})
case("Constant-tensor", 9, [node("Constant", [], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [2], [1.5, -2])),
                            node("Add", ["x", "c"])], {"x": f(3, 2)})
case("Constant-value-ints", 13, [node("Constant", [], ["c"], value_ints=[2, 3]), node("Reshape", ["x", "c"])],
     {"x": f(6)})
case("Constant-value-float", 13, [node("Constant", [], ["c"], value_float=0.25), node("Mul", ["x", "c"])], {"x": f(4)})

# --- index-driven ops ----------------------------------------------------------------------
case("TopK-largest", 11, [node("TopK", ["x", "k"], ["y", "i"], axis=1)],
     {"x": np.array([[1, 3, 3, 2], [0, -1, 5, 5]], F), "k": i64(3)}, {"y": F, "i": I64})
case("TopK-smallest-int", 11, [node("TopK", ["x", "k"], ["y", "i"], axis=0, largest=0)],
     {"x": i64(4, 1, 3, 1, 9), "k": i64(2)}, {"y": I64, "i": I64})
case("TopK-opset9", 9, [node("TopK", ["x"], ["y", "i"], k=2)], {"x": f(3, 5)}, {"y": F, "i": I64})
case("GatherElements", 13, [node("GatherElements", ["x", "i"], axis=1)],
     {"x": f(2, 3), "i": np.array([[2, 0], [-1, 1]], I64)})
case("ScatterElements", 13, [node("ScatterElements", ["x", "i", "u"], axis=0)],
     {"x": f(3, 2), "i": np.array([[2, 0], [0, 1]], I64), "u": f(2, 2)})
case("ScatterElements-add", 16, [node("ScatterElements", ["x", "i", "u"], axis=1, reduction="add")],
     {"x": f(2, 3), "i": np.array([[1, 1], [0, 2]], I64), "u": f(2, 2)})
case("Scatter-opset9", 9, [node("Scatter", ["x", "i", "u"], axis=1)],
     {"x": f(2, 3), "i": np.array([[1], [0]], I64), "u": f(2, 1)})

case("ReverseSequence-time0", 10, [node("ReverseSequence", ["x", "l"], batch_axis=1, time_axis=0)],
     {"x": f(4, 3, 2), "l": i64(4, 1, 2)})
case("ReverseSequence-batch0", 10, [node("ReverseSequence", ["x", "l"], batch_axis=0, time_axis=1)],
     {"x": f(3, 5), "l": i64(5, 0, 3)})


# --- Loop (what tf2onnx writes for Keras recurrent layers) -------------------------------------
def _loop_body(with_cond_limit):
    # Carried: acc (float [2]), w (float [2], passed through unchanged, as tf2onnx carries
    # weights). Reads x from the enclosing graph. Scan output: acc * w at each step.
    t = TensorProto
    nodes = [node("Gather", ["x", "i"], ["xi"]),
             node("Add", ["acc_in", "xi"], ["acc_out"]),
             node("Mul", ["acc_out", "w_in"], ["scan"]),
             node("Identity", ["cond_in"], ["cond_out"])]
    if with_cond_limit:  # stop after the step with i == 2
        nodes[-1] = node("Less", ["i", "two"], ["cond_out"])
        nodes.insert(0, node("Constant", [], ["two"], value=helper.make_tensor("v", t.INT64, [], [2])))
    return helper.make_graph(
        nodes, "body",
        [helper.make_tensor_value_info("i", t.INT64, []), helper.make_tensor_value_info("cond_in", t.BOOL, []),
         helper.make_tensor_value_info("acc_in", t.FLOAT, [2]), helper.make_tensor_value_info("w_in", t.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", t.BOOL, []), helper.make_tensor_value_info("acc_out", t.FLOAT, [2]),
         helper.make_tensor_value_info("w_in", t.FLOAT, [2]), helper.make_tensor_value_info("scan", t.FLOAT, [2])])


case("Loop-trip-count", 13, [node("Loop", ["M", "", "acc0", "w"], ["acc", "w_out", "y"], body=_loop_body(False))],
     {"M": np.array(4, I64), "acc0": f(2), "w": f(2), "x": f(5, 2)}, {"acc": F, "w_out": F, "y": F})
case("Loop-condition", 13, [node("Loop", ["", "c", "acc0", "w"], ["acc", "w_out", "y"], body=_loop_body(True))],
     {"c": np.array(True), "acc0": f(2), "w": f(2), "x": f(5, 2)}, {"acc": F, "w_out": F, "y": F})
case("Loop-zero-trips", 13, [node("Loop", ["M", "", "acc0", "w"], ["acc", "w_out", "y"], body=_loop_body(False))],
     {"M": np.array(0, I64), "acc0": f(2), "w": f(2), "x": f(5, 2)}, {"acc": F, "w_out": F})

def _if_branches():
    t = TensorProto
    then_b = helper.make_graph([node("Add", ["a", "b"], ["s"]), node("Relu", ["s"], ["r"])], "then", [],
                               [helper.make_tensor_value_info("r", t.FLOAT, None)])
    else_b = helper.make_graph([node("Mul", ["a", "b"], ["m"])], "else", [],
                               [helper.make_tensor_value_info("m", t.FLOAT, None)])
    return {"then_branch": then_b, "else_branch": else_b}


case("If-then", 13, [node("If", ["c"], **_if_branches())], {"c": np.array(True), "a": f(2, 3), "b": f(3)})
case("If-else", 13, [node("If", ["c"], **_if_branches())], {"c": np.array([False]), "a": f(2, 3), "b": f(3)})

case("Conv-1d-group-bias", 13, [node("Conv", ["x", "w", "b"], group=2, pads=[1, 1])],
     {"x": f(1, 4, 9), "w": f(6, 2, 3), "b": f(6)})
case("Conv-2d-stride", 13, [node("Conv", ["x", "w"], strides=[2, 1])], {"x": f(2, 3, 6, 5), "w": f(4, 3, 2, 2)})
def _scan_body():
    t = TensorProto
    return helper.make_graph(
        [node("Add", ["acc_in", "x_t"], ["acc_out"]), node("Mul", ["acc_out", "x_t"], ["y_t"])], "body",
        [helper.make_tensor_value_info("acc_in", t.FLOAT, [3]), helper.make_tensor_value_info("x_t", t.FLOAT, [3])],
        [helper.make_tensor_value_info("acc_out", t.FLOAT, [3]), helper.make_tensor_value_info("y_t", t.FLOAT, [3])])


case("Scan-axis0", 16, [node("Scan", ["acc0", "x"], ["acc", "y"], body=_scan_body(), num_scan_inputs=1)],
     {"acc0": f(3), "x": f(5, 3)}, {"acc": F, "y": F})
case("Scan-axis1-reversed", 16, [node("Scan", ["acc0", "x"], ["acc", "y"], body=_scan_body(), num_scan_inputs=1,
                                      scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1],
                                      scan_output_directions=[1])],
     {"acc0": f(3), "x": f(3, 4)}, {"acc": F, "y": F})
case("MaxPool-2d", 13, [node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2])], {"x": f(1, 2, 6, 5)})
case("AveragePool-pads", 13, [node("AveragePool", ["x"], kernel_shape=[3], pads=[1, 1])], {"x": f(2, 3, 7)})
case("GlobalAveragePool", 13, [node("GlobalAveragePool", ["x"])], {"x": f(2, 3, 4, 5)})
case("GlobalMaxPool", 13, [node("GlobalMaxPool", ["x"])], {"x": f(2, 3, 6)})
case("BatchNormalization", 15, [node("BatchNormalization", ["x", "s", "b", "m", "v"])],
     {"x": f(2, 3, 4), "s": f(3), "b": f(3), "m": f(3), "v": f(3, low=0.5, high=2.0)})
case("InstanceNormalization", 13, [node("InstanceNormalization", ["x", "s", "b"])],
     {"x": f(2, 3, 5), "s": f(3), "b": f(3)})
case("Pad-reflect", 19, [node("Pad", ["x", "p"], mode="reflect")], {"x": f(3, 5), "p": i64(1, 2, 0, 3)})
case("Pad-constant", 13, [node("Pad", ["x", "p", "v"])], {"x": f(3, 5), "p": i64(0, 1, 2, -1),
                                                           "v": np.array(0.5, F)})
case("DFT-onesided", 17, [node("DFT", ["x"], axis=1, onesided=1)], {"x": f(2, 16, 1)})
case("DFT-inverse-length", 17, [node("DFT", ["x", "n"], axis=1, inverse=1)], {"x": f(2, 12, 2), "n": np.array(8, I64)})
case("STFT-window", 17, [node("STFT", ["x", "step", "w"])], {"x": f(1, 64, 1), "step": np.array(8, I64),
                                                              "w": np.hanning(16).astype(F)})

# --- dense algebra, softmax, reductions, normalization --------------------------------------
case("Gemm-transB-bias", 13, [node("Gemm", ["a", "b", "c"], transB=1)], {"a": f(3, 4), "b": f(5, 4), "c": f(5)})
case("Gemm-transA-alpha-beta", 13, [node("Gemm", ["a", "b", "c"], transA=1, alpha=0.5, beta=2.0)],
     {"a": f(4, 3), "b": f(4, 5), "c": f(3, 5)})
case("Gemm-C-column", 13, [node("Gemm", ["a", "b", "c"])], {"a": f(3, 4), "b": f(4, 5), "c": f(3, 1)})
case("Gemm-C-scalar-opset7", 7, [node("Gemm", ["a", "b", "c"], beta=0.5)], {"a": f(3, 4), "b": f(4, 5),
                                                                            "c": np.array(1.5, F)})
case("Gemm-noC", 11, [node("Gemm", ["a", "b"], transA=1, transB=1)], {"a": f(4, 3), "b": f(5, 4)})
case("MatMul-3d-2d", 13, [node("MatMul", ["a", "b"])], {"a": f(2, 3, 4), "b": f(4, 5)})
case("MatMul-batched-broadcast", 13, [node("MatMul", ["a", "b"])], {"a": f(2, 1, 3, 4), "b": f(5, 4, 6)})
case("MatMul-vec-mat", 13, [node("MatMul", ["a", "b"])], {"a": f(4), "b": f(4, 5)})
case("MatMul-mat-vec", 13, [node("MatMul", ["a", "b"])], {"a": f(2, 3, 4), "b": f(4)})
case("MatMul-vec-vec", 13, [node("MatMul", ["a", "b"])], {"a": f(4), "b": f(4)})
case("MatMul-large", 13, [node("MatMul", ["a", "b"])], {"a": f(7, 70), "b": f(70, 33)})
for op in ("Softmax", "LogSoftmax"):
    case(f"{op}-opset11-axis1", 11, [node(op, ["x"], axis=1)], {"x": f(2, 3, 4)})
    case(f"{op}-opset11-default", 11, [node(op, ["x"])], {"x": f(2, 3, 4)})
    case(f"{op}-opset13-axis1", 13, [node(op, ["x"], axis=1)], {"x": f(2, 3, 4)})
    case(f"{op}-opset13-default", 13, [node(op, ["x"])], {"x": f(2, 3, 4, low=-30, high=30)})
for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2"):
    case(f"{op}-opset11-axes", 11, [node(op, ["x"], axes=[0, -1], keepdims=0)], {"x": f(2, 3, 4)})
    case(f"{op}-opset11-all", 11, [node(op, ["x"])], {"x": f(2, 3, 4)})
    case(f"{op}-opset18-input", 18, [node(op, ["x", "a"])], {"x": f(2, 3, 4), "a": i64(1)})
    case(f"{op}-opset18-noaxes", 18, [node(op, ["x"], keepdims=0)], {"x": f(2, 3, 4)})
case("ReduceSum-opset13-input", 13, [node("ReduceSum", ["x", "a"], keepdims=0)], {"x": f(2, 3, 4), "a": i64(-2)})
case("ReduceSum-opset13-noop", 13, [node("ReduceSum", ["x", "a"], noop_with_empty_axes=1)],
     {"x": f(2, 3), "a": np.zeros(0, I64)})
case("ReduceMax-int64", 13, [node("ReduceMax", ["x"], axes=[0], keepdims=0)], {"x": i64(3, 9, 2).reshape(3, 1)},
     {"y": I64})
case("ArgMax", 13, [node("ArgMax", ["x"], axis=1, keepdims=0)], {"x": f(3, 5)}, {"y": I64})
case("ArgMin-last", 13, [node("ArgMin", ["x"], axis=0, select_last_index=1)],
     {"x": np.array([[1, 2], [1, 0], [3, 0]], F)}, {"y": I64})
case("LayerNormalization", 17, [node("LayerNormalization", ["x", "s", "b"], epsilon=1e-3)],
     {"x": f(2, 3, 8), "s": f(8), "b": f(8)})
case("LayerNormalization-axis1", 17, [node("LayerNormalization", ["x", "s"], axis=1)], {"x": f(2, 3, 4), "s": f(3, 4)})
case("LayerNormalization-stats", 17, [node("LayerNormalization", ["x", "s", "b"], ["y", "m", "v"])],
     {"x": f(2, 5), "s": f(5), "b": f(5)}, {"y": F, "m": F, "v": F})

# --- convolutional front ends (their sweeps: test_session_conv/pool/pad/norm.py) ------------
case("Conv-2d-group", 13, [node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1], group=2)],
     {"x": f(1, 4, 5, 6), "w": f(6, 2, 3, 3), "b": f(6)})
case("Conv-1d-nobias", 11, [node("Conv", ["x", "w"], strides=[2], dilations=[2])], {"x": f(2, 3, 11), "w": f(4, 3, 3)})
case("ConvTranspose", 11, [node("ConvTranspose", ["x", "w", "b"], strides=[2, 2], output_padding=[1, 0])],
     {"x": f(1, 4, 3, 3), "w": f(4, 3, 3, 3), "b": f(3)})
case("MaxPool", 12, [node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], {"x": f(1, 2, 5, 5)})
case("AveragePool", 19, [node("AveragePool", ["x"], kernel_shape=[3], pads=[1, 1], count_include_pad=1)],
     {"x": f(2, 2, 7)})
case("GlobalMaxPool", 13, [node("GlobalMaxPool", ["x"])], {"x": f(2, 3, 4, 5)})
case("GlobalAveragePool", 13, [node("GlobalAveragePool", ["x"])], {"x": f(2, 3, 4, 5)})
case("Pad-reflect", 13, [node("Pad", ["x", "p"], mode="reflect")], {"x": f(3, 4), "p": i64(1, 2, 2, 1)})
case("Pad-constant-value", 18, [node("Pad", ["x", "p", "v", "a"])], {"x": f(3, 4), "p": i64(1, 2), "v": np.array(3.0, F),
                                                                     "a": i64(1)})
case("BatchNormalization", 15, [node("BatchNormalization", ["x", "s", "b", "m", "v"])],
     {"x": f(2, 3, 4), "s": f(3), "b": f(3), "m": f(3), "v": f(3, low=0.5, high=2.0)})
case("InstanceNormalization", 13, [node("InstanceNormalization", ["x", "s", "b"])],
     {"x": f(2, 3, 4), "s": f(3), "b": f(3)})

# --- a chain of shape arithmetic as exporters write it ---------------------------------------
case("shape-chain", 13, [
    node("Shape", ["x"], ["s"]),
    node("Gather", ["s", "i0"], ["b"], axis=0),
    node("Unsqueeze", ["b", "ax"], ["bu"]),
    node("Concat", ["bu", "minus1"], ["target"], axis=0),
    node("Reshape", ["x", "target"], ["y"]),
], {"x": f(3, 4, 5)}, None, {"i0": np.array(0, I64), "ax": i64(0), "minus1": i64(-1)})


# --- quantized models ---------------------------------------------------------------------
def u8(*shape):
    return rng.integers(0, 256, size=shape).astype(U8)


def s8(*shape):
    return rng.integers(-128, 128, size=shape).astype(I8)


case("QuantizeLinear-uint8", 13, [node("QuantizeLinear", ["x", "s", "z"])],
     {"x": f(2, 3, 4) * 50}, {"y": U8}, {"s": np.array(0.4, F), "z": np.array(128, U8)})
case("QuantizeLinear-int8-per-axis", 13, [node("QuantizeLinear", ["x", "s", "z"], axis=1)],
     {"x": f(2, 3, 4) * 50}, {"y": I8}, {"s": np.array([0.3, 0.5, 1.0], F), "z": np.array([0, -3, 5], I8)})
case("QuantizeLinear-no-zero-point", 10, [node("QuantizeLinear", ["x", "s"])],
     {"x": f(6) * 20}, {"y": U8}, {"s": np.array(0.25, F)})
case("DequantizeLinear-uint8", 13, [node("DequantizeLinear", ["x", "s", "z"])],
     {"x": u8(2, 5)}, None, {"s": np.array(0.02, F), "z": np.array(100, U8)})
case("DequantizeLinear-int8-per-axis", 13, [node("DequantizeLinear", ["x", "s", "z"], axis=0)],
     {"x": s8(3, 4)}, None, {"s": np.array([0.1, 0.2, 0.3], F), "z": np.array([1, 0, -2], I8)})
case("DequantizeLinear-int32", 10, [node("DequantizeLinear", ["x", "s"])],
     {"x": np.array([-70000, 5, 123456], I32)}, None, {"s": np.array(0.001, F)})
case("DynamicQuantizeLinear", 11, [node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])],
     {"x": f(3, 7)}, {"y": U8, "s": F, "z": U8})
case("ConvInteger", 10, [node("ConvInteger", ["x", "w", "xz", "wz"], pads=[1, 1, 1, 1])],
     {"x": u8(1, 2, 5, 6), "xz": np.array(120, U8)}, {"y": I32}, {"w": u8(3, 2, 3, 3), "wz": np.array(128, U8)})
case("ConvInteger-no-zero-points", 10, [node("ConvInteger", ["x", "w"], strides=[2])],
     {"x": u8(2, 3, 9)}, {"y": I32}, {"w": u8(4, 3, 3)})
case("MatMulInteger", 10, [node("MatMulInteger", ["a", "b", "az", "bz"])],
     {"a": u8(2, 3, 5), "az": np.array(3, U8)}, {"y": I32}, {"b": u8(5, 4), "bz": np.array(7, U8)})
case("MatMulInteger-int8-per-column", 10, [node("MatMulInteger", ["a", "b", "az", "bz"])],
     {"a": s8(4, 6), "az": np.array(-1, I8)}, {"y": I32}, {"b": s8(6, 3), "bz": np.array([1, -2, 0], I8)})


def _run_both(opset, nodes, inputs, outputs, consts, as_constants):
    names = list(outputs)
    types = {k: OUT_TYPES[v] for k, v in outputs.items()}
    if as_constants:
        model = make_model(nodes, {}, names, opset=opset, initializers={**consts, **inputs}, output_types=types)
        feeds = {}
    else:
        model = make_model(nodes, inputs, names, opset=opset, initializers=consts, output_types=types)
        feeds = inputs
    expected = ort_run(model, feeds)
    sess = lstmrt.InferenceSession(model, threads=1)
    got = sess.run(None, feeds)
    return sess, got, expected, names


@pytest.mark.parametrize("opset,nodes,inputs,outputs,consts", CASES)
def test_op_matches_onnxruntime(opset, nodes, inputs, outputs, consts):
    sess, got, expected, names = _run_both(opset, nodes, inputs, outputs, consts, as_constants=False)
    for name, g, e in zip(names, got, expected):
        assert_same(g, e, name=name)
    # A second run of the same shapes gives the same results from the reused buffers.
    again = sess.run(None, inputs)
    for name, g, e in zip(names, again, expected):
        assert_same(g, e, name=name + " (second run)")


@pytest.mark.parametrize("opset,nodes,inputs,outputs,consts", CASES)
def test_op_folded_at_load(opset, nodes, inputs, outputs, consts):
    sess, got, expected, names = _run_both(opset, nodes, inputs, outputs, consts, as_constants=True)
    assert sess.op_counts(compiled=True) == {}, "every node should have been folded"
    for name, g, e in zip(names, got, expected):
        assert_same(g, e, name=name)


def test_every_registered_op_has_a_case():
    covered = {n.op_type for p in CASES for n in p.values[1]}
    # test_session_rnn.py; DynamicQuantizeLSTM: test_session_quantized.py
    recurrent = {"LSTM", "GRU", "RNN", "com.microsoft::DynamicQuantizeLSTM"}
    missing = set(lstmrt.onnx_import.supported_ops()) - covered - recurrent
    assert not missing, f"operators without a test case: {sorted(missing)}"


@pytest.mark.parametrize("rows", [20, 200])
def test_gemm_with_weights_past_l2_splits_threads_without_changing_bits(rows):
    # 640 x 1024 packed weights (2.6 MB): with 20 rows (one kernel block) 2 threads split the
    # weights' panels, with 200 they split rows; either way every output is one thread's sum.
    a, b, c = f(rows, 1024), f(640, 1024), f(640)
    model = make_model([node("Gemm", ["a", "b", "c"], ["y"], transB=1)], {"a": a}, ["y"], opset=13,
                       initializers={"b": b, "c": c})
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, {"a": a})[0] for t in (1, 2))
    np.testing.assert_array_equal(one, two)
    expected = a.astype(np.float64) @ b.astype(np.float64).T + c
    assert_same(one, expected.astype(F), atol=1e-4, rtol=1e-4, name="y")


@pytest.mark.parametrize("op,feeds", [
    ("Sub", lambda: {"a": f(1, 70000), "b": f(70000)}),
    ("Mul", lambda: {"a": np.array(0.97, F), "b": f(1, 70000)}),
    ("Div", lambda: {"a": f(3, 40000), "b": np.array([[2.5]], F)}),
    ("Less", lambda: {"a": np.arange(70000, dtype=I64), "b": np.array([[41234]], I64)}),
    ("Where", lambda: {"c": rng.random((1, 70000)) < 0.5, "a": f(1, 70000), "b": np.array(0.0, F)}),
])
def test_large_elementwise_passes_split_over_threads_with_the_same_bits(op, feeds):
    # Past 64 Ki elements, an operand whole or a single value: the pass splits over the threads.
    feeds = feeds()
    inputs = list(feeds)
    model = make_model([node(op, inputs)], feeds, ["y"], opset=17,
                       output_types={"y": TensorProto.BOOL} if op == "Less" else None)
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, feeds)[0] for t in (1, 2))
    np.testing.assert_array_equal(one, two)
    assert_same(one, ort_run(model, feeds)[0], atol=0, rtol=0, name=op)


def test_log_of_denormals_is_the_same_on_every_thread():
    # Pooled workers run with denormals read as zero (DAZ); Log splits them by integer work, so a
    # denormal is a positive number on every thread: 1 and 2 threads give the same bits, within
    # 1 ulp of float64, -inf only for zeros.
    x = np.concatenate([rng.uniform(0, 1e-38, 40000), rng.uniform(0.1, 100, 30000), [0.0, -0.0, -2.0]]).astype(F)
    feeds = {"x": x}
    model = make_model([node("Log", ["x"])], feeds, ["y"], opset=13)
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, feeds)[0] for t in (1, 2))
    np.testing.assert_array_equal(one, two)
    want = np.log(x[:-3].astype(np.float64))
    assert np.all(np.abs(one[:-3] - want) <= np.spacing(np.abs(want).astype(F)))
    np.testing.assert_array_equal(one[-3:], np.array([-np.inf, -np.inf, np.nan], F))


@pytest.mark.parametrize("perm,shape", [([0, 2, 1], (1, 201, 400)), ([2, 0, 1], (3, 70, 400)), ([1, 0], (300, 250))])
def test_large_transposes_split_over_threads(perm, shape):
    # Past 64 Ki elements a Transpose gathers ranges of its first dim larger than 1 on each thread.
    x = f(*shape)
    model = make_model([node("Transpose", ["x"], perm=perm)], {"x": x}, ["y"], opset=13)
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, {"x": x})[0] for t in (1, 2))
    np.testing.assert_array_equal(one, np.transpose(x, perm))
    np.testing.assert_array_equal(two, np.transpose(x, perm))


def test_large_slices_split_over_threads():
    x = f(2, 300, 400)
    # Reversed along the first dim too: each thread's range starts from its own end.
    feeds = {"x": x, "starts": i64(1, -1, -1), "ends": i64(400, -301, -3), "axes": i64(2, 1, 0),
             "steps": i64(1, -1, -1)}
    model = make_model([node("Slice", ["x", "starts", "ends", "axes", "steps"])], feeds, ["y"], opset=13)
    one, two = (lstmrt.InferenceSession(model, threads=t).run(None, feeds)[0] for t in (1, 2))
    np.testing.assert_array_equal(one, x[::-1, ::-1, 1:])
    np.testing.assert_array_equal(two, x[::-1, ::-1, 1:])

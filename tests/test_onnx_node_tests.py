"""The onnx package's own backend node tests for LSTM, GRU and RNN, run
through lstmrt by way of tests/onnx_backend.py.

The onnx wheel ships the generators of these cases (not their data files),
so they are produced here with ``collect_testcases``.  Generating them runs
every operator's generator (a few seconds, once per session), with warnings
silenced because some unrelated generators overflow on purpose.
"""


import numpy as np
import pytest

from checks import assert_close

onnx = pytest.importorskip("onnx", reason="onnx is not installed")

import onnx_backend  # noqa: E402  (needs onnx)
from node_cases import onnx_node_cases  # noqa: E402

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
EXPECTED_COUNT = 18


def _collect():
    return [c for c in onnx_node_cases()
            if any(n.op_type in RECURRENT_OPS for n in c.model.graph.node)]


CASES = _collect()


def test_found_every_recurrent_case():
    names = sorted(c.name for c in CASES)
    assert len(CASES) == EXPECTED_COUNT, f"found {len(CASES)} LSTM/GRU/RNN node cases: {names}"
    assert {"test_lstm_batchwise", "test_gru_batchwise", "test_simple_rnn_batchwise"} <= set(names)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_node_case(case):
    assert onnx_backend.LstmrtBackend.is_compatible(case.model)
    rep = onnx_backend.LstmrtBackend.prepare(case.model, "CPU")
    for k, (inputs, expected) in enumerate(case.data_sets):
        outputs = rep.run(inputs)
        assert len(outputs) == len(expected), f"{len(outputs)} outputs, expected {len(expected)}"
        for i, (got, want) in enumerate(zip(outputs, expected)):
            assert_close(got, want, atol=case.atol, rtol=case.rtol,
                         name=f"{case.name} output {i}", context=f"data set {k}")


def test_prepared_layer_path_with_initializers():
    """When the weights are initializers, prepare() packs a layer once and
    reuses it; the result must be the functional one."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(5)
    S, N, I, H = 4, 3, 5, 6
    X = rng.uniform(-1, 1, (S, N, I)).astype(np.float32)
    W = rng.uniform(-0.5, 0.5, (1, 4 * H, I)).astype(np.float32)
    R = rng.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32)
    B = rng.uniform(-0.5, 0.5, (1, 8 * H)).astype(np.float32)
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=H)
    graph = helper.make_graph(
        [node], "lstm_init",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [S, N, I])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [S, 1, N, H]),
         helper.make_tensor_value_info("Y_h", onnx.TensorProto.FLOAT, [1, N, H])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"),
                     numpy_helper.from_array(B, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    rep = onnx_backend.LstmrtBackend.prepare(model)
    assert rep.layer is not None
    import lstmrt

    Y, Y_h, _ = lstmrt.ops.lstm(X, W, R, B)
    got = rep.run([X])
    assert_close(got[0], Y, atol=0, rtol=0, name="Y")
    assert_close(got[1], Y_h, atol=0, rtol=0, name="Y_h")


def test_unsupported_operator_fails_loudly():
    from onnx import helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "relu",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(NotImplementedError, match="Relu"):
        onnx_backend.LstmrtBackend.prepare(model)


def test_run_node():
    """Backend.run_node on a bare NodeProto (no model) gives the case's outputs."""
    case = next(c for c in CASES if c.name == "test_gru_seq_length")
    node = case.model.graph.node[0]
    inputs, expected = case.data_sets[0]
    outputs = onnx_backend.LstmrtBackend.run_node(node, inputs)
    for i, (got, want) in enumerate(zip(outputs, expected)):
        assert_close(got, want, atol=case.atol, rtol=case.rtol, name=f"run_node output {i}")

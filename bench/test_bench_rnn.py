"""lstmrt against onnxruntime on the same LSTM/GRU layers.

Each configuration (cell, hidden size, sequence length, batch) is one
benchmark group holding one lstmrt and one onnxruntime measurement, so
pytest-benchmark's table compares them side by side.  Input size equals the
hidden size; one direction; no sequence_lens.

Both sides get the weights ahead of time: lstmrt as a prepacked layer, and
onnxruntime as initializers of a single-node model (so its session can
prepack them), with intra_op_num_threads=2.  Only the call is timed.  Before
timing, each configuration checks that both engines agree.

Run:  pytest bench/ --benchmark-only   (see bench/README.md)
"""

import numpy as np
import pytest

import lstmrt

CELLS = ("lstm", "gru")
HIDDEN = (64, 256, 512)
SHAPES = ((1, 1), (100, 1), (100, 32))   # (seq_length, batch)
GATES = {"lstm": 4, "gru": 3}
ORT_THREADS = 2


def _weights(cell, H, seed=0):
    rng = np.random.default_rng(seed)
    g = GATES[cell]
    s = 1.0 / np.sqrt(H)
    W = rng.uniform(-s, s, (1, g * H, H)).astype(np.float32)
    R = rng.uniform(-s, s, (1, g * H, H)).astype(np.float32)
    B = rng.uniform(-s, s, (1, 2 * g * H)).astype(np.float32)
    return W, R, B


def _ort_session(cell, W, R, B, S, N, H):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from onnx import TensorProto, helper, numpy_helper

    op = {"lstm": "LSTM", "gru": "GRU"}[cell]
    outputs = ["Y", "Y_h"] + (["Y_c"] if cell == "lstm" else [])
    node = helper.make_node(op, ["X", "W", "R", "B"], outputs, hidden_size=H)
    out_vi = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [S, 1, N, H])] + [
        helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, N, H]) for o in outputs[1:]]
    graph = helper.make_graph(
        [node], f"bench_{cell}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [S, N, H])], out_vi,
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"),
                     numpy_helper.from_array(B, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = min(model.ir_version, 10)
    so = ort.SessionOptions()
    so.intra_op_num_threads = ORT_THREADS
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _configs():
    for cell in CELLS:
        for H in HIDDEN:
            for S, N in SHAPES:
                for engine in ("lstmrt", "onnxruntime"):
                    yield pytest.param(cell, H, S, N, engine, id=f"{cell}-h{H}-s{S}-b{N}-{engine}")


@pytest.mark.parametrize("cell,H,S,N,engine", list(_configs()))
def test_rnn(benchmark, cell, H, S, N, engine):
    benchmark.group = f"{cell} hidden={H} seq={S} batch={N}"
    benchmark.extra_info.update(cell=cell, hidden=H, seq=S, batch=N, engine=engine)
    W, R, B = _weights(cell, H)
    X = np.random.default_rng(1).uniform(-1, 1, (S, N, H)).astype(np.float32)
    layer = {"lstm": lstmrt.ops.LSTM, "gru": lstmrt.ops.GRU}[cell](W, R, B)
    sess = _ort_session(cell, W, R, B, S, N, H)
    mine = layer(X)
    theirs = sess.run(None, {"X": X})
    for a, b in zip(mine[:2], theirs[:2]):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-3)
    if engine == "lstmrt":
        benchmark(layer, X)
    else:
        feed = {"X": X}
        benchmark(sess.run, None, feed)

"""One timestep per call through a whole model: lstmrt's stream against onnxruntime.

The model is LSTM(input 64, hidden 128) followed by a Linear layer on every step, as exported
models look: the LSTM's initial_h/initial_c are graph inputs and its final states graph outputs.
onnxruntime is stateless, so its users feed h and c into every call and fetch them back (the
best they can do); lstmrt's stream keeps them inside the engine and is fed only the new step.
Both engines run the same model file with the same weights; the first step of every call is
checked to agree before timing.

    PYTHONPATH=python python -m pytest bench/test_bench_stream.py --benchmark-only
"""

import gc
import time

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import lstmrt  # noqa: E402

I, H, OUT = 64, 128, 16


def _model():
    rng = np.random.default_rng(0)
    s = 1.0 / np.sqrt(H)
    inits = {
        "W": rng.uniform(-s, s, (1, 4 * H, I)).astype(np.float32),
        "R": rng.uniform(-s, s, (1, 4 * H, H)).astype(np.float32),
        "B": rng.uniform(-s, s, (1, 8 * H)).astype(np.float32),
        "head_w": rng.uniform(-s, s, (H, OUT)).astype(np.float32),
        "head_b": rng.uniform(-s, s, (OUT,)).astype(np.float32),
        "axes": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "h_n", "c_n"], hidden_size=H, name="lstm"),
        helper.make_node("Squeeze", ["y", "axes"], ["y3"]),          # [seq, batch, H]
        helper.make_node("MatMul", ["y3", "head_w"], ["mm"]),
        helper.make_node("Add", ["mm", "head_b"], ["out"]),          # [seq, batch, OUT]
    ]
    graph = helper.make_graph(
        nodes, "lstm_linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", I]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "batch", H]),
         helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, "batch", H])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["seq", "batch", OUT]),
         helper.make_tensor_value_info("h_n", TensorProto.FLOAT, [1, "batch", H]),
         helper.make_tensor_value_info("c_n", TensorProto.FLOAT, [1, "batch", H])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model.SerializeToString()


MODEL = _model()
STEPS = np.random.default_rng(1).standard_normal((64, 1, 1, I)).astype(np.float32)


class OrtStepper:
    """onnxruntime fed its own state every call, as its users must."""

    def __init__(self, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(MODEL, so, providers=["CPUExecutionProvider"])
        self.h = np.zeros((1, 1, H), np.float32)
        self.c = np.zeros((1, 1, H), np.float32)

    def __call__(self, x):
        out, self.h, self.c = self.sess.run(None, {"x": x, "h0": self.h, "c0": self.c})
        return out


class LstmrtStepper:
    """lstmrt's stream: the state stays in the engine; only the new step is fed."""

    def __init__(self, threads):
        self.stream = lstmrt.InferenceSession(MODEL, threads=threads).stream()

    def __call__(self, x):
        return self.stream.run(["out"], {"x": x})[0]


ENGINES = {"lstmrt": LstmrtStepper, "onnxruntime": OrtStepper}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_stream_step(benchmark, engine, threads):
    # Both engines agree over a few steps from a zero state before anything is timed.
    a, b = LstmrtStepper(threads), OrtStepper(threads)
    for x in STEPS[:8]:
        np.testing.assert_allclose(a(x), b(x), atol=1e-5, rtol=1e-4)
    # onnxruntime's pool threads (and OpenMP's) spin for a while after a run: on 2 cores they
    # would steal the timed engine's cores. Drop the checkers and let them go idle first.
    del a, b
    gc.collect()
    time.sleep(0.3)
    stepper = ENGINES[engine](threads)
    steps = iter(range(1 << 62))
    benchmark.group = f"stream step LSTM(64->128)+Linear, {threads} thread(s)"
    benchmark.extra_info.update(engine=engine, threads=threads)
    benchmark(lambda: stepper(STEPS[next(steps) % len(STEPS)]))

"""Models that onnxruntime's quantization tools wrote load as they are: quantize_dynamic's
DynamicQuantizeLSTM, DynamicQuantizeLinear + MatMulInteger, and ddddocr's common_old.onnx
(ConvInteger throughout, then a bidirectional DynamicQuantizeLSTM of hidden 512).

The single operators are held to onnxruntime exactly in tests/test_session_ops.py. Here the
whole models are compared with onnxruntime running the same file, with a tolerance from how the
two differ: onnxruntime's DynamicQuantizeLSTM quantizes X and H to uint8 every step (one step of
a tensor's range / 255), while lstmrt dequantizes the int8 weights once and multiplies float32
activations by them; its distance from the float model the file came from is bounded by
onnxruntime's."""

import os
import tempfile

import numpy as np
import onnx
import pytest
from onnx import helper

import lstmrt
import real_models as rm
from session_helpers import make_model

ort = pytest.importorskip("onnxruntime")
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402
from checks import assert_close


def ort_session(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def quantized(model, per_channel=False, weight_type=QuantType.QInt8):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "q.onnx")
        onnx.save(model, src)
        quantize_dynamic(src, dst, weight_type=weight_type, per_channel=per_channel)
        return onnx.load(dst)


def lstm_with_head(rng, H=64, I=24, classes=10, direction="forward"):
    D = 2 if direction == "bidirectional" else 1
    W = (rng.standard_normal((D, 4 * H, I)) / np.sqrt(I)).astype(np.float32)
    R = (rng.standard_normal((D, 4 * H, H)) / np.sqrt(H)).astype(np.float32)
    B = (rng.standard_normal((D, 8 * H)) * 0.1).astype(np.float32)
    M = (rng.standard_normal((D * H, classes)) / np.sqrt(D * H)).astype(np.float32)
    nodes = [helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=H, direction=direction),
             helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["Yt", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "M"], ["logits"])]
    X = np.zeros((7, 2, I), np.float32)
    return make_model(nodes, {"X": X}, ["logits", "Y_h"], opset=14,
                      initializers={"W": W, "R": R, "B": B, "M": M, "shape": np.array([0, 0, -1], np.int64)},
                      input_shapes={"X": ["seq", "batch", I]})


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("weight_type", [QuantType.QInt8, QuantType.QUInt8], ids=["s8", "u8"])
def test_quantize_dynamic_models_load_and_match(direction, per_channel, weight_type):
    rng = np.random.default_rng(1)
    float_model = lstm_with_head(rng, direction=direction)
    qmodel = quantized(float_model, per_channel, weight_type)
    ops = {n.op_type for n in qmodel.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "MatMulInteger" in ops, ops
    X = rng.standard_normal((20, 3, 24)).astype(np.float32)
    exact = ort_session(float_model.SerializeToString()).run(None, {"X": X})
    theirs = ort_session(qmodel.SerializeToString()).run(None, {"X": X})
    sess = lstmrt.InferenceSession(qmodel.SerializeToString())
    ours = sess.run(None, {"X": X})
    assert [n["cell"] for n in sess.recurrent_nodes] == ["LSTM"]
    for name, o, t, e in zip(["logits", "Y_h"], ours, theirs, exact):
        scale = float(np.abs(e).max())
        # onnxruntime's activation quantization: a few steps of 1/255 of the range per product.
        assert float(np.abs(o - t).max()) < 0.05 * scale, f"{name}: against onnxruntime"
        # Both carry the weights' quantization error; onnxruntime adds its activations' on top,
        # which may cancel part of it on an element, so the bound is loose: 1.5x its distance.
        assert float(np.abs(o - e).max()) <= 1.5 * float(np.abs(t - e).max()), f"{name}: far from the float model"


def test_a_quantized_lstm_streams_like_the_whole_sequence():
    rng = np.random.default_rng(2)
    qmodel = quantized(lstm_with_head(rng))
    sess = lstmrt.InferenceSession(qmodel.SerializeToString())
    X = rng.standard_normal((9, 2, 24)).astype(np.float32)
    # Y_h: the LSTM's own state, carried between chunks (the head's DynamicQuantizeLinear takes
    # its range over whatever one call holds, so its logits depend on the chunking, as they do
    # in onnxruntime).
    whole = sess.run(["Y_h"], {"X": X})[0]
    stream = sess.stream()
    last = [stream.run(["Y_h"], {"X": X[t:t + 3]})[0] for t in range(0, 9, 3)][-1]
    assert_close(last, whole, atol=1e-6, rtol=1e-5)


def test_dynamic_quantize_lstm_needs_constant_scales():
    rng = np.random.default_rng(3)
    qmodel = quantized(lstm_with_head(rng))
    lstm = next(n for n in qmodel.graph.node if n.op_type == "DynamicQuantizeLSTM")
    scale_name = lstm.input[8]
    init = next(i for i in qmodel.graph.initializer if i.name == scale_name)
    qmodel.graph.initializer.remove(init)
    qmodel.graph.input.append(helper.make_tensor_value_info(scale_name, onnx.TensorProto.FLOAT, [1]))
    with pytest.raises(ValueError, match=r"DynamicQuantizeLSTM node .*W, its scale and zero point must be constants"):
        lstmrt.InferenceSession(qmodel.SerializeToString())


def test_ddddocr_common_old_reads_what_onnxruntime_reads():
    path, why = rm.model_path("ddddocr", "ddddocr/common_old.onnx")
    if path is None:
        pytest.skip(why)
    ours, theirs = lstmrt.InferenceSession(path, threads=1), ort_session(path)
    rng = np.random.default_rng(0)
    for width in (96, 160):
        image = np.zeros((1, 1, 64, width), np.float32)
        for _ in range(8):  # blobs on a noisy ground: a captcha's contrast, not white noise
            r, c = rng.integers(0, 64), rng.integers(0, width)
            image[0, 0, max(0, r - 8):r + 8, max(0, c - 5):c + 5] = rng.random()
        image += rng.random(image.shape).astype(np.float32) * 0.1
        got = ours.run(None, {"input1": image})[0]
        want = theirs.run(None, {"input1": image})[0]
        assert got.shape == want.shape
        diff = float(np.abs(got - want).max())
        assert diff < 0.03 * float(np.abs(want).max()), f"width {width}: max difference {diff:.3g}"
        # The characters read (argmax per step) agree wherever onnxruntime's own choice is not a
        # near tie, i.e. wherever its top two logits are further apart than the two engines differ.
        top2 = np.sort(want, axis=-1)[..., -2:]
        clear = (top2[..., 1] - top2[..., 0]) > 2 * diff
        np.testing.assert_array_equal(got.argmax(-1)[clear], want.argmax(-1)[clear])
        assert clear.mean() > 0.8

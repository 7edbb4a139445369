"""The project's own small models with the operators real recurrent models put around their
LSTMs (made by tools/fixtures/make_front_end_fixtures.py with PyTorch, committed with the inputs
and PyTorch's outputs): a Silero-like VAD (If on the sample rate, reflect Pad, strided Conv1d,
LSTM with state in and out), a CRNN (Conv2d, MaxPool, bidirectional LSTM) and an STFT log-mel
front-end. Each case must match PyTorch and onnxruntime within 1e-4 + 1e-3 relative; nothing is
downloaded."""

import os

import numpy as np
import pytest

import lstmrt
from session_helpers import ort_run
from checks import assert_close

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models")
FIXTURES = ["torch_vad_like_legacy", "torch_crnn_legacy", "torch_stft_front_end_legacy"]


def _cases(name):
    with np.load(os.path.join(MODELS, name + ".npz")) as z:
        cases = sorted({k.split("/")[0] for k in z.files})
        for c in cases:
            feeds = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith(c + "/in/")}
            torch_out = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith(c + "/torch/")}
            yield c, feeds, torch_out


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_matches_pytorch_and_onnxruntime(name):
    import onnx

    path = os.path.join(MODELS, name + ".onnx")
    sess = lstmrt.InferenceSession(path, threads=1)
    model = onnx.load(path)
    names = [o.name for o in sess.get_outputs()]
    for case, feeds, torch_out in _cases(name):
        got = dict(zip(names, sess.run(None, feeds)))
        ort_out = dict(zip(names, ort_run(model, feeds)))
        for k, want in torch_out.items():
            assert_close(got[k], want, atol=1e-4, rtol=1e-3, name=f"{name} {case} {k} vs PyTorch")
            assert_close(got[k], ort_out[k], atol=1e-4, rtol=1e-3, name=f"{name} {case} {k} vs onnxruntime")


def test_vad_like_model_carries_its_state_chunk_by_chunk():
    """Fed back as Silero VAD's package feeds it: each chunk's state from the last."""
    path = os.path.join(MODELS, "torch_vad_like_legacy.onnx")
    sess = lstmrt.InferenceSession(path, threads=1)
    import onnx

    model = onnx.load(path)
    rng = np.random.default_rng(5)
    h = c = np.zeros((1, 1, 64), np.float32)
    ho, co = h, c
    for _ in range(20):
        x = rng.standard_normal((1, 576)).astype(np.float32)
        sr = np.array(16000, np.int64)
        p, h, c = sess.run(None, {"x": x, "h": h, "c": c, "sr": sr})
        po, ho, co = ort_run(model, {"x": x, "h": ho, "c": co, "sr": sr})
        assert_close(p, po, atol=1e-4, rtol=1e-3)
        assert_close(h, ho, atol=1e-4, rtol=1e-3)

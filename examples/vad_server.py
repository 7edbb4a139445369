"""A voice-activity server: many audio streams arriving in 32 ms chunks, every tick stepping the
streams that have a chunk ready through one Silero VAD stream pool, the model's state carried
inside lstmrt (carry=). Prints each stream's speech segments and the time per tick, and (when
onnxruntime is installed) checks that one onnxruntime session per stream, its state fed back by
hand, finds the same segments.

    python examples/vad_server.py [--streams 48] [--seconds 6] [recording.wav ...]

Streams join and leave at different ticks, so every tick steps another subset of the pool. WAV
files (16-bit mono, 16 kHz) given on the command line become streams too; the rest are synthetic
tone bursts with pauses. The model comes from the silero-vad wheel (tests/real_models.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import lstmrt
from lstmrt._format import format_duration

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)
import real_models  # noqa: E402
from vad import RATE, read_wav, segments  # noqa: E402

MODEL = "silero_vad/data/silero_vad.onnx"


def make_streams(count: int, seconds: float, wavs: list) -> list:
    """Per stream: the tick it starts at and its chunks (context included, as silero-vad feeds)."""
    rng = np.random.default_rng(0)
    audios = [read_wav(p) for p in wavs]
    audios += [real_models.speech_like_audio(seconds * rng.uniform(0.5, 1.0), seed=k) for k in range(count - len(audios))]
    return [(int(rng.integers(0, 20)), list(real_models.silero_chunks(a, RATE))) for a in audios]


def serve(session, streams: list) -> tuple:
    """Runs every stream through one pool; returns per-stream probabilities and per-tick times."""
    pool = session.stream_pool(carry={"stateN": "state"}, batch_axes={"state": 1})
    sr = np.array(RATE, np.int64)
    probs = [[] for _ in streams]
    ids = {}
    tick_times = []
    tick = 0
    while any(len(p) < len(chunks) for p, (_, chunks) in zip(probs, streams)):
        ready = []
        for k, (start, chunks) in enumerate(streams):
            if start == tick:
                ids[k] = pool.open()  # a caller connects
            if k in ids and len(probs[k]) < len(chunks):
                ready.append(k)
        if ready:
            x = np.concatenate([streams[k][1][len(probs[k])] for k in ready])
            t0 = time.perf_counter()
            [out] = pool.run([ids[k] for k in ready], ["output"], {"input": x, "sr": sr})
            tick_times.append((time.perf_counter() - t0, len(ready)))
            for row, k in enumerate(ready):
                probs[k].append(float(out[row, 0]))
                if len(probs[k]) == len(streams[k][1]):
                    pool.close(ids.pop(k))  # the caller hangs up
        tick += 1
    return probs, tick_times


def reference(path: str, streams: list) -> list:
    """One onnxruntime session per stream, the state fed back by hand: what servers do today."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    probs = []
    for _, chunks in streams:
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        state = np.zeros((2, 1, 128), np.float32)
        p = []
        for x in chunks:
            out, state = sess.run(None, {"input": x, "state": state, "sr": np.array(RATE, np.int64)})
            p.append(float(out[0, 0]))
        probs.append(p)
    return probs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", nargs="*", help="16 kHz mono 16-bit WAV files, one stream each")
    parser.add_argument("--streams", type=int, default=48, help="number of streams (default 48)")
    parser.add_argument("--seconds", type=float, default=6.0, help="longest synthetic stream in seconds")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    path, why = real_models.model_path("silero-vad", MODEL)
    if path is None:
        print(f"cannot get the Silero VAD model: {why}")
        return 2
    streams = make_streams(max(args.streams, len(args.wav)), args.seconds, args.wav)
    session = lstmrt.InferenceSession(path, threads=args.threads)
    probs, tick_times = serve(session, streams)
    found = [segments(p) for p in probs]
    for k, segs in enumerate(found):
        spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in segs)
        print(f"stream {k:3d}: {len(segs)} segment(s) {spans}")
    times = np.array([t for t, _ in tick_times])
    rows = np.array([n for _, n in tick_times])
    print(f"{len(streams)} streams, {len(tick_times)} ticks of up to {rows.max()} streams: "
          f"{format_duration(float(np.median(times)))} per tick (median), "
          f"{format_duration(float(np.median(times / rows)))} per stream's chunk (median)")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return 0
    same = [segments(p) for p in reference(path, streams)] == found
    print(f"onnxruntime, one session per stream: the same segments: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

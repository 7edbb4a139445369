"""Voice activity detection over a folder of recordings on a local Ray cluster: Silero VAD run
by lstmrt in every actor, the files of a batch stepped together one 32 ms chunk at a time (the
model's state carried per file, as examples/vad.py does for one file). Prints the throughput in
seconds of audio per second of wall time, the speech segments of every file, and whether they are
the segments that one process finds file by file.

    python examples/batch_vad.py [folder of 16 kHz mono WAV files] [--workers 2]

Without a folder, synthetic recordings of tone bursts and pauses (different lengths) are written
to a temporary one. The model comes from the silero-vad wheel, fetched once with `pip download`
into a cache outside the repository (tests/real_models.py; $LSTMRT_MODEL_CACHE sets where).
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import sys
import tempfile
import time
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)
import real_models  # noqa: E402
import vad  # noqa: E402  (examples/vad.py: read_wav, segments, speech_probabilities)

import lstmrt  # noqa: E402

RATE = vad.RATE


def write_recordings(folder: str, count: int) -> None:
    """Synthetic 16-bit recordings of 4 to 30 s, each with its own bursts of 'speech'."""
    lengths = np.random.default_rng(0).uniform(4.0, 30.0, count)
    for k, seconds in enumerate(lengths):
        audio = real_models.speech_like_audio(float(seconds), RATE, seed=k)
        with wave.open(os.path.join(folder, f"rec{k:03d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())


def batch_probabilities(session, audios: list) -> list:
    """Speech probabilities of every chunk of every file, the files run together as one batch.

    Files are sorted longest first, so the files still running are always the first rows: when a
    file ends, the batch (and the state) simply loses its last rows."""
    order = sorted(range(len(audios)), key=lambda k: -len(audios[k]))
    chunks = [list(real_models.silero_chunks(audios[k], RATE)) for k in order]
    probs = [[] for _ in order]
    state = np.zeros((2, len(order), 128), np.float32)
    for step in range(max((len(c) for c in chunks), default=0)):
        active = sum(1 for c in chunks if len(c) > step)
        x = np.concatenate([chunks[r][step] for r in range(active)])
        prob, state = session.run(None, real_models.silero_feeds(session, x, state[:, :active], RATE))
        for r in range(active):
            probs[r].append(float(prob[r, 0]))
    result = [None] * len(audios)
    for r, k in enumerate(order):
        result[k] = probs[r]
    return result


class VadScorer:
    """Ray Data callable class: loads Silero VAD once per actor, with the actor's CPUs as threads."""

    def __init__(self, model: bytes):
        from lstmrt.integrations.ray import actor_threads

        self.session = lstmrt.InferenceSession(model, threads=actor_threads())

    def __call__(self, batch: dict) -> dict:
        audios = [vad.read_wav(str(p)) for p in batch["path"]]
        probs = batch_probabilities(self.session, audios)
        return {"path": batch["path"], "seconds": np.array([len(a) / RATE for a in audios]),
                "segments": np.array([repr(vad.segments(p)) for p in probs], dtype=object)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="folder of 16 kHz mono 16-bit WAV files (default: synthetic)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, one CPU each (default 2)")
    parser.add_argument("--files", type=int, default=24, help="synthetic recordings to make (default 24)")
    parser.add_argument("--batch", type=int, default=8, help="files per batch (default 8)")
    args = parser.parse_args()
    path, why = real_models.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path is None:
        print(f"cannot get the Silero VAD model: {why}")
        return 2
    with open(path, "rb") as f:
        model = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = tmp
            write_recordings(folder, args.files)
        return score(folder, model, args)


def score(folder: str, model: bytes, args) -> int:
    """Scores every WAV file of ``folder`` on a local Ray cluster and prints what it found."""
    import ray

    files = sorted(glob.glob(os.path.join(folder, "*.wav")))
    if not files:
        print(f"no .wav files in {folder}")
        return 2

    # The actors unpickle VadScorer, which uses this example's helper modules: they import them
    # (and lstmrt) from where this process does.
    paths = [os.path.join(HERE, "..", "tests"), HERE, os.path.dirname(os.path.dirname(lstmrt.__file__))]
    env = {"PYTHONPATH": os.pathsep.join([os.path.abspath(p) for p in paths] + [os.environ.get("PYTHONPATH", "")])}
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": env})
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        ds = ray.data.from_items([{"path": p} for p in files])
        scored = ds.map_batches(VadScorer, batch_size=args.batch, batch_format="numpy", fn_constructor_args=(model,),
                                compute=ray.data.ActorPoolStrategy(size=args.workers), num_cpus=1)
        start = time.perf_counter()
        rows = scored.take_all()
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()

    audio_seconds = sum(r["seconds"] for r in rows)
    print(f"{len(rows)} files, {audio_seconds:.1f} s of audio in {wall:.2f} s on {args.workers} Ray worker(s): "
          f"{audio_seconds / wall:.0f} s of audio per second (actor start-up included)")
    found = {os.path.basename(r["path"]): r["segments"] for r in rows}
    session = lstmrt.InferenceSession(model, threads=1)
    same = 0
    for p in files:
        name = os.path.basename(p)
        alone = repr(vad.segments(vad.speech_probabilities(session, vad.read_wav(p))[0]))
        same += alone == found[name]
        segments = ast.literal_eval(found[name])  # VadScorer writes the segments as the repr of a list
        print(f"  {name}: {len(segments)} segments " + ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in segments))
    print(f"the same segments as one process, file by file: {'yes' if same == len(files) else 'NO'} "
          f"({same} of {len(files)})")
    return 0 if same == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())

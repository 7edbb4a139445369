"""Streams can move: a stream's state (and a pool's) pickled in this process and resumed in
another gives the outputs of the stream that never stopped."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import lstmrt
from integration_refs import CHAR_LM, SENTIMENT
from lstmrt.integrations import PoolCheckpoint, StreamCheckpoint

RESUME = r"""
import pickle, sys
import numpy as np
import lstmrt
ckpt_path, chunks_path, out_path, model, kind = sys.argv[1:]
with open(ckpt_path, "rb") as f:
    ckpt = pickle.load(f)
with open(chunks_path, "rb") as f:
    chunks = pickle.load(f)
session = lstmrt.InferenceSession(model, threads=1)
outs = []
if kind == "stream":
    stream = ckpt.resume(session)
    for c in chunks:
        outs.append(stream.run(["logits"], {"tokens": c})[0])
else:
    pool, ids = ckpt.resume(session)
    for sids, c in chunks:
        outs.append(pool.run([ids[s] for s in sids], ["logits"], {"tokens": c})[0])
with open(out_path, "wb") as f:
    pickle.dump(outs, f)
"""


def _resume_elsewhere(tmp_path, ckpt, chunks, kind):
    paths = [str(tmp_path / n) for n in ("ckpt.pkl", "chunks.pkl", "out.pkl")]
    for path, obj in zip(paths, (ckpt, chunks)):
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", RESUME, *paths, CHAR_LM, kind], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(paths[2], "rb") as f:
        return pickle.load(f)


def _chunks(seed, n, batch=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 39, (batch, int(L))).astype(np.int64) for L in rng.integers(1, 9, n)]


def test_stream_resumed_in_another_process_equals_the_uninterrupted_stream(tmp_path):
    session = lstmrt.InferenceSession(CHAR_LM, threads=1)
    chunks = _chunks(0, 10)
    whole = session.stream()
    expected = [whole.run(["logits"], {"tokens": c})[0] for c in chunks]
    first = session.stream()
    for c in chunks[:4]:
        first.run(["logits"], {"tokens": c})
    ckpt = StreamCheckpoint.of(session, first)
    got = _resume_elsewhere(tmp_path, ckpt, chunks[4:], "stream")
    for k, (g, e) in enumerate(zip(got, expected[4:])):
        np.testing.assert_array_equal(g, e, err_msg=f"chunk {k + 4}")


def test_pool_resumed_in_another_process_equals_the_uninterrupted_pool(tmp_path):
    session = lstmrt.InferenceSession(CHAR_LM, threads=1)
    pool = session.stream_pool()
    sids = [pool.open() for _ in range(3)]
    steps = [(sids, c) for c in _chunks(1, 3, batch=3)] + [([sids[2], sids[0]], c) for c in _chunks(2, 3, batch=2)]
    expected = [pool.run(s, ["logits"], {"tokens": c})[0] for s, c in steps]
    again = session.stream_pool()
    other = [again.open() for _ in range(3)]
    for s, c in steps[:2]:
        again.run([other[sids.index(i)] for i in s], ["logits"], {"tokens": c})
    ckpt = PoolCheckpoint.of(session, again)
    assert ckpt.stream_ids == sorted(other)
    # The resumed pool is addressed by the ids of the pool that was saved.
    later = [([other[sids.index(i)] for i in s], c) for s, c in steps[2:]]
    got = _resume_elsewhere(tmp_path, ckpt, later, "pool")
    for k, (g, e) in enumerate(zip(got, expected[2:])):
        np.testing.assert_array_equal(g, e, err_msg=f"call {k + 2}")


def test_a_checkpoint_refuses_another_model():
    session = lstmrt.InferenceSession(CHAR_LM, threads=1)
    stream = session.stream()
    stream.run(["logits"], {"tokens": np.array([[1, 2]], np.int64)})
    ckpt = pickle.loads(pickle.dumps(StreamCheckpoint.of(session, stream)))
    with pytest.raises(ValueError, match="different model"):
        ckpt.resume(lstmrt.InferenceSession(SENTIMENT))
    assert "StreamCheckpoint" in repr(ckpt)

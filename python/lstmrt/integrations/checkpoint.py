"""Stream state that pickles, so a long-running stream can stop in one process and go on in
another (a different Ray actor or Dask worker) with the outputs it would have given.

    ckpt = StreamCheckpoint.of(session, stream)        # picklable
    ...                                                # pickle.dumps / send / pickle.loads
    stream = ckpt.resume(session)                      # a new stream, in the saved state

The checkpoint carries the state arrays (copies: ``get_state()``) and a digest of the model, and
refuses to resume on a different model. :class:`PoolCheckpoint` does the same for every stream of
a stream pool.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Tuple

import numpy as np

__all__ = ["StreamCheckpoint", "PoolCheckpoint", "model_digest"]


def model_digest(session) -> str:
    """SHA-256 of the session's model bytes: what a checkpoint checks before it resumes."""
    return hashlib.sha256(session._model).hexdigest()


def _copy_state(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float32, copy=True) for k, v in state.items()}


def _check_model(digest: str, session) -> None:
    if model_digest(session) != digest:
        raise ValueError("this checkpoint was taken on a different model (its digest does not match the session's)")


class StreamCheckpoint:
    """The state of one stream (``session.stream()``), as plain arrays that pickle.

    ``state`` maps ``"<node>:h"`` / ``"<node>:c"`` to float32 arrays, as ``stream.get_state()``
    returns; ``digest`` is the model's (:func:`model_digest`).
    """

    __slots__ = ("state", "digest")

    def __init__(self, state: Dict[str, np.ndarray], digest: str):
        self.state = _copy_state(state)
        self.digest = digest

    @classmethod
    def of(cls, session, stream) -> "StreamCheckpoint":
        """Snapshot ``stream`` (made by ``session.stream()``); the stream goes on unchanged."""
        return cls(stream.get_state(), model_digest(session))

    def resume(self, session):
        """A new stream of ``session`` in the saved state (ValueError if the model differs)."""
        _check_model(self.digest, session)
        stream = session.stream()
        stream.set_state(self.state)
        return stream

    def __reduce__(self):
        return (StreamCheckpoint, (self.state, self.digest))

    def __repr__(self) -> str:
        return f"StreamCheckpoint(nodes={sorted(self.state)})"


class PoolCheckpoint:
    """The state of every open stream of a pool (``session.stream_pool()``), keyed by the
    stream ids the pool had when it was saved."""

    __slots__ = ("states", "digest")

    def __init__(self, states: Dict[int, Dict[str, np.ndarray]], digest: str):
        self.states = {int(sid): _copy_state(s) for sid, s in states.items()}
        self.digest = digest

    @classmethod
    def of(cls, session, pool) -> "PoolCheckpoint":
        """Snapshot every open stream of ``pool`` (made by ``session.stream_pool()``)."""
        return cls({sid: pool.get_state(sid) for sid in pool.ids}, model_digest(session))

    def resume(self, session) -> Tuple[Any, Dict[int, int]]:
        """A new pool of ``session`` with one stream per saved one, and the map from each saved
        stream id to its id in the new pool (a pool hands out its own ids)."""
        _check_model(self.digest, session)
        pool = session.stream_pool()
        ids: Dict[int, int] = {}
        for sid in sorted(self.states):
            new = pool.open()
            pool.set_state(new, self.states[sid])
            ids[sid] = new
        return pool, ids

    @property
    def stream_ids(self) -> List[int]:
        """The saved stream ids, in order."""
        return sorted(self.states)

    def __reduce__(self):
        return (PoolCheckpoint, (self.states, self.digest))

    def __repr__(self) -> str:
        return f"PoolCheckpoint(streams={self.stream_ids})"

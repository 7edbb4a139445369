"""Dask: run variable-length sequences through an lstmrt model over the partitions of a
``dask.dataframe`` or ``dask.bag`` (``pip install "lstmrt[dask]"``).

    import dask.dataframe as dd, lstmrt.integrations.dask as ldask
    df = dd.read_parquet("reviews/")
    df = ldask.predict_dataframe(df, "sentiment.onnx", input_column="tokens", output_column="probs")

The model travels to each worker once, as one task's result that every partition's task depends
on; each worker process compiles the session once (a per-process cache) and runs it with the
worker's ``nthreads``, one run at a time, so tasks running side by side on a worker do not
oversubscribe its cores. Sequences are bucketed as :mod:`lstmrt.integrations.batching`
describes, so every output equals running that sequence alone.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

import dask
import dask.bag as db
import numpy as np
import pandas as pd

from .batching import RowError, SequenceRunner

__all__ = ["predict_dataframe", "predict_bag", "worker_threads", "sessions_loaded", "RowError"]

_RUNNERS: Dict[Tuple[Any, ...], SequenceRunner] = {}
_RUNNERS_LOCK = threading.Lock()
_LOADS = [0]


class _Model:
    # The model's bytes and their digest: one task's result, fetched once per worker; the digest
    # keys the per-process session cache.
    __slots__ = ("data", "digest")

    def __init__(self, data: bytes):
        self.data = data
        self.digest = hashlib.sha256(data).hexdigest()

    def __reduce__(self):
        return (_Model, (self.data,))


def _model_bytes(model: Any) -> bytes:
    from ..session import InferenceSession

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            return f.read()
    if isinstance(model, InferenceSession):
        return model._model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if hasattr(model, "SerializeToString"):
        return model.SerializeToString()
    raise TypeError(f"model: expected a path, bytes, an ONNX ModelProto or an InferenceSession, got {type(model).__name__}")


def worker_threads() -> Optional[int]:
    """The calling Dask worker's ``nthreads`` (None outside a worker: all cores)."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        worker = get_worker()
    except ValueError:
        return None
    return int(worker.state.nthreads)


def sessions_loaded() -> int:
    """How many sessions this process has compiled for Dask tasks (tests check one per worker)."""
    return _LOADS[0]


def _runner(model: _Model, kwargs: Tuple[Tuple[str, Any], ...]) -> SequenceRunner:
    key = (model.digest, kwargs)
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            options = dict(kwargs)
            threads = options.pop("threads", None) or worker_threads()
            runner = SequenceRunner(model.data, threads=threads, **options)
            runner.session
            _RUNNERS[key] = runner
            _LOADS[0] += 1
    return runner


def _frozen(runner_kwargs: Dict[str, Any], precision: Optional[str]) -> Tuple[Tuple[str, Any], ...]:
    options = dict(runner_kwargs)
    if precision is not None:
        options["precision"] = precision
    return tuple(sorted(options.items()))


def _object_series(values: List[Any], index) -> pd.Series:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return pd.Series(column, index=index, dtype=object)


def _dataframe_partition(part: pd.DataFrame, model: _Model, kwargs, input_column: str, output_column: str,
                         on_error: str) -> pd.DataFrame:
    runner = _runner(model, kwargs)
    outs = runner.run_rows(list(part[input_column]), list(part.index), on_error)
    part = part.copy()
    part[output_column] = _object_series(outs, part.index)
    return part


def predict_dataframe(df, model: Any, *, input_column: str, output_column: str, precision: Optional[str] = None,
                      on_error: str = "raise", **runner_kwargs: Any):
    """``df`` (a dask DataFrame) with ``output_column`` added: the model's output for each row's
    sequence (an object column of arrays; None for a row skipped with ``on_error="skip"``).

    Errors name the row by its index label. ``precision`` is passed to the session only when
    given; other keywords (``padding``, ``max_batch``, ``batch_first``, ``input_name``,
    ``output_name``, ``threads``) go to :class:`~lstmrt.integrations.batching.SequenceRunner`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
    if input_column not in df.columns:
        raise KeyError(f"input_column {input_column!r} is not in the dataframe (columns: {list(df.columns)})")
    if pd.api.types.is_string_dtype(df[input_column].dtype) and not df[input_column].dtype == object:
        raise TypeError(f"input_column {input_column!r} holds strings ({df[input_column].dtype}): dask turns object "
                        "columns into strings unless the dataframe is made under "
                        "dask.config.set({'dataframe.convert-string': False})")
    handle = dask.delayed(_Model(_model_bytes(model)), pure=True)
    meta = df._meta.copy()
    meta[output_column] = pd.Series([], dtype=object, index=meta.index)
    # The output is arrays in an object column, which dask would otherwise turn into strings.
    with dask.config.set({"dataframe.convert-string": False}):
        return df.map_partitions(_dataframe_partition, handle, _frozen(runner_kwargs, precision), input_column,
                                 output_column, on_error, meta=meta, align_dataframes=False)


def _bag_partition(part, number: int, model: _Model, kwargs, input_key: Optional[str], output_key: Optional[str],
                   on_error: str) -> list:
    runner = _runner(model, kwargs)
    part = list(part)
    rows = [item[input_key] if input_key is not None else item for item in part]
    indices = [f"element {k} of partition {number}" for k in range(len(part))]
    outs = runner.run_rows(rows, indices, on_error)
    if input_key is None:
        return outs
    return [dict(item, **{output_key: out}) for item, out in zip(part, outs)]


def predict_bag(bag: "db.Bag", model: Any, *, input_key: Optional[str] = None, output_key: Optional[str] = None,
                precision: Optional[str] = None, on_error: str = "raise", **runner_kwargs: Any) -> "db.Bag":
    """The model's output for each element of ``bag``, partition by partition.

    Elements are sequences (the result is a bag of output arrays), or dicts with the sequence
    under ``input_key`` (the result is the dicts with ``output_key`` added). Errors name the row
    as "element k of partition p"; ``on_error="skip"`` gives None for it. Other keywords as
    :func:`predict_dataframe`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
    if (input_key is None) != (output_key is None):
        raise ValueError("input_key and output_key: give both (dict elements) or neither (sequence elements)")
    handle = dask.delayed(_Model(_model_bytes(model)), pure=True)
    kwargs = _frozen(runner_kwargs, precision)
    run = dask.delayed(_bag_partition, pure=True)
    parts = [run(part, number, handle, kwargs, input_key, output_key, on_error)
             for number, part in enumerate(bag.to_delayed())]
    return db.from_delayed(parts)

"""Ray Data: run a column of variable-length sequences through an lstmrt model on every actor of
a Ray cluster (``pip install "lstmrt[ray]"``).

    import ray, lstmrt.integrations.ray as lray
    ds = ray.data.read_parquet("s3://bucket/reviews/")
    ds = lray.predict(ds, "sentiment.onnx", input_column="tokens", output_column="probs", workers=8)

:class:`SequencePredictor` is the callable class behind it, for ``Dataset.map_batches`` pipelines
written by hand. Each actor loads the session once, runs it with as many threads as the CPUs Ray
gave the actor, and buckets each batch's sequences (:mod:`lstmrt.integrations.batching`) so that
every output equals running that sequence alone.
"""

from __future__ import annotations

import math
import os
from typing import Any, List, Optional

import numpy as np
import pyarrow as pa
import ray

from .batching import RowError, SequenceRunner

__all__ = ["SequencePredictor", "predict", "actor_threads"]


def actor_threads() -> int:
    """The CPUs Ray assigned to the calling actor or task (at least 1): the thread bound for its
    session, so that actors sharing a node never run more threads than its cores."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, int(math.floor(cpus)))


class SequencePredictor:
    """A callable class for ``Dataset.map_batches(..., batch_format="pyarrow")``: reads
    ``input_column`` (one sequence per row) and writes ``output_column``: each row's output as
    nested Arrow lists of its dtype (one type for every batch, so that Ray can join them), null
    for a skipped row.

    ``model`` is a path, the model's bytes or an :class:`lstmrt.InferenceSession`; it is loaded
    once per actor. ``index_column`` names the column whose value identifies a row in errors
    (default: the row's position in its batch). ``on_error="raise"`` fails the job with a
    :class:`~lstmrt.integrations.batching.RowError` naming the row; ``"skip"`` writes null and
    goes on. Other keywords (``padding``, ``max_batch``, ``batch_first``, ``input_name``,
    ``output_name``, ``precision``) go to :class:`~lstmrt.integrations.batching.SequenceRunner`.
    """

    def __init__(self, model: Any, *, input_column: str, output_column: str, index_column: Optional[str] = None,
                 on_error: str = "raise", threads: Optional[int] = None, **runner_kwargs: Any):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
        self.input_column = input_column
        self.output_column = output_column
        self.index_column = index_column
        self.on_error = on_error
        self.runner = SequenceRunner(model, threads=threads or actor_threads(), **runner_kwargs)
        self.runner.session  # load now: a broken model fails the actor at start, not mid-job

    def __call__(self, batch: "pa.Table") -> "pa.Table":
        """Adds the output column to one batch (a pyarrow Table)."""
        if self.input_column not in batch.column_names:
            raise KeyError(f"input_column {self.input_column!r} is not in the dataset (columns: {batch.column_names})")
        rows = _column_rows(batch.column(self.input_column))
        if self.index_column is not None:
            indices = batch.column(self.index_column).to_pylist()
        else:
            indices = [f"{k} of a batch of {len(rows)}" for k in range(len(rows))]
        outs = self.runner.run_rows(rows, indices, self.on_error)
        column = _nested_lists(outs, self.runner.output_row_ndim)
        if self.output_column in batch.column_names:
            batch = batch.drop_columns([self.output_column])
        return batch.append_column(self.output_column, column)


def _column_rows(column: "pa.ChunkedArray") -> list:
    # Ray stores equal-shape arrays as a tensor extension and ragged ones as a variable-shaped
    # one; both give NumPy arrays through to_numpy(). Plain list columns come back as lists.
    rows: list = []
    for chunk in column.chunks:
        if isinstance(chunk, pa.ExtensionArray) and hasattr(chunk, "to_numpy"):
            values = chunk.to_numpy()
            rows.extend(values[k] for k in range(len(values)))
        else:
            rows.extend(chunk.to_pylist())
    return rows


def _nested_lists(outs: List[Optional[np.ndarray]], ndim: int) -> "pa.Array":
    # Skipped rows must be nulls in a column whose type does not depend on the batch, or Ray
    # cannot concatenate batches; nested Arrow lists of the output's dtype are that type.
    valid = [o for o in outs if o is not None]
    dtype = valid[0].dtype if valid else np.dtype(np.float32)
    flat = np.concatenate([o.reshape(-1) for o in valid]) if valid else np.zeros(0, dtype)
    arr = pa.array(flat, pa.from_numpy_dtype(dtype))
    for level in range(ndim - 1, 0, -1):
        sizes = [o.shape[level] for o in valid for _ in range(int(np.prod(o.shape[:level], dtype=np.int64)))]
        arr = pa.LargeListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]), pa.int64()),
                                       arr)
    sizes = [0 if o is None else o.shape[0] for o in outs]
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]), pa.int64())
    mask = pa.array([o is None for o in outs], pa.bool_())
    if ndim == 0:
        return pa.array([None if o is None else o.item() for o in outs], pa.from_numpy_dtype(dtype))
    return pa.LargeListArray.from_arrays(offsets, arr, mask=mask)


def predict(dataset: "ray.data.Dataset", model: Any, *, input_column: str, output_column: str,
            precision: Optional[str] = None, batch_size: int = 256, workers: int = 1, cpus_per_worker: int = 1,
            index_column: Optional[str] = None, on_error: str = "raise", **runner_kwargs: Any) -> "ray.data.Dataset":
    """``dataset`` with ``output_column`` added: the model's output for each row's sequence.

    ``workers`` actors of ``cpus_per_worker`` CPUs each run :class:`SequencePredictor` on batches
    of ``batch_size`` rows. A model path is read here and its bytes shipped to each actor once, so
    the workers need not see the file. ``precision`` is passed to the session only when given.
    The result is lazy, as Ray datasets are: it runs when consumed.
    """
    from ..session import InferenceSession

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            model = f.read()
    elif isinstance(model, InferenceSession):
        model = model._model
    kwargs = dict(runner_kwargs, input_column=input_column, output_column=output_column, index_column=index_column,
                  on_error=on_error, precision=precision)
    return dataset.map_batches(SequencePredictor, batch_size=batch_size, batch_format="pyarrow",
                               fn_constructor_args=(model,), fn_constructor_kwargs=kwargs,
                               compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus_per_worker)


# RowError is re-exported so that `except lstmrt.integrations.ray.RowError` reads naturally.
RowError = RowError

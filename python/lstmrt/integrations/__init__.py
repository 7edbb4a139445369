"""Batch inference over datasets on a cluster: Ray Data (``lstmrt.integrations.ray``), Dask
(``lstmrt.integrations.dask``), and stream checkpoints that move between processes
(``lstmrt.integrations.checkpoint``).

The Ray and Dask modules import their engine when they are imported (``pip install
"lstmrt[ray]"`` or ``"lstmrt[dask]"``); this package and :mod:`.batching` need neither.
"""

from .batching import RowError, SequenceRunner, plan_buckets
from .checkpoint import StreamCheckpoint, PoolCheckpoint

__all__ = ["RowError", "SequenceRunner", "plan_buckets", "StreamCheckpoint", "PoolCheckpoint"]

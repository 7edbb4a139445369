"""lstmrt: low-latency CPU inference for LSTM, GRU and RNN models with ONNX semantics."""

from contextlib import contextmanager as _contextmanager

from . import _core, ops
from .session import InferenceSession

__version__ = "0.1.0"

# Surface a bad LSTMRT_ISA at import rather than at the first call.
_core.get_isa()


def cpu_info() -> dict:
    """What the CPU has and which kernel path (ISA) lstmrt uses.

    Keys: ``isa`` (the path in use), ``supported_isas`` (compiled in and runnable here),
    ``compiled_isas``, ``vendor``, ``brand``, ``features`` (flags), ``default_threads``, ``worker_spin_us``.
    """
    return _core.cpu_info()


def set_isa(name: str) -> str:
    """Forces the kernel path ("generic", "avx2" or "avx512") for the whole process.

    Returns the previous path. Unknown names raise ValueError; a path the CPU cannot run (or this
    build lacks) raises RuntimeError. The environment variable ``LSTMRT_ISA`` does the same at import.
    """
    return _core.set_isa(name)


@_contextmanager
def use_isa(name: str):
    """Context manager: run the enclosed code on one kernel path, then restore the previous one."""
    previous = set_isa(name)
    try:
        yield
    finally:
        set_isa(previous)


__all__ = ["InferenceSession", "ops", "cpu_info", "set_isa", "use_isa", "__version__"]

"""Shared pytest setup for the lstmrt tests.

The helper modules (reference, configs, checks, ort_helpers, onnx_backend)
live next to the tests and are imported as top-level modules; this puts
their directory on sys.path whatever import mode pytest runs in.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Worker processes that the tests start (Ray actors, Dask workers, subprocesses) import the same
# lstmrt as the tests, from whatever directory they run in: a relative PYTHONPATH=python would
# not find it from another working directory.
import lstmrt as _lstmrt  # noqa: E402

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(_lstmrt.__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_PACKAGE_PARENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


# Ray and Dask write into the environment of the process that starts them (OMP_NUM_THREADS=1,
# PYTHONHASHSEED, RAY_* ...); later tests' subprocesses must not inherit that. The cluster
# fixtures, which outlive one test, restore it themselves (integration_refs.restore_environment).
import pytest as _pytest  # noqa: E402


@_pytest.fixture(autouse=True)
def _environment_restored():
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


# Every kernel path (ISA) that this build compiled and this CPU runs, one test each; the others
# skip with the reason.
ALL_ISAS = ("generic", "avx2", "avx512")


@_pytest.fixture(params=ALL_ISAS)
def isa(request):
    info = _lstmrt.cpu_info()
    if request.param not in info["compiled_isas"]:
        _pytest.skip(f"{request.param}: not compiled into this build (compiled: {info['compiled_isas']})")
    if request.param not in info["supported_isas"]:
        _pytest.skip(f"{request.param}: this CPU cannot run it (supported here: {info['supported_isas']})")
    return request.param

"""Kernel microbenchmarks: lstmrt's packed GEMM in the shapes an LSTM layer uses, per ISA.

* ``test_machine``: the reference figures of this machine, measured with the same kernel (best
  of five rounds each): the peak FMA throughput (a compute-bound 256x1024x1024 product) and the
  bandwidth at which an M=1 matrix-vector product streams weights that fit in L2, that fit in L3
  but not L2, and that fit in neither (DRAM); for the ISA lstmrt dispatches to, also the bandwidth
  curve over weight sizes, the bare cost of a call from Python and the gate math per 16 cells.
* ``test_recurrent``: the recurrent product of one time step, h·Rᵀ with M = batch (1 and 32),
  K = H, N = 4H (the LSTM's four gates).
* ``test_input_gemm``: the input product of a whole sequence at once, X·Wᵀ with M = seq*batch
  (100 and 3200), K = H, N = 4H.

Every figure comes from ``lstmrt._core.testing.time_gemm``, which packs the weights once and
times repeated products in C++: thread CPU time with one thread (immune to being descheduled on
a busy machine), wall time with more (CPU time would only see the calling thread). The kernel
time per product is in ``extra_info["seconds"]`` (median over the rounds), with GFLOP/s and GB/s
(weights plus A and C, each touched once); the pytest-benchmark columns show the cost of each
round's ``time_gemm`` call (random fill and packing included), not the kernel. ISAs the CPU lacks
do not appear (``cpu_info()["supported_isas"]``); the portable path skips the shapes that would
take over half a second per product, and says so.

LSTMRT_BENCH_HIDDEN and LSTMRT_BENCH_THREADS narrow the sweep as for the matrix.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models as bm  # noqa: E402

import lstmrt  # noqa: E402
from lstmrt._core import testing  # noqa: E402


def _env_ints(name, default):
    raw = os.environ.get(name)
    return tuple(int(v) for v in raw.split(",") if v.strip()) if raw else tuple(default)


ISAS = tuple(lstmrt.cpu_info()["supported_isas"])
HIDDEN = _env_ints("LSTMRT_BENCH_HIDDEN", (64, 128, 256, 512, 1024))
THREADS = _env_ints("LSTMRT_BENCH_THREADS", (1, 2))
SAMPLE_SECONDS = 0.02       # each time_gemm call repeats the product for about this long
MAX_CALL_SECONDS = 0.5      # a single product slower than this is skipped (portable path)


@functools.lru_cache(maxsize=None)
def _rough_gflops(isa):
    """A quick single-thread throughput estimate, only used to size repetitions and to skip."""
    M, N, K = 64, 256, 256
    return 2.0 * M * N * K / testing.time_gemm(isa, M, N, K, reps=5) / 1e9


def _rounds(request):
    return max(3, int(request.config.getoption("benchmark_min_rounds", 5) or 5))


def _level(weight_bytes, threads):
    """Where the packed weights live while the product repeats: the threads split N, so each
    core's L2 holds its share."""
    c = bm.cache_sizes()
    if weight_bytes <= c[2] * max(1, threads) * 0.75:
        return "L2"
    if weight_bytes <= c[3] * 0.75:
        return "L3"
    return "DRAM"


def _time_shape(benchmark, request, isa, M, N, K, threads, kind, **info):
    flops = 2.0 * M * N * K
    est = flops / (_rough_gflops(isa) * 1e9 * (0.8 * threads if threads > 1 else 1.0))
    if est > MAX_CALL_SECONDS:
        pytest.skip(f"{isa}: one {M}x{N}x{K} product would take about {est:.1f} s")
    wall = threads > 1
    if est < 0.01:   # cheap enough to measure the real thing before sizing the repetitions
        est = testing.time_gemm(isa, M, N, K, reps=max(1, int(0.002 / max(est, 1e-8))), threads=threads, wall=wall)
    reps = max(1, min(100000, int(SAMPLE_SECONDS / max(est, 1e-8))))
    samples = []

    def one_sample():
        samples.append(testing.time_gemm(isa, M, N, K, reps=reps, threads=threads, wall=wall))

    wbytes = 4.0 * N * K
    bm.record(benchmark, kind, isa=isa, M=M, N=N, K=K, threads=threads, reps=reps,
            clock="wall" if wall else "thread CPU", flops=flops,
            bytes=4.0 * (N * K + M * K + M * N), weight_bytes=wbytes, level=_level(wbytes, threads), **info)
    benchmark.pedantic(one_sample, rounds=_rounds(request), iterations=1, warmup_rounds=0)
    s = float(np.median(samples))
    benchmark.extra_info.update(seconds=s, seconds_min=float(min(samples)), gflops=flops / s / 1e9,
                                gbps=benchmark.extra_info["bytes"] / s / 1e9)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"t{t}")
@pytest.mark.parametrize("isa", ISAS)
def test_machine(benchmark, request, isa, threads):
    benchmark.group = "machine: peak FMA throughput and gemv bandwidth"
    result = {}

    def measure():
        # The bandwidth curve, the call cost and the gate rate feed the report's floor, which
        # reads the ISA lstmrt dispatches to.
        result.update(bm.measure_machine(isa, threads, curve=isa == lstmrt.cpu_info()["isa"]))

    bm.record(benchmark, "machine", isa=isa, threads=threads)
    benchmark.pedantic(measure, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(result)


def _shape_params(rows):
    for isa in ISAS:
        for H in HIDDEN:
            for M in rows:
                for t in THREADS:
                    yield pytest.param(isa, H, M, t, id=f"{isa}-h{H}-m{M}-t{t}")


@pytest.mark.parametrize("isa,H,M,threads", list(_shape_params((1, 32))))
def test_recurrent(benchmark, request, isa, H, M, threads):
    benchmark.group = f"recurrent product M={M} (K=H, N=4H) threads={threads}"
    _time_shape(benchmark, request, isa, M, 4 * H, H, threads, "kernel", product="recurrent", hidden=H)


@pytest.mark.parametrize("isa,H,M,threads", list(_shape_params((100, 3200))))
def test_input_gemm(benchmark, request, isa, H, M, threads):
    benchmark.group = f"input GEMM M={M} (seq*batch, K=H, N=4H) threads={threads}"
    _time_shape(benchmark, request, isa, M, 4 * H, H, threads, "kernel", product="input", hidden=H)

"""lstmrt._core.testing.core_to_core_ns: the probe the benchmark uses to learn where the host
placed two CPUs. It must measure something plausible, leave the caller's CPU affinity as it was,
and refuse arguments it cannot honour with a clear error."""
import os
import sys

import pytest

from lstmrt._core import testing

linux_two_cpus = pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                                    reason="needs Linux and two CPUs this process may run on")


@linux_two_cpus
def test_measures_a_plausible_time_and_restores_the_affinity():
    cpus = sorted(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    ns = testing.core_to_core_ns(cpus[0], cpus[1], 2000)
    # A cache line crosses between two CPUs in tens to hundreds of nanoseconds; more than 100 us
    # a trip would mean the two threads were not running at once.
    assert 1.0 < ns < 100_000.0
    assert os.sched_getaffinity(0) == before


@linux_two_cpus
@pytest.mark.parametrize("pick,message", [
    (lambda a, b: (a, a, 10), "must differ"),
    (lambda a, b: (a, 4096, 10), "CPU 4096 is not one this process may run on"),
    (lambda a, b: (a, -1, 10), "CPU -1 is not one"),
    (lambda a, b: (a, b, 0), "round_trips must be positive"),
], ids=["same-cpu", "cpu-out-of-range", "negative-cpu", "no-round-trips"])
def test_refuses_what_it_cannot_measure(pick, message):
    cpus = sorted(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=message):
        testing.core_to_core_ns(*pick(cpus[0], cpus[1]))

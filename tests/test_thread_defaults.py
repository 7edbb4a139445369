"""Default thread count: LSTMRT_NUM_THREADS, else the physical cores the process may run on."""

import os
import subprocess
import sys

import pytest

import lstmrt

CODE = "import lstmrt; print(lstmrt.cpu_info()['default_threads'])"


def _default_threads(env_extra=None, preexec=None):
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, env.get("PYTHONPATH", "")])
    env.pop("LSTMRT_NUM_THREADS", None)
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=60,
                         preexec_fn=preexec)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_environment_variable_sets_the_default():
    assert _default_threads({"LSTMRT_NUM_THREADS": "3"}) == 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity control on this platform")
def test_default_follows_the_cpu_affinity_mask():
    cpus = sorted(os.sched_getaffinity(0))
    assert _default_threads(preexec=lambda: os.sched_setaffinity(0, {cpus[0]})) == 1
    assert 1 <= _default_threads() <= len(cpus)

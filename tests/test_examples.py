"""The README's main command and the streaming example run and do what they claim."""

import os
import subprocess
import sys

import lstmrt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args):
    # The subprocess imports the same lstmrt as this test (installed, or the dev tree).
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_demo_checks_layer_and_reproduces_pytorch_text():
    r = _run(["-m", "lstmrt", "demo", "--seq", "20"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the text PyTorch generated from the same prompt: yes" in r.stdout
    assert "The miller laughed" in r.stdout
    assert r.stdout.rstrip().endswith("OK")


def test_streaming_anomaly_example_finds_the_injected_faults():
    r = _run([os.path.join("examples", "streaming_anomaly.py"), "--seed", "7"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "found 6 of 6 faults" in r.stdout
    assert "0 false alarms" in r.stdout


def test_vad_example_finds_the_same_segments_as_onnxruntime():
    import real_models

    path, why = real_models.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path is None:
        import pytest

        pytest.skip(why)
    r = _run([os.path.join("examples", "vad.py")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("speech ") == 4, r.stdout
    assert "the same segments: yes" in r.stdout


def test_vad_server_example_finds_the_same_segments_as_onnxruntime_per_stream():
    import real_models

    path, why = real_models.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path is None:
        import pytest

        pytest.skip(why)
    r = _run([os.path.join("examples", "vad_server.py"), "--streams", "10", "--seconds", "3"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("stream ") >= 10 and "segment(s) 0." in r.stdout, r.stdout
    assert "per tick (median)" in r.stdout
    assert "one session per stream: the same segments: yes" in r.stdout


def test_batch_vad_example_finds_on_ray_the_segments_of_one_process():
    import pytest
    import real_models

    path, why = real_models.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path is None:
        pytest.skip(why)
    pytest.importorskip("ray")
    r = _run([os.path.join("examples", "batch_vad.py"), "--files", "6", "--batch", "3"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "s of audio per second" in r.stdout
    assert r.stdout.count(".wav: ") == 6, r.stdout
    assert "the same segments as one process, file by file: yes (6 of 6)" in r.stdout

"""The command line: ``lstmrt info``, ``lstmrt run`` and ``lstmrt bench`` (in-process through
``main(argv)``, and once as a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import lstmrt
from onnx import helper

from lstmrt.__main__ import main
from session_helpers import make_model, ort_run

rng = np.random.default_rng(5)
HIDDEN, INP = 4, 3


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    w = {"W": rng.uniform(-0.5, 0.5, (2, 3 * HIDDEN, INP)).astype(np.float32),
         "R": rng.uniform(-0.5, 0.5, (2, 3 * HIDDEN, HIDDEN)).astype(np.float32),
         "head": rng.standard_normal((2 * HIDDEN, 2)).astype(np.float32),
         "shape": np.array([0, 0, -1], np.int64)}
    nodes = [helper.make_node("GRU", ["x", "W", "R", "", "", "h0"], ["Y", "Y_h"], hidden_size=HIDDEN,
                              direction="bidirectional", name="encoder"),
             helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["Yt", "shape"], ["feat"]),
             helper.make_node("MatMul", ["feat", "head"], ["logits"])]
    model = make_model(nodes, {"x": np.zeros((1, 1, INP), np.float32), "h0": np.zeros((2, 1, HIDDEN), np.float32)},
                       ["logits"], opset=14, initializers=w,
                       input_shapes={"x": ["seq", "batch", INP], "h0": [2, "batch", HIDDEN]})
    path = tmp_path_factory.mktemp("cli") / "tagger.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_info_text(model_path, capsys):
    assert main(["info", model_path]) == 0
    out = capsys.readouterr().out
    for part in ("opset 14", "x: tensor(float) [seq, batch, 3]", "h0: tensor(float) [2, batch, 4]",
                 "optional", "logits", "encoder: GRU bidirectional", "input_size 3", "hidden_size 4", "layout 0",
                 "GRU: 1", "MatMul: 1", "Reshape: 1", "Transpose: 1"):
        assert part in out, f"{part!r} not in:\n{out}"


def test_info_json(model_path, capsys):
    assert main(["info", model_path, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in d["inputs"]] == ["x", "h0"]
    assert d["inputs"][1]["optional"] is True
    assert d["recurrent_layers"] == [{"name": "encoder", "cell": "GRU", "direction": "bidirectional",
                                      "num_directions": 2, "hidden_size": 4, "input_size": 3, "layout": 0}]
    assert d["op_counts"] == {"GRU": 1, "Transpose": 1, "Reshape": 1, "MatMul": 1}


def test_run_writes_npz(model_path, tmp_path, capsys):
    x = rng.standard_normal((5, 2, INP)).astype(np.float32)
    h0 = rng.standard_normal((2, 2, HIDDEN)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "h0.npy", h0)
    out_path = tmp_path / "out.npz"
    assert main(["run", model_path, "--input", f"x={tmp_path / 'x.npy'}", "--input", f"h0={tmp_path / 'h0.npy'}",
                 "--output", str(out_path)]) == 0
    text = capsys.readouterr().out
    assert "logits: float32 [5, 2, 2]" in text
    with np.load(out_path) as z:
        expected = ort_run(onnx.load(model_path), {"x": x, "h0": h0})[0]
        np.testing.assert_allclose(z["logits"], expected, atol=1e-5, rtol=1e-4)


def test_run_from_npz_and_omitted_state(model_path, tmp_path, capsys):
    x = rng.standard_normal((3, 1, INP)).astype(np.float32)
    np.savez(tmp_path / "feeds.npz", x=x)
    assert main(["run", model_path, "--input", str(tmp_path / "feeds.npz")]) == 0
    assert "logits: float32 [3, 1, 2]" in capsys.readouterr().out


def test_run_errors_exit_nonzero(model_path, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((5, 2, INP), np.float64))
    assert main(["run", model_path, "--input", f"x={tmp_path / 'bad.npy'}"]) == 1
    assert "TypeError" in capsys.readouterr().err
    assert main(["run", model_path, "--input", "x"]) == 1
    assert main(["info", str(tmp_path / "missing.onnx")]) == 1
    assert "missing.onnx" in capsys.readouterr().err


def test_bench_with_and_without_onnxruntime(model_path, capsys):
    assert main(["bench", model_path, "--iters", "3", "--warmup", "1", "--seq", "4", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "lstmrt" in captured.out and "median" in captured.out
    assert "onnxruntime" in captured.out
    assert "[" in captured.err and "3/3" in captured.err  # the progress bar
    assert main(["bench", model_path, "--iters", "2", "--no-ort", "--dim", "batch=3"]) == 0
    out = capsys.readouterr().out
    assert "x [4, 3, 3]" not in out and "x [32, 3, 3]" in out
    assert "speed-up" not in out


def test_subprocess_entry_point(model_path):
    # The subprocess imports the same lstmrt as this test (installed, or the dev tree).
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "lstmrt", "info", model_path], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "encoder: GRU bidirectional" in r.stdout


def test_duplicate_and_unknown_names_are_errors(tmp_path):
    import subprocess
    import sys as _sys

    import numpy as np

    model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models", "torch_char_lm_legacy.onnx")
    np.save(tmp_path / "t.npy", np.zeros((1, 3), np.int64))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__))),
                                         env.get("PYTHONPATH", "")])

    def cli(*args):
        return subprocess.run([_sys.executable, "-m", "lstmrt", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    t = f"tokens={tmp_path / 't.npy'}"
    r = cli("run", model, "-i", t, "-i", t)
    assert r.returncode == 1 and "given twice" in r.stderr
    r = cli("run", model, "-i", f"tokenz={tmp_path / 't.npy'}")
    assert r.returncode == 1 and "no such input" in r.stderr and "tokens" in r.stderr
    r = cli("bench", model, "--dim", "foo=3", "--no-ort", "--iters", "1")
    assert r.returncode == 1 and "no such dimension" in r.stderr
    # A reader that goes away early: no traceback.
    shell = subprocess.run(f"{_sys.executable} -m lstmrt info --json {model} | head -c 10", shell=True,
                           capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr

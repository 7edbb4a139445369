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

from lstmrt.cli import main
from session_helpers import make_model, ort_run
from checks import assert_close

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
        assert_close(z["logits"], expected, atol=1e-5, rtol=1e-4)


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


def test_duplicate_or_unknown_inputs_are_errors(model_path, tmp_path, capsys):
    np.save(tmp_path / "x.npy", rng.standard_normal((3, 1, INP)).astype(np.float32))
    np.savez(tmp_path / "feeds.npz", x=np.zeros((3, 1, INP), np.float32))
    x = f"x={tmp_path / 'x.npy'}"
    assert main(["run", model_path, "-i", x, "-i", x]) == 1
    assert "--input x: given twice" in capsys.readouterr().err
    assert main(["run", model_path, "-i", x, "-i", str(tmp_path / "feeds.npz")]) == 1
    assert "given twice" in capsys.readouterr().err
    assert main(["run", model_path, "-i", f"y={tmp_path / 'x.npy'}"]) == 1
    err = capsys.readouterr().err
    assert "no input named 'y'" in err and "x, h0" in err


def test_run_and_bench_print_threads(model_path, tmp_path, capsys):
    np.save(tmp_path / "x.npy", rng.standard_normal((3, 1, INP)).astype(np.float32))
    assert main(["run", model_path, "-i", f"x={tmp_path / 'x.npy'}", "--threads", "1"]) == 0
    assert "threads: 1" in capsys.readouterr().out
    assert main(["bench", model_path, "--iters", "2", "--warmup", "0", "--seq", "2", "--no-ort"]) == 0
    out = capsys.readouterr().out
    assert f"threads: {lstmrt.cpu_info()['default_threads']} (" in out


def test_bench_dim_names_are_checked(model_path, capsys):
    assert main(["bench", model_path, "--iters", "1", "--no-ort", "--dim", "foo=3"]) == 1
    err = capsys.readouterr().err
    assert "no symbolic dimension named 'foo'" in err and "batch, seq" in err
    assert main(["bench", model_path, "--iters", "1", "--no-ort", "--dim", "seq=3", "--dim", "seq=4"]) == 1
    assert "--dim seq: given twice" in capsys.readouterr().err


def test_bench_times_use_a_unit_that_suits_them(model_path, capsys):
    assert main(["bench", model_path, "--iters", "3", "--warmup", "1", "--seq", "2", "--no-ort"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("lstmrt "))
    import re

    for value, unit in re.findall(r"(\d+(?:\.\d+)?) (ns|us|ms|s)\b", line):
        assert 1 <= float(value) < 1000, line


@pytest.mark.parametrize("seconds, text", [(4e-6, "4.00 us"), (0.1186558, "119 ms"), (3.2e-9, "3.20 ns"),
                                           (1.5, "1.50 s"), (0.0123, "12.3 ms"), (0.0009999, "1.00 ms")])
def test_format_duration(seconds, text):
    from lstmrt._format import format_duration

    assert format_duration(seconds) == text


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


def test_output_into_a_closed_pipe_is_quiet(model_path):
    # The reader closes its end before lstmrt writes (as `| head` does once it has its lines).
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, env.get("PYTHONPATH", "")])
    p = subprocess.Popen([sys.executable, "-m", "lstmrt", "info", "--json", model_path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=120) in (0, 141), err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_bench_profile_lists_the_slowest_nodes(model_path, capsys):
    assert main(["bench", model_path, "--iters", "2", "--warmup", "0", "--seq", "3", "--no-ort", "--profile"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("profile: "))
    assert "compiled nodes" in lines[at]
    rows = lines[at + 1:]
    assert any("GRU" in r and "encoder" in r for r in rows)
    shares = [float(r.split("%")[0].split()[-1]) for r in rows]
    assert shares == sorted(shares, reverse=True) and 99.0 <= sum(shares) <= 101.0

"""The ``lstmrt`` command line (``python -m lstmrt`` runs the same :func:`main`).

    lstmrt demo [--seq 100] [--batch 1] [--input-size 64] [--hidden-size 128]
    lstmrt cpu
    lstmrt info MODEL.onnx [--json]
    lstmrt run MODEL.onnx --input NAME=FILE.npy ... [--output OUT.npz]
    lstmrt bench MODEL.onnx [--batch 1] [--seq 32] [--dim NAME=SIZE] [--iters 100] [--no-ort]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, TextIO

import numpy as np

from ._format import format_duration
from .ops import PRECISIONS

__all__ = ["main", "main_quiet_on_broken_pipe"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parses ``argv`` (default: ``sys.argv[1:]``), runs the subcommand and returns its exit code."""
    parser = argparse.ArgumentParser(prog="lstmrt", description="Low-latency CPU inference for LSTM/GRU/RNN.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build a small LSTM, check it against NumPy and time it")
    demo.add_argument("--seq", type=int, default=100)
    demo.add_argument("--batch", type=int, default=1)
    demo.add_argument("--input-size", type=int, default=64)
    demo.add_argument("--hidden-size", type=int, default=128)
    sub.add_parser("cpu", help="print what the CPU has and which kernel path is used")
    _add_model_commands(sub)
    return _run_command(parser.parse_args(argv))


def main_quiet_on_broken_pipe() -> int:
    """``main`` for the console script: output piped into a reader that stops early
    (``lstmrt info --json m.onnx | head``) ends quietly, as other command-line tools do."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that flush cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a broken pipe


def _add_model_commands(sub: "argparse._SubParsersAction") -> None:
    info = sub.add_parser("info", help="describe an ONNX model: inputs, outputs, recurrent layers, operators")
    info.add_argument("model", help="path of the .onnx file")
    info.add_argument("--json", action="store_true", help="print the description as JSON")

    run = sub.add_parser("run", help="run an ONNX model on inputs read from .npy files")
    run.add_argument("model", help="path of the .onnx file")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                     help="an input array (repeat for each input); FILE.npz alone feeds every array it holds")
    run.add_argument("--output", "-o", metavar="OUT.npz", help="write the outputs to this .npz file")
    run.add_argument("--threads", type=int, default=None, help="threads per run (default: all cores)")
    run.add_argument("--precision", choices=PRECISIONS, default="fp32",
                     help="the type the weights are packed in (default fp32, exact)")

    bench = sub.add_parser("bench", help="time lstmrt (and onnxruntime, when installed) on random inputs")
    bench.add_argument("model", help="path of the .onnx file")
    bench.add_argument("--batch", type=int, default=1,
                       help="size of symbolic dims named like 'batch', or unnamed ones in axis 0 (default 1)")
    bench.add_argument("--seq", type=int, default=32, help="size of the other symbolic dims (default 32)")
    bench.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                       help="size of one symbolic dim by name (repeatable)")
    bench.add_argument("--iters", type=int, default=100, help="timed runs per engine (default 100)")
    bench.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    bench.add_argument("--threads", type=int, default=None, help="threads per run for both engines")
    bench.add_argument("--no-ort", action="store_true", help="do not time onnxruntime")
    bench.add_argument("--precision", choices=PRECISIONS, default="fp32",
                       help="lstmrt's weight type (default fp32); with int8, onnxruntime runs its own "
                            "dynamic int8 quantization of the model (quantize_dynamic) for the comparison")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--profile", action="store_true",
                       help="also print where lstmrt's time goes: the nodes that take the most, per run")


def _run_command(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out if out is not None else sys.stdout
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.seq, args.batch, args.input_size, args.hidden_size)
    if args.command == "cpu":
        from . import cpu_info

        print(json.dumps(cpu_info(), indent=2), file=out)
        return 0
    try:
        if args.command == "info":
            return _info(args, out)
        if args.command == "run":
            return _run(args, out)
        if args.command == "bench":
            return _bench(args, out)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
        print(f"lstmrt {args.command}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 2


# ------------------------------------------------------------------------------------------------
# info

def _shape_text(shape: Optional[List[Any]]) -> str:
    if shape is None:
        return "(no shape)"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def describe(path: str) -> Dict[str, Any]:
    """What ``lstmrt info`` prints, as a dict."""
    from . import onnx_import
    from .session import InferenceSession

    proto = onnx_import.load_model(path)
    sess = InferenceSession(proto, threads=1)
    optional = set(sess.optional_inputs)
    return {
        "model": path,
        "opset": onnx_import.ai_onnx_opset(proto),
        "ir_version": int(proto.ir_version),
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape, "optional": i.name in optional}
                   for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
        "recurrent_layers": sess.recurrent_nodes,
        "op_counts": sess.op_counts(),
        "compiled_op_counts": sess.op_counts(compiled=True),
    }


def _info(args: argparse.Namespace, out: TextIO) -> int:
    d = describe(args.model)
    if args.json:
        print(json.dumps(d, indent=2), file=out)
        return 0
    print(f"model: {d['model']}", file=out)
    print(f"opset {d['opset']}, IR version {d['ir_version']}, producer: {d['producer'] or '?'}", file=out)
    print("inputs:", file=out)
    for i in d["inputs"]:
        note = "  (optional: zeros when omitted)" if i["optional"] else ""
        print(f"  {i['name']}: {i['type']} {_shape_text(i['shape'])}{note}", file=out)
    print("outputs:", file=out)
    for o in d["outputs"]:
        print(f"  {o['name']}: {o['type']} {_shape_text(o['shape'])}", file=out)
    print(f"recurrent layers: {len(d['recurrent_layers'])}", file=out)
    for r in d["recurrent_layers"]:
        print(f"  {r['name']}: {r['cell']} {r['direction']}, input_size {r['input_size']}, "
              f"hidden_size {r['hidden_size']}, layout {r['layout']}", file=out)
    print(f"operators ({sum(d['op_counts'].values())} nodes):", file=out)
    for op, n in sorted(d["op_counts"].items()):
        print(f"  {op}: {n}", file=out)
    compiled = d["compiled_op_counts"]
    print(f"compiled: {sum(compiled.values())} nodes after folding constants: "
          + ", ".join(f"{op} {n}" for op, n in sorted(compiled.items())), file=out)
    return 0


# ------------------------------------------------------------------------------------------------
# run

def _read_feeds(specs: Sequence[str], known: Sequence[str]) -> Dict[str, np.ndarray]:
    """The arrays named by ``--input`` options; a name given twice or not among the model's
    inputs ``known`` is an error (ValueError), so that a typo is not silently ignored."""
    feeds: Dict[str, np.ndarray] = {}
    origin: Dict[str, str] = {}

    def add(name: str, value: np.ndarray, where: str) -> None:
        if name not in known:
            raise ValueError(f"--input {where}: the model has no input named {name!r} "
                             f"(its inputs: {', '.join(known)})")
        if name in feeds:
            raise ValueError(f"--input {name}: given twice ({origin[name]} and {where})")
        feeds[name] = value
        origin[name] = where

    for spec in specs:
        if "=" not in spec:
            if spec.endswith(".npz"):
                with np.load(spec) as z:
                    for k in z.files:
                        add(k, z[k], spec)
                continue
            raise ValueError(f"--input {spec!r}: expected NAME=FILE.npy (or a .npz file)")
        name, path = spec.split("=", 1)
        if not os.path.exists(path):
            raise FileNotFoundError(f"--input {name}: no such file '{path}'")
        add(name, np.load(path, allow_pickle=False), spec)
    return feeds


def _threads_text(threads: Optional[int]) -> str:
    """The threads a run uses, as the CLI prints them."""
    if threads:
        return f"threads: {threads}"
    from . import cpu_info

    source = "LSTMRT_NUM_THREADS" if os.environ.get("LSTMRT_NUM_THREADS") else "all available cores"
    return f"threads: {cpu_info()['default_threads']} ({source}; --threads to change)"


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from .session import InferenceSession

    sess = InferenceSession(args.model, threads=args.threads, precision=args.precision)
    feeds = _read_feeds(args.input, [i.name for i in sess.get_inputs()])
    print(_threads_text(args.threads), file=out)
    outputs = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    if args.output:
        np.savez(args.output, **dict(zip(names, outputs)))
        print(f"wrote {len(outputs)} outputs to {args.output}", file=out)
    for name, value in zip(names, outputs):
        line = f"{name}: {value.dtype} {list(value.shape)}"
        if value.size and value.dtype != np.bool_:
            line += f"  min {value.min():.6g} max {value.max():.6g} mean {value.astype(np.float64).mean():.6g}"
        print(line, file=out)
    return 0


# ------------------------------------------------------------------------------------------------
# bench

def _progress(label: str, done: int, total: int, stream: TextIO, width: int = 30) -> None:
    """A text progress bar redrawn in place on a terminal; elsewhere (a log) only the final line."""
    interactive = getattr(stream, "isatty", lambda: False)()
    if not interactive and done < total:
        return
    if not interactive:
        stream.write(f"{label:<12} [{'#' * width}] {done}/{total}\n")
        return
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if done >= total else ""
    stream.write(f"\r{label:<12} [{bar}] {done}/{total}{end}")
    stream.flush()


def _gather_vocab(proto, name: str) -> Optional[int]:
    """The row count of an embedding table that input `name` indexes, if any."""
    inits = {t.name: t for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == name and node.input[0] in inits:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            dims = list(inits[node.input[0]].dims)
            return int(dims[axis]) if dims else None
    return None


def _symbolic_size(name: Optional[str], axis: int, batch: int, seq: int) -> int:
    """The size bench gives a symbolic dim: by its name when it says (batch; seq, time, len,
    step), else batch for axis 0 and seq for the others (tf2onnx names them unk__N)."""
    lowered = (name or "").lower()
    if "batch" in lowered:
        return batch
    if any(word in lowered for word in ("seq", "time", "len", "step")):
        return seq
    return batch if axis == 0 else seq


def random_feeds(sess, proto, batch: int, seq: int, dims: Dict[str, int], seed: int = 0) -> Dict[str, np.ndarray]:
    """Random inputs for every input; optional initial states are zeros (what omitting them
    means to lstmrt; onnxruntime needs them given)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    optional = set(sess.optional_inputs)
    for i in sess.get_inputs():
        shape = []
        for axis, d in enumerate(i.shape or []):
            if isinstance(d, int):
                shape.append(d)
            elif d in dims:
                shape.append(dims[d])
            else:
                shape.append(_symbolic_size(d, axis, batch, seq))
        if i.name in optional:
            feeds[i.name] = np.zeros(shape, np.float32)
        elif i.type == "tensor(float)":
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
        elif i.type in ("tensor(int64)", "tensor(int32)"):
            high = _gather_vocab(proto, i.name) or 2
            feeds[i.name] = rng.integers(0, high, size=shape).astype(np.int64 if i.type == "tensor(int64)" else np.int32)
        else:
            feeds[i.name] = rng.random(shape) < 0.5
    return feeds


def _time(fn, iters: int, warmup: int, label: str, stream: TextIO) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = []
    for k in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if k % max(1, iters // 30) == 0 or k + 1 == iters:
            _progress(label, k + 1, iters, stream)
    return np.array(times) * 1e3


def _stats(ms: np.ndarray) -> str:
    s = ms * 1e-3
    return (f"median {format_duration(np.median(s))}  mean {format_duration(s.mean())}  "
            f"p90 {format_duration(np.percentile(s, 90))}  min {format_duration(s.min())}")


def _ort_int8(model_bytes: bytes) -> bytes:
    """The model as onnxruntime's one-line dynamic quantization makes it (int8 weights)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "model.int8.onnx")
        with open(src, "wb") as f:
            f.write(model_bytes)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        with open(dst, "rb") as f:
            return f.read()


def _bench(args: argparse.Namespace, out: TextIO) -> int:
    from . import onnx_import
    from .session import InferenceSession

    proto = onnx_import.load_model(args.model)
    sess = InferenceSession(proto, threads=args.threads, precision=args.precision)
    symbolic = sorted({d for i in sess.get_inputs() for d in (i.shape or []) if isinstance(d, str)})
    dims: Dict[str, int] = {}
    for spec in args.dim:
        name, _, size = spec.partition("=")
        if not name or not size.isdigit():
            raise ValueError(f"--dim {spec!r}: expected NAME=SIZE")
        if name not in symbolic:
            raise ValueError(f"--dim {name}: the model's inputs have no symbolic dimension named {name!r} "
                             f"(theirs: {', '.join(symbolic) or 'none'})")
        if name in dims:
            raise ValueError(f"--dim {name}: given twice")
        dims[name] = int(size)
    feeds = random_feeds(sess, proto, args.batch, args.seq, dims, args.seed)
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items())
    print(f"model: {args.model}", file=out)
    print(f"inputs: {shapes}", file=out)
    print(_threads_text(args.threads), file=out)
    print(f"precision: {args.precision}", file=out)
    results = {"lstmrt": _time(lambda: sess.run(None, feeds), args.iters, args.warmup, "lstmrt", sys.stderr)}
    if not args.no_ort:
        try:
            import onnxruntime as ort
        except ImportError:
            print("onnxruntime: not installed, skipped", file=out)
        else:
            so = ort.SessionOptions()
            so.log_severity_level = 3
            if args.threads:
                so.intra_op_num_threads = args.threads
            try:
                model_bytes = proto.SerializeToString()
                if args.precision == "int8":
                    model_bytes = _ort_int8(model_bytes)
                    print("onnxruntime: int8 (quantize_dynamic, QInt8 weights)", file=out)
                osess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
                ort_feeds = {k: v for k, v in feeds.items() if k in {i.name for i in osess.get_inputs()}}
                results["onnxruntime"] = _time(lambda: osess.run(None, ort_feeds), args.iters, args.warmup,
                                               "onnxruntime", sys.stderr)
            except Exception as e:  # onnxruntime refuses some models lstmrt runs (layout=1, ...)
                print(f"onnxruntime: failed: {str(e).splitlines()[0][:200]}", file=out)
    for name, ms in results.items():
        print(f"{name:<12} {_stats(ms)}", file=out)
    if "onnxruntime" in results:
        ratio = np.median(results["onnxruntime"]) / np.median(results["lstmrt"])
        print(f"speed-up over onnxruntime (median): {ratio:.2f}x", file=out)
    if args.profile:
        _print_profile(sess.profile(feeds, repeat=max(1, min(args.iters, 20))), out)
    return 0


def _print_profile(rows, out: TextIO, top: int = 15) -> None:
    """The nodes that take the most time, with their share of the nodes' total."""
    total = sum(r.seconds for r in rows) or 1.0
    print(f"profile: {len(rows)} compiled nodes, {format_duration(total)} per run in nodes; the {min(top, len(rows))} "
          f"slowest:", file=out)
    for r in sorted(rows, key=lambda r: -r.seconds)[:top]:
        print(f"  {format_duration(r.seconds):>9}  {100 * r.seconds / total:5.1f}%  {r.op_type:<16} {r.name}", file=out)

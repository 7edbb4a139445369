"""Throughput of batch inference over a dataset of variable-length sequences: lstmrt's Ray and Dask
integrations with 1 and 2 workers, the same pipelines written the usual way with onnxruntime (a
session per actor or worker, each batch padded by hand to its longest sequence, the lengths fed),
and lstmrt's SequenceRunner called directly in one process.

    PYTHONPATH=python python bench/bench_scale_out.py [--sequences 12000] [--json bench/results_scale_out.json]

The model is an LSTM (input 32, hidden 128) whose sequence_lens is a graph input, made here with
random weights, so every engine runs the same arithmetic on padded batches. Each pipeline runs
--repeats times on a cluster started once per engine and worker count; the best wall time is
kept (actor and task start-up included, cluster start-up not), up to the results held
by the cluster (Ray's materialize, Dask's persist). Before timing, every pipeline's
outputs are checked against the single-process lstmrt outputs. Not a pytest benchmark: it starts
clusters, which pytest-benchmark's rounds would restart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List

import numpy as np

import lstmrt
from lstmrt.integrations import SequenceRunner

INPUT, HIDDEN = 32, 128


def make_model() -> bytes:
    """One forward LSTM, [seq, batch, 32] -> the last hidden state [batch, 128], with its
    sequence_lens fed from a graph input (as PyTorch's packed sequences export)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(HIDDEN)
    W = (rng.uniform(-scale, scale, (1, 4 * HIDDEN, INPUT))).astype(np.float32)
    R = (rng.uniform(-scale, scale, (1, 4 * HIDDEN, HIDDEN))).astype(np.float32)
    B = (rng.uniform(-scale, scale, (1, 8 * HIDDEN))).astype(np.float32)
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B", "lengths"], ["", "h_n"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["h_n", "axes0"], ["last"]),
    ]
    graph = helper.make_graph(
        nodes, "lstm_lengths",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", INPUT]),
         helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"])],
        [helper.make_tensor_value_info("last", TensorProto.FLOAT, ["batch", HIDDEN])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"), numpy_helper.from_array(B, "B"),
         numpy_helper.from_array(np.array([0], np.int64), "axes0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def make_data(n: int, seed: int = 0) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(L), INPUT)).astype(np.float32) for L in rng.integers(20, 201, n)]


class OrtPredictor:
    """The usual onnxruntime pipeline: one session per actor (intra-op threads = its CPUs), each
    batch padded by hand to its longest sequence, lengths fed, rows split off."""

    def __init__(self, model: bytes, threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])

    def run(self, seqs: List[np.ndarray]) -> List[np.ndarray]:
        longest = max(len(s) for s in seqs)
        x = np.zeros((longest, len(seqs), INPUT), np.float32)
        for k, s in enumerate(seqs):
            x[:len(s), k] = s
        lengths = np.array([len(s) for s in seqs], np.int32)
        out = self.session.run(None, {"x": x, "lengths": lengths})[0]
        return list(out)


class OrtRayPredictor(OrtPredictor):
    def __init__(self, model: bytes):
        import ray

        super().__init__(model, max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))

    def __call__(self, batch):
        from lstmrt.integrations.ray import _column_rows, _nested_lists

        outs = self.run([np.asarray(s, np.float32) for s in _column_rows(batch.column("x"))])
        return batch.append_column("y", _nested_lists(outs, 1))


_ORT_SESSIONS: Dict[str, OrtPredictor] = {}


def _ort_dask_partition(part, model: bytes, batch: int):
    import pandas as pd

    from lstmrt.integrations.dask import worker_threads

    predictor = _ORT_SESSIONS.get("m")
    if predictor is None:
        predictor = _ORT_SESSIONS["m"] = OrtPredictor(model, worker_threads() or 1)
    seqs = list(part["x"])
    outs: List[Any] = []
    for start in range(0, len(seqs), batch):
        outs.extend(predictor.run(seqs[start:start + batch]))
    column = np.empty(len(outs), dtype=object)
    column[:] = outs
    part = part.copy()
    part["y"] = pd.Series(column, index=part.index, dtype=object)
    return part


def check(outs: List[np.ndarray], reference: List[np.ndarray], what: str) -> None:
    worst = max(float(np.abs(np.asarray(o, np.float32) - r).max()) for o, r in zip(outs, reference))
    if worst > 1e-4:
        raise SystemExit(f"{what}: outputs differ from the single-process run by {worst:.3g}")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _timed_half(model: bytes, n: int, half: int, batch: int, repeats: int) -> float:
    # One of two processes started together: its own best time over its half of the data.
    seqs = make_data(n)[half::2]
    runner = SequenceRunner(model, batch_first=False, threads=1, max_batch=batch)
    runner.run_rows(seqs[:batch])
    return best_of(repeats, lambda: [runner.run_rows(seqs[i:i + batch]) for i in range(0, len(seqs), batch)])


def bench_side_by_side(model: bytes, n: int, batch: int, repeats: int, results: list) -> None:
    """Two single-thread processes at once, each on half the data: what this machine's two CPUs
    give together, the ceiling for two workers of one CPU each."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        times = list(pool.map(_timed_half, [model] * 2, [n] * 2, [0, 1], [batch] * 2, [repeats] * 2))
    results.append({"pipeline": "lstmrt, two processes side by side, half the data each", "engine": "lstmrt",
                    "workers": 2, "cores": 2, "seconds": max(times)})


def bench_single(model: bytes, seqs, batch: int, repeats: int, results: list, reference):
    for threads in (1, 2):
        runner = SequenceRunner(model, batch_first=False, threads=threads, max_batch=batch)
        outs = runner.run_rows(seqs)
        check(outs, reference, "lstmrt direct")
        t = best_of(repeats, lambda: [runner.run_rows(seqs[i:i + batch]) for i in range(0, len(seqs), batch)])
        results.append({"pipeline": "lstmrt, one process, SequenceRunner", "engine": "lstmrt", "workers": 1,
                        "cores": threads, "seconds": t})
        ort = OrtPredictor(model, threads)
        check([o for i in range(0, len(seqs), batch) for o in ort.run(seqs[i:i + batch])], reference, "ort direct")
        t = best_of(repeats, lambda: [ort.run(seqs[i:i + batch]) for i in range(0, len(seqs), batch)])
        results.append({"pipeline": "onnxruntime, one process, padded by hand", "engine": "onnxruntime",
                        "workers": 1, "cores": threads, "seconds": t})
    bench_side_by_side(model, len(seqs), batch, repeats, results)


def bench_ray(model: bytes, seqs, batch: int, repeats: int, results: list, reference):
    import ray

    import lstmrt.integrations.ray as lray

    for workers in (1, 2):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            items = [{"id": k, "x": s} for k, s in enumerate(seqs)]
            ds = ray.data.from_items(items, override_num_blocks=max(8, 4 * workers)).materialize()

            # Timed up to the results held in the object store (materialize), as a pipeline that
            # writes them out would have them; take_all's rows of Python floats would time the driver.
            def ours():
                return lray.predict(ds, model, input_column="x", output_column="y", index_column="id",
                                    batch_first=False, batch_size=batch, max_batch=batch,
                                    workers=workers).materialize()

            def theirs():
                return ds.map_batches(OrtRayPredictor, batch_size=batch, batch_format="pyarrow",
                                      fn_constructor_args=(model,), compute=ray.data.ActorPoolStrategy(size=workers),
                                      num_cpus=1).materialize()

            for name, engine, fn in (("Ray Data, lstmrt.integrations.ray.predict", "lstmrt", ours),
                                     ("Ray Data, onnxruntime session per actor, padded by hand", "onnxruntime",
                                      theirs)):
                rows = sorted(fn().take_all(), key=lambda r: r["id"])
                check([r["y"] for r in rows], reference, name)
                results.append({"pipeline": name, "engine": engine, "workers": workers, "cores": workers,
                                "seconds": best_of(repeats, fn)})
        finally:
            ray.shutdown()


def bench_dask(model: bytes, seqs, batch: int, repeats: int, results: list, reference):
    import dask
    import dask.dataframe as dd
    import distributed
    import pandas as pd

    import lstmrt.integrations.dask as ldask

    for workers in (1, 2):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            with dask.config.set({"dataframe.convert-string": False}):
                pdf = pd.DataFrame({"x": pd.Series(seqs, dtype=object)})
                df = dd.from_pandas(pdf, npartitions=max(8, 4 * workers)).persist()
            distributed.wait(df)
            meta = df._meta.assign(y=pd.Series([], dtype=object))

            runs = iter(range(1000))

            def fresh():
                # A new name for the same partitions: identical graphs would find the last run's
                # results still in the workers' memory and compute nothing.
                return df.map_partitions(lambda part: part, meta=df._meta, token=f"run-{next(runs)}")

            # Timed up to the results held by the workers (persist), as for Ray.
            def ours():
                out = ldask.predict_dataframe(fresh(), model, input_column="x", output_column="y", batch_first=False,
                                              max_batch=batch).persist()
                distributed.wait(out)
                return out

            def theirs():
                with dask.config.set({"dataframe.convert-string": False}):
                    out = fresh().map_partitions(_ort_dask_partition, model, batch, meta=meta).persist()
                distributed.wait(out)
                return out

            for name, engine, fn in (("Dask, lstmrt.integrations.dask.predict_dataframe", "lstmrt", ours),
                                     ("Dask, onnxruntime session per worker, padded by hand", "onnxruntime",
                                      theirs)):
                check(list(fn()["y"].compute()), reference, name)
                results.append({"pipeline": name, "engine": engine, "workers": workers, "cores": workers,
                                "seconds": best_of(repeats, fn)})
        finally:
            client.close()
            cluster.close()


def table(data: dict) -> str:
    """The Markdown table of a run: throughput, and per core against lstmrt in one process."""
    n, steps = data["sequences"], data["steps"]
    base = {r["cores"]: r["seconds"] for r in data["results"] if r["pipeline"].startswith("lstmrt, one process")}
    ort = {(r["pipeline"].split(",")[0], r["workers"]): r["seconds"] for r in data["results"]
           if r["engine"] == "onnxruntime"}
    lines = ["| pipeline | workers (1 CPU each) | wall time | sequences/s | vs onnxruntime's pipeline | "
             "per core, vs lstmrt in one process on 1 core |", "|---|---:|---:|---:|---:|---:|"]
    for r in data["results"]:
        t = r["seconds"]
        peer = ort.get((r["pipeline"].split(",")[0], r["workers"]))
        vs_ort = f"{peer / t:.2f}x" if r["engine"] == "lstmrt" and peer else ""
        # Throughput per core used, as a share of lstmrt's throughput in one process on one core.
        per_core = f"{base[1] / (t * r['cores']) * 100:.0f}%" if r["engine"] == "lstmrt" else ""
        lines.append(f"| {r['pipeline']} | {r['workers'] if 'one process' not in r['pipeline'] else '-'}"
                     f"{' (' + str(r['cores']) + ' threads)' if 'one process' in r['pipeline'] else ''} | "
                     f"{t:.2f} s | {n / t:.0f} | {vs_ort} | {per_core} |")
    return "\n".join(lines) + f"\n\n{n} sequences, {steps} steps in all."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=256, help="rows per Ray batch / per padded run (default 256)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["single", "ray", "dask"], action="append")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--table", help="print the table of a saved run and exit")
    args = parser.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return 0
    model = make_model()
    seqs = make_data(args.sequences)
    reference = SequenceRunner(model, batch_first=False, threads=1, max_batch=1).run_rows(seqs)
    results: list = []
    for part, fn in (("single", bench_single), ("ray", bench_ray), ("dask", bench_dask)):
        if not args.only or part in args.only:
            fn(model, seqs, args.batch, args.repeats, results, reference)
            print(f"{part}: done", file=sys.stderr)
    import onnxruntime

    data = {"sequences": len(seqs), "steps": int(sum(len(s) for s in seqs)), "batch": args.batch,
            "model": f"LSTM input {INPUT} hidden {HIDDEN}, sequence_lens fed", "results": results,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "isa": lstmrt.cpu_info()["isa"], "brand": lstmrt.cpu_info()["brand"]},
            "versions": {"onnxruntime": onnxruntime.__version__, "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%d")}
    for mod in ("ray", "dask"):
        try:
            data["versions"][mod] = __import__(mod).__version__
        except ImportError:
            pass
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())

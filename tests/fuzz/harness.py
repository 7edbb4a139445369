"""The fuzz harness: mutated models and feeds run in child processes, outcomes counted.

    python tests/fuzz/harness.py --cases 100000 --seed 1 --save

Each case runs in a worker process (worker.py) that serves case after case until one kills it,
so that a crash, an abort or a hang is counted against the case that caused it and the run goes
on in a fresh worker. A crash is replayed alone in a fresh worker to confirm it. The worker's
address space is capped, so that a case that asks for more memory than the cap gets a clean
MemoryError or is counted; a case after which the worker's peak resident memory passed the RSS
cap is a memory-cap hit. Outcomes: ok, error (a Python exception, by type), crash, hang, memory.
--save writes every crash, hang and memory-cap case into corpus/, which the quick pass replays.
"""

from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Dict, Iterable, List, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from mutate import make_case  # noqa: E402

BAD = ("crash", "hang", "memory")
ADDRESS_CAP = 6 << 30  # the worker's virtual memory: allocations past it fail cleanly
RSS_CAP_KIB = 3 << 20  # a case that leaves the worker's peak resident memory above this is a hit


def fixtures(max_bytes: int = 60_000) -> List[str]:
    """The committed models the cases mutate: the exporter fixtures and the examples' models."""
    paths = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "models", "*.onnx")))
    paths += sorted(glob.glob(os.path.join(ROOT, "examples", "models", "*.onnx")))
    return [p for p in paths if os.path.getsize(p) <= max_bytes]


def _signal_name(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


class Worker:
    """One worker process and its pipes."""

    def __init__(self, env: Dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        ready = self._receive(120.0)
        if not isinstance(ready, dict) or not ready.get("ready"):
            raise RuntimeError(f"fuzz worker did not start: {ready}")

    def _receive(self, timeout: float):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return "timeout"
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            return "died"
        (n,) = struct.unpack("<I", head)
        return pickle.loads(self.proc.stdout.read(n))

    def run(self, case: dict, timeout: float) -> dict:
        data = pickle.dumps(case)
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        got = self._receive(timeout)
        if got == "timeout":
            self.kill()
            return {"outcome": "hang"}
        if got == "died":
            code = self.proc.wait()
            return {"outcome": "crash", "type": _signal_name(code)}
        if got.get("rss_kib", 0) > RSS_CAP_KIB:
            self.kill()
            return {"outcome": "memory", "type": f"peak RSS {got['rss_kib'] >> 10} MiB"}
        return got

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except Exception:  # noqa: BLE001 (a pipe to a dead process may fail to flush)
                pass


def lstmrt_location() -> str:
    """The directory holding the lstmrt package this process imports (installed, or a dev build's
    python/), so that the workers fuzz the same build."""
    import lstmrt

    return os.path.dirname(os.path.dirname(os.path.abspath(lstmrt.__file__)))


def worker_env(address_cap: Optional[int], package_dir: Optional[str] = None) -> Dict[str, str]:
    env = dict(os.environ)
    path = [package_dir or lstmrt_location()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    if "asan" in env.get("LD_PRELOAD", ""):
        # AddressSanitizer reserves far more address space than any cap; its own per-allocation
        # bound (failing as a MemoryError) stands in for it.
        if address_cap:
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + f":allocator_may_return_null=1:" \
                                  f"max_allocation_size_mb={address_cap >> 21}"
    elif address_cap:
        env["LSTMRT_FUZZ_ADDRESS_CAP"] = str(address_cap)
    return env


def generated_cases(count: int, seed: int, paths: List[str]) -> Iterable[dict]:
    blobs = []
    for p in paths:
        with open(p, "rb") as f:
            blobs.append(f.read())
    for i in range(count):
        k = seed * 1_000_003 + i
        try:
            case = make_case(blobs[i % len(blobs)], k)
        except Exception:  # noqa: BLE001 (a mutation the generator cannot follow up: run the model bare)
            case = {"model": blobs[i % len(blobs)], "feeds": {}}
        rng = np.random.default_rng(k + 17)
        case["threads"] = 1 if rng.random() < 0.7 else 2
        case["mode"] = str(rng.choice(["run", "run", "stream", "pool"]))
        case["origin"] = f"{os.path.basename(paths[i % len(paths)])} seed {k}"
        yield case


def has_loop(model: bytes) -> bool:
    """Whether the model has a Loop node: a Loop whose condition never turns false runs forever in
    any engine, which is the model's own doing and not counted as a hang of lstmrt's."""
    try:
        import onnx

        from mutate import _all_nodes

        return any(n.op_type == "Loop" for n in _all_nodes(onnx.load_from_string(model).graph))
    except Exception:  # noqa: BLE001 (a model onnx cannot parse has no Loop lstmrt could run)
        return False


def save_case(case: dict, outcome: dict, directory: str = CORPUS) -> str:
    os.makedirs(directory, exist_ok=True)
    digest = hashlib.sha1(case["model"] + pickle.dumps(sorted((k, v.shape, v.dtype.str) for k, v in
                                                              case["feeds"].items()))).hexdigest()[:16]
    path = os.path.join(directory, f"{outcome['outcome']}-{digest}.npz")
    meta = {k: case[k] for k in ("threads", "mode", "origin") if k in case}
    meta["found"] = f"{outcome['outcome']} ({outcome.get('type', '')})"
    np.savez_compressed(path, model=np.frombuffer(case["model"], np.uint8), meta=np.array(json.dumps(meta)),
                        **{"feed/" + k: v for k, v in case["feeds"].items()})
    return path


def load_case(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        feeds = {k[len("feed/"):]: z[k] for k in z.files if k.startswith("feed/")}
        return {"model": z["model"].tobytes(), "feeds": feeds, "threads": meta.get("threads", 1),
                "mode": meta.get("mode", "run"), "origin": os.path.basename(path)}


def corpus_cases(directory: str = CORPUS) -> List[dict]:
    return [load_case(p) for p in sorted(glob.glob(os.path.join(directory, "*.npz")))]


class Summary:
    def __init__(self):
        self.counts = collections.Counter()
        self.errors = collections.Counter()
        self.examples: Dict[str, str] = {}  # per error type, the first message seen
        self.bad: List[tuple] = []  # (case, outcome)
        self.lock = threading.Lock()

    def add(self, case: dict, outcome: dict) -> None:
        if outcome["outcome"] == "hang" and has_loop(case["model"]):
            outcome = dict(outcome, outcome="loop-hang")
        with self.lock:
            self.counts[outcome["outcome"]] += 1
            if outcome["outcome"] == "error":
                self.errors[outcome["type"]] += 1
                self.examples.setdefault(outcome["type"], f"{outcome.get('message', '')} [{case.get('origin')}]")
            if outcome["outcome"] in BAD:
                self.bad.append((case, outcome))

    def failures(self) -> int:
        return sum(self.counts[k] for k in BAD)

    def report(self) -> str:
        tried = sum(self.counts.values())
        lines = [f"tried {tried}: ok {self.counts['ok']}, clean errors {self.counts['error']}, "
                 f"crashes {self.counts['crash']}, hangs {self.counts['hang']}, memory-cap hits {self.counts['memory']}; "
                 f"Loops that never end (the model's own doing) {self.counts['loop-hang']}"]
        lines += [f"  {n:7d} {t}, e.g. {self.examples[t][:150]!r}" for t, n in self.errors.most_common()]
        for case, outcome in self.bad[:50]:
            lines.append(f"  {outcome['outcome']} ({outcome.get('type', '')}): {case.get('origin')}")
        return "\n".join(lines)


def run_cases(cases: Iterable[dict], *, workers: int = 2, timeout: float = 20.0,
              address_cap: Optional[int] = ADDRESS_CAP, deadline: Optional[float] = None,
              package_dir: Optional[str] = None) -> Summary:
    """Runs the cases on `workers` worker processes; crashes are confirmed by a replay alone."""
    env = worker_env(address_cap, package_dir)
    summary = Summary()
    source = iter(cases)
    source_lock = threading.Lock()

    def next_case():
        with source_lock:
            if deadline is not None and time.monotonic() > deadline:
                return None
            return next(source, None)

    def serve():
        w = Worker(env)
        try:
            while True:
                case = next_case()
                if case is None:
                    return
                outcome = w.run(case, timeout)
                if outcome["outcome"] in BAD:
                    w.kill()
                    if outcome["outcome"] == "crash":
                        outcome = confirm(case, outcome)
                    w = Worker(env)
                summary.add(case, outcome)
        finally:
            w.close()

    def confirm(case, outcome):
        alone = Worker(env)
        try:
            again = alone.run(case, timeout)
        finally:
            alone.kill()
        if again["outcome"] == "crash":
            return again
        outcome = dict(outcome)
        outcome["type"] += f", not reproduced alone ({again['outcome']})"
        return outcome

    threads = [threading.Thread(target=serve) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    p.add_argument("--save", action="store_true", help="keep crash, hang and memory cases in corpus/")
    p.add_argument("--replay", action="store_true", help="run the corpus only")
    p.add_argument("--package-dir", help="the directory holding the lstmrt package to fuzz (default: the one "
                   "this Python imports)")
    args = p.parse_args(argv)
    start = time.monotonic()
    cases = corpus_cases() if args.replay else generated_cases(args.cases, args.seed, fixtures())
    summary = run_cases(cases, workers=args.workers, timeout=args.timeout, package_dir=args.package_dir)
    print(summary.report())
    print(f"{time.monotonic() - start:.0f} s")
    if args.save:
        for case, outcome in summary.bad:
            print("saved", save_case(case, outcome))
    return 1 if summary.failures() else 0


if __name__ == "__main__":
    sys.exit(main())

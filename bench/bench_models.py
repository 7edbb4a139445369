"""Shared pieces of the benchmark matrix: weights, the same layer built for lstmrt, onnxruntime
and PyTorch, FLOP counts, an interleaved timing loop, and machine measurements (peak FMA
throughput and cache/memory bandwidth through ``lstmrt._core.testing.time_gemm``).

Everything here is imported by ``test_bench_matrix.py``, ``test_bench_kernels.py`` and
``report.py``; it is not a test module itself.

Gate orders, stated where the weights are converted:

* ONNX LSTM stacks the gates as i, o, f, c; PyTorch as i, f, g(=c), o.
* ONNX GRU stacks them as z, r, h; PyTorch as r, z, n(=h). PyTorch's GRU applies the reset gate
  after the recurrent product, which is ONNX's ``linear_before_reset=1``: every GRU here uses it,
  in all three engines.
* ONNX ``B`` is ``[Wb, Rb]`` per direction; PyTorch has ``bias_ih`` (= Wb) and ``bias_hh`` (= Rb).
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

GATES = {"lstm": 4, "gru": 3}
ONNX_OP = {"lstm": "LSTM", "gru": "GRU"}
# Index of the ONNX gate block that goes to each PyTorch gate position.
TORCH_FROM_ONNX = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2)}
OPSET = 14

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "tests" / "data" / "models"

# Engines in the order they are shown everywhere; lstmrt is the subject, the others its peers.
ENGINES = ("lstmrt", "onnxruntime", "pytorch")
PEERS = ("onnxruntime", "pytorch")


# ----------------------------------------------------------------------------------------------
# Weights and FLOPs
# ----------------------------------------------------------------------------------------------

LayerWeights = Tuple[np.ndarray, np.ndarray, np.ndarray]


def make_weights(cell: str, input_size: int, hidden: int, num_directions: int = 1,
                 seed: int = 0) -> LayerWeights:
    """ONNX W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H], uniform(-1/sqrt(H), 1/sqrt(H)) as PyTorch
    initializes them, so that activations stay in the range a trained model sees."""
    rng = np.random.default_rng(seed)
    g = GATES[cell]
    s = 1.0 / math.sqrt(hidden)
    W = rng.uniform(-s, s, (num_directions, g * hidden, input_size)).astype(np.float32)
    R = rng.uniform(-s, s, (num_directions, g * hidden, hidden)).astype(np.float32)
    B = rng.uniform(-s, s, (num_directions, 2 * g * hidden)).astype(np.float32)
    return W, R, B


def make_input(seq: int, batch: int, input_size: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (seq, batch, input_size)).astype(np.float32)


def rnn_flops(cell: str, input_size: int, hidden: int, seq: int, batch: int, num_directions: int = 1) -> float:
    """Multiply-adds of the gate products, counted as 2 FLOPs: 2*G*H*(I+H) per step, batch row
    and direction. The elementwise gate math is left out (it is O(H), not O(H^2))."""
    return 2.0 * GATES[cell] * hidden * (input_size + hidden) * seq * batch * num_directions


def weight_bytes(cell: str, input_size: int, hidden: int, seq: int, num_directions: int = 1) -> float:
    """Bytes of weights one call must read at least if the recurrent matrix is read once per step
    and the input matrix once per call (the batch shares every read)."""
    g = GATES[cell]
    return 4.0 * g * hidden * (input_size + seq * hidden) * num_directions


# ----------------------------------------------------------------------------------------------
# The same layer in each engine
# ----------------------------------------------------------------------------------------------

def lstmrt_layer(cell: str, weights: LayerWeights, threads: int, bidirectional: bool = False):
    import lstmrt

    W, R, B = weights
    direction = "bidirectional" if bidirectional else "forward"
    if cell == "lstm":
        return lstmrt.ops.LSTM(W, R, B, direction=direction, threads=threads)
    return lstmrt.ops.GRU(W, R, B, direction=direction, linear_before_reset=1, threads=threads)


def _rnn_node(cell: str, name: str, x: str, prefix: str, hidden: int, bidirectional: bool,
              state: bool, outputs: Sequence[str]):
    from onnx import helper

    inputs = [x, prefix + "W", prefix + "R", prefix + "B"]
    if state:
        inputs += ["", "initial_h"] + (["initial_c"] if cell == "lstm" else [])
    attrs = dict(hidden_size=hidden, direction="bidirectional" if bidirectional else "forward")
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    return helper.make_node(ONNX_OP[cell], inputs, list(outputs), name=name, **attrs)


def onnx_rnn_model(cell: str, layers: List[LayerWeights], hidden: int, bidirectional: bool = False,
                   state: bool = False):
    """An ONNX model (opset 14) of a stack of LSTM/GRU nodes with the weights as initializers.

    One layer: the node's own outputs ``Y`` [S, D, N, H], ``Y_h`` (and ``Y_c``), and with
    ``state=True`` the inputs ``initial_h``/``initial_c``. Several layers are joined the way
    PyTorch's exporter joins them: Transpose(0, 2, 1, 3) and Reshape to [S, N, D*H]; the outputs
    are then ``Y`` [S, N, D*H] (PyTorch's layout) and the last layer's ``Y_h``.
    """
    from onnx import TensorProto, helper, numpy_helper

    f32 = TensorProto.FLOAT
    D = 2 if bidirectional else 1
    input_size = layers[0][0].shape[2]
    graph_inputs = [helper.make_tensor_value_info("X", f32, ["seq", "batch", input_size])]
    if state:
        if len(layers) != 1:
            raise ValueError("state inputs are only built for one layer")
        graph_inputs.append(helper.make_tensor_value_info("initial_h", f32, [D, "batch", hidden]))
        if cell == "lstm":
            graph_inputs.append(helper.make_tensor_value_info("initial_c", f32, [D, "batch", hidden]))
    inits, nodes = [], []
    x = "X"
    for i, (W, R, B) in enumerate(layers):
        p = f"l{i}_" if len(layers) > 1 else ""
        inits += [numpy_helper.from_array(W, p + "W"), numpy_helper.from_array(R, p + "R"),
                  numpy_helper.from_array(B, p + "B")]
        last = i == len(layers) - 1
        if len(layers) == 1:
            outs = ["Y", "Y_h"] + (["Y_c"] if cell == "lstm" else [])
        else:
            outs = [p + "Y", "Y_h" if last else p + "Y_h"]
        nodes.append(_rnn_node(cell, f"{ONNX_OP[cell].lower()}_{i}", x, p, hidden, bidirectional, state, outs))
        if len(layers) > 1:
            nodes.append(helper.make_node("Transpose", [p + "Y"], [p + "Yt"], perm=[0, 2, 1, 3]))
            x = "Y" if last else p + "Yr"
            nodes.append(helper.make_node("Reshape", [p + "Yt", "flat_shape"], [x]))
    if len(layers) > 1:
        inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "flat_shape"))
        graph_outputs = [helper.make_tensor_value_info("Y", f32, ["seq", "batch", D * hidden]),
                         helper.make_tensor_value_info("Y_h", f32, [D, "batch", hidden])]
    else:
        graph_outputs = [helper.make_tensor_value_info("Y", f32, ["seq", D, "batch", hidden])] + [
            helper.make_tensor_value_info(o, f32, [D, "batch", hidden])
            for o in (["Y_h", "Y_c"] if cell == "lstm" else ["Y_h"])]
    graph = helper.make_graph(nodes, f"bench_{cell}", graph_inputs, graph_outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 8)
    return model


def ort_int8_model(model) -> bytes:
    """The model as onnxruntime's one-line dynamic quantization makes it (int8 weights:
    DynamicQuantizeLSTM for an LSTM; GRU and RNN stay fp32)."""
    import os
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "q.onnx")
        with open(src, "wb") as f:
            f.write(model.SerializeToString())
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        with open(dst, "rb") as f:
            return f.read()


def ort_session(model, threads: int):
    """onnxruntime on the CPU provider with ``threads`` intra-op threads and one inter-op thread
    (its other settings at their defaults, spinning thread pool included)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _torch_blocks(cell: str, a: np.ndarray) -> np.ndarray:
    """Reorders the gate blocks of one direction's matrix or bias from ONNX to PyTorch order."""
    blocks = np.split(a, GATES[cell], axis=0)
    return np.concatenate([blocks[j] for j in TORCH_FROM_ONNX[cell]], axis=0)


def torch_module(cell: str, layers: List[LayerWeights], hidden: int, bidirectional: bool = False):
    """nn.LSTM / nn.GRU (sequence-first) holding the given ONNX weights, in eval mode."""
    import torch

    D = 2 if bidirectional else 1
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    mod = cls(layers[0][0].shape[2], hidden, num_layers=len(layers), bidirectional=bidirectional)
    g = GATES[cell]
    with torch.no_grad():
        for li, (W, R, B) in enumerate(layers):
            for d in range(D):
                sfx = f"_l{li}" + ("_reverse" if d == 1 else "")
                # Copying into the existing parameters keeps cuDNN-style flat weights intact.
                getattr(mod, "weight_ih" + sfx).copy_(torch.from_numpy(_torch_blocks(cell, W[d])))
                getattr(mod, "weight_hh" + sfx).copy_(torch.from_numpy(_torch_blocks(cell, R[d])))
                getattr(mod, "bias_ih" + sfx).copy_(torch.from_numpy(_torch_blocks(cell, B[d, :g * hidden])))
                getattr(mod, "bias_hh" + sfx).copy_(torch.from_numpy(_torch_blocks(cell, B[d, g * hidden:])))
    return mod.eval()


def torch_to_onnx_y(y: np.ndarray, num_directions: int) -> np.ndarray:
    """PyTorch's output [S, N, D*H] in ONNX's layout [S, D, N, H]."""
    S, N, DH = y.shape
    return y.reshape(S, N, num_directions, DH // num_directions).transpose(0, 2, 1, 3)


def assert_agree(name: str, ref: Sequence[np.ndarray], got: Sequence[np.ndarray], atol: float = 1e-4) -> float:
    """Asserts that two engines' outputs agree to ``atol`` (absolute); returns the largest gap."""
    worst = 0.0
    for k, (a, b) in enumerate(zip(ref, got)):
        a = np.asarray(a)
        b = np.asarray(b)
        assert a.shape == b.shape, f"{name}: output {k} shape {b.shape}, expected {a.shape}"
        diff = np.abs(a.astype(np.float64) - b)
        gap = float(diff.max()) if diff.size else 0.0
        if gap >= atol:
            idx = np.unravel_index(int(diff.argmax()), diff.shape)
            raise AssertionError(f"{name}: output {k} differs by {gap:.3g} at {idx}: got {b[idx]!r}, "
                                 f"expected {a[idx]!r} (atol {atol})")
        worst = max(worst, gap)
    return worst


# ----------------------------------------------------------------------------------------------
# Interleaved timing
# ----------------------------------------------------------------------------------------------

# A block times one engine for at least this long; blocks of the engines alternate.
BLOCK_SECONDS = 0.010
# Before each block, the process is left idle until its other threads stop using the CPU: the
# engine that ran before may leave its thread pool spinning (onnxruntime's intra-op pool was seen
# spinning for ~100 ms after a run, lstmrt's and PyTorch's OpenMP workers for ~20 ms), and
# spinning threads on the cores the next engine wants slow it down by 2x, or by 100x and more
# when that engine synchronizes its threads at every time step (seen with 2 threads on 2 cores).
# One look is a sleep of QUIESCE_STEP during which the threads' CPU time (Linux schedstat) must
# stay under QUIESCE_BUSY of the step, twice in a row (CPU time of a thread running on another
# core is only brought up to date at scheduler ticks); QUIESCE_LIMIT bounds the wait.
QUIESCE_STEP = 0.005
QUIESCE_BUSY = 0.1
QUIESCE_LIMIT = 0.5
# After the quiet wait, the engine runs untimed for at least this long (at least one call) and
# until a call takes no more than twice its calibrated time (WARM_LIMIT bounds it): its weights
# come back into the caches and its sleeping worker threads wake up (the first calls after a
# pause can take milliseconds), so the timed block sees the engine's steady state.
WARM_SECONDS = 0.002
WARM_LIMIT = 0.05
# A call longer than this gets no untimed warm-up call: cache warmth is noise next to it.
NO_WARM_ABOVE = 0.1
# Above this cost per round, a configuration is "heavy" and runs only HEAVY_MIN_ROUNDS rounds
# unless more fit in --benchmark-max-time. Not fewer than 5: with 3, one slow spell of the shared
# machine decided a median (the 2-layer bidir LSTM 256 at 100x32 on 2 threads gave lstmrt 96,
# 121 and 138 ms in one run's three rounds, and 83 ms in the run before); 5 made the whole
# benchmark about 30 s longer (282-285 s -> 311 s).
HEAVY_ROUND_SECONDS = 0.25
HEAVY_MIN_ROUNDS = 5


# Each round starts by measuring how far apart the first two CPUs this process may use are: the
# one-way time for a write on one to be seen on the other (lstmrt._core.testing.core_to_core_ns).
# On a virtual machine the host places the virtual CPUs and moves them: on this benchmark's
# machine the figure jumps between ~22 ns (two hyperthreads of one physical core, which then
# share its FMA units and L2), ~50-60 ns (two cores of one core complex) and ~245 ns (two core
# complexes), for seconds at a time. A 2-thread row depends on it (every step of a sequence
# exchanges the state between the two), so the report shows which placement each row ran under.
PLACEMENT_ROUND_TRIPS = 5000


def placement_probe() -> Optional[float]:
    """Nanoseconds one way between the first two CPUs of this process, or None where it cannot be
    measured (one CPU, no pinning on this OS, or an lstmrt without the probe) or is not wanted
    (LSTMRT_BENCH_NO_PROBE=1: to check that the probe does not disturb the timings)."""
    if os.environ.get("LSTMRT_BENCH_NO_PROBE", "") not in ("", "0"):
        return None
    try:
        from lstmrt._core import testing

        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return None
        return float(testing.core_to_core_ns(cpus[0], cpus[1], PLACEMENT_ROUND_TRIPS))
    except (AttributeError, ImportError, RuntimeError, ValueError, OSError):
        return None


def _steal_ticks() -> Optional[int]:
    """Clock ticks the host has taken from this machine's virtual CPUs so far (/proc/stat "steal";
    None where there is no such file)."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8])
    except (OSError, ValueError, IndexError):
        return None


def _thread_times() -> Optional[Dict[str, int]]:
    """Nanoseconds so far, from /proc/self/task/*/schedstat, for this process's threads:
    ``foreign_cpu``: CPU time of threads that are neither the calling thread nor lstmrt's workers
    (named lstmrt-worker), that is other libraries' thread pools; ``workers_cpu``: CPU time of
    lstmrt's workers; ``runqueue_wait``: time the calling thread and lstmrt's workers were ready
    to run but waited for a CPU. None where /proc is not available."""
    me = str(threading.get_native_id())
    out = {"foreign_cpu": 0, "workers_cpu": 0, "runqueue_wait": 0}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                worker = f.read().strip() == "lstmrt-worker"
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                run, wait = (int(v) for v in f.read().split()[:2])
        except (OSError, ValueError):
            continue   # a thread that ended meanwhile
        if tid == me or worker:
            out["runqueue_wait"] += wait
        if worker:
            out["workers_cpu"] += run
        elif tid != me:
            out["foreign_cpu"] += run
    return out


def block_counters() -> Dict[str, int]:
    """Counters read around each timed block, whose deltas say why a block was slow:
    - lstmrt's worker pool and step scheduler (``lstmrt._core.testing.pool_stats``): members a
      caller took back because its worker had not started, phases that waited out the grace
      period, partitions run for a late thread, workers that moved off a team mate's CPU;
    - ``runqueue_wait_ns``: time the calling thread and lstmrt's workers were ready but waited for
      a CPU. On this 2-CPU machine the OS now and then queues the caller and its worker on one CPU
      (each then waits for the other) while the other CPU idles;
    - ``foreign_cpu_ns``: CPU time of other libraries' threads in this process (a peer's pool
      still spinning);
    - ``steal_ticks``: ticks the host took from this virtual machine's CPUs (/proc/stat)."""
    out: Dict[str, int] = {}
    try:
        from lstmrt._core import testing

        out.update({k: int(v) for k, v in testing.pool_stats().items() if k != "workers"})
    except (AttributeError, ImportError):
        pass
    times = _thread_times()
    if times is not None:
        out.update(foreign_cpu_ns=times["foreign_cpu"], runqueue_wait_ns=times["runqueue_wait"])
    steal = _steal_ticks()
    if steal is not None:
        out["steal_ticks"] = steal
    return out


def _calibrate(fn: Callable[[], object], budget: float = 0.003) -> float:
    """Seconds per call: one untimed call, then calls repeated for about ``budget`` seconds (one
    call when a single call already takes longer)."""
    fn()
    n = 0
    t0 = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= budget:
            return elapsed / n


def _threads_cpu_ns() -> Optional[int]:
    """Nanoseconds of CPU used so far by this process's threads other than the calling one
    (None where /proc/self/task/*/schedstat is not available)."""
    times = _thread_times()
    return None if times is None else times["foreign_cpu"] + times["workers_cpu"]


def quiesce() -> float:
    """Sleeps until this process's other threads are idle (see QUIESCE_STEP); returns the seconds
    waited. Without /proc, falls back to the process CPU time, then to a plain short sleep."""
    t0 = time.perf_counter()
    quiet = 0
    while True:
        c0 = _threads_cpu_ns()
        p0 = time.process_time()
        time.sleep(QUIESCE_STEP)
        c1 = _threads_cpu_ns()
        busy = (c1 - c0) * 1e-9 if c0 is not None and c1 is not None else time.process_time() - p0
        quiet = quiet + 1 if busy < QUIESCE_BUSY * QUIESCE_STEP else 0
        waited = time.perf_counter() - t0
        if quiet >= 2 or waited >= QUIESCE_LIMIT:
            return waited


def _summary(samples: List[float], inner: int, warmed: List[int], waits: List[float],
             counters: List[Dict[str, int]]) -> Dict[str, float]:
    a = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "min": float(a.min()), "mean": float(a.mean()),
            "stddev": float(a.std(ddof=1)) if a.size > 1 else 0.0, "iqr": float(q3 - q1),
            "rounds": int(a.size), "inner": int(inner),
            "warm_calls_median": float(np.median(warmed)) if warmed else 0.0,
            "warm_calls_max": int(max(warmed)) if warmed else 0,
            "quiesce_median_s": float(np.median(waits)) if waits else 0.0,
            "quiesce_max_s": float(max(waits)) if waits else 0.0,
            "samples": [float(x) for x in a],  # per round, in round order
            "counters": counters}  # per round: block_counters() deltas over the timed block


def rotated(names: List[str], r: int) -> List[str]:
    """The engines' order in round r: rotated by one every round, so that none always runs first."""
    k = r % len(names)
    return names[k:] + names[:k]


def run_interleaved(benchmark, request, calls: Dict[str, Callable[[], object]],
                    max_rounds: int = 2000) -> Dict[str, Dict[str, float]]:
    """Times the engines in ``calls`` against each other, interleaved.

    One round runs one block per engine, in an order that rotates every round, so slow phases
    of a busy machine hit every engine alike. A block is: wait until the process is quiet
    (``quiesce``), untimed calls until the engine is warm (see WARM_SECONDS), then ``inner`` timed calls (inner chosen per engine so
    that a block lasts about BLOCK_SECONDS); the block's time per call is one sample.
    pytest-benchmark times the rounds themselves (its own statistics are the cost of one whole
    round, waits included); the per-engine statistics go to ``benchmark.extra_info["engines"]``
    and are what the report uses (medians).

    The number of rounds follows pytest-benchmark's options: enough rounds to fill
    --benchmark-max-time, at least --benchmark-min-rounds (at least HEAVY_MIN_ROUNDS for heavy
    configurations), at most ``max_rounds``. With --benchmark-disable each engine runs once.
    LSTMRT_BENCH_ISOLATED=1 runs every round of one engine, then every round of the next (no
    interleaving), to check that interleaving favours no engine.
    """
    names = list(calls)
    if request.config.getoption("benchmark_disable", False):
        # A smoke run: each engine once, no calibration.
        benchmark.pedantic(lambda: [calls[n]() for n in names], rounds=1, iterations=1)
        return {}
    per_call, settle = {}, {}
    quiesce()
    for n in names:
        per_call[n] = _calibrate(calls[n])
        settle[n] = quiesce()   # how long this engine's threads keep the CPU busy after it
    inner = {n: max(1, int(round(BLOCK_SECONDS / per_call[n]))) for n in names}
    warm = {n: 0 if per_call[n] > NO_WARM_ABOVE else max(1, int(math.ceil(WARM_SECONDS / per_call[n])))
            for n in names}
    round_s = sum((inner[n] + warm[n]) * per_call[n] + settle[n] for n in names)

    opt = request.config.getoption
    min_rounds = int(opt("benchmark_min_rounds", 5) or 5)
    max_time = float(opt("benchmark_max_time", 1.0) or 1.0)
    if round_s > HEAVY_ROUND_SECONDS:
        min_rounds = min(min_rounds, HEAVY_MIN_ROUNDS)
    rounds = max(min_rounds, min(max_rounds, int(math.ceil(max_time / round_s))))

    samples: Dict[str, List[float]] = {n: [] for n in names}
    placements: List[Optional[float]] = []
    waits: Dict[str, List[float]] = {n: [] for n in names}
    warmed: Dict[str, List[int]] = {n: [] for n in names}
    counters: Dict[str, List[Dict[str, int]]] = {n: [] for n in names}
    counter = [0]
    clock = time.perf_counter
    isolated = os.environ.get("LSTMRT_BENCH_ISOLATED", "") not in ("", "0")
    if isolated:
        rounds_per_engine, rounds = rounds, rounds * len(names)

    def one_round():
        r = counter[0]
        counter[0] += 1
        if isolated:
            order = [names[min(r // rounds_per_engine, len(names) - 1)]]
        else:
            order = rotated(names, r)
        placements.append(placement_probe())
        for n in order:
            fn = calls[n]
            waits[n].append(quiesce())
            if warm[n]:
                done, t_end, steady = 0, clock() + WARM_LIMIT, 2.0 * per_call[n]
                while True:
                    t0 = clock()
                    fn()
                    done += 1
                    t1 = clock()
                    if (done >= warm[n] and t1 - t0 <= steady) or t1 > t_end:
                        break
                warmed[n].append(done)
            k = inner[n]
            c0 = block_counters()
            t0 = clock()
            for _ in range(k):
                fn()
            samples[n].append((clock() - t0) / k)
            c1 = block_counters()
            counters[n].append({key: c1[key] - c0[key] for key in c1 if key in c0})

    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
    result = {n: _summary(samples[n], inner[n], warmed[n], waits[n], counters[n]) for n in names}
    benchmark.extra_info["engines"] = result
    benchmark.extra_info["timing"] = {
        "method": "isolated (one engine after the other)" if isolated else "interleaved blocks",
        "block_s": BLOCK_SECONDS, "warm_s": WARM_SECONDS, "warm_limit_s": WARM_LIMIT,
        "quiesce_step_s": QUIESCE_STEP,
        "rounds": len(samples[names[0]]),
        "core_to_core_ns": placements}
    return result


PACED_BLOCK_CALLS = 20   # paced calls of one engine in a row, between quiet spells
PACED_MIN_ROUNDS = 5


def run_paced(benchmark, request, calls: Dict[str, Callable[[], object]], gap_s: float,
              block_calls: int = PACED_BLOCK_CALLS) -> Dict[str, Dict[str, float]]:
    """Times each call of the engines in ``calls`` after ``gap_s`` seconds of sleep, as a paced
    stream sees them.

    One round runs a block of ``block_calls`` paced calls per engine, in an order that rotates
    every round, each block after the process is quiet (``quiesce``: the previous engine's
    threads may still spin, which a paced application would not see). Every call is one
    sample; the per-engine statistics (``extra_info["engines"]``, medians over all calls) are
    what the report uses. Rounds: at least --benchmark-min-rounds (at least PACED_MIN_ROUNDS),
    more while --benchmark-max-time allows.
    """
    names = list(calls)
    if request.config.getoption("benchmark_disable", False):
        benchmark.pedantic(lambda: [calls[n]() for n in names], rounds=1, iterations=1)
        return {}
    opt = request.config.getoption
    round_s = len(names) * block_calls * gap_s
    rounds = max(PACED_MIN_ROUNDS, int(opt("benchmark_min_rounds", 5) or 5),
                 int(math.ceil(float(opt("benchmark_max_time", 1.0) or 1.0) / round_s)))
    samples: Dict[str, List[float]] = {n: [] for n in names}
    waits: Dict[str, List[float]] = {n: [] for n in names}
    placements: List[Optional[float]] = []
    counter = [0]
    clock, sleep = time.perf_counter, time.sleep

    def one_round():
        r = counter[0]
        counter[0] += 1
        placements.append(placement_probe())
        for n in rotated(names, r):
            fn = calls[n]
            waits[n].append(quiesce())
            for _ in range(block_calls):
                sleep(gap_s)
                t0 = clock()
                fn()
                samples[n].append(clock() - t0)

    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
    result = {n: _summary(samples[n], 1, [], waits[n], []) for n in names}
    benchmark.extra_info["engines"] = result
    benchmark.extra_info["timing"] = {"method": "paced calls", "gap_s": gap_s, "block_calls": block_calls,
                                      "rounds": rounds, "core_to_core_ns": placements}
    return result


# ----------------------------------------------------------------------------------------------
# Machine and versions
# ----------------------------------------------------------------------------------------------

def lscpu() -> Dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info


def cache_sizes() -> Dict[int, int]:
    """Bytes of the data/unified cache per level, as seen by CPU 0 (L2 per core, L3 shared)."""
    sizes: Dict[int, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")) if base.exists() else []:
        try:
            if (idx / "type").read_text().strip() == "Instruction":
                continue
            level = int((idx / "level").read_text())
            m = re.match(r"(\d+)([KMG]?)", (idx / "size").read_text().strip())
            if m:
                sizes[level] = int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
        except (OSError, ValueError):
            continue
    sizes.setdefault(1, 32 << 10)
    sizes.setdefault(2, 1 << 20)
    sizes.setdefault(3, 32 << 20)
    return sizes


def versions() -> Dict[str, Optional[str]]:
    """Versions of everything the numbers depend on (None where a package is missing)."""
    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for mod in ("lstmrt", "onnxruntime", "torch", "numpy", "onnx"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = None
    try:
        out["git_commit"] = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True, timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        out["git_dirty"] = "yes" if dirty else "no"
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    try:
        import lstmrt

        info = lstmrt.cpu_info()
        out["lstmrt_isa"] = info.get("isa")
        out["lstmrt_worker_spin_us"] = str(info.get("worker_spin_us"))
    except Exception:
        pass
    return out


def environment() -> Dict[str, object]:
    """The machine and versions, recorded with each benchmark so the report needs nothing else."""
    cpu = lscpu()
    env: Dict[str, object] = {
        "cpu_model": cpu.get("Model name"),
        "cpu_family_model": f"family {cpu.get('CPU family')} model {cpu.get('Model')}" if cpu.get("CPU family") else None,
        "cpus": os.cpu_count(),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "caches": {f"L{k}": v for k, v in cache_sizes().items()},
        "versions": versions(),
    }
    try:
        import lstmrt

        info = lstmrt.cpu_info()
        env["cpu_info"] = {k: info.get(k) for k in ("brand", "vendor", "isa", "supported_isas", "default_threads")}
    except Exception:
        pass
    return env


# ----------------------------------------------------------------------------------------------
# Peak FMA throughput and bandwidth, through the packed GEMM kernel
# ----------------------------------------------------------------------------------------------


_ENVIRONMENT = None


def record(benchmark, kind, **info):
    """Stores a benchmark's description, and the machine's (computed once), in extra_info."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        _ENVIRONMENT = environment()
    benchmark.extra_info.update(kind=kind, env=_ENVIRONMENT, **info)

def _best_time_gemm(isa: str, M: int, N: int, K: int, threads: int, target_s: float, rounds: int) -> float:
    """Best (lowest) seconds per call of lstmrt's packed GEMM over ``rounds`` measurements of
    about ``target_s`` each: a peak is what the machine can do, so the best round is the figure,
    and a round slowed down by other work on the machine does not lower it."""
    from lstmrt._core import testing

    wall = threads > 1   # thread CPU time only sees the calling thread
    est = testing.time_gemm(isa, M, N, K, reps=1, threads=threads, wall=wall)
    reps = max(1, min(100000, int(target_s / max(est, 1e-9))))
    return float(min(testing.time_gemm(isa, M, N, K, reps=reps, threads=threads, wall=wall)
                     for _ in range(rounds)))


# Compute-bound shapes for the FMA peak, whose best is the figure. A square-ish 256x1024x1024
# product ran at 103-108 GFLOP/s on one Zen 4 core, while the per-step shapes of a batch-32
# sequence (32x512x512, 64x1024x512) ran at 112-115: its 8 rows of A (32 KB at K=1024) fill the
# 32 KB L1 that the panels of B stream through. A peak taken from the first alone put rows of the
# matrix at 100-101% of it.
PEAK_FLOPS_SHAPES = ((256, 1024, 1024), (64, 1024, 512), (32, 512, 512))


def bandwidth_shapes() -> Dict[str, Tuple[int, int, int]]:
    """GEMM shapes for the machine's bandwidth figures: M=1 matrix-vector products whose weights
    fit in L2, fit in L3 but not L2, and fit in neither (DRAM)."""
    c = cache_sizes()

    def gemv(target_bytes: int) -> Tuple[int, int, int]:
        K = 1024 if target_bytes >= (4 << 20) else 256
        N = max(64, int(target_bytes // (4 * K)) // 64 * 64)
        return 1, N, K

    return {
        "L2": gemv(c[2] // 2),
        "L3": gemv(min(c[3] // 2, max(c[3] // 4, 4 * c[2]))),
        "DRAM": gemv(max(4 * c[3], 64 << 20)),
    }


# Weight sizes (bytes) of the gemv bandwidth curve: fine around the L2 size (1 MiB here), where
# the bandwidth falls, coarse beyond.
GEMV_CURVE_BYTES = tuple(int(kb * 1024) for kb in (64, 128, 256, 384, 512, 640, 768, 896, 1024, 1280, 1536, 2048,
                                                   3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 65536))


def gemv_curve(isa: str, threads: int, rounds: int = 3, target_s: float = 0.02) -> List[Tuple[int, float]]:
    """(weight bytes, GB/s) of an M=1 product over GEMV_CURVE_BYTES, each the best of ``rounds``:
    what the floor reads a row's bandwidth from, at the row's own weight size."""
    out = []
    for nbytes in GEMV_CURVE_BYTES:
        K = 1024 if nbytes >= (4 << 20) else 256
        N = max(64, nbytes // (4 * K) // 64 * 64)
        s = _best_time_gemm(isa, 1, N, K, threads, target_s, rounds)
        out.append((4 * N * K, 4.0 * N * K / s / 1e9))
    return out


def call_seconds(rounds: int = 5, calls: int = 20000) -> float:
    """Best seconds per call of ``testing.round_trip``: the least a one-step layer call from Python
    could cost (borrow X, three new output arrays, the GIL released and retaken)."""
    from lstmrt._core import testing

    x = np.zeros((1, 1, 128), np.float32)
    f = testing.round_trip
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            f(x)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def gate_ns_per_16(isa: str, rounds: int = 5, target_s: float = 0.01) -> Dict[str, float]:
    """Best nanoseconds of one step's gate math per 16 cells of one row, per cell kind, with the
    inputs in L1 (``testing.time_gates`` at hidden 256 and 512): the elementwise work the floor
    leaves out, at the rate lstmrt's own gate kernels reach."""
    from lstmrt._core import testing

    out = {}
    for cell in ("LSTM", "GRU"):
        best = math.inf
        for H in (256, 512):
            reps = max(1, int(target_s / max(testing.time_gates(isa, cell, H, 10), 1e-9)))
            best = min(best, min(testing.time_gates(isa, cell, H, reps) for _ in range(rounds)) / (H / 16))
        out[cell] = best * 1e9
    return out


def measure_machine(isa: str, threads: int, rounds: int = 5, target_s: float = 0.05,
                    curve: bool = False) -> Dict[str, object]:
    """Peak GFLOP/s of the packed GEMM and the gemv bandwidth (GB/s of weights) per memory level,
    each the best of ``rounds``; with ``curve``, also the bandwidth curve over weight sizes and
    (one thread) the cost of a bare call from Python and of the gate math."""
    out: Dict[str, object] = {"isa": isa, "threads": threads, "shapes": {}}
    gflops, shape = max((2.0 * M * N * K / _best_time_gemm(isa, M, N, K, threads, target_s, rounds) / 1e9, (M, N, K))
                        for M, N, K in PEAK_FLOPS_SHAPES)
    out["peak_gflops"] = gflops
    out["shapes"]["flops"] = list(shape)
    for what, (M, N, K) in bandwidth_shapes().items():
        s = _best_time_gemm(isa, M, N, K, threads, target_s, rounds)
        out["shapes"][what] = [M, N, K]
        out[f"{what}_gbps"] = 4.0 * N * K / s / 1e9
    if curve:
        out["gemv_curve"] = gemv_curve(isa, threads)
        if threads == 1:
            out["call_us"] = call_seconds() * 1e6
            out["gate_ns_per_16"] = gate_ns_per_16(isa)
    return out


def find_fixture(preferred: Sequence[str] = ("torch_char_lm_legacy", "torch_char_lm_dynamo",
                                             "torch_forecaster_legacy", "torch_forecaster_dynamo")
                 ) -> Optional[Dict[str, object]]:
    """The first committed fixture model found among ``preferred`` (manifest entry, or a stub for
    a file that is there without one)."""
    import json

    manifest = MODELS_DIR / "manifest.json"
    entries: Dict[str, Dict[str, object]] = {}
    if manifest.exists():
        try:
            for e in json.loads(manifest.read_text()).get("fixtures", []):
                entries[e["name"]] = e
        except (OSError, ValueError, KeyError):
            entries = {}
    for name in preferred:
        e = entries.get(name)
        if e and e.get("file") and (MODELS_DIR / str(e["file"])).exists():
            return dict(e, path=str(MODELS_DIR / str(e["file"])))
        if not e and (MODELS_DIR / f"{name}.onnx").exists():
            return {"name": name, "file": f"{name}.onnx", "path": str(MODELS_DIR / f"{name}.onnx")}
    return None

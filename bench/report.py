#!/usr/bin/env python
"""Turns saved pytest-benchmark JSON into bench/RESULTS.md and bench/speedup.png.

    python bench/report.py [results.json ...] [--out bench/RESULTS.md] [--plot bench/speedup.png]
                           [--note "text"] [--no-measure]

Several JSON files may be given (say the matrix and the kernel benchmarks saved separately);
their benchmarks are merged. Without a file, the newest one under .benchmarks/ (what
``--benchmark-autosave`` writes) is used.

The numbers come from the benchmarks' ``extra_info`` (see test_bench_matrix.py and
test_bench_kernels.py): per-engine medians of the interleaved timing loop, FLOP and byte counts,
and the machine's peak figures when the kernel benchmarks ran. Without those, the peaks are
measured here with ``lstmrt._core.testing.time_gemm`` (unless --no-measure), and the report says
so. Speedup = peer's median time / lstmrt's median time: above 1, lstmrt is faster.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_models as bm  # noqa: E402

PEER_LABEL = {"onnxruntime": "onnxruntime", "pytorch": "PyTorch"}
SHAPE_ORDER = [(1, 1), (100, 1), (100, 32)]

# The targets. Each names the rows it covers and the least speedup it asks for.
TARGETS = [
    ("no row slower than onnxruntime or PyTorch", "every timed row, against each peer timed in it", 1.0),
    ("(seq 1, batch 1) rows and the stream step: at least 4x faster than onnxruntime",
     "single layers and the 2-layer bidirectional model at seq 1, batch 1; every stream step "
     "(layer streams and the fixture model's step)", 4.0),
    ("(seq 100, batch 1), hidden <= 512, 2 threads: at least 1.8x faster than onnxruntime",
     "single layers and the 2-layer bidirectional model", 1.8),
    ("(seq 100, batch 32): at least 1.1x faster than onnxruntime",
     "single layers and the 2-layer bidirectional model, every thread count", 1.1),
]


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

def newest_autosave() -> Optional[Path]:
    files = sorted((bm.REPO_ROOT / ".benchmarks").glob("**/*.json"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def load(paths: Sequence[Path]) -> Tuple[List[dict], dict]:
    benches, meta = [], {}
    for p in paths:
        data = json.loads(Path(p).read_text())
        for b in data.get("benchmarks", []):
            b = dict(b)
            b["_source"] = str(p)
            benches.append(b)
        if not meta:
            meta = {k: data.get(k) for k in ("machine_info", "commit_info", "datetime", "version")}
    return benches, meta


class Row:
    """One timed configuration: engine medians and what is needed to judge them."""

    def __init__(self, bench: dict):
        e = bench.get("extra_info", {})
        self.name = bench.get("name", "?")
        self.info = e
        self.kind = e.get("kind")
        self.engines: Dict[str, dict] = e.get("engines", {})
        self.cell = e.get("cell")
        self.hidden = e.get("hidden")
        self.seq = e.get("seq")
        self.batch = e.get("batch")
        self.threads = e.get("threads")
        self.isa = e.get("isa")
        self.flops = e.get("flops")
        self.weight_bytes = e.get("weight_bytes")

    def t(self, engine: str) -> Optional[float]:
        s = self.engines.get(engine)
        return s["median"] if s else None

    def speedup(self, peer: str) -> Optional[float]:
        mine, theirs = self.t("lstmrt"), self.t(peer)
        return theirs / mine if mine and theirs else None

    def noise(self) -> Optional[float]:
        rel = [s["iqr"] / s["median"] for s in self.engines.values() if s.get("median")]
        return max(rel) if rel else None

    def placements(self) -> List[Optional[float]]:
        """The CPU placement probe of each round (ns one way, None where not measured)."""
        return list((self.info.get("timing") or {}).get("core_to_core_ns") or [])

    def speedup_by_placement(self, peer: str) -> Dict[str, Tuple[int, float]]:
        """Per placement class: (rounds, median over those rounds of the peer's time / lstmrt's),
        each round's two blocks compared with each other (they ran under the same placement)."""
        mine = (self.engines.get("lstmrt") or {}).get("samples") or []
        theirs = (self.engines.get(peer) or {}).get("samples") or []
        groups: Dict[str, List[float]] = defaultdict(list)
        for ns, a, b in zip(self.placements(), mine, theirs):
            if ns is not None and a > 0:
                groups[placement_class(ns)].append(b / a)
        return {c: (len(v), statistics.median(v)) for c, v in groups.items()}

    def label(self) -> str:
        if self.kind == "fixture":
            return f"{self.info.get('model')} {self.info.get('mode')} b{self.batch} s{self.seq} t{self.threads}"
        if self.kind == "stream":
            return f"stream {self.cell} h{self.hidden} t{self.threads}"
        pre = "2-layer bidir lstm" if self.kind == "bidir" else self.cell
        return f"{pre} h{self.hidden} s{self.seq} b{self.batch} t{self.threads}"


# ----------------------------------------------------------------------------------------------
# Machine figures
# ----------------------------------------------------------------------------------------------

def machine_figures(benches: List[dict], rows: List[Row], measure: bool) -> Tuple[Dict[Tuple[str, int], dict], str]:
    figs: Dict[Tuple[str, int], dict] = {}
    for b in benches:
        e = b.get("extra_info", {})
        if e.get("kind") == "machine" and "peak_gflops" in e:
            figs[(e["isa"], int(e["threads"]))] = e
    if figs:
        return figs, "the kernel benchmarks of the same run (test_bench_kernels.py::test_machine)"
    wanted = sorted({(r.isa, int(r.threads)) for r in rows if r.isa and r.threads})
    if not measure or not wanted:
        return figs, "not measured (run test_bench_kernels.py in the same session, or drop --no-measure)"
    try:
        for isa, threads in wanted:
            print(f"measuring peak FMA throughput and bandwidth: {isa}, {threads} thread(s)", file=sys.stderr)
            figs[(isa, threads)] = bm.measure_machine(isa, threads, curve=True)
    except Exception as exc:  # the report is still useful without the peaks
        return figs, f"could not be measured here ({type(exc).__name__}: {exc})"
    return figs, "measured by report.py at report time, on the machine that made the report"


def level_of(nbytes: float, threads: int, caches: Dict[str, int]) -> str:
    """The fastest cache level that could hold `nbytes` spread over `threads` cores (L2 is per
    core). Optimistic on purpose: the floor built on it must not exceed any measured time."""
    if nbytes <= int(caches.get("L2", 1 << 20)) * max(1, threads):
        return "L2"
    if nbytes <= int(caches.get("L3", 32 << 20)):
        return "L3"
    return "DRAM"


# Where the host ran the two virtual CPUs, from the one-way core-to-core time the benchmark
# measures at the start of every round (bench_models.placement_probe). The bounds are this
# machine's: its probe falls into three clusters, ~22 ns, ~50-60 ns and ~245 ns.
PLACEMENTS = [(35.0, "one core", "two hyperthreads of one physical core: FMA units and L2 shared"),
              (120.0, "near", "two cores of one core complex"),
              (math.inf, "far", "two core complexes")]


def placement_class(ns: float) -> str:
    return next(name for bound, name, _ in PLACEMENTS if ns < bound)


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------

def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return "–"
    text = f"{r:.2f}×"
    return f"**{text}**" if r < 1.0 else text


def fmt_pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def fmt_num(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Optional[str] = None) -> List[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def geomean(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------

def machine_name(env: dict, meta: dict) -> str:
    """The machine in a few words, for the report's first lines and the plot's title."""
    mi = meta.get("machine_info") or {}
    cpu = env.get("cpu_model") or (mi.get("cpu", {}) or {}).get("brand_raw") or "unknown CPU"
    parts = [cpu]
    if env.get("cpus"):
        parts.append(f"{env['cpus']} {'vCPUs' if env.get('hypervisor') else 'CPUs'}")
    if env.get("hypervisor"):
        parts.append(f"on {env['hypervisor']}")
    isa = (env.get("cpu_info", {}) or {}).get("isa")
    if isa:
        parts.append(isa)
    return ", ".join(parts)


def run_date(meta: dict) -> str:
    """The run's date (YYYY-MM-DD) from pytest-benchmark's datetime, or '?'."""
    return str(meta.get("datetime") or "?")[:10]


def section_header(env: dict, meta: dict) -> List[str]:
    """What the report opens with: the machine, the versions and the date."""
    v = env.get("versions", {}) or {}
    ci = env.get("cpu_info", {}) or {}
    caches = env.get("caches", {}) or {}
    mi = meta.get("machine_info") or {}
    cpu = env.get("cpu_model") or (mi.get("cpu", {}) or {}).get("brand_raw") or "unknown"
    extra = ", ".join(x for x in (env.get("cpu_family_model"), f"{env.get('cpus')} CPUs visible",
                                  f"hypervisor {env['hypervisor']}" if env.get("hypervisor") else None) if x)
    out = [f"- Machine: **{cpu}** ({extra})"]
    if caches:
        out.append("- Caches: " + ", ".join(f"{k} {int(val) // 1024} KiB" if int(val) < (1 << 20)
                                            else f"{k} {int(val) // (1 << 20)} MiB"
                                            for k, val in sorted(caches.items())) + " (L2 per core, L3 shared)")
    if ci:
        out.append(f"- lstmrt.cpu_info(): brand {ci.get('brand')!r}, vendor {ci.get('vendor')}, kernel path "
                   f"**{ci.get('isa')}** (supported: {', '.join(ci.get('supported_isas') or [])}), "
                   f"default threads {ci.get('default_threads')}")
    git = v.get("git_commit")
    if git:
        git += ", with uncommitted changes" if v.get("git_dirty") == "yes" else ""
    out.append(f"- Versions: lstmrt {v.get('lstmrt')} (git {git or '?'}), onnxruntime {v.get('onnxruntime')}, "
               f"PyTorch {v.get('torch') or 'not installed'}, NumPy {v.get('numpy')}, onnx {v.get('onnx')}, "
               f"Python {v.get('python')}; pytest-benchmark {meta.get('version')}")
    if meta.get("datetime"):
        out.append(f"- Run: {meta['datetime']}")
    return out + [""]


def section_machine(env: dict, meta: dict, figs: Dict[Tuple[str, int], dict], fig_source: str) -> List[str]:
    """The machine's measured peaks: what the floors and % peak columns read."""
    out = ["## Machine peaks", "", f"Peak figures of this machine, from lstmrt's packed GEMM (`time_gemm`), best of five rounds "
                "(the FMA peak: the best of three compute-bound shapes, "
                + ", ".join("×".join(str(x) for x in sh) for sh in bm.PEAK_FLOPS_SHAPES)
                + "; the shape that gave it is listed below); "
                f"source: {fig_source}. Bandwidth = bytes of weights streamed per second by an M=1 "
                "matrix-vector product whose weights fit in L2, in L3 but not L2, or in neither.", ""]
    if figs:
        rows = []
        for (isa, threads), f in sorted(figs.items(), key=lambda kv: (kv[0][0] != "generic", kv[0])):
            sh = f.get("shapes", {})
            rows.append([isa, str(threads), fmt_num(f.get("peak_gflops")), fmt_num(f.get("L2_gbps")),
                         fmt_num(f.get("L3_gbps")), fmt_num(f.get("DRAM_gbps"))])
        out += table(["ISA", "threads", "peak GFLOP/s", "L2 GB/s", "L3 GB/s", "DRAM GB/s"], rows, "lrrrrr")
        sh = next(iter(figs.values())).get("shapes", {})
        if sh:
            out += ["", "Shapes (M×N×K): " + ", ".join(f"{k} {'×'.join(str(x) for x in v)}" for k, v in sh.items())
                    + "."]
        curves = {key: f["gemv_curve"] for key, f in sorted(figs.items()) if f.get("gemv_curve")}
        if curves:
            sizes = [b for b, _ in next(iter(curves.values()))]
            out += ["", "Matrix-vector bandwidth (GB/s of weights, best of three) by the weights' size, which the floor "
                        "below reads at each row's own size:", ""]
            out += table(["ISA", "threads"] + [fmt_bytes(b) for b in sizes],
                         [[isa, str(t)] + [fmt_num(g) for _, g in c] for (isa, t), c in curves.items()],
                         "lr" + "r" * len(sizes))
        calls = [f["call_us"] for f in figs.values() if f.get("call_us")]
        if calls:
            out += ["", f"A bare call from Python into a binding that borrows X and returns three new arrays "
                        f"(`testing.round_trip`, best of five): **{min(calls):.2f} µs**.", ""]
    return out + [""]


def fmt_bytes(n: float) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= (1 << 20) else f"{n / 1024:g} KiB"


def check_targets(rows: List[Row]) -> List[Tuple[str, str, str, Optional[bool], List[str], List[tuple]]]:
    """(target, scope, verdict, met, failing rows as text, failing (row, peer, speedup, needed
    speedup)) per target."""
    timed = [r for r in rows if r.kind in ("rnn", "bidir", "stream", "fixture") and r.t("lstmrt")]
    results = []

    def judge(title, scope, need, selected, peers):
        fails, misses, worst, n = [], [], None, 0
        for r in selected:
            for p in peers:
                s = r.speedup(p)
                if s is None:
                    continue
                n += 1
                worst = s if worst is None else min(worst, s)
                if s < need:
                    fails.append(f"{r.label()} vs {PEER_LABEL[p]}: {s:.2f}×")
                    misses.append((r, p, s, need))
        if n == 0:
            return (title, scope, "no rows in this run", None, [], [])
        verdict = (f"{n - len(fails)} of {n} comparisons meet it; worst {worst:.2f}×")
        return (title, scope, verdict, not fails, fails, misses)

    t = TARGETS
    results.append(judge(t[0][0], t[0][1], t[0][2], timed, ("onnxruntime", "pytorch")))
    sel = [r for r in timed if (r.kind in ("rnn", "bidir") and r.seq == 1 and r.batch == 1)
           or r.kind == "stream" or (r.kind == "fixture" and r.info.get("mode") in ("step", "stream"))]
    results.append(judge(t[1][0], t[1][1], t[1][2], sel, ("onnxruntime",)))
    sel = [r for r in timed if r.kind in ("rnn", "bidir") and r.seq == 100 and r.batch == 1
           and (r.hidden or 0) <= 512 and r.threads == 2]
    results.append(judge(t[2][0], t[2][1], t[2][2], sel, ("onnxruntime",)))
    sel = [r for r in timed if r.kind in ("rnn", "bidir") and r.seq == 100 and r.batch == 32]
    results.append(judge(t[3][0], t[3][1], t[3][2], sel, ("onnxruntime",)))
    return results


def run_warnings(rows: List[Row], figs: Dict[Tuple[str, int], dict]) -> List[str]:
    """Signs that the machine was not quiet, so that nobody reads a noisy run as a result."""
    out = []
    noisy = [r for r in rows if (r.noise() or 0) > 0.25]
    if noisy:
        out.append(f"- {len(noisy)} of {len(rows)} rows have noise (largest IQR/median) above 25%: "
                   + ", ".join(r.label() for r in noisy[:8]) + (" …" if len(noisy) > 8 else "") + ".")
    for (isa, t), f in sorted(figs.items()):
        one = figs.get((isa, 1))
        if t > 1 and one and f.get("peak_gflops", 0) < 1.2 * one.get("peak_gflops", 0):
            out.append(f"- The {isa} peak with {t} threads ({f['peak_gflops']:.0f} GFLOP/s) is hardly above the "
                       f"1-thread peak ({one['peak_gflops']:.0f}): the cores were not all free.")
    over = [r for r in rows if r.flops and r.t("lstmrt") and r.isa
            and figs.get((r.isa, int(r.threads or 1)), {}).get("peak_gflops")
            and r.flops / r.t("lstmrt") / 1e9 > 1.1 * figs[(r.isa, int(r.threads or 1))]["peak_gflops"]]
    if over:
        out.append(f"- {len(over)} rows exceed the measured peak by more than 10% (e.g. {over[0].label()}): the "
                   "peak measurement itself was disturbed.")
    if out:
        out = ["**The run looks disturbed** (compare rows with care):", ""] + out + [""]
    return out


def section_targets(rows: List[Row]) -> List[str]:
    out = ["## Targets", "",
           "Speedup = the peer's median time / lstmrt's median time. The targets after the first are "
           "read as against onnxruntime (the PyTorch column is in the tables).", ""]
    body = []
    details = []
    for title, scope, verdict, met, fails, _ in check_targets(rows):
        mark = "n/a" if met is None else ("**met**" if met else "**not met**")
        body.append([title, scope, mark, verdict])
        if fails:
            shown = fails[:12] + ([f"… and {len(fails) - 12} more"] if len(fails) > 12 else [])
            details.append(f"- *{title}* — short: " + "; ".join(shown))
    out += table(["target", "rows", "status", "result"], body, "llll")
    if details:
        out += ["", "Rows that miss a target:", ""] + details
    return out + [""]


def bandwidth(f1: dict, ft: dict, level: str, threads: int) -> Optional[float]:
    """Bytes/s of weights streamed at a cache level with `threads` threads. L2 is private to a core,
    so its figure is the 1-thread one times the threads (the measured multi-thread figure also
    pays for starting the team on a 512 KB product, and would flatter the floor); L3 and DRAM
    are shared: their multi-thread figure as measured."""
    if level == "L2" and f1.get("L2_gbps"):
        return max(threads * f1["L2_gbps"], ft.get("L2_gbps") or 0.0) * 1e9
    v = ft.get(f"{level}_gbps")
    return v * 1e9 if v else None


def curve_bandwidth(f1: dict, ft: dict, nbytes: float, threads: int, l2_bytes: float = 1 << 20,
                    l3_bytes: float = 32 << 20) -> Optional[float]:
    """Bytes/s at which `threads` threads can stream `nbytes` of weights, from the gemv curves of
    the kernel benchmarks: the best figure measured at that size or larger (a larger size is never
    faster). Where each thread's share fits in L2, `threads` times the 1-thread figure for the
    share (L2 is private; the measured multi-thread figure also pays for starting the team).
    Used up to twice the L2 per thread, where the private cache's size decides what streams, and
    beyond half the L3, which one process's weights cannot count on keeping: the shared L3 also
    holds what the machine's other tenants and the other engines read (LSTM H=1024's stream step,
    W and R 32 MiB together, ran at 29 GB/s in the benchmark and at the curve's 38-43 GB/s alone,
    where the L3 level figure, measured on 8 MiB, says 86). How much of the L3 stays free moves
    from moment to moment (GRU H=1024's stream step, 24 MiB, once streamed 5% faster than the
    curve measured earlier in its run), so there the curve is read one point lower: from the
    largest size measured below the weights'. In between (None, as without curves) the level
    figures, measured apart, are the more optimistic: the curve at 12-16 MiB came out 3% under
    what lstmrt itself reached."""
    c1, ct = f1.get("gemv_curve"), ft.get("gemv_curve")
    past_l2 = 2.0 * l2_bytes < nbytes / threads
    if not c1 or not ct or (past_l2 and nbytes <= l3_bytes / 2):
        return None
    start = nbytes
    if past_l2:
        below = [b for b, _ in ct if b < nbytes]
        start = max(below) if below else nbytes
    best = [g for b, g in ct if b >= start] or [ct[-1][1]]
    out = max(best)
    share = nbytes / threads
    if threads > 1 and share <= l2_bytes:
        one = [g for b, g in c1 if b >= share]
        if one:
            out = max(out, threads * max(one))
    return out * 1e9


def floor_seconds(r: Row, figs: Dict[Tuple[str, int], dict], caches: Dict[str, int],
                  threads: Optional[int] = None, gates: bool = False) -> Optional[float]:
    """The shortest time this machine allows for a row: per layer, the input product X·Wᵀ for
    all steps, at the FMA peak or at the bandwidth at which the weights' bytes can stream,
    whichever is slower, plus per step with a state H_{t-1}·Rᵀ, likewise with R. A single step
    streams W and R together, so their sum sets the bandwidth. The matrix rows pass no initial
    state (step 0 has no recurrent product); the stream carries one. Bandwidth comes from the
    kernel benchmarks' curve at the weights' own size where there is one, else from the fastest
    cache level that could hold them. Added to that:
    - the bare cost of a call from Python (`testing.round_trip`), where measured;
    - at batch 1 on 2+ threads, one core-to-core transfer per step that has a recurrent product
      plus two per call (to start the other core and to hear back from it), at the smallest
      transfer time probed in the row's rounds: a step needs the H_{t-1} that the other core
      wrote. One thread has no transfers, so the floor is also never above the 1-thread floor.
    With ``gates``, also every step's gate math at the rate of lstmrt's own gate kernels with
    their inputs in L1 (`testing.time_gates`), each thread taking its share of the 16-cell
    chunks (None where that rate was not measured). Fixture models get no floor (None)."""
    if r.kind not in ("rnn", "bidir", "stream") or not r.isa or not r.threads:
        return None
    T = int(threads or r.threads)
    f1, ft = figs.get((r.isa, 1), {}), figs.get((r.isa, T), {})
    if not ft.get("peak_gflops"):
        return None
    peak = ft["peak_gflops"] * 1e9
    G, H, S, N = bm.GATES[r.cell], int(r.hidden), int(r.seq), int(r.batch)
    D = int(r.info.get("num_directions", 1))
    layer_inputs = [int(r.info.get("input", H))] + [D * H] * (int(r.info.get("layers", 1)) - 1)
    rec_steps = S if r.kind == "stream" else S - 1

    def stream_time(flops: float, nbytes: float) -> Optional[float]:
        bw = (curve_bandwidth(f1, ft, nbytes, T, int(caches.get("L2", 1 << 20)), int(caches.get("L3", 32 << 20)))
              or bandwidth(f1, ft, level_of(nbytes, T, caches), T))
        return max(flops / peak, nbytes / bw) if bw else None

    total = 0.0
    for I in layer_inputs:
        w, rr = 4.0 * G * H * I * D, 4.0 * G * H * H * D
        if S == 1:
            parts = [stream_time(2.0 * G * H * (I + H * rec_steps) * N * D, w + rr * rec_steps)]
        else:
            parts = [stream_time(2.0 * G * H * I * S * N * D, w), stream_time(2.0 * G * H * H * N * D, rr)]
            parts[1] = parts[1] * rec_steps if parts[1] is not None else None
        if any(p is None for p in parts):
            return None
        total += sum(parts)
    call_us = f1.get("call_us")
    if call_us:
        total += call_us * 1e-6
    if gates:
        per16_ns = (f1.get("gate_ns_per_16") or {}).get(bm.ONNX_OP[r.cell])
        if per16_ns is None:
            return None
        chunks_per_thread = math.ceil(N * D * math.ceil(H / 16) / T)
        total += len(layer_inputs) * S * chunks_per_thread * per16_ns * 1e-9
    if T > 1 and N == 1 and r.kind in ("rnn", "stream") and D == 1:
        probes = [ns for ns in r.placements() if ns is not None]
        if probes:
            total += (rec_steps + 2) * min(probes) * 1e-9
        one = floor_seconds(r, figs, caches, threads=1, gates=gates)
        if one is not None:
            total = min(total, one)
    return total


def _gate_rates(figs) -> List[Tuple[str, float]]:
    """(cell, ns per 16 cells) of the gate math on the ISA lstmrt ran, from the 1-thread figures."""
    for (isa, t), f in sorted(figs.items()):
        if t == 1 and f.get("gate_ns_per_16"):
            return sorted(f["gate_ns_per_16"].items())
    return []


def section_bounds(rows: List[Row], figs, caches) -> List[str]:
    """Each comparison that misses a target, against the floor of its row: a target that asks for
    less time than the floor cannot be met on this machine, whatever lstmrt does."""
    misses = [m for *_, ms in check_targets(rows) for m in ms]
    if not misses:
        return []
    body, beyond, beyond_gates, reach = [], 0, 0, 0
    for r, peer, s, need in misses:
        floor = floor_seconds(r, figs, caches)
        with_gates = floor_seconds(r, figs, caches, gates=True)
        needed = r.t(peer) / need
        if floor is None:
            verdict = "no floor model"
        elif needed < floor:
            beyond += 1
            verdict = f"beyond the floor: {r.t(peer) / floor:.2f}× at most"
        elif with_gates is not None and needed < with_gates:
            beyond_gates += 1
            verdict = f"beyond the floor with gates: {r.t(peer) / with_gates:.2f}× at most"
        else:
            reach += 1
            base = with_gates if with_gates is not None else floor
            verdict = (f"within: lstmrt at {r.t('lstmrt') / base:.2f}× the floor"
                       + (" with gates" if with_gates is not None else ""))
        body.append([r.label(), PEER_LABEL[peer], f"{need:g}×", fmt_ratio(s), fmt_time(r.t("lstmrt")),
                     fmt_time(needed), fmt_time(floor), fmt_time(with_gates), verdict])
    out = ["### Bounds of the misses", "",
           "*needed* = the peer's time / the target; *floor* = the shortest time this machine allows the row: "
           "per layer, X·Wᵀ for all steps at the FMA peak or at the bandwidth at which W's bytes stream, "
           "whichever is slower, plus each step's H·Rᵀ likewise (bandwidth from the kernel benchmarks' "
           "matrix-vector curve at the weights' own size; L2 scales with the threads); plus the bare cost of a "
           "call from Python (a binding that only borrows X and returns three new arrays); plus, at batch 1 on "
           "2 threads, one core-to-core transfer per recurrent step and two per call, at the smallest transfer "
           "time probed in the row's rounds, and never above the 1-thread floor. The gates' arithmetic is left "
           "out of it. *with gates* adds every step's gate math at the rate of lstmrt's gate kernels with their "
           "inputs in L1 (`testing.time_gates`; per 16 cells of one row: "
           + (", ".join(f"{c} {ns:.1f} ns" for c, ns in _gate_rates(figs)) or "not measured in this run")
           + "), split over the threads. "
           "A target whose needed time is under the floor cannot be met here; one under the floor with gates "
           "cannot be met without faster gate math. "
           f"Of {len(body)} misses, **{beyond} are beyond the floor**, {beyond_gates} beyond the floor with gates "
           f"and {reach} within it.", ""]
    out += table(["row", "peer", "target", "speedup", "lstmrt", "needed", "floor", "with gates", "verdict"], body,
                 "llrrrrrrl")
    # The floor is a lower bound only if no engine beat it: say so where one did.
    under = []
    for r in rows:
        floor = floor_seconds(r, figs, caches)
        for eng in ("lstmrt", "onnxruntime", "pytorch"):
            if floor and r.t(eng) and r.t(eng) < floor:
                under.append(f"{r.label()} ({eng}: {fmt_time(r.t(eng))} < {fmt_time(floor)})")
    out += ["", "Every engine's median in every row is at or above the row's floor." if not under else
            "**The floor model is too high for:** " + "; ".join(under) + "."]
    return out + [""]


def section_placement(rows: List[Row]) -> List[str]:
    """How the CPU placement moved during the run, and each 2-thread row's speedup over
    onnxruntime under each placement it ran in."""
    probes = [ns for r in rows for ns in r.placements() if ns is not None]
    if not probes:
        return []
    count = defaultdict(list)
    for ns in probes:
        count[placement_class(ns)].append(ns)
    dist = "; ".join(f"**{name}** ({what}) in {len(count[name])} rounds, median {statistics.median(count[name]):.0f} ns"
                     for _, name, what in PLACEMENTS if count[name])
    out = ["## Where the host ran the two CPUs", "",
           "Each round starts by measuring the one-way time for a write on one CPU to be seen on the other "
           "(`lstmrt._core.testing.core_to_core_ns`): the host of this virtual machine places the two virtual "
           f"CPUs and moves them while the benchmark runs. Over the {len(probes)} rounds of this run: {dist}. "
           "Every step of a 2-thread sequence exchanges the state between the two CPUs, and under *one core* "
           "the two threads share one core's FMA units and L2, so a 2-thread row's figures depend on where it "
           "ran. Below, each 2-thread row's speedup over onnxruntime per placement: the median over the rounds "
           "run under it (each round's lstmrt and onnxruntime blocks ran under the same probe).", ""]
    body = []
    for r in rows:
        if int(r.threads or 1) < 2 or r.t("onnxruntime") is None:
            continue
        by = r.speedup_by_placement("onnxruntime")
        if not by:
            continue
        cells = [f"{by[name][1]:.2f}× ({by[name][0]})" if name in by else "–" for _, name, _ in PLACEMENTS]
        body.append([r.label()] + cells + [fmt_ratio(r.speedup("onnxruntime"))])
    if not body:
        return out
    out += table(["2-thread row"] + [f"vs ORT, {name} (rounds)" for _, name, _ in PLACEMENTS] + ["vs ORT, all"],
                 body, "l" + "r" * (len(PLACEMENTS) + 1))
    return out + [""]


# A round of lstmrt counts as "queued" when its threads (the caller and lstmrt's workers) spent at
# least this share of the block ready to run but waiting for a CPU: on 2 CPUs a 2-thread call
# then shares one CPU between its two threads for part of the block.
QUEUED_SHARE = 0.05


def round_disturbances(r: Row) -> List[Dict[str, object]]:
    """Per round of lstmrt in this row: its time, the share of the block its threads waited on a
    run queue, and the counters that say what happened (see bench_models.block_counters)."""
    e = r.engines.get("lstmrt") or {}
    samples, counters, inner = e.get("samples") or [], e.get("counters") or [], e.get("inner") or 1
    out = []
    for t, c in zip(samples, counters):
        block_ns = t * inner * 1e9
        if block_ns <= 0 or not c:
            continue
        out.append({"time": t, "queued": c.get("runqueue_wait_ns", 0) / block_ns,
                    "foreign": c.get("foreign_cpu_ns", 0) / block_ns,
                    "moves": c.get("cpu_moves", 0), "taken_back": c.get("members_taken_back", 0),
                    "steal": c.get("steal_ticks", 0)})
    return out


def section_disturbances(rows: List[Row]) -> List[str]:
    """What the counters read around each timed lstmrt block say about the slow rounds."""
    per_row = [(r, round_disturbances(r)) for r in rows]
    per_row = [(r, d) for r, d in per_row if d]
    if not per_row:
        return []
    lines = ["## What lstmrt's rounds met", "",
             "Around each timed block the benchmark reads lstmrt's pool and scheduler counters "
             "(`lstmrt._core.testing.pool_stats`), the run-queue wait of the calling thread and of lstmrt's "
             "workers (`/proc/self/task/*/schedstat`), the CPU time of other libraries' threads and the host's "
             f"steal ticks. A round is *queued* when lstmrt's threads waited for a CPU for {QUEUED_SHARE:.0%} "
             "of the block or more: on this 2-CPU machine the OS now and then puts a call's two threads on one "
             "CPU (lstmrt's worker then moves itself off its caller's CPU).", ""]
    body = []
    for threads in (1, 2):
        group = [(r, d) for r, d in per_row if int(r.threads or 1) == threads]
        rounds = [x for _, d in group for x in d]
        if not rounds:
            continue
        queued = [x for x in rounds if x["queued"] >= QUEUED_SHARE]
        # Each round's time relative to its row's median: how much slower the queued rounds ran.
        rel = {id(x): x["time"] / r.t("lstmrt") for r, d in group for x in d if r.t("lstmrt")}
        slow_q = statistics.median(rel[id(x)] for x in queued) if queued else None
        body.append([f"{threads}", f"{len(rounds)}", f"{len(queued)}",
                     f"{slow_q:.2f}×" if slow_q else "–",
                     f"{sum(1 for x in rounds if x['moves'])}", f"{sum(1 for x in rounds if x['taken_back'])}",
                     f"{sum(1 for x in rounds if x['foreign'] >= QUEUED_SHARE)}",
                     f"{sum(1 for x in rounds if x['steal'])}"])
    lines += table(["threads", "lstmrt rounds", "queued", "queued rounds' time / row median",
                    "worker moved off caller's CPU", "member taken back", "other libraries' threads busy",
                    "host steal"], body, "rrrrrrrr")
    return lines + [""]


def _perf_cols(r: Row, figs, caches) -> List[str]:
    t = r.t("lstmrt")
    gflops = r.flops / t / 1e9 if (r.flops and t) else None
    peak = figs.get((r.isa, int(r.threads or 1)), {}).get("peak_gflops") if r.isa else None
    gbps = r.weight_bytes / t / 1e9 if (r.weight_bytes and t) else None
    return [fmt_num(gflops), fmt_pct(gflops / peak if gflops and peak else None), fmt_num(gbps)]


def _engine_cols(r: Row) -> List[str]:
    return [fmt_time(r.t("lstmrt")), fmt_time(r.t("onnxruntime")), fmt_time(r.t("pytorch")),
            fmt_ratio(r.speedup("onnxruntime")), fmt_ratio(r.speedup("pytorch")), fmt_pct(r.noise())]


ENGINE_HEAD = ["lstmrt", "onnxruntime", "PyTorch", "vs ORT", "vs PyTorch", "noise"]
PERF_HEAD = ["GFLOP/s", "% peak", "weights GB/s"]


def section_cells(rows: List[Row], figs, caches) -> List[str]:
    out = []
    for cell in ("lstm", "gru"):
        sel = [r for r in rows if r.kind == "rnn" and r.cell == cell]
        if not sel:
            continue
        sel.sort(key=lambda r: (SHAPE_ORDER.index((r.seq, r.batch)) if (r.seq, r.batch) in SHAPE_ORDER else 9,
                                r.hidden, r.threads))
        out += [f"## {cell.upper()} (one layer, input = hidden, forward)", ""]
        body = [[str(r.hidden), f"{r.seq}×{r.batch}", str(r.threads)] + _engine_cols(r) + _perf_cols(r, figs, caches)
                for r in sel]
        out += table(["hidden", "seq×batch", "threads"] + ENGINE_HEAD + PERF_HEAD, body)
        out.append("")
    return out


def section_extras(rows: List[Row], figs, caches) -> List[str]:
    out = []
    sel = sorted([r for r in rows if r.kind == "bidir"], key=lambda r: (r.hidden or 0, r.seq, r.batch, r.threads))
    if sel:
        api = sel[0].info.get("lstmrt_api", "")
        out += ["## 2-layer bidirectional LSTM", "",
                f"One ONNX model (two LSTM nodes joined by Transpose + Reshape, as PyTorch exports them) in "
                f"onnxruntime and lstmrt ({api}); nn.LSTM(H, H, num_layers=2, bidirectional=True) in "
                "PyTorch.", ""]
        body = [[str(r.hidden), f"{r.seq}×{r.batch}", str(r.threads)] + _engine_cols(r) + _perf_cols(r, figs, caches)
                for r in sel]
        out += table(["hidden", "seq×batch", "threads"] + ENGINE_HEAD + PERF_HEAD, body) + [""]
    sel = sorted([r for r in rows if r.kind == "stream"], key=lambda r: (r.cell, r.hidden, r.threads))
    if sel:
        out += ["## Stream: one timestep per call, state carried", "",
                "lstmrt: a prepacked layer's `stream()` handle; onnxruntime: the single-node model fed "
                "`initial_h`/`initial_c` from its previous outputs; PyTorch: the module called with the "
                "previous `(h, c)`. Batch 1, input = hidden.", ""]
        body = [[r.cell.upper(), str(r.hidden), str(r.threads)] + _engine_cols(r) + _perf_cols(r, figs, caches)
                for r in sel]
        out += table(["cell", "hidden", "threads"] + ENGINE_HEAD + PERF_HEAD, body) + [""]
    sel = sorted([r for r in rows if r.kind == "fixture"],
                 key=lambda r: (("sequence", "step", "stream").index(r.info.get("mode", "sequence")), r.batch,
                                r.threads))
    if sel:
        i = sel[0].info
        out += [f"## Fixture model: `{i.get('model')}` end to end", "",
                f"{i.get('description') or ''}", "",
                "Through `lstmrt.InferenceSession` and onnxruntime on the committed ONNX file (PyTorch is "
                "not timed: only the ONNX file is committed). *step*: one token per call, each engine fed "
                "its previous state outputs as the next state inputs; *stream*: the same, lstmrt holding "
                "the state in `InferenceSession.stream()`.", ""]
        body = [[str(r.info.get("mode")), str(r.batch), str(r.seq), str(r.threads), fmt_time(r.t("lstmrt")),
                 fmt_time(r.t("onnxruntime")), fmt_ratio(r.speedup("onnxruntime")), fmt_pct(r.noise()),
                 str(r.info.get("lstmrt_api"))] for r in sel]
        out += table(["mode", "batch", "seq", "threads", "lstmrt", "onnxruntime", "vs ORT", "noise", "lstmrt API"],
                     body, "lrrrrrrrl") + [""]
    return out


def section_paced(rows: List[Row]) -> List[str]:
    """The stream step at a sensor's pace: each call after an idle gap (not one of the targets)."""
    sel = sorted([r for r in rows if r.kind == "paced"],
                 key=lambda r: (r.cell, r.hidden, r.info.get("gap_ms") or 0, r.threads))
    if not sel:
        return []
    out = ["## Paced stream: one timestep after an idle gap", "",
           "The stream step above, but every call comes after an idle gap (*gap*: 1 ms and 10 ms unless "
           "`LSTMRT_BENCH_PACED_GAPS_MS` says otherwise), as from a sensor sampled at 1 kHz or 100 Hz, and "
           "every call is timed on its own (medians over all calls; blocks of "
           "calls per engine, rotated, each after the process is quiet). Between calls the weights leave "
           "the caches and thread pools go to sleep, so a call costs far more than back to back. lstmrt "
           "does not wake a sleeping worker for a call this small unless calls come faster than the "
           "worker's spin time (`LSTMRT_SPIN_US`); these rows are not among the targets.", ""]
    body = [[r.cell.upper(), str(r.hidden), f"{r.info.get('gap_ms'):g} ms", str(r.threads)] + _engine_cols(r)
            for r in sel]
    return out + table(["cell", "hidden", "gap", "threads"] + ENGINE_HEAD, body) + [""]


def section_kernels(benches: List[dict], figs) -> List[str]:
    ks = [b["extra_info"] for b in benches if b.get("extra_info", {}).get("kind") == "kernel"]
    if not ks:
        return []
    isas = sorted({k["isa"] for k in ks}, key=lambda i: ("generic", "avx2", "avx512").index(i)
                  if i in ("generic", "avx2", "avx512") else 9)
    out = ["## Kernels: lstmrt's packed GEMM (`time_gemm`)", "",
           "Median kernel time per product (thread CPU time with 1 thread, wall time with 2). Each cell: "
           "GFLOP/s (share of that ISA's peak at that thread count) · GB/s of weights + A + C (for M = 1, "
           "share of the measured bandwidth of the level the weights sit in). K = H, N = 4H.", ""]
    for product, title in (("recurrent", "Recurrent product h·Rᵀ (M = batch)"),
                           ("input", "Input GEMM X·Wᵀ (M = seq·batch)")):
        sel = [k for k in ks if k.get("product") == product]
        if not sel:
            continue
        out += [f"### {title}", ""]
        keyed = defaultdict(dict)
        for k in sel:
            keyed[(k["hidden"], k["M"], k["threads"])][k["isa"]] = k
        body = []
        for (H, M, t) in sorted(keyed):
            row = [str(H), str(M), str(t), keyed[(H, M, t)].get(isas[-1], {}).get("level", "–")]
            for isa in isas:
                k = keyed[(H, M, t)].get(isa)
                if not k:
                    row.append("skipped")
                    continue
                f = figs.get((isa, t), {})
                peak = f.get("peak_gflops")
                bw = f.get(f"{k['level']}_gbps")
                # Only a matrix-vector product (M = 1) is bound by bandwidth; for larger M the
                # bandwidth share says nothing and is left out.
                bw_share = f" ({fmt_pct(k['gbps'] / bw if bw else None)})" if k["M"] == 1 else ""
                row.append(f"{k['gflops']:.1f} ({fmt_pct(k['gflops'] / peak if peak else None)}) · "
                           f"{k['gbps']:.1f}{bw_share}")
            body.append(row)
        out += table(["H", "M", "threads", "weights in"] + isas, body, "rrrl" + "r" * len(isas)) + [""]
    return out


def section_method(rows: List[Row]) -> List[str]:
    timing = next((r.info.get("timing") for r in rows if r.info.get("timing")), {}) or {}
    rounds = [r.info.get("timing", {}).get("rounds") for r in rows if r.info.get("timing")]
    return [
        "## How the numbers were taken", "",
        "- Same weights in all engines (uniform ±1/√H, as PyTorch initializes), converted to each engine's "
        "gate order (ONNX LSTM i,o,f,c → PyTorch i,f,g,o; GRU z,r,h → r,z,n, `linear_before_reset=1` "
        "everywhere). Every configuration first checks that the engines agree (max abs difference < 1e-4; "
        "the differences are in each benchmark's `extra_info.max_abs_diff`), then times them.",
        "- lstmrt: prepacked `lstmrt.ops.LSTM/GRU(..., threads=t)`; onnxruntime: a single-node model "
        "(opset 14, weights as initializers), `intra_op_num_threads=t`, `inter_op_num_threads=1`, other "
        "settings default; PyTorch: `nn.LSTM/GRU` under `torch.inference_mode()`, `torch.set_num_threads(t)`.",
        "- Interleaved: one round runs a block of each engine in an order that rotates every round, so a "
        "busy phase of the machine hits all engines alike. Before each block the process is left idle until "
        "its other threads stop using the CPU (the previous engine's thread pool may still be spinning: "
        "onnxruntime's for up to ~100 ms after a run), then the engine runs untimed until warm (at least "
        f"~{1e3 * timing.get('warm_s', 0.002):.0f} ms, and until a call is back to its calibrated time), then "
        f"~{1e3 * timing.get('block_s', 0.01):.0f} ms of timed calls; the block's time per call is one sample. "
        "The tables show each engine's median sample "
        f"({min(rounds) if rounds else '?'}–{max(rounds) if rounds else '?'} rounds per configuration). "
        "*noise* is the largest IQR/median of the engines in that row.",
        "- GFLOP/s counts 2·G·H·(I+H)·seq·batch·directions (G = 4 for LSTM, 3 for GRU), summed over layers; "
        "% peak divides it by the peak above for the same ISA and thread count. *weights GB/s* assumes "
        "the input weights are read once per call and the recurrent weights once per step.",
        "- The seq 1 × batch 1 rows of single layers and of the 2-layer model pass no initial state. "
        "lstmrt then skips H_0·Rᵀ, which is zero, and reads only W: the same function, with half the "
        "work. Their GFLOP/s, % peak and GB/s count both products and so overstate what lstmrt "
        "computed, up to 2×. The stream rows carry a state, and there lstmrt reads R every step.",
        "",
    ]


# The headline table's rows, in order: (label, kind, cell, hidden, seq, batch, threads, fixture mode).
# A row the run lacks is left out.
HEADLINE = [
    ("LSTM stream step, hidden 128 (state carried)", "stream", "lstm", 128, None, None, 2, None),
    ("LSTM stream step, hidden 256", "stream", "lstm", 256, None, None, 2, None),
    ("char-level LM from PyTorch, one token per call (stream)", "fixture", None, None, 1, 1, 1, "stream"),
    ("LSTM hidden 128, 100 steps, batch 1", "rnn", "lstm", 128, 100, 1, 2, None),
    ("2-layer bidirectional LSTM hidden 256, 100 steps, batch 32", "bidir", None, 256, 100, 32, 2, None),
]


def headline_rows(rows: List[Row]) -> List[Tuple[str, Row]]:
    found = []
    for label, kind, cell, hidden, seq, batch, threads, mode in HEADLINE:
        for r in rows:
            if (r.kind == kind and (cell is None or r.cell == cell) and (hidden is None or r.hidden == hidden)
                    and (seq is None or r.seq == seq) and (batch is None or r.batch == batch)
                    and r.threads == threads and (mode is None or r.info.get("mode") == mode)):
                found.append((label, r))
                break
    return found


def section_headline(rows: List[Row]) -> List[str]:
    """One table of a few representative rows, then the geometric means over every row."""
    out = ["## Headline", ""]
    picked = headline_rows(rows)
    if picked:
        out += table(["job", "threads", "lstmrt", "onnxruntime", "PyTorch", "vs ORT", "vs PyTorch"],
                     [[label, str(r.threads), fmt_time(r.t("lstmrt")), fmt_time(r.t("onnxruntime")),
                       fmt_time(r.t("pytorch")) if r.t("pytorch") else "not timed",
                       fmt_ratio(r.speedup("onnxruntime")), fmt_ratio(r.speedup("pytorch"))]
                      for label, r in picked], "lrrrrrr")
        out.append("")
    return out + summary_line(rows) + [""]


def headline_text(rows: List[Row]) -> str:
    """The geometric means in one line, for the plot's title."""
    parts = []
    for peer in ("onnxruntime", "pytorch"):
        sp = [s for s in (r.speedup(peer) for r in rows if r.kind in ("rnn", "bidir", "stream", "fixture")) if s]
        if sp:
            parts.append(f"{geomean(sp):.2f}× {PEER_LABEL[peer]} ({len(sp)} rows)")
    return ("lstmrt is on average (geometric mean) as fast as " + ", ".join(parts)) if parts else ""


def summary_line(rows: List[Row]) -> List[str]:
    out = []
    for peer in ("onnxruntime", "pytorch"):
        sp = [r.speedup(peer) for r in rows if r.kind in ("rnn", "bidir", "stream", "fixture")]
        sp = [s for s in sp if s]
        if sp:
            out.append(f"- vs {PEER_LABEL[peer]}: geometric mean speedup **{geomean(sp):.2f}×** over {len(sp)} "
                       f"rows (min {min(sp):.2f}×, max {max(sp):.2f}×); lstmrt slower in {sum(s < 1 for s in sp)}.")
    return out


# ----------------------------------------------------------------------------------------------
# Plot
# ----------------------------------------------------------------------------------------------

def plot(rows: List[Row], path: Path, machine: str = "", date: str = "") -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator

    shape_targets = {(1, 1): (4.0, "target 4× vs ORT"), (100, 1): (1.8, "target 1.8× vs ORT (2 thr, H ≤ 512)"),
                     (100, 32): (1.1, "target 1.1× vs ORT")}
    times = FuncFormatter(lambda y, _: f"{y:g}×")
    styles = {("onnxruntime", 1): dict(color="tab:blue", ls="-", marker="o"),
              ("onnxruntime", 2): dict(color="tab:blue", ls="--", marker="s"),
              ("pytorch", 1): dict(color="tab:orange", ls="-", marker="o"),
              ("pytorch", 2): dict(color="tab:orange", ls="--", marker="s")}
    fig, axes = plt.subplots(3, 3, figsize=(15, 12), squeeze=False)
    panels = []
    for i, cell in enumerate(("lstm", "gru")):
        for j, shape in enumerate(SHAPE_ORDER):
            sel = [r for r in rows if r.kind == "rnn" and r.cell == cell and (r.seq, r.batch) == shape]
            panels.append((axes[i][j], f"{cell.upper()}  seq {shape[0]}, batch {shape[1]}", sel, "hidden",
                           shape_targets[shape]))
    for j, cell in enumerate(("lstm", "gru")):
        sel = [r for r in rows if r.kind == "stream" and r.cell == cell]
        panels.append((axes[2][j], f"{cell.upper()} stream step (seq 1, batch 1, state carried)", sel, "hidden",
                       (4.0, "target 4× vs ORT")))
    sel = [r for r in rows if r.kind == "bidir"]
    panels.append((axes[2][2], "2-layer bidirectional LSTM 256", sel, "shape", None))

    for ax, title, sel, xkey, target in panels:
        ax.set_title(title, fontsize=11)
        ax.tick_params(labelsize=9)
        ax.axhline(1.0, color="black", lw=1)
        if target:
            ax.axhline(target[0], color="tab:red", lw=1, ls=":")
            ax.text(0.01, target[0], " " + target[1], color="tab:red", fontsize=7, va="bottom",
                    transform=ax.get_yaxis_transform())
        if not sel:
            ax.text(0.5, 0.5, "not in this run", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.set_xticks([])
            continue
        if xkey == "hidden":
            xs = sorted({r.hidden for r in sel})
            xlabels = [str(x) for x in xs]
            pos = {x: k for k, x in enumerate(xs)}
            key = lambda r: pos[r.hidden]  # noqa: E731
            ax.set_xlabel("hidden size (= input size)")
        else:
            xs = sorted({(r.seq, r.batch) for r in sel}, key=lambda s: SHAPE_ORDER.index(s) if s in SHAPE_ORDER else 9)
            xlabels = [f"{s}×{b}" for s, b in xs]
            pos = {x: k for k, x in enumerate(xs)}
            key = lambda r: pos[(r.seq, r.batch)]  # noqa: E731
            ax.set_xlabel("seq × batch")
        for (peer, threads), st in styles.items():
            pts = sorted((key(r), r.speedup(peer)) for r in sel if r.threads == threads and r.speedup(peer))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"vs {PEER_LABEL[peer]}, {threads} thr",
                        ms=4, lw=1.2, **st)
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xlabels)
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.8), max(hi, 1.25 * (target[0] if target else 1.0)))
        ax.axhspan(ax.get_ylim()[0], 1.0, color="tab:red", alpha=0.06)
        lo, hi = ax.get_ylim()
        if hi / lo < 4:   # a narrow range: label the tenths so that 0.9x and 1.1x can be read
            ax.yaxis.set_major_locator(FixedLocator([v for v in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3,
                                                                 1.5, 1.8, 2.0, 2.5, 3.0, 4.0) if lo <= v <= hi]))
        else:
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(times)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: ""))
        ax.set_ylabel("speedup of lstmrt")
        ax.grid(True, which="both", axis="y", alpha=0.3)
    handles, labels = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    title = "lstmrt speedup over onnxruntime and PyTorch" + (f" on {machine}" if machine else "") + \
        (f", {date}" if date else "")
    fig.suptitle(title + "\n" + headline_text(rows) + "\n"
                 "speedup = peer's median time / lstmrt's (above 1: lstmrt faster; shaded: lstmrt slower)",
                 y=0.995, fontsize=12)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.93), ncol=4, fontsize=10,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.91))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------------------------

RUNS = HERE / "runs"


def save_runs(paths: Sequence[Path], meta: dict, runs: Path = RUNS) -> List[Path]:
    """Copies each JSON that is not already under ``runs`` there, named by the run's date and the
    original name, and returns the paths the report cites (so that it can be regenerated)."""
    saved = []
    for p in paths:
        p = Path(p)
        if runs.resolve() in p.resolve().parents:
            saved.append(p)
            continue
        runs.mkdir(parents=True, exist_ok=True)
        stamp = str(meta.get("datetime") or _dt.datetime.now().isoformat())[:16].replace(":", "")
        target = runs / f"{stamp}-{p.name}"
        target.write_bytes(p.read_bytes())
        saved.append(target)
    return saved


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="*", type=Path, help="pytest-benchmark JSON file(s) (--benchmark-json)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--plot", type=Path, default=HERE / "speedup.png")
    ap.add_argument("--note", default="", help="a line placed under the title (e.g. the run's conditions)")
    ap.add_argument("--no-measure", action="store_true", help="never measure peaks here")
    ap.add_argument("--no-save", action="store_true",
                    help="do not copy the JSON into bench/runs/ (by default it is kept there, so that the "
                         "report can be regenerated)")
    args = ap.parse_args(argv)

    paths = list(args.json)
    if not paths:
        p = newest_autosave()
        if p is None:
            ap.error("no JSON given and none under .benchmarks/ (run pytest with --benchmark-json=FILE)")
        paths = [p]
    benches, meta = load(paths)
    if not args.no_save:
        paths = save_runs(paths, meta)
    rows = [Row(b) for b in benches if b.get("extra_info", {}).get("kind") in ("rnn", "bidir", "stream", "fixture")]
    if not rows and not benches:
        ap.error("the JSON holds no benchmarks")
    env = next((b["extra_info"]["env"] for b in benches if b.get("extra_info", {}).get("env")), None)
    if env is None:
        env = bm.environment()
    caches = env.get("caches", {}) or {}
    figs, fig_source = machine_figures(benches, rows, not args.no_measure)

    rel = lambda p: str(p.relative_to(bm.REPO_ROOT)) if p.resolve().is_relative_to(bm.REPO_ROOT) else str(p)  # noqa: E731
    md = ["# lstmrt benchmark results", ""]
    md += section_header(env, meta)
    md += ["lstmrt, onnxruntime and PyTorch on the same weights, timed in the same run, interleaved. Times are "
           "medians; speedup = peer time / lstmrt time (bold: lstmrt slower).", ""]
    md += section_headline(rows)
    if args.plot and plot(rows, args.plot, machine_name(env, meta), run_date(meta)):
        try:
            link = args.plot.resolve().relative_to(args.out.resolve().parent)
        except ValueError:
            link = args.plot
        md += ["## Speedup across the matrix", "", f"![lstmrt speedup]({link})", ""]
    md += ["## About this run", "",
           f"Generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by `python bench/report.py "
           f"{' '.join(rel(p) for p in paths)}`.", ""]
    if args.note:
        md += [f"> {args.note}", ""]
    md += run_warnings(rows, figs)
    md += section_method(rows)
    md += section_cells(rows, figs, caches)
    md += section_extras(rows, figs, caches)
    md += section_paced([Row(b) for b in benches if b.get("extra_info", {}).get("kind") == "paced"])
    md += section_targets(rows)
    md += section_bounds(rows, figs, caches)
    md += section_machine(env, meta, figs, fig_source)
    md += section_placement(rows)
    md += section_disturbances(rows)
    md += section_kernels(benches, figs)
    args.out.write_text("\n".join(md).rstrip() + "\n")
    print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot and args.plot.exists() else ""))
    for line in summary_line(rows):
        print(line.replace("**", ""))
    for title, _, verdict, met, _, _ in check_targets(rows):
        print(f"  [{'n/a' if met is None else ('met' if met else 'NOT met')}] {title}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

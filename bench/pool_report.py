"""The Markdown tables of a pool benchmark run (test_bench_pool.py), for RESULTS.md.

    python bench/pool_report.py run.json
"""

import json
import sys

NAMES = {"silero": "Silero VAD", "lstm": "LSTM(64->128)+Linear"}
TARGET = 1.5  # the target: a pool tick at least 1.5x faster than onnxruntime's batch


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def tables(data: dict) -> str:
    ticks, other = [], []
    for b in data["benchmarks"]:
        info = b["extra_info"]
        engines = info.get("engines")
        if info.get("kind") == "pool_tick" and engines:
            ours, theirs = engines["lstmrt"]["median"], engines["onnxruntime"]["median"]
            ticks.append((info["model"] != "silero", info["pattern"] != "same", info["threads"], info["streams"],
                          info["model"], info["pattern"], ours, theirs))
        elif info.get("kind") == "carry_overhead" and engines:
            a, f = engines["carried"]["median"], engines["run_fed"]["median"]
            other.append(f"- Carried Silero step, {info['threads']} thread(s): {a * 1e6:.1f} us; run() with the state "
                         f"fed and fetched: {f * 1e6:.1f} us; difference {(f - a) * 1e6:+.1f} us.")
        elif info.get("kind") == "pool_memory":
            for engine, r in info["rows"].items():
                other.append(f"- {engine}: {r['streams']} streams, RSS +{r['bytes'] / 2**20:.1f} MiB, "
                             f"{r['bytes'] / r['streams'] / 1024:.1f} KiB per stream (after opening only: "
                             f"{r['opened_bytes'] / r['streams'] / 1024:.2f} KiB per stream).")
    lines = ["| model | streams ticked | threads | streams | lstmrt | onnxruntime | speedup |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for *_, threads, n, model, pattern, ours, theirs in sorted(ticks):
        ratio = theirs / ours
        mark = "**" if ratio < TARGET else ""
        lines.append(f"| {NAMES[model]} | {pattern} | {threads} | {n} | {fmt(ours)} | {fmt(theirs)} | "
                     f"{mark}{ratio:.2f}x{mark} |")
    return "\n".join(lines + [""] + other)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(tables(json.load(f)))

"""The Markdown table of a real-models benchmark run (test_bench_real_models.py), for RESULTS.md.

    python bench/real_models_report.py run.json
"""

import json
import sys


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def table(data: dict) -> str:
    lines = ["| model | call | threads | lstmrt | onnxruntime | speedup |", "|---|---|---:|---:|---:|---:|"]
    for b in data["benchmarks"]:
        info = b["extra_info"]
        engines = info.get("engines")
        if info.get("kind") != "real_model" or not engines:
            continue
        ours, theirs = engines["lstmrt"]["median"], engines["onnxruntime"]["median"]
        ratio = theirs / ours
        mark = "**" if ratio < 1 else ""
        lines.append(f"| {info['model']} | {info['call']} | {info['threads']} | {fmt(ours)} | {fmt(theirs)} | "
                     f"{mark}{ratio:.2f}x{mark} |")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table(json.load(f)))

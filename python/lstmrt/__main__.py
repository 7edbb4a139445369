"""The lstmrt command line: `python -m lstmrt demo` (more subcommands come with the importer)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lstmrt", description="Low-latency CPU inference for LSTM/GRU/RNN.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build a small LSTM, check it against NumPy and time it")
    demo.add_argument("--seq", type=int, default=100)
    demo.add_argument("--batch", type=int, default=1)
    demo.add_argument("--input-size", type=int, default=64)
    demo.add_argument("--hidden-size", type=int, default=128)
    sub.add_parser("cpu", help="print what the CPU has and which kernel path is used")
    from .cli import MODEL_COMMANDS, add_model_commands, run_command

    add_model_commands(sub)  # info, run, bench
    args = parser.parse_args(argv)

    if args.command in MODEL_COMMANDS:
        return run_command(args)

    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.seq, args.batch, args.input_size, args.hidden_size)
    if args.command == "cpu":
        import json

        from . import cpu_info

        print(json.dumps(cpu_info(), indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

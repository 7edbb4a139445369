"""The lstmrt command line: `python -m lstmrt demo`, and `info`, `run` and `bench` on ONNX models (cli.py)."""

from __future__ import annotations

import argparse
import os
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


def _main_quiet_on_broken_pipe() -> int:
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


if __name__ == "__main__":
    sys.exit(_main_quiet_on_broken_pipe())

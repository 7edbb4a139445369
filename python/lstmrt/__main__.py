"""``python -m lstmrt``: the command line of cli.py."""

import sys

from .cli import main, main_quiet_on_broken_pipe

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main_quiet_on_broken_pipe())

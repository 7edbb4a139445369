"""Text formatting shared by the command line, the demo and the examples."""

from __future__ import annotations

__all__ = ["format_duration"]

_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))


def format_duration(seconds: float) -> str:
    """A duration in the unit that suits its size, with three significant digits.

    ``format_duration(4e-6)`` is ``'4.00 us'`` and ``format_duration(0.1186558)`` is
    ``'119 ms'``: the number shown is always between 1 and 999 (below 1 ns: ns; from 1000 s: s).
    """
    seconds = float(seconds)
    if seconds != seconds:  # NaN
        return "nan"
    magnitude = abs(seconds)
    for scale, unit in _UNITS:
        if magnitude >= scale * 0.9995 or unit == "ns":
            value = seconds / scale
            if abs(value) >= 99.95:
                return f"{value:.0f} {unit}"
            if abs(value) >= 9.995:
                return f"{value:.1f} {unit}"
            return f"{value:.2f} {unit}"
    raise AssertionError("unreachable")

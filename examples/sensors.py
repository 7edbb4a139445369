"""A synthetic multi-sensor stream with injected faults, shared by the example and its training.

Four sensors watch one machine: a temperature that follows a slow daily cycle, a vibration
level tied to a rotating part, a pressure that lags the temperature, and a current that follows
the vibration. Each reading is the sensors' normalised values plus small noise. Faults are the
kinds a monitoring system must catch: a spike on one sensor, a sensor stuck at its last value,
and a sudden offset (a drifting calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

N_SENSORS = 4


def normal_stream(steps: int, seed: int) -> np.ndarray:
    """[steps, 4] float32 readings of a healthy machine."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64) + rng.uniform(0, 1000)
    period_a = 96.0 * rng.uniform(0.9, 1.1)
    period_b = 17.0 * rng.uniform(0.9, 1.1)
    temp = np.sin(2 * np.pi * t / period_a)
    vib = 0.6 * np.sin(2 * np.pi * t / period_b) + 0.3 * np.sin(4 * np.pi * t / period_b + 0.5)
    pressure = 0.8 * np.sin(2 * np.pi * (t - 6) / period_a) + 0.2 * temp
    current = 0.7 * vib + 0.3 * np.cos(2 * np.pi * t / period_b)
    x = np.stack([temp, vib, pressure, current], axis=1)
    x += rng.normal(0.0, 0.03, size=x.shape)
    return x.astype(np.float32)


@dataclass
class Fault:
    kind: str   # "spike", "stuck" or "offset"
    sensor: int
    start: int
    length: int

    def steps(self) -> range:
        return range(self.start, self.start + self.length)


def inject_faults(x: np.ndarray, seed: int, count: int = 6, warmup: int = 200) -> List[Fault]:
    """Injects `count` faults into x in place, spaced apart, after `warmup` steps; returns them."""
    rng = np.random.default_rng(seed)
    faults: List[Fault] = []
    slots = np.linspace(warmup, len(x) - 60, count).astype(int)
    kinds = ["spike", "stuck", "offset"]
    for i, start in enumerate(slots):
        kind = kinds[i % len(kinds)]
        sensor = int(rng.integers(N_SENSORS))
        start = int(start + rng.integers(0, 20))
        if kind == "spike":
            length = 1
            x[start, sensor] += rng.choice([-1, 1]) * rng.uniform(0.8, 1.5)
        elif kind == "stuck":
            length = int(rng.integers(12, 25))
            x[start:start + length, sensor] = x[start - 1, sensor]
        else:
            length = int(rng.integers(15, 30))
            x[start:start + length, sensor] += rng.choice([-1, 1]) * rng.uniform(0.5, 0.8)
        faults.append(Fault(kind, sensor, start, length))
    return faults

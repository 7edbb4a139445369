"""Anomaly detection on a live multi-sensor stream, one reading per call.

An LSTM trained to predict a machine's next sensor reading (examples/train_anomaly_model.py,
exported from PyTorch to examples/models/anomaly_lstm.onnx) watches a synthetic stream with
injected faults: spikes, a sensor stuck at one value, a calibration offset. lstmrt keeps the
LSTM's state between calls (session.stream()), so each new reading costs one timestep. A reading
is flagged when its prediction error is out of line with the errors seen so far.

Run: python examples/streaming_anomaly.py [--steps 1500] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sensors import inject_faults, normal_stream  # noqa: E402

import lstmrt  # noqa: E402
from lstmrt._format import format_duration  # noqa: E402

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "anomaly_lstm.onnx")
WARMUP = 50        # steps before the detector trusts its statistics
THRESHOLD = 6.0    # flag errors this many robust deviations above the running median
RECOVERY = 10      # steps after a fault during which the LSTM's state is still disturbed


class ErrorMonitor:
    """Running median and median absolute deviation of recent prediction errors."""

    def __init__(self, window: int = 300):
        self.window = window
        self.errors: list = []

    def is_anomaly(self, err: float) -> bool:
        recent = np.asarray(self.errors[-self.window:])
        flagged = False
        if len(recent) >= WARMUP:
            med = np.median(recent)
            mad = np.median(np.abs(recent - med)) + 1e-6
            flagged = (err - med) / (1.4826 * mad) > THRESHOLD
        if not flagged:  # anomalies do not pollute the statistics of normal behaviour
            self.errors.append(err)
        return flagged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="the type the model's weights are packed in")
    args = parser.parse_args(argv)

    readings = normal_stream(args.steps, seed=1000 + args.seed)
    faults = inject_faults(readings, seed=args.seed)

    session = lstmrt.InferenceSession(MODEL, precision=args.precision)
    stream = session.stream()
    monitor = ErrorMonitor()
    flagged = []
    latencies = []
    prediction = None
    for t, reading in enumerate(readings):
        if prediction is not None:
            err = float(np.max(np.abs(prediction - reading)))
            if monitor.is_anomaly(err):
                flagged.append(t)
        step = reading.reshape(1, 1, -1)  # [batch 1, one timestep, 4 sensors]
        t0 = time.perf_counter()
        prediction = stream.run(["prediction"], {"readings": step})[0][0, 0]
        latencies.append(time.perf_counter() - t0)

    # A fault is found when a flagged step falls inside it. Flags in the few steps after it ends
    # belong to the same incident: the LSTM's state saw the faulty readings and needs a few
    # steps to recover, so its predictions are still off.
    found, missed = [], []
    inside, aftermath = set(), set()
    for f in faults:
        hits = [t for t in flagged if f.start <= t < f.start + f.length]
        inside.update(hits)
        aftermath.update(t for t in flagged if f.start + f.length <= t < f.start + f.length + RECOVERY)
        (found if hits else missed).append((f, hits))
    false_alarms = [t for t in flagged if t not in inside and t not in aftermath]

    print(f"{args.steps} readings from 4 sensors, {len(faults)} injected faults, one lstmrt stream step per reading "
          f"({args.precision} weights)\n")
    for f, hits in found:
        print(f"  found   {f.kind:6s} on sensor {f.sensor} at steps {f.start}-{f.start + f.length - 1}: "
              f"first flagged at step {hits[0]} ({len(hits)} steps flagged)")
    for f, _ in missed:
        print(f"  MISSED  {f.kind:6s} on sensor {f.sensor} at steps {f.start}-{f.start + f.length - 1}")
    print(f"\n  found {len(found)} of {len(faults)} faults; {len(aftermath)} flags in the {RECOVERY} steps after a "
          f"fault (the state recovering); {len(false_alarms)} false alarms"
          + (f" (steps {false_alarms[:10]}{' ...' if len(false_alarms) > 10 else ''})" if false_alarms else ""))
    lat = np.asarray(latencies)
    print(f"  per-step latency of lstmrt: median {format_duration(np.median(lat))}, "
          f"p99 {format_duration(np.percentile(lat, 99))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A fuzz worker: reads cases from stdin, runs each through lstmrt, writes each outcome to stdout.

Run by harness.py as a child process, so that a crash kills this process and not the harness.
Each message is a 4-byte little-endian length and a pickle. A case is run as a user would: load
the model, run it, and (in stream mode) run it twice through a stream. Any Python exception is a
clean outcome, reported by type; a signal, an abort or a hang is what the harness looks for.
"""

import os
import pickle
import resource
import struct
import sys


def _read(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return pickle.loads(stream.read(n))


def _write(stream, obj):
    data = pickle.dumps(obj)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def _bent_state(state):
    """A stream state with one entry of the wrong shape or dtype, as a careless caller sets it."""
    import numpy as np

    bent = dict(state)
    key = sorted(bent)[0]
    v = bent[key]
    bent[key] = v.astype(np.float64) if v.ndim == 0 or v.shape[-1] % 2 else v[..., : v.shape[-1] // 2]
    return bent


def run_case(case):
    import lstmrt

    sess = lstmrt.InferenceSession(case["model"], threads=case.get("threads", 1))
    sess.run(None, case["feeds"])
    mode = case.get("mode")
    if mode == "stream":
        stream = sess.stream()
        stream.run(None, case["feeds"])
        state = stream.get_state()
        if state:
            try:
                stream.set_state(_bent_state(state))
            except (TypeError, ValueError):
                pass
        stream.run(None, case["feeds"])
    elif mode == "pool":
        pool = sess.stream_pool()
        ids = [pool.open(), pool.open()]
        pool.run(ids[:1], None, case["feeds"])
        pool.close(ids[1])
        pool.run(ids[:1], None, case["feeds"])


def main():
    cap = int(os.environ.get("LSTMRT_FUZZ_ADDRESS_CAP", "0"))
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import numpy  # noqa: F401  (imported before the first case, so that its time is not a case's)
    import onnx  # noqa: F401
    import lstmrt  # noqa: F401

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but messages on the pipe
    _write(stdout, {"ready": True})
    while True:
        case = _read(stdin)
        if case is None:
            return
        try:
            run_case(case)
            result = {"outcome": "ok"}
        except BaseException as e:  # noqa: BLE001 (every exception is an outcome to count)
            result = {"outcome": "error", "type": type(e).__name__, "message": str(e)[:300]}
        result["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _write(stdout, result)


if __name__ == "__main__":
    main()

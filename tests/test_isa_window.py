"""Conv's window packing kernel (KernelTable::pack_window_panel) on every kernel path (ISA) on
this machine, against a NumPy reference, bit for bit.

Every lane range of a 16-lane panel, one and two segments per kernel position, strides 1 and 2
(the masked-load paths) and 3 (lane by lane). The test hook puts the input's end against a guard
page and each segment is placed so that its last float is the input's last, so a read past a
segment's lanes crashes. Paths the CPU cannot run are skipped with the reason.
"""

import numpy as np
import pytest

import lstmrt
from lstmrt._core import testing

ALL_ISAS = ("generic", "avx2", "avx512")
PANEL = 16


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    info = lstmrt.cpu_info()
    if request.param not in info["compiled_isas"]:
        pytest.skip(f"{request.param}: not compiled into this build (compiled: {info['compiled_isas']})")
    if request.param not in info["supported_isas"]:
        pytest.skip(f"{request.param}: this CPU cannot run it (supported here: {info['supported_isas']})")
    return request.param


def _reference(x, segments, step):
    channels, ks = x.shape[0], len(segments) // 2
    out = np.zeros((channels, ks, PANEL), np.float32)
    for k in range(ks):
        for offset, lane0, lane_end in segments[2 * k:2 * k + 2]:
            for j in range(lane0, lane_end):
                out[:, k, j] = x[:, offset + (j - lane0) * step]
    return out


def _check(isa, x, segments, step):
    got = testing.pack_window_panel(isa, x, segments, step)
    want = _reference(x, segments, step)
    # Bit equality: the packing moves floats and must keep -0.0 and NaN payloads as they are.
    bad = got.view(np.uint32) != want.view(np.uint32)
    if np.any(bad):
        c, k, j = np.argwhere(bad)[0]
        raise AssertionError(f"{isa} step {step} segments {segments}: {int(bad.sum())} lanes differ, first at "
                             f"channel {c}, k {k}, lane {j}: got {got[c, k, j]!r}, expected {want[c, k, j]!r}")


def _input(channels, plane, rng):
    x = rng.standard_normal((channels, plane)).astype(np.float32)
    x[:, ::7] = -0.0
    x[:, 3::11] = np.nan
    return x


def _tail_segment(plane, lane0, lane_end, step):
    """A segment whose last float is the plane's last."""
    return (plane - 1 - max(lane_end - lane0 - 1, 0) * step, lane0, lane_end)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_every_lane_range(isa, step):
    rng = np.random.default_rng(21)
    plane = 3 * PANEL * step
    x = _input(1, plane, rng)
    ranges = [(a, b) for a in range(PANEL + 1) for b in range(a, PANEL + 1)]
    for a, b in ranges:
        # One kernel position per range, its second segment empty.
        _check(isa, x, [_tail_segment(plane, a, b, step), (0, 0, 0)], step)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_two_segments_and_channels(isa, step):
    """A panel that wraps to the next output row: two runs, padding lanes between them."""
    rng = np.random.default_rng(22)
    channels, plane = 3, 5 * PANEL * step
    x = _input(channels, plane, rng)
    segments = []
    for split in range(PANEL + 1):
        for gap in (0, 1, 2):
            first = (1, 0, split)
            second = _tail_segment(plane, min(split + gap, PANEL), PANEL, step)
            segments += [first, second]
    _check(isa, x, segments, step)


def test_empty_segments_read_nothing(isa):
    """Padding everywhere: zeros, whatever the offsets say (they point past the input)."""
    x = np.ones((2, 4), np.float32)
    got = testing.pack_window_panel(isa, x, [(1000, 5, 5), (-1000, 9, 3)] * 3, 1)
    assert got.shape == (2, 3, PANEL) and not np.any(got)


@pytest.mark.parametrize("step", [3, 16, 160])
def test_whole_blocks_transposed(isa, step):
    """An STFT as a Conv: 16 frames a hop apart, each reading a run of the waveform. Kernel
    positions in blocks of 16 whose lanes are all whole runs from consecutive offsets go through a
    16 x 16 transpose; a block broken by one padded lane, and the positions past the last whole
    block, lane by lane."""
    rng = np.random.default_rng(23)
    ks = 53
    plane = (PANEL - 1) * step + ks + 1
    x = _input(2, plane, rng)
    start = plane - ((PANEL - 1) * step + ks)  # the last kernel position reads the last float
    segments = []
    for k in range(ks):
        full = (start + k, 0, PANEL)
        segments += [full, (0, 0, 0)] if k != 20 else [(start + k, 0, PANEL - 1), (0, 0, 0)]
    _check(isa, x, segments, step)

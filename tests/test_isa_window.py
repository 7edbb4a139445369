"""Conv's window packing kernel (KernelTable::pack_window_panel) on every kernel path (ISA) on
this machine, against a NumPy reference, bit for bit; and its product over shifted rows
(KernelTable::gemm_shifted) against the packed GEMM, bit for bit, and float64.

Every lane range of a 16-lane panel, one and two segments per kernel position, strides 1 and 2
(the masked-load paths) and 3 (lane by lane). The test hook puts the input's end against a guard
page and each segment is placed so that its last float is the input's last, so a read past a
segment's lanes crashes. Paths the CPU cannot run are skipped with the reason.
"""

import numpy as np
import pytest

from lstmrt._core import testing

PANEL = 16


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


# --- KernelTable::gemm_shifted: the product over rows of an input read in place ---------------

def _shifted_case(rng, M, N, K, spread):
    """A, and an input x with K row offsets into it that end exactly where the kernel may read up
    to (N rounded up to whole panels past the largest offset): the guard page follows."""
    readable = -(-N // PANEL) * PANEL
    offsets = sorted(int(o) for o in rng.integers(0, spread + 1, K))
    offsets[-1] = spread  # the largest offset's readable end is x's end
    x = rng.uniform(-1, 1, spread + readable).astype(np.float32)
    A = rng.uniform(-1, 1, (M, K)).astype(np.float32)
    return A, x, offsets


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 17, 5), (8, 32, 9), (9, 33, 27), (17, 100, 40), (24, 250, 216)])
def test_gemm_shifted_matches_the_packed_gemm_bit_for_bit(isa, M, N, K):
    # The same B gathered into a matrix runs through the packed gemm: every output is summed in
    # the same order, so the bits are equal; both are within float32 rounding of float64.
    rng = np.random.default_rng(M * 1000 + N + K)
    A, x, offsets = _shifted_case(rng, M, N, K, spread=3 * N + 7)
    B = np.stack([x[o:o + N] for o in offsets])  # [K, N]
    got = testing.gemm_shifted(isa, A, x, offsets, N)
    packed = testing.gemm(isa, A, np.ascontiguousarray(B.T))
    np.testing.assert_array_equal(got.view(np.uint32), packed.view(np.uint32))
    # A sum of K float32 products, each rounded at most once more: within (K + 1) u of the sum of
    # their magnitudes (u = 2^-24), the accumulated C counting as one more term.
    want = A.astype(np.float64) @ B.astype(np.float64)
    magnitude = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    assert np.all(np.abs(got - want) <= (K + 1) * 2.0 ** -24 * magnitude)
    C = rng.uniform(-1, 1, (M, N)).astype(np.float32)
    accumulated = testing.gemm_shifted(isa, A, x, offsets, N, C)
    assert np.all(np.abs(accumulated - (want + C)) <= (K + 2) * 2.0 ** -24 * (magnitude + np.abs(C)))


def test_gemm_shifted_refuses_offsets_past_its_input():
    A = np.ones((2, 3), np.float32)
    x = np.ones(40, np.float32)
    with pytest.raises(ValueError, match="rounded up to whole panels"):
        testing.gemm_shifted("generic", A, x, [0, 1, 9], 17)  # 9 + 32 > 40

"""The benchmark report's floor model (bench/report.py): the shortest time the machine allows a
row, against which the report judges whether a missed target could be met at all. Checked here
against figures worked out by hand, so that the verdicts in bench/RESULTS.md rest on arithmetic
that a test holds still."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import report  # noqa: E402

# Round figures: 100 GFLOP/s and 100 GB/s (L2), 80 (L3), 20 (DRAM) per thread; two threads
# measure 190 GFLOP/s and, for L2, 150 GB/s (under twice the 1-thread figure: the team's start).
FIGS = {
    ("avx512", 1): {"peak_gflops": 100.0, "L2_gbps": 100.0, "L3_gbps": 80.0, "DRAM_gbps": 20.0},
    ("avx512", 2): {"peak_gflops": 190.0, "L2_gbps": 150.0, "L3_gbps": 160.0, "DRAM_gbps": 30.0},
}
CACHES = {"L2": 1 << 20, "L3": 32 << 20}


def _row(kind="rnn", cell="lstm", hidden=256, seq=100, batch=1, threads=2, layers=1, dirs=1):
    return report.Row({"name": "x", "extra_info": {
        "kind": kind, "cell": cell, "hidden": hidden, "input": hidden, "seq": seq, "batch": batch,
        "threads": threads, "isa": "avx512", "num_directions": dirs, "layers": layers, "engines": {}}})


def test_sequence_at_batch_1_is_the_input_gemm_at_peak_plus_each_step_streaming_R():
    # LSTM H=256: W and R are 1 MiB each. The input GEMM (52.4 MFLOP) at 190 GFLOP/s; 99 steps
    # with a state (step 0 has none), each streaming R from the two cores' L2 at 2 x 100 GB/s.
    w = r = 4.0 * 4 * 256 * 256
    want = 2.0 * 4 * 256 * 256 * 100 / 190e9 + 99 * (r / 200e9)
    assert report.floor_seconds(_row(), FIGS, CACHES) == pytest.approx(want)
    assert w / 200e9 < 2.0 * 4 * 256 * 256 * 100 / 190e9  # (the GEMM is bound by FLOPs, not W)


def test_one_thread_and_weights_past_l2_use_the_shared_levels():
    # LSTM H=512, 1 thread: R is 4 MiB, past one core's L2 -> L3 at 80 GB/s.
    r = 4.0 * 4 * 512 * 512
    want = 2.0 * 4 * 512 * 512 * 100 / 100e9 + 99 * (r / 80e9)
    assert report.floor_seconds(_row(hidden=512, threads=1), FIGS, CACHES) == pytest.approx(want)


def test_single_step_streams_w_and_r_together_and_the_matrix_rows_have_no_state():
    # The seq-1 matrix rows pass no initial state: W only (1 MiB, L2 of two cores).
    assert report.floor_seconds(_row(seq=1), FIGS, CACHES) == pytest.approx(4.0 * 4 * 256 * 256 / 200e9)
    # A stream step carries a state: W + R = 2 MiB, as much as the two L2s hold: still L2 (the
    # floor takes the fastest level that could hold the bytes).
    assert report.floor_seconds(_row(kind="stream", seq=1), FIGS, CACHES) == pytest.approx(
        2 * 4.0 * 4 * 256 * 256 / 200e9)
    # Past both L2s (LSTM H=512: 8 MiB) -> L3; past L3 (H=1536: 72 MiB) -> DRAM.
    assert report.floor_seconds(_row(kind="stream", seq=1, hidden=512), FIGS, CACHES) == pytest.approx(
        2 * 4.0 * 4 * 512 * 512 / 160e9)
    assert report.floor_seconds(_row(kind="stream", seq=1, hidden=1536), FIGS, CACHES) == pytest.approx(
        2 * 4.0 * 4 * 1536 * 1536 / 30e9)


def test_batch_32_steps_are_bound_by_flops():
    step_flops = 2.0 * 3 * 128 * 128 * 32
    want = 2.0 * 3 * 128 * 128 * 100 * 32 / 190e9 + 99 * step_flops / 190e9
    assert report.floor_seconds(_row(cell="gru", hidden=128, batch=32), FIGS, CACHES) == pytest.approx(want)


def test_two_layer_bidirectional_model_adds_its_layers():
    # Layer 1 reads H inputs, layer 2 the 2H outputs of both directions.
    H, D = 256, 2
    # No state at seq 1: W alone, 2 MiB (layer 1: the two L2s, 200 GB/s) and 4 MiB (layer 2: L3,
    # 160 GB/s); the FLOPs (1 and 2 MFLOP) take less time.
    want = 4.0 * 4 * H * H * D / 200e9 + 4.0 * 4 * H * 2 * H * D / 160e9
    assert report.floor_seconds(_row(kind="bidir", seq=1, layers=2, dirs=D), FIGS, CACHES) == pytest.approx(want)


def test_rows_without_a_model_or_figures_get_no_floor():
    assert report.floor_seconds(_row(kind="fixture"), FIGS, CACHES) is None
    assert report.floor_seconds(_row(), {}, CACHES) is None


# ----------------------------------------------------------------------------------------------
# Where the host ran the two CPUs: each round's probe, and the speedup per placement
# ----------------------------------------------------------------------------------------------

def _timed_row(threads, probes, mine, theirs):
    return report.Row({"name": "x", "extra_info": {
        "kind": "rnn", "cell": "lstm", "hidden": 64, "seq": 100, "batch": 1, "threads": threads, "isa": "avx512",
        "timing": {"core_to_core_ns": probes},
        "engines": {"lstmrt": {"median": sorted(mine)[len(mine) // 2], "iqr": 0.0, "samples": mine},
                    "onnxruntime": {"median": sorted(theirs)[len(theirs) // 2], "iqr": 0.0, "samples": theirs}}}})


def test_placement_classes_follow_the_probe_clusters():
    assert [report.placement_class(ns) for ns in (22.0, 34.9, 35.0, 58.0, 119.0, 120.0, 245.0)] == \
        ["one core", "one core", "near", "near", "near", "far", "far"]


def test_speedup_by_placement_pairs_each_round_with_its_own_probe():
    # Rounds 1, 2 and 4 ran near (lstmrt 1.0 against ORT 2.0, 1.8, 2.2), round 3 far (ORT 1.0
    # against lstmrt 2.0); a round without a probe (None) is left out.
    r = _timed_row(2, [50.0, 60.0, 245.0, 55.0, None], [1.0, 1.0, 2.0, 1.0, 1.0], [2.0, 1.8, 1.0, 2.2, 9.0])
    assert r.speedup_by_placement("onnxruntime") == {"near": (3, pytest.approx(2.0)), "far": (1, pytest.approx(0.5))}
    # The run's distribution counts every row's rounds, 1-thread rows too.
    lines = report.section_placement([r, _timed_row(1, [245.0], [1.0], [3.0])])
    text = "\n".join(lines)
    assert "**near** (two cores of one core complex) in 3 rounds, median 55 ns" in text
    assert "**far** (two core complexes) in 2 rounds, median 245 ns" in text
    assert "one core**" not in text
    body = [ln for ln in lines if ln.startswith("| lstm")]
    assert body == ["| lstm h64 s100 b1 t2 | – | 2.00× (3) | 0.50× (1) | 2.00× |"]  # the 1-thread row is not listed


def test_no_probe_no_placement_section():
    assert report.section_placement([_timed_row(2, [], [1.0], [2.0])]) == []


# ----------------------------------------------------------------------------------------------
# What lstmrt's rounds met: the counters read around each block
# ----------------------------------------------------------------------------------------------

def _counted_row(threads, samples, counters, inner=10):
    r = _timed_row(threads, [], samples, samples)
    r.engines["lstmrt"].update(inner=inner, counters=counters)
    return r


def test_queued_rounds_are_those_whose_threads_waited_for_a_cpu():
    # Blocks of 10 calls: 1 ms each at 100 us a call. Round 2 waited 0.3 ms (30%) on a run queue
    # and its worker moved; round 3 waited 40 us (4%: under the 5% mark); round 4 met a busy peer.
    c = [{"runqueue_wait_ns": 0, "cpu_moves": 0},
         {"runqueue_wait_ns": 600_000, "cpu_moves": 1, "members_taken_back": 1},
         {"runqueue_wait_ns": 40_000},
         {"foreign_cpu_ns": 500_000, "steal_ticks": 2}]
    r = _counted_row(2, [100e-6, 200e-6, 100e-6, 100e-6], c)
    d = report.round_disturbances(r)
    assert [round(x["queued"], 3) for x in d] == [0.0, 0.3, 0.04, 0.0]
    lines = report.section_disturbances([r])
    body = [ln for ln in lines if ln.startswith("| 2 ")]
    # 4 rounds, 1 queued, running at 2x the row's median (100 us), 1 move, 1 taken back, 1 busy peer, 1 steal
    assert body == ["| 2 | 4 | 1 | 2.00× | 1 | 1 | 1 | 1 |"]


def test_no_counters_no_disturbance_section():
    assert report.section_disturbances([_timed_row(2, [], [1.0], [2.0])]) == []

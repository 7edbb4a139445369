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


# With the kernel benchmarks' matrix-vector curve, the call cost and the row's placement probes.
CURVE_FIGS = {
    ("avx512", 1): dict(FIGS[("avx512", 1)], call_us=0.5,
                        gemv_curve=[(256 << 10, 110.0), (512 << 10, 105.0), (1 << 20, 90.0), (4 << 20, 70.0)]),
    ("avx512", 2): dict(FIGS[("avx512", 2)],
                        gemv_curve=[(256 << 10, 100.0), (512 << 10, 150.0), (1 << 20, 180.0), (4 << 20, 120.0)]),
}


def _probed_row(probes, **kw):
    row = _row(**kw)
    row.info["timing"] = {"core_to_core_ns": probes}
    return row


def test_curve_gives_the_bandwidth_at_the_weights_own_size():
    f1, f2 = CURVE_FIGS[("avx512", 1)], CURVE_FIGS[("avx512", 2)]
    # 1 MiB on one thread: the 1 MiB point (90), not the 110 of smaller sizes.
    assert report.curve_bandwidth(f1, f1, 1 << 20, 1) == pytest.approx(90e9)
    # 600 KiB: the best point at that size or larger (the 1 MiB point, 90).
    assert report.curve_bandwidth(f1, f1, 600 << 10, 1) == pytest.approx(90e9)
    # Two threads, 1 MiB: each share (512 KiB) in its own L2 at 105 -> 210, above the measured 180.
    assert report.curve_bandwidth(f1, f2, 1 << 20, 2) == pytest.approx(210e9)
    # Two threads, 4 MiB: shares past L2, the measured 2-thread figure.
    assert report.curve_bandwidth(f1, f2, 4 << 20, 2) == pytest.approx(120e9)
    # Past twice the L2 per thread the level figures take over (None here).
    assert report.curve_bandwidth(f1, f1, 4 << 20, 1) is None
    assert report.curve_bandwidth({}, {}, 1 << 20, 1) is None


def test_curve_takes_over_again_past_half_the_l3():
    f1 = CURVE_FIGS[("avx512", 1)]
    # An 8 MiB L3: 4 MiB is half of it, where the level figures still apply ...
    assert report.curve_bandwidth(f1, f1, 4 << 20, 1, l3_bytes=8 << 20) is None
    # ... and past half (here 3 MiB of a 4 MiB L3) the curve read from the point below the size
    # (1 MiB: 90), for the L3 share that another moment may leave free.
    assert report.curve_bandwidth(f1, f1, 3 << 20, 1, l3_bytes=4 << 20) == pytest.approx(90e9)
    # 4 MiB of a 6 MiB L3: from the 1 MiB point as well (no point between 1 and 4 MiB).
    assert report.curve_bandwidth(f1, f1, 4 << 20, 1, l3_bytes=6 << 20) == pytest.approx(90e9)


def test_stream_step_floor_streams_w_and_r_together_past_half_the_l3():
    # LSTM H=1024 stream step, 1 thread: W and R are 32 MiB together, past half the 32 MiB L3,
    # so they stream at the curve's figure (from its 4 MiB point, the largest below: 70 GB/s)
    # and not at the L3 level figure (80 GB/s in FIGS).
    H = 1024
    row = _row(kind="stream", hidden=H, seq=1, threads=1)
    want = 2 * 4.0 * 4 * H * H / 70e9 + 0.5e-6
    assert report.floor_seconds(row, CURVE_FIGS, dict(CACHES, L3=32 << 20)) == pytest.approx(want)


def test_floor_adds_the_call_and_reads_the_curve():
    # LSTM H=256, seq 1, 1 thread, no state: W (1 MiB) at the curve's 90 GB/s, plus the 0.5 us call.
    want = 4.0 * 4 * 256 * 256 / 90e9 + 0.5e-6
    assert report.floor_seconds(_row(seq=1, threads=1), CURVE_FIGS, CACHES) == pytest.approx(want)


def test_two_threads_at_batch_1_pay_a_transfer_per_step_and_two_per_call():
    # LSTM H=64, 100 steps, 2 threads: the GEMM at 190 GFLOP/s; R (64 KiB) per step at 2 x 110
    # (each 32 KiB share at the 256 KiB point); 99 transfers for the steps and 2 for the call, at
    # the smallest probe (60 ns); the call.
    H = 64
    gemm = 2.0 * 4 * H * H * 100 / 190e9
    want = gemm + 99 * (4.0 * 4 * H * H / 220e9) + 101 * 60e-9 + 0.5e-6
    row = _probed_row([250.0, 60.0, 65.0], hidden=H)
    assert report.floor_seconds(row, CURVE_FIGS, CACHES) == pytest.approx(want)
    # Batch 32 splits rows, with no exchange: no transfers.
    row32 = _probed_row([60.0], hidden=H, batch=32)
    assert report.floor_seconds(row32, CURVE_FIGS, CACHES) == pytest.approx(
        report.floor_seconds(_row(hidden=H, batch=32), CURVE_FIGS, CACHES))


def test_two_thread_floor_is_never_above_the_one_thread_floor():
    # H=16: tiny steps, where 99 transfers of 250 ns cost more than one thread doing everything.
    row = _probed_row([250.0], hidden=16)
    one = report.floor_seconds(_row(hidden=16, threads=1), CURVE_FIGS, CACHES)
    assert report.floor_seconds(row, CURVE_FIGS, CACHES) == pytest.approx(one)


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


def test_round_trip_binding_returns_a_one_step_lstm_calls_outputs():
    """The floor's call cost is measured on testing.round_trip: it must do what a one-step call
    does at the boundary (borrow X, return Y, Y_h, Y_c as new arrays) and refuse what a layer
    refuses."""
    import numpy as np
    from lstmrt._core import testing

    y, yh, yc = testing.round_trip(np.zeros((1, 1, 24), np.float32))
    assert (y.shape, yh.shape, yc.shape) == ((1, 1, 1, 24), (1, 1, 24), (1, 1, 24))
    assert all(a.dtype == np.float32 for a in (y, yh, yc))
    with pytest.raises(TypeError, match="X: expected dtype float32"):
        testing.round_trip(np.zeros((1, 1, 24)))
    with pytest.raises(ValueError, match="rank 3"):
        testing.round_trip(np.zeros((1, 24), np.float32))


def test_paced_rows_get_a_section_of_their_own_and_stay_out_of_the_targets():
    def paced(cell, H, gap_ms, threads, mine, theirs):
        return {"name": "x", "extra_info": {
            "kind": "paced", "cell": cell, "hidden": H, "seq": 1, "batch": 1, "threads": threads,
            "gap_ms": gap_ms, "engines": {"lstmrt": {"median": mine, "iqr": 0.0},
                                          "onnxruntime": {"median": theirs, "iqr": 0.0}}}}
    benches = [paced("lstm", 128, 10.0, 2, 100e-6, 250e-6), paced("gru", 512, 1.0, 1, 50e-6, 40e-6)]
    lines = report.section_paced([report.Row(b) for b in benches])
    rows = [line for line in lines if line.startswith("| GRU") or line.startswith("| LSTM")]
    assert rows[0].startswith("| GRU | 512 | 1 ms | 1 |") and "**0.80×**" in rows[0]
    assert rows[1].startswith("| LSTM | 128 | 10 ms | 2 |") and "2.50×" in rows[1]
    # The targets read the matrix's kinds only: a slower paced row misses none of them.
    verdicts = [verdict for _, _, verdict, *_ in report.check_targets([report.Row(b) for b in benches])]
    assert verdicts and all(v == "no rows in this run" for v in verdicts), verdicts
    assert report.section_paced([]) == []


# The gate math per 16 cells of one row, as test_machine measures it (testing.time_gates).
GATE_FIGS = {k: dict(v, gate_ns_per_16={"LSTM": 30.0, "GRU": 20.0}) if k[1] == 1 else v for k, v in FIGS.items()}


def test_floor_with_gates_adds_each_steps_gate_math_split_over_the_threads():
    # LSTM H=256 batch 1, 2 threads: 16 chunks of 16 cells per step, 8 per thread, 100 steps.
    base = report.floor_seconds(_row(), GATE_FIGS, CACHES)
    assert report.floor_seconds(_row(), GATE_FIGS, CACHES, gates=True) == pytest.approx(base + 100 * 8 * 30e-9)
    # GRU H=100 batch 32, 1 thread: 7 chunks per row (the last one partial), 32 rows.
    row = _row(cell="gru", hidden=100, batch=32, threads=1)
    assert report.floor_seconds(row, GATE_FIGS, CACHES, gates=True) == pytest.approx(
        report.floor_seconds(row, GATE_FIGS, CACHES) + 100 * 32 * 7 * 20e-9)
    # Two layers of both directions: each direction's chunks on its own thread.
    bidir = _row(kind="bidir", seq=1, layers=2, dirs=2)
    assert report.floor_seconds(bidir, GATE_FIGS, CACHES, gates=True) == pytest.approx(
        report.floor_seconds(bidir, GATE_FIGS, CACHES) + 2 * 16 * 30e-9)


def test_floor_with_gates_needs_the_measured_rate():
    assert report.floor_seconds(_row(), FIGS, CACHES) is not None
    assert report.floor_seconds(_row(), FIGS, CACHES, gates=True) is None


def test_time_gates_binding_times_each_cell_on_each_path_and_names_a_bad_argument():
    """The floor's gate rate comes from testing.time_gates: it runs the gate kernels of the path
    named (every path this CPU can run), for both cells, and refuses what it cannot time."""
    import lstmrt
    from lstmrt._core import testing

    for isa in lstmrt.cpu_info()["supported_isas"]:
        for cell in ("LSTM", "GRU"):
            s = testing.time_gates(isa, cell, 37, 3)
            assert 0.0 < s < 0.01, (isa, cell, s)
    with pytest.raises(ValueError, match="cell must be 'LSTM' or 'GRU', got 'RNN'"):
        testing.time_gates("generic", "RNN", 16)
    with pytest.raises(ValueError, match="hidden and reps must be positive"):
        testing.time_gates("generic", "LSTM", 0)


def _timed(kind, threads, mine, ort, torch=None, **info):
    engines = {"lstmrt": {"median": mine, "iqr": 0.0}, "onnxruntime": {"median": ort, "iqr": 0.0}}
    if torch:
        engines["pytorch"] = {"median": torch, "iqr": 0.0}
    return {"name": f"{kind}-{info}", "extra_info": dict(kind=kind, threads=threads, isa="avx512", engines=engines,
                                                         **info)}


def test_report_opens_with_machine_versions_date_and_one_headline_table(tmp_path):
    import json

    env = {"cpu_model": "Test CPU", "cpus": 2, "hypervisor": "KVM", "caches": {"L2": 1 << 20},
           "cpu_info": {"isa": "avx512", "supported_isas": ["generic", "avx512"], "brand": "Test CPU"},
           "versions": {"lstmrt": "0.1.0", "onnxruntime": "1.31.1", "torch": "2.13.0", "numpy": "2.4.6",
                        "onnx": "1.23.2", "python": "3.11.7"}}
    benches = [_timed("stream", 2, 5e-6, 25e-6, 150e-6, cell="lstm", hidden=128, seq=1, batch=1, env=env),
               _timed("rnn", 2, 300e-6, 450e-6, 600e-6, cell="lstm", hidden=128, seq=100, batch=1, input=128),
               _timed("rnn", 1, 2e-6, 14e-6, 130e-6, cell="lstm", hidden=64, seq=1, batch=1, input=64)]
    src = tmp_path / "run.json"
    src.write_text(json.dumps({"benchmarks": benches, "datetime": "2026-11-22T08:21:00", "version": "5.2.3"}))
    out = tmp_path / "RESULTS.md"
    assert report.main([str(src), "--out", str(out), "--plot", str(tmp_path / "speedup.png"), "--no-measure",
                        "--no-save"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "# lstmrt benchmark results"
    head = "\n".join(lines[:8])
    assert "Test CPU" in head and "onnxruntime 1.31.1" in head and "2026-11-22" in head
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[0] == "## Headline"
    first_table = next(k for k, line in enumerate(lines) if line.startswith("|"))
    assert lines.index("## Headline") < first_table
    assert lines[first_table].startswith("| job |")
    table_rows = [line for line in lines[first_table + 2:] if line.startswith("|")][:2]
    assert table_rows[0].startswith("| LSTM stream step, hidden 128") and "5.00×" in table_rows[0]
    assert table_rows[1].startswith("| LSTM hidden 128, 100 steps, batch 1") and "1.50×" in table_rows[1]
    # The per-row tables, targets and machine peaks follow under their own headings.
    for heading in ("## LSTM (one layer, input = hidden, forward)", "## Targets", "## Machine peaks"):
        assert heading in headings, headings


def test_run_json_is_kept_under_bench_runs(tmp_path):
    src = tmp_path / "run.json"
    src.write_text("{}")
    runs = tmp_path / "runs"
    [saved] = report.save_runs([src], {"datetime": "2026-11-22T08:21:00.8"}, runs)
    assert saved == runs / "2026-11-22T0821-run.json" and saved.read_text() == "{}"
    assert report.save_runs([saved], {}, runs) == [saved]  # already there: cited as it is


def test_plot_title_names_machine_date_and_headline(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    titles = []
    import matplotlib.figure

    real = matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle",
                        lambda self, t, **kw: (titles.append(t), real(self, t, **kw))[1])
    rows = [report.Row(_timed("stream", 2, 5e-6, 25e-6, 150e-6, cell="lstm", hidden=128, seq=1, batch=1))]
    assert report.plot(rows, tmp_path / "p.png", "Test CPU, 2 vCPUs", "2026-11-22")
    assert "Test CPU, 2 vCPUs" in titles[0] and "2026-11-22" in titles[0] and "5.00× onnxruntime" in titles[0]

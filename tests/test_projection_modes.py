"""The two ways a layer computes X·Wᵀ agree with the reference, and each case runs the plan it
is here for.

A call projects X·Wᵀ either step by step (each step its own timestep, into a buffer that stays in
cache) or for every step up front; which, and how the threads split the work, is the layer's
plan (``layer.plan(seq, batch, threads, has_lens, has_initial_h)``, cpp/src/rnn/call_plan.cc).
Every case below asserts the plan it wants, on a machine tuned for a 1 MiB L2 (the thresholds in
cpp/src/cpu/tuning.h, which ``lstmrt._core.tuning()`` shows), and then checks both thread counts
against the reference and 1 vs 2 threads for equal bits.

The small layer (hidden 72, input 40, 16 steps) lands on both sides of every projection rule:

* batch 7: up front, 1 and 2 threads (units split: 3 rows a thread would be too few to split);
* batch 8: per step with 1 thread; with 2 threads the rows split 4 + 4, so up front;
* batch 16: per step with 1 and 2 threads (8 rows each when rows split);
* bidirectional with 2 threads runs one direction per thread, all rows each;
* ragged sequences read in reverse always project up front.

The mid-sized recurrent weights (512 KiB to 1 MiB: LSTM hidden 192, GRU 224, RNN 448) split rows
only from 16 rows per thread on: with 2 threads, batch 31 splits units and batch 32 rows.
"""

import itertools

import numpy as np
import pytest

import configs
import reference
from checks import assert_outputs_close

import lstmrt

CASES = [
    configs.Case(f"{cell}-{direction}-layout{layout}-{lens}-b{batch}", cell, direction=direction,
                 layout=layout, seq=16, batch=batch, input_size=40, hidden=72, lens=lens,
                 seed=1000 + i)
    for i, (cell, direction, layout, lens, batch) in enumerate(itertools.product(
        configs.CELLS, configs.DIRECTIONS, (0, 1), ("none", "ragged_nonzero"), (7, 8, 16)))
]

# Past 512 KiB of R, whole recurrent weights are shared only with 16+ rows per thread.
MID_R_HIDDEN = {"lstm": 192, "gru": 224, "rnn": 448}
CASES += [
    configs.Case(f"{cell}-{direction}-layout{layout}-b{batch}-midR", cell, direction=direction,
                 layout=layout, seq=3, batch=batch, input_size=24, hidden=MID_R_HIDDEN[cell],
                 lens="ragged_nonzero", seed=2000 + i)
    for i, (cell, direction, layout, batch) in enumerate(itertools.product(
        configs.CELLS, ("forward", "reverse"), (0, 1), (31, 32)))
]


MIB = 1 << 20
MID_R_BATCHES = (31, 32)


def _wanted_plan(case, threads):
    """The plan this case is here for: split, team size, parallel directions, projections."""
    if case.batch in MID_R_BATCHES:
        split = "rows" if threads == 2 and case.batch == 32 else "units"
        team, parallel, per_step = threads, False, True
    elif threads == 1:
        split, team, parallel, per_step = "units", 1, False, case.batch >= 8
    elif case.direction == "bidirectional":
        split, team, parallel, per_step = "units", 1, True, case.batch >= 8
    else:
        split = "units" if case.batch == 7 else "rows"
        team, parallel, per_step = 2, False, case.batch == 16
    projection = []
    for d in range(case.num_directions):
        reverse = case.direction == "reverse" or d == 1
        ragged_reverse = reverse and case.lens != "none"
        projection.append("per_step" if per_step and not ragged_reverse else "up_front")
    return {"split": split, "team_size": team, "parallel_directions": parallel, "projection": projection,
            "threads": threads}


def _assert_plan(layer, case, threads, state):
    wanted = _wanted_plan(case, threads)
    args = dict(seq=case.seq, batch=case.batch, threads=threads,
                has_lens=state.get("sequence_lens") is not None,
                has_initial_h=state.get("initial_h") is not None)
    plans = {"1 MiB L2": layer.plan(**args, l2_bytes=MIB)}
    if lstmrt._core.tuning()["tuned_l2_bytes"] == MIB:  # this machine's own plan is the same
        plans["this machine"] = layer.plan(**args)
    for where, plan in plans.items():
        got = {k: plan[k] for k in wanted}
        assert got == wanted, f"{case.describe()}, threads={threads}, {where}: plan {plan}"


def test_plan_is_exposed_and_pure():
    case = CASES[0]
    inputs = case.inputs(case.seed)
    layer = lstmrt.ops.LSTM(inputs["W"], inputs["R"], threads=2)
    first = layer.plan(16, 8, threads=2)
    assert first == layer.plan(16, 8, threads=2)
    assert set(first) == {"threads", "wake_workers", "whole_copy", "partitions", "parallel_directions",
                          "split", "team_size", "projection"}
    # A tiny call stays on one thread, and then runs the layer's whole (unsplit) copy.
    tiny = layer.plan(1, 1, threads=2)
    assert tiny["threads"] == 1 and tiny["whole_copy"] and tiny["partitions"] == 1
    tuning = lstmrt._core.tuning()
    assert tuning["l2_bytes"] == (lstmrt._core.cpu_info()["l2_bytes_per_core"] or MIB)
    assert tuning["max_shared_recurrent_bytes"] == tuning["tuned_l2_bytes"] / 2


@pytest.mark.parametrize("case", CASES, ids=configs.case_id)
def test_both_projections_match_reference(case):
    seed, expected = configs.materialize(case)
    inputs = case.inputs(seed)
    atol, rtol = configs.tolerance(case)
    layer_class = {"lstm": lstmrt.ops.LSTM, "gru": lstmrt.ops.GRU, "rnn": lstmrt.ops.RNN}[case.cell]
    weights = [inputs[n] for n in ("W", "R", "B")] + ([inputs["P"]] if case.cell == "lstm" else [])
    state = {n: inputs[n] for n in ("sequence_lens", "initial_h", "initial_c") if n in inputs}
    if case.cell != "lstm":
        state.pop("initial_c", None)
    results = {}
    for threads in (1, 2):
        layer = layer_class(*weights, **case.attributes(), threads=threads)
        _assert_plan(layer, case, threads, state)
        got = layer(inputs["X"], **state)
        assert_outputs_close(got, expected, atol=atol, rtol=rtol, names=case.output_names,
                             context=f"{case.describe()}, threads={threads}")
        results[threads] = got
    # Threads split units or rows, never a dot product: the results are the same bits.
    for name, one, two in zip(case.output_names, results[1], results[2]):
        np.testing.assert_array_equal(one, two, err_msg=f"{name}: threads=1 vs threads=2")


@pytest.mark.parametrize("precision,hidden,split", [("int8", 512, "units"), ("int8", 256, "rows"),
                                                     ("bf16", 512, "units"), ("fp32", 256, "rows")])
def test_low_precision_counts_input_weights_when_splitting_rows(precision, hidden, split):
    # Batch 32 on 2 threads, input = hidden: int8 H512 streams 1 MiB of R and 1 MiB of W every
    # step, more than the 1 MiB a thread may share, so the units split; H256's 512 KiB fit.
    # float32 counts R alone (H256: 1 MiB, shared with 16 rows per thread).
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((1, 4 * hidden, hidden)) * 0.05).astype(np.float32)
    layer = lstmrt.ops.LSTM(W, W.copy(), threads=2, precision=precision)
    plan = layer.plan(100, 32, threads=2, l2_bytes=MIB)
    assert plan["threads"] == 2 and plan["split"] == split, plan


@pytest.mark.parametrize("hidden,batch,l2,in_turn", [
    (512, 1, 2 * MIB, True),    # 4 MiB of R per direction: 2 MiB per thread fits a 2 MiB L2
    (512, 1, MIB, False),       # ... but not a 1 MiB one: both directions at once
    (256, 1, 2 * MIB, False),   # 1 MiB per direction fits one core: at once, no meeting per step
    (512, 8, 2 * MIB, False),   # 4 rows per thread: rows split, each direction on its own thread
    (1024, 1, 2 * MIB, False),  # 8 MiB per direction: the shares stream from memory either way
])
def test_bidirectional_runs_directions_in_turn_when_their_shares_fit_l2(hidden, batch, l2, in_turn):
    w = reference.random_weights(np.random.default_rng(0), "lstm", hidden, 8, directions=2)
    layer = lstmrt.ops.LSTM(w["W"], w["R"], direction="bidirectional", threads=2)
    plan = layer.plan(20, batch, threads=2, l2_bytes=l2)
    assert plan["threads"] == 2 and plan["parallel_directions"] == (not in_turn), plan
    if in_turn:
        assert plan["split"] == "units" and plan["team_size"] == 2, plan


def test_directions_in_turn_match_the_reference_and_one_thread():
    # Hidden 384: 2.25 MiB of R per direction, 1.1 MiB per thread, so with an L2 of 1.2 to
    # 2.25 MiB (this machine's, when it has one) the directions run in turn on 2 threads.
    rng = np.random.default_rng(3)
    w = reference.random_weights(rng, "lstm", 384, 16, directions=2, scale=None)
    X = rng.standard_normal((6, 1, 16)).astype(np.float32)
    expected = reference.lstm(X, w["W"], w["R"], w["B"], direction="bidirectional")
    got = {t: lstmrt.ops.LSTM(w["W"], w["R"], w["B"], direction="bidirectional", threads=t)(X) for t in (1, 2)}
    assert_outputs_close(got[2], expected, atol=1e-5, rtol=1e-4, names=("Y", "Y_h", "Y_c"))
    for one, two in zip(got[1], got[2]):
        np.testing.assert_array_equal(one, two)

"""The two ways a layer computes X·Wᵀ agree with the reference.

With at least 8 batch rows per thread (kMinRowsForStepProjection in
cpp/src/rnn/rnn_layer.cc) and input weights that fit in L2 (these do), each
step projects its own timestep into a small buffer; with fewer rows, one
GEMM projects every step up front; ragged
sequences read in reverse always use the up-front projection (their rows sit
at different timesteps in the same step). The batch sizes and thread counts
below land on both sides of the threshold in every mode of thread split:

* batch 7: up front, 1 and 2 threads;
* batch 8: per step with 1 thread; with 2 threads the rows split 4 + 4
  (a forward LSTM's recurrent weights are small), so up front;
* batch 16: per step with 1 and 2 threads (8 rows each when rows split);
* bidirectional with 2 threads runs one direction per thread, all rows each.

The layer is big enough (hidden 72, input 40, 16 steps) for the second
thread to be used: at least 40 kFLOP per step and 90 kFLOP per call.

Recurrent weights between 512 KiB and 1 MiB (LSTM hidden 192, GRU hidden 224,
RNN hidden 448) split rows only from 16 rows per thread on
(kMinRowsPerThreadToShareMore): with 2 threads, batch 31 splits units and
batch 32 splits rows, 16 + 16, each thread then reading all of R.
"""

import itertools

import numpy as np
import pytest

import configs
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
        got = layer(inputs["X"], **state)
        assert_outputs_close(got, expected, atol=atol, rtol=rtol, names=case.output_names,
                             context=f"{case.describe()}, threads={threads}")
        results[threads] = got
    # Threads split units or rows, never a dot product: the results are the same bits.
    for name, one, two in zip(case.output_names, results[1], results[2]):
        np.testing.assert_array_equal(one, two, err_msg=f"{name}: threads=1 vs threads=2")

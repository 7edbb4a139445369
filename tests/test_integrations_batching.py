"""lstmrt.integrations.batching: ragged sequences bucketed into batches give each sequence's
output alone (no cluster here; the Ray and Dask tests run the same runner on real clusters).

Padding is only exact when it cannot reach a valid output: with the model's own lengths input
(packed bidirectional LSTM), or at the end of a forward model's per-step output (char LM). The
sentiment classifier reads the state after the last step, so padding changes its output: the
runner refuses to pad it and groups equal lengths instead.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import lstmrt
from checks import assert_close
from integration_refs import CHAR_LM, PACKED_BILSTM, SENTIMENT, Reference, token_sequences
from lstmrt.integrations import RowError, SequenceRunner, plan_buckets
from lstmrt.integrations.batching import PAD_RATIO


@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("max_batch", [1, 3, 64])
def test_plan_covers_every_row_once_within_the_limits(pad, max_batch):
    rng = np.random.default_rng(max_batch)
    lengths = [int(v) for v in rng.integers(1, 80, 500)]
    plan = plan_buckets(lengths, max_batch, pad)
    seen = sorted(p for positions, _ in plan for p in positions)
    assert seen == list(range(len(lengths)))
    for positions, padded in plan:
        got = [lengths[p] for p in positions]
        assert 1 <= len(positions) <= max_batch
        assert padded == max(got)
        if pad:
            assert max(got) <= min(got) * PAD_RATIO
        else:
            assert len(set(got)) == 1


def test_plan_refuses_a_zero_batch():
    with pytest.raises(ValueError, match="max_batch"):
        plan_buckets([1, 2], 0, False)


def test_rows_of_a_batch_are_bit_identical_whatever_its_size():
    # What integration_refs relies on: a row's output in a batch of 2..16 is the same bits.
    sess = lstmrt.InferenceSession(CHAR_LM, threads=1)
    x = np.random.default_rng(3).integers(0, 39, (16, 37))
    full = sess.run(["logits"], {"tokens": x})[0]
    for b in (2, 3, 5, 8):
        np.testing.assert_array_equal(sess.run(["logits"], {"tokens": x[:b]})[0], full[:b])


@pytest.mark.parametrize("padding", ["none", "causal"])
def test_char_lm_rows_equal_each_sequence_alone(padding):
    seqs = token_sequences(400, seed=1)
    runner = SequenceRunner(CHAR_LM, padding=padding, threads=1, max_batch=32)
    outs = runner.run_rows(seqs)
    assert runner.padding == padding
    ref = Reference(CHAR_LM, "logits", "tokens")
    for k, (x, y) in enumerate(zip(seqs, outs)):
        assert y.shape == (len(x), 39)
        ref.check(y, x, k)


def test_sentiment_rows_equal_each_sequence_alone():
    seqs = token_sequences(400, seed=2, vocab=30)
    runner = SequenceRunner(SENTIMENT, threads=1)
    assert runner.padding == "none"
    ref = Reference(SENTIMENT, "probs", "tokens")
    for k, (x, y) in enumerate(zip(seqs, runner.run_rows(seqs))):
        ref.check(y, x, k)


def test_padding_would_change_the_sentiment_output_so_causal_is_refused():
    sess = lstmrt.InferenceSession(SENTIMENT, threads=1)
    x = token_sequences(1, seed=4, vocab=30, longest=20)[0]
    alone = sess.run(None, {"tokens": x[None]})[0]
    padded = sess.run(None, {"tokens": np.concatenate([x, np.zeros(5, np.int64)])[None]})[0]
    assert not np.allclose(alone, padded, atol=1e-3)
    runner = SequenceRunner(SENTIMENT, padding="causal")
    with pytest.raises(ValueError, match="no time axis"):
        runner.run_rows([x])


def test_lengths_input_is_found_and_padded_buckets_equal_each_sequence_alone():
    rng = np.random.default_rng(5)
    seqs = [rng.standard_normal((int(L), 4)).astype(np.float32) for L in rng.integers(1, 30, 300)]
    runner = SequenceRunner(PACKED_BILSTM, threads=1)
    outs = runner.run_rows(seqs)
    assert runner.padding == "lengths"
    ref = Reference(PACKED_BILSTM, "y", "x", lengths_input="lengths")
    for k, (x, y) in enumerate(zip(seqs, outs)):
        ref.check(y, x, k)
    with pytest.raises(ValueError, match="backwards"):
        SequenceRunner(PACKED_BILSTM, padding="causal").session


def test_sequence_first_models_take_batch_first_false():
    path = CHAR_LM.replace("torch_char_lm_legacy", "torch_gru_1layer_legacy")
    rng = np.random.default_rng(6)
    seqs = [rng.standard_normal((int(L), 5)).astype(np.float32) for L in rng.integers(1, 20, 60)]
    outs = SequenceRunner(path, batch_first=False, padding="causal", threads=1).run_rows(seqs)
    sess = lstmrt.InferenceSession(path, threads=1)
    for x, y in zip(seqs, outs):
        alone = sess.run(["y"], {"x": x[:, None]})[0][:, 0]
        assert_close(y, alone, atol=1e-4, rtol=1e-4, name="y")


def _bad_rows():
    rng = np.random.default_rng(7)
    rows = [rng.standard_normal((int(L), 4)).astype(np.float32) for L in rng.integers(1, 12, 20)]
    rows[3] = rng.standard_normal((5, 3)).astype(np.float32)   # wrong feature size
    rows[8] = np.zeros((0, 4), np.float32)                     # empty
    rows[12] = rows[12].copy()
    rows[12][-1, 2] = np.nan                                   # NaN
    rows[15] = None                                            # missing
    return rows, {3: "feature size", 8: "empty", 12: "NaN", 15: "missing"}


def test_bad_rows_are_named_by_their_index():
    rows, bad = _bad_rows()
    runner = SequenceRunner(PACKED_BILSTM, threads=1)
    labels = [1000 + k for k in range(len(rows))]
    for k, what in bad.items():
        only = [r for j, r in enumerate(rows) if j not in bad or j == k]
        names = [labels[j] for j, r in enumerate(rows) if j not in bad or j == k]
        with pytest.raises(RowError, match=what) as info:
            runner.run_rows(only, names)
        assert info.value.index == labels[k]
        assert f"row {labels[k]}" in str(info.value)


def test_skip_gives_none_for_bad_rows_and_the_others_their_outputs():
    rows, bad = _bad_rows()
    outs = SequenceRunner(PACKED_BILSTM, threads=1).run_rows(rows, on_error="skip")
    ref = Reference(PACKED_BILSTM, "y", "x", lengths_input="lengths")
    for k, (x, y) in enumerate(zip(rows, outs)):
        if k in bad:
            assert y is None
        else:
            ref.check(y, x, k)


def test_a_row_the_model_refuses_is_found_in_its_batch():
    # Token 10**6 is past the embedding table: the batch fails, the runner finds the row.
    seqs = token_sequences(12, seed=8, vocab=30, longest=3)
    seqs[5] = np.array([1, 10**6, 2][:len(seqs[5])] if len(seqs[5]) > 1 else [10**6])
    runner = SequenceRunner(SENTIMENT, threads=1, padding="none")
    with pytest.raises(RowError) as info:
        runner.run_rows(seqs)
    assert info.value.index == 5
    outs = runner.run_rows(seqs, on_error="skip")
    assert outs[5] is None and all(o is not None for k, o in enumerate(outs) if k != 5)


def test_float_values_for_token_input_and_bad_options_are_refused():
    runner = SequenceRunner(SENTIMENT)
    with pytest.raises(RowError, match="float values"):
        runner.run_rows([np.array([1.5, 2.0])])
    with pytest.raises(ValueError, match="padding"):
        SequenceRunner(SENTIMENT, padding="left")
    with pytest.raises(ValueError, match="on_error"):
        runner.run_rows([np.array([1])], on_error="ignore")
    with pytest.raises(ValueError, match="output_name"):
        SequenceRunner(SENTIMENT, output_name="nope").session


def test_runner_pickles_without_its_session_and_takes_sessions_and_bytes():
    runner = SequenceRunner(lstmrt.InferenceSession(SENTIMENT), threads=1)
    runner.run_rows([np.array([1, 2, 3])])
    data = pickle.dumps(runner)
    with open(SENTIMENT, "rb") as f:
        model = f.read()
    assert len(data) < 2 * len(model)
    again = pickle.loads(data)
    seqs = token_sequences(20, seed=9, vocab=30)
    from_bytes = SequenceRunner(model, threads=1)
    for a, b in zip(again.run_rows(seqs), from_bytes.run_rows(seqs)):
        np.testing.assert_array_equal(a, b)


def test_precision_reaches_the_session_only_when_given(monkeypatch):
    # The session's precision= keyword comes with another change; the runner must work before it.
    import lstmrt.session as session_module

    seen = []
    real = session_module.InferenceSession

    class Recording(real):
        def __init__(self, model, **kwargs):
            seen.append(sorted(kwargs))
            kwargs.pop("precision", None)
            super().__init__(model, **kwargs)

    monkeypatch.setattr(session_module, "InferenceSession", Recording)
    SequenceRunner(SENTIMENT).session
    SequenceRunner(SENTIMENT, precision="bf16").session
    assert seen == [["threads"], ["precision", "threads"]]

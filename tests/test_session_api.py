"""InferenceSession's API: the onnxruntime-compatible surface, the ways to pass a model
(path with external data, bytes, ModelProto), pickling, changing shapes with reused buffers, and
concurrent runs."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import lstmrt
from lstmrt import _core
from session_helpers import assert_same, make_model, ort_run
from checks import assert_close

rng = np.random.default_rng(3)
HIDDEN, INP, VOCAB = 6, 4, 11


def tagger_model(opset=17):
    """Embedding -> LSTM -> dense head -> softmax, with symbolic batch and seq, like an exported
    sequence tagger (batch-first input transposed for the LSTM)."""
    w = {
        "emb": rng.standard_normal((VOCAB, INP)).astype(np.float32),
        "W": rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, INP)).astype(np.float32),
        "R": rng.uniform(-0.5, 0.5, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32),
        "B": rng.uniform(-0.5, 0.5, (1, 8 * HIDDEN)).astype(np.float32),
        "dense": rng.standard_normal((3, HIDDEN)).astype(np.float32),
        "dense_b": rng.standard_normal(3).astype(np.float32),
        "ax1": np.array([1], np.int64),
        "shape2": np.array([-1, HIDDEN], np.int64),
    }
    nodes = [
        helper.make_node("Gather", ["emb", "tokens"], ["e"]),
        helper.make_node("Transpose", ["e"], ["x"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["Y", "Y_h", "Y_c"], hidden_size=HIDDEN,
                         name="lstm"),
        helper.make_node("Squeeze", ["Y", "ax1"], ["ys"]),
        helper.make_node("Shape", ["ys"], ["ys_shape"]),
        helper.make_node("Reshape", ["ys", "shape2"], ["flat"]),
        helper.make_node("Gemm", ["flat", "dense", "dense_b"], ["logits_flat"], transB=1),
        helper.make_node("Softmax", ["logits_flat"], ["probs"], axis=-1),
        helper.make_node("Slice", ["ys_shape", "s0", "s2"], ["lead"]),
        helper.make_node("Concat", ["lead", "three"], ["out_shape"], axis=0),
        helper.make_node("Reshape", ["probs", "out_shape"], ["p"]),
        helper.make_node("Transpose", ["p"], ["probs_bt"], perm=[1, 0, 2]),
    ]
    w.update({"s0": np.array([0], np.int64), "s2": np.array([2], np.int64), "three": np.array([3], np.int64)})
    inputs = {"tokens": np.zeros((1, 1), np.int64), "h0": np.zeros((1, 1, HIDDEN), np.float32),
              "c0": np.zeros((1, 1, HIDDEN), np.float32)}
    shapes = {"tokens": ["batch", "seq"], "h0": [1, "batch", HIDDEN], "c0": [1, "batch", HIDDEN]}
    return make_model(nodes, inputs, ["probs_bt", "Y_h"], opset=opset, initializers=w, input_shapes=shapes)


@pytest.fixture(scope="module")
def model():
    return tagger_model()


def tokens(batch, seq):
    return rng.integers(0, VOCAB, size=(batch, seq)).astype(np.int64)


def full_feeds(batch, seq):
    return {"tokens": tokens(batch, seq), "h0": rng.standard_normal((1, batch, HIDDEN)).astype(np.float32),
            "c0": rng.standard_normal((1, batch, HIDDEN)).astype(np.float32)}


def check_against_ort(sess, model, feeds):
    for g, e in zip(sess.run(None, feeds), ort_run(model, feeds)):
        assert_same(g, e)


def test_inputs_and_outputs_like_onnxruntime(model):
    import onnxruntime as ort

    sess = lstmrt.InferenceSession(model)
    osess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for mine, theirs in ((sess.get_inputs(), osess.get_inputs()), (sess.get_outputs(), osess.get_outputs())):
        assert [(a.name, a.type) for a in mine] == [(b.name, b.type) for b in theirs]
    for a, b in zip(sess.get_inputs(), osess.get_inputs()):
        assert a.shape == b.shape
    assert sess.get_inputs()[0].shape == ["batch", "seq"]
    assert sess.get_inputs()[0].type == "tensor(int64)"
    assert sess.optional_inputs == ["h0", "c0"]
    assert "tokens" in repr(sess)


def test_model_from_path_bytes_and_proto(model, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    feeds = full_feeds(2, 3)
    expected = ort_run(model, feeds)
    for source in (str(path), path, path.read_bytes(), bytearray(path.read_bytes()), model):
        for g, e in zip(lstmrt.InferenceSession(source).run(None, feeds), expected):
            assert_same(g, e)


def test_external_data_loads_from_path(model, tmp_path):
    path = tmp_path / "big.onnx"
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # onnx.save moves the tensors of the proto it saves out to the file
    onnx.save(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="big.onnx.data", size_threshold=0)
    assert (tmp_path / "big.onnx.data").exists()
    sess = lstmrt.InferenceSession(str(path))
    feeds = full_feeds(2, 3)
    check_against_ort(sess, model, feeds)
    # Pickled, the session carries the data with it.
    check_against_ort(pickle.loads(pickle.dumps(sess)), model, feeds)
    # Bytes cannot say where the data lives.
    with pytest.raises(ValueError, match="external"):
        lstmrt.InferenceSession(path.read_bytes())


def test_run_output_names(model):
    sess = lstmrt.InferenceSession(model)
    feeds = full_feeds(2, 4)
    probs, yh = sess.run(None, feeds)
    assert probs.shape == (2, 4, 3)
    [only] = sess.run(["Y_h"], feeds)
    np.testing.assert_array_equal(only, yh)
    swapped = sess.run(["Y_h", "probs_bt"], feeds)
    np.testing.assert_array_equal(swapped[1], probs)
    assert len(sess.run([], feeds)) == 2  # empty means all, as in onnxruntime


def test_changing_shapes_reuse_buffers(model):
    sess = lstmrt.InferenceSession(model, threads=1)
    shapes = [(2, 3), (1, 1), (5, 7), (2, 3), (3, 1)]
    feeds = {s: full_feeds(*s) for s in set(shapes)}
    for s in shapes:
        check_against_ort(sess, model, feeds[s])
    # A repeated run of a shape already planned allocates no new buffers.
    sess.run(None, feeds[(5, 7)])
    before = _core.tensor_buffer_allocations()
    for _ in range(3):
        for s in ((5, 7), (2, 3)):
            sess.run(None, feeds[s])
    assert _core.tensor_buffer_allocations() == before
    assert sess._graph.cached_plans == 4


def test_pickle_round_trip(model, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    sess = lstmrt.InferenceSession(str(path), threads=2)
    data = pickle.dumps(sess)
    path.unlink()  # the pickle carries the model, not the path
    clone = pickle.loads(data)
    assert clone.threads == 2
    feeds = full_feeds(3, 5)
    for a, b in zip(sess.run(None, feeds), clone.run(None, feeds)):
        np.testing.assert_array_equal(a, b)
    assert [i.name for i in clone.get_inputs()] == [i.name for i in sess.get_inputs()]


def test_concurrent_runs_from_threads(model):
    sess = lstmrt.InferenceSession(model, threads=1)
    cases = [full_feeds(b, s) for b, s in ((1, 4), (2, 3), (3, 9), (2, 3))]
    expected = [sess.run(None, f) for f in cases]
    errors = []

    def worker(k):
        try:
            for _ in range(20):
                got = sess.run(None, cases[k % len(cases)])
                for g, e in zip(got, expected[k % len(cases)]):
                    np.testing.assert_array_equal(g, e)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_non_contiguous_and_zero_size_feeds(model):
    sess = lstmrt.InferenceSession(model, threads=1)
    t = tokens(4, 6)[:, ::2]  # a strided view
    assert not t.flags.c_contiguous
    np.testing.assert_array_equal(sess.run(None, {"tokens": t})[0],
                                  sess.run(None, {"tokens": np.ascontiguousarray(t)})[0])
    # An empty sequence (seq = 0) runs: no steps, the initial state comes out.
    probs, yh = sess.run(None, {"tokens": np.zeros((2, 0), np.int64)})
    assert probs.shape == (2, 0, 3)
    np.testing.assert_array_equal(yh, np.zeros((1, 2, HIDDEN), np.float32))


def test_threads_argument_is_checked(model):
    with pytest.raises(ValueError, match="threads"):
        lstmrt.InferenceSession(model, threads=-1)
    assert lstmrt.InferenceSession(model).threads is None


def test_graph_output_that_is_an_input_or_a_constant():
    nodes = [helper.make_node("Identity", ["c"], ["c_out"])]
    model = make_model(nodes, {"x": np.zeros(2, np.float32)}, ["x", "c_out"], opset=13,
                       initializers={"c": np.arange(3, dtype=np.float32)})
    x = np.array([1.5, 2.5], np.float32)
    got = lstmrt.InferenceSession(model).run(None, {"x": x})
    np.testing.assert_array_equal(got[0], x)
    np.testing.assert_array_equal(got[1], np.arange(3, dtype=np.float32))
    got[0][0] = 99  # outputs are the caller's own arrays
    assert x[0] == 1.5


def test_model_local_functions_are_inlined():
    body = [helper.make_node("Mul", ["a", "k"], ["t"]), helper.make_node("Add", ["t", "a"], ["out"])]
    fn = helper.make_function("local", "MulAdd", ["a", "k"], ["out"], body,
                              [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("MulAdd", ["x", "k"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                              [onnx.numpy_helper.from_array(np.full(3, 2.0, np.float32), "k")])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                                    helper.make_opsetid("local", 1)])
    x = np.array([1, 2, 3], np.float32)
    assert_close(lstmrt.InferenceSession(model).run(None, {"x": x})[0], x * 2 + x, atol=0, rtol=1e-7)


def test_intermediate_buffers_are_shared():
    # A chain of 20 elementwise nodes needs only a couple of buffers besides the input.
    nodes = [helper.make_node("Relu" if k % 2 else "Neg", [f"t{k}"], [f"t{k + 1}"]) for k in range(20)]
    nodes[0].input[0] = "x"
    nodes[-1].output[0] = "y"
    model = make_model(nodes, {"x": np.zeros((4, 5), np.float32)}, ["y"], opset=14)
    sess = lstmrt.InferenceSession(model)
    assert sess._graph.num_buffers <= 4
    x = rng.standard_normal((4, 5)).astype(np.float32)
    assert_same(sess.run(None, {"x": x})[0], ort_run(model, {"x": x})[0])


def test_views_keep_their_source_buffer_alive():
    # v is a view of a's buffer. a is not read after the Reshape, but b, computed next, must not
    # take a's buffer: v is still to be read by the Add.
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Reshape", ["a", "shape"], ["v"]),
             helper.make_node("Neg", ["v"], ["b"]),
             helper.make_node("Add", ["v", "b"], ["s"]),
             helper.make_node("Mul", ["s", "v"], ["y"])]
    model = make_model(nodes, {"x": np.zeros((2, 6), np.float32)}, ["y"], opset=14,
                       initializers={"shape": np.array([3, 4], np.int64)})
    sess = lstmrt.InferenceSession(model)
    x = rng.standard_normal((2, 6)).astype(np.float32) + 3.0
    for _ in range(2):
        assert_same(sess.run(None, {"x": x})[0], ort_run(model, {"x": x})[0])


def test_onnxruntime_style_arguments_are_accepted(model):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = lstmrt.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    assert sess.threads == 1
    assert lstmrt.InferenceSession(model, providers=["CPUExecutionProvider"]).threads is None
    assert lstmrt.InferenceSession(model, providers=["CPUExecutionProvider"], provider_options=[{}]).threads is None
    check_against_ort(sess, model, full_feeds(2, 3))


def test_unknown_keywords_are_type_errors_naming_them(model):
    with pytest.raises(TypeError, match="'thread'"):
        lstmrt.InferenceSession(model, thread=1)
    with pytest.raises(TypeError, match="'sess_option'"):
        lstmrt.InferenceSession(model, sess_option=None)

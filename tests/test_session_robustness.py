"""Models and feeds that once crashed the interpreter (issue: no input crashes lstmrt).

Each class of crash the fuzzer found has its test here: a node that declares more outputs than
its operator has, valid models that read a later optional output and leave the first unread,
shapes whose element count overflows, attribute values out of range, and feeds that NumPy makes
for free but no machine can hold. Every case must end in a Python exception that names what is
wrong, or in the result onnxruntime gives, and leave the session usable.
"""

import numpy as np
import pytest
from onnx import TensorProto, helper

import lstmrt
from session_helpers import assert_same, make_model, ort_run
from checks import assert_close

BIG = 2**62


def _session(nodes, inputs, outputs, **kw):
    return lstmrt.InferenceSession(make_model(nodes, inputs, outputs, **kw))


# A node declaring more outputs than its operator has.

@pytest.mark.parametrize("op,extra", [("Relu", {}), ("Identity", {}), ("Shape", {})])
def test_node_with_more_outputs_than_its_operator_is_refused(op, extra):
    x = np.ones((2, 3), np.float32)
    node = helper.make_node(op, ["x"], ["y", "z"], name="bad", **extra)
    with pytest.raises(ValueError, match=rf"{op} node 'bad'.*declares 2 outputs; {op} has at most 1"):
        _session([node], {"x": x}, ["z"])


def test_folded_constant_with_an_extra_output_is_refused():
    value = helper.make_tensor("v", TensorProto.FLOAT, [2], [1.0, 2.0])
    node = helper.make_node("Constant", [], ["c", "extra"], value=value, name="k")
    with pytest.raises(ValueError, match=r"Constant node 'k'.*declares 2 outputs"):
        _session([node], {}, ["extra"])


def test_missing_required_input_is_refused():
    x = np.ones((2, 3), np.float32)
    node = helper.make_node("Add", ["x", ""], ["y"], name="half")
    with pytest.raises(ValueError, match=r"Add node 'half'.*input 1 is required"):
        _session([node], {"x": x}, ["y"])


def test_several_unsupported_operators_are_named_in_one_error():
    x = np.ones((1, 1, 8), np.float32)
    nodes = [helper.make_node("Fancy", ["x"], ["a"], name="f1"), helper.make_node("Weird", ["a"], ["y"], name="w1")]
    with pytest.raises(ValueError, match=r"unsupported operators 'Fancy' \(node 'f1'\), 'Weird' \(node 'w1'\)"):
        _session(nodes, {"x": x}, ["y"])


# Valid models that read only a later optional output.

def _compare_with_ort(nodes, feeds, outputs, **kw):
    model = make_model(nodes, feeds, outputs, **kw)
    got = lstmrt.InferenceSession(model).run(None, feeds)
    want = ort_run(model, feeds)
    for g, w, name in zip(got, want, outputs):
        assert_same(g, w, name=name)


def test_dropout_whose_mask_only_is_read():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    node = helper.make_node("Dropout", ["x"], ["unread", "mask"])
    _compare_with_ort([node], {"x": x}, ["mask"], output_types={"mask": TensorProto.BOOL})


def test_topk_whose_indices_only_are_read():
    x = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
    k = helper.make_tensor("k", TensorProto.INT64, [1], [3])
    nodes = [helper.make_node("Constant", [], ["k"], value=k), helper.make_node("TopK", ["x", "k"], ["unread", "idx"])]
    _compare_with_ort(nodes, {"x": x}, ["idx"], output_types={"idx": TensorProto.INT64})


def test_split_whose_second_part_only_is_read():
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    node = helper.make_node("Split", ["x"], ["a", "b"], axis=1)
    _compare_with_ort([node], {"x": x}, ["b"])


def test_layer_norm_whose_mean_only_is_read():
    x = np.random.default_rng(3).standard_normal((2, 5)).astype(np.float32)
    scale = np.ones(5, np.float32)
    node = helper.make_node("LayerNormalization", ["x", "scale"], ["unread", "mean"], axis=-1)
    _compare_with_ort([node], {"x": x}, ["mean"], initializers={"scale": scale})


def test_lstm_whose_cell_state_only_is_read():
    rng = np.random.default_rng(4)
    H, I = 4, 3
    W = rng.standard_normal((1, 4 * H, I)).astype(np.float32)
    R = rng.standard_normal((1, 4 * H, H)).astype(np.float32)
    x = rng.standard_normal((5, 2, I)).astype(np.float32)
    node = helper.make_node("LSTM", ["x", "W", "R"], ["Y", "", "Y_c"], hidden_size=H)
    _compare_with_ort([node], {"x": x}, ["Y_c"], initializers={"W": W, "R": R})


# Shapes whose element count overflows, folded at load or computed at run time.

@pytest.mark.parametrize("dims", [[2**31, 2**31], [BIG], [2**40, 2**40, 0, 2**40], [-3]])
def test_constant_of_shape_too_large_or_negative_at_load(dims):
    shape = helper.make_tensor("s", TensorProto.INT64, [len(dims)], dims)
    nodes = [helper.make_node("Constant", [], ["s"], value=shape), helper.make_node("ConstantOfShape", ["s"], ["y"])]
    with pytest.raises((ValueError, MemoryError), match="ConstantOfShape"):
        _session(nodes, {}, ["y"])


def test_constant_of_shape_too_large_at_run_time_then_a_good_run():
    sess = _session([helper.make_node("ConstantOfShape", ["s"], ["y"])], {"s": np.array([2], np.int64)}, ["y"],
                    input_shapes={"s": [None]})
    for bad in ([BIG], [2**31, 2**31], [2**33, 2**33, 2**33]):
        with pytest.raises((ValueError, MemoryError), match="ConstantOfShape"):
            sess.run(None, {"s": np.array(bad, np.int64)})
    np.testing.assert_array_equal(sess.run(None, {"s": np.array([3], np.int64)})[0], np.zeros(3, np.float32))


def test_expand_to_int64_max_is_an_error():
    x = np.ones((1,), np.float32)
    sess = _session([helper.make_node("Expand", ["x", "s"], ["y"])], {"x": x, "s": np.array([2], np.int64)}, ["y"],
                    input_shapes={"s": [None], "x": [None]})
    with pytest.raises(ValueError, match="Expand"):
        sess.run(None, {"x": x, "s": np.array([2**63 - 1], np.int64)})
    with pytest.raises(ValueError, match="Expand"):
        sess.run(None, {"x": np.ones((0,), np.float32), "s": np.array([2**63 - 1, 0], np.int64)})


def test_memory_error_names_the_node_and_size():
    """64 TiB: within the element bound, beyond any machine's memory, so refused before asking."""
    sess = _session([helper.make_node("ConstantOfShape", ["s"], ["y"], name="zeros")], {"s": np.array([2], np.int64)},
                    ["y"], input_shapes={"s": [None]})
    with pytest.raises(MemoryError, match=r"ConstantOfShape node 'zeros'.*bytes"):
        sess.run(None, {"s": np.array([2**44], np.int64)})  # 64 TiB: within the element bound, beyond memory


# Attribute and input values out of range.

@pytest.mark.parametrize("node,pattern", [
    (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 5]), "perm"),
    (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 0]), "perm"),
    (helper.make_node("Transpose", ["x"], ["y"], perm=[1]), "perm"),
    (helper.make_node("Softmax", ["x"], ["y"], axis=7), "axis"),
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=-9), "axis"),
    (helper.make_node("Flatten", ["x"], ["y"], axis=9), "axis"),
    (helper.make_node("Split", ["x"], ["y", "z"], axis=1, split=[2, 9]), "split"),
    (helper.make_node("Split", ["x"], ["y", "z"], axis=1, split=[-1, 4]), "split"),
    (helper.make_node("ReduceSum", ["x"], ["y"], axes=[5], keepdims=1), "ax"),
    (helper.make_node("ArgMax", ["x"], ["y"], axis=4), "axis"),
    (helper.make_node("LayerNormalization", ["x", "s2"], ["y"], axis=3), "axis"),
    (helper.make_node("Squeeze", ["x"], ["y"], axes=[6]), "ax"),
    (helper.make_node("Unsqueeze", ["x"], ["y"], axes=[9]), "ax"),
])
def test_attribute_out_of_range_is_a_clear_error(node, pattern):
    x = np.ones((2, 3), np.float32)
    opset = 11 if node.op_type in ("ReduceSum", "Squeeze", "Unsqueeze", "Split") else 17
    with pytest.raises(ValueError, match=pattern):
        sess = _session([node], {"x": x}, list(node.output), opset=opset, initializers={"s2": np.ones(3, np.float32)})
        sess.run(None, {"x": x})


@pytest.mark.parametrize("indices", [[0, 5], [-4], [2**40]])
def test_gather_index_out_of_range(indices):
    x = np.ones((3, 2), np.float32)
    sess = _session([helper.make_node("Gather", ["x", "i"], ["y"])], {"x": x, "i": np.array([0], np.int64)}, ["y"],
                    input_shapes={"i": [None]})
    with pytest.raises(ValueError, match="Gather"):
        sess.run(None, {"x": x, "i": np.array(indices, np.int64)})
    np.testing.assert_array_equal(sess.run(None, {"x": x, "i": np.array([2], np.int64)})[0], x[[2]])


# Feeds that cost NumPy nothing but describe more than a machine holds.

def _char_lm():
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    return lstmrt.InferenceSession(os.path.join(here, "data", "models", "torch_char_lm_legacy.onnx"), threads=1)


@pytest.mark.parametrize("shape", [(2**57, 0), (0, 2**57)])
def test_zero_size_feed_with_a_huge_dimension(shape):
    sess = _char_lm()
    tokens = np.broadcast_to(np.zeros((), np.int64), shape)
    with pytest.raises(ValueError, match="tokens|shape"):
        sess.run(None, {"tokens": np.empty(shape, np.int64) if 0 in shape else tokens})
    good = np.zeros((1, 3), np.int64)
    assert sess.run(None, {"tokens": good})[0].shape[:2] == (1, 3)


def test_huge_zero_batch_sequence_does_not_hang():
    sess = lstmrt.InferenceSession(make_model(
        [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2)], {"x": np.zeros((1, 1, 3), np.float32)},
        ["y"], input_shapes={"x": ["T", "N", 3]},
        initializers={"W": np.ones((1, 8, 3), np.float32), "R": np.ones((1, 8, 2), np.float32)}))
    y = sess.run(None, {"x": np.empty((2**31, 0, 3), np.float32)})[0]
    assert y.shape == (2**31, 1, 0, 2)


def test_noncontiguous_feed_whose_copy_cannot_be_allocated():
    sess = _char_lm()
    huge = np.broadcast_to(np.zeros((), np.int64), (2**20, 2**23))  # 64 TiB once copied
    with pytest.raises(MemoryError):
        sess.run(None, {"tokens": huge})
    stream = sess.stream()
    with pytest.raises(MemoryError):
        stream.run(None, {"tokens": huge})
    x = np.broadcast_to(np.zeros((), np.float32), (2**14, 2**14, 2**14))
    W = np.ones((1, 4, 2**14), np.float32)
    with pytest.raises(MemoryError):
        lstmrt.ops.rnn(x, W, np.ones((1, 4, 4), np.float32))
    assert sess.run(None, {"tokens": np.zeros((1, 2), np.int64)})[0].shape[:2] == (1, 2)


def test_unaligned_feeds_give_the_same_results():
    sess = _char_lm()
    tokens = np.array([[1, 5, 2, 7]], np.int64)
    buf = bytearray(tokens.nbytes + 1)
    unaligned = np.frombuffer(buf, dtype=np.int64, offset=1).reshape(1, 4)
    unaligned[...] = tokens
    assert not unaligned.flags.aligned
    for a, b in zip(sess.run(None, {"tokens": unaligned}), sess.run(None, {"tokens": tokens})):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 1, 4)).astype(np.float32)
    W = rng.standard_normal((1, 8, 4)).astype(np.float32)
    R = rng.standard_normal((1, 8, 8)).astype(np.float32)
    xb = bytearray(x.nbytes + 1)
    xu = np.frombuffer(xb, dtype=np.float32, offset=1).reshape(x.shape)
    xu[...] = x
    np.testing.assert_array_equal(lstmrt.ops.rnn(xu, W, R)[0], lstmrt.ops.rnn(x, W, R)[0])


@pytest.mark.parametrize("tag", [b"xQQx", b"yQQy", b"dQQd"])
def test_value_name_that_is_not_utf8_is_a_value_error(tag):
    x = np.ones((2, 3), np.float32)
    model = make_model([helper.make_node("Relu", ["xQQx"], ["yQQy"])], {"xQQx": x}, ["yQQy"],
                       input_shapes={"xQQx": ["dQQd", 3]})
    data = model.SerializeToString().replace(tag, tag[:1] + b"\xff\xfe" + tag[3:])
    with pytest.raises(ValueError, match="not valid UTF-8"):
        lstmrt.InferenceSession(data)


def test_node_name_that_is_not_utf8_does_not_hide_the_error():
    x = np.ones((2, 3), np.float32)
    model = make_model([helper.make_node("Relu", ["x"], ["y", "z"], name="cafQ")], {"x": x}, ["z"])
    data = model.SerializeToString().replace(b"cafQ", b"caf\xe9")  # a byte-flipped name: not UTF-8
    with pytest.raises(ValueError, match=r"Relu node 'caf.*declares 2 outputs"):
        lstmrt.InferenceSession(data)


# Bad feeds on a good model: each fails cleanly or gives the right result, and the session and
# its streams are unharmed.

H, I = 4, 3


def _lstm_model(with_lens=False):
    rng = np.random.default_rng(6)
    W = rng.standard_normal((1, 4 * H, I)).astype(np.float32)
    R = rng.standard_normal((1, 4 * H, H)).astype(np.float32)
    inputs = ["x", "W", "R"] + (["", "lens"] if with_lens else [])
    feeds = {"x": np.zeros((2, 1, I), np.float32)}
    shapes = {"x": ["T", "N", I]}
    if with_lens:
        feeds["lens"] = np.zeros(1, np.int32)
        shapes["lens"] = ["N"]
    model = make_model([helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], hidden_size=H)], feeds,
                       ["Y", "Y_h", "Y_c"], input_shapes=shapes, initializers={"W": W, "R": R})
    return model, W, R


def test_nan_and_inf_propagate_as_in_the_numpy_reference():
    import reference

    model, W, R = _lstm_model()
    sess = lstmrt.InferenceSession(model)
    x = np.random.default_rng(7).standard_normal((4, 3, I)).astype(np.float32)
    x[1, 0, 2] = np.nan
    x[2, 1, 0] = np.inf
    x[0, 2, 1] = -np.inf
    got = sess.run(None, {"x": x})
    want = reference.lstm(x.astype(np.float64), W.astype(np.float64), R.astype(np.float64))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        assert_close(np.nan_to_num(g), np.nan_to_num(w), atol=1e-5, rtol=1e-5)


def test_noncontiguous_and_negative_stride_feeds():
    model, _, _ = _lstm_model()
    sess = lstmrt.InferenceSession(model)
    x = np.random.default_rng(8).standard_normal((6, 4, 2 * I)).astype(np.float32)
    for view in (x[::2, :, ::2], x[::-1, ::-1, :I], np.asfortranarray(x[:, :, :I])):
        assert not view.flags.c_contiguous
        for a, b in zip(sess.run(None, {"x": view}), sess.run(None, {"x": np.ascontiguousarray(view)})):
            np.testing.assert_array_equal(a, b)


def test_zero_length_sequence_and_zero_batch():
    model, _, _ = _lstm_model()
    sess = lstmrt.InferenceSession(model)
    x0 = np.zeros((0, 2, I), np.float32)
    y, y_h, y_c = sess.run(None, {"x": x0})
    assert_same(y, ort_run(model, {"x": x0})[0])
    # No step ran, so the final state is the initial one (zeros); onnxruntime leaves it
    # uninitialized.
    np.testing.assert_array_equal(y_h, np.zeros((1, 2, H), np.float32))
    np.testing.assert_array_equal(y_c, np.zeros((1, 2, H), np.float32))
    # onnxruntime aborts the process on a batch of 0; the ONNX shapes say what is empty.
    y, y_h, y_c = sess.run(None, {"x": np.zeros((3, 0, I), np.float32)})
    assert y.shape == (3, 1, 0, H) and y_h.shape == (1, 0, H) and y_c.shape == (1, 0, H)


def test_stream_keeps_its_state_through_empty_and_failed_calls():
    model, _, _ = _lstm_model()
    sess = lstmrt.InferenceSession(model)
    x = np.random.default_rng(9).standard_normal((5, 1, I)).astype(np.float32)
    stream = sess.stream()
    stream.run(None, {"x": x[:2]})
    before = stream.get_state()
    stream.run(None, {"x": x[:0]})  # no steps: the state carries through unchanged
    for bad in (x[2:].astype(np.float64), x[2:, :, :2], x[2:, 0], np.empty((2**40, 0, I), np.float32)):
        with pytest.raises((TypeError, ValueError)):
            stream.run(None, {"x": bad})
    after = stream.get_state()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    whole = sess.run(None, {"x": x})[0]
    assert_close(stream.run(None, {"x": x[2:]})[0], whole[2:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("lens", [[-1], [7], [2**31 - 1]])
def test_sequence_lens_out_of_range_in_a_session(lens):
    model, _, _ = _lstm_model(with_lens=True)
    sess = lstmrt.InferenceSession(model)
    x = np.ones((3, 1, I), np.float32)
    with pytest.raises(ValueError, match="sequence_lens"):
        sess.run(None, {"x": x, "lens": np.array(lens, np.int32)})
    y = sess.run(None, {"x": x, "lens": np.array([2], np.int32)})[0]
    assert np.all(y[2] == 0) and np.any(y[1] != 0)


@pytest.mark.skipif("asan" in __import__("os").environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves terabytes of address space: it cannot run under a cap")
def test_a_batch_larger_than_memory_is_a_memory_error():
    """A million-row batch whose intermediates exceed what the process may hold (its address
    space capped at 3 GiB in a child, so that the test does not depend on the machine's memory)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        import numpy as np, lstmrt
        sess = lstmrt.InferenceSession(sys.argv[1], threads=1)
        tokens = np.zeros((1_000_000, 200), np.int64)  # 1.6 GB; the LSTM's output alone is 51 GB
        try:
            sess.run(None, {"tokens": tokens})
        except MemoryError as e:
            print("MemoryError:", e)
            print(sess.run(None, {"tokens": np.zeros((1, 3), np.int64)})[0].shape)
    """)
    import os
    model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models", "torch_char_lm_legacy.onnx")
    done = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MemoryError:" in done.stdout and "bytes" in done.stdout, done.stdout
    assert done.stdout.strip().endswith("(1, 3, 40)") or "(1, 3," in done.stdout, done.stdout


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin", "link.bin"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    import os

    from onnx import numpy_helper

    (tmp_path / "outside.bin").write_bytes(np.ones(4, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(tmp_path / "outside.bin", folder / "link.bin")
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], {"x": np.ones(4, np.float32)}, ["y"])
    model.graph.initializer.append(w)
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ValueError, match="outside the model's folder"):
        lstmrt.InferenceSession(str(path))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op,fmod", [("Add", 0), ("Sub", 0), ("Mul", 0), ("Div", 0), ("Mod", 0), ("Mod", 1)])
def test_integer_arithmetic_wraps_and_never_traps(op, fmod, dtype):
    """Overflow wraps around as in NumPy; MIN / -1 and MIN % -1 trap in the CPU's division
    instruction, so they must never reach it."""
    info = np.iinfo(dtype)
    a = np.array([info.max, info.min, info.min, 7, -7, info.max], dtype)
    b = np.array([1, -1, -1, -1, 2, 2], dtype)
    attrs = {"fmod": fmod} if op == "Mod" else {}
    sess = _session([helper.make_node(op, ["a", "b"], ["y"], **attrs)], {"a": a, "b": b}, ["y"],
                    output_types={"y": TensorProto.INT32 if dtype == np.int32 else TensorProto.INT64})
    got = sess.run(None, {"a": a, "b": b})[0]
    def wrap(v):
        bits = 8 * np.dtype(dtype).itemsize
        return (v + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)

    def expect(p, q):  # Python integers: exact, then wrapped to the dtype
        if op == "Add":
            return wrap(p + q)
        if op == "Sub":
            return wrap(p - q)
        if op == "Mul":
            return wrap(p * q)
        if op == "Div":  # truncating, as C and onnxruntime
            return wrap(abs(p) // abs(q) * (1 if (p < 0) == (q < 0) else -1))
        if fmod:
            return abs(p) % abs(q) * (1 if p >= 0 else -1)
        return p % q  # the divisor's sign, as Python

    want = np.array([expect(int(p), int(q)) for p, q in zip(a, b)], dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op,second", [("Reshape", [16, 2**63 - 1]), ("Tile", [2**62, 4])])
def test_shape_products_that_overflow_are_errors(op, second):
    x = np.ones((2, 3), np.float32)
    sess = _session([helper.make_node(op, ["x", "s"], ["y"])], {"x": x, "s": np.array([1, 1], np.int64)}, ["y"],
                    input_shapes={"s": [2]})
    with pytest.raises(ValueError, match=op):
        sess.run(None, {"x": x, "s": np.array(second, np.int64)})


@pytest.mark.parametrize("start,limit,delta", [(0.0, 3e38, 1.0), (0.0, -3e38, 1.0), (0.0, np.nan, 1.0),
                                               (np.inf, 0.0, -1.0)])
def test_range_of_too_many_or_undefined_elements(start, limit, delta):
    f = lambda v: np.array(v, np.float32)  # noqa: E731
    sess = _session([helper.make_node("Range", ["s", "l", "d"], ["y"])], {"s": f(0), "l": f(3), "d": f(1)}, ["y"])
    if limit < 0:
        assert sess.run(None, {"s": f(start), "l": f(limit), "d": f(delta)})[0].shape == (0,)
    else:
        with pytest.raises(ValueError, match="Range"):
            sess.run(None, {"s": f(start), "l": f(limit), "d": f(delta)})


def test_loop_with_an_empty_scan_output():
    """A Loop whose body emits a zero-size scan output each iteration (a batch of 0)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["x"], ["scan"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("scan", TensorProto.FLOAT, None)])
    x = np.zeros((0, 4), np.float32)
    node = helper.make_node("Loop", ["M", ""], ["ys"], body=body)
    sess = _session([node], {"x": x, "M": np.array(3, np.int64)}, ["ys"], input_shapes={"x": [None, 4]})
    ys = sess.run(None, {"x": x, "M": np.array(3, np.int64)})[0]
    assert ys.shape == (3, 0, 4)

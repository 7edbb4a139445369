"""Models whose exporter froze the sequence length (PyTorch's dynamo exporter reshapes a
recurrent layer's output with a constant holding the example length) are recognised at load, and
a run or stream of another length says so in plain words, pointing to the README's export section."""

from __future__ import annotations

import os

import numpy as np
import pytest

import lstmrt

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models")


def _session(name):
    return lstmrt.InferenceSession(os.path.join(MODELS, name + ".onnx"), threads=1)


@pytest.mark.parametrize("name", ["torch_lstm_1layer_dynamo", "torch_gru_1layer_state_dynamo"])
def test_frozen_length_is_found_and_named_in_run_and_stream_errors(name):
    sess = _session(name)
    assert sess.frozen_sequence_length == 6
    x = np.zeros((6, 2, 5), np.float32)
    assert sess.run(None, {"x": x})[0].shape == (6, 2, 8)  # the export length still runs
    # Another length: without the check, [6, -1, 8] would take 3 steps of batch 2 as 6 of batch 1.
    for call in (lambda: sess.run(None, {"x": np.zeros((3, 2, 5), np.float32)}),
                 lambda: sess.stream().run(None, {"x": np.zeros((1, 1, 5), np.float32)}),
                 lambda: sess.stream_pool().run([], None, {"x": np.zeros((1, 0, 5), np.float32)})):
        with pytest.raises(ValueError) as e:
            call()
        text = str(e.value)
        assert "only runs on sequences of 6 steps" in text
        assert "dynamo=True" in text and "dynamo=False" in text
        assert "Exporting a model so that it streams" in text


def test_the_hint_points_at_a_readme_section_that_exists():
    with open(os.path.join(os.path.dirname(MODELS), "..", "..", "README.md")) as f:
        assert "## Exporting a model so that it streams" in f.read()


@pytest.mark.parametrize("name", ["torch_lstm_1layer_legacy", "torch_char_lm_dynamo", "torch_lstm_1layer_bf_dynamo",
                                  "torch_sentiment_classifier_dynamo", "keras_lstm_seq"])
def test_models_that_take_any_length_are_not_flagged(name):
    assert _session(name).frozen_sequence_length is None


def test_streams_of_other_models_stay_plain_core_streams():
    sess = _session("torch_lstm_1layer_legacy")
    assert type(sess.stream()) is lstmrt._core.GraphStream
    assert type(sess.stream_pool()) is lstmrt._core.StreamPool


def test_a_transpose_with_a_bad_perm_before_the_recurrent_node_is_a_clear_error():
    """The frozen-length check walks back through Transposes: a negative perm entry (a damaged
    model) once made it index past the declared shape (IndexError) instead of letting the graph
    refuse the perm."""
    import numpy as np
    import pytest
    from onnx import helper

    import lstmrt
    from session_helpers import make_model

    H, I = 2, 3
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[-7, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R"], ["y"], hidden_size=H)]
    model = make_model(nodes, {"x": np.zeros((1, 2, I), np.float32)}, ["y"], input_shapes={"x": ["N", "T", I]},
                       initializers={"W": np.ones((1, 4 * H, I), np.float32), "R": np.ones((1, 4 * H, H), np.float32)})
    with pytest.raises(ValueError, match="perm"):
        sess = lstmrt.InferenceSession(model)
        sess.run(None, {"x": np.zeros((1, 2, I), np.float32)})

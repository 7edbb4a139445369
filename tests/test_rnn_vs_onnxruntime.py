"""lstmrt.ops against onnxruntime's CPU kernels, over the same sweep as the
reference test (configs.py).

What onnxruntime does differently, and how each case handles it:

* layout=1: onnxruntime refuses it; the same data is run through a layout-0
  model on transposed tensors and the outputs are transposed back.
* A sequence of length 0: onnxruntime returns zeros in Y_h/Y_c, lstmrt the
  initial state (lstmrt's specification); those rows of Y_h/Y_c are left out
  here (test_rnn_reference_sweep checks them), Y is compared in full.
* LSTM clip: both clip the gates' pre-activations only, not C_t on its way
  into h() (reference.LSTM_CLIPS_CELL_STATE is False); every case is compared.
* Activation alpha/beta: onnxruntime defaults ThresholdedRelu, Affine and
  ScaledTanh to 0; the resolved values are written out explicitly for it
  (ort_helpers.ort_attributes_for).

The tolerance is the reference test's plus the same again for
onnxruntime's own float32 error (its GRU uses a rational tanh/sigmoid
approximation, ~1e-7 absolute).  Every case also checks the float64
reference against onnxruntime (with the differences above taken into
account), so the reference cannot drift from the ONNX semantics unnoticed.
"""

import numpy as np
import pytest

import configs
import ort_helpers
import reference
from checks import assert_close

import lstmrt

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

CASES = configs.sweep()


def _state_rows_to_keep(case, inputs):
    lens = inputs["sequence_lens"]
    if lens is None:
        return np.ones(case.batch, bool)
    return lens > 0


def _compare(case, got, want, keep, label, atol, rtol):
    batch_axis_state = 1 if case.layout == 0 else 0
    for k, (g, w, name) in enumerate(zip(got, want, case.output_names)):
        assert g.shape == w.shape, f"{label} {name}: shape {g.shape}, onnxruntime {w.shape}"
        if k > 0 and not keep.all():
            g = np.compress(keep, g, axis=batch_axis_state)
            w = np.compress(keep, w, axis=batch_axis_state)
        assert_close(g, w, atol=atol, rtol=rtol, name=f"{label} {name} vs onnxruntime",
                     context=case.describe())


@pytest.mark.parametrize("case", CASES, ids=configs.case_id)
def test_matches_onnxruntime(case):
    """lstmrt against onnxruntime; and, on the way, the float64 reference
    against onnxruntime, so that the reference itself stays validated."""
    seed, expected64 = configs.materialize(case)
    inputs = case.inputs(seed)
    attrs = ort_helpers.ort_attributes_for(case.cell, case.attributes(), case.hidden)
    want = ort_helpers.run_ort(case.cell, inputs, attrs, layout=case.layout)
    atol, rtol = configs.tolerance(case)
    keep = _state_rows_to_keep(case, inputs)
    _compare(case, expected64, want, keep, "reference", atol, rtol)
    args, kwargs = configs.call_args(case, inputs)
    got = getattr(lstmrt.ops, case.cell)(*args, **kwargs)
    # Both sides round in float32: twice the reference test's tolerance.
    _compare(case, got, want, keep, "lstmrt", 2 * atol, 2 * rtol)


def test_onnxruntime_reads_alpha_like_lstmrt():
    """ort_attributes_for relies on onnxruntime consuming activation_alpha
    only by the activations that take an alpha (as lstmrt does), not one
    entry per activation.  [Tanh, LeakyRelu] with alpha [0.3, 0.7] tells the
    two apart: LeakyRelu gets 0.3 under that rule, 0.7 positionally."""
    rng = np.random.default_rng(0)
    d = {"X": rng.uniform(-2, 2, (4, 2, 3)).astype(np.float32),
         "W": rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32),
         "R": rng.uniform(-0.3, 0.3, (2, 5, 5)).astype(np.float32)}
    attrs = {"hidden_size": 5, "direction": "bidirectional",
             "activations": ["Tanh", "LeakyRelu"], "activation_alpha": [0.3, 0.7]}
    got = ort_helpers.run_ort("rnn", d, attrs)
    for alpha, should_match in ((0.3, True), (0.7, False)):
        want = reference.rnn(**d, direction="bidirectional", activations=["Tanh", "LeakyRelu"],
                             activation_alpha=[alpha])
        close = np.allclose(got[0], want[0], atol=1e-6, rtol=1e-5)
        assert close == should_match, f"onnxruntime's alpha rule changed (alpha={alpha})"

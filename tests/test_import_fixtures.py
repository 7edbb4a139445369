"""Every exported fixture model (tests/data/models: torch legacy and dynamo exporters, Keras via
tf2onnx) loaded as it is and run on every recorded case, against the framework's outputs and
onnxruntime's (atol 1e-5, rtol 1e-4). The same session then runs the cases again in another order
(shapes change between calls) and, where a recurrent state input is optional, without it."""

from __future__ import annotations

import json
import os
from typing import Dict, List

import numpy as np
import pytest

import lstmrt
from lstmrt import _core
from checks import assert_close

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models")
MANIFEST = os.path.join(MODELS, "manifest.json")
ATOL, RTOL = 1e-5, 1e-4


def _fixtures() -> List[Dict]:
    if not os.path.exists(MANIFEST):
        return []
    with open(MANIFEST) as f:
        entries = json.load(f).get("fixtures", [])
    # Entries whose export failed have no files (the manifest records why).
    return [e for e in entries if e.get("file") and e.get("npz") and os.path.exists(os.path.join(MODELS, e["file"]))
            and os.path.exists(os.path.join(MODELS, e["npz"]))]


FIXTURES = _fixtures()


def _cases(npz) -> List[Dict[str, Dict[str, np.ndarray]]]:
    cases: Dict[str, Dict[str, Dict[str, np.ndarray]]] = {}
    for key in npz.files:
        case, section, name = key.split("/", 2)
        cases.setdefault(case, {}).setdefault(section, {})[name] = npz[key]
    return [cases[k] for k in sorted(cases, key=lambda c: int(c[4:]) if c[4:].isdigit() else c)]


def _compare(got: Dict[str, np.ndarray], expected: Dict[str, np.ndarray], what: str) -> None:
    for name, e in expected.items():
        assert name in got, f"{what}: output '{name}' missing"
        g = got[name]
        assert g.shape == e.shape, f"{what}: output '{name}' shape {g.shape}, expected {e.shape}"
        assert_close(g, e, atol=ATOL, rtol=RTOL, name=f"{what}: output '{name}'")


@pytest.mark.skipif(not FIXTURES, reason="no fixture models in tests/data/models (manifest.json missing or empty)")
@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_fixture_matches_framework_and_onnxruntime(fixture):
    sess = lstmrt.InferenceSession(os.path.join(MODELS, fixture["file"]), threads=1)
    names = [o.name for o in sess.get_outputs()]
    with np.load(os.path.join(MODELS, fixture["npz"])) as npz:
        cases = _cases(npz)
    assert cases, "the fixture has no cases"
    results = []
    for k, case in enumerate(cases):
        got = dict(zip(names, sess.run(None, case["in"])))
        results.append(got)
        _compare(got, case.get("out", {}), f"case{k} vs {fixture.get('framework', 'framework')}")
        _compare(got, case.get("ort", {}), f"case{k} vs onnxruntime")
    # Shapes change between calls: running the cases again in reverse order, on the plans and
    # buffers the first pass left, gives the same results.
    for k in reversed(range(len(cases))):
        again = dict(zip(names, sess.run(None, cases[k]["in"])))
        for name in names:
            np.testing.assert_array_equal(again[name], results[k][name], err_msg=f"case{k} rerun: {name}")
    # A repeated run of a shape already seen allocates no new buffers.
    before = _core.tensor_buffer_allocations()
    sess.run(None, cases[0]["in"])
    assert _core.tensor_buffer_allocations() == before


@pytest.mark.skipif(not FIXTURES, reason="no fixture models in tests/data/models")
@pytest.mark.parametrize("fixture", [f for f in FIXTURES if any("state" in i["name"] or i["name"] in ("h0", "c0")
                                                                for i in f.get("inputs", []))],
                         ids=lambda f: f["name"])
def test_fixture_optional_state_inputs_default_to_zeros(fixture):
    sess = lstmrt.InferenceSession(os.path.join(MODELS, fixture["file"]), threads=1)
    optional = set(sess.optional_inputs)
    with np.load(os.path.join(MODELS, fixture["npz"])) as npz:
        case = _cases(npz)[0]
    if not optional:
        # The exporter unrolled the cell (dynamo turns nn.RNN into MatMul/Tanh): there is no
        # recurrent node, so the state inputs are ordinary required inputs, and leaving one out
        # is a clear error naming it.
        assert not sess.recurrent_nodes
        state = next(i["name"] for i in fixture["inputs"] if "state" in i["name"] or i["name"] in ("h0", "c0"))
        with pytest.raises(ValueError, match=state):
            sess.run(None, {k: v for k, v in case["in"].items() if k != state})
        return
    zeros = {k: (np.zeros_like(v) if k in optional else v) for k, v in case["in"].items()}
    omitted = {k: v for k, v in case["in"].items() if k not in optional}
    for a, b in zip(sess.run(None, zeros), sess.run(None, omitted)):
        np.testing.assert_array_equal(a, b)

"""Every public function, class and method of the Python API has a docstring that says more than
its signature, and the operators' docstrings give shapes and dtypes (``help(lstmrt.ops.lstm)``)."""

from __future__ import annotations

import inspect

import pytest

import lstmrt
from lstmrt import _core, ops


def _described(obj) -> bool:
    doc = inspect.getdoc(obj) or ""
    # pybind11 puts the signature on the first line; a description must follow it.
    lines = [line for line in doc.splitlines() if line.strip()]
    if lines and "(" in lines[0] and "->" in lines[0]:
        lines = lines[1:]
    return bool(lines)


def _public(cls):
    return [name for name, _ in inspect.getmembers(cls) if not name.startswith("_")] + \
        [name for name in ("__call__",) if name in vars(cls)]


API = [lstmrt.InferenceSession, lstmrt.session.NodeArg, ops.LSTM, ops.GRU, ops.RNN,
       _core.GraphStream, _core.StreamPool, _core.RnnLayer, _core.RnnStream]


@pytest.mark.parametrize("name", lstmrt.__all__ + [f"ops.{n}" for n in ops.__all__])
def test_module_level_names_are_described(name):
    obj = getattr(ops, name[4:]) if name.startswith("ops.") else getattr(lstmrt, name)
    if name == "__version__":
        return
    assert _described(obj), name


@pytest.mark.parametrize("cls", API, ids=lambda c: c.__name__)
def test_methods_are_described(cls):
    # __slots__ members (NodeArg's name, type, shape) are described in the class docstring.
    missing = [name for name in _public(cls)
               if not inspect.ismemberdescriptor(vars(cls).get(name)) and not _described(getattr(cls, name))]
    assert not missing, f"{cls.__name__}: no docstring on {missing}"


@pytest.mark.parametrize("fn", [ops.lstm, ops.gru, ops.rnn, ops.LSTM, lstmrt._core.RnnLayer.run])
def test_operator_docs_give_shapes_and_dtypes(fn):
    doc = inspect.getdoc(fn)
    parts = ["float32", "[seq_length, batch_size, input_size]"]
    if not inspect.isclass(fn):  # the class points at the function for the output shapes
        parts.append("hidden_size]")
    for part in parts:
        assert part in doc, (fn, part)


INTEGRATIONS = ["lstmrt.integrations", "lstmrt.integrations.batching", "lstmrt.integrations.checkpoint",
                "lstmrt.integrations.ray", "lstmrt.integrations.dask"]


@pytest.mark.parametrize("module", INTEGRATIONS)
def test_integration_modules_describe_their_public_names(module):
    engine = module.rsplit(".", 1)[-1]
    if engine in ("ray", "dask"):
        pytest.importorskip(engine)
    import importlib

    mod = importlib.import_module(module)
    assert _described(mod), module
    missing = [name for name in mod.__all__ if not _described(getattr(mod, name))]
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj):
            # Only what the class defines: an exception's inherited ``args`` is Python's.
            missing += [f"{name}.{m}" for m in _public(obj) if m in vars(obj)
                        and not inspect.ismemberdescriptor(vars(obj)[m]) and not _described(getattr(obj, m))]
    assert not missing, f"{module}: no docstring on {missing}"

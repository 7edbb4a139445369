"""The committed stub python/lstmrt/_core.pyi matches the compiled module: the same public
functions and classes, and per class the same public methods and properties."""

from __future__ import annotations

import ast
import inspect
import os

import lstmrt
from lstmrt import _core

STUB = os.path.join(os.path.dirname(os.path.abspath(lstmrt.__file__)), "_core.pyi")
# Dunder methods a stub states when the class defines them; the rest come from object/pybind11.
DUNDERS = {"__init__", "__call__", "__len__", "__contains__"}


def _stub_names():
    with open(STUB) as f:
        tree = ast.parse(f.read())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        elif isinstance(node, ast.ClassDef):
            top.add(node.name)
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return {n for n in top if not n.startswith("_")}, classes


def _public_members(cls):
    return {n for n in vars(cls) if (not n.startswith("_") or n in DUNDERS)
            and not (n == "__init__" and "Initialize self" in (getattr(cls, n).__doc__ or ""))}


def test_stub_names_the_module_and_nothing_else():
    top, _ = _stub_names()
    module = {n for n in dir(_core) if not n.startswith("_")}
    assert module - top == set(), "in _core, missing from _core.pyi"
    assert top - module == set(), "in _core.pyi, not in _core"


def test_stub_classes_have_the_module_methods():
    _, classes = _stub_names()
    for name, stub_members in classes.items():
        cls = getattr(_core, name)
        assert inspect.isclass(cls), name
        members = _public_members(cls)
        assert members - stub_members == set(), f"{name}: in _core, missing from the stub"
        assert stub_members - members == set(), f"{name}: in the stub, not in _core"

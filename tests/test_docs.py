"""Every ```python block of README.md and docs/*.md runs, and the README's commands are the
ones that tools/newcomer_check.sh and .ci/run run.

A block may be preceded by an HTML comment that sets it up:
``<!-- docs-test: cwd=examples/models -->`` runs it in that directory (relative to the
repository), ``<!-- docs-test: requires=torch -->`` skips it, visibly, when the module is missing
(it is still compiled, so a syntax error fails).
"""

from __future__ import annotations

import glob
import os
import re
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(?:<!--\s*docs-test:(?P<opts>[^>]*)-->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    for path in files:
        with open(path) as f:
            text = f.read()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start("code")) + 1
            opts = dict(o.split("=", 1) for o in (m.group("opts") or "").split())
            yield pytest.param(m.group("code"), opts, id=f"{os.path.relpath(path, ROOT)}:{line}")


@pytest.mark.parametrize("code, opts", list(_blocks()))
def test_snippet_runs(code, opts, monkeypatch, tmp_path, capsys):
    compiled = compile(code, "<snippet>", "exec")
    if "requires" in opts:
        pytest.importorskip(opts["requires"])
    # Snippets that write files (an export) write them into a temporary directory.
    monkeypatch.chdir(os.path.join(ROOT, opts["cwd"]) if "cwd" in opts else tmp_path)
    with warnings.catch_warnings():
        if "requires" in opts:
            # Another library's warnings (torch's exporter warns about itself) are not lstmrt's.
            warnings.simplefilter("ignore")
        exec(compiled, {"__name__": "__snippet__"})


def _readme_commands():
    with open(os.path.join(ROOT, "README.md")) as f:
        return [line.strip() for line in f if line.startswith("    pip install")]


def test_readme_commands_are_the_checked_ones():
    commands = _readme_commands()
    assert commands == ["pip install -v . && python -m lstmrt demo", 'pip install -v ".[test]" && pytest']
    with open(os.path.join(ROOT, "tools", "newcomer_check.sh")) as f:
        script = f.read()
    assert f"INSTALL_AND_DEMO='{commands[0]}'" in script
    assert f"INSTALL_AND_TEST='{commands[1]}'" in script
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        lines = f.read().rstrip().splitlines()
    # The test command, then the sanitizer job (which needs the test extra installed first).
    assert lines[-2:] == [commands[1], "bash tools/sanitize.sh"]


def test_readme_points_at_files_that_exist():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert os.path.exists(os.path.join(ROOT, target)), target

"""The fuzz quick pass: the committed corpus of cases that once crashed, then a fixed-seed run of
generated cases. Every case runs in a worker process; no case may crash it, hang it or push it
past the memory cap (harness.py says how each is counted). LSTMRT_FUZZ_CASES sets the count.
"""

import os

import pytest

import harness

QUICK_CASES = int(os.environ.get("LSTMRT_FUZZ_CASES", "4000"))
QUICK_SEED = 20261204


def _assert_clean(summary):
    assert summary.failures() == 0, summary.report()


def test_corpus_replays_without_a_crash():
    cases = harness.corpus_cases()
    if not cases:
        pytest.skip("the fuzz corpus is empty")
    summary = harness.run_cases(cases, timeout=60.0)
    assert sum(summary.counts.values()) == len(cases)
    _assert_clean(summary)


def test_quick_pass_of_generated_cases():
    summary = harness.run_cases(harness.generated_cases(QUICK_CASES, QUICK_SEED, harness.fixtures()), timeout=20.0)
    print(summary.report())
    assert sum(summary.counts.values()) == QUICK_CASES
    # The harness must reach the models, not only the parser: a share of the cases runs.
    assert summary.counts["ok"] > QUICK_CASES // 20, summary.report()
    _assert_clean(summary)

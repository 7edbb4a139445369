"""Independent references for the scale-out tests: each sequence run alone through a plain
single-process InferenceSession, with no bucketing, padding or cluster in between.

A sequence run alone is a batch of one, which lstmrt computes with its matrix-vector kernels; a
bucket of two or more rows goes through the GEMM kernels, which add the same products in another
order. Rows of a batch of two or more are bit-identical whatever the batch size (checked in
test_integrations_batching.py), so a batch of two copies of the sequence is the exact reference
for those rows. Every output must equal one of the two bit for bit, and the alone run within
ALONE_ATOL + ALONE_RTOL*|expected|: float32 rounding of sums of about a hundred products, carried
through up to a hundred recurrent steps, stays orders of magnitude below it (about 1e-5 seen on
the char LM's logits).
"""

from __future__ import annotations

import os

import numpy as np

import lstmrt
from checks import assert_close

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "models")
CHAR_LM = os.path.join(MODELS, "torch_char_lm_legacy.onnx")
SENTIMENT = os.path.join(MODELS, "torch_sentiment_classifier_legacy.onnx")
PACKED_BILSTM = os.path.join(MODELS, "torch_packed_bilstm_legacy.onnx")

ALONE_ATOL = 1e-4
ALONE_RTOL = 1e-4


def token_sequences(n: int, seed: int, vocab: int = 39, longest: int = 60):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, int(L)).astype(np.int64) for L in rng.integers(1, longest + 1, n)]


class Reference:
    """Runs one sequence alone (and as a pair of copies) through a fresh single-thread session."""

    def __init__(self, path: str, output: str, input_name: str, lengths_input: str = None):
        self.session = lstmrt.InferenceSession(path, threads=1)
        self.output = output
        self.input_name = input_name
        self.lengths_input = lengths_input

    def _run(self, x: np.ndarray, copies: int) -> np.ndarray:
        feeds = {self.input_name: np.stack([x] * copies)}
        if self.lengths_input:
            feeds[self.lengths_input] = np.full(copies, len(x), np.int64)
        return self.session.run([self.output], feeds)[0]

    def check(self, got, x: np.ndarray, label) -> None:
        """Asserts that ``got`` is this sequence's output, as the module docstring says."""
        assert got is not None, f"row {label}: no output"
        got = np.asarray(got, dtype=np.float32)
        # Outputs are batch-first here ([batch, ...]); the row is the first index.
        alone = self._run(x, 1)[0]
        pair = self._run(x, 2)[0]
        assert np.array_equal(got, alone) or np.array_equal(got, pair), \
            f"row {label}: not bit-identical to the sequence run alone or as a pair " \
            f"(max |got - alone| = {np.abs(got - alone).max() if got.shape == alone.shape else got.shape})"
        assert_close(got, alone, atol=ALONE_ATOL, rtol=ALONE_RTOL, name=self.output, context=f"row {label}")


def restore_environment(saved: dict) -> None:
    """Puts os.environ back to ``saved`` (a dict copy): Ray and Dask set variables in the
    environment of the process that starts them, which later tests' subprocesses would inherit."""
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)

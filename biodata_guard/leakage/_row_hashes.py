"""Order-independent 128-bit hashes of matrix rows (exact duplicate samples), streamed as an
accumulator of the audit's shared pass: computed by its compiled kernel from each row's stored
entries (never densified). Entry (j, v) hashes to splitmix64(bits(v) ^ key[j]), values compared
as float64 (float32, float64 and integer storage of the same numbers agree), -0.0 as 0.0 and
every NaN alike; a row's hash is the wrapping sum of its non-zero entries' hashes."""

from __future__ import annotations

from typing import Any

import numpy as np

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import _kernel as K
from biodata_guard.stream import accumulate
from biodata_guard.stream._fused import BlockStats, Request


class RowHashes:
    """Order-independent 128-bit hash (two uint64 sums) and non-zero count of every row, as an
    accumulator of the audit's shared pass (``biodata_guard.stream``)."""

    def __init__(self, n: int, m: int) -> None:
        self.m = m
        self.h1 = np.zeros(n, dtype=np.uint64)
        self.h2 = np.zeros(n, dtype=np.uint64)
        self.nnz = np.zeros(n, dtype=np.int64)

    def task(self) -> tuple[Any, dict[str, Any]]:
        return _hash_part, {"request": Request(hashes=True)}

    def absorb(self, start: int, stop: int, part: tuple[np.ndarray, ...]) -> None:
        self.h1[start:stop], self.h2[start:stop], self.nnz[start:stop] = part


def _hash_part(stats: BlockStats, start: int, stop: int) -> tuple[np.ndarray, ...]:
    return (
        stats.hashes[:, 0].copy(),
        stats.hashes[:, 1].copy(),
        stats.rows[:, K.R_HASH_NNZ].astype(np.int64),
    )


def row_hashes(view: MatrixView, chunk_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row hashes of ``view``: from the audit's shared pass, else one pass of their own."""
    acc = accumulate(
        view, ("leakage.row_hashes",), lambda: RowHashes(*view.shape), chunk_size=chunk_size
    )
    return acc.h1, acc.h2, acc.nnz

"""Order-independent 128-bit hashes of matrix rows (exact duplicate samples), streamed as an
accumulator of the audit's shared pass: CSR rows hash from their stored entries, never densified."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import accumulate, row_slices

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SALT1 = np.uint64(0x9E3779B97F4A7C15)
_SALT2 = np.uint64(0xD1B54A32D192ED03)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _entry_hashes(
    values: np.ndarray, key1: np.ndarray, key2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each (column, value) entry; zero entries hash to 0.

    Values are compared as float64 (so float32, float64 and integer storage of the same numbers
    agree), with -0.0 folded into 0.0 and every NaN mapped to one bit pattern.
    """
    v = values.astype(np.float64)
    v += 0.0
    nan = np.isnan(v)
    if nan.any():
        v[nan] = np.nan
    u = v.view(np.uint64)
    zero = values == 0
    h1 = _mix(u ^ key1)
    h2 = _mix(u ^ key2)
    h1[zero] = 0
    h2[zero] = 0
    return h1, h2, ~zero


def _segment_sum(h: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    counts = np.diff(bounds)
    out = np.zeros(len(counts), dtype=h.dtype)
    full = counts > 0
    if full.any():
        out[full] = np.add.reduceat(h, bounds[:-1][full])
    return out


class RowHashes:
    """Order-independent 128-bit hash (two uint64 sums) and non-zero count of every row, as an
    accumulator of the audit's shared pass (``biodata_guard.stream``)."""

    def __init__(self, n: int, m: int) -> None:
        self.m = m
        self.h1 = np.zeros(n, dtype=np.uint64)
        self.h2 = np.zeros(n, dtype=np.uint64)
        self.nnz = np.zeros(n, dtype=np.int64)

    def task(self) -> tuple[Any, dict[str, Any]]:
        return _hash_block, {"m": self.m}

    def absorb(self, start: int, stop: int, part: tuple[np.ndarray, ...]) -> None:
        self.h1[start:stop], self.h2[start:stop], self.nnz[start:stop] = part


def _hash_block(block: Any, start: int, stop: int, *, m: int) -> tuple[np.ndarray, ...]:
    """Row hashes of one block: CSR rows from their stored entries (never densified), in row
    ranges of a bounded number of values (:func:`biodata_guard.stream.row_slices`)."""
    cols = np.arange(m, dtype=np.uint64)
    key1 = _mix(cols + _SALT1)
    key2 = _mix(cols + _SALT2)
    rows = block.shape[0]
    out1 = np.zeros(rows, dtype=np.uint64)
    out2 = np.zeros(rows, dtype=np.uint64)
    nnz = np.zeros(rows, dtype=np.int64)
    sparse = sp.issparse(block)
    indptr = block.indptr.astype(np.int64) if sparse else None
    for r, end in row_slices(block):
        if sparse:
            a, b = indptr[r], indptr[end]
            idx = block.indices[a:b]
            h1, h2, nz = _entry_hashes(block.data[a:b], key1[idx], key2[idx])
            bounds = indptr[r : end + 1] - a
            out1[r:end] = _segment_sum(h1, bounds)
            out2[r:end] = _segment_sum(h2, bounds)
            nnz[r:end] = _segment_sum(nz.astype(np.int64), bounds)
        else:
            h1, h2, nz = _entry_hashes(block[r:end], key1[None, :], key2[None, :])
            out1[r:end] = h1.sum(axis=1, dtype=np.uint64)
            out2[r:end] = h2.sum(axis=1, dtype=np.uint64)
            nnz[r:end] = nz.sum(axis=1)
    return out1, out2, nnz


def row_hashes(view: MatrixView, chunk_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row hashes of ``view``: from the audit's shared pass, else one pass of their own."""
    acc = accumulate(
        view, ("leakage.row_hashes",), lambda: RowHashes(*view.shape), chunk_size=chunk_size
    )
    return acc.h1, acc.h2, acc.nnz

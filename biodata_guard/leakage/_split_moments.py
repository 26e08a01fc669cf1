"""Per-split feature moments (sums, squares, extremes) and per-row summaries, streamed as an
accumulator of the audit's shared pass, for the preprocessing-before-split check."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import accumulate, row_slices


class SplitMoments:
    """Per-split feature moments and per-row summaries, as an accumulator of the audit's shared
    pass (``biodata_guard.stream``). Rows with code -1 (no split) count in ``rows`` only."""

    def __init__(self, codes: np.ndarray, n_splits: int, m: int) -> None:
        self.codes, self.n_splits, self.m = codes, n_splits, m
        self.count = np.zeros(n_splits)
        self.total = np.zeros((n_splits, m))  # sums
        self.total_sq = np.zeros((n_splits, m))  # sums of squares
        self.low = np.full((n_splits, m), np.inf)  # minima
        self.high = np.full((n_splits, m), -np.inf)  # maxima
        self.non_integer = np.zeros(m, dtype=np.int64)  # cells with a fractional part, pooled
        self.rows = np.full((len(codes), 4), np.nan)  # per-row sum, sum of squares, min, max

    def task(self) -> tuple[Any, dict[str, Any]]:
        return _moments_block, {"codes": self.codes, "n_splits": self.n_splits}

    def absorb(self, start: int, stop: int, part: dict[str, np.ndarray]) -> None:
        self.rows[start:stop] = part["rows"]
        self.count += part["count"]
        self.total += part["total"]
        self.total_sq += part["total_sq"]
        np.minimum(self.low, part["low"], out=self.low)
        np.maximum(self.high, part["high"], out=self.high)
        self.non_integer += part["non_integer"]


def _moments_block(
    block: Any, start: int, stop: int, *, codes: np.ndarray, n_splits: int
) -> dict[str, np.ndarray]:
    m = block.shape[1]
    c = codes[start:stop]
    part = {
        "count": np.bincount(c[c >= 0], minlength=n_splits).astype(np.float64),
        "total": np.zeros((n_splits, m)),
        "total_sq": np.zeros((n_splits, m)),
        "low": np.full((n_splits, m), np.inf),
        "high": np.full((n_splits, m), -np.inf),
        "non_integer": np.zeros(m, dtype=np.int64),
        "rows": np.full((block.shape[0], 4), np.nan),
        "stored": np.zeros((n_splits, m), dtype=np.int64),  # sparse: entries per split, feature
    }
    sparse = sp.issparse(block)
    if sparse:
        block = sp.csr_matrix(block)
    for r0, r1 in row_slices(block):
        if sparse:
            _sparse_moments(block[r0:r1], c[r0:r1], part, part["rows"][r0:r1])
        else:
            _dense_moments(block[r0:r1], c[r0:r1], part, part["rows"][r0:r1])
    if sparse:
        # a (split, feature) with fewer stored entries than rows in the split holds a zero
        count = part["count"][:, None]
        zero = (part["stored"] < count) & (count > 0)
        np.minimum(part["low"], np.where(zero, 0.0, np.inf), out=part["low"])
        np.maximum(part["high"], np.where(zero, 0.0, -np.inf), out=part["high"])
    del part["stored"]
    return part


def _dense_moments(
    block: Any, c: np.ndarray, part: dict[str, np.ndarray], rows: np.ndarray
) -> None:
    """Add the moments of the dense rows ``block`` (split codes ``c``) to ``part``."""
    block = np.asarray(block, dtype=np.float64)
    rows[:, 0] = block.sum(axis=1)
    rows[:, 1] = np.einsum("ij,ij->i", block, block)
    if block.shape[1]:
        rows[:, 2] = block.min(axis=1)
        rows[:, 3] = block.max(axis=1)
    kept = block[c >= 0]
    part["non_integer"] += (kept != np.round(kept)).sum(axis=0)
    for code in np.unique(c[c >= 0]):
        sub = block[c == code]
        part["total"][code] += sub.sum(axis=0)
        part["total_sq"][code] += np.einsum("ij,ij->j", sub, sub)
        np.minimum(part["low"][code], sub.min(axis=0), out=part["low"][code])
        np.maximum(part["high"][code], sub.max(axis=0), out=part["high"][code])


def _sparse_moments(
    block: sp.csr_matrix, c: np.ndarray, part: dict[str, np.ndarray], rows: np.ndarray
) -> None:
    """Add the moments of the CSR rows ``block`` (split codes ``c``) to ``part``, from the
    stored entries: one ``bincount`` (or ``ufunc.at``) per statistic over (split, feature)
    keys, never a per-split copy of the rows; implicit zeros are settled from the counts."""
    nr, m = block.shape
    n_splits = part["total"].shape[0]
    indptr = np.asarray(block.indptr, dtype=np.int64)
    data = np.asarray(block.data[: indptr[-1]], dtype=np.float64)
    indices = np.asarray(block.indices[: indptr[-1]], dtype=np.int64)
    stored = np.diff(indptr)
    row_of = np.repeat(np.arange(nr), stored)
    square = data * data
    rows[:, 0] = np.bincount(row_of, weights=data, minlength=nr)
    rows[:, 1] = np.bincount(row_of, weights=square, minlength=nr)
    rows[:, 2] = np.where(stored < m, 0.0, np.inf)
    rows[:, 3] = np.where(stored < m, 0.0, -np.inf)
    nonempty = stored > 0
    if nonempty.any():
        starts = indptr[:-1][nonempty]
        rows[nonempty, 2] = np.minimum(rows[nonempty, 2], np.minimum.reduceat(data, starts))
        rows[nonempty, 3] = np.maximum(rows[nonempty, 3], np.maximum.reduceat(data, starts))
    if not m:
        rows[:, 2:] = np.nan
    split_of = c[row_of]
    if (c >= 0).all():
        key = split_of * m + indices
        values = data
    else:
        kept = split_of >= 0
        key, values, indices, square = (
            split_of[kept] * m + indices[kept],
            data[kept],
            indices[kept],
            square[kept],
        )
    size = n_splits * m
    part["non_integer"] += np.bincount(indices[values != np.rint(values)], minlength=m)
    part["total"] += np.bincount(key, weights=values, minlength=size).reshape(n_splits, m)
    part["total_sq"] += np.bincount(key, weights=square, minlength=size).reshape(n_splits, m)
    part["stored"] += np.bincount(key, minlength=size).reshape(n_splits, m)
    np.minimum.at(part["low"].reshape(-1), key, values)
    np.maximum.at(part["high"].reshape(-1), key, values)


def moments_key(codes: np.ndarray) -> tuple:
    return ("leakage.moments", hashlib.sha1(np.ascontiguousarray(codes).tobytes()).hexdigest())


def split_moments(
    view: MatrixView, codes: np.ndarray, n_splits: int, chunk_size: int
) -> SplitMoments:
    """Split moments of ``view``: from the audit's shared pass, else one pass of their own."""
    return accumulate(
        view,
        moments_key(codes),
        lambda: SplitMoments(codes, n_splits, view.n_vars),
        chunk_size=chunk_size,
    )

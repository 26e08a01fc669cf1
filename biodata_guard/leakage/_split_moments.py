"""Per-split feature moments (sums, squares, extremes) and per-row summaries, streamed as an
accumulator of the audit's shared pass, for the preprocessing-before-split check."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import _kernel as K
from biodata_guard.stream import accumulate
from biodata_guard.stream._fused import BlockStats, Request


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
        return _moments_part, {"request": Request(codes=self.codes, n_splits=self.n_splits)}

    def absorb(self, start: int, stop: int, part: dict[str, np.ndarray]) -> None:
        self.rows[start:stop] = part["rows"]
        self.count += part["count"]
        self.total += part["total"]
        self.total_sq += part["total_sq"]
        np.minimum(self.low, part["low"], out=self.low)
        np.maximum(self.high, part["high"], out=self.high)
        self.non_integer += part["non_integer"]


def _moments_part(stats: BlockStats, start: int, stop: int) -> dict[str, np.ndarray]:
    """One block's moments, from the shared pass's kernel: a (split, feature) with fewer
    stored entries than rows in the split holds a zero."""
    codes = stats.request.codes[start:stop]
    n_splits = stats.request.n_splits
    count = np.bincount(codes[codes >= 0], minlength=n_splits).astype(np.float64)
    low, high = stats.split[K.S_LOW].copy(), stats.split[K.S_HIGH].copy()
    zero = (stats.split[K.S_STORED] < count[:, None]) & (count[:, None] > 0)
    np.minimum(low, np.where(zero, 0.0, np.inf), out=low)
    np.maximum(high, np.where(zero, 0.0, -np.inf), out=high)
    return {
        "count": count,
        "total": stats.split[K.S_TOTAL],
        "total_sq": stats.split[K.S_TOTAL_SQ],
        "low": low,
        "high": high,
        "non_integer": stats.split_nonint.astype(np.int64),
        "rows": stats.rows[:, [K.R_M_SUM, K.R_M_SUMSQ, K.R_M_MIN, K.R_M_MAX]],
    }


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

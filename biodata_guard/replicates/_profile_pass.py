"""One chunked pass over a feature matrix: each replicate's correlation with the rest of its
group (sparse-safe, group by group)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.io.matrix import MatrixView, require_finite
from biodata_guard.replicates._groups import MAX_PLOT_POINTS, sorted_by_group

#: Rows sampled (seeded) to choose the profile transform, whatever the chunk size.
_SCALE_SAMPLE_ROWS = 1000
_PURPOSE = "replicate profiles need finite numbers"


class _NegativeValues(Exception):
    """A block holds negative values although the sampled rows did not."""


def row_batches(
    starts: np.ndarray, sizes: np.ndarray, chunk_size: int
) -> Iterator[tuple[int, int]]:
    """Consecutive runs of whole groups ``[g0, g1)`` holding at most ``chunk_size`` rows (a
    larger group forms a batch of its own).

    Examples
    --------
    >>> list(row_batches(np.array([0, 2, 4, 9]), np.array([2, 2, 5, 2]), 4))
    [(0, 2), (2, 3), (3, 4)]
    """
    G = len(sizes)
    g0 = 0
    ends = np.cumsum(sizes)
    while g0 < G:
        base = ends[g0] - sizes[g0]
        g1 = int(np.searchsorted(ends, base + max(chunk_size, sizes[g0]), side="right"))
        g1 = max(g1, g0 + 1)
        yield g0, g1
        g0 = g1


def scale_rows(block: Any, log_scale: bool, target: float) -> Any:
    """A float64 copy of ``block``; with ``log_scale``, each row scaled to total ``target``
    then ``log1p`` (sparse stays sparse)."""
    if sp.issparse(block):
        block = sp.csr_matrix(block, dtype=np.float64, copy=True)
        if log_scale:
            totals = np.asarray(block.sum(axis=1)).ravel()
            scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
            block.data *= np.repeat(scale, np.diff(block.indptr))
            np.log1p(block.data, out=block.data)
        return block
    block = np.array(block, dtype=np.float64, copy=True)
    if log_scale:
        totals = block.sum(axis=1)
        scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
        block *= scale[:, None]
        np.log1p(block, out=block)
    return block


def _row_dot(A: Any, B: Any) -> np.ndarray:
    if sp.issparse(A):
        return np.asarray(A.multiply(B).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", A, B)


def profile_scale(
    view: MatrixView, order: np.ndarray, chunk_size: int, seed: int
) -> tuple[bool, float]:
    """Log-scale non-negative data (per-sample total scaling to the median total, then log1p),
    decided on a seeded sample of at most 1000 grouped rows: ``(log_scale, target_total)``."""
    rows = order
    if len(rows) > _SCALE_SAMPLE_ROWS:
        rows = np.random.default_rng(seed).choice(order, _SCALE_SAMPLE_ROWS, replace=False)
    rows = np.sort(rows)
    lowest, totals = math.inf, []
    for start in range(0, len(rows), max(1, chunk_size)):
        block = view.rows(rows[start : start + chunk_size])
        require_finite(block, view.name, purpose=_PURPOSE)
        if sp.issparse(block):
            low = float(block.data.min()) if block.nnz else 0.0
        else:
            low = float(block.min()) if block.size else 0.0
        lowest = min(lowest, low)
        totals.append(np.asarray(block.sum(axis=1), dtype=np.float64).ravel())
    if not lowest >= 0:
        return False, 1.0
    all_totals = np.concatenate(totals)
    positive = all_totals[all_totals > 0]
    return True, float(np.median(positive)) if len(positive) else 1.0


def profile_loo(
    view: MatrixView, codes: np.ndarray, *, chunk_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, str, tuple[np.ndarray, np.ndarray]]:
    """Each grouped sample's Pearson correlation (over features) with the sum of the other
    members of its group, in one pass over the grouped rows, sparse-safe.

    Rows are read group by group (whole groups per batch of at most ``chunk_size`` rows). With
    ``x`` a sample and ``S`` its group's sum, the correlation of ``x`` with ``S - x`` follows
    from ``<x, S>``, ``|x|^2``, ``|S|^2`` and the row sums: nothing is centred, so sparse blocks
    stay sparse.

    Returns the leave-one-out correlations and the row totals before scaling (NaN where not
    measured, or for data that is not log-scaled), the transform applied, and replicate pairs
    of feature values for plotting.
    """
    order, _, _ = sorted_by_group(codes)
    log_scale, target = profile_scale(view, order, chunk_size, seed)
    try:
        return _profile_pass(view, codes, log_scale, target, chunk_size=chunk_size, seed=seed)
    except _NegativeValues:
        return _profile_pass(view, codes, False, 1.0, chunk_size=chunk_size, seed=seed)


def _group_loo(X: Any, local: np.ndarray, n_local: int) -> np.ndarray:
    """Correlation of each row of ``X`` (in group order, groups ``local``) with the sum of the
    other rows of its group."""
    p = X.shape[1]
    ind = sp.csr_matrix(
        (np.ones(len(local)), (local, np.arange(len(local)))), shape=(n_local, len(local))
    )
    S = ind @ X
    if sp.issparse(S):
        S = sp.csr_matrix(S)
    S_rows = S[local]
    xs = np.asarray(X.sum(axis=1)).ravel()
    xx = _row_dot(X, X)
    xS = _row_dot(X, S_rows)
    SS = _row_dot(S, S)[local]
    Ts = np.bincount(local, xs, minlength=n_local)[local]
    dot_ab = xS - xx
    sum_a, sum_b = xs, Ts - xs
    bb = SS - 2.0 * xS + xx
    with np.errstate(divide="ignore", invalid="ignore"):
        var_a = p * xx - sum_a**2
        var_b = p * bb - sum_b**2
        r = (p * dot_ab - sum_a * sum_b) / np.sqrt(var_a * var_b)
    r = np.where((var_a > 1e-12 * np.maximum(p * xx, 1.0)) & (var_b > 0), r, 0.0)
    return np.clip(r, -1.0, 1.0)


def _read_batch(
    view: MatrixView, pos: np.ndarray, log_scale: bool, target: float, depth: np.ndarray
) -> Any:
    """Rows ``pos`` (group order) scaled, with their totals before scaling written to
    ``depth`` for log-scaled data."""
    srt = np.argsort(pos, kind="stable")
    block = view.rows(pos[srt])
    require_finite(block, view.name, purpose=_PURPOSE)
    if log_scale:
        values = block.data if sp.issparse(block) else block
        if values.size and values.min() < 0:
            raise _NegativeValues
        depth[pos[srt]] = np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
    X = scale_rows(block, log_scale, target)
    inv = np.empty_like(srt)
    inv[srt] = np.arange(len(srt))
    return X[inv]  # rows back in group order


def _pair_values(X: Any, heads: np.ndarray, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two replicates of each group (rows ``heads`` and ``heads + 1``) at ``genes``."""
    Xa = X[heads][:, genes]
    Xb = X[heads + 1][:, genes]
    if sp.issparse(Xa):
        Xa, Xb = Xa.toarray(), Xb.toarray()
    return np.asarray(Xa).ravel(), np.asarray(Xb).ravel()


def _profile_pass(
    view: MatrixView,
    codes: np.ndarray,
    log_scale: bool,
    target: float,
    *,
    chunk_size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, str, tuple[np.ndarray, np.ndarray]]:
    order, starts, sizes = sorted_by_group(codes)
    p = view.n_vars
    loo = np.full(view.n_obs, np.nan)
    depth = np.full(view.n_obs, np.nan)  # row totals before scaling (non-negative data)
    transform = f"per-sample total scaling to {target:.6g} + log1p" if log_scale else "none"
    rng = np.random.default_rng(seed)
    G = len(sizes)
    n_plot_genes = min(p, max(1, -(-MAX_PLOT_POINTS // max(1, min(G, MAX_PLOT_POINTS)))))
    plot_genes = np.sort(rng.choice(p, n_plot_genes, replace=False))
    pa: list[np.ndarray] = []
    pb: list[np.ndarray] = []
    n_points = 0
    for g0, g1 in row_batches(starts, sizes, chunk_size):
        lo, hi = starts[g0], starts[g1 - 1] + sizes[g1 - 1]
        pos = order[lo:hi]
        X = _read_batch(view, pos, log_scale, target, depth)
        loo[pos] = _group_loo(X, codes[pos] - g0, g1 - g0)
        if n_points < MAX_PLOT_POINTS:
            a, b = _pair_values(X, starts[g0:g1] - lo, plot_genes)
            pa.append(a)
            pb.append(b)
            n_points += a.size
    a = np.concatenate(pa)[:MAX_PLOT_POINTS] if pa else np.empty(0)
    b = np.concatenate(pb)[:MAX_PLOT_POINTS] if pb else np.empty(0)
    return loo, depth, transform, (a, b)

"""Replicate groups: aligning them with the samples, coding, sorting and sizing them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.errors import InputError

#: Plot data never holds more replicate pairs (points) than this.
MAX_PLOT_POINTS = 2000


def aligned_groups(groups: Any, index: pd.Index, name: str) -> np.ndarray:
    """The replicate groups in the order of ``index`` (by id when both carry ids).

    Examples
    --------
    >>> groups = pd.Series(["g1", "g1", "g2"], index=["s3", "s1", "s2"])
    >>> aligned_groups(groups, pd.Index(["s1", "s2", "s3"]), "values").tolist()
    ['g1', 'g2', 'g1']
    """
    if isinstance(groups, pd.Series):
        g_index = pd.Index(groups.index.astype(str))
        ids = pd.Index(index.astype(str))
        if not g_index.equals(ids) and g_index.is_unique and ids.isin(g_index).any():
            return groups.set_axis(g_index).reindex(ids).to_numpy()  # unmatched: no group
        out = groups.to_numpy()
    else:
        out = np.asarray(groups, dtype=object)
    if out.ndim != 1 or len(out) != len(index):
        raise InputError(
            f"{name}: replicate_groups must have one entry per sample; got {len(out)} for "
            f"{len(index)} samples",
            path=name,
            hint="Pass the replicate-group column aligned with the values "
            "(e.g. metadata.set_index('sample_id').loc[X.index, 'replicate_group']).",
        )
    return out


def present(groups: np.ndarray) -> np.ndarray:
    """Which samples have a replicate group (not NaN / None)."""
    return pd.notna(pd.Series(groups, dtype=object)).to_numpy()


def group_codes(groups: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes 0..G-1 for groups with >= 2 usable members (in order of first appearance), -1
    elsewhere.

    Examples
    --------
    >>> codes, names = group_codes(np.array(["a", "b", "a", "c", "c"]), np.ones(5, bool))
    >>> codes.tolist(), list(names)
    ([0, -1, 0, 1, 1], ['a', 'c'])
    """
    codes, uniques = pd.factorize(pd.Series(groups, dtype=object), use_na_sentinel=True)
    codes = np.where(usable, codes, -1)
    if len(uniques) == 0:
        return codes, pd.Index([])
    sizes = np.bincount(codes[codes >= 0], minlength=len(uniques))
    keep = sizes >= 2
    remap = np.full(len(uniques), -1)
    remap[keep] = np.arange(int(keep.sum()))
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return codes, pd.Index(uniques[keep])


def sorted_by_group(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of grouped samples sorted by (group, position); group starts and sizes."""
    pos = np.flatnonzero(codes >= 0)
    order = pos[np.argsort(codes[pos], kind="stable")]
    sizes = np.bincount(codes[order])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return order, starts, sizes


def first_per_group(order: np.ndarray, gc: np.ndarray) -> np.ndarray:
    """The first position of each group in ``order``, a sort of the samples by group code
    ``gc`` (ascending)."""
    return order[np.r_[0, np.cumsum(np.bincount(gc))[:-1]]]


def effective_size(sizes: np.ndarray) -> float:
    """``k0 = (N - sum(m_g^2) / N) / (G - 1)``: the mean group size when groups are equal.

    Examples
    --------
    >>> effective_size(np.array([2, 2, 2])), round(effective_size(np.array([2, 4])), 3)
    (2.0, 2.667)
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    N, G = sizes.sum(), len(sizes)
    return float((N - (sizes**2).sum() / N) / (G - 1)) if G > 1 else float(N)


def outlier(members: Any, sizes: np.ndarray) -> np.ndarray:
    """The worst member per group; None for pairs, where either member may be the wrong one."""
    return np.where(np.asarray(sizes) > 2, np.asarray(members, dtype=object), None)


def plot_pairs(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`MAX_PLOT_POINTS` replicate pairs (a seeded subsample), as floats."""
    if len(a) > MAX_PLOT_POINTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(a), MAX_PLOT_POINTS, replace=False))
        a, b = a[pick], b[pick]
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

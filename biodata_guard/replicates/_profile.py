"""Replicate profiles: the Fisher-z mean agreement and each group's robust low-agreement score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biodata_guard.replicates import _bootstrap
from biodata_guard.replicates._groups import first_per_group, outlier
from biodata_guard.stats import robust_sd

#: sqrt(pi / 2): scales the mean absolute deviation to the SD of a normal distribution.
_MEAN_AD_SCALE = 1.2533


def _fisher_z(r: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(r, -0.999999, 0.999999))


def profile(
    loo: np.ndarray, codes: np.ndarray, *, n_bootstrap: int, seed: int, ci_level: float
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """``profile_r`` (Fisher-z mean of the leave-one-out correlations ``loo``) with its
    bootstrap interval, and ``profile_r_median``."""
    G = int(codes.max()) + 1
    sel = codes >= 0
    z = _fisher_z(loo[sel])
    gc = codes[sel]
    m = np.bincount(gc, minlength=G).astype(np.float64)
    zs = np.bincount(gc, z, minlength=G)
    point = {
        "profile_r": float(np.tanh(zs.sum() / m.sum())),
        "profile_r_median": float(np.median(loo[sel])),
    }
    ci = _bootstrap.intervals(
        lambda C: {"profile_r": np.tanh((C @ zs) / (C @ m))},
        G,
        n_bootstrap=n_bootstrap,
        seed=seed,
        ci_level=ci_level,
    )
    return point, ci


def robust_low_scores(value: np.ndarray) -> np.ndarray:
    """Robust z of how far each value lies *below* the median (median / MAD; mean absolute
    deviation when the MAD is 0).

    Examples
    --------
    >>> robust_low_scores(np.array([1.0, 1.1, 0.9, 1.0, -2.0])).round(2).tolist()
    [0.0, -0.67, 0.67, 0.0, 20.23]
    """
    med = float(np.median(value))
    scale = robust_sd(value)
    if scale <= 0:
        scale = _MEAN_AD_SCALE * float(np.abs(value - med).mean())
    if scale <= 0:
        return np.zeros(len(value))
    return (med - value) / scale


def depth_residuals(z: np.ndarray, log_depth: np.ndarray) -> np.ndarray:
    """``z`` minus its robust linear trend on ``log_depth`` (least squares, refitted twice
    without points beyond 3 robust SDs): shallow libraries agree less, swaps stand out."""
    keep = np.isfinite(log_depth)
    if keep.sum() < 10 or np.ptp(log_depth[keep]) <= 0:
        return z
    A = np.c_[np.ones(len(z)), np.where(keep, log_depth, 0.0)]
    use = keep.copy()
    resid = z
    for _ in range(3):
        coef = np.linalg.lstsq(A[use], z[use], rcond=None)[0]
        resid = z - A @ coef
        med = np.median(resid[use])
        scale = robust_sd(resid[use])
        if scale <= 0:
            break
        use = keep & (np.abs(resid - med) <= 3.0 * scale)
        if use.sum() < 10:
            break
    return np.where(keep, resid, z)


def profile_groups(
    loo: np.ndarray, depth: np.ndarray, codes: np.ndarray, ids: pd.Index, names: pd.Index
) -> pd.DataFrame:
    """One row per group: ``n``, ``disagreement`` (1 - the lowest member's leave-one-out
    correlation), ``score`` (its robust low score after the depth trend) and ``outlier``."""
    sel = np.flatnonzero(codes >= 0)
    gc = codes[sel]
    r = loo[sel]
    first = first_per_group(np.lexsort((r, gc)), gc)
    worst = r[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_depth = np.log(depth[sel])
    shallowest = np.full(len(names), np.inf)
    np.minimum.at(shallowest, gc, np.where(np.isfinite(log_depth), log_depth, np.inf))
    sizes = np.bincount(gc)
    return pd.DataFrame(
        {
            "n": sizes.astype(np.int64),
            "disagreement": 1.0 - worst,
            "score": robust_low_scores(depth_residuals(_fisher_z(worst), shallowest)),
            "outlier": outlier(ids[sel][first], sizes),
        },
        index=names,
    )

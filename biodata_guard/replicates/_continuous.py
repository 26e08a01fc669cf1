"""Continuous targets: pair correlations, ICCs, the Spearman-Brown ceiling, noisy groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from biodata_guard.replicates import _bootstrap
from biodata_guard.replicates._groups import first_per_group, outlier


def spearman_brown(r: np.ndarray | float, k: float) -> np.ndarray:
    """The reliability of the mean of ``k`` replicates whose single-replicate reliability is
    ``r``: ``k r / (1 + (k - 1) r)``.

    Examples
    --------
    >>> float(spearman_brown(0.5, 3))
    0.75
    """
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return k * r / (1.0 + (k - 1.0) * r)


def _sqrt0(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(x, 0.0, 1.0))


def continuous_stats(C: np.ndarray, V: np.ndarray) -> dict[str, np.ndarray]:
    """Pair correlations and ICCs for group weights ``C`` (rows: bootstrap draws), from the
    per-group columns ``V`` of :func:`continuous_columns`, in one matrix product.

    With per-group sums ``T`` and sums of squares ``U``, the double-entry pair correlation
    (every ordered pair of replicates, each weighted 1/(m-1) so that each sample counts once) is
    ``(sum a_g - T.^2/N) / (sum U_g - T.^2/N)`` with ``a_g = (T_g^2 - U_g)/(m_g - 1)``: no pair
    is ever enumerated.
    """
    N, m2, T, U, a, Tr, Ur, ar, between = (C @ V).T
    with np.errstate(divide="ignore", invalid="ignore"):
        G = C.sum(axis=1)
        tot, tot_r = T**2 / N, Tr**2 / N
        ssb = between - tot
        ssw = U - between
        msb = ssb / (G - 1.0)
        msw = ssw / (N - G)
        k0 = (N - m2 / N) / (G - 1.0)
        return {
            "pearson": (a - tot) / (U - tot),
            "spearman": (ar - tot_r) / (Ur - tot_r),
            "icc1": (msb - msw) / (msb + (k0 - 1.0) * msw),
            "icck": (msb - msw) / msb,
            "k0": k0,
        }


def continuous_columns(y: np.ndarray, gc: np.ndarray, G: int) -> np.ndarray:
    """Per-group sufficient statistics (G x 9) of centred values and centred ranks."""
    y = y - y.mean()  # shift-invariant statistics; centring avoids cancellation
    r = stats.rankdata(y)
    r -= r.mean()
    m = np.bincount(gc, minlength=G).astype(np.float64)
    T, U = np.bincount(gc, y, minlength=G), np.bincount(gc, y**2, minlength=G)
    Tr, Ur = np.bincount(gc, r, minlength=G), np.bincount(gc, r**2, minlength=G)
    return np.column_stack(
        [m, m**2, T, U, (T**2 - U) / (m - 1.0), Tr, Ur, (Tr**2 - Ur) / (m - 1.0), T**2 / m]
    )


def _ceilings(C: np.ndarray, V: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """The estimates of :class:`ReplicateCeiling` for group weights ``C``, ceilings at ``k``
    averaged replicates."""
    raw = continuous_stats(C, V)
    r2 = np.clip(spearman_brown(raw["icc1"], k), 0.0, 1.0)
    return {
        "pearson": raw["pearson"],
        "spearman": raw["spearman"],
        "icc1": raw["icc1"],
        "icck": raw["icck"],
        "ceiling_r2": r2,
        "ceiling_pearson": np.sqrt(r2),
        "ceiling_spearman": _sqrt0(spearman_brown(raw["spearman"], k)),
        "k0": raw["k0"],
    }


def continuous(
    y: np.ndarray,
    codes: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
    target_replicates: int,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, np.ndarray], float]:
    """Estimates, bootstrap intervals, per-group parts (``m``, ``ss``) and ``k0`` of a continuous
    target ``y`` in groups ``codes`` (-1: not measured)."""
    G = int(codes.max()) + 1
    sel = codes >= 0
    V = continuous_columns(y[sel].astype(np.float64), codes[sel], G)

    def derived(C: np.ndarray) -> dict[str, np.ndarray]:
        out = _ceilings(C, V, target_replicates)
        del out["k0"]
        return out

    point_draw = _ceilings(np.ones((1, G)), V, target_replicates)
    k0 = float(point_draw.pop("k0")[0])
    point = {k: float(v[0]) for k, v in point_draw.items()}
    ci = _bootstrap.intervals(derived, G, n_bootstrap=n_bootstrap, seed=seed, ci_level=ci_level)
    m, T, U = V[:, 0], V[:, 2], V[:, 3]
    ss = U - T**2 / m
    return point, ci, {"m": m, "ss": ss}, k0


def _chi2_scores(ss: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Normal scores of each group's within-group sum of squares ``ss`` (``df`` degrees of
    freedom) against the robust pooled variance (the median over groups)."""
    sizes, which = np.unique(df, return_inverse=True)  # few distinct group sizes
    ratio_median = stats.chi2.median(sizes)[which]
    sigma2 = float(np.median(ss / ratio_median))
    if sigma2 <= 0:
        sigma2 = float(ss.sum() / df.sum())
    if not sigma2 > 0:
        return np.zeros(len(ss))
    sf = np.empty(len(ss))
    for j, k in enumerate(sizes):
        at = which == j
        x = ss[at] / sigma2
        # pairs (1 df): P(chi2 > x) = erfc(sqrt(x / 2)), much faster than chi2.sf
        sf[at] = special.erfc(np.sqrt(x / 2.0)) if k == 1 else stats.chi2.sf(x, k)
    return stats.norm.isf(np.maximum(sf, 1e-300))


def continuous_groups(
    y: np.ndarray, codes: np.ndarray, ids: pd.Index, names: pd.Index, parts: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per group: ``n``, ``disagreement`` (within-group SD), ``score`` and ``outlier``
    (the member furthest from its group mean; None for pairs)."""
    m, ss = parts["m"], np.maximum(parts["ss"], 0.0)
    df = m - 1.0
    score = _chi2_scores(ss, df)
    sel = np.flatnonzero(codes >= 0)
    gc = codes[sel]
    dev = np.abs(y[sel] - (np.bincount(gc, y[sel]) / m)[gc])
    first = first_per_group(np.lexsort((-dev, gc)), gc)
    return pd.DataFrame(
        {
            "n": m.astype(np.int64),
            "disagreement": np.sqrt(ss / df),
            "score": score,
            "outlier": outlier(ids[sel][first], m),
        },
        index=names,
    )

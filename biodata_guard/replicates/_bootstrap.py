"""Percentile bootstrap over replicate groups, as weights on per-group sufficient statistics."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

#: Bootstrap draws x groups held in memory at once.
_BOOT_CELLS = 4_000_000
#: Total bootstrap draws x groups; beyond it fewer draws are made (never fewer than 200).
MAX_BOOTSTRAP_CELLS = 50_000_000


def n_draws(n_bootstrap: int, n_groups: int) -> int:
    """The bootstrap draws actually made: ``n_bootstrap``, capped so that draws x groups stays
    under :data:`MAX_BOOTSTRAP_CELLS` (the intervals are narrow by then anyway).

    Examples
    --------
    >>> n_draws(1000, 100), n_draws(1000, 10_000_000)
    (1000, 200)
    """
    n_bootstrap = max(0, int(n_bootstrap))
    if n_bootstrap * max(1, n_groups) <= MAX_BOOTSTRAP_CELLS:
        return n_bootstrap
    return min(n_bootstrap, max(200, MAX_BOOTSTRAP_CELLS // n_groups))


def weights(n_groups: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Group-resampling weights, in blocks of draws: how often each group is drawn when
    ``n_groups`` groups are resampled with replacement (rows: draws)."""
    rng = np.random.default_rng(seed)
    block = max(1, _BOOT_CELLS // max(1, n_groups))
    done = 0
    while done < n_bootstrap:
        b = min(block, n_bootstrap - done)
        picks = rng.integers(0, n_groups, size=(b, n_groups))
        picks += np.arange(b)[:, None] * n_groups
        counts = np.bincount(picks.ravel(), minlength=b * n_groups)
        yield counts.reshape(b, n_groups).astype(np.float64)
        done += b


def percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite draws (NaN with fewer than 2)."""
    finite = draws[np.isfinite(draws)]
    if finite.size < 2:
        return (math.nan, math.nan)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def intervals(
    statistics: Callable[[np.ndarray], dict[str, np.ndarray]],
    n_groups: int,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every statistic ``statistics(C)`` returns for bootstrap weights
    ``C`` (draws x groups); ``{}`` when ``n_bootstrap`` is 0.

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> ci = intervals(lambda C: {"mean": (C @ x) / C.sum(axis=1)}, 10,
    ...                n_bootstrap=500, seed=0, ci_level=0.9)
    >>> ci["mean"][0] < 4.5 < ci["mean"][1]
    True
    """
    if n_bootstrap <= 0:
        return {}
    draws: dict[str, list[np.ndarray]] = {}
    for C in weights(n_groups, n_bootstrap, seed):
        for key, value in statistics(C).items():
            draws.setdefault(key, []).append(value)
    return {key: percentile_ci(np.concatenate(v), ci_level) for key, v in draws.items()}

"""Statistics shared by several concerns: Cramér's V, robust spread, chance levels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

__all__ = [
    "MAD_SCALE",
    "Association",
    "balanced_accuracy_chance",
    "cramers_v",
    "relative_range",
    "robust_sd",
]

#: 1 / Phi^-1(3/4): scales the median absolute deviation to the SD of a normal distribution.
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Association:
    """Cramér's V of a contingency table with the chi-square test behind it."""

    v: float
    chi2: float
    p_value: float
    dof: int


def cramers_v(table: np.ndarray, *, bias_corrected: bool = True) -> Association:
    """Cramér's V of a contingency table (empty rows and columns dropped).

    With ``bias_corrected`` (the default) the Bergsma (2013) correction is applied: phi^2 is
    reduced by its expectation under independence, ``(k - 1)(r - 1) / (n - 1)``, and the table
    dimensions by ``(k - 1)^2 / (n - 1)``, so V is near 0 for independent variables in small or
    many-level tables (where plain V is biased upwards). ``bias_corrected=False`` gives the plain
    ``sqrt(chi2 / (n (min(r, c) - 1)))``, which is what the chi-square test itself measures.
    The chi-square test is without Yates' continuity correction.

    Examples
    --------
    >>> t = np.array([[30, 0], [0, 30]])
    >>> round(cramers_v(t).v, 3), round(cramers_v(t, bias_corrected=False).v, 3)
    (1.0, 1.0)
    >>> cramers_v(np.array([[10, 10], [10, 10]])).v
    0.0
    """
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, k = table.shape if table.ndim == 2 else (0, 0)
    n = float(table.sum())
    if r < 2 or k < 2 or n < 2:
        return Association(0.0, 0.0, 1.0, 0)
    chi2, p, dof, _ = _sps.chi2_contingency(table, correction=False)
    if bias_corrected:
        phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
        rc = r - (r - 1) ** 2 / (n - 1)
        kc = k - (k - 1) ** 2 / (n - 1)
        denom = min(kc - 1, rc - 1)
        v = float(min(1.0, np.sqrt(phi2 / denom))) if denom > 0 else 0.0
    else:
        v = float(min(1.0, math.sqrt(chi2 / (n * (min(r, k) - 1)))))
    return Association(v, float(chi2), float(p), int(dof))


def robust_sd(x: np.ndarray) -> float:
    """The median absolute deviation scaled to a normal SD (``MAD_SCALE * MAD``); NaN if empty.

    Examples
    --------
    >>> robust_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    1.4826
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan
    return float(MAD_SCALE * np.median(np.abs(x - np.median(x))))


def relative_range(x: np.ndarray) -> float:
    """``(max - min) / |median|``: how far values that should be equal spread; inf if undefined.

    Examples
    --------
    >>> relative_range(np.array([990.0, 1000.0, 1010.0]))
    0.02
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.inf
    med = float(np.median(x))
    return float((x.max() - x.min()) / abs(med)) if med else math.inf


def balanced_accuracy_chance(n_classes: int) -> float:
    """Balanced accuracy of guessing among ``n_classes`` classes: ``1 / n_classes``.

    Examples
    --------
    >>> balanced_accuracy_chance(4)
    0.25
    """
    return 1.0 / n_classes if n_classes > 0 else math.nan

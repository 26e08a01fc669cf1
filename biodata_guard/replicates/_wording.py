"""Wording shared by the replicate findings: where, numbers, intervals, the grouping hint."""

from __future__ import annotations

import numpy as np

GROUP_HINT = (
    "Keep replicates of one condition together when splitting: "
    "sklearn.model_selection.GroupKFold(n_splits=5).split(X, y, groups=df['{col}'])"
)


def where(name: str, value_col: str | None, replicate_col: str, kind: str) -> str:
    """``"<input>, <what> by <replicate column>"``: the subject of a replicate message.

    Examples
    --------
    >>> where("sheet.csv", "diagnosis", "replicate_group", "categorical")
    'sheet.csv, diagnosis by replicate_group'
    >>> where("counts.h5ad", None, "replicate_group", "profile")
    'counts.h5ad, profiles by replicate_group'
    """
    what = "profiles" if kind == "profile" else value_col
    return f"{name}, {what} by {replicate_col}" if what else f"{name} by {replicate_col}"


def g3(x: float) -> str:
    """3 significant digits; ``n/a`` when undefined (e.g. kappa with a single class)."""
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def fmt_ci(ci: tuple[float, float] | None) -> str:
    """``" [lo, hi]"`` with 3 significant digits; empty when there is no finite interval."""
    if not ci or not all(np.isfinite(ci)):
        return ""
    return f" [{ci[0]:.3g}, {ci[1]:.3g}]"

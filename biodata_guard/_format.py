"""The one formatting helper: previews, fractions and JSON-safe values for every message."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: How many offending values a Finding keeps in ``subjects`` (the total goes to evidence).
MAX_SUBJECTS = 50
#: How many values a message previews inline.
PREVIEW = 5
#: Stands for the group column in a hint when none was configured: a hint names only columns
#: that exist, so it never guesses one ('patient_id').
GROUP_PLACEHOLDER = "<patient or donor column>"


def preview(values: Iterable[Any], *, n: int = PREVIEW, total: int | None = None) -> str:
    """Render ``A, B, C … and N more`` from the first ``n`` values.

    Examples
    --------
    >>> preview(["S1", "S2", "S3"], n=2)
    'S1, S2 … and 1 more'
    """
    items = [str(v) for v in values]
    total = len(items) if total is None else total
    head = ", ".join(items[:n])
    rest = total - min(n, len(items))
    return f"{head} … and {rest} more" if rest > 0 else head


def fraction(k: int, n: int) -> str:
    """Render ``k of n (p%)`` with the denominator always shown.

    Examples
    --------
    >>> fraction(14, 212)
    '14 of 212 (6.6%)'
    """
    pct = 100.0 * k / n if n else 0.0
    return f"{k} of {n} ({pct:.3g}%)"


def subjects(values: Iterable[Any], *, limit: int = MAX_SUBJECTS) -> list[Any]:
    """The first ``limit`` offending values, JSON-safe, in the order given."""
    out = []
    for i, v in enumerate(values):
        if i >= limit:
            break
        out.append(jsonable(v))
    return out


def jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON-serialisable Python.

    Floats are rounded to 6 significant digits so that JSON is stable and readable; NaN and
    infinities become ``None`` (JSON has no representation for them).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return None
        return float(f"{f:.6g}")
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy 0-d, pandas scalars
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return str(value)

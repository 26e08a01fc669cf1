"""Column-level pandera check methods of the units checks (``pa.Check.finite()`` ...).

Examples
--------
>>> import pandas as pd
>>> finite(pd.Series([1.0, float("nan"), float("inf")])).tolist()
[True, False, False]
>>> integer_valued(pd.Series([3.0, 2.5, None])).tolist()
[True, False, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def finite(s: pd.Series) -> pd.Series:
    """Numeric values must be finite (no NaN, inf)."""
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(np.isfinite(values), index=s.index)


def integer_valued(s: pd.Series) -> pd.Series:
    """Values must be whole numbers (raw counts)."""
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite_values = np.isfinite(values)
    whole = np.zeros(len(values), dtype=bool)
    whole[finite_values] = np.mod(values[finite_values], 1) == 0
    return pd.Series(whole, index=s.index)

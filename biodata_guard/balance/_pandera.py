"""The balance checks as pandera check methods (``pa.Check.min_class_fraction`` ...)."""

from __future__ import annotations

import pandas as pd


def min_class_fraction(df: pd.DataFrame, *, label_col: str, min_fraction: float) -> pd.Series:
    """Rows of classes below ``min_fraction`` of the labelled rows fail.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["a", "a", "a", "b", None]})
    >>> min_class_fraction(df, label_col="label", min_fraction=0.3).tolist()
    [True, True, True, False, True]
    """
    if label_col not in df.columns:
        return pd.Series(True, index=df.index)
    y = df[label_col]
    share = y.map(y.value_counts(normalize=True))
    return share.isna() | (share >= min_fraction)


def consistent_categories(s: pd.Series) -> pd.Series:
    """Values that differ from another value only by case or surrounding whitespace fail
    ('Tumor' vs 'tumor ' silently makes two classes).

    Examples
    --------
    >>> consistent_categories(pd.Series(["tumor", "Tumor ", "normal", None])).tolist()
    [False, False, True, True]
    """
    text = s.astype("string")
    key = text.str.strip().str.casefold()
    n_variants = text.groupby(key, dropna=True).transform("nunique")
    return s.isna() | (n_variants.fillna(1) <= 1)

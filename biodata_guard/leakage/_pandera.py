"""The overlap checks as frame-level pandera check methods (``pa.Check.unique_per_split`` ...)."""

from __future__ import annotations

import pandas as pd


def unique_per_split(df: pd.DataFrame, *, id_col: str, split_col: str) -> pd.Series:
    """Rows whose ``id_col`` value occurs in more than one split fail.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a", "a", "b"], "split": ["train", "test", "test"]})
    >>> unique_per_split(df, id_col="id", split_col="split").tolist()
    [False, False, True]
    """
    if id_col not in df.columns or split_col not in df.columns:
        return pd.Series(True, index=df.index)
    n_splits = df.groupby(id_col, dropna=False)[split_col].transform("nunique")
    return n_splits <= 1


def no_group_overlap(df: pd.DataFrame, *, group_col: str, split_col: str) -> pd.Series:
    """Rows whose group (patient, donor ...) has samples in more than one split fail.

    Examples
    --------
    >>> df = pd.DataFrame({"patient": ["p1", "p1", None], "split": ["train", "test", "test"]})
    >>> no_group_overlap(df, group_col="patient", split_col="split").tolist()
    [False, False, True]
    """
    if group_col not in df.columns or split_col not in df.columns:
        return pd.Series(True, index=df.index)
    n_splits = df.groupby(group_col, dropna=True)[split_col].transform("nunique")
    return n_splits.fillna(1) <= 1

"""Samples with no split: in neither train nor test (the README's worked example of a check)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

__all__ = ["check_unassigned_split"]


def _run(ctx: Any) -> list[Finding]:
    """The check on an audit: the split column of the sample table that holds it, as read."""
    col = ctx.config.split_col
    for df, name, id_col in ctx.tables.values():
        if col in df.columns:
            split = pd.Series(df[col].to_numpy(), index=df[id_col].to_numpy(), name=col)
            return check_unassigned_split(split, name=name, split_col=col)
    return []


UNASSIGNED_SPLIT = declare_check(
    "balance.unassigned_split",
    group="balance",
    severities=("warning",),
    needs=("split",),
    doc="Samples whose split is empty or NaN: they silently fall out of train and test.",
    run=_run,
)


def check_unassigned_split(
    split: pd.Series, *, name: str = "metadata", split_col: str = "split"
) -> list[Finding]:
    """Samples whose split value is missing (NaN, None or an empty string).

    Code that selects ``df[df[split_col] == "train"]`` and ``== "test"`` drops them without a
    word: data lost from both sides, and class proportions that differ from the sheet's.

    Parameters
    ----------
    split
        The split column, indexed by sample id.
    name, split_col
        The input and column, for the message.

    Returns
    -------
    list of Finding
        One ``balance.unassigned_split`` warning, or ``[]`` when every sample has a split.

    Examples
    --------
    >>> s = pd.Series(["train", "test", None, " "], index=["a", "b", "c", "d"])
    >>> [f.message for f in check_unassigned_split(s, name="sheet.csv")]
    ['sheet.csv, split: 2 of 4 (50%) samples have no split (c, d)']
    >>> check_unassigned_split(pd.Series(["train", "test"], index=["a", "b"]))
    []
    """
    text = split.astype("string").str.strip()
    missing = text.isna() | (text == "")
    n, k = len(split), int(missing.sum())
    if k == 0:
        return []
    ids = [str(i) for i in split.index[missing.to_numpy()]]
    return [
        Finding(
            UNASSIGNED_SPLIT,
            Severity.WARNING,
            f"{name}, {split_col}: {fraction(k, n)} samples have no split ({preview(ids)})",
            evidence={"n_unassigned": k, "n_samples": n, "fraction": k / n},
            subjects=subjects(ids),
            hint=f"Give each listed sample a value in '{split_col}', or drop them on purpose "
            f"(df.dropna(subset=['{split_col}'])) before splitting.",
            input=name,
        )
    ]

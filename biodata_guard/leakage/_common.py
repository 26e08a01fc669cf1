"""What every leakage check shares: split labels as codes, column checks, ids as strings, hints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import GROUP_PLACEHOLDER, preview
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.registry import Param

#: The call every leakage hint names as the fix.
GROUP_SPLIT = "biodata_guard.split.group_split"
#: The level that missing values form (labels, metadata levels).
MISSING = "<missing>"
_TRAIN_NAMES = ("train", "training", "trn", "fit")


def split_hint(label_col: str | None, group_cols: Sequence[str]) -> str:
    """The fix hint of the overlap checks: re-split with :data:`GROUP_SPLIT`."""
    label = "None" if label_col is None else repr(label_col)
    groups = list(group_cols) or [GROUP_PLACEHOLDER]
    return (
        f"Re-split so that related samples share one split: "
        f"{GROUP_SPLIT}(df, label_col={label}, group_cols={groups!r})"
    )


def natural_key(value: str) -> tuple:
    """Sort key that orders runs of digits by number ('S2' before 'S10').

    Examples
    --------
    >>> sorted(["S10", "S2", "S1b"], key=natural_key)
    ['S1b', 'S2', 'S10']
    """
    parts = re.split(r"(\d+)", value)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def require_columns(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    """Raise :class:`InputError` unless ``df`` is a DataFrame holding every column of ``cols``."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"{name}: a sample table must be a pandas DataFrame; got {type(df).__name__} instead",
            path=name,
            hint="Pass the sample sheet as a DataFrame (pd.read_csv(...)).",
        )
    for col in cols:
        if col not in df.columns:
            close = [c for c in map(str, df.columns) if c.lower() == str(col).lower()]
            raise InputError(
                f"{name}: column '{col}' does not exist; columns are "
                f"{preview(map(str, df.columns), n=8)}",
                path=name,
                column=str(col),
                hint=f"Did you mean '{close[0]}'?" if close else "Pass an existing column name.",
            )


def check_param(param: Param, value: Any, keyword: str, *, hint: str = "") -> None:
    """Raise :class:`ConfigError` when ``value`` of keyword ``keyword`` is outside the declared
    range of ``param`` (the range is written once, in the parameter's declaration).

    Examples
    --------
    >>> from biodata_guard.registry import Interval
    >>> p = Param("max_overlap_fraction", 0.0, "float", "", valid=Interval(float, 0, 1))
    >>> check_param(p, 1.5, "max_overlap_fraction")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    biodata_guard.errors.ConfigError: max_overlap_fraction must be a number in [0, 1]; got 1.5 ...
    """
    if param.valid is not None and value not in param.valid:
        raise ConfigError(
            f"{keyword} must be {param.valid.describe()}; got {value!r} instead",
            key=param.name,
            hint=hint or f"Use e.g. {keyword}={param.default!r}.",
        )


def as_str(values: Any) -> pd.Series:
    """Values as strings (object dtype) with missing values as None, not 'nan'.

    Each distinct value is converted once and the rows point at the shared string: for a
    million-row column of a few dozen batches that is 8 MB of pointers, not a million strings.

    Examples
    --------
    >>> as_str(["a", None, "a"]).tolist()
    ['a', None, 'a']
    """
    s = pd.Series(values).reset_index(drop=True)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)  # missing -> -1
    text = np.empty(len(uniques) + 1, dtype=object)  # the last slot (None) for code -1
    text[:-1] = pd.Index(uniques).astype(str).to_numpy(dtype=object)
    return pd.Series(text[codes], dtype=object)


@dataclass(frozen=True)
class Splits:
    """Split labels as integer codes (-1 = no split); the training split, if any, is code 0."""

    codes: np.ndarray
    names: list[str]
    train: int | None

    @property
    def is_folds(self) -> bool:
        return self.train is None

    @property
    def eval_mask(self) -> np.ndarray:
        """Rows that are evaluated on: non-train rows, or every row of a fold column."""
        if self.train is None:
            return self.codes >= 0
        return (self.codes >= 0) & (self.codes != self.train)

    @property
    def eval_word(self) -> str:
        return "samples" if self.is_folds else "non-train samples"

    @property
    def where(self) -> str:
        """What one split is called in messages: 'fold' or 'split'."""
        return "fold" if self.is_folds else "split"

    def pair(self, a: int, b: int) -> str:
        a, b = min(a, b), max(a, b)
        return f"{self.names[a]}|{self.names[b]}"

    def pair_counts(self, table: pd.DataFrame) -> dict[str, int]:
        """For each pair of split columns of ``table`` (codes; rows: sets of samples, cells:
        members per split), the number of pairs of members across the two splits, zeros kept."""
        out: dict[str, int] = {}
        codes = list(table.columns)
        for i, a in enumerate(codes):
            for b in codes[i + 1 :]:
                out[self.pair(a, b)] = int((table[a] * table[b]).sum())
        return out


def parse_splits(values: Any, n: int, name: str, split_col: str = "split") -> Splits:
    """One split value per row -> :class:`Splits` (names in natural order, train first).

    Examples
    --------
    >>> s = parse_splits(["test", "train", None, "val"], 4, "m")
    >>> s.names, s.codes.tolist(), s.train
    (['train', 'test', 'val'], [1, 0, -1, 2], 0)
    """
    try:
        length = len(values)
    except TypeError:
        length = -1
    ndim = getattr(values, "ndim", None)  # arrays and Series: no million-object copy
    if ndim is None:
        ndim = np.ndim(np.asarray(values, dtype=object))
    if length != n or ndim != 1:
        raise InputError(
            f"{name}, {split_col}: splits must hold one value per row ({n} rows); got "
            f"{length if length >= 0 else type(values).__name__} instead",
            path=name,
            column=split_col,
            hint="Pass the split column aligned with the rows of the matrix "
            "(e.g. metadata.loc[X.index, 'split']).",
        )
    # one factorisation; the names and codes come from the distinct values only
    raw, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), use_na_sentinel=True)
    text = pd.Index(uniques).astype(str).tolist()
    present = sorted(set(text), key=natural_key)
    train = next((v for v in present if v.strip().lower() in _TRAIN_NAMES), None)
    names = ([train] if train is not None else []) + [v for v in present if v != train]
    lookup = {v: i for i, v in enumerate(names)}
    code_of = np.array([lookup[t] for t in text] + [-1], dtype=np.int64)  # last: missing
    return Splits(codes=code_of[raw], names=names, train=0 if train is not None else None)


def too_few_splits(sp_: Splits, split_col: str) -> str:
    """The reason a split check cannot run on fewer than 2 splits."""
    shown = f" ({preview(sp_.names)})" if sp_.names else ""
    return f"{split_col} holds {len(sp_.names)} split(s){shown}; needs >= 2"

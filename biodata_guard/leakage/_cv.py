"""Folds of a scikit-learn splitter that put a group (or a row) on both sides."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import MatrixView
from biodata_guard.leakage._common import GROUP_SPLIT, as_str
from biodata_guard.leakage._overlap import GROUP_OVERLAP, ID_OVERLAP


@dataclass(frozen=True)
class FoldOverlap:
    """Per fold of a splitter: rows shared by its train and test indices (``id_folds``, only
    folds that share any) and, with groups, groups on both sides (``group_folds``, every fold)
    with the groups named in order of appearance (``bad_groups``)."""

    n_folds: int
    id_folds: list[dict[str, int]]
    group_folds: list[dict[str, int]]
    bad_groups: list[str]

    @property
    def leaky_group_folds(self) -> list[dict[str, int]]:
        return [f for f in self.group_folds if f["n_shared_groups"]]


def _n_rows(X: Any) -> tuple[Any, int]:
    """``X`` as ``cv.split`` takes it (AnnData and MatrixView: a placeholder column) and its
    number of rows."""
    if isinstance(X, MatrixView) or hasattr(X, "obs_names"):
        X = np.zeros((X.shape[0], 1))
    return X, X.shape[0] if hasattr(X, "shape") else len(X)


def _group_codes(groups: Any, n: int, *, name: str, group_col: str) -> tuple[np.ndarray, pd.Index]:
    g = as_str(groups)
    if len(g) != n:
        raise InputError(
            f"{name}, {group_col}: groups must hold one value per sample ({n}); got "
            f"{len(g)} instead",
            path=name,
            column=group_col,
            hint="Pass groups aligned with the rows of X.",
        )
    codes, uniques = pd.factorize(g)
    return codes, pd.Index(uniques)


def fold_overlap(folds: list[tuple[Any, Any]], group: tuple | None) -> FoldOverlap:
    """Shared rows and groups of each ``(train, test)`` fold; ``group`` is ``(codes, uniques)``
    of the samples' groups (code -1: no group), or None."""
    id_folds, group_folds = [], []
    bad_groups: dict[str, None] = {}
    for i, (train, test) in enumerate(folds):
        train, test = np.asarray(train), np.asarray(test)
        both = np.intersect1d(train, test)
        if len(both):
            id_folds.append({"fold": i, "n_shared_rows": len(both)})
        if group is None:
            continue
        codes, uniques = group
        ct, ce = codes[train], codes[test]
        shared = np.intersect1d(ct[ct >= 0], ce[ce >= 0])
        group_folds.append(
            {
                "fold": i,
                "n_shared_groups": len(shared),
                "n_affected_test_samples": int(np.isin(ce, shared).sum()) if len(shared) else 0,
                "n_test_samples": len(test),
            }
        )
        for c in shared:
            bad_groups.setdefault(str(uniques[c]), None)
    return FoldOverlap(len(folds), id_folds, group_folds, list(bad_groups))


def _id_fold_finding(st: FoldOverlap, *, name: str, splitter: str) -> Finding:
    id_folds = st.id_folds
    return Finding(
        ID_OVERLAP,
        Severity.ERROR,
        f"{name}: {fraction(len(id_folds), st.n_folds)} folds of {splitter} put "
        f"the same rows in train and test "
        f"({sum(f['n_shared_rows'] for f in id_folds)} rows in total)",
        evidence={"folds": id_folds, "n_leaky_folds": len(id_folds), "n_folds": st.n_folds},
        subjects=[f["fold"] for f in id_folds],
        hint="Use a splitter whose train and test indices are disjoint, e.g. "
        "sklearn.model_selection.StratifiedGroupKFold(n_splits=5).",
        input=name,
    )


def _group_fold_finding(
    st: FoldOverlap, *, name: str, splitter: str, group_col: str, label_col: str | None
) -> Finding:
    leaky = st.leaky_group_folds
    n_aff = sum(f["n_affected_test_samples"] for f in leaky)
    n_test = sum(f["n_test_samples"] for f in st.group_folds)
    bad = st.bad_groups
    return Finding(
        GROUP_OVERLAP,
        Severity.ERROR,
        f"{name}, {group_col}: {fraction(len(leaky), len(st.group_folds))} folds of "
        f"{splitter} put a group on both sides (e.g. fold {leaky[0]['fold']}: "
        f"{leaky[0]['n_shared_groups']} groups); {fraction(n_aff, n_test)} test "
        f"samples share a group with their training fold (e.g. "
        f"{preview(bad, total=len(bad))})",
        evidence={
            "splitter": splitter,
            "n_folds": len(st.group_folds),
            "n_leaky_folds": len(leaky),
            "n_shared_groups": len(bad),
            "n_affected_test_samples": n_aff,
            "n_test_samples": n_test,
            "folds": st.group_folds,
        },
        subjects=subjects(bad),
        hint="Split by group: sklearn.model_selection.StratifiedGroupKFold(n_splits=5)"
        f".split(X, y, groups={group_col}), or make a split column with "
        f"{GROUP_SPLIT}(df, label_col={label_col!r}, group_cols=[{group_col!r}])",
        input=name,
    )


def check_cv_splits(
    cv: Any,
    X: Any,
    y: Any = None,
    groups: Any = None,
    *,
    name: str = "cv",
    group_col: str = "groups",
    label_col: str | None = "label",
) -> list[Finding]:
    """Run a scikit-learn splitter and report folds where a group sits on both sides.

    ``leakage.group_overlap`` (error) when, in any fold, a group of ``groups`` has samples in both
    the training and the test indices (e.g. ``KFold`` or ``StratifiedKFold`` used where
    ``GroupKFold`` was needed); ``leakage.id_overlap`` (error) when a fold's training and test
    indices share rows (a broken custom splitter).

    Parameters
    ----------
    cv
        Any object with ``split(X, y, groups)`` (``KFold``, ``GroupKFold``, a custom splitter).
    X
        The samples (only their number matters; AnnData and MatrixView are accepted).
    y
        Labels passed to ``cv.split`` (needed by stratified splitters).
    groups
        One group id per sample (patient, donor ...); passed to ``cv.split`` and checked.
    name, group_col, label_col
        Names used in messages and in the fix hint.

    Examples
    --------
    >>> from sklearn.model_selection import KFold
    >>> groups = np.repeat(np.arange(20), 3)
    >>> cv = KFold(5, shuffle=True, random_state=0)
    >>> f, = check_cv_splits(cv, np.zeros((60, 2)), groups=groups, group_col="patient")
    >>> f.check, f.evidence["n_leaky_folds"]
    ('leakage.group_overlap', 5)
    """
    if not hasattr(cv, "split"):
        raise ConfigError(
            f"{name}: cv must be a scikit-learn splitter with a split() method; got "
            f"{type(cv).__name__} instead",
            key="cv",
            hint="Pass e.g. sklearn.model_selection.StratifiedGroupKFold(n_splits=5).",
        )
    X, n = _n_rows(X)
    group = None
    if groups is not None:
        group = _group_codes(groups, n, name=name, group_col=group_col)
        groups = np.asarray(groups)
    with warnings.catch_warnings():
        # sklearn warns that a group-unaware splitter ignores groups: that is what we report
        warnings.filterwarnings(
            "ignore", message=".*groups parameter is ignored", category=UserWarning
        )
        folds = list(cv.split(X, y, groups))
    st = fold_overlap(folds, group)
    splitter = type(cv).__name__
    out = []
    if st.id_folds:
        out.append(_id_fold_finding(st, name=name, splitter=splitter))
    if st.leaky_group_folds:
        out.append(
            _group_fold_finding(
                st, name=name, splitter=splitter, group_col=group_col, label_col=label_col
            )
        )
    return out

"""Class proportions per split: shift from the training split, classes unseen in training."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import Interval, declare_check, declare_param

declare_param(
    "max_split_shift",
    0.1,
    kind="float",
    help="Total-variation distance of class proportions between splits above which it is "
    "flagged (default 0.1).",
    valid=Interval(float, 0, 1),
    section="thresholds",
)

SPLIT_SHIFT = declare_check(
    "balance.split_shift",
    group="balance",
    severities=("warning",),
    needs=("labels", "split"),
    params=("max_split_shift", "alpha"),
    doc="Class proportions of a split differ from the training split's (a fold's from the "
    "other folds'; total variation, chi-square).",
)
UNSEEN_CLASS = declare_check(
    "balance.unseen_class",
    group="balance",
    severities=("error",),
    needs=("labels", "split"),
    doc="Classes present in a non-training split and absent from train (in one fold only, "
    "for a fold column).",
)

_TRAIN_NAMES = ("train", "training", "trn", "fit")


def _train_split(splits: pd.Series) -> str | None:
    """The split named train / training (None: the values are folds, such as 0..4, each
    evaluated by a model trained on the others -- as the leakage checks read them)."""
    for v in pd.unique(splits):
        if str(v).strip().lower() in _TRAIN_NAMES:
            return str(v)
    return None


def labelled_splits(y: pd.Series, splits: pd.Series) -> pd.DataFrame:
    """The samples with both a label (``y``) and a split (``split``), aligned by index."""
    y = pd.Series(y)
    splits = pd.Series(splits, index=y.index) if not isinstance(splits, pd.Series) else splits
    return pd.DataFrame({"y": y, "split": splits.reindex(y.index)}).dropna()


@dataclass(frozen=True, eq=False)
class SplitShift:
    """One split's class proportions against the training split's (``train_split``; for
    folds, every other fold together: ``train_split`` is None and ``reference`` says so).

    ``unseen`` counts the split's samples of each class the training data lack.
    """

    split: str
    train_split: str | None
    reference: str
    total_variation: float
    chi2: float
    dof: int
    p_value: float
    train_fractions: pd.Series
    split_fractions: pd.Series
    unseen: pd.Series
    n_split_samples: int


def _shift(table: pd.DataFrame, train: str | None, split: str) -> SplitShift:
    row = table.loc[split]
    ref = table.loc[train] if train is not None else table.drop(index=split).sum(axis=0)
    p_train = ref / ref.sum()
    p_split = row / row.sum()
    sub = pd.DataFrame([ref, row])
    sub = sub.loc[:, sub.sum(axis=0) > 0]
    if sub.shape[1] > 1:
        chi2, pvalue, dof, _ = stats.chi2_contingency(sub.to_numpy())
    else:
        chi2, pvalue, dof = 0.0, 1.0, 0
    train_classes = set(table.columns[ref > 0])
    unseen = sorted(set(row.index[row > 0]) - train_classes)
    return SplitShift(
        split=split,
        train_split=train,
        reference=f"'{train}'" if train is not None else f"the folds other than '{split}'",
        total_variation=float(0.5 * (p_train - p_split).abs().sum()),
        chi2=float(chi2),
        dof=int(dof),
        p_value=float(pvalue),
        train_fractions=p_train,
        split_fractions=p_split,
        unseen=row[unseen],
        n_split_samples=int(row.sum()),
    )


def split_shifts(y: pd.Series, splits: pd.Series) -> list[SplitShift]:
    """Each non-training split against the training split (the one named train / training),
    in split-name order; without one the splits are folds, each against all the others
    (what the model that evaluates it was trained on). ``[]`` with fewer than two splits.

    Examples
    --------
    >>> y = pd.Series(["a", "a", "b", "b", "a", "c"])
    >>> (s,) = split_shifts(y, pd.Series(["train"] * 4 + ["test"] * 2))
    >>> s.split, s.total_variation, s.unseen.to_dict()
    ('test', 0.5, {'c': 1})
    >>> folds = split_shifts(y, pd.Series([0, 1, 2, 0, 1, 2]))
    >>> [(f.split, f.reference, f.unseen.to_dict()) for f in folds][2]
    ('2', "the folds other than '2'", {'c': 1})
    """
    frame = labelled_splits(y, splits)
    if frame.empty or frame["split"].nunique() < 2:
        return []
    frame = frame.astype(str)
    train = _train_split(frame["split"])
    table = pd.crosstab(frame["split"], frame["y"])
    return [_shift(table, train, s) for s in sorted(s for s in table.index if s != train)]


def _shift_finding(s: SplitShift, name: str, label_col: str, max_split_shift: float) -> Finding:
    return Finding(
        SPLIT_SHIFT,
        Severity.WARNING,
        f"{name}, {label_col}: class proportions in '{s.split}' differ from "
        f"{s.reference} (total variation {s.total_variation:.3g} > {max_split_shift:.3g}, "
        f"chi-square p = {s.p_value:.2g}); test metrics will not reflect the training "
        "distribution",
        evidence={
            "split": s.split,
            "train_split": s.train_split,
            "total_variation": s.total_variation,
            "chi2": s.chi2,
            "dof": s.dof,
            "p_value": s.p_value,
            "train_fractions": s.train_fractions.to_dict(),
            "split_fractions": s.split_fractions.to_dict(),
        },
        subjects=[s.split],
        hint="Re-split stratified by the label: "
        "biodata_guard.split.group_split(df, label_col=..., group_cols=[...]) or "
        "sklearn.model_selection.StratifiedGroupKFold.",
        input=name,
    )


def _unseen_finding(s: SplitShift, name: str, label_col: str) -> Finding:
    unseen = list(s.unseen.index)
    n_unseen = int(s.unseen.sum())
    split, train = s.split, s.train_split
    return Finding(
        UNSEEN_CLASS,
        Severity.ERROR,
        f"{name}, {label_col}: {len(unseen)} class(es) occur in '{split}' but never "
        f"in {s.reference} ({preview(unseen)}; {fraction(n_unseen, s.n_split_samples)} "
        f"'{split}' samples); no model trained on {s.reference} can predict them",
        evidence={
            "split": split,
            "train_split": train,
            "unseen_classes": {c: int(v) for c, v in s.unseen.items()},
            "n_affected_samples": n_unseen,
            "n_split_samples": s.n_split_samples,
        },
        subjects=subjects(unseen),
        hint="Re-split so every class is in train "
        "(biodata_guard.split.group_split stratifies by the label), or drop those "
        "classes from evaluation explicitly.",
        input=name,
    )


def check_split_balance(
    y: pd.Series,
    splits: pd.Series,
    *,
    name: str = "labels",
    label_col: str = "label",
    split_col: str = "split",
    max_split_shift: float = 0.1,
    alpha: float = 0.01,
) -> list[Finding]:
    """Compare class proportions between the training split and each other split.

    ``balance.split_shift`` (warning) when the total-variation distance between a split's class
    proportions and train's exceeds ``max_split_shift`` and a chi-square test of the contingency
    table rejects homogeneity at ``alpha``. ``balance.unseen_class`` (error) for classes present in
    a non-training split and absent from train: no model can learn them.

    ``y`` and ``splits`` are aligned by index. The training split is the one named train/training;
    without one the splits are folds (such as 0..4), each compared with all the others.

    Examples
    --------
    >>> y = pd.Series(["a"] * 50 + ["b"] * 50 + ["c"] * 5)
    >>> split = pd.Series(["train"] * 100 + ["test"] * 5)
    >>> [f.check for f in check_split_balance(y, split)]
    ['balance.split_shift', 'balance.unseen_class']
    """
    out: list[Finding] = []
    for s in split_shifts(y, splits):
        if s.total_variation > max_split_shift and s.p_value < alpha:
            out.append(_shift_finding(s, name, label_col, max_split_shift))
        if len(s.unseen):
            out.append(_unseen_finding(s, name, label_col))
    return out

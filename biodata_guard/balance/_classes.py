"""Class counts: the summary, imbalance, tiny classes and a single class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.balance import _pandera
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import Interval, PanderaMethod, declare_check, declare_param
from biodata_guard.stats import balanced_accuracy_chance

declare_param(
    "min_class_fraction",
    0.05,
    kind="float",
    help="Classes below this fraction are flagged as imbalance (default 0.05).",
    valid=Interval(float, 0, 1),
    section="thresholds",
)
declare_param(
    "max_imbalance_ratio",
    10.0,
    kind="float",
    help="Majority/minority ratio above which imbalance is a warning (default 10).",
    valid=Interval(float, 1, None),
    section="thresholds",
)
declare_param(
    "min_class_size",
    None,
    kind="int",
    help="Classes with fewer samples than this are tiny (default: n_folds).",
    valid=Interval(int, 1, None),
    section="thresholds",
)

SUMMARY = declare_check(
    "balance.summary",
    group="balance",
    severities=("info",),
    needs=("labels",),
    doc="Per-class counts and the majority-class baseline accuracy.",
)
SINGLE_CLASS = declare_check(
    "balance.single_class",
    group="balance",
    severities=("error",),
    needs=("labels",),
    doc="Every labelled sample has the same label: nothing to learn.",
)
IMBALANCE = declare_check(
    "balance.imbalance",
    group="balance",
    severities=("warning",),
    needs=("labels",),
    params=("min_class_fraction", "max_imbalance_ratio"),
    doc="Majority/minority ratio above max_imbalance_ratio or a class under min_class_fraction.",
    pandera=PanderaMethod(
        _pandera.min_class_fraction,
        statistics=("label_col", "min_fraction"),
        kind="frame",
        reads=("label_col",),
    ),
)
TINY_CLASS = declare_check(
    "balance.tiny_class",
    group="balance",
    severities=("warning", "error"),
    needs=("labels",),
    params=("min_class_size", "n_folds"),
    doc="Classes too small to stratify the planned folds.",
)

_METRIC_HINT = (
    "Report balanced accuracy or auPRC (sklearn.metrics.balanced_accuracy_score / "
    "average_precision_score) instead of accuracy, weight classes (class_weight='balanced'), "
    "and split with sklearn.model_selection.StratifiedGroupKFold."
)


def labelled(y: pd.Series) -> pd.Series:
    """The labels that are not missing, as strings."""
    return y[y.notna()].astype(str)


@dataclass(frozen=True, eq=False)
class ClassCounts:
    """Samples per class (largest first; ties in name order) and what they imply."""

    counts: pd.Series
    fractions: pd.Series
    n_samples: int
    n_classes: int
    imbalance_ratio: float
    majority_baseline_accuracy: float

    @property
    def majority(self) -> str:
        return self.counts.index[0]

    @property
    def minority(self) -> str:
        return self.counts.index[-1]


def class_counts(y: pd.Series | np.ndarray) -> ClassCounts | None:
    """Count the labelled samples per class; None when no sample is labelled.

    Examples
    --------
    >>> c = class_counts(pd.Series(["b", "a", "a", None]))
    >>> c.counts.to_dict(), c.imbalance_ratio, c.majority_baseline_accuracy
    ({'a': 2, 'b': 1}, 2.0, 0.6666666666666666)
    """
    y = labelled(pd.Series(y))
    if y.empty:
        return None
    counts = y.value_counts().sort_index()
    counts = counts.sort_values(ascending=False, kind="stable")
    n = int(counts.sum())
    fractions = counts / n
    return ClassCounts(
        counts=counts,
        fractions=fractions,
        n_samples=n,
        n_classes=len(counts),
        imbalance_ratio=float(counts.iloc[0] / counts.iloc[-1]),
        majority_baseline_accuracy=float(fractions.iloc[0]),
    )


def _summary_finding(c: ClassCounts, name: str, label_col: str) -> Finding:
    n = c.n_samples
    return Finding(
        SUMMARY,
        Severity.INFO,
        f"{name}, {label_col}: {c.n_classes} classes over {n} labelled samples; majority "
        f"'{c.majority}' {fraction(int(c.counts.iloc[0]), n)}, minority '{c.minority}' "
        f"{fraction(int(c.counts.iloc[-1]), n)}",
        evidence={
            "n_samples": n,
            "n_classes": c.n_classes,
            "counts": c.counts.to_dict(),
            "fractions": c.fractions.to_dict(),
            "imbalance_ratio": c.imbalance_ratio,
            "majority_baseline_accuracy": c.majority_baseline_accuracy,
        },
        hint="Compare any reported accuracy with majority_baseline_accuracy.",
        input=name,
    )


def _single_class_finding(c: ClassCounts, name: str, label_col: str) -> Finding:
    return Finding(
        SINGLE_CLASS,
        Severity.ERROR,
        f"{name}, {label_col}: all {c.n_samples} labelled samples are '{c.majority}'; with one "
        "class there is nothing to learn and every accuracy is 100%",
        evidence={"n_samples": c.n_samples, "n_classes": 1, "class": c.majority},
        subjects=[c.majority],
        hint=f"Check the filter or join that produced '{label_col}': it may have dropped "
        "every other class (compare value_counts() before and after each step).",
        input=name,
    )


def _imbalance_finding(
    c: ClassCounts,
    rare: pd.Series,
    name: str,
    label_col: str,
    *,
    max_ratio: float,
    min_fraction: float,
) -> Finding:
    ratio, baseline, majority = c.imbalance_ratio, c.majority_baseline_accuracy, c.majority
    return Finding(
        IMBALANCE,
        Severity.WARNING,
        f"{name}, {label_col}: classes are imbalanced {ratio:.3g}:1 ('{majority}' vs "
        f"'{c.minority}'); always predicting '{majority}' scores "
        f"{100 * baseline:.3g}% accuracy; {len(rare)} class(es) under "
        f"{100 * min_fraction:.3g}%",
        evidence={
            "imbalance_ratio": ratio,
            "majority_class": majority,
            "minority_class": c.minority,
            "majority_baseline_accuracy": baseline,
            "balanced_accuracy_chance": balanced_accuracy_chance(c.n_classes),
            "rare_classes": rare.to_dict(),
            "max_imbalance_ratio": max_ratio,
            "min_class_fraction": min_fraction,
        },
        subjects=subjects(rare.index if len(rare) else [c.minority]),
        hint=_METRIC_HINT,
        input=name,
    )


def _tiny_finding(
    tiny: pd.Series, n_classes: int, name: str, label_col: str, *, min_size: int, n_folds: int
) -> Finding:
    severity = Severity.ERROR if int(tiny.min()) < 2 else Severity.WARNING
    return Finding(
        TINY_CLASS,
        severity,
        f"{name}, {label_col}: {fraction(len(tiny), n_classes)} classes have fewer than "
        f"{min_size} samples ({preview(f'{c}={v}' for c, v in tiny.items())}); "
        f"too few to stratify {n_folds} folds or to evaluate",
        evidence={
            "tiny_classes": tiny.to_dict(),
            "min_class_size": min_size,
            "n_folds": n_folds,
        },
        subjects=subjects(tiny.index),
        hint=f"Collect more samples, merge or drop the tiny classes, or use fewer folds "
        f"(sklearn.model_selection.StratifiedGroupKFold(n_splits={max(2, int(tiny.min()))}"
        "))",
        input=name,
    )


def check_class_balance(
    y: pd.Series | np.ndarray,
    *,
    name: str = "labels",
    label_col: str = "label",
    min_class_fraction: float = 0.05,
    max_imbalance_ratio: float = 10.0,
    min_class_size: int | None = None,
    n_folds: int = 5,
) -> list[Finding]:
    """Per-class counts (``balance.summary``, info), imbalance and tiny classes.

    ``balance.imbalance`` (warning) when the majority/minority ratio exceeds
    ``max_imbalance_ratio`` or a class is below ``min_class_fraction``; its evidence holds the
    majority-class baseline accuracy, against which any reported accuracy must be read.
    ``balance.tiny_class`` (warning; error below 2 samples) for classes with fewer than
    ``min_class_size`` samples (default ``n_folds``: too few to stratify ``n_folds`` folds).
    ``balance.single_class`` (error) when every labelled sample has the same label.

    Examples
    --------
    >>> y = pd.Series(["healthy"] * 96 + ["disease"] * 4)
    >>> [f.check for f in check_class_balance(y)]
    ['balance.summary', 'balance.imbalance', 'balance.tiny_class']
    """
    c = class_counts(y)
    if c is None:
        return []
    out = [_summary_finding(c, name, label_col)]
    if c.n_classes == 1:
        out.append(_single_class_finding(c, name, label_col))
    rare = c.fractions[c.fractions < min_class_fraction]
    if c.n_classes > 1 and (c.imbalance_ratio > max_imbalance_ratio or len(rare)):
        out.append(
            _imbalance_finding(
                c,
                rare,
                name,
                label_col,
                max_ratio=max_imbalance_ratio,
                min_fraction=min_class_fraction,
            )
        )
    min_size = n_folds if min_class_size is None else min_class_size
    tiny = c.counts[c.counts < min_size]
    if len(tiny):
        out.append(
            _tiny_finding(tiny, c.n_classes, name, label_col, min_size=min_size, n_folds=n_folds)
        )
    return out

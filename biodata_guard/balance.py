"""Class balance: per-class counts, imbalance, tiny classes, per-split shift, unseen classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from biodata_guard._context import AuditContext
from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity

__all__ = [
    "IMBALANCE",
    "LABEL_VARIANTS",
    "SINGLE_CLASS",
    "SPLIT_SHIFT",
    "SUMMARY",
    "TINY_CLASS",
    "UNSEEN_CLASS",
    "audit_balance",
    "check_class_balance",
    "check_label_variants",
    "check_split_balance",
]

SUMMARY = "balance.summary"
IMBALANCE = "balance.imbalance"
SPLIT_SHIFT = "balance.split_shift"
UNSEEN_CLASS = "balance.unseen_class"
TINY_CLASS = "balance.tiny_class"
SINGLE_CLASS = "balance.single_class"
LABEL_VARIANTS = "balance.label_variants"

_METRIC_HINT = (
    "Report balanced accuracy or auPRC (sklearn.metrics.balanced_accuracy_score / "
    "average_precision_score) instead of accuracy, weight classes (class_weight='balanced'), "
    "and split with sklearn.model_selection.StratifiedGroupKFold."
)
_TRAIN_NAMES = ("train", "training", "trn", "fit")


def _clean(y: pd.Series) -> pd.Series:
    return y[y.notna()].astype(str)


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
    y = _clean(pd.Series(y))
    if y.empty:
        return []
    counts = y.value_counts().sort_index()
    counts = counts.sort_values(ascending=False, kind="stable")
    n = int(counts.sum())
    k = len(counts)
    fractions = counts / n
    majority, minority = counts.index[0], counts.index[-1]
    ratio = float(counts.iloc[0] / counts.iloc[-1])
    baseline = float(fractions.iloc[0])
    out = [
        Finding(
            SUMMARY,
            Severity.INFO,
            f"{name}, {label_col}: {k} classes over {n} labelled samples; majority "
            f"'{majority}' {fraction(int(counts.iloc[0]), n)}, minority '{minority}' "
            f"{fraction(int(counts.iloc[-1]), n)}",
            evidence={
                "n_samples": n,
                "n_classes": k,
                "counts": counts.to_dict(),
                "fractions": fractions.to_dict(),
                "imbalance_ratio": ratio,
                "majority_baseline_accuracy": baseline,
            },
            hint="Compare any reported accuracy with majority_baseline_accuracy.",
            input=name,
        )
    ]
    if k == 1:
        out.append(
            Finding(
                SINGLE_CLASS,
                Severity.ERROR,
                f"{name}, {label_col}: all {n} labelled samples are '{majority}'; with one class "
                "there is nothing to learn and every accuracy is 100%",
                evidence={"n_samples": n, "n_classes": 1, "class": majority},
                subjects=[majority],
                hint=f"Check the filter or join that produced '{label_col}': it may have dropped "
                "every other class (compare value_counts() before and after each step).",
                input=name,
            )
        )
    rare = fractions[fractions < min_class_fraction]
    if k > 1 and (ratio > max_imbalance_ratio or len(rare)):
        out.append(
            Finding(
                IMBALANCE,
                Severity.WARNING,
                f"{name}, {label_col}: classes are imbalanced {ratio:.3g}:1 ('{majority}' vs "
                f"'{minority}'); always predicting '{majority}' scores "
                f"{100 * baseline:.3g}% accuracy; {len(rare)} class(es) under "
                f"{100 * min_class_fraction:.3g}%",
                evidence={
                    "imbalance_ratio": ratio,
                    "majority_class": majority,
                    "minority_class": minority,
                    "majority_baseline_accuracy": baseline,
                    "balanced_accuracy_chance": 1.0 / k,
                    "rare_classes": rare.to_dict(),
                    "max_imbalance_ratio": max_imbalance_ratio,
                    "min_class_fraction": min_class_fraction,
                },
                subjects=subjects(rare.index if len(rare) else [minority]),
                hint=_METRIC_HINT,
                input=name,
            )
        )
    min_size = n_folds if min_class_size is None else min_class_size
    tiny = counts[counts < min_size]
    if len(tiny):
        severity = Severity.ERROR if int(tiny.min()) < 2 else Severity.WARNING
        out.append(
            Finding(
                TINY_CLASS,
                severity,
                f"{name}, {label_col}: {fraction(len(tiny), k)} classes have fewer than "
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
        )
    return out


def check_label_variants(
    y: pd.Series | np.ndarray, *, name: str = "labels", label_col: str = "label"
) -> list[Finding]:
    """Labels that differ only by case or surrounding whitespace ('Tumor' vs 'tumor ').

    Each variant silently becomes its own class. Reported as ``balance.label_variants`` (error)
    with every variant and its count.

    Examples
    --------
    >>> y = pd.Series(["tumor"] * 5 + ["Tumor "] * 2 + ["normal"] * 6)
    >>> check_label_variants(y)[0].evidence["variants"]
    {'tumor': {'Tumor ': 2, 'tumor': 5}}
    """
    y = pd.Series(y)
    y = y[y.notna()].astype(str)
    if y.empty:
        return []
    counts = y.value_counts()
    key = pd.Series(counts.index, index=counts.index).str.strip().str.casefold()
    groups = {k: g for k, g in key.groupby(key, sort=True) if len(g) > 1}
    if not groups:
        return []
    variants = {k: {v: int(counts[v]) for v in sorted(g.index)} for k, g in groups.items()}
    n_rows = sum(sum(v.values()) for v in variants.values())
    shown = [" / ".join(repr(v) for v in vs) for vs in variants.values()]
    return [
        Finding(
            LABEL_VARIANTS,
            Severity.ERROR,
            f"{name}, {label_col}: {len(variants)} label(s) are spelled several ways that differ "
            f"only by case or whitespace ({preview(shown)}; {fraction(n_rows, len(y))} samples); "
            "each spelling becomes its own class",
            evidence={"variants": variants, "n_affected_samples": n_rows, "n_samples": len(y)},
            subjects=subjects(v for vs in variants.values() for v in vs),
            hint=f"Normalise the labels before training: df['{label_col}'] = "
            f"df['{label_col}'].str.strip().str.lower() (or map them to a controlled vocabulary).",
            input=name,
        )
    ]


def _train_split(splits: pd.Series) -> str:
    values = list(pd.unique(splits))
    for v in values:
        if str(v).strip().lower() in _TRAIN_NAMES:
            return str(v)
    return str(splits.value_counts().sort_index().idxmax())


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

    ``y`` and ``splits`` are aligned by index. The training split is the one named train/training,
    else the largest.

    Examples
    --------
    >>> y = pd.Series(["a"] * 50 + ["b"] * 50 + ["c"] * 5)
    >>> split = pd.Series(["train"] * 100 + ["test"] * 5)
    >>> [f.check for f in check_split_balance(y, split)]
    ['balance.split_shift', 'balance.unseen_class']
    """
    y = pd.Series(y)
    splits = pd.Series(splits, index=y.index) if not isinstance(splits, pd.Series) else splits
    frame = pd.DataFrame({"y": y, "split": splits.reindex(y.index)}).dropna()
    if frame.empty or frame["split"].nunique() < 2:
        return []
    frame = frame.astype(str)
    train = _train_split(frame["split"])
    table = pd.crosstab(frame["split"], frame["y"])
    out: list[Finding] = []
    train_classes = set(table.columns[table.loc[train] > 0])
    for split in sorted(s for s in table.index if s != train):
        row = table.loc[split]
        p_train = table.loc[train] / table.loc[train].sum()
        p_split = row / row.sum()
        tvd = float(0.5 * (p_train - p_split).abs().sum())
        sub = table.loc[[train, split]]
        sub = sub.loc[:, sub.sum(axis=0) > 0]
        if sub.shape[1] > 1:
            chi2, pvalue, dof, _ = stats.chi2_contingency(sub.to_numpy())
        else:
            chi2, pvalue, dof = 0.0, 1.0, 0
        if tvd > max_split_shift and pvalue < alpha:
            out.append(
                Finding(
                    SPLIT_SHIFT,
                    Severity.WARNING,
                    f"{name}, {label_col}: class proportions in '{split}' differ from "
                    f"'{train}' (total variation {tvd:.3g} > {max_split_shift:.3g}, chi-square "
                    f"p = {pvalue:.2g}); test metrics will not reflect the training distribution",
                    evidence={
                        "split": split,
                        "train_split": train,
                        "total_variation": tvd,
                        "chi2": float(chi2),
                        "dof": int(dof),
                        "p_value": float(pvalue),
                        "train_fractions": p_train.to_dict(),
                        "split_fractions": p_split.to_dict(),
                    },
                    subjects=[split],
                    hint="Re-split stratified by the label: "
                    "biodata_guard.leakage.group_split(df, label_col=..., group_cols=[...]) or "
                    "sklearn.model_selection.StratifiedGroupKFold.",
                    input=name,
                )
            )
        unseen = sorted(set(row.index[row > 0]) - train_classes)
        if unseen:
            n_unseen = int(row[unseen].sum())
            out.append(
                Finding(
                    UNSEEN_CLASS,
                    Severity.ERROR,
                    f"{name}, {label_col}: {len(unseen)} class(es) occur in '{split}' but never "
                    f"in '{train}' ({preview(unseen)}; {fraction(n_unseen, int(row.sum()))} "
                    f"'{split}' samples); no model trained on '{train}' can predict them",
                    evidence={
                        "split": split,
                        "train_split": train,
                        "unseen_classes": {c: int(row[c]) for c in unseen},
                        "n_affected_samples": n_unseen,
                        "n_split_samples": int(row.sum()),
                    },
                    subjects=subjects(unseen),
                    hint="Re-split so every class is in train "
                    "(biodata_guard.leakage.group_split stratifies by the label), or drop those "
                    "classes from evaluation explicitly.",
                    input=name,
                )
            )
    return out


def audit_balance(ctx: AuditContext) -> list[Finding]:
    """Run the balance checks on the configured label (and split) columns."""
    cfg = ctx.config
    y = ctx.column("label_col")
    if y is None:
        return []
    out = check_label_variants(y, name=ctx.samples_name, label_col=cfg.label_col or "label")
    out += check_class_balance(
        y,
        name=ctx.samples_name,
        label_col=cfg.label_col or "label",
        min_class_fraction=cfg.min_class_fraction,
        max_imbalance_ratio=cfg.max_imbalance_ratio,
        min_class_size=cfg.min_class_size,
        n_folds=cfg.n_folds,
    )
    splits = ctx.column("split_col")
    counts: dict[str, Any] = {"all": _clean(y).value_counts().sort_index().to_dict()}
    if splits is not None:
        out += check_split_balance(
            y,
            splits,
            name=ctx.samples_name,
            label_col=cfg.label_col or "label",
            split_col=cfg.split_col or "split",
            max_split_shift=cfg.max_split_shift,
            alpha=cfg.alpha,
        )
        frame = pd.DataFrame({"y": y, "s": splits}).dropna().astype(str)
        counts = {
            s: g["y"].value_counts().sort_index().to_dict()
            for s, g in frame.groupby("s", sort=True)
        }
    ctx.artifacts["balance"] = {"class_counts": counts}
    return out

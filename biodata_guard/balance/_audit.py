"""The balance group's audit: the configured label (and split) columns."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodata_guard._context import AuditContext
from biodata_guard._format import preview
from biodata_guard.balance._classes import (
    IMBALANCE,
    SINGLE_CLASS,
    SUMMARY,
    TINY_CLASS,
    check_class_balance,
    labelled,
)
from biodata_guard.balance._splits import (
    SPLIT_SHIFT,
    UNSEEN_CLASS,
    check_split_balance,
    labelled_splits,
)
from biodata_guard.balance._variants import LABEL_VARIANTS, check_label_variants
from biodata_guard.findings import Finding, not_checked


def _no_labels(y: pd.Series, name: str, label_col: str) -> list[Finding]:
    """``not checked`` for every label check when no sample has a label."""
    reason = f"{name}, {label_col}: no sample has a label (all {len(y)} values are missing)"
    ids = (SUMMARY, SINGLE_CLASS, IMBALANCE, TINY_CLASS, LABEL_VARIANTS)
    return [not_checked(i, reason, input=name, n_samples=len(y), n_labelled=0) for i in ids]


def _one_split(frame: pd.DataFrame, name: str, label_col: str, split_col: str) -> list[Finding]:
    """``not checked`` for the split checks when the labelled samples span fewer than 2 splits."""
    values = pd.unique(frame["split"])
    if len(values):
        reason = (
            f"{name}, {split_col}: all {len(frame)} labelled samples are in one split "
            f"({preview(map(str, values))}), needs >= 2 splits"
        )
    else:
        reason = f"{name}: no sample has both a '{label_col}' label and a '{split_col}' split"
    figures = {"n_samples": len(frame), "n_splits": len(values)}
    return [not_checked(i, reason, input=name, **figures) for i in (SPLIT_SHIFT, UNSEEN_CLASS)]


def _class_counts_per_split(y: pd.Series, splits: pd.Series | None) -> dict[str, Any]:
    """The report's class counts: over all samples, or per split."""
    if splits is None:
        return {"all": labelled(y).value_counts().sort_index().to_dict()}
    frame = pd.DataFrame({"y": y, "s": splits}).dropna().astype(str)
    return {
        s: g["y"].value_counts().sort_index().to_dict() for s, g in frame.groupby("s", sort=True)
    }


def audit_balance(ctx: AuditContext) -> list[Finding]:
    """Run the balance checks on the configured label (and split) columns.

    Writes ``ctx.artifacts["balance"] = {"class_counts": {split: {class: n}}}`` (split ``"all"``
    without a split column). Without a single labelled sample, or with fewer than two splits
    among the labelled samples, the checks that cannot run say so in ``not checked`` findings.
    """
    cfg = ctx.config
    y = ctx.column("label_col")
    if y is None:
        return []
    name, label_col = ctx.samples_name, cfg.label_col or "label"
    out = check_label_variants(y, name=name, label_col=label_col)
    out += check_class_balance(
        y,
        name=name,
        label_col=label_col,
        min_class_fraction=cfg.min_class_fraction,
        max_imbalance_ratio=cfg.max_imbalance_ratio,
        min_class_size=cfg.min_class_size,
        n_folds=cfg.n_folds,
    )
    if labelled(y).empty:
        out += _no_labels(y, name, label_col)
    splits = ctx.column("split_col")
    if splits is not None:
        split_col = cfg.split_col or "split"
        out += check_split_balance(
            y,
            splits,
            name=name,
            label_col=label_col,
            split_col=split_col,
            max_split_shift=cfg.max_split_shift,
            alpha=cfg.alpha,
        )
        frame = labelled_splits(y, splits)
        if frame["split"].nunique() < 2:
            out += _one_split(frame, name, label_col, split_col)
    ctx.artifacts["balance"] = {"class_counts": _class_counts_per_split(y, splits)}
    return out

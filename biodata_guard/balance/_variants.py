"""Labels spelled several ways that differ only by case or surrounding whitespace."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.balance import _pandera
from biodata_guard.balance._classes import labelled
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import PanderaMethod, declare_check

LABEL_VARIANTS = declare_check(
    "balance.label_variants",
    group="balance",
    severities=("error",),
    needs=("labels",),
    doc="Labels that differ only by case or whitespace ('Tumor' vs 'tumor '): extra classes.",
    pandera=PanderaMethod(_pandera.consistent_categories, statistics=(), kind="column"),
)


def label_variants(y: pd.Series | np.ndarray) -> dict[str, dict[str, int]]:
    """Each label spelled several ways (key: stripped, case-folded) -> spelling -> count.

    Examples
    --------
    >>> label_variants(pd.Series(["tumor"] * 5 + ["Tumor "] * 2 + ["normal"] * 6))
    {'tumor': {'Tumor ': 2, 'tumor': 5}}
    """
    counts = labelled(pd.Series(y)).value_counts()
    if counts.empty:
        return {}
    key = pd.Series(counts.index, index=counts.index).str.strip().str.casefold()
    groups = {k: g for k, g in key.groupby(key, sort=True) if len(g) > 1}
    return {k: {v: int(counts[v]) for v in sorted(g.index)} for k, g in groups.items()}


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
    variants = label_variants(y)
    if not variants:
        return []
    n_labelled = len(labelled(pd.Series(y)))
    n_rows = sum(sum(v.values()) for v in variants.values())
    shown = [" / ".join(repr(v) for v in vs) for vs in variants.values()]
    return [
        Finding(
            LABEL_VARIANTS,
            Severity.ERROR,
            f"{name}, {label_col}: {len(variants)} label(s) are spelled several ways that differ "
            f"only by case or whitespace ({preview(shown)}; {fraction(n_rows, n_labelled)} "
            "samples); each spelling becomes its own class",
            evidence={
                "variants": variants,
                "n_affected_samples": n_rows,
                "n_samples": n_labelled,
            },
            subjects=subjects(v for vs in variants.values() for v in vs),
            hint=f"Normalise the labels before training: df['{label_col}'] = "
            f"df['{label_col}'].str.strip().str.lower() (or map them to a controlled vocabulary).",
            input=name,
        )
    ]

"""Two inputs' sample ids: lengths, duplicated keys, unmatched keys, order; missing labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

LENGTH_MISMATCH = declare_check(
    "alignment.length_mismatch",
    group="alignment",
    severities=("error",),
    needs=("ids",),
    doc="Two inputs have different row counts: pairing them by position misaligns rows.",
)
KEY_DUPLICATES = declare_check(
    "alignment.key_duplicates",
    group="alignment",
    severities=("error",),
    needs=("ids",),
    doc="A sample id occurs on more than one row of an input.",
)
UNMATCHED_KEYS = declare_check(
    "alignment.unmatched_keys",
    group="alignment",
    severities=("error",),
    needs=("ids",),
    doc="Sample ids present in one input only: rows an inner join silently drops.",
)
ORDER_MISMATCH = declare_check(
    "alignment.order_mismatch",
    group="alignment",
    severities=("error",),
    needs=("ids",),
    doc="The same sample ids in a different order: pairing by position mislabels rows.",
)
MISSING_LABELS = declare_check(
    "alignment.missing_labels",
    group="alignment",
    severities=("error",),
    needs=("labels",),
    doc="Samples without a label (NaN, None, empty), e.g. after a left join.",
)

_ALIGN_HINT = (
    "Align by id, never by position: y = labels.set_index('{key}').loc[X.index, '{label}'] "
    "(or biodata_guard.alignment.audited_merge(features, labels, on='{key}'))."
)


def _hint(key: str, label: str = "label") -> str:
    return _ALIGN_HINT.format(key=key, label=label)


@dataclass(frozen=True)
class DuplicateIds:
    """The ids that occur on more than one row of one input."""

    ids: tuple[str, ...]
    n_rows_involved: int
    n_unique: int
    n_rows: int


@dataclass(frozen=True)
class IdComparison:
    """Two inputs' ids compared: row counts, duplicates per side, ids on one side only, and
    (for the same set of unique ids) the ids out of place."""

    n_left: int
    n_right: int
    left_duplicates: DuplicateIds
    right_duplicates: DuplicateIds
    only_left: tuple[str, ...]
    only_right: tuple[str, ...]
    n_matched_rows: int
    misplaced: tuple[str, ...]


def _duplicates(ids: pd.Index) -> DuplicateIds:
    dup_mask = ids.duplicated(keep=False)
    dup = ids[dup_mask].unique()
    return DuplicateIds(tuple(dup), int(dup_mask.sum()), int(ids.nunique()), len(ids))


def compare_ids(
    left_ids: Sequence[Any] | pd.Index, right_ids: Sequence[Any] | pd.Index
) -> IdComparison:
    """Compare two inputs' sample ids (as strings), row by row.

    Examples
    --------
    >>> c = compare_ids(["a", "b", "c"], ["b", "a", "c", "d"])
    >>> c.n_left, c.n_right, c.only_right, c.n_matched_rows
    (3, 4, ('d',), 3)
    """
    left = pd.Index(pd.Index(left_ids).astype(str))
    right = pd.Index(pd.Index(right_ids).astype(str))
    only_left = tuple(left.difference(right, sort=False).unique())
    only_right = tuple(right.difference(left, sort=False).unique())
    same_set = (
        len(left) == len(right)
        and left.is_unique
        and right.is_unique
        and not only_left
        and not only_right
    )
    misplaced: tuple[str, ...] = ()
    if same_set and not left.equals(right):
        misplaced = tuple(left[left.to_numpy() != right.to_numpy()])
    return IdComparison(
        n_left=len(left),
        n_right=len(right),
        left_duplicates=_duplicates(left),
        right_duplicates=_duplicates(right),
        only_left=only_left,
        only_right=only_right,
        n_matched_rows=int(left.isin(right).sum()),
        misplaced=misplaced,
    )


def _length_finding(c: IdComparison, left_name: str, right_name: str, hint: str) -> Finding:
    return Finding(
        LENGTH_MISMATCH,
        Severity.ERROR,
        f"{left_name} has {c.n_left} rows but {right_name} has {c.n_right}: "
        "pairing them by position misaligns every row after the first difference",
        evidence={f"n_{left_name}": c.n_left, f"n_{right_name}": c.n_right},
        hint=hint,
        input=right_name,
    )


def _duplicates_finding(d: DuplicateIds, name: str, key: str) -> Finding:
    return Finding(
        KEY_DUPLICATES,
        Severity.ERROR,
        f"{name}, {key}: {fraction(len(d.ids), d.n_unique)} ids occur on more than "
        f"one row ({d.n_rows_involved} rows; e.g. {preview(d.ids)})",
        evidence={
            "n_duplicated_ids": len(d.ids),
            "n_rows_involved": d.n_rows_involved,
            "n_rows": d.n_rows,
        },
        subjects=subjects(d.ids),
        hint=f"Deduplicate {name} on '{key}' (df.drop_duplicates('{key}')) or find "
        "the upstream join that repeated rows.",
        input=name,
    )


def _unmatched_finding(c: IdComparison, left_name: str, right_name: str, key: str) -> Finding:
    parts = []
    if c.only_left:
        parts.append(f"{len(c.only_left)} only in {left_name} (e.g. {preview(c.only_left)})")
    if c.only_right:
        parts.append(f"{len(c.only_right)} only in {right_name} (e.g. {preview(c.only_right)})")
    dropped = c.n_left - c.n_matched_rows
    return Finding(
        UNMATCHED_KEYS,
        Severity.ERROR,
        f"{left_name} vs {right_name}, {key}: {'; '.join(parts)}; an inner join keeps "
        f"{fraction(c.n_matched_rows, c.n_left)} {left_name} rows and silently drops {dropped}",
        evidence={
            f"n_only_in_{left_name}": len(c.only_left),
            f"n_only_in_{right_name}": len(c.only_right),
            "n_matched_rows": c.n_matched_rows,
            f"n_{left_name}": c.n_left,
            f"n_{right_name}": c.n_right,
        },
        subjects=subjects(list(c.only_left) + list(c.only_right)),
        hint=f"Find out why ids differ (prefixes, suffixes like '-1', case, whitespace) "
        f"and fix them at the source; then join on '{key}' with validate='one_to_one'.",
        input=right_name,
    )


def _order_finding(
    c: IdComparison, left_name: str, right_name: str, key: str, hint: str
) -> Finding:
    moved = len(c.misplaced)
    return Finding(
        ORDER_MISMATCH,
        Severity.ERROR,
        f"{left_name} vs {right_name}, {key}: same ids in a different order; pairing by "
        f"position gives {fraction(moved, c.n_left)} rows the wrong label "
        f"(e.g. {preview(c.misplaced)})",
        evidence={"n_misplaced": moved, "n_rows": c.n_left},
        subjects=subjects(c.misplaced),
        hint=hint,
        input=right_name,
    )


def check_alignment(
    left_ids: Sequence[Any] | pd.Index,
    right_ids: Sequence[Any] | pd.Index,
    *,
    left_name: str = "features",
    right_name: str = "labels",
    key: str = "sample_id",
    label_col: str = "label",
) -> list[Finding]:
    """Check that two inputs describe the same samples, once each, in the same order.

    Reports ``alignment.length_mismatch`` (different row counts), ``alignment.key_duplicates``
    (an id on several rows of one side), ``alignment.unmatched_keys`` (ids on one side only:
    rows an inner join silently drops) and ``alignment.order_mismatch`` (the same ids in a
    different order: pairing by position mislabels rows).

    Parameters
    ----------
    left_ids, right_ids
        The sample ids of each input, in row order.
    left_name, right_name
        Input names for messages.
    key
        Name of the id column (for messages and hints).
    label_col
        Name of the label column (for hints).

    Examples
    --------
    >>> [f.check for f in check_alignment(["a", "b", "c"], ["b", "a", "c"])]
    ['alignment.order_mismatch']
    """
    c = compare_ids(left_ids, right_ids)
    hint = _hint(key, label_col)
    out: list[Finding] = []
    if c.n_left != c.n_right:
        out.append(_length_finding(c, left_name, right_name, hint))
    for name, dup in ((left_name, c.left_duplicates), (right_name, c.right_duplicates)):
        if dup.ids:
            out.append(_duplicates_finding(dup, name, key))
    if c.only_left or c.only_right:
        out.append(_unmatched_finding(c, left_name, right_name, key))
    if c.misplaced:
        out.append(_order_finding(c, left_name, right_name, key, hint))
    return out


def check_missing_labels(
    labels: pd.Series,
    *,
    name: str = "labels",
    label_col: str | None = None,
) -> list[Finding]:
    """Report samples whose label is missing (NaN/None/empty), e.g. after a left join.

    Examples
    --------
    >>> y = pd.Series(["a", None, "b"], index=["s1", "s2", "s3"], name="label")
    >>> check_missing_labels(y)[0].evidence["n_missing"]
    1
    """
    col = label_col or labels.name or "label"
    missing = labels.isna() | labels.astype(str).str.strip().eq("")
    n = int(missing.sum())
    if n == 0:
        return []
    ids = labels.index[missing.to_numpy()]
    return [
        Finding(
            MISSING_LABELS,
            Severity.ERROR,
            f"{name}, {col}: {fraction(n, len(labels))} samples have no label "
            f"(e.g. {preview(ids)}); a left join with unmatched keys produces exactly this",
            evidence={"n_missing": n, "n_samples": len(labels)},
            subjects=subjects(ids),
            hint="Check the join that attached the labels (how='left' keeps unmatched rows as "
            "NaN); drop unlabeled samples explicitly with y.dropna() if that is intended.",
            input=name,
        )
    ]

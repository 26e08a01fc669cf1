"""Merges checked before they run (many-to-many explosion) and audited merges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from biodata_guard._format import preview, subjects
from biodata_guard.alignment._ids import (
    KEY_DUPLICATES,
    UNMATCHED_KEYS,
    check_alignment,
    check_missing_labels,
)
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

MERGE_EXPLOSION = declare_check(
    "alignment.merge_explosion",
    group="alignment",
    severities=("error",),
    doc="A merge key duplicated on both sides multiplies rows (check_merge / audited_merge; "
    "not part of the audit).",
)


@dataclass(frozen=True)
class MergePlan:
    """What ``left.merge(right, on=keys)`` yields: result rows, and the keys duplicated on both
    sides (each multiplies rows) with the rows they add beyond a one-to-many merge."""

    exploding_keys: tuple[str, ...]
    n_result_rows: int
    n_left_rows: int
    n_right_rows: int
    n_extra_rows: int


def _require_keys(df: pd.DataFrame, keys: list[str], name: str) -> None:
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise InputError(
            f"{name}: merge key column(s) {missing} not found; columns are {list(df.columns)[:10]}",
            path=name,
            column=missing[0],
            hint="Pass on= with a column present in both tables.",
        )


def plan_merge(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> MergePlan:
    """Count what an inner merge of ``left`` and ``right`` on ``keys`` yields, without doing it.

    Examples
    --------
    >>> left = pd.DataFrame({"id": ["a", "a", "b"]})
    >>> p = plan_merge(left, left, ["id"])
    >>> p.exploding_keys, p.n_result_rows, p.n_extra_rows
    (('a',), 5, 2)
    """
    lc = left.groupby(keys, dropna=False, observed=True).size().rename("n_left")
    rc = right.groupby(keys, dropna=False, observed=True).size().rename("n_right")
    both = pd.concat([lc, rc], axis=1, join="inner")
    exploding = both[(both["n_left"] > 1) & (both["n_right"] > 1)]
    extra = int((exploding["n_left"] * exploding["n_right"]).sum()) - int(
        np.maximum(exploding["n_left"], exploding["n_right"]).sum()
    )
    ex_keys = [k if not isinstance(k, tuple) else "/".join(map(str, k)) for k in exploding.index]
    return MergePlan(
        exploding_keys=tuple(ex_keys),
        n_result_rows=int((both["n_left"] * both["n_right"]).sum()),
        n_left_rows=len(left),
        n_right_rows=len(right),
        n_extra_rows=extra,
    )


def _explosion_finding(p: MergePlan, keys: list[str], left_name: str, right_name: str) -> Finding:
    return Finding(
        MERGE_EXPLOSION,
        Severity.ERROR,
        f"{left_name} x {right_name}, {', '.join(keys)}: {len(p.exploding_keys)} keys are "
        f"duplicated on both sides (e.g. {preview(p.exploding_keys)}); the merge yields "
        f"{p.n_result_rows} rows from {p.n_left_rows} and {p.n_right_rows} "
        f"({p.n_extra_rows} rows more than a one-to-many merge)",
        evidence={
            "n_exploding_keys": len(p.exploding_keys),
            "n_result_rows": p.n_result_rows,
            "n_left_rows": p.n_left_rows,
            "n_right_rows": p.n_right_rows,
            "n_extra_rows": p.n_extra_rows,
        },
        subjects=subjects(p.exploding_keys),
        hint=f"Deduplicate one side on {keys} first, or merge on a key that is unique on "
        "one side; pass validate='one_to_many' to pandas.merge to make this an error.",
        input=right_name,
    )


def check_merge(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: str | list[str],
    left_name: str = "left",
    right_name: str = "right",
) -> list[Finding]:
    """Predict what ``left.merge(right, on=on)`` does before doing it: many-to-many explosion.

    A key duplicated on both sides multiplies rows (``a x b`` rows per key); the result has more
    rows than either input and repeats samples, silently inflating the training set.

    Examples
    --------
    >>> left = pd.DataFrame({"id": ["a", "a", "b"], "x": [1, 2, 3]})
    >>> right = pd.DataFrame({"id": ["a", "a", "b"], "y": [1, 2, 3]})
    >>> check_merge(left, right, on="id")[0].evidence["n_result_rows"]
    5
    """
    keys = [on] if isinstance(on, str) else list(on)
    _require_keys(left, keys, left_name)
    _require_keys(right, keys, right_name)
    plan = plan_merge(left, right, keys)
    if not plan.exploding_keys:
        return []
    return [_explosion_finding(plan, keys, left_name, right_name)]


def audited_merge(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: str | list[str],
    how: str = "inner",
    left_name: str = "left",
    right_name: str = "right",
    label_col: str | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Perform ``pandas.merge`` and report exactly what it did.

    Returns the merged frame and findings: keys duplicated on either side, keys unmatched on each
    side (rows dropped by an inner join, NaN-filled by an outer one), many-to-many explosion, and
    labels (``label_col``, from either side) that became missing.

    Examples
    --------
    >>> feats = pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "x": [0.1, 0.2, 0.3]})
    >>> labs = pd.DataFrame({"sample_id": ["s1", "s2", "s4"], "label": ["a", "b", "a"]})
    >>> merged, findings = audited_merge(feats, labs, on="sample_id", how="left",
    ...                                  label_col="label")
    >>> len(merged), sorted({f.check for f in findings})
    (3, ['alignment.missing_labels', 'alignment.unmatched_keys'])
    """
    findings = check_merge(left, right, on=on, left_name=left_name, right_name=right_name)
    keys = [on] if isinstance(on, str) else list(on)
    lkey = _key_index(left, keys)
    rkey = _key_index(right, keys)
    key_name = "+".join(keys)
    for f in check_alignment(lkey, rkey, left_name=left_name, right_name=right_name, key=key_name):
        if f.check in (KEY_DUPLICATES, UNMATCHED_KEYS):
            findings.append(f)
    merged = left.merge(right, on=on, how=how)  # type: ignore[arg-type]
    if label_col is not None and label_col in merged.columns:
        y = merged[label_col].copy()
        y.index = _key_index(merged, keys)
        findings += check_missing_labels(y, name=f"{left_name}+{right_name}", label_col=label_col)
    return merged, findings


def _key_index(df: pd.DataFrame, keys: list[str]) -> pd.Index:
    if len(keys) == 1:
        return pd.Index(df[keys[0]].astype(str))
    return pd.Index(df[keys].astype(str).agg("/".join, axis=1))

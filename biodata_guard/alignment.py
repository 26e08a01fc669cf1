"""Label/input alignment: lengths, duplicate and unmatched keys, order, missing labels, merges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity

__all__ = [
    "KEY_DUPLICATES",
    "LENGTH_MISMATCH",
    "MERGE_EXPLOSION",
    "MISSING_LABELS",
    "ORDER_MISMATCH",
    "SEX_DISCORDANCE",
    "UNMATCHED_KEYS",
    "audited_merge",
    "check_alignment",
    "check_merge",
    "check_missing_labels",
    "check_sex_concordance",
]

LENGTH_MISMATCH = "alignment.length_mismatch"
KEY_DUPLICATES = "alignment.key_duplicates"
UNMATCHED_KEYS = "alignment.unmatched_keys"
ORDER_MISMATCH = "alignment.order_mismatch"
MISSING_LABELS = "alignment.missing_labels"
MERGE_EXPLOSION = "alignment.merge_explosion"
SEX_DISCORDANCE = "alignment.sex_discordance"

_ALIGN_HINT = (
    "Align by id, never by position: y = labels.set_index('{key}').loc[X.index, '{label}'] "
    "(or biodata_guard.alignment.audited_merge(features, labels, on='{key}'))."
)


def _hint(key: str, label: str = "label") -> str:
    return _ALIGN_HINT.format(key=key, label=label)


def check_alignment(
    left_ids: Sequence[Any] | pd.Index,
    right_ids: Sequence[Any] | pd.Index,
    *,
    left_name: str = "features",
    right_name: str = "labels",
    key: str = "sample_id",
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

    Examples
    --------
    >>> [f.check for f in check_alignment(["a", "b", "c"], ["b", "a", "c"])]
    ['alignment.order_mismatch']
    """
    left = pd.Index(pd.Index(left_ids).astype(str))
    right = pd.Index(pd.Index(right_ids).astype(str))
    out: list[Finding] = []
    if len(left) != len(right):
        out.append(
            Finding(
                LENGTH_MISMATCH,
                Severity.ERROR,
                f"{left_name} has {len(left)} rows but {right_name} has {len(right)}: "
                "pairing them by position misaligns every row after the first difference",
                evidence={f"n_{left_name}": len(left), f"n_{right_name}": len(right)},
                hint=_hint(key),
                input=right_name,
            )
        )
    for name, ids in ((left_name, left), (right_name, right)):
        dup_mask = ids.duplicated(keep=False)
        if dup_mask.any():
            dup = ids[dup_mask].unique()
            out.append(
                Finding(
                    KEY_DUPLICATES,
                    Severity.ERROR,
                    f"{name}, {key}: {fraction(len(dup), ids.nunique())} ids occur on more than "
                    f"one row ({int(dup_mask.sum())} rows; e.g. {preview(dup)})",
                    evidence={
                        "n_duplicated_ids": len(dup),
                        "n_rows_involved": int(dup_mask.sum()),
                        "n_rows": len(ids),
                    },
                    subjects=subjects(dup),
                    hint=f"Deduplicate {name} on '{key}' (df.drop_duplicates('{key}')) or find "
                    "the upstream join that repeated rows.",
                    input=name,
                )
            )
    only_left = left.difference(right, sort=False).unique()
    only_right = right.difference(left, sort=False).unique()
    if len(only_left) or len(only_right):
        n_inner = int(left.isin(right).sum())
        parts = []
        if len(only_left):
            parts.append(f"{len(only_left)} only in {left_name} (e.g. {preview(only_left)})")
        if len(only_right):
            parts.append(f"{len(only_right)} only in {right_name} (e.g. {preview(only_right)})")
        dropped = len(left) - n_inner
        out.append(
            Finding(
                UNMATCHED_KEYS,
                Severity.ERROR,
                f"{left_name} vs {right_name}, {key}: {'; '.join(parts)}; an inner join keeps "
                f"{fraction(n_inner, len(left))} {left_name} rows and silently drops {dropped}",
                evidence={
                    f"n_only_in_{left_name}": len(only_left),
                    f"n_only_in_{right_name}": len(only_right),
                    "n_matched_rows": n_inner,
                    f"n_{left_name}": len(left),
                    f"n_{right_name}": len(right),
                },
                subjects=subjects(list(only_left) + list(only_right)),
                hint=f"Find out why ids differ (prefixes, suffixes like '-1', case, whitespace) "
                f"and fix them at the source; then join on '{key}' with validate='one_to_one'.",
                input=right_name,
            )
        )
    same_set = (
        len(left) == len(right)
        and left.is_unique
        and right.is_unique
        and not len(only_left)
        and not len(only_right)
    )
    if same_set and not left.equals(right):
        moved = int((left.to_numpy() != right.to_numpy()).sum())
        mism = left[left.to_numpy() != right.to_numpy()]
        out.append(
            Finding(
                ORDER_MISMATCH,
                Severity.ERROR,
                f"{left_name} vs {right_name}, {key}: same ids in a different order; pairing by "
                f"position gives {fraction(moved, len(left))} rows the wrong label "
                f"(e.g. {preview(mism)})",
                evidence={"n_misplaced": moved, "n_rows": len(left)},
                subjects=subjects(mism),
                hint=_hint(key),
                input=right_name,
            )
        )
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
    for df, name in ((left, left_name), (right, right_name)):
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise InputError(
                f"{name}: merge key column(s) {missing} not found; columns are "
                f"{list(df.columns)[:10]}",
                path=name,
                column=missing[0],
                hint="Pass on= with a column present in both tables.",
            )
    lc = left.groupby(keys, dropna=False, observed=True).size().rename("n_left")
    rc = right.groupby(keys, dropna=False, observed=True).size().rename("n_right")
    both = pd.concat([lc, rc], axis=1, join="inner")
    exploding = both[(both["n_left"] > 1) & (both["n_right"] > 1)]
    if exploding.empty:
        return []
    n_result = int((both["n_left"] * both["n_right"]).sum())
    extra = int((exploding["n_left"] * exploding["n_right"]).sum()) - int(
        np.maximum(exploding["n_left"], exploding["n_right"]).sum()
    )
    key_label = ", ".join(keys)
    ex_keys = [k if not isinstance(k, tuple) else "/".join(map(str, k)) for k in exploding.index]
    return [
        Finding(
            MERGE_EXPLOSION,
            Severity.ERROR,
            f"{left_name} x {right_name}, {key_label}: {len(exploding)} keys are duplicated on "
            f"both sides (e.g. {preview(ex_keys)}); the merge yields {n_result} rows from "
            f"{len(left)} and {len(right)} ({extra} rows more than a one-to-many merge)",
            evidence={
                "n_exploding_keys": len(exploding),
                "n_result_rows": n_result,
                "n_left_rows": len(left),
                "n_right_rows": len(right),
                "n_extra_rows": extra,
            },
            subjects=subjects(ex_keys),
            hint=f"Deduplicate one side on {keys} first, or merge on a key that is unique on "
            "one side; pass validate='one_to_many' to pandas.merge to make this an error.",
            input=right_name,
        )
    ]


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


def check_sex_concordance(*args: Any, **kwargs: Any) -> list[Finding]:
    """Compare reported sex with sex inferred from XIST / chrY expression.

    See :func:`biodata_guard._sex.check_sex_concordance` for parameters.
    """
    from biodata_guard._sex import check_sex_concordance as _check

    return _check(*args, **kwargs)

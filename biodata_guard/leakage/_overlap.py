"""Sample ids and groups (patients, donors ...) found in more than one split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.leakage._common import (
    Splits,
    as_str,
    check_param,
    natural_key,
    parse_splits,
    require_columns,
    split_hint,
    too_few_splits,
)
from biodata_guard.leakage._pandera import no_group_overlap, unique_per_split
from biodata_guard.registry import Interval, PanderaMethod, declare_check, declare_param

MAX_OVERLAP_FRACTION = declare_param(
    "max_overlap_fraction",
    0.0,
    kind="float",
    help="Fraction of test samples allowed to share a group with train (default 0).",
    valid=Interval(float, 0, 1),
    section="thresholds",
    key="max_overlap_fraction",
)

ID_OVERLAP = declare_check(
    "leakage.id_overlap",
    group="leakage",
    severities=("error",),
    needs=("split",),
    doc="Sample ids listed in more than one split (or train and test rows of a CV fold shared).",
    pandera=PanderaMethod(
        unique_per_split,
        statistics=("id_col", "split_col"),
        kind="frame",
        reads=("id_col", "split_col"),
    ),
)

GROUP_OVERLAP = declare_check(
    "leakage.group_overlap",
    group="leakage",
    severities=("warning", "error"),
    needs=("split", "groups"),
    params=("max_overlap_fraction",),
    doc="Groups (patients, donors ...) with samples in more than one split.",
    pandera=PanderaMethod(
        no_group_overlap,
        statistics=("group_col", "split_col"),
        kind="frame",
        reads=("group_col", "split_col"),
    ),
)


# --- leakage.id_overlap -----------------------------------------------------------------------


@dataclass(frozen=True)
class IdOverlap:
    """Sample ids in more than one split (in order of first appearance) and the count per
    pair of splits (non-zero pairs only)."""

    n_ids: int
    overlapping: list[str]
    pairs: dict[str, int]


def id_overlap_stats(ids: pd.Series, sp_: Splits) -> IdOverlap:
    """Which ids (strings, None = missing) sit in more than one split of ``sp_``."""
    frame = pd.DataFrame({"id": ids, "s": sp_.codes})
    frame = frame[(frame["s"] >= 0) & frame["id"].notna()].drop_duplicates()
    per_id = frame.groupby("id", sort=False)["s"].nunique()
    bad = list(per_id[per_id > 1].index)
    pairs: dict[str, int] = {}
    if bad:
        table = pd.crosstab(frame["id"], frame["s"]).loc[bad] > 0
        pairs = {p: k for p, k in sp_.pair_counts(table).items() if k}
    return IdOverlap(n_ids=int(frame["id"].nunique()), overlapping=bad, pairs=pairs)


def _id_overlap_finding(
    st: IdOverlap, sp_: Splits, *, name: str, key: str, label_col: str | None
) -> Finding:
    bad = st.overlapping
    return Finding(
        ID_OVERLAP,
        Severity.ERROR,
        f"{name}, {key}: {fraction(len(bad), st.n_ids)} sample ids are listed in more than "
        f"one split ({', '.join(f'{p}: {k}' for p, k in st.pairs.items())}; e.g. "
        f"{preview(bad, total=len(bad))}); the model is evaluated on samples it "
        "was trained on",
        evidence={
            "n_overlapping_ids": len(bad),
            "n_ids": st.n_ids,
            "overlap_per_split_pair": st.pairs,
            "splits": sp_.names,
        },
        subjects=subjects(bad),
        hint=f"Give each sample exactly one split (drop the repeated rows). "
        f"{split_hint(label_col, [key])}",
        input=name,
    )


def check_id_overlap(
    df: pd.DataFrame,
    *,
    split_col: str = "split",
    id_col: str | None = None,
    name: str = "metadata",
    label_col: str | None = "label",
) -> list[Finding]:
    """Find sample ids listed in more than one split (``leakage.id_overlap``, error).

    Parameters
    ----------
    df
        The sample table, one row per (sample, split) assignment.
    split_col
        Column holding the split (train/test/validation, or fold numbers).
    id_col
        Column holding the sample id; ``None`` uses the index.
    name
        Input name for messages.
    label_col
        Label column named in the fix hint.

    Examples
    --------
    >>> df = pd.DataFrame({"sample_id": ["a", "b", "b", "c"],
    ...                    "split": ["train", "train", "test", "test"]})
    >>> f, = check_id_overlap(df, id_col="sample_id")
    >>> f.check, f.evidence["n_overlapping_ids"], f.subjects
    ('leakage.id_overlap', 1, ['b'])
    """
    require_columns(df, [split_col] + ([id_col] if id_col else []), name)
    ids = as_str(df[id_col] if id_col else df.index.to_series())
    sp_ = parse_splits(df[split_col].to_numpy(), len(df), name, split_col)
    if len(sp_.names) < 2:
        return [not_checked(ID_OVERLAP, too_few_splits(sp_, split_col), input=name)]
    st = id_overlap_stats(ids, sp_)
    if not st.overlapping:
        return []
    key = id_col or (df.index.name or "index")
    return [_id_overlap_finding(st, sp_, name=name, key=key, label_col=label_col)]


# --- leakage.group_overlap --------------------------------------------------------------------


@dataclass(frozen=True)
class GroupOverlap:
    """Groups of one column across splits: groups per split, groups shared by each pair of
    splits (zeros kept), the groups in more than one split (natural order), and the evaluated
    samples (non-train, or all of a fold column) that share a group with another split."""

    n_groups: int
    groups_per_split: dict[str, int]
    shared_groups: dict[str, int]
    spanning: list[str]
    n_affected: int
    n_eval: int

    @property
    def affected_fraction(self) -> float:
        return self.n_affected / self.n_eval if self.n_eval else 0.0


def group_overlap_stats(groups: Any, sp_: Splits) -> GroupOverlap:
    """How the groups (one value per row; missing = no group) of one column cross ``sp_``."""
    g = as_str(groups)
    frame = pd.DataFrame({"g": g, "s": sp_.codes})
    frame = frame[(frame["s"] >= 0) & frame["g"].notna()]
    present = pd.crosstab(frame["g"], frame["s"]) > 0 if len(frame) else pd.DataFrame()
    groups_per_split = (
        {sp_.names[c]: int(present[c].sum()) for c in present.columns} if len(present) else {}
    )
    spanning = present.index[present.sum(axis=1) > 1] if len(present) else pd.Index([])
    bad = set(spanning)
    eval_rows = sp_.eval_mask & g.notna().to_numpy()
    affected = eval_rows & g.isin(bad).to_numpy()
    return GroupOverlap(
        n_groups=len(present),
        groups_per_split=groups_per_split,
        shared_groups=sp_.pair_counts(present),
        spanning=sorted(bad, key=natural_key),
        n_affected=int(affected.sum()),
        n_eval=int(eval_rows.sum()),
    )


def _group_overlap_finding(
    st: GroupOverlap,
    sp_: Splits,
    *,
    col: str,
    name: str,
    max_overlap_fraction: float,
    hint: str,
) -> Finding:
    frac = st.affected_fraction
    pairs = {p: k for p, k in st.shared_groups.items() if k}
    where = sp_.where
    return Finding(
        GROUP_OVERLAP,
        Severity.ERROR if frac > max_overlap_fraction else Severity.WARNING,
        f"{name}, {col}: {fraction(len(st.spanning), st.n_groups)} groups have samples in "
        f"more than one {where} ({', '.join(f'{p}: {k}' for p, k in pairs.items())}; "
        f"e.g. {preview(st.spanning)}); {fraction(st.n_affected, st.n_eval)} "
        f"{sp_.eval_word} share a group with another {where}",
        evidence={
            "group_col": col,
            "n_groups": st.n_groups,
            "n_shared_groups": len(st.spanning),
            "shared_groups": st.shared_groups,
            "groups_per_split": st.groups_per_split,
            "n_affected_samples": st.n_affected,
            "n_evaluated_samples": st.n_eval,
            "affected_fraction": frac,
            "max_overlap_fraction": max_overlap_fraction,
            "split_kind": "folds" if sp_.is_folds else "train/test",
        },
        subjects=subjects(st.spanning),
        hint=hint,
        input=name,
    )


def check_group_overlap(
    df: pd.DataFrame,
    *,
    split_col: str = "split",
    group_cols: Sequence[str] = ("patient_id",),
    name: str = "metadata",
    max_overlap_fraction: float = 0.0,
    label_col: str | None = "label",
) -> list[Finding]:
    """Find groups (patients, donors, families ...) whose samples sit in more than one split.

    One ``leakage.group_overlap`` finding per group column with any shared group: ``error`` when
    the fraction of evaluated samples sharing a group with another split exceeds
    ``max_overlap_fraction``, else ``warning``. For a train/test(/validation) column the evaluated
    samples are the non-train ones; for a fold column (no split named train) every sample is
    evaluated once, and a group whose samples fall in more than one fold leaks.

    Parameters
    ----------
    df
        The sample table.
    split_col
        Split column (train/test/validation, or k-fold assignments).
    group_cols
        Columns whose values must not cross splits.
    name
        Input name for messages.
    max_overlap_fraction
        Fraction of evaluated samples allowed to share a group with another split.
    label_col
        Label column named in the fix hint.

    Examples
    --------
    >>> df = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p3"],
    ...                    "split": ["train", "test", "train", "test"]})
    >>> f, = check_group_overlap(df)
    >>> f.severity, f.evidence["n_shared_groups"], f.evidence["n_affected_samples"]
    (<Severity.ERROR: 'error'>, 1, 1)
    """
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    check_param(MAX_OVERLAP_FRACTION, max_overlap_fraction, "max_overlap_fraction")
    require_columns(df, [split_col, *group_cols], name)
    sp_ = parse_splits(df[split_col].to_numpy(), len(df), name, split_col)
    if len(sp_.names) < 2:
        return [not_checked(GROUP_OVERLAP, too_few_splits(sp_, split_col), input=name)]
    hint = split_hint(label_col, group_cols)
    out = []
    for col in group_cols:
        st = group_overlap_stats(df[col].to_numpy(), sp_)
        if not st.n_groups:
            reason = f"{col} holds no group on the {int((sp_.codes >= 0).sum())} rows with a split"
            out.append(not_checked(GROUP_OVERLAP, reason, input=name, group_col=col))
        elif st.spanning:
            out.append(
                _group_overlap_finding(
                    st,
                    sp_,
                    col=col,
                    name=name,
                    max_overlap_fraction=max_overlap_fraction,
                    hint=hint,
                )
            )
    return out

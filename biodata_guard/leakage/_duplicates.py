"""Samples with identical feature vectors, across splits (leak) and within one (re-weighting)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, as_matrix
from biodata_guard.leakage._common import GROUP_SPLIT, Splits, parse_splits
from biodata_guard.leakage._row_hashes import row_hashes
from biodata_guard.registry import declare_check

DUPLICATE_SAMPLES = declare_check(
    "leakage.duplicate_samples",
    group="leakage",
    severities=("info", "error"),
    needs=("features",),
    doc="Samples with identical feature vectors: across splits (error), within one (info).",
)

#: Pairs of ids listed in ``subjects``.
_MAX_PAIRS = 50


@dataclass(frozen=True)
class Duplicates:
    """Sets of rows with identical non-empty vectors (``members``: set number -> rows, sets
    numbered by first appearance), their rows per split (``per_split``: sets x split codes),
    the sets that span splits, and the empty rows left out."""

    members: dict[int, list[int]]
    per_split: pd.DataFrame
    across: list[int]
    n_kept: int
    n_empty: int

    @property
    def redundant(self) -> pd.Series:
        """Rows per split code that repeat a vector already in that split."""
        return (self.per_split - 1).clip(lower=0).sum(axis=0)


def _duplicate_groups(
    h1: np.ndarray, h2: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (positions) that share their hash with another kept row, and their group numbers
    (numbered by first appearance)."""
    pos = np.flatnonzero(keep)
    frame = pd.DataFrame({"a": h1[pos], "b": h2[pos]})
    dup = frame.duplicated(["a", "b"], keep=False).to_numpy()
    rows = pos[dup]
    gid = frame[dup].groupby(["a", "b"], sort=False).ngroup().to_numpy()
    return rows, gid


def duplicate_stats(
    hashes: tuple[np.ndarray, np.ndarray, np.ndarray], sp_: Splits
) -> Duplicates | None:
    """Sets of identical rows from their hashes ``(h1, h2, nnz)``; None when there are none.
    All-zero rows and rows without a split are left out."""
    h1, h2, nnz = hashes
    keep = (nnz > 0) & (sp_.codes >= 0)
    n_empty = int(((nnz == 0) & (sp_.codes >= 0)).sum())
    rows, gid = _duplicate_groups(h1, h2, keep)
    if not len(rows):
        return None
    ct = pd.crosstab(gid, sp_.codes[rows])
    members = pd.Series(rows).groupby(gid, sort=True).apply(list).to_dict()
    across = sorted(ct.index[(ct > 0).sum(axis=1) > 1])
    return Duplicates(members, ct, across, int(keep.sum()), n_empty)


def _across_pairs(st: Duplicates, sp_: Splits, ids: Any) -> list[list[str]]:
    """(evaluated sample, its copy in another split -- train when there is one) pairs."""
    eval_rows = sp_.eval_mask
    listed: list[list[str]] = []
    for g in st.across:
        mem = st.members[g]
        for r in mem:
            if not eval_rows[r]:
                continue
            others = [q for q in mem if sp_.codes[q] != sp_.codes[r]]
            if sp_.train is not None:
                others = [q for q in others if sp_.codes[q] == sp_.train] or others
            listed.append([ids[r], ids[others[0]]])
        if len(listed) >= _MAX_PAIRS:
            break
    return listed[:_MAX_PAIRS]


def _within_pairs(st: Duplicates, sp_: Splits, ids: Any) -> list[list[str]]:
    """(sample, the first sample of the same split with its vector) pairs."""
    listed: list[list[str]] = []
    for g in sorted(st.members):
        first: dict[int, int] = {}
        for r in st.members[g]:
            c = int(sp_.codes[r])
            if c in first:
                listed.append([ids[r], ids[first[c]]])
            else:
                first[c] = r
        if len(listed) >= _MAX_PAIRS:
            break
    return listed[:_MAX_PAIRS]


def _across_finding(
    st: Duplicates,
    sp_: Splits,
    ids: Any,
    *,
    name: str,
    common: dict,
    label_col: str | None,
    hint_cols: list[str],
) -> Finding:
    sub = st.per_split.loc[st.across]
    pairs = {p: k for p, k in sp_.pair_counts(sub).items() if k}
    rows = np.concatenate([st.members[g] for g in st.across])
    eval_rows = sp_.eval_mask
    n_aff = int(eval_rows[rows].sum())
    n_eval = int(eval_rows.sum())
    listed = _across_pairs(st, sp_, ids)
    return Finding(
        DUPLICATE_SAMPLES,
        Severity.ERROR,
        f"{name}: {fraction(n_aff, n_eval)} {sp_.eval_word} have a feature vector "
        f"identical to a sample in another split "
        f"({', '.join(f'{p}: {k} pairs' for p, k in pairs.items())}; e.g. "
        f"{preview((f'{a} = {b}' for a, b in listed), total=n_aff)})",
        evidence={
            "n_affected_samples": n_aff,
            "n_evaluated_samples": n_eval,
            "affected_fraction": n_aff / n_eval if n_eval else 0.0,
            "n_duplicate_groups_across_splits": len(st.across),
            "pairs_per_split_pair": pairs,
            **common,
        },
        subjects=listed,
        hint="Keep one sample of each set of identical vectors, or give each set one "
        "group id (e.g. a 'duplicate_group' column) and split by it: "
        f"{GROUP_SPLIT}(df, label_col={label_col!r}, group_cols={hint_cols!r})",
        input=name,
    )


def _within_finding(
    st: Duplicates, sp_: Splits, ids: Any, redundant: dict[str, int], *, name: str, common: dict
) -> Finding:
    total = sum(redundant.values())
    listed = _within_pairs(st, sp_, ids)
    per = ", ".join(f"{k}: {v}" for k, v in redundant.items())
    return Finding(
        DUPLICATE_SAMPLES,
        Severity.INFO,
        f"{name}: {fraction(total, st.n_kept)} samples repeat the feature vector of "
        f"another sample in the same split ({per}; e.g. "
        f"{preview((f'{a} = {b}' for a, b in listed), total=total)})",
        evidence={
            "n_redundant_samples": total,
            "redundant_per_split": redundant,
            "n_duplicate_groups": len(st.members),
            **common,
        },
        subjects=listed,
        hint="Drop exact duplicates (keep one per identical vector) or weight them "
        "deliberately; if they are replicates of one source, add a group column and "
        f"split with {GROUP_SPLIT}.",
        input=name,
    )


def check_duplicate_samples(
    X: Any,
    splits: Any = None,
    *,
    name: str | None = None,
    split_col: str = "split",
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    label_col: str | None = "label",
    group_cols: Sequence[str] = (),
) -> list[Finding]:
    """Find samples with identical feature vectors, across splits and within one split.

    Every row is hashed (two independent order-free 64-bit sums over its non-zero
    ``(column, value)`` entries, streamed in chunks; sparse rows are never densified) and rows
    with equal hashes are grouped. All-zero rows are ignored (they carry nothing to leak).

    ``leakage.duplicate_samples`` is an ``error`` when a vector occurs in more than one split
    (the model is tested on a sample it was trained on), with the pairs in ``subjects``, and an
    ``info`` when duplicates stay within one split (they only re-weight training).

    Parameters
    ----------
    X
        Samples x features: AnnData (also backed), DataFrame, ndarray or scipy.sparse.
    splits
        One split value per row of ``X`` (train/test or folds), in row order; ``None`` treats
        all rows as one split (only the info finding can occur).
    name
        Input name for messages.
    split_col
        Name of the split column (for messages).
    chunk_size
        Rows read at a time.
    label_col, group_cols
        Columns named in the fix hint.

    Examples
    --------
    >>> X = np.arange(12.0).reshape(4, 3); X[3] = X[0]
    >>> f, = check_duplicate_samples(X, ["train", "train", "test", "test"])
    >>> f.severity, f.evidence["n_affected_samples"], f.subjects
    (<Severity.ERROR: 'error'>, 1, [['3', '0']])
    """
    view = as_matrix(X, name=name)
    name = view.name
    n = view.n_obs
    sp_ = (
        parse_splits(splits, n, name, split_col)
        if splits is not None
        else Splits(np.zeros(n, dtype=np.int64), ["all"], 0)
    )
    st = duplicate_stats(row_hashes(view, chunk_size), sp_)
    if st is None:
        return []
    ids = view.obs_names
    common = {"n_empty_rows_ignored": st.n_empty, "n_rows": n}
    out = []
    if st.across:
        hint_cols = [*group_cols, "duplicate_group"]
        out.append(
            _across_finding(
                st, sp_, ids, name=name, common=common, label_col=label_col, hint_cols=hint_cols
            )
        )
    redundant = {sp_.names[c]: int(k) for c, k in st.redundant.items() if k}
    if redundant:
        out.append(_within_finding(st, sp_, ids, redundant, name=name, common=common))
    return out

"""Split leakage: shared ids and groups, duplicate and near-duplicate samples, label shortcuts in
metadata, and preprocessing fitted before the split."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from biodata_guard._context import AuditContext
from biodata_guard._embedding import embed, embedding_key, fit_embedding, nearest, search
from biodata_guard._format import fraction, preview, subjects
from biodata_guard._row_hashes import RowHashes, row_hashes
from biodata_guard._split_moments import SplitMoments, moments_key, split_moments
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix

__all__ = [
    "DUPLICATE_SAMPLES",
    "GROUP_OVERLAP",
    "ID_OVERLAP",
    "METADATA_PREDICTS_LABEL",
    "NEAR_DUPLICATES",
    "PREPROCESSING_BEFORE_SPLIT",
    "audit_leakage",
    "check_cv_splits",
    "check_duplicate_samples",
    "check_group_overlap",
    "check_id_overlap",
    "check_metadata_predicts_label",
    "check_near_duplicates",
    "check_preprocessing_before_split",
    "group_split",
]

ID_OVERLAP = "leakage.id_overlap"
GROUP_OVERLAP = "leakage.group_overlap"
DUPLICATE_SAMPLES = "leakage.duplicate_samples"
NEAR_DUPLICATES = "leakage.near_duplicates"
METADATA_PREDICTS_LABEL = "leakage.metadata_predicts_label"
PREPROCESSING_BEFORE_SPLIT = "leakage.preprocessing_before_split"

_TRAIN_NAMES = ("train", "training", "trn", "fit")
#: Near-duplicate embedding: dimensions, and rows its SVD is fitted on.
_NEAR_COMPONENTS = 32
_NEAR_FIT_ROWS = 10_000


# --- shared helpers ---------------------------------------------------------------------------


def _split_hint(label_col: str | None, group_cols: Sequence[str]) -> str:
    label = "None" if label_col is None else repr(label_col)
    return (
        f"Re-split so that related samples share one split: "
        f"biodata_guard.leakage.group_split(df, label_col={label}, group_cols={list(group_cols)!r})"
    )


def _natural_key(value: str) -> tuple:
    parts = re.split(r"(\d+)", value)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _require_columns(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"{name}: a sample table must be a pandas DataFrame; got {type(df).__name__} instead",
            path=name,
            hint="Pass the sample sheet as a DataFrame (pd.read_csv(...)).",
        )
    for col in cols:
        if col not in df.columns:
            close = [c for c in map(str, df.columns) if c.lower() == str(col).lower()]
            raise InputError(
                f"{name}: column '{col}' does not exist; columns are "
                f"{preview(map(str, df.columns), n=8)}",
                path=name,
                column=str(col),
                hint=f"Did you mean '{close[0]}'?" if close else "Pass an existing column name.",
            )


def _as_str(values: Any) -> pd.Series:
    """Values as strings (object dtype) with missing values as None, not 'nan'.

    Each distinct value is converted once and the rows point at the shared string: for a
    million-row column of a few dozen batches that is 8 MB of pointers, not a million strings.
    """
    s = pd.Series(values).reset_index(drop=True)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)  # missing -> -1
    text = np.empty(len(uniques) + 1, dtype=object)  # the last slot (None) for code -1
    text[:-1] = pd.Index(uniques).astype(str).to_numpy(dtype=object)
    return pd.Series(text[codes], dtype=object)


def _natural_order(values: pd.Series) -> np.ndarray:
    """Positions that sort ``values`` (strings) naturally ('S2' before 'S10'): every run of
    digits is zero-padded to 20 characters, then the strings sort plainly. Ids with one run
    of digits (``cell0001``, ``S12-b``) take pyarrow's vectorised kernels."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.to_numpy(dtype=object), type=pa.string())
    parts = pc.extract_regex(arr, r"^(?P<a>\D*)(?P<n>\d+)(?P<b>\D*)$")
    if parts.null_count == 0:
        digits = pc.utf8_lpad(pc.struct_field(parts, "n"), width=20, padding="0")
        keys = pc.binary_join_element_wise(
            pc.struct_field(parts, "a"), digits, pc.struct_field(parts, "b"), ""
        )
    else:
        keys = pa.array(
            values.str.replace(r"\d+", lambda m: m.group().zfill(20), regex=True).to_numpy(
                dtype=object
            ),
            type=pa.string(),
        )
    return pc.sort_indices(keys).to_numpy()


@dataclass(frozen=True)
class _Splits:
    """Split labels as integer codes (-1 = no split); the training split, if any, is code 0."""

    codes: np.ndarray
    names: list[str]
    train: int | None

    @property
    def is_folds(self) -> bool:
        return self.train is None

    @property
    def eval_mask(self) -> np.ndarray:
        """Rows that are evaluated on: non-train rows, or every row of a fold column."""
        if self.train is None:
            return self.codes >= 0
        return (self.codes >= 0) & (self.codes != self.train)

    @property
    def eval_word(self) -> str:
        return "samples" if self.is_folds else "non-train samples"

    def pair(self, a: int, b: int) -> str:
        a, b = min(a, b), max(a, b)
        return f"{self.names[a]}|{self.names[b]}"


def _splits(values: Any, n: int, name: str, split_col: str = "split") -> _Splits:
    try:
        length = len(values)
    except TypeError:
        length = -1
    ndim = getattr(values, "ndim", None)  # arrays and Series: no million-object copy
    if ndim is None:
        ndim = np.ndim(np.asarray(values, dtype=object))
    if length != n or ndim != 1:
        raise InputError(
            f"{name}, {split_col}: splits must hold one value per row ({n} rows); got "
            f"{length if length >= 0 else type(values).__name__} instead",
            path=name,
            column=split_col,
            hint="Pass the split column aligned with the rows of the matrix "
            "(e.g. metadata.loc[X.index, 'split']).",
        )
    s = _as_str(values)
    present = sorted({v for v in s if v is not None}, key=_natural_key)
    train = next((v for v in present if v.strip().lower() in _TRAIN_NAMES), None)
    names = ([train] if train is not None else []) + [v for v in present if v != train]
    lookup = {v: i for i, v in enumerate(names)}
    codes = s.map(lookup).fillna(-1).to_numpy(dtype=np.int64)
    return _Splits(codes=codes, names=names, train=0 if train is not None else None)


# --- leakage.id_overlap -----------------------------------------------------------------------


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
    _require_columns(df, [split_col] + ([id_col] if id_col else []), name)
    ids = _as_str(df[id_col] if id_col else df.index.to_series())
    sp_ = _splits(df[split_col].to_numpy(), len(df), name, split_col)
    key = id_col or (df.index.name or "index")
    frame = pd.DataFrame({"id": ids, "s": sp_.codes})
    frame = frame[(frame["s"] >= 0) & frame["id"].notna()].drop_duplicates()
    n_ids = int(frame["id"].nunique())
    per_id = frame.groupby("id", sort=False)["s"].nunique()
    bad = per_id[per_id > 1]
    if bad.empty:
        return []
    bad_ids = list(bad.index)
    table = pd.crosstab(frame["id"], frame["s"]).loc[bad_ids] > 0
    pairs: dict[str, int] = {}
    codes = list(table.columns)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            k = int((table[a] & table[b]).sum())
            if k:
                pairs[sp_.pair(a, b)] = k
    return [
        Finding(
            ID_OVERLAP,
            Severity.ERROR,
            f"{name}, {key}: {fraction(len(bad_ids), n_ids)} sample ids are listed in more than "
            f"one split ({', '.join(f'{p}: {k}' for p, k in pairs.items())}; e.g. "
            f"{preview(bad_ids, total=len(bad_ids))}); the model is evaluated on samples it "
            "was trained on",
            evidence={
                "n_overlapping_ids": len(bad_ids),
                "n_ids": n_ids,
                "overlap_per_split_pair": pairs,
                "splits": sp_.names,
            },
            subjects=subjects(bad_ids),
            hint=f"Give each sample exactly one split (drop the repeated rows). "
            f"{_split_hint(label_col, [key])}",
            input=name,
        )
    ]


# --- leakage.group_overlap --------------------------------------------------------------------


def _group_overlap_stats(groups: Any, sp_: _Splits) -> dict[str, Any]:
    g = _as_str(groups)
    frame = pd.DataFrame({"g": g, "s": sp_.codes})
    frame = frame[(frame["s"] >= 0) & frame["g"].notna()]
    present = pd.crosstab(frame["g"], frame["s"]) > 0 if len(frame) else pd.DataFrame()
    groups_per_split = (
        {sp_.names[c]: int(present[c].sum()) for c in present.columns} if len(present) else {}
    )
    shared: dict[str, int] = {}
    codes = list(present.columns)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            shared[sp_.pair(a, b)] = int((present[a] & present[b]).sum())
    spanning = present.index[present.sum(axis=1) > 1] if len(present) else pd.Index([])
    bad = set(spanning)
    order = sorted(bad, key=_natural_key)
    eval_rows = sp_.eval_mask & g.notna().to_numpy()
    affected = eval_rows & g.isin(bad).to_numpy()
    return {
        "n_groups": len(present),
        "groups_per_split": groups_per_split,
        "shared_groups": shared,
        "spanning": order,
        "n_affected": int(affected.sum()),
        "n_eval": int(eval_rows.sum()),
    }


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
    if not 0.0 <= max_overlap_fraction <= 1.0:
        raise ConfigError(
            f"max_overlap_fraction must be in [0, 1]; got {max_overlap_fraction!r} instead",
            key="max_overlap_fraction",
            hint="Use e.g. max_overlap_fraction=0.0.",
        )
    _require_columns(df, [split_col, *group_cols], name)
    sp_ = _splits(df[split_col].to_numpy(), len(df), name, split_col)
    out = []
    for col in group_cols:
        st = _group_overlap_stats(df[col].to_numpy(), sp_)
        n_shared = len(st["spanning"])
        if not n_shared:
            continue
        frac = st["n_affected"] / st["n_eval"] if st["n_eval"] else 0.0
        severity = Severity.ERROR if frac > max_overlap_fraction else Severity.WARNING
        pairs = {p: k for p, k in st["shared_groups"].items() if k}
        where = "fold" if sp_.is_folds else "split"
        out.append(
            Finding(
                GROUP_OVERLAP,
                severity,
                f"{name}, {col}: {fraction(n_shared, st['n_groups'])} groups have samples in "
                f"more than one {where} ({', '.join(f'{p}: {k}' for p, k in pairs.items())}; "
                f"e.g. {preview(st['spanning'])}); {fraction(st['n_affected'], st['n_eval'])} "
                f"{sp_.eval_word} share a group with another {where}",
                evidence={
                    "group_col": col,
                    "n_groups": st["n_groups"],
                    "n_shared_groups": n_shared,
                    "shared_groups": st["shared_groups"],
                    "groups_per_split": st["groups_per_split"],
                    "n_affected_samples": st["n_affected"],
                    "n_evaluated_samples": st["n_eval"],
                    "affected_fraction": frac,
                    "max_overlap_fraction": max_overlap_fraction,
                    "split_kind": "folds" if sp_.is_folds else "train/test",
                },
                subjects=subjects(st["spanning"]),
                hint=_split_hint(label_col, group_cols),
                input=name,
            )
        )
    return out


def check_cv_splits(
    cv: Any,
    X: Any,
    y: Any = None,
    groups: Any = None,
    *,
    name: str = "cv",
    group_col: str = "groups",
    label_col: str | None = "label",
) -> list[Finding]:
    """Run a scikit-learn splitter and report folds where a group sits on both sides.

    ``leakage.group_overlap`` (error) when, in any fold, a group of ``groups`` has samples in both
    the training and the test indices (e.g. ``KFold`` or ``StratifiedKFold`` used where
    ``GroupKFold`` was needed); ``leakage.id_overlap`` (error) when a fold's training and test
    indices share rows (a broken custom splitter).

    Parameters
    ----------
    cv
        Any object with ``split(X, y, groups)`` (``KFold``, ``GroupKFold``, a custom splitter).
    X
        The samples (only their number matters; AnnData and MatrixView are accepted).
    y
        Labels passed to ``cv.split`` (needed by stratified splitters).
    groups
        One group id per sample (patient, donor ...); passed to ``cv.split`` and checked.
    name, group_col, label_col
        Names used in messages and in the fix hint.

    Examples
    --------
    >>> from sklearn.model_selection import KFold
    >>> groups = np.repeat(np.arange(20), 3)
    >>> cv = KFold(5, shuffle=True, random_state=0)
    >>> f, = check_cv_splits(cv, np.zeros((60, 2)), groups=groups, group_col="patient")
    >>> f.check, f.evidence["n_leaky_folds"]
    ('leakage.group_overlap', 5)
    """
    if not hasattr(cv, "split"):
        raise ConfigError(
            f"{name}: cv must be a scikit-learn splitter with a split() method; got "
            f"{type(cv).__name__} instead",
            key="cv",
            hint="Pass e.g. sklearn.model_selection.StratifiedGroupKFold(n_splits=5).",
        )
    if isinstance(X, MatrixView) or hasattr(X, "obs_names"):
        n = X.shape[0]
        X = np.zeros((n, 1))
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    codes = None
    if groups is not None:
        g = _as_str(groups)
        if len(g) != n:
            raise InputError(
                f"{name}, {group_col}: groups must hold one value per sample ({n}); got "
                f"{len(g)} instead",
                path=name,
                column=group_col,
                hint="Pass groups aligned with the rows of X.",
            )
        codes, uniques = pd.factorize(g)
        groups = np.asarray(groups)
    per_fold = []
    bad_groups: dict[str, None] = {}
    id_folds = []
    n_folds = 0
    with warnings.catch_warnings():
        # sklearn warns that a group-unaware splitter ignores groups: that is what we report
        warnings.filterwarnings(
            "ignore", message=".*groups parameter is ignored", category=UserWarning
        )
        folds = list(cv.split(X, y, groups))
    for i, (train, test) in enumerate(folds):
        n_folds += 1
        train, test = np.asarray(train), np.asarray(test)
        both = np.intersect1d(train, test)
        if len(both):
            id_folds.append({"fold": i, "n_shared_rows": len(both)})
        if codes is None:
            continue
        ct, ce = codes[train], codes[test]
        shared = np.intersect1d(ct[ct >= 0], ce[ce >= 0])
        n_aff = int(np.isin(ce, shared).sum()) if len(shared) else 0
        per_fold.append(
            {
                "fold": i,
                "n_shared_groups": len(shared),
                "n_affected_test_samples": n_aff,
                "n_test_samples": len(test),
            }
        )
        for c in shared:
            bad_groups.setdefault(str(uniques[c]), None)
    out = []
    if id_folds:
        out.append(
            Finding(
                ID_OVERLAP,
                Severity.ERROR,
                f"{name}: {fraction(len(id_folds), n_folds)} folds of {type(cv).__name__} put "
                f"the same rows in train and test "
                f"({sum(f['n_shared_rows'] for f in id_folds)} rows in total)",
                evidence={"folds": id_folds, "n_leaky_folds": len(id_folds), "n_folds": n_folds},
                subjects=[f["fold"] for f in id_folds],
                hint="Use a splitter whose train and test indices are disjoint, e.g. "
                "sklearn.model_selection.StratifiedGroupKFold(n_splits=5).",
                input=name,
            )
        )
    leaky = [f for f in per_fold if f["n_shared_groups"]]
    if leaky:
        n_aff = sum(f["n_affected_test_samples"] for f in leaky)
        n_test = sum(f["n_test_samples"] for f in per_fold)
        out.append(
            Finding(
                GROUP_OVERLAP,
                Severity.ERROR,
                f"{name}, {group_col}: {fraction(len(leaky), len(per_fold))} folds of "
                f"{type(cv).__name__} put a group on both sides (e.g. fold {leaky[0]['fold']}: "
                f"{leaky[0]['n_shared_groups']} groups); {fraction(n_aff, n_test)} test "
                f"samples share a group with their training fold (e.g. "
                f"{preview(bad_groups, total=len(bad_groups))})",
                evidence={
                    "splitter": type(cv).__name__,
                    "n_folds": len(per_fold),
                    "n_leaky_folds": len(leaky),
                    "n_shared_groups": len(bad_groups),
                    "n_affected_test_samples": n_aff,
                    "n_test_samples": n_test,
                    "folds": per_fold,
                },
                subjects=subjects(bad_groups),
                hint="Split by group: sklearn.model_selection.StratifiedGroupKFold(n_splits=5)"
                f".split(X, y, groups={group_col}), or make a split column with "
                f"biodata_guard.leakage.group_split(df, label_col={label_col!r}, "
                f"group_cols=[{group_col!r}])",
                input=name,
            )
        )
    return out


# --- leakage.duplicate_samples ----------------------------------------------------------------


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


def check_duplicate_samples(
    X: Any,
    splits: Any = None,
    *,
    name: str | None = None,
    split_col: str = "split",
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    label_col: str | None = "label",
    group_cols: Sequence[str] = ("patient_id",),
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
        _splits(splits, n, name, split_col)
        if splits is not None
        else _Splits(np.zeros(n, dtype=np.int64), ["all"], 0)
    )
    h1, h2, nnz = row_hashes(view, chunk_size)
    keep = (nnz > 0) & (sp_.codes >= 0)
    n_empty = int(((nnz == 0) & (sp_.codes >= 0)).sum())
    rows, gid = _duplicate_groups(h1, h2, keep)
    if not len(rows):
        return []
    ids = view.obs_names
    s = sp_.codes[rows]
    ct = pd.crosstab(gid, s)
    n_splits_per_group = (ct > 0).sum(axis=1)
    across = set(ct.index[n_splits_per_group > 1])
    members = pd.Series(rows).groupby(gid, sort=True).apply(list).to_dict()
    out = []
    common = {"n_empty_rows_ignored": n_empty, "n_rows": n}
    if across:
        a_idx = sorted(across)
        sub = ct.loc[a_idx]
        pairs: dict[str, int] = {}
        codes = list(sub.columns)
        for i, a in enumerate(codes):
            for b in codes[i + 1 :]:
                k = int((sub[a] * sub[b]).sum())
                if k:
                    pairs[sp_.pair(a, b)] = k
        in_across = np.isin(gid, a_idx)
        eval_rows = sp_.eval_mask
        n_aff = int(eval_rows[rows[in_across]].sum())
        n_eval = int(eval_rows.sum())
        listed: list[list[str]] = []
        for g in a_idx:
            mem = members[g]
            for r in mem:
                if not eval_rows[r]:
                    continue
                others = [q for q in mem if sp_.codes[q] != sp_.codes[r]]
                if sp_.train is not None:
                    others = [q for q in others if sp_.codes[q] == sp_.train] or others
                listed.append([ids[r], ids[others[0]]])
            if len(listed) >= 50:
                break
        listed = listed[:50]
        out.append(
            Finding(
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
                    "n_duplicate_groups_across_splits": len(across),
                    "pairs_per_split_pair": pairs,
                    **common,
                },
                subjects=listed,
                hint="Keep one sample of each set of identical vectors, or give each set one "
                "group id (e.g. a 'duplicate_group' column) and split by it: "
                f"biodata_guard.leakage.group_split(df, label_col={label_col!r}, "
                f"group_cols={[*group_cols, 'duplicate_group']!r})",
                input=name,
            )
        )
    redundant = (ct - 1).clip(lower=0).sum(axis=0)
    redundant = {sp_.names[c]: int(k) for c, k in redundant.items() if k}
    if redundant:
        total = sum(redundant.values())
        listed = []
        for g in sorted(members):
            mem = members[g]
            first: dict[int, int] = {}
            for r in mem:
                c = int(sp_.codes[r])
                if c in first:
                    listed.append([ids[r], ids[first[c]]])
                else:
                    first[c] = r
            if len(listed) >= 50:
                break
        per = ", ".join(f"{k}: {v}" for k, v in redundant.items())
        out.append(
            Finding(
                DUPLICATE_SAMPLES,
                Severity.INFO,
                f"{name}: {fraction(total, int(keep.sum()))} samples repeat the feature vector of "
                f"another sample in the same split ({per}; e.g. "
                f"{preview((f'{a} = {b}' for a, b in listed[:50]), total=total)})",
                evidence={
                    "n_redundant_samples": total,
                    "redundant_per_split": redundant,
                    "n_duplicate_groups": len(members),
                    **common,
                },
                subjects=listed[:50],
                hint="Drop exact duplicates (keep one per identical vector) or weight them "
                "deliberately; if they are replicates of one source, add a group column and "
                "split with biodata_guard.leakage.group_split.",
                input=name,
            )
        )
    return out


# --- leakage.near_duplicates ------------------------------------------------------------------


def _calibrate(
    emb: np.ndarray,
    sp_: _Splits,
    *,
    max_rows: int,
    robust_z: float,
    min_closeness_ratio: float,
    seed: int,
) -> dict[str, Any]:
    """Replicate-level similarity from the cosine distance of each sample to its nearest
    neighbour within its own split (train, or each fold), on a seeded subsample of queries: on
    the log scale, the stricter of ``median - robust_z * MAD`` and
    ``median - log(min_closeness_ratio)``."""
    pools = [sp_.train] if sp_.train is not None else list(range(len(sp_.names)))
    candidates = np.flatnonzero(np.isin(sp_.codes, pools))
    rng = np.random.default_rng(seed + 1)
    if len(candidates) > max_rows:
        candidates = np.sort(rng.choice(candidates, max_rows, replace=False))
    sims = []
    for c in pools:
        pool = np.flatnonzero(sp_.codes == c)
        queries = candidates[sp_.codes[candidates] == c]
        if len(pool) < 2 or not len(queries):
            continue
        self_pos = np.searchsorted(pool, queries)
        best, _ = nearest(emb[queries], emb[pool], self_pos)
        sims.append(best)
    if not sims:
        return {}
    sim = np.concatenate(sims).astype(np.float64)
    logd = np.log(np.clip(1.0 - sim, 1e-6, None))
    med = float(np.median(logd))
    mad = 1.4826 * float(np.median(np.abs(logd - med)))
    cut = min(med - robust_z * mad, med - np.log(min_closeness_ratio))
    return {
        "threshold": float(1.0 - np.exp(cut)),
        "n_calibration": len(sim),
        "median_within_split_similarity": float(1.0 - np.exp(med)),
        "mad_log_distance": mad,
    }


def check_near_duplicates(
    X: Any,
    splits: Any,
    *,
    name: str | None = None,
    split_col: str = "split",
    similarity: float | None = None,
    robust_z: float = 4.0,
    min_closeness_ratio: float = 4.0,
    max_near_duplicate_fraction: float = 0.05,
    n_components: int = _NEAR_COMPONENTS,
    max_fit_rows: int = _NEAR_FIT_ROWS,
    max_calibration_rows: int = 2_000,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    seed: int = 0,
    label_col: str | None = "label",
    group_cols: Sequence[str] = ("patient_id",),
) -> list[Finding]:
    """Find evaluated samples whose nearest training sample is as close as a technical replicate.

    Rows are embedded once: non-negative data are scaled to the median row total and log1p
    transformed, then projected by a ``TruncatedSVD`` fitted on at most ``max_fit_rows`` seeded
    rows (sparse input stays sparse), centred, and normalised to unit length. Each test sample's
    nearest train sample (each fold sample's nearest sample in another fold) is found by blocked
    matrix products, exactly, in float32.

    The threshold is calibrated unless ``similarity`` is given: the cosine distance of training
    samples to their nearest training neighbour is summarised on a log scale, and a pair closer
    than ``median - robust_z * MAD`` and at least ``min_closeness_ratio`` times closer than the
    median is an outlier of closeness -- a technical replicate, re-sequenced library or duplicate
    rather than another biological sample.

    ``leakage.near_duplicates`` is a ``warning``, an ``error`` when more than
    ``max_near_duplicate_fraction`` of the evaluated samples are near duplicates. Exact
    duplicates (similarity 1) are included; ``leakage.duplicate_samples`` reports them as well.

    Cost: one pass over the matrix for the embedding, O(n_test x n_train x n_components) for the
    search (BLAS), memory O(n x n_components).

    Parameters
    ----------
    X
        Samples x features: AnnData (also backed), DataFrame, ndarray or scipy.sparse.
    splits
        One split value per row of ``X`` (train/test/validation, or fold numbers).
    name, split_col
        Names used in messages.
    similarity
        Fixed cosine similarity at or above which a pair is a near duplicate (skips calibration).
    robust_z
        Calibration: how many robust standard deviations (MAD) below the median log distance.
    min_closeness_ratio
        Calibration: how many times closer than the median nearest-neighbour distance.
    max_near_duplicate_fraction
        Fraction of evaluated samples above which the finding is an error.
    n_components, max_fit_rows, max_calibration_rows, chunk_size
        Embedding size, rows used to fit it, queries used for calibration, rows read at once.
    seed
        Seed of the row subsamples and of the randomized SVD.
    label_col, group_cols
        Columns named in the fix hint.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(rng.gamma(2.0, 20.0, (200, 100))).astype(float)
    >>> X[199] = rng.poisson(X[0])  # re-sequenced copy of train sample 0 in test
    >>> splits = ["train"] * 150 + ["test"] * 50
    >>> f, = check_near_duplicates(X, splits)
    >>> f.check, f.evidence["n_near_duplicates"], f.subjects[0]
    ('leakage.near_duplicates', 1, ['199', '0'])
    """
    if similarity is not None and not -1.0 <= similarity <= 1.0:
        raise ConfigError(
            f"similarity must be a cosine similarity in [-1, 1]; got {similarity!r} instead",
            key="near_duplicate_similarity",
            hint="Use e.g. similarity=0.99, or None to calibrate it from the data.",
        )
    view = as_matrix(X, name=name)
    name = view.name
    sp_ = _splits(splits, view.n_obs, name, split_col)
    if len(sp_.names) < 2 or view.n_vars < 2:
        return []
    embedded = embed(
        view,
        n_components=n_components,
        max_fit_rows=max_fit_rows,
        chunk_size=chunk_size,
        seed=seed,
    )
    if embedded is None:
        return []
    emb, info = embedded
    non_finite = ~np.isfinite(emb).all(axis=1)  # rows holding NaN/inf: not compared
    if non_finite.any():
        sp_ = replace(sp_, codes=np.where(non_finite, -1, sp_.codes))
    if similarity is None:
        cal = _calibrate(
            emb,
            sp_,
            max_rows=max_calibration_rows,
            robust_z=robust_z,
            min_closeness_ratio=min_closeness_ratio,
            seed=seed,
        )
        if not cal:
            return []
        threshold = cal["threshold"]
    else:
        cal = {}
        threshold = float(similarity)
    ids = view.obs_names
    flagged_rows, partners, sims = [], [], []
    per_split: dict[str, int] = {}
    searches: dict[str, str] = {}  # split -> how its nearest training samples were found
    for c in range(len(sp_.names)):
        if c == sp_.train:
            continue
        queries = np.flatnonzero(sp_.codes == c)
        ref = np.flatnonzero(
            sp_.codes == sp_.train if sp_.train is not None else (sp_.codes >= 0) & (sp_.codes != c)
        )
        best, arg, searches[sp_.names[c]] = search(emb[queries], emb[ref], seed=seed)
        hit = best >= threshold
        if hit.any():
            per_split[sp_.names[c]] = int(hit.sum())
            flagged_rows.append(queries[hit])
            partners.append(ref[arg[hit]])
            sims.append(best[hit])
    if not flagged_rows:
        return []
    rows = np.concatenate(flagged_rows)
    partner = np.concatenate(partners)
    sim = np.concatenate(sims)
    order = np.lexsort((rows, -sim))
    n_hit = len(rows)
    n_eval = int(sp_.eval_mask.sum())
    frac = n_hit / n_eval if n_eval else 0.0
    top = order[:50]
    listed = [[ids[rows[i]], ids[partner[i]]] for i in top]
    ref_word = "a sample of another fold" if sp_.is_folds else f"a '{sp_.names[0]}' sample"
    how = (
        "calibrated: within-split nearest neighbours have median "
        f"{cal['median_within_split_similarity']:.4g}"
        if cal
        else "fixed threshold"
    )
    return [
        Finding(
            NEAR_DUPLICATES,
            Severity.ERROR if frac > max_near_duplicate_fraction else Severity.WARNING,
            f"{name}: {fraction(n_hit, n_eval)} {sp_.eval_word} are near duplicates of "
            f"{ref_word} (cosine similarity >= {threshold:.4g} on a {info['n_components']}-d "
            f"embedding; {how}; e.g. "
            f"{preview((f'{a} ~ {b}' for a, b in listed), total=n_hit)})",
            evidence={
                "n_near_duplicates": n_hit,
                "n_evaluated_samples": n_eval,
                "near_duplicate_fraction": frac,
                "per_split": per_split,
                "search": searches,
                "threshold_similarity": threshold,
                "calibrated": similarity is None,
                **(
                    {"robust_z": robust_z, "min_closeness_ratio": min_closeness_ratio}
                    if cal
                    else {}
                ),
                **cal,
                "max_near_duplicate_fraction": max_near_duplicate_fraction,
                "pair_similarities": [float(sim[i]) for i in top],
                "n_non_finite_samples_skipped": int(non_finite.sum()),
                "embedding": info,
            },
            subjects=listed,
            hint="Treat technical replicates and re-sequenced libraries as one source: add a "
            "column naming the biological sample or patient and split by it, "
            f"biodata_guard.leakage.group_split(df, label_col={label_col!r}, "
            f"group_cols={list(group_cols)!r})",
            input=name,
        )
    ]


# --- leakage.metadata_predicts_label ----------------------------------------------------------

_MISSING = "<missing>"


def _levels(s: pd.Series, n_bins: int) -> tuple[str, pd.Series]:
    """Turn one metadata column into categorical levels (missing values form their own level).

    Categorical columns keep their values; numeric and date columns with more than ``n_bins``
    values become ``n_bins`` quantile bins; identifier-like columns (text, mostly unique per row)
    become ``n_bins`` bins of their natural sort order, so monotone ids that follow the label
    show up.
    """
    s = s.reset_index(drop=True)
    n = len(s)
    present = s.notna()
    nunique = int(s[present].nunique())
    if pd.api.types.is_datetime64_any_dtype(s):
        s = pd.Series(s.astype("int64", copy=False).where(present), dtype="float64")
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    out = pd.Series(_MISSING, index=s.index, dtype=object)
    if numeric and nunique > n_bins:
        values = s[present].astype("float64")
        bins = pd.qcut(values.rank(method="min"), n_bins, labels=False, duplicates="drop")
        edges = values.groupby(bins).agg(["min", "max"])
        names = {b: f"{lo:.4g}..{hi:.4g}" for b, (lo, hi) in edges.iterrows()}
        out[present] = bins.map(names)
        return ("identifier" if nunique == n else "numeric"), out
    text = _as_str(s)
    if not numeric and nunique > max(n_bins, n // 2):
        values = text[present]
        order = _natural_order(values)
        rank = np.empty(len(values), dtype=np.int64)
        rank[order] = np.arange(len(values))
        bins = rank * n_bins // max(1, len(values))
        sorted_vals = values.iloc[order].tolist()
        names = {}
        for b in np.unique(bins):
            idx = np.flatnonzero(bins[order] == b)
            names[b] = f"{sorted_vals[idx[0]]}..{sorted_vals[idx[-1]]}"
        out[present] = [names[b] for b in bins]
        return "identifier", out
    out[present] = text[present]
    return "categorical", out


def _cramers_v(table: np.ndarray) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) of a contingency table."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, k = table.shape
    n = table.sum()
    if r < 2 or k < 2 or n < 2:
        return 0.0
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    kc = k - (k - 1) ** 2 / (n - 1)
    denom = min(kc - 1, rc - 1)
    return float(min(1.0, np.sqrt(phi2 / denom))) if denom > 0 else 0.0


def _majority_rule_cv(
    level_codes: np.ndarray,
    y_codes: np.ndarray,
    groups: np.ndarray | None,
    *,
    n_folds: int,
    seed: int,
) -> float | None:
    """Out-of-fold balanced accuracy of 'predict the majority label of this value'."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    n_classes = int(y_codes.max()) + 1
    smallest = int(np.bincount(y_codes).min())
    k = min(n_folds, smallest)
    if groups is not None:
        k = min(k, len(np.unique(groups)))
    if k < 2:
        return None
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    n_levels = int(level_codes.max()) + 1
    pred = np.empty_like(y_codes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = list(cv.split(np.zeros(len(y_codes)), y_codes, groups))
    for train, test in folds:
        counts = np.zeros((n_levels, n_classes))
        np.add.at(counts, (level_codes[train], y_codes[train]), 1)
        fallback = int(np.bincount(y_codes[train], minlength=n_classes).argmax())
        rule = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), fallback)
        pred[test] = rule[level_codes[test]]
    return float(balanced_accuracy_score(y_codes, pred))


def check_metadata_predicts_label(
    df: pd.DataFrame,
    *,
    label_col: str = "label",
    metadata_cols: Sequence[str] | None = None,
    group_col: str | None = None,
    name: str = "metadata",
    shortcut_score: float = 0.8,
    determines_label_score: float = 0.95,
    n_folds: int = 5,
    n_bins: int = 10,
    seed: int = 0,
) -> list[Finding]:
    """Score each metadata column for how well it alone predicts the label.

    Two measures per column: the bias-corrected Cramér's V of the column x label table, and the
    cross-validated balanced accuracy of the rule "predict the majority label of this value",
    rescaled so chance is 0 and perfect is 1 (``score_above_chance``). Numeric and date columns
    are cut into ``n_bins`` quantile bins; identifier-like columns (unique per row, or mostly
    unique text) into ``n_bins`` bins of their natural sort order, which exposes monotone ids
    that follow the label (e.g. all tumours numbered before all normals). Missing values form a
    level of their own (missingness that follows the label is a shortcut too).

    ``leakage.metadata_predicts_label`` is a ``warning`` when ``max(V, score_above_chance) >=
    shortcut_score``, and an ``error`` when the column essentially determines the label
    (``V >= determines_label_score`` and ``score_above_chance >= shortcut_score``).

    Parameters
    ----------
    df
        The sample table with the label and the metadata columns.
    label_col
        Label column; rows without a label are ignored.
    metadata_cols
        Columns to screen (default: every column but the label and ``group_col``).
    group_col
        Group column (patient ...) keeping a group's samples in one cross-validation fold.
    name
        Input name for messages.
    shortcut_score, determines_label_score
        Verdict thresholds, see above.
    n_folds, n_bins, seed
        Cross-validation folds, bins for numeric / identifier columns, fold shuffling seed.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["tumour"] * 50 + ["normal"] * 50,
    ...                    "site": ["A"] * 50 + ["B"] * 50})
    >>> f, = check_metadata_predicts_label(df)
    >>> f.severity, f.evidence["cramers_v"], f.evidence["balanced_accuracy"]
    (<Severity.ERROR: 'error'>, 1.0, 1.0)
    """
    if metadata_cols is None:
        metadata_cols = [c for c in df.columns if c not in (label_col, group_col)]
    metadata_cols = [metadata_cols] if isinstance(metadata_cols, str) else list(metadata_cols)
    _require_columns(df, [label_col, *metadata_cols, *([group_col] if group_col else [])], name)
    y_all = _as_str(df[label_col])
    keep = y_all.notna().to_numpy()
    y = y_all[keep].reset_index(drop=True)
    if y.nunique() < 2:
        return []
    y_codes, classes = pd.factorize(y, sort=True)
    chance = 1.0 / len(classes)
    groups = None
    if group_col is not None:
        g = _as_str(df[group_col])[keep].reset_index(drop=True)
        # a sample without a group is a group of its own
        g = g.where(g.notna(), pd.Series([f"\0row{i}" for i in range(len(g))]))
        groups = pd.factorize(g)[0]
    out = []
    for col in metadata_cols:
        kind, levels = _levels(df[col][keep], n_bins)
        level_codes, level_names = pd.factorize(levels, sort=True)
        if len(level_names) < 2:
            continue
        table = pd.crosstab(level_codes, y_codes).to_numpy()
        v = _cramers_v(table)
        bacc = _majority_rule_cv(level_codes, y_codes, groups, n_folds=n_folds, seed=seed)
        score = max(0.0, (bacc - chance) / (1.0 - chance)) if bacc is not None else 0.0
        if max(v, score) < shortcut_score:
            continue
        # sort order of ids is an ordering hazard (positional splits, unshuffled folds), not a
        # feature: at most a warning
        determines = (
            kind != "identifier" and v >= determines_label_score and score >= shortcut_score
        )
        counts = pd.crosstab(levels.to_numpy(), y.to_numpy())
        natural = sorted(counts.index, key=lambda v: _natural_key(str(v)))
        counts = counts.loc[natural]
        counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
        top = counts.head(10)
        majority = (top.max(axis=1) / top.sum(axis=1)).round(3)
        examples = [
            f"{lvl}: {100 * majority[lvl]:.3g}% {top.loc[lvl].idxmax()}" for lvl in top.index[:3]
        ]
        what = {"identifier": "identifier-like column (sort order)", "numeric": "numeric column"}
        bacc_text = f"{bacc:.3g}" if bacc is not None else "n/a"
        out.append(
            Finding(
                METADATA_PREDICTS_LABEL,
                Severity.ERROR if determines else Severity.WARNING,
                f"{name}, {col}: this {what.get(kind, 'column')} alone predicts '{label_col}' "
                f"(cross-validated balanced accuracy {bacc_text} vs chance {chance:.3g}; "
                f"Cramér's V {v:.3g}; {len(level_names)} levels over {len(y)} samples; e.g. "
                f"{preview(examples, total=len(level_names))})"
                + (
                    "; the rows are numbered in label order, so positional splits and unshuffled "
                    "folds follow the label"
                    if kind == "identifier"
                    else ""
                ),
                evidence={
                    "column": col,
                    "kind": kind,
                    "n_levels": len(level_names),
                    "n_samples": len(y),
                    "cramers_v": v,
                    "balanced_accuracy": bacc,
                    "chance_balanced_accuracy": chance,
                    "score_above_chance": score,
                    "shortcut_score": shortcut_score,
                    "determines_label_score": determines_label_score,
                    "label_counts_by_level": {
                        str(lvl): {str(c): int(k) for c, k in row.items() if k}
                        for lvl, row in top.iterrows()
                    },
                },
                subjects=subjects(str(lvl) for lvl in top.index),
                hint=(
                    f"Never feed '{col}' (or the row order) to the model, shuffle before any "
                    "positional split and use shuffled folds: biodata_guard.leakage.group_split("
                    f"df, label_col={label_col!r}, group_cols=[{(group_col or 'patient_id')!r}])"
                    if kind == "identifier"
                    else f"Do not use '{col}' as a feature, and make sure the label is not "
                    f"learnable from it: balance '{label_col}' within each '{col}' value or hold "
                    f"whole '{col}' values out, biodata_guard.leakage.group_split(df, "
                    f"label_col={label_col!r}, group_cols=[{col!r}])"
                ),
                input=name,
            )
        )
    return out


# --- leakage.preprocessing_before_split -------------------------------------------------------


def _standardised(count: float, total: np.ndarray, total_sq: np.ndarray, atol: float) -> np.ndarray:
    """Features whose mean is 0 and standard deviation (ddof 0 or 1) is 1, to ``atol``."""
    mean = total / count
    sd0 = np.sqrt(np.clip(total_sq / count - mean**2, 0.0, None))
    sd1 = sd0 * np.sqrt(count / (count - 1)) if count > 1 else sd0
    unit = (np.abs(sd0 - 1.0) <= 10 * atol) | (np.abs(sd1 - 1.0) <= 10 * atol)
    return (np.abs(mean) <= atol) & unit


def _rank_like(low: float, high: float, total: float, total_sq: float, m: int) -> bool:
    """True when the values lo, lo + d, ..., hi (m evenly spaced values) have this sum and sum
    of squares: per-sample ranks, which need no fitting."""
    if m < 2:
        return False
    d = (high - low) / (m - 1)
    s = m * (low + high) / 2
    q = m * low**2 + low * d * m * (m - 1) + d**2 * (m - 1) * m * (2 * m - 1) / 6
    return bool(np.isclose(total, s, rtol=1e-6) and np.isclose(total_sq, q, rtol=1e-6))


def check_preprocessing_before_split(
    X: Any,
    splits: Any,
    *,
    name: str | None = None,
    split_col: str = "split",
    min_feature_fraction: float = 0.95,
    atol: float = 1e-4,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    label_col: str | None = "label",
    group_cols: Sequence[str] = ("patient_id",),
) -> list[Finding]:
    """Detect features scaled or normalised on all samples pooled, before splitting.

    A transform fitted on the training split leaves its fingerprint on train alone; one fitted on
    the pool leaves it on the pool, with each split slightly off. In one streamed pass this
    compares, over the non-constant, non-integer features:

    - standardisation: pooled mean 0 and standard deviation 1 (ddof 0 or 1) for at least
      ``min_feature_fraction`` of the features, while no split shows it for that many;
    - range scaling (MinMaxScaler, QuantileTransformer): every feature spans exactly the same
      ``[min, max]`` (e.g. ``[0, 1]``) over the pool, while within each split many features
      miss an extreme;
    - quantile normalisation across samples: every sample has the same sorted values (same
      sum, sum of squares, minimum and maximum, and not simply per-sample ranks). This one cannot
      tell a reference computed on the pool from one computed on train and applied to test; the
      message says so.

    Each detection is a ``leakage.preprocessing_before_split`` ``warning``. Feature selection
    fitted on all data is not detectable from the matrix alone.

    Parameters
    ----------
    X
        Samples x features: AnnData (also backed), DataFrame, ndarray or scipy.sparse.
    splits
        One split value per row of ``X`` (train/test or folds).
    name, split_col
        Names used in messages.
    min_feature_fraction
        Fraction of features (or samples, for quantile normalisation) that must carry the
        fingerprint.
    atol
        Absolute tolerance of "exactly" (means; 10x for standard deviations).
    chunk_size
        Rows read at a time.
    label_col, group_cols
        Columns named in the fix hint.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = StandardScaler().fit_transform(np.random.default_rng(0).normal(5, 2, (100, 20)))
    >>> f, = check_preprocessing_before_split(X, ["train"] * 80 + ["test"] * 20)
    >>> f.evidence["kind"], f.evidence["n_pooled_exact"], f.evidence["split_exact"]
    ('standardised', 20, {'train': 0, 'test': 0})
    """
    view = as_matrix(X, name=name)
    name = view.name
    sp_ = _splits(splits, view.n_obs, name, split_col)
    S = len(sp_.names)
    if S < 2 or view.n_vars < 1:
        return []
    mo = split_moments(view, sp_.codes, S, chunk_size)
    n = float(mo.count.sum())
    total, total_sq = mo.total.sum(axis=0), mo.total_sq.sum(axis=0)
    low, high = mo.low.min(axis=0), mo.high.max(axis=0)
    considered = (high > low) & (mo.non_integer > 0)
    n_cons = int(considered.sum())
    var_names = view.var_names
    hint = (
        "Split first, then fit every scaler/normaliser on the training split only and apply it to "
        "the others (sklearn.pipeline.make_pipeline(StandardScaler(), model) fitted inside each "
        "fold); split with biodata_guard.leakage.group_split(df, "
        f"label_col={label_col!r}, group_cols={list(group_cols)!r})"
    )
    out = []
    sizable = [c for c in range(S) if mo.count[c] >= 2]
    if n_cons >= 2 and sizable:
        pooled = _standardised(n, total, total_sq, atol) & considered
        per_split = {
            sp_.names[c]: int(
                (_standardised(mo.count[c], mo.total[c], mo.total_sq[c], atol) & considered).sum()
            )
            for c in sizable
        }
        k = int(pooled.sum())
        if k >= min_feature_fraction * n_cons and max(per_split.values()) < (
            min_feature_fraction * n_cons
        ):
            worst = max(per_split, key=lambda s: per_split[s])
            mean_dev = {
                sp_.names[c]: float(np.abs(mo.total[c][considered] / mo.count[c]).max())
                for c in sizable
            }
            out.append(
                Finding(
                    PREPROCESSING_BEFORE_SPLIT,
                    Severity.WARNING,
                    f"{name}: {fraction(k, n_cons)} features have mean 0 and standard deviation "
                    f"1 exactly over all splits pooled, but at most {per_split[worst]} within "
                    f"any one split (largest |mean| per split: "
                    f"{', '.join(f'{s} {v:.3g}' for s, v in mean_dev.items())}); the scaler was "
                    "fitted on all samples before splitting",
                    evidence={
                        "kind": "standardised",
                        "n_features": view.n_vars,
                        "n_features_considered": n_cons,
                        "n_pooled_exact": k,
                        "split_exact": per_split,
                        "max_abs_split_mean": mean_dev,
                        "min_feature_fraction": min_feature_fraction,
                        "atol": atol,
                    },
                    subjects=subjects(var_names[pooled]),
                    hint=hint,
                    input=name,
                )
            )
        lo, hi = float(np.median(low[considered])), float(np.median(high[considered]))
        tol = 1e-6 * max(1.0, hi - lo)
        pooled_range = considered & (np.abs(low - lo) <= tol) & (np.abs(high - hi) <= tol)
        k = int(pooled_range.sum())
        per_split = {
            sp_.names[c]: int(
                (
                    considered & (np.abs(mo.low[c] - lo) <= tol) & (np.abs(mo.high[c] - hi) <= tol)
                ).sum()
            )
            for c in sizable
        }
        if k >= min_feature_fraction * n_cons and max(per_split.values()) < (
            min_feature_fraction * n_cons
        ):
            worst = max(per_split, key=lambda s: per_split[s])
            out.append(
                Finding(
                    PREPROCESSING_BEFORE_SPLIT,
                    Severity.WARNING,
                    f"{name}: {fraction(k, n_cons)} features span exactly [{lo:.6g}, {hi:.6g}] "
                    f"over all splits pooled, but only {fraction(per_split[worst], n_cons)} "
                    f"within '{worst}' ({', '.join(f'{s}: {v}' for s, v in per_split.items())}); "
                    "min-max or quantile scaling was fitted on all samples before splitting",
                    evidence={
                        "kind": "range",
                        "range": [lo, hi],
                        "n_features": view.n_vars,
                        "n_features_considered": n_cons,
                        "n_pooled_exact": k,
                        "split_exact": per_split,
                        "min_feature_fraction": min_feature_fraction,
                    },
                    subjects=subjects(var_names[pooled_range]),
                    hint=hint,
                    input=name,
                )
            )
    rows = mo.rows[(sp_.codes >= 0)]
    ids = view.obs_names[sp_.codes >= 0]
    varying = rows[:, 3] > rows[:, 2]
    if varying.sum() >= 3 and view.n_vars >= 3:
        med = np.median(rows[varying], axis=0)
        same = varying & np.all(np.abs(rows - med) <= 1e-6 * np.maximum(1.0, np.abs(med)), axis=1)
        k = int(same.sum())
        n_rows = len(rows)
        if k >= min_feature_fraction * n_rows and not _rank_like(
            med[2], med[3], med[0], med[1], view.n_vars
        ):
            per_split = {
                sp_.names[c]: int(same[sp_.codes[sp_.codes >= 0] == c].sum()) for c in range(S)
            }
            out.append(
                Finding(
                    PREPROCESSING_BEFORE_SPLIT,
                    Severity.WARNING,
                    f"{name}: {fraction(k, n_rows)} samples across all splits have identical "
                    f"sorted values (sum {med[0]:.6g}, min {med[2]:.6g}, max {med[3]:.6g}): "
                    "quantile normalisation across samples; its reference distribution must "
                    "come from the training samples only, which the values alone cannot prove",
                    evidence={
                        "kind": "quantile_normalised_rows",
                        "n_samples": n_rows,
                        "n_identical": k,
                        "per_split": per_split,
                        "row_sum": med[0],
                        "row_sum_of_squares": med[1],
                        "row_min": med[2],
                        "row_max": med[3],
                        "min_feature_fraction": min_feature_fraction,
                    },
                    subjects=subjects(ids[same]),
                    hint="Normalise the training samples alone and map the others onto the "
                    "training reference (preprocessCore::normalize.quantiles.use.target), after "
                    f"splitting with biodata_guard.leakage.group_split(df, "
                    f"label_col={label_col!r}, group_cols={list(group_cols)!r})",
                    input=name,
                )
            )
    return out


# --- safe splitting ---------------------------------------------------------------------------


def _linked_groups(df: pd.DataFrame, group_cols: Sequence[str]) -> np.ndarray:
    """Component number of each row: rows sharing a value in any group column are linked
    (a patient in two families joins them). A missing value links nothing."""
    from scipy.sparse.csgraph import connected_components

    n = len(df)
    rows, cols = [], []
    offset = 0
    for col in group_cols:
        codes, uniques = pd.factorize(_as_str(df[col]))
        ok = codes >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(codes[ok] + offset)
        offset += len(uniques)
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(r)), (r, n + c)), shape=(n + offset, n + offset))
    _, labels = connected_components(graph, directed=False)
    return pd.factorize(labels[:n])[0]


def group_split(
    metadata: pd.DataFrame,
    *,
    label_col: str | None = None,
    group_cols: Sequence[str],
    test_size: float = 0.2,
    seed: int = 0,
) -> pd.Series:
    """A train/test split column with no group on both sides and class proportions preserved.

    Rows sharing a value in any of ``group_cols`` are kept together (also transitively: a
    patient seen in two families links them). With ``label_col`` the split is one fold of
    ``sklearn.model_selection.StratifiedGroupKFold(n_splits=round(1 / test_size),
    shuffle=True, random_state=seed)`` -- the fold whose size is closest to ``test_size`` -- so
    class proportions are kept as far as the groups allow; without it (or when the classes are
    too small to stratify), ``GroupShuffleSplit``.

    Parameters
    ----------
    metadata
        The sample table.
    label_col
        Label column to stratify by (missing labels form their own stratum), or ``None``.
    group_cols
        Columns whose values must not cross the split (patient, donor, family ...).
    test_size
        Target fraction of samples in test (0 < test_size < 1).
    seed
        Seed of the shuffling.

    Returns
    -------
    pandas.Series
        ``"train"`` / ``"test"`` per row, indexed like ``metadata``, named ``"split"``.

    Examples
    --------
    >>> df = pd.DataFrame({"patient_id": np.repeat([f"P{i}" for i in range(50)], 3),
    ...                    "label": np.repeat(["tumour", "normal"] * 25, 3)})
    >>> split = group_split(df, label_col="label", group_cols=["patient_id"])
    >>> check_group_overlap(df.assign(split=split))
    []
    >>> split.value_counts().to_dict()
    {'train': 120, 'test': 30}
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    if not group_cols:
        raise ConfigError(
            "group_cols must name at least one column; got none",
            key="group_cols",
            hint="e.g. group_split(df, label_col='label', group_cols=['patient_id'])",
        )
    if isinstance(test_size, bool) or not 0.0 < float(test_size) < 1.0:
        raise ConfigError(
            f"test_size must be a fraction in (0, 1); got {test_size!r} instead",
            key="test_size",
            hint="Use e.g. test_size=0.2.",
        )
    _require_columns(metadata, [*group_cols, *([label_col] if label_col else [])], "metadata")
    groups = _linked_groups(metadata, group_cols)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 2:
        raise InputError(
            f"metadata, {', '.join(group_cols)}: {n_groups} independent group(s); a split "
            "needs at least 2",
            path="metadata",
            column=group_cols[0],
            hint="Check the group columns: one shared value links every sample together.",
        )
    n = len(metadata)
    dummy = np.zeros((n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        test = None
        if label_col is not None:
            y = _as_str(metadata[label_col]).fillna(_MISSING).to_numpy()
            k = min(n_groups, max(2, round(1.0 / float(test_size))))
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            try:
                folds = [t for _, t in cv.split(dummy, y, groups)]
                test = min(folds, key=lambda t: abs(len(t) / n - test_size))
            except ValueError:  # classes too small to stratify: group the split only
                test = None
        if test is None:
            gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
            _, test = next(gss.split(dummy, groups=groups))
    values = np.full(n, "train", dtype=object)
    values[test] = "test"
    return pd.Series(values, index=metadata.index, name="split")


# --- audit ------------------------------------------------------------------------------------


def _feature_splits(ctx: AuditContext, view: MatrixView, split_col: str) -> np.ndarray | None:
    """The split column in the row order of ``view``, or None when it cannot be aligned."""
    samples = ctx.samples
    if ctx.aligned and len(samples) == view.n_obs:
        return samples[split_col].to_numpy()
    index = pd.Index(samples.index.astype(str))
    if index.is_unique and view.obs_names.isin(index).all():
        return samples[split_col].set_axis(index).reindex(view.obs_names).to_numpy()
    return None


def stream_accumulators(ctx: AuditContext, fi: Any) -> dict[tuple, Any]:
    """What :func:`audit_leakage` reads from the primary feature matrix (row hashes, split
    moments, the near-duplicate projection), for the audit's shared pass -- same keys as the
    checks use, so none of them reads the matrix again."""
    if not ctx.features or fi is not ctx.features[0]:
        return {}
    cfg, view = ctx.config, fi.view
    accs: dict[tuple, Any] = {("leakage.row_hashes",): RowHashes(*view.shape)}
    if ctx.samples is None or not cfg.split_col or cfg.split_col not in ctx.samples.columns:
        return accs
    splits = _feature_splits(ctx, view, cfg.split_col)
    if splits is None:
        return accs
    try:
        sp_ = _splits(splits, view.n_obs, view.name, cfg.split_col)
        if len(sp_.names) < 2:
            return accs
        accs[moments_key(sp_.codes)] = SplitMoments(sp_.codes, len(sp_.names), view.n_vars)
        if view.n_vars >= 2:
            key = embedding_key(
                n_components=_NEAR_COMPONENTS, max_fit_rows=_NEAR_FIT_ROWS, seed=cfg.seed
            )
            proj = fit_embedding(
                view, n_components=_NEAR_COMPONENTS, max_fit_rows=_NEAR_FIT_ROWS, seed=cfg.seed
            )
            if proj is not None:
                accs[key] = proj
    except (InputError, ConfigError):
        pass  # the checks raise the same error themselves, with their context
    return accs


def audit_leakage(ctx: AuditContext) -> list[Finding]:
    """Run the leakage checks on what the audit configures.

    Uses ``split_col`` (id and group overlap, duplicates and near duplicates across splits,
    preprocessing), ``group_cols``, ``label_col`` and ``metadata_cols`` (label shortcuts; default:
    every sample column except label, split, group, replicate columns, plus the sample id),
    ``id_col``, ``max_overlap_fraction``, ``shortcut_score``, ``near_duplicate_similarity``,
    ``seed`` and ``chunk_size``. Feature checks use ``ctx.features[0]``. Group overlap counts
    go to ``ctx.artifacts["leakage"]["group_overlap"]``.
    """
    cfg = ctx.config
    samples = ctx.samples
    name = ctx.samples_name
    split_col, label_col = cfg.split_col, cfg.label_col
    group_cols = list(cfg.group_cols)
    hint_groups = group_cols or ["patient_id"]
    out: list[Finding] = []
    if samples is not None:
        configured = [c for c in (split_col, label_col, *group_cols, *cfg.metadata_cols) if c]
        _require_columns(samples, configured, name)
    if samples is not None and split_col:
        id_col = cfg.id_col if cfg.id_col and cfg.id_col in samples.columns else None
        out += check_id_overlap(
            samples, split_col=split_col, id_col=id_col, name=name, label_col=label_col
        )
        out += check_group_overlap(
            samples,
            split_col=split_col,
            group_cols=group_cols,
            name=name,
            max_overlap_fraction=cfg.max_overlap_fraction,
            label_col=label_col,
        )
        if group_cols:
            sp_ = _splits(samples[split_col].to_numpy(), len(samples), name, split_col)
            overlap = {}
            for col in group_cols:
                st = _group_overlap_stats(samples[col].to_numpy(), sp_)
                overlap[col] = {
                    "groups_per_split": st["groups_per_split"],
                    "shared_groups": st["shared_groups"],
                }
            ctx.artifacts.setdefault("leakage", {})["group_overlap"] = overlap
    if samples is not None and label_col:
        frame = samples
        if cfg.metadata_cols:
            cols = list(cfg.metadata_cols)
        else:
            skip = {label_col, split_col, cfg.replicate_col, *group_cols}
            cols = [c for c in samples.columns if c not in skip]
            id_name = cfg.id_col or samples.index.name or "sample_id"
            if id_name not in samples.columns:
                frame = samples.assign(**{id_name: samples.index.astype(str)})
                cols.append(id_name)
        out += check_metadata_predicts_label(
            frame,
            label_col=label_col,
            metadata_cols=cols,
            group_col=group_cols[0] if group_cols else None,
            name=name,
            shortcut_score=cfg.shortcut_score,
            seed=cfg.seed,
        )
    if ctx.features:
        view = ctx.features[0].view
        splits = None
        if samples is not None and split_col:
            splits = _feature_splits(ctx, view, split_col)
        common = {"chunk_size": cfg.chunk_size, "label_col": label_col}
        if splits is not None:
            common["split_col"] = split_col
        out += check_duplicate_samples(view, splits, group_cols=hint_groups, **common)
        if splits is not None:
            out += check_near_duplicates(
                view,
                splits,
                similarity=cfg.near_duplicate_similarity,
                seed=cfg.seed,
                group_cols=hint_groups,
                **common,
            )
            out += check_preprocessing_before_split(view, splits, group_cols=hint_groups, **common)
    return out

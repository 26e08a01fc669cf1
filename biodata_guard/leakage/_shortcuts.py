"""Metadata columns that alone predict the label (site, batch, ids numbered in label order)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from biodata_guard._format import preview, subjects
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.leakage._common import (
    GROUP_PLACEHOLDER,
    GROUP_SPLIT,
    MISSING,
    as_str,
    check_param,
    natural_key,
    require_columns,
)
from biodata_guard.registry import Interval, declare_check, declare_param
from biodata_guard.stats import balanced_accuracy_chance, cramers_v

SHORTCUT_SCORE = declare_param(
    "shortcut_score",
    0.8,
    kind="float",
    help="Association (Cramér's V / balanced accuracy above chance) at which a metadata column "
    "is a label shortcut (default 0.8).",
    valid=Interval(float, 0, 1),
    section="thresholds",
    key="shortcut_score",
)

METADATA_PREDICTS_LABEL = declare_check(
    "leakage.metadata_predicts_label",
    group="leakage",
    severities=("warning", "error"),
    needs=("labels",),
    params=("shortcut_score", "seed"),
    doc="Metadata columns that alone predict the label (site, batch, ids in label order).",
)

_KIND_WORDS = {"identifier": "identifier-like column (sort order)", "numeric": "numeric column"}


def natural_order(values: pd.Series) -> np.ndarray:
    """Positions that sort ``values`` (strings) naturally ('S2' before 'S10'): every run of
    digits is zero-padded to 20 characters, then the strings sort plainly. Ids with one run
    of digits (``cell0001``, ``S12-b``) take pyarrow's vectorised kernels.

    Examples
    --------
    >>> natural_order(pd.Series(["S10", "S2", "S1"])).tolist()
    [2, 1, 0]
    """
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


def _identifier_bins(values: pd.Series, n_bins: int) -> list[str]:
    """``n_bins`` bins of the natural sort order of ``values``, each named 'first..last'."""
    order = natural_order(values)
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    bins = rank * n_bins // max(1, len(values))
    sorted_vals = values.iloc[order].tolist()
    names = {}
    for b in np.unique(bins):
        idx = np.flatnonzero(bins[order] == b)
        names[b] = f"{sorted_vals[idx[0]]}..{sorted_vals[idx[-1]]}"
    return [names[b] for b in bins]


def levels(s: pd.Series, n_bins: int) -> tuple[str, pd.Series]:
    """Turn one metadata column into categorical levels (missing values form their own level).

    Categorical columns keep their values; numeric and date columns with more than ``n_bins``
    values become ``n_bins`` quantile bins; identifier-like columns (text, mostly unique per row)
    become ``n_bins`` bins of their natural sort order, so monotone ids that follow the label
    show up.

    Examples
    --------
    >>> kind, lv = levels(pd.Series([f"S{i}" for i in range(1, 7)]), 2)
    >>> kind, lv.tolist()
    ('identifier', ['S1..S3', 'S1..S3', 'S1..S3', 'S4..S6', 'S4..S6', 'S4..S6'])
    """
    s = s.reset_index(drop=True)
    n = len(s)
    present = s.notna()
    nunique = int(s[present].nunique())
    if pd.api.types.is_datetime64_any_dtype(s):
        s = pd.Series(s.astype("int64", copy=False).where(present), dtype="float64")
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    out = pd.Series(MISSING, index=s.index, dtype=object)
    if numeric and nunique > n_bins:
        values = s[present].astype("float64")
        bins = pd.qcut(values.rank(method="min"), n_bins, labels=False, duplicates="drop")
        edges = values.groupby(bins).agg(["min", "max"])
        names = {b: f"{lo:.4g}..{hi:.4g}" for b, (lo, hi) in edges.iterrows()}
        out[present] = bins.map(names)
        return ("identifier" if nunique == n else "numeric"), out
    text = as_str(s)
    if not numeric and nunique > max(n_bins, n // 2):
        out[present] = _identifier_bins(text[present], n_bins)
        return "identifier", out
    out[present] = text[present]
    return "categorical", out


def majority_rule_cv(
    level_codes: np.ndarray,
    y_codes: np.ndarray,
    groups: np.ndarray | None,
    *,
    n_folds: int,
    seed: int,
    memo: dict | None = None,
) -> float | None:
    """Out-of-fold balanced accuracy of 'predict the majority label of this value'; None when
    the classes (or groups) are too few for 2 folds. The folds depend on the labels and
    groups only: with ``memo`` (one per label column) every metadata column reuses them."""
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
    memo = {} if memo is None else memo
    if (k, seed) not in memo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            memo[(k, seed)] = list(cv.split(np.zeros(len(y_codes)), y_codes, groups))
    for train, test in memo[(k, seed)]:
        counts = np.zeros((n_levels, n_classes))
        np.add.at(counts, (level_codes[train], y_codes[train]), 1)
        fallback = int(np.bincount(y_codes[train], minlength=n_classes).argmax())
        rule = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), fallback)
        pred[test] = rule[level_codes[test]]
    return float(balanced_accuracy_score(y_codes, pred))


@dataclass(frozen=True)
class Labels:
    """The labelled rows: ``keep`` marks them among all rows; ``y`` their labels, ``codes``
    the labels as class numbers (classes sorted), ``groups`` their CV group numbers or None."""

    keep: np.ndarray
    y: pd.Series
    codes: np.ndarray
    n_classes: int
    groups: np.ndarray | None
    #: The CV folds of these labels, computed once for every metadata column.
    folds: dict = field(default_factory=dict, compare=False, repr=False)


def labels(df: pd.DataFrame, label_col: str, group_col: str | None) -> Labels:
    """The label column's labelled rows and, with ``group_col``, their group numbers (a row
    without a group is a group of its own)."""
    y_all = as_str(df[label_col])
    keep = y_all.notna().to_numpy()
    y = y_all[keep].reset_index(drop=True)
    codes, classes = pd.factorize(y, sort=True)
    groups = None
    if group_col is not None:
        g = as_str(df[group_col])[keep].reset_index(drop=True)
        g = g.where(g.notna(), pd.Series([f"\0row{i}" for i in range(len(g))]))
        groups = pd.factorize(g)[0]
    return Labels(keep, y, codes, len(classes), groups)


@dataclass(frozen=True)
class Shortcut:
    """How well one column's levels alone predict the label: bias-corrected Cramér's V, the
    out-of-fold balanced accuracy of the majority rule (None: too few for 2 folds), chance,
    and the accuracy rescaled so chance is 0 and perfect is 1."""

    kind: str
    n_levels: int
    cramers_v: float
    balanced_accuracy: float | None
    chance: float

    @property
    def score(self) -> float:
        bacc, chance = self.balanced_accuracy, self.chance
        return max(0.0, (bacc - chance) / (1.0 - chance)) if bacc is not None else 0.0


def shortcut_stats(
    kind: str, levels_: pd.Series, lab: Labels, *, n_folds: int, seed: int
) -> Shortcut | None:
    """Scores of one column's levels against the labels; None for fewer than 2 levels."""
    level_codes, level_names = pd.factorize(levels_, sort=True)
    if len(level_names) < 2:
        return None
    table = pd.crosstab(level_codes, lab.codes).to_numpy()
    bacc = majority_rule_cv(
        level_codes, lab.codes, lab.groups, n_folds=n_folds, seed=seed, memo=lab.folds
    )
    return Shortcut(
        kind=kind,
        n_levels=len(level_names),
        cramers_v=cramers_v(table, bias_corrected=True).v,
        balanced_accuracy=bacc,
        chance=balanced_accuracy_chance(lab.n_classes),
    )


def level_counts(levels_: pd.Series, y: pd.Series, *, top: int = 10) -> pd.DataFrame:
    """Labels per level for the ``top`` levels with the most samples (ties: natural order)."""
    counts = pd.crosstab(levels_.to_numpy(), y.to_numpy())
    counts = counts.loc[sorted(counts.index, key=lambda v: natural_key(str(v)))]
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    return counts.head(top)


def _shortcut_hint(kind: str, col: str, label_col: str, group_col: str | None) -> str:
    if kind == "identifier":
        return (
            f"Never feed '{col}' (or the row order) to the model, shuffle before any "
            f"positional split and use shuffled folds: {GROUP_SPLIT}("
            f"df, label_col={label_col!r}, group_cols=[{(group_col or GROUP_PLACEHOLDER)!r}])"
        )
    return (
        f"Do not use '{col}' as a feature, and make sure the label is not "
        f"learnable from it: balance '{label_col}' within each '{col}' value or hold "
        f"whole '{col}' values out, {GROUP_SPLIT}(df, "
        f"label_col={label_col!r}, group_cols=[{col!r}])"
    )


def _shortcut_finding(
    st: Shortcut,
    top: pd.DataFrame,
    *,
    col: str,
    n_samples: int,
    name: str,
    label_col: str,
    group_col: str | None,
    shortcut_score: float,
    determines_label_score: float,
) -> Finding:
    # sort order of ids is an ordering hazard (positional splits, unshuffled folds), not a
    # feature: at most a warning
    determines = (
        st.kind != "identifier"
        and st.cramers_v >= determines_label_score
        and st.score >= shortcut_score
    )
    majority = (top.max(axis=1) / top.sum(axis=1)).round(3)
    examples = [
        f"{lvl}: {100 * majority[lvl]:.3g}% {top.loc[lvl].idxmax()}" for lvl in top.index[:3]
    ]
    bacc = st.balanced_accuracy
    bacc_text = f"{bacc:.3g}" if bacc is not None else "n/a"
    return Finding(
        METADATA_PREDICTS_LABEL,
        Severity.ERROR if determines else Severity.WARNING,
        f"{name}, {col}: this {_KIND_WORDS.get(st.kind, 'column')} alone predicts '{label_col}' "
        f"(cross-validated balanced accuracy {bacc_text} vs chance {st.chance:.3g}; "
        f"Cramér's V {st.cramers_v:.3g}; {st.n_levels} levels over {n_samples} samples; e.g. "
        f"{preview(examples, total=st.n_levels)})"
        + (
            "; the rows are numbered in label order, so positional splits and unshuffled "
            "folds follow the label"
            if st.kind == "identifier"
            else ""
        ),
        evidence={
            "column": col,
            "kind": st.kind,
            "n_levels": st.n_levels,
            "n_samples": n_samples,
            "cramers_v": st.cramers_v,
            "balanced_accuracy": bacc,
            "chance_balanced_accuracy": st.chance,
            "score_above_chance": st.score,
            "shortcut_score": shortcut_score,
            "determines_label_score": determines_label_score,
            "label_counts_by_level": {
                str(lvl): {str(c): int(k) for c, k in row.items() if k}
                for lvl, row in top.iterrows()
            },
        },
        subjects=subjects(str(lvl) for lvl in top.index),
        hint=_shortcut_hint(st.kind, col, label_col, group_col),
        input=name,
    )


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
    (``V >= determines_label_score`` and ``score_above_chance >= shortcut_score``). An ``info``
    says so when the label has fewer than 2 classes (nothing to predict).

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
    check_param(SHORTCUT_SCORE, shortcut_score, "shortcut_score")
    if metadata_cols is None:
        metadata_cols = [c for c in df.columns if c not in (label_col, group_col)]
    metadata_cols = [metadata_cols] if isinstance(metadata_cols, str) else list(metadata_cols)
    require_columns(df, [label_col, *metadata_cols, *([group_col] if group_col else [])], name)
    lab = labels(df, label_col, group_col)
    if lab.n_classes < 2:
        reason = (
            f"{label_col} holds {lab.n_classes} class(es) on {len(lab.y)} labelled rows; needs >= 2"
        )
        return [not_checked(METADATA_PREDICTS_LABEL, reason, input=name)]
    out = []
    for col in metadata_cols:
        kind, levels_ = levels(df[col][lab.keep], n_bins)
        st = shortcut_stats(kind, levels_, lab, n_folds=n_folds, seed=seed)
        if st is None or max(st.cramers_v, st.score) < shortcut_score:
            continue
        out.append(
            _shortcut_finding(
                st,
                level_counts(levels_, lab.y),
                col=col,
                n_samples=len(lab.y),
                name=name,
                label_col=label_col,
                group_col=group_col,
                shortcut_score=shortcut_score,
                determines_label_score=determines_label_score,
            )
        )
    return out

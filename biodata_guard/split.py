"""Leakage-free splits: related samples (same patient, donor, family; duplicate and
near-duplicate feature vectors) kept on one side, class proportions and batches balanced.

:func:`plan_split` is the one implementation: :func:`group_split` returns its split column and
``python -m biodata_guard split`` writes it into the sample sheet and audits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from biodata_guard import _split_search as search
from biodata_guard._format import preview
from biodata_guard._split_links import FeatureLinks, feature_links
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, as_matrix
from biodata_guard.leakage._common import MISSING, as_str, natural_key, require_columns
from biodata_guard.registry import Interval, Param

__all__ = ["TEST_SIZE", "SplitPlan", "group_split", "linked_groups", "plan_split"]

#: The held-out fraction of a train/test split (the ``split`` verb's ``--test-size``).
TEST_SIZE = Param(
    "test_size",
    0.2,
    "float",
    "Fraction of the samples in test (default 0.2 when --n-folds is not given).",
    section="split",
    valid=Interval(float, 0, 1, closed="neither"),
)
#: Folds of a cross-validation split (the ``split`` verb's ``--n-folds``).
N_FOLDS = Param(
    "n_folds",
    5,
    "int",
    "Folds of a cross-validation split (instead of --test-size).",
    section="split",
    valid=Interval(int, 2, None),
)


@dataclass(frozen=True)
class SplitPlan:
    """A split and what it achieved.

    ``split`` holds one value per row of the sample table ("train"/"test", or fold numbers
    1..K); ``class_counts`` is splits x classes; ``worst_deviation`` is the largest gap between a
    class's share of one split and its share of all samples (a fraction), with the class and
    split in ``worst``, and ``worst_proportional`` the same among the classes with enough groups
    to follow the target proportions; ``rare_classes`` lists the classes with too few groups for
    that and where they were placed (on purpose); ``batches`` maps each batch to the splits
    holding it; ``unsatisfied`` says, in sentences, what could not be achieved.
    """

    split: pd.Series
    names: list[str]
    sizes: dict[str, int]
    targets: dict[str, float]
    n_groups: int
    n_feature_links: int
    n_groups_joined_by_features: int
    class_counts: pd.DataFrame
    worst_deviation: float
    worst: dict[str, Any]
    worst_proportional: dict[str, Any]
    rare_classes: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[str, list[str]] = field(default_factory=dict)
    unsatisfied: list[str] = field(default_factory=list)
    links: FeatureLinks | None = None


def linked_groups(
    df: pd.DataFrame, group_cols: Sequence[str], *, pairs: np.ndarray | None = None
) -> np.ndarray:
    """Component number of each row: rows sharing a value in any group column are linked
    (a patient in two families joins them), and so are the row ``pairs`` (k x 2 positions, e.g.
    duplicate samples). A missing value links nothing.

    Examples
    --------
    >>> df = pd.DataFrame({"patient": ["P1", "P2", "P3"], "family": ["F1", "F1", None]})
    >>> linked_groups(df, ["patient", "family"]).tolist()
    [0, 0, 1]
    >>> linked_groups(df, ["patient"], pairs=np.array([[0, 2]])).tolist()
    [0, 1, 0]
    """
    n = len(df)
    rows, cols = [], []
    offset = 0
    for col in group_cols:
        codes, uniques = pd.factorize(as_str(df[col]))
        ok = codes >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(codes[ok] + offset + n)
        offset += len(uniques)
    if pairs is not None and len(pairs):
        rows.append(np.asarray(pairs)[:, 0])
        cols.append(np.asarray(pairs)[:, 1])
    r, c = np.concatenate(rows), np.concatenate(cols)
    size = n + offset
    graph = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return pd.factorize(labels[:n])[0]


def _check(p: Param, value: Any, keyword: str) -> None:
    if isinstance(value, bool) or value not in p.valid:  # type: ignore[operator]
        raise ConfigError(
            f"{keyword} must be {p.valid.describe()}; got {value!r} instead",  # type: ignore[union-attr]
            key=keyword,
            hint=f"e.g. {keyword}={p.default!r}",
        )


def _validate(
    metadata: pd.DataFrame,
    cols: list[str],
    group_cols: list[str],
    test_size: float | None,
    n_folds: int | None,
) -> None:
    if not group_cols:
        raise ConfigError(
            "group_cols must name at least one column; got none",
            key="group_cols",
            hint="Name the column of the patient / donor / family, e.g. group_cols=['donor'] "
            "(--group-col donor).",
        )
    if test_size is not None and n_folds is not None:
        raise ConfigError(
            f"give test_size or n_folds, not both; got test_size={test_size!r} and "
            f"n_folds={n_folds!r}",
            key="n_folds",
            hint="A train/test split: test_size=0.2; cross-validation folds: n_folds=5.",
        )
    if test_size is not None:
        _check(TEST_SIZE, test_size, "test_size")
    if n_folds is not None:
        _check(N_FOLDS, n_folds, "n_folds")
    require_columns(metadata, cols, "metadata")


def _codes(values: pd.Series | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column (missing values form their own level), levels in natural
    order; one level for all rows when ``values`` is None."""
    if values is None:
        return np.zeros(n, dtype=np.int64), ["all"]
    s = as_str(values).fillna(MISSING)
    levels = sorted(set(s), key=natural_key)
    lookup = {v: i for i, v in enumerate(levels)}
    return s.map(lookup).to_numpy(dtype=np.int64), levels


def _links(
    features: Any, metadata: pd.DataFrame, ids: pd.Index, **options: Any
) -> tuple[np.ndarray, FeatureLinks | None]:
    """Duplicate / near-duplicate row pairs of ``features`` as positions of ``metadata``."""
    if features is None:
        return np.zeros((0, 2), dtype=np.int64), None
    view = as_matrix(features, name="features")
    names = pd.Index(view.obs_names.astype(str))
    lookup = pd.Series(np.arange(len(ids)), index=ids)
    if names.isin(ids).any():
        position = lookup.reindex(names).to_numpy()
    elif view.n_obs == len(metadata) and names.equals(pd.Index(map(str, range(view.n_obs)))):
        position = np.arange(view.n_obs, dtype=float)  # an unnamed matrix: rows are the rows
    else:
        raise InputError(
            f"{view.name}: none of the {view.n_obs} row names ({preview(names)}) is a sample id "
            f"of the metadata ({preview(ids)})",
            path=view.name,
            hint="Pass the matrix whose rows are the metadata's samples (--id-col names the id "
            "column).",
        )
    found = feature_links(view, **options)
    pairs = position[found.pairs] if len(found.pairs) else np.zeros((0, 2))
    pairs = pairs[~np.isnan(pairs).any(axis=1)].astype(np.int64)
    return pairs, found


def _bins(test_size: float | None, n_folds: int | None) -> tuple[list[str], np.ndarray, bool]:
    if n_folds is not None:
        return [str(k + 1) for k in range(n_folds)], np.full(n_folds, 1.0 / n_folds), False
    t = 0.2 if test_size is None else float(test_size)
    return ["train", "test"], np.array([1.0 - t, t]), True


def plan_split(
    metadata: pd.DataFrame,
    *,
    group_cols: Sequence[str] | str,
    label_col: str | None = None,
    batch_col: str | None = None,
    features: Any = None,
    id_col: str | None = None,
    test_size: float | None = None,
    n_folds: int | None = None,
    near_duplicate_similarity: float | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    seed: int = 0,
) -> SplitPlan:
    """A leakage-free train/test split or cross-validation folds, and what it achieved.

    Samples are linked into components that never cross a split: rows sharing a value in any
    of ``group_cols`` (transitively), and, when ``features`` are given, rows with identical
    feature vectors and near-duplicate pairs (a sample and its nearest neighbour, closer than
    the nearest-neighbour distances of the cohort allow; see ``biodata_guard._split_links``).
    Components are then assigned to splits by a seeded search (``biodata_guard._split_search``)
    that minimises Pearson's chi-square of the split x class counts against the target
    proportions, plus a quarter of the same statistic for split x batch counts, so batches
    spread where the groups allow. Rare classes are placed deliberately first: a class in ``m``
    groups lands in ``min(m, splits)`` different splits (so it is in train and in test, or in
    the training part of every fold), and a train/test split keeps a one-group class in train.

    Parameters
    ----------
    metadata
        The sample table (one row per sample).
    group_cols
        Columns whose values must not cross splits (patient, donor, family ...).
    label_col, batch_col
        Columns whose proportions / spread the split balances (optional).
    features
        A matrix whose rows are the samples (AnnData, DataFrame, ndarray, sparse; rows named by
        the ids of ``id_col`` or, unnamed, in the table's order): duplicates stay together.
    id_col
        Sample id column of ``metadata`` (default: its index).
    test_size, n_folds
        A train/test split with this test fraction (default 0.2), or this many folds.
    near_duplicate_similarity
        Fixed cosine similarity for near-duplicate links (default: calibrated).
    chunk_size, seed
        Rows read at once from ``features``; the seed of every random step.

    Returns
    -------
    SplitPlan

    Raises
    ------
    ConfigError
        No group column; ``test_size`` outside (0, 1); ``n_folds`` < 2; both given.
    InputError
        A column is missing; fewer independent groups than splits; features whose rows are not
        the samples.

    Examples
    --------
    >>> df = pd.DataFrame({"patient": np.repeat([f"P{i}" for i in range(40)], 2),
    ...                    "label": np.repeat(["a"] * 36 + ["rare"] * 4, 2)})
    >>> plan = plan_split(df, group_cols="patient", label_col="label", test_size=0.25)
    >>> plan.sizes, int(plan.class_counts.loc["test", "rare"])
    ({'train': 60, 'test': 20}, 2)
    """
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    cols = [*group_cols, *(c for c in (label_col, batch_col, id_col) if c)]
    _validate(metadata, cols, group_cols, test_size, n_folds)
    ids = pd.Index(as_str(metadata[id_col] if id_col else metadata.index.to_series()))
    pairs, links = _links(
        features, metadata, ids, chunk_size=chunk_size, seed=seed,
        similarity=near_duplicate_similarity,
    )  # fmt: skip
    comp = linked_groups(metadata, group_cols, pairs=pairs)
    names, targets, holdout = _bins(test_size, n_folds)
    n_comp = _enough_groups(comp, group_cols, len(names))
    y, classes = _codes(metadata[label_col] if label_col else None, len(metadata))
    b, batches = _codes(metadata[batch_col] if batch_col else None, len(metadata))
    b = b if batch_col else None
    best = search.search(_problem(comp, y, len(classes), b, len(batches), targets), seed=seed)
    values = np.asarray(names, dtype=object)[best.bins[comp]]
    split = pd.Series(
        values if holdout else values.astype(int),
        index=metadata.index,
        name="split" if holdout else "fold",
    )
    joined = n_comp_groups(linked_groups(metadata, group_cols)) - n_comp
    return _summarise(
        split, names, targets, y, classes, comp, b, batches, holdout,
        links=links, n_links=len(pairs), joined=joined,
    )  # fmt: skip


def n_comp_groups(components: np.ndarray) -> int:
    return int(components.max()) + 1 if len(components) else 0


def _enough_groups(comp: np.ndarray, group_cols: list[str], n_splits: int) -> int:
    """The number of independent groups; an InputError when fewer than the splits."""
    n_comp = n_comp_groups(comp)
    if n_comp < n_splits:
        raise InputError(
            f"metadata, {', '.join(group_cols)}: {n_comp} independent group(s); "
            f"{n_splits} splits need at least {n_splits}",
            path="metadata",
            column=group_cols[0],
            hint="Check the group columns (one shared value links samples together), or ask "
            "for fewer folds.",
        )
    return n_comp


def _problem(
    comp: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    b: np.ndarray | None,
    n_batches: int,
    targets: np.ndarray,
) -> search.Problem:
    n_comp = n_comp_groups(comp)
    classes = np.zeros((n_comp, n_classes))
    np.add.at(classes, (comp, y), 1.0)
    batches = None
    if b is not None:
        batches = np.zeros((n_comp, n_batches))
        np.add.at(batches, (comp, b), 1.0)
    few = (classes > 0).sum(axis=0) < len(targets)  # placed by presence, not by proportion
    strata = None
    if few.any() and (~few).any():
        strata = np.column_stack([classes[:, ~few], classes[:, few].sum(axis=1)])
    return search.Problem(classes, batches, targets, strata)


def _summarise(
    split: pd.Series,
    names: list[str],
    targets: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    comp: np.ndarray,
    b: np.ndarray | None,
    batches: list[str],
    holdout: bool,
    *,
    links: FeatureLinks | None,
    n_links: int,
    joined: int,
) -> SplitPlan:
    """The achieved sizes, class table, worst deviation, rare classes, batch spread and what
    could not be satisfied."""
    labels = split.astype(str).to_numpy()
    table = pd.crosstab(labels, np.asarray(classes, dtype=object)[y]).reindex(
        index=names, columns=classes, fill_value=0
    )
    table.index.name, table.columns.name = "split", "class"
    sizes = {k: int(table.loc[k].sum()) for k in names}
    rare = _rare(table, labels, y, comp, classes, targets, names)
    worst = _worst(table, classes)
    placed = {r["class"] for r in rare}
    proportional = _worst(table, [c for c in classes if c not in placed])
    spread = _spread(labels, b, batches, names)
    fractions = dict(zip(names, (float(t) for t in targets), strict=True))
    unsatisfied = _rare_notes(rare, names, holdout)
    unsatisfied += _batch_notes(spread, comp, b, batches, len(names))
    unsatisfied += _size_notes(sizes, fractions)
    return SplitPlan(
        split=split,
        names=names,
        sizes=sizes,
        targets=fractions,
        n_groups=n_comp_groups(comp),
        n_feature_links=n_links,
        n_groups_joined_by_features=joined,
        class_counts=table,
        worst_deviation=worst["deviation"],
        worst=worst,
        worst_proportional=proportional,
        rare_classes=rare,
        batches=spread,
        unsatisfied=unsatisfied,
        links=links,
    )


def _worst(table: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """The largest gap between a class's share of one split and of all samples, among
    ``columns``: the gap, the class, the split and both shares (gap 0 and no class: none)."""
    if not columns:
        return {"deviation": 0.0, "class": None, "split": None}
    n = max(int(table.to_numpy().sum()), 1)
    share = table.div(table.sum(axis=1).replace(0, 1), axis=0)[columns]
    overall = table[columns].sum(axis=0) / n
    gap = (share - overall).abs()
    k, c = np.unravel_index(int(np.argmax(gap.to_numpy())), gap.shape)
    return {
        "deviation": float(gap.iloc[k, c]),
        "class": columns[c],
        "split": str(table.index[k]),
        "share_in_split": float(share.iloc[k, c]),
        "share_overall": float(overall.iloc[c]),
    }


def _rare(
    table: pd.DataFrame,
    split_labels: np.ndarray,
    y: np.ndarray,
    comp: np.ndarray,
    classes: list[str],
    targets: np.ndarray,
    names: list[str],
) -> list[dict[str, Any]]:
    """Classes with fewer groups than a proportional placement needs (1 / smallest target)."""
    need = int(np.ceil(1.0 / targets.min() - 1e-9))
    frame = pd.DataFrame({"comp": comp, "y": y, "split": split_labels})
    out = []
    for i, c in enumerate(classes):
        mine = frame[frame["y"] == i].drop_duplicates("comp")
        m = len(mine)
        if 0 < m < need and len(classes) > 1:
            per = mine["split"].value_counts()
            placed = {k: int(per.get(k, 0)) for k in names if per.get(k, 0)}
            out.append({"class": c, "n_groups": m, "n_samples": int(table[c].sum()),
                        "splits": list(placed), "groups_per_split": placed})  # fmt: skip
    return out


def _spread(
    labels: np.ndarray, b: np.ndarray | None, batches: list[str], names: list[str]
) -> dict[str, list[str]]:
    if b is None:
        return {}
    frame = pd.DataFrame({"batch": np.asarray(batches, dtype=object)[b], "split": labels})
    held = frame.groupby("batch", sort=False)["split"].agg(lambda s: set(s))
    return {batch: [k for k in names if k in held[batch]] for batch in batches}


def _rare_notes(rare: list[dict[str, Any]], names: list[str], holdout: bool) -> list[str]:
    """Where each rare class went (placed deliberately), and what that cannot give."""
    out = []
    for r in rare:
        placed = ", ".join(f"{n} in {k}" for k, n in r["groups_per_split"].items())
        head = f"class '{r['class']}' has {r['n_groups']} group(s) ({r['n_samples']} samples): "
        if holdout and r["n_groups"] == 1:
            out.append(
                head + "kept in train (a class seen only in test cannot be learnt), so test "
                "cannot evaluate it"
            )
        elif not holdout and r["n_groups"] == 1:
            out.append(head + f"{placed}; that fold's model never trains on it")
        elif not holdout:
            out.append(
                head + f"one per fold ({placed}), so every fold trains on it; the other folds "
                "cannot test it"
            )
        else:
            out.append(
                head + f"{placed}, placed so that both splits hold it; its share of each split "
                "follows the groups, not the target"
            )
    return out


def _batch_notes(
    spread: dict[str, list[str]],
    comp: np.ndarray,
    b: np.ndarray | None,
    batches: list[str],
    n_splits: int,
) -> list[str]:
    """Batches left in one split although they have groups enough to spread."""
    if b is None:
        return []
    n_comp = pd.Series(comp).groupby(b).nunique()
    confined = [
        batch
        for i, batch in enumerate(batches)
        if len(spread[batch]) == 1 and int(n_comp.get(i, 0)) >= n_splits
    ]
    if not confined:
        return []
    return [
        f"{len(confined)} batch(es) ({preview(confined)}) stay in one split although their "
        "groups could be spread (the class proportions came first)"
    ]


def _size_notes(sizes: dict[str, int], targets: dict[str, float]) -> list[str]:
    """Splits more than 10% (and 1 sample) off their target size."""
    n = sum(sizes.values())
    out = []
    for k, size in sizes.items():
        target = targets[k] * n
        if abs(size - target) > max(1.0, 0.1 * target):
            out.append(
                f"{k} holds {size} samples for a target of {target:.0f}: the groups are too "
                "large to cut closer"
            )
    return out


def group_split(
    metadata: pd.DataFrame,
    *,
    label_col: str | None = None,
    group_cols: Sequence[str] | str,
    test_size: float = 0.2,
    seed: int = 0,
    batch_col: str | None = None,
    features: Any = None,
) -> pd.Series:
    """A train/test split column with no group on both sides and class proportions preserved.

    The split of :func:`plan_split` (the same code as ``python -m biodata_guard split``): rows
    sharing a value in any of ``group_cols`` are kept together (also transitively: a patient
    seen in two families links them), and so are duplicate / near-duplicate samples when
    ``features`` are given; class proportions follow the whole cohort as far as the groups
    allow, rare classes are placed deliberately and batches spread across the split.

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
        Seed of the search.
    batch_col, features
        A batch column to spread, a matrix whose duplicate rows stay together
        (see :func:`plan_split`).

    Returns
    -------
    pandas.Series
        ``"train"`` / ``"test"`` per row, indexed like ``metadata``, named ``"split"``.

    Raises
    ------
    ConfigError
        No group column, or ``test_size`` outside (0, 1).
    InputError
        A column is missing, or the groups link every sample into fewer than 2 groups.

    Examples
    --------
    >>> from biodata_guard.leakage import check_group_overlap
    >>> df = pd.DataFrame({"patient_id": np.repeat([f"P{i}" for i in range(50)], 3),
    ...                    "label": np.repeat(["tumour", "normal"] * 25, 3)})
    >>> split = group_split(df, label_col="label", group_cols=["patient_id"])
    >>> check_group_overlap(df.assign(split=split))
    []
    >>> split.value_counts().to_dict()
    {'train': 120, 'test': 30}
    """
    plan = plan_split(
        metadata,
        group_cols=group_cols,
        label_col=label_col,
        batch_col=batch_col,
        features=features,
        test_size=test_size,
        seed=seed,
    )
    return plan.split

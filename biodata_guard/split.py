"""Leakage-free splits: related samples (same patient, donor, family ...) kept on one side."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from biodata_guard.errors import ConfigError, InputError
from biodata_guard.leakage._common import MISSING, as_str, require_columns

__all__ = ["group_split"]


def linked_groups(df: pd.DataFrame, group_cols: Sequence[str]) -> np.ndarray:
    """Component number of each row: rows sharing a value in any group column are linked
    (a patient in two families joins them). A missing value links nothing.

    Examples
    --------
    >>> df = pd.DataFrame({"patient": ["P1", "P2", "P3"], "family": ["F1", "F1", None]})
    >>> linked_groups(df, ["patient", "family"]).tolist()
    [0, 0, 1]
    """
    n = len(df)
    rows, cols = [], []
    offset = 0
    for col in group_cols:
        codes, uniques = pd.factorize(as_str(df[col]))
        ok = codes >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(codes[ok] + offset)
        offset += len(uniques)
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(r)), (r, n + c)), shape=(n + offset, n + offset))
    _, labels = connected_components(graph, directed=False)
    return pd.factorize(labels[:n])[0]


def _validate(
    metadata: pd.DataFrame, label_col: str | None, group_cols: list[str], test_size: float
) -> None:
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
    require_columns(metadata, [*group_cols, *([label_col] if label_col else [])], "metadata")


def _test_rows(
    y: np.ndarray | None, groups: np.ndarray, *, test_size: float, seed: int
) -> np.ndarray:
    """Test row positions: the StratifiedGroupKFold fold closest to ``test_size`` when ``y``
    is given and its classes can be stratified, else a GroupShuffleSplit."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    n, n_groups = len(groups), int(groups.max()) + 1
    dummy = np.zeros((n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if y is not None:
            k = min(n_groups, max(2, round(1.0 / float(test_size))))
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            try:
                folds = [t for _, t in cv.split(dummy, y, groups)]
                return min(folds, key=lambda t: abs(len(t) / n - test_size))
            except ValueError:  # classes too small to stratify: group the split only
                pass
        gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        return next(gss.split(dummy, groups=groups))[1]


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
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    _validate(metadata, label_col, group_cols, test_size)
    groups = linked_groups(metadata, group_cols)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 2:
        raise InputError(
            f"metadata, {', '.join(group_cols)}: {n_groups} independent group(s); a split "
            "needs at least 2",
            path="metadata",
            column=group_cols[0],
            hint="Check the group columns: one shared value links every sample together.",
        )
    y = None
    if label_col is not None:
        y = as_str(metadata[label_col]).fillna(MISSING).to_numpy()
    test = _test_rows(y, groups, test_size=test_size, seed=seed)
    values = np.full(len(metadata), "train", dtype=object)
    values[test] = "test"
    return pd.Series(values, index=metadata.index, name="split")

"""The probe's design phase: which rows are probed, their folds, training pools and transform."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io.matrix import MatrixView
from biodata_guard.probe import _prep as pm
from biodata_guard.probe._inputs import _column, _group_codes, _labels, _Options
from biodata_guard.units import detect_units

#: Rows the units are detected on (a seeded sample of the matrix's rows).
UNITS_ROWS = 1_000
_LOG1P_UNITS = {"cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}
#: A sample of rows (max_samples) keeps at least this many rows per fold of every class (or
#: all of a smaller class): a rare batch stays recognisable in every fold. A class-balanced
#: sample cut the recall of a rare batch on the 100k-cell benchmark from 0.95 to 0.40.
_MIN_PER_CLASS = 10


def choose_transform(units_rows: Any, name: str, transform: str) -> dict[str, Any]:
    """The transform to apply: ``transform``, or for ``"auto"`` the one the units detected on
    ``units_rows`` (a matrix of rows) call for."""
    if transform != "auto":
        return {"transform": transform, "units": None, "units_label": None}
    call = detect_units(units_rows, name=name)
    if call.units == "counts":
        chosen = "counts"
    elif call.units in _LOG1P_UNITS:
        chosen = "log1p"
    else:
        chosen = "none"
    return {"transform": chosen, "units": call.units, "units_label": call.label}


def row_order(n_obs: int, seed: int) -> np.ndarray:
    """A seeded random order of the matrix's rows (from the seed and the number of rows only):
    every probed column takes its sample, and the probe its units and PCA rows, from its front,
    so the columns of one audit share most of their rows and each gets the sample it would get
    probed alone."""
    return np.random.default_rng(np.random.SeedSequence([seed, n_obs])).permutation(n_obs)


def sample_rows(
    rows: np.ndarray, y: np.ndarray, order: np.ndarray, max_samples: int, floor: int
) -> np.ndarray:
    """Positions into ``rows`` (sorted) of the probed sample: the ``max_samples`` rows first in
    ``order`` (a uniform random sample: each class in proportion, up to sampling noise), plus,
    for each class with fewer than ``floor`` of them, its next rows in that order up to
    ``floor`` (or all of it)."""
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    by_rank = np.argsort(rank[rows], kind="stable")
    take = np.zeros(len(rows), bool)
    take[by_rank[:max_samples]] = True
    counts = np.bincount(y[take], minlength=int(y.max()) + 1)
    for c in np.flatnonzero(counts < floor):
        take[by_rank[y[by_rank] == c][:floor]] = True
    return np.flatnonzero(take)


@dataclass(frozen=True, eq=False)
class _Design:
    """Who is probed and how they are split: the kept rows, their class codes and folds, and
    each fold's model-training rows (positions into ``rows``, a seeded stratified pool)."""

    rows: np.ndarray  # positions into X of the rows probed
    n_eligible: int  # rows with a kept class (more than len(rows) when subsampled)
    y: np.ndarray  # class code per kept row
    classes: tuple[str, ...]
    dropped: dict[str, int]
    fold: np.ndarray  # fold of each kept row (its held-out fold)
    train: list[np.ndarray]  # per fold: model-training rows (positions into `rows`)
    grouped: bool

    @property
    def n_folds(self) -> int:
        return len(self.train)

    def test(self, f: int) -> np.ndarray:
        return np.flatnonzero(self.fold == f)


def _design(
    X: Any,
    view: MatrixView,
    target: Any,
    groups: Any,
    *,
    target_name: str,
    folds: int,
    max_train_samples: int,
    max_samples: int | None,
    rng: np.random.Generator,
    seed: int,
    memo: dict[Any, Any],
) -> _Design:
    """Classes, rows (a proportional sample above ``max_samples``), folds and training pools;
    the draws from ``rng`` in this order, so a target's numbers do not depend on others.
    ``memo`` keeps the group codes for the other targets of one call."""
    n = view.n_obs
    values, names = _labels(_column(X, target, n, what="target", obs_names=view.obs_names))
    counts = pd.Series(np.bincount(values[values >= 0], minlength=len(names)), index=names)
    classes, small = _kept_classes(counts, folds, view.name, target_name)
    class_of = np.full(len(names) + 1, -1)  # the last entry: missing values (code -1)
    class_of[np.searchsorted(names, classes)] = np.arange(len(classes))
    codes = class_of[values]
    rows = np.flatnonzero(codes >= 0)
    y = codes[rows]
    n_eligible = len(rows)
    if max_samples is not None and len(rows) > max_samples:
        take = sample_rows(rows, y, row_order(n, seed), max_samples, _MIN_PER_CLASS * folds)
        rows, y = rows[take], y[take]
    g = None
    if groups is not None:
        key = ("groups", id(groups))
        if key not in memo:
            memo[key] = _group_codes(_column(X, groups, n, what="groups", obs_names=view.obs_names))
        g = memo[key][rows]
    fold = _folds(y, g, folds=folds, seed=seed, name=view.name, target_name=target_name)
    train = _training_rows(
        y,
        fold,
        len(classes),
        folds=folds,
        max_train_samples=max_train_samples,
        rng=rng,
        name=view.name,
        target_name=target_name,
    )
    return _Design(
        rows=rows,
        n_eligible=n_eligible,
        y=y,
        classes=classes,
        dropped={str(c): int(v) for c, v in small.items()},
        fold=fold,
        train=train,
        grouped=groups is not None,
    )


def _kept_classes(
    counts: pd.Series, folds: int, name: str, target_name: str
) -> tuple[tuple[str, ...], pd.Series]:
    """The classes with at least ``folds`` samples (sorted; ``counts``: samples per value, the
    values sorted), and the smaller ones' sizes."""
    counts = counts[counts > 0]
    small = counts[counts < folds]
    classes = tuple(str(c) for c in counts.index if c not in small.index)
    if len(classes) < 2:
        raise InputError(
            f"{name}, {target_name}: needs at least 2 classes with >= {folds} samples to "
            f"probe; got {len(classes)} ({preview(f'{c}={v}' for c, v in counts.items())})",
            path=name,
            column=target_name,
            hint="Probe a column with several well-populated classes, or lower folds=.",
        )
    return classes, small


def _folds(
    y: np.ndarray, g: np.ndarray | None, *, folds: int, seed: int, name: str, target_name: str
) -> np.ndarray:
    """The held-out fold of each probed row: ``StratifiedKFold``, or ``StratifiedGroupKFold``
    with group codes ``g`` (a group never spans two folds)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    with warnings.catch_warnings():  # "least populated class has only 3 members" etc.
        warnings.simplefilter("ignore")
        if g is not None:
            n_groups = len(np.unique(g))
            if n_groups < folds:
                raise InputError(
                    f"{name}, groups: {n_groups} groups cannot fill {folds} grouped folds",
                    path=name,
                    hint=f"Pass folds={max(2, n_groups)} or fewer, or drop groups=.",
                )
            splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            splits = splitter.split(np.zeros(len(y)), y, g)
        else:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            splits = splitter.split(np.zeros(len(y)), y)
        fold = np.full(len(y), -1)
        for f, (_, test) in enumerate(splits):
            fold[test] = f
    if (np.bincount(fold, minlength=folds) == 0).any():
        raise InputError(
            f"{name}, {target_name}: a grouped fold came out empty",
            path=name,
            hint="Use fewer folds (folds=) or check that groups= has many distinct groups.",
        )
    return fold


def _training_rows(
    y: np.ndarray,
    fold: np.ndarray,
    n_classes: int,
    *,
    folds: int,
    max_train_samples: int,
    rng: np.random.Generator,
    name: str,
    target_name: str,
) -> list[np.ndarray]:
    """Per fold, the rows its models train on: one stratified (fold x class) pool, in a seeded
    order; fold f trains on the pool rows outside fold f (the first of them also fit its SVD).
    """
    pool_size = min(len(y), math.ceil(max_train_samples * folds / (folds - 1)))
    pool = pm.proportional_take(fold * n_classes + y, pool_size, 1, rng)
    pool = pool[rng.permutation(len(pool))]
    train = [pool[fold[pool] != f][:max_train_samples] for f in range(folds)]
    for f in range(folds):
        if len(np.unique(y[train[f]])) < 2:
            raise InputError(
                f"{name}, {target_name}: the training rows of fold {f + 1} hold a single class",
                path=name,
                hint="Use fewer folds (folds=) or more groups per class.",
            )
    return train


@dataclass(frozen=True, eq=False)
class _Target:
    """One attribute to probe after its design phase: its rows, folds and pool, and its seeded
    generator (drawn from again in the later phases)."""

    name: str
    design: _Design
    prep: dict[str, Any]  # the transform and the units behind it; filled once the rows are read
    rng: np.random.Generator
    seconds: dict[str, float]  # per stage; filled as the phases run


def _target_name(target: Any, target_name: str | None) -> str:
    """The name given, else the column name (an obs column or a named Series), else "target"."""
    if target_name is not None:
        return target_name
    named = isinstance(target, str) or (isinstance(target, pd.Series) and target.name)
    return str(target if isinstance(target, str) else target.name) if named else "target"


def _plan(
    X: Any,
    view: MatrixView,
    target: Any,
    target_name: str | None,
    *,
    groups: Any,
    opts: _Options,
    memo: dict[Any, Any] | None = None,
) -> _Target:
    """Design phase (the labels only, no matrix values): rows, classes, folds and pool;
    ``memo`` shares what the targets of one call have in common (their group codes)."""
    start = time.perf_counter()
    target_name = _target_name(target, target_name)
    rng = np.random.default_rng(opts.seed)
    d = _design(
        X,
        view,
        target,
        groups,
        target_name=target_name,
        folds=opts.folds,
        max_train_samples=opts.max_train_samples,
        max_samples=opts.max_samples,
        rng=rng,
        seed=opts.seed,
        memo={} if memo is None else memo,
    )
    seconds = {"design": time.perf_counter() - start}
    return _Target(target_name, d, {}, rng, seconds)

"""The probe's design phase: which rows are probed, their folds, training pools and transform."""

from __future__ import annotations

import hashlib
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
from biodata_guard.probe import _model as pm
from biodata_guard.probe._inputs import _column, _group_codes, _labels, _Options
from biodata_guard.units import detect_units

_UNITS_ROWS = 1_000  # rows read to detect the units
_LOG1P_UNITS = {"cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}
#: A sample of rows (max_samples) keeps at least this many rows per fold of every class (or
#: all of a smaller class): a rare batch stays recognisable in every fold.
_MIN_PER_CLASS = 10


def _choose_transform(view: MatrixView, rows: np.ndarray, transform: str) -> dict[str, Any]:
    """The transform to apply: ``transform``, or for ``"auto"`` the one the units detected on
    ``rows`` call for (memoised on the view: the probes of one audit share it)."""
    if transform != "auto":
        return {"transform": transform, "units": None, "units_label": None}
    rows = np.sort(rows)
    key = ("probe.units", hashlib.sha1(rows.tobytes()).hexdigest())
    if key not in view.memo:  # the batch, label and split probes of one audit share it
        view.memo[key] = detect_units(view.rows(rows), name=view.name)
    call = view.memo[key]
    if call.units == "counts":
        chosen = "counts"
    elif call.units in _LOG1P_UNITS:
        chosen = "log1p"
    else:
        chosen = "none"
    return {"transform": chosen, "units": call.units, "units_label": call.label}


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
) -> _Design:
    """Classes, rows (a proportional sample above ``max_samples``), folds and training pools;
    the draws from ``rng`` in this order, so a target's numbers do not depend on others."""
    n = view.n_obs
    keep, labels = _labels(_column(X, target, n, what="target", obs_names=view.obs_names))
    classes, small = _kept_classes(labels[keep], folds, view.name, target_name)
    keep &= pd.Series(labels).isin(classes).to_numpy()
    rows = np.flatnonzero(keep)
    code_of = {c: i for i, c in enumerate(classes)}
    y = np.array([code_of[v] for v in labels[rows]], dtype=np.int64)
    n_eligible = len(rows)
    if max_samples is not None and len(rows) > max_samples:
        # Drawn only when sampling, so inputs below max_samples keep their numbers.
        take = pm.proportional_take(y, max_samples, _MIN_PER_CLASS * folds, rng)
        rows, y = rows[take], y[take]
    g = None
    if groups is not None:
        g = _group_codes(_column(X, groups, n, what="groups", obs_names=view.obs_names))[rows]
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
    labels: np.ndarray, folds: int, name: str, target_name: str
) -> tuple[tuple[str, ...], pd.Series]:
    """The classes with at least ``folds`` samples (sorted), and the smaller ones' sizes."""
    counts = pd.Series(labels).value_counts().sort_index()
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
    """One attribute to probe after its design phase: its folds and pool (per row of X), its
    transform, and its seeded generator (drawn from again in the later phases)."""

    name: str
    design: _Design
    prep: dict[str, Any]
    rng: np.random.Generator
    fold_of: np.ndarray  # per row of X: the fold it is held out in, -1 when not probed
    in_pool: np.ndarray  # per row of X: some fold's model trains on it (pass 1 keeps it)
    seconds: dict[str, float]  # per stage; filled as the phases run


def _target_name(target: Any, target_name: str | None) -> str:
    """The name given, else the column name (an obs column or a named Series), else "target"."""
    if target_name is not None:
        return target_name
    named = isinstance(target, str) or (isinstance(target, pd.Series) and target.name)
    return str(target if isinstance(target, str) else target.name) if named else "target"


def _plan(
    X: Any, view: MatrixView, target: Any, target_name: str | None, *, groups: Any, opts: _Options
) -> _Target:
    """Design phase: rows, classes, folds and pool; the rows the units are detected on."""
    start = time.perf_counter()
    n = view.n_obs
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
    )
    units_rows = np.sort(rng.choice(d.rows, min(len(d.rows), _UNITS_ROWS), replace=False))
    prep = _choose_transform(view, units_rows, opts.transform)
    fold_of = np.full(n, -1)
    fold_of[d.rows] = d.fold
    in_pool = np.zeros(n, bool)
    for train in d.train:
        in_pool[d.rows[train]] = True
    seconds = {"units": time.perf_counter() - start}
    return _Target(target_name, d, prep, rng, fold_of, in_pool, seconds)

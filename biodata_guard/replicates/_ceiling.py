"""The replicate ceiling of a target or a feature matrix: one pure function to a frozen result."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, _is_anndata, as_matrix
from biodata_guard.replicates._bootstrap import n_draws
from biodata_guard.replicates._categorical import categorical, categorical_groups
from biodata_guard.replicates._continuous import continuous, continuous_groups
from biodata_guard.replicates._groups import (
    aligned_groups,
    effective_size,
    group_codes,
    plot_pairs,
    present,
    sorted_by_group,
)
from biodata_guard.replicates._profile import profile, profile_groups
from biodata_guard.replicates._profile_pass import profile_loo
from biodata_guard.replicates._result import KINDS, ReplicateCeiling


def _is_matrix(values: Any) -> bool:
    if isinstance(values, (MatrixView, pd.DataFrame)) or sp.issparse(values):
        return True
    if _is_anndata(values):
        return True
    return isinstance(values, np.ndarray) and values.ndim == 2 and values.shape[1] > 1


def _vector(values: Any) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(
            f"values must be a 1-D target or a 2-D feature matrix; got shape {arr.shape} instead",
            hint="Pass the target column (a Series) or the samples x features matrix.",
        )
    return pd.Series(arr)  # ids are positions


def infer_kind(y: pd.Series) -> str:
    """``"categorical"`` for text, bool, categorical or <= 10 integer levels, else
    ``"continuous"``.

    Examples
    --------
    >>> infer_kind(pd.Series([0, 1, 1, 2])), infer_kind(pd.Series([0.5, 1.2, 3.3]))
    ('categorical', 'continuous')
    """
    values = y.dropna()
    if (
        pd.api.types.is_bool_dtype(values)
        or not pd.api.types.is_numeric_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
    ):
        return "categorical"
    arr = values.to_numpy(dtype=np.float64)
    if arr.size and np.all(arr == np.round(arr)) and len(np.unique(arr)) <= 10:
        return "categorical"
    return "continuous"


def _validate(kind: str, ci_level: float, target_replicates: int) -> None:
    if kind not in KINDS:
        raise ConfigError(
            f"kind must be one of {', '.join(KINDS)}; got {kind!r} instead", key="kind"
        )
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must be in (0, 1); got {ci_level!r} instead", key="ci_level")
    if int(target_replicates) < 1:
        raise ConfigError(
            f"target_replicates must be >= 1; got {target_replicates!r} instead",
            key="target_replicates",
        )


def replicate_ceiling(
    values: Any,
    replicate_groups: Any,
    *,
    kind: str = "auto",
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    target_replicates: int = 1,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str = "values",
) -> ReplicateCeiling:
    """Measure agreement between replicates and the score ceiling it implies.

    Only samples in replicate groups of two or more are measured; a missing group (NaN) or a
    missing value leaves a sample out.

    *Continuous target* (``y = signal + noise``): Pearson and Spearman over replicate pairs
    (every pair within a group, each sample weighted once), ICC(1) and ICC(1,k0) from the
    one-way ANOVA, and the ceilings: ``ceiling_r2`` = Spearman-Brown(ICC(1), k) for a target that
    averages ``k = target_replicates`` replicates, and ``ceiling_pearson = sqrt(ceiling_r2)``, the
    correlation of the noise-free signal with that target, which no model can beat.
    *Categorical labels*: the fraction of replicate pairs with the same label, Cohen's kappa
    (every group a pair; members in input order as the two raters) or Fleiss' kappa, and
    ``ceiling_accuracy = 1 - eps`` where ``eps`` is the symmetric label-noise rate that explains
    the agreement. *Feature matrix* (AnnData, DataFrame, 2-D array, scipy.sparse): each
    replicate's profile is correlated with the rest of its group (after per-sample total scaling
    and log1p for non-negative data), read group by group in chunks of ``chunk_size`` rows.

    Confidence intervals are percentile bootstraps that resample replicate groups.

    Parameters
    ----------
    values
        The target (Series / 1-D array) or a samples x features matrix.
    replicate_groups
        The replicate group of each sample (aligned by id when both are pandas objects with ids,
        else by position).
    kind
        ``"auto"`` (matrix -> profile; text, bool or <= 10 integer levels -> categorical; else
        continuous), ``"continuous"``, ``"categorical"`` or ``"profile"``.
    n_bootstrap
        Bootstrap draws for the intervals (0: none); fewer (at least 200) when draws x groups
        would exceed :data:`MAX_BOOTSTRAP_CELLS`. The result records the number made.
    seed
        Seed of the bootstrap and of the plot subsample.
    ci_level
        Confidence level of the intervals.
    target_replicates
        Replicates averaged into the target a model is evaluated on (1: a single measurement).
    chunk_size
        Rows read at once from a feature matrix.
    name
        Input name for error messages.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = np.repeat(rng.normal(0, 2, 300), 2)  # 300 conditions x 2 replicates
    >>> y = signal + rng.normal(0, 1, 600)            # expected ICC = 4 / (4 + 1) = 0.8
    >>> res = replicate_ceiling(y, np.repeat(np.arange(300), 2), n_bootstrap=200)
    >>> round(res.estimates["icc1"], 2), round(res.estimates["ceiling_pearson"], 2)
    (0.81, 0.9)
    """
    _validate(kind, ci_level, target_replicates)
    common = {
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "ci_level": ci_level,
        "target_replicates": int(target_replicates),
    }
    if kind == "profile" or (kind == "auto" and _is_matrix(values)):
        view = as_matrix(values, name=None if name == "values" else name)
        return _profile_ceiling(view, replicate_groups, chunk_size=chunk_size, **common)
    return _target_ceiling(_vector(values), replicate_groups, kind=kind, name=name, **common)


def given_or_measured(
    result: ReplicateCeiling | None, values: Any, replicate_groups: Any, **options: Any
) -> ReplicateCeiling:
    """``result`` when a check was given one, else :func:`replicate_ceiling` of the values."""
    if result is not None:
        return result
    return replicate_ceiling(values, replicate_groups, **options)


def _profile_ceiling(
    view: MatrixView,
    replicate_groups: Any,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
    target_replicates: int,
    chunk_size: int,
) -> ReplicateCeiling:
    groups = aligned_groups(replicate_groups, view.obs_names, view.name)
    codes, names = group_codes(groups, present(groups))
    ids = view.obs_names
    if len(names) < 2:
        return _empty("profile", codes, target_replicates, ci_level, n_bootstrap)
    loo, depth, transform, pairs = profile_loo(view, codes, chunk_size=chunk_size, seed=seed)
    n_boot = n_draws(n_bootstrap, len(names))
    point, intervals = profile(loo, codes, n_bootstrap=n_boot, seed=seed, ci_level=ci_level)
    table = profile_groups(loo, depth, codes, ids, names)
    return _result(
        "profile",
        codes,
        names,
        table,
        (point, intervals),
        values=loo,
        ids=pd.Index(ids),
        pairs=pairs,
        group_size=effective_size(table["n"].to_numpy()),
        n_bootstrap=n_boot,
        ci_level=ci_level,
        target_replicates=target_replicates,
        transform=transform,
    )


def _result(
    kind: str,
    codes: np.ndarray,
    names: pd.Index,
    table: pd.DataFrame,
    estimates: tuple[dict[str, float], dict[str, tuple[float, float]]],
    *,
    values: np.ndarray,
    ids: pd.Index,
    pairs: tuple[np.ndarray, np.ndarray],
    group_size: float,
    n_bootstrap: int,
    ci_level: float,
    target_replicates: int,
    n_excluded: int = 0,
    transform: str = "",
) -> ReplicateCeiling:
    """The result of two or more groups: counts from the group table, the measured samples."""
    sel = codes >= 0
    sizes = table["n"].to_numpy()
    return ReplicateCeiling(
        kind=kind,
        n_samples=int(sel.sum()),
        n_groups=len(names),
        n_pairs=int((sizes * (sizes - 1) // 2).sum()),
        group_size=group_size,
        target_replicates=target_replicates,
        ci_level=ci_level,
        n_bootstrap=n_bootstrap,
        estimates=MappingProxyType(estimates[0]),
        intervals=MappingProxyType(estimates[1]),
        groups=table,
        samples=pd.DataFrame({"group": names[codes[sel]], "value": values[sel]}, index=ids[sel]),
        pairs=pairs,
        n_excluded=n_excluded,
        transform=transform,
    )


def _measured(y: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The values as the kind reads them (floats, or objects) and which ones are present."""
    if kind == "continuous":
        numeric = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        return numeric, np.isfinite(numeric)
    return y.astype(object).to_numpy(), y.notna().to_numpy()


def _target_ceiling(
    y: pd.Series,
    replicate_groups: Any,
    *,
    kind: str,
    name: str,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
    target_replicates: int,
) -> ReplicateCeiling:
    ids = y.index
    groups = aligned_groups(replicate_groups, ids, name)
    kind = infer_kind(y) if kind == "auto" else kind
    yv, measured = _measured(y, kind)
    in_group = present(groups)
    codes, names = group_codes(groups, measured & in_group)
    n_excluded = int((in_group & ~measured).sum())
    if len(names) < 2:
        return _empty(kind, codes, target_replicates, ci_level, n_bootstrap, n_excluded)
    n_boot = n_draws(n_bootstrap, len(names))
    common = {"n_bootstrap": n_boot, "seed": seed, "ci_level": ci_level}
    if kind == "continuous":
        point, intervals, parts, k0 = continuous(
            yv, codes, target_replicates=target_replicates, **common
        )
        table = continuous_groups(yv, codes, ids, names, parts)
        order, starts, _ = sorted_by_group(codes)
        pairs = plot_pairs(yv[order[starts]], yv[order[starts + 1]], seed)
    else:
        point, intervals, parts, _ = categorical(yv, codes, **common)
        k0 = effective_size(parts["m"])
        table = categorical_groups(parts, ids, names)
        pairs = (np.empty(0), np.empty(0))
    return _result(
        kind,
        codes,
        names,
        table,
        (point, intervals),
        values=yv,
        ids=ids,
        pairs=pairs,
        group_size=float(k0),
        n_bootstrap=n_boot,
        ci_level=ci_level,
        target_replicates=target_replicates,
        n_excluded=n_excluded,
    )


def _empty(
    kind: str,
    codes: np.ndarray,
    target_replicates: int,
    ci_level: float,
    n_bootstrap: int,
    n_excluded: int = 0,
) -> ReplicateCeiling:
    """The result for fewer than two replicate groups: counts only."""
    sel = codes >= 0
    n_groups = int(codes.max()) + 1 if sel.any() else 0
    return ReplicateCeiling(
        kind=kind,
        n_samples=int(sel.sum()),
        n_groups=n_groups,
        n_pairs=int(sel.sum() * (sel.sum() - 1) // 2) if n_groups == 1 else 0,
        group_size=float(sel.sum()),
        target_replicates=int(target_replicates),
        ci_level=ci_level,
        n_bootstrap=int(n_bootstrap),
        n_excluded=n_excluded,
    )

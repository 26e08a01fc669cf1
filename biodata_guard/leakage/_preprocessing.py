"""Scaling or normalisation fitted on all samples pooled, before the split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biodata_guard._format import fraction, subjects
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, as_matrix
from biodata_guard.leakage._common import (
    GROUP_PLACEHOLDER,
    GROUP_SPLIT,
    Splits,
    parse_splits,
    too_few_splits,
)
from biodata_guard.leakage._split_moments import SplitMoments, split_moments
from biodata_guard.registry import declare_check

PREPROCESSING_BEFORE_SPLIT = declare_check(
    "leakage.preprocessing_before_split",
    group="leakage",
    severities=("error", "warning"),
    needs=("features", "split"),
    doc="Features scaled or normalised on all samples pooled, before splitting.",
)


# --- statistics -------------------------------------------------------------------------------


def _standardised(count: float, total: np.ndarray, total_sq: np.ndarray, atol: float) -> np.ndarray:
    """Features whose mean is 0 and standard deviation (ddof 0 or 1) is 1, to ``atol``."""
    mean = total / count
    sd0 = np.sqrt(np.clip(total_sq / count - mean**2, 0.0, None))
    sd1 = sd0 * np.sqrt(count / (count - 1)) if count > 1 else sd0
    unit = (np.abs(sd0 - 1.0) <= 10 * atol) | (np.abs(sd1 - 1.0) <= 10 * atol)
    return (np.abs(mean) <= atol) & unit


def _rank_like(low: float, high: float, total: float, total_sq: float, m: int) -> bool:
    """True when the values lo, lo + d, ..., hi (m evenly spaced values) have this sum and sum
    of squares: per-sample ranks, which need no fitting.

    Examples
    --------
    >>> r = np.arange(1.0, 6.0)
    >>> _rank_like(r.min(), r.max(), r.sum(), (r**2).sum(), 5)
    True
    """
    if m < 2:
        return False
    d = (high - low) / (m - 1)
    s = m * (low + high) / 2
    q = m * low**2 + low * d * m * (m - 1) + d**2 * (m - 1) * m * (2 * m - 1) / 6
    return bool(np.isclose(total, s, rtol=1e-6) and np.isclose(total_sq, q, rtol=1e-6))


@dataclass(frozen=True)
class FeatureScan:
    """One fingerprint over the considered (non-constant, non-integer) features: the features
    that carry it over all splits pooled, and how many carry it within each sizable split.
    ``range`` is the pooled ``[min, max]`` of a range scan; ``max_abs_mean`` the largest
    |mean| per split of a standardisation scan."""

    kind: str
    pooled: np.ndarray
    per_split: dict[str, int]
    n_considered: int
    range: tuple[float, float] | None = None
    max_abs_mean: dict[str, float] | None = None

    @property
    def n_pooled(self) -> int:
        return int(self.pooled.sum())

    def fitted_on_pool(self, min_feature_fraction: float) -> bool:
        """The pool carries the fingerprint on enough features, and no split does."""
        need = min_feature_fraction * self.n_considered
        return self.n_pooled >= need and max(self.per_split.values()) < need


def _considered(mo: SplitMoments) -> np.ndarray:
    low, high = mo.low.min(axis=0), mo.high.max(axis=0)
    return (high > low) & (mo.non_integer > 0)


def standardisation_scan(
    mo: SplitMoments, sp_: Splits, sizable: list[int], atol: float
) -> FeatureScan:
    """Features with mean 0 and SD 1 pooled, and within each split of ``sizable``."""
    considered = _considered(mo)
    n = float(mo.count.sum())
    pooled = _standardised(n, mo.total.sum(axis=0), mo.total_sq.sum(axis=0), atol) & considered
    per_split = {
        sp_.names[c]: int(
            (_standardised(mo.count[c], mo.total[c], mo.total_sq[c], atol) & considered).sum()
        )
        for c in sizable
    }
    mean_dev = {
        sp_.names[c]: float(np.abs(mo.total[c][considered] / mo.count[c]).max()) for c in sizable
    }
    return FeatureScan(
        "standardised", pooled, per_split, int(considered.sum()), max_abs_mean=mean_dev
    )


def range_scan(mo: SplitMoments, sp_: Splits, sizable: list[int]) -> FeatureScan:
    """Features spanning exactly the typical pooled ``[min, max]``, pooled and per split."""
    considered = _considered(mo)
    low, high = mo.low.min(axis=0), mo.high.max(axis=0)
    lo, hi = float(np.median(low[considered])), float(np.median(high[considered]))
    tol = 1e-6 * max(1.0, hi - lo)

    def spans(lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
        return considered & (np.abs(lows - lo) <= tol) & (np.abs(highs - hi) <= tol)

    per_split = {sp_.names[c]: int(spans(mo.low[c], mo.high[c]).sum()) for c in sizable}
    return FeatureScan("range", spans(low, high), per_split, int(considered.sum()), range=(lo, hi))


@dataclass(frozen=True)
class RowScan:
    """Samples (rows with a split) whose sorted values match the median sample's: same sum,
    sum of squares, minimum and maximum (``median``, in that order); whether those are simply
    per-sample ranks; and the matching samples per split."""

    same: np.ndarray
    median: np.ndarray
    rank_like: bool
    per_split: dict[str, int]

    def quantile_normalised(self, min_feature_fraction: float) -> bool:
        return self.same.sum() >= min_feature_fraction * len(self.same) and not self.rank_like


def quantile_row_scan(mo: SplitMoments, sp_: Splits, n_vars: int) -> RowScan | None:
    """Rows with identical sorted values; None with fewer than 3 varying rows or features."""
    in_split = sp_.codes >= 0
    rows = mo.rows[in_split]
    varying = rows[:, 3] > rows[:, 2]
    if varying.sum() < 3 or n_vars < 3:
        return None
    med = np.median(rows[varying], axis=0)
    same = varying & np.all(np.abs(rows - med) <= 1e-6 * np.maximum(1.0, np.abs(med)), axis=1)
    codes = sp_.codes[in_split]
    per_split = {sp_.names[c]: int(same[codes == c].sum()) for c in range(len(sp_.names))}
    return RowScan(same, med, _rank_like(med[2], med[3], med[0], med[1], n_vars), per_split)


# --- findings ---------------------------------------------------------------------------------


def _within_splits(st: FeatureScan) -> str:
    """How many features carry the fingerprint within the splits: "none within any split",
    or the largest count with its split."""
    worst = max(st.per_split, key=lambda s: st.per_split[s])
    if st.per_split[worst] == 0:
        return "none within any split"
    return f"only {fraction(st.per_split[worst], st.n_considered)} within '{worst}'"


def _standardised_finding(
    st: FeatureScan, *, name: str, n_features: int, var_names: Any, settings: dict, hint: str
) -> Finding:
    return Finding(
        PREPROCESSING_BEFORE_SPLIT,
        Severity.ERROR,
        f"{name}: {fraction(st.n_pooled, st.n_considered)} features have mean 0 and standard "
        f"deviation 1 exactly over all splits pooled, but {_within_splits(st)} (largest "
        f"|mean| per split: "
        f"{', '.join(f'{s} {v:.3g}' for s, v in st.max_abs_mean.items())}); the scaler was "
        "fitted on all samples before splitting",
        evidence={
            "kind": "standardised",
            "n_features": n_features,
            "n_features_considered": st.n_considered,
            "n_pooled_exact": st.n_pooled,
            "split_exact": st.per_split,
            "max_abs_split_mean": st.max_abs_mean,
            "min_feature_fraction": settings["min_feature_fraction"],
            "atol": settings["atol"],
        },
        subjects=subjects(var_names[st.pooled]),
        hint=hint,
        input=name,
    )


def _range_finding(
    st: FeatureScan, *, name: str, n_features: int, var_names: Any, settings: dict, hint: str
) -> Finding:
    lo, hi = st.range
    return Finding(
        PREPROCESSING_BEFORE_SPLIT,
        Severity.ERROR,
        f"{name}: {fraction(st.n_pooled, st.n_considered)} features span exactly "
        f"[{lo:.6g}, {hi:.6g}] over all splits pooled, but {_within_splits(st)} "
        f"({', '.join(f'{s}: {v}' for s, v in st.per_split.items())}); "
        "min-max or quantile scaling was fitted on all samples before splitting",
        evidence={
            "kind": "range",
            "range": [lo, hi],
            "n_features": n_features,
            "n_features_considered": st.n_considered,
            "n_pooled_exact": st.n_pooled,
            "split_exact": st.per_split,
            "min_feature_fraction": settings["min_feature_fraction"],
        },
        subjects=subjects(var_names[st.pooled]),
        hint=hint,
        input=name,
    )


def _quantile_rows_finding(
    st: RowScan, *, name: str, ids: Any, min_feature_fraction: float, fix: str
) -> Finding:
    k, n_rows, med = int(st.same.sum()), len(st.same), st.median
    return Finding(
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
            "per_split": st.per_split,
            "row_sum": med[0],
            "row_sum_of_squares": med[1],
            "row_min": med[2],
            "row_max": med[3],
            "min_feature_fraction": min_feature_fraction,
        },
        subjects=subjects(ids[st.same]),
        hint="Normalise the training samples alone and map the others onto the "
        "training reference (preprocessCore::normalize.quantiles.use.target), after "
        f"splitting with {fix}",
        input=name,
    )


# --- the check --------------------------------------------------------------------------------


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
    group_cols: Sequence[str] = (),
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

    A scaler fitted on the pooled samples (standardisation, range scaling) is an ``error``:
    the test samples informed the transform of the training samples. Quantile normalisation
    across samples is a ``warning``: a reference taken from the training samples and applied to
    the others leaves the same fingerprint. Feature selection fitted on all data is not
    detectable from the matrix alone. An ``info`` says so when there
    are fewer than 2 splits or no features.

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
    sp_ = parse_splits(splits, view.n_obs, name, split_col)
    S = len(sp_.names)
    if S < 2 or view.n_vars < 1:
        reason = too_few_splits(sp_, split_col) if S < 2 else "the matrix has no features"
        return [not_checked(PREPROCESSING_BEFORE_SPLIT, reason, input=name)]
    mo = split_moments(view, sp_.codes, S, chunk_size)
    groups = list(group_cols) or [GROUP_PLACEHOLDER]
    fix = f"{GROUP_SPLIT}(df, label_col={label_col!r}, group_cols={groups!r})"
    out = []
    sizable = [c for c in range(S) if mo.count[c] >= 2]
    if int(_considered(mo).sum()) >= 2 and sizable:
        common = {
            "name": name,
            "n_features": view.n_vars,
            "var_names": view.var_names,
            "settings": {"min_feature_fraction": min_feature_fraction, "atol": atol},
            "hint": "Split first, then fit every scaler/normaliser on the training split only "
            "and apply it to the others (sklearn.pipeline.make_pipeline(StandardScaler(), "
            f"model) fitted inside each fold); split with {fix}",
        }
        std = standardisation_scan(mo, sp_, sizable, atol)
        if std.fitted_on_pool(min_feature_fraction):
            out.append(_standardised_finding(std, **common))
        rng = range_scan(mo, sp_, sizable)
        if rng.fitted_on_pool(min_feature_fraction):
            out.append(_range_finding(rng, **common))
    rows = quantile_row_scan(mo, sp_, view.n_vars)
    if rows is not None and rows.quantile_normalised(min_feature_fraction):
        ids = view.obs_names[sp_.codes >= 0]
        out.append(
            _quantile_rows_finding(
                rows, name=name, ids=ids, min_feature_fraction=min_feature_fraction, fix=fix
            )
        )
    return out

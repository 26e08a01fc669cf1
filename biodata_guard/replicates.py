"""Replicate agreement and the performance ceiling it implies; outlier replicate groups."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special, stats

from biodata_guard._context import AuditContext
from biodata_guard._format import MAX_SUBJECTS, fraction, preview, subjects
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import (
    DEFAULT_CHUNK_ROWS,
    MatrixView,
    NonFiniteError,
    _is_anndata,
    as_matrix,
    require_finite,
)

__all__ = [
    "CEILING",
    "CHECK_IDS",
    "LOW_AGREEMENT",
    "MAX_BOOTSTRAP_CELLS",
    "METRICS",
    "SCORE_ABOVE_CEILING",
    "ReplicateCeiling",
    "audit_replicates",
    "check_replicate_agreement",
    "check_replicate_ceiling",
    "replicate_ceiling",
]

CEILING = "replicates.ceiling"
SCORE_ABOVE_CEILING = "replicates.score_above_ceiling"
LOW_AGREEMENT = "replicates.low_agreement"
CHECK_IDS = (CEILING, SCORE_ABOVE_CEILING, LOW_AGREEMENT)

KINDS = ("auto", "continuous", "categorical", "profile")

#: Reported-metric spellings -> the ceiling they are compared with (see ReplicateCeiling.ceiling).
METRICS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            ("pearson", "r", "pearson_r", "pearsonr", "correlation", "corr"), "pearson"
        ),
        **dict.fromkeys(("spearman", "rho", "spearman_r", "spearmanr", "spearman_rho"), "spearman"),
        **dict.fromkeys(
            (
                "r2",
                "r^2",
                "r_squared",
                "rsquared",
                "r2_score",
                "explained_variance",
                "coefficient_of_determination",
            ),
            "r2",
        ),
        **dict.fromkeys(("accuracy", "acc", "accuracy_score"), "accuracy"),
        **dict.fromkeys(
            ("balanced_accuracy", "balanced_acc", "bacc", "balanced_accuracy_score"),
            "balanced_accuracy",
        ),
        **dict.fromkeys(
            ("kappa", "cohen_kappa", "cohens_kappa", "cohen_kappa_score", "fleiss_kappa"), "kappa"
        ),
    }
)
_METRIC_KIND = {
    "pearson": "continuous",
    "spearman": "continuous",
    "r2": "continuous",
    "accuracy": "categorical",
    "balanced_accuracy": "categorical",
    "kappa": "categorical",
}
_CEILING_KEY = {
    "pearson": "ceiling_pearson",
    "spearman": "ceiling_spearman",
    "r2": "ceiling_r2",
    "accuracy": "ceiling_accuracy",
    "balanced_accuracy": "ceiling_accuracy",
    "kappa": "ceiling_kappa",
}
#: Plot data never holds more replicate pairs (points) than this.
MAX_PLOT_POINTS = 2000
#: Bootstrap draws x groups held in memory at once.
_BOOT_CELLS = 4_000_000
#: Total bootstrap draws x groups; beyond it fewer draws are made (never fewer than 200).
MAX_BOOTSTRAP_CELLS = 50_000_000
_MAD_SCALE = 1.4826
_GROUP_HINT = (
    "Keep replicates of one condition together when splitting: "
    "sklearn.model_selection.GroupKFold(n_splits=5).split(X, y, groups=df['{col}'])"
)


@dataclass(frozen=True, eq=False)
class ReplicateCeiling:
    """Agreement between replicates and the best score any model can reach on that target.

    Attributes
    ----------
    kind
        ``"continuous"`` (a numeric target), ``"categorical"`` (class labels) or ``"profile"``
        (a feature matrix: agreement of replicate profiles).
    n_samples, n_groups, n_pairs
        Samples in replicate groups of two or more (the only ones measured), those groups, and
        the unordered replicate pairs they form.
    group_size
        The effective number of replicates per group, ``k0 = (N - sum(m_g^2) / N) / (G - 1)``
        (the mean group size when groups are equal).
    target_replicates
        ``k``: the number of replicates averaged into the target a model is scored on (1: each
        row is one replicate measurement). The ceilings are Spearman-Brown-corrected to ``k``.
    estimates
        Point estimates by name. Continuous: ``pearson`` and ``spearman`` (over replicate pairs,
        each sample weighted once), ``icc1`` (one-way random ICC(1)), ``icck`` (ICC(1,k0), the
        reliability of a group mean), ``ceiling_r2`` (Spearman-Brown of ICC(1) to ``k``),
        ``ceiling_pearson`` (its square root: the correlation between the true signal and the
        target), ``ceiling_spearman`` (the same from the Spearman agreement). Categorical:
        ``agreement`` (fraction of replicate pairs with the same label), ``fleiss_kappa``,
        ``cohen_kappa`` (when every group is a pair), ``kappa`` (Cohen's for pairs, else
        Fleiss'), ``chance_agreement``, ``label_noise`` (the symmetric per-label error rate that
        explains the agreement), ``ceiling_accuracy`` (``1 - label_noise``) and
        ``ceiling_kappa``. Profile: ``profile_r`` (the Fisher-z mean of each replicate's
        correlation with the rest of its group) and ``profile_r_median``.
    intervals
        Bootstrap confidence intervals (groups resampled with replacement) for the estimates.
    groups
        One row per replicate group (index: the group): ``n``, ``disagreement`` (continuous:
        within-group SD; categorical: fraction of discordant pairs; profile: 1 - the lowest
        member's leave-one-out correlation), ``score`` (continuous: normal score of the group's
        within-group variance against the robust pooled variance; profile: robust z of the
        lowest member's Fisher-z correlation against the median/MAD of all groups, after
        removing its trend on the shallowest member's library size for non-negative data;
        categorical: the disagreement) and ``outlier`` (the member furthest from the rest; None
        for a pair, where either member may be the wrong one).
    samples
        One row per measured sample (index: sample id): ``group`` and ``value`` (the target, or
        the profile leave-one-out correlation).
    pairs
        ``(a, b)``: one replicate against another, at most 2000 points, for plotting (empty for
        categorical labels).
    transform
        For profiles: how the matrix was scaled before correlating.
    """

    kind: str
    n_samples: int
    n_groups: int
    n_pairs: int
    group_size: float
    target_replicates: int = 1
    ci_level: float = 0.95
    n_bootstrap: int = 0
    estimates: Mapping[str, float] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
    n_excluded: int = 0
    transform: str = ""

    def ceiling(self, metric: str) -> tuple[float, float, float]:
        """``(estimate, ci_low, ci_high)`` of the ceiling for a reported metric.

        ``metric`` is any spelling in :data:`METRICS` (pearson, spearman, r2, accuracy,
        balanced_accuracy, kappa ...).

        Raises
        ------
        ConfigError
            The metric is unknown or does not fit this kind of target.
        """
        key = _metric_key(metric)
        if _METRIC_KIND[key] != self.kind:
            fits = sorted(k for k, v in _METRIC_KIND.items() if v == self.kind)
            raise ConfigError(
                f"reported_metric '{metric}' does not fit a {self.kind} target; "
                f"choose from {', '.join(fits) or 'none (profiles have no score ceiling)'}",
                key="expectations.reported_metric",
                hint="Report a metric of the kind of the label column "
                "(pearson / spearman / r2 for numbers; accuracy / balanced_accuracy / kappa "
                "for classes).",
            )
        name = _CEILING_KEY[key]
        value = self.estimates.get(name, math.nan)
        lo, hi = self.intervals.get(name, (math.nan, math.nan))
        return value, lo, hi

    def evidence(self) -> dict[str, Any]:
        """The numbers, JSON-ready: counts, estimates and ``<name>_ci`` intervals."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "n_samples": self.n_samples,
            "n_groups": self.n_groups,
            "n_pairs": self.n_pairs,
            "group_size": self.group_size,
            "target_replicates": self.target_replicates,
            "ci_level": self.ci_level,
            "n_bootstrap": self.n_bootstrap,
            "n_excluded": self.n_excluded,
        }
        if self.transform:
            out["transform"] = self.transform
        for key, value in self.estimates.items():
            out[key] = value
            if key in self.intervals:
                out[f"{key}_ci"] = list(self.intervals[key])
        return out


# --- helpers ----------------------------------------------------------------------------------


def _metric_key(metric: str) -> str:
    norm = str(metric).strip().lower().replace("-", "_").replace(" ", "_")
    if norm not in METRICS:
        close = difflib.get_close_matches(norm, list(METRICS), n=1, cutoff=0.6)
        raise ConfigError(
            f"reported_metric must be one of {', '.join(sorted(set(METRICS.values())))}; "
            f"got '{metric}' instead",
            key="expectations.reported_metric",
            hint=(f"Did you mean '{close[0]}'? " if close else "")
            + "Set expectations.reported_metric (or --reported-metric).",
        )
    return METRICS[norm]


def _check_reported(metric: str | None, score: float | None) -> None:
    if (metric is None) != (score is None):
        raise ConfigError(
            "reported_metric and reported_score go together; got only "
            + ("reported_metric" if score is None else "reported_score"),
            key="expectations.reported_score",
            hint="Give both, e.g. --reported-metric pearson --reported-score 0.91.",
        )
    if metric is not None:
        _metric_key(metric)
    if score is not None and not np.isfinite(float(score)):
        raise ConfigError(
            f"reported_score must be a finite number; got {score!r} instead",
            key="expectations.reported_score",
            hint="Pass the model's score, e.g. --reported-score 0.91.",
        )


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


def _aligned_groups(groups: Any, index: pd.Index, name: str) -> np.ndarray:
    """The replicate groups in the order of ``index`` (by id when both carry ids)."""
    if isinstance(groups, pd.Series):
        g_index = pd.Index(groups.index.astype(str))
        ids = pd.Index(index.astype(str))
        if not g_index.equals(ids) and g_index.is_unique and ids.isin(g_index).any():
            return groups.set_axis(g_index).reindex(ids).to_numpy()  # unmatched: no group
        out = groups.to_numpy()
    else:
        out = np.asarray(groups, dtype=object)
    if out.ndim != 1 or len(out) != len(index):
        raise InputError(
            f"{name}: replicate_groups must have one entry per sample; got {len(out)} for "
            f"{len(index)} samples",
            path=name,
            hint="Pass the replicate-group column aligned with the values "
            "(e.g. metadata.set_index('sample_id').loc[X.index, 'replicate_group']).",
        )
    return out


def _group_codes(groups: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes 0..G-1 for groups with >= 2 usable members (in order of first appearance), -1
    elsewhere."""
    codes, uniques = pd.factorize(pd.Series(groups, dtype=object), use_na_sentinel=True)
    codes = np.where(usable, codes, -1)
    if len(uniques) == 0:
        return codes, pd.Index([])
    sizes = np.bincount(codes[codes >= 0], minlength=len(uniques))
    keep = sizes >= 2
    remap = np.full(len(uniques), -1)
    remap[keep] = np.arange(int(keep.sum()))
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return codes, pd.Index(uniques[keep])


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size < 2:
        return (math.nan, math.nan)
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def _n_draws(n_bootstrap: int, n_groups: int) -> int:
    """The bootstrap draws actually made: ``n_bootstrap``, capped so that draws x groups stays
    under :data:`MAX_BOOTSTRAP_CELLS` (the intervals are narrow by then anyway)."""
    n_bootstrap = max(0, int(n_bootstrap))
    if n_bootstrap * max(1, n_groups) <= MAX_BOOTSTRAP_CELLS:
        return n_bootstrap
    return min(n_bootstrap, max(200, MAX_BOOTSTRAP_CELLS // n_groups))


def _bootstrap(n_groups: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Group-resampling weights, in blocks of draws: how often each group is drawn when
    ``n_groups`` groups are resampled with replacement."""
    rng = np.random.default_rng(seed)
    block = max(1, _BOOT_CELLS // max(1, n_groups))
    done = 0
    while done < n_bootstrap:
        b = min(block, n_bootstrap - done)
        picks = rng.integers(0, n_groups, size=(b, n_groups))
        picks += np.arange(b)[:, None] * n_groups
        counts = np.bincount(picks.ravel(), minlength=b * n_groups)
        yield counts.reshape(b, n_groups).astype(np.float64)
        done += b


def _spearman_brown(r: np.ndarray | float, k: float) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return k * r / (1.0 + (k - 1.0) * r)


def _sqrt0(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(x, 0.0, 1.0))


def _sorted_by_group(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of grouped samples sorted by (group, position); group starts and sizes."""
    pos = np.flatnonzero(codes >= 0)
    order = pos[np.argsort(codes[pos], kind="stable")]
    sizes = np.bincount(codes[order])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return order, starts, sizes


def _plot_pairs(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(a) > MAX_PLOT_POINTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(a), MAX_PLOT_POINTS, replace=False))
        a, b = a[pick], b[pick]
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


# --- continuous -------------------------------------------------------------------------------


def _continuous_stats(C: np.ndarray, V: np.ndarray) -> dict[str, np.ndarray]:
    """Pair correlations and ICCs for group weights ``C`` (rows: bootstrap draws), from the
    per-group columns ``V`` of :func:`_continuous_columns`, in one matrix product.

    With per-group sums ``T`` and sums of squares ``U``, the double-entry pair correlation
    (every ordered pair of replicates, each weighted 1/(m-1) so that each sample counts once) is
    ``(sum a_g - T.^2/N) / (sum U_g - T.^2/N)`` with ``a_g = (T_g^2 - U_g)/(m_g - 1)``: no pair
    is ever enumerated.
    """
    N, m2, T, U, a, Tr, Ur, ar, between = (C @ V).T
    with np.errstate(divide="ignore", invalid="ignore"):
        G = C.sum(axis=1)
        tot, tot_r = T**2 / N, Tr**2 / N
        ssb = between - tot
        ssw = U - between
        msb = ssb / (G - 1.0)
        msw = ssw / (N - G)
        k0 = (N - m2 / N) / (G - 1.0)
        return {
            "pearson": (a - tot) / (U - tot),
            "spearman": (ar - tot_r) / (Ur - tot_r),
            "icc1": (msb - msw) / (msb + (k0 - 1.0) * msw),
            "icck": (msb - msw) / msb,
            "k0": k0,
        }


def _continuous_columns(y: np.ndarray, gc: np.ndarray, G: int) -> np.ndarray:
    """Per-group sufficient statistics (G x 9) of centred values and centred ranks."""
    y = y - y.mean()  # shift-invariant statistics; centring avoids cancellation
    r = stats.rankdata(y)
    r -= r.mean()
    m = np.bincount(gc, minlength=G).astype(np.float64)
    T, U = np.bincount(gc, y, minlength=G), np.bincount(gc, y**2, minlength=G)
    Tr, Ur = np.bincount(gc, r, minlength=G), np.bincount(gc, r**2, minlength=G)
    return np.column_stack(
        [m, m**2, T, U, (T**2 - U) / (m - 1.0), Tr, Ur, (Tr**2 - Ur) / (m - 1.0), T**2 / m]
    )


def _continuous(
    y: np.ndarray,
    codes: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
    target_replicates: int,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, np.ndarray], float]:
    G = int(codes.max()) + 1
    sel = codes >= 0
    V = _continuous_columns(y[sel].astype(np.float64), codes[sel], G)

    def derived(C: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        raw = _continuous_stats(C, V)
        r2 = np.clip(_spearman_brown(raw["icc1"], target_replicates), 0.0, 1.0)
        out = {
            "pearson": raw["pearson"],
            "spearman": raw["spearman"],
            "icc1": raw["icc1"],
            "icck": raw["icck"],
            "ceiling_r2": r2,
            "ceiling_pearson": np.sqrt(r2),
            "ceiling_spearman": _sqrt0(_spearman_brown(raw["spearman"], target_replicates)),
        }
        return out, raw["k0"]

    point_draw, k0 = derived(np.ones((1, G)))
    point = {k: float(v[0]) for k, v in point_draw.items()}
    intervals: dict[str, tuple[float, float]] = {}
    if n_bootstrap > 0:
        draws: dict[str, list[np.ndarray]] = {k: [] for k in point}
        for C in _bootstrap(G, n_bootstrap, seed):
            for k, v in derived(C)[0].items():
                draws[k].append(v)
        intervals = {k: _percentile_ci(np.concatenate(v), ci_level) for k, v in draws.items()}
    m, T, U = V[:, 0], V[:, 2], V[:, 3]
    ss = U - T**2 / m
    return point, intervals, {"m": m, "ss": ss}, float(k0[0])


def _continuous_groups(
    y: np.ndarray, codes: np.ndarray, ids: pd.Index, names: pd.Index, parts: dict[str, np.ndarray]
) -> pd.DataFrame:
    m, ss = parts["m"], np.maximum(parts["ss"], 0.0)
    df = m - 1.0
    sizes, which = np.unique(df, return_inverse=True)  # few distinct group sizes
    ratio_median = stats.chi2.median(sizes)[which]
    sigma2 = float(np.median(ss / ratio_median))
    if sigma2 <= 0:
        sigma2 = float(ss.sum() / df.sum())
    score = np.zeros(len(m))
    if sigma2 > 0:
        sf = np.empty(len(m))
        for j, k in enumerate(sizes):
            at = which == j
            x = ss[at] / sigma2
            # pairs (1 df): P(chi2 > x) = erfc(sqrt(x / 2)), much faster than chi2.sf
            sf[at] = special.erfc(np.sqrt(x / 2.0)) if k == 1 else stats.chi2.sf(x, k)
        score = stats.norm.isf(np.maximum(sf, 1e-300))
    sel = np.flatnonzero(codes >= 0)
    gc = codes[sel]
    # outlier: the member furthest from its group mean
    dev = np.abs(y[sel] - (np.bincount(gc, y[sel]) / m)[gc])
    order = np.lexsort((-dev, gc))
    first = order[np.r_[0, np.cumsum(np.bincount(gc))[:-1]]]
    return pd.DataFrame(
        {
            "n": m.astype(np.int64),
            "disagreement": np.sqrt(ss / df),
            "score": score,
            "outlier": _outlier(ids[sel][first], m),
        },
        index=names,
    )


def _outlier(members: Any, sizes: np.ndarray) -> np.ndarray:
    """The worst member per group; None for pairs, where either member may be the wrong one."""
    return np.where(np.asarray(sizes) > 2, np.asarray(members, dtype=object), None)


# --- categorical ------------------------------------------------------------------------------


def _categorical_stats(C: np.ndarray, V: np.ndarray, K: int, pairs: bool) -> dict[str, np.ndarray]:
    """Agreement and kappas for group weights ``C`` from the per-group columns ``V`` of
    :func:`_categorical` (one matrix product): ``m``, agreeing ordered pairs / (m - 1), the
    class counts (K), and for pair designs the pair agreement and each rater's one-hot label."""
    S = C @ V
    N, agree_w = S[:, 0], S[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = agree_w / N
        p_e = ((S[:, 2 : 2 + K] / N[:, None]) ** 2).sum(axis=1)
        out = {
            "agreement": p_bar,
            "chance_agreement": p_e,
            "fleiss_kappa": (p_bar - p_e) / (1.0 - p_e),
        }
        if pairs:
            G = C.sum(axis=1)
            po = S[:, 2 + K] / G
            first = S[:, 3 + K : 3 + 2 * K] / G[:, None]
            second = S[:, 3 + 2 * K : 3 + 3 * K] / G[:, None]
            pe = (first * second).sum(axis=1)
            out["cohen_kappa"] = (po - pe) / (1.0 - pe)
        return out


def _noise_ceiling(agreement: np.ndarray, p_e: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Symmetric label noise eps explaining the pair agreement: ``(1-eps)^2 + eps^2/(K-1)``.

    A model that predicts the true class scores ``1 - eps`` against one replicate's label; its
    kappa is ``(1 - eps - p_e) / (1 - p_e)``. Below chance agreement eps is ``1 - 1/K``.
    """
    K = max(2, n_classes)
    a = K / (K - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = np.clip(1.0 - a * (1.0 - agreement), 0.0, None)
        eps = np.clip((1.0 - np.sqrt(disc)) / a, 0.0, 1.0 - 1.0 / K)
        acc = 1.0 - eps
        return {
            "label_noise": eps,
            "ceiling_accuracy": acc,
            "ceiling_kappa": (acc - p_e) / (1.0 - p_e),
        }


def _categorical(
    y: np.ndarray,
    codes: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, np.ndarray], int]:
    G = int(codes.max()) + 1
    order, starts, sizes = _sorted_by_group(codes)
    labels, classes = pd.factorize(pd.Series(y[order], dtype=object))
    K = len(classes)
    gc = codes[order]
    counts = np.zeros((G, K))
    np.add.at(counts, (gc, labels), 1.0)
    m = sizes.astype(np.float64)
    agree = (counts * (counts - 1.0)).sum(axis=1)
    columns = [m, agree / (m - 1.0), counts]
    pairs = bool((sizes == 2).all())
    if pairs:
        eye = np.eye(K)
        a, b = labels[starts], labels[starts + 1]
        columns += [(a == b).astype(np.float64), eye[a], eye[b]]
    V = np.column_stack(columns)

    def derived(C: np.ndarray) -> dict[str, np.ndarray]:
        raw = _categorical_stats(C, V, K, pairs)
        raw["kappa"] = raw.get("cohen_kappa", raw["fleiss_kappa"])
        raw.update(_noise_ceiling(raw["agreement"], raw["chance_agreement"], K))
        return raw

    point = {k: float(v[0]) for k, v in derived(np.ones((1, G))).items()}
    intervals: dict[str, tuple[float, float]] = {}
    if n_bootstrap > 0:
        draws: dict[str, list[np.ndarray]] = {k: [] for k in point}
        for C in _bootstrap(G, n_bootstrap, seed):
            for k, v in derived(C).items():
                draws[k].append(v)
        intervals = {k: _percentile_ci(np.concatenate(v), ci_level) for k, v in draws.items()}
    parts = {
        "m": m,
        "disagreement": 1.0 - agree / (m * (m - 1.0)),
        "order": order,
        "labels": labels,
        "counts": counts,
    }
    return point, intervals, parts, K


# --- profiles (feature matrix) ----------------------------------------------------------------


def _row_batches(
    starts: np.ndarray, sizes: np.ndarray, chunk_size: int
) -> Iterator[tuple[int, int]]:
    """Consecutive runs of whole groups ``[g0, g1)`` holding at most ``chunk_size`` rows (a
    larger group forms a batch of its own)."""
    G = len(sizes)
    g0 = 0
    ends = np.cumsum(sizes)
    while g0 < G:
        base = ends[g0] - sizes[g0]
        g1 = int(np.searchsorted(ends, base + max(chunk_size, sizes[g0]), side="right"))
        g1 = max(g1, g0 + 1)
        yield g0, g1
        g0 = g1


def _scale_rows(block: Any, log_scale: bool, target: float) -> Any:
    if sp.issparse(block):
        block = sp.csr_matrix(block, dtype=np.float64, copy=True)
        if log_scale:
            totals = np.asarray(block.sum(axis=1)).ravel()
            scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
            block.data *= np.repeat(scale, np.diff(block.indptr))
            np.log1p(block.data, out=block.data)
        return block
    block = np.array(block, dtype=np.float64, copy=True)
    if log_scale:
        totals = block.sum(axis=1)
        scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
        block *= scale[:, None]
        np.log1p(block, out=block)
    return block


def _row_dot(A: Any, B: Any) -> np.ndarray:
    if sp.issparse(A):
        return np.asarray(A.multiply(B).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", A, B)


#: Rows sampled (seeded) to choose the profile transform, whatever the chunk size.
_SCALE_SAMPLE_ROWS = 1000


class _NegativeValues(Exception):
    """A block holds negative values although the sampled rows did not."""


def _profile_scale(
    view: MatrixView, order: np.ndarray, chunk_size: int, seed: int
) -> tuple[bool, float]:
    """Log-scale non-negative data (per-sample total scaling to the median total, then log1p),
    decided on a seeded sample of at most 1000 grouped rows."""
    rows = order
    if len(rows) > _SCALE_SAMPLE_ROWS:
        rows = np.random.default_rng(seed).choice(order, _SCALE_SAMPLE_ROWS, replace=False)
    rows = np.sort(rows)
    lowest, totals = math.inf, []
    for start in range(0, len(rows), max(1, chunk_size)):
        block = view.rows(rows[start : start + chunk_size])
        require_finite(block, view.name, purpose="replicate profiles need finite numbers")
        if sp.issparse(block):
            low = float(block.data.min()) if block.nnz else 0.0
        else:
            low = float(block.min()) if block.size else 0.0
        lowest = min(lowest, low)
        totals.append(np.asarray(block.sum(axis=1), dtype=np.float64).ravel())
    if not lowest >= 0:
        return False, 1.0
    all_totals = np.concatenate(totals)
    positive = all_totals[all_totals > 0]
    return True, float(np.median(positive)) if len(positive) else 1.0


def _profile_loo(
    view: MatrixView, codes: np.ndarray, *, chunk_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, str, tuple[np.ndarray, np.ndarray]]:
    """Each grouped sample's Pearson correlation (over features) with the sum of the other
    members of its group, in one pass over the grouped rows, sparse-safe.

    Rows are read group by group (whole groups per batch of at most ``chunk_size`` rows). With
    ``x`` a sample and ``S`` its group's sum, the correlation of ``x`` with ``S - x`` follows
    from ``<x, S>``, ``|x|^2``, ``|S|^2`` and the row sums: nothing is centred, so sparse blocks
    stay sparse.
    """
    order, _, _ = _sorted_by_group(codes)
    log_scale, target = _profile_scale(view, order, chunk_size, seed)
    try:
        return _profile_pass(view, codes, log_scale, target, chunk_size=chunk_size, seed=seed)
    except _NegativeValues:
        return _profile_pass(view, codes, False, 1.0, chunk_size=chunk_size, seed=seed)


def _profile_pass(
    view: MatrixView,
    codes: np.ndarray,
    log_scale: bool,
    target: float,
    *,
    chunk_size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, str, tuple[np.ndarray, np.ndarray]]:
    order, starts, sizes = _sorted_by_group(codes)
    p = view.n_vars
    loo = np.full(view.n_obs, np.nan)
    depth = np.full(view.n_obs, np.nan)  # row totals before scaling (non-negative data)
    transform = f"per-sample total scaling to {target:.6g} + log1p" if log_scale else "none"
    rng = np.random.default_rng(seed)
    G = len(sizes)
    n_plot_genes = min(p, max(1, -(-MAX_PLOT_POINTS // max(1, min(G, MAX_PLOT_POINTS)))))
    plot_genes = np.sort(rng.choice(p, n_plot_genes, replace=False))
    pa: list[np.ndarray] = []
    pb: list[np.ndarray] = []
    n_points = 0
    for g0, g1 in _row_batches(starts, sizes, chunk_size):
        lo, hi = starts[g0], starts[g1 - 1] + sizes[g1 - 1]
        pos = order[lo:hi]
        srt = np.argsort(pos, kind="stable")
        block = view.rows(pos[srt])
        require_finite(block, view.name, purpose="replicate profiles need finite numbers")
        if log_scale:
            values = block.data if sp.issparse(block) else block
            if values.size and values.min() < 0:
                raise _NegativeValues
            depth[pos[srt]] = np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
        X = _scale_rows(block, log_scale, target)
        inv = np.empty_like(srt)
        inv[srt] = np.arange(len(srt))
        X = X[inv]  # rows back in group order
        local = codes[pos] - g0
        n_local = g1 - g0
        ind = sp.csr_matrix(
            (np.ones(len(local)), (local, np.arange(len(local)))), shape=(n_local, len(local))
        )
        S = ind @ X
        if sp.issparse(S):
            S = sp.csr_matrix(S)
            S_rows = S[local]
        else:
            S_rows = S[local]
        xs = np.asarray(X.sum(axis=1)).ravel()
        xx = _row_dot(X, X)
        xS = _row_dot(X, S_rows)
        SS = _row_dot(S, S)[local]
        Ts = np.bincount(local, xs, minlength=n_local)[local]
        dot_ab = xS - xx
        sum_a, sum_b = xs, Ts - xs
        bb = SS - 2.0 * xS + xx
        with np.errstate(divide="ignore", invalid="ignore"):
            var_a = p * xx - sum_a**2
            var_b = p * bb - sum_b**2
            r = (p * dot_ab - sum_a * sum_b) / np.sqrt(var_a * var_b)
        r = np.where((var_a > 1e-12 * np.maximum(p * xx, 1.0)) & (var_b > 0), r, 0.0)
        loo[pos] = np.clip(r, -1.0, 1.0)
        if n_points < MAX_PLOT_POINTS:
            heads = starts[g0:g1] - lo
            Xa = X[heads][:, plot_genes]
            Xb = X[heads + 1][:, plot_genes]
            if sp.issparse(Xa):
                Xa, Xb = Xa.toarray(), Xb.toarray()
            pa.append(np.asarray(Xa).ravel())
            pb.append(np.asarray(Xb).ravel())
            n_points += pa[-1].size
    a = np.concatenate(pa)[:MAX_PLOT_POINTS] if pa else np.empty(0)
    b = np.concatenate(pb)[:MAX_PLOT_POINTS] if pb else np.empty(0)
    return loo, depth, transform, (a, b)


def _profile(
    loo: np.ndarray, codes: np.ndarray, *, n_bootstrap: int, seed: int, ci_level: float
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    G = int(codes.max()) + 1
    sel = codes >= 0
    z = np.arctanh(np.clip(loo[sel], -0.999999, 0.999999))
    gc = codes[sel]
    m = np.bincount(gc, minlength=G).astype(np.float64)
    zs = np.bincount(gc, z, minlength=G)
    point = {
        "profile_r": float(np.tanh(zs.sum() / m.sum())),
        "profile_r_median": float(np.median(loo[sel])),
    }
    intervals: dict[str, tuple[float, float]] = {}
    if n_bootstrap > 0:
        draws = [np.tanh((C @ zs) / (C @ m)) for C in _bootstrap(G, n_bootstrap, seed)]
        intervals["profile_r"] = _percentile_ci(np.concatenate(draws), ci_level)
    return point, intervals


def _robust_low_scores(value: np.ndarray) -> np.ndarray:
    """Robust z of how far each value lies *below* the median (median / MAD; mean absolute
    deviation when the MAD is 0)."""
    med = float(np.median(value))
    dev = np.abs(value - med)
    scale = _MAD_SCALE * float(np.median(dev))
    if scale <= 0:
        scale = 1.2533 * float(dev.mean())
    if scale <= 0:
        return np.zeros(len(value))
    return (med - value) / scale


def _depth_residuals(z: np.ndarray, log_depth: np.ndarray) -> np.ndarray:
    """``z`` minus its robust linear trend on ``log_depth`` (least squares, refitted twice
    without points beyond 3 robust SDs): shallow libraries agree less, swaps stand out."""
    keep = np.isfinite(log_depth)
    if keep.sum() < 10 or np.ptp(log_depth[keep]) <= 0:
        return z
    A = np.c_[np.ones(len(z)), np.where(keep, log_depth, 0.0)]
    use = keep.copy()
    resid = z
    for _ in range(3):
        coef = np.linalg.lstsq(A[use], z[use], rcond=None)[0]
        resid = z - A @ coef
        med = np.median(resid[use])
        scale = _MAD_SCALE * np.median(np.abs(resid[use] - med))
        if scale <= 0:
            break
        use = keep & (np.abs(resid - med) <= 3.0 * scale)
        if use.sum() < 10:
            break
    return np.where(keep, resid, z)


def _profile_groups(
    loo: np.ndarray, depth: np.ndarray, codes: np.ndarray, ids: pd.Index, names: pd.Index
) -> pd.DataFrame:
    sel = np.flatnonzero(codes >= 0)
    gc = codes[sel]
    r = loo[sel]
    order = np.lexsort((r, gc))
    first = order[np.r_[0, np.cumsum(np.bincount(gc))[:-1]]]
    worst = r[first]
    z = np.arctanh(np.clip(worst, -0.999999, 0.999999))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_depth = np.log(depth[sel])
    shallowest = np.full(len(names), np.inf)
    np.minimum.at(shallowest, gc, np.where(np.isfinite(log_depth), log_depth, np.inf))
    sizes = np.bincount(gc)
    return pd.DataFrame(
        {
            "n": sizes.astype(np.int64),
            "disagreement": 1.0 - worst,
            "score": _robust_low_scores(_depth_residuals(z, shallowest)),
            "outlier": _outlier(ids[sel][first], sizes),
        },
        index=names,
    )


# --- the entry point --------------------------------------------------------------------------


def _infer_kind(y: pd.Series) -> str:
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
    matrix = kind == "profile" or (kind == "auto" and _is_matrix(values))
    if matrix:
        view = as_matrix(values, name=None if name == "values" else name)
        groups = _aligned_groups(replicate_groups, view.obs_names, view.name)
        usable = pd.notna(pd.Series(groups, dtype=object)).to_numpy()
        codes, names = _group_codes(groups, usable)
        ids = view.obs_names
        if len(names) < 2:
            return _empty("profile", codes, target_replicates, ci_level, n_bootstrap)
        loo, depth, transform, pairs = _profile_loo(view, codes, chunk_size=chunk_size, seed=seed)
        n_boot = _n_draws(n_bootstrap, len(names))
        point, intervals = _profile(loo, codes, n_bootstrap=n_boot, seed=seed, ci_level=ci_level)
        table = _profile_groups(loo, depth, codes, ids, names)
        sel = codes >= 0
        sizes = table["n"].to_numpy()
        return ReplicateCeiling(
            kind="profile",
            n_samples=int(sel.sum()),
            n_groups=len(names),
            n_pairs=int((sizes * (sizes - 1) // 2).sum()),
            group_size=_k0(sizes),
            target_replicates=int(target_replicates),
            ci_level=ci_level,
            n_bootstrap=n_boot,
            estimates=MappingProxyType(point),
            intervals=MappingProxyType(intervals),
            groups=table,
            samples=pd.DataFrame(
                {"group": names[codes[sel]], "value": loo[sel]}, index=pd.Index(ids[sel])
            ),
            pairs=pairs,
            n_excluded=0,
            transform=transform,
        )

    y = _vector(values)
    ids = y.index
    groups = _aligned_groups(replicate_groups, ids, name)
    kind = _infer_kind(y) if kind == "auto" else kind
    if kind == "continuous":
        numeric = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        present = np.isfinite(numeric)
        yv: np.ndarray = numeric
    else:
        present = y.notna().to_numpy()
        yv = y.astype(object).to_numpy()
    in_group = pd.notna(pd.Series(groups, dtype=object)).to_numpy()
    codes, names = _group_codes(groups, present & in_group)
    n_excluded = int((in_group & ~present).sum())
    if len(names) < 2:
        return _empty(kind, codes, target_replicates, ci_level, n_bootstrap, n_excluded)
    sel = codes >= 0
    n_boot = _n_draws(n_bootstrap, len(names))
    common = {"n_bootstrap": n_boot, "seed": seed, "ci_level": ci_level}
    if kind == "continuous":
        point, intervals, parts, k0 = _continuous(
            yv, codes, target_replicates=int(target_replicates), **common
        )
        table = _continuous_groups(yv, codes, ids, names, parts)
        order, starts, _ = _sorted_by_group(codes)
        pairs = _plot_pairs(yv[order[starts]], yv[order[starts + 1]], seed)
    else:
        point, intervals, parts, _ = _categorical(yv, codes, **common)
        k0 = _k0(parts["m"])
        table = _categorical_groups(parts, ids, names)
        pairs = (np.empty(0), np.empty(0))
    sizes = table["n"].to_numpy()
    return ReplicateCeiling(
        kind=kind,
        n_samples=int(sel.sum()),
        n_groups=len(names),
        n_pairs=int((sizes * (sizes - 1) // 2).sum()),
        group_size=float(k0),
        target_replicates=int(target_replicates),
        ci_level=ci_level,
        n_bootstrap=n_boot,
        estimates=MappingProxyType(point),
        intervals=MappingProxyType(intervals),
        groups=table,
        samples=pd.DataFrame({"group": names[codes[sel]], "value": yv[sel]}, index=ids[sel]),
        pairs=pairs,
        n_excluded=n_excluded,
    )


def _k0(sizes: np.ndarray) -> float:
    sizes = np.asarray(sizes, dtype=np.float64)
    N, G = sizes.sum(), len(sizes)
    return float((N - (sizes**2).sum() / N) / (G - 1)) if G > 1 else float(N)


def _empty(
    kind: str,
    codes: np.ndarray,
    target_replicates: int,
    ci_level: float,
    n_bootstrap: int,
    n_excluded: int = 0,
) -> ReplicateCeiling:
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


def _categorical_groups(
    parts: dict[str, np.ndarray], ids: pd.Index, names: pd.Index
) -> pd.DataFrame:
    order, labels, counts = parts["order"], parts["labels"], parts["counts"]
    gc_sorted = np.repeat(np.arange(len(parts["m"])), parts["m"].astype(np.int64))
    # outlier: the first member whose label is the rarest within its group
    member_count = counts[gc_sorted, labels]
    pick = np.lexsort((member_count, gc_sorted))
    first = pick[np.r_[0, np.cumsum(parts["m"].astype(np.int64))[:-1]]]
    disagreement = parts["disagreement"]
    return pd.DataFrame(
        {
            "n": parts["m"].astype(np.int64),
            "disagreement": disagreement,
            "score": disagreement,
            "outlier": np.where(disagreement > 0, _outlier(ids[order[first]], parts["m"]), None),
        },
        index=names,
    )


# --- checks -----------------------------------------------------------------------------------


def _fmt_ci(ci: tuple[float, float] | None) -> str:
    if not ci or not all(np.isfinite(ci)):
        return ""
    return f" [{ci[0]:.3g}, {ci[1]:.3g}]"


def _where(name: str, value_col: str | None, replicate_col: str, kind: str) -> str:
    what = "profiles" if kind == "profile" else value_col
    return f"{name}, {what} by {replicate_col}" if what else f"{name} by {replicate_col}"


def _g(x: float) -> str:
    """3 significant digits; ``n/a`` when undefined (e.g. kappa with a single class)."""
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def check_replicate_ceiling(
    values: Any = None,
    replicate_groups: Any = None,
    *,
    reported_metric: str | None = None,
    reported_score: float | None = None,
    name: str = "values",
    value_col: str | None = None,
    replicate_col: str = "replicate_group",
    kind: str = "auto",
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    target_replicates: int = 1,
    min_groups: int = 5,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    result: ReplicateCeiling | None = None,
) -> list[Finding]:
    """Report the replicate ceiling (``replicates.ceiling``, info) and a reported score above it.

    ``replicates.score_above_ceiling`` (error) when ``reported_score`` of ``reported_metric``
    exceeds the upper bound of the ceiling's confidence interval: no model can agree with the
    target better than the noise-free signal does, so such a score points to leakage
    (replicates of one condition in both train and test) or an evaluation bug. Metrics map to
    ceilings as: pearson -> ``ceiling_pearson``, spearman -> ``ceiling_spearman``, r2 ->
    ``ceiling_r2``, accuracy / balanced_accuracy -> ``ceiling_accuracy``, kappa ->
    ``ceiling_kappa`` (see :class:`ReplicateCeiling`).

    Fewer than ``min_groups`` replicate groups give an info finding saying so, and no
    comparison; no replicate group at all gives ``[]``.

    Parameters
    ----------
    values, replicate_groups
        As for :func:`replicate_ceiling` (or pass ``result=`` to reuse a computed one).
    reported_metric, reported_score
        A model score to compare with the ceiling; both or neither.

    Raises
    ------
    ConfigError
        Only one of ``reported_metric`` / ``reported_score`` is given, or the metric is unknown
        or does not fit the kind of target.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = np.repeat(rng.normal(0, 1, 200), 2)
    >>> y = pd.Series(signal + rng.normal(0, 1, 400))  # replicates agree at r = 0.5
    >>> groups = np.repeat(np.arange(200), 2)
    >>> found = check_replicate_ceiling(y, groups, reported_metric="pearson",
    ...                                 reported_score=0.95, n_bootstrap=200)
    >>> [(f.check, str(f.severity)) for f in found]
    [('replicates.ceiling', 'info'), ('replicates.score_above_ceiling', 'error')]
    """
    _check_reported(reported_metric, reported_score)
    res = result
    if res is None:
        res = replicate_ceiling(
            values,
            replicate_groups,
            kind=kind,
            n_bootstrap=n_bootstrap,
            seed=seed,
            ci_level=ci_level,
            target_replicates=target_replicates,
            chunk_size=chunk_size,
            name=name,
        )
    where = _where(name, value_col, replicate_col, res.kind)
    if res.n_groups == 0:
        return []
    if res.n_groups < min_groups or not res.estimates:
        return [
            Finding(
                CEILING,
                Severity.INFO,
                f"{where}: only {res.n_groups} replicate group(s) of two or more samples "
                f"({res.n_samples} samples); at least {min_groups} are needed to estimate a "
                "replicate ceiling",
                evidence={
                    "kind": res.kind,
                    "n_groups": res.n_groups,
                    "n_samples": res.n_samples,
                    "min_groups": min_groups,
                },
                hint="Add replicate groups (or check the replicate column) to measure the ceiling.",
                input=name,
            )
        ]
    est, ci = res.estimates, res.intervals
    counts = f"{res.n_groups} groups, {res.n_samples} samples"
    k_word = (
        "one replicate measurement"
        if res.target_replicates == 1
        else f"the mean of {res.target_replicates} replicate measurements"
    )
    if res.kind == "continuous":
        message = (
            f"{where}: replicates agree at ICC(1) = {_g(est['icc1'])}{_fmt_ci(ci.get('icc1'))} "
            f"(pair Pearson r = {_g(est['pearson'])}, Spearman rho = {_g(est['spearman'])}; "
            f"{counts}); no model can exceed Pearson r = {_g(est['ceiling_pearson'])}"
            f"{_fmt_ci(ci.get('ceiling_pearson'))} or R2 = {_g(est['ceiling_r2'])} against "
            f"{k_word}"
        )
    elif res.kind == "categorical":
        n_agree = round(est["agreement"] * res.n_pairs) if _all_pairs(res) else None
        agree = (
            fraction(n_agree, res.n_pairs) + " replicate pairs"
            if n_agree is not None
            else f"{100 * est['agreement']:.3g}% of replicate pairs"
        )
        method = "Cohen's" if "cohen_kappa" in est else "Fleiss'"
        message = (
            f"{where}: replicate labels agree in {agree} ({method} kappa = {_g(est['kappa'])}"
            f"{_fmt_ci(ci.get('kappa'))}; {counts}); no model can exceed accuracy "
            f"{_g(est['ceiling_accuracy'])}{_fmt_ci(ci.get('ceiling_accuracy'))} or kappa "
            f"{_g(est['ceiling_kappa'])} against one replicate's label"
        )
    else:
        message = (
            f"{where}: replicate profiles correlate at r = {_g(est['profile_r'])}"
            f"{_fmt_ci(ci.get('profile_r'))} (median {_g(est['profile_r_median'])}; each "
            f"replicate against the rest of its group, {counts})"
        )
    out = [
        Finding(
            CEILING,
            Severity.INFO,
            message,
            evidence=res.evidence(),
            hint="Read any reported score against this ceiling; pass "
            "reported_metric/reported_score (--reported-metric, --reported-score) to have it "
            "checked.",
            input=name,
        )
    ]
    if reported_metric is None or reported_score is None:
        return out
    key = _metric_key(reported_metric)
    value, lo, hi = res.ceiling(reported_metric)
    bound = hi if np.isfinite(hi) else value
    if not np.isfinite(bound) or float(reported_score) <= bound:
        return out
    out.append(
        Finding(
            SCORE_ABOVE_CEILING,
            Severity.ERROR,
            f"{where}: the reported {reported_metric} {float(reported_score):.4g} exceeds the "
            f"replicate ceiling {value:.3g} (upper {100 * res.ci_level:.3g}% bound "
            f"{bound:.3g}); the replicates themselves do not agree this well, so the score "
            "points to leakage or an evaluation bug",
            evidence={
                "reported_metric": reported_metric,
                "metric": key,
                "reported_score": float(reported_score),
                "ceiling": value,
                "ceiling_ci": [lo, hi],
                "excess": float(reported_score) - bound,
                "target_replicates": res.target_replicates,
                "n_groups": res.n_groups,
            },
            subjects=[key],
            hint="Check that no replicate group or patient spans train and test ("
            + _GROUP_HINT.format(col=replicate_col)
            + "), that the score is computed on held-out data only, and — if the target "
            "averages k replicates — pass target_replicates=k.",
            input=name,
        )
    )
    return out


def _all_pairs(res: ReplicateCeiling) -> bool:
    return bool(len(res.groups)) and bool((res.groups["n"] == 2).all())


def check_replicate_agreement(
    values: Any = None,
    replicate_groups: Any = None,
    *,
    name: str = "values",
    value_col: str | None = None,
    replicate_col: str = "replicate_group",
    kind: str = "auto",
    alpha: float = 0.01,
    min_score: float | None = None,
    min_groups: int = 5,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    result: ReplicateCeiling | None = None,
) -> list[Finding]:
    """Replicate groups whose members disagree far more than the rest of the groups.

    Reported as ``replicates.low_agreement`` (warning): outlier replicates, probable sample
    swaps or label errors.

    Continuous target: each group's within-group variance is compared with the robust pooled
    variance (median over groups), as a chi-square with ``m - 1`` degrees of freedom turned into
    a normal score. Profiles: robust z (median / MAD over groups) of the group's lowest
    leave-one-out profile correlation on the Fisher-z scale, after removing its linear trend on
    the log library size of the group's shallowest member (non-negative data; shallow libraries
    agree less without being swapped). Both flag scores above
    ``min_score`` (default ``max(3.5, Phi^-1(1 - alpha / n_groups))``). Categorical labels:
    while fewer than half the groups hold two labels, every group whose members do not share
    one label is flagged (its ``score`` is the fraction of discordant pairs); otherwise groups
    whose disagreement exceeds the median by ``min_score`` robust SDs.

    Examples
    --------
    >>> labels = pd.Series(["a", "a", "b", "b", "a", "b"] + ["a", "a"] * 5)
    >>> groups = np.repeat(np.arange(8), 2)
    >>> (f,) = check_replicate_agreement(labels, groups)
    >>> f.check, f.evidence["n_flagged"], f.subjects
    ('replicates.low_agreement', 1, [2])
    """
    res = result
    if res is None:
        res = replicate_ceiling(
            values,
            replicate_groups,
            kind=kind,
            n_bootstrap=0,
            seed=seed,
            chunk_size=chunk_size,
            name=name,
        )
    G = res.n_groups
    if G < min_groups or res.groups.empty:
        return []
    table = res.groups
    threshold = (
        float(min_score) if min_score is not None else max(3.5, float(stats.norm.isf(alpha / G)))
    )
    if res.kind == "categorical":
        d = table["disagreement"].to_numpy()
        med = float(np.median(d))
        mad = _MAD_SCALE * float(np.median(np.abs(d - med)))
        flagged = d > med if mad == 0 else (d - med) / mad > threshold
        rule = (
            "members do not share one label (the median group agrees fully)"
            if mad == 0 and med == 0
            else f"disagreement above the median by more than {threshold:.3g} robust SDs"
        )
    else:
        flagged = table["score"].to_numpy() > threshold
        rule = f"score above {threshold:.3g}"
    if not flagged.any():
        return []
    bad = table[flagged].sort_values("score", ascending=False, kind="stable")
    members = res.samples.groupby("group", sort=False)
    details: dict[str, Any] = {}
    for g in bad.index[:MAX_SUBJECTS]:
        sub = members.get_group(g)
        row = bad.loc[g]
        entry: dict[str, Any] = {
            "n": int(row["n"]),
            "disagreement": float(row["disagreement"]),
            "score": float(row["score"]),
            "outlier": row["outlier"],
            "members": list(sub.index),
        }
        if res.kind == "categorical":
            entry["labels"] = {str(k): v for k, v in zip(sub.index, sub["value"], strict=True)}
        else:
            entry["values"] = dict(zip(sub.index, sub["value"].astype(float), strict=True))
        details[str(g)] = entry
    where = _where(name, value_col, replicate_col, res.kind)
    what = {
        "continuous": "spread far more than replicate noise allows",
        "categorical": "mix different labels",
        "profile": "hold a replicate that correlates far less with its group than replicates do",
    }[res.kind]
    median_disagreement = float(np.median(table["disagreement"]))
    return [
        Finding(
            LOW_AGREEMENT,
            Severity.WARNING,
            f"{where}: {fraction(len(bad), G)} replicate groups {what} "
            f"({preview(bad.index)}); probable sample swaps, outlier replicates or label "
            "errors",
            evidence={
                "kind": res.kind,
                "n_flagged": len(bad),
                "n_groups": G,
                "rule": rule,
                "min_score": threshold,
                "alpha": alpha,
                "median_disagreement": median_disagreement,
                "groups": details,
            },
            subjects=subjects(bad.index),
            hint="Inspect these groups (the 'outlier' member is furthest from the rest; in a "
            "pair either may be wrong): check sample sheets for swaps, then fix or drop the "
            "replicate; replicate_ceiling(...).groups scores every group.",
            input=name,
        )
    ]


# --- audit ------------------------------------------------------------------------------------


def _view_groups(ctx: AuditContext, view: MatrixView, col: str) -> np.ndarray | None:
    samples = ctx.samples
    if samples is None:
        return None
    if ctx.aligned and len(samples) == view.n_obs:
        return samples[col].to_numpy()
    index = pd.Index(samples.index.astype(str))
    if index.is_unique and view.obs_names.isin(index).any():
        return samples[col].set_axis(index).reindex(view.obs_names).to_numpy()
    return None


def _profile_skipped(name: str, column: str, reason: str) -> Finding:
    return Finding(
        CEILING,
        Severity.INFO,
        f"{name}, {column}: replicate-profile ceiling skipped; {reason}",
        evidence={"kind": "profile", "skipped": True, "reason": reason},
        hint="Impute or drop the non-finite cells (see units.invalid_values), then re-run.",
        input=name,
    )


def audit_replicates(ctx: AuditContext) -> list[Finding]:
    """Replicate ceilings and outlier replicate groups for what the audit configures.

    Reads ``replicate_col`` (nothing to do without it), ``label_col`` (the target whose ceiling
    is measured, from ``ctx.samples``), ``reported_metric`` / ``reported_score`` (compared with
    the label's ceiling), ``alpha``, ``seed`` and ``chunk_size``; with a feature matrix,
    ``ctx.features[0].view`` for replicate-profile agreement. Writes
    ``ctx.artifacts["replicates"] = {"pairs": {"a": [...], "b": [...]}}``: one replicate against
    another (the continuous label when there is one, else profile values), at most 2000 points.
    """
    cfg = ctx.config
    col = cfg.replicate_col
    if col is None or ctx.samples is None or col not in ctx.samples.columns:
        return []
    out: list[Finding] = []
    pairs: tuple[np.ndarray, np.ndarray] | None = None
    common = {"replicate_col": col, "seed": cfg.seed}
    label_col = cfg.label_col
    if label_col is not None and label_col in ctx.samples.columns:
        res = replicate_ceiling(
            ctx.samples[label_col], ctx.samples[col], seed=cfg.seed, name=ctx.samples_name
        )
        shared = {"name": ctx.samples_name, "value_col": label_col, "result": res, **common}
        out += check_replicate_ceiling(
            reported_metric=cfg.reported_metric, reported_score=cfg.reported_score, **shared
        )
        out += check_replicate_agreement(alpha=cfg.alpha, **shared)
        if res.kind == "continuous" and len(res.pairs[0]):
            pairs = res.pairs
    else:
        _check_reported(cfg.reported_metric, cfg.reported_score)
    if ctx.features:
        fi = ctx.features[0]
        groups = _view_groups(ctx, fi.view, col)
        res = None
        if groups is not None:
            try:
                res = replicate_ceiling(
                    fi.view,
                    groups,
                    kind="profile",
                    seed=cfg.seed,
                    chunk_size=cfg.chunk_size,
                    name=fi.name,
                )
            except NonFiniteError as exc:  # reported by units.invalid_values; go on
                out.append(_profile_skipped(fi.name, col, exc.message))
        if res is not None:
            shared = {"name": fi.name, "result": res, **common}
            out += check_replicate_ceiling(**shared)
            out += check_replicate_agreement(alpha=cfg.alpha, **shared)
            if pairs is None and len(res.pairs[0]):
                pairs = res.pairs
    if pairs is not None:
        ctx.artifacts["replicates"] = {"pairs": {"a": pairs[0].tolist(), "b": pairs[1].tolist()}}
    return out

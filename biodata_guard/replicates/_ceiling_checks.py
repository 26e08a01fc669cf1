"""``replicates.ceiling`` and ``replicates.score_above_ceiling``: the ceiling, and a reported
score above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from biodata_guard._format import fraction
from biodata_guard.errors import ConfigError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS
from biodata_guard.registry import Interval, Options, declare_check, declare_param
from biodata_guard.replicates._ceiling import given_or_measured
from biodata_guard.replicates._result import (
    METRICS,
    ReplicateCeiling,
    metric_key,
    normalise_metric,
)
from biodata_guard.replicates._wording import GROUP_HINT, fmt_ci, g3, where

#: Fewer replicate groups than this: no ceiling, no outlier groups (too few to judge).
MIN_GROUPS = 5


@dataclass(frozen=True)
class _MetricNames(Options):
    """The reported-metric spellings, matched as :func:`metric_key` matches them (case, ``-``
    and spaces ignored)."""

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, str) and normalise_metric(value) in self.values

    def describe(self) -> str:
        canonical = dict.fromkeys(METRICS.values())
        synonyms = [k for k in METRICS if k not in canonical]
        return (
            f"one of {', '.join(canonical)} or a synonym ({', '.join(synonyms)}); case-insensitive"
        )


declare_param(
    "reported_metric",
    None,
    kind="str",
    help="Metric of a reported model score (pearson, spearman, r2, accuracy, ...).",
    valid=_MetricNames(tuple(METRICS)),
    section="expectations",
    key="reported_metric",
)
declare_param(
    "reported_score",
    None,
    kind="float",
    help="A reported model score to compare with the replicate ceiling.",
    # pearson, spearman, kappa in [-1, 1]; accuracy in [0, 1]; R2 in (-inf, 1]
    valid=Interval(float, None, 1),
    section="expectations",
    key="reported_score",
)

CEILING = declare_check(
    "replicates.ceiling",
    group="replicates",
    severities=("info",),
    needs=("replicates",),
    params=("seed", "chunk_size"),
    doc="How well replicates agree (label and feature profiles), and the score ceiling it "
    "implies for the label.",
)
SCORE_ABOVE_CEILING = declare_check(
    "replicates.score_above_ceiling",
    group="replicates",
    severities=("error",),
    needs=("replicates", "labels", "reported_score"),
    params=("reported_metric", "reported_score", "seed"),
    doc="A reported model score above the ceiling the label's replicates allow: leakage or an "
    "evaluation bug.",
)


@dataclass(frozen=True)
class ScoreComparison:
    """A reported score against the replicate ceiling of its metric.

    ``bound`` is the upper end of the ceiling's interval (the estimate when there is none);
    the score ``exceeds`` the ceiling when it lies above a finite bound.
    """

    metric: str
    score: float
    ceiling: float
    ci_low: float
    ci_high: float

    @property
    def bound(self) -> float:
        return self.ci_high if np.isfinite(self.ci_high) else self.ceiling

    @property
    def comparable(self) -> bool:
        return bool(np.isfinite(self.bound))

    @property
    def exceeds(self) -> bool:
        return self.comparable and self.score > self.bound


def compare_score(res: ReplicateCeiling, metric: str, score: float) -> ScoreComparison:
    """``score`` of ``metric`` (any spelling in :data:`METRICS`) against ``res``'s ceiling.

    Raises
    ------
    ConfigError
        The metric is unknown or does not fit the kind of target.
    """
    value, lo, hi = res.ceiling(metric)
    return ScoreComparison(metric_key(metric), float(score), value, lo, hi)


def check_reported(metric: str | None, score: float | None) -> None:
    """Raise a :class:`ConfigError` unless ``metric`` and ``score`` are both given (a known
    metric, a finite score) or both None."""
    if (metric is None) != (score is None):
        raise ConfigError(
            "reported_metric and reported_score go together; got only "
            + ("reported_metric" if score is None else "reported_score"),
            key="expectations.reported_score",
            hint="Give both, e.g. --reported-metric pearson --reported-score 0.91.",
        )
    if metric is not None:
        metric_key(metric)
    if score is not None and not np.isfinite(float(score)):
        raise ConfigError(
            f"reported_score must be a finite number; got {score!r} instead",
            key="expectations.reported_score",
            hint="Pass the model's score, e.g. --reported-score 0.91.",
        )


def _all_pairs(res: ReplicateCeiling) -> bool:
    return bool(len(res.groups)) and bool((res.groups["n"] == 2).all())


def _too_few_groups(res: ReplicateCeiling, subject: str, min_groups: int, name: str) -> Finding:
    return Finding(
        CEILING,
        Severity.INFO,
        f"{subject}: only {res.n_groups} replicate group(s) of two or more samples "
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


def _continuous_message(res: ReplicateCeiling, counts: str) -> str:
    est, ci = res.estimates, res.intervals
    k_word = (
        "one replicate measurement"
        if res.target_replicates == 1
        else f"the mean of {res.target_replicates} replicate measurements"
    )
    return (
        f"replicates agree at ICC(1) = {g3(est['icc1'])}{fmt_ci(ci.get('icc1'))} "
        f"(pair Pearson r = {g3(est['pearson'])}, Spearman rho = {g3(est['spearman'])}; "
        f"{counts}); no model can exceed Pearson r = {g3(est['ceiling_pearson'])}"
        f"{fmt_ci(ci.get('ceiling_pearson'))} or R2 = {g3(est['ceiling_r2'])} against "
        f"{k_word}"
    )


def _categorical_message(res: ReplicateCeiling, counts: str) -> str:
    est, ci = res.estimates, res.intervals
    n_agree = round(est["agreement"] * res.n_pairs) if _all_pairs(res) else None
    agree = (
        fraction(n_agree, res.n_pairs) + " replicate pairs"
        if n_agree is not None
        else f"{100 * est['agreement']:.3g}% of replicate pairs"
    )
    method = "Cohen's" if "cohen_kappa" in est else "Fleiss'"
    return (
        f"replicate labels agree in {agree} ({method} kappa = {g3(est['kappa'])}"
        f"{fmt_ci(ci.get('kappa'))}; {counts}); no model can exceed accuracy "
        f"{g3(est['ceiling_accuracy'])}{fmt_ci(ci.get('ceiling_accuracy'))} or kappa "
        f"{g3(est['ceiling_kappa'])} against one replicate's label"
    )


def _profile_message(res: ReplicateCeiling, counts: str) -> str:
    est, ci = res.estimates, res.intervals
    return (
        f"replicate profiles correlate at r = {g3(est['profile_r'])}"
        f"{fmt_ci(ci.get('profile_r'))} (median {g3(est['profile_r_median'])}; each "
        f"replicate against the rest of its group, {counts})"
    )


_MESSAGES = {
    "continuous": _continuous_message,
    "categorical": _categorical_message,
    "profile": _profile_message,
}


def _ceiling_finding(res: ReplicateCeiling, subject: str, name: str) -> Finding:
    counts = f"{res.n_groups} groups, {res.n_samples} samples"
    return Finding(
        CEILING,
        Severity.INFO,
        f"{subject}: {_MESSAGES[res.kind](res, counts)}",
        evidence=res.evidence(),
        hint="Read any reported score against this ceiling; pass "
        "reported_metric/reported_score (--reported-metric, --reported-score) to have it "
        "checked.",
        input=name,
    )


def _score_above_finding(
    cmp: ScoreComparison,
    res: ReplicateCeiling,
    reported_metric: str,
    *,
    subject: str,
    replicate_col: str,
    name: str,
) -> Finding:
    return Finding(
        SCORE_ABOVE_CEILING,
        Severity.ERROR,
        f"{subject}: the reported {reported_metric} {cmp.score:.4g} exceeds the "
        f"replicate ceiling {cmp.ceiling:.3g} (upper {100 * res.ci_level:.3g}% bound "
        f"{cmp.bound:.3g}); the replicates themselves do not agree this well, so the score "
        "points to leakage or an evaluation bug",
        evidence={
            "reported_metric": reported_metric,
            "metric": cmp.metric,
            "reported_score": cmp.score,
            "ceiling": cmp.ceiling,
            "ceiling_ci": [cmp.ci_low, cmp.ci_high],
            "excess": cmp.score - cmp.bound,
            "target_replicates": res.target_replicates,
            "n_groups": res.n_groups,
        },
        subjects=[cmp.metric],
        hint="Check that no replicate group or patient spans train and test ("
        + GROUP_HINT.format(col=replicate_col)
        + "), that the score is computed on held-out data only, and — if the target "
        "averages k replicates — pass target_replicates=k.",
        input=name,
    )


def has_ceiling(res: ReplicateCeiling, min_groups: int = MIN_GROUPS) -> bool:
    """Whether ``res`` holds enough replicate groups for a ceiling."""
    return res.n_groups >= min_groups and bool(res.estimates)


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
    min_groups: int = MIN_GROUPS,
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
    >>> y = signal + rng.normal(0, 1, 400)  # replicates agree at r = 0.5
    >>> groups = np.repeat(np.arange(200), 2)
    >>> found = check_replicate_ceiling(y, groups, reported_metric="pearson",
    ...                                 reported_score=0.95, n_bootstrap=200)
    >>> [(f.check, str(f.severity)) for f in found]
    [('replicates.ceiling', 'info'), ('replicates.score_above_ceiling', 'error')]
    >>> found[1].evidence["ceiling"] < 0.8
    True
    """
    check_reported(reported_metric, reported_score)
    res = given_or_measured(
        result,
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
    subject = where(name, value_col, replicate_col, res.kind)
    if res.n_groups == 0:
        return []
    if not has_ceiling(res, min_groups):
        return [_too_few_groups(res, subject, min_groups, name)]
    out = [_ceiling_finding(res, subject, name)]
    if reported_metric is None or reported_score is None:
        return out
    cmp = compare_score(res, reported_metric, reported_score)
    if cmp.exceeds:
        out.append(
            _score_above_finding(
                cmp, res, reported_metric, subject=subject, replicate_col=replicate_col, name=name
            )
        )
    return out

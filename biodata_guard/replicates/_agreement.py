"""``replicates.low_agreement``: replicate groups whose members disagree far more than the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from biodata_guard._format import MAX_SUBJECTS, fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS
from biodata_guard.registry import declare_check
from biodata_guard.replicates._ceiling import given_or_measured
from biodata_guard.replicates._ceiling_checks import MIN_GROUPS
from biodata_guard.replicates._result import ReplicateCeiling
from biodata_guard.replicates._wording import where
from biodata_guard.stats import robust_sd

LOW_AGREEMENT = declare_check(
    "replicates.low_agreement",
    group="replicates",
    severities=("warning",),
    needs=("replicates",),
    params=("alpha", "seed", "chunk_size"),
    doc="Replicate groups whose members disagree far more than the other groups do: sample "
    "swaps, outlier replicates or label errors.",
)

_WHAT = {
    "continuous": "spread far more than replicate noise allows",
    "categorical": "mix different labels",
    "profile": "hold a replicate that correlates far less with its group than replicates do",
}


@dataclass(frozen=True, eq=False)
class LowAgreement:
    """Which replicate groups disagree far more than the rest.

    ``threshold`` is the score above which a group is flagged; for categorical labels
    ``median`` and ``spread`` are the median and robust SD of the groups' disagreement (a zero
    spread flags every group above the median). ``flagged`` has one entry per row of
    ``ReplicateCeiling.groups``.
    """

    threshold: float
    median: float
    spread: float
    median_disagreement: float
    flagged: np.ndarray


def flag_low_agreement(
    res: ReplicateCeiling, *, alpha: float = 0.01, min_score: float | None = None
) -> LowAgreement:
    """The groups of ``res`` whose score exceeds ``min_score`` (default
    ``max(3.5, Phi^-1(1 - alpha / n_groups))``); see :func:`check_replicate_agreement`."""
    table = res.groups
    G = res.n_groups
    threshold = (
        float(min_score) if min_score is not None else max(3.5, float(stats.norm.isf(alpha / G)))
    )
    median_disagreement = float(np.median(table["disagreement"]))
    if res.kind == "categorical":
        d = table["disagreement"].to_numpy()
        med = float(np.median(d))
        spread = robust_sd(d)
        flagged = d > med if spread == 0 else (d - med) / spread > threshold
        return LowAgreement(threshold, med, spread, median_disagreement, flagged)
    flagged = table["score"].to_numpy() > threshold
    return LowAgreement(threshold, np.nan, np.nan, median_disagreement, flagged)


def _rule(kind: str, flags: LowAgreement) -> str:
    if kind != "categorical":
        return f"score above {flags.threshold:.3g}"
    if flags.spread == 0 and flags.median == 0:
        return "members do not share one label (the median group agrees fully)"
    return f"disagreement above the median by more than {flags.threshold:.3g} robust SDs"


def _group_details(res: ReplicateCeiling, bad: pd.DataFrame) -> dict[str, Any]:
    """Per flagged group (the first :data:`MAX_SUBJECTS`): its numbers and its members'
    labels or values."""
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
    return details


def _low_agreement_finding(
    res: ReplicateCeiling, flags: LowAgreement, *, alpha: float, subject: str, name: str
) -> Finding:
    bad = res.groups[flags.flagged].sort_values("score", ascending=False, kind="stable")
    G = res.n_groups
    return Finding(
        LOW_AGREEMENT,
        Severity.WARNING,
        f"{subject}: {fraction(len(bad), G)} replicate groups {_WHAT[res.kind]} "
        f"({preview(bad.index)}); probable sample swaps, outlier replicates or label "
        "errors",
        evidence={
            "kind": res.kind,
            "n_flagged": len(bad),
            "n_groups": G,
            "rule": _rule(res.kind, flags),
            "min_score": flags.threshold,
            "alpha": alpha,
            "median_disagreement": flags.median_disagreement,
            "groups": _group_details(res, bad),
        },
        subjects=subjects(bad.index),
        hint="Inspect these groups (the 'outlier' member is furthest from the rest; in a "
        "pair either may be wrong): check sample sheets for swaps, then fix or drop the "
        "replicate; replicate_ceiling(...).groups scores every group.",
        input=name,
    )


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
    min_groups: int = MIN_GROUPS,
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
    whose disagreement exceeds the median by ``min_score`` robust SDs. Fewer than
    ``min_groups`` replicate groups give ``[]``.

    Examples
    --------
    >>> labels = pd.Series(["a", "a", "b", "b", "a", "b"] + ["a", "a"] * 5)
    >>> groups = np.repeat(np.arange(8), 2)
    >>> (f,) = check_replicate_agreement(labels, groups)
    >>> f.check, f.evidence["n_flagged"], f.subjects
    ('replicates.low_agreement', 1, [2])
    """
    res = given_or_measured(
        result,
        values,
        replicate_groups,
        kind=kind,
        n_bootstrap=0,
        seed=seed,
        chunk_size=chunk_size,
        name=name,
    )
    if res.n_groups < min_groups or res.groups.empty:
        return []
    flags = flag_low_agreement(res, alpha=alpha, min_score=min_score)
    if not flags.flagged.any():
        return []
    subject = where(name, value_col, replicate_col, res.kind)
    return [_low_agreement_finding(res, flags, alpha=alpha, subject=subject, name=name)]

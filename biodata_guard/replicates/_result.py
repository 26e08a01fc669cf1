"""The replicate-ceiling result and the reported metrics it is compared with."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.errors import ConfigError

#: The kinds of replicate measurement ``replicate_ceiling(kind=...)`` accepts.
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


def normalise_metric(metric: str) -> str:
    """A reported-metric spelling as :data:`METRICS` keys it: lower case, ``_`` for ``-`` and
    spaces.

    Examples
    --------
    >>> normalise_metric(" Balanced-Accuracy")
    'balanced_accuracy'
    """
    return str(metric).strip().lower().replace("-", "_").replace(" ", "_")


def metric_key(metric: str) -> str:
    """The canonical metric (``pearson``, ``r2``, ``kappa`` ...) of a reported-metric spelling.

    Raises
    ------
    ConfigError
        The spelling is not in :data:`METRICS` (the message suggests the closest one).

    Examples
    --------
    >>> metric_key("R^2"), metric_key("bacc")
    ('r2', 'balanced_accuracy')
    """
    norm = normalise_metric(metric)
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

        Examples
        --------
        >>> res = ReplicateCeiling("continuous", 10, 5, 5, 2.0,
        ...                        estimates={"ceiling_pearson": 0.9},
        ...                        intervals={"ceiling_pearson": (0.8, 0.95)})
        >>> res.ceiling("Pearson")
        (0.9, 0.8, 0.95)
        """
        key = metric_key(metric)
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

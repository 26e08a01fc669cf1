"""The near-duplicate test: cross-split closeness against the closeness seen within a split.

Null hypothesis: the evaluated samples (test, or one fold) are exchangeable with the reference
samples (train, or the other folds), as they are after a random or group-aware split without
copies. Under it, an evaluated sample's cosine distance to its nearest reference sample has the
distribution of a reference sample's distance to its nearest *other* (distinct) reference
sample: the calibration distances, measured on a seeded subsample of reference samples. A leak
-- a training sample re-uploaded into test with a little noise -- is an *excess* of evaluated
samples closer than that distribution makes likely.

Each evaluated sample gets its null probability of a nearest neighbour that close: its
conformal p-value ``(1 + #calibration <= d) / (n + 1)`` within the calibration range and,
below the smallest calibration distance, a power-law model of the lower tail (the
nearest-neighbour distance of points on a d-dimensional manifold has ``P(D <= t) ~ c t^a`` near
0; ``a`` is the Hill estimate from the lowest 5 % of the calibration distances, taken at its
lower 95 % confidence bound, which overstates the rate of close pairs: conservative).

Three one-sided tests, Bonferroni-combined (the split's p-value is 3 x the smallest):

- *many close samples* at the within-split levels q = 1e-2 and 1e-3: the number ``k`` of
  evaluated samples at or below the ``r``-th smallest calibration distance (r = floor(q (n+1)))
  against its exact, distribution-free null, beta-binomial ``(m, r, n - r + 1)`` (binomial at
  the modelled rate when the calibration is too small for rank ``r >= 1``);
- *a few extreme samples*: Simes' test of the ``m`` sample p-values, ``min_j m p_(j) / j``
  (valid for the positively dependent conformal p-values), which finds one copy far below
  every within-split distance.

A split is flagged at ``p <= alpha``: the false-alarm rate is at most ``alpha`` per evaluated
split whatever its size (up to the dependence between nearest-neighbour distances, and the tail
model below the calibration range); the check divides ``alpha`` among the evaluated splits.
The samples reported are those the Benjamini-Hochberg procedure selects at false-discovery rate
``alpha``, or, when it selects none, those within the most significant level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Cosine distances below this are not resolved from float32 similarities: closer pairs count
#: as this distance.
DISTANCE_FLOOR = 1e-6
#: The lower tail fitted by the power law: this fraction of the calibration distances, at least
#: :data:`MIN_TAIL` of them; the confidence level of the exponent's lower bound.
TAIL_FRACTION = 0.05
MIN_TAIL = 10
TAIL_CONFIDENCE = 0.95
#: Fewest calibration distances the test needs.
MIN_CALIBRATION = 20
#: The within-split levels of the count tests.
LEVELS = (1e-2, 1e-3)
#: Tests combined by Bonferroni: the count tests and Simes' test.
N_TESTS = len(LEVELS) + 1


@dataclass(frozen=True)
class NullCloseness:
    """Calibration distances (sorted, floored) and the power-law model of their lower tail:
    ``P(D <= t) = n_tail / (n + 1) * (t / tail_distance) ** exponent_low`` below
    ``tail_distance``."""

    distances: np.ndarray
    tail_distance: float
    n_tail: int
    exponent: float
    exponent_low: float

    @property
    def n(self) -> int:
        return len(self.distances)

    def model_rate(self, t: float) -> float:
        """The modelled null probability of a nearest neighbour at or within ``t``."""
        mass = self.n_tail / (self.n + 1)
        if t >= self.tail_distance:
            return mass
        return mass * (max(t, DISTANCE_FLOOR) / self.tail_distance) ** self.exponent_low

    def model_distance(self, q: float) -> float:
        """The distance at which the modelled null rate is ``q`` (at least the floor)."""
        mass = self.n_tail / (self.n + 1)
        if q >= mass:
            return self.tail_distance
        if self.exponent_low <= 0:
            return DISTANCE_FLOOR
        return max(self.tail_distance * (q / mass) ** (1.0 / self.exponent_low), DISTANCE_FLOOR)


def null_closeness(distances: np.ndarray) -> NullCloseness | None:
    """Fit the lower-tail model to calibration distances; None with fewer than
    :data:`MIN_CALIBRATION`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> null = null_closeness(rng.uniform(0, 1, 2000) ** (1 / 4))  # P(D <= t) = t^4
    >>> round(null.exponent, 1), round(null.exponent_low, 1)
    (3.6, 3.0)
    """
    d = np.sort(np.maximum(np.asarray(distances, dtype=np.float64), DISTANCE_FLOOR))
    n = len(d)
    if n < MIN_CALIBRATION:
        return None
    k = min(n - 1, max(MIN_TAIL, math.ceil(TAIL_FRACTION * n)))
    u = float(d[k])
    total = float(np.log(u / d[:k]).sum())
    if total <= 0:  # the whole tail at one distance: no slope to extrapolate with
        return NullCloseness(d, u, k, 0.0, 0.0)
    low = stats.chi2.ppf(1 - TAIL_CONFIDENCE, 2 * k) / (2 * total)
    return NullCloseness(d, u, k, k / total, float(low))


def sample_p_values(null: NullCloseness, d_eval: np.ndarray) -> np.ndarray:
    """Each evaluated sample's null probability of a nearest neighbour that close: its
    conformal p-value ``(1 + #calibration <= d) / (n + 1)`` within the calibration range, the
    tail model (capped at ``1 / (n + 1)``) below it.

    Examples
    --------
    >>> null = null_closeness(np.linspace(0.1, 0.5, 99))
    >>> sample_p_values(null, np.array([0.3, 0.1, 1e-5])).round(4).tolist()
    [0.5, 0.02, 0.0]
    """
    d = np.maximum(np.asarray(d_eval, dtype=np.float64), DISTANCE_FLOOR)
    p = (1 + np.searchsorted(null.distances, d, side="right")) / (null.n + 1)
    below = d < null.distances[0]
    if below.any():
        model = np.array([null.model_rate(float(t)) for t in d[below]])
        p[below] = np.minimum(model, 1 / (null.n + 1))
    return p


def benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    """Mask of the p-values the Benjamini-Hochberg procedure selects at false-discovery rate
    ``alpha`` (valid for the positively dependent conformal p-values).

    Examples
    --------
    >>> benjamini_hochberg(np.array([1e-6, 0.3, 2e-4, 0.04]), 0.01).tolist()
    [True, False, True, False]
    """
    m = len(p)
    order = np.argsort(p, kind="stable")
    passed = np.flatnonzero(p[order] <= alpha * np.arange(1, m + 1) / m)
    keep = np.zeros(m, dtype=bool)
    if len(passed):
        keep[order[: passed[-1] + 1]] = True
    return keep


def simes(p: np.ndarray) -> float:
    """Simes' p-value of the global null, ``min_j m p_(j) / j``.

    Examples
    --------
    >>> simes(np.array([0.04, 0.5, 0.02, 0.9]))
    0.08
    """
    m = len(p)
    if not m:
        return 1.0
    return float(min(1.0, (np.sort(p) * m / np.arange(1, m + 1)).min()))


@dataclass(frozen=True)
class Rung:
    """One count test: the distance, where it came from, the null rate of a nearest
    neighbour that close, the evaluated samples that close, and the p-value."""

    level: float
    distance: float
    source: str
    null_rate: float
    n_close: int
    expected: float
    p_value: float


@dataclass(frozen=True)
class ExcessTest:
    """The tests of one evaluated split: the count tests, Simes' test of the sample p-values,
    the sample p-values, and the Bonferroni-combined p-value."""

    rungs: tuple[Rung, ...]
    simes_p: float
    sample_p: np.ndarray
    p_value: float

    @property
    def n_eval(self) -> int:
        return len(self.sample_p)

    @property
    def rung(self) -> Rung:
        """The most significant count test."""
        return min(self.rungs, key=lambda r: r.p_value)


def count_test(null: NullCloseness, level: float, d_eval: np.ndarray) -> Rung:
    """The number of evaluated samples at or below the within-split ``level`` distance
    against its null: beta-binomial on the calibration rank, or binomial at the modelled rate
    when ``level`` is below ``1 / (n + 1)``."""
    m, n = len(d_eval), null.n
    r = math.floor(level * (n + 1))
    if r >= 1:
        t = float(null.distances[r - 1])
        k = int((d_eval <= t).sum())
        rate = r / (n + 1)
        p = float(stats.betabinom.sf(k - 1, m, r, n - r + 1)) if k else 1.0
        return Rung(level, t, f"calibration rank {r} of {n}", rate, k, m * rate, p)
    t = null.model_distance(level)
    rate = null.model_rate(t)
    k = int((d_eval <= t).sum())
    p = float(stats.binom.sf(k - 1, m, rate)) if k else 1.0
    return Rung(level, t, "lower-tail model", rate, k, m * rate, p)


def excess_test(null: NullCloseness, d_eval: np.ndarray) -> ExcessTest:
    """The combined test of the evaluated samples' nearest-reference distances ``d_eval``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> null = null_closeness(rng.uniform(0.05, 0.3, 500))
    >>> clean = excess_test(null, rng.uniform(0.05, 0.3, 120))
    >>> leaked = excess_test(null, np.r_[rng.uniform(0.05, 0.3, 119), 1e-4])
    >>> clean.p_value > 0.01, leaked.p_value < 0.01
    (True, True)
    """
    d_eval = np.maximum(np.asarray(d_eval, dtype=np.float64), DISTANCE_FLOOR)
    rungs = tuple(count_test(null, level, d_eval) for level in LEVELS)
    sample_p = sample_p_values(null, d_eval)
    simes_p = simes(sample_p)
    smallest = min(simes_p, *(r.p_value for r in rungs))
    return ExcessTest(rungs, simes_p, sample_p, min(1.0, N_TESTS * smallest))


def flagged(test: ExcessTest, d_eval: np.ndarray, alpha: float) -> np.ndarray:
    """The evaluated samples to report when the split's test rejects at ``alpha``: those
    Benjamini-Hochberg selects at false-discovery rate ``alpha``, else those within the most
    significant count test; none when it does not reject."""
    if test.p_value > alpha:
        return np.zeros(len(d_eval), dtype=bool)
    keep = benjamini_hochberg(test.sample_p, alpha)
    if keep.any():
        return keep
    return np.maximum(d_eval, DISTANCE_FLOOR) <= test.rung.distance

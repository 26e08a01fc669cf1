"""The evidence model of build calls: log-likelihoods of each assembly under each signal, the
prior, the posterior and the decision rule with its stated false-call rate.

Hypotheses are the two human builds the checks decide between and the assemblies a file may
come from instead (:data:`OTHER_ASSEMBLIES`). Every signal returns the log-likelihood of its
data under each hypothesis (natural log, up to a constant shared by all hypotheses); the
signals are combined as independent evidence (they read different rows or different parts of
the file) and the call is the build whose posterior reaches ``1 - false_call_rate``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from biodata_guard.build._reference import BUILDS, GRCH37, GRCH38, OTHER_ASSEMBLIES

#: Every hypothesis of the model, the two builds first.
HYPOTHESES = (*BUILDS, *OTHER_ASSEMBLIES)
#: Where a file comes from before any evidence: 98 % GRCh37 / GRCh38 in equal parts, 2 %
#: another assembly (NCBI36, T2T-CHM13, mouse GRCm38 / GRCm39 alike).
PRIOR = {GRCH37: 0.49, GRCH38: 0.49, **dict.fromkeys(OTHER_ASSEMBLIES, 0.02 / 4)}
#: The label of "any assembly but GRCh37 / GRCh38" in posteriors.
OTHER = "other"
#: Default decision rule: call a build when its posterior is at least 1 - this.
FALSE_CALL_RATE = 1e-3
#: An undetermined call leans to the hypothesis whose posterior reaches this.
LEANING = 0.75

# Beta priors of the share of rows that contradict the true assembly (corrupt, merged from
# another file, or mislabelled): (a, b), mean a / (a + b).
ROW_ERRORS = (1.0, 999.0)  # positions past a chromosome end: 1 row in 1,000
MARKER_ERRORS = (1.0, 99.0)  # panel rsIDs away from their position: 1 in 100
GENE_ERRORS = (1.0, 19.0)  # genes nearer the other build (GENCODE release changes): 1 in 20
CONTAMINATION = 0.01  # a file holding panel SNPs of the other build beyond chance


def log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_errors(k: int, n: int, prior: tuple[float, float]) -> float:
    """log P(these ``k`` of ``n`` rows are the errors) with a Beta(a, b) error rate: the
    beta-binomial probability of one specific pattern (no binomial coefficient: every
    hypothesis names its own rows)."""
    a, b = prior
    return log_beta(a + k, b + n - k) - log_beta(a, b)


def log_poisson(k: int, lam: float) -> float:
    if lam <= 0:
        return 0.0 if k == 0 else -745.0
    return k * math.log(lam) - lam - math.lgamma(k + 1)


def log_beta_binomial(k: int, n: int, prior: tuple[float, float]) -> float:
    """log P(K = k) for K ~ BetaBinomial(n, a, b) (a count: with the binomial coefficient)."""
    comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return comb + log_errors(k, n, prior)


def log_add(*terms: float) -> float:
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def log_upper_beta(a: int, b: int) -> float:
    """log of the integral of t^a (1 - t)^b over t in [1/2, 1]."""
    from scipy.special import betainc

    tail = float(betainc(b + 1, a + 1, 0.5))  # I_{1/2}(b+1, a+1) = P(Beta(a+1, b+1) > 1/2)
    return log_beta(a + 1, b + 1) + math.log(max(tail, 1e-300))


def same_for_others(values: Mapping[str, float], other: float) -> dict[str, float]:
    """A log-likelihood per hypothesis from the two builds' values and one for every other
    assembly (signals that cannot tell the other assemblies apart)."""
    return {
        GRCH37: values[GRCH37],
        GRCH38: values[GRCH38],
        **dict.fromkeys(OTHER_ASSEMBLIES, other),
    }


@dataclass(frozen=True)
class Posterior:
    """Posterior probability of every hypothesis, and of "another assembly" as a whole."""

    probs: dict[str, float]

    @property
    def other(self) -> float:
        return sum(self.probs[h] for h in OTHER_ASSEMBLIES)

    @property
    def best_other(self) -> str:
        return max(OTHER_ASSEMBLIES, key=lambda h: (self.probs[h], -OTHER_ASSEMBLIES.index(h)))

    def grouped(self) -> dict[str, float]:
        """``{"GRCh37": p, "GRCh38": p, "other": p}``."""
        return {GRCH37: self.probs[GRCH37], GRCH38: self.probs[GRCH38], OTHER: self.other}

    def lead(self) -> tuple[str, float]:
        """The leading hypothesis among GRCh37, GRCh38 and "other", with its probability."""
        g = self.grouped()
        best = max(g, key=lambda h: g[h])
        return best, g[best]

    def decided(self, false_call_rate: float) -> str | None:
        """The build (or ``"other"``) whose posterior reaches ``1 - false_call_rate``."""
        best, p = self.lead()
        return best if p >= 1.0 - false_call_rate else None


def posterior(
    logliks: Iterable[Mapping[str, float]], prior: Mapping[str, float] = PRIOR
) -> Posterior:
    """Combine independent signals with the prior.

    Examples
    --------
    Two panel rsIDs at their GRCh37 position, none elsewhere:

    >>> ll = {h: log_errors(0 if h == "GRCh37" else 2, 2, MARKER_ERRORS) for h in HYPOTHESES}
    >>> round(posterior([ll]).probs["GRCh37"], 4)
    0.9998
    """
    total = {h: math.log(prior[h]) for h in HYPOTHESES}
    for ll in logliks:
        for h in HYPOTHESES:
            total[h] += ll[h]
    top = max(total.values())
    weights = {h: math.exp(v - top) for h, v in total.items()}
    norm = sum(weights.values())
    return Posterior({h: w / norm for h, w in weights.items()})


def log10_lr(ll: Mapping[str, float], a: str = GRCH37, b: str = GRCH38) -> float:
    """log10 of the likelihood ratio of ``a`` over ``b``."""
    return (ll[a] - ll[b]) / math.log(10)


def fmt_p(p: float) -> str:
    """A posterior probability for messages: ``0.998713``, ``> 0.999999``, ``< 1e-06``."""
    if p > 1 - 1e-6:
        return "> 0.999999"
    if p < 1e-6:
        return "< 1e-06"
    return f"{p:.6f}".rstrip("0")

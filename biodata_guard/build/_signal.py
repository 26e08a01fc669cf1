"""One signal's measurement: whether it applies, its log-likelihoods, a summary, its counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from biodata_guard.build._evidence import (
    HYPOTHESES,
    OTHER,
    log10_lr,
    posterior,
)
from biodata_guard.build._reference import BUILDS, GRCH37, GRCH38

_NEITHER = "neither"  # a signal's vote when the data fit neither build


@dataclass(frozen=True)
class _Signal:
    """A signal: ``loglik`` holds log P(data | hypothesis) for every hypothesis (all zero when
    the signal carries no information)."""

    name: str
    available: bool
    summary: str
    loglik: dict[str, float] = field(default_factory=lambda: dict.fromkeys(HYPOTHESES, 0.0))
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def informative(self) -> bool:
        values = list(self.loglik.values())
        return self.available and max(values) - min(values) > 1e-9

    def vote(self, false_call_rate: float) -> tuple[str | None, float]:
        """(the hypothesis this signal alone decides, posterior of its lead) under the prior."""
        if not self.informative:
            return None, 0.0
        post = posterior([self.loglik])
        lead, p = post.lead()
        decided = (_NEITHER if lead == OTHER else lead) if p >= 1.0 - false_call_rate else None
        return decided, p

    def evidence(self, false_call_rate: float) -> dict[str, Any]:
        vote, conf = self.vote(false_call_rate)
        diff = self.loglik[GRCH37] - self.loglik[GRCH38]
        p37 = 1.0 / (1.0 + _exp(-diff))
        return {
            "available": self.available,
            "vote": vote,
            "confidence": round(conf, 6),
            "log10_lr": round(log10_lr(self.loglik), 3),
            "loglik": {h: round(v, 3) for h, v in self.loglik.items()},
            "scores": {GRCH37: round(p37, 4), GRCH38: round(1.0 - p37, 4)}
            if self.informative
            else dict.fromkeys(BUILDS, 0.0),
            "summary": self.summary,
            **self.detail,
        }


def _exp(x: float) -> float:
    return math.exp(max(-700.0, min(700.0, x)))

"""The units call of one matrix (:class:`UnitsCall`) and the vocabulary of units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from biodata_guard._format import jsonable

#: Every value of :attr:`UnitsCall.units`. ``"cpm_or_tpm"`` is the one ambiguity kept as a
#: value of its own: the data sum to 1e6 per sample, but without exact evidence (gene lengths,
#: values that are exact multiples of integer counts) TPM and CPM cannot be told apart.
UNITS = (
    "counts",
    "cpm",
    "tpm",
    "rpkm",
    "normalized",
    "log",
    "scaled",
    "cpm_or_tpm",
    "unknown",
)

#: The units an input may be expected in (``expectations.units`` / ``--expected-units``);
#: ``"fpkm"`` is taken as ``"rpkm"``.
EXPECTED_UNITS = ("counts", "cpm", "tpm", "rpkm", "fpkm", "normalized", "log", "scaled")

CPM_TARGET = 1e6  # CPM and TPM sum to this per sample
RPKM_LENGTH_SUM = 1e9  # sum over genes of RPKM x gene length (bp) per sample

_SUM_RTOL = 1e-3  # "sums to T" tolerance (relative)

# Linear (not log) per-sample labels. "~" marks a weak call (no exact evidence).
_CANDIDATES = {
    "counts": ("counts",),
    "cpm": ("cpm",),
    "tpm": ("tpm",),
    "rpkm": ("rpkm",),
    "normalized": ("normalized",),
    "cpm_or_tpm": ("cpm", "tpm"),
    "scaled": ("scaled",),
    "log": ("log",),
    "unknown": (),
}
_CONFIDENCE = {
    "counts": 0.99,
    "counts~": 0.6,
    "cpm": 0.99,
    "tpm": 0.99,
    "rpkm": 0.95,
    "rpkm~": 0.4,
    "lennorm~": 0.8,
    "normalized": 0.95,
    "normalized~": 0.8,
    "cpm_or_tpm": 0.9,
    "cpm_or_tpm~": 0.75,
    "unknown~": 0.0,
    "scaled": 0.95,
    "scaled~": 0.7,
    "unknown": 0.0,
}
_NO_NEGATIVES = {"counts", "cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}


@dataclass(frozen=True, eq=False)
class UnitsCall:
    """The units of one matrix, with the evidence behind the call.

    Attributes
    ----------
    units
        One of :data:`UNITS`: ``counts``, ``cpm``, ``tpm``, ``rpkm`` (covers FPKM),
        ``normalized`` (library-size normalised to a constant other than 1e6, e.g. scanpy
        ``normalize_total`` to 1e4, or size-factor normalised), ``log``, ``scaled``,
        ``cpm_or_tpm`` (sums to 1e6; TPM vs CPM undetermined) or ``unknown``.
    confidence
        0..1: 0.99 for exact evidence (integers, values on a per-sample integer grid,
        sum of RPKM x length = 1e9), lower for sums-only or fallback calls, scaled by the
        share of samples that agree.
    reason
        One sentence with the numbers behind the call.
    evidence
        The figures (JSON-safe): sums, fractions, counts of samples per per-sample call ...
    label
        Human-readable label, e.g. ``"log1p(normalized)"``, ``"log2(tpm+1)"``, ``"counts"``.
    candidates
        Every unit of :data:`EXPECTED_UNITS` the data are consistent with (``("cpm", "tpm")`` for
        ``cpm_or_tpm``, ``("rpkm", "normalized")`` for an unconfirmed RPKM call, ``("log",
        "rpkm", "normalized")`` for small non-negative values that no back-transform explains,
        ``()`` for unknown). :meth:`matches` compares an expectation with these.
    log_base, log_of, pseudocount
        For ``units == "log"``: ``"e"``, ``"2"`` or ``"10"``, the units under the log
        (``None`` when no back-transform gave known units) and the pseudocount added.
    name
        The matrix's name in messages.
    sample_units
        Per-sample labels (a ``pandas.Series`` indexed by sample id; ``"empty"`` for all-zero
        samples), the basis of ``units.mixed_within``.
    offenders
        First ids per problem (``"nan_samples"``, ``"negative_samples"``, ``"zero_samples"``,
        ``"zero_features"``, ``"mixed_samples"``, ``"mixed_features"``); totals are in
        ``evidence``.
    """

    units: str
    confidence: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    candidates: tuple[str, ...] = ()
    log_base: str | None = None
    log_of: str | None = None
    pseudocount: float | None = None
    name: str = "<matrix>"
    sample_units: pd.Series | None = field(default=None, repr=False)
    offenders: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def matches(self, expected: str) -> bool:
        """Whether the data are consistent with ``expected`` (an :data:`EXPECTED_UNITS` value).

        ``"fpkm"`` counts as ``"rpkm"``; ``"normalized"`` also accepts CPM (library-size
        normalised to 1e6); ``"log"`` accepts any log transform.
        """
        want = "rpkm" if expected == "fpkm" else expected
        if want in self.candidates:
            return True
        return want == "normalized" and "cpm" in self.candidates

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (per-sample calls as counts, not the full series)."""
        return jsonable(
            {
                "name": self.name,
                "units": self.units,
                "label": self.label,
                "confidence": self.confidence,
                "reason": self.reason,
                "candidates": list(self.candidates),
                "log_base": self.log_base,
                "log_of": self.log_of,
                "pseudocount": self.pseudocount,
                "evidence": self.evidence,
            }
        )

    def __str__(self) -> str:
        return f"{self.name}: {self.label} (confidence {self.confidence:.2f}) — {self.reason}"


def _g(x: float) -> str:
    return f"{x:.3g}"

"""Build detection: every signal measured, their votes combined into one :class:`BuildCall`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from biodata_guard.build._inputs import CoordLike, _as_coords, _prepare, _Prepared
from biodata_guard.build._reference import BUILDS
from biodata_guard.build._signals import (
    _MAX_CONFIDENCE,
    _NEITHER,
    _chrom_ends_signal,
    _gene_signal,
    _header_signal,
    _marker_position_signal,
    _marker_rsid_signal,
    _Signal,
    _tss_signal,
)
from biodata_guard.errors import ConfigError

#: The value of :attr:`BuildCall.build` when the evidence does not decide.
UNDETERMINED_BUILD = "undetermined"
_LEANING_CONFIDENCE = 0.75  # an undetermined call names the build weak evidence points to
# How an undetermined call's reason starts (the finding's hint depends on it).
_WHY_NONE = "no signal applies"
_WHY_INCONCLUSIVE = "no signal is conclusive"
_WHY_DISAGREE = "the signals disagree"
_WHY_NEITHER = "the data fit neither build"
_WHY_WEAK = "the evidence is too weak"


@dataclass(frozen=True)
class BuildCall:
    """The genome build of one input, with the evidence of every signal.

    Attributes
    ----------
    name
        The input's name.
    build
        ``"GRCh37"``, ``"GRCh38"`` or ``"undetermined"``.
    confidence
        Support for ``build`` in [0, 1] (0 when undetermined): the voting signals' confidences
        combined as independent evidence, ``1 - prod(1 - c)``.
    reason
        One sentence: what decided the call, or why nothing did.
    evidence
        Per signal (:data:`SIGNALS`): ``available``, ``vote``, ``confidence``, ``scores``
        (``{"GRCh37": s, "GRCh38": s}`` in [0, 1]), ``summary`` and the counts behind them.
    leaning
        When undetermined: the build the (weak or one-sided) evidence points to, else None.
    n_rows
        Rows of the input.
    """

    name: str
    build: str
    confidence: float
    reason: str
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    leaning: str | None = None
    n_rows: int = 0

    @property
    def determined(self) -> bool:
        return self.build in BUILDS

    @property
    def voters(self) -> list[str]:
        """The signals that voted for a build."""
        return [s for s, e in self.evidence.items() if e.get("vote")]

    def scores(self) -> dict[str, dict[str, float]]:
        """``{signal: {"GRCh37": score, "GRCh38": score}}`` for the signals that had data."""
        return {s: dict(e["scores"]) for s, e in self.evidence.items() if e.get("available")}


def _signals(
    p: _Prepared, *, min_informative: int, tss_window: int, max_intervals: int, seed: int
) -> list[_Signal]:
    return [
        _header_signal(p),
        _chrom_ends_signal(p),
        _marker_rsid_signal(p, min_informative),
        _marker_position_signal(p, min_informative),
        _gene_signal(p, min_informative),
        _tss_signal(p, min_informative, window=tss_window, max_intervals=max_intervals, seed=seed),
    ]


def _combine(p: _Prepared, signals: list[_Signal], *, min_confidence: float) -> BuildCall:
    evidence = {s.name: s.evidence() for s in signals}
    voters = [s for s in signals if s.vote]
    available = [s for s in signals if s.available]

    def call(build: str, conf: float, reason: str, leaning: str | None = None) -> BuildCall:
        return BuildCall(p.name, build, round(conf, 3), reason, evidence, leaning, p.n)

    if not available:
        return call(UNDETERMINED_BUILD, 0.0, f"{_WHY_NONE}: no header and no coordinates")
    votes = {s.vote for s in voters}
    if votes == {_NEITHER}:
        said = "; ".join(s.summary for s in voters)
        return call(UNDETERMINED_BUILD, 0.0, f"{_WHY_NEITHER}: {said}")
    if len(votes) > 1:
        said = "; ".join(f"{s.summary} -> {s.vote}" for s in voters)
        return call(UNDETERMINED_BUILD, 0.0, f"{_WHY_DISAGREE}: {said}")
    if not voters:
        weak = [s for s in available if s.confidence >= _LEANING_CONFIDENCE]
        leaning = None
        if weak:
            best = max(weak, key=lambda s: s.confidence)
            leaning = max(BUILDS, key=lambda b: best.scores[b])
        said = "; ".join(s.summary for s in available)
        if not signals[0].available:
            said += "; the header names no build"
        return call(UNDETERMINED_BUILD, 0.0, f"{_WHY_INCONCLUSIVE}: {said}", leaning)
    build = votes.pop()
    conf = 1.0 - math.prod(1.0 - s.confidence for s in voters)
    conf = min(conf, _MAX_CONFIDENCE)
    said = "; ".join(s.summary for s in voters)
    if conf < min_confidence:
        return call(
            UNDETERMINED_BUILD,
            0.0,
            f"{_WHY_WEAK} (confidence {conf:.3g} < {min_confidence:g}): {said}",
            build,
        )
    return call(build, conf, said)


def _check_detection_options(
    min_informative: int, min_confidence: float, tss_window: int, max_intervals: int
) -> None:
    if min_informative < 1:
        raise ConfigError(
            f"min_informative must be >= 1; got {min_informative} instead", key="min_informative"
        )
    if not 0.0 < min_confidence < 1.0:
        raise ConfigError(
            f"min_confidence must be in (0, 1); got {min_confidence} instead", key="min_confidence"
        )
    if tss_window < 0:
        raise ConfigError(f"tss_window must be >= 0; got {tss_window} instead", key="tss_window")
    if max_intervals < 1:
        raise ConfigError(
            f"max_intervals must be >= 1; got {max_intervals} instead", key="max_intervals"
        )


def _detect(
    p: _Prepared,
    *,
    min_informative: int = 10,
    min_confidence: float = 0.9,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> BuildCall:
    _check_detection_options(min_informative, min_confidence, tss_window, max_intervals)
    signals = _signals(
        p,
        min_informative=min_informative,
        tss_window=tss_window,
        max_intervals=max_intervals,
        seed=seed,
    )
    return _combine(p, signals, min_confidence=min_confidence)


def detect_build(
    coords: CoordLike,
    *,
    name: str | None = None,
    min_informative: int = 10,
    min_confidence: float = 0.9,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> BuildCall:
    """Call the genome build (GRCh37 or GRCh38) of a coordinate-bearing input.

    Every signal the input allows is measured and reported on its own:

    ``header``
        VCF ``##reference`` / ``##assembly`` / ``##contig`` (lengths, ``assembly=``), GTF
        ``#!genome-build`` / ``##description``, BED ``track db=``, genotype-file comments;
        RefSeq / GenBank accessions as contig names. Says what the file claims.
    ``chrom_ends``
        Rows past a chromosome's end in one build but not the other (every chromosome except
        MT differs in length). Can only exclude a build, and only near chromosome ends.
    ``marker_rsids``
        rsIDs of the shipped marker panel (~20k common SNPs whose position differs between the
        builds): the share of them at each build's position.
    ``marker_positions``
        Without rsIDs (single positions only): rows at either build's panel positions.
    ``gene_coords``
        Gene names (GTF/GFF, AnnData ``.var``): which build's gene coordinates are closer.
    ``tss``
        Intervals without ids (peaks, regions): the share within ``tss_window`` bp of a TSS of
        each build (pyranges overlap). Enrichment only means something for TSS-rich data
        (promoter peaks, genes); random regions stay undetermined.

    A signal votes when its own confidence (one-sided binomial, 1 - P(chance)) reaches 0.8
    and at least ``min_informative`` rows inform it. The call is the build all votes agree on
    when their combined confidence reaches ``min_confidence``; otherwise, or when signals
    disagree (a stale header over lifted coordinates), it is ``"undetermined"`` with the reason.

    Parameters
    ----------
    coords
        A :class:`~biodata_guard._context.CoordInput`, a DataFrame (``Chromosome``/``Start``/
        ``End`` or chrom/pos columns) or a file path (VCF, BED, GTF/GFF, genotype text, tables).
    name
        Name used in messages (default: the input's).
    min_informative
        Panel rsIDs / positions / genes / TSS-discordant intervals a statistical signal needs.
    min_confidence
        Combined confidence below which the call is ``"undetermined"``.
    tss_window
        Distance (bp) from an interval's start, end or midpoint to a TSS that counts as touching.
    max_intervals
        Intervals sampled (with ``seed``) for the TSS signal.
    seed
        Seed of that sample.

    Returns
    -------
    BuildCall

    Raises
    ------
    InputError
        The input cannot be read.
    ConfigError
        An option is out of range.

    Examples
    --------
    Plant a GRCh37 header (chr1 is 249,250,621 bp only in GRCh37) over a few rows:

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "calls.vcf")
    >>> _ = open(p, "w").write(
    ...     "##fileformat=VCFv4.2\\n##contig=<ID=1,length=249250621>\\n#CHROM\\tPOS\\tID\\t"
    ...     "REF\\tALT\\tQUAL\\tFILTER\\tINFO\\n1\\t1000\\t.\\tA\\tG\\t.\\t.\\t.\\n")
    >>> call = detect_build(p)
    >>> call.build, call.confidence, call.voters
    ('GRCh37', 0.95, ['header'])
    """
    return _detect(
        _prepare(_as_coords(coords, name)),
        min_informative=min_informative,
        min_confidence=min_confidence,
        tss_window=tss_window,
        max_intervals=max_intervals,
        seed=seed,
    )

"""The build signals: each measures one kind of evidence (header, chromosome ends, marker SNPs,
gene coordinates, TSS alignment) and votes for a build when it is conclusive on its own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.build._inputs import _Prepared
from biodata_guard.build._reference import (
    _MT,
    _OTHER,
    _PRIMARY,
    BUILDS,
    GRCH37,
    GRCH38,
    _accessions,
    _canonical,
    _chrom_sizes,
    _genes,
    _keys,
    _marker_keys,
    _markers,
    _tss,
)

#: The signals, in the order they are reported.
SIGNALS = ("header", "chrom_ends", "marker_rsids", "marker_positions", "gene_coords", "tss")
_NEITHER = "neither"  # a signal's vote when the data fit neither build

_KEYWORDS = {
    GRCH37: re.compile(
        r"grch37|(?<![a-z0-9])(hg19|b37|hs37d5|hs37|ncbi37|g1k_v37)(?![0-9])|"
        r"build\s*37|GCF_000001405\.(1[3-9]|2[0-5])(?!\d)|GCA_000001405\.([1-9]|1[0-4])(?!\d)",
        re.IGNORECASE,
    ),
    GRCH38: re.compile(
        r"grch38|(?<![a-z0-9])(hg38|b38|hs38(dh)?|ncbi38)(?![0-9])|build\s*38|"
        r"homo_sapiens_assembly38|GCA_000001405\.(1[5-9]|2[0-9])(?!\d)|"
        r"GCF_000001405\.(2[6-9]|3\d|40)(?!\d)",
        re.IGNORECASE,
    ),
}
_OTHER_BUILDS = re.compile(
    r"(?<![a-z0-9])(hg18|hg17|ncbi36|ncbi35|b36|build\s*36|t2t|chm13|mm9|mm10|mm39|grcm3\d)"
    r"(?![0-9])",
    re.IGNORECASE,
)

# Thresholds of the per-signal votes (see detect_build).
_VOTE_CONFIDENCE = 0.8  # a signal votes only when its own confidence reaches this
_MAX_CONFIDENCE = 0.999
_MARKER_SHARE = 0.9  # marker / gene hits are errors when they sit at the other build's position
_TSS_SHARE = 0.6  # TSS touches under the wrong build are chance, so a lower share is decisive
_HEADER_CONFIDENCE = {"contigs": 0.99, "accessions": 0.99, "keywords": 0.95}


@dataclass(frozen=True)
class _Signal:
    """One signal's measurement: whether it applies, its scores, its vote and a summary."""

    name: str
    available: bool
    summary: str
    scores: dict[str, float] = field(default_factory=lambda: {b: 0.0 for b in BUILDS})
    vote: str | None = None
    confidence: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "vote": self.vote,
            "confidence": round(self.confidence, 3),
            "scores": {b: round(float(v), 4) for b, v in self.scores.items()},
            "summary": self.summary,
            **self.detail,
        }


def _binomial_confidence(k: int, n: int) -> float:
    """1 - P(X >= k) for X ~ Binomial(n, 1/2): how unlikely ``k of n`` is by chance.

    Exact up to n = 2000 (integer arithmetic), normal approximation with continuity
    correction above (where it is capped at ``_MAX_CONFIDENCE`` anyway). No scipy: importing
    scipy.stats costs seconds.
    """
    if n <= 0 or k <= n / 2:
        return 0.0
    if n <= 2000:
        tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
    else:
        tail = 0.5 * math.erfc((k - 0.5 - n / 2) / math.sqrt(n / 4) / math.sqrt(2))
    return min(_MAX_CONFIDENCE, 1.0 - tail)


def _lead(counts: dict[str, Any]) -> str:
    """The build with the most counts (ties: GRCh37)."""
    return max(BUILDS, key=lambda b: counts[b])


def _counted_vote(
    counts: dict[str, int], n: int, *, min_informative: int, min_share: float
) -> tuple[str | None, float]:
    """(vote, confidence) from per-build counts out of ``n`` informative rows: a vote needs
    ``min_informative`` rows, the leading build's share at ``min_share`` and a confidence of
    at least ``_VOTE_CONFIDENCE``."""
    lead = _lead(counts)
    k = counts[lead]
    conf = _binomial_confidence(k, n)
    decisive = n >= min_informative and k / n >= min_share and conf >= _VOTE_CONFIDENCE
    return (lead if decisive else None), conf


def _run_vote(k: int, build: str) -> tuple[str | None, float]:
    """(vote, confidence) from ``k`` rows that each exclude the other build(s) outright."""
    conf = min(_MAX_CONFIDENCE, 1.0 - 0.5**k)
    return (build if conf >= _VOTE_CONFIDENCE else None), conf


def _counted_signal(
    name: str,
    counts: dict[str, int],
    n: int,
    *,
    min_informative: int,
    summary: str,
    unit: str,
    detail: dict[str, Any],
) -> _Signal:
    """A signal that counts rows (rsIDs, positions, genes) at each build's coordinates, out of
    ``n`` informative ones; ``unit`` names them in the summary when too few to decide."""
    vote, conf = _counted_vote(counts, n, min_informative=min_informative, min_share=_MARKER_SHARE)
    if n < min_informative:
        summary += f" (fewer than {min_informative} {unit}: not conclusive)"
    scores = {b: counts[b] / n if n else 0.0 for b in BUILDS}
    return _Signal(name, True, summary, scores, vote, conf, detail)


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class _HeaderScan:
    """What a header says: lines naming a build, ##contig lengths, accession contig names.

    ``contig_lengths`` counts the primary ##contig lines whose length fits ``GRCh37`` only,
    ``GRCh38`` only, ``both`` or ``neither``.
    """

    keywords: dict[str, list[str]]
    other: list[str]
    contig_lengths: dict[str, int]
    accessions: dict[str, int]
    ucsc_chrm: bool

    @property
    def n_keyword(self) -> dict[str, int]:
        return {b: len(v) for b, v in self.keywords.items()}

    @property
    def n_discriminating(self) -> int:
        """##contig lines whose length fits one build or neither (not both)."""
        c = self.contig_lengths
        return c[GRCH37] + c[GRCH38] + c["neither"]


def _scan_lines(p: _Prepared) -> tuple[dict[str, list[str]], list[str]]:
    """Header lines (and column names) naming GRCh37 / GRCh38, and those naming another one."""
    lines = [str(x) for x in p.ci.header.get("lines") or []]
    # Column names may name the build too (hg19chrc, pos_hg38, BP_GRCh37).
    lines += [f"column {c}" for c in (p.ci.header.get("columns") or {}).values()]
    keywords: dict[str, list[str]] = {b: [] for b in BUILDS}
    other: list[str] = []
    for line in lines:
        hits = {b for b in BUILDS if _KEYWORDS[b].search(line)}
        for b in hits:
            keywords[b].append(line[:120])
        if not hits and _OTHER_BUILDS.search(line):
            other.append(line[:120])
    return keywords, other


def _scan_contig_lengths(contigs: dict[str, Any]) -> tuple[dict[str, int], bool]:
    """##contig lengths of primary chromosomes by the build(s) they fit; UCSC hg19 chrM seen?"""
    sizes = _chrom_sizes()
    checked = {GRCH37: 0, GRCH38: 0, "neither": 0, "both": 0}
    ucsc_chrm = False
    for cname, length in contigs.items():
        code = _canonical(str(cname))
        if code < 0 or length is None:
            continue
        in37 = int(length) in (sizes["length_GRCh37"].iloc[code], sizes["bound_GRCh37"].iloc[code])
        in38 = int(length) == sizes["length_GRCh38"].iloc[code]
        ucsc_chrm |= code == _MT and int(length) == sizes["length_hg19_ucsc"].iloc[code]
        checked["both" if in37 and in38 else GRCH37 if in37 else GRCH38 if in38 else "neither"] += 1
    return checked, bool(ucsc_chrm)


def _scan_header(p: _Prepared) -> _HeaderScan:
    contigs = p.ci.header.get("contigs") or {}
    keywords, other = _scan_lines(p)
    checked, ucsc_chrm = _scan_contig_lengths(contigs)
    accessions = {b: 0 for b in BUILDS}
    for cname in [*contigs, *p.names]:
        acc = _accessions().get(str(cname).strip())
        if acc is not None and acc[1] is not None:
            accessions[acc[1]] += 1
    return _HeaderScan(keywords, other, checked, accessions, ucsc_chrm)


def _header_sources(h: _HeaderScan) -> dict[str, str]:
    """Per kind of header evidence: the build it names, or ``"conflict"``."""
    sources: dict[str, str] = {}
    n_keyword = h.n_keyword
    if any(n_keyword.values()):
        if n_keyword[GRCH37] and n_keyword[GRCH38]:
            sources["keywords"] = "conflict"
        else:
            sources["keywords"] = GRCH37 if n_keyword[GRCH37] else GRCH38
    n_disc = h.n_discriminating
    if n_disc:
        lead = _lead(h.contig_lengths)
        sources["contigs"] = lead if h.contig_lengths[lead] == n_disc else "conflict"
    if any(h.accessions.values()):
        sources["accessions"] = "conflict" if all(h.accessions.values()) else _lead(h.accessions)
    if h.other and not any(n_keyword.values()):
        sources["other_build"] = "conflict"
    return sources


def _header_scores(h: _HeaderScan) -> dict[str, float]:
    n_disc, n_keyword = h.n_discriminating, h.n_keyword
    if n_disc:
        return {b: h.contig_lengths[b] / n_disc for b in BUILDS}
    if any(n_keyword.values()):
        return {b: float(bool(n_keyword[b])) for b in BUILDS}
    if any(h.accessions.values()):
        total = sum(h.accessions.values())
        return {b: h.accessions[b] / total for b in BUILDS}
    return {b: 0.0 for b in BUILDS}


def _header_summary(h: _HeaderScan, vote: str | None) -> str:
    checked, accessions = h.contig_lengths, h.accessions
    parts = []
    if any(h.n_keyword.values()):
        parts.append(
            "header lines name "
            + " and ".join(f"{b} ({preview(h.keywords[b], n=1)})" for b in BUILDS if h.keywords[b])
        )
    if h.other:
        parts.append(f"header names another assembly ({preview(h.other, n=1)})")
    if h.n_discriminating or checked["both"]:
        n_checked = h.n_discriminating + checked["both"]
        parts.append(
            f"##contig lengths: {checked[GRCH37]} of {n_checked} match GRCh37 only, "
            f"{checked[GRCH38]} GRCh38 only, {checked['neither']} neither"
        )
    if any(accessions.values()):
        parts.append(
            f"accession contig names: {accessions[GRCH37]} GRCh37, {accessions[GRCH38]} GRCh38"
        )
    if h.ucsc_chrm:
        parts.append("chrM is 16,571 bp: UCSC hg19 (NC_001807), not the rCRS")
    return "header: " + "; ".join(parts) + ("" if vote else " (the header is contradictory)")


def _header_signal(p: _Prepared) -> _Signal:
    h = _scan_header(p)
    detail: dict[str, Any] = {
        "keyword_lines": h.keywords,
        "other_assembly_lines": h.other,
        "contig_lengths": h.contig_lengths,
        "accessions": h.accessions,
        "ucsc_hg19_chrM": h.ucsc_chrm,
    }
    sources = _header_sources(h)
    if not sources:
        return _Signal("header", False, "header: names no build", detail=detail)
    verdicts = set(sources.values())
    vote = next(iter(verdicts)) if len(verdicts) == 1 and "conflict" not in verdicts else None
    conf = max(_HEADER_CONFIDENCE.get(s, 0.0) for s in sources) if vote else 0.0
    if vote and sources.get("contigs") == vote and h.n_discriminating < 3:
        conf = min(conf, 0.95)
    detail["sources"] = sources
    return _Signal("header", True, _header_summary(h, vote), _header_scores(h), vote, conf, detail)


# --------------------------------------------------------------------------- chromosome ends


def _chrom_ends_signal(p: _Prepared) -> _Signal:
    sizes = _chrom_sizes()
    ok = p.code >= 0
    n = int(ok.sum())
    if not n:
        return _Signal("chrom_ends", False, "chromosome ends: no rows on primary chromosomes")
    code, end = p.code[ok], p.end[ok]
    past = {b: end > sizes[f"bound_{b}"].to_numpy()[code] for b in BUILDS}
    n_past = {b: int(past[b].sum()) for b in BUILDS}
    only = {  # rows that fit one build and run past the other's end
        GRCH37: int((past[GRCH38] & ~past[GRCH37]).sum()),
        GRCH38: int((past[GRCH37] & ~past[GRCH38]).sum()),
    }
    n_both = int((past[GRCH37] & past[GRCH38]).sum())
    # Rows past the ends of both builds, or past GRCh37 ends on some rows and GRCh38 ends on
    # others, fit neither build: another assembly (hg18 runs past GRCh37 ends) or bad rows.
    n_neither = n_both + (only[GRCH37] + only[GRCH38] if all(only.values()) else 0)
    detail = {
        "n_rows_checked": n,
        "n_past_end": n_past,
        "n_fit_only": only,
        "n_past_both": n_both,
        "chromosomes_past_end": {
            b: sorted({_PRIMARY[c] for c in np.unique(code[past[b]])}, key=_PRIMARY.index)
            for b in BUILDS
        },
        "n_fit_neither": n_neither,
    }
    past_both = [_PRIMARY[c] for c in np.unique(code[past[GRCH37] & past[GRCH38]])]
    lead = _lead(only)
    if n_neither:
        vote, conf = _run_vote(n_neither, _NEITHER)
    elif only[lead]:
        vote, conf = _run_vote(only[lead], lead)
    else:
        vote, conf = None, 0.0
    scores = {b: 1.0 - n_past[b] / n for b in BUILDS}
    summary = _chrom_ends_summary(detail, past_both, lead)
    return _Signal("chrom_ends", True, summary, scores, vote, conf, detail)


def _chrom_ends_summary(detail: dict[str, Any], past_both: list[str], lead: str) -> str:
    n, only, n_both = detail["n_rows_checked"], detail["n_fit_only"], detail["n_past_both"]
    if detail["n_fit_neither"]:
        return (
            f"chromosome ends: {fraction(detail['n_fit_neither'], n)} rows fit neither build ("
            f"{n_both} run past the ends of both"
            + (f" on chromosomes {preview(past_both)}" if n_both else "")
            + (
                f", {only[GRCH37]} past GRCh38 ends only, {only[GRCH38]} past GRCh37 ends only"
                if all(only.values())
                else ""
            )
            + "): another assembly such as hg18, or corrupt rows"
        )
    if only[lead]:
        chroms = detail["chromosomes_past_end"][_OTHER[lead]]
        return (
            f"chromosome ends: {fraction(only[lead], n)} rows run past {_OTHER[lead]} chromosome "
            f"ends ({preview(chroms)}) but fit {lead}"
        )
    return f"chromosome ends: all {n} rows fit within the ends of both builds"


# --------------------------------------------------------------------------- marker SNPs


def _marker_rsid_signal(p: _Prepared, min_informative: int) -> _Signal:
    frame = p.ci.frame
    if "rsid" not in frame.columns or not frame["rsid"].notna().any():
        return _Signal("marker_rsids", False, "marker rsIDs: the input has no rsID column")
    panel = _markers()
    idx = panel.index.get_indexer(frame["rsid"])
    hit = idx >= 0
    n = int(hit.sum())
    detail: dict[str, Any] = {
        "n_rows_with_rsid": int(frame["rsid"].notna().sum()),
        "n_panel_rsids": n,
        "panel_size": len(panel),
    }
    if not n:
        return _Signal(
            "marker_rsids",
            True,
            f"marker rsIDs: none of {detail['n_rows_with_rsid']} rsIDs is in the marker panel",
            detail=detail,
        )
    rows = idx[hit]
    code, pos = p.code[hit], p.start[hit] + 1
    at = {
        b: (code == panel[f"code_{b}"].to_numpy()[rows])
        & (pos == panel[f"pos_{b}"].to_numpy()[rows])
        for b in BUILDS
    }
    counts = {b: int(at[b].sum()) for b in BUILDS}
    neither = n - counts[GRCH37] - counts[GRCH38]
    detail.update(n_at_position=counts, n_at_neither=neither)
    lead = _lead(counts)
    summary = (
        f"marker rsIDs: {fraction(counts[lead], n)} panel rsIDs sit at their {lead} position, "
        f"{counts[_OTHER[lead]]} at their {_OTHER[lead]} position, {neither} at neither"
    )
    return _counted_signal(
        "marker_rsids",
        counts,
        n,
        min_informative=min_informative,
        summary=summary,
        unit="panel rsIDs",
        detail=detail,
    )


def _marker_position_signal(p: _Prepared, min_informative: int) -> _Signal:
    if not p.point_like:
        return _Signal("marker_positions", False, "marker positions: the input holds intervals")
    ok = p.code >= 0
    keys = _keys(p.code[ok], p.start[ok] + 1)
    counts = {b: int(np.isin(keys, _marker_keys(b)).sum()) for b in BUILDS}
    n_hits = counts[GRCH37] + counts[GRCH38]
    n = int(ok.sum())
    detail = {
        "n_rows_checked": n,
        "n_at_panel_position": counts,
        "fraction_of_rows": {b: counts[b] / n if n else 0.0 for b in BUILDS},
    }
    lead = _lead(counts)
    summary = (
        f"marker positions: {counts[lead]} of {n} rows sit at {lead} panel positions, "
        f"{counts[_OTHER[lead]]} at {_OTHER[lead]} panel positions"
    )
    return _counted_signal(
        "marker_positions",
        counts,
        n_hits,
        min_informative=min_informative,
        summary=summary,
        unit="hits",
        detail=detail,
    )


# --------------------------------------------------------------------------- genes and TSSs


def _gene_signal(p: _Prepared, min_informative: int) -> _Signal:
    frame = p.ci.frame
    if "gene_name" not in frame.columns or not frame["gene_name"].notna().any():
        return _Signal("gene_coords", False, "gene coordinates: the input has no gene names")
    n_genes, m = _panel_genes(p)
    detail: dict[str, Any] = {"n_genes": n_genes, "n_panel_genes": len(m)}
    if m.empty:
        return _Signal(
            "gene_coords",
            True,
            f"gene coordinates: none of {n_genes} gene names is in the gene panel",
            detail=detail,
        )
    dist = {
        b: (m["start"] - m[f"start_{b}"]).abs() + (m["end"] - m[f"end_{b}"]).abs() for b in BUILDS
    }
    overlaps = {b: (m["start"] <= m[f"end_{b}"]) & (m["end"] >= m[f"start_{b}"]) for b in BUILDS}
    located = overlaps[GRCH37] | overlaps[GRCH38]
    informative = located & (dist[GRCH37] != dist[GRCH38])
    counts = {
        b: int((informative & (dist[b] < dist[_OTHER[b]]) & overlaps[b]).sum()) for b in BUILDS
    }
    n = counts[GRCH37] + counts[GRCH38]
    detail.update(
        n_informative=n,
        n_closer=counts,
        n_exact={b: int((dist[b] == 0).sum()) for b in BUILDS},
        n_same_in_both=int((located & (dist[GRCH37] == dist[GRCH38])).sum()),
        n_overlapping_neither=int((~located).sum()),
    )
    lead = _lead(counts)
    summary = (
        f"gene coordinates: {fraction(counts[lead], n)} panel genes whose coordinates differ "
        f"between builds are closer to their {lead} coordinates"
    )
    return _counted_signal(
        "gene_coords",
        counts,
        n,
        min_informative=min_informative,
        summary=summary,
        unit="informative genes",
        detail=detail,
    )


def _panel_genes(p: _Prepared) -> tuple[int, pd.DataFrame]:
    """The input's genes (span of their rows, 1-based) joined to the gene panel on name and
    chromosome; with the number of distinct gene names."""
    frame = p.ci.frame
    named = frame["gene_name"].notna().to_numpy()
    sub = pd.DataFrame(
        {
            "gene_name": frame["gene_name"].to_numpy()[named],
            "code": p.code[named],
            "start": p.start[named] + 1,
            "end": p.end[named],
        }
    )
    genes = sub.groupby("gene_name", sort=True).agg(
        code=("code", "first"), start=("start", "min"), end=("end", "max")
    )
    m = genes.join(_genes().rename(columns={"code": "code_panel"}), how="inner")
    return len(genes), m[m["code"] == m["code_panel"]]


def _tss_signal(
    p: _Prepared, min_informative: int, *, window: int, max_intervals: int, seed: int
) -> _Signal:
    if p.point_like or "rsid" in p.ci.frame.columns:
        return _Signal("tss", False, "TSS alignment: applies to intervals without ids only")
    rows = np.flatnonzero(p.code >= 0)
    if "Feature" in p.ci.frame.columns:  # annotation: the gene / transcript records start at TSSs
        feature = p.ci.frame["Feature"].to_numpy()[rows]
        top = np.isin(feature, ("gene", "transcript", "mRNA"))
        rows = rows[top] if top.any() else rows
    if not len(rows):
        return _Signal("tss", False, "TSS alignment: no intervals on primary chromosomes")
    sampled = len(rows) > max_intervals
    if sampled:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, max_intervals, replace=False))
    touch = {b: _touches_tss(p, rows, b, window) for b in BUILDS}
    n = len(rows)
    only = {b: int((touch[b] & ~touch[_OTHER[b]]).sum()) for b in BUILDS}
    n_touch = {b: int(touch[b].sum()) for b in BUILDS}
    n_inf = only[GRCH37] + only[GRCH38]
    detail = {
        "n_intervals": n,
        "sampled": sampled,
        "window_bp": window,
        "n_touching": n_touch,
        "n_touching_only": only,
        "fraction_touching": {b: n_touch[b] / n for b in BUILDS},
    }
    vote, conf = _counted_vote(only, n_inf, min_informative=min_informative, min_share=_TSS_SHARE)
    lead = _lead(only)
    summary = (
        f"TSS alignment: {fraction(n_touch[lead], n)} intervals lie within {window:,} bp of a "
        f"{lead} TSS vs {fraction(n_touch[_OTHER[lead]], n)} for {_OTHER[lead]} "
        f"({only[lead]} vs {only[_OTHER[lead]]} touch only one build)"
    )
    if vote is None:
        summary += " (not conclusive)"
    scores = {b: n_touch[b] / n for b in BUILDS}
    return _Signal("tss", True, summary, scores, vote, conf, detail)


def _touches_tss(p: _Prepared, rows: np.ndarray, build: str, window: int) -> np.ndarray:
    """Per interval: does a TSS of ``build`` lie within ``window`` bp of its start, end or
    midpoint? (Gene records start at a TSS; promoter peaks are centred on one.)"""
    import pyranges1 as pr

    start, end = p.start[rows], np.maximum(p.end[rows] - 1, p.start[rows])
    anchors = np.concatenate([start, end, (start + end) // 2])
    chrom = np.asarray(_PRIMARY, dtype=object)[np.tile(p.code[rows], 3)]
    ids = np.tile(np.arange(len(rows)), 3)
    points = pr.PyRanges(
        pd.DataFrame({"Chromosome": chrom, "Start": anchors, "End": anchors + 1, "i": ids})
    )
    hit = points.overlap(pr.PyRanges(_tss(build)), slack=window, strand_behavior="ignore")
    out = np.zeros(len(rows), dtype=bool)
    out[hit["i"].to_numpy()] = True
    return out

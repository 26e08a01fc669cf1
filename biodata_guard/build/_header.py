"""The header signal: what a file states about its build (reference lines, ``##contig``
lengths, accession contig names, build-named columns, GWAS-SSF / PGS Catalog metadata), as a
likelihood that allows for stale or mislabelled headers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from biodata_guard._format import preview
from biodata_guard.build._evidence import HYPOTHESES, OTHER
from biodata_guard.build._inputs import _Prepared
from biodata_guard.build._reference import (
    _MT,
    BUILDS,
    GRCH37,
    GRCH38,
    OTHER_ASSEMBLIES,
    _accessions,
    _canonical,
    _chrom_sizes,
    _other_sizes,
)
from biodata_guard.build._signal import _Signal

_KEYWORDS = {
    GRCH37: re.compile(
        r"grch37|(?<![a-z0-9])(hg19|b37|hs37d5|hs37|ncbi37|g1k_v37)(?![0-9])|"
        r"build[\s=:_-]*37(?!\d)|GCF_000001405\.(1[3-9]|2[0-5])(?!\d)|"
        r"GCA_000001405\.([1-9]|1[0-4])(?!\d)",
        re.IGNORECASE,
    ),
    GRCH38: re.compile(
        r"grch38|(?<![a-z0-9])(hg38|b38|hs38(dh)?|ncbi38)(?![0-9])|build[\s=:_-]*38(?!\d)|"
        r"homo_sapiens_assembly38|GCA_000001405\.(1[5-9]|2[0-9])(?!\d)|"
        r"GCF_000001405\.(2[6-9]|3\d|40)(?!\d)",
        re.IGNORECASE,
    ),
}
_OTHER_KEYWORDS = {
    "NCBI36": re.compile(r"(?<![a-z0-9])(hg18|ncbi36|b36)(?![0-9])|build[\s=:_-]*36(?!\d)", re.I),
    "T2T-CHM13v2.0": re.compile(r"t2t|chm13|(?<![a-z0-9])hs1(?![0-9])", re.I),
    "GRCm38": re.compile(r"grcm38|(?<![a-z0-9])mm10(?![0-9])", re.I),
    "GRCm39": re.compile(r"grcm39|(?<![a-z0-9])mm39(?![0-9])", re.I),
    OTHER: re.compile(
        r"(?<![a-z0-9])(hg1[5-7]|ncbi3[45]|b3[45]|mm[789]|grcm3[0-7])(?![0-9])", re.I
    ),
}

#: How often a header statement is wrong (stale after a liftover, or mislabelled): keyword
#: lines and build-named columns 1 in 10,000 files; three or more machine-written ##contig
#: lengths, or accession contig names, 1 in 100,000.
_STALE = {"keywords": 1e-4, "contigs": 1e-5, "few_contigs": 1e-4, "accessions": 1e-5}


@dataclass(frozen=True)
class _HeaderScan:
    """What a header says: lines naming an assembly, ##contig lengths, accession names."""

    keywords: dict[str, list[str]]  # hypothesis (or "other") -> lines naming it
    contig_fits: dict[str, int]  # hypothesis -> ##contig lines whose length fits it
    n_contigs: int  # ##contig lines with a length on a primary chromosome (MT excluded)
    accessions: dict[str, int]  # assembly -> contig / chromosome names that are its accessions
    ucsc_chrm: bool

    def statements(self) -> dict[str, str]:
        """Per kind of evidence: the hypothesis it names, or ``"conflict"``."""
        out: dict[str, str] = {}
        named = [h for h, lines in self.keywords.items() if lines]
        if named:
            out["keywords"] = named[0] if len(named) == 1 else "conflict"
        if self.n_contigs:
            fits = [h for h in HYPOTHESES if self.contig_fits[h] == self.n_contigs]
            if len(fits) == 1:
                out["contigs" if self.n_contigs >= 3 else "few_contigs"] = fits[0]
            elif not fits:
                out["contigs"] = "conflict"
        accs = [h for h, n in self.accessions.items() if n]
        if accs:
            out["accessions"] = accs[0] if len(accs) == 1 else "conflict"
        return out


def _scan_lines(p: _Prepared) -> dict[str, list[str]]:
    """Header lines (and column names) naming an assembly."""
    lines = [str(x) for x in p.ci.header.get("lines") or []]
    # Column names may name the build too (hg19chrc, pos_hg38, BP_GRCh37).
    lines += [f"column {c}" for c in (p.ci.header.get("columns") or {}).values()]
    found: dict[str, list[str]] = {h: [] for h in (*HYPOTHESES, OTHER)}
    for line in lines:
        hits = [b for b in BUILDS if _KEYWORDS[b].search(line)]
        if not hits:
            hits = [h for h, rx in _OTHER_KEYWORDS.items() if rx.search(line)][:1]
        for h in hits:
            found[h].append(line[:120])
    return {h: v for h, v in found.items() if v}


def _scan_contigs(contigs: dict[str, Any]) -> tuple[dict[str, int], int, bool]:
    sizes, other = _chrom_sizes(), _other_sizes()
    fits = dict.fromkeys(HYPOTHESES, 0)
    n, ucsc_chrm = 0, False
    for cname, length in contigs.items():
        code = _canonical(str(cname))
        if code < 0 or length is None:
            continue
        length = int(length)
        if code == _MT:  # MT is the same in both builds
            ucsc_chrm |= length == sizes["length_hg19_ucsc"].iloc[code]
            continue
        n += 1
        in37 = length in (sizes["length_GRCh37"].iloc[code], sizes["bound_GRCh37"].iloc[code])
        fits[GRCH37] += int(in37)
        fits[GRCH38] += int(length == sizes["length_GRCh38"].iloc[code])
        for a in OTHER_ASSEMBLIES:
            fits[a] += int(length == other[a].iloc[code])
    return fits, n, bool(ucsc_chrm)


def _scan_header(p: _Prepared) -> _HeaderScan:
    contigs = p.ci.header.get("contigs") or {}
    fits, n, ucsc_chrm = _scan_contigs(contigs)
    accessions = dict.fromkeys(HYPOTHESES, 0)
    for cname in [*contigs, *p.names]:
        acc = _accessions().get(str(cname).strip())
        if acc is not None and acc[1] is not None:
            accessions[acc[1]] += 1
    return _HeaderScan(_scan_lines(p), fits, n, accessions, ucsc_chrm)


def _statement_loglik(stated: str, stale: float) -> dict[str, float]:
    """log P(the header says ``stated`` | the file is in h): right with 1 - stale, else one
    of the other hypotheses alike."""
    if stated == OTHER:
        named = set(OTHER_ASSEMBLIES)
    else:
        named = {stated}
    right = math.log((1 - stale) / len(named))
    wrong = math.log(stale / (len(HYPOTHESES) - len(named)))
    return {h: right if h in named else wrong for h in HYPOTHESES}


def _summary(h: _HeaderScan, stated: str | None, sources: dict[str, str]) -> str:
    parts = []
    for name, lines in h.keywords.items():
        parts.append(f"names {name} ({preview(lines, n=1)})")
    if h.n_contigs:
        fits = ", ".join(f"{n} {k}" for k, n in h.contig_fits.items() if n)
        parts.append(f"##contig lengths of {h.n_contigs} chromosomes fit: {fits or 'none'}")
    if any(h.accessions.values()):
        accs = ", ".join(f"{n} {k}" for k, n in h.accessions.items() if n)
        parts.append(f"accession contig names: {accs}")
    if h.ucsc_chrm:
        parts.append("chrM is 16,571 bp: UCSC hg19 (NC_001807), not the rCRS")
    said = "header: " + "; ".join(parts)
    if stated is None:
        return said + " (the header contradicts itself)"
    return f"{said}: states {stated}"


def _header_signal(p: _Prepared) -> _Signal:
    """What the header states, weighed by how often such a statement is wrong."""
    h = _scan_header(p)
    sources = h.statements()
    detail: dict[str, Any] = {
        "keyword_lines": h.keywords,
        "contig_fits": {k: v for k, v in h.contig_fits.items() if v},
        "n_contigs": h.n_contigs,
        "accessions": {k: v for k, v in h.accessions.items() if v},
        "ucsc_hg19_chrM": h.ucsc_chrm,
        "sources": sources,
    }
    if not sources:
        if h.ucsc_chrm:
            sources = {"few_contigs": GRCH37}
        else:
            return _Signal("header", False, "header: names no build", detail=detail)
    named = set(sources.values())
    stated = next(iter(named)) if len(named) == 1 and "conflict" not in named else None
    detail["stated"] = stated
    if stated is None:
        return _Signal("header", True, _summary(h, None, sources), detail=detail)
    stale = min(_STALE[k] for k in sources)
    ll = _statement_loglik(stated, stale)
    detail["stale_rate"] = stale
    return _Signal("header", True, _summary(h, stated, sources), ll, detail=detail)

"""Genome build: GRCh37 vs GRCh38 detection, build mismatches, contig naming, coordinate bounds."""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import AuditContext, CoordInput
from biodata_guard._format import fraction, preview, subjects
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity

__all__ = [
    "BUILDS",
    "CHECK_IDS",
    "CONTIG_NAMING",
    "DETECTED",
    "MISMATCH",
    "OFF_BY_ONE",
    "OUT_OF_BOUNDS",
    "SIGNALS",
    "UNDETERMINED",
    "UNEXPECTED",
    "BuildCall",
    "audit_build",
    "check_build",
    "check_build_mismatch",
    "check_contig_naming",
    "check_off_by_one",
    "check_out_of_bounds",
    "detect_build",
]

DETECTED = "build.detected"
MISMATCH = "build.mismatch"
UNEXPECTED = "build.unexpected"
UNDETERMINED = "build.undetermined"
CONTIG_NAMING = "build.contig_naming"
OUT_OF_BOUNDS = "build.out_of_bounds"
OFF_BY_ONE = "build.off_by_one"
CHECK_IDS = (
    DETECTED,
    MISMATCH,
    UNEXPECTED,
    UNDETERMINED,
    CONTIG_NAMING,
    OUT_OF_BOUNDS,
    OFF_BY_ONE,
)

GRCH37, GRCH38 = "GRCh37", "GRCh38"
BUILDS = (GRCH37, GRCH38)
#: The value of :attr:`BuildCall.build` when the evidence does not decide.
UNDETERMINED_BUILD = "undetermined"
_NEITHER = "neither"  # a signal's vote when the data fit neither build
#: The signals, in the order they are reported.
SIGNALS = ("header", "chrom_ends", "marker_rsids", "marker_positions", "gene_coords", "tss")

_ALIASES = {
    "grch37": GRCH37,
    "hg19": GRCH37,
    "b37": GRCH37,
    "grch38": GRCH38,
    "hg38": GRCH38,
    "b38": GRCH38,
}
_OTHER = {GRCH37: GRCH38, GRCH38: GRCH37}
_CHAINS = {
    (GRCH37, GRCH38): "hg19ToHg38.over.chain.gz",
    (GRCH38, GRCH37): "hg38ToHg19.over.chain.gz",
}
_CHAIN_URL = "https://hgdownload.soe.ucsc.edu/goldenPath/{ucsc}/liftOver/{chain}"
_UCSC = {GRCH37: "hg19", GRCH38: "hg38"}

#: Canonical primary chromosomes; a row's chromosome is an index into this tuple (-1: other).
_PRIMARY = (*(str(i) for i in range(1, 23)), "X", "Y", "MT")
_MT = _PRIMARY.index("MT")
_PLINK = {"23": "X", "24": "Y", "25": "X", "26": "MT"}  # PLINK / AncestryDNA codes (25 = PAR)
_NON_PRIMARY = re.compile(
    r"(_alt|_random|_fix|_decoy|_hap\d+)$|^(chr)?Un[_A-Za-z]|^(chr)?(GL|KI|JH|KN|KV|KZ|ML|MU)\d+"
    r"|^hs3[78]d|^(chr)?EBV$|^HLA[-_]|^N[TW]_\d+",
    re.IGNORECASE,
)
_ACCESSION = re.compile(r"^(NC_0000\d\d|CM0006\d\d|NC_012920|J01415)\.\d+$")

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
_LEANING_CONFIDENCE = 0.75  # an undetermined call names the build weak evidence points to
_MARKER_SHARE = 0.9  # marker / gene hits are errors when they sit at the other build's position
_TSS_SHARE = 0.6  # TSS touches under the wrong build are chance, so a lower share is decisive
_HEADER_CONFIDENCE = {"contigs": 0.99, "accessions": 0.99, "keywords": 0.95}
# How an undetermined call's reason starts (the finding's hint depends on it).
_WHY_NONE = "no signal applies"
_WHY_INCONCLUSIVE = "no signal is conclusive"
_WHY_DISAGREE = "the signals disagree"
_WHY_NEITHER = "the data fit neither build"
_WHY_WEAK = "the evidence is too weak"


# --------------------------------------------------------------------------- reference data


def _data_file(name: str) -> Any:
    return resources.files("biodata_guard").joinpath("data", name)


@functools.cache
def _chrom_sizes() -> pd.DataFrame:
    """Lengths of the primary chromosomes in both builds, indexed like :data:`_PRIMARY`."""
    with _data_file("chrom_sizes_GRCh37_GRCh38.tsv").open("rb") as fh:
        df = pd.read_csv(fh, sep="\t", dtype={"chrom": str})
    df = df.set_index("chrom").loc[list(_PRIMARY)]
    # UCSC hg19 chrM is NC_001807 (16,571 bp), not the rCRS (16,569 bp) of GRCh37.
    df["bound_GRCh37"] = df[["length_GRCh37", "length_hg19_ucsc"]].max(axis=1)
    df["bound_GRCh38"] = df["length_GRCh38"]
    return df


@functools.cache
def _accessions() -> dict[str, tuple[int, str | None]]:
    """RefSeq / GenBank accession -> (chromosome index, build or None when shared)."""
    sizes = _chrom_sizes()
    out: dict[str, tuple[int, str | None]] = {}
    for i, (_, row) in enumerate(sizes.iterrows()):
        for kind in ("refseq", "genbank"):
            a, b = row[f"{kind}_GRCh37"], row[f"{kind}_GRCh38"]
            out[a] = (i, GRCH37 if a != b else None)
            out[b] = (i, GRCH38 if a != b else None)
    return out


def _read_gz_table(name: str, dtype: dict[str, Any]) -> pd.DataFrame:
    with _data_file(name).open("rb") as fh:
        return pd.read_csv(fh, sep="\t", compression="gzip", dtype=dtype)


@functools.cache
def _markers() -> pd.DataFrame:
    """The marker SNP panel: rsid, chromosome index and 1-based position in each build."""
    df = _read_gz_table(
        "marker_snps_GRCh37_GRCh38.tsv.gz", {"rsid": str, "chrom_GRCh37": str, "chrom_GRCh38": str}
    )
    for b in BUILDS:
        df[f"code_{b}"] = _codes_of(df[f"chrom_{b}"])
    return df.set_index("rsid")


@functools.cache
def _marker_keys(build: str) -> np.ndarray:
    m = _markers()
    return np.unique(_keys(m[f"code_{build}"].to_numpy(), m[f"pos_{build}"].to_numpy()))


@functools.cache
def _genes() -> pd.DataFrame:
    """The gene panel: gene_name -> chromosome index, start/end (1-based), strand per build."""
    df = _read_gz_table("genes_GRCh37_GRCh38.tsv.gz", {"gene_name": str, "chrom": str})
    df["code"] = _codes_of(df["chrom"])
    return df.set_index("gene_name")


@functools.cache
def _tss(build: str) -> pd.DataFrame:
    """0-based TSS positions of the gene panel in one build, as a pyranges-ready frame."""
    g = _genes()
    tss = np.where(g[f"strand_{build}"] == "+", g[f"start_{build}"], g[f"end_{build}"]) - 1
    return pd.DataFrame(
        {"Chromosome": np.asarray(_PRIMARY)[g["code"]], "Start": tss, "End": tss + 1}
    ).sort_values(["Chromosome", "Start"], ignore_index=True)


def _keys(codes: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return codes.astype(np.int64) * (1 << 32) + pos.astype(np.int64)


# --------------------------------------------------------------------------- chromosome names


def _canonical(name: str) -> int:
    """Index into :data:`_PRIMARY` of a chromosome name in any common style; -1 if not primary."""
    s = name.strip()
    acc = _accessions().get(s)
    if acc is not None:
        return acc[0]
    if s[:3].lower() == "chr":
        s = s[3:]
    s = s.upper()
    if s.isdigit():
        s = _PLINK.get(str(int(s)), str(int(s)))
    if s == "M":
        s = "MT"
    return _PRIMARY.index(s) if s in _PRIMARY else -1


def _codes_of(names: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(names.astype(str))
    lookup = np.array([_canonical(u) for u in uniques] + [-1], dtype=np.int64)
    return lookup[codes]


def _style(name: str) -> str:
    """``chr`` (UCSC), ``bare`` (Ensembl/NCBI), ``accession``, ``non_primary`` or ``other``."""
    s = name.strip()
    if _ACCESSION.match(s):
        return "accession"
    if _NON_PRIMARY.search(s):
        return "non_primary"
    if _canonical(s) < 0:
        return "other"
    return "chr" if s[:3].lower() == "chr" else "bare"


def _nonstandard(name: str) -> str | None:
    """The standard spelling of a primary chromosome written unusually (chr23, chrMT, M, 01)."""
    s = name.strip()
    if _style(s) not in ("chr", "bare"):
        return None
    want = _rename(s, "chr" if s[:3].lower() == "chr" else "bare")
    return None if s == want else want


def _rename(name: str, style: str) -> str:
    """A primary chromosome in a style: ``chr`` -> chr1, chrX, chrM; ``bare`` -> 1, X, MT."""
    canon = _PRIMARY[_canonical(name)]
    if style == "chr":
        return "chr" + ("M" if canon == "MT" else canon)
    return canon


# --------------------------------------------------------------------------- inputs


CoordLike = CoordInput | pd.DataFrame | str | os.PathLike


def _as_coords(coords: Any, name: str | None) -> CoordInput:
    from biodata_guard.io.coords import coords_from_frame, read_coordinates

    if isinstance(coords, CoordInput):
        if name is None or name == coords.name:
            return coords
        return CoordInput(name, coords.frame, coords.kind, coords.header, coords.path)
    if isinstance(coords, pd.DataFrame):
        return coords_from_frame(coords, name=name or "<DataFrame>")
    if isinstance(coords, (str, os.PathLike)):
        return read_coordinates(coords, name=name)
    raise InputError(
        f"{name or 'coords'}: coordinates must be a CoordInput, a DataFrame or a file path; got "
        f"{type(coords).__name__} instead",
        path=name,
        hint="Pass a VCF/BED/GTF path or a DataFrame with Chromosome, Start, End columns.",
    )


@dataclass
class _Prepared:
    """One input with its chromosome names resolved once (every check reuses it)."""

    ci: CoordInput
    names: np.ndarray  # unique raw chromosome names
    row_name: np.ndarray  # per row: index into names
    name_codes: np.ndarray  # per unique name: index into _PRIMARY or -1
    start: np.ndarray
    end: np.ndarray

    @property
    def name(self) -> str:
        return self.ci.name

    @property
    def n(self) -> int:
        return len(self.start)

    @functools.cached_property
    def code(self) -> np.ndarray:
        return self.name_codes[self.row_name] if self.n else np.zeros(0, dtype=np.int64)

    @functools.cached_property
    def name_counts(self) -> np.ndarray:
        return np.bincount(self.row_name, minlength=len(self.names))

    @functools.cached_property
    def point_like(self) -> bool:
        return bool(self.n) and float(np.mean(self.end - self.start <= 1)) >= 0.5

    @property
    def chrom_col(self) -> str:
        cols = self.ci.header.get("columns") or {}
        default = {"vcf": "CHROM", "gtf": "seqname", "gff": "seqid", "bed": "chrom"}
        return str(cols.get("chrom") or default.get(self.ci.kind, "Chromosome"))

    @property
    def coord_cols(self) -> str:
        cols = self.ci.header.get("columns") or {}
        if self.ci.kind == "vcf":
            return "CHROM/POS"
        if "pos" in cols:
            return f"{self.chrom_col}/{cols['pos']}"
        start, end = cols.get("start", "start"), cols.get("end", "end")
        return f"{self.chrom_col}/{start}/{end}"


def _prepare(ci: CoordInput) -> _Prepared:
    frame = ci.frame
    row_name, names = pd.factorize(frame["Chromosome"].astype(str))
    names = np.asarray(names, dtype=object)
    return _Prepared(
        ci=ci,
        names=names,
        row_name=row_name.astype(np.int64),
        name_codes=np.array([_canonical(s) for s in names], dtype=np.int64),
        start=frame["Start"].to_numpy(dtype=np.int64),
        end=frame["End"].to_numpy(dtype=np.int64),
    )


def _normalise_build(build: str | None, *, key: str = "build") -> str | None:
    if build is None:
        return None
    out = _ALIASES.get(str(build).strip().lower())
    if out is None:
        raise ConfigError(
            f"{key} must be one of {', '.join(BUILDS)} (or hg19 / hg38); got {build!r} instead",
            key=key,
            hint="Pass expected_build='GRCh37' or 'GRCh38' (--expected-build).",
        )
    return out


# --------------------------------------------------------------------------- signals


@dataclass
class _Signal:
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


def _counted_vote(
    counts: dict[str, int], n: int, *, min_informative: int, min_share: float
) -> tuple[str | None, float]:
    """(vote, confidence) from per-build counts out of ``n`` informative rows: a vote needs
    ``min_informative`` rows, the leading build's share at ``min_share`` and a confidence of
    at least ``_VOTE_CONFIDENCE``."""
    lead = max(BUILDS, key=lambda b: counts[b])
    k = counts[lead]
    conf = _binomial_confidence(k, n)
    decisive = n >= min_informative and k / n >= min_share and conf >= _VOTE_CONFIDENCE
    return (lead if decisive else None), conf


def _header_signal(p: _Prepared) -> _Signal:
    lines = [str(x) for x in p.ci.header.get("lines") or []]
    # Column names may name the build too (hg19chrc, pos_hg38, BP_GRCh37).
    lines += [f"column {c}" for c in (p.ci.header.get("columns") or {}).values()]
    contigs = p.ci.header.get("contigs") or {}
    sizes = _chrom_sizes()
    keywords: dict[str, list[str]] = {b: [] for b in BUILDS}
    other: list[str] = []
    for line in lines:
        hits = {b for b in BUILDS if _KEYWORDS[b].search(line)}
        for b in hits:
            keywords[b].append(line[:120])
        if not hits and _OTHER_BUILDS.search(line):
            other.append(line[:120])
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
    accessions = {b: 0 for b in BUILDS}
    for cname in [*contigs, *p.names]:
        acc = _accessions().get(str(cname).strip())
        if acc is not None and acc[1] is not None:
            accessions[acc[1]] += 1

    sources: dict[str, str] = {}
    n_keyword = {b: len(v) for b, v in keywords.items()}
    if any(n_keyword.values()):
        if n_keyword[GRCH37] and n_keyword[GRCH38]:
            sources["keywords"] = "conflict"
        else:
            sources["keywords"] = GRCH37 if n_keyword[GRCH37] else GRCH38
    n_disc = checked[GRCH37] + checked[GRCH38] + checked["neither"]
    if n_disc:
        lead = max(BUILDS, key=lambda b: checked[b])
        sources["contigs"] = lead if checked[lead] == n_disc else "conflict"
    if any(accessions.values()):
        sources["accessions"] = (
            "conflict" if all(accessions.values()) else max(BUILDS, key=lambda b: accessions[b])
        )
    if other and not any(n_keyword.values()):
        sources["other_build"] = "conflict"

    parts = []
    if any(n_keyword.values()):
        parts.append(
            "header lines name "
            + " and ".join(f"{b} ({preview(keywords[b], n=1)})" for b in BUILDS if keywords[b])
        )
    if other:
        parts.append(f"header names another assembly ({preview(other, n=1)})")
    if n_disc or checked["both"]:
        n_checked = n_disc + checked["both"]
        parts.append(
            f"##contig lengths: {checked[GRCH37]} of {n_checked} match GRCh37 only, "
            f"{checked[GRCH38]} GRCh38 only, {checked['neither']} neither"
        )
    if any(accessions.values()):
        parts.append(
            f"accession contig names: {accessions[GRCH37]} GRCh37, {accessions[GRCH38]} GRCh38"
        )
    if ucsc_chrm:
        parts.append("chrM is 16,571 bp: UCSC hg19 (NC_001807), not the rCRS")
    detail = {
        "keyword_lines": keywords,
        "other_assembly_lines": other,
        "contig_lengths": checked,
        "accessions": accessions,
        "ucsc_hg19_chrM": bool(ucsc_chrm),
    }
    if not sources:
        return _Signal("header", False, "header: names no build", detail=detail)
    verdicts = set(sources.values())
    vote = next(iter(verdicts)) if len(verdicts) == 1 and "conflict" not in verdicts else None
    conf = max(_HEADER_CONFIDENCE.get(s, 0.0) for s in sources) if vote else 0.0
    if vote and sources.get("contigs") == vote and n_disc < 3:
        conf = min(conf, 0.95)
    scores = {b: 0.0 for b in BUILDS}
    if n_disc:
        scores = {b: checked[b] / n_disc for b in BUILDS}
    elif any(n_keyword.values()):
        scores = {b: float(bool(n_keyword[b])) for b in BUILDS}
    elif any(accessions.values()):
        total = sum(accessions.values())
        scores = {b: accessions[b] / total for b in BUILDS}
    summary = "header: " + "; ".join(parts) + ("" if vote else " (the header is contradictory)")
    detail["sources"] = sources
    return _Signal("header", True, summary, scores, vote, conf, detail)


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
    chroms = {
        b: sorted({_PRIMARY[c] for c in np.unique(code[past[b]])}, key=_PRIMARY.index)
        for b in BUILDS
    }
    detail = {
        "n_rows_checked": n,
        "n_past_end": n_past,
        "n_fit_only": only,
        "n_past_both": n_both,
        "chromosomes_past_end": chroms,
    }
    scores = {b: 1.0 - n_past[b] / n for b in BUILDS}
    vote, conf = None, 0.0
    lead = max(BUILDS, key=lambda b: only[b])
    # Rows past the ends of both builds, or past GRCh37 ends on some rows and GRCh38 ends on
    # others, fit neither build: another assembly (hg18 runs past GRCh37 ends) or bad rows.
    n_neither = n_both + (only[GRCH37] + only[GRCH38] if all(only.values()) else 0)
    detail["n_fit_neither"] = n_neither
    if n_neither:
        conf = min(_MAX_CONFIDENCE, 1.0 - 0.5**n_neither)
        vote = _NEITHER if conf >= _VOTE_CONFIDENCE else None
        past_both = [_PRIMARY[c] for c in np.unique(code[past[GRCH37] & past[GRCH38]])]
        summary = (
            f"chromosome ends: {fraction(n_neither, n)} rows fit neither build ("
            f"{n_both} run past the ends of both"
            + (f" on chromosomes {preview(past_both)}" if n_both else "")
            + (
                f", {only[GRCH37]} past GRCh38 ends only, {only[GRCH38]} past GRCh37 ends only"
                if all(only.values())
                else ""
            )
            + "): another assembly such as hg18, or corrupt rows"
        )
    elif only[lead]:
        conf = min(_MAX_CONFIDENCE, 1.0 - 0.5 ** only[lead])
        vote = lead if conf >= _VOTE_CONFIDENCE else None
        summary = (
            f"chromosome ends: {fraction(only[lead], n)} rows run past {_OTHER[lead]} chromosome "
            f"ends ({preview(chroms[_OTHER[lead]])}) but fit {lead}"
        )
    else:
        summary = f"chromosome ends: all {n} rows fit within the ends of both builds"
    return _Signal("chrom_ends", True, summary, scores, vote, conf, detail)


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
    vote, conf = _counted_vote(counts, n, min_informative=min_informative, min_share=_MARKER_SHARE)
    lead = max(BUILDS, key=lambda b: counts[b])
    summary = (
        f"marker rsIDs: {fraction(counts[lead], n)} panel rsIDs sit at their {lead} position, "
        f"{counts[_OTHER[lead]]} at their {_OTHER[lead]} position, {neither} at neither"
    )
    if n < min_informative:
        summary += f" (fewer than {min_informative} panel rsIDs: not conclusive)"
    return _Signal(
        "marker_rsids", True, summary, {b: counts[b] / n for b in BUILDS}, vote, conf, detail
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
    vote, conf = _counted_vote(
        counts, n_hits, min_informative=min_informative, min_share=_MARKER_SHARE
    )
    lead = max(BUILDS, key=lambda b: counts[b])
    summary = (
        f"marker positions: {counts[lead]} of {n} rows sit at {lead} panel positions, "
        f"{counts[_OTHER[lead]]} at {_OTHER[lead]} panel positions"
    )
    if n_hits < min_informative:
        summary += f" (fewer than {min_informative} hits: not conclusive)"
    scores = {b: counts[b] / n_hits if n_hits else 0.0 for b in BUILDS}
    return _Signal("marker_positions", True, summary, scores, vote, conf, detail)


def _gene_signal(p: _Prepared, min_informative: int) -> _Signal:
    frame = p.ci.frame
    if "gene_name" not in frame.columns or not frame["gene_name"].notna().any():
        return _Signal("gene_coords", False, "gene coordinates: the input has no gene names")
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
    panel = _genes()
    m = genes.join(panel.rename(columns={"code": "code_panel"}), how="inner")
    m = m[m["code"] == m["code_panel"]]
    detail: dict[str, Any] = {"n_genes": len(genes), "n_panel_genes": len(m)}
    if m.empty:
        return _Signal(
            "gene_coords",
            True,
            f"gene coordinates: none of {len(genes)} gene names is in the gene panel",
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
    vote, conf = _counted_vote(counts, n, min_informative=min_informative, min_share=_MARKER_SHARE)
    lead = max(BUILDS, key=lambda b: counts[b])
    summary = (
        f"gene coordinates: {fraction(counts[lead], n)} panel genes whose coordinates differ "
        f"between builds are closer to their {lead} coordinates"
    )
    if n < min_informative:
        summary += f" (fewer than {min_informative} informative genes: not conclusive)"
    scores = {b: counts[b] / n if n else 0.0 for b in BUILDS}
    return _Signal("gene_coords", True, summary, scores, vote, conf, detail)


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
    lead = max(BUILDS, key=lambda b: only[b])
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


# --------------------------------------------------------------------------- detection


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


# --------------------------------------------------------------------------- findings


def _liftover_hint(p: _Prepared, src: str, dst: str) -> str:
    chain = _CHAINS[(src, dst)]
    url = _CHAIN_URL.format(ucsc=_UCSC[src], chain=chain)
    path = p.ci.path or p.name
    base = os.path.basename(path).split(".")[0] or "input"
    out = f"{base}.{_UCSC[dst]}"
    kind = p.ci.kind
    if kind == "vcf":
        cmd = f"CrossMap vcf {chain} {path} {dst}.fa {out}.vcf"
    elif kind in ("gtf", "gff"):
        cmd = f"CrossMap gff {chain} {path} {out}.{kind}"
    elif kind == "bed":
        cmd = f"CrossMap bed {chain} {path} {out}.bed"
    else:
        cmd = (
            f"CrossMap bed {chain} {base}.bed {out}.bed (write the coordinates as BED first), "
            f"or re-export the data in {dst}"
        )
    return f"Lift the coordinates from {src} to {dst}: {cmd} (chain: {url})."


def _call_findings(call: BuildCall, p: _Prepared, *, expected: str | None) -> list[Finding]:
    evidence = {
        "build": call.build,
        "confidence": call.confidence,
        "leaning": call.leaning,
        "n_rows": call.n_rows,
        "voters": call.voters,
        "signals": call.evidence,
    }
    where = f"{p.name}, {p.coord_cols}"
    out: list[Finding] = []
    if call.determined:
        out.append(
            Finding(
                DETECTED,
                Severity.INFO,
                f"{where}: genome build {call.build} (confidence {call.confidence:.3g}) from "
                f"{len(call.voters)} of {len(call.scores())} available signals "
                f"({preview(call.voters)}) over {call.n_rows:,} rows",
                evidence=evidence,
                subjects=call.voters,
                hint=f"Pin it: pass --expected-build {call.build} (expectations.build in the "
                "config) so the gate fails on any other build.",
                input=p.name,
            )
        )
    else:
        if call.reason.startswith(_WHY_DISAGREE):
            hint = (
                "The signals point to different builds: the file may mix builds or carry a "
                "stale header after a liftover. Check how it was made, then re-lift the "
                "coordinates (CrossMap with the UCSC chain) or fix the header (bcftools "
                "reheader --fai GENOME.fa.fai)."
            )
        elif call.reason.startswith(_WHY_NEITHER):
            hint = (
                "The coordinates fit neither GRCh37 nor GRCh38: find the assembly they come "
                "from (hg18 / NCBI36?) and lift them with the matching UCSC chain (liftOver "
                "IN.bed hg18ToHg19.over.chain.gz OUT.bed unmapped.bed), or drop corrupt rows."
            )
        else:
            hint = (
                "State the build: pass --expected-build GRCh37|GRCh38 so the coordinates are "
                "checked against it, and record it in the file (VCF ##reference= and ##contig "
                "lengths, BED 'track db=hg38')."
            )
        # With an expected build, signals voting against it (or data fitting neither build)
        # are evidence of the wrong coordinates, not only a lack of evidence: the gate fails.
        against = sorted(
            s for s, e in call.evidence.items() if e.get("vote") not in (None, expected)
        )
        contradicted = expected is not None and (
            bool(against) or call.reason.startswith(_WHY_NEITHER)
        )
        message = f"{where}: genome build undetermined over {call.n_rows:,} rows: {call.reason}"
        if contradicted:
            message += f"; {expected} is expected and " + (
                f"{preview(against)} vote against it" if against else "the data do not fit it"
            )
        out.append(
            Finding(
                UNDETERMINED,
                Severity.ERROR if contradicted else Severity.WARNING,
                message,
                evidence={**evidence, "expected_build": expected, "votes_against": against}
                if expected is not None
                else evidence,
                subjects=[p.name],
                hint=hint,
                input=p.name,
            )
        )
    if expected is not None and call.determined and call.build != expected:
        out.append(
            Finding(
                UNEXPECTED,
                Severity.ERROR,
                f"{where}: genome build is {call.build} (confidence {call.confidence:.3g}) but "
                f"{expected} is expected; {call.n_rows:,} rows are on the wrong coordinates",
                evidence={**evidence, "expected_build": expected},
                subjects=[p.name],
                hint=_liftover_hint(p, call.build, expected),
                input=p.name,
            )
        )
    return out


def check_build(
    coords: CoordLike,
    *,
    expected_build: str | None = None,
    name: str | None = None,
    min_informative: int = 10,
    min_confidence: float = 0.9,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> list[Finding]:
    """Detect the build and report it: ``build.detected`` (info) or ``build.undetermined``
    (warning), and ``build.unexpected`` (error) when it differs from ``expected_build``.

    The hint of ``build.unexpected`` is the CrossMap command and UCSC chain that lift the input
    to the expected build.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path (see :func:`detect_build`).
    expected_build
        ``"GRCh37"`` or ``"GRCh38"`` (``"hg19"`` / ``"hg38"`` accepted); None: no expectation.
    name, min_informative, min_confidence, tss_window, max_intervals, seed
        As in :func:`detect_build`.

    Raises
    ------
    ConfigError
        An unknown ``expected_build`` or an option out of range.

    Examples
    --------
    A headerless table of GRCh38 positions of panel SNPs, checked against GRCh37:

    >>> panel = _markers().head(40)
    >>> df = pd.DataFrame({"chrom": panel["chrom_GRCh38"], "pos": panel["pos_GRCh38"]})
    >>> [(f.check, f.severity.value) for f in check_build(df, expected_build="GRCh37")]
    [('build.detected', 'info'), ('build.unexpected', 'error')]
    """
    expected = _normalise_build(expected_build, key="expected_build")
    p = _prepare(_as_coords(coords, name))
    call = _detect(
        p,
        min_informative=min_informative,
        min_confidence=min_confidence,
        tss_window=tss_window,
        max_intervals=max_intervals,
        seed=seed,
    )
    return _call_findings(call, p, expected=expected)


def check_build_mismatch(
    calls: Sequence[BuildCall], *, expected_build: str | None = None
) -> list[Finding]:
    """``build.mismatch`` (error) when the inputs of one audit are in different builds.

    Only determined calls take part. The hint lifts the other inputs to ``expected_build``
    when given, else to the majority build (ties: the first input's build).

    Examples
    --------
    >>> a = BuildCall("variants.vcf", "GRCh38", 0.99, "header")
    >>> b = BuildCall("peaks.bed", "GRCh37", 0.97, "tss")
    >>> f = check_build_mismatch([a, b])[0]
    >>> f.check, f.evidence["builds"]
    ('build.mismatch', {'variants.vcf': 'GRCh38', 'peaks.bed': 'GRCh37'})
    """
    known = [c for c in calls if c.determined]
    builds = {c.build for c in known}
    if len(builds) < 2:
        return []
    n_by = {b: sum(c.build == b for c in known) for b in BUILDS}
    first = known[0].build
    majority = _normalise_build(expected_build, key="expected_build") or max(
        BUILDS, key=lambda b: (n_by[b], b == first)
    )
    minority = _OTHER[majority]
    odd = [c for c in known if c.build == minority]
    chain = _CHAINS[(minority, majority)]
    return [
        Finding(
            MISMATCH,
            Severity.ERROR,
            f"{preview(c.name for c in known)}: inputs are in different genome builds, "
            f"{n_by[minority]} of {len(known)} in {minority} ({preview(c.name for c in odd)}) "
            f"and {n_by[majority]} in {majority}; joins and overlaps between them silently "
            "match the wrong loci",
            evidence={
                "builds": {c.name: c.build for c in known},
                "confidences": {c.name: c.confidence for c in known},
                "n_inputs": len(known),
                "n_by_build": n_by,
                "target_build": majority,
            },
            subjects=subjects(c.name for c in odd),
            hint=f"Lift {preview(c.name for c in odd)} from {minority} to {majority} with the "
            f"UCSC chain {chain} (CrossMap bed|vcf|gff {chain} IN OUT), or pass "
            "--expected-build to say which build is right.",
            input=odd[0].name,
        )
    ]


# --------------------------------------------------------------------------- contig naming


_STYLE_LABEL = {
    "chr": "chr-prefixed (UCSC)",
    "bare": "bare (Ensembl / NCBI, no chr prefix)",
    "accession": "RefSeq / GenBank accessions",
}


def _rename_hint(p: _Prepared, mapping: dict[str, str], target: str) -> str:
    """One command that renames ``mapping``'s chromosomes: pandas for a frame, bcftools for a
    VCF, sed for other files (tab- or comma-separated)."""
    col = p.chrom_col
    small = len(mapping) <= 6 or any(_ACCESSION.match(a) for a in mapping)
    if small:
        pandas = f"df['{col}'] = df['{col}'].replace({dict(mapping)!r})"
        sed = "; ".join(f"s/^{re.escape(a)}([\\t,])/{b}\\1/" for a, b in mapping.items())
    elif target == "bare":
        pandas = f"df['{col}'] = df['{col}'].str.replace(r'^chr', '', regex=True)"
        pandas += ".replace({'M': 'MT'})"
        sed = "s/^chr([^\\t,]*)/\\1/; s/^M([\\t,])/MT\\1/"
    else:
        pandas = f"df['{col}'] = 'chr' + df['{col}'].str.replace(r'^chr', '', regex=True)"
        pandas += ".replace({'MT': 'M'})"
        sed = "s/^([0-9]+|X|Y)([\\t,])/chr\\1\\2/; s/^MT([\\t,])/chrM\\1/"
    label = _STYLE_LABEL[target].split(" (")[0]
    if p.ci.path is None:
        return f"Rename to {label} names: {pandas}"
    if p.ci.kind == "vcf":
        pairs = preview((f"{a} {b}" for a, b in mapping.items()), n=6)
        return (
            f"Rename to {label} names with bcftools: write one 'old new' pair per line to "
            f"chroms.txt ({pairs}), then bcftools annotate --rename-chrs chroms.txt "
            f"{p.ci.path} -Oz -o renamed.vcf.gz"
        )
    return f"Rename to {label} names: sed -E '{sed}' {p.ci.path} > renamed_{Path(p.ci.path).name}"


def _naming_within(p: _Prepared) -> list[Finding]:
    if not p.n:
        return []
    counts = dict(zip(p.names, p.name_counts.tolist(), strict=True))
    styles: dict[str, dict[str, int]] = {}
    for nm, k in counts.items():
        styles.setdefault(_style(nm), {})[nm] = k
    rows = {s: sum(v.values()) for s, v in styles.items()}
    out: list[Finding] = []
    prefixed, bare = styles.get("chr", {}), styles.get("bare", {})
    odd = {nm: _nonstandard(nm) for nm in [*prefixed, *bare]}
    odd = {a: b for a, b in odd.items() if b is not None}
    where = f"{p.name}, {p.chrom_col}"
    if prefixed and bare:
        target = "chr" if rows["chr"] >= rows["bare"] else "bare"
        minority = bare if target == "chr" else prefixed
        mapping = {nm: _rename(nm, target) for nm in sorted(minority, key=_sort_chrom)}
        mapping.update({a: _rename(a, target) for a in odd})
        n_minor = sum(minority.values())
        out.append(
            Finding(
                CONTIG_NAMING,
                Severity.ERROR,
                f"{where}: chromosome names mix styles, {fraction(n_minor, p.n)} rows use "
                f"{'bare' if target == 'chr' else 'chr-prefixed'} names "
                f"({preview(sorted(minority, key=_sort_chrom))}) among "
                f"{'chr-prefixed' if target == 'chr' else 'bare'} ones; a join or overlap "
                "silently drops them",
                evidence={
                    "problem": "mixed_styles",
                    "n_rows": p.n,
                    "rows_by_style": rows,
                    "n_rows_minority_style": n_minor,
                    "names_by_style": {s: sorted(v, key=_sort_chrom) for s, v in styles.items()},
                    "mapping": mapping,
                },
                subjects=subjects(sorted(minority, key=_sort_chrom)),
                hint=_rename_hint(p, mapping, target),
                input=p.name,
            )
        )
    elif odd:
        target = "chr" if prefixed else "bare"
        n_odd = sum(counts[a] for a in odd)
        out.append(
            Finding(
                CONTIG_NAMING,
                Severity.WARNING,
                f"{where}: {fraction(n_odd, p.n)} rows use non-standard chromosome names "
                f"({preview(f'{a} (standard: {b})' for a, b in odd.items())}); they will not "
                "join with files that use the standard names",
                evidence={
                    "problem": "nonstandard_names",
                    "n_rows": p.n,
                    "n_rows_nonstandard": n_odd,
                    "rows_by_name": {a: counts[a] for a in odd},
                    "mapping": odd,
                },
                subjects=subjects(odd),
                hint=_rename_hint(p, odd, target),
                input=p.name,
            )
        )
    extra = {**styles.get("non_primary", {}), **styles.get("other", {})}
    if extra:
        names = sorted(extra, key=lambda nm: (-extra[nm], nm))
        n_extra = sum(extra.values())
        out.append(
            Finding(
                CONTIG_NAMING,
                Severity.INFO,
                f"{where}: {fraction(n_extra, p.n)} rows lie on {len(extra)} contigs outside "
                f"the primary assembly (alt / random / Un / decoy / other: {preview(names)})",
                evidence={
                    "problem": "non_primary",
                    "n_rows": p.n,
                    "n_rows_non_primary": rows.get("non_primary", 0),
                    "n_rows_other": rows.get("other", 0),
                    "rows_by_contig": {nm: extra[nm] for nm in names[:50]},
                    "n_contigs": len(extra),
                },
                subjects=subjects(names),
                hint="Keep only the primary chromosomes if the model expects them: "
                f"df = df[df['{p.chrom_col}'].str.fullmatch(r'(chr)?([0-9]{{1,2}}|X|Y|MT?)')] "
                "(VCF: bcftools view --regions with the primary chromosomes).",
                input=p.name,
            )
        )
    return out


def _sort_chrom(name: str) -> tuple[int, str]:
    code = _canonical(name)
    return (code if code >= 0 else len(_PRIMARY), name)


def _main_style(p: _Prepared) -> str | None:
    rows: dict[str, int] = {}
    for nm, k in zip(p.names, p.name_counts.tolist(), strict=True):
        s = _style(nm)
        if s in ("chr", "bare", "accession"):
            rows[s] = rows.get(s, 0) + k
    return max(rows, key=lambda s: rows[s]) if rows else None


def _naming_between(prepared: Sequence[_Prepared]) -> list[Finding]:
    """Inputs whose chromosome style differs from the audit's usual one (chr1 vs 1)."""
    styles = [_main_style(p) for p in prepared]
    counted = [s for s in styles if s in ("chr", "bare")]
    if len({s for s in styles if s is not None}) < 2 or not counted:
        return []
    reference = max(dict.fromkeys(counted), key=counted.count)  # ties: the first input's style
    refs = [p for p, s in zip(prepared, styles, strict=True) if s == reference]
    ref_names = {str(n) for r in refs for n, c in zip(r.names, r.name_codes, strict=True) if c >= 0}
    ref_codes = {_canonical(n) for n in ref_names}
    out: list[Finding] = []
    for p, style in zip(prepared, styles, strict=True):
        if style in (None, reference):
            continue
        raw = {str(n) for n, c in zip(p.names, p.name_codes, strict=True) if c in ref_codes}
        shared = {_canonical(n) for n in raw}
        matched = {_canonical(n) for n in raw & ref_names}
        if len(matched) == len(shared):
            continue
        odd = sorted(raw - ref_names, key=_sort_chrom)
        mapping = {n: _rename(n, reference) for n in odd}
        theirs = sorted((n for n in ref_names if _canonical(n) in shared), key=_sort_chrom)
        out.append(
            Finding(
                CONTIG_NAMING,
                Severity.ERROR,
                f"{p.name}, {p.chrom_col}: chromosome names are {_STYLE_LABEL[style]} "
                f"({preview(odd, n=3)}) while {preview((r.name for r in refs), n=2)} use "
                f"{_STYLE_LABEL[reference]} ({preview(theirs, n=3)}); a join or overlap between "
                f"them matches {len(matched)} of {len(shared)} shared chromosomes",
                evidence={
                    "problem": "styles_differ_between_inputs",
                    "styles": {q.name: s for q, s in zip(prepared, styles, strict=True)},
                    "reference_style": reference,
                    "reference_inputs": [r.name for r in refs],
                    "n_shared_chromosomes": len(shared),
                    "n_matching_chromosomes": len(matched),
                    "mapping": mapping,
                },
                subjects=subjects(odd),
                hint=_rename_hint(p, mapping, reference),
                input=p.name,
            )
        )
    return out


def check_contig_naming(
    coords: CoordLike | Sequence[CoordLike], *, names: Sequence[str] | None = None
) -> list[Finding]:
    """Chromosome naming problems, within each input and between inputs.

    ``build.contig_naming`` findings, told apart by ``evidence["problem"]``:

    - ``mixed_styles`` (error): one input mixes ``chr1`` and ``1`` (or ``chrM`` and ``MT``);
      the minority rows drop out of any join. ``evidence["mapping"]`` renames them.
    - ``nonstandard_names`` (warning): ``chr23``, ``chrMT``, ``M``, ``23``-``26`` (PLINK codes
      for X, Y, XY, MT), zero-padded ``chr01``.
    - ``styles_differ_between_inputs`` (error): two inputs share chromosomes under different
      names (``chr1`` vs ``1``); an overlap between them silently returns nothing.
    - ``non_primary`` (info): rows on alt / random / Un / decoy / other contigs, counted.

    Parameters
    ----------
    coords
        One input or a list of inputs (CoordInput, DataFrame or path), compared pairwise.
    names
        Names for the inputs, in order (default: their own).

    Examples
    --------
    >>> df = pd.DataFrame({"chrom": ["chr1", "chr2", "chrX", "MT"], "pos": [10, 20, 30, 40]})
    >>> f = check_contig_naming(df)[0]
    >>> f.severity.value, f.evidence["mapping"]
    ('error', {'MT': 'chrM'})
    """
    items = list(coords) if isinstance(coords, (list, tuple)) else [coords]
    if names is not None and len(names) != len(items):
        raise ConfigError(
            f"names must give one name per input; got {len(names)} for {len(items)} inputs",
            key="names",
        )
    prepared = [
        _prepare(_as_coords(c, names[i] if names is not None else None))
        for i, c in enumerate(items)
    ]
    out: list[Finding] = []
    for p in prepared:
        out += _naming_within(p)
    return out + _naming_between(prepared)


# --------------------------------------------------------------------------- bounds


def _locus(p: _Prepared, i: int) -> str:
    return f"{p.names[p.row_name[i]]}:{p.start[i]:,}-{p.end[i]:,}"


def _loci(p: _Prepared, rows: np.ndarray) -> list[str]:
    return [_locus(p, int(i)) for i in rows[:5]]


def _bounds_findings(p: _Prepared, build: str | None) -> list[Finding]:
    if not p.n:
        return []
    out: list[Finding] = []
    where = p.name
    negative = np.flatnonzero((p.start < 0) | (p.end < 0))
    if len(negative):
        out.append(
            Finding(
                OUT_OF_BOUNDS,
                Severity.ERROR,
                f"{where}, {p.coord_cols}: {fraction(len(negative), p.n)} rows have negative "
                f"coordinates ({preview(_loci(p, negative), total=len(negative))})",
                evidence={"problem": "negative", "n_rows": p.n, "n_affected": len(negative)},
                subjects=subjects(int(i) for i in negative),
                hint="Clip windows at the chromosome start (df['Start'] = df['Start'].clip("
                "lower=0), bedtools slop -g GENOME) or drop those rows.",
                input=p.name,
            )
        )
    reversed_ = np.flatnonzero(p.end < p.start)
    if len(reversed_):
        out.append(
            Finding(
                OUT_OF_BOUNDS,
                Severity.ERROR,
                f"{where}, {p.coord_cols}: {fraction(len(reversed_), p.n)} rows end before they "
                f"start ({preview(_loci(p, reversed_), total=len(reversed_))})",
                evidence={
                    "problem": "end_before_start",
                    "n_rows": p.n,
                    "n_affected": len(reversed_),
                },
                subjects=subjects(int(i) for i in reversed_),
                hint="Swap start and end where they were written end-first (minus-strand "
                "features): df[['Start', 'End']] = np.sort(df[['Start', 'End']], axis=1); or "
                "drop those rows.",
                input=p.name,
            )
        )
    sizes = _chrom_sizes()
    ok = np.flatnonzero(p.code >= 0)
    builds = [build] if build else list(BUILDS)
    bound = np.max([sizes[f"bound_{b}"].to_numpy() for b in builds], axis=0)
    past = ok[p.end[ok] > bound[p.code[ok]]]
    if len(past):
        label = build or "both GRCh37 and GRCh38"
        chroms = sorted({str(p.names[p.row_name[i]]) for i in past}, key=_sort_chrom)
        examples = (f"{_locus(p, i)} > {bound[p.code[i]]:,}" for i in past[:5])
        out.append(
            Finding(
                OUT_OF_BOUNDS,
                Severity.ERROR,
                f"{where}, {p.coord_cols}: {fraction(len(past), p.n)} rows run past the "
                f"chromosome end in {label} ({preview(examples, total=len(past))})",
                evidence={
                    "problem": "past_chromosome_end",
                    "build": build,
                    "n_rows": p.n,
                    "n_rows_checked": len(ok),
                    "n_affected": len(past),
                    "chromosomes": chroms,
                },
                subjects=subjects(int(i) for i in past),
                hint=(
                    "These loci do not exist in "
                    f"{label}: the coordinates come from another assembly (hg18 / NCBI36 runs "
                    "past GRCh37 ends); lift them with the matching UCSC chain (liftOver IN.bed "
                    "hg18ToHg19.over.chain.gz OUT.bed unmapped.bed) or drop the rows past the "
                    "ends (bedtools intersect -u -a IN.bed -b GENOME.bed)."
                ),
                input=p.name,
            )
        )
    return out


def check_out_of_bounds(
    coords: CoordLike, *, build: str | None = None, name: str | None = None
) -> list[Finding]:
    """Coordinates that cannot exist: ``build.out_of_bounds`` (error), one finding per problem.

    ``evidence["problem"]`` is ``negative`` (a start or end below 0), ``end_before_start`` or
    ``past_chromosome_end`` (an end beyond the chromosome's length in ``build``; with
    ``build=None``, beyond its length in both builds). Rows on contigs outside the primary
    assembly are not checked against a length. ``subjects`` are row numbers.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path.
    build
        The build whose chromosome lengths apply (``"GRCh37"`` / ``"GRCh38"``, or hg19 / hg38);
        None: a row is out of bounds only past the end in both builds.
    name
        Name used in messages (default: the input's).

    Examples
    --------
    chr21 is 48,129,895 bp in GRCh37 and 46,709,983 bp in GRCh38:

    >>> df = pd.DataFrame({"Chromosome": ["chr21", "chr21"], "Start": [100, 47_000_000],
    ...                    "End": [50, 47_000_100]})
    >>> [f.evidence["problem"] for f in check_out_of_bounds(df, build="GRCh38")]
    ['end_before_start', 'past_chromosome_end']
    """
    b = _normalise_build(build)
    return _bounds_findings(_prepare(_as_coords(coords, name)), b)


# --------------------------------------------------------------------------- off by one

#: Shifts tried: +1 = the file's positions are 1 bp short (0-based in a 1-based column), -1 =
#: 1 bp long (1-based starts in a 0-based BED column).
_SHIFTS = (1, -1)


def _panel_hits(p: _Prepared) -> tuple[str, dict[str, dict[int, int]], int]:
    """Marker-panel hits of the input at shifts 0, +1 and -1, per build: by rsID when the input
    has panel rsIDs (denominator: those rows), else by (chromosome, position) (denominator:
    the rows hitting any panel position at any shift)."""
    shifts = (0, *_SHIFTS)
    frame = p.ci.frame
    if "rsid" in frame.columns and frame["rsid"].notna().any():
        panel = _markers()
        idx = panel.index.get_indexer(frame["rsid"])
        hit = idx >= 0
        if hit.any():
            rows, code, pos = idx[hit], p.code[hit], p.start[hit] + 1
            counts = {
                b: {
                    s: int(
                        (
                            (code == panel[f"code_{b}"].to_numpy()[rows])
                            & (pos + s == panel[f"pos_{b}"].to_numpy()[rows])
                        ).sum()
                    )
                    for s in shifts
                }
                for b in BUILDS
            }
            return "marker rsIDs", counts, int(hit.sum())
    ok = p.code >= 0
    counts = {
        b: {
            s: int(np.isin(_keys(p.code[ok], p.start[ok] + 1 + s), _marker_keys(b)).sum())
            for s in shifts
        }
        for b in BUILDS
    }
    return "marker positions", counts, sum(sum(c.values()) for c in counts.values())


def _off_by_one_findings(p: _Prepared, *, min_informative: int) -> list[Finding]:
    if not p.n or not (p.point_like or "rsid" in p.ci.frame.columns):
        return []
    source, counts, n = _panel_hits(p)
    build, shift = max(
        ((b, s) for b in BUILDS for s in _SHIFTS), key=lambda bs: counts[bs[0]][bs[1]]
    )
    k = counts[build][shift]
    exact = max(counts[b][0] for b in BUILDS)
    if k < min_informative or k < _MARKER_SHARE * (k + exact):
        return []
    cols = p.ci.header.get("columns") or {}
    if shift == 1:
        what = "1 bp before"
        meaning = "0-based positions in a 1-based column"
        col = cols.get("pos") or cols.get("start") or "pos"
        fix = (
            f"Add 1 to the positions (df['{col}'] += 1) if they are 0-based; or name the column "
            "'start' (with 'end') so the table is read as 0-based, half-open (BED-style)."
        )
    else:
        what = "1 bp after"
        meaning = "1-based starts in a 0-based (BED-style) column"
        col = cols.get("start") or cols.get("pos") or "start"
        fix = (
            f"Subtract 1 from the starts (df['{col}'] -= 1): BED starts are 0-based; or name "
            "the column 'pos' so the table is read as 1-based."
        )
    return [
        Finding(
            OFF_BY_ONE,
            Severity.ERROR,
            f"{p.name}, {p.coord_cols}: {fraction(k, n)} {source} sit {what} their {build} "
            f"position ({exact} exactly at it): the coordinates look like {meaning}",
            evidence={
                "build": build,
                "shift_bp": shift,
                "source": source,
                "n_informative": n,
                "n_shifted": k,
                "n_exact": exact,
                "hits": {b: {str(s): c for s, c in counts[b].items()} for b in BUILDS},
            },
            hint=fix,
            input=p.name,
        )
    ]


def check_off_by_one(
    coords: CoordLike, *, name: str | None = None, min_informative: int = 10
) -> list[Finding]:
    """Positions shifted by one base: ``build.off_by_one`` (error).

    Known SNPs (the marker panel, by rsID or by position) that sit 1 bp before or after their
    position in a build, and not at it, betray a coordinate-base mix-up: 0-based positions
    in a 1-based column (``shift_bp = +1``) or 1-based starts in a 0-based BED column
    (``-1``). Such coordinates miss every annotation by one base and fit neither build.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path.
    name
        Name used in messages (default: the input's).
    min_informative
        Shifted panel hits needed to report; they must also be at least 90 % of the
        shifted plus exact hits.

    Examples
    --------
    GRCh38 panel SNPs written with 0-based positions:

    >>> panel = _markers().head(40)
    >>> df = pd.DataFrame({"chrom": panel["chrom_GRCh38"], "pos": panel["pos_GRCh38"] - 1})
    >>> [(f.check, f.evidence["shift_bp"]) for f in check_off_by_one(df)]
    [('build.off_by_one', 1)]
    """
    return _off_by_one_findings(_prepare(_as_coords(coords, name)), min_informative=min_informative)


# --------------------------------------------------------------------------- audit


def _audit_inputs(ctx: AuditContext) -> list[CoordInput]:
    from biodata_guard.io.coords import coords_from_var

    inputs = list(ctx.coords)
    for fi in ctx.features:
        if fi.adata is not None:
            ci = coords_from_var(fi.adata, name=f"{fi.name} (.var)")
            if ci is not None:
                inputs.append(ci)
    seen: dict[str, int] = {}
    out = []
    for ci in inputs:  # two files of one name in different folders: keep the names apart
        k = seen[ci.name] = seen.get(ci.name, 0) + 1
        if k > 1:
            ci = CoordInput(f"{ci.name} ({k})", ci.frame, ci.kind, ci.header, ci.path)
        out.append(ci)
    return out


def audit_build(ctx: AuditContext) -> list[Finding]:
    """Build checks for one audit.

    Reads every ``ctx.coords`` input and, for each ``ctx.features[i].adata``, its ``.var``
    when it carries coordinates (named ``"<feature name> (.var)"``). Per input: the build call
    (``build.detected`` / ``build.undetermined``), ``build.unexpected`` against
    ``ctx.config.expected_build``, contig naming, and bounds against the detected build (else
    the expected one, else both). Across inputs: ``build.mismatch`` and naming differences.
    Plot data go to ``ctx.artifacts["build"] = {input: {signal: {"GRCh37": s, "GRCh38": s}}}``.
    """
    expected = _normalise_build(ctx.config.expected_build, key="expected_build")
    inputs = _audit_inputs(ctx)
    if not inputs:
        return []
    findings: list[Finding] = []
    calls: list[BuildCall] = []
    prepared: list[_Prepared] = []
    artifacts: dict[str, Any] = {}
    for ci in inputs:
        p = _prepare(ci)
        call = _detect(p, seed=ctx.seed)
        findings += _call_findings(call, p, expected=expected)
        findings += _naming_within(p)
        findings += _bounds_findings(p, call.build if call.determined else expected)
        findings += _off_by_one_findings(p, min_informative=10)
        artifacts[p.name] = call.scores()
        calls.append(call)
        prepared.append(p)
    findings += check_build_mismatch(calls, expected_build=expected)
    findings += _naming_between(prepared)
    ctx.artifacts["build"] = artifacts
    return findings

"""Reference data and chromosome names: the two builds, their chromosome lengths, marker and
gene panels, and the naming styles of chromosomes (chr1 / 1 / NC_000001.11)."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.errors import ConfigError
from biodata_guard.registry import Options, declare_param

GRCH37, GRCH38 = "GRCh37", "GRCh38"
BUILDS = (GRCH37, GRCH38)
#: Assemblies a coordinate file may come from instead (their chromosome lengths are shipped in
#: ``data/chrom_sizes_other_assemblies.tsv``): a call never forces them onto GRCh37 / GRCh38.
OTHER_ASSEMBLIES = ("NCBI36", "T2T-CHM13v2.0", "GRCm38", "GRCm39")
_UCSC_OTHER = {"NCBI36": "hg18", "T2T-CHM13v2.0": "hs1", "GRCm38": "mm10", "GRCm39": "mm39"}

declare_param(
    "expected_build",
    None,
    kind="choice",
    help="Expected genome build.",
    valid=Options(BUILDS),
    section="expectations",
    key="build",
)

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
def _other_sizes() -> pd.DataFrame:
    """Chromosome lengths of :data:`OTHER_ASSEMBLIES`, indexed like :data:`_PRIMARY` (0 where
    the assembly has no such chromosome: mouse has no chromosomes 20-22)."""
    with _data_file("chrom_sizes_other_assemblies.tsv").open("rb") as fh:
        df = pd.read_csv(fh, sep="\t", dtype={"chrom": str}, keep_default_na=False)
    wide = df.pivot(index="chrom", columns="assembly", values="length")
    return wide.reindex(list(_PRIMARY)).fillna(0).astype(np.int64)[list(OTHER_ASSEMBLIES)]


def _display(assembly: str) -> str:
    """``GRCm39 (mm39)``: an assembly with its UCSC name."""
    ucsc = _UCSC.get(assembly) or _UCSC_OTHER.get(assembly)
    return f"{assembly} ({ucsc})" if ucsc else assembly


@functools.cache
def _accessions() -> dict[str, tuple[int, str | None]]:
    """RefSeq / GenBank accession -> (chromosome index, assembly or None when GRCh37 and GRCh38
    share it); the other assemblies' accessions name their assembly."""
    sizes = _chrom_sizes()
    out: dict[str, tuple[int, str | None]] = {}
    for i, (_, row) in enumerate(sizes.iterrows()):
        for kind in ("refseq", "genbank"):
            a, b = row[f"{kind}_GRCh37"], row[f"{kind}_GRCh38"]
            out[a] = (i, GRCH37 if a != b else None)
            out[b] = (i, GRCH38 if a != b else None)
    with _data_file("chrom_sizes_other_assemblies.tsv").open("rb") as fh:
        other = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    for r in other.itertuples(index=False):
        for acc in (r.refseq, r.genbank):
            if acc and acc not in out:
                out[acc] = (_PRIMARY.index(r.chrom), r.assembly)
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


def _sort_chrom(name: str) -> tuple[int, str]:
    """Sort key: primary chromosomes in karyotype order, then other contigs by name."""
    code = _canonical(name)
    return (code if code >= 0 else len(_PRIMARY), name)


def _normalise_build(build: str | None, *, key: str = "build") -> str | None:
    """``"GRCh37"`` / ``"GRCh38"`` from any accepted spelling (hg19, b38 ...); ConfigError if
    unknown (``key`` names the option in the message)."""
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

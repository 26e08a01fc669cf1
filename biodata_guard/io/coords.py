"""Readers for coordinate-bearing inputs: VCF, BED, GTF/GFF, genotype text, chrom/pos tables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import CoordInput
from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._coords_formats import _looks_gff, _read_bed, _read_gtf, _read_vcf
from biodata_guard.io._coords_text import (
    _INT_LIKE,
    _RS_LIKE,
    _clean_ids,
    _clip_lines,
    _frame,
    _integers,
    _read_columns,
    _Scan,
    _scan,
    _sep_of,
    _split,
)
from biodata_guard.io._files import UNREADABLE, check_file, parquet_error
from biodata_guard.io.tables import PARQUET_SUFFIXES

__all__ = ["coords_from_frame", "coords_from_var", "read_coordinates"]

# Column names, compared after lower-casing and stripping a leading '#', in priority order.
_CHROM_NAMES = (
    "chrom",
    "chromosome",
    "chr",
    "seqname",
    "seqnames",
    "seqid",
    "contig",
    "chromosome_name",
    "chrom_name",
    "chr_name",
    "hg19chrc",
    "hg38chrc",
)
_POS_NAMES = (
    "pos",
    "position",
    "bp",
    "base_pair_location",
    "basepair",
    "base_pair",
    "bp_position",
    "physical_position",
    "pos_bp",
)
_START_NAMES = ("start", "chromstart", "start_position", "chrom_start", "chr_start", "gene_start")
_END_NAMES = ("end", "chromend", "end_position", "stop", "chrom_end", "chr_end", "gene_end")
_RSID_NAMES = (
    "rsid",
    "rs_id",
    "rs",
    "id",
    "snp",
    "snpid",
    "snp_id",
    "rsnumber",
    "markername",
    "marker",
    "variant_id",
    "dbsnp",
)
_STRAND_NAMES = ("strand",)
_GENE_NAMES = (
    "gene_name",
    "gene_symbol",
    "symbol",
    "gene",
    "hgnc_symbol",
    "external_gene_name",
    "feature_name",
)
_GENOTYPE_NAMES = ("genotype", "result", "allele1", "allele2", "call")
_GENOTYPE_VENDORS = re.compile(r"23andme|ancestrydna|ancestry\.com|myheritage|ftdna|familytreedna")

_BED_SUFFIXES = (".bed", ".narrowpeak", ".broadpeak", ".bedgraph", ".bdg", ".gappedpeak")
_GTF_SUFFIXES = (".gtf",)
_GFF_SUFFIXES = (".gff", ".gff3")

_CHROM_LIKE = re.compile(
    r"^(chr)?(\d{1,2}|x|y|m|mt|xy|un\w*|[\w]+_(random|alt|fix|decoy))$|^(nc|cm)_?\d+\.\d+$",
    re.IGNORECASE,
)
_INTERVAL = re.compile(r"^([A-Za-z0-9_.]+)[:_-](\d+)[-_:](\d+)$")


def read_coordinates(path: str | Path, *, name: str | None = None) -> CoordInput:
    """Read a coordinate-bearing file into a :class:`~biodata_guard._context.CoordInput`.

    The format is recognised from the content first (``##fileformat=VCF``, ``##gff-version``,
    vendor comments of 23andMe / AncestryDNA) and then from the suffix: VCF (``.vcf``,
    ``.vcf.gz``), BED 3-12 columns (``.bed``, ``.narrowPeak`` ..., with or without
    ``track``/``browser``/header lines), GTF/GFF, PLINK ``.bim``, genotype text, and tables
    (CSV/TSV(.gz)/Parquet) whose chromosome and position columns are found by name,
    case-insensitively (``CHROM``, ``chr``, ``chromosome`` ...; ``POS``, ``BP``, ``position``;
    ``start``/``end``; ``rsid``/``ID``/``SNP``) or, without a header, by content.

    The frame follows the pyranges convention: ``Chromosome`` exactly as written in the file
    (``"chr1"`` and ``"1"`` are not merged: that is for ``build.contig_naming`` to report),
    ``Start`` 0-based, ``End`` half-open, and when present ``Strand``, ``rsid``, ``Name``,
    ``gene_name``, ``Feature``. Single positions (VCF ``POS``, ``pos``/``BP`` columns, genotype
    files) are 1-based in the file and become ``Start = pos - 1``; ``start``/``end`` columns of
    tables are taken as they are (0-based, half-open, as in BED and bioframe).

    Parameters
    ----------
    path
        The file. gzip / bgzip compression is recognised from the content (a file named
        ``.gz`` must hold gzip data).
    name
        Name used in messages (default: the file name).

    Returns
    -------
    CoordInput
        ``kind`` is ``"vcf"``, ``"bed"``, ``"gtf"``, ``"gff"``, ``"genotype"`` or ``"table"``;
        ``header`` holds the build-relevant header lines (``lines``), contig lengths declared by
        the header (``contigs``) and how the columns were found (``columns``).

    Raises
    ------
    InputError
        Missing, empty or binary (BCF) file, a ``.gz`` name on a file that is not gzip,
        truncated gzip, non-UTF-8 text, broken VCF header,
        no chromosome / position columns, non-numeric or missing positions, no data rows.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "peaks.bed")
    >>> _ = open(p, "w").write("chr1\\t99\\t200\\tpeak1\\n")
    >>> ci = read_coordinates(p)
    >>> ci.kind, ci.frame[["Chromosome", "Start", "End"]].values.tolist()
    ('bed', [['chr1', 99, 200]])
    """
    p = Path(path)
    f = check_file(p, label=name or p.name, flag="--coords")
    label, suffix = f.label, f.suffix
    if suffix == ".bcf":
        raise InputError(
            f"{label}: BCF is a binary format and is not read directly",
            path=label,
            hint=f"Convert it to VCF: bcftools view -Oz -o {p.stem}.vcf.gz {p.name}",
            check=UNREADABLE,
        )
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(p, label)
    scan = _scan(f)
    first = scan.comments[0] if scan.comments else ""
    if first.startswith("##fileformat=VCF") or suffix == ".vcf":
        return _read_vcf(p, label, scan)
    if any(c.startswith("##gff-version") for c in scan.comments[:5]) or suffix in (
        _GTF_SUFFIXES + _GFF_SUFFIXES
    ):
        return _read_gtf(p, label, scan, gff=suffix in _GFF_SUFFIXES or _looks_gff(scan))
    if not scan.sample:
        raise InputError(
            f"{label}: has no data rows (only {len(scan.comments)} header/comment line(s))",
            path=label,
            hint="Regenerate the file; it holds no coordinates.",
        )
    if suffix in _BED_SUFFIXES:
        return _read_bed(p, label, scan, with_name=suffix not in (".bedgraph", ".bdg"))
    if suffix == ".bim":
        roles = {"chrom": 0, "rsid": 1, "pos": 3}  # PLINK .bim: chrom, id, cM, bp, a1, a2
        return _read_positional(
            p, label, scan, "table", roles, sep=_sep_of(scan.sample[0]), skip=scan.n_skip
        )
    return _read_table(p, label, scan)


# --- tables -----------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return str(name).strip().strip('"').lstrip("#").strip().lower()


def _find(columns: list[str], names: tuple[str, ...]) -> int | None:
    norm = [_norm(c) for c in columns]
    for want in names:
        if want in norm:
            return norm.index(want)
    return None


def _column_roles(columns: list[str]) -> dict[str, int]:
    roles = {
        "chrom": _find(columns, _CHROM_NAMES),
        "pos": _find(columns, _POS_NAMES),
        "start": _find(columns, _START_NAMES),
        "end": _find(columns, _END_NAMES),
        "rsid": _find(columns, _RSID_NAMES),
        "strand": _find(columns, _STRAND_NAMES),
        "gene_name": _find(columns, _GENE_NAMES),
    }
    return {k: v for k, v in roles.items() if v is not None}


def _is_header(fields: list[str]) -> bool:
    roles = _column_roles(fields)
    return "chrom" in roles and ("pos" in roles or "start" in roles)


def _read_table(p: Path, label: str, scan: _Scan) -> CoordInput:
    first = scan.sample[0]
    sep = _sep_of(first)
    fields = _split(first, sep)
    skip = scan.n_skip
    if _is_header(fields):
        columns, skip = fields, skip + 1
    else:
        last = scan.comments[-1] if scan.comments else ""
        from_comment = _split(last.lstrip("#").strip(), sep) if last else []
        if _is_header(from_comment) and len(from_comment) == len(fields):
            columns = from_comment  # 23andMe: "# rsid  chromosome  position  genotype"
        else:
            columns = []
    vendor = bool(_GENOTYPE_VENDORS.search("\n".join(scan.comments).lower()))
    roles = _column_roles(columns) if columns else _infer_roles(scan.sample, sep)
    if "chrom" not in roles or not ({"pos", "start"} & set(roles)):
        raise _no_coordinate_columns(label, columns or fields)
    genotype = vendor or bool(
        columns and {"rsid", "pos"} <= set(roles) and _find(columns, _GENOTYPE_NAMES) is not None
    )
    kind = "genotype" if genotype else "table"
    return _read_positional(p, label, scan, kind, roles, sep=sep, skip=skip, names=columns or None)


def _no_coordinate_columns(label: str, columns: list[str], *, pyranges: bool = False) -> InputError:
    """The error for a table without chromosome and position columns (``pyranges``: a frame,
    which may also name them Chromosome / Start / End)."""
    also = "Chromosome/Start/End or " if pyranges else ""
    return InputError(
        f"{label}: no coordinate columns found: need {also}a chromosome column "
        f"({', '.join(_CHROM_NAMES[:4])} ...) and a position column "
        f"({', '.join(_POS_NAMES[:3])}, start/end); columns are {preview(columns, n=8)}",
        path=label,
        hint="Rename the columns to Chromosome, Start, End (0-based) or chrom, pos (1-based)."
        if pyranges
        else "Rename the columns to chrom and pos (or chrom, start, end).",
    )


def _infer_roles(sample: list[str], sep: str) -> dict[str, int]:
    """Headerless table: find chromosome, position (or start/end) and rsID columns by content."""
    rows = [_split(line, sep) for line in sample]
    width = min(len(r) for r in rows)
    roles: dict[str, int] = {}
    ints: list[int] = []
    for j in range(width):
        values = [r[j].strip().strip('"') for r in rows]
        if "chrom" not in roles and np.mean([bool(_CHROM_LIKE.match(v)) for v in values]) >= 0.9:
            roles["chrom"] = j
            continue
        if "rsid" not in roles and np.mean([bool(_RS_LIKE.match(v)) for v in values]) >= 0.5:
            roles["rsid"] = j
            continue
        if all(_INT_LIKE.match(v) for v in values) and max(abs(int(v)) for v in values) > 26:
            ints.append(j)
    if ints:
        a = ints[0]
        b = ints[1] if len(ints) > 1 and ints[1] == a + 1 else None
        if b is not None and all(int(r[b]) >= int(r[a]) for r in rows):
            roles["start"], roles["end"] = a, b
        else:
            roles["pos"] = a
    return roles


def _read_positional(
    p: Path,
    label: str,
    scan: _Scan,
    kind: str,
    roles: dict[str, int],
    *,
    sep: str,
    skip: int,
    names: list[str] | None = None,
) -> CoordInput:
    """Read a table whose columns are known by index: ``roles`` maps chrom, pos (1-based) or
    start/end (0-based, half-open), rsid, strand, gene_name to column numbers."""
    if "pos" in roles:
        roles = {k: v for k, v in roles.items() if k not in ("start", "end")}
    ints = {roles[r]: r for r in ("pos", "start", "end") if r in roles}
    text = {i: r for r, i in roles.items() if i not in ints}
    df = _read_columns(
        p,
        label,
        scan,
        sep=sep,
        skip=skip,
        text=text,
        ints=ints,
        titles={i: names[i] for i in ints} if names else None,
    )
    if df.empty:
        raise InputError(f"{label}: has no data rows", path=label, hint="Regenerate the file.")
    header: dict[str, Any] = {
        "lines": _clip_lines(scan.comments),
        "contigs": {},
        "columns": {r: names[i] if names else f"column {i + 1}" for r, i in roles.items()},
        "columns_inferred": not names,
    }
    if kind == "genotype" and "pos" in df:
        # AncestryDNA writes unplaced probes as chromosome 0, position 0: not coordinates.
        unplaced = ((df["chrom"].str.strip() == "0") | (df["pos"] == 0)).to_numpy()
        header["n_unplaced"] = int(unplaced.sum())
        df = df.loc[~unplaced].reset_index(drop=True)
    if "pos" in df:
        start = df["pos"].to_numpy(dtype=np.int64) - 1
        end = start + 1
    else:
        start = df["start"].to_numpy(dtype=np.int64)
        end = df["end"].to_numpy(dtype=np.int64) if "end" in df else start + 1
    frame = _frame(
        df["chrom"],
        start,
        end,
        Strand=df.get("strand"),
        rsid=_clean_ids(df["rsid"]) if "rsid" in df else None,
        gene_name=df.get("gene_name"),
    )
    return CoordInput(name=label, frame=frame, kind=kind, header=header, path=str(p))


def _read_parquet(p: Path, label: str) -> CoordInput:
    try:
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(p).names)
        roles = _column_roles(columns)
        if {"Chromosome", "Start", "End"} <= set(columns):
            wanted = [c for c in columns if c in ("Chromosome", "Start", "End", "Strand", "rsid")]
            wanted += [c for c in ("gene_name",) if c in columns]
        else:
            wanted = [columns[i] for i in sorted(set(roles.values()))]
        df = pd.read_parquet(p, columns=wanted)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise parquet_error(label, exc) from None
    ci = coords_from_frame(df, name=label)
    ci.path = str(p)
    return ci


# --- in-memory frames -------------------------------------------------------------------------


def coords_from_frame(df: pd.DataFrame, *, name: str = "<DataFrame>") -> CoordInput:
    """A table already in memory -> :class:`CoordInput` (same column detection as the files).

    A frame with pyranges columns ``Chromosome``, ``Start``, ``End`` is taken as it is;
    otherwise chromosome and position (or start/end) columns are found by name.

    Raises
    ------
    InputError
        No chromosome / position columns, or non-numeric positions.

    Examples
    --------
    >>> df = pd.DataFrame({"CHR": ["1", "2"], "BP": [752566, 23245301], "SNP": ["rs1", "rs2"]})
    >>> coords_from_frame(df).frame["Start"].tolist()
    [752565, 23245300]
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"{name}: coordinates must be a pandas DataFrame; got {type(df).__name__} instead",
            path=name,
            hint="Pass a DataFrame with Chromosome, Start, End (or chrom and pos) columns.",
        )
    columns = [str(c) for c in df.columns]
    if {"Chromosome", "Start", "End"} <= set(columns):  # pyranges names: taken as they are
        pyr = {"chrom": "Chromosome", "start": "Start", "end": "End", "strand": "Strand"}
        pyr |= {"rsid": "rsid", "gene_name": "gene_name"}
        roles = {r: columns.index(c) for r, c in pyr.items() if c in columns}
    else:
        roles = _column_roles(columns)
        if "pos" in roles:
            roles.pop("start", None)
            roles.pop("end", None)
    if "chrom" not in roles or not ({"pos", "start"} & set(roles)):
        raise _no_coordinate_columns(name, columns, pyranges=True)
    missing = df.iloc[:, roles["chrom"]].isna().to_numpy()
    if missing.any():  # rows without a chromosome carry no coordinates
        df = df.loc[~missing]

    def col(role: str) -> pd.Series | None:
        return df.iloc[:, roles[role]] if role in roles else None

    def ints(role: str) -> np.ndarray:
        s = df.iloc[:, roles[role]]
        if pd.api.types.is_integer_dtype(s) and not s.isna().any():
            return s.to_numpy(dtype=np.int64)
        return _integers(s, name, columns[roles[role]], first_line=None).to_numpy()

    if "pos" in roles:
        start = ints("pos") - 1
        end = start + 1
    else:
        start = ints("start")
        end = ints("end") if "end" in roles else start + 1
    rsid = col("rsid")
    frame = _frame(
        col("chrom"),
        start,
        end,
        Strand=col("strand"),
        rsid=None if rsid is None else _clean_ids(rsid),
        gene_name=col("gene_name"),
    )
    header = {
        "lines": [],
        "contigs": {},
        "columns": {k: columns[v] for k, v in roles.items()},
        "columns_inferred": False,
        "n_missing": int(missing.sum()),
    }
    return CoordInput(name=name, frame=frame, kind="table", header=header)


def coords_from_var(adata_or_var: Any, *, name: str = "<AnnData>") -> CoordInput | None:
    """Feature coordinates of an AnnData ``.var`` (or a var-like DataFrame), or None.

    Looks for chromosome + start/end (or position) columns by name (``chrom``, ``chromosome``,
    ``seqnames`` ...; ``start``, ``chromStart``, ``start_position`` ...), then for an
    ``interval`` column or ``var_names`` written as ``chr1:9772-10660`` / ``chr1-9772-10660``
    (scATAC peaks). Gene names come from a ``gene_name``/``gene_symbol``/``symbol`` column, else
    from ``var_names`` when they are not coordinates. Features without a chromosome are dropped
    (their number is in ``header["n_missing"]``); None when nothing has coordinates.

    Raises
    ------
    InputError
        Coordinate columns exist but hold non-numeric positions.

    Examples
    --------
    >>> var = pd.DataFrame({"chrom": ["chr1"], "start": [11868], "end": [14409]}, index=["DDX11L1"])
    >>> ci = coords_from_var(var, name="genes.h5ad")
    >>> ci.kind, ci.frame["gene_name"].tolist()
    ('anndata_var', ['DDX11L1'])
    """
    # DataFrame.var is the variance method: test for a frame first.
    is_frame = isinstance(adata_or_var, pd.DataFrame)
    var = adata_or_var if is_frame else getattr(adata_or_var, "var", None)
    if not isinstance(var, pd.DataFrame):
        return None
    columns = [str(c) for c in var.columns]
    roles = _column_roles(columns)
    names = pd.Series(var.index.astype(str), index=var.index)
    if "chrom" in roles and ({"pos", "start"} & set(roles)):
        sub = var.iloc[:, sorted(set(roles.values()))].copy()
        sub.columns = [columns[i] for i in sorted(set(roles.values()))]
        if "gene_name" not in roles and not _looks_like_ids(names):
            sub["gene_name"] = names.to_numpy()
        missing = var.iloc[:, roles["chrom"]].isna() | (
            var.iloc[:, roles.get("pos", roles.get("start"))].isna()
        )
        n_missing = int(missing.sum())
        sub = sub.loc[~missing.to_numpy()]
        if sub.empty:
            return None
        ci = coords_from_frame(sub.reset_index(drop=True), name=name)
        ci.header["n_missing"] = n_missing
        ci.kind = "anndata_var"
        return ci
    source = None
    if "interval" in [c.lower() for c in columns]:
        source = var[columns[[c.lower() for c in columns].index("interval")]].astype(str)
    elif len(names):
        source = names
    if source is None or not len(source):
        return None
    parts = source.str.extract(_INTERVAL.pattern)
    ok = parts[0].notna().to_numpy()
    if ok.mean() < 0.9:
        return None
    parts = parts.loc[ok]
    frame = _frame(
        parts[0].astype(str),
        parts[1].astype(np.int64).to_numpy(),
        parts[2].astype(np.int64).to_numpy(),
    )
    header = {
        "lines": [],
        "contigs": {},
        "columns": {"interval": "interval" if source is not names else "var_names"},
        "columns_inferred": False,
        "n_missing": int((~ok).sum()),
    }
    return CoordInput(name=name, frame=frame, kind="anndata_var", header=header)


def _looks_like_ids(names: pd.Series) -> bool:
    head = names.head(1000)
    if not len(head):
        return True
    ids = head.str.match(r"^(ENS[A-Z]*G\d+|\d+$)")
    coords = head.str.match(_INTERVAL.pattern)
    return bool((ids | coords).mean() >= 0.5)

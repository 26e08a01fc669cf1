"""Readers for coordinate-bearing inputs: VCF, BED, GTF/GFF, genotype text, chrom/pos tables."""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import CoordInput
from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io import parquet_error

__all__ = ["coords_from_frame", "coords_from_var", "read_coordinates"]

UNREADABLE = "input.unreadable"

#: Lines read to sniff the format and infer columns (the file is then read by pandas).
_SAMPLE_LINES = 200
#: Header lines kept verbatim in ``CoordInput.header["lines"]`` (build-relevant ones only).
_MAX_HEADER_LINES = 50
_MAX_LINE_CHARS = 300

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
_PARQUET_SUFFIXES = (".parquet", ".pq")

_CHROM_LIKE = re.compile(
    r"^(chr)?(\d{1,2}|x|y|m|mt|xy|un\w*|[\w]+_(random|alt|fix|decoy))$|^(nc|cm)_?\d+\.\d+$",
    re.IGNORECASE,
)
_RS_LIKE = re.compile(r"^rs\d+", re.IGNORECASE)
_INT_LIKE = re.compile(r"^[+-]?\d+$")
# Header keys (VCF ``##key=``) whose values may name the assembly.
_VCF_BUILD_KEYS = re.compile(
    r"^##(reference|assembly|genome\w*|build\w*|ref|fasta|referencefasta|source_assembly)=",
    re.IGNORECASE,
)
_VCF_CONTIG = re.compile(r"^##contig=<(.*)>\s*$", re.IGNORECASE)
_GFF_REGION = re.compile(r"^##sequence-region\s+(\S+)\s+(\d+)\s+(\d+)")
_INTERVAL = re.compile(r"^([A-Za-z0-9_.]+)[:_-](\d+)[-_:](\d+)$")


@dataclass
class _Scan:
    """What a first pass over the top of a text file found."""

    gz: bool
    comments: list[str] = field(default_factory=list)  # leading comment / track lines
    n_skip: int = 0  # physical lines before the first data line
    sample: list[str] = field(default_factory=list)  # first data lines


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
        The file. gzip / bgzip compression is recognised from the content, not the name.
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
        Missing, empty or binary (BCF) file, truncated gzip, non-UTF-8 text, broken VCF header,
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
    label = name or p.name
    _check_path(p, label)
    suffix = _suffix(p)
    if suffix == ".bcf":
        raise InputError(
            f"{label}: BCF is a binary format and is not read directly",
            path=label,
            hint=f"Convert it to VCF: bcftools view -Oz -o {p.stem}.vcf.gz {p.name}",
            check=UNREADABLE,
        )
    if suffix in _PARQUET_SUFFIXES:
        return _read_parquet(p, label)
    scan = _scan(p, label)
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


# --- file access ------------------------------------------------------------------------------


def _check_path(p: Path, label: str) -> None:
    if not p.exists():
        raise InputError(
            f"{label}: file does not exist ({p})",
            path=label,
            hint="Check the path passed to --coords.",
            check=UNREADABLE,
        )
    if p.is_dir():
        raise InputError(
            f"{label}: is a directory, not a file",
            path=label,
            hint="Name a file.",
            check=UNREADABLE,
        )
    if p.stat().st_size == 0:
        raise InputError(
            f"{label}: file is empty (0 bytes)",
            path=label,
            hint="Regenerate the file.",
            check=UNREADABLE,
        )


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for gz in (".gz", ".bgz", ".bgzf"):
        if name.endswith(gz):
            name = name[: -len(gz)]
            break
    return Path(name).suffix


def _is_gzip(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _lines(p: Path, gz: bool) -> Iterator[str]:
    with gzip.open(p, "rb") if gz else open(p, "rb") as raw:
        for i, line in enumerate(raw):
            text = line.decode("utf-8")
            if i == 0:
                text = text.removeprefix("\ufeff")
            yield text.rstrip("\r\n")


def _unreadable(label: str, exc: BaseException, gz: bool) -> InputError:
    if isinstance(exc, UnicodeDecodeError):
        return InputError(
            f"{label}: is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be decoded)",
            path=label,
            hint="Convert it with: iconv -f latin1 -t utf-8 FILE > FILE.utf8",
            check=UNREADABLE,
        )
    what = "the gzip stream is truncated or corrupt" if gz else "the file cannot be read"
    return InputError(
        f"{label}: {what} ({type(exc).__name__}: {exc})",
        path=label,
        hint="Re-download or re-compress the file (gzip -t FILE tests it).",
        check=UNREADABLE,
    )


_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


def _scan(p: Path, label: str) -> _Scan:
    scan = _Scan(gz=_is_gzip(p))
    in_header = True
    try:
        for line in _lines(p, scan.gz):
            if in_header:
                stripped = line.strip()
                if not stripped or line.startswith("#") or _is_track(stripped):
                    scan.n_skip += 1
                    if stripped:
                        scan.comments.append(line)
                    continue
                in_header = False
            if line.strip():
                scan.sample.append(line)
            if len(scan.sample) >= _SAMPLE_LINES:
                break
    except _READ_ERRORS as exc:
        raise _unreadable(label, exc, scan.gz) from None
    if not scan.comments and not scan.sample:
        raise InputError(
            f"{label}: file holds only blank lines",
            path=label,
            hint="Regenerate the file.",
            check=UNREADABLE,
        )
    return scan


def _is_track(line: str) -> bool:
    return line.startswith(("track ", "track\t", "browser ", "browser\t")) or line == "track"


def _read_csv(p: Path, label: str, scan: _Scan, **kwargs: Any) -> pd.DataFrame:
    """pandas.read_csv with every failure turned into an InputError naming the file."""
    try:
        return pd.read_csv(
            p,
            compression="gzip" if scan.gz else None,
            encoding="utf-8",
            header=None,
            low_memory=False,
            **kwargs,
        )
    except _READ_ERRORS as exc:
        raise _unreadable(label, exc, scan.gz) from None
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{label}: has no data rows", path=label, hint="Regenerate the file."
        ) from None
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{label}: rows have inconsistent numbers of fields ({str(exc).strip()})",
            path=label,
            hint="Use one delimiter throughout and quote values that contain it.",
        ) from None


def _read_columns(
    p: Path,
    label: str,
    scan: _Scan,
    *,
    sep: str,
    skip: int,
    text: dict[int, str],
    ints: dict[int, str],
    titles: dict[int, str] | None = None,
    comment: str | None = None,
) -> pd.DataFrame:
    """Read some columns by index, named by role: ``text`` as str, ``ints`` as int64.

    Positions that do not parse are diagnosed by :func:`_integers` under their ``titles``
    (the file's own column names) with line numbers.
    """
    usecols = sorted({*text, *ints})
    kwargs: dict[str, Any] = {"sep": sep, "skiprows": skip, "usecols": usecols}
    kwargs["comment"] = comment
    if sep == "\t":
        kwargs["quoting"] = csv.QUOTE_NONE
    try:
        df = _read_csv(
            p, label, scan, dtype={i: str for i in text} | dict.fromkeys(ints, np.int64), **kwargs
        )
    except (ValueError, TypeError, OverflowError):  # a position is not an integer: say which
        df = _read_csv(p, label, scan, dtype=dict.fromkeys(usecols, str), **kwargs)
        for i, role in ints.items():
            df[i] = _integers(df[i], label, (titles or {}).get(i, role), first_line=skip + 1)
    df.columns = [text[i] if i in text else ints[i] for i in usecols]
    return df


def _integers(s: pd.Series, label: str, col: str, *, first_line: int | None) -> pd.Series:
    """Parse a column of positions, or raise naming the first bad values and lines (rows)."""
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() | (num != np.floor(num))).to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)

        def where(i: int) -> str:
            return f"line {first_line + i}" if first_line is not None else f"row {s.index[i]!r}"

        examples = [f"{where(int(i))}: {s.iloc[int(i)]!r}" for i in idx[:3]]
        raise InputError(
            f"{label}, {col}: positions must be integers; {len(idx)} of {len(s)} rows are "
            f"missing or non-numeric ({preview(examples, n=3, total=len(idx))})",
            path=label,
            column=col,
            hint=f"Fix or drop the rows whose {col} is not a whole number.",
        )
    return num.astype(np.int64)


def _split(line: str, sep: str | None) -> list[str]:
    if sep is None or sep == r"\s+":
        return line.split()
    return next(csv.reader([line], delimiter=sep))


def _sep_of(line: str) -> str:
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return r"\s+"


def _frame(chrom: Any, start: Any, end: Any, **extra: Any) -> pd.DataFrame:
    """The pyranges-style frame of a CoordInput; ``extra`` columns that are None are left out."""
    out = {
        "Chromosome": pd.Series(chrom).astype(str).str.strip().to_numpy(),
        "Start": np.asarray(start, dtype=np.int64),
        "End": np.asarray(end, dtype=np.int64),
    }
    for key, values in extra.items():
        if values is not None:
            out[key] = values.to_numpy() if isinstance(values, pd.Series) else values
    return pd.DataFrame(out)


def _clip_lines(lines: list[str]) -> list[str]:
    return [line[:_MAX_LINE_CHARS] for line in lines[:_MAX_HEADER_LINES]]


# --- VCF --------------------------------------------------------------------------------------


def _read_vcf(p: Path, label: str, scan: _Scan) -> CoordInput:
    header = _parse_vcf_header(label, scan.comments)
    if scan.sample:
        df = _read_columns(
            p,
            label,
            scan,
            sep="\t",
            skip=scan.n_skip,
            text={0: "CHROM", 2: "ID", 3: "REF"},
            ints={1: "POS"},
        )
    else:  # a header-only VCF still tells its build
        df = pd.DataFrame({"CHROM": [], "POS": [], "ID": [], "REF": []}, dtype=str)
    start = df["POS"].to_numpy(dtype=np.int64) - 1
    end = start + np.maximum(df["REF"].str.len().fillna(1).to_numpy(dtype=np.int64), 1)
    frame = _frame(df["CHROM"], start, end, rsid=_clean_ids(df["ID"]))
    return CoordInput(name=label, frame=frame, kind="vcf", header=header, path=str(p))


def _parse_vcf_header(label: str, comments: list[str]) -> dict[str, Any]:
    def broken(what: str) -> InputError:
        return InputError(
            f"{label}: broken VCF header: {what}",
            path=label,
            hint="Repair the header (bcftools view -h FILE shows it; bcftools reheader fixes it).",
        )

    if not comments or not comments[0].startswith("##fileformat=VCF"):
        raise broken("the first line must be '##fileformat=VCFv4.x'")
    last = comments[-1]
    if not last.startswith("#CHROM"):
        raise broken("no '#CHROM POS ID REF ALT QUAL FILTER INFO' column line before the records")
    cols = last.lstrip("#").split("\t")
    if cols[:8] != ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]:
        raise broken(
            f"the column line must start CHROM POS ID REF ALT QUAL FILTER INFO separated by tabs; "
            f"got {preview(cols, n=8)}"
        )
    lines: list[str] = [comments[0]]
    contigs: dict[str, int | None] = {}
    for i, line in enumerate(comments[1:-1], start=2):
        if not line.startswith("##"):
            raise broken(
                f"line {i} is neither a '##' meta line nor the '#CHROM' line: {line[:60]!r}"
            )
        m = _VCF_CONTIG.match(line)
        if m:
            fields = _meta_fields(m.group(1))
            cid = fields.get("ID")
            if not cid:
                raise broken(f"line {i}: ##contig without ID: {line[:80]!r}")
            length = fields.get("length")
            if length is not None and not _INT_LIKE.match(length):
                raise broken(f"line {i}: ##contig length is not an integer: {length!r}")
            contigs[cid] = int(length) if length is not None else None
            if "assembly" in fields and len(lines) < _MAX_HEADER_LINES:
                lines.append(f"##contig assembly={fields['assembly']}")
        elif line.lower().startswith("##contig"):
            raise broken(f"line {i}: malformed ##contig line: {line[:80]!r}")
        elif _VCF_BUILD_KEYS.match(line):
            lines.append(line)
    lines = list(dict.fromkeys(lines))
    return {
        "format": comments[0].split("=", 1)[1],
        "lines": _clip_lines(lines),
        "contigs": contigs,
        "samples": max(0, len(cols) - 9),
    }


def _meta_fields(body: str) -> dict[str, str]:
    """``ID=1,length=249250621,assembly=b37`` -> dict (quoted values may hold commas)."""
    out: dict[str, str] = {}
    for part in next(csv.reader([body], delimiter=",", quotechar='"')):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _clean_ids(ids: pd.Series) -> pd.Series:
    ids = ids.astype("str")
    ids = ids.where(ids != ".")
    multi = ids.str.contains(";", regex=False, na=False)
    if multi.any():
        ids = ids.copy()
        ids[multi] = ids[multi].str.split(";").str[0]
    return ids


# --- BED --------------------------------------------------------------------------------------


def _read_bed(p: Path, label: str, scan: _Scan, *, with_name: bool) -> CoordInput:
    skip = scan.n_skip
    first = scan.sample[0]
    sep = "\t" if "\t" in first else r"\s+"
    fields = _split(first, sep)
    if len(fields) < 3:
        raise InputError(
            f"{label}: BED needs at least 3 columns (chrom, start, end); the first data line "
            f"has {len(fields)}: {first[:80]!r}",
            path=label,
            hint="Check the delimiter (BED is tab-separated) and the columns.",
        )
    header_row = not (_INT_LIKE.match(fields[1]) and _INT_LIKE.match(fields[2]))
    lines = list(scan.comments)
    if header_row:  # a column-name line such as "chrom start end name"
        skip += 1
        lines.append(first)
        fields = _split(scan.sample[1], sep) if len(scan.sample) > 1 else fields
    n = len(fields)
    text = {0: "chrom"}
    if with_name and n > 3:
        text[3] = "name"
    if n > 5:
        text[5] = "strand"
    df = _read_columns(p, label, scan, sep=sep, skip=skip, text=text, ints={1: "start", 2: "end"})
    if df.empty:
        raise InputError(f"{label}: has no data rows", path=label, hint="Regenerate the file.")
    name = df["name"] if "name" in df else None
    rsid = name if name is not None and _mostly_rsids(name) else None
    frame = _frame(
        df["chrom"],
        df["start"].to_numpy(),
        df["end"].to_numpy(),
        Strand=df["strand"] if "strand" in df else None,
        Name=name,
        rsid=rsid,
    )
    header = {"lines": _clip_lines(lines), "contigs": {}}
    return CoordInput(name=label, frame=frame, kind="bed", header=header, path=str(p))


def _mostly_rsids(s: pd.Series) -> bool:
    head = s.dropna().astype(str).head(1000)
    return bool(len(head)) and head.str.match(_RS_LIKE.pattern, case=False).mean() >= 0.5


# --- GTF / GFF --------------------------------------------------------------------------------


def _looks_gff(scan: _Scan) -> bool:
    if any(c.startswith("##gff-version 3") for c in scan.comments[:5]):
        return True
    for line in scan.sample[:20]:
        parts = line.split("\t")
        if len(parts) >= 9:
            return "=" in parts[8] and '"' not in parts[8]
    return False


def _read_gtf(p: Path, label: str, scan: _Scan, *, gff: bool) -> CoordInput:
    kind = "gff" if gff else "gtf"
    contigs: dict[str, int | None] = {}
    for line in scan.comments:
        m = _GFF_REGION.match(line)
        if m:
            contigs[m.group(1)] = int(m.group(3))
    lines = [c for c in scan.comments if not _GFF_REGION.match(c)]
    header = {"lines": _clip_lines(lines), "contigs": contigs}
    if not scan.sample:
        raise InputError(
            f"{label}: {kind.upper()} has no feature lines", path=label, hint="Regenerate the file."
        )
    n = len(scan.sample[0].split("\t"))
    if n < 8:
        raise InputError(
            f"{label}: {kind.upper()} lines need 9 tab-separated columns; the first has {n}",
            path=label,
            hint="Check that the file is tab-separated GTF/GFF.",
        )
    text = {0: "seqname", 2: "feature", 6: "strand"}
    if n > 8:
        text[8] = "attributes"
    df = _read_columns(
        p, label, scan, sep="\t", skip=scan.n_skip, text=text, ints={3: "start", 4: "end"}
    )
    if df.empty:
        raise InputError(f"{label}: has no feature lines", path=label, hint="Regenerate the file.")
    gene_name = None
    if "attributes" in df:
        gene_name = _gene_names(df["feature"], df["attributes"], gff=gff)
    frame = _frame(
        df["seqname"],
        df["start"].to_numpy() - 1,
        df["end"].to_numpy(),
        Strand=df["strand"],
        Feature=df["feature"],
        gene_name=gene_name,
    )
    return CoordInput(name=label, frame=frame, kind=kind, header=header, path=str(p))


def _gene_names(feature: pd.Series, attributes: pd.Series, *, gff: bool) -> pd.Series:
    """gene_name of the gene-level rows (transcripts when there are no genes, else all rows)."""
    for level in ("gene", "transcript", "mRNA"):
        rows = (feature == level).to_numpy()
        if rows.any():
            break
    else:
        rows = np.ones(len(feature), dtype=bool)
    pattern = r"(?:^|;)\s*(?:gene_name|Name|gene)=([^;]+)" if gff else r'gene_name "([^"]+)"'
    names = pd.Series(pd.NA, index=attributes.index, dtype="str")
    sub = attributes[rows].astype(str)
    names[rows] = sub.str.extract(pattern, expand=False)
    return names


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
        raise InputError(
            f"{label}: no coordinate columns found: need a chromosome column ("
            f"{', '.join(_CHROM_NAMES[:4])} ...) and a position column ({', '.join(_POS_NAMES[:3])}"
            f", start/end); columns are {preview(columns or fields, n=8)}",
            path=label,
            hint="Rename the columns to chrom and pos (or chrom, start, end).",
        )
    genotype = vendor or bool(
        columns and {"rsid", "pos"} <= set(roles) and _find(columns, _GENOTYPE_NAMES) is not None
    )
    kind = "genotype" if genotype else "table"
    return _read_positional(p, label, scan, kind, roles, sep=sep, skip=skip, names=columns or None)


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
        raise InputError(
            f"{name}: no coordinate columns found: need Chromosome/Start/End or a chromosome "
            f"column ({', '.join(_CHROM_NAMES[:4])} ...) and a position column "
            f"({', '.join(_POS_NAMES[:3])} ...); columns are {preview(columns, n=8)}",
            path=name,
            hint="Rename the columns to Chromosome, Start, End (0-based) or chrom, pos (1-based).",
        )
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

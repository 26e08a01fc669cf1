"""The coordinate formats read by their layout: VCF, BED (and BEDPE) and GTF / GFF."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import CoordInput
from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._coords_columns import INT_LIKE as _INT_LIKE
from biodata_guard.io._coords_columns import RS_LIKE as _RS_LIKE
from biodata_guard.io._coords_text import (
    _MAX_HEADER_LINES,
    _clean_ids,
    _clip_lines,
    _frame,
    _read_columns,
    _Scan,
    _split,
    _usable,
)

# Header keys (VCF ``##key=``) whose values may name the assembly.
_VCF_BUILD_KEYS = re.compile(
    r"^##(reference|assembly|genome\w*|build\w*|ref|fasta|referencefasta|source_assembly)=",
    re.IGNORECASE,
)
_VCF_CONTIG = re.compile(r"^##contig=<(.*)>\s*$", re.IGNORECASE)
_GFF_REGION = re.compile(r"^##sequence-region\s+(\S+)\s+(\d+)\s+(\d+)")


# --- VCF --------------------------------------------------------------------------------------


def _read_vcf(p: Path, label: str, scan: _Scan) -> CoordInput:
    header = _parse_vcf_header(label, scan.comments)
    if scan.sample:
        rows = _read_columns(
            p,
            label,
            scan,
            sep="\t",
            skip=scan.n_skip,
            text={0: "CHROM", 2: "ID", 3: "REF"},
            ints={1: "POS"},
            n_fields=header["n_columns"],
        )
        df = _usable(rows, label, header, required=("CHROM", "POS"))
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
        "n_columns": len(cols),
    }


def _meta_fields(body: str) -> dict[str, str]:
    """``ID=1,length=249250621,assembly=b37`` -> dict (quoted values may hold commas)."""
    out: dict[str, str] = {}
    for part in next(csv.reader([body], delimiter=",", quotechar='"')):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


# --- BED --------------------------------------------------------------------------------------


def _read_bed(
    p: Path, label: str, scan: _Scan, *, with_name: bool, paired: bool = False
) -> CoordInput:
    """BED3-12, bedGraph, narrowPeak / broadPeak; ``paired``: BEDPE (chrom1 start1 end1 chrom2
    start2 end2 ...), both ends read as rows of one coordinate set."""
    skip = scan.n_skip
    first = scan.sample[0]
    sep = "\t" if "\t" in first else r"\s+"
    fields = _split(first, sep)
    need = 6 if paired else 3
    if len(fields) < need:
        what = "chrom1, start1, end1, chrom2, start2, end2" if paired else "chrom, start, end"
        raise InputError(
            f"{label}: {'BEDPE' if paired else 'BED'} needs at least {need} columns ({what}); "
            f"the first data line has {len(fields)}: {first[:80]!r}",
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
    header: dict[str, Any] = {"lines": _clip_lines(lines), "contigs": {}}
    if paired:
        return _read_bedpe(p, label, scan, header, sep=sep, skip=skip, n=n)
    text = {0: "chrom"}
    if with_name and n > 3:
        text[3] = "name"
    if n > 5:
        text[5] = "strand"
    rows = _read_columns(
        p, label, scan, sep=sep, skip=skip, text=text, ints={1: "start", 2: "end"}, n_fields=n
    )
    df = _usable(rows, label, header, required=("chrom", "start", "end"))
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
    return CoordInput(name=label, frame=frame, kind="bed", header=header, path=str(p))


def _read_bedpe(
    p: Path, label: str, scan: _Scan, header: dict[str, Any], *, sep: str, skip: int, n: int
) -> CoordInput:
    rows = _read_columns(
        p,
        label,
        scan,
        sep=sep,
        skip=skip,
        text={0: "chrom1", 3: "chrom2"},
        ints={1: "start1", 2: "end1", 4: "start2", 5: "end2"},
        n_fields=n,
    )
    required = ("chrom1", "start1", "end1", "chrom2", "start2", "end2")
    df = _usable(rows, label, header, required=required)
    frame = _frame(
        np.r_[df["chrom1"].to_numpy(), df["chrom2"].to_numpy()],
        np.r_[df["start1"].to_numpy(), df["start2"].to_numpy()],
        np.r_[df["end1"].to_numpy(), df["end2"].to_numpy()],
    )
    header["columns"] = {"chrom": "chrom1+chrom2", "start": "start1+start2", "end": "end1+end2"}
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
    header: dict[str, Any] = {"lines": _clip_lines(lines), "contigs": contigs}
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
    rows = _read_columns(
        p, label, scan, sep="\t", skip=scan.n_skip, text=text, ints={3: "start", 4: "end"}
    )
    df = _usable(rows, label, header, required=("seqname", "start", "end"))
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


def contigs_of(comments: list[str]) -> dict[str, int | None]:
    """``##contig=<ID=..,length=..>`` lines of any header (PLINK 2 ``.pvar`` carries them too);
    malformed ones are skipped (only a VCF header is held to its specification)."""
    out: dict[str, int | None] = {}
    for line in comments:
        m = _VCF_CONTIG.match(line)
        if m:
            fields = _meta_fields(m.group(1))
            length = fields.get("length")
            if fields.get("ID"):
                out[fields["ID"]] = int(length) if length and _INT_LIKE.match(length) else None
    return out

"""Readers for coordinate-bearing inputs: VCF, BED / BEDPE, GTF/GFF, PLINK, genotype text,
summary statistics and other tables (column names from the shipped synonym table)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import CoordInput
from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._coords_columns import (
    RS_LIKE,
    VARIANT_ID,
    ColumnRole,
    ColumnSet,
    column_sets,
    id_columns,
    infer_roles,
    is_header,
    parse_variant_ids,
    roles_of,
    share_matching,
)
from biodata_guard.io._coords_formats import _looks_gff, _read_bed, _read_gtf, _read_vcf, contigs_of
from biodata_guard.io._coords_text import (
    _clean_ids,
    _clip_lines,
    _frame,
    _malformed,
    _read_columns,
    _Rows,
    _Scan,
    _scan,
    _sep_of,
    _split,
    no_usable_rows_error,
)
from biodata_guard.io._files import UNREADABLE, check_file, parquet_error
from biodata_guard.io.tables import PARQUET_SUFFIXES

__all__ = ["coords_from_frame", "coords_from_var", "read_coordinates"]

_GENOTYPE_VENDORS = re.compile(
    r"23andme|ancestrydna|ancestry\.com|myheritage|ftdna|familytreedna|livingdna|##chip="
)
_BED_SUFFIXES = (".bed", ".narrowpeak", ".broadpeak", ".bedgraph", ".bdg", ".gappedpeak")
_GTF_SUFFIXES = (".gtf",)
_GFF_SUFFIXES = (".gff", ".gff3")
#: PLINK layouts without a header line: role -> column (.bim and a headerless .pvar share one).
_PLINK = {
    ".bim": {"chrom": 0, "id": 1, "pos": 3},
    ".pvar": {"chrom": 0, "id": 1, "pos": 3},
    ".map": {"chrom": 0, "id": 1, "pos": 3},
}
_ROLE_KEY = {"id": "rsid"}  # header["columns"] names the id column "rsid" (the frame's column)
_INTERVAL = re.compile(r"^([A-Za-z0-9_.]+)[:_-](\d+)[-_:](\d+)$")
#: Header keys whose build applies to one coordinate set of a PGS Catalog scoring file.
_AUTHOR_BUILD_LINE = re.compile(r"^#+\s*genome_build\s*=", re.IGNORECASE)
_HARMONISED_BUILD_LINE = re.compile(r"^#+\s*hm\w*_build\s*=", re.IGNORECASE)
_SIDECAR_ASSEMBLY = re.compile(r"^\s*genome_assembly\s*:\s*(\S.*?)\s*$", re.IGNORECASE | re.M)


def read_coordinates(path: str | Path, *, name: str | None = None) -> CoordInput:
    """Read a coordinate-bearing file into a :class:`~biodata_guard._context.CoordInput`.

    The format is recognised from the content first (``##fileformat=VCF``, ``##gff-version``,
    vendor comments of 23andMe / AncestryDNA / MyHeritage) and then from the suffix: VCF,
    BED 3-12 / bedGraph / narrowPeak (``track`` / ``browser`` / column-name lines allowed),
    BEDPE (both ends), GTF/GFF3, PLINK ``.bim`` / ``.map`` / ``.pvar`` (headerless or
    ``#CHROM``), direct-to-consumer genotype files, and tables (CSV/TSV(.gz)/Parquet) whose
    columns are found by name, case-insensitively, from the synonym table shipped in
    ``biodata_guard/data/coordinate_columns.tsv`` (GWAS-SSF ``chromosome`` /
    ``base_pair_location``, PGS Catalog ``chr_name`` / ``chr_position`` and ``hm_chr`` /
    ``hm_pos``, ``CHR`` / ``BP``, ``#CHROM`` / ``POS``, ``chrom`` / ``start`` / ``end``, names
    carrying a build such as ``pos_b37`` or ``BP(hg19)`` ...). Without a header the columns are
    sniffed from the content. Without a position column, a variant-id column (``1:12345:A:G``,
    ``chr1_12345_A_G_b38``) gives the loci; an rsID-only file is read without coordinates.

    A table with several coordinate sets (author positions beside harmonised ones, or
    ``pos_b37`` beside ``pos_b38``) is read once: the first set is returned, the others are in
    ``header["coordinate_sets"]`` (each a CoordInput of its own). Malformed rows (a line split
    in two, ``NA`` or text in a position column) are set aside and described in
    ``header["malformed"]`` (count, first line numbers, reasons); only a file with no usable
    row is an error.

    The frame follows the pyranges convention: ``Chromosome`` exactly as written in the file,
    ``Start`` 0-based, ``End`` half-open, and when present ``Strand``, ``rsid``, ``Name``,
    ``gene_name``, ``Feature``. Single positions are 1-based in the file and become
    ``Start = pos - 1``; ``start`` columns are taken as 0-based unless their standard says
    1-based (BioMart ``start_position``, EPACTS ``BEG``).

    Parameters
    ----------
    path
        The file. gzip / bgzip compression is recognised from the content (a file named
        ``.gz`` must hold gzip data). A GWAS-SSF metadata sidecar (``<file>-meta.yaml``) is
        read for its ``genome_assembly``.
    name
        Name used in messages (default: the file name).

    Returns
    -------
    CoordInput
        ``kind`` is ``"vcf"``, ``"bed"``, ``"gtf"``, ``"gff"``, ``"genotype"`` or ``"table"``;
        ``header`` holds the build-relevant header lines (``lines``), contig lengths
        (``contigs``), how the columns were found (``columns``) and, when there are any,
        ``malformed`` and ``coordinate_sets``.

    Raises
    ------
    InputError
        Missing, empty or binary (BCF) file, a ``.gz`` name on a file that is not gzip,
        truncated gzip, non-UTF-8 text, broken VCF header, no recognisable coordinate or
        variant-id column, no usable data row.

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
        return _with_sidecar(_read_parquet(p, label), p)
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
    if suffix in _BED_SUFFIXES or suffix == ".bedpe":
        paired = suffix == ".bedpe"
        return _read_bed(
            p, label, scan, with_name=suffix not in (".bedgraph", ".bdg"), paired=paired
        )
    if suffix in _PLINK and not _header_of(scan)[0]:
        columns = [f"column {i + 1}" for i in range(len(_split(scan.sample[0], _sep(scan))))]
        cset = _set_from_roles(_PLINK[suffix], columns)
        return _read_sets(p, label, scan, [cset], columns=columns, named=False, kind="table")
    return _with_sidecar(_read_table(p, label, scan), p)


# --- tables -----------------------------------------------------------------------------------


def _sep(scan: _Scan) -> str:
    return _sep_of(scan.sample[0])


def _header_of(scan: _Scan) -> tuple[list[str], int]:
    """The column names (and lines to skip before the data): the first data line when it is a
    header, else the last comment line when it is one (23andMe ``# rsid chromosome ...``,
    PLINK 2 ``#CHROM POS ...``), else none."""
    sep = _sep(scan)
    fields = _split(scan.sample[0], sep)
    if is_header(fields):
        return fields, scan.n_skip + 1
    last = scan.comments[-1] if scan.comments else ""
    from_comment = _split(last.lstrip("#").strip(), sep) if last else []
    if is_header(from_comment) and len(from_comment) == len(fields):
        return from_comment, scan.n_skip
    return [], scan.n_skip


def _read_table(p: Path, label: str, scan: _Scan) -> CoordInput:
    columns, skip = _header_of(scan)
    vendor = bool(_GENOTYPE_VENDORS.search("\n".join(scan.comments).lower()))
    named = bool(columns)
    if not columns:  # sniff the roles from the content
        rows = [_split(line, _sep(scan)) for line in scan.sample]
        columns = [f"column {i + 1}" for i in range(len(rows[0]))]
        roles = infer_roles(rows)
        if "chrom" in roles and ({"pos", "start"} & set(roles)):
            cset = _set_from_roles(roles, columns)
            return _read_sets(p, label, scan, [cset], columns=columns, named=False, kind="table")
        if "id" in roles:
            return _read_ids(p, label, scan, columns, roles["id"], skip=skip, named=False)
        raise _no_coordinate_columns(label, _split(scan.sample[0], _sep(scan)))
    sets = column_sets(columns)
    # A direct-to-consumer genotype file: a vendor comment, or rsid, chromosome, position and
    # the call(s) in at most 5 columns (REGENIE's ALLELE1 is not a genotype call).
    calls = {"id", "pos", "genotype"} <= {r.role for r in roles_of(columns)}
    genotype = vendor or (calls and len(columns) <= 5)
    kind = "genotype" if genotype else "table"
    if sets:
        return _read_sets(p, label, scan, sets, columns=columns, named=named, kind=kind, skip=skip)
    ids = id_columns(columns)
    if ids:
        return _read_ids(p, label, scan, columns, ids[0].index, skip=skip, named=True)
    raise _no_coordinate_columns(label, columns)


def _set_from_roles(roles: dict[str, int], columns: list[str]) -> ColumnSet:
    """A coordinate set from column numbers (headerless files: no names, standard bases)."""

    def col(role: str, base: str = "") -> ColumnRole | None:
        if role not in roles:
            return None
        return ColumnRole(roles[role], columns[roles[role]], role, "", None, base, 0)

    chrom = col("chrom")
    assert chrom is not None
    return ColumnSet(
        "", chrom, pos=col("pos", "1"), start=col("start", "0"), end=col("end"), id=col("id")
    )


def _no_coordinate_columns(label: str, columns: list[str], *, pyranges: bool = False) -> InputError:
    """The error for a table in which no coordinate or variant-id column is recognised."""
    also = "Chromosome/Start/End, " if pyranges else ""
    return InputError(
        f"{label}: no coordinate columns found: none of the column names is a chromosome + "
        f"position (or start) pair or a variant-id column known from GWAS-SSF, PGS Catalog, "
        f"PLINK, VCF, BED, GTF, 23andMe / AncestryDNA / MyHeritage / FTDNA or common summary-"
        f"statistics tools; columns are {preview(columns, n=8)}",
        path=label,
        hint=f"Give the coordinates under a standard name ({also}chromosome/base_pair_location, "
        "CHR/BP, #CHROM/POS, chrom/start/end), or a variant-id column (1:12345:A:G); the "
        "names read are listed in biodata_guard/data/coordinate_columns.tsv.",
    )


def _read_sets(
    p: Path,
    label: str,
    scan: _Scan,
    sets: list[ColumnSet],
    *,
    columns: list[str],
    named: bool,
    kind: str,
    skip: int | None = None,
) -> CoordInput:
    """Read every coordinate set of a table in one pass; the first usable set is returned and
    the others ride along in ``header["coordinate_sets"]``."""
    skip = scan.n_skip if skip is None else skip
    wanted = {i: c for s in sets for c in [s.chrom, s.pos, s.start, s.end, s.id, *s.extra.values()]
              if c is not None for i in [c.index]}  # fmt: skip
    ints = {i: f"c{i}" for i, c in wanted.items() if c.role in ("pos", "start", "end")}
    text = {i: f"c{i}" for i in wanted if i not in ints}
    rows = _read_columns(
        p, label, scan, sep=_sep(scan), skip=skip, text=text, ints=ints, n_fields=len(columns)
    )
    if rows.df.empty:
        raise InputError(f"{label}: has no data rows", path=label, hint="Regenerate the file.")
    base = {
        "lines": _clip_lines(scan.comments),
        "contigs": contigs_of(scan.comments),
        "columns_inferred": not named,
        "sep": _sep(scan),
    }
    built = _set_inputs(rows, sets, columns, label=label, path=p, kind=kind, base=base)
    primary, *others = built
    if others:
        primary.header["coordinate_sets"] = others
    return primary


def _set_inputs(
    rows: _Rows,
    sets: list[ColumnSet],
    columns: list[str],
    *,
    label: str,
    path: Path | None,
    kind: str,
    base: dict[str, Any],
) -> list[CoordInput]:
    """One CoordInput per coordinate set with usable rows; malformed rows are described on the
    first of them; InputError when no set has a usable row."""
    titles = {f"c{i}": c for i, c in enumerate(columns)}
    out: list[CoordInput] = []
    first_info = None
    for cset in sets:
        need = tuple(f"c{c.index}" for c in (cset.chrom, cset.pos, cset.start) if c is not None)
        good, info = _malformed(rows, required=need, titles=titles)
        first_info = first_info or info
        if not good.any():
            continue  # a set whose columns are all empty (unharmonised) or all malformed
        header = {**base, "lines": _lines_for(cset, base["lines"], len(sets))}
        header["columns"] = {_ROLE_KEY.get(r, r): columns[i] for r, i in cset.indices().items()}
        header["set_key"], header["stated_build"] = cset.key, cset.build
        if not out and info.n:
            header["malformed"] = info.to_header()
        elif info.n:
            header["n_missing"] = info.n
        ci = _set_input(rows.df.loc[good], cset, header, label=label, path=path, kind=kind)
        out.append(ci)
    if not out:
        assert first_info is not None
        raise no_usable_rows_error(label, first_info, sets[0].label)
    if len(out) > 1:
        for ci in out:
            ci.name = f"{label} [{ci.header['set_label']}]"
    return out


def _set_input(
    df: pd.DataFrame,
    cset: ColumnSet,
    header: dict[str, Any],
    *,
    label: str,
    path: Path | None,
    kind: str,
) -> CoordInput:
    def col(c: ColumnRole | None) -> pd.Series | None:
        return None if c is None else df[f"c{c.index}"]

    chrom = col(cset.chrom).astype(str)  # type: ignore[union-attr]
    if cset.pos is not None:
        start = col(cset.pos).to_numpy(dtype=np.int64) - 1  # type: ignore[union-attr]
        end = start + 1
    else:
        start = col(cset.start).to_numpy(dtype=np.int64)  # type: ignore[union-attr]
        start = start - 1 if cset.start.base == "1" else start  # type: ignore[union-attr]
        e = col(cset.end)
        end = (
            e.fillna(pd.Series(start + 1, index=e.index)).to_numpy(np.int64)
            if e is not None
            else start + 1
        )
    ids = col(cset.id)
    keep = np.ones(len(df), dtype=bool)
    if kind == "genotype":  # AncestryDNA: unplaced probes are chromosome 0, position 0
        keep = ~((chrom.str.strip().str.strip('"') == "0").to_numpy() | (start < 0))
        header["n_unplaced"] = int((~keep).sum())
    extra = {r: col(c) for r, c in cset.extra.items()}
    frame = _frame(
        chrom[keep],
        start[keep],
        end[keep],
        Strand=None if extra.get("strand") is None else extra["strand"][keep],
        rsid=None if ids is None else _clean_ids(ids[keep]),
        gene_name=None if extra.get("gene_name") is None else extra["gene_name"][keep],
    )
    header["set_label"] = cset.label
    return CoordInput(
        name=label, frame=frame, kind=kind, header=header, path=str(path) if path else None
    )


def _lines_for(cset: ColumnSet, lines: list[str], n_sets: int) -> list[str]:
    """The header lines that speak for one coordinate set: with several sets, the PGS Catalog
    ``#genome_build`` belongs to the author's columns, ``#HmPOS_build`` to the harmonised ones,
    and sets named by a build (``pos_b37``) take their build from the name only."""
    if n_sets < 2:
        return lines
    if cset.key == "harmonised":
        return [x for x in lines if not _AUTHOR_BUILD_LINE.match(x)]
    if cset.key == "":
        return [x for x in lines if not _HARMONISED_BUILD_LINE.match(x)]
    return []


def _read_ids(
    p: Path, label: str, scan: _Scan, columns: list[str], index: int, *, skip: int, named: bool
) -> CoordInput:
    """A table whose only locus information is a variant-id column: ``chrom:pos[:ref:alt]``
    ids are parsed; an rsID-only file is read without coordinates (its ids are kept)."""
    rows = _read_columns(p, label, scan, sep=_sep(scan), skip=skip, text={index: "id"}, ints={})
    ids = rows.df["id"].loc[~rows.blank]
    header: dict[str, Any] = {
        "lines": _clip_lines(scan.comments),
        "contigs": {},
        "columns": {"id": columns[index]},
        "columns_inferred": not named,
    }
    return _ids_input(ids, header, label=label, path=str(p))


def _ids_input(
    ids: pd.Series, header: dict[str, Any], *, label: str, path: str | None
) -> CoordInput:
    present = ids.dropna().astype(str)
    sample = present.head(1000).tolist()
    if share_matching(sample, VARIANT_ID) >= 0.5:
        parsed = parse_variant_ids(present)
        ok = parsed["pos"].notna().to_numpy()
        builds = parsed["build"].dropna().unique().tolist()
        if builds:  # GTEx ids end in _b38: the ids state their build
            header["lines"] = [*header["lines"], f"variant ids end in _{'/'.join(builds)}"]
        header["n_unplaced"] = int((~ok).sum())
        header["columns"] = {"chrom": header["columns"]["id"], **header["columns"]}
        pos = parsed["pos"].to_numpy()[ok].astype(np.int64)
        frame = _frame(parsed["chrom"][ok], pos - 1, pos, rsid=_clean_ids(present[ok]))
        return CoordInput(name=label, frame=frame, kind="table", header=header, path=path)
    if share_matching(sample, RS_LIKE) >= 0.5:
        header["rsid_only"] = True
        header["ids"] = _clean_ids(present).reset_index(drop=True)
        frame = _frame([], [], [])
        return CoordInput(name=label, frame=frame, kind="table", header=header, path=path)
    raise _no_coordinate_columns(label, [header["columns"]["id"]])


def _with_sidecar(ci: CoordInput, p: Path) -> CoordInput:
    """Add the ``genome_assembly`` of a GWAS-SSF metadata sidecar (``<file>-meta.yaml``) to the
    header lines of every coordinate set."""
    for side in (p.with_name(p.name + "-meta.yaml"), p.with_name(p.name + "-meta.yml")):
        if side.is_file():
            try:
                m = _SIDECAR_ASSEMBLY.search(side.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                return ci
            if m is not None:
                line = f"genome_assembly: {m.group(1)} ({side.name})"
                for each in [ci, *ci.header.get("coordinate_sets", [])]:
                    each.header["lines"] = [*each.header.get("lines", []), line]
            break
    return ci


def _read_parquet(p: Path, label: str) -> CoordInput:
    try:
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(p).names)
        if {"Chromosome", "Start", "End"} <= set(columns):
            wanted = [c for c in columns if c in ("Chromosome", "Start", "End", "Strand", "rsid")]
            wanted += [c for c in ("gene_name",) if c in columns]
        else:
            found = sorted({r.index for r in roles_of(columns)})
            wanted = [columns[i] for i in found]
        df = pd.read_parquet(p, columns=wanted)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise parquet_error(label, exc) from None
    ci = coords_from_frame(df, name=label)
    ci.path = str(p)
    for other in ci.header.get("coordinate_sets", []):
        other.path = str(p)
    return ci


# --- in-memory frames -------------------------------------------------------------------------


def _frame_rows(df: pd.DataFrame, sets: list[ColumnSet]) -> _Rows:
    """A DataFrame's coordinate columns as :class:`_Rows` (positions coerced, bad ones marked)."""
    data: dict[str, Any] = {}
    bad: dict[str, np.ndarray] = {}
    raw: dict[str, pd.Series] = {}
    for s in sets:
        for c in (s.chrom, s.pos, s.start, s.end, s.id, *s.extra.values()):
            if c is None or f"c{c.index}" in data:
                continue
            values = df.iloc[:, c.index].reset_index(drop=True)
            key = f"c{c.index}"
            if c.role in ("pos", "start", "end"):
                num = pd.to_numeric(values, errors="coerce")
                whole = num.notna() & (num == np.floor(num))
                bad[key] = (values.notna() & ~whole).to_numpy()
                raw[key] = values.astype(object)
                data[key] = num.where(whole).astype(np.float64)
            else:
                data[key] = values.astype(object).where(values.notna(), None)
    n = len(df)
    frame = pd.DataFrame(data)
    return _Rows(frame, bad, raw, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), 0)


def _relabel(mal: dict[str, Any], labels: pd.Index) -> None:
    """In memory, malformed rows are named by their row labels, not line numbers."""

    def label(i: int) -> Any:
        value = labels[i]
        return value.item() if hasattr(value, "item") else value

    mal["where"] = "row"
    mal["lines"] = [label(i) for i in mal["lines"]]
    mal["examples"] = [
        re.sub(r"^line (\d+)", lambda m: f"row {label(int(m.group(1)))!r}", e)
        for e in mal["examples"]
    ]


def coords_from_frame(df: pd.DataFrame, *, name: str = "<DataFrame>") -> CoordInput:
    """A table already in memory -> :class:`CoordInput` (same column detection as the files).

    A frame with pyranges columns ``Chromosome``, ``Start``, ``End`` is taken as it is;
    otherwise the coordinate sets are found by name as in :func:`read_coordinates`. Rows
    whose position is missing or not a whole number are set aside (``header["malformed"]``,
    by row label); rows without a chromosome are dropped (``header["n_missing"]``).

    Raises
    ------
    InputError
        No coordinate columns, or no row with a usable position.

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

        def role(r: str, c: str, base: str = "") -> ColumnRole | None:
            return ColumnRole(columns.index(c), c, r, "", None, base, 0) if c in columns else None

        extra = {r: c for r, c in (("strand", role("strand", "Strand")),
                                   ("gene_name", role("gene_name", "gene_name"))) if c}  # fmt: skip
        sets = [ColumnSet("", role("chrom", "Chromosome"), start=role("start", "Start", "0"),  # type: ignore[arg-type]
                          end=role("end", "End"), id=role("id", "rsid"), extra=extra)]  # fmt: skip
    else:
        sets = column_sets(columns)
    if not sets:
        ids = id_columns(columns)
        if ids:
            header = {"lines": [], "contigs": {}, "columns": {"id": ids[0].name}}
            header["columns_inferred"] = False
            return _ids_input(df.iloc[:, ids[0].index], header, label=name, path=None)
        raise _no_coordinate_columns(name, columns, pyranges=True)
    no_chrom = df.iloc[:, sets[0].chrom.index].isna().to_numpy()
    kept = df.loc[~no_chrom]
    rows = _frame_rows(kept, sets)
    base = {"lines": [], "contigs": {}, "columns_inferred": False}
    cis = _set_inputs(rows, sets, columns, label=name, path=None, kind="table", base=base)
    for ci in cis:
        ci.header["n_missing"] = ci.header.get("n_missing", 0) + int(no_chrom.sum())
        mal = ci.header.get("malformed")
        if mal is not None:
            _relabel(mal, kept.index)
    primary, *others = cis
    if others:
        primary.header["coordinate_sets"] = others
    return primary


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
    sets = column_sets(columns)
    roles = sets[0].indices() if sets else {}
    names = pd.Series(var.index.astype(str), index=var.index)
    if sets:
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

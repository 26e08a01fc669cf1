"""Gene lengths (bp) for TPM / RPKM: read from featureCounts, salmon, RSEM or plain tables, or
looked up in the human / mouse table shipped with the package."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.errors import InputError
from biodata_guard.io._files import check_file

__all__ = ["read_gene_lengths", "shipped_gene_lengths", "validate_gene_lengths"]

_ID_COLS = (
    "gene_id",
    "geneid",
    "gene",
    "ensembl_gene_id",
    "ensembl_id",
    "feature_id",
    "id",
    "name",
    "gene_name",
    "symbol",
    "target_id",
)
_LENGTH_COLS = (
    "length",
    "gene_length",
    "length_bp",
    "len",
    "gene_len",
    "size",
    "bp",
    "effective_length",
    "efflength",
)


def read_gene_lengths(path: str | Path) -> pd.Series:
    """Read gene lengths (bp) from a CSV/TSV table (optionally gzipped).

    The id and length columns are found case-insensitively (``gene_id``/``Geneid``/``Name``/
    ``id`` ... and ``length``/``gene_length``/``Length`` ...), so featureCounts output,
    salmon ``quant.sf``, RSEM ``genes.results`` and plain two-column tables (with or
    without a header) all work. Lines starting with ``#`` are skipped.

    Returns
    -------
    pandas.Series
        Lengths in bp (float), indexed by gene id (str), named ``"length"``.

    Raises
    ------
    InputError
        Missing/empty file, no length column, non-numeric or non-positive lengths,
        conflicting duplicate ids — the message names the file.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "len.tsv")
    >>> _ = open(p, "w").write("Geneid\\tLength\\nG1\\t1500\\nG2\\t800\\n")
    >>> read_gene_lengths(p).to_dict()
    {'G1': 1500.0, 'G2': 800.0}
    """
    name = str(path)
    f = check_file(path, label=name, reading="gene lengths", flag="--gene-lengths")
    p = f.path
    compression = "gzip" if f.gz else "infer"
    suffixes = [s.lower() for s in p.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    last = suffixes[-1] if suffixes else ""
    sep = "," if last == ".csv" else "\t" if last in (".tsv", ".tab", ".txt", ".sf") else None
    try:
        df = _read_table(p, sep, compression=compression)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{name}: cannot read gene lengths ({str(exc).splitlines()[0]})",
            path=name,
            hint="Give a CSV/TSV with a gene id column and a length column (bp).",
        ) from None
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise InputError(
            f"{name}: gene lengths table needs an id and a length column; got "
            f"{df.shape[1]} column(s) and {df.shape[0]} row(s)",
            path=name,
            hint="Write two columns, gene_id and length (bp), one gene per line.",
        )
    header = [str(c) for c in df.columns]
    if _numeric(header[-1]) or (len(header) == 2 and _numeric(header[1])):
        df = _read_table(p, sep, header=None, compression=compression)  # no header
        df.columns = header = [str(c) for c in df.columns]
    lower = {h.lower().strip(): h for h in header}
    length_col = next((lower[c] for c in _LENGTH_COLS if c in lower), None)
    id_col = next((lower[c] for c in _ID_COLS if c in lower), None)
    if length_col is None and len(header) == 2:
        id_col, length_col = header
    if length_col is None:
        raise InputError(
            f"{name}: no gene length column; columns are {header[:10]}",
            path=name,
            hint="Name the length column 'length' (bp) and the id column 'gene_id'.",
        )
    if id_col is None:
        id_col = next(h for h in header if h != length_col)
    lengths = pd.to_numeric(df[length_col], errors="coerce")
    ids = df[id_col].astype(str).str.strip()
    return validate_gene_lengths(pd.Series(lengths.to_numpy(float), index=pd.Index(ids)), name)


def _read_table(
    p: Path, sep: str | None, header: int | None = 0, *, compression: str = "infer"
) -> pd.DataFrame:
    return pd.read_csv(
        p,
        sep=sep,
        engine="python",
        comment="#",
        dtype=str,
        header=header,
        skip_blank_lines=True,
        compression=compression,
    )


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def validate_gene_lengths(s: Any, name: str) -> pd.Series:
    """Gene lengths (a Series or a mapping id -> bp) as positive float lengths indexed by str id,
    named ``"length"``; repeated ids with the same length are kept once.

    Raises
    ------
    InputError
        Not a Series / mapping, non-numeric or non-positive lengths, an id with conflicting
        lengths -- the message names ``name``.

    Examples
    --------
    >>> validate_gene_lengths({"G1": 1500, "G2": 800}, "lengths").to_dict()
    {'G1': 1500.0, 'G2': 800.0}
    """
    if isinstance(s, Mapping):
        s = pd.Series(s)
    if not isinstance(s, pd.Series):
        raise InputError(
            f"{name}: gene lengths must be a pandas Series indexed by gene id; got "
            f"{type(s).__name__} instead",
            path=name,
            hint="Pass read_gene_lengths(path) or adata.var['length'].",
        )
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    ids = pd.Index(s.index.astype(str))
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        where = np.flatnonzero(bad)
        raise InputError(
            f"{name}: gene lengths must be positive numbers (bp); {fraction(len(where), len(s))} "
            f"are not (e.g. {preview([f'{ids[i]}={s.iloc[i]!r}' for i in where[:5]])})",
            path=name,
            column="length",
            hint="Fix or drop those rows; lengths are in base pairs.",
        )
    out = pd.Series(values, index=ids, name="length")
    dup = out.index.duplicated(keep=False)
    if dup.any():
        conflicting = out[dup].groupby(level=0).nunique()
        conflicting = conflicting[conflicting > 1]
        if len(conflicting):
            raise InputError(
                f"{name}: {len(conflicting)} gene id(s) have conflicting lengths (e.g. "
                f"{preview(list(conflicting.index))})",
                path=name,
                column="length",
                hint="Keep one length per gene id (e.g. the union exon length per gene).",
            )
        out = out[~out.index.duplicated(keep="first")]
    return out


#: The shipped table (see ``biodata_guard/data/PROVENANCE.md``): union-exon lengths of the
#: Ensembl release 100 gene builds of GRCh38, GRCm38 and GRCh37 (Ensembl's GRCh37 archive).
SHIPPED_LENGTHS_FILE = "gene_lengths_human_mouse.tsv.gz"
_SHIPPED_SOURCE = "Ensembl 100 {assembly} union-exon lengths shipped with biodata_guard"
_ASSEMBLIES = ("GRCh38", "GRCh37", "GRCm38")  # in order of preference on a tie


def _shipped_path() -> Any:
    return resources.files("biodata_guard") / "data" / SHIPPED_LENGTHS_FILE


@functools.cache
def _shipped_table() -> pd.DataFrame:
    """The whole shipped table (ids, symbols, lengths per assembly)."""
    with resources.as_file(_shipped_path()) as p:
        return pd.read_csv(p, sep="\t", dtype={"gene_id": str, "gene_name": str})


_ENSEMBL_GENE = re.compile(r"ENS(MUS)?G(\d{11})(?:\.\d+)?")


def _id_number(ids: pd.Index) -> np.ndarray:
    """The number of an Ensembl gene id (``ENSG00000141510.18`` -> 141510; -1 if none), with
    mouse ids (``ENSMUSG``) offset so that the two species never collide.

    Examples
    --------
    >>> _id_number(pd.Index(["ENSG00000141510.18", "ENSMUSG00000059552", "TP53"])).tolist()
    [141510, 100000059552, -1]
    """
    out = np.full(len(ids), -1, dtype=np.int64)
    for i, text in enumerate(ids):  # one compiled match per id (pandas' str.extract: 10x slower)
        hit = _ENSEMBL_GENE.fullmatch(text) if isinstance(text, str) else None
        if hit is not None:
            out[i] = int(hit[2]) + (10**11 if hit[1] else 0)
    return out


@functools.cache
def _id_tables() -> dict[str, pd.Series]:
    """Per assembly, the length per Ensembl gene id number (see :func:`_id_number`); kept small
    (integer index, float32 lengths) as it stays cached. One read of the file."""
    cols = ["gene_id", *_ASSEMBLIES]
    with resources.as_file(_shipped_path()) as p:
        t = pd.read_csv(p, sep="\t", usecols=cols, dtype={"gene_id": str})
    number = _id_number(pd.Index(t.pop("gene_id")))
    return {
        a: pd.Series(t[a].to_numpy(np.float32), index=number)[t[a].notna().to_numpy()]
        for a in _ASSEMBLIES
    }


@functools.cache
def _by_symbol(assembly: str) -> pd.Series:
    """Length per gene symbol in ``assembly``; symbols of genes with different lengths dropped."""
    t = _shipped_table()[["gene_name", assembly]].dropna()
    spread = t.groupby("gene_name")[assembly].agg(["min", "max"])
    return spread.loc[spread["min"] == spread["max"], "min"].astype(float)


def shipped_gene_lengths(
    feature_ids: Any, *, min_matched: float = 0.5
) -> tuple[pd.Series, str] | None:
    """Gene lengths (bp) for ``feature_ids`` from the table shipped with the package.

    Ensembl gene ids (``ENSG...`` human, ``ENSMUSG...`` mouse; versions such as ``.13`` are
    ignored) or gene symbols (human ``TP53``, mouse ``Trp53``) are looked up in the
    union-exon lengths of the Ensembl release 100 gene builds of GRCh38, GRCh37 (Ensembl's
    GRCh37 archive) and GRCm38; the assembly matching most ids is used (GRCh38 on a tie).
    Lengths from another annotation release than the data's differ for revised genes: use
    them to tell TPM from FPKM, not to recompute values exactly.

    Returns
    -------
    (pandas.Series, str) or None
        Lengths indexed by the matched feature ids and a sentence naming the source; None
        when fewer than ``min_matched`` of the ids are found.

    Examples
    --------
    >>> lengths, source = shipped_gene_lengths(["ENSG00000000003.15", "ENSG00000000005"])
    >>> lengths.to_dict()
    {'ENSG00000000003.15': 4536.0, 'ENSG00000000005': 1476.0}
    >>> source
    'Ensembl 100 GRCh38 union-exon lengths shipped with biodata_guard'
    >>> shipped_gene_lengths(["geneA", "geneB"]) is None
    True
    """
    found = _shipped_lookup(tuple(str(i) for i in feature_ids), min_matched)
    return None if found is None else (found[0].copy(), found[1])


@functools.lru_cache(maxsize=4)
def _shipped_lookup(feature_ids: tuple[str, ...], min_matched: float) -> tuple | None:
    """:func:`shipped_gene_lengths` of these ids, remembered (an audit asks twice: for the
    shared pass and for the units check)."""
    ids = pd.Index(feature_ids)
    if not len(ids):
        return None
    ensembl = np.mean([i.startswith("ENS") for i in ids]) >= 0.5
    keys = _id_number(ids) if ensembl else ids
    best: tuple[int, pd.Series, str] | None = None
    for assembly in _ASSEMBLIES:
        lookup = _id_tables()[assembly] if ensembl else _by_symbol(assembly)
        found = lookup.reindex(keys).to_numpy(dtype=float)
        n = int(np.isfinite(found).sum())
        if n and (best is None or n > best[0]):
            best = (n, pd.Series(found, index=ids, name="length").dropna(), assembly)
    if best is None or best[0] < min_matched * len(ids):
        return None
    n, lengths, assembly = best
    lengths = lengths[~lengths.index.duplicated(keep="first")]
    return lengths, _SHIPPED_SOURCE.format(assembly=assembly)

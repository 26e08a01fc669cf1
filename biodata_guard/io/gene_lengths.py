"""Gene lengths (bp) for TPM / RPKM, read from featureCounts, salmon, RSEM or plain tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.errors import InputError
from biodata_guard.io._files import check_file

__all__ = ["read_gene_lengths", "validate_gene_lengths"]

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

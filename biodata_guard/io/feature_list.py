"""Feature lists (the genes a model was trained on): a text file with one id per line, a column
of a CSV/TSV/Parquet table, or the ``var_names`` of an h5ad file / zarr store (``X`` never read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._files import (
    READ_ERRORS,
    UNREADABLE,
    InputFile,
    _open_text,
    check_file,
    check_store,
    is_zarr,
    read_error,
)
from biodata_guard.io.anndata import _h5ad_error, no_hdf5_locking
from biodata_guard.io.tables import PARQUET_SUFFIXES, table_of

__all__ = ["FEATURE_COLUMNS", "read_feature_list"]

#: Column names taken as the feature ids of a table, in this order (case-insensitive); a table
#: with none of them gives its first column. A one-id-per-line file whose first line is one of
#: them has a header.
FEATURE_COLUMNS = (
    "gene_id",
    "gene_ids",
    "ensembl_gene_id",
    "ensembl_id",
    "feature_id",
    "feature",
    "features",
    "gene",
    "genes",
    "gene_name",
    "gene_symbol",
    "symbol",
    "var_names",
    "id",
    "name",
)
_DELIMS = (",", "\t")


def read_feature_list(
    path: str | Path, *, column: str | None = None, name: str | None = None
) -> pd.Index:
    """Read a list of feature ids (e.g. ``--reference-features``, the genes a model expects).

    Parameters
    ----------
    path
        A text file with one id per line (``.txt``, ``.tsv``, ``.csv``, optionally ``.gz``;
        blank lines and ``#`` comments skipped; a first line named like a column of
        :data:`FEATURE_COLUMNS` is a header); a CSV/TSV/Parquet table, whose ``column`` (default:
        the first column named in :data:`FEATURE_COLUMNS`, else the first column) holds the ids;
        or an ``.h5ad`` file / AnnData zarr store, whose ``var_names`` are read without reading
        any matrix or ``.obs``.
    column
        The table column holding the ids.
    name
        Name for messages (defaults to the file name).

    Returns
    -------
    pandas.Index
        The ids as strings, in file order (duplicates kept: the checks report them); its
        ``name`` says where they came from (the column, ``"var_names"`` or ``"lines"``).

    Raises
    ------
    InputError
        Missing, empty or unreadable file; no ids; a ``column`` that does not exist; empty
        cells in the id column; a corrupt h5ad.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "model_genes.txt")
    >>> _ = open(p, "w").write("gene_id\\nENSG00000141510\\nENSG00000012048\\n")
    >>> list(read_feature_list(p))
    ['ENSG00000141510', 'ENSG00000012048']
    >>> read_feature_list(p, column="symbol")
    Traceback (most recent call last):
    ...
    biodata_guard.errors.InputError: model_genes.txt: column 'symbol' not found; columns are \
gene_id Hint: Pass one of the listed columns (column=...), or a file with one id per line.
    """
    p = Path(path)
    label = name or p.name
    if is_zarr(p):
        return _zarr_var_names(check_store(p, label=label), label)
    f = check_file(p, label=label, reading="a feature list", stores=True)
    if f.suffix == ".h5ad":
        return _h5ad_var_names(f)
    if f.suffix in PARQUET_SUFFIXES:
        return _from_table(table_of(f), f.label, column)
    first = _first_line(f)
    if any(d in first for d in _DELIMS):
        return _from_table(table_of(f), f.label, column)
    return _from_lines(f, first, column)


def _first_line(f: InputFile) -> str:
    """The first line that is not blank or a ``#`` comment ("" when there is none)."""
    try:
        with _open_text(f.path, f.gz) as fh:
            for line in fh:
                text = line.strip()
                if "\x00" in text:
                    raise InputError(
                        f"{f.label}: holds NUL bytes: a binary file, not a feature list",
                        path=f.label,
                        hint="Pass a text file with one id per line, a CSV/TSV column or an h5ad.",
                        check=UNREADABLE,
                    )
                if text and not text.startswith("#"):
                    return text
    except (*READ_ERRORS, UnicodeDecodeError) as exc:
        raise read_error(f.label, exc, gz=f.gz) from None
    raise _no_ids(f.label)


def _from_lines(f: InputFile, first: str, column: str | None) -> pd.Index:
    """One id per line; a first line named like an id column is a header."""
    header = first.lower() in FEATURE_COLUMNS
    if column is not None and not (header and first == column):
        raise _missing_column(f.label, column, [first] if header else [])
    try:
        with _open_text(f.path, f.gz) as fh:
            lines = [line.strip() for line in fh]
    except (*READ_ERRORS, UnicodeDecodeError) as exc:
        raise read_error(f.label, exc, gz=f.gz) from None
    ids = [t for t in lines if t and not t.startswith("#")]
    if header:
        ids = ids[1:]
    if not ids:
        raise _no_ids(f.label)
    return pd.Index(ids, dtype=str, name=first if header else "lines")


def _from_table(df: pd.DataFrame, label: str, column: str | None) -> pd.Index:
    """The id column of a table (named, else the first)."""
    cols = [str(c) for c in df.columns]
    if column is None:
        lower = {c.lower(): c for c in reversed(cols)}
        column = next((lower[k] for k in FEATURE_COLUMNS if k in lower), cols[0])
    elif column not in cols:
        raise _missing_column(label, column, cols)
    values = df[df.columns[cols.index(column)]]
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if empty.any():
        rows = [int(i) + 2 for i in df.index[empty.to_numpy()]]  # 1-based, after the header
        raise InputError(
            f"{label}: column '{column}' has {int(empty.sum())} empty cell(s) (data rows "
            f"{preview(rows)}); a feature list has an id on every row",
            path=label,
            column=column,
            hint="Fill in or drop the empty rows.",
        )
    return pd.Index(text.to_numpy(dtype=str), dtype=str, name=column)


def _h5ad_var_names(f: InputFile) -> pd.Index:
    """``var_names`` of an h5ad file, read from its ``var`` group alone."""
    import h5py
    from anndata.io import read_elem

    try:
        with no_hdf5_locking(), h5py.File(f.path, "r") as h5:
            var = read_elem(h5["var"])
    except Exception as exc:  # h5py/anndata raise OSError, KeyError ... when corrupt
        raise _h5ad_error(exc, f.label) from None
    return _var_index(var, f.label)


def _zarr_var_names(p: Path, label: str) -> pd.Index:
    import zarr
    from anndata.io import read_elem

    try:
        var = read_elem(zarr.open_group(p, mode="r", use_consolidated=False)["var"])
    except Exception as exc:  # zarr/anndata raise JSON, Key, Value errors ... when corrupt
        raise _h5ad_error(exc, label, kind="zarr") from None
    return _var_index(var, label)


def _var_index(var: Any, label: str) -> pd.Index:
    if len(var.index) == 0:
        raise _no_ids(label)
    return pd.Index(var.index.astype(str), dtype=str, name="var_names")


def _no_ids(label: str) -> InputError:
    return InputError(
        f"{label}: holds no feature ids",
        path=label,
        hint="Write one id per line (or a table with an id column, or an h5ad with var_names).",
    )


def _missing_column(label: str, column: str, cols: list[str]) -> InputError:
    return InputError(
        f"{label}: column '{column}' not found; columns are {', '.join(cols) or '(none)'}",
        path=label,
        column=column,
        hint="Pass one of the listed columns (column=...), or a file with one id per line.",
    )

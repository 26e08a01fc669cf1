"""CSV/TSV(.gz) and Parquet tables, read so that nothing is silently read wrong."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from biodata_guard.errors import InputError
from biodata_guard.io._files import (
    _DELIMITERS,
    READ_ERRORS,
    InputFile,
    _delimiter,
    _header_line,
    _name,
    check_file,
    no_data_error,
    parquet_error,
    ragged_rows_error,
    read_error,
    refuse_duplicate_columns,
)

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: str | Path, *, name: str | None = None, min_columns: int = 1) -> pd.DataFrame:
    """Read a CSV/TSV(.gz) or Parquet table, refusing what would silently read wrong.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv``, ``.txt``, ``.tab`` (optionally ``.gz``) or ``.parquet`` / ``.pq``.
    name
        Name for messages (defaults to the path).
    min_columns
        Fewer columns than this is an error (a wrong delimiter reads as one column).

    Returns
    -------
    pandas.DataFrame
        Columns as in the file, with a default RangeIndex (Parquet: its stored index is reset into
        a column when it is not a RangeIndex).

    Raises
    ------
    InputError
        Missing, empty or header-only file, truncated gzip, non-UTF-8 text, wrong or mixed
        delimiter, duplicate column names, too few columns, unparseable rows.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "samples.csv")
    >>> _ = open(p, "w").write("sample_id;label\\nS1;a\\n")
    >>> read_table(p, name="samples.csv", min_columns=2)
    Traceback (most recent call last):
    ...
    biodata_guard.errors.InputError: samples.csv: the header has no comma but 1 semicolon(s); \
the file is semicolon-delimited despite its '.csv' name Hint: Rename the file to match its \
delimiter (.tsv for tabs, .csv for commas) or convert it.
    """
    return table_of(check_file(path, label=name), min_columns=min_columns)


def table_of(f: InputFile, *, min_columns: int = 1) -> pd.DataFrame:
    """:func:`read_table` of a file that passed :func:`~biodata_guard.io.check_file`."""
    if f.suffix in PARQUET_SUFFIXES:
        df = _read_parquet(f)
        columns = [str(c) for c in df.columns]
    else:
        df, columns, sep = _read_text(f)
    refuse_duplicate_columns(columns, f.label)
    if df.shape[1] < min_columns:
        raise InputError(
            f"{f.label}: {df.shape[1]} column(s) read, at least {min_columns} needed; the "
            "delimiter is probably wrong",
            path=f.label,
            hint="Check the delimiter (CSV: commas, TSV: tabs) and the file extension.",
        )
    if len(df) == 0:
        raise InputError(
            f"{f.label}: has a header but no rows",
            path=f.label,
            hint="Regenerate the file; it holds no samples.",
        )
    if f.suffix not in PARQUET_SUFFIXES:
        _check_short_rows(df, f.label, sep)
    return df


def _read_parquet(f: InputFile) -> pd.DataFrame:
    try:
        df = pd.read_parquet(f.path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise parquet_error(f.label, exc) from None
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    return df


def _read_text(f: InputFile) -> tuple[pd.DataFrame, list[str], str]:
    """The table of a delimited text file, its header's column names and its delimiter."""
    header, n_skip = _header_line(f.path, f.gz, f.label)
    sep = _delimiter(f.path, header, f.label)
    columns = next(csv.reader([header], delimiter=sep))
    try:
        df = pd.read_csv(
            f.path,
            sep=sep,
            skiprows=n_skip,
            comment=None,
            encoding="utf-8-sig",
            compression="gzip" if f.gz else None,
            dtype=None,
            low_memory=False,
            skip_blank_lines=True,
        )
    except (*READ_ERRORS, UnicodeDecodeError) as exc:
        raise read_error(f.label, exc, gz=f.gz) from None
    except pd.errors.ParserError as exc:
        raise ragged_rows_error(f.label, str(exc).strip()) from None
    except pd.errors.EmptyDataError:
        raise no_data_error(f.label) from None
    return df, columns, sep


def _check_short_rows(df: pd.DataFrame, label: str, sep: str) -> None:
    """Rows written with another delimiter read as one field (pandas fills the rest with NaN)."""
    if df.shape[1] < 2:
        return
    short = df.iloc[:, -1].isna()
    if not short.any():
        return
    short &= df.loc[short, df.columns[1:]].isna().all(axis=1).reindex(df.index, fill_value=False)
    others = [d for d in _DELIMITERS if d != sep]
    first = df.loc[short, df.columns[0]]
    # pandas 3 keeps NaN through astype(str): a row of empty cells has no text to look at
    bad = first[first.map(lambda v: isinstance(v, str) and any(d in v for d in others))]
    if len(bad):
        other = next(d for d in others if d in bad.iloc[0])
        raise InputError(
            f"{label}: {len(bad)} row(s) are {_name(other)}-separated in a {_name(sep)}-separated "
            f"file and read as one field each (first: data row {bad.index[0] + 1}, "
            f"{bad.iloc[0][:60]!r}); mixed delimiters",
            path=label,
            hint="Use one delimiter throughout (re-export the table, or fix the pasted rows).",
        )

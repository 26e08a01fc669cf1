"""Readers: CSV/TSV(.gz), Parquet, h5ad (read-only, backed for large files), AnnData objects.

Every reader is read-only and turns unreadable or invalid input into an :class:`InputError` that
names the file, says what is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io as _io
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._adapters import MatrixView, as_matrix
from biodata_guard._context import FeatureInput
from biodata_guard.errors import InputError

__all__ = [
    "file_sha256",
    "read_features",
    "read_h5ad",
    "read_table",
]

UNREADABLE = "input.unreadable"
INVALID = "input.invalid"

#: h5ad files larger than this are opened backed (``backed="r"``) instead of loaded.
BACKED_THRESHOLD_BYTES = 1 << 30

_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".tab": "\t"}
_REFUSED = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".npy": "NumPy pickle-capable",
    ".joblib": "joblib",
}


def _suffixes(path: Path) -> tuple[str, bool]:
    """The data suffix (``.csv``) and whether the file is gzip-compressed."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return Path(name).suffix, gz


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(
            f"{p}: file does not exist", path=str(p), hint="Check the path.", check=UNREADABLE
        )
    if p.is_dir():
        raise InputError(
            f"{p}: is a directory, not a file", path=str(p), hint="Name a file.", check=UNREADABLE
        )
    suffix, _ = _suffixes(p)
    if suffix in _REFUSED:
        raise InputError(
            f"{p}: {_REFUSED[suffix]} files are refused: loading them can execute arbitrary code",
            path=str(p),
            hint="Export the data to CSV/TSV, Parquet or h5ad and audit that file.",
            check=UNREADABLE,
        )
    if p.stat().st_size == 0:
        raise InputError(
            f"{p}: file is empty (0 bytes)",
            path=str(p),
            hint="Regenerate the file.",
            check=UNREADABLE,
        )
    return p


def file_sha256(path: str | Path, *, block_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, streamed (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_size):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[_io.TextIOBase]:
    _, gz = _suffixes(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    with raw, _io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        yield fh


def _header_line(path: Path) -> str:
    try:
        with _open_text(path) as fh:
            for line in fh:
                if line.strip() and not line.startswith("#"):
                    return line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(
            f"{path}: cannot be decompressed ({exc}); the gzip file is truncated or corrupt",
            path=str(path),
            hint="Re-download or re-compress the file (gzip -t FILE tests it).",
            check=UNREADABLE,
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: is not UTF-8 text (undecodable byte at offset {exc.start})",
            path=str(path),
            hint="Convert it with: iconv -f latin1 -t utf-8 FILE > FILE.utf8",
            check=UNREADABLE,
        ) from None
    raise InputError(
        f"{path}: has no header line (only comments or blank lines)",
        path=str(path),
        hint="Add a header row naming the columns.",
    )


def _delimiter(path: Path, header: str) -> str:
    suffix, _ = _suffixes(path)
    expected = _TABLE_SUFFIXES.get(suffix)
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    if expected is not None and counts[expected] > 0:
        return expected
    if counts[best] == 0:
        if expected is None:
            return ","
        return expected  # a single-column table; the caller decides if that is acceptable
    if expected is not None and best != expected:
        raise InputError(
            f"{path}: the header has no {_name(expected)} but {counts[best]} {_name(best)}(s); "
            f"the file is {_name(best)}-delimited despite its '{suffix}' name",
            path=str(path),
            hint="Rename the file to match its delimiter (.tsv for tabs, .csv for commas) "
            "or convert it.",
        )
    return best


def _name(d: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}[d]


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
    """
    p = _check_file(path)
    label = name or str(p)
    suffix, _ = _suffixes(p)
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise InputError(
                f"{label}: not a readable Parquet file ({type(exc).__name__}: {exc})",
                path=label,
                hint="Re-export the table with DataFrame.to_parquet().",
                check=UNREADABLE,
            ) from None
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        columns = [str(c) for c in df.columns]
    else:
        header = _header_line(p)
        sep = _delimiter(p, header)
        columns = next(csv.reader([header], delimiter=sep))
        try:
            df = pd.read_csv(
                p,
                sep=sep,
                comment=None,
                encoding="utf-8-sig",
                dtype=None,
                low_memory=False,
                skip_blank_lines=True,
            )
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(
                f"{label}: cannot be decompressed ({exc}); the gzip file is truncated or corrupt",
                path=label,
                hint="Re-download or re-compress the file (gzip -t FILE tests it).",
                check=UNREADABLE,
            ) from None
        except UnicodeDecodeError:
            raise InputError(
                f"{label}: is not UTF-8 text",
                path=label,
                hint="Convert it with: iconv -f latin1 -t utf-8 FILE > FILE.utf8",
                check=UNREADABLE,
            ) from None
        except pd.errors.ParserError as exc:
            raise InputError(
                f"{label}: rows have inconsistent numbers of fields ({str(exc).strip()}); "
                "mixed delimiters or unquoted separators in values",
                path=label,
                hint="Use one delimiter throughout and quote values that contain it.",
            ) from None
        except pd.errors.EmptyDataError:
            raise InputError(
                f"{label}: file has no data", path=label, hint="Regenerate the file."
            ) from None
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputError(
            f"{label}: duplicate column names {dupes}; pandas would rename them silently "
            f"('{dupes[0]}.1') and a join could pick the wrong one",
            path=label,
            column=dupes[0],
            hint="Rename or drop the duplicated columns.",
        )
    if df.shape[1] < min_columns:
        raise InputError(
            f"{label}: {df.shape[1]} column(s) read, at least {min_columns} needed; the "
            "delimiter is probably wrong",
            path=label,
            hint="Check the delimiter (CSV: commas, TSV: tabs) and the file extension.",
        )
    if len(df) == 0:
        raise InputError(
            f"{label}: has a header but no rows",
            path=label,
            hint="Regenerate the file; it holds no samples.",
        )
    return df


@contextlib.contextmanager
def _no_hdf5_locking() -> Iterator[None]:
    # HDF5 takes a file lock even in read-only mode; inputs must never be locked (and read-only
    # filesystems reject the lock). The library reads this variable at each file open.
    old = os.environ.get("HDF5_USE_FILE_LOCKING")
    os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HDF5_USE_FILE_LOCKING", None)
        else:
            os.environ["HDF5_USE_FILE_LOCKING"] = old


def read_h5ad(path: str | Path, *, backed: bool | None = None, name: str | None = None) -> Any:
    """Open an ``.h5ad`` file read-only.

    Parameters
    ----------
    backed
        ``True``: ``backed="r"`` (the matrix stays on disk and is streamed in chunks);
        ``False``: load into memory; ``None`` (default): backed when the file is larger than
        :data:`BACKED_THRESHOLD_BYTES`.

    Raises
    ------
    InputError
        Missing, empty, truncated or corrupt file, non-unique ``obs_names``.
    """
    import anndata as ad

    p = _check_file(path)
    label = name or str(p)
    if backed is None:
        backed = p.stat().st_size > BACKED_THRESHOLD_BYTES
    try:
        with _no_hdf5_locking(), warnings.catch_warnings():
            # anndata warns about non-unique obs_names; we raise a clear error for it below.
            warnings.filterwarnings("ignore", message="Observation names are not unique")
            adata = ad.read_h5ad(p, backed="r" if backed else None)
    except Exception as exc:  # h5py/anndata raise OSError, KeyError, TypeError ... when corrupt
        raise InputError(
            f"{label}: not a readable h5ad file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'}); it is truncated or corrupt",
            path=label,
            hint="Re-write it with adata.write_h5ad(); check the transfer (sha256) if copied.",
            check=UNREADABLE,
        ) from None
    _check_unique(adata.obs_names, label, "obs_names", "adata.obs_names_make_unique()")
    return adata


def _check_unique(index: pd.Index, label: str, what: str, fix: str) -> None:
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        from biodata_guard._format import preview

        raise InputError(
            f"{label}: {what} are not unique: {len(dup)} duplicated id(s) ({preview(dup)})",
            path=label,
            hint=f"Make the ids unique ({fix}) or fix the upstream merge that duplicated them.",
        )


def read_features(
    source: Any,
    *,
    name: str | None = None,
    orientation: str = "auto",
    sample_ids: pd.Index | None = None,
    layer: str | None = None,
    backed: bool | None = None,
) -> FeatureInput:
    """Read a feature matrix (file path or in-memory object) into a :class:`FeatureInput`.

    Tables have ids in the first column and one numeric column per feature (or per sample, for a
    features x samples table). With ``orientation="auto"`` the table is transposed when its
    column names, not its row ids, match ``sample_ids``.

    Raises
    ------
    InputError
        Unreadable file, non-numeric matrix cells (named by row and column), duplicate ids, an
        orientation that matches neither axis when it is required.
    """
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        label = name or p.name
        suffix, _ = _suffixes(p)
        if suffix == ".h5ad":
            adata = read_h5ad(p, backed=backed, name=label)
            return FeatureInput(label, as_matrix(adata, layer=layer, name=label), str(p), adata)
        df = read_table(p, name=label, min_columns=2)
        df = _matrix_frame(df, label)
        path: str | None = str(p)
    elif isinstance(source, MatrixView):
        return FeatureInput(name or source.name, source)
    elif type(source).__name__ == "AnnData":
        label = name or "<AnnData>"
        _check_unique(source.obs_names, label, "obs_names", "adata.obs_names_make_unique()")
        return FeatureInput(label, as_matrix(source, layer=layer, name=label), None, source)
    elif isinstance(source, pd.DataFrame):
        label = name or "<DataFrame>"
        df, path = source, None
    else:
        label = name or "<matrix>"
        return FeatureInput(label, as_matrix(source, name=label))
    df = _orient(df, label, orientation, sample_ids)
    _check_unique(pd.Index(df.index.astype(str)), label, "sample ids", "drop or rename duplicates")
    return FeatureInput(label, as_matrix(df, name=label), path)


def _matrix_frame(df: pd.DataFrame, label: str) -> pd.DataFrame:
    """First column = ids; every other column must be numeric (report the first bad cell)."""
    id_col = df.columns[0]
    values = df.drop(columns=id_col)
    values.index = pd.Index(df[id_col].astype(str), name=str(id_col))
    bad_cols = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if bad_cols:
        col = bad_cols[0]
        coerced = pd.to_numeric(values[col], errors="coerce")
        bad_rows = values.index[coerced.isna() & values[col].notna()]
        example = values.loc[bad_rows[0], col] if len(bad_rows) else "?"
        raise InputError(
            f"{label}: matrix cells must be numeric; column '{col}' has {len(bad_rows)} "
            f"non-numeric cell(s), first at row '{bad_rows[0] if len(bad_rows) else '?'}': "
            f"{example!r} ({len(bad_cols)} bad column(s) in all)",
            path=label,
            column=str(col),
            hint="Fix or remove the text cells, or move annotation columns to the metadata table.",
        )
    return values


def _orient(
    df: pd.DataFrame, label: str, orientation: str, sample_ids: pd.Index | None
) -> pd.DataFrame:
    if orientation == "samples_x_features":
        return df
    if orientation == "features_x_samples":
        return df.T
    if sample_ids is None or len(sample_ids) == 0:
        return df
    ids = set(map(str, sample_ids))
    in_rows = len(ids.intersection(map(str, df.index)))
    in_cols = len(ids.intersection(map(str, df.columns)))
    return df.T if in_cols > in_rows else df


def is_h5ad(path: str | os.PathLike) -> bool:
    return _suffixes(Path(path))[0] == ".h5ad"


def non_finite_cells(view: MatrixView, *, chunk_size: int = 10_000) -> tuple[int, int]:
    """Count NaN and infinite cells (streamed)."""
    n_nan = n_inf = 0
    for _, _, block in view.iter_chunks(chunk_size):
        data = block.data if hasattr(block, "data") and not isinstance(block, np.ndarray) else block
        n_nan += int(np.isnan(data).sum())
        n_inf += int(np.isinf(data).sum())
    return n_nan, n_inf

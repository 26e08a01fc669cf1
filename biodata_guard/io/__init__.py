"""Readers: CSV/TSV(.gz), Parquet, h5ad and AnnData zarr stores (read-only, streamed when large),
AnnData objects.

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
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import FeatureInput
from biodata_guard.errors import InputError
from biodata_guard.io.matrix import MatrixView, as_matrix

__all__ = [
    "file_sha256",
    "read_features",
    "read_h5ad",
    "read_table",
    "read_zarr",
]

UNREADABLE = "input.unreadable"
INVALID = "input.invalid"

#: h5ad files (and zarr stores, all files summed) larger than this are streamed from disk
#: instead of loaded.
BACKED_THRESHOLD_BYTES = 1 << 30

#: A directory is an AnnData zarr store when it holds one of these (zarr v3, zarr v2) at its top.
_ZARR_METADATA = ("zarr.json", ".zgroup")

_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".tab": "\t"}
_DELIMITERS = (",", "\t", ";", "|")
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
    """SHA-256 of a file's bytes, streamed (constant memory).

    A directory (a zarr store) gets a digest of its whole tree: SHA-256 over, for every file in
    the order of its relative POSIX path, the path, a NUL byte and the file's own SHA-256. The
    digest changes when any file is added, removed, renamed or edited, and does not depend on
    the order the file system lists the directory in.
    """
    if Path(path).is_dir():
        h = hashlib.sha256()
        for rel, file in _tree_files(Path(path)):
            h.update(rel.encode() + b"\0" + bytes.fromhex(file_sha256(file, block_size=block_size)))
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_size):
            h.update(chunk)
    return h.hexdigest()


def _tree_files(root: Path) -> list[tuple[str, Path]]:
    """Every file under ``root`` as ``(relative POSIX path, path)``, sorted by relative path."""
    files = []
    for folder, _, names in os.walk(root):
        for n in names:
            file = Path(folder) / n
            files.append((file.relative_to(root).as_posix(), file))
    return sorted(files)


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[_io.TextIOBase]:
    _, gz = _suffixes(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    with raw, _io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        yield fh


def _header_line(path: Path) -> tuple[str, int]:
    """The header line and the number of physical lines before it.

    Leading blank lines and ``#`` comment lines are skipped; a ``#`` line directly followed by a
    line with the same (non-zero) number of delimiters is the header itself (``#sample_id,...``).
    """
    comment: tuple[str, int] | None = None
    try:
        with _open_text(path) as fh:
            for i, line in enumerate(fh):
                if "\x00" in line:
                    raise InputError(
                        f"{path}: holds NUL bytes: a binary file, not a text table",
                        path=str(path),
                        hint="Pass the table itself (CSV/TSV, Parquet or h5ad), not a binary file.",
                        check=UNREADABLE,
                    )
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                if text.startswith("#"):
                    comment = (text, i)
                    continue
                if comment is not None and _same_fields(comment[0], text):
                    return comment
                return text, i
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


def _same_fields(a: str, b: str) -> bool:
    return any(a.count(d) == b.count(d) > 0 for d in _DELIMITERS)


def _delimiter(path: Path, header: str) -> str:
    suffix, _ = _suffixes(path)
    expected = _TABLE_SUFFIXES.get(suffix)
    counts = {d: header.count(d) for d in _DELIMITERS}
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


def refuse_duplicate_columns(columns: list[str], label: str) -> None:
    """Raise :class:`InputError` for repeated column names (pandas renames them silently)."""
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputError(
            f"{label}: duplicate column names {dupes}; pandas would rename them silently "
            f"('{dupes[0]}.1') and a join could pick the wrong one",
            path=label,
            column=dupes[0],
            hint="Rename or drop the duplicated columns.",
        )


def ragged_rows_error(label: str, where: str) -> InputError:
    """The error for a delimited table whose rows have different numbers of fields."""
    return InputError(
        f"{label}: rows have inconsistent numbers of fields ({where}); "
        "mixed delimiters or unquoted separators in values",
        path=label,
        hint="Use one delimiter throughout and quote values that contain it.",
    )


def not_utf8_error(label: str) -> InputError:
    return InputError(
        f"{label}: is not UTF-8 text",
        path=label,
        hint="Convert it with: iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        check=UNREADABLE,
    )


def no_data_error(label: str) -> InputError:
    return InputError(f"{label}: file has no data", path=label, hint="Regenerate the file.")


def parquet_error(label: str, exc: Exception) -> InputError:
    """The error for a Parquet file pyarrow cannot read (it raises many exception types)."""
    return InputError(
        f"{label}: not a readable Parquet file ({type(exc).__name__}: {exc})",
        path=label,
        hint="Re-export the table with DataFrame.to_parquet().",
        check=UNREADABLE,
    )


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
            raise parquet_error(label, exc) from None
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        columns = [str(c) for c in df.columns]
    else:
        header, n_skip = _header_line(p)
        sep = _delimiter(p, header)
        columns = next(csv.reader([header], delimiter=sep))
        try:
            df = pd.read_csv(
                p,
                sep=sep,
                skiprows=n_skip,
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
            raise not_utf8_error(label) from None
        except pd.errors.ParserError as exc:
            raise ragged_rows_error(label, str(exc).strip()) from None
        except pd.errors.EmptyDataError:
            raise no_data_error(label) from None
    refuse_duplicate_columns(columns, label)
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
    if suffix not in (".parquet", ".pq"):
        _check_short_rows(df, label, sep)
    return df


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
        raise _h5ad_error(exc, label) from None
    _check_anndata(adata, label)
    return adata


def _check_anndata(adata: Any, label: str) -> None:
    """An AnnData read from a file has cells and genes, unique obs_names and plain columns."""
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(
            f"{label}: holds no data ({adata.n_obs} observations x {adata.n_vars} variables)",
            path=label,
            hint="Check the step that wrote it (a filter that removed every cell or gene?).",
        )
    _check_unique(adata.obs_names, label, "obs_names", "adata.obs_names_make_unique()")
    for where in ("obs", "var"):
        _check_column_types(getattr(adata, where), label, where)


def is_zarr(path: str | os.PathLike) -> bool:
    """True for a ``.zarr`` path, or a directory holding zarr metadata (an unsuffixed store)."""
    p = Path(path)
    if _suffixes(p)[0] == ".zarr":
        return True
    return p.is_dir() and any((p / m).is_file() for m in _ZARR_METADATA)


def _check_store(path: str | Path, label: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(
            f"{label}: zarr store does not exist",
            path=label,
            hint="Check the path.",
            check=UNREADABLE,
        )
    if not p.is_dir():
        raise InputError(
            f"{label}: is a file, not a zarr store (an AnnData zarr store is a directory)",
            path=label,
            hint="Pass the directory adata.write_zarr() wrote; unzip a zipped store first "
            "(unzip store.zarr.zip -d store.zarr), or write the data as h5ad.",
            check=UNREADABLE,
        )
    if not any((p / m).is_file() for m in _ZARR_METADATA):
        raise InputError(
            f"{label}: is a directory but not a zarr store (it holds no zarr.json or .zgroup)",
            path=label,
            hint="Pass the directory adata.write_zarr() wrote (copy it whole), or the matrix "
            "file itself.",
            check=UNREADABLE,
        )
    return p


def _tree_bytes(root: Path) -> int:
    return sum(file.stat().st_size for _, file in _tree_files(root))


def read_zarr(path: str | Path, *, backed: bool | None = None, name: str | None = None) -> Any:
    """Open an AnnData zarr store (the directory ``adata.write_zarr()`` writes) read-only.

    The store is opened with ``zarr.open_group(path, mode="r")`` from each node's own metadata
    (not the consolidated copy, which can list nodes a partial copy lacks). Nothing is written,
    moved or locked.

    Parameters
    ----------
    path
        The store directory (zarr format 2 or 3).
    backed
        ``True``: stream the matrices -- ``.obs``, ``.var`` and ``.uns`` are read, while ``X``,
        ``raw.X`` and each layer stay on disk (sparse ones as anndata's ``CSRDataset`` /
        ``CSCDataset``, dense ones as ``zarr.Array``) and are read in row blocks, so memory is
        bounded by the chunk size and the store's own chunks; ``.obsm``, ``.varm``, ``.obsp``
        and ``.varp`` are not read. ``False``: load the whole AnnData
        (``anndata.io.read_zarr``). ``None`` (default): stream when the store's files add up to
        more than :data:`BACKED_THRESHOLD_BYTES`.
    name
        Name for messages (defaults to the path).

    Returns
    -------
    anndata.AnnData

    Raises
    ------
    InputError
        Missing path, a file or a directory that is not a zarr store, missing ``obs`` / ``var``
        (an incomplete copy), corrupt metadata or chunks, unknown encodings, no cells or genes,
        non-unique ``obs_names``.

    Examples
    --------
    >>> import anndata as ad, numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_zarr(os.path.join(d, "a.zarr"))
    >>> read_zarr(os.path.join(d, "a.zarr"), backed=True).X.shape
    (3, 2)
    """
    import anndata as ad
    import zarr

    label = name or str(path)
    p = _check_store(path, label)
    if backed is None:
        backed = _tree_bytes(p) > BACKED_THRESHOLD_BYTES
    try:
        with warnings.catch_warnings():
            # anndata warns about non-unique obs_names; we raise a clear error for it below.
            warnings.filterwarnings("ignore", message="Observation names are not unique")
            group = zarr.open_group(p, mode="r", use_consolidated=False)
            missing = [k for k in ("obs", "var") if k not in group]
            if missing:
                raise InputError(
                    f"{label}: is a zarr store but not a complete AnnData one: it has no "
                    f"{' and no '.join(missing)} (an interrupted copy, or not written by anndata)",
                    path=label,
                    hint="Copy the whole directory again, or re-write it with adata.write_zarr().",
                    check=UNREADABLE,
                )
            adata = _streamed_zarr(group) if backed else _sorted_layers(ad.io.read_zarr(group))
    except InputError:
        raise
    except Exception as exc:  # zarr/anndata raise JSON, Key, Value errors ... when corrupt
        raise _h5ad_error(exc, label, kind="zarr") from None
    _check_anndata(adata, label)
    return adata


def _streamed_zarr(group: Any) -> Any:
    """An AnnData whose tables are read and whose matrices stay in the (read-only) store."""
    import anndata as ad
    from anndata.io import read_elem

    obs = read_elem(group["obs"])
    adata = ad.AnnData(
        X=_on_disk(group["X"]) if "X" in group else None,
        obs=obs,
        var=read_elem(group["var"]),
        uns=read_elem(group["uns"]) if "uns" in group else None,
        # in name order, as _sorted_layers
        layers={k: _on_disk(group["layers"][k]) for k in sorted(group["layers"].keys())}
        if "layers" in group
        else None,
    )
    if "raw" in group and "X" in group["raw"]:
        raw = group["raw"]
        adata.raw = ad.AnnData(X=_on_disk(raw["X"]), obs=obs, var=read_elem(raw["var"]))
    return adata


def _sorted_layers(adata: Any) -> Any:
    """Layers in name order, as h5py lists an h5ad's (a zarr store lists them in the file
    system's directory order, which differs between machines; the findings follow this order)."""
    keys = sorted(k for k in adata.layers if k is not None)
    adata.layers = {**{k: adata.layers[k] for k in keys}, None: adata.X}  # None stands for X
    return adata


def _on_disk(elem: Any) -> Any:
    """A matrix element of a zarr store, left on disk: sparse as anndata's backed dataset, dense
    as the ``zarr.Array``; anything else (never a matrix) is read."""
    from anndata.io import read_elem, sparse_dataset

    kind = elem.attrs.get("encoding-type")
    if kind in ("csr_matrix", "csc_matrix"):
        return sparse_dataset(elem)
    if hasattr(elem, "chunks") and kind in (None, "array"):
        return elem
    return read_elem(elem)


def _h5ad_error(exc: Exception, label: str, *, kind: str = "h5ad") -> InputError:
    """The error for an AnnData file (``kind="h5ad"``) or zarr store (``"zarr"``) that cannot
    be read."""
    text = str(exc).splitlines()[0] if str(exc) else "corrupt"
    encoding = re.search(r"encoding_type='([^']*)'", text)
    if type(exc).__name__ == "IORegistryError" and encoding:
        # An element written with an encoding anndata does not know: report it, never guess.
        note = " ".join(getattr(exc, "__notes__", []))
        key = re.search(r"reading key '([^']*)' of .* from (\S+)", note)
        where = f"{key.group(2).rstrip('/')}/{key.group(1)}" if key else "an element"
        return InputError(
            f"{label}: {where} has the unknown encoding '{encoding.group(1)}'; it was not read "
            f"({kind} elements of unexpected types are refused, never interpreted)",
            path=label,
            hint=f"Re-write the file with anndata (adata.write_{kind}()) from a trusted source, or "
            "drop the element.",
            check=UNREADABLE,
        )
    if kind == "zarr":
        return InputError(
            f"{label}: not a readable AnnData zarr store ({type(exc).__name__}: {text}); it is "
            "truncated or corrupt (a file in it damaged or missing)",
            path=label,
            hint="Re-write it with adata.write_zarr(); if copied, copy the whole directory again "
            "and compare the inputs' sha256 in the report.",
            check=UNREADABLE,
        )
    return InputError(
        f"{label}: not a readable h5ad file ({type(exc).__name__}: {text}); it is truncated or "
        "corrupt",
        path=label,
        hint="Re-write it with adata.write_h5ad(); check the transfer (sha256) if copied.",
        check=UNREADABLE,
    )


def _check_column_types(df: pd.DataFrame, label: str, where: str) -> None:
    """Table columns of an h5ad must hold numbers, booleans, strings, dates or categories."""
    plain = (str, bool, int, float, np.number, np.bool_)
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = pd.Series(s.cat.categories)
        if isinstance(s.dtype, pd.StringDtype) or s.dtype.kind in "biufcmM":
            continue
        if s.dtype.kind == "O":
            values = s[s.notna()]
            odd = values[values.map(lambda v: not isinstance(v, plain))]
            if odd.empty:
                continue
            kind = type(odd.iloc[0]).__name__
        else:  # raw bytes, opaque or structured records
            kind = {"V": "opaque binary", "S": "raw byte"}.get(s.dtype.kind, "untyped")
        raise InputError(
            f"{label}: .{where} column '{col}' holds {kind} values "
            f"(dtype {s.dtype}), not numbers, strings or categories",
            path=label,
            column=str(col),
            hint=f"Convert or drop it before writing: adata.{where}['{col}'] = "
            f"adata.{where}['{col}'].astype(str), or del adata.{where}['{col}'].",
        )


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
        if suffix == ".h5ad" or is_zarr(p):
            reader = read_h5ad if suffix == ".h5ad" else read_zarr
            adata = reader(p, backed=backed, name=label)
            _require_matrix(adata, layer, label)
            return FeatureInput(label, as_matrix(adata, layer=layer, name=label), str(p), adata)
        if p.is_dir():
            raise InputError(
                f"{p}: is a directory, not a file (nor a zarr store: it holds no zarr.json or "
                ".zgroup)",
                path=str(p),
                hint="Name a matrix file, or an AnnData zarr store (the directory "
                "adata.write_zarr() writes).",
                check=UNREADABLE,
            )
        if suffix in (".parquet", ".pq"):
            streamed = _streamed_parquet(p, label, backed, orientation, sample_ids)
            if streamed is not None:
                return streamed
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


def _require_matrix(adata: Any, layer: str | None, label: str) -> None:
    """An AnnData file without the matrix asked for (no ``X``; ``raw`` or a layer are checked by
    :func:`~biodata_guard.io.matrix.as_matrix`) is refused, naming what it does hold."""
    if layer is None and adata.X is None:
        layers = sorted(k for k in adata.layers if k is not None)
        held = f"layers {layers}" if layers else "no layers"
        raw = " and .raw" if adata.raw is not None else ""
        raise InputError(
            f"{label}: has no X (no main matrix); it holds {held}{raw}",
            path=label,
            hint="Audit a layer with --layer NAME (layer= in Python; --layer raw for .raw.X), "
            "or write the matrix to X.",
        )


class ParquetRows:
    """The numeric columns of a samples x features Parquet table as a read-only matrix whose
    rows are read row group by row group (memory: the row groups a request touches, one at a
    time). Pickles by path, so Dask workers read their own blocks."""

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, path: str, columns: list[str]) -> None:
        import pyarrow.parquet as pq

        self.path, self.columns = path, columns
        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.shape = (int(meta.num_rows), len(columns))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "columns": self.columns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["columns"])

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, tuple):  # dask asks for (rows, columns)
            rows, cols = index
            return self[rows][:, cols]
        if isinstance(index, slice):
            start, stop, step = index.indices(self.shape[0])
            positions = np.arange(start, stop, step)
        else:
            positions = np.atleast_1d(np.asarray(index, dtype=np.int64))
        import pyarrow.parquet as pq

        out = np.empty((len(positions), self.shape[1]))
        groups = np.searchsorted(self.starts, positions, side="right") - 1
        handle = pq.ParquetFile(self.path)
        for g in np.unique(groups):
            table = handle.read_row_group(int(g), columns=self.columns)
            block = np.column_stack([c.to_numpy().astype(np.float64) for c in table.columns])
            take = groups == g
            out[take] = block[positions[take] - self.starts[g]]
        return out


def _streamed_parquet(
    p: Path, label: str, backed: bool | None, orientation: str, sample_ids: pd.Index | None
) -> FeatureInput | None:
    """A large samples x features Parquet matrix streamed by row groups; None when the table is
    small (or features x samples) and is better read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if backed is None:
        backed = p.stat().st_size > BACKED_THRESHOLD_BYTES
    if not backed or orientation == "features_x_samples":
        return None
    try:
        schema = pq.read_schema(p)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise parquet_error(label, exc) from None
    names = [n for n in schema.names if not n.startswith("__index_level_")]
    id_col, features = names[0], names[1:]
    if orientation == "auto" and sample_ids is not None:
        ids = set(map(str, sample_ids))
        if len(ids.intersection(features)) > 0:
            return None  # features x samples: transposed after a whole read
    bad = [n for n in features if not _numeric_arrow(schema.field(n).type, pa)]
    if bad:
        raise InputError(
            f"{label}: matrix columns must be numeric; column '{bad[0]}' is "
            f"{schema.field(bad[0]).type} ({len(bad)} non-numeric column(s) in all)",
            path=label,
            column=bad[0],
            hint="Fix or remove the text columns, or move annotation columns to the metadata "
            "table.",
        )
    dupes = sorted(set(pd.Index(names)[pd.Index(names).duplicated()]))
    if dupes:
        raise InputError(
            f"{label}: duplicate column names {dupes}",
            path=label,
            column=dupes[0],
            hint="Rename or drop the duplicated columns.",
        )
    ids = pd.Index(pq.read_table(p, columns=[id_col]).column(0).to_pandas().astype(str))
    _check_unique(ids, label, "sample ids", "drop or rename duplicates")
    view = MatrixView(
        X=ParquetRows(str(p), features),
        obs_names=ids,
        var_names=pd.Index(features),
        name=label,
        backed=True,
    )
    return FeatureInput(label, view, str(p))


def _numeric_arrow(kind: Any, pa: Any) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _matrix_frame(df: pd.DataFrame, label: str) -> pd.DataFrame:
    """First column = ids; every other column must be numeric (report the first bad cell)."""
    id_col = df.columns[0]
    values = df.drop(columns=id_col)
    values.index = pd.Index(df[id_col].astype(str), name=str(id_col))
    bad_cols = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    for col in values.columns:
        # pandas reads integers past 2**63 - 1 as uint64, past 2**64 - 1 as Python ints (object)
        if values[col].dtype == np.uint64:
            big = values[col] > np.iinfo(np.int64).max
        elif col in bad_cols:
            big = values[col].map(lambda v: isinstance(v, int) and not -(2**63) <= v < 2**63)
        else:
            continue
        if big.any():
            raise InputError(
                f"{label}: column '{col}' holds {int(big.sum())} integer(s) beyond the 64-bit "
                f"range, first at row '{values.index[big.to_numpy()][0]}': "
                f"{values.loc[big, col].iloc[0]}; no count or measurement is that large (a "
                "negative number wrapped to unsigned, or an overflow)",
                path=label,
                column=str(col),
                hint="Fix the cells at the source (an overflow or a pasted id?) and re-export.",
            )
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

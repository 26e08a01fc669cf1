"""AnnData inputs: ``.h5ad`` files and zarr stores, opened read-only (streamed when large)."""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._files import (
    INVALID,
    UNREADABLE,
    check_file,
    check_store,
    stream_by_default,
    tree_bytes,
)
from biodata_guard.io._zarr_chunks import describe, matrix_arrays, missing_chunks


@contextlib.contextmanager
def no_hdf5_locking() -> Iterator[None]:
    """HDF5 files opened inside this block are not locked (read-only inputs are never locked)."""
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
        1 GiB (the audit's ``stream`` option chooses for it).

    Raises
    ------
    InputError
        Missing, empty, truncated or corrupt file, non-unique ``obs_names``.
    """
    import anndata as ad

    f = check_file(path, label=name)
    p, label = f.path, f.label
    if backed is None:
        backed = stream_by_default(f.size)
    try:
        with no_hdf5_locking(), warnings.catch_warnings():
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
    check_unique(adata.obs_names, label, "obs_names", "adata.obs_names_make_unique()")
    for where in ("obs", "var"):
        _check_column_types(getattr(adata, where), label, where)


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
        more than 1 GiB (the audit's ``stream`` option chooses for it).
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
    p = check_store(path, label=label)
    if backed is None:
        backed = stream_by_default(tree_bytes(p))
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
            _refuse_missing_chunks(group, p, label)
            adata = _streamed_zarr(group) if backed else _sorted_layers(ad.io.read_zarr(group))
    except InputError:
        raise
    except Exception as exc:  # zarr/anndata raise JSON, Key, Value errors ... when corrupt
        raise _h5ad_error(exc, label, kind="zarr") from None
    _check_anndata(adata, label)
    return adata


def _refuse_missing_chunks(group: Any, root: Path, label: str) -> None:
    """A matrix whose stored chunks do not cover its chunk grid where an all-zero block is
    improbable (:mod:`biodata_guard.io._zarr_chunks`) is an invalid store, not zeros."""
    for name, arr in matrix_arrays(group):
        found = missing_chunks(arr, Path(root), name)
        if found is not None:
            raise InputError(
                f"{label}: {describe(found)}; the store is incomplete (zarr would read those "
                "cells as zeros)",
                path=label,
                hint="Copy the whole directory again (the report's sha256 of a store covers "
                "every file in it: compare it with the source's). If those cells really are all "
                "zero, write the store with every chunk kept: "
                "zarr.config.set({'array.write_empty_chunks': True}) before adata.write_zarr().",
                check=INVALID,
            )


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


def check_unique(index: pd.Index, label: str, what: str, fix: str) -> None:
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        raise InputError(
            f"{label}: {what} are not unique: {len(dup)} duplicated id(s) ({preview(dup)})",
            path=label,
            hint=f"Make the ids unique ({fix}) or fix the upstream merge that duplicated them.",
        )

"""Feature matrices: files (CSV/TSV, Parquet streamed by row groups, h5ad, zarr) and in-memory
objects, read into one :class:`~biodata_guard._context.FeatureInput`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import FeatureInput
from biodata_guard.errors import InputError
from biodata_guard.io._align import align_rows
from biodata_guard.io._files import (
    InputFile,
    _suffixes,
    check_file,
    is_zarr,
    parquet_error,
    stream_by_default,
)
from biodata_guard.io.anndata import check_unique, read_h5ad, read_zarr
from biodata_guard.io.matrix import MatrixView, as_matrix
from biodata_guard.io.tables import PARQUET_SUFFIXES, table_of


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
    column names match more of ``sample_ids`` than its row ids do (:func:`align_rows`).

    Raises
    ------
    InputError
        Unreadable file, non-numeric matrix cells (named by row and column), duplicate ids, an
        orientation that matches neither axis when it is required.

    Examples
    --------
    >>> df = pd.DataFrame({"S1": [1.0, 2.0], "S2": [3.0, 4.0]}, index=["GeneA", "GeneB"])
    >>> fi = read_features(df, sample_ids=pd.Index(["S1", "S2"]))  # features x samples
    >>> fi.view.shape, list(fi.view.obs_names)
    ((2, 2), ['S1', 'S2'])
    """
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source), name, orientation, sample_ids, layer, backed)
    if isinstance(source, MatrixView):
        return FeatureInput(name or source.name, source)
    if type(source).__name__ == "AnnData":
        label = name or "<AnnData>"
        check_unique(source.obs_names, label, "obs_names", "adata.obs_names_make_unique()")
        return FeatureInput(label, as_matrix(source, layer=layer, name=label), None, source)
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, name or "<DataFrame>", orientation, sample_ids, None)
    label = name or "<matrix>"
    return FeatureInput(label, as_matrix(source, name=label))


def _read_file(
    p: Path,
    name: str | None,
    orientation: str,
    sample_ids: pd.Index | None,
    layer: str | None,
    backed: bool | None,
) -> FeatureInput:
    """A matrix file: an AnnData (h5ad, zarr store), a Parquet table streamed when large, or a
    table read whole."""
    label = name or p.name
    suffix, _ = _suffixes(p)
    if suffix == ".h5ad" or is_zarr(p):
        reader = read_h5ad if suffix == ".h5ad" else read_zarr
        adata = reader(p, backed=backed, name=label)
        _require_matrix(adata, layer, label)
        return FeatureInput(label, as_matrix(adata, layer=layer, name=label), str(p), adata)
    f = check_file(p, label=label, stores=True)
    if f.suffix in PARQUET_SUFFIXES:
        streamed = _streamed_parquet(f, backed, orientation, sample_ids)
        if streamed is not None:
            return streamed
    df = _matrix_frame(table_of(f, min_columns=2), label)
    return _from_frame(df, label, orientation, sample_ids, str(p))


def _from_frame(
    df: pd.DataFrame,
    label: str,
    orientation: str,
    sample_ids: pd.Index | None,
    path: str | None,
) -> FeatureInput:
    df = _orient(df, orientation, sample_ids)
    check_unique(pd.Index(df.index.astype(str)), label, "sample ids", "drop or rename duplicates")
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
    f: InputFile, backed: bool | None, orientation: str, sample_ids: pd.Index | None
) -> FeatureInput | None:
    """A large samples x features Parquet matrix streamed by row groups; None when the table is
    small (or features x samples) and is better read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p, label = f.path, f.label
    if backed is None:
        backed = stream_by_default(f.size)
    if not backed or orientation == "features_x_samples":
        return None
    try:
        schema = pq.read_schema(p)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise parquet_error(label, exc) from None
    names = [n for n in schema.names if not n.startswith("__index_level_")]
    id_col, features = names[0], names[1:]
    if orientation == "auto" and sample_ids is not None:
        if align_rows(features, sample_ids).aligned:
            return None  # the columns may be the samples: oriented after a whole read
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
    check_unique(ids, label, "sample ids", "drop or rename duplicates")
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
    dtypes = values.dtypes  # one pass over the column types (wide matrices have 60k columns)
    bad_cols = [c for c, d in dtypes.items() if not pd.api.types.is_numeric_dtype(d)]
    unsigned = [c for c, d in dtypes.items() if d == np.uint64]
    for col in [*unsigned, *bad_cols]:
        # pandas reads integers past 2**63 - 1 as uint64, past 2**64 - 1 as Python ints (object)
        if values[col].dtype == np.uint64:
            big = values[col] > np.iinfo(np.int64).max
        else:
            big = values[col].map(lambda v: isinstance(v, int) and not -(2**63) <= v < 2**63)
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


def _orient(df: pd.DataFrame, orientation: str, sample_ids: pd.Index | None) -> pd.DataFrame:
    """The table as samples x features: as given, or transposed when its columns align to the
    sample ids better than its rows do (:func:`~biodata_guard.io.align_rows`)."""
    if orientation == "samples_x_features":
        return df
    if orientation == "features_x_samples":
        return df.T
    if sample_ids is None or len(sample_ids) == 0:
        return df
    in_rows = align_rows(df.index, sample_ids).n_matched
    in_cols = align_rows(df.columns, sample_ids).n_matched
    return df.T if in_cols > in_rows else df

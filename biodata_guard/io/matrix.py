"""AnnData / DataFrame / ndarray / sparse -> one read-only matrix view (never densified)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard.errors import InputError
from biodata_guard.io._files import UNREADABLE

#: Default rows per chunk when streaming a matrix (bounded memory on backed / huge inputs).
DEFAULT_CHUNK_ROWS = 10_000

#: What h5py / zarr / anndata raise for a block they cannot read (truncated file, bad checksum).
READ_ERRORS = (OSError, ValueError, RuntimeError, KeyError)


@dataclass(frozen=True)
class MatrixView:
    """A samples x features matrix with its ids, read lazily where possible.

    ``X`` is a dense ``numpy.ndarray``, a ``scipy.sparse`` matrix/array (CSR preferred) or a
    matrix left on disk -- a backed AnnData dataset, an ``h5py.Dataset`` or a ``zarr.Array``
    (rows are read from disk chunk by chunk). Nothing here copies the whole matrix; use
    :meth:`iter_chunks` to visit it.
    """

    X: Any
    obs_names: pd.Index
    var_names: pd.Index
    name: str = "<matrix>"
    backed: bool = False
    #: Streaming statistics already computed over this matrix (see ``biodata_guard.stream``).
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.obs_names), len(self.var_names))

    @property
    def n_obs(self) -> int:
        return len(self.obs_names)

    @property
    def n_vars(self) -> int:
        return len(self.var_names)

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X) or _is_backed_sparse(self.X)

    def iter_chunks(
        self, chunk_size: int = DEFAULT_CHUNK_ROWS
    ) -> Iterator[tuple[int, int, np.ndarray | sp.csr_matrix]]:
        """Yield ``(start, stop, block)`` row blocks: CSR when sparse, ndarray when dense."""
        n = self.n_obs
        for start in range(0, n, max(1, chunk_size)):
            stop = min(n, start + chunk_size)
            yield start, stop, self.rows(slice(start, stop))

    def rows(self, index: slice | np.ndarray) -> np.ndarray | sp.csr_matrix:
        """Read a subset of rows (a slice or sorted integer positions) into memory.

        A matrix on disk that cannot be read (a truncated or corrupt chunk) raises
        :class:`InputError` naming the input and the rows.
        """
        if self.backed:
            try:
                block = self.X[index]
            except READ_ERRORS as exc:
                raise unreadable_rows(self.name, index, exc) from None
        else:
            block = self.X[index]
        if hasattr(block, "compute"):  # a Dask array: the block is read where it lives
            block = block.compute()
        if sp.issparse(block):
            return sp.csr_matrix(block)
        return np.asarray(block)


def read_runs(view: MatrixView, runs: list[slice]) -> np.ndarray | sp.csr_matrix:
    """The rows of ``runs`` (increasing, non-overlapping slices), stacked: one read per run
    from a backed AnnData sparse matrix (it reads a run in one request, scattered rows one by
    one), else one read of all their positions (a Parquet file reads each row group once).

    Examples
    --------
    >>> view = as_matrix(np.arange(12.0).reshape(6, 2))
    >>> read_runs(view, [slice(0, 1), slice(4, 6)])[:, 0].tolist()
    [0.0, 8.0, 10.0]
    """
    if len(runs) == 1:
        return view.rows(runs[0])
    if view.backed and _is_backed_sparse(view.X):
        return sp.vstack([view.rows(run) for run in runs], format="csr")
    return view.rows(np.concatenate([np.arange(r.start, r.stop) for r in runs]))


def unreadable_rows(name: str, index: slice | np.ndarray, exc: Exception) -> InputError:
    if isinstance(index, slice):
        where = f"rows {index.start or 0}-{index.stop}"
    else:
        where = f"{len(index)} rows from row {int(index[0]) if len(index) else 0}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(
        f"{name}: {where} of the matrix cannot be read from disk ({type(exc).__name__}: {text}); "
        "the file or store is truncated or corrupt",
        path=name,
        hint="Re-write it (adata.write_h5ad() / adata.write_zarr()); if copied, copy it again "
        "and compare the inputs' sha256 in the report.",
        check=UNREADABLE,
    )


def _is_on_disk(X: Any) -> bool:
    """A matrix read from its file on each access: a backed AnnData sparse dataset, an
    ``h5py.Dataset`` or a ``zarr.Array``."""
    return _is_backed_sparse(X) or type(X).__module__.split(".")[0] in ("h5py", "zarr")


def _is_backed_sparse(X: Any) -> bool:
    try:
        from anndata.abc import CSCDataset, CSRDataset
    except ImportError:  # pragma: no cover - older anndata
        return False
    return isinstance(X, (CSRDataset, CSCDataset))


def _is_anndata(obj: Any) -> bool:
    return type(obj).__name__ == "AnnData" and hasattr(obj, "obs_names")


def as_matrix(data: Any, *, layer: str | None = None, name: str | None = None) -> MatrixView:
    """Normalise any supported matrix-like input into a :class:`MatrixView`.

    Parameters
    ----------
    data
        ``AnnData`` (in memory or backed), ``pandas.DataFrame`` (rows = samples, numeric columns),
        ``numpy.ndarray`` or ``scipy.sparse`` matrix (2-D), or an existing ``MatrixView``.
    layer
        For AnnData: ``None`` for ``.X``, ``"raw"`` for ``.raw.X``, otherwise a key of ``.layers``.
    name
        Name used in messages (defaults to the kind of object).

    Raises
    ------
    InputError
        If the object is not 2-D, not numeric, or the layer does not exist.
    """
    if isinstance(data, MatrixView):
        return data
    if _is_anndata(data):
        label = name or "<AnnData>"
        if layer is None:
            X = data.X
            var_names = data.var_names
        elif layer == "raw":
            if data.raw is None:
                raise InputError(f"{label}: has no .raw", path=label, hint="Omit layer='raw'.")
            X = data.raw.X
            var_names = data.raw.var_names
        else:
            if layer not in [k for k in data.layers if k is not None]:
                raise InputError(
                    f"{label}: layer '{layer}' does not exist; layers are "
                    f"{sorted(k for k in data.layers if k is not None)}",
                    path=label,
                    hint="Pass one of the listed layer names.",
                )
            X = data.layers[layer]
            var_names = data.var_names
        if X is None:
            raise InputError(f"{label}: .X is empty (None)", path=label, hint="Pass a layer=.")
        dtype = np.dtype(getattr(X, "dtype", np.float64))
        if not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
            where = ".X" if layer is None else ("raw.X" if layer == "raw" else f"layers['{layer}']")
            raise InputError(
                f"{label}: {where} must be numeric; got dtype {dtype} instead",
                path=label,
                hint="Write numbers into the matrix (text such as gene symbols belongs in .var).",
            )
        return MatrixView(
            X=X,
            obs_names=pd.Index(data.obs_names.astype(str)),
            var_names=pd.Index(pd.Index(var_names).astype(str)),
            name=label + ("" if layer is None else f"[{layer}]"),
            backed=bool(getattr(data, "isbacked", False)) or _is_on_disk(X),
        )
    if isinstance(data, pd.DataFrame):
        label = name or "<DataFrame>"
        non_numeric = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
        if non_numeric:
            raise InputError(
                f"{label}: feature columns must be numeric; got non-numeric columns "
                f"{non_numeric[:5]}",
                path=label,
                column=str(non_numeric[0]),
                hint="Move metadata columns to a separate table or drop them before the check.",
            )
        return MatrixView(
            X=data.to_numpy(dtype=np.float64, copy=False),
            obs_names=pd.Index(data.index.astype(str)),
            var_names=pd.Index(data.columns.astype(str)),
            name=label,
        )
    if sp.issparse(data):
        X = data if data.format == "csr" else sp.csr_matrix(data)
        return _anonymous(X, name or "<sparse>")
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise InputError(
            f"{name or '<array>'}: a feature matrix must be 2-D; got shape {arr.shape} instead",
            path=name,
            hint="Reshape to (n_samples, n_features).",
        )
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InputError(
            f"{name or '<array>'}: a feature matrix must be numeric; got dtype {arr.dtype}",
            path=name,
            hint="Convert with np.asarray(X, dtype=float) after removing text cells.",
        )
    return _anonymous(arr, name or "<array>")


def _anonymous(X: Any, name: str) -> MatrixView:
    n, m = X.shape
    return MatrixView(
        X=X,
        obs_names=pd.Index([str(i) for i in range(n)]),
        var_names=pd.Index([f"f{j}" for j in range(m)]),
        name=name,
    )


def anndata_matrices(adata: Any, *, name: str = "<AnnData>") -> list[MatrixView]:
    """Every matrix an AnnData carries: ``X``, ``raw.X`` and each layer (skipping anndata's
    ``None`` key that stands for ``X``)."""
    views = [as_matrix(adata, name=name)] if adata.X is not None else []
    if adata.raw is not None:
        views.append(as_matrix(adata, layer="raw", name=name))
    for key in adata.layers:
        if key is None:
            continue
        views.append(as_matrix(adata, layer=key, name=name))
    return views


def finite_rows(block: Any) -> np.ndarray:
    """Boolean mask of the rows of a block (dense or CSR) holding only finite values."""
    if not sp.issparse(block):
        return np.isfinite(block).all(axis=1)
    block = sp.csr_matrix(block)
    bad = ~np.isfinite(block.data)
    if not bad.any():
        return np.ones(block.shape[0], dtype=bool)
    row_of = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    return np.bincount(row_of[bad], minlength=block.shape[0]) == 0


class NonFiniteError(InputError):
    """A check that needs finite numbers met NaN/inf (the audit reports them as
    ``units.invalid_values`` and skips that check instead of stopping)."""


def require_finite(block: Any, name: str, *, purpose: str) -> None:
    """Raise :class:`NonFiniteError` (an :class:`InputError`) when a row block (dense or
    sparse) holds NaN or infinity; ``purpose`` completes "... the matrix holds NaN or infinite
    values; <purpose>"."""
    values = block.data if sp.issparse(block) else block
    if values.size and not np.isfinite(values).all():
        raise NonFiniteError(
            f"{name}: the feature matrix holds NaN or infinite values; {purpose}",
            path=name,
            hint="Impute or drop the non-finite cells first (biodata_guard.io.non_finite_cells "
            "counts them; see the units.invalid_values finding).",
        )


def non_finite_cells(view: MatrixView, *, chunk_size: int = 10_000) -> tuple[int, int]:
    """Count NaN and infinite cells (streamed).

    Examples
    --------
    >>> non_finite_cells(as_matrix(np.array([[1.0, np.nan], [np.inf, -np.inf]])))
    (1, 2)
    """
    n_nan = n_inf = 0
    for _, _, block in view.iter_chunks(chunk_size):
        data = block.data if hasattr(block, "data") and not isinstance(block, np.ndarray) else block
        n_nan += int(np.isnan(data).sum())
        n_inf += int(np.isinf(data).sum())
    return n_nan, n_inf

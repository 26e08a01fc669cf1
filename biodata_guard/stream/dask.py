"""The Dask engine: feature matrices become Dask arrays chunked by rows, so the shared pass
computes each block's statistics on a ``dask.distributed`` cluster (where the blocks are read)
and folds them here in row order -- the same numbers as the in-memory engine."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import Any

from biodata_guard._context import FeatureInput
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io import is_h5ad, is_zarr, no_hdf5_locking

#: Worker processes of the local cluster started when no scheduler address is given.
LOCAL_WORKERS = 2


def _require_dask() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--engine dask needs dask and distributed, which are not installed",
            key="run.engine",
            hint="pip install 'biodata_guard[dask]' (or use --engine memory).",
        ) from None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` when given, else to a local cluster
    of :data:`LOCAL_WORKERS` single-threaded worker processes (closed on exit)."""
    _require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at {scheduler} ({exc})",
                key="run.scheduler",
                hint="Start one with `dask scheduler` (and `dask worker ADDRESS`), check the "
                "address, or omit --scheduler for a local cluster.",
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=min(LOCAL_WORKERS, os.cpu_count() or 1),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # a failed task is reported as one error, not a log
        # Workers open the h5ad inputs too: never take an HDF5 lock on an input.
        env={"HDF5_USE_FILE_LOCKING": "FALSE"},
    )
    with cluster, Client(cluster) as client:
        yield client


def as_dask(fi: FeatureInput, *, chunk_size: int, layer: str | None = None) -> FeatureInput:
    """``fi`` with its matrix as a Dask array of row blocks of ``chunk_size`` rows.

    An h5ad file or AnnData zarr store is read lazily from disk by the workers
    (``anndata.experimental.read_elem_lazy``; on a remote cluster the path must be readable by
    every worker); other inputs are wrapped with ``dask.array.from_array`` (sparse blocks stay
    sparse).
    """
    import dask.array as da

    view = fi.view
    if fi.path is not None and is_h5ad(fi.path):
        X = _lazy_h5ad(fi.path, layer=layer, chunks=(chunk_size, view.n_vars))
    elif fi.path is not None and is_zarr(fi.path):
        X = _lazy_zarr(fi.path, layer=layer, chunks=(chunk_size, view.n_vars))
    else:
        X = da.from_array(view.X, chunks=(chunk_size, -1), asarray=False)
    return dataclasses.replace(fi, view=dataclasses.replace(view, X=X, memo={}))


def _element_key(layer: str | None) -> str:
    return "X" if layer is None else "raw/X" if layer == "raw" else f"layers/{layer}"


def _lazy_h5ad(path: str, *, layer: str | None, chunks: tuple[int, int]) -> Any:
    import h5py
    from anndata.experimental import read_elem_lazy

    key = _element_key(layer)
    with no_hdf5_locking():  # read-only and unlocked, as the backed AnnData; workers reopen it
        handle = h5py.File(path, "r")
    if key not in handle:
        raise InputError(f"{path}: has no '{key}' to stream", path=path, hint="Check --layer.")
    return read_elem_lazy(handle[key], chunks=chunks)


def _lazy_zarr(path: str, *, layer: str | None, chunks: tuple[int, int]) -> Any:
    import zarr
    from anndata.experimental import read_elem_lazy

    key = _element_key(layer)
    # Read-only store (it pickles read-only to the workers); the nodes' own metadata, as read_zarr.
    group = zarr.open_group(path, mode="r", use_consolidated=False)
    if key not in group:
        raise InputError(f"{path}: has no '{key}' to stream", path=path, hint="Check --layer.")
    return read_elem_lazy(group[key], chunks=chunks)

"""A zarr store with a missing chunk is an invalid input, not a block of zeros; stores whose
missing chunks are plausible all-zero blocks (zarr leaves those out) still read."""

from __future__ import annotations

import json
import shutil
import warnings

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import zarr

from biodata_guard.errors import InputError
from biodata_guard.io import read_zarr
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def counts() -> np.ndarray:
    return np.random.default_rng(0).poisson(2.0, (200, 30)).astype(np.float32)


def _write(path, X, **kw):
    ad.AnnData(X).write_zarr(path, **kw)
    return path


def test_a_lost_chunk_file_makes_the_store_invalid(tmp_path, counts):
    store = _write(tmp_path / "lost.zarr", counts, chunks=(20, 30))
    shutil.rmtree(store / "X" / "c" / "5")  # rows 100-119
    for backed in (False, True):
        with pytest.raises(InputError) as info:
            read_zarr(store, backed=backed, name="lost.zarr")
        assert info.value.check == "input.invalid"
        assert info.value.message.startswith(
            "lost.zarr: X lacks 1 of its 10 stored chunks (first: rows 100-119, columns 0-29); "
            "the rest of the matrix makes an all-zero block that large improbable (p = 1e-"
        )
        assert "write_empty_chunks" in info.value.hint


def test_the_cli_reports_it_as_input_invalid(tmp_path, counts):
    store = _write(tmp_path / "lost.zarr", counts, chunks=(20, 30))
    shutil.rmtree(store / "X" / "c" / "3")
    proc = run_cli("audit", "--features", store, "--format", "json")
    assert proc.returncode == 2
    (f,) = json.loads(proc.stdout)["findings"]
    assert f["check"] == "input.invalid" and "X lacks 1 of its 10 stored chunks" in f["message"]


def test_plausible_all_zero_blocks_still_read(tmp_path, counts):
    rng = np.random.default_rng(1)
    sparse_rows = counts.copy()
    sparse_rows[rng.random(200) < 0.5] = 0  # half the cells are empty ...
    sparse_rows[40:60] = 0  # ... so an empty chunk of 20 rows is no surprise
    store = _write(tmp_path / "zeros.zarr", sparse_rows, chunks=(20, 30))
    assert not (store / "X" / "c" / "2").exists()  # zarr left the all-zero chunk out
    assert read_zarr(store).X[40:60].sum() == 0
    genes = counts.copy()
    genes[:, 20:30] = 0  # a block of genes expressed in no cell
    store = _write(tmp_path / "genes.zarr", genes, chunks=(20, 10))
    assert read_zarr(store, backed=True).shape == (200, 30)


def test_a_store_written_with_every_chunk_reads_whatever_it_holds(tmp_path, counts):
    block = counts.copy()
    block[40:60] = 0  # improbable as a missing chunk, but stored: nothing is missing
    with zarr.config.set({"array.write_empty_chunks": True}):
        store = _write(tmp_path / "kept.zarr", block, chunks=(20, 30))
    assert read_zarr(store).X[40:60].sum() == 0


def test_a_lost_chunk_of_a_sparse_matrix(tmp_path, counts):
    store = tmp_path / "sparse.zarr"
    a = ad.AnnData(sp.csr_matrix(counts))
    a.write_zarr(store)
    group = zarr.open_group(store, mode="r+")
    data = group["X"]["data"][:]
    del group["X"]["data"]
    group["X"].create_array("data", data=data, chunks=(500,))
    with warnings.catch_warnings():  # zarr: consolidated metadata is not in the v3 spec
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(store, path="X")
        zarr.consolidate_metadata(store)
    assert read_zarr(store).X.nnz == int((counts > 0).sum())  # re-chunked, complete: reads
    (store / "X" / "data" / "c" / "3").unlink()
    with pytest.raises(InputError, match=r"X/data lacks 1 of its 11 stored chunks \(first: entr"):
        read_zarr(store)

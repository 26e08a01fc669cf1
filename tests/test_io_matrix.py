import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard.errors import InputError
from biodata_guard.io.matrix import anndata_matrices, as_matrix
from tests._synth import sparse_counts


def test_every_kind_becomes_the_same_view():
    X = sparse_counts(30, 12, density=0.2, seed=1)
    dense = X.toarray()
    frame = pd.DataFrame(dense, index=[f"c{i}" for i in range(30)])
    adata = ad.AnnData(X=X)
    for obj in (X, X.tocsc(), dense, frame, adata):
        view = as_matrix(obj)
        assert view.shape == (30, 12)
        total = sum(float(b.sum()) for _, _, b in view.iter_chunks(7))
        assert total == pytest.approx(float(X.sum()))
    assert as_matrix(X).is_sparse and not as_matrix(dense).is_sparse
    assert list(as_matrix(frame).obs_names[:2]) == ["c0", "c1"]


def test_sparse_stays_sparse_chunk_by_chunk():
    X = sparse_counts(100, 50, seed=2)
    for _, _, block in as_matrix(X).iter_chunks(32):
        assert sp.issparse(block) and block.format == "csr"


def test_anndata_layers_raw_and_errors():
    a = ad.AnnData(X=np.ones((4, 3), dtype=np.float32))
    a.layers["counts"] = np.full((4, 3), 2.0)
    a.raw = a.copy()
    names = [v.name for v in anndata_matrices(a, name="pbmc.h5ad")]
    assert names == ["pbmc.h5ad", "pbmc.h5ad[raw]", "pbmc.h5ad[counts]"]
    with pytest.raises(InputError, match="layer 'spliced' does not exist"):
        as_matrix(a, layer="spliced")


def test_non_numeric_inputs_are_input_errors():
    with pytest.raises(InputError, match="must be numeric"):
        as_matrix(pd.DataFrame({"g1": [1.0, 2.0], "donor": ["a", "b"]}))
    with pytest.raises(InputError, match="must be 2-D"):
        as_matrix(np.ones(5))
    with pytest.raises(InputError, match="must be numeric"):
        as_matrix(np.array([["a", "b"]]))

"""The shared pass: one read of each feature matrix feeds every streaming check."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard import audit
from biodata_guard._adapters import MatrixView, as_matrix
from biodata_guard._stream import accumulate, shared_pass
from biodata_guard.leakage import _RowHashes
from tests._synth import cohort, gene_names, nb_counts


@pytest.fixture
def passes(monkeypatch):
    """Count full passes (``iter_chunks`` calls) per matrix name."""
    counts: dict[str, int] = {}
    original = MatrixView.iter_chunks

    def counting(self, chunk_size=10_000):
        counts[self.name] = counts.get(self.name, 0) + 1
        return original(self, chunk_size)

    monkeypatch.setattr(MatrixView, "iter_chunks", counting)
    return counts


def _dataset(sparse: bool = False):
    sheet = cohort(60, seed=3)
    X = nb_counts(len(sheet), 300, seed=3).astype(np.float32)
    genes = gene_names(300)
    if sparse:
        adata = ad.AnnData(
            sp.csr_matrix(X),
            obs=sheet.set_index("sample_id"),
            var=pd.DataFrame(index=genes),
        )
        adata.layers["counts"] = adata.X.copy()
        return adata, None
    return pd.DataFrame(X, index=sheet["sample_id"], columns=genes), sheet


def test_the_audit_reads_a_matrix_once_for_units_leakage_and_sex(passes):
    features, sheet = _dataset()
    features = features.rename(columns={features.columns[0]: "XIST", features.columns[1]: "UTY"})
    report = audit(
        features=features,
        metadata=sheet,
        label_col="label",
        split_col="split",
        group_cols=["patient_id"],
        sex_col="sex",
        only={"alignment", "units", "leakage"},
        chunk_size=50,
    )
    assert report.by_check("units.detected")
    assert passes == {"<features 1>": 1}


def test_anndata_x_is_read_once_and_each_layer_once(passes):
    adata, _ = _dataset(sparse=True)
    audit(
        features=adata,
        label_col="label",
        split_col="split",
        only={"units", "leakage"},
        chunk_size=64,
    )
    assert passes == {"<features 1>": 1, "<features 1>[counts]": 1}


def test_a_check_called_on_its_own_makes_its_own_pass_and_reuses_it(passes):
    view = as_matrix(np.arange(20.0).reshape(5, 4), name="m")
    first = accumulate(view, ("k",), lambda: _RowHashes(*view.shape), chunk_size=2)
    again = accumulate(view, ("k",), lambda: _RowHashes(*view.shape), chunk_size=2)
    assert first is again
    assert passes == {"m": 1}


def test_parts_are_absorbed_in_row_order_whatever_the_chunk_size():
    X = sp.random(101, 40, density=0.3, format="csr", random_state=np.random.default_rng(1))
    results = []
    for chunk in (1, 7, 101):
        view = as_matrix(X, name="m")
        shared_pass(view, {"h": _RowHashes(*view.shape)}, chunk_size=chunk)
        results.append(view.memo["h"].h1)
    assert all(np.array_equal(results[0], r) for r in results[1:])


# --- the Dask engine ----------------------------------------------------------------------------


def _findings(report):
    # Input names, paths and the engine differ between the runs; the findings must not.
    return [
        (f.check, str(f.severity), f.message, f.evidence, f.subjects, f.hint)
        for f in report.findings
    ]


@pytest.mark.slow
def test_dask_engine_on_a_local_cluster_gives_the_in_memory_findings(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    adata, _ = _dataset(sparse=True)
    obs = adata.obs
    sizes = obs.groupby("patient_id", observed=True).size()
    patient = sizes[sizes > 1].index[0]
    first = obs.index[obs["patient_id"] == patient][0]
    obs.loc[first, "split"] = "test" if obs.loc[first, "split"] == "train" else "train"
    X = adata.X.tolil()
    X[5] = X[0]  # an exact duplicate sample
    adata.X = X.tocsr()
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    options = dict(
        features=[path],
        label_col="label",
        split_col="split",
        group_cols=["patient_id"],
        batch_col="batch",
        only={"alignment", "balance", "leakage", "units"},
        chunk_size=16,
    )
    memory = audit(**options)
    dask = audit(**options, engine="dask")
    assert dask.config["run"]["engine"] == "dask"
    assert _findings(dask) == _findings(memory)
    assert {"leakage.group_overlap", "leakage.duplicate_samples"} <= {
        f.check for f in memory.findings
    }

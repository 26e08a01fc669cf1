"""The shared pass: one read of each feature matrix feeds every streaming check."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard import audit, leakage, stream, units
from biodata_guard.io.matrix import MatrixView, as_matrix
from biodata_guard.leakage import RowHashes
from biodata_guard.stream import accumulate, shared_pass
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
    first = accumulate(view, ("k",), lambda: RowHashes(*view.shape), chunk_size=2)
    again = accumulate(view, ("k",), lambda: RowHashes(*view.shape), chunk_size=2)
    assert first is again
    assert passes == {"m": 1}


def test_parts_are_absorbed_in_row_order_whatever_the_chunk_size():
    X = sp.random(101, 40, density=0.3, format="csr", random_state=np.random.default_rng(1))
    results = []
    for chunk in (1, 7, 101):
        view = as_matrix(X, name="m")
        shared_pass(view, {"h": RowHashes(*view.shape)}, chunk_size=chunk)
        results.append(view.memo["h"].h1)
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("sparse", [True, False])
def test_statistics_do_not_depend_on_the_parts_a_block_is_cut_into(monkeypatch, sparse):
    """The kernel computes a block in row ranges (threads); the numbers must not move."""
    sheet = cohort(80, seed=5)
    X = nb_counts(len(sheet), 200, seed=5).astype(np.float32)
    X[:10] = np.log1p(X[:10])  # log rows: the scan's log-candidate branch runs too
    X = sp.csr_matrix(X) if sparse else X
    codes = np.where(sheet["split"].to_numpy() == "train", 0, 1)

    def statistics():
        view = as_matrix(X, name="m")
        accs = {
            "scan": units.scan_accumulator(view, None)[1],
            "hash": RowHashes(*view.shape),
            "moments": leakage.SplitMoments(codes, 2, view.n_vars),
        }
        shared_pass(view, accs, chunk_size=40)
        scan, moments = view.memo["scan"], view.memo["moments"]
        return [scan.S, scan.sumsq, scan.mx, scan.f_sum, scan.raw["grid"],
                scan.log["e"]["S"], view.memo["hash"].h1,
                moments.total, moments.low, moments.high, moments.rows]  # fmt: skip

    whole = statistics()
    monkeypatch.setattr(stream._fused, "PARTS", 5)
    sliced = statistics()
    for a, b in zip(whole, sliced, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


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
    adata.write_zarr(tmp_path / "cells.zarr")
    options = dict(
        # one cluster for both on-disk formats: each is read lazily by the workers
        features=[path, tmp_path / "cells.zarr"],
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
    assert [i["kind"] for i in dask.inputs] == ["h5ad", "zarr"]
    detected = {f.input: f.evidence for f in memory.findings if f.check == "units.detected"}
    assert detected["cells.zarr"] == detected["cells.h5ad"]


@pytest.mark.parametrize("layer", [None, "raw", "counts"])
def test_dask_engine_reads_a_zarr_store_lazily_in_row_blocks(tmp_path, layer):
    pytest.importorskip("dask.array", reason="the dask extra is not installed")
    import pickle

    from biodata_guard.io import read_features
    from biodata_guard.stream.dask import as_dask

    adata, _ = _dataset(sparse=True)
    adata.raw = adata.copy()
    adata.write_zarr(tmp_path / "cells.zarr")
    fi = read_features(tmp_path / "cells.zarr", backed=True, layer=layer)
    lazy = as_dask(fi, chunk_size=16, layer=layer).view
    assert type(lazy.X).__module__.startswith("dask.")
    n = adata.n_obs
    assert lazy.X.chunks[0] == (16,) * (n // 16) + ((n % 16,) if n % 16 else ())
    # the graph points at the store (it pickles by path, read-only), it holds no matrix
    assert len(pickle.dumps(lazy.X.dask)) < adata.X.data.nbytes
    expected = adata.X if layer is None else adata.raw.X if layer == "raw" else adata.layers[layer]
    blocks = [b for _, _, b in lazy.iter_chunks(16)]
    assert all(sp.issparse(b) for b in blocks)
    np.testing.assert_array_equal(sp.vstack(blocks).toarray(), expected.toarray())


def test_dask_engine_refuses_a_zarr_layer_that_is_not_there(tmp_path):
    pytest.importorskip("dask.array", reason="the dask extra is not installed")
    from biodata_guard.errors import InputError
    from biodata_guard.stream.dask import _lazy_zarr

    adata, _ = _dataset(sparse=True)
    adata.write_zarr(tmp_path / "cells.zarr")
    with pytest.raises(InputError, match="has no 'layers/nope' to stream"):
        _lazy_zarr(str(tmp_path / "cells.zarr"), layer="nope", chunks=(16, 300))


def test_the_shared_statistics_are_freed_before_the_replicate_and_probe_checks(monkeypatch):
    # The per-sample statistics of the shared pass (hundreds of MB at 1M cells) are read by the
    # alignment, units and leakage checks only: the later groups run without them, and the
    # probe finds only its own rows, collected by the same pass.
    import dataclasses

    from biodata_guard import registry

    seen: dict[str, int] = {}

    def recording(name, fn):
        def run(ctx):
            seen[name] = len(ctx.features[0].view.memo)
            return fn(ctx)

        return run

    for name in ("units", "replicates", "probe"):  # the audit runs what the registry declares
        group = registry.get_group(name)
        patched = dataclasses.replace(group, run=recording(name, group.run))
        monkeypatch.setitem(registry._GROUPS, name, patched)
    features, sheet = _dataset()
    audit(
        features=features,
        metadata=sheet,
        label_col="label",
        split_col="split",
        batch_col="batch",
        only={"leakage", "units", "replicates", "probe"},
        probe_permutations=20,
        chunk_size=50,
    )
    assert seen["units"] > 0  # still there for the last streaming group
    # no replicate column: the replicate group has nothing to run and is skipped
    assert "replicates" not in seen and seen["probe"] == 1

"""features: AnnData structure (.raw against .X, matrix roles, uns['log1p']), in memory and
backed (nothing densified), and the features plot of the HTML report."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _features_synth import counts, tenx_adata

from biodata_guard import audit
from biodata_guard.features import check_anndata_structure
from biodata_guard.report._plots_features import plot_features


def _lognorm(X: np.ndarray, base: float | None = None) -> np.ndarray:
    y = np.log1p(X / X.sum(1, keepdims=True) * 1e4)
    return (y / np.log(base) if base else y).astype(np.float32)


def _standard(n_cells=120, n_genes=200, seed=0) -> ad.AnnData:
    """The scanpy layout: log-normalised .X, uns['log1p'], counts in layers and .raw."""
    C = counts(n_cells, n_genes, seed=seed)
    a = ad.AnnData(_lognorm(C), var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))
    a.layers["counts"] = sp.csr_matrix(C)
    a.raw = ad.AnnData(sp.csr_matrix(C), var=a.var.copy())
    a.uns["log1p"] = {"base": None}
    return a


def _kinds(findings):
    return sorted((f.check, f.evidence.get("kind"), str(f.severity)) for f in findings)


def test_the_standard_scanpy_layout_is_clean():
    assert check_anndata_structure(_standard()) == []


def test_x_features_absent_from_raw():
    a = tenx_adata()
    a.raw = a.copy()  # .raw keeps the symbols
    a.var_names = a.var["gene_ids"].astype(str).to_numpy()  # .X renamed to Ensembl ids only
    [f] = [
        x for x in check_anndata_structure(a, name="cells.h5ad") if x.check.endswith("raw_mismatch")
    ]
    assert f.severity == "error"
    assert f.evidence == {"n_vars": 300, "n_raw_vars": 300, "kind": "missing", "n_missing": 300}


def test_raw_with_the_same_features_in_another_order():
    a = _standard()
    raw = a.raw.to_adata()[:, a.var_names[::-1]].copy()
    a.raw = raw
    out = check_anndata_structure(a, name="cells.h5ad")
    [f] = [x for x in out if x.check == "features.raw_mismatch"]
    assert (f.evidence["kind"], f.evidence["first_order_difference"]) == ("order", 0)
    assert "adata.raw[:, adata.var_names].X" in f.hint


def test_raw_with_more_genes_than_x_is_normal():
    a = _standard()
    a.raw = ad.AnnData(
        sp.hstack([a.raw.X, sp.csr_matrix(np.ones((a.n_obs, 5)))]).tocsr(),
        var=pd.DataFrame(index=[*a.var_names, *[f"H{i}" for i in range(5)]]),
    )
    assert [f for f in check_anndata_structure(a) if f.check == "features.raw_mismatch"] == []


def test_reversed_roles_counts_in_x_log_in_raw():
    C = counts(100, 150)
    a = ad.AnnData(C)
    a.raw = ad.AnnData(_lognorm(C))
    a.uns["log1p"] = {"base": None}  # describes .raw, so no marker finding
    assert _kinds(check_anndata_structure(a)) == [("features.matrix_roles", "reversed", "error")]


def test_processed_x_duplicated_into_raw():
    a = _standard()
    a.raw = a  # after normalising: .raw holds no counts
    [f] = check_anndata_structure(a, name="cells.h5ad")
    assert (f.check, f.severity, f.evidence["kind"]) == (
        "features.matrix_roles",
        "warning",
        "duplicate",
    )
    assert f.evidence["x_units"] == "log1p(normalized)"


def test_counts_snapshot_in_raw_before_normalising_is_fine():
    a = ad.AnnData(counts(100, 150))
    a.raw = a
    assert check_anndata_structure(a) == []


def test_log1p_marker_on_counts():
    a = ad.AnnData(counts(100, 150))
    a.uns["log1p"] = {"base": None}
    [f] = check_anndata_structure(a, name="cells.h5ad")
    assert (f.check, f.severity, f.evidence["kind"]) == (
        "features.log1p_marker",
        "error",
        "not_log",
    )
    assert f.evidence["x_units"] == "counts"


def test_log1p_marker_with_another_base():
    a = _standard()
    a.uns["log1p"] = {"base": 2}  # the values are natural log
    [f] = check_anndata_structure(a, name="cells.h5ad")
    assert (f.evidence["kind"], f.evidence["marker_base"], f.evidence["x_log_base"]) == (
        "base",
        "2",
        "e",
    )
    assert "adata.uns['log1p'] = {'base': None}" in f.hint


def test_log_values_without_a_marker():
    a = _standard()
    del a.uns["log1p"]
    [f] = check_anndata_structure(a, name="cells.h5ad")
    assert (f.check, f.severity, f.evidence["kind"]) == (
        "features.log1p_marker",
        "warning",
        "missing",
    )


def test_log2_values_recorded_as_base_2_are_fine():
    a = _standard()
    a.X = _lognorm(a.layers["counts"].toarray(), base=2)
    a.uns["log1p"] = {"base": 2}
    assert check_anndata_structure(a) == []


def test_backed_h5ad_reversed_roles_and_no_densifying(tmp_path):
    C = counts(300, 150, seed=2)
    a = ad.AnnData(sp.csr_matrix(C))
    a.raw = ad.AnnData(sp.csr_matrix(_lognorm(C)))
    a.write_h5ad(tmp_path / "cells.h5ad")
    b = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    assert _kinds(check_anndata_structure(b, chunk_size=64)) == [
        ("features.matrix_roles", "reversed", "error")
    ]


def test_a_counts_layer_without_counts_is_a_units_finding(tmp_path):
    a = _standard()
    a.layers["counts"] = a.X.copy()
    report = audit(features=a, only={"features", "units"})
    assert [f.check for f in report.findings if f.severity == "error"] == ["units.unexpected"]


def test_audit_reads_a_backed_h5ad_and_draws_the_overlap(tmp_path):
    a = tenx_adata(n_cells=300)
    a.write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "model.txt").write_text("\n".join(list(a.var["gene_ids"])[:250]) + "\n")
    report = audit(
        features=str(tmp_path / "cells.h5ad"),
        reference_features=str(tmp_path / "model.txt"),
        only={"features"},
        stream="always",
    )
    [f] = [x for x in report.findings if x.severity == "error"]
    assert f.evidence["reasons"] == ["namespace"] and f.evidence["overlap"]["mapped"] == 250
    art = report.artifacts["features"]
    assert [i["name"] for i in art["inputs"]] == ["cells.h5ad", "model.txt"]
    assert art["pairs"][0]["overlap"]["mapped"] == 250
    [(caption, uri)] = plot_features(art)
    assert uri.startswith("data:image/png;base64,") and "overlap" in caption.lower()


@pytest.mark.parametrize("data", [{}, {"inputs": [], "pairs": []}, {"pairs": [{"x": 1}]}])
def test_the_plot_draws_nothing_from_nothing(data):
    assert plot_features(data) == []

"""features: id namespaces and organisms, mixes, duplicates, mismatches (and the hints that fix
them), planted in realistic inputs built from the shipped GENCODE tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from _features_synth import bulk_cohort, genes, mouse_matrix, tenx_adata

from biodata_guard import audit
from biodata_guard.features import (
    SYMBOL_MISCALL_RATE,
    check_feature_duplicates,
    check_feature_ids,
    check_features_mismatch,
    map_feature_ids,
    parse_ids,
    profile_ids,
)
from biodata_guard.features._checks import find_mixes


def _by(findings, check, severity=None):
    return [
        f for f in findings if f.check == check and (severity is None or f.severity == severity)
    ]


def _errors(report):
    return [f for f in report.findings if f.severity == "error"]


# --- features.id_type ----------------------------------------------------------------------


def test_tenx_symbols_are_human_symbols_and_nothing_else():
    a = tenx_adata()
    out = check_feature_ids(a.var_names, name="cells.h5ad", kind="anndata")
    assert [f.check for f in out] == ["features.id_type"]
    ev = out[0].evidence
    assert (ev["namespace"], ev["organism"], ev["n_features"], ev["n_fit"]) == (
        "symbol",
        "human",
        300,
        300,
    )
    assert "gene symbols (human): 300 of 300 (100%) fit" in out[0].message


def test_bulk_versioned_ensembl_ids():
    df = bulk_cohort()
    [f] = check_feature_ids(df.columns, name="bulk.csv")
    assert f.evidence["namespace"] == "ensembl_gene"
    assert (f.evidence["versions"], f.evidence["n_versioned"]) == ("versioned", 300)
    assert "Ensembl gene ids, versioned (human)" in f.message


def test_mouse_matrix_is_mouse_by_table_and_case():
    [f] = check_feature_ids(mouse_matrix().columns, name="mouse.csv")
    assert (f.evidence["namespace"], f.evidence["organism"]) == ("symbol", "mouse")
    assert f.evidence["organisms"] == {"mouse": 300}
    # symbols in neither table fall back to their case style
    prof = profile_ids(parse_ids(["Foxp3x", "Gm99999", "Cd4l"]))
    assert (prof.organism, prof.organisms, prof.case_organisms) == ("mouse", {}, {"mouse": 3})


@pytest.mark.parametrize(
    ("ids", "namespace"),
    [
        (["ENST00000269305.9", "ENST00000357654.9"], "ensembl_transcript"),
        (["ENSP00000269305", "ENSP00000350283"], "ensembl_protein"),
        (["7157", "672", "1956"], "entrez"),
        (["NM_000546.6", "NR_024540.1"], "refseq"),
        (["1007_s_at", "121_at", "ILMN_1343291", "A_23_P100001"], "probe"),
        (["chr1:9980-10480", "chr1-180700-181200"], "interval"),
        (["0", "1", "2", "3"], "positional"),
    ],
)
def test_namespaces(ids, namespace):
    assert profile_ids(parse_ids(ids)).namespace == namespace


# --- features.mixed_ids --------------------------------------------------------------------


def test_symbols_among_ensembl_ids():
    df = bulk_cohort(versioned=False)
    sym = genes("human", 300)["symbol"].tolist()
    cols = list(df.columns)
    cols[10:15] = sym[10:15]
    [mix] = _by(check_feature_ids(cols, name="bulk.csv"), "features.mixed_ids")
    assert mix.severity == "error"
    assert mix.evidence == {
        "kind": "namespace",
        "n_mixed": 5,
        "n_considered": 300,
        "found": {"symbol": 5},
    }
    assert mix.subjects == sym[10:15]
    assert "map_feature_ids(df.columns, to='ensembl', organism='human')" in mix.hint


def test_a_few_versioned_ids_among_unversioned():
    df = bulk_cohort(versioned=False)
    cols = list(df.columns)
    cols[:3] = [c + ".4" for c in cols[:3]]
    [mix] = _by(check_feature_ids(cols, name="bulk.csv"), "features.mixed_ids")
    assert (mix.evidence["kind"], mix.evidence["n_mixed"], mix.evidence["n_considered"]) == (
        "versions",
        3,
        300,
    )
    assert "versioned among unversioned" in mix.message


def test_mouse_genes_in_a_human_matrix_beyond_the_miscall_rate():
    ids = genes("human", 300)["symbol"].tolist() + genes("mouse", 20, seed=1)["symbol"].tolist()
    [mix] = _by(check_feature_ids(ids, name="cells.csv"), "features.mixed_ids")
    assert (mix.evidence["kind"], mix.evidence["n_mixed"], mix.evidence["majority"]) == (
        "organism",
        20,
        "human",
    )
    assert mix.evidence["organisms"] == {"human": 300, "mouse": 20}
    assert mix.evidence["p_value"] < 1e-40 and mix.evidence["null_rate"] == SYMBOL_MISCALL_RATE
    assert "mouse genes in a human feature set" in mix.message


def test_one_stray_symbol_of_the_other_organism_is_within_the_miscall_rate():
    ids = [*genes("human", 300)["symbol"].tolist(), "Xist"]
    assert _by(check_feature_ids(ids, name="cells.csv"), "features.mixed_ids") == []
    # k=1 of n=301 under the null rate: P = 1 - (1 - 1.1e-4) ** 301 = 0.0326, above alpha=0.01
    parsed = parse_ids(ids)
    [mix] = find_mixes(parsed, profile_ids(parsed), alpha=0.05)
    assert mix.detail["p_value"] == pytest.approx(1 - (1 - SYMBOL_MISCALL_RATE) ** 301)


def test_mouse_ensembl_ids_in_a_human_matrix_are_always_a_mix():
    cols = [*list(bulk_cohort(versioned=False).columns), "ENSMUSG00000086503"]
    [mix] = _by(check_feature_ids(cols, name="bulk.csv"), "features.mixed_ids")
    assert mix.evidence["test"] == "prefix" and mix.subjects == ["ENSMUSG00000086503"]


def test_read_counter_rows_left_in_a_count_matrix():
    cols = list(bulk_cohort(versioned=False).columns)
    cols += [
        "__no_feature",
        "__ambiguous",
        "__too_low_aQual",
        "__not_aligned",
        "__alignment_not_unique",
    ]
    [mix] = _by(check_feature_ids(cols, name="htseq.tsv"), "features.mixed_ids")
    assert (mix.evidence["kind"], mix.evidence["n_mixed"]) == ("counters", 5)


def test_non_gene_features_marked_in_feature_types_are_not_a_mix():
    a = tenx_adata()
    a.var_names = [*a.var_names[:-2], "ENSG00000141510", "CD3_TotalSeqB"]
    cols = [*list(bulk_cohort(versioned=False).columns)[:-2], "CD3_TotalSeqB", "CD4_TotalSeqB"]
    assert _by(check_feature_ids(cols, name="citeseq"), "features.mixed_ids")  # symbols
    exclude = np.r_[np.zeros(298, bool), np.ones(2, bool)]
    assert _by(check_feature_ids(cols, name="citeseq", exclude=exclude), "features.mixed_ids") == []


def test_unnamed_genes_in_a_symbol_matrix_are_not_a_mix():
    ids = [*genes("human", 300)["symbol"].tolist(), "ENSG00000290825", "ENSG00000310526"]
    out = check_feature_ids(ids, name="cells.h5ad")
    assert _by(out, "features.mixed_ids") == []
    assert out[0].evidence["namespaces"] == {"ensembl_gene": 2, "symbol": 300}


def test_spike_ins_are_reported_not_mixed():
    cols = [*list(bulk_cohort(versioned=False).columns), "ERCC-00002", "ERCC-00003"]
    out = check_feature_ids(cols, name="bulk.csv")
    assert [f.check for f in out] == ["features.id_type"]
    assert "also 2 ERCC spike-ins" in out[0].message


# --- features.duplicates -------------------------------------------------------------------


def test_duplicates_exact_versions_and_case():
    ids = ["ENSG00000141510.16", "ENSG00000141510.17", "MT-CO1", "mt-Co1", "GAPDH", "GAPDH"]
    out = check_feature_duplicates(ids, name="cells.h5ad", obs_names=["c1", "c2", "c1"])
    kinds = {f.evidence["kind"]: f for f in out}
    assert set(kinds) == {"exact", "versions", "case", "sample"}
    assert all(f.severity == "error" for f in out)
    assert kinds["exact"].subjects == ["GAPDH"]
    assert kinds["versions"].subjects == ["ENSG00000141510.16 / ENSG00000141510.17"]
    assert kinds["case"].subjects == ["MT-CO1 / mt-Co1"]
    assert (kinds["sample"].evidence["n_groups"], kinds["sample"].evidence["n_entries"]) == (1, 2)


def test_clean_ids_have_no_duplicates():
    assert check_feature_duplicates(tenx_adata().var_names, name="cells.h5ad") == []
    assert check_feature_duplicates(bulk_cohort().columns, name="bulk.csv") == []


def test_anndata_duplicated_var_names_in_an_audit():
    a = tenx_adata()
    a.var_names = [*a.var_names[:-1], a.var_names[0]]
    report = audit(features=a, only={"features"})
    [dup] = report.by_check("features.duplicates")
    assert dup.evidence == {"kind": "exact", "n_groups": 1, "n_entries": 2}
    assert "adata.var['gene_ids']" in dup.hint


# --- features.mismatch ---------------------------------------------------------------------


def _statement(hint: str, name: str) -> str:
    """The Python statement of the hint step that names ``name``."""
    step = next(s for s in hint.rstrip(".").split("; then ") if s.startswith(f"{name}: "))
    return step[len(name) + 2 :]


def test_cohorts_that_agree_only_without_versions_and_the_hint_that_fixes_them(tmp_path):
    a = bulk_cohort(prefix="A", seed=3)  # GENCODE-style versioned ids
    b = bulk_cohort(prefix="B", seed=3, versioned=False)
    a.to_csv(tmp_path / "cohort_a.csv")
    b.to_csv(tmp_path / "cohort_b.csv")
    paths = [str(tmp_path / "cohort_a.csv"), str(tmp_path / "cohort_b.csv")]
    report = audit(features=paths, only={"features"})
    [f] = _errors(report)
    assert f.check == "features.mismatch" and f.input == "cohort_b.csv"
    assert f.evidence["reasons"] == ["versions"]
    assert f.evidence["overlap"] == {"exact": 0, "unversioned": 300, "casefold": 300}
    assert "covers 300 of 300 (100%) of cohort_a.csv's features after stripping versions" in (
        f.message
    )
    # apply the hint exactly as written to cohort_a.csv, re-audit: clean
    df = pd.read_csv(tmp_path / "cohort_a.csv", index_col=0)
    exec(_statement(f.hint, "cohort_a.csv"), {}, {"df": df})
    df.to_csv(tmp_path / "cohort_a.csv")
    fixed = audit(features=paths, only={"features"})
    assert [x.check for x in fixed.findings if x.severity != "info"] == []


def test_annotation_releases_differ():
    a = bulk_cohort(prefix="A")
    b = a.copy()
    b.columns = [c.rsplit(".", 1)[0] + ".99" if i % 3 == 0 else c for i, c in enumerate(a.columns)]
    [f] = check_features_mismatch(b, a, name="new.csv", other_name="old.csv",
                                  other_is_reference=False)  # fmt: skip
    assert f.evidence["reasons"] == ["releases"]
    assert f.evidence["version_conflicts"] == 100
    assert "annotation releases differ (100 shared genes have other versions)" in f.message


def test_tenx_symbols_against_an_ensembl_reference_in_another_order(tmp_path):
    a = tenx_adata()
    ref = list(a.var["gene_ids"])[::-1]
    (tmp_path / "model_genes.txt").write_text("gene_id\n" + "\n".join(ref) + "\n")
    a.write_h5ad(tmp_path / "cells.h5ad")
    report = audit(
        features=str(tmp_path / "cells.h5ad"),
        reference_features=str(tmp_path / "model_genes.txt"),
        only={"features"},
    )
    [f] = _errors(report)
    assert f.evidence["reasons"] == ["namespace", "order"]
    assert f.evidence["mapped_via"] == "var['gene_ids']"
    assert f.evidence["overlap"]["mapped"] == 300 and f.evidence["overlap"]["exact"] == 0
    assert f.hint == (
        "cells.h5ad: adata.var_names = adata.var['gene_ids'].astype(str); then cells.h5ad: "
        "adata = adata[:, reference].copy()."
    )
    # the hint, applied: clean
    import anndata as ad

    adata = ad.read_h5ad(tmp_path / "cells.h5ad")
    reference = pd.read_csv(tmp_path / "model_genes.txt")["gene_id"].tolist()
    scope = {"adata": adata, "reference": reference}
    for step in f.hint.rstrip(".").split("; then "):
        exec(step.split(": ", 1)[1], {}, scope)
    scope["adata"].write_h5ad(tmp_path / "fixed.h5ad")
    fixed = audit(
        features=str(tmp_path / "fixed.h5ad"),
        reference_features=str(tmp_path / "model_genes.txt"),
        only={"features"},
    )
    assert _errors(fixed) == []


def test_symbols_without_a_mapping_column_use_the_shipped_table():
    g = genes("human", 300, seed=4)
    df = pd.DataFrame(np.ones((3, 300)), columns=g["symbol"])
    [f] = check_features_mismatch(df, g["gene_id"].tolist(), name="cells.csv")
    assert f.evidence["mapped_via"] == "GENCODE 48 (GRCh38)"
    assert f.evidence["reasons"] == ["namespace"]
    exec(_statement(f.hint, "cells.csv").split("; ", 1)[1], {"map_feature_ids": map_feature_ids},
         {"df": df})  # fmt: skip
    assert check_features_mismatch(df, g["gene_id"].tolist(), name="cells.csv") == []


def test_reference_genes_missing_from_the_input():
    g = genes("human", 300)
    df = bulk_cohort(versioned=False).iloc[:, :250]
    [f] = check_features_mismatch(df, g["gene_id"].tolist(), name="bulk.csv",
                                  other_name="model.txt")  # fmt: skip
    assert f.evidence["reasons"] == ["set"]
    assert (f.evidence["n_missing"], f.evidence["n_extra"]) == (50, 0)
    assert f.subjects == g["gene_id"].tolist()[250:]
    assert "covers 250 of 300 (83.3%) of model.txt's features" in f.message


def test_extra_genes_beyond_the_reference_are_fine():
    df = bulk_cohort(versioned=False)
    assert check_features_mismatch(df, list(df.columns[:200]), name="bulk.csv") == []


def test_mouse_input_against_a_human_reference():
    h = genes("human", 300)["symbol"].tolist()
    m = mouse_matrix()
    [f] = check_features_mismatch(m, h, name="mouse.csv")
    assert "organism" in f.evidence["reasons"]
    assert f.evidence["organisms"] == ["mouse", "human"]
    assert "mouse.csv is mouse and reference human" in f.hint


def test_identical_inputs_are_clean():
    a = bulk_cohort()
    report = audit(features=[a, a.copy()], only={"features"})
    assert [f.check for f in report.findings if f.severity != "info"] == []
    ids = {f.check for f in report.findings}
    assert ids == {"features.id_type", "features.raw_mismatch", "features.matrix_roles",
                   "features.log1p_marker"}  # fmt: skip
    notes = [f for f in report.findings if f.evidence.get("not_checked")]
    assert {f.check for f in notes} == {
        "features.raw_mismatch",
        "features.matrix_roles",
        "features.log1p_marker",
    }


def test_one_input_without_a_reference_says_mismatch_was_not_checked():
    report = audit(features=bulk_cohort(), only={"features"})
    [note] = report.by_check("features.mismatch")
    assert note.severity == "info" and "--reference-features" in note.message


# --- real data: the GENCODE 29 GTF shipped with pyranges1 ----------------------------------


def _gencode29() -> pd.DataFrame:
    import gzip

    import pyranges1 as pr

    rows = []
    with gzip.open(pr.example_data.files["gencode_human.gtf.gz"], "rt") as fh:
        for line in fh:
            f = line.split("\t")
            if line.startswith("#") or f[2] != "gene":
                continue
            attrs = dict(re.findall(r'(\S+) "([^"]*)"', f[8]))
            rows.append((attrs["gene_id"], attrs["gene_name"]))
    return pd.DataFrame(rows, columns=["gene_id", "gene_name"])


def test_real_gencode_29_gene_ids():
    gtf = _gencode29()
    assert len(gtf) == 119
    [f] = check_feature_ids(gtf["gene_id"], name="gencode.v29.gtf")
    assert f.evidence["namespace"] == "ensembl_gene" and f.evidence["versions"] == "versioned"
    assert f.evidence["organism"] == "human" and f.evidence["n_fit"] == 119
    # symbols from the shipped GENCODE 48 table agree with GENCODE 29's own names where named
    mapped = map_feature_ids(gtf["gene_id"], to="symbol", organism="human")
    named = mapped != gtf["gene_id"].to_numpy()
    agree = (mapped[named] == gtf["gene_name"][named].to_numpy()).sum()
    # 86 of GENCODE 29's 119 genes still have a name in GENCODE 48, 79 of them the same one
    # (the other 33 had clone-based names such as AL627309.1, since dropped)
    assert (int(named.sum()), int(agree)) == (86, 79)
    # names across releases: symbols of GENCODE 29 against its own ids, mapped by GENCODE 48
    [f] = check_features_mismatch(gtf["gene_name"].tolist(), gtf["gene_id"].tolist(),
                                  name="names_v29", other_name="ids_v29.txt")  # fmt: skip
    assert f.evidence["reasons"] == ["namespace", "set"]
    assert f.evidence["overlap"]["mapped"] == 78 and f.evidence["n_missing"] == 41

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard import alignment
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.alignment._sex_atlas import GTEX_MIDPOINTS, atlas_scores
from biodata_guard.alignment._sex_inference import Y_GENES
from biodata_guard.config import AuditConfig
from biodata_guard.errors import InputError
from biodata_guard.io.matrix import as_matrix
from tests._synth import gene_names, nb_counts
from tests.conftest import DEMO

SWAPPED = [3, 47, 88, 120, 199]
DEMO_SWAPPED = ["S0097", "S0142", "S0223", "S0245", "S0247"]


def expression(n=200, *, seed=0, sex_effect=True, versioned=False):
    """NB counts of 300 genes plus XIST and five chrY genes (Ensembl ids); the reported sex
    column with SWAPPED samples flipped."""
    rng = np.random.default_rng(seed)
    counts = nb_counts(n, 300, seed=seed)
    male = rng.random(n) < 0.5
    depth = counts.sum(axis=1) / np.median(counts.sum(axis=1))
    xist_mu = np.where(male, 1.0, 250.0) if sex_effect else np.full(n, 60.0)
    y_mu = np.where(male, 60.0, 0.3) if sex_effect else np.full(n, 20.0)
    r = 1 / 0.2
    cols = {}
    for symbol, ensembl in alignment.SEX_GENES.items():
        mu = (xist_mu if symbol == "XIST" else y_mu) * depth
        cols[ensembl + (".7" if versioned else "")] = rng.negative_binomial(r, r / (r + mu))
    ids = [f"S{i:03d}" for i in range(n)]
    X = pd.DataFrame(counts, index=ids, columns=gene_names(300)).assign(**cols)
    truth = pd.Series(np.where(male, "male", "female"), index=ids)
    reported = truth.copy()
    reported.iloc[SWAPPED] = np.where(truth.iloc[SWAPPED] == "male", "female", "male")
    return X, reported, truth


def _atlas_score(X):
    """The per-sample score, written out: each chrY gene's log count (prior 2) against XIST's,
    centred on its GTEx v8 midpoint, averaged over the five genes."""
    ensembl = dict(alignment.SEX_GENES)
    log = np.log(X[list(ensembl.values())] + 2.0)
    centred = [log[ensembl[g]] - log[ensembl["XIST"]] - GTEX_MIDPOINTS[g] for g in Y_GENES]
    return sum(centred) / len(centred)


def test_five_swapped_of_200_are_found_exactly():
    X, reported, truth = expression()
    (f,) = alignment.check_sex_concordance(
        X, reported, name="counts.csv", sex_name="samples.csv", sex_col="sex"
    )
    ids = [f"S{i:03d}" for i in SWAPPED]
    assert f.check == alignment.SEX_DISCORDANCE and f.severity == "error"
    assert f.input == "samples.csv"
    assert f.subjects == ids
    ev = f.evidence
    # 6 shallow female libraries (XIST 45-75 counts) sit between the GTEx v8 thresholds
    assert (ev["n_discordant"], ev["n_compared"], ev["n_samples"]) == (5, 194, 200)
    assert (ev["n_uncertain"], ev["n_reported_unknown"]) == (6, 0)
    assert ev["n_reported_female"] == int((reported == "female").sum())
    assert ev["genes"] == {s: [e] for s, e in alignment.SEX_GENES.items()}
    assert ev["method"] == "atlas" and ev["n_clear"] == 194
    assert (ev["female_at_most"], ev["male_at_least"]) == (-2.5, 2.5)
    assert ev["transform"].startswith("log per million (per-sample totals, prior count 2)")
    assert ev["reported"] == {i: reported[i] for i in ids}
    assert ev["inferred"] == {i: truth[i] for i in ids}
    score = _atlas_score(X)
    assert ev["scores"] == pytest.approx({i: score[i] for i in ids}, rel=1e-6)
    assert f.message.startswith("samples.csv, sex: 5 of 194 (2.58%) samples' reported sex ")
    assert "S003 (reported " in f.message


def test_concordant_labels_are_clean():
    X, _, truth = expression(seed=1)
    assert alignment.check_sex_concordance(X, truth) == []


def test_sparse_anndata_and_versioned_ids_give_the_same_calls():
    X, reported, _ = expression(seed=2, versioned=True)
    ids = [f"S{i:03d}" for i in SWAPPED]
    dense = alignment.check_sex_concordance(X, reported)
    csr = alignment.check_sex_concordance(
        sp.csr_matrix(X.to_numpy()), reported.to_numpy(), gene_symbols=X.columns, chunk_size=37
    )
    adata = ad.AnnData(
        sp.csr_matrix(X.to_numpy(dtype=np.float32)),
        obs=pd.DataFrame(index=X.index),
        var=pd.DataFrame(index=X.columns),
    )
    backed_like = alignment.check_sex_concordance(adata, reported, chunk_size=50)
    for found in (dense, csr, backed_like):
        (f,) = found
        assert f.evidence["n_discordant"] == 5
        assert f.evidence["genes"]["XIST"] in (["ENSG00000229807.7"], ["f300"])
    assert dense[0].subjects == ids and backed_like[0].subjects == ids
    assert csr[0].subjects == [str(i) for i in SWAPPED]  # positions: no ids given
    assert csr[0].evidence["scores"] == pytest.approx(
        dict(zip(csr[0].subjects, dense[0].evidence["scores"].values(), strict=True)), rel=1e-5
    )


#: Transcript lengths (kb) of the six sex genes for the TPM case: XIST is the longest.
SEX_GENE_KB = {"XIST": 19.3, "RPS4Y1": 0.9, "DDX3Y": 4.5, "KDM5D": 5.6, "UTY": 8.0, "EIF1AY": 1.8}


@pytest.mark.parametrize(
    ("units", "method"),
    [
        ("tpm", "atlas"),
        ("cpm", "atlas"),
        ("log1p", "clusters"),
        ("zscore", "clusters"),
        ("symbols", "atlas"),
    ],
)
def test_units_do_not_matter(units, method):
    X, reported, _ = expression(seed=3)
    values = X.to_numpy(dtype=np.float64)
    if units == "tpm":
        lengths = np.random.default_rng(0).uniform(500, 5000, X.shape[1])
        for symbol, ensembl in alignment.SEX_GENES.items():
            lengths[X.columns.get_loc(ensembl)] = SEX_GENE_KB[symbol] * 1000
        rpk = values / lengths
        values = rpk / rpk.sum(axis=1, keepdims=True) * 1e6
    elif units == "cpm":
        values = values / values.sum(axis=1, keepdims=True) * 1e6
    elif units == "log1p":
        values = np.log1p(values / values.sum(axis=1, keepdims=True) * 1e4)
    elif units == "zscore":
        logv = np.log1p(values / values.sum(axis=1, keepdims=True) * 1e4)
        values = (logv - logv.mean(axis=0)) / logv.std(axis=0)
    columns = X.columns
    if units == "symbols":
        to_symbol = {e: s for s, e in alignment.SEX_GENES.items()}
        columns = [to_symbol.get(c, c) for c in X.columns]
    (f,) = alignment.check_sex_concordance(
        pd.DataFrame(values, index=X.index, columns=columns), reported
    )
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED]
    assert f.evidence["method"] == method
    expected = {
        "tpm": "log per million (per-sample totals, prior 0.1 per million); per-sample GTEx v8 "
        "thresholds (female <= -2.5, male >= 5.6 allowing for length-normalised values)",
        "log1p": "none (log or scaled values)",
        "zscore": "none (log or scaled values)",
    }
    expected["cpm"] = expected["tpm"]
    expected["symbols"] = (
        "log per million (per-sample totals, prior count 2); per-sample GTEx v8 thresholds "
        "(female <= -2.5, male >= 2.5)"
    )
    assert f.evidence["transform"] == expected[units]


def test_only_chromosome_y_genes_still_work():
    X, reported, _ = expression(seed=4)
    X = X.drop(columns=[alignment.SEX_GENES["XIST"], alignment.SEX_GENES["UTY"]])
    (f,) = alignment.check_sex_concordance(X, reported)
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED]
    assert sorted(f.evidence["genes"]) == ["DDX3Y", "EIF1AY", "KDM5D", "RPS4Y1"]


def test_genes_absent_report_nothing():
    X, reported, _ = expression(seed=5)
    X = X.drop(columns=list(alignment.SEX_GENES.values()))
    res = alignment.infer_sex(X)
    assert res.status == "genes_absent" and dict(res.genes) == {}
    assert res.inferred.isna().all()
    assert alignment.check_sex_concordance(X, reported) == []


def test_weak_signal_warns_when_both_sexes_are_reported():
    X, reported, _ = expression(seed=6, sex_effect=False)
    res = alignment.infer_sex(X)  # XIST 60 vs chrY 20 counts in everyone: between the thresholds
    assert res.status == "weak_signal" and res.method == "clusters" and res.separation < 4
    (f,) = alignment.check_sex_concordance(X, reported, sex_name="samples.csv")
    assert f.check == alignment.SEX_DISCORDANCE and f.severity == "warning"
    assert f.subjects == []
    assert f.evidence["separation"] == pytest.approx(res.separation, rel=1e-5)
    assert f.evidence["min_separation"] == 4.0
    assert f.evidence["n_reported_female"] == int((reported == "female").sum())
    assert "cannot be verified" in f.message
    # a reported single-sex cohort is expected to be unimodal: nothing to say
    assert alignment.check_sex_concordance(X, pd.Series("F", index=X.index)) == []
    # a small cohort (no cluster fit) says how many samples had a clear call
    (g,) = alignment.check_sex_concordance(X.iloc[:8], reported.iloc[:8])
    assert g.severity == "warning" and g.evidence["method"] == "atlas"
    assert (g.evidence["n_clear"], g.evidence["min_samples"]) == (0, 4)
    assert "0 of 8 samples of " in g.message and "needs >= 4" in g.message


def test_intermediate_samples_are_uncertain_not_discordant():
    X, reported, truth = expression(seed=7)
    female = truth.index[truth == "female"][0]
    male = truth.index[truth == "male"][0]
    X.loc[female] = ((X.loc[female] + X.loc[male]) / 2).round()  # a female/male mixture
    reported[female] = "male"
    res = alignment.infer_sex(X)
    assert res.inferred[female] == "uncertain"
    (f,) = alignment.check_sex_concordance(X, reported)
    assert female not in f.subjects and female in f.evidence["uncertain_samples"]
    assert f.evidence["n_compared"] + f.evidence["n_uncertain"] == 200


def test_reported_sex_spellings_are_normalised():
    values = ["F", "female", "Woman", 2, "2.0", "M", " MALE ", "man", 1, 1.0, "0", "unknown", None]
    assert alignment.normalise_sex(values).tolist() == ["female"] * 5 + ["male"] * 5 + [pd.NA] * 3
    X, reported, _ = expression(seed=8)
    plink = reported.map({"female": 2, "male": 1}).astype(float)
    plink.iloc[:10] = np.nan
    (f,) = alignment.check_sex_concordance(X, plink)
    assert f.evidence["n_reported_unknown"] == 10
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED if i >= 10]


def test_reported_sex_is_aligned_by_id():
    X, reported, _ = expression(seed=9)
    (f,) = alignment.check_sex_concordance(X, reported.sample(frac=1, random_state=0))
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED]
    with pytest.raises(InputError, match="one entry per matrix row"):
        alignment.check_sex_concordance(X, reported.to_numpy()[:-1])


def test_demo_dataset_swaps_are_found():
    counts = pd.read_csv(DEMO / "data" / "counts.csv.gz", index_col=0)
    meta = pd.read_csv(DEMO / "data" / "metadata.csv").set_index("sample_id")
    (f,) = alignment.check_sex_concordance(counts, meta["sex"], sex_name="metadata.csv")
    assert f.severity == "error" and f.subjects == DEMO_SWAPPED
    assert (f.evidence["n_discordant"], f.evidence["n_compared"]) == (5, 300)


def test_audit_uses_anndata_var_symbols():
    X, reported, _ = expression(seed=10)
    to_symbol = {e: s for s, e in alignment.SEX_GENES.items()}
    var = pd.DataFrame(
        {"feature_name": [to_symbol.get(c, f"GENE{j}") for j, c in enumerate(X.columns)]},
        index=[f"feature_{j}" for j in range(X.shape[1])],
    )
    adata = ad.AnnData(
        sp.csr_matrix(X.to_numpy(dtype=np.float32)),
        obs=pd.DataFrame({"sex": reported.to_numpy()}, index=X.index),
        var=var,
    )
    cfg = AuditConfig(sex_col="sex")
    ctx = AuditContext(
        config=cfg,
        features=[FeatureInput("cells.h5ad", as_matrix(adata, name="cells.h5ad"), adata=adata)],
        samples=adata.obs.copy(),
        samples_name="cells.h5ad (.obs)",
        aligned=True,
    )
    (f,) = alignment.audit_sex_concordance(ctx)
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED]
    assert f.evidence["genes"]["XIST"] == ["feature_300"]
    assert f.input == "cells.h5ad (.obs)"
    assert ctx.artifacts == {}
    ctx.config = cfg.replace(sex_col=None)
    assert alignment.audit_sex_concordance(ctx) == []


def test_backed_h5ad_keeps_only_the_sex_columns(tmp_path):
    X, reported, _ = expression(seed=11)
    path = tmp_path / "bulk.h5ad"
    ad.AnnData(
        sp.csr_matrix(X.to_numpy(dtype=np.float32)),
        obs=pd.DataFrame(index=X.index),
        var=pd.DataFrame(index=X.columns),
    ).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    (f,) = alignment.check_sex_concordance(backed, reported, chunk_size=32)
    assert f.subjects == [f"S{i:03d}" for i in SWAPPED]
    assert f.evidence == alignment.check_sex_concordance(X, reported)[0].evidence
    backed.file.close()


def test_four_samples_with_a_clear_signal_are_checked():
    X, _, truth = expression(seed=12)
    clear = alignment.infer_sex(X).inferred.isin(["female", "male"])
    four = X.index[clear.to_numpy()][:4]
    swapped = truth.copy()
    swapped[four[0]] = "male" if truth[four[0]] == "female" else "female"
    (f,) = alignment.check_sex_concordance(X.loc[four], swapped[four])
    assert f.subjects == [four[0]]
    assert (f.evidence["n_compared"], f.evidence["method"]) == (4, "atlas")
    assert alignment.check_sex_concordance(X.loc[four], truth[four]) == []
    assert alignment.infer_sex(X.loc[four[:3]]).status == "too_few_samples"


def test_shallow_libraries_fall_back_to_the_two_cluster_fit():
    """Single cells: a few XIST / RPS4Y1 counts each, too few for a per-sample call; with
    enough cells the cohort's scores are clustered instead."""
    rng = np.random.default_rng(13)
    n = 400
    male = rng.random(n) < 0.5
    X = pd.DataFrame(rng.poisson(2.0, (n, 300)), columns=gene_names(300))
    X["XIST"] = rng.poisson(np.where(male, 0.02, 6.0))
    X["RPS4Y1"] = rng.poisson(np.where(male, 6.0, 0.02))
    res = alignment.infer_sex(X)
    assert res.method == "clusters" and res.status == "ok"
    assert (res.inferred[male] != "female").all() and (res.inferred[~male] != "male").all()


def test_per_million_values_need_the_length_margin_for_a_male_call():
    # length-normalised values raise every chrY-vs-XIST contrast (XIST is the longest gene):
    # a female at the GTEx v8 edge can look male in TPM, so a male call needs 2.5 + 3.1
    genes = {"XIST": np.array([5.0, 0.2]), "RPS4Y1": np.array([10.0, 100.0])}
    res = atlas_scores(genes, np.array([1e6, 1e6]), counts=False)
    assert res.calls(pd.Index(["a", "b"])).tolist() == ["uncertain", "male"]
    assert (res.female_at_most, res.male_at_least) == (-2.5, 5.6)

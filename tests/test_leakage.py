"""Tests for biodata_guard.leakage: leaks planted in realistic seeded data, with clean controls."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, StandardScaler

from biodata_guard import leakage as L
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Report, Severity
from biodata_guard.io.matrix import as_matrix
from biodata_guard.leakage import _embedding as embedding
from biodata_guard.leakage import _near_stats as near_stats
from biodata_guard.split import group_split
from tests._synth import cohort

# --- seeded fixtures --------------------------------------------------------------------------


def _expression(meta: pd.DataFrame, *, n_genes: int = 200, seed: int = 0):
    """Bulk RNA-seq-like counts: patient profile x label effect x biological sample variation
    (gamma), then Poisson sequencing noise at a per-sample depth. Returns (counts, expected)
    where ``expected`` re-sequenced at another depth gives a technical replicate."""
    rng = np.random.default_rng(seed)
    gene_mean = rng.lognormal(np.log(200.0), 1.0, n_genes)
    patients = meta["patient_id"].unique()
    profile = dict(zip(patients, rng.lognormal(0.0, 0.4, (len(patients), n_genes)), strict=True))
    tumour = rng.lognormal(0.0, 0.3, n_genes)
    mu = np.stack([profile[p] for p in meta["patient_id"]]) * gene_mean
    mu *= np.where(meta["label"].to_numpy()[:, None] == "tumour", tumour, 1.0)
    lam = rng.gamma(5.0, mu / 5.0)
    depth = rng.lognormal(0.0, 0.3, (len(meta), 1))
    return rng.poisson(lam * depth).astype(np.float64), lam


def _resequence(lam: np.ndarray, *, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(lam * rng.lognormal(0.0, 0.3, (len(lam), 1))).astype(np.float64)


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return cohort(200, seed=0)


@pytest.fixture(scope="module")
def bulk(meta):
    return _expression(meta, seed=1)


def _single_cell(*, n_donors: int = 8, cells_per_donor: int = 150, seed: int = 0) -> ad.AnnData:
    """scRNA-like AnnData: sparse Poisson counts from cell-type means, donors with a disease
    label (per donor), a cell type per cell."""
    rng = np.random.default_rng(seed)
    n_genes = 300
    types = ["T", "B", "NK", "Mono"]
    type_mean = rng.lognormal(-1.5, 1.5, (len(types), n_genes))
    rows = []
    for d in range(n_donors):
        for c in range(cells_per_donor):
            rows.append(
                {
                    "donor": f"D{d}",
                    "label": "disease" if d % 2 else "healthy",
                    "cell_type": types[rng.integers(len(types))],
                    "cell": f"D{d}_C{c:03d}",
                }
            )
    obs = pd.DataFrame(rows).set_index("cell")
    t = obs["cell_type"].map({k: i for i, k in enumerate(types)}).to_numpy()
    donor_effect = rng.lognormal(0.0, 0.2, (n_donors, n_genes))
    d = obs["donor"].str[1:].astype(int).to_numpy()
    mu = type_mean[t] * donor_effect[d] * rng.lognormal(0.0, 0.3, (len(obs), 1))
    X = sp.csr_matrix(rng.poisson(mu).astype(np.float32))
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))


def _ctx(samples, X=None, *, name="features.csv", aligned=True, **config) -> AuditContext:
    features = []
    if X is not None:
        features = [FeatureInput(name=name, view=as_matrix(X, name=name))]
    return AuditContext(
        config=AuditConfig(**config),
        features=features,
        samples=samples,
        samples_name="samples.csv",
        aligned=aligned,
    )


def _by(findings, check):
    return [f for f in findings if f.check == check]


def test_check_ids_are_the_design_vocabulary():
    assert {
        L.ID_OVERLAP,
        L.GROUP_OVERLAP,
        L.DUPLICATE_SAMPLES,
        L.NEAR_DUPLICATES,
        L.METADATA_PREDICTS_LABEL,
        L.PREPROCESSING_BEFORE_SPLIT,
    } == {
        "leakage.id_overlap",
        "leakage.group_overlap",
        "leakage.duplicate_samples",
        "leakage.near_duplicates",
        "leakage.metadata_predicts_label",
        "leakage.preprocessing_before_split",
    }
    assert set(L.__all__) == {n for n in L.__all__ if hasattr(L, n)}


# --- leakage.id_overlap -----------------------------------------------------------------------


def test_id_overlap_planted(meta):
    test_ids = meta.loc[meta["split"] == "test", "sample_id"].iloc[[0, 3, 7, 11]].tolist()
    extra = meta[meta["sample_id"].isin(test_ids)].assign(split="train")
    df = pd.concat([meta, extra], ignore_index=True)
    (f,) = L.check_id_overlap(df, id_col="sample_id", name="samples.csv")
    assert (f.check, f.severity) == ("leakage.id_overlap", Severity.ERROR)
    assert f.evidence["n_overlapping_ids"] == 4
    assert f.evidence["n_ids"] == meta["sample_id"].nunique()
    assert f.evidence["overlap_per_split_pair"] == {"train|test": 4}
    assert f.subjects == sorted(test_ids, key=lambda s: meta.index[meta["sample_id"] == s][0])
    assert f.message.startswith("samples.csv, sample_id: 4 of ")
    assert "group_split" in f.hint


def test_id_overlap_uses_index_and_clean_control(meta):
    assert L.check_id_overlap(meta.set_index("sample_id")) == []
    assert L.check_id_overlap(meta, id_col="sample_id") == []


@pytest.mark.parametrize("kwargs", [{"split_col": "fold"}, {"id_col": "sample"}])
def test_id_overlap_missing_column(meta, kwargs):
    with pytest.raises(InputError) as exc:
        L.check_id_overlap(meta, **kwargs)
    assert exc.value.column == next(iter(kwargs.values()))


def test_id_overlap_rejects_non_frame():
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        L.check_id_overlap(np.zeros((3, 2)))


# --- leakage.group_overlap --------------------------------------------------------------------


def _leak_patients(meta: pd.DataFrame, k: int) -> tuple[pd.DataFrame, list[str]]:
    """Move the last sample of k multi-sample train patients into test."""
    sizes = meta.groupby("patient_id").size()
    train_patients = meta.loc[meta["split"] == "train", "patient_id"].unique()
    chosen = [p for p in train_patients if sizes[p] >= 2][:k]
    df = meta.copy()
    last = df[df["patient_id"].isin(chosen)].groupby("patient_id").tail(1).index
    df.loc[last, "split"] = "test"
    return df, chosen


def test_group_overlap_planted_train_test(meta):
    df, chosen = _leak_patients(meta, 10)
    (f,) = L.check_group_overlap(df, group_cols=["patient_id"], name="samples.csv")
    assert (f.check, f.severity) == ("leakage.group_overlap", Severity.ERROR)
    n_test = int((df["split"] == "test").sum())
    assert n_test == int((meta["split"] == "test").sum()) + 10
    ev = f.evidence
    assert ev["n_groups"] == 200
    assert ev["n_shared_groups"] == 10
    assert ev["shared_groups"] == {"train|test": 10}
    assert ev["n_affected_samples"] == 10
    assert ev["n_evaluated_samples"] == n_test
    assert ev["affected_fraction"] == pytest.approx(10 / n_test, rel=1e-5)
    assert ev["groups_per_split"] == {
        "train": df.loc[df["split"] == "train", "patient_id"].nunique(),
        "test": df.loc[df["split"] == "test", "patient_id"].nunique(),
    }
    assert f.subjects == sorted(chosen)
    assert f.message.startswith("samples.csv, patient_id: 10 of 200 (5%) groups have samples")
    assert "group_split(df, label_col='label', group_cols=['patient_id'])" in f.hint


def test_group_overlap_below_tolerance_is_warning(meta):
    df, _ = _leak_patients(meta, 10)
    (f,) = L.check_group_overlap(df, max_overlap_fraction=0.1)
    assert f.severity == Severity.WARNING


def test_group_overlap_clean_control(meta):
    assert L.check_group_overlap(meta, group_cols=["patient_id"]) == []


def test_group_overlap_fold_column(meta):
    codes = {p: i % 5 for i, p in enumerate(meta["patient_id"].unique())}
    df = meta.assign(fold=meta["patient_id"].map(codes))
    assert L.check_group_overlap(df, split_col="fold") == []
    sizes = df.groupby("patient_id").size()
    moved = [p for p in sizes.index if sizes[p] >= 3][:6]
    last = df[df["patient_id"].isin(moved)].groupby("patient_id").tail(1).index
    df.loc[last, "fold"] = (df.loc[last, "fold"] + 1) % 5
    (f,) = L.check_group_overlap(df, split_col="fold")
    assert f.severity == Severity.ERROR
    assert f.evidence["split_kind"] == "folds"
    assert f.evidence["n_shared_groups"] == 6
    assert f.evidence["n_affected_samples"] == int(sizes[moved].sum())
    assert f.evidence["n_evaluated_samples"] == len(df)
    assert sum(f.evidence["shared_groups"].values()) == 6
    assert "more than one fold" in f.message


def test_group_overlap_bad_input(meta):
    with pytest.raises(InputError) as exc:
        L.check_group_overlap(meta, group_cols=["donor"])
    assert exc.value.column == "donor"
    with pytest.raises(ConfigError):
        L.check_group_overlap(meta, max_overlap_fraction=1.5)


def _shared_per_fold(cv, groups, y=None):
    out = []
    for train, test in cv.split(np.zeros((len(groups), 1)), y):
        out.append(len(set(groups[train]) & set(groups[test])))
    return out


def test_check_cv_splits_group_unaware_splitter(meta):
    groups = meta["patient_id"].to_numpy()
    cv = KFold(5, shuffle=True, random_state=0)
    (f,) = L.check_cv_splits(cv, np.zeros((len(meta), 3)), groups=groups, group_col="patient_id")
    expected = _shared_per_fold(cv, groups)
    assert (f.check, f.severity) == ("leakage.group_overlap", Severity.ERROR)
    assert f.evidence["n_leaky_folds"] == sum(1 for k in expected if k) == 5
    assert [d["n_shared_groups"] for d in f.evidence["folds"]] == expected
    assert f.evidence["n_test_samples"] == len(meta)
    assert "StratifiedGroupKFold" in f.hint and "group_split" in f.hint


def test_check_cv_splits_grouped_clean(meta):
    groups = meta["patient_id"].to_numpy()
    y = meta["label"].to_numpy()
    X = sp.csr_matrix((len(meta), 10))
    cv = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    assert L.check_cv_splits(cv, X, y, groups) == []
    assert L.check_cv_splits(GroupKFold(4), X, y, groups) == []


def test_check_cv_splits_overlapping_indices():
    class Broken:
        def split(self, X, y=None, groups=None):
            yield np.arange(0, 60), np.arange(50, 100)

    (f,) = L.check_cv_splits(Broken(), np.zeros((100, 2)))
    assert f.check == "leakage.id_overlap"
    assert f.evidence["folds"] == [{"fold": 0, "n_shared_rows": 10}]


def test_check_cv_splits_bad_input():
    with pytest.raises(ConfigError):
        L.check_cv_splits(object(), np.zeros((10, 2)))
    with pytest.raises(InputError) as exc:
        L.check_cv_splits(KFold(2), np.zeros((10, 2)), groups=np.arange(9), group_col="donor")
    assert exc.value.column == "donor"


# --- leakage.duplicate_samples ----------------------------------------------------------------


def _with_duplicates(meta, X):
    """Copy 5 train vectors over 5 test samples and 3 train vectors over 3 other train samples."""
    X = X.copy()
    train = np.flatnonzero(meta["split"].to_numpy() == "train")
    test = np.flatnonzero(meta["split"].to_numpy() == "test")
    across = list(zip(test[[2, 9, 20, 33, 47]], train[[5, 40, 77, 120, 300]], strict=True))
    within = list(zip(train[[400, 410, 420]], train[[1, 2, 3]], strict=True))
    for dst, src in across + within:
        X[dst] = X[src]
    return X, across, within


@pytest.mark.parametrize("kind", ["dense", "csr", "frame", "float32"])
def test_duplicate_samples_planted(meta, bulk, kind):
    X, across, within = _with_duplicates(meta, bulk[0])
    ids = meta["sample_id"].to_numpy()
    data = {
        "dense": X,
        "csr": sp.csr_matrix(X),
        "frame": pd.DataFrame(X, index=ids),
        "float32": X.astype(np.float32),
    }[kind]
    found = L.check_duplicate_samples(data, meta["split"], name="counts.csv", chunk_size=97)
    err, info = found
    assert (err.check, err.severity) == ("leakage.duplicate_samples", Severity.ERROR)
    n_test = int((meta["split"] == "test").sum())
    assert err.evidence["n_affected_samples"] == 5
    assert err.evidence["n_evaluated_samples"] == n_test
    assert err.evidence["n_duplicate_groups_across_splits"] == 5
    assert err.evidence["pairs_per_split_pair"] == {"train|test": 5}
    name = (lambda i: ids[i]) if kind == "frame" else str
    assert sorted(err.subjects) == sorted([name(d), name(s)] for d, s in across)
    assert err.message.startswith(f"counts.csv: 5 of {n_test} ")
    assert (info.severity, info.evidence["n_redundant_samples"]) == (Severity.INFO, 3)
    assert info.evidence["redundant_per_split"] == {"train": 3}
    assert sorted(info.subjects) == sorted([name(d), name(s)] for d, s in within)


def test_duplicate_samples_clean_control(meta, bulk):
    assert L.check_duplicate_samples(sp.csr_matrix(bulk[0]), meta["split"]) == []


def test_duplicate_hash_is_representation_independent():
    rng = np.random.default_rng(3)
    X = rng.poisson(0.3, (50, 40)).astype(np.float64)
    X[10, :] = -0.0 * X[10, :]  # a row of negative zeros equals the empty row
    S = sp.csr_matrix(X)
    S.data[S.data == 1] = 1.0  # explicit entries stay; add an explicit zero
    S = sp.csr_matrix((np.r_[S.data, 0.0], np.r_[S.indices, 0], np.r_[S.indptr[:-1], S.nnz + 1]))
    a = L.row_hashes(as_matrix(X), 7)
    b = L.row_hashes(as_matrix(S), 13)
    c = L.row_hashes(as_matrix(X.astype(np.float32)), 50)
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert len(np.unique(a[0][a[2] > 0])) == len({r.tobytes() for r in X[a[2] > 0]})


def test_duplicate_samples_ignores_empty_rows_and_works_without_splits():
    X = np.zeros((6, 4))
    X[0] = X[3] = [1, 0, 2, 0]
    (f,) = L.check_duplicate_samples(X)
    assert f.severity == Severity.INFO
    assert f.evidence["n_empty_rows_ignored"] == 4
    assert f.subjects == [["3", "0"]]
    (g,) = L.check_duplicate_samples(X, ["train", "test", "train", "train", "test", "test"])
    assert (g.severity, g.evidence["n_redundant_samples"]) == (Severity.INFO, 1)


def test_duplicate_samples_bad_input(meta):
    with pytest.raises(InputError, match="one value per row"):
        L.check_duplicate_samples(np.ones((5, 3)), ["train"] * 4)
    with pytest.raises(InputError, match="2-D"):
        L.check_duplicate_samples(np.ones((5, 3, 2)))
    with pytest.raises(InputError) as exc:
        L.check_duplicate_samples(meta)
    assert exc.value.column == "sample_id"


# --- leakage.near_duplicates ------------------------------------------------------------------


def _with_replicates(meta, bulk, k: int, *, seed: int = 7):
    """Append k technical replicates (re-sequenced libraries) of train samples, in test."""
    X, lam = bulk
    train = np.flatnonzero(meta["split"].to_numpy() == "train")
    src = train[np.random.default_rng(seed).choice(len(train), k, replace=False)]
    reps = _resequence(lam[src], seed=seed)
    df = pd.concat(
        [
            meta,
            pd.DataFrame(
                {
                    "sample_id": [f"{meta['sample_id'].iloc[s]}_reseq" for s in src],
                    "patient_id": meta["patient_id"].iloc[src].to_numpy(),
                    "label": meta["label"].iloc[src].to_numpy(),
                    "split": "test",
                    "batch": "B9",
                    "sex": meta["sex"].iloc[src].to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )
    return df, np.vstack([X, reps]), src


def test_near_duplicates_planted_replicates(meta, bulk):
    df, X, src = _with_replicates(meta, bulk, 6)
    view = as_matrix(pd.DataFrame(X, index=df["sample_id"]), name="counts.csv")
    (f,) = L.check_near_duplicates(view, df["split"], chunk_size=128)
    assert (f.check, f.severity) == ("leakage.near_duplicates", Severity.WARNING)
    n_test = int((df["split"] == "test").sum())
    ev = f.evidence
    assert ev["n_near_duplicates"] == 6
    assert ev["n_evaluated_samples"] == n_test
    assert ev["per_split"] == {"test": 6}
    assert ev["calibrated"] is True and ev["threshold_similarity"] is None
    test = ev["tests"]["test"]
    # the six copies lie closer than any of the 600 train samples to its nearest train
    # neighbour (similarity 0.890 at most): the power-law tail puts their rate at ~1e-9
    assert (test["n_reported"], test["n_evaluated"], test["n_calibration"]) == (6, n_test, 600)
    assert test["threshold_similarity"] == min(ev["pair_similarities"])
    assert test["threshold_similarity"] > test["min_within_split_similarity"] > 0.88
    assert test["null_rate"] < 1e-8 and test["expected_by_chance"] < 1e-6
    assert test["p_value"] < 1e-8 and test["alpha"] == 0.01
    assert [t["n_close"] for t in test["count_tests"]] == [6, 6]  # 1.5 and 0.15 expected
    assert test["count_tests"][1]["p"] < 1e-7
    expected = {(f"{meta['sample_id'].iloc[s]}_reseq", meta["sample_id"].iloc[s]) for s in src}
    assert {tuple(p) for p in f.subjects} == expected
    assert ev["pair_similarities"] == sorted(ev["pair_similarities"], reverse=True)
    assert f.message.startswith(f"counts.csv: 6 of {n_test} ")
    assert "rate of 2.6e-09 (4e-07 expected by chance, p = 9.5e-10)" in f.message


def test_near_duplicates_many_is_error_and_sparse_agrees(meta, bulk):
    df, X, _ = _with_replicates(meta, bulk, 20)
    dense = L.check_near_duplicates(X, df["split"])
    sparse = L.check_near_duplicates(sp.csr_matrix(X), df["split"])
    assert dense[0].severity == Severity.ERROR
    assert dense[0].evidence["n_near_duplicates"] == 20
    assert dense[0].subjects == sparse[0].subjects
    for key in ("n_near_duplicates", "per_split", "n_evaluated_samples"):
        assert dense[0].evidence[key] == sparse[0].evidence[key]
    t_dense, t_sparse = dense[0].evidence["tests"]["test"], sparse[0].evidence["tests"]["test"]
    assert t_dense["threshold_similarity"] == pytest.approx(
        t_sparse["threshold_similarity"], abs=1e-4
    )
    assert dense[0].evidence["excess_fraction"] > 0.05


def test_near_duplicates_clean_controls(meta, bulk):
    assert L.check_near_duplicates(bulk[0], meta["split"]) == []
    # patients shared across splits are a group leak, not replicate-level closeness
    df, _ = _leak_patients(meta, 10)
    assert L.check_near_duplicates(bulk[0], df["split"]) == []


def test_near_duplicates_fixed_threshold(meta, bulk):
    (f,) = L.check_near_duplicates(bulk[0], meta["split"], similarity=0.5)
    assert f.evidence["calibrated"] is False
    assert f.evidence["threshold_similarity"] == 0.5
    assert f.evidence["n_near_duplicates"] > 6
    assert "fixed threshold" in f.message


def test_near_duplicates_is_deterministic(meta, bulk):
    df, X, _ = _with_replicates(meta, bulk, 6)
    a = L.check_near_duplicates(X, df["split"], seed=3, max_fit_rows=300)
    b = L.check_near_duplicates(X, df["split"], seed=3, max_fit_rows=300)
    assert json.dumps([f.to_dict() for f in a]) == json.dumps([f.to_dict() for f in b])
    assert a[0].evidence["embedding"]["n_fit_rows"] == 300


@pytest.mark.parametrize("sparse", [False, True])
def test_near_duplicates_leave_out_rows_with_nan_and_still_find_the_others(meta, bulk, sparse):
    """NaN/inf cells are reported by units.invalid_values; the near-duplicate check compares
    the other rows instead of stopping the audit."""
    df, X, _ = _with_replicates(meta, bulk, 6)
    X = X.astype(float)
    test_rows = np.flatnonzero(df["split"].to_numpy() == "test")
    X[test_rows[0], 4] = np.nan  # a test sample that is not a planted replicate
    X[test_rows[1], 7] = np.inf
    X = sp.csr_matrix(X) if sparse else X
    (f,) = L.check_near_duplicates(X, df["split"], chunk_size=128)
    assert f.evidence["n_near_duplicates"] == 6
    assert f.evidence["n_non_finite_samples_skipped"] == 2
    assert f.evidence["n_evaluated_samples"] == len(test_rows) - 2


def test_near_duplicates_clean_single_cell_splits_raise_nothing():
    """Cells of one type are close by nature: random and donor-aware splits of a clean
    single-cell cohort give no near-duplicate finding (the excess test, not a per-pair cut)."""
    adata = _single_cell(seed=3)
    donors = adata.obs["donor"].to_numpy()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        random = np.where(rng.random(adata.n_obs) < 0.2, "test", "train")
        assert L.check_near_duplicates(adata, random, seed=seed) == []
    by_donor = np.where(np.isin(donors, ["D1", "D6"]), "test", "train")
    assert L.check_near_duplicates(adata, by_donor) == []


def test_near_duplicates_one_reuploaded_cell_is_found():
    adata = _single_cell(seed=3)
    split = np.where(np.random.default_rng(0).random(adata.n_obs) < 0.2, "test", "train")
    X = adata.X.toarray()
    test_row, train_row = np.flatnonzero(split == "test")[0], np.flatnonzero(split == "train")[7]
    # a re-uploaded copy: the training cell's counts with a little noise (+1 on ~5% of genes)
    X[test_row] = X[train_row] + np.random.default_rng(1).poisson(0.05, X.shape[1])
    (f,) = L.check_near_duplicates(sp.csr_matrix(X), split)
    assert f.subjects == [[str(test_row), str(train_row)]]
    assert f.severity == Severity.WARNING
    test = f.evidence["tests"]["test"]
    assert test["p_value"] <= test["alpha"] == 0.01


def test_near_duplicates_across_folds():
    adata = _single_cell(seed=4, n_donors=4)
    folds = np.arange(adata.n_obs) % 5
    assert L.check_near_duplicates(adata, folds) == []
    X = adata.X.toarray()
    X[[1, 2]] = X[[10, 20]]  # fold 1 <- fold 0, fold 2 <- fold 0 (exact copies)
    (f,) = L.check_near_duplicates(sp.csr_matrix(X), folds)
    assert sorted(map(tuple, f.subjects)) == [("1", "10"), ("10", "1"), ("2", "20"), ("20", "2")]
    assert f.evidence["per_split"] == {"0": 2, "1": 1, "2": 1}
    assert set(f.evidence["tests"]) == {"0", "1", "2", "3", "4"}
    assert all(t["alpha"] == 0.01 / 5 for t in f.evidence["tests"].values())


def test_near_duplicate_test_keeps_its_false_alarm_rate():
    """The ladder test on exchangeable draws (calibration and test from one distribution of
    nearest-neighbour distances, power-law lower tail): rejections at most alpha."""
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(400):
        draws = 0.2 * rng.uniform(0, 1, 700) ** (1 / 6)  # P(D <= t) ~ t^6 near 0
        null = near_stats.null_closeness(draws[:560])
        alarms += near_stats.excess_test(null, draws[560:]).p_value <= 0.05
    assert alarms <= 0.05 * 400 + 2 * np.sqrt(0.05 * 0.95 * 400)  # 28: alpha + 2 SE


def test_near_duplicates_bad_input(meta, bulk):
    with pytest.raises(ConfigError):
        L.check_near_duplicates(bulk[0], meta["split"], similarity=1.5)
    with pytest.raises(InputError, match="one value per row"):
        L.check_near_duplicates(bulk[0], meta["split"][:-1])


# --- leakage.metadata_predicts_label ----------------------------------------------------------


def _with_shortcuts(meta: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    tumour = meta["label"].eq("tumour").to_numpy()
    df = meta.copy()
    # the clinic recruited all tumours: site equals the label
    df["site"] = np.where(tumour, "clinic_A", "clinic_B")
    # plate mostly follows the label, per patient (4% of patients on the other plate)
    flip = dict(zip(df["patient_id"].unique(), rng.random(200) < 0.04, strict=True))
    f = df["patient_id"].map(flip).to_numpy()
    df["plate"] = np.where(tumour ^ f, "plate1", "plate2")
    # accession numbers handed out tumours first
    order = np.argsort(~tumour, kind="stable")
    acc = np.empty(len(df), dtype=object)
    acc[order] = [f"ACC{i:05d}" for i in range(len(df))]
    df["accession"] = acc
    return df


def test_metadata_predicts_label_planted(meta):
    df = _with_shortcuts(meta)
    found = L.check_metadata_predicts_label(
        df,
        label_col="label",
        metadata_cols=["site", "plate", "accession", "batch", "sex"],
        group_col="patient_id",
        name="samples.csv",
    )
    by_col = {f.evidence["column"]: f for f in found}
    assert set(by_col) == {"site", "plate", "accession"}
    site = by_col["site"]
    assert (site.check, site.severity) == ("leakage.metadata_predicts_label", Severity.ERROR)
    assert site.evidence["cramers_v"] == 1.0
    assert site.evidence["balanced_accuracy"] == 1.0
    n_t = int(meta["label"].eq("tumour").sum())
    assert site.evidence["label_counts_by_level"] == {
        "clinic_A": {"tumour": n_t},
        "clinic_B": {"normal": len(meta) - n_t},
    }
    plate = by_col["plate"]
    assert plate.severity == Severity.WARNING
    table = pd.crosstab(df["plate"], df["label"])
    recall = (
        table.loc["plate1", "tumour"] / n_t + table.loc["plate2", "normal"] / (len(df) - n_t)
    ) / 2
    assert plate.evidence["balanced_accuracy"] == pytest.approx(recall, rel=1e-5)
    assert plate.evidence["label_counts_by_level"]["plate1"] == {
        k: int(v) for k, v in table.loc["plate1"].items()
    }
    acc = by_col["accession"]
    assert (acc.severity, acc.evidence["kind"], acc.evidence["n_levels"]) == (
        Severity.WARNING,
        "identifier",
        10,
    )
    assert "numbered in label order" in acc.message
    assert all("group_split" in f.hint for f in found)


def test_metadata_predicts_label_clean_control(meta):
    assert (
        L.check_metadata_predicts_label(
            meta, metadata_cols=["batch", "sex", "sample_id"], group_col="patient_id"
        )
        == []
    )


def test_metadata_missing_values_and_numeric_columns(meta):
    rng = np.random.default_rng(2)
    tumour = meta["label"].eq("tumour").to_numpy()
    df = meta.assign(
        stage=np.where(tumour, rng.choice(["I", "II", "III"], len(meta)), None),
        age=rng.normal(60, 10, len(meta)),
    )
    (f,) = L.check_metadata_predicts_label(df, metadata_cols=["stage", "age"])
    assert f.evidence["column"] == "stage"
    assert f.evidence["label_counts_by_level"]["<missing>"] == {"normal": int((~tumour).sum())}


def test_metadata_predicts_label_bad_input(meta):
    with pytest.raises(InputError) as exc:
        L.check_metadata_predicts_label(meta, label_col="diagnosis")
    assert exc.value.column == "diagnosis"


# --- leakage.preprocessing_before_split -------------------------------------------------------


def _log_expr(bulk):
    return np.log1p(bulk[0])


@pytest.mark.parametrize(
    ("scaler", "kind"),
    [
        (StandardScaler(), "standardised"),
        (MinMaxScaler(), "range"),
        (QuantileTransformer(n_quantiles=500), "range"),
    ],
)
def test_preprocessing_before_split_planted(meta, bulk, scaler, kind):
    X = _log_expr(bulk)
    splits = meta["split"].to_numpy()
    pooled = scaler.fit_transform(X)
    found = L.check_preprocessing_before_split(pooled, splits, name="expr.csv")
    (f,) = found
    # a scaler fitted on the pooled samples fails the gate (error, as the README table says)
    assert (f.check, f.severity, f.evidence["kind"]) == (
        "leakage.preprocessing_before_split",
        Severity.ERROR,
        kind,
    )
    n_cons = f.evidence["n_features_considered"]
    assert n_cons == 200
    assert f.evidence["n_pooled_exact"] == 200
    assert max(f.evidence["split_exact"].values()) < 0.95 * 200
    assert "at most 0" not in f.message
    if kind == "standardised":
        assert f.evidence["split_exact"] == {"train": 0, "test": 0}
        assert "exactly over all splits pooled, but none within any split (largest" in f.message
    else:
        assert f.evidence["range"] == [0.0, 1.0]
        worst = max(f.evidence["split_exact"], key=f.evidence["split_exact"].get)
        k = f.evidence["split_exact"][worst]
        assert f"but only {k} of 200 " in f.message and f"within '{worst}'" in f.message
    # control: the same scaler fitted on train only
    train = splits == "train"
    fitted = scaler.fit(X[train])
    proper = np.empty_like(X)
    proper[train], proper[~train] = fitted.transform(X[train]), fitted.transform(X[~train])
    assert L.check_preprocessing_before_split(proper, splits) == []


def _quantile_normalise(X: np.ndarray) -> np.ndarray:
    order = np.argsort(X, axis=1, kind="stable")
    reference = np.sort(X, axis=1).mean(axis=0)
    out = np.empty_like(X)
    np.put_along_axis(out, order, np.broadcast_to(reference, X.shape), axis=1)
    return out


def test_preprocessing_quantile_normalised_rows(meta, bulk):
    X = _quantile_normalise(_log_expr(bulk))
    (f,) = L.check_preprocessing_before_split(sp.csr_matrix(X), meta["split"], chunk_size=100)
    assert f.evidence["kind"] == "quantile_normalised_rows"
    assert f.severity == Severity.WARNING  # a train-only reference leaves the same fingerprint
    assert f.evidence["n_identical"] == len(meta)
    assert f.evidence["per_split"] == meta["split"].value_counts().to_dict()


def test_preprocessing_clean_controls(meta, bulk):
    splits = meta["split"]
    assert L.check_preprocessing_before_split(bulk[0], splits) == []
    assert L.check_preprocessing_before_split(sp.csr_matrix(_log_expr(bulk)), splits) == []
    ranks = np.argsort(np.argsort(bulk[0], axis=1), axis=1).astype(float) + 0.5
    assert L.check_preprocessing_before_split(ranks, splits) == []
    binary = (bulk[0] > 40).astype(float)
    assert L.check_preprocessing_before_split(binary, splits) == []


def test_preprocessing_bad_input(bulk):
    with pytest.raises(InputError, match="one value per row"):
        L.check_preprocessing_before_split(bulk[0], None)


# --- audit_leakage ----------------------------------------------------------------------------


def test_audit_leakage_cohort_with_planted_patient_leak(meta, bulk):
    df, _ = _leak_patients(meta, 10)
    X, across, _ = _with_duplicates(meta, bulk[0])
    samples = df.set_index("sample_id")
    ctx = _ctx(
        samples,
        pd.DataFrame(X, index=samples.index),
        split_col="split",
        group_cols=["patient_id"],
        label_col="label",
        seed=0,
    )
    found = L.audit_leakage(ctx)
    checks = sorted({f.check for f in found})
    # exact duplicates are also (similarity 1) near duplicates
    assert checks == [
        "leakage.duplicate_samples",
        "leakage.group_overlap",
        "leakage.near_duplicates",
    ]
    (nd,) = _by(found, "leakage.near_duplicates")
    still_train = [(d, s) for d, s in across if df["split"].iloc[s] == "train"]
    assert nd.evidence["n_near_duplicates"] == len(still_train) == 4
    assert {tuple(p) for p in nd.subjects} == {
        (meta["sample_id"].iloc[d], meta["sample_id"].iloc[s]) for d, s in still_train
    }
    (g,) = _by(found, "leakage.group_overlap")
    assert (g.severity, g.evidence["n_shared_groups"], g.input) == (
        Severity.ERROR,
        10,
        "samples.csv",
    )
    err = next(f for f in _by(found, "leakage.duplicate_samples") if f.severity == "error")
    assert err.input == "features.csv"
    assert err.evidence["n_affected_samples"] == 4  # one source moved to test with its patient
    assert all("group_split" in f.hint for f in found if f.severity != "info")
    art = ctx.artifacts["leakage"]["group_overlap"]["patient_id"]
    assert art["shared_groups"] == {"train|test": 10}
    assert set(art["groups_per_split"]) == {"train", "test"}
    report = Report(findings=found, artifacts=ctx.artifacts)
    json.loads(report.to_json())


def test_audit_leakage_clean_cohort(meta, bulk):
    samples = meta.set_index("sample_id")
    ctx = _ctx(
        samples,
        pd.DataFrame(bulk[0], index=samples.index),
        split_col="split",
        group_cols=["patient_id"],
        label_col="label",
    )
    assert L.audit_leakage(ctx) == []
    assert ctx.artifacts["leakage"]["group_overlap"]["patient_id"]["shared_groups"] == {
        "train|test": 0
    }


def test_audit_leakage_aligns_unaligned_samples_by_id(meta, bulk):
    df, X, _ = _with_replicates(meta, bulk, 6)
    samples = df.set_index("sample_id")
    shuffled = samples.sample(frac=1.0, random_state=0)
    ctx = _ctx(
        shuffled,
        pd.DataFrame(X, index=samples.index),
        aligned=False,
        split_col="split",
        group_cols=["patient_id"],
        label_col="label",
    )
    found = L.audit_leakage(ctx)
    assert [f.evidence["n_near_duplicates"] for f in _by(found, "leakage.near_duplicates")] == [6]
    # the replicates share patients with train: group overlap reports them too
    assert _by(found, "leakage.group_overlap")[0].evidence["n_affected_samples"] == 6


def test_audit_leakage_single_cell_donors():
    adata = _single_cell()
    rng = np.random.default_rng(0)
    # cells split at random: every donor sits in train and test
    adata.obs["split"] = np.where(rng.random(adata.n_obs) < 0.2, "test", "train")
    X = adata.X.tolil()
    train = np.flatnonzero(adata.obs["split"] == "train")
    test = np.flatnonzero(adata.obs["split"] == "test")
    for dst, src in zip(test[:4], train[:4], strict=True):  # 4 cells duplicated into test
        X[dst] = X[src]
    adata.X = X.tocsr()
    ctx = AuditContext(
        config=AuditConfig(split_col="split", group_cols=["donor"], label_col="label"),
        features=[FeatureInput("cells.h5ad", as_matrix(adata, name="cells.h5ad"), adata=adata)],
        samples=adata.obs,
        samples_name="cells.h5ad",
        aligned=True,
    )
    found = L.audit_leakage(ctx)
    (g,) = _by(found, "leakage.group_overlap")
    assert g.severity == Severity.ERROR
    assert g.evidence["n_groups"] == g.evidence["n_shared_groups"] == 8
    assert g.evidence["n_affected_samples"] == len(test)
    assert g.evidence["affected_fraction"] == 1.0
    (d,) = _by(found, "leakage.duplicate_samples")
    assert d.evidence["n_affected_samples"] == 4
    assert sorted(d.subjects) == sorted(
        [adata.obs_names[t], adata.obs_names[s]] for t, s in zip(test[:4], train[:4], strict=True)
    )
    # the safe split: by donor
    adata.obs["split"] = group_split(adata.obs, label_col="label", group_cols=["donor"]).values
    adata.X = _single_cell().X
    ctx = AuditContext(
        config=AuditConfig(split_col="split", group_cols=["donor"], label_col="label"),
        features=[FeatureInput("cells.h5ad", as_matrix(adata, name="cells.h5ad"), adata=adata)],
        samples=adata.obs,
        samples_name="cells.h5ad",
        aligned=True,
    )
    assert L.audit_leakage(ctx) == []


def test_audit_leakage_is_deterministic(meta, bulk):
    df, X, _ = _with_replicates(meta, bulk, 6)
    df = _with_shortcuts(df)
    samples = df.set_index("sample_id")

    def run():
        ctx = _ctx(
            samples,
            pd.DataFrame(X, index=samples.index),
            split_col="split",
            group_cols=["patient_id"],
            label_col="label",
            seed=4,
        )
        return Report(findings=L.audit_leakage(ctx), artifacts=ctx.artifacts).to_json()

    first = run()
    assert first == run()
    assert "leakage.metadata_predicts_label" in first


def test_audit_leakage_skips_what_is_not_configured(meta):
    assert L.audit_leakage(_ctx(None)) == []
    assert L.audit_leakage(_ctx(meta.set_index("sample_id"))) == []


def test_audit_leakage_missing_configured_column(meta):
    ctx = _ctx(meta.set_index("sample_id"), split_col="split", group_cols=["donor"])
    with pytest.raises(InputError) as exc:
        L.audit_leakage(ctx)
    assert exc.value.column == "donor"


def test_near_duplicate_search_past_the_exact_budget_uses_an_index(monkeypatch):
    # Force the faiss inverted-file search on a small problem: it must find the planted
    # re-sequenced copies, say how it searched, and be deterministic.
    monkeypatch.setattr(embedding, "_EXACT_PAIRS", 0)
    rng = np.random.default_rng(4)
    X = rng.poisson(rng.gamma(2.0, 20.0, (3000, 200))).astype(float)
    copies = np.arange(10)
    X[2990:] = rng.poisson(X[copies])
    splits = np.array(["train"] * 2400 + ["test"] * 600)
    first = L.check_near_duplicates(X, splits, name="m")
    (f,) = first
    assert f.evidence["search"] == {"test": "faiss IVF (97 cells, 8 probed)"}  # 2 sqrt(2400)
    found = {tuple(pair) for pair in f.subjects}
    assert {(str(2990 + i), str(i)) for i in copies} <= found
    assert L.check_near_duplicates(X, splits, name="m")[0].to_dict() == f.to_dict()


def test_the_index_search_skips_the_query_itself_and_identical_rows():
    # Every cell probed: the index must give what the exact search gives, with the same rules.
    rng = np.random.default_rng(8)
    R = rng.normal(size=(2000, 16)).astype(np.float32)
    R[5] = R[9]  # two identical rows: one sample stored twice is not its own neighbour
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    nb = embedding.neighbour_index(R, 10**7, seed=0)  # past the exact budget: an index
    assert nb.how.startswith("faiss IVF") and nb.index is not None
    nb.index.nprobe = nb.index.nlist
    queries = np.array([0, 5, 9, 1500])
    below = np.float32(1.0 - near_stats.DISTANCE_FLOOR)
    got = embedding.query(nb, R[queries], queries, below=below)
    want = embedding.nearest(R[queries], R, queries, below=below)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert 9 not in got[1][:2] and 5 not in got[1][:2]


def test_near_duplicates_through_the_index_keep_clean_splits_clean(monkeypatch):
    # The calibration searches with the evaluated rows' index, so the approximate search
    # does not make distinct cells look closer or farther than the null says.
    monkeypatch.setattr(embedding, "_EXACT_PAIRS", 0)
    adata = _single_cell(seed=3)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        random = np.where(rng.random(adata.n_obs) < 0.2, "test", "train")
        assert L.check_near_duplicates(adata, random, seed=seed) == []

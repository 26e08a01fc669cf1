"""biodata_guard.leakage: its declarations, its pandera methods, and the checks that say why they
could not run (``not checked`` info findings) instead of returning nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biodata_guard import leakage as L
from biodata_guard import registry
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError
from biodata_guard.findings import Severity
from biodata_guard.io.matrix import as_matrix
from biodata_guard.leakage._pandera import no_group_overlap, unique_per_split
from tests._synth import cohort

IDS = {
    "leakage.id_overlap",
    "leakage.group_overlap",
    "leakage.duplicate_samples",
    "leakage.near_duplicates",
    "leakage.metadata_predicts_label",
    "leakage.preprocessing_before_split",
}


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return cohort(120, seed=3)


def _not_checked(findings):
    assert findings, "expected a not-checked finding"
    for f in findings:
        assert f.severity == Severity.INFO and f.evidence["not_checked"] is True
    return [f.evidence["reason"] for f in findings]


# --- declarations -----------------------------------------------------------------------------


def test_every_leakage_id_is_declared_in_the_leakage_group():
    specs = {s.id: s for s in registry.checks("leakage")}
    assert set(specs) == IDS
    assert all(s.module.startswith("biodata_guard.leakage.") for s in specs.values())
    group = registry.get_group("leakage")
    assert (group.order, group.title) == (30, "Leakage")
    assert group.run is L.audit_leakage and group.shared_pass is L.stream_accumulators


def test_declared_needs_params_and_severities():
    spec = registry.get_check
    assert spec(L.GROUP_OVERLAP).needs == ("split", "groups")
    assert spec(L.GROUP_OVERLAP).params == ("max_overlap_fraction",)
    assert spec(L.GROUP_OVERLAP).severities == ("warning", "error")
    assert spec(L.ID_OVERLAP).needs == ("split",)
    assert spec(L.DUPLICATE_SAMPLES).needs == ("features",)
    assert spec(L.DUPLICATE_SAMPLES).severities == ("info", "error")
    assert spec(L.NEAR_DUPLICATES).needs == ("features", "split")
    assert spec(L.NEAR_DUPLICATES).params == (
        "near_duplicate_similarity",
        "near_duplicate_alpha",
        "seed",
    )
    assert spec(L.METADATA_PREDICTS_LABEL).needs == ("labels",)
    assert "shortcut_score" in spec(L.METADATA_PREDICTS_LABEL).params
    # pooled scaling fails the gate; quantile normalisation (undecidable) warns
    assert spec(L.PREPROCESSING_BEFORE_SPLIT).severities == ("error", "warning")


@pytest.mark.parametrize(
    ("name", "default", "inside", "outside"),
    [
        ("max_overlap_fraction", 0.0, [0, 0.5, 1], [-0.1, 1.5]),
        ("shortcut_score", 0.8, [0, 1], [1.01, -1]),
        ("near_duplicate_similarity", None, [-1, 0.99, 1], [1.5, -2]),
        ("near_duplicate_alpha", 0.01, [1e-6, 0.05, 0.5], [0, 1, -0.1, 1.5]),
    ],
)
def test_parameters_are_declared_with_their_ranges(name, default, inside, outside):
    p = registry.get_param(name)
    assert (p.default, p.section, p.yaml_key, p.kind) == (default, "thresholds", name, "float")
    assert all(v in p.valid for v in inside)
    assert not any(v in p.valid for v in outside)


def test_out_of_range_keywords_are_config_errors(meta):
    with pytest.raises(ConfigError, match=r"max_overlap_fraction must be a number in \[0, 1\]"):
        L.check_group_overlap(meta, max_overlap_fraction=-0.5)
    with pytest.raises(ConfigError, match="shortcut_score"):
        L.check_metadata_predicts_label(meta, shortcut_score=2.0)
    with pytest.raises(ConfigError, match=r"similarity must be a number in \[-1, 1\]") as exc:
        L.check_near_duplicates(np.ones((4, 3)), ["train"] * 4, similarity=3)
    assert exc.value.key == "near_duplicate_similarity"
    with pytest.raises(ConfigError, match=r"alpha must be a number in \(0, 1\)") as exc:
        L.check_near_duplicates(np.ones((4, 3)), ["train"] * 4, alpha=0)
    assert exc.value.key == "near_duplicate_alpha"


def test_pandera_methods_are_attached():
    methods = registry.pandera_methods()
    assert methods[unique_per_split].statistics == ("id_col", "split_col")
    assert methods[no_group_overlap].statistics == ("group_col", "split_col")
    assert {methods[unique_per_split].kind, methods[no_group_overlap].kind} == {"frame"}
    assert registry.get_check(L.ID_OVERLAP).pandera.fn is unique_per_split
    assert registry.get_check(L.GROUP_OVERLAP).pandera.fn is no_group_overlap


def test_pandera_methods_flag_the_rows_the_checks_report(meta):
    moved = meta[meta["split"] == "train"].iloc[:3].assign(split="test")
    df = pd.concat([meta, moved], ignore_index=True)
    ok = unique_per_split(df, id_col="sample_id", split_col="split")
    (f,) = [f for f in L.check_id_overlap(df, id_col="sample_id") if f.severity == "error"]
    assert set(df.loc[~ok, "sample_id"]) == set(f.subjects)
    ok = no_group_overlap(df, group_col="patient_id", split_col="split")
    (g,) = L.check_group_overlap(df)
    assert set(df.loc[~ok, "patient_id"]) == set(g.subjects)
    assert unique_per_split(df, id_col="nope", split_col="split").all()


# --- not checked ------------------------------------------------------------------------------


def test_overlap_checks_with_one_split_say_so(meta):
    one = meta.assign(split="train")
    (reason,) = _not_checked(L.check_id_overlap(one, id_col="sample_id"))
    assert reason == "split holds 1 split(s) (train); needs >= 2"
    assert _not_checked(L.check_group_overlap(one)) == [reason]


def test_group_overlap_on_an_empty_group_column_says_so(meta):
    found = L.check_group_overlap(meta.assign(family=None), group_cols=["patient_id", "family"])
    assert _not_checked(found) == [f"family holds no group on the {len(meta)} rows with a split"]
    assert found[0].evidence["group_col"] == "family"


def test_metadata_with_one_label_class_says_so(meta):
    (reason,) = _not_checked(L.check_metadata_predicts_label(meta.assign(label="tumour")))
    assert reason == f"label holds 1 class(es) on {len(meta)} labelled rows; needs >= 2"


def test_feature_checks_that_cannot_run_say_so():
    rng = np.random.default_rng(0)
    two = ["train"] * 10 + ["test"] * 10
    assert _not_checked(L.check_near_duplicates(rng.poisson(5.0, (20, 1)), two)) == [
        "fewer than 2 features"
    ]
    assert _not_checked(L.check_near_duplicates(rng.poisson(5.0, (20, 4)), ["train"] * 20)) == [
        "split holds 1 split(s) (train); needs >= 2"
    ]
    (reason,) = _not_checked(L.check_near_duplicates(rng.poisson(5.0, (3, 4)), two[9:12]))
    assert reason == (
        "'train' holds 1 sample; the near-duplicate test needs >= 20 to calibrate "
        "(pass similarity=... for a fixed threshold)"
    )
    assert _not_checked(L.check_preprocessing_before_split(np.ones((20, 0)), two)) == [
        "the matrix has no features"
    ]
    assert _not_checked(L.check_preprocessing_before_split(np.ones((4, 3)), [None] * 4)) == [
        "split holds 0 split(s); needs >= 2"
    ]


def test_audit_says_when_the_split_cannot_be_matched_to_the_matrix(meta):
    samples = meta.set_index("sample_id")
    X = np.random.default_rng(1).poisson(20.0, (len(samples), 30)).astype(float)
    ids = [f"other{i}" for i in range(len(samples) - 5)] + list(samples.index[:5])
    view = as_matrix(pd.DataFrame(X, index=ids), name="counts.csv")
    ctx = AuditContext(
        config=AuditConfig(split_col="split"),
        features=[FeatureInput("counts.csv", view)],
        samples=samples,
        samples_name="samples.csv",
        aligned=False,
    )
    found = [f for f in L.audit_leakage(ctx) if f.evidence.get("not_checked")]
    assert {f.check for f in found} == {L.NEAR_DUPLICATES, L.PREPROCESSING_BEFORE_SPLIT}
    assert {f.input for f in found} == {"counts.csv"}
    assert found[0].evidence["reason"] == (
        f"split cannot be matched to the rows of counts.csv (5 of {len(samples)} row ids found "
        "in samples.csv)"
    )

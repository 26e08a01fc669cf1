"""The replicates group's declarations, its parameters' ranges, and its ``not checked`` findings."""

import numpy as np
import pandas as pd
import pytest

from biodata_guard import registry, replicates
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError
from biodata_guard.io.matrix import as_matrix
from biodata_guard.replicates._result import metric_key


def not_checked(findings):
    return sorted((f.check, f.input) for f in findings if f.evidence.get("not_checked"))


def sheet(n_groups, k=2, *, labels=None, seed=0):
    rng = np.random.default_rng(seed)
    n = n_groups * k
    ids = [f"s{i:03d}" for i in range(n)]
    y = np.repeat(rng.normal(0, 1, n_groups), k) + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {"target": y if labels is None else labels, "rep": np.repeat(np.arange(n_groups), k)},
        index=ids,
    )


# --- declarations -----------------------------------------------------------------------------


def test_the_group_and_its_checks_are_declared_once_with_what_they_need():
    group = registry.get_group("replicates")
    assert (group.title, group.order, group.run) == (
        "Replicates",
        60,
        replicates.audit_replicates,
    )
    assert group.shared_pass is None
    specs = {s.id: s for s in registry.checks("replicates")}
    assert sorted(specs) == sorted(replicates.CHECK_IDS)
    assert [str(s) for s in specs[replicates.CEILING].severities] == ["info"]
    assert specs[replicates.CEILING].needs == ("replicates",)
    score = specs[replicates.SCORE_ABOVE_CEILING]
    assert [str(s) for s in score.severities] == ["error"]
    assert score.needs == ("replicates", "labels", "reported_score")
    assert {"reported_metric", "reported_score"} <= set(score.params)
    low = specs[replicates.LOW_AGREEMENT]
    assert [str(s) for s in low.severities] == ["warning"]
    assert low.needs == ("replicates",) and "alpha" in low.params


def test_reported_metric_accepts_exactly_the_spellings_the_check_reads():
    p = registry.get_param("reported_metric")
    assert (p.section, p.yaml_key, p.kind, p.default) == (
        "expectations",
        "reported_metric",
        "str",
        None,
    )
    for name in replicates.METRICS:
        assert registry.coerce(p, name, where="") == name
        metric_key(name)  # the check reads every accepted name
    for spelling in ("Pearson", "R2", "Balanced-Accuracy", "cohen kappa"):
        assert registry.coerce(p, spelling, where="") == spelling
        metric_key(spelling)
    with pytest.raises(ConfigError, match="reported_metric") as err:
        registry.coerce(p, "pearsn", where="")
    assert "pearson" in err.value.hint
    with pytest.raises(ConfigError):
        metric_key("pearsn")


def test_reported_score_takes_any_score_of_the_supported_metrics():
    p = registry.get_param("reported_score")
    assert (p.section, p.yaml_key, p.kind, p.default) == (
        "expectations",
        "reported_score",
        "float",
        None,
    )
    for score in (1, 1.0, 0.93, 0.0, -0.4, -3.5):  # R2 can be far below 0
        assert registry.coerce(p, score, where="") == float(score)
    for bad in (1.01, 93, float("nan"), "0.9", True):
        with pytest.raises(ConfigError, match="reported_score"):
            registry.coerce(p, bad, where="")


# --- not checked ------------------------------------------------------------------------------


def test_too_few_groups_say_which_checks_did_not_run():
    samples = sheet(3)
    cfg = AuditConfig(
        replicate_col="rep", label_col="target", reported_metric="r", reported_score=0.9
    )
    found = replicates.audit_replicates(AuditContext(config=cfg, samples=samples))
    assert [f.check for f in found if not f.evidence.get("not_checked")] == [replicates.CEILING]
    assert not_checked(found) == [
        (replicates.LOW_AGREEMENT, "metadata"),
        (replicates.SCORE_ABOVE_CEILING, "metadata"),
    ]
    (f,) = [f for f in found if f.check == replicates.LOW_AGREEMENT]
    assert f.severity == "info"
    assert f.message == (
        "replicates.low_agreement: not checked: 3 rep group(s) of two or more samples with a "
        "target, needs >= 5"
    )
    assert (f.evidence["n_groups"], f.evidence["min_groups"]) == (3, 5)


def test_no_replicate_group_of_two_says_so():
    samples = sheet(20, 1)  # every sample its own group
    cfg = AuditConfig(replicate_col="rep", label_col="target")
    found = replicates.audit_replicates(AuditContext(config=cfg, samples=samples))
    assert not_checked(found) == [
        (replicates.CEILING, "metadata"),
        (replicates.LOW_AGREEMENT, "metadata"),
    ]
    assert "no rep group holds two or more samples with a target" in found[0].message


def test_neither_a_label_nor_a_matrix_says_what_is_needed():
    cfg = AuditConfig(replicate_col="rep")
    found = replicates.audit_replicates(AuditContext(config=cfg, samples=sheet(10)))
    assert not_checked(found) == [
        (replicates.CEILING, "metadata"),
        (replicates.LOW_AGREEMENT, "metadata"),
    ]
    assert all("--label-col" in f.message and "--features" in f.message for f in found)


def test_matrix_rows_that_match_no_sample_id_are_not_checked():
    samples = sheet(10)
    X = pd.DataFrame(
        np.random.default_rng(1).poisson(5, size=(20, 30)),
        index=[f"other{i}" for i in range(20)],
    )
    ctx = AuditContext(
        config=AuditConfig(replicate_col="rep", label_col="target"),
        features=[FeatureInput("counts.csv", as_matrix(X, name="counts.csv"))],
        samples=samples,
        samples_name="sheet.csv",
    )
    found = replicates.audit_replicates(ctx)
    assert not_checked(found) == [
        (replicates.CEILING, "counts.csv"),
        (replicates.LOW_AGREEMENT, "counts.csv"),
    ]
    assert [f.input for f in found if f.check == replicates.CEILING] == ["sheet.csv", "counts.csv"]


def test_an_undefined_ceiling_cannot_gate_a_score():
    samples = sheet(10, labels=["a"] * 20)  # one class: kappa is undefined
    cfg = AuditConfig(
        replicate_col="rep", label_col="target", reported_metric="kappa", reported_score=0.9
    )
    found = replicates.audit_replicates(AuditContext(config=cfg, samples=samples))
    assert not_checked(found) == [(replicates.SCORE_ABOVE_CEILING, "metadata")]
    (f,) = [f for f in found if f.check == replicates.SCORE_ABOVE_CEILING]
    assert "kappa ceiling of target is undefined" in f.message


def test_a_clean_audit_adds_no_not_checked_finding():
    samples = sheet(40)
    cfg = AuditConfig(
        replicate_col="rep", label_col="target", reported_metric="r", reported_score=0.5
    )
    found = replicates.audit_replicates(AuditContext(config=cfg, samples=samples))
    assert [f.check for f in found] == [replicates.CEILING]

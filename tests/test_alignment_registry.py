"""The alignment group's declarations, and its `not checked` findings (never silence)."""

import numpy as np
import pandas as pd
import pytest

from biodata_guard import alignment, registry
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.io.matrix import as_matrix
from tests._synth import gene_names, nb_counts


def expression(n, *, seed=0):
    """NB counts of 200 genes plus XIST and RPS4Y1 (symbols); every other sample male; the true
    sex as the reported one."""
    rng = np.random.default_rng(seed)
    male = np.arange(n) % 2 == 0
    ids = [f"S{i:03d}" for i in range(n)]
    X = pd.DataFrame(nb_counts(n, 200, seed=seed), index=ids, columns=gene_names(200))
    X["XIST"] = rng.poisson(np.where(male, 1.0, 300.0))
    X["RPS4Y1"] = rng.poisson(np.where(male, 150.0, 0.3))
    sex = pd.Series(np.where(male, "male", "female"), index=ids)
    return X, sex


def context(X, sex, *, aligned=True, samples=None):
    samples = pd.DataFrame({"sex": sex}) if samples is None else samples
    return AuditContext(
        config=AuditConfig(sex_col="sex"),
        features=[FeatureInput("counts.csv", as_matrix(X, name="counts.csv"))],
        samples=samples,
        samples_name="meta.csv",
        aligned=aligned,
    )


def test_declarations():
    spec = registry.get_check(alignment.SEX_DISCORDANCE)
    assert spec.group == "alignment"
    assert set(spec.needs) == {"sex", "features"}
    assert set(spec.severities) == {"error", "warning"}
    for check in ("LENGTH_MISMATCH", "KEY_DUPLICATES", "UNMATCHED_KEYS", "ORDER_MISMATCH"):
        assert registry.get_check(getattr(alignment, check)).needs == ("ids",)
    assert registry.get_check(alignment.MISSING_LABELS).needs == ("labels",)
    assert registry.get_check(alignment.MERGE_EXPLOSION).needs == ()
    group = registry.get_group("alignment")
    assert group.order == 10
    assert group.run is alignment.audit_alignment
    assert group.shared_pass is alignment.stream_accumulators
    ids = {s.id for s in registry.checks("alignment")}
    assert "alignment.sex_columns" not in ids  # a memo key of the shared pass, not a check


def test_three_samples_are_not_checked_with_the_numbers():
    X, sex = expression(3)
    assert alignment.check_sex_concordance(X, sex) == []  # the public check: nothing to report
    (f,) = alignment.audit_sex_concordance(context(X, sex))
    assert f.check == alignment.SEX_DISCORDANCE and f.severity == "info"
    assert f.input == "meta.csv"
    assert f.message == (
        "alignment.sex_discordance: not checked: 3 of 3 samples of counts.csv have a sex-gene "
        "score, needs >= 4"
    )
    assert f.evidence["not_checked"] is True
    assert (f.evidence["n_scored"], f.evidence["min_samples"]) == (3, 4)
    assert f.evidence["status"] == "too_few_samples" and f.evidence["method"] == "atlas"


def test_eight_samples_are_checked_sample_by_sample():
    X, sex = expression(8)
    assert alignment.audit_sex_concordance(context(X, sex)) == []  # checked: concordant
    sex.iloc[[0, 1]] = ["female", "male"]  # S000 (male) and S001 (female) swapped
    (f,) = alignment.audit_sex_concordance(context(X, sex))
    assert f.severity == "error" and f.subjects == ["S000", "S001"]
    assert (f.evidence["n_discordant"], f.evidence["n_compared"]) == (2, 8)


def test_a_log_scaled_small_cohort_is_not_checked_with_the_reason():
    X, sex = expression(8)
    logged = np.log1p(X / X.sum(axis=1).to_numpy()[:, None] * 1e4)
    (f,) = alignment.audit_sex_concordance(context(logged, sex))
    assert f.severity == "info" and f.evidence["method"] == "clusters"
    assert f.message.endswith("8 of 8 samples of counts.csv have a sex-gene score, needs >= 10")


def test_absent_genes_are_not_checked():
    X, sex = expression(40, seed=1)
    X = X.drop(columns=["XIST", "RPS4Y1"])
    (f,) = alignment.audit_sex_concordance(context(X, sex))
    assert f.severity == "info" and f.evidence["status"] == "genes_absent"
    assert f.evidence["n_features"] == 200
    assert "none of the sex genes (XIST, RPS4Y1, DDX3Y, KDM5D, UTY, EIF1AY)" in f.message
    assert "200 columns of counts.csv" in f.message


def test_single_sex_cohort_without_two_clusters_is_not_checked():
    rng = np.random.default_rng(1)  # log-scale values with no sex effect: one cluster
    X = pd.DataFrame(
        {g: rng.normal(mu, 1.0, 40) for g, mu in (("XIST", 5), ("RPS4Y1", 2), ("ACTB", 8))},
        index=[f"S{i:03d}" for i in range(40)],
    )
    res = alignment.infer_sex(X)
    assert res.status == "weak_signal"
    (f,) = alignment.audit_sex_concordance(context(X, pd.Series("F", index=X.index)))
    assert f.severity == "info" and f.evidence["status"] == "weak_signal"
    assert (f.evidence["n_reported_female"], f.evidence["n_reported_male"]) == (40, 0)
    assert "(40 female, 0 male) has fewer than 3 samples of one sex" in f.message


def test_unrecognised_reported_sex_is_not_checked():
    X, _ = expression(40, seed=3)
    (f,) = alignment.audit_sex_concordance(context(X, pd.Series("X", index=X.index)))
    assert f.severity == "info" and f.evidence["n_reported_unknown"] == 40
    assert "no sample has both a recognised reported sex and a confident call" in f.message


def test_sample_ids_that_match_no_matrix_row_are_not_checked():
    X, sex = expression(40, seed=4)
    samples = pd.DataFrame({"sex": sex.to_numpy()}, index=[f"other{i}" for i in range(40)])
    (f,) = alignment.audit_sex_concordance(context(X, sex, aligned=False, samples=samples))
    assert f.severity == "info"
    assert f.message.endswith(
        "meta.csv vs counts.csv: none of the 40 matrix rows has a sample id among the 40 rows"
    )


@pytest.mark.parametrize("swap", [False, True])
def test_a_check_that_ran_gives_no_not_checked(swap):
    X, sex = expression(40, seed=5)
    if swap:
        sex.iloc[0] = "female"
    found = alignment.audit_sex_concordance(context(X, sex))
    assert [f.severity for f in found] == (["error"] if swap else [])


def test_missing_need_is_left_to_the_audit():
    X, sex = expression(3)
    ctx = context(X, sex)
    ctx.config = ctx.config.replace(sex_col=None)
    assert alignment.audit_sex_concordance(ctx) == []


def test_a_sample_without_a_score_is_skipped_not_a_crash():
    X, sex = expression(40, seed=6)
    X.iloc[3] = 0  # an empty sample (no counts at all): no score, no call
    sex.iloc[0] = "female"  # swapped
    res = alignment.infer_sex(X)
    assert res.status == "ok" and res.inferred.isna().sum() == 1
    (f,) = alignment.check_sex_concordance(X, sex)
    assert f.subjects == ["S000"]
    assert f.evidence["n_compared"] + f.evidence["n_uncertain"] == 39  # the empty one: neither

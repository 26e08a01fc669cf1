import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from biodata_guard import replicates
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Severity
from biodata_guard.io.matrix import as_matrix
from biodata_guard.replicates import _bootstrap
from tests.conftest import DEMO


def by_id(findings, check):
    return [f for f in findings if f.check == check]


def simulated(n_groups, k, *, signal_sd, noise_sd, seed=0):
    """``k`` replicates of ``n_groups`` conditions: y = signal + noise, so the replicate
    correlation is signal_var / (signal_var + noise_var)."""
    rng = np.random.default_rng(seed)
    signal = np.repeat(rng.normal(0.0, signal_sd, n_groups), k)
    y = signal + rng.normal(0.0, noise_sd, n_groups * k)
    ids = [f"s{i:04d}" for i in range(n_groups * k)]
    groups = pd.Series(np.repeat([f"g{i:03d}" for i in range(n_groups)], k), index=ids)
    return pd.Series(y, index=ids, name="expression"), groups


def double_entry_r(a, b):
    return np.corrcoef(np.r_[a, b], np.r_[b, a])[0, 1]


def one_way_icc(y, groups):
    frame = pd.DataFrame({"y": y.to_numpy(), "g": groups.to_numpy()})
    g = frame.groupby("g")["y"]
    n, G = len(frame), g.ngroups
    k = n / G
    msb = (g.size() * (g.mean() - frame["y"].mean()) ** 2).sum() / (G - 1)
    msw = ((frame["y"] - g.transform("mean")) ** 2).sum() / (n - G)
    return (msb - msw) / (msb + (k - 1) * msw), (msb - msw) / msb


# --- continuous ceiling -----------------------------------------------------------------------


def test_continuous_ceiling_recovers_known_noise_level():
    # signal variance 4, noise variance 1: replicate r = 4 / (4 + 1) = 0.8
    y, groups = simulated(300, 2, signal_sd=2.0, noise_sd=1.0, seed=1)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=500)
    expected_r = 4.0 / (4.0 + 1.0)
    expected_rho = 6 / math.pi * math.asin(expected_r / 2)  # Spearman of a bivariate normal
    est, ci = res.estimates, res.intervals
    assert res.kind == "continuous"
    assert (res.n_groups, res.n_samples, res.n_pairs, res.group_size) == (300, 600, 300, 2.0)
    a, b = y.to_numpy()[0::2], y.to_numpy()[1::2]
    assert est["pearson"] == pytest.approx(double_entry_r(a, b), abs=1e-12)
    ranks = stats.rankdata(y.to_numpy())
    assert est["spearman"] == pytest.approx(double_entry_r(ranks[0::2], ranks[1::2]), abs=1e-12)
    icc1, icck = one_way_icc(y, groups)
    assert est["icc1"] == pytest.approx(icc1, abs=1e-12)
    assert est["icck"] == pytest.approx(icck, abs=1e-12)
    assert est["ceiling_r2"] == pytest.approx(icc1, abs=1e-12)  # k = 1
    assert est["ceiling_pearson"] == pytest.approx(math.sqrt(icc1), abs=1e-12)
    for key, expected in [
        ("pearson", expected_r),
        ("icc1", expected_r),
        ("spearman", expected_rho),
        ("ceiling_pearson", math.sqrt(expected_r)),
        ("ceiling_r2", expected_r),
    ]:
        lo, hi = ci[key]
        assert lo < est[key] < hi
        assert lo <= expected <= hi, (key, lo, expected, hi)

    (f,) = replicates.check_replicate_ceiling(
        y, groups, name="targets.csv", value_col="expression", replicate_col="rep", n_bootstrap=500
    )
    assert f.check == replicates.CEILING and f.severity == "info"
    assert f.input == "targets.csv"
    assert f.evidence["n_groups"] == 300 and f.evidence["n_samples"] == 600
    assert f.evidence["icc1"] == pytest.approx(icc1, rel=1e-5)
    assert f.evidence["ceiling_pearson"] == pytest.approx(math.sqrt(icc1), rel=1e-5)
    assert f.evidence["ceiling_pearson_ci"] == pytest.approx(list(ci["ceiling_pearson"]), rel=1e-5)
    assert f.message.startswith("targets.csv, expression by rep: replicates agree at ICC(1) = ")


def test_spearman_brown_ceiling_for_the_mean_of_k_replicates():
    # signal var 1, noise var 1: ICC(1) = 0.5; the mean of 3 replicates: 3 * 0.5 / (1 + 2 * 0.5)
    y, groups = simulated(400, 3, signal_sd=1.0, noise_sd=1.0, seed=2)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=400, target_replicates=3)
    expected = 3 * 0.5 / (1 + 2 * 0.5)
    est, ci = res.estimates, res.intervals
    icc1, icck = one_way_icc(y, groups)
    assert res.group_size == 3.0 and res.n_pairs == 1200
    assert est["ceiling_r2"] == pytest.approx(3 * icc1 / (1 + 2 * icc1), abs=1e-12)
    assert est["icck"] == pytest.approx(icck, abs=1e-12)  # ICC(1,k) is the same correction
    assert ci["ceiling_r2"][0] <= expected <= ci["ceiling_r2"][1]
    assert ci["icc1"][0] <= 0.5 <= ci["icc1"][1]


def test_bootstrap_is_seeded():
    y, groups = simulated(50, 2, signal_sd=1.0, noise_sd=1.0, seed=3)
    a = replicates.replicate_ceiling(y, groups, n_bootstrap=200, seed=5).intervals
    b = replicates.replicate_ceiling(y, groups, n_bootstrap=200, seed=5).intervals
    c = replicates.replicate_ceiling(y, groups, n_bootstrap=200, seed=6).intervals
    assert a == b and a != c


# --- reported score above the ceiling ---------------------------------------------------------


def test_reported_score_above_ceiling_is_an_error():
    y, groups = simulated(200, 2, signal_sd=1.0, noise_sd=1.0, seed=4)  # r = 0.5
    found = replicates.check_replicate_ceiling(
        y,
        groups,
        reported_metric="Pearson",
        reported_score=0.95,
        name="targets.csv",
        value_col="expression",
        replicate_col="rep",
        n_bootstrap=300,
    )
    (err,) = by_id(found, replicates.SCORE_ABOVE_CEILING)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=300)
    value, lo, hi = res.ceiling("pearson")
    assert err.severity == "error"
    assert err.evidence["metric"] == "pearson"
    assert err.evidence["reported_score"] == 0.95
    assert err.evidence["ceiling"] == pytest.approx(value, rel=1e-5)
    assert err.evidence["ceiling_ci"] == pytest.approx([lo, hi], rel=1e-5)
    assert err.evidence["excess"] == pytest.approx(0.95 - hi, rel=1e-5)
    assert err.subjects == ["pearson"]
    assert "GroupKFold" in err.hint and "groups=df['rep']" in err.hint
    # r2 compares with the squared ceiling (about 0.5 here)
    (r2,) = by_id(
        replicates.check_replicate_ceiling(
            result=res, reported_metric="r2", reported_score=0.8, value_col="expression"
        ),
        replicates.SCORE_ABOVE_CEILING,
    )
    assert r2.evidence["ceiling"] == pytest.approx(res.estimates["ceiling_r2"], rel=1e-5)


def test_reported_score_within_the_ceiling_is_clean():
    y, groups = simulated(200, 2, signal_sd=1.0, noise_sd=1.0, seed=4)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=300)
    # a perfect model of the signal reaches sqrt(0.5) = 0.71 against one replicate
    for metric, score in [("pearson", 0.7), ("spearman", 0.6), ("r2", 0.45)]:
        found = replicates.check_replicate_ceiling(
            result=res, reported_metric=metric, reported_score=score
        )
        assert by_id(found, replicates.SCORE_ABOVE_CEILING) == []


def test_reported_metric_must_be_known_and_fit_the_target():
    y, groups = simulated(30, 2, signal_sd=1.0, noise_sd=1.0)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=0)
    with pytest.raises(ConfigError, match="reported_metric must be one of") as exc:
        replicates.check_replicate_ceiling(result=res, reported_metric="pearsn", reported_score=1)
    assert "Did you mean 'pearson'" in exc.value.hint
    with pytest.raises(ConfigError, match="does not fit a continuous target"):
        replicates.check_replicate_ceiling(
            result=res, reported_metric="accuracy", reported_score=0.9
        )
    with pytest.raises(ConfigError, match="go together"):
        replicates.check_replicate_ceiling(result=res, reported_metric="pearson")


# --- categorical ------------------------------------------------------------------------------


def test_categorical_kappa_on_known_agreement():
    # each replicate's label is the true class with probability 0.9 (binary, balanced):
    # agreement (0.9^2 + 0.1^2) = 0.82, kappa (1 - 2 * 0.1)^2 = 0.64, accuracy ceiling 0.9
    rng = np.random.default_rng(5)
    n = 600
    truth = rng.choice(["tumour", "normal"], n)
    flip = rng.random((n, 2)) < 0.1
    other = np.where(truth == "tumour", "normal", "tumour")
    reps = np.where(flip, other[:, None], truth[:, None])
    y = pd.Series(reps.ravel(), name="label")
    groups = np.repeat(np.arange(n), 2)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=500)
    est, ci = res.estimates, res.intervals
    assert res.kind == "categorical"
    assert est["agreement"] == pytest.approx((reps[:, 0] == reps[:, 1]).mean(), abs=1e-12)
    assert est["cohen_kappa"] == pytest.approx(cohen_kappa_score(reps[:, 0], reps[:, 1]), abs=1e-12)
    assert est["kappa"] == est["cohen_kappa"]
    for key, expected in [
        ("agreement", 0.82),
        ("kappa", 0.64),
        ("ceiling_accuracy", 0.9),
        ("ceiling_kappa", 0.8),
        ("label_noise", 0.1),
    ]:
        assert ci[key][0] <= expected <= ci[key][1], (key, ci[key], expected)
    (f,) = replicates.check_replicate_ceiling(
        y, groups, name="labels.csv", value_col="label", replicate_col="rep", n_bootstrap=500
    )
    n_agree = int((reps[:, 0] == reps[:, 1]).sum())
    assert f.check == replicates.CEILING and f.severity == "info"
    assert f"agree in {n_agree} of 600" in f.message and "Cohen's kappa" in f.message
    assert f.evidence["cohen_kappa"] == pytest.approx(est["cohen_kappa"], rel=1e-5)


def test_fleiss_kappa_matches_the_published_example():
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    labels, groups = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            labels += [f"c{j}"] * count
            groups += [i] * count
    res = replicates.replicate_ceiling(pd.Series(labels), groups, n_bootstrap=0)
    assert res.estimates["fleiss_kappa"] == pytest.approx(0.20993, abs=5e-5)
    assert res.estimates["agreement"] == pytest.approx(0.37802, abs=5e-5)
    assert res.estimates["chance_agreement"] == pytest.approx(0.21276, abs=5e-5)
    assert "cohen_kappa" not in res.estimates
    assert res.estimates["kappa"] == res.estimates["fleiss_kappa"]


def test_accuracy_above_the_label_ceiling_is_an_error():
    rng = np.random.default_rng(6)
    truth = rng.choice(["a", "b", "c"], 300)
    noisy = np.where(rng.random(300) < 0.3, rng.choice(["a", "b", "c"], 300), truth)
    y = pd.Series(np.c_[truth, noisy].ravel())
    groups = np.repeat(np.arange(300), 2)
    found = replicates.check_replicate_ceiling(
        y, groups, reported_metric="balanced_accuracy", reported_score=0.99, n_bootstrap=300
    )
    (err,) = by_id(found, replicates.SCORE_ABOVE_CEILING)
    assert err.severity == "error" and err.evidence["metric"] == "balanced_accuracy"
    assert err.evidence["ceiling"] < 0.95
    ok = replicates.check_replicate_ceiling(
        y, groups, reported_metric="accuracy", reported_score=0.8, n_bootstrap=300
    )
    assert by_id(ok, replicates.SCORE_ABOVE_CEILING) == []


# --- low agreement ----------------------------------------------------------------------------


def test_planted_outlier_replicate_is_found():
    y, groups = simulated(100, 3, signal_sd=2.0, noise_sd=0.5, seed=7)
    assert replicates.check_replicate_agreement(y, groups) == []  # clean control
    y = y.copy()
    y.iloc[3 * 42 + 1] += 6.0  # 12 noise SDs off: a swapped or failed replicate
    (f,) = replicates.check_replicate_agreement(
        y, groups, name="targets.csv", value_col="expression", replicate_col="rep"
    )
    assert f.check == replicates.LOW_AGREEMENT and f.severity == "warning"
    assert f.subjects == ["g042"]
    ev = f.evidence
    assert ev["n_flagged"] == 1 and ev["n_groups"] == 100 and ev["kind"] == "continuous"
    assert ev["min_score"] == pytest.approx(max(3.5, stats.norm.isf(0.01 / 100)), rel=1e-5)
    g = ev["groups"]["g042"]
    assert g["outlier"] == y.index[3 * 42 + 1]
    assert g["members"] == list(y.index[126:129])
    assert g["disagreement"] == pytest.approx(y.iloc[126:129].std(), rel=1e-5)
    assert g["score"] > ev["min_score"]
    assert f.message.startswith(
        "targets.csv, expression by rep: 1 of 100 (1%) replicate groups spread far more"
    )


def test_discordant_labels_in_replicate_pairs_are_listed():
    rng = np.random.default_rng(8)
    labels = np.repeat(rng.choice(["IBD", "control"], 40), 2).astype(object)
    labels[2 * 5 + 1] = "IBD" if labels[10] == "control" else "control"
    labels[2 * 31] = "IBD" if labels[63] == "control" else "control"
    ids = [f"S{i:03d}" for i in range(80)]
    y = pd.Series(labels, index=ids)
    groups = pd.Series(np.repeat([f"R{i:02d}" for i in range(40)], 2), index=ids)
    (f,) = replicates.check_replicate_agreement(y, groups, value_col="diagnosis")
    assert f.severity == "warning" and f.subjects == ["R05", "R31"]
    assert f.evidence["n_flagged"] == 2 and f.evidence["n_groups"] == 40
    assert f.evidence["median_disagreement"] == 0.0
    r05 = f.evidence["groups"]["R05"]
    assert r05["members"] == ["S010", "S011"] and r05["outlier"] is None
    assert r05["labels"] == {"S010": labels[10], "S011": labels[11]}
    assert r05["disagreement"] == 1.0
    clean = pd.Series(np.repeat(labels[0::2], 2), index=ids)
    assert replicates.check_replicate_agreement(clean, groups) == []


def source_counts(n_sources, k, n_genes=400, *, seed=0):
    """NB counts: ``k`` re-sequenced libraries (own depth) of each of ``n_sources`` sources."""
    rng = np.random.default_rng(seed)
    gene_mean = rng.lognormal(np.log(20), 1.2, n_genes)
    source = gene_mean * rng.lognormal(0, 0.5, (n_sources, n_genes))
    mu = np.repeat(source, k, axis=0) * rng.lognormal(0, 0.3, n_sources * k)[:, None]
    r = 1 / 0.1
    counts = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
    ids = [f"c{i:04d}" for i in range(n_sources * k)]
    groups = pd.Series(np.repeat([f"src{i:02d}" for i in range(n_sources)], k), index=ids)
    return pd.DataFrame(counts, index=ids, columns=[f"g{j}" for j in range(n_genes)]), groups


def test_swapped_replicate_profile_is_found_on_every_matrix_type():
    X, groups = source_counts(61, 2, seed=9)
    # sample c0015 (replicate of src07) is really a library of src60 (no longer grouped)
    X.iloc[15] = X.iloc[120].to_numpy()
    groups = groups.iloc[:120]
    X = X.iloc[:120]
    adata = ad.AnnData(X.to_numpy(), obs=pd.DataFrame(index=X.index))
    results = []
    for data in (X, X.to_numpy(), sp.csr_matrix(X.to_numpy()), adata):
        grp = groups if isinstance(data, (pd.DataFrame, ad.AnnData)) else groups.to_numpy()
        (f,) = replicates.check_replicate_agreement(
            data, grp, name="counts", replicate_col="rep", chunk_size=25
        )
        results.append(f)
    f = results[0]
    assert f.check == replicates.LOW_AGREEMENT and f.severity == "warning"
    assert f.subjects == ["src07"]
    g = f.evidence["groups"]["src07"]
    assert g["members"] == ["c0014", "c0015"] and g["outlier"] is None
    totals = X.sum(axis=1).to_numpy()
    Z = np.log1p(X.to_numpy() / totals[:, None] * np.median(totals))
    assert g["disagreement"] == pytest.approx(1 - np.corrcoef(Z[14], Z[15])[0, 1], rel=1e-5)
    assert g["values"] == {"c0014": 1 - g["disagreement"], "c0015": 1 - g["disagreement"]}
    for other in results[1:]:
        assert other.evidence["n_flagged"] == 1
        assert other.evidence["groups"]["src07"]["score"] == pytest.approx(g["score"], rel=1e-5)


def test_profile_correlations_are_exact_and_chunking_invariant():
    X, groups = source_counts(20, 3, n_genes=150, seed=10)
    res = replicates.replicate_ceiling(X, groups, n_bootstrap=200)
    small = replicates.replicate_ceiling(X, groups, n_bootstrap=200, chunk_size=4)
    sparse = replicates.replicate_ceiling(sp.csr_matrix(X.to_numpy()), groups.to_numpy())
    assert res.kind == "profile" and res.n_groups == 20 and res.n_pairs == 60
    # each replicate against the sum of the others, after total scaling + log1p
    totals = X.sum(axis=1).to_numpy()
    target = float(np.median(totals))
    Z = np.log1p(X.to_numpy() / totals[:, None] * target)
    rest = Z[1] + Z[2]
    assert res.samples.loc["c0000", "value"] == pytest.approx(np.corrcoef(Z[0], rest)[0, 1])
    np.testing.assert_allclose(res.samples["value"], small.samples["value"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        res.samples["value"].to_numpy(), sparse.samples["value"].to_numpy(), atol=1e-12
    )
    assert (
        res.intervals["profile_r"][0] < res.estimates["profile_r"] < res.intervals["profile_r"][1]
    )
    a, b = res.pairs
    assert len(a) == len(b) == 2000


# --- small, empty and bad inputs --------------------------------------------------------------


def test_without_replicate_groups_nothing_is_reported():
    y, _ = simulated(30, 2, signal_sd=1.0, noise_sd=1.0)
    singletons = pd.Series(y.index, index=y.index)
    assert replicates.check_replicate_ceiling(y, singletons) == []
    assert replicates.check_replicate_agreement(y, singletons) == []
    missing = pd.Series([None] * len(y), index=y.index)
    assert replicates.check_replicate_ceiling(y, missing) == []


def test_too_few_groups_says_so():
    y, groups = simulated(3, 2, signal_sd=1.0, noise_sd=1.0)
    (f,) = replicates.check_replicate_ceiling(y, groups, value_col="expression")
    assert f.check == replicates.CEILING and f.severity == "info"
    assert f.evidence == {"kind": "continuous", "n_groups": 3, "n_samples": 6, "min_groups": 5}
    assert replicates.check_replicate_agreement(y, groups) == []


def test_missing_values_leave_samples_out():
    y, groups = simulated(40, 3, signal_sd=1.0, noise_sd=1.0)
    y = y.copy()
    y.iloc[[0, 1, 5]] = np.nan  # group 0 keeps one member: left out
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=0)
    assert res.n_excluded == 3
    assert res.n_groups == 39 and res.n_samples == 3 * 39 - 1


def test_bad_inputs_raise():
    y, groups = simulated(10, 2, signal_sd=1.0, noise_sd=1.0)
    with pytest.raises(InputError, match="one entry per sample"):
        replicates.replicate_ceiling(y.to_numpy(), groups.to_numpy()[:-1])
    with pytest.raises(ConfigError, match="kind must be one of"):
        replicates.replicate_ceiling(y, groups, kind="ordinal")
    X, grp = source_counts(5, 2, n_genes=20)
    X.iloc[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        replicates.replicate_ceiling(X, grp)


# --- audit ------------------------------------------------------------------------------------


def demo_context(**config):
    counts = pd.read_csv(DEMO / "data" / "counts.csv.gz", index_col=0)
    meta = pd.read_csv(DEMO / "data" / "metadata.csv")
    labels = pd.read_csv(DEMO / "data" / "labels.csv")
    samples = meta.merge(labels, on="sample_id").set_index("sample_id").reindex(counts.index)
    cfg = AuditConfig(replicate_col="replicate_group", label_col="diagnosis", **config)
    view = as_matrix(counts, name="counts.csv.gz")
    return AuditContext(
        config=cfg,
        features=[FeatureInput("counts.csv.gz", view)],
        samples=samples,
        samples_name="metadata.csv + labels.csv",
        aligned=True,
    )


def test_audit_on_the_demo_reports_ceilings_and_the_discordant_pairs():
    ctx = demo_context()
    found = replicates.audit_replicates(ctx)
    assert sorted((f.check, f.input) for f in found) == [
        ("replicates.ceiling", "counts.csv.gz"),
        ("replicates.ceiling", "metadata.csv + labels.csv"),
        ("replicates.low_agreement", "metadata.csv + labels.csv"),
    ]
    (label_ceiling,) = [f for f in by_id(found, replicates.CEILING) if f.input != "counts.csv.gz"]
    assert label_ceiling.evidence["n_groups"] == 40 and label_ceiling.evidence["n_pairs"] == 40
    assert label_ceiling.evidence["agreement"] == 0.95
    (low,) = by_id(found, replicates.LOW_AGREEMENT)
    assert low.subjects == ["S0136", "S0253"]
    assert low.evidence["groups"]["S0136"]["members"] == ["S0136", "S0261"]
    pairs = ctx.artifacts["replicates"]["pairs"]
    assert len(pairs["a"]) == len(pairs["b"]) == 2000


def test_audit_skips_the_profile_ceiling_on_nan_and_keeps_the_label_ceiling():
    ctx = demo_context()
    counts = pd.read_csv(DEMO / "data" / "counts.csv.gz", index_col=0).astype(float)
    group = ctx.samples["replicate_group"]
    replicated = group.map(group.value_counts()).to_numpy() > 1
    counts.iloc[np.flatnonzero(replicated)[0], 2] = np.nan  # units.invalid_values reports it
    ctx.features = [FeatureInput("counts.csv.gz", as_matrix(counts, name="counts.csv.gz"))]
    found = replicates.audit_replicates(ctx)
    (skipped,) = [f for f in found if f.input == "counts.csv.gz"]
    assert (skipped.check, skipped.severity) == ("replicates.ceiling", Severity.INFO)
    assert skipped.evidence["skipped"] is True
    assert "replicate_group: replicate-profile ceiling skipped" in skipped.message
    assert "NaN or infinite" in skipped.message
    assert [f.check for f in found if f.input != "counts.csv.gz"] == [
        "replicates.ceiling",
        "replicates.low_agreement",
    ]


def test_audit_on_the_demo_cannot_rule_out_a_perfect_kappa():
    # 38 of 40 pairs agree: the kappa ceiling's interval reaches 1, so no score is impossible
    ctx = demo_context(reported_metric="kappa", reported_score=0.99)
    (ceiling,) = [
        f
        for f in by_id(replicates.audit_replicates(ctx), replicates.CEILING)
        if f.input != "counts.csv.gz"
    ]
    assert ceiling.evidence["ceiling_kappa"] == pytest.approx(0.926428, rel=1e-5)
    assert ceiling.evidence["ceiling_kappa_ci"][1] == 1.0
    assert by_id(replicates.audit_replicates(ctx), replicates.SCORE_ABOVE_CEILING) == []


def test_audit_gates_a_reported_score_above_the_ceiling():
    y, groups = simulated(150, 2, signal_sd=1.0, noise_sd=1.0, seed=11)
    samples = pd.DataFrame({"target": y, "rep": groups})
    cfg = AuditConfig(
        replicate_col="rep", label_col="target", reported_metric="r", reported_score=0.93
    )
    ctx = AuditContext(config=cfg, samples=samples, samples_name="sheet.csv")
    found = replicates.audit_replicates(ctx)
    assert [f.check for f in found] == [replicates.CEILING, replicates.SCORE_ABOVE_CEILING]
    assert found[1].severity == "error" and found[1].input == "sheet.csv"
    pairs = ctx.artifacts["replicates"]["pairs"]
    assert pairs["a"] == pytest.approx(y.to_numpy()[0::2].tolist())
    assert pairs["b"] == pytest.approx(y.to_numpy()[1::2].tolist())
    with pytest.raises(ConfigError, match="go together"):
        ctx.config = cfg.replace(label_col=None, reported_score=None)
        replicates.audit_replicates(ctx)


def test_audit_without_replicate_column_does_nothing():
    ctx = demo_context()
    ctx.config = ctx.config.replace(replicate_col=None)
    assert replicates.audit_replicates(ctx) == []
    assert "replicates" not in ctx.artifacts


def test_check_ids_are_in_the_design_vocabulary():
    assert replicates.CHECK_IDS == (
        "replicates.ceiling",
        "replicates.score_above_ceiling",
        "replicates.low_agreement",
    )


def test_backed_h5ad_is_read_in_chunks(tmp_path):
    X, groups = source_counts(30, 2, n_genes=100, seed=12)
    X.iloc[9] = X.iloc[40].to_numpy()  # c0009 (src04) is really src20
    path = tmp_path / "cells.h5ad"
    ad.AnnData(sp.csr_matrix(X.to_numpy()), obs=pd.DataFrame(index=X.index)).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    (f,) = replicates.check_replicate_agreement(backed, groups, chunk_size=8)
    (g,) = replicates.check_replicate_agreement(X, groups)
    assert f.subjects == g.subjects == ["src04"]
    assert f.evidence == g.evidence
    backed.file.close()


def test_bootstrap_draws_are_capped_for_very_many_groups(monkeypatch):
    y, groups = simulated(1000, 2, signal_sd=1.0, noise_sd=1.0)
    monkeypatch.setattr(_bootstrap, "MAX_BOOTSTRAP_CELLS", 300_000)
    res = replicates.replicate_ceiling(y, groups, n_bootstrap=1000)
    assert res.n_bootstrap == 300
    assert replicates.replicate_ceiling(y, groups, n_bootstrap=250).n_bootstrap == 250

"""Tests for biodata_guard.probe: planted batch effects, clean controls, self-validation."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from biodata_guard import probe
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io.matrix import MatrixView, as_matrix
from biodata_guard.probe import _audit, _design, _engine, _inputs, _prep
from biodata_guard.probe import _model as _probe_model
from tests._synth import cohort, nb_counts

# Small and fast: 400 samples x 300 genes, 10 components, 100 permutations (p can reach
# 1/101 < 0.01). Shapes repeat across tests so the compiled JAX programs are reused.
N, G, K_COMP, PERMS = 400, 300, 10, 100
FAST = {"n_components": K_COMP, "n_permutations": PERMS}


def by_id(findings, check):
    return [f for f in findings if f.check == check]


def batched_counts(
    *, seed: int = 0, n_batches: int = 4, fold: float = 3.0, n_genes: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """RNA-seq-like counts; batch b >= 1 reads its own ``n_genes`` genes ``fold`` x higher."""
    rng = np.random.default_rng(seed)
    X = nb_counts(N, G, seed=seed)
    batch = np.array([f"B{b}" for b in rng.integers(n_batches, size=N)], dtype=object)
    for b in range(1, n_batches):
        X[batch == f"B{b}", (b - 1) * n_genes : b * n_genes] *= int(fold)
    return X.astype(np.float64), batch


@pytest.fixture(scope="module")
def shifted():
    return batched_counts(seed=0)


@pytest.fixture(scope="module")
def shifted_result(shifted):
    X, batch = shifted
    return probe.batch_probe(X, batch, target_name="batch", **FAST)


# --- the probe --------------------------------------------------------------------------------


def test_strong_batch_shift_is_flagged_with_small_p(shifted, shifted_result):
    res = shifted_result
    assert res.p_value < 0.01
    assert res.p_value == pytest.approx(1 / (PERMS + 1))  # the observed beat every permutation
    assert res.balanced_accuracy > 0.9
    assert res.chance == 0.25
    assert res.classes == ("B0", "B1", "B2", "B3")
    assert len(res.fold_balanced_accuracy) == 5 and len(res.null_balanced_accuracy) == PERMS
    assert res.balanced_accuracy == pytest.approx(np.mean(res.fold_balanced_accuracy))
    # Confusion matrix: rows true, columns predicted; recall is its diagonal share.
    _, batch = shifted
    conf = res.confusion
    assert conf.sum() == N and conf.shape == (4, 4)
    assert conf.sum(axis=1).tolist() == [int((batch == c).sum()) for c in res.classes]
    for i, c in enumerate(res.classes):
        assert res.per_class_recall[c] == pytest.approx(conf[i, i] / conf[i].sum())
    # The driving genes are the planted ones (genes 0-74), each pushing towards its batch.
    top = res.top_features[:10]
    assert all(int(t["feature"][1:]) < 75 for t in top)
    assert all(t["class"] == f"B{int(t['feature'][1:]) // 25 + 1}" for t in top)
    assert res.embedding.shape == (N, 2) and np.isfinite(res.embedding).all()
    assert res.preprocessing["units"] == "counts" and res.preprocessing["transform"] == "counts"


def test_shuffled_batch_labels_are_not_flagged(shifted):
    X, batch = shifted
    shuffled = np.random.default_rng(5).permutation(batch)
    found = probe.check_batch_probe(X, shuffled, **FAST)
    assert by_id(found, probe.PREDICTABLE) == []
    (summary,) = by_id(found, probe.SUMMARY)
    assert summary.severity == "info"
    assert summary.evidence["p_value"] > 0.05
    assert abs(summary.evidence["balanced_accuracy"] - 0.25) < 0.1
    assert summary.evidence["self_check"]["ok"] is True


def test_batch_predictable_finding_numbers(shifted, shifted_result):
    X, batch = shifted
    found = probe.check_batch_probe(X, batch, name="counts.csv", batch_col="run", **FAST)
    assert [f.check for f in found] == [probe.SUMMARY, probe.PREDICTABLE]
    (f,) = by_id(found, probe.PREDICTABLE)
    res = shifted_result
    assert f.severity == "error"  # effect >= error_effect (0.5) at p <= alpha
    assert f.input == "counts.csv"
    assert f.message.startswith("counts.csv, run: the features give the batch away")
    assert "4 of 4 (100%) classes recalled above chance" in f.message
    ev = f.evidence
    assert ev["p_value"] == pytest.approx(1 / 101, rel=1e-5)
    assert ev["balanced_accuracy"] == pytest.approx(res.balanced_accuracy, rel=1e-5)
    assert ev["effect"] == pytest.approx((res.balanced_accuracy - 0.25) / 0.75, rel=1e-5)
    assert ev["chance"] == 0.25 and ev["n_permutations"] == PERMS and ev["n_folds"] == 5
    assert ev["confusion"]["B1"]["B1"] == int(res.confusion[1, 1])
    assert ev["alpha"] == 0.01 and ev["min_effect"] == 0.1 and ev["error_effect"] == 0.5
    assert f.subjects == [t["feature"] for t in res.top_features]
    assert "scanpy.pp.combat" in f.hint and "StratifiedGroupKFold" in f.hint
    # Thresholds are keyword arguments: a higher error_effect makes it a warning.
    (w,) = by_id(probe.check_batch_probe(X, batch, error_effect=1.01, **FAST), probe.PREDICTABLE)
    assert w.severity == "warning"


def test_batch_more_predictable_than_the_label_is_said(shifted):
    X, batch = shifted
    rng = np.random.default_rng(3)
    label = rng.choice(["tumour", "normal"], N).astype(object)
    X = X.copy()
    X[label == "tumour", 200:203] *= 2  # a weak label signal
    found = probe.check_batch_probe(X, batch, labels=label, label_col="diagnosis", **FAST)
    assert [f.check for f in found] == [probe.SUMMARY, probe.SUMMARY, probe.PREDICTABLE]
    (f,) = by_id(found, probe.PREDICTABLE)
    ev = f.evidence
    assert ev["more_predictable_than_label"] is True
    assert ev["effect"] > ev["diagnosis_effect"]
    assert "the batch is more predictable than diagnosis" in f.message
    label_summary = found[1]
    assert label_summary.evidence["target"] == "diagnosis"
    assert ev["diagnosis_balanced_accuracy"] == label_summary.evidence["balanced_accuracy"]


def test_same_seed_same_result_and_sparse_equals_dense(shifted, shifted_result):
    X, batch = shifted
    again = probe.batch_probe(X, batch, target_name="batch", **FAST)
    assert again.to_dict() == shifted_result.to_dict()
    assert np.array_equal(again.embedding, shifted_result.embedding)
    sparse = probe.batch_probe(sp.csr_matrix(X), batch, target_name="batch", **FAST)
    assert sparse.to_dict() == shifted_result.to_dict()
    assert np.array_equal(sparse.embedding, shifted_result.embedding)
    other = probe.batch_probe(X, batch, target_name="batch", seed=1, **FAST)
    assert other.fold_balanced_accuracy != shifted_result.fold_balanced_accuracy


def test_self_validation_is_in_the_evidence(shifted_result):
    checks = shifted_result.self_check
    assert checks["ok"] is True
    assert checks["initial_loss"]["value"] == pytest.approx(math.log(4), abs=1e-3)
    assert checks["initial_loss"]["expected_ln_k"] == pytest.approx(math.log(4))
    assert checks["loss_falls"]["final"] < checks["loss_falls"]["initial"]
    assert checks["loss_falls"]["max_step_increase"] <= 1e-4  # majorise-minimise: never rises
    small = checks["overfits_small_batch"]
    assert small["train_accuracy"] == 1.0 and small["n_rows"] == K_COMP + 1
    assert small["final_loss"] < 0.1 * small["initial_loss"]
    assert checks["finite"]["ok"] is True
    control = checks["shuffled_control_at_chance"]
    assert control["n_controls"] == probe.N_SHUFFLED_CONTROLS
    assert abs(control["mean"] - 0.25) <= control["tolerance"]
    assert shifted_result.null_mean == pytest.approx(0.25, abs=0.1)
    assert shifted_result.to_dict()["self_check"]["ok"] is True


def test_a_broken_fit_fails_loudly(shifted, monkeypatch):
    X, batch = shifted
    real = _probe_model.fit_softmax

    def broken(*args, **kwargs):
        out, seconds = real(*args, **kwargs)
        out["losses"] = out["losses"][:, ::-1].copy()  # loss rises, starts away from ln K
        return out, seconds

    monkeypatch.setattr(_probe_model, "fit_softmax", broken)
    with pytest.raises(probe.ProbeSelfCheckError, match=r"initial_loss.*loss_falls") as exc:
        probe.batch_probe(X, batch, **FAST)
    assert exc.value.checks["initial_loss"]["ok"] is False
    res = probe.batch_probe(X, batch, self_check=False, **FAST)
    assert res.self_check["ok"] is False


def test_grouped_folds_stop_the_probe_memorising_patients():
    # 40 patients x 10 samples; strong per-patient profiles; the "batch" is a per-patient
    # attribute with no effect of its own. Ungrouped folds put a patient in train and test and
    # the probe wins by recognising the patient; grouped folds leave it at chance.
    rng = np.random.default_rng(11)
    patient = np.repeat([f"P{i:02d}" for i in range(40)], 10)
    profile = rng.lognormal(0.0, 0.8, (40, G))[np.repeat(np.arange(40), 10)]
    X = rng.poisson(20 * profile).astype(np.float64)
    site = np.repeat(rng.permutation(np.repeat(["S1", "S2", "S3", "S4"], 10)), 10)
    ungrouped = probe.batch_probe(X, site, **FAST)
    grouped = probe.batch_probe(X, site, groups=patient, **FAST)
    assert ungrouped.p_value < 0.01 and ungrouped.balanced_accuracy > 0.45
    assert grouped.grouped and grouped.p_value > 0.05
    assert abs(grouped.balanced_accuracy - 0.25) < 0.15


# --- split membership ---------------------------------------------------------------------------


def test_split_membership_probe():
    X, _ = batched_counts(seed=2, n_batches=1)
    rng = np.random.default_rng(2)
    split = np.where(rng.random(N) < 0.25, "test", "train").astype(object)
    shifted_test = X.copy()
    shifted_test[split == "test", :40] *= 3  # test samples from another site
    found = probe.check_split_probe(shifted_test, split, name="counts.csv", **FAST)
    (f,) = by_id(found, probe.SPLIT_PREDICTABLE)
    assert f.severity == "error"
    assert f.message.startswith("counts.csv, split: the splits are told apart")
    assert f.evidence["p_value"] == pytest.approx(1 / 101, rel=1e-5)
    assert f.evidence["classes"] == ["test", "train"] and f.evidence["chance"] == 0.5
    assert f.evidence["balanced_accuracy"] > 0.9
    assert "StratifiedGroupKFold" in f.hint
    clean = probe.check_split_probe(X, split, **FAST)
    assert by_id(clean, probe.SPLIT_PREDICTABLE) == []
    assert clean[0].evidence["p_value"] > 0.05


# --- confounding (metadata only) --------------------------------------------------------------


def test_fully_confounded_design_is_an_error():
    batch = pd.Series(["B1"] * 30 + ["B2"] * 30 + ["B3"] * 20)
    label = pd.Series(["tumour"] * 60 + ["normal"] * 20)
    (f,) = probe.check_batch_confounding(batch, label, name="meta.csv", label_col="diagnosis")
    assert f.check == probe.CONFOUNDED and f.severity == "error"
    assert f.message.startswith("meta.csv, batch: batch is fully confounded with diagnosis")
    assert "3 of 3 (100%) batches" in f.message
    ev = f.evidence
    assert ev["fully_confounded"] is True and ev["cramers_v"] == 1.0
    assert ev["contingency"] == {
        "B1": {"normal": 0, "tumour": 30},
        "B2": {"normal": 0, "tumour": 30},
        "B3": {"normal": 20, "tumour": 0},
    }
    assert ev["single_class_batches"] == {"B1": "tumour", "B2": "tumour", "B3": "normal"}
    assert f.subjects == ["B1", "B2", "B3"]
    assert "no method can separate" in f.message and "balanced block design" in f.hint


def test_partly_confounded_design_is_a_warning_with_cramers_v():
    table = np.array([[40, 10], [10, 40], [25, 25]])  # batches x (normal, tumour)
    batch = np.repeat(["B1", "B1", "B2", "B2", "B3", "B3"], table.ravel())
    label = np.tile(["normal", "tumour"], 3).repeat(table.ravel())
    (f,) = probe.check_batch_confounding(batch, label)
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    assert f.severity == "warning"
    assert f.evidence["cramers_v"] == pytest.approx(math.sqrt(chi2 / (150 * 1)), rel=1e-5)
    assert f.evidence["chi2"] == pytest.approx(chi2, rel=1e-5)
    assert f.evidence["p_value"] == pytest.approx(p, rel=1e-4) and f.evidence["dof"] == dof
    assert f.evidence["fully_confounded"] is False and f.evidence["single_class_batches"] == {}
    assert "covariates=['label']" in f.hint


def test_balanced_design_is_not_confounded():
    rng = np.random.default_rng(0)
    batch = rng.choice(["B1", "B2", "B3"], 300)
    label = rng.choice(["tumour", "normal"], 300)
    assert probe.check_batch_confounding(batch, label) == []
    assert probe.check_batch_confounding(batch, np.full(300, "tumour")) == []  # one class


# --- audit_probe ------------------------------------------------------------------------------


def _context(X, samples: pd.DataFrame, **config) -> AuditContext:
    adata = ad.AnnData(X=sp.csr_matrix(X), obs=samples)
    view = as_matrix(adata, name="cells.h5ad")
    cfg = AuditConfig(probe_components=K_COMP, probe_permutations=PERMS, **config)
    return AuditContext(
        config=cfg,
        features=[FeatureInput(name="cells.h5ad", view=view, adata=adata)],
        samples=samples,
        samples_name="meta.csv",
        aligned=True,
    )


def test_audit_probe_findings_and_plot_artifact(shifted):
    X, batch = shifted
    rng = np.random.default_rng(4)
    samples = pd.DataFrame(
        {
            "batch": batch,
            "label": rng.choice(["a", "b"], N),
            "split": np.where(rng.random(N) < 0.25, "test", "train"),
        },
        index=pd.Index([f"S{i:03d}" for i in range(N)], name="sample_id"),
    )
    samples.loc[samples.index[:7], "batch"] = np.nan  # dropped from the batch probe
    ctx = _context(X, samples, batch_col="batch", label_col="label", split_col="split")
    found = probe.audit_probe(ctx)
    assert [f.check for f in found] == [probe.SUMMARY] * 3 + [probe.PREDICTABLE]
    assert by_id(found, probe.CONFOUNDED) == [] and by_id(found, probe.SPLIT_PREDICTABLE) == []
    (f,) = by_id(found, probe.PREDICTABLE)
    assert f.input == "cells.h5ad" and f.message.startswith("cells.h5ad, batch:")
    assert f.evidence["n_samples"] == N - 7
    assert [s.evidence["target"] for s in by_id(found, probe.SUMMARY)] == [
        "batch",
        "label",
        "split",
    ]
    art = ctx.artifacts["probe"]
    assert set(art) == {"embedding", "fold_accuracy"}
    emb = art["embedding"]
    assert set(emb) == {"x", "y", "batch", "split"}
    assert len(emb["x"]) == len(emb["y"]) == len(emb["batch"]) == len(emb["split"]) == N - 7
    assert None not in emb["batch"] and set(emb["split"]) == {"test", "train"}
    acc = art["fold_accuracy"]
    assert set(acc) == {"batch", "label", "split", "chance"}
    assert acc["chance"]["batch"] == 0.25  # each target its own chance level
    assert acc["batch"] == pytest.approx(f.evidence["fold_balanced_accuracy"], rel=1e-5)
    assert all(len(acc[k]) == 5 for k in ("batch", "label", "split"))


def test_audit_probe_confounded_and_disabled():
    X, _ = batched_counts(seed=6, n_batches=2)
    label = np.where(np.arange(N) < N // 2, "tumour", "normal")
    samples = pd.DataFrame(
        {"batch": np.where(label == "tumour", "B1", "B2"), "label": label},
        index=pd.Index([f"S{i:03d}" for i in range(N)]),
    )
    ctx = _context(X, samples, batch_col="batch", label_col="label")
    found = probe.audit_probe(ctx)
    (c,) = by_id(found, probe.CONFOUNDED)
    assert c.severity == "error" and c.input == "meta.csv"
    assert c.evidence["contingency"] == {
        "B1": {"normal": 0, "tumour": 200},
        "B2": {"normal": 200, "tumour": 0},
    }
    assert probe.audit_probe(_context(X, samples, batch_col="batch", probe=False)) == []
    assert probe.audit_probe(_context(X, samples)) == []  # nothing to probe


def test_audit_probe_skips_with_a_note_when_the_target_cannot_be_probed():
    X, _ = batched_counts(seed=7, n_batches=1)
    samples = pd.DataFrame({"batch": ["B1"] * N}, index=[f"S{i}" for i in range(N)])
    (f,) = probe.audit_probe(_context(X, samples, batch_col="batch"))
    assert f.check == probe.SUMMARY and f.severity == "info"
    assert f.evidence["skipped"] is True and "needs at least 2 classes" in f.message


# --- inputs -----------------------------------------------------------------------------------


def test_anndata_obs_column_names_as_target_and_groups(shifted, shifted_result):
    X, batch = shifted
    obs = pd.DataFrame({"run": batch, "donor": [f"D{i % 40}" for i in range(N)]})
    obs.index = [f"c{i}" for i in range(N)]
    adata = ad.AnnData(X=sp.csr_matrix(X), obs=obs)
    res = probe.batch_probe(adata, "run", **FAST)
    assert res.target_name == "run"
    assert (
        res.to_dict()["fold_balanced_accuracy"]
        == shifted_result.to_dict()["fold_balanced_accuracy"]
    )
    top = [t["feature"] for t in res.top_features]
    assert top == [t["feature"].removeprefix("f") for t in shifted_result.top_features]
    grouped = probe.batch_probe(adata, "run", groups="donor", **FAST)
    assert grouped.grouped and grouped.p_value < 0.01
    found = probe.check_batch_probe(adata, "run", groups="donor", name="cells.h5ad", **FAST)
    assert [f.check for f in found] == [probe.SUMMARY, probe.PREDICTABLE]
    assert found[1].evidence["grouped_folds"] is True and found[1].input == "cells.h5ad"


def test_backed_anndata_is_streamed_with_the_same_result(shifted, shifted_result, tmp_path):
    X, batch = shifted
    path = tmp_path / "cells.h5ad"
    obs = pd.DataFrame({"batch": batch}, index=[f"c{i}" for i in range(N)])
    ad.AnnData(X=sp.csr_matrix(X), obs=obs).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    passes = []
    original = MatrixView.iter_chunks

    def counting(self, chunk_size=10_000):
        passes.append(self.backed)
        return original(self, chunk_size)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(MatrixView, "iter_chunks", counting)
            res = probe.batch_probe(backed, "batch", chunk_size=64, **FAST)
        assert backed.isbacked
    finally:
        backed.file.close()
    assert passes.count(True) == 1  # the file read once, in row blocks
    assert (
        res.to_dict()["fold_balanced_accuracy"]
        == shifted_result.to_dict()["fold_balanced_accuracy"]
    )
    assert res.p_value == shifted_result.p_value


def test_bad_inputs_raise_clear_errors(shifted):
    X, batch = shifted
    with pytest.raises(InputError, match="has 399 values but X has 400 rows"):
        probe.batch_probe(X, batch[:-1], **FAST)
    with pytest.raises(InputError, match="needs at least 2 classes with >= 5 samples"):
        probe.batch_probe(X, np.array(["B1"] * (N - 3) + ["B2"] * 3), **FAST)
    with pytest.raises(ConfigError, match="`folds` must be an integer >= 2; got 1 instead"):
        probe.batch_probe(X, batch, folds=1)
    with pytest.raises(ConfigError, match="`transform` must be one of"):
        probe.batch_probe(X, batch, transform="sqrt")
    with pytest.raises(ConfigError, match="needs an AnnData input"):
        probe.batch_probe(X, "batch")
    bad = X.copy()
    bad[5, 7] = np.nan
    with pytest.raises(InputError, match="NaN/inf value"):
        probe.batch_probe(bad, batch, **FAST)
    with pytest.raises(InputError, match="groups cannot fill 5 grouped folds"):
        probe.batch_probe(X, batch, groups=np.repeat(["P1", "P2", "P3"], [200, 100, 100]))


def test_missing_targets_and_tiny_classes_are_left_out(shifted):
    X, batch = shifted
    target = pd.Series(batch).where(np.arange(N) >= 10)  # 10 missing
    target.iloc[10:13] = "rare"  # 3 samples: too few for 5 folds
    res = probe.batch_probe(X, target.to_numpy(), **FAST)
    assert res.n_samples == N - 13
    assert res.dropped_classes == {"rare": 3}
    assert res.classes == ("B0", "B1", "B2", "B3")


def test_import_does_not_import_jax():
    code = "import sys, biodata_guard.probe; print('jax' in sys.modules, 'optax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_check_ids_are_the_design_vocabulary():
    assert set(probe.CHECK_IDS) == {
        "batch.predictable",
        "batch.confounded",
        "batch.split_predictable",
        "probe.summary",
    }


def test_structured_features_do_not_trip_the_shuffled_control():
    # Two cohorts in different units (one 40x deeper and log-shifted): a permutation null
    # (labels permuted within training rows, scored on the true held-out labels) can drift
    # above chance on such data (the softmax null did: 0.58); the shuffled-label control must
    # stay at chance, so the probe reports the cohort instead of failing its self-checks.
    rng = np.random.default_rng(3)
    n_a, n_b, m = 450, 50, 300
    base = rng.gamma(0.5, 20.0, m)
    a = rng.poisson(base * rng.lognormal(0, 0.3, (n_a, 1)))
    b = rng.poisson(40 * base * rng.lognormal(0, 0.3, (n_b, 1))) / 7.0
    X = np.vstack([a, b]).astype(float)
    cohort = np.array(["A"] * n_a + ["B"] * n_b)
    res = probe.batch_probe(X, cohort, target_name="cohort", **FAST)
    assert res.self_check["ok"] is True
    assert res.p_value < 0.05 and res.balanced_accuracy > 0.9


def test_one_batch_of_many_that_stands_out_is_reported():
    # 20 batches, only B19 shifted: balanced accuracy over all batches barely leaves chance
    # (effect < min_effect), but B19 itself is recognised: that is still a batch effect.
    rng = np.random.default_rng(11)
    n_per, m = 50, 120
    batch = np.repeat([f"B{i:02d}" for i in range(20)], n_per)
    X = rng.poisson(20.0, (len(batch), m)).astype(float)
    X[batch == "B19", :30] *= 4.0
    found = probe.check_batch_probe(X, batch, name="cells", **FAST)
    (predictable,) = by_id(found, probe.PREDICTABLE)
    assert predictable.severity == "warning"
    assert predictable.evidence["effect"] < 0.1
    assert list(predictable.evidence["recognisable_classes"]) == ["B19"]
    message = "1 of 20 (5%) batch values are recognised on their own (B19 recall"
    assert message in predictable.message


# --- one audit, several targets: shared passes ------------------------------------------------


@pytest.fixture(scope="module")
def cohort_context_parts():
    """A grouped cohort (patients with 1-6 samples each) with a batch shift, a weak label signal
    and the first samples' batch missing: batch, label and split probes over one matrix."""
    sheet = cohort(110, seed=8).set_index("sample_id")
    n = len(sheet)
    X = nb_counts(n, G, seed=8).astype(np.float64)
    X[(sheet["batch"] == "B1").to_numpy(), :25] *= 3
    X[(sheet["label"] == "tumour").to_numpy(), 200:210] *= 2
    sheet.loc[sheet.index[:9], "batch"] = np.nan  # the batch probe keeps fewer rows
    return X, sheet


def _cohort_context(parts, **config):
    X, sheet = parts
    options = {
        "batch_col": "batch",
        "label_col": "label",
        "split_col": "split",
        "group_cols": ["patient_id"],
    }
    return _context(X, sheet, **{**options, **config})


def _audit_with_results(ctx, monkeypatch):
    """audit_probe's findings and the ProbeResult behind each probe.summary, in order."""
    seen = []
    summary = _audit._summary

    def recording(res, *args, **kwargs):
        seen.append(res)
        return summary(res, *args, **kwargs)

    monkeypatch.setattr(_audit, "_summary", recording)
    return probe.audit_probe(ctx), seen


#: Recorded from the closed-form LDA statistic (issue 23; the softmax statistic before it gave
#: p = 1/101, 1/101 and 0.406 on these targets: the same verdicts). Balanced accuracies are
#: counts over held-out rows, so they survive last-bit differences between machines (BLAS);
#: the equality of the audit's and the separate runs is
#: test_shared_read_equals_one_target_at_a_time's job.
PINNED: dict = {
    "batch": {
        "fold_balanced_accuracy": [0.602591, 0.4845588, 0.4914124, 0.5077082, 0.4544526],
        "p_value": 0.009900990099009901,
    },
    "label": {
        "fold_balanced_accuracy": [0.879798, 0.8395833, 0.9048913, 0.8974185, 0.8722826],
        "p_value": 0.009900990099009901,
    },
    "split": {
        "fold_balanced_accuracy": [0.525974, 0.3912338, 0.5032468, 0.5363636, 0.5722403],
        "p_value": 0.4752475247524752,
    },
}


def test_audit_probe_numbers_are_pinned(cohort_context_parts, monkeypatch):
    _, results = _audit_with_results(_cohort_context(cohort_context_parts), monkeypatch)
    assert [r.target_name for r in results] == ["batch", "label", "split"]
    for res in results:
        pinned = PINNED[res.target_name]
        assert list(res.fold_balanced_accuracy) == pytest.approx(
            pinned["fold_balanced_accuracy"], abs=1e-6
        )
        assert res.p_value == pytest.approx(pinned["p_value"])


def _without_losses(evidence: dict) -> dict:
    """The evidence without the trained model's loss figures, which move in the last float32
    bits when its inputs are padded to another target's shapes."""
    checks = evidence["self_check"]
    loss = [checks[k].pop(f) for k, f in (("initial_loss", "max_abs_deviation"),
                                          ("loss_falls", "final"), ("loss_falls", "initial"),
                                          ("loss_falls", "max_step_increase"),
                                          ("initial_loss", "value"))]  # fmt: skip
    return {**evidence, "losses": loss}


def test_shared_read_equals_one_target_at_a_time(cohort_context_parts, monkeypatch):
    ctx = _cohort_context(cohort_context_parts)
    _, results = _audit_with_results(ctx, monkeypatch)
    _, sheet = cohort_context_parts
    adata = ctx.features[0].adata
    for res in results:
        alone = probe.batch_probe(
            adata,
            sheet[res.target_name].to_numpy(),
            groups=sheet["patient_id"].to_numpy(),
            target_name=res.target_name,
            **FAST,
        )
        a, b = _without_losses(alone.to_dict()), _without_losses(res.to_dict())
        assert a["losses"] == pytest.approx(b.pop("losses"), abs=1e-5)
        a.pop("losses")
        assert a == b
        assert alone.null_balanced_accuracy == res.null_balanced_accuracy
        assert np.array_equal(alone.embedding, res.embedding)
        assert np.array_equal(alone.embedding_rows, res.embedding_rows)


@pytest.fixture
def passes(monkeypatch):
    """The matrix views read in full (``iter_chunks`` calls), one entry per pass."""
    read: list[MatrixView] = []
    original = MatrixView.iter_chunks

    def counting(self, chunk_size=10_000):
        read.append(self)
        return original(self, chunk_size)

    monkeypatch.setattr(MatrixView, "iter_chunks", counting)
    return read


def test_three_targets_share_one_read(cohort_context_parts, passes):
    ctx = _cohort_context(cohort_context_parts, chunk_size=64)
    found = probe.audit_probe(ctx)
    assert [f.evidence["target"] for f in by_id(found, probe.SUMMARY)] == [
        "batch",
        "label",
        "split",
    ]
    # In memory the probed rows of the three targets are taken directly: no pass over the
    # matrix (was two per target, then two); the units are detected on rows of that read.
    assert sum(view is ctx.features[0].view for view in passes) == 0


def test_the_audit_shared_pass_collects_the_probed_rows(cohort_context_parts, passes):
    # Declared by the probe group for the audit's shared pass: the probe then reads nothing.
    from biodata_guard.stream import shared_pass

    ctx = _cohort_context(cohort_context_parts, chunk_size=64)
    fi = ctx.features[0]
    accumulators = _audit.stream_accumulators(ctx, fi)
    (key,) = accumulators
    assert key[:2] == ("probe", "rows") and key[2] == len(cohort_context_parts[1])
    shared_pass(fi.view, accumulators, chunk_size=64)
    found = probe.audit_probe(ctx)
    assert sum(view is fi.view for view in passes) == 1  # the shared pass only
    assert key not in fi.view.memo  # and its rows are freed
    again = probe.audit_probe(_cohort_context(cohort_context_parts, chunk_size=64))
    assert [f.evidence for f in found] == [f.evidence for f in again]
    no_probe = _cohort_context(cohort_context_parts, probe=False)
    assert _audit.stream_accumulators(no_probe, no_probe.features[0]) == {}


def test_the_audit_probe_shows_its_read_and_fits_on_progress_bars(cohort_context_parts):
    bars: dict[str, list[tuple[int, int]]] = {}

    @contextlib.contextmanager
    def recording_bar(label, total):
        bars[label] = []
        yield lambda done, total: bars[label].append((done, total))

    ctx = _cohort_context(cohort_context_parts, chunk_size=64)
    ctx.progress_bar = recording_bar
    probe.audit_probe(ctx)
    n = ctx.features[0].view.n_obs
    assert list(bars) == [
        "probe batch, label, split: reading the probed rows (rows)",
        "probe: fitting the models of batch, label, split (targets)",
    ]
    read, fits = bars.values()
    done = [d for d, _ in read]  # rows read, block by block, up to every row
    assert done == sorted(done) and done[-1] == n and {t for _, t in read} == {n}
    assert fits == [(1, 3), (2, 3), (3, 3)]


def test_the_units_are_detected_once_for_every_target(cohort_context_parts, monkeypatch):
    # One transform for the matrix, from its units on a seeded sample of its rows (the same
    # rows for every target and for a target probed alone).
    chosen = _engine.choose_transform
    calls = []

    def counting(rows, name, transform):
        calls.append(rows.shape[0])
        return chosen(rows, name, transform)

    monkeypatch.setattr(_engine, "choose_transform", counting)
    ctx = _cohort_context(cohort_context_parts)
    _, results = _audit_with_results(ctx, monkeypatch)
    assert calls == [len(cohort_context_parts[1])]  # fewer than 1,000 rows: all of them
    assert {r.preprocessing["transform"] for r in results} == {"counts"}


def test_option_defaults_are_batch_probe_defaults():
    params = inspect.signature(probe.batch_probe).parameters
    for f in dataclasses.fields(_inputs._Options):
        assert params[f.name].default == f.default, f.name


# --- permutations vs alpha --------------------------------------------------------------------


def test_too_few_permutations_for_alpha_are_said(shifted):
    X, batch = shifted
    found = probe.check_batch_probe(
        X, batch, name="counts.csv", n_components=K_COMP, n_permutations=40
    )
    (summary,) = by_id(found, probe.SUMMARY)
    assert summary.evidence["min_p_value"] == pytest.approx(1 / 41, rel=1e-5)
    assert summary.evidence["p_value"] == pytest.approx(
        1 / 41, rel=1e-5
    )  # beat every permutation...
    assert by_id(found, probe.PREDICTABLE) == []  # ...and still cannot reach alpha = 0.01
    assert (
        "with 40 permutations the smallest attainable p-value is 0.024 > alpha 0.01, so no "
        "result can be significant (use at least 99 permutations)" in summary.message
    )
    # Enough permutations: no clause, no key.
    (enough,) = by_id(probe.check_batch_probe(X, batch, **FAST), probe.SUMMARY)
    assert "min_p_value" not in enough.evidence and "attainable" not in enough.message


# --- large inputs: a proportional sample of rows ----------------------------------------------


def test_proportional_take_keeps_the_class_shares_with_a_floor():
    codes = np.repeat([0, 1, 2, 3], [5, 50, 500, 1000])
    take = _prep.proportional_take(codes, 300, 20, np.random.default_rng(0))
    assert np.array_equal(take, np.unique(take))
    # Shares 0.96, 9.65, 96.46, 192.93: floors 0, 9, 96, 192 (297), the 3 rows left to the
    # largest remainders (classes 0, 3, 1): 1, 10, 96, 193; then the floor of 20 rows (or the
    # whole class) lifts classes 0 and 1.
    assert np.bincount(codes[take]).tolist() == [5, 20, 96, 193]
    again = _prep.proportional_take(codes, 300, 20, np.random.default_rng(0))
    assert np.array_equal(take, again)
    everything = _prep.proportional_take(codes, 5000, 20, None)
    assert np.array_equal(everything, np.arange(len(codes)))


def test_rows_above_max_samples_are_sampled_and_only_they_are_read(
    shifted, shifted_result, monkeypatch
):
    X, batch = shifted
    transformed = []
    original = _prep.transform_rows

    def counting(L, r0, r1, *args, **kwargs):
        transformed.append(r1 - r0)
        return original(L, r0, r1, *args, **kwargs)

    monkeypatch.setattr(_prep, "transform_rows", counting)
    options = {"max_samples": 200, "svd_samples": 50, "chunk_size": 64, **FAST}
    found = probe.check_batch_probe(X, batch, name="cells", **options)
    (summary,) = by_id(found, probe.SUMMARY)
    n = summary.evidence["n_samples"]
    prep = summary.evidence["preprocessing"]
    assert (prep["rows_probed"], prep["rows_eligible"], prep["max_samples"]) == (n, N, 200)
    # The first 200 rows of the matrix's seeded row order (a uniform sample: about half of
    # each batch), plus, for a batch with fewer than 10 rows per fold (50), its next rows.
    order = _design.row_order(N, 0)
    first = order[:200]
    size = pd.Series(batch).value_counts()
    per_class = {c: sum(row.values()) for c, row in summary.evidence["confusion"].items()}
    for c in per_class:
        in_first = int((batch[first] == c).sum())
        assert per_class[c] == max(in_first, min(50, size[c]))
        assert abs(in_first - size[c] / 2) < 4 * np.sqrt(size[c] / 4)  # binomial noise
    assert n == sum(per_class.values()) and 200 <= n < N  # plus what the floors add
    assert f"{n} of 400 samples (a seeded sample, each class in proportion" in summary.message
    # Read and transformed: the sampled rows and the 50 rows of the principal axes (the front
    # of the same order: all within the sample), once.
    opts = _inputs._Options(**options)
    basis = _engine.matrix_rows(N, opts)[1]
    assert prep["svd_rows"] == len(basis) == 50 and set(basis) <= set(first)
    assert sum(transformed) == n
    # The planted batch effect is still found at p = 1/101 on half the rows.
    (predictable,) = by_id(found, probe.PREDICTABLE)
    assert predictable.evidence["p_value"] == pytest.approx(1 / 101)
    # At or above the number of rows nothing is sampled: the numbers of the full probe.
    full = probe.batch_probe(X, batch, target_name="batch", max_samples=N, **FAST).to_dict()
    assert full["preprocessing"].pop("max_samples") == N
    expected = shifted_result.to_dict()
    expected["preprocessing"].pop("max_samples")
    assert full == expected


def test_non_finite_values_outside_the_rows_read_do_not_stop_the_probe(shifted):
    X, batch = shifted
    options = {"max_samples": 200, "svd_samples": 50, **FAST}
    res = probe.batch_probe(X, batch, **options)
    read = np.zeros(N, bool)
    read[res.embedding_rows] = True  # every probed row is plotted (200 <= 2,000 points)
    read[_engine.matrix_rows(N, _inputs._Options(**options))[1]] = True
    outside, inside = np.flatnonzero(~read)[0], res.embedding_rows[3]
    bad = X.copy()
    bad[outside, 7] = np.nan
    again = probe.batch_probe(bad, batch, **options)
    assert again.to_dict() == res.to_dict()
    bad[inside, 7] = np.inf  # a sampled row: named by its row number in X
    named = f"NaN/inf value\\(s\\) in rows .*first in row {inside}\\)"
    with pytest.raises(InputError, match=named):
        probe.batch_probe(bad, batch, chunk_size=64, **options)


def test_the_audit_passes_probe_max_samples(cohort_context_parts, monkeypatch):
    ctx = _cohort_context(cohort_context_parts, probe_max_samples=150)
    _, results = _audit_with_results(ctx, monkeypatch)
    _, sheet = cohort_context_parts
    assert all(150 <= r.n_samples < len(sheet) for r in results)
    batch = results[0]
    alone = probe.batch_probe(
        ctx.features[0].adata,
        sheet["batch"].to_numpy(),
        groups=sheet["patient_id"].to_numpy(),
        target_name="batch",
        max_samples=150,
        **FAST,
    )
    assert alone.to_dict() == batch.to_dict()

"""The probe's budget design (issue 23): closed-form LDA statistic, directions between class means,
JIT compiled once per audit, the persistent compilation cache, the Dask engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from biodata_guard import audit, probe, registry
from biodata_guard.config import load_config
from biodata_guard.errors import ConfigError
from biodata_guard.probe import _audit, _lda, _prep
from biodata_guard.probe import _model as _probe_model
from tests import test_probe
from tests.test_probe import FAST, _cohort_context, by_id

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cohort_parts():
    """test_probe's grouped cohort: batch, label and split probes over one matrix."""
    return test_probe.cohort_context_parts.__wrapped__()


# --- the statistic: one factorisation per fold, label sets change the class sums only ----------


def _naive_balanced_accuracy(Ztr, ytr, Zte, yte, K):
    """Nearest class mean, one label set at a time, written out."""
    present = [k for k in range(K) if (ytr == k).any()]
    means = np.array([Ztr[ytr == k].mean(axis=0) for k in present])
    scores = Zte @ means.T - 0.5 * (means**2).sum(axis=1)
    pred = np.array(present)[scores.argmax(axis=1)]
    return np.mean([(pred[yte == k] == k).mean() for k in np.unique(yte)])


def test_every_label_set_scores_as_if_fitted_alone():
    rng = np.random.default_rng(0)
    K, m, t, d = 5, 300, 200, 6
    centres = rng.normal(0, 1.0, (K, d))
    ytr_obs, yte = rng.integers(K, size=m), rng.integers(K, size=t)
    Ztr = centres[ytr_obs] + rng.standard_normal((m, d))
    Zte = centres[yte] + rng.standard_normal((t, d))
    sets = [ytr_obs] + [rng.permutation(ytr_obs) for _ in range(20)]
    sets.append(np.where(ytr_obs == 4, 3, ytr_obs))  # class 4 absent: never predicted
    Ytr = np.stack(sets, axis=1)
    Yte = np.repeat(yte[:, None], Ytr.shape[1], axis=1)
    res = _lda.lda_scores(Ztr, Ytr, Zte, Yte, K)
    naive = [_naive_balanced_accuracy(Ztr, Ytr[:, b], Zte, yte, K) for b in range(Ytr.shape[1])]
    assert res.balanced_accuracy == pytest.approx(naive, abs=1e-6)
    assert res.balanced_accuracy[0] > 0.6 and np.mean(res.balanced_accuracy[1:-1]) < 0.3
    assert res.hits[-1, 4] == 0 and res.support[-1, 4] == (yte == 4).sum()
    # Scored in row blocks of any size: the same counts.
    small = _lda._SCORE_CELLS
    try:
        _lda._SCORE_CELLS = 7 * Ytr.shape[1] * K
        again = _lda.lda_scores(Ztr, Ytr, Zte, Yte, K)
    finally:
        _lda._SCORE_CELLS = small
    assert np.array_equal(again.hits, res.hits)


@pytest.mark.parametrize("gather", [1 << 22, 37, 1])
@pytest.mark.parametrize("dense", [False, True])
def test_class_sums_by_code_and_squares_by_group(gather, dense, monkeypatch):
    # Gathered a few codes at a time (any cap gives the same sums); codes without rows, at the
    # start and at the end, sum to 0; -1 is no code.
    monkeypatch.setattr(_prep, "_GATHER_VALUES", gather)
    rng = np.random.default_rng(0)
    L = sp.random(300, 40, density=0.3, format="csr", random_state=0)
    codes = rng.integers(1, 18, size=300)
    codes[:20] = -1
    group = np.arange(20) // 4
    sums, squares = _prep.class_sums(L.toarray() if dense else L, codes, 20, group)
    X = L.toarray()
    assert np.allclose(sums, [X[codes == c].sum(axis=0) for c in range(20)])
    assert not sums[[0, 18, 19]].any()
    assert np.allclose(squares, [(X[np.isin(codes, np.flatnonzero(group == g))] ** 2).sum(0)
                                 for g in range(5)])  # fmt: skip


# --- a small batch among many: the directions between class means find it -------------------


def _many_batches(seed: int = 0, *, n: int = 12_000, genes: int = 1_500, n_batches: int = 60):
    """Sparse counts; the last batch holds 1 % of the rows and reads 30 genes 3x higher."""
    rng = np.random.default_rng(seed)
    small = n // 100
    sizes = np.full(n_batches - 1, (n - small) // (n_batches - 1))
    sizes[: (n - small) - sizes.sum()] += 1
    batch = np.repeat([f"B{i:02d}" for i in range(n_batches)], [*sizes, small])
    mu = rng.lognormal(-1.5, 1.0, genes)[None, :] * rng.lognormal(0, 0.3, (n, 1))
    shifted = rng.choice(genes, 30, replace=False)
    mu[np.ix_(batch == f"B{n_batches - 1:02d}", shifted)] *= 3.0
    return sp.csr_matrix(rng.poisson(mu).astype(np.float32)), batch


MANY = {"n_components": 10, "n_permutations": 100, "max_train_samples": 1_024}


@pytest.fixture(scope="module")
def many_batches():
    return _many_batches()


def test_a_batch_of_one_percent_among_sixty_is_found(many_batches):
    X, batch = many_batches
    found = probe.check_batch_probe(X, batch, name="cells", **MANY)
    (summary,) = by_id(found, probe.SUMMARY)
    ev = summary.evidence
    assert ev["p_value"] == pytest.approx(1 / 101)
    prep = ev["preprocessing"]
    assert prep["class_mean_directions_per_fold"] == [10] * 5
    # The model trains on 1,024 pool rows per fold; the directions come from the rest of the
    # fold's training rows (9,600 - 1,024 at most: the pool holds 1,280 rows of all folds).
    assert all(1_000 <= n <= 1_024 for n in prep["model_rows_per_fold"])
    assert all(7_500 < n < 8_600 for n in prep["screening_rows_per_fold"])
    (predictable,) = by_id(found, probe.PREDICTABLE)
    assert predictable.severity == "warning" and predictable.evidence["effect"] < 0.1
    assert list(predictable.evidence["recognisable_classes"]) == ["B59"]
    assert "60 principal components" not in predictable.message
    assert "10 principal components and 10 directions between class means" in predictable.message


@pytest.mark.parametrize("off", ["no directions", "class sums over the memory cap"])
def test_without_the_directions_the_principal_axes_miss_it(many_batches, monkeypatch, off):
    # Why the directions exist: 1 % of the rows shifted in 30 of 1,500 genes is too small a
    # share of the variance to reach the top principal axes. Past the memory cap of the class
    # sums (thousands of classes of 60,000 genes) the probe runs on the principal axes alone.
    X, batch = many_batches
    if off == "no directions":
        monkeypatch.setattr(_prep, "SUPERVISED_DIRECTIONS", 0)
    else:
        monkeypatch.setattr(_prep, "_SUM_CELLS", 1)
    res = probe.batch_probe(X, batch, **MANY)
    assert res.preprocessing["class_mean_directions_per_fold"] == [0] * 5
    assert res.p_value > 0.1 and res.per_class_recall["B59"] < 0.1


def test_shuffled_batches_stay_clean_with_the_directions(many_batches):
    # The directions see labels (of the screening rows only): the permutation test of the
    # model, trained and scored on other rows, must stay calibrated. At alpha = 0.01 a clean
    # input is flagged for 1 % of seeds, by construction.
    X, batch = many_batches
    shuffled = np.random.default_rng(7).permutation(batch)
    found = probe.check_batch_probe(X, shuffled, **MANY)
    assert by_id(found, probe.PREDICTABLE) == []
    (summary,) = by_id(found, probe.SUMMARY)
    assert summary.evidence["p_value"] > 0.01
    assert summary.evidence["self_check"]["ok"] is True


@pytest.mark.slow
def test_the_p_values_of_shuffled_batches_are_spread_as_under_the_null(many_batches):
    # Under the null the p-value is uniform on {1/21, ..., 1}: its mean over 8 shuffles is
    # 0.52 +- 0.10; a leak of the screening labels into the model would pile them near 1/21.
    X, batch = many_batches
    ps = [
        probe.batch_probe(
            X, np.random.default_rng(100 + s).permutation(batch), **{**MANY, "n_permutations": 20}
        ).p_value
        for s in range(8)
    ]
    assert np.mean(ps) > 0.25 and sum(p <= 0.1 for p in ps) <= 2


# --- JIT: compiled once per audit; the persistent cache -------------------------------------


def test_the_audit_compiles_the_model_once_for_all_targets(cohort_parts, monkeypatch):
    monkeypatch.setattr(_probe_model, "_COMPILED", {})
    seen = []
    summary = _audit._summary
    monkeypatch.setattr(
        _audit, "_summary", lambda res, *a, **k: seen.append(res) or summary(res, *a, **k)
    )
    probe.audit_probe(_cohort_context(cohort_parts))
    names = sorted(key[0] for key in _probe_model._COMPILED)
    assert names == ["fit30", "overfit"]  # batch (4 classes), label and split (2): one shape
    compile_seconds = [r.timings["compile"] for r in seen]
    assert compile_seconds[0] > 0 and compile_seconds[1:] == [0.0, 0.0]
    assert all(r.timings["total"] >= r.timings["compile"] for r in seen)


_CACHE_RUN = """
import json, sys
import jax.monitoring
import numpy as np
from biodata_guard.probe import batch_probe
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None
)
rng = np.random.default_rng(0)
X = rng.poisson(5, (120, 40)).astype(float)
batch = np.repeat(["a", "b"], 60)
X[batch == "b", :5] *= 3
res = batch_probe(X, batch, n_components=5, n_permutations=20, compilation_cache=sys.argv[1])
print(json.dumps({"hits": len(hits), "p": res.p_value, "bal": res.balanced_accuracy}))
"""


def test_the_persistent_compilation_cache_is_used_when_given(tmp_path):
    cache = tmp_path / "jax-cache"
    runs = []
    for _ in range(2):  # two processes: the second loads what the first compiled
        proc = subprocess.run(
            [sys.executable, "-c", _CACHE_RUN, str(cache)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert any(cache.iterdir())
    assert runs[0]["hits"] == 0 and runs[1]["hits"] >= 2  # the model and the small-batch fit
    assert runs[0]["p"] == runs[1]["p"] and runs[0]["bal"] == runs[1]["bal"]


def test_the_audit_passes_its_compile_cache_to_the_probe(cohort_parts, tmp_path):
    ctx = _cohort_context(cohort_parts, probe_compile_cache=str(tmp_path))
    assert _audit._options(ctx).compilation_cache == str(tmp_path)
    assert _audit._options(_cohort_context(cohort_parts)).compilation_cache is None
    assert "probe_compile_cache" in registry.get_check(probe.PREDICTABLE).params
    config = tmp_path / "audit.yaml"
    config.write_text("probe:\n  compile_cache: jax-cache\n", encoding="utf-8")
    assert load_config(config).probe_compile_cache == str(tmp_path / "jax-cache")


def test_a_bad_compilation_cache_is_a_config_error():
    with pytest.raises(ConfigError, match="`compilation_cache` must be a directory path or None"):
        probe.batch_probe(np.ones((10, 3)), ["a", "b"] * 5, compilation_cache=3)


# --- the Dask engine ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_dask_engine_gives_the_in_memory_probe_findings(tmp_path, cohort_parts):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    X, sheet = cohort_parts
    obs = sheet.copy()
    obs.index = obs.index.astype(str)
    path = tmp_path / "cells.h5ad"
    ad.AnnData(X=sp.csr_matrix(X), obs=obs).write_h5ad(path)
    options = dict(
        features=[path],
        batch_col="batch",
        label_col="label",
        split_col="split",
        group_cols=["patient_id"],
        only={"probe"},
        probe_components=FAST["n_components"],
        probe_permutations=FAST["n_permutations"],
        chunk_size=64,
    )
    memory = audit(**options)
    dask = audit(**options, engine="dask")
    assert dask.config["run"]["engine"] == "dask"

    def findings(report):
        return [(f.check, str(f.severity), f.message, f.evidence) for f in report.findings]

    assert findings(dask) == findings(memory)
    assert "batch.predictable" in {f.check for f in memory.findings}
    summaries = [f for f in memory.findings if f.check == "probe.summary"]
    assert [f.evidence["p_value"] for f in summaries] == pytest.approx(
        [test_probe.PINNED[t]["p_value"] for t in ("batch", "label", "split")], rel=1e-5
    )


@pytest.mark.parametrize("kind", ["csr32", "dense32", "csr64"])
def test_the_probe_never_writes_to_its_input(kind):
    # The probed rows are transformed in place: on its own copy of them, never on X.
    rng = np.random.default_rng(3)
    X = rng.poisson(3.0, (200, 30)).astype(np.float32 if kind.endswith("32") else np.float64)
    batch = np.repeat(["a", "b"], 100)
    X[batch == "b", :4] *= 3
    X = sp.csr_matrix(X) if kind.startswith("csr") else X
    before = X.copy()
    probe.batch_probe(X, batch, n_components=5, n_permutations=20)
    same = (X != before).nnz == 0 if sp.issparse(X) else np.array_equal(X, before)
    assert same

"""The probe's fit and results phase: every model of every fold, then the numbers."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.io.matrix import MatrixView
from biodata_guard.probe import _model as pm
from biodata_guard.probe._design import _Design, _Target
from biodata_guard.probe._inputs import _Options
from biodata_guard.probe._result import ProbeResult, ProbeSelfCheckError
from biodata_guard.probe._selfcheck import _self_checks

#: Shuffled-label controls trained and scored beside the permutation null.
N_SHUFFLED_CONTROLS = 10


def _results(
    view: MatrixView,
    t: _Target,
    bases: list[pm.FoldBasis],
    plot_rows: np.ndarray,
    Zte: np.ndarray,
    embedding: np.ndarray,
    *,
    opts: _Options,
) -> ProbeResult:
    """Fit and results phase: every model of every fold in one call, then the statistic (the
    balanced accuracy averaged over folds), its null, recalls, driving features, self-checks."""
    start = time.perf_counter()
    d, rows, y, K = t.design, t.design.rows, t.design.y, len(t.design.classes)
    n_permutations = opts.n_permutations
    inputs = _model_inputs(d, bases, Zte, n_permutations=n_permutations, rng=t.rng)
    out = pm.fit_probes(*inputs, n_steps=opts.n_steps, l2=opts.l2)
    t.seconds["fit"] = time.perf_counter() - start
    start = time.perf_counter()

    bal = out["balanced_accuracy"].astype(np.float64)  # (F, B): column 0 observed
    observed = bal[:, 0]
    null = bal[:, 1 : 1 + n_permutations].mean(axis=0)
    controls = bal[:, 1 + n_permutations :].mean(axis=0)
    score = float(observed.mean())
    p_value = float((1 + np.sum(null >= score - 1e-9)) / (1 + n_permutations))
    chance = _chance(d)
    confusion, recall = _confusion(d, out["pred"])
    class_mask = inputs[7]
    top = _top_features(
        bases, out["W"][:, :, :K], class_mask[:, :K], view.var_names, d, opts.n_top_features
    )
    checks = _self_checks(
        out, bases[0], y[d.train[0]], class_mask, chance=chance, controls=controls, rng=t.rng
    )
    checks["finite"]["ok"] &= bool(np.isfinite(Zte).all() and np.isfinite(embedding).all())
    _verify(checks, t.name, opts)
    t.seconds["end"] = time.perf_counter() - start
    return ProbeResult(
        target_name=t.name,
        classes=d.classes,
        n_samples=len(rows),
        n_features=view.n_vars,
        n_components=opts.n_components,
        n_folds=opts.folds,
        grouped=d.grouped,
        balanced_accuracy=score,
        balanced_accuracy_sd=float(observed.std(ddof=1)),
        fold_balanced_accuracy=tuple(float(v) for v in observed),
        chance=chance,
        p_value=p_value,
        n_permutations=n_permutations,
        null_balanced_accuracy=tuple(float(v) for v in null),
        per_class_recall=recall,
        confusion=confusion,
        top_features=top,
        embedding=embedding,
        embedding_rows=plot_rows,
        embedding_labels=tuple(d.classes[c] for c in y[np.searchsorted(rows, plot_rows)]),
        self_check=checks,
        preprocessing=_preprocessing(t, bases, opts),
        dropped_classes=d.dropped,
        seed=opts.seed,
        timings=_timings(t.seconds),
    )


def _confusion(d: _Design, pred: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """The confusion matrix over all held-out predictions (rows true, columns predicted; ``pred``
    per fold, padded) and the recall of each class (NaN for a class never held out)."""
    K = len(d.classes)
    confusion = np.zeros((K, K), np.int64)
    for f in range(d.n_folds):
        test = d.test(f)
        np.add.at(confusion, (d.y[test], pred[f, : len(test)]), 1)
    support = confusion.sum(axis=1)
    recall = {
        c: float(confusion[i, i] / support[i]) if support[i] else float("nan")
        for i, c in enumerate(d.classes)
    }
    return confusion, recall


def _verify(checks: dict[str, Any], target_name: str, opts: _Options) -> None:
    """Mark ``checks["ok"]``; raise :class:`ProbeSelfCheckError` on a failure when asked to."""
    failed = [k for k, v in checks.items() if not v["ok"]]
    checks["ok"] = not failed
    if failed and opts.self_check:
        raise ProbeSelfCheckError(
            f"the probe of {target_name!r} failed its self-checks: "
            + "; ".join(f"{k} {checks[k]}" for k in failed)
            + f". This is a bug in biodata_guard: please report it with the seed ({opts.seed}).",
            checks,
        )


def _timings(seconds: dict[str, float]) -> dict[str, float]:
    stages = ("units", "stats", "svd", "project", "fit", "end")
    timings = {k: round(seconds[k], 4) for k in stages}
    timings["total"] = round(sum(seconds[k] for k in stages), 4)
    return timings


def _preprocessing(t: _Target, bases: list[pm.FoldBasis], opts: _Options) -> dict[str, Any]:
    """What was done to the rows before the model, with the numbers (for the evidence)."""
    d = t.design
    prep = dict(t.prep)
    prep.update(
        {
            "target_sum": pm.TARGET_SUM if prep["transform"] == "counts" else None,
            "standardise": "per feature, mean and SD of the fold's training rows",
            "svd": "randomised, implicit centring and scaling (never densified)",
            "rows_probed": len(d.rows),
            "rows_eligible": d.n_eligible,
            "max_samples": opts.max_samples,
            "svd_rows_per_fold": int(min(opts.svd_samples, min(map(len, d.train)))),
            "svd_power_iterations": pm.SVD_POWER_ITERATIONS,
            "model_rows_per_fold": [len(train) for train in d.train],
            "held_out_rows_per_fold": [len(d.test(f)) for f in range(opts.folds)],
            "components_kept_per_fold": [b.rank for b in bases],
            "model": "multinomial logistic regression with L2 on the whitened components "
            "(JAX; optax.sgd at the Böhning step)",
            "l2": opts.l2,
            "n_steps": opts.n_steps,
        }
    )
    return prep


def _model_inputs(
    d: _Design,
    bases: list[pm.FoldBasis],
    Zte: np.ndarray,
    *,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Stack the folds for :func:`_probe_model.fit_probes` (padded, real rows first). Label
    sets: column 0 observed, then permutations within each fold's training rows, drawn with
    numpy's seeded Generator (a vmapped sort inside the XLA program cost 2.5 s of compile)."""
    F, t_pad, k = Zte.shape
    K = len(d.classes)
    m_pad = pm.bucket(max(len(t) for t in d.train))
    K_pad = pm.bucket_classes(K)
    Ztr = np.zeros((F, m_pad, k), np.float32)
    C = N_SHUFFLED_CONTROLS
    ytr = np.zeros((F, m_pad, n_permutations + 1 + C), np.int32)
    mtr = np.zeros((F, m_pad), np.float32)
    yte = np.zeros((F, t_pad), np.int32)
    yte_ctrl = np.zeros((F, t_pad, C), np.int32)
    # Shuffled-label controls: the target shuffled over all rows, held-out rows included, so
    # it carries no information whatever the features' structure: their score must be chance.
    shuffled = np.stack([rng.permutation(d.y) for _ in range(C)], axis=1)
    mte = np.zeros((F, t_pad), np.float32)
    class_mask = np.zeros((F, K_pad), bool)
    log_prior = np.zeros((F, K_pad))
    for f in range(F):
        m_f = len(d.train[f])
        observed = d.y[d.train[f]]
        Ztr[f, :m_f, : bases[f].Z.shape[1]] = bases[f].Z
        ytr[f, :m_f, 0] = observed
        ytr[f, :m_f, 1 : 1 + n_permutations] = rng.permuted(
            np.tile(observed, (n_permutations, 1)), axis=1
        ).T
        ytr[f, :m_f, 1 + n_permutations :] = shuffled[d.train[f]]
        mtr[f, :m_f] = 1.0
        test = d.test(f)
        yte[f, : len(test)] = d.y[test]
        yte_ctrl[f, : len(test)] = shuffled[test]
        mte[f, : len(test)] = 1.0
        count = np.bincount(observed, minlength=K_pad)
        class_mask[f] = count > 0
        log_prior[f, count > 0] = np.log(count[count > 0] / m_f)
    Zte = Zte.astype(np.float32, copy=False)  # pass 2 stores float32 already
    return Ztr, ytr, mtr, Zte, yte, yte_ctrl, mte, class_mask, log_prior


def _chance(d: _Design) -> float:
    """Balanced accuracy of guessing uniformly among a fold's training classes, averaged over
    folds: 1/K when every fold holds every class (grouped folds may not)."""
    out = []
    for f in range(d.n_folds):
        test, train = set(d.y[d.test(f)]), set(d.y[d.train[f]])
        out.append(len(test & train) / (len(test) * len(train)))
    return float(np.mean(out))


def _top_features(
    bases: list[pm.FoldBasis],
    W: np.ndarray,
    class_mask: np.ndarray,
    var_names: pd.Index,
    d: _Design,
    n_top: int,
) -> tuple[dict[str, Any], ...]:
    """Per feature: the model's coefficient on the standardised feature (loadings x whitening
    x weights), centred over the fold's classes (softmax is shift-invariant) and averaged
    over folds; importance is its norm over classes."""
    if n_top == 0:
        return ()
    coef = np.zeros((bases[0].projection.shape[0], len(d.classes)))
    for f, b in enumerate(bases):
        C = b.loadings() @ W[f, : b.whiten.shape[1], :]
        C[:, ~class_mask[f]] = np.nan
        coef += np.nan_to_num(C - np.nanmean(C, axis=1, keepdims=True))
    coef /= len(bases)
    importance = np.sqrt((coef**2).sum(axis=1))
    order = np.lexsort((np.arange(len(importance)), -importance))[:n_top]
    return tuple(
        {
            "feature": str(var_names[j]),
            "importance": float(importance[j]),
            "class": d.classes[int(np.argmax(coef[j]))],
        }
        for j in order
        if importance[j] > 0
    )

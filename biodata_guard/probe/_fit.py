"""The probe's fit and results phase: the statistic and its null, the trained model, the numbers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.io.matrix import MatrixView
from biodata_guard.probe import _model as pm
from biodata_guard.probe import _prep
from biodata_guard.probe._design import _Design, _Target
from biodata_guard.probe._embed import Embedding
from biodata_guard.probe._inputs import _Options
from biodata_guard.probe._lda import lda_scores
from biodata_guard.probe._result import ProbeResult, ProbeSelfCheckError
from biodata_guard.probe._selfcheck import _self_checks
from biodata_guard.stream import ordered_map

#: Shuffled-label controls scored beside the permutation null (closed-form: nearly free).
N_SHUFFLED_CONTROLS = 10
#: Pool rows per fold the trained model fits (the first of them: the pool is in a seeded random
#: order). Its ~60 x classes weights need far fewer than the statistic's 8,192 rows, and its
#: cost (rows x classes x steps) was the largest left in the audit's probe (99 batches).
SOFTMAX_ROWS = 4_096


@dataclass(frozen=True)
class Shapes:
    """The padded shapes of the trained model's inputs, shared by every target of one call so
    its program compiles once: model rows, held-out rows, input columns, classes."""

    rows: int
    held_out: int
    columns: int
    classes: int

    @classmethod
    def of(cls, targets: list[_Target], opts: _Options) -> Shapes:
        K = max(len(t.design.classes) for t in targets)
        supervised = min(K - 1, _prep.SUPERVISED_DIRECTIONS)
        return cls(
            rows=_prep.bucket(
                min(SOFTMAX_ROWS, max(len(tr) for t in targets for tr in t.design.train))
            ),
            held_out=_prep.bucket(max(int(np.bincount(t.design.fold).max()) for t in targets)),
            columns=-(-(opts.n_components + supervised) // 8) * 8,
            classes=_prep.bucket_classes(K),
        )


def _results(
    view: MatrixView,
    t: _Target,
    emb: Embedding,
    plot_rows: np.ndarray,
    *,
    opts: _Options,
    shapes: Shapes,
) -> ProbeResult:
    """Fit and results phase: the statistic for the observed labels, the permutations and the
    shuffled controls (closed-form LDA), the trained model (recalls, confusion, driving
    features), the self-checks."""
    start = time.perf_counter()
    d, rows, y, K = t.design, t.design.rows, t.design.y, len(t.design.classes)
    n_permutations = opts.n_permutations
    bal = _statistic(d, emb, n_permutations=n_permutations, rng=t.rng)  # (F, B): 0 observed
    observed = bal[:, 0]
    null = bal[:, 1 : 1 + n_permutations].mean(axis=0)
    controls = bal[:, 1 + n_permutations :].mean(axis=0)
    score = float(observed.mean())
    p_value = float((1 + np.sum(null >= score - 1e-9)) / (1 + n_permutations))
    t.seconds["statistic"] = time.perf_counter() - start
    start = time.perf_counter()
    inputs = _model_inputs(d, emb, shapes)
    out, t.seconds["compile"] = pm.fit_softmax(*inputs, n_steps=opts.n_steps, l2=opts.l2)
    t.seconds["model"] = time.perf_counter() - start - t.seconds["compile"]
    start = time.perf_counter()
    chance = _chance(d)
    confusion, recall, model_bal = _confusion(d, out["pred"])
    class_mask = inputs[4]
    out["n_classes"] = class_mask.sum(axis=1)
    top = _top_features(emb, out["W"], class_mask[:, :K], view.var_names, d, opts.n_top_features)
    checks, compile_seconds = _self_checks(
        out, inputs[0][0], inputs[1][0][: int(inputs[2][0].sum())], class_mask[0],
        rank=emb.folds[0].rank, chance=chance, controls=controls, rng=t.rng,
    )  # fmt: skip
    t.seconds["compile"] += compile_seconds
    checks["finite"]["ok"] &= all(np.isfinite(fe.Zte).all() for fe in emb.folds)
    checks["finite"]["ok"] &= bool(np.isfinite(emb.plot).all())
    _verify(checks, t.name, opts)
    t.seconds["end"] = time.perf_counter() - start - compile_seconds
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
        model_balanced_accuracy=model_bal,
        top_features=top,
        embedding=emb.plot,
        embedding_rows=plot_rows,
        embedding_labels=tuple(d.classes[c] for c in y[np.searchsorted(rows, plot_rows)]),
        self_check=checks,
        preprocessing=_preprocessing(t, emb, opts),
        dropped_classes=d.dropped,
        seed=opts.seed,
        timings=_timings(t.seconds),
    )


def _statistic(
    d: _Design, emb: Embedding, *, n_permutations: int, rng: np.random.Generator
) -> np.ndarray:
    """Held-out balanced accuracy ``(F, B)`` of closed-form LDA per fold and label set: column
    0 the observed labels, then ``n_permutations`` sets permuted within each fold's model rows
    (held-out labels untouched), then the shuffled-label controls (the target shuffled over all
    rows, held-out rows included: it carries no information, so they must score chance)."""
    C = N_SHUFFLED_CONTROLS
    y = d.y.astype(np.int32)
    shuffled = np.stack([rng.permutation(y) for _ in range(C)], axis=1)
    train_sets = []  # drawn in fold order from the seeded generator, before the threads
    for f in range(d.n_folds):
        observed = y[d.train[f]]
        permuted = rng.permuted(np.tile(observed, (n_permutations, 1)), axis=1).T
        train_sets.append(np.column_stack([observed, permuted, shuffled[d.train[f]]]))

    def fold(f: int) -> np.ndarray:
        test = d.test(f)
        Yte = np.column_stack([np.repeat(y[test, None], 1 + n_permutations, 1), shuffled[test]])
        fe = emb.folds[f]
        return lda_scores(fe.Ztr, train_sets[f], fe.Zte, Yte, len(d.classes)).balanced_accuracy

    return np.stack(list(ordered_map(fold, range(d.n_folds))))


def _model_inputs(d: _Design, emb: Embedding, s: Shapes) -> tuple[np.ndarray, ...]:
    """Stack the folds for :func:`._model.fit_softmax`, padded to the shapes ``s`` (real rows,
    columns and classes first; padding masked): the first :data:`SOFTMAX_ROWS` pool rows of
    each fold, and the curvature bound of their inputs (the largest eigenvalue of their second
    moment, the bias column included: 1 on the whole pool, which is whitened)."""
    F = d.n_folds
    Ztr = np.zeros((F, s.rows, s.columns), np.float32)
    ytr = np.zeros((F, s.rows), np.int32)
    mtr = np.zeros((F, s.rows), np.float32)
    Zte = np.zeros((F, s.held_out, s.columns), np.float32)
    class_mask = np.zeros((F, s.classes), bool)
    log_prior = np.zeros((F, s.classes))
    curvature = np.ones(F)
    for f, fe in enumerate(emb.folds):
        m_f, t_f = min(fe.Ztr.shape[0], SOFTMAX_ROWS), fe.Zte.shape[0]
        Z = fe.Ztr[:m_f]
        y = d.y[d.train[f][:m_f]]
        Ztr[f, :m_f, : fe.rank] = Z
        ytr[f, :m_f] = y
        mtr[f, :m_f] = 1.0
        Zte[f, :t_f, : fe.rank] = fe.Zte
        count = np.bincount(y, minlength=s.classes)
        class_mask[f] = count > 0
        log_prior[f, count > 0] = np.log(count[count > 0] / m_f)
        Z1 = np.hstack([Z.astype(np.float64), np.ones((m_f, 1))])
        curvature[f] = max(1.0, float(np.linalg.eigvalsh(Z1.T @ Z1 / m_f)[-1]))
    return Ztr, ytr, mtr, Zte, class_mask, log_prior, curvature


def _confusion(d: _Design, pred: np.ndarray) -> tuple[np.ndarray, dict[str, float], float]:
    """The trained model's confusion matrix over all held-out predictions (rows true, columns
    predicted; ``pred`` per fold, padded), the recall of each class (NaN for a class never held
    out) and its balanced accuracy (per fold over the classes held out, averaged)."""
    K = len(d.classes)
    confusion = np.zeros((K, K), np.int64)
    per_fold = []
    for f in range(d.n_folds):
        test = d.test(f)
        fold = np.zeros((K, K), np.int64)
        np.add.at(fold, (d.y[test], pred[f, : len(test)]), 1)
        confusion += fold
        support = fold.sum(axis=1)
        per_fold.append(float(np.mean(np.diag(fold)[support > 0] / support[support > 0])))
    support = confusion.sum(axis=1)
    recall = {
        c: float(confusion[i, i] / support[i]) if support[i] else float("nan")
        for i, c in enumerate(d.classes)
    }
    return confusion, recall, float(np.mean(per_fold))


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


_STAGES = ("design", "read", "units", "transform", "basis", "embed", "statistic", "model", "end")


def _timings(seconds: dict[str, float]) -> dict[str, float]:
    """Seconds per stage (``read`` is shared by the targets of one call), JIT ``compile``
    apart, and the ``total``."""
    timings = {k: round(seconds.get(k, 0.0), 4) for k in (*_STAGES, "compile")}
    timings["total"] = round(sum(timings.values()), 4)
    return timings


def _preprocessing(t: _Target, emb: Embedding, opts: _Options) -> dict[str, Any]:
    """What was done to the rows before the models, with the numbers (for the evidence)."""
    d = t.design
    prep = dict(t.prep)
    prep.update(
        {
            "target_sum": _prep.TARGET_SUM if prep["transform"] == "counts" else None,
            "standardise": "per feature: mean and SD of the PCA rows for the principal axes, "
            "of each fold's screening rows for the directions between class means",
            "svd": "randomised PCA of the standardised rows, fitted once on a seeded sample of "
            "the matrix's rows (label-free), implicit centring and scaling (never densified)",
            "rows_probed": len(d.rows),
            "rows_eligible": d.n_eligible,
            "max_samples": opts.max_samples,
            "svd_rows": int(emb.basis.n_rows),
            "svd_power_iterations": _prep.SVD_POWER_ITERATIONS,
            "principal_axes": int(emb.basis.V.shape[1]),
            "class_mean_directions_per_fold": [fe.directions for fe in emb.folds],
            "screening_rows_per_fold": [fe.n_screening for fe in emb.folds],
            "model_rows_per_fold": [len(train) for train in d.train],
            "softmax_rows_per_fold": [min(len(train), SOFTMAX_ROWS) for train in d.train],
            "held_out_rows_per_fold": [len(d.test(f)) for f in range(opts.folds)],
            "components_kept_per_fold": [fe.rank for fe in emb.folds],
            "statistic": "held-out balanced accuracy of closed-form LDA (nearest class mean "
            "on the whitened inputs), observed and permuted labels alike",
            "model": "multinomial logistic regression with L2 on the whitened inputs of up to "
            f"{SOFTMAX_ROWS} pool rows (JAX; optax.sgd at the Böhning step): recalls, "
            "confusion, driving features, self-checks",
            "l2": opts.l2,
            "n_steps": opts.n_steps,
        }
    )
    return prep


def _chance(d: _Design) -> float:
    """Balanced accuracy of guessing uniformly among a fold's training classes, averaged over
    folds: 1/K when every fold holds every class (grouped folds may not)."""
    out = []
    for f in range(d.n_folds):
        test, train = set(d.y[d.test(f)]), set(d.y[d.train[f]])
        out.append(len(test & train) / (len(test) * len(train)))
    return float(np.mean(out))


def _top_features(
    emb: Embedding,
    W: np.ndarray,
    class_mask: np.ndarray,
    var_names: pd.Index,
    d: _Design,
    n_top: int,
) -> tuple[dict[str, Any], ...]:
    """Per feature: the trained model's coefficient on the standardised feature (loadings x
    whitening x weights), centred over the fold's classes (softmax is shift-invariant) and
    averaged over folds; importance is its norm over classes."""
    if n_top == 0:
        return ()
    K = len(d.classes)
    coef = np.zeros((emb.basis.V.shape[0], K))
    for f, fe in enumerate(emb.folds):
        C = emb.loadings(f) @ W[f, : fe.rank, :K]
        C[:, ~class_mask[f]] = np.nan
        coef += np.nan_to_num(C - np.nanmean(C, axis=1, keepdims=True))
    coef /= len(emb.folds)
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

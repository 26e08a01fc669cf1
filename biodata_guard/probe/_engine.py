"""The probe's engine: :func:`batch_probe` and the phases several targets share.

"Train a model to predict the batch: if it does better than your model on the real task, your
model is probably learning batch noise." :func:`batch_probe` measures how well a cross-validated
linear probe on principal components predicts a sample attribute (batch, split membership,
label), with a computed permutation null and self-checks; the ``check_*`` functions turn that
into findings; :func:`~biodata_guard.probe.audit_probe` runs them for an audit.

Design, chosen by measurement on 2 CPU cores (``benchmarks/bench_probe.py``):

* Folds: ``StratifiedKFold``, or ``StratifiedGroupKFold`` when ``groups`` (patient, donor) are
  given, so the probe cannot win by recognising individuals.
* Preprocessing, fitted per fold on its training rows only: library-size normalisation to 1e4
  and ``log1p`` for counts (``log1p`` alone for CPM/TPM/normalised values, nothing for log or
  scaled data; units from :func:`biodata_guard.units.detect_units` on <= 1,000 rows); feature
  standardisation with the mean and SD of *all* the fold's training rows (one streaming pass
  accumulates per-fold sums); a randomised SVD (4 power iterations, centring and scaling
  implicit, so a sparse matrix is never densified) on a seeded subsample of ``svd_samples``
  training rows. An exact SVD per fold of 80k x 20k is the slow part; the subsample costs
  ~1 s per fold and, measured against an exact PCA on all training rows, loses little once it
  has a few thousand rows (0.60 vs 0.61 balanced accuracy at 4,000 rows; 0.53 at 2,000).
  A second pass projects the held-out rows. An audit's batch, label and split probes share
  both passes (each block is read and transformed once for all of them), each target keeping
  its own folds, pool rows and seeded draws, so its numbers are those of a probe of it alone.
* Model: multinomial logistic regression with L2 on the whitened components, trained by
  ``optax.sgd`` at the step given by Böhning's curvature bound (majorise-minimise: the loss
  never rises; 30 steps match scikit-learn's exact optimum within 0.003 balanced accuracy).
  The observed labels and every permuted label set of every fold train in one
  ``jax.jit``/``jax.vmap`` program.
* Cost: the naive design, 505 softmax regressions (5 folds x 101 label sets) on all 80k training
  rows with 200 Adam steps, is ~3e13 FLOPs: ~4 minutes on 2 cores. Here every model, observed
  and permuted alike (so the permutation test stays exact), trains on the same stratified
  subsample of at most ``max_train_samples`` (8,192) training rows of its fold and is scored on
  *all* held-out rows (of the probed rows): a 50-component linear model has ~200 parameters,
  which 8,192 rows pin down. Together with 30 majorisation steps instead of 200 this is ~60x
  fewer FLOPs; the whole probe of 100k x 20k (5% dense) takes ~30 s.
* Rows: above ``max_samples`` (50,000) a seeded sample is probed, each class in proportion
  (at least 10 rows per fold of each); the passes still read every block but transform,
  project and score only the sampled rows, so the cost past the cap is the reading alone. A
  class-balanced sample was tried first: on the 100k-cell benchmark it cut the recall of a
  rare batch in other units from 0.95 to 0.40 (3 seeds), so the sample keeps the proportions
  the probe sees on all rows.
* Decision rule: the most probable class after removing the training class prior (the Bayes
  rule for balanced accuracy), so class imbalance alone never looks predictive.
* Null: training labels permuted within each fold's training rows (numpy's seeded Generator),
  held-out labels untouched; ``p = (1 + #{null >= observed}) / (1 + n_permutations)``, the
  statistic being the balanced accuracy averaged over folds.

JAX is imported inside the functions only; matmul precision is float32 for the probe's own
calls (``jax.default_matmul_precision``) and nothing is configured globally. The same code runs
on a GPU after ``pip install "jax[cuda12]"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard._context import ProgressBar
from biodata_guard.errors import InputError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix
from biodata_guard.probe import _model as pm
from biodata_guard.probe._design import _plan, _Target
from biodata_guard.probe._fit import _results
from biodata_guard.probe._inputs import _Options
from biodata_guard.probe._result import ProbeResult
from biodata_guard.stream import ordered_map


def batch_probe(
    X: Any,
    target: Any,
    *,
    groups: Any = None,
    n_components: int = 50,
    folds: int = 5,
    n_permutations: int = 100,
    seed: int = 0,
    l2: float = 1e-3,
    n_steps: int = 30,
    max_train_samples: int = 8_192,
    svd_samples: int = 4_096,
    max_samples: int | None = 50_000,
    transform: str = "auto",
    layer: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str | None = None,
    target_name: str | None = None,
    n_top_features: int = 20,
    n_embedding_points: int = 2_000,
    self_check: bool = True,
) -> ProbeResult:
    """Cross-validated linear probe: how well do the features predict ``target``?

    Per fold, fitted on the training rows only: transform (from the detected units), gene
    standardisation and a randomised SVD to ``n_components``; then a multinomial logistic
    regression with L2 on the whitened components (JAX, ``optax``), the observed labels and
    ``n_permutations`` within-fold permutations trained in one compiled call. Held-out balanced
    accuracy, its permutation p-value, recalls, confusion matrix, driving features and a 2-D
    embedding come back in a :class:`ProbeResult` (design and cost: ``probe/_engine.py``).

    Parameters
    ----------
    X
        Samples x features: ``AnnData`` (in memory or backed), ``DataFrame``, ``ndarray`` or
        ``scipy.sparse``. Read in row chunks, twice; never densified.
    target
        One value per row (array, Series, or an ``adata.obs`` column name). Rows with a
        missing value are left out; classes with fewer than ``folds`` rows cannot be stratified
        and are left out too (``dropped_classes``).
    groups
        Patient / donor ids (array, DataFrame of several columns, or ``adata.obs`` column
        names): folds never split a group (``StratifiedGroupKFold``); samples sharing any
        group value are kept together.
    n_components, folds, n_permutations, seed
        Principal components, cross-validation folds, permuted-label controls; the seed of the
        folds, subsamples, SVD sketches and permutations (one seed, one result).
    l2, n_steps
        L2 penalty on the weights (on the whitened scale) and optimisation steps.
    max_train_samples, svd_samples
        Training rows per fold (stratified subsamples) the models (observed and permuted)
        train on, and the SVD basis is fitted on; all held-out rows (probed) are scored.
    max_samples
        Rows probed: above it, a seeded sample of ``max_samples`` rows (plus what the floors
        add), each class in proportion but at least ``10 * folds`` rows of it (or all), so the
        cost stops growing with the rows of X (read twice; only sampled rows are transformed,
        projected and scored). ``None`` probes every row.
    transform
        ``"auto"`` (counts: normalise to 1e4 + log1p; CPM/TPM/normalised: log1p; log, scaled:
        none), or ``"counts"``, ``"log1p"``, ``"none"``.
    layer, chunk_size, name, target_name
        AnnData layer, rows per chunk, name for messages; the attribute's name in results
        (default: the column name or ``"target"``).
    n_top_features, n_embedding_points, self_check
        Driving features reported; points in the 2-D embedding; raise ProbeSelfCheckError if
        a self-validation fails (it is recorded in ``result.self_check`` either way).

    Returns
    -------
    ProbeResult

    Raises
    ------
    InputError
        Length mismatch, NaN/inf in X, fewer than two classes with ``folds`` samples each, or
        too few groups for ``folds`` folds.
    ConfigError
        An option out of range.
    ProbeSelfCheckError
        The probe's own validation failed (a bug: please report it with the seed).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> batch = np.repeat(["run1", "run2"], 100)
    >>> X = rng.poisson(5, (200, 300)).astype(float)
    >>> X[batch == "run2", :30] *= 3  # 30 genes read 3x higher in run2
    >>> res = batch_probe(X, batch, n_components=10, n_permutations=99)
    >>> res.balanced_accuracy > 0.95, res.p_value
    (True, 0.01)
    """
    given = locals()  # the options are the keyword arguments of the same names
    opts = _Options(**{f.name: given[f.name] for f in dataclasses.fields(_Options)})
    (result,) = _probe_targets(
        X, [(target, target_name)], groups=groups, layer=layer, name=name, opts=opts
    )
    if isinstance(result, InputError):
        raise result
    return result


def _probe_targets(
    X: Any,
    targets: list[tuple[Any, str | None]],
    *,
    groups: Any,
    layer: str | None,
    name: str | None,
    opts: _Options,
    progress_bar: ProgressBar | None = None,
) -> list[ProbeResult | InputError]:
    """Probe several attributes ``(target, target_name)`` of one matrix, one result (or the
    :class:`InputError` that stopped it) per target, in order.

    Phases: design (per target: folds, pool, transform; its own seeded generator, drawn in the
    same order as a probe of that target alone) -> pass 1 -> per-fold bases -> pass 2 ->
    fit and results. The targets whose transforms agree share both passes, so each pass reads
    and transforms every block once whatever the number of targets; every number is that of
    the target probed alone. ``progress_bar(label, total)`` (the audit's rich bars) shows the
    passes (rows) and the model fits (targets).
    """
    bar = progress_bar or _no_bar
    view = as_matrix(X, layer=layer, name=name)
    out: list[Any] = []
    for target, target_name in targets:
        try:
            out.append(_plan(X, view, target, target_name, groups=groups, opts=opts))
        except InputError as exc:
            out.append(exc)
    by_transform: dict[str, list[int]] = {}
    for i, t in enumerate(out):
        if isinstance(t, _Target):
            by_transform.setdefault(t.prep["transform"], []).append(i)
    with pm.blas_single_thread():
        for transform, members in by_transform.items():
            group = [out[i] for i in members]
            try:
                passed = _shared_passes(view, group, transform, opts, bar)
            except InputError as exc:
                for i in members:
                    out[i] = exc
                continue
            names = ", ".join(t.name for t in group)
            with bar(f"probe: fitting the models of {names} (targets)", len(group)) as advance:
                for k, (i, t) in enumerate(zip(members, group, strict=True)):
                    out[i] = _results(view, t, *passed.pop(0), opts=opts)  # pop: free its Zte
                    advance(k + 1, len(group))
    return out


@contextlib.contextmanager
def _no_bar(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    yield lambda done, total: None


def _shared_passes(
    view: MatrixView, group: list[_Target], transform: str, opts: _Options, bar: ProgressBar
) -> list[tuple[list[pm.FoldBasis], np.ndarray, np.ndarray, np.ndarray]]:
    """Both passes for targets of one transform: pass 1 (per-fold sums of each target, the
    union of their pool rows kept once), each target's bases, pass 2 (each target's held-out
    rows). Per target: (bases, plotted rows, held-out embeddings ``Zte``, 2-D embedding)."""
    start = time.perf_counter()
    in_pool = np.logical_or.reduce([t.in_pool for t in group])
    names = ", ".join(t.name for t in group)
    with bar(f"probe {names}: per-fold statistics (rows)", view.n_obs) as advance:
        sums, L_pool = pm.stats_pass(
            view,
            transform,
            [t.fold_of for t in group],
            in_pool,
            opts.folds,
            opts.chunk_size,
            progress=advance,
        )
    pool_index = np.full(view.n_obs, -1)
    pool_index[np.flatnonzero(in_pool)] = np.arange(L_pool.shape[0])  # X row -> L_pool row
    for t in group:
        t.seconds["stats"] = time.perf_counter() - start
    fitted = [_fit_bases(t, s, L_pool, pool_index, opts) for t, s in zip(group, sums, strict=True)]
    del L_pool  # the bases hold what they need
    start = time.perf_counter()
    with bar(f"probe {names}: held-out projections (rows)", view.n_obs) as advance:
        held_out = pm.projection_pass(
            view,
            transform,
            [h for _, _, h in fitted],
            chunk_size=opts.chunk_size,
            progress=advance,
        )
    for t in group:
        t.seconds["project"] += time.perf_counter() - start
    return [
        (bases, plot_rows, Zte, embedding)
        for (bases, plot_rows, _), (Zte, embedding) in zip(fitted, held_out, strict=True)
    ]


def _fit_bases(
    t: _Target,
    sums: tuple[np.ndarray, np.ndarray],
    L_pool: sp.csr_matrix,
    pool_index: np.ndarray,
    opts: _Options,
) -> tuple[list[pm.FoldBasis], np.ndarray, pm.HeldOut]:
    """Bases phase: each fold's basis (:func:`_fold_bases`) and the 2-D basis of the plotted
    rows (:func:`_plot_basis`), from pass 1's per-fold ``sums`` (sums, sums of squares) and
    pool rows. Returns the bases, the plotted rows and what pass 2 needs."""
    start = time.perf_counter()
    S, Q = sums
    bases = _fold_bases(t, S, Q, L_pool, pool_index, opts)
    t.seconds["svd"] = time.perf_counter() - start
    start = time.perf_counter()
    d, rows, F = t.design, t.design.rows, opts.folds
    slot = np.full(len(t.fold_of), -1)  # a row's place among its fold's held-out rows
    for f in range(F):
        slot[rows[d.test(f)]] = np.arange(len(d.test(f)))
    totals = S.sum(axis=0), Q.sum(axis=0)  # over every probed row
    plot_rows, plot_slot, plot_basis = _plot_basis(t, *totals, L_pool, pool_index, opts)
    t_pad = pm.bucket(int(np.bincount(d.fold).max()))
    held_out = pm.HeldOut(
        fold_of=t.fold_of,
        slot=slot,
        bases=bases,
        plot_slot=plot_slot,
        plot_basis=plot_basis,
        shape=(F, t_pad, opts.n_components),
    )
    t.seconds["project"] = time.perf_counter() - start
    return bases, plot_rows, held_out


def _fold_bases(
    t: _Target,
    S: np.ndarray,
    Q: np.ndarray,
    L_pool: sp.csr_matrix,
    pool_index: np.ndarray,
    opts: _Options,
) -> list[pm.FoldBasis]:
    """Per fold, on its training rows only: standardise (the per-fold sums ``S`` and sums of
    squares ``Q`` of all training rows), SVD (the first svd_samples of its pool rows), whiten
    (its pool rows), folded into one projection."""
    d, rows, F, seed = t.design, t.design.rows, opts.folds, opts.seed
    n_train = len(rows) - np.bincount(d.fold, minlength=F)
    S_all, Q_all = S.sum(axis=0), Q.sum(axis=0)

    def fit_basis(f: int) -> pm.FoldBasis:
        mean = (S_all - S[f]) / n_train[f]
        inv_sd = pm.inverse_sd(mean, (Q_all - Q[f]) / n_train[f])
        L_train = L_pool[pool_index[rows[d.train[f]]]]
        seeds = np.random.SeedSequence([seed, f])
        return pm.fold_basis(L_train, mean, inv_sd, opts.n_components, opts.svd_samples, seeds)

    return list(ordered_map(fit_basis, range(F)))


def _plot_basis(
    t: _Target,
    S_all: np.ndarray,
    Q_all: np.ndarray,
    L_pool: sp.csr_matrix,
    pool_index: np.ndarray,
    opts: _Options,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The plotted rows (a seeded sample of ``n_embedding_points``), their slots, and a global
    2-D basis (projection, offset) fitted on a subsample of the target's pool rows, standardised
    with the sums ``S_all`` and sums of squares ``Q_all`` of all probed rows."""
    rows, F, seed = t.design.rows, opts.folds, opts.seed
    plot_rows = np.sort(t.rng.choice(rows, min(len(rows), opts.n_embedding_points), replace=False))
    plot_slot = np.full(len(t.fold_of), -1)
    plot_slot[plot_rows] = np.arange(len(plot_rows))
    g_mean = S_all / len(rows)
    g_inv = pm.inverse_sd(g_mean, Q_all / len(rows))
    own = pool_index[np.flatnonzero(t.in_pool)]  # this target's pool rows, in row order
    L_g = L_pool[own[np.sort(t.rng.permutation(len(own))[: opts.svd_samples])]]
    V_g, _ = pm.randomized_basis(
        L_g, g_mean, g_inv, max(1, min(2, L_g.shape[0] - 1)), np.random.default_rng([seed, F])
    )
    P_g = (g_inv[:, None] * V_g).astype(np.float32)
    return plot_rows, plot_slot, (P_g, g_mean @ P_g)

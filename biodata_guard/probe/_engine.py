"""The probe's engine: :func:`batch_probe` and the phases several targets share.

"Train a model to predict the batch: if it does better than your model on the real task, your
model is probably learning batch noise." :func:`batch_probe` measures how well a cross-validated
linear probe predicts a sample attribute (batch, split membership, label), with a computed
permutation null and self-checks; the ``check_*`` functions turn that into findings;
:func:`~biodata_guard.probe.audit_probe` runs them for an audit.

Design, chosen by measurement on 2 CPU cores (``benchmarks/bench_probe.py``,
``python -m benchmarks``):

* Folds: ``StratifiedKFold``, or ``StratifiedGroupKFold`` when ``groups`` (patient, donor) are
  given, so the probe cannot win by recognising individuals.
* Rows: above ``max_samples`` (50,000) a seeded uniform sample is probed (the front of a
  seeded order of the matrix's rows, so the columns of one audit share most rows and each gets
  the sample it would get alone), each class in proportion up to sampling noise and at least 10
  rows per fold of each (a class-balanced sample cut the recall of a rare batch on the
  100k-cell benchmark from 0.95 to 0.40). The probed rows of every target are read in one
  pass (:class:`~._prep.RowSample`; in an audit, from the shared pass over the matrix) and kept
  in memory (CSR: 8 bytes a stored value, ~200 MB for 50,000 cells of 500 genes); each block is
  read once whatever the number of targets.
* Embedding (:mod:`._embed`): transform (library-size normalisation to 1e4 and log1p for counts;
  log1p for CPM/TPM; nothing for log or scaled data; the units from
  :func:`biodata_guard.units.detect_units` on <= 1,000 rows), gene standardisation and a
  randomised PCA fitted once per target (label-free), plus per fold the directions between the
  class means of its screening rows (training rows outside the model pool), whitened on the
  fold's model rows.
* Statistic and null (:mod:`._lda`): closed-form LDA (nearest class mean) on the whitened
  embedding for the observed labels, ``n_permutations`` label sets permuted within each fold's
  model rows and the shuffled-label controls: one factorisation per fold, the permutations
  only change the class sums. ``p = (1 + #{null >= observed}) / (1 + n_permutations)``, the
  statistic being the held-out balanced accuracy averaged over folds.
* Trained model (:mod:`._model`): a multinomial logistic regression with L2 on the same inputs,
  observed labels only, in one compiled JAX program for all folds (``optax.sgd`` at the
  Böhning step: the loss never rises); its held-out predictions give the recalls and the
  confusion matrix, its weights the driving features, its training the self-checks. Shapes are
  padded to the largest target of the call, so the program compiles once per audit.
* Decision rules: LDA without a prior term and the softmax with the training log prior removed
  (the Bayes rule for balanced accuracy), so class imbalance alone never looks predictive.

JAX is imported inside the functions only; matmul precision is float32 for the probe's own
calls (``jax.default_matmul_precision``) and nothing is configured globally unless the user
asks for the persistent compilation cache. The same code runs on a GPU after
``pip install "jax[cuda12]"``.
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
from biodata_guard.probe import _prep
from biodata_guard.probe._design import (
    UNITS_ROWS,
    _plan,
    _Target,
    choose_transform,
    row_order,
)
from biodata_guard.probe._embed import Basis, embed, shared_basis
from biodata_guard.probe._fit import Shapes, _results
from biodata_guard.probe._inputs import _Options
from biodata_guard.probe._result import ProbeResult
from biodata_guard.stream import is_dask, ordered_map, shared_pass


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
    compilation_cache: str | None = None,
) -> ProbeResult:
    """Cross-validated linear probe: how well do the features predict ``target``?

    Inputs: ``n_components`` principal axes (label-free) plus, per fold, the directions between
    the class means of training rows the models never see. Statistic: the held-out balanced
    accuracy of closed-form LDA, observed and ``n_permutations`` within-fold permutations (an
    exact p-value). A softmax regression (JAX) on the same inputs gives the recalls, confusion,
    driving features and self-checks (design and cost: ``probe/_engine.py``).

    Parameters
    ----------
    X
        Samples x features: ``AnnData`` (in memory or backed), ``DataFrame``, ``ndarray`` or
        ``scipy.sparse``. Read once in row chunks, keeping the probed rows; never densified.
    target
        One value per row (array, Series, or an ``adata.obs`` column name). Rows with a
        missing value are left out; classes with fewer than ``folds`` rows cannot be stratified
        and are left out too (``dropped_classes``).
    groups
        Patient / donor ids (array, DataFrame of several columns, or ``adata.obs`` column
        names): folds never split a group (``StratifiedGroupKFold``); samples sharing any
        group value are kept together.
    n_components, folds, n_permutations, seed
        Principal components, folds, permutations; the seed of every draw (one seed, one result).
    l2, n_steps
        L2 penalty on the trained model's weights (on the whitened scale) and its steps.
    max_train_samples, svd_samples
        Training rows per fold (a stratified pool) the models (observed and permuted) train
        on; rows the PCA is fitted on. All held-out rows (probed) are scored.
    max_samples
        Rows probed: above it, the first ``max_samples`` of a seeded order of the rows (each
        class in proportion up to sampling noise), plus rows up to ``10 * folds`` of each class
        (or all), so the cost stops growing with the rows of X. ``None``: every row.
    transform
        ``"auto"`` (counts: normalise to 1e4 + log1p; CPM/TPM/normalised: log1p; log, scaled:
        none), or ``"counts"``, ``"log1p"``, ``"none"``.
    layer, chunk_size, name, target_name
        AnnData layer, rows per chunk, name for messages, the attribute's name in results.
    n_top_features, n_embedding_points, self_check
        Driving features reported; points in the 2-D embedding; raise ProbeSelfCheckError if a
        self-validation fails (``result.self_check`` records them either way).
    compilation_cache
        A directory for JAX's persistent compilation cache (later processes load the compiled
        model); ``None`` (default) leaves JAX's settings alone.

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
    planned: list[_Target | InputError] | None = None,
) -> list[ProbeResult | InputError]:
    """Probe several attributes ``(target, target_name)`` of one matrix, one result (or the
    :class:`InputError` that stopped it) per target, in order.

    Phases: design (per target: rows, folds, pool; its own seeded generator, drawn in the same
    order as a probe of that target alone; ``planned`` when the caller made it) -> the rows read
    once (every target's probed rows, and the matrix's units and basis rows) -> units,
    transform and principal axes, shared -> per target: embedding, statistic, trained model,
    results. Every number is that of the target probed alone. ``progress_bar(label, total)``
    (the audit's rich bars) shows the read (rows) and the targets done.
    """
    bar = progress_bar or _no_bar
    view = as_matrix(X, layer=layer, name=name)
    memo: dict[Any, Any] = {}  # the targets' group codes, computed once
    out: list[Any] = planned or [
        _plan_or_error(X, view, t, n, groups, opts, memo) for t, n in targets
    ]
    todo = [i for i, t in enumerate(out) if isinstance(t, _Target)]
    if not todo:
        return out
    pm.use_compilation_cache(opts.compilation_cache)
    group = [out[i] for i in todo]
    shapes = Shapes.of(group, opts)
    with _prep.blas_single_thread():
        try:
            rows, L, basis, prep, seconds = _shared(view, group, opts, bar)
        except InputError as exc:
            return [exc if i in todo else o for i, o in enumerate(out)]
        names = ", ".join(t.name for t in group)
        with bar(f"probe: fitting the models of {names} (targets)", len(group)) as advance:
            for k, i in enumerate(todo):
                t = out[i]
                t.prep.update(prep)
                t.seconds.update(seconds)
                out[i] = _probe_one(view, t, L, rows, basis, shapes, opts)
                advance(k + 1, len(group))
    return out


def _plan_or_error(
    X: Any,
    view: MatrixView,
    target: Any,
    name: str | None,
    groups: Any,
    opts: _Options,
    memo: dict[Any, Any] | None = None,
) -> _Target | InputError:
    try:
        return _plan(X, view, target, name, groups=groups, opts=opts, memo=memo)
    except InputError as exc:
        return exc


@contextlib.contextmanager
def _no_bar(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    yield lambda done, total: None


def matrix_rows(n_obs: int, opts: _Options) -> tuple[np.ndarray, np.ndarray]:
    """The rows the units are detected on (the first 1,000 of the next) and the rows the
    principal axes are fitted on: the front of the matrix's seeded row order (from the seed and
    the number of rows only), so every target, and a target probed alone, shares them."""
    order = row_order(n_obs, opts.seed)[: min(n_obs, opts.svd_samples)]
    return np.sort(order[:UNITS_ROWS]), np.sort(order)


def rows_to_read(targets: list[_Target], n_obs: int, opts: _Options) -> np.ndarray:
    """Every row the probe of ``targets`` reads: their probed rows and the basis rows."""
    basis = matrix_rows(n_obs, opts)[1]
    return np.unique(np.concatenate([*(t.design.rows for t in targets), basis]))


def read_rows(
    view: MatrixView, rows: np.ndarray, opts: _Options, bar: ProgressBar, label: str
) -> list[Any]:
    """The raw values of ``rows``, block by block in row order (CSR or dense; each its own
    copy): from the audit's shared pass when it collected them (``view.memo``), taken directly
    from a matrix in memory, else by one pass over the matrix (backed, Dask)."""
    key = _prep.sample_key(rows)
    if key in view.memo:
        return view.memo.pop(key).parts
    with bar(label, view.n_obs) as advance:
        if not view.backed and not is_dask(view.X):
            parts = [view.rows(rows)]  # a copy of those rows only
            advance(view.n_obs, view.n_obs)
            return parts
        acc = _prep.RowSample(rows)
        shared_pass(view, {key: acc}, chunk_size=opts.chunk_size, progress=advance)
    view.memo.pop(key)
    return acc.parts


def _shared(
    view: MatrixView, targets: list[_Target], opts: _Options, bar: ProgressBar
) -> tuple[np.ndarray, Any, Basis, dict[str, Any], dict[str, float]]:
    """What the targets share: the rows read, transformed (``L``), the principal axes, the
    transform and the units behind it, and the seconds of each stage."""
    seconds = {}
    start = time.perf_counter()
    rows = rows_to_read(targets, view.n_obs, opts)
    names = ", ".join(t.name for t in targets)
    parts = read_rows(view, rows, opts, bar, f"probe {names}: reading the probed rows (rows)")
    seconds["read"] = time.perf_counter() - start
    start = time.perf_counter()
    units_rows, basis_rows = matrix_rows(view.n_obs, opts)
    prep = choose_transform(_rows_of(parts, rows, units_rows), view.name, opts.transform)
    seconds["units"] = time.perf_counter() - start
    start = time.perf_counter()
    L = _transform(parts, rows, prep["transform"], view.name, view.n_vars)
    seconds["transform"] = time.perf_counter() - start
    start = time.perf_counter()
    basis = shared_basis(L, np.searchsorted(rows, basis_rows), opts)
    seconds["basis"] = time.perf_counter() - start
    return rows, L, basis, prep, seconds


def _rows_of(parts: list[Any], rows: np.ndarray, wanted: np.ndarray) -> Any:
    """The raw values of the ``wanted`` rows (a subset of ``rows``) from the blocks read."""
    bounds = np.cumsum([0] + [p.shape[0] for p in parts])
    at = np.searchsorted(rows, wanted)
    picked = []
    for i, p in enumerate(parts):
        local = at[(at >= bounds[i]) & (at < bounds[i + 1])] - bounds[i]
        if len(local):
            picked.append(p[local])
    if any(sp.issparse(p) for p in picked):
        return _prep.stack_rows(picked, parts[0].shape[1])
    return np.vstack(picked)


def _transform(parts: list[Any], rows: np.ndarray, kind: str, name: str, n_vars: int) -> Any:
    """The blocks read, stacked (each dropped once copied) and transformed in place in row
    ranges on two threads: CSR float32, or dense when at least half its cells are stored."""
    L = _prep.stack_rows(parts, n_vars, consume=True)
    L.sum_duplicates()
    step = max(1, -(-L.shape[0] // 16))

    def part(r0: int) -> None:
        r1 = min(L.shape[0], r0 + step)
        _prep.transform_rows(L, r0, r1, kind, name, rows[r0:r1])

    for _ in ordered_map(part, range(0, L.shape[0], step)):
        pass
    return _prep.compact(L)


def _probe_one(
    view: MatrixView,
    t: _Target,
    L: Any,
    rows: np.ndarray,
    basis: Basis,
    shapes: Shapes,
    opts: _Options,
) -> ProbeResult:
    """Embedding, statistic, trained model and results of one target."""
    start = time.perf_counter()
    d = t.design
    plot = np.sort(t.rng.choice(len(d.rows), min(len(d.rows), opts.n_embedding_points),
                                replace=False))  # fmt: skip
    emb = embed(t, L, np.searchsorted(rows, d.rows), basis, plot)
    t.seconds["embed"] = time.perf_counter() - start
    return _results(view, t, emb, d.rows[plot], opts=opts, shapes=shapes)

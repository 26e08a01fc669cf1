"""The JAX batch-predictor probe: can the features give the batch (or the split) away?

"Train a model to predict the batch: if it does better than your model on the real task, your
model is probably learning batch noise." :func:`batch_probe` measures how well a cross-validated
linear probe on principal components predicts a sample attribute (batch, split membership,
label), with a computed permutation null and self-checks; the ``check_*`` functions turn that
into findings; :func:`audit_probe` runs them for an audit.

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
import hashlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from biodata_guard import _probe_model as pm
from biodata_guard._context import AuditContext, ProgressBar
from biodata_guard._format import fraction, jsonable, preview, subjects
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, _is_anndata, as_matrix
from biodata_guard.stream import ordered_map

__all__ = [
    "CHECK_IDS",
    "CONFOUNDED",
    "PREDICTABLE",
    "SPLIT_PREDICTABLE",
    "SUMMARY",
    "TRANSFORMS",
    "ProbeResult",
    "ProbeSelfCheckError",
    "audit_probe",
    "batch_probe",
    "check_batch_confounding",
    "check_batch_probe",
    "check_split_probe",
]

PREDICTABLE = "batch.predictable"
CONFOUNDED = "batch.confounded"
SPLIT_PREDICTABLE = "batch.split_predictable"
SUMMARY = "probe.summary"
CHECK_IDS = (PREDICTABLE, CONFOUNDED, SPLIT_PREDICTABLE, SUMMARY)

#: ``transform`` values: ``auto`` (from the detected units), ``counts`` (library-size normalise
#: to 1e4, then log1p), ``log1p``, ``none``.
TRANSFORMS = ("auto", "counts", "log1p", "none")
_UNITS_ROWS = 1_000  # rows read to detect the units
_LOG1P_UNITS = {"cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}
_INIT_LOSS_ATOL = 1e-3
_MONOTONE_ATOL = 1e-4
_NULL_ATOL = 0.05
#: Shuffled-label controls trained and scored beside the permutation null.
N_SHUFFLED_CONTROLS = 10
#: A sample of rows (max_samples) keeps at least this many rows per fold of every class (or
#: all of a smaller class): a rare batch stays recognisable in every fold.
_MIN_PER_CLASS = 10


class ProbeSelfCheckError(RuntimeError):
    """The probe failed its own validation (a bug in biodata_guard, not a problem with the data).

    ``checks`` holds the self-check record with the failing entries marked ``ok: False``.
    """

    def __init__(self, message: str, checks: dict[str, Any]) -> None:
        super().__init__(message)
        self.checks = checks


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """What one probe measured. The verdict (a Finding) is made by the ``check_*`` functions.

    Attributes
    ----------
    target_name
        The attribute probed (e.g. ``"batch"``).
    classes
        The classes probed, sorted; ``dropped_classes`` were too small to stratify.
    balanced_accuracy, balanced_accuracy_sd, fold_balanced_accuracy
        Held-out balanced accuracy: mean and SD over folds, and per fold.
    chance
        Balanced accuracy of guessing uniformly among a fold's training classes, averaged over
        folds (1 / number of classes when every fold holds every class).
    p_value, n_permutations, null_balanced_accuracy
        Permutation p-value ``(1 + #{null >= observed}) / (1 + n_permutations)`` and the null
        (mean over folds of each permuted-label model's held-out balanced accuracy).
    per_class_recall, confusion
        Recall per class and the confusion matrix (rows true, columns predicted) over all
        held-out predictions.
    top_features
        The features that drive the prediction, mapped back through the PCA loadings:
        ``{"feature", "importance", "class"}`` (importance: norm over classes of the
        coefficient on the standardised feature, averaged over folds; class: the one the
        feature pushes towards).
    embedding, embedding_rows, embedding_labels
        2-D PCA coordinates of <= ``n_embedding_points`` rows (positions into ``X``) and their
        target values, for plots.
    self_check
        Each self-validation with its numbers and ``ok``.
    preprocessing
        Units, transform, rows used for the SVD and the model, components kept.
    timings
        Seconds per stage (not part of :meth:`to_dict`: reports stay byte-identical).
    """

    target_name: str
    classes: tuple[str, ...]
    n_samples: int
    n_features: int
    n_components: int
    n_folds: int
    grouped: bool
    balanced_accuracy: float
    balanced_accuracy_sd: float
    fold_balanced_accuracy: tuple[float, ...]
    chance: float
    p_value: float
    n_permutations: int
    null_balanced_accuracy: tuple[float, ...]
    per_class_recall: dict[str, float]
    confusion: np.ndarray
    top_features: tuple[dict[str, Any], ...]
    embedding: np.ndarray
    embedding_rows: np.ndarray
    embedding_labels: tuple[str, ...]
    self_check: dict[str, Any]
    preprocessing: dict[str, Any]
    dropped_classes: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def effect(self) -> float:
        """Balanced accuracy above chance as a share of the possible gain: 0 chance, 1 perfect."""
        return (self.balanced_accuracy - self.chance) / max(1e-12, 1.0 - self.chance)

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null_balanced_accuracy))

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-safe evidence (no embedding, no timings)."""
        null = np.asarray(self.null_balanced_accuracy)
        return jsonable(
            {
                "target": self.target_name,
                "classes": list(self.classes),
                "n_samples": self.n_samples,
                "n_features": self.n_features,
                "n_components": self.n_components,
                "n_folds": self.n_folds,
                "grouped_folds": self.grouped,
                "balanced_accuracy": self.balanced_accuracy,
                "balanced_accuracy_sd": self.balanced_accuracy_sd,
                "fold_balanced_accuracy": list(self.fold_balanced_accuracy),
                "chance": self.chance,
                "effect": self.effect,
                "p_value": self.p_value,
                "n_permutations": self.n_permutations,
                "null_mean": float(null.mean()),
                "null_sd": float(null.std()),
                "null_q95": float(np.quantile(null, 0.95)),
                "per_class_recall": self.per_class_recall,
                "confusion": {
                    t: {p: int(self.confusion[i, j]) for j, p in enumerate(self.classes)}
                    for i, t in enumerate(self.classes)
                },
                "top_features": list(self.top_features),
                "dropped_classes": self.dropped_classes,
                "self_check": self.self_check,
                "preprocessing": self.preprocessing,
                "seed": self.seed,
            }
        )


# --------------------------------------------------------------------------- inputs


def _check_options(**opts: Any) -> None:
    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(
            f"`{key}` must be {expected}; got {opts[key]!r} instead",
            key=key,
            hint=f"Pass {key}= as {expected}.",
        )

    minimum = {
        "n_components": 1,
        "folds": 2,
        "n_permutations": 1,
        "n_steps": 1,
        "max_train_samples": 10,
        "svd_samples": 10,
        "chunk_size": 1,
        "n_top_features": 0,
        "n_embedding_points": 0,
    }
    if opts["max_samples"] is not None:
        minimum["max_samples"] = 100
    for key, lo in minimum.items():
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise bad(key, f"an integer >= {lo}")
    if not isinstance(opts["l2"], (int, float)) or not math.isfinite(opts["l2"]) or opts["l2"] < 0:
        raise bad("l2", "a finite number >= 0")
    if opts["transform"] not in TRANSFORMS:
        raise ConfigError(
            f"`transform` must be one of {', '.join(TRANSFORMS)}; got {opts['transform']!r} "
            "instead",
            key="transform",
            hint="Use transform='auto' to choose from the detected units.",
        )


def _column(data: Any, value: Any, n: int, *, what: str, obs_names: pd.Index) -> pd.DataFrame:
    """A per-sample attribute (one or several columns) aligned with the matrix rows."""
    if isinstance(value, str) or (
        isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value)
    ):
        cols = [value] if isinstance(value, str) else list(value)
        if not _is_anndata(data):
            raise ConfigError(
                f"`{what}` names column(s) {cols}, which needs an AnnData input; got "
                f"{type(data).__name__} instead",
                key=what,
                hint=f"Pass the {what} values as an array with one entry per row of X.",
            )
        missing = [c for c in cols if c not in data.obs.columns]
        if missing:
            raise InputError(
                f"adata.obs has no column {missing[0]!r}; columns are "
                f"{preview(list(data.obs.columns), n=12)}",
                path="<AnnData>",
                column=missing[0],
                hint=f"Pass {what}= as one of the adata.obs columns.",
            )
        frame = data.obs[cols].reset_index(drop=True)
    elif isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, pd.Series):
        frame = value.to_frame()
    else:
        arr = np.asarray(value, dtype=object)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(
                f"`{what}` must be 1-D (one value per sample); got shape {arr.shape} instead",
                column=what,
                hint=f"Pass {what}= with one entry per row of X.",
            )
        frame = pd.DataFrame(arr)
    named = _is_anndata(data) or isinstance(data, pd.DataFrame)
    if named and not isinstance(frame.index, pd.RangeIndex) and len(frame) == n:
        idx = pd.Index(frame.index.astype(str))
        if idx.equals(obs_names) or not idx.isin(obs_names).all():
            frame = frame.reset_index(drop=True)
        else:
            frame = frame.set_axis(idx).reindex(obs_names).reset_index(drop=True)
    if len(frame) != n:
        raise InputError(
            f"`{what}` has {len(frame)} values but X has {n} rows",
            column=what,
            hint=f"Pass {what}= with one entry per row of X, in the same order.",
        )
    return frame.reset_index(drop=True)


def _labels(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(keep mask, string labels) of a one-column frame; missing values are not kept."""
    if frame.shape[1] != 1:
        raise InputError(
            f"`target` must be one column; got {frame.shape[1]} columns instead",
            column="target",
            hint="Pass a single column (e.g. df['batch']).",
        )
    s = frame.iloc[:, 0]
    keep = s.notna().to_numpy().copy()
    return keep, s.astype(str).to_numpy(dtype=object)


def _group_codes(frame: pd.DataFrame) -> np.ndarray:
    """One code per sample; samples sharing any group value get the same code (components)."""
    from scipy.sparse.csgraph import connected_components

    n = len(frame)
    if frame.shape[1] == 1:
        s = frame.iloc[:, 0]
        codes = pd.factorize(s.astype(str).where(s.notna()), use_na_sentinel=True)[0]
        missing = codes < 0
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.sum())
        return codes
    rows, cols, offset = [], [], n
    for c in frame.columns:
        s = frame[c]
        codes = pd.factorize(s.astype(str).where(s.notna()), use_na_sentinel=True)[0]
        ok = codes >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(codes[ok] + offset)
        offset += int(codes.max(initial=-1)) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(offset, offset))
    return connected_components(graph, directed=False)[1][:n]


# --------------------------------------------------------------------------- preprocessing


def _choose_transform(view: MatrixView, rows: np.ndarray, transform: str) -> dict[str, Any]:
    if transform != "auto":
        return {"transform": transform, "units": None, "units_label": None}
    from biodata_guard.units import detect_units

    rows = np.sort(rows)
    key = ("probe.units", hashlib.sha1(rows.tobytes()).hexdigest())
    if key not in view.memo:  # the batch, label and split probes of one audit share it
        view.memo[key] = detect_units(view.rows(rows), name=view.name)
    call = view.memo[key]
    if call.units == "counts":
        chosen = "counts"
    elif call.units in _LOG1P_UNITS:
        chosen = "log1p"
    else:
        chosen = "none"
    return {"transform": chosen, "units": call.units, "units_label": call.label}


# --------------------------------------------------------------------------- the probe


@dataclass(frozen=True)
class _Options:
    """The probe's options, checked on creation; the defaults are :func:`batch_probe`'s."""

    n_components: int = 50
    folds: int = 5
    n_permutations: int = 100
    seed: int = 0
    l2: float = 1e-3
    n_steps: int = 30
    max_train_samples: int = 8_192
    svd_samples: int = 4_096
    max_samples: int | None = 50_000
    transform: str = "auto"
    chunk_size: int = DEFAULT_CHUNK_ROWS
    n_top_features: int = 20
    n_embedding_points: int = 2_000
    self_check: bool = True

    def __post_init__(self) -> None:
        _check_options(**asdict(self))


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
    embedding come back in a :class:`ProbeResult`. The design and its measured cost are in the
    module docstring.

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
    n_components, folds, n_permutations
        Principal components, cross-validation folds, permuted-label controls.
    seed
        Seeds the folds, subsamples, SVD sketches and permutations: one seed, one result.
    l2, n_steps
        L2 penalty on the weights (on the whitened scale) and optimisation steps.
    max_train_samples
        Each fold's models (observed and permuted) train on a stratified subsample of at most
        this many training rows; all held-out rows (of the probed rows) are scored.
    svd_samples
        Training rows per fold (a subsample) the SVD basis is fitted on.
    max_samples
        Rows probed: above it, a seeded sample of ``max_samples`` rows, each class in
        proportion but at least ``10 * folds`` rows of each (all of a smaller class; the sample
        grows by what these floors add), so the probe's cost stops growing with the rows of X
        (the matrix is still read, twice, but only the sampled rows are transformed, projected
        and scored). ``None`` probes every row.
    transform
        ``"auto"`` (counts: normalise to 1e4 + log1p; CPM/TPM/normalised: log1p; log, scaled:
        none), or ``"counts"``, ``"log1p"``, ``"none"``.
    layer, chunk_size, name
        AnnData layer, rows per chunk, name for messages.
    target_name
        Name of the attribute in results (default: the column name or ``"target"``).
    n_top_features, n_embedding_points
        Driving features reported; points in the 2-D embedding.
    self_check
        Raise :class:`ProbeSelfCheckError` if a self-validation fails (the record is in
        ``result.self_check`` either way).

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
    opts = _Options(
        n_components=n_components,
        folds=folds,
        n_permutations=n_permutations,
        seed=seed,
        l2=l2,
        n_steps=n_steps,
        max_train_samples=max_train_samples,
        svd_samples=svd_samples,
        max_samples=max_samples,
        transform=transform,
        chunk_size=chunk_size,
        n_top_features=n_top_features,
        n_embedding_points=n_embedding_points,
        self_check=self_check,
    )
    (result,) = _probe_targets(
        X, [(target, target_name)], groups=groups, layer=layer, name=name, opts=opts
    )
    if isinstance(result, InputError):
        raise result
    return result


@dataclass(frozen=True, eq=False)
class _Design:
    """Who is probed and how they are split: the kept rows, their class codes and folds, and
    each fold's model-training rows (positions into ``rows``, a seeded stratified pool)."""

    rows: np.ndarray  # positions into X of the rows probed
    n_eligible: int  # rows with a kept class (more than len(rows) when subsampled)
    y: np.ndarray  # class code per kept row
    classes: tuple[str, ...]
    dropped: dict[str, int]
    fold: np.ndarray  # fold of each kept row (its held-out fold)
    train: list[np.ndarray]  # per fold: model-training rows (positions into `rows`)
    grouped: bool

    @property
    def n_folds(self) -> int:
        return len(self.train)

    def test(self, f: int) -> np.ndarray:
        return np.flatnonzero(self.fold == f)


def _design(
    X: Any,
    view: MatrixView,
    target: Any,
    groups: Any,
    *,
    target_name: str,
    folds: int,
    max_train_samples: int,
    max_samples: int | None,
    rng: np.random.Generator,
    seed: int,
) -> _Design:
    n = view.n_obs
    keep, labels = _labels(_column(X, target, n, what="target", obs_names=view.obs_names))
    counts = pd.Series(labels[keep]).value_counts().sort_index()
    small = counts[counts < folds]
    classes = tuple(str(c) for c in counts.index if c not in small.index)
    if len(classes) < 2:
        raise InputError(
            f"{view.name}, {target_name}: needs at least 2 classes with >= {folds} samples to "
            f"probe; got {len(classes)} ({preview(f'{c}={v}' for c, v in counts.items())})",
            path=view.name,
            column=target_name,
            hint="Probe a column with several well-populated classes, or lower folds=.",
        )
    keep &= pd.Series(labels).isin(classes).to_numpy()
    rows = np.flatnonzero(keep)
    code_of = {c: i for i, c in enumerate(classes)}
    y = np.array([code_of[v] for v in labels[rows]], dtype=np.int64)
    n_eligible = len(rows)
    if max_samples is not None and len(rows) > max_samples:
        # Drawn only when sampling, so inputs below max_samples keep their numbers.
        take = pm.proportional_take(y, max_samples, _MIN_PER_CLASS * folds, rng)
        rows, y = rows[take], y[take]

    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    with warnings.catch_warnings():  # "least populated class has only 3 members" etc.
        warnings.simplefilter("ignore")
        if groups is not None:
            g = _group_codes(_column(X, groups, n, what="groups", obs_names=view.obs_names))
            n_groups = len(np.unique(g[rows]))
            if n_groups < folds:
                raise InputError(
                    f"{view.name}, groups: {n_groups} groups cannot fill {folds} grouped folds",
                    path=view.name,
                    hint=f"Pass folds={max(2, n_groups)} or fewer, or drop groups=.",
                )
            splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            splits = splitter.split(np.zeros(len(rows)), y, g[rows])
        else:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            splits = splitter.split(np.zeros(len(rows)), y)
        fold = np.full(len(rows), -1)
        for f, (_, test) in enumerate(splits):
            fold[test] = f
    if (np.bincount(fold, minlength=folds) == 0).any():
        raise InputError(
            f"{view.name}, {target_name}: a grouped fold came out empty",
            path=view.name,
            hint="Use fewer folds (folds=) or check that groups= has many distinct groups.",
        )
    # One stratified (fold x class) pool, in a seeded order; fold f trains on the pool rows
    # outside fold f (the first of them also fit its SVD).
    pool_size = min(len(rows), math.ceil(max_train_samples * folds / (folds - 1)))
    pool = pm.proportional_take(fold * len(classes) + y, pool_size, 1, rng)
    pool = pool[rng.permutation(len(pool))]
    train = [pool[fold[pool] != f][:max_train_samples] for f in range(folds)]
    for f in range(folds):
        if len(np.unique(y[train[f]])) < 2:
            raise InputError(
                f"{view.name}, {target_name}: the training rows of fold {f + 1} hold a single "
                "class",
                path=view.name,
                hint="Use fewer folds (folds=) or more groups per class.",
            )
    return _Design(
        rows=rows,
        n_eligible=n_eligible,
        y=y,
        classes=classes,
        dropped={str(c): int(v) for c, v in small.items()},
        fold=fold,
        train=train,
        grouped=groups is not None,
    )


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


@dataclass(frozen=True, eq=False)
class _Target:
    """One attribute to probe after its design phase: its folds and pool (per row of X), its
    transform, and its seeded generator (drawn from again in the later phases)."""

    name: str
    design: _Design
    prep: dict[str, Any]
    rng: np.random.Generator
    fold_of: np.ndarray  # per row of X: the fold it is held out in, -1 when not probed
    in_pool: np.ndarray  # per row of X: some fold's model trains on it (pass 1 keeps it)
    seconds: dict[str, float]  # per stage; filled as the phases run


def _plan(
    X: Any, view: MatrixView, target: Any, target_name: str | None, *, groups: Any, opts: _Options
) -> _Target:
    """Design phase: rows, classes, folds and pool; the rows the units are detected on."""
    start = time.perf_counter()
    n = view.n_obs
    if target_name is None:
        named = isinstance(target, str) or (isinstance(target, pd.Series) and target.name)
        target_name = str(target if isinstance(target, str) else target.name) if named else "target"
    rng = np.random.default_rng(opts.seed)
    d = _design(
        X,
        view,
        target,
        groups,
        target_name=target_name,
        folds=opts.folds,
        max_train_samples=opts.max_train_samples,
        max_samples=opts.max_samples,
        rng=rng,
        seed=opts.seed,
    )
    units_rows = np.sort(rng.choice(d.rows, min(len(d.rows), _UNITS_ROWS), replace=False))
    prep = _choose_transform(view, units_rows, opts.transform)
    fold_of = np.full(n, -1)
    fold_of[d.rows] = d.fold
    in_pool = np.zeros(n, bool)
    for train in d.train:
        in_pool[d.rows[train]] = True
    seconds = {"units": time.perf_counter() - start}
    return _Target(target_name, d, prep, rng, fold_of, in_pool, seconds)


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
    fitted = [
        _fit_bases(t, S, Q, L_pool, pool_index, opts) for t, (S, Q) in zip(group, sums, strict=True)
    ]
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
    S: np.ndarray,
    Q: np.ndarray,
    L_pool: sp.csr_matrix,
    pool_index: np.ndarray,
    opts: _Options,
) -> tuple[list[pm.FoldBasis], np.ndarray, pm.HeldOut]:
    """Bases phase, per fold on its training rows only: standardise (all training rows), SVD
    (the first svd_samples of its pool rows), whiten (its pool rows), folded into one
    projection; and a global 2-D basis for the plotted rows. Returns the bases, the plotted
    rows and what pass 2 needs."""
    start = time.perf_counter()
    d, rows, F, seed = t.design, t.design.rows, opts.folds, opts.seed
    n_train = len(rows) - np.bincount(d.fold, minlength=F)
    S_all, Q_all = S.sum(axis=0), Q.sum(axis=0)

    def fit_basis(f: int) -> pm.FoldBasis:
        mean = (S_all - S[f]) / n_train[f]
        inv_sd = pm.inverse_sd(mean, (Q_all - Q[f]) / n_train[f])
        L_train = L_pool[pool_index[rows[d.train[f]]]]
        seeds = np.random.SeedSequence([seed, f])
        return pm.fold_basis(L_train, mean, inv_sd, opts.n_components, opts.svd_samples, seeds)

    bases = list(ordered_map(fit_basis, range(F)))
    t.seconds["svd"] = time.perf_counter() - start
    start = time.perf_counter()

    # The plotted rows go onto a global 2-D basis (fitted on a subsample of the pool rows).
    slot = np.full(len(t.fold_of), -1)
    for f in range(F):
        slot[rows[d.test(f)]] = np.arange(len(d.test(f)))
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
    t_pad = pm.bucket(int(np.bincount(d.fold).max()))
    held_out = pm.HeldOut(
        fold_of=t.fold_of,
        slot=slot,
        bases=bases,
        plot_slot=plot_slot,
        plot_basis=(P_g, g_mean @ P_g),
        shape=(F, t_pad, opts.n_components),
    )
    t.seconds["project"] = time.perf_counter() - start
    return bases, plot_rows, held_out


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
    d, rng, target_name = t.design, t.rng, t.name
    rows, y, F, K = d.rows, d.y, opts.folds, len(d.classes)
    n_permutations, seed = opts.n_permutations, opts.seed
    inputs = _model_inputs(d, bases, Zte, n_permutations=n_permutations, rng=rng)
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
    confusion = np.zeros((K, K), np.int64)
    for f in range(F):
        test = d.test(f)
        np.add.at(confusion, (y[test], out["pred"][f, : len(test)]), 1)
    support = confusion.sum(axis=1)
    recall = {
        c: float(confusion[i, i] / support[i]) if support[i] else float("nan")
        for i, c in enumerate(d.classes)
    }
    class_mask = inputs[7][:, :K]
    top = _top_features(
        bases, out["W"][:, :, :K], class_mask, view.var_names, d, opts.n_top_features
    )
    checks = _self_checks(
        out, bases[0], y[d.train[0]], inputs[7], chance=chance, controls=controls, rng=rng
    )
    checks["finite"]["ok"] &= bool(np.isfinite(Zte).all() and np.isfinite(embedding).all())
    failed = [k for k, v in checks.items() if not v["ok"]]
    checks["ok"] = not failed
    if failed and opts.self_check:
        raise ProbeSelfCheckError(
            f"the probe of {target_name!r} failed its self-checks: "
            + "; ".join(f"{k} {checks[k]}" for k in failed)
            + f". This is a bug in biodata_guard: please report it with the seed ({seed}).",
            checks,
        )
    t.seconds["end"] = time.perf_counter() - start
    stages = ("units", "stats", "svd", "project", "fit", "end")
    timings = {k: round(t.seconds[k], 4) for k in stages}
    timings["total"] = round(sum(t.seconds[k] for k in stages), 4)
    prep = dict(t.prep)
    prep.update(
        {
            "target_sum": pm.TARGET_SUM if prep["transform"] == "counts" else None,
            "standardise": "per feature, mean and SD of the fold's training rows",
            "svd": "randomised, implicit centring and scaling (never densified)",
            "rows_probed": len(rows),
            "rows_eligible": d.n_eligible,
            "max_samples": opts.max_samples,
            "svd_rows_per_fold": int(min(opts.svd_samples, min(map(len, d.train)))),
            "svd_power_iterations": pm.SVD_POWER_ITERATIONS,
            "model_rows_per_fold": [len(train) for train in d.train],
            "held_out_rows_per_fold": [len(d.test(f)) for f in range(F)],
            "components_kept_per_fold": [b.rank for b in bases],
            "model": "multinomial logistic regression with L2 on the whitened components "
            "(JAX; optax.sgd at the Böhning step)",
            "l2": opts.l2,
            "n_steps": opts.n_steps,
        }
    )
    return ProbeResult(
        target_name=target_name,
        classes=d.classes,
        n_samples=len(rows),
        n_features=view.n_vars,
        n_components=opts.n_components,
        n_folds=F,
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
        preprocessing=prep,
        dropped_classes=d.dropped,
        seed=seed,
        timings=timings,
    )


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


def _small_batch(Z: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` well-separated training rows, round-robin over classes: rows closer than a
    quarter of the typical distance (technical replicates, duplicates) are skipped, so a failure
    to overfit means a broken training loop, not two near-identical rows with two labels."""
    order = rng.permutation(len(Z))[:512]
    sample = Z[order[:64]]
    dist = np.sqrt(((sample[:, None, :] - sample[None, :, :]) ** 2).sum(axis=-1))
    min_dist = (
        0.25 * float(np.median(dist[np.triu_indices(len(sample), 1)])) if len(sample) > 1 else 0
    )
    queues = [list(order[y[order] == c]) for c in np.unique(y[order])]
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for q in queues:
            while q and len(picked) < n:
                i = q.pop(0)
                if not picked or np.sqrt(((Z[picked] - Z[i]) ** 2).sum(axis=1)).min() > min_dist:
                    picked.append(int(i))
                    break
    return np.array(picked)


def _self_checks(
    out: dict[str, np.ndarray],
    basis: pm.FoldBasis,
    y0: np.ndarray,
    class_mask: np.ndarray,
    *,
    chance: float,
    controls: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The careful practitioner's checks, each with its numbers and a verdict ``ok``."""
    losses = out["losses"].astype(np.float64)  # (F, T+1, B)
    ln_k = np.log(class_mask.sum(axis=1))  # per fold
    init_dev = float(np.abs(losses[:, 0, :] - ln_k[:, None]).max())
    rises = float(np.diff(losses, axis=1).max()) if losses.shape[1] > 1 else 0.0
    first, last = losses[:, 0, 0], losses[:, -1, 0]
    small = _small_batch(basis.Z, y0, min(pm.OVERFIT_ROWS, basis.rank + 1), rng)
    small_mask = np.bincount(y0[small], minlength=class_mask.shape[1]) > 0
    o_first, o_final, o_acc = pm.overfit_small_batch(
        basis.Z[small].astype(np.float32), y0[small], small_mask
    )
    # The permutation null (labels permuted within the training rows, scored on the true
    # held-out labels) need not centre on chance when the features are strongly structured;
    # the shuffled-label controls must.
    control_mean = float(controls.mean())
    control_tol = _NULL_ATOL + 3.0 * float(controls.std(ddof=1)) / math.sqrt(len(controls))
    return {
        "initial_loss": {
            "ok": init_dev <= _INIT_LOSS_ATOL,
            "value": float(losses[:, 0, 0].mean()),
            "expected_ln_k": float(ln_k.mean()),
            "max_abs_deviation": init_dev,
        },
        "loss_falls": {
            "ok": bool((last < first).all()) and rises <= _MONOTONE_ATOL,
            "initial": float(first.mean()),
            "final": float(last.mean()),
            "max_step_increase": max(0.0, rises),
        },
        "overfits_small_batch": {
            "ok": o_acc == 1.0 and o_final < 0.1 * o_first,
            "n_rows": len(small),
            "initial_loss": o_first,
            "final_loss": o_final,
            "train_accuracy": o_acc,
        },
        "finite": {"ok": bool(out["finite"].all())},
        "shuffled_control_at_chance": {
            "ok": abs(control_mean - chance) <= control_tol,
            "mean": control_mean,
            "n_controls": len(controls),
            "chance": chance,
            "tolerance": control_tol,
        },
    }


# --------------------------------------------------------------------------- findings


def _cramers_v(table: np.ndarray) -> tuple[float, float, float, int]:
    """(Cramér's V, chi-square, p, dof) of a contingency table."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if r < 2 or c < 2:
        return 0.0, 0.0, 1.0, 0
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    v = math.sqrt(chi2 / (table.sum() * (min(r, c) - 1)))
    return float(min(1.0, v)), float(chi2), float(p), int(dof)


def check_batch_confounding(
    batch: Any,
    labels: Any,
    *,
    name: str = "metadata",
    batch_col: str = "batch",
    label_col: str = "label",
    max_cramers_v: float = 0.3,
    alpha: float = 0.01,
) -> list[Finding]:
    """Batch and label associated in the metadata (no features needed).

    ``batch.confounded`` is an error when every batch holds a single class (the label is a
    function of the batch: no method can separate the two), a warning when Cramér's V reaches
    ``max_cramers_v`` and the chi-square test rejects independence at ``alpha``. The evidence
    holds the contingency table.

    Examples
    --------
    >>> batch = pd.Series(["B1"] * 30 + ["B2"] * 30)
    >>> label = pd.Series(["tumour"] * 30 + ["normal"] * 30)
    >>> f, = check_batch_confounding(batch, label)
    >>> f.severity, f.evidence["cramers_v"], f.evidence["fully_confounded"]
    (<Severity.ERROR: 'error'>, 1.0, True)
    """
    frame = pd.DataFrame({"b": pd.Series(batch).to_numpy(), "y": pd.Series(labels).to_numpy()})
    frame = frame.dropna().astype(str)
    if frame.empty or frame["b"].nunique() < 2 or frame["y"].nunique() < 2:
        return []
    table = pd.crosstab(frame["b"], frame["y"])
    v, chi2, p, dof = _cramers_v(table.to_numpy())
    pure = {str(b): str(row.idxmax()) for b, row in table.iterrows() if (row > 0).sum() == 1}
    full = len(pure) == len(table)
    if not full and not (v >= max_cramers_v and p < alpha):
        return []
    n, n_b = int(table.to_numpy().sum()), len(table)
    evidence = {
        "cramers_v": v,
        "chi2": chi2,
        "p_value": p,
        "dof": dof,
        "n_samples": n,
        "n_batches": n_b,
        "n_classes": table.shape[1],
        "contingency": {str(b): row.astype(int).to_dict() for b, row in table.iterrows()},
        "single_class_batches": pure,
        "fully_confounded": full,
        "max_cramers_v": max_cramers_v,
        "alpha": alpha,
    }
    pure_text = preview(f"{b}: {c}" for b, c in pure.items()) if pure else "none"
    if full:
        return [
            Finding(
                CONFOUNDED,
                Severity.ERROR,
                f"{name}, {batch_col}: batch is fully confounded with {label_col} (Cramér's V "
                f"{v:.2f}); every batch holds a single class, {fraction(len(pure), n_b)} "
                f"batches ({pure_text}), so no method can separate batch from {label_col}",
                evidence=evidence,
                subjects=subjects(pure),
                hint="Re-design rather than correct: process every class in every batch "
                "(a balanced block design) or re-sequence a balanced subset; batch correction "
                f"(scanpy.pp.combat, harmonypy) would remove the {label_col} signal along with "
                "the batch.",
                input=name,
            )
        ]
    return [
        Finding(
            CONFOUNDED,
            Severity.WARNING,
            f"{name}, {batch_col}: batch is associated with {label_col} (Cramér's V {v:.2f} >= "
            f"{max_cramers_v:.2g}, chi-square p = {p:.2g}) over {n} samples; "
            f"{fraction(len(pure), n_b)} batches hold a single class"
            + (f" ({pure_text})" if pure else ""),
            evidence=evidence,
            subjects=subjects(pure),
            hint=f"Correct for the batch with {label_col} as a protected covariate "
            f"(scanpy.pp.combat(adata, key={batch_col!r}, covariates=[{label_col!r}])) and "
            "evaluate with sklearn.model_selection.StratifiedGroupKFold(groups=batch) so the "
            "score cannot ride on the batch.",
            input=name,
        )
    ]


def _verdict(
    res: ProbeResult, *, alpha: float, min_effect: float, error_effect: float, rival: float | None
) -> Severity | None:
    if res.p_value > alpha:
        return None
    if res.effect >= error_effect:
        return Severity.ERROR
    if res.effect >= min_effect or (rival is not None and res.effect > rival):
        return Severity.WARNING
    if _recognisable(res, error_effect):  # one batch of many can stand out on its own
        return Severity.WARNING
    return None


def _recognisable(res: ProbeResult, error_effect: float) -> dict[str, float]:
    """Classes recalled far above chance (recall effect >= ``error_effect``): a single batch
    that the features give away, even when the balanced accuracy over many batches is low."""
    gain = max(1e-12, 1.0 - res.chance)
    return {
        c: r
        for c, r in sorted(res.per_class_recall.items(), key=lambda kv: (-kv[1], kv[0]))
        if np.isfinite(r) and (r - res.chance) / gain >= error_effect
    }


def _probe_text(res: ProbeResult) -> str:
    return (
        f"a linear probe on {res.n_components} principal components reaches balanced accuracy "
        f"{res.balanced_accuracy:.3g} ± {res.balanced_accuracy_sd:.2g} over {res.n_folds} "
        f"{'grouped ' if res.grouped else ''}folds (chance {res.chance:.3g}, permutation "
        f"p = {res.p_value:.2g} with {res.n_permutations} permutations)"
    )


def _recall_text(res: ProbeResult) -> str:
    above = {c: r for c, r in res.per_class_recall.items() if r > res.chance}
    ranked = sorted(res.per_class_recall.items(), key=lambda kv: (-kv[1], kv[0]))
    return (
        f"{fraction(len(above), len(res.classes))} classes recalled above chance "
        f"({preview(f'{c} {r:.2f}' for c, r in ranked)})"
    )


def _samples_text(res: ProbeResult) -> str:
    eligible = res.preprocessing.get("rows_eligible", res.n_samples)
    if eligible <= res.n_samples:
        return f"{res.n_samples} samples"
    return (
        f"{res.n_samples} of {eligible} samples (a seeded sample, each class in proportion, "
        f"max_samples={res.preprocessing.get('max_samples')})"
    )


def _summary(res: ProbeResult, name: str, column: str, *, alpha: float) -> Finding:
    evidence = res.to_dict()
    floor = ""
    min_p = 1.0 / (1 + res.n_permutations)  # p when the observed beats every permutation
    if 0 < alpha < min_p:
        evidence["min_p_value"] = min_p
        needed = max(1, math.floor(1 / alpha) - 2)
        while 1.0 / (1 + needed) > alpha:
            needed += 1
        floor = (
            f"; with {res.n_permutations} permutations the smallest attainable p-value is "
            f"{min_p:.2g} > alpha {alpha:.2g}, so no result can be significant (use at least "
            f"{needed} permutations)"
        )
    return Finding(
        SUMMARY,
        Severity.INFO,
        f"{name}, {column}: {_probe_text(res)}; {_recall_text(res)}; "
        f"{_samples_text(res)}, self-checks "
        f"{'passed' if res.self_check.get('ok') else 'FAILED'}{floor}",
        evidence=evidence,
        subjects=subjects(t["feature"] for t in res.top_features),
        hint="Read balanced_accuracy against chance and the null; top_features are the "
        "features that carry the signal.",
        input=name,
    )


def _predictable(
    res: ProbeResult,
    *,
    check: str,
    name: str,
    column: str,
    alpha: float,
    min_effect: float,
    error_effect: float,
    rival: ProbeResult | None = None,
    rival_col: str = "label",
    group_hint: str = "patient_id",
) -> list[Finding]:
    severity = _verdict(
        res,
        alpha=alpha,
        min_effect=min_effect,
        error_effect=error_effect,
        rival=None if rival is None else rival.effect,
    )
    if severity is None:
        return []
    evidence = res.to_dict()
    evidence.update({"alpha": alpha, "min_effect": min_effect, "error_effect": error_effect})
    standing_out = _recognisable(res, error_effect)
    evidence["recognisable_classes"] = standing_out
    more = ""
    if standing_out and res.effect < min_effect:
        more = (
            f"; {fraction(len(standing_out), len(res.classes))} {column} values are recognised "
            f"on their own ({preview(f'{c} recall {r:.2f}' for c, r in standing_out.items())})"
        )
    if rival is not None:
        evidence.update(
            {
                f"{rival_col}_balanced_accuracy": rival.balanced_accuracy,
                f"{rival_col}_chance": rival.chance,
                f"{rival_col}_effect": rival.effect,
                f"{rival_col}_p_value": rival.p_value,
                "more_predictable_than_label": res.effect > rival.effect,
            }
        )
        if res.effect > rival.effect:
            more += (
                f"; the batch is more predictable than {rival_col} (effect {res.effect:.2f} vs "
                f"{rival.effect:.2f}: balanced accuracy {res.balanced_accuracy:.2f} vs "
                f"{rival.balanced_accuracy:.2f}, chance {res.chance:.2f} vs {rival.chance:.2f})"
            )
    genes = preview(t["feature"] for t in res.top_features)
    if check == SPLIT_PREDICTABLE:
        what = f"the splits are told apart from the features: {_probe_text(res)}"
        hint = (
            "Train and test differ in distribution: check how they were collected (batch, "
            "site, date) and re-split at random within strata, e.g. "
            f"sklearn.model_selection.StratifiedGroupKFold(groups={group_hint}) or "
            "biodata_guard.leakage.group_split; the top_features show what differs."
        )
    else:
        what = f"the features give the batch away: {_probe_text(res)}"
        hint = (
            f"Correct the batch effect before training (scanpy.pp.combat(adata, "
            f"key={column!r}), harmonypy.run_harmony(pcs, meta, {column!r}) or scvi-tools), "
            "or model it as a covariate; evaluate with "
            f"sklearn.model_selection.StratifiedGroupKFold(groups={column}) so a score cannot "
            "ride on the batch; the top_features carry the batch signal."
        )
    return [
        Finding(
            check,
            severity,
            f"{name}, {column}: {what}; {_recall_text(res)}{more}; driven by {genes or 'n/a'}",
            evidence=evidence,
            subjects=subjects(t["feature"] for t in res.top_features),
            hint=hint,
            input=name,
        )
    ]


def check_batch_probe(
    X: Any,
    batch: Any,
    *,
    labels: Any = None,
    groups: Any = None,
    name: str | None = None,
    batch_col: str = "batch",
    label_col: str = "label",
    alpha: float = 0.01,
    min_effect: float = 0.1,
    error_effect: float = 0.5,
    **probe_options: Any,
) -> list[Finding]:
    """Can the features predict the batch? ``batch.predictable`` plus ``probe.summary`` (info).

    Flagged when the permutation p-value is at most ``alpha`` and the effect (balanced
    accuracy above chance as a share of the possible gain, 0..1) reaches ``min_effect`` - or,
    with ``labels``, exceeds the label's own effect (the batch is more predictable than the
    label: a model may learn the batch). An error from ``error_effect``, else a warning. The
    probe options (``n_components``, ``folds``, ``n_permutations``, ``seed`` ...) are those of
    :func:`batch_probe`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> batch = np.repeat(["run1", "run2"], 100)
    >>> X = rng.poisson(5, (200, 300)).astype(float)
    >>> X[batch == "run2", :30] *= 3
    >>> [(f.check, str(f.severity)) for f in check_batch_probe(X, batch, n_components=10)]
    [('probe.summary', 'info'), ('batch.predictable', 'error')]
    """
    layer = probe_options.pop("layer", None)
    view = as_matrix(X, layer=layer, name=name)  # for the name; batch_probe reads the data
    targets = [(batch, batch_col)] + ([(labels, label_col)] if labels is not None else [])
    opts = _Options(**probe_options)
    probed = _probe_targets(X, targets, groups=groups, layer=layer, name=view.name, opts=opts)
    for outcome in probed:  # the batch and the label probes share their passes
        if isinstance(outcome, InputError):
            raise outcome
    res, rival = probed[0], probed[1] if labels is not None else None
    out = [_summary(res, view.name, batch_col, alpha=alpha)]
    if rival is not None:
        out.append(_summary(rival, view.name, label_col, alpha=alpha))
    return [
        *out,
        *_predictable(
            res,
            check=PREDICTABLE,
            name=view.name,
            column=batch_col,
            alpha=alpha,
            min_effect=min_effect,
            error_effect=error_effect,
            rival=rival,
            rival_col=label_col,
        ),
    ]


def check_split_probe(
    X: Any,
    splits: Any,
    *,
    groups: Any = None,
    name: str | None = None,
    split_col: str = "split",
    alpha: float = 0.01,
    min_effect: float = 0.1,
    error_effect: float = 0.5,
    **probe_options: Any,
) -> list[Finding]:
    """Can the features tell train from test? ``batch.split_predictable`` plus ``probe.summary``.

    The same probe as :func:`check_batch_probe` on split membership: a significant effect means
    the splits differ in distribution (a site, run or date shift), so test scores will not
    carry over. Same thresholds.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> split = np.where(np.arange(200) < 150, "train", "test")
    >>> X = rng.poisson(5, (200, 300)).astype(float)
    >>> X[split == "test", :40] *= 4  # the test samples come from another site
    >>> [f.check for f in check_split_probe(X, split, n_components=10)]
    ['probe.summary', 'batch.split_predictable']
    """
    layer = probe_options.pop("layer", None)
    view = as_matrix(X, layer=layer, name=name)  # for the name; batch_probe reads the data
    res = batch_probe(
        X,
        splits,
        groups=groups,
        layer=layer,
        name=view.name,
        target_name=split_col,
        **probe_options,
    )
    return [
        _summary(res, view.name, split_col, alpha=alpha),
        *_predictable(
            res,
            check=SPLIT_PREDICTABLE,
            name=view.name,
            column=split_col,
            alpha=alpha,
            min_effect=min_effect,
            error_effect=error_effect,
        ),
    ]


# --------------------------------------------------------------------------- audit


def _skipped(name: str, column: str, reason: str) -> Finding:
    return Finding(
        SUMMARY,
        Severity.INFO,
        f"{name}, {column}: probe skipped; {reason}",
        evidence={"target": column, "skipped": True, "reason": reason},
        hint="Fix the reason above to get the probe, or disable it with --no-probe.",
        input=name,
    )


def audit_probe(ctx: AuditContext) -> list[Finding]:
    """Run the probe checks for an audit.

    Reads ``batch_col``, ``label_col``, ``split_col``, ``group_cols`` (grouped folds),
    ``probe`` (enabled), ``probe_components``, ``probe_permutations``, ``n_folds``, ``alpha``,
    ``seed`` and ``chunk_size`` from ``ctx.config``; ``ctx.samples`` (its rows must match
    ``ctx.features[0].view`` rows, ``ctx.aligned``) and that view. ``batch.confounded`` needs
    only the sample table. Writes the plot data to ``ctx.artifacts["probe"]``:
    ``{"embedding": {"x", "y", "batch", "split"}, "fold_accuracy": {"batch", "label",
    "split", "chance"}}``.
    """
    cfg = ctx.config
    if not cfg.probe:
        return []
    out: list[Finding] = []
    batch, label, split = ctx.column("batch_col"), ctx.column("label_col"), ctx.column("split_col")
    if batch is not None and label is not None:
        out += check_batch_confounding(
            batch,
            label,
            name=ctx.samples_name,
            batch_col=cfg.batch_col,
            label_col=cfg.label_col,
            alpha=cfg.alpha,
        )
    targets = [
        (role, col)
        for role, col, values in (
            ("batch", cfg.batch_col, batch),
            ("label", cfg.label_col, label if batch is not None else None),
            ("split", cfg.split_col, split),
        )
        if values is not None
    ]
    if not targets or not ctx.features:
        return out
    fi = ctx.features[0]
    if not ctx.aligned:
        return out + [
            _skipped(fi.name, col, f"the rows of {fi.name} do not match the sample ids")
            for _, col in targets
        ]
    samples = ctx.samples
    groups = samples[list(cfg.group_cols)].reset_index(drop=True) if cfg.group_cols else None
    opts = _Options(
        n_components=cfg.probe_components,
        folds=cfg.n_folds,
        n_permutations=cfg.probe_permutations,
        max_samples=cfg.probe_max_samples,
        seed=cfg.seed,
        chunk_size=cfg.chunk_size,
    )
    probed = _probe_targets(  # one pass of each kind for all targets (per transform)
        fi.view,
        [(samples[col].reset_index(drop=True), col) for _, col in targets],
        groups=groups,
        layer=None,
        name=None,
        opts=opts,
        progress_bar=ctx.progress_bar,
    )
    results: dict[str, ProbeResult] = {}
    for (role, col), outcome in zip(targets, probed, strict=True):
        if isinstance(outcome, InputError):
            out.append(_skipped(fi.name, col, outcome.message))
            continue
        results[role] = outcome
        out.append(_summary(outcome, fi.name, col, alpha=cfg.alpha))
    thresholds = {"alpha": cfg.alpha, "min_effect": 0.1, "error_effect": 0.5}
    if "batch" in results:
        out += _predictable(
            results["batch"],
            check=PREDICTABLE,
            name=fi.name,
            column=cfg.batch_col,
            rival=results.get("label"),
            rival_col=cfg.label_col or "label",
            **thresholds,
        )
    if "split" in results:
        out += _predictable(
            results["split"],
            check=SPLIT_PREDICTABLE,
            name=fi.name,
            column=cfg.split_col,
            group_hint=cfg.group_cols[0] if cfg.group_cols else "patient_id",
            **thresholds,
        )
    if results:
        ctx.artifacts["probe"] = _artifact(results, samples, cfg.batch_col, cfg.split_col)
    return out


def _artifact(
    results: dict[str, ProbeResult],
    samples: pd.DataFrame,
    batch_col: str | None,
    split_col: str | None,
) -> dict[str, Any]:
    first = next(iter(results.values()))
    rows = first.embedding_rows
    emb: dict[str, Any] = {
        "x": first.embedding[:, 0].tolist(),
        "y": first.embedding[:, 1].tolist(),
    }
    for key, col in (("batch", batch_col), ("split", split_col)):
        if col is not None and col in samples.columns:
            values = samples[col].iloc[rows]
            emb[key] = [None if pd.isna(v) else str(v) for v in values]
    acc: dict[str, Any] = {role: list(r.fold_balanced_accuracy) for role, r in results.items()}
    acc["chance"] = first.chance
    return jsonable({"embedding": emb, "fold_accuracy": acc})

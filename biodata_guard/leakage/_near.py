"""Evaluated samples whose nearest training sample is as close as a technical replicate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from biodata_guard._format import fraction, preview
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, as_matrix
from biodata_guard.leakage._common import (
    GROUP_SPLIT,
    Splits,
    check_param,
    parse_splits,
    too_few_splits,
)
from biodata_guard.leakage._embedding import MAX_FIT_ROWS, N_COMPONENTS, embed, nearest, search
from biodata_guard.registry import Interval, declare_check, declare_param
from biodata_guard.stats import robust_sd

NEAR_DUPLICATE_SIMILARITY = declare_param(
    "near_duplicate_similarity",
    None,
    kind="float",
    help="Cosine similarity above which a test sample is a near duplicate (default: calibrated).",
    valid=Interval(float, -1, 1),
    section="thresholds",
    key="near_duplicate_similarity",
)

NEAR_DUPLICATES = declare_check(
    "leakage.near_duplicates",
    group="leakage",
    severities=("warning", "error"),
    needs=("features", "split"),
    params=("near_duplicate_similarity", "seed"),
    doc="Evaluated samples as close to a training sample as a technical replicate.",
)

#: Pairs listed in ``subjects`` (the closest first).
_MAX_PAIRS = 50
#: Evidence the check passes on to its finding, in this order.
_PASSED = ("max_near_duplicate_fraction", "n_non_finite_samples_skipped", "embedding")
#: Why the check could not run, beyond too few splits.
_FEW_FEATURES = "fewer than 2 features"
_NO_EMBEDDING = "fewer than 2 samples with finite values to fit the embedding"
_SIMILARITY_HINT = "Use e.g. similarity=0.99, or None to calibrate it from the data."
_NO_CALIBRATION = "no split holds 2 samples to calibrate the threshold (pass similarity=...)"


@dataclass(frozen=True)
class Calibration:
    """The replicate-level similarity threshold and the within-split distances behind it."""

    threshold: float
    n_calibration: int
    median_within_split_similarity: float
    mad_log_distance: float


@dataclass(frozen=True)
class NearHits:
    """Evaluated rows at or above the threshold, closest first (ties by row), with their
    nearest reference row and similarity; hits per split and how each split was searched."""

    rows: np.ndarray
    partners: np.ndarray
    similarity: np.ndarray
    per_split: dict[str, int]
    searches: dict[str, str]
    n_eval: int

    @property
    def fraction(self) -> float:
        return len(self.rows) / self.n_eval if self.n_eval else 0.0


def calibrate(
    emb: np.ndarray,
    sp_: Splits,
    *,
    max_rows: int,
    robust_z: float,
    min_closeness_ratio: float,
    seed: int,
) -> Calibration | None:
    """Replicate-level similarity from the cosine distance of each sample to its nearest
    neighbour within its own split (train, or each fold), on a seeded subsample of queries: on
    the log scale, the stricter of ``median - robust_z * MAD`` and
    ``median - log(min_closeness_ratio)``. None when no split has two samples to compare."""
    pools = [sp_.train] if sp_.train is not None else list(range(len(sp_.names)))
    candidates = np.flatnonzero(np.isin(sp_.codes, pools))
    rng = np.random.default_rng(seed + 1)
    if len(candidates) > max_rows:
        candidates = np.sort(rng.choice(candidates, max_rows, replace=False))
    sims = []
    for c in pools:
        pool = np.flatnonzero(sp_.codes == c)
        queries = candidates[sp_.codes[candidates] == c]
        if len(pool) < 2 or not len(queries):
            continue
        self_pos = np.searchsorted(pool, queries)
        best, _ = nearest(emb[queries], emb[pool], self_pos)
        sims.append(best)
    if not sims:
        return None
    sim = np.concatenate(sims).astype(np.float64)
    logd = np.log(np.clip(1.0 - sim, 1e-6, None))
    med = float(np.median(logd))
    mad = robust_sd(logd)
    cut = min(med - robust_z * mad, med - np.log(min_closeness_ratio))
    return Calibration(
        threshold=float(1.0 - np.exp(cut)),
        n_calibration=len(sim),
        median_within_split_similarity=float(1.0 - np.exp(med)),
        mad_log_distance=mad,
    )


def near_hits(emb: np.ndarray, sp_: Splits, threshold: float, *, seed: int) -> NearHits:
    """Each evaluated sample's nearest reference sample (test: train; a fold: the other folds)
    and the pairs at or above ``threshold``."""
    rows, partners, sims = [], [], []
    per_split: dict[str, int] = {}
    searches: dict[str, str] = {}  # split -> how its nearest training samples were found
    for c in range(len(sp_.names)):
        if c == sp_.train:
            continue
        queries = np.flatnonzero(sp_.codes == c)
        ref = np.flatnonzero(
            sp_.codes == sp_.train if sp_.train is not None else (sp_.codes >= 0) & (sp_.codes != c)
        )
        best, arg, searches[sp_.names[c]] = search(emb[queries], emb[ref], seed=seed)
        hit = best >= threshold
        if hit.any():
            per_split[sp_.names[c]] = int(hit.sum())
            rows.append(queries[hit])
            partners.append(ref[arg[hit]])
            sims.append(best[hit])
    n_eval = int(sp_.eval_mask.sum())
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return NearHits(empty, empty, np.zeros(0, np.float32), per_split, searches, n_eval)
    row, partner, sim = np.concatenate(rows), np.concatenate(partners), np.concatenate(sims)
    order = np.lexsort((row, -sim))
    return NearHits(row[order], partner[order], sim[order], per_split, searches, n_eval)


def _near_finding(
    name: str,
    hits: NearHits,
    sp_: Splits,
    ids: Any,
    threshold: float,
    cal: Calibration | None,
    calibration_settings: dict[str, float],
    evidence: dict[str, Any],
    fix: str,
) -> Finding:
    """The finding; ``evidence`` holds ``max_near_duplicate_fraction``,
    ``n_non_finite_samples_skipped`` and ``embedding`` (its info), ``fix`` the split call."""
    n_hit = len(hits.rows)
    top = slice(0, _MAX_PAIRS)
    listed = [[ids[r], ids[p]] for r, p in zip(hits.rows[top], hits.partners[top], strict=True)]
    ref_word = "a sample of another fold" if sp_.is_folds else f"a '{sp_.names[0]}' sample"
    how = (
        f"calibrated: within-split nearest neighbours have median "
        f"{cal.median_within_split_similarity:.4g}"
        if cal
        else "fixed threshold"
    )
    max_fraction = evidence["max_near_duplicate_fraction"]
    return Finding(
        NEAR_DUPLICATES,
        Severity.ERROR if hits.fraction > max_fraction else Severity.WARNING,
        f"{name}: {fraction(n_hit, hits.n_eval)} {sp_.eval_word} are near duplicates of "
        f"{ref_word} (cosine similarity >= {threshold:.4g} on a "
        f"{evidence['embedding']['n_components']}-d embedding; {how}; e.g. "
        f"{preview((f'{a} ~ {b}' for a, b in listed), total=n_hit)})",
        evidence={
            "n_near_duplicates": n_hit,
            "n_evaluated_samples": hits.n_eval,
            "near_duplicate_fraction": hits.fraction,
            "per_split": hits.per_split,
            "search": hits.searches,
            "threshold_similarity": threshold,
            "calibrated": cal is not None,
            **(calibration_settings if cal else {}),
            **(asdict(cal) if cal else {}),
            "max_near_duplicate_fraction": max_fraction,
            "pair_similarities": [float(s) for s in hits.similarity[top]],
            "n_non_finite_samples_skipped": evidence["n_non_finite_samples_skipped"],
            "embedding": evidence["embedding"],
        },
        subjects=listed,
        hint="Treat technical replicates and re-sequenced libraries as one source: add a "
        f"column naming the biological sample or patient and split by it, {fix}",
        input=name,
    )


def _embedding(
    view: Any, sp_: Splits, *, chunk_size: int, **size: Any
) -> tuple[np.ndarray, dict[str, Any], Splits, int] | None:
    """The unit-norm embedding of ``view`` and its info, ``sp_`` without the rows holding
    NaN/inf (not compared) and their number; None when too few rows to fit it."""
    embedded = embed(view, chunk_size=chunk_size, **size)
    if embedded is None:
        return None
    emb, info = embedded
    non_finite = ~np.isfinite(emb).all(axis=1)
    if non_finite.any():
        sp_ = replace(sp_, codes=np.where(non_finite, -1, sp_.codes))
    return emb, info, sp_, int(non_finite.sum())


def _threshold(
    emb: np.ndarray, sp_: Splits, similarity: float | None, **calibration: Any
) -> tuple[float, Calibration | None] | None:
    """The fixed ``similarity``, or the calibrated threshold; None when it cannot be calibrated."""
    if similarity is not None:
        return float(similarity), None
    cal = calibrate(emb, sp_, **calibration)
    return None if cal is None else (cal.threshold, cal)


def check_near_duplicates(
    X: Any,
    splits: Any,
    *,
    name: str | None = None,
    split_col: str = "split",
    similarity: float | None = None,
    robust_z: float = 4.0,
    min_closeness_ratio: float = 4.0,
    max_near_duplicate_fraction: float = 0.05,
    n_components: int = N_COMPONENTS,
    max_fit_rows: int = MAX_FIT_ROWS,
    max_calibration_rows: int = 2_000,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    seed: int = 0,
    label_col: str | None = "label",
    group_cols: Sequence[str] = ("patient_id",),
) -> list[Finding]:
    """Find evaluated samples whose nearest training sample is as close as a technical replicate.

    Rows are embedded once: non-negative data are scaled to the median row total and log1p
    transformed, then projected by a ``TruncatedSVD`` fitted on at most ``max_fit_rows`` seeded
    rows (sparse input stays sparse), centred, and normalised to unit length. Each test sample's
    nearest train sample (each fold sample's nearest sample in another fold) is found by blocked
    matrix products, exactly, in float32.

    The threshold is calibrated unless ``similarity`` is given: the cosine distance of training
    samples to their nearest training neighbour is summarised on a log scale, and a pair closer
    than ``median - robust_z * MAD`` and at least ``min_closeness_ratio`` times closer than the
    median is an outlier of closeness -- a technical replicate, re-sequenced library or duplicate
    rather than another biological sample.

    ``leakage.near_duplicates`` is a ``warning``, an ``error`` when more than
    ``max_near_duplicate_fraction`` of the evaluated samples are near duplicates. Exact
    duplicates (similarity 1) are included; ``leakage.duplicate_samples`` reports them as well.
    An ``info`` says why the check could not run (fewer than 2 splits or features, too few
    samples to fit the embedding or to calibrate the threshold).

    Cost: one pass over the matrix for the embedding, O(n_test x n_train x n_components) for the
    search (BLAS), memory O(n x n_components).

    Parameters
    ----------
    X
        Samples x features: AnnData (also backed), DataFrame, ndarray or scipy.sparse.
    splits
        One split value per row of ``X`` (train/test/validation, or fold numbers).
    name, split_col
        Names used in messages.
    similarity
        Fixed cosine similarity at or above which a pair is a near duplicate (skips calibration).
    robust_z
        Calibration: how many robust standard deviations (MAD) below the median log distance.
    min_closeness_ratio
        Calibration: how many times closer than the median nearest-neighbour distance.
    max_near_duplicate_fraction
        Fraction of evaluated samples above which the finding is an error.
    n_components, max_fit_rows, max_calibration_rows, chunk_size
        Embedding size, rows used to fit it, queries used for calibration, rows read at once.
    seed
        Seed of the row subsamples and of the randomized SVD.
    label_col, group_cols
        Columns named in the fix hint.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(rng.gamma(2.0, 20.0, (200, 100))).astype(float)
    >>> X[199] = rng.poisson(X[0])  # re-sequenced copy of train sample 0 in test
    >>> splits = ["train"] * 150 + ["test"] * 50
    >>> f, = check_near_duplicates(X, splits)
    >>> f.check, f.evidence["n_near_duplicates"], f.subjects[0]
    ('leakage.near_duplicates', 1, ['199', '0'])
    """
    if similarity is not None:
        check_param(NEAR_DUPLICATE_SIMILARITY, similarity, "similarity", hint=_SIMILARITY_HINT)
    view = as_matrix(X, name=name)
    name = view.name
    sp_ = parse_splits(splits, view.n_obs, name, split_col)
    if len(sp_.names) < 2 or view.n_vars < 2:
        reason = too_few_splits(sp_, split_col) if len(sp_.names) < 2 else _FEW_FEATURES
        return [not_checked(NEAR_DUPLICATES, reason, input=name)]
    size = {"n_components": n_components, "max_fit_rows": max_fit_rows, "seed": seed}
    embedded = _embedding(view, sp_, chunk_size=chunk_size, **size)
    if embedded is None:
        return [not_checked(NEAR_DUPLICATES, _NO_EMBEDDING, input=name)]
    emb, info, sp_, n_skipped = embedded
    settings = {"robust_z": robust_z, "min_closeness_ratio": min_closeness_ratio}
    found = _threshold(emb, sp_, similarity, max_rows=max_calibration_rows, seed=seed, **settings)
    if found is None:
        return [not_checked(NEAR_DUPLICATES, _NO_CALIBRATION, input=name)]
    threshold, cal = found
    hits = near_hits(emb, sp_, threshold, seed=seed)
    if not len(hits.rows):
        return []
    fix = f"{GROUP_SPLIT}(df, label_col={label_col!r}, group_cols={list(group_cols)!r})"
    evidence = dict(zip(_PASSED, (max_near_duplicate_fraction, n_skipped, info), strict=True))
    return [_near_finding(name, hits, sp_, view.obs_names, threshold, cal, settings, evidence, fix)]

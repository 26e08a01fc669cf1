"""Evaluated samples closer to a training sample than within-split neighbours are: copies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from biodata_guard._format import fraction, preview
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, as_matrix
from biodata_guard.leakage._common import (
    GROUP_PLACEHOLDER,
    GROUP_SPLIT,
    Splits,
    check_param,
    parse_splits,
    too_few_splits,
)
from biodata_guard.leakage._embedding import (
    MAX_FIT_ROWS,
    N_COMPONENTS,
    Neighbours,
    embed,
    nearest,
    neighbour_index,
    query,
)
from biodata_guard.leakage._near_stats import (
    DISTANCE_FLOOR,
    MIN_CALIBRATION,
    ExcessTest,
    NullCloseness,
    excess_test,
    flagged,
    null_closeness,
)
from biodata_guard.registry import Interval, declare_check, declare_param

NEAR_DUPLICATE_SIMILARITY = declare_param(
    "near_duplicate_similarity",
    None,
    kind="float",
    help="Cosine similarity above which a test sample is a near duplicate (default: calibrated).",
    valid=Interval(float, -1, 1),
    section="thresholds",
    key="near_duplicate_similarity",
)

#: The false-alarm rate of the near-duplicate test, per matrix.
NEAR_DUPLICATE_ALPHA = declare_param(
    "near_duplicate_alpha",
    0.01,
    kind="float",
    help="False-alarm rate of the near-duplicate test per matrix: the chance of a finding on a "
    "split without copies (default 0.01).",
    valid=Interval(float, 0, 1, closed="neither"),
    section="thresholds",
    key="near_duplicate_alpha",
)

NEAR_DUPLICATES = declare_check(
    "leakage.near_duplicates",
    group="leakage",
    severities=("warning", "error"),
    needs=("features", "split"),
    params=("near_duplicate_similarity", "near_duplicate_alpha", "seed"),
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
_ALPHA_HINT = "Use e.g. alpha=0.01 (the chance of a finding on a split without copies)."


@dataclass(frozen=True)
class SplitTest:
    """One evaluated split: its rows, each row's nearest reference row and cosine distance,
    how the search ran, the calibration behind the null, the test (None with a fixed
    threshold) and the rows reported."""

    name: str
    rows: np.ndarray
    partners: np.ndarray
    distance: np.ndarray
    search: str
    null: NullCloseness | None
    test: ExcessTest | None
    reported: np.ndarray


def _reference(sp_: Splits, c: int) -> np.ndarray:
    """Rows that split ``c`` is compared with: train, or every other fold."""
    if sp_.train is not None:
        return np.flatnonzero(sp_.codes == sp_.train)
    return np.flatnonzero((sp_.codes >= 0) & (sp_.codes != c))


def calibration_distances(
    emb: np.ndarray,
    pool: np.ndarray,
    *,
    max_rows: int,
    seed: int,
    index: Neighbours | None = None,
) -> np.ndarray:
    """Cosine distance of a seeded subsample of ``pool`` rows to their nearest other row of
    ``pool`` with a different profile: the closeness of distinct samples within a split
    (identical rows are one sample stored twice, which ``leakage.duplicate_samples`` reports).
    ``index``: the search the evaluated rows used on ``pool`` (the null is measured by the
    same instrument as what it is compared with); default exact."""
    queries = pool
    if len(pool) > max_rows:
        rng = np.random.default_rng(seed + 1)
        queries = np.sort(rng.choice(pool, max_rows, replace=False))
    if len(pool) < 2:
        return np.zeros(0)
    self_pos = np.searchsorted(pool, queries)
    below = np.float32(1.0 - DISTANCE_FLOOR)
    if index is not None:
        best, _ = query(index, emb[queries], self_pos, below=below)
    else:
        best, _ = nearest(emb[queries], emb[pool], self_pos, below=below)
    return 1.0 - best[np.isfinite(best)].astype(np.float64)


def split_tests(
    emb: np.ndarray,
    sp_: Splits,
    *,
    alpha: float,
    similarity: float | None,
    max_calibration_rows: int,
    seed: int,
) -> list[SplitTest]:
    """Search, test (at its share of ``alpha``, unless ``similarity`` is fixed) and select
    the rows to report of each evaluated split; the train calibration is shared by every split
    evaluated against train."""
    evaluated = [c for c in range(len(sp_.names)) if c != sp_.train and (sp_.codes == c).any()]
    share = alpha / max(1, len(evaluated))
    nulls: dict[int, NullCloseness | None] = {}
    indexes: dict[int, Neighbours] = {}  # one search per reference: train, or each fold's
    n_against_train = int(np.isin(sp_.codes, evaluated).sum())
    out = []
    for c in evaluated:
        queries, ref = np.flatnonzero(sp_.codes == c), _reference(sp_, c)
        key = -1 if sp_.train is not None else c
        if key not in indexes:
            n_queries = n_against_train if key == -1 else len(queries)
            indexes[key] = neighbour_index(emb[ref], n_queries, seed=seed)
        best, arg = query(indexes[key], emb[queries])
        how = indexes[key].how
        dist = np.maximum(1.0 - best.astype(np.float64), 0.0)
        null = test = None
        if similarity is not None:
            reported = 1.0 - dist >= similarity
        else:
            if key not in nulls:
                cal = calibration_distances(
                    emb, ref, max_rows=max_calibration_rows, seed=seed, index=indexes[key]
                )
                nulls[key] = null_closeness(cal)
            null = nulls[key]
            test = None if null is None else excess_test(null, dist)
            reported = np.zeros(len(dist), bool) if test is None else flagged(test, dist, share)
        out.append(SplitTest(sp_.names[c], queries, ref[arg], dist, how, null, test, reported))
    return out


@dataclass(frozen=True)
class NearHits:
    """Evaluated rows reported as near duplicates, closest first (ties by row), with their
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


def near_hits(tests: list[SplitTest]) -> NearHits:
    """The reported pairs of every split, closest first."""
    rows, partners, sims = [], [], []
    per_split: dict[str, int] = {}
    for st in tests:
        hit = st.reported
        if hit.any():
            per_split[st.name] = int(hit.sum())
            rows.append(st.rows[hit])
            partners.append(st.partners[hit])
            sims.append(1.0 - st.distance[hit])
    n_eval = sum(len(st.rows) for st in tests)
    searches = {st.name: st.search for st in tests}
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return NearHits(empty, empty, np.zeros(0), per_split, searches, n_eval)
    row, partner, sim = np.concatenate(rows), np.concatenate(partners), np.concatenate(sims)
    order = np.lexsort((row, -sim))
    return NearHits(row[order], partner[order], sim[order], per_split, searches, n_eval)


def _test_evidence(tests: list[SplitTest], alpha: float) -> dict[str, Any]:
    """Per tested split: the p-values, the reported samples' closeness with its null rate and
    the number expected that close by chance, and the null model."""
    out: dict[str, Any] = {}
    for st in tests:
        if st.test is None or st.null is None:
            continue
        t, hit = st.test, st.reported
        rate = float(t.sample_p[hit].max()) if hit.any() else math.nan
        out[st.name] = {
            "p_value": t.p_value,
            "alpha": alpha / max(1, len(tests)),
            "simes_p_value": t.simes_p,
            "count_tests": [
                {"level": r.level, "n_close": r.n_close, "expected": r.expected, "p": r.p_value}
                for r in t.rungs
            ],
            "n_evaluated": t.n_eval,
            "n_reported": int(hit.sum()),
            "threshold_similarity": float(1.0 - st.distance[hit].max()) if hit.any() else None,
            "null_rate": rate,
            "expected_by_chance": t.n_eval * rate if hit.any() else 0.0,
            "n_calibration": st.null.n,
            "median_within_split_similarity": float(1.0 - np.median(st.null.distances)),
            "min_within_split_similarity": float(1.0 - st.null.distances[0]),
            "tail_exponent": st.null.exponent,
            "tail_exponent_low": st.null.exponent_low,
        }
    return out


def _small(x: float, equals: str = "") -> str:
    """A rate or p-value for a message: below 1e-12 (the tail model's extrapolation), only
    its bound.

    Examples
    --------
    >>> _small(3.2e-4, "= "), _small(2e-80, "= ")
    ('= 0.00032', '< 1e-12')
    """
    return "< 1e-12" if x < 1e-12 else f"{equals}{x:.2g}"


def _how(tests: dict[str, Any], threshold: float | None) -> str:
    """The message's account of the threshold: fixed, or the test behind it."""
    if threshold is not None:
        return f"cosine similarity >= {threshold:.4g}, fixed threshold"
    parts = [
        f"{name}: {t['n_reported']} at cosine similarity >= {t['threshold_similarity']:.4g}, "
        f"where within-split nearest neighbours lie at a rate of {_small(t['null_rate'])} "
        f"({_small(t['expected_by_chance'])} expected by chance, p {_small(t['p_value'], '= ')})"
        for name, t in tests.items()
    ]
    return "; ".join(parts)


def _near_finding(
    name: str,
    hits: NearHits,
    sp_: Splits,
    ids: Any,
    threshold: float | None,
    tests: dict[str, Any],
    evidence: dict[str, Any],
    fix: str,
) -> Finding:
    """The finding; ``evidence`` holds ``max_near_duplicate_fraction``,
    ``n_non_finite_samples_skipped`` and ``embedding`` (its info), ``fix`` the split call."""
    n_hit = len(hits.rows)
    top = slice(0, _MAX_PAIRS)
    listed = [[ids[r], ids[p]] for r, p in zip(hits.rows[top], hits.partners[top], strict=True)]
    ref_word = "a sample of another fold" if sp_.is_folds else f"a '{sp_.names[0]}' sample"
    max_fraction = evidence["max_near_duplicate_fraction"]
    shown = {s: t for s, t in tests.items() if s in hits.per_split}
    expected = sum(t["expected_by_chance"] for t in shown.values())
    excess = max(0.0, n_hit - expected) / hits.n_eval if hits.n_eval else 0.0
    return Finding(
        NEAR_DUPLICATES,
        Severity.ERROR if excess > max_fraction else Severity.WARNING,
        f"{name}: {fraction(n_hit, hits.n_eval)} {sp_.eval_word} are near duplicates of "
        f"{ref_word} ({_how(shown, threshold)}; "
        f"{evidence['embedding']['n_components']}-d embedding; e.g. "
        f"{preview((f'{a} ~ {b}' for a, b in listed), total=n_hit)})",
        evidence={
            "n_near_duplicates": n_hit,
            "n_evaluated_samples": hits.n_eval,
            "near_duplicate_fraction": hits.fraction,
            "expected_by_chance": expected,
            "excess_fraction": excess,
            "per_split": hits.per_split,
            "search": hits.searches,
            "calibrated": threshold is None,
            "threshold_similarity": threshold,
            "tests": tests,
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


def check_near_duplicates(
    X: Any,
    splits: Any,
    *,
    name: str | None = None,
    split_col: str = "split",
    similarity: float | None = None,
    alpha: float = NEAR_DUPLICATE_ALPHA.default,
    max_near_duplicate_fraction: float = 0.05,
    n_components: int = N_COMPONENTS,
    max_fit_rows: int = MAX_FIT_ROWS,
    max_calibration_rows: int = 2_000,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    seed: int = 0,
    label_col: str | None = "label",
    group_cols: Sequence[str] = (),
) -> list[Finding]:
    """Find an excess of evaluated samples as close to a training sample as a copy would be.

    Rows are embedded once (non-negative data scaled to the median row total and log1p
    transformed, a ``TruncatedSVD`` fitted on at most ``max_fit_rows`` seeded rows, centred,
    unit length); each test sample's nearest train sample (each fold sample's nearest sample in
    the other folds) is found exactly by blocked float32 matrix products.

    Cells of one type are close by nature, so closeness alone is no evidence: the distances of
    the evaluated samples to their nearest reference sample are compared with those of up to
    ``max_calibration_rows`` seeded reference samples to their nearest other reference sample,
    and only an *excess* of close pairs is flagged (count tests at the within-split levels 1e-2
    and 1e-3 and Simes' test of the per-sample p-values, Bonferroni-combined:
    :mod:`biodata_guard.leakage._near_stats`). The chance of a finding on a split without
    copies is at most ``alpha`` per matrix, whatever the number of test samples; one
    re-uploaded sample (a training sample copied into test with a little noise) is found on
    its own. ``similarity`` replaces the test by a fixed cosine threshold.

    ``leakage.near_duplicates`` lists the pairs Benjamini-Hochberg selects at false-discovery
    rate ``alpha`` (closest first) with the number expected by chance: a ``warning``, an
    ``error`` when the excess is over ``max_near_duplicate_fraction`` of the evaluated samples.
    Exact duplicates are included (``leakage.duplicate_samples`` reports them too). An ``info``
    says why the check could not run. Cost: one pass for the embedding, O(n_test x n_train x
    n_components) for the search, O(max_calibration_rows x n_train x n_components) per reference
    set for the calibration.

    Parameters
    ----------
    X
        Samples x features: AnnData (also backed), DataFrame, ndarray or scipy.sparse.
    splits
        One split value per row of ``X`` (train/test/validation, or fold numbers).
    name, split_col
        Names used in messages.
    similarity
        Fixed cosine similarity at or above which a pair is a near duplicate (skips the test).
    alpha
        False-alarm rate per matrix (``--near-duplicate-alpha``).
    max_near_duplicate_fraction
        Excess fraction of evaluated samples above which the finding is an error.
    n_components, max_fit_rows, max_calibration_rows, chunk_size
        Embedding size, rows used to fit it, calibration queries per reference set, rows read
        at once.
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
    check_param(NEAR_DUPLICATE_ALPHA, alpha, "alpha", hint=_ALPHA_HINT)
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
    settings = {"similarity": similarity, "max_calibration_rows": max_calibration_rows}
    tests = split_tests(emb, sp_, alpha=alpha, seed=seed, **settings)
    if similarity is None and not any(st.test is not None for st in tests):
        return [not_checked(NEAR_DUPLICATES, _no_calibration(sp_), input=name)]
    hits = near_hits(tests)
    if not len(hits.rows):
        return []
    groups = list(group_cols) or [GROUP_PLACEHOLDER]
    fix = f"{GROUP_SPLIT}(df, label_col={label_col!r}, group_cols={groups!r})"
    evidence = dict(zip(_PASSED, (max_near_duplicate_fraction, n_skipped, info), strict=True))
    tested = _test_evidence(tests, alpha)
    return [_near_finding(name, hits, sp_, view.obs_names, similarity, tested, evidence, fix)]


def _no_calibration(sp_: Splits) -> str:
    counts = np.bincount(sp_.codes[sp_.codes >= 0], minlength=len(sp_.names))
    if sp_.is_folds:
        ref, n = "the other folds hold", int((counts.sum() - counts).min())
    else:
        ref, n = f"'{sp_.names[0]}' holds", int(counts[sp_.train])
    return (
        f"{ref} {n} sample{'' if n == 1 else 's'}; the near-duplicate test needs >= "
        f"{MIN_CALIBRATION} to calibrate (pass similarity=... for a fixed threshold)"
    )

"""Samples a split must keep together because of their features: exact duplicates and near
duplicates (a re-sequenced library, a re-uploaded sample), for :func:`biodata_guard.split`.

Exact duplicates share their row hash (all-zero rows are left out). Near duplicates are pairs of
a sample and its nearest neighbour in the leakage checks' embedding whose cosine distance is an
outlier of closeness among all nearest-neighbour distances: on the log scale, below both
``median - robust_z * MAD`` and ``median - log(min_closeness_ratio)``. The defaults (3, 2) are
looser than the near-duplicate check's (4, 4), so a pair that check would call a near duplicate
is linked; under a normal model of the log distances about 0.13% of samples gain a spurious
link, which only keeps two samples on one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.leakage._embedding import MAX_FIT_ROWS, N_COMPONENTS, embed, nearest
from biodata_guard.leakage._row_hashes import row_hashes
from biodata_guard.stats import robust_sd

#: Near-duplicate links are searched exactly (all pairs) up to this many samples.
MAX_NEAR_ROWS = 50_000


@dataclass(frozen=True)
class FeatureLinks:
    """Row pairs to keep together: exact duplicates, near duplicates (with their similarity),
    the similarity threshold used, and why near duplicates were not searched (if so)."""

    exact: np.ndarray  # k x 2 row positions
    near: np.ndarray  # k x 2 row positions
    near_similarity: np.ndarray
    threshold: float | None
    skipped: str = ""

    @property
    def pairs(self) -> np.ndarray:
        """Every linked pair once (an exact duplicate is also its own nearest neighbour)."""
        both = np.sort(np.concatenate([self.exact, self.near]).reshape(-1, 2), axis=1)
        return np.unique(both, axis=0)


def exact_pairs(view: Any, *, chunk_size: int) -> np.ndarray:
    """Each row that repeats a non-empty row paired with the first row of its set."""
    h1, h2, nnz = row_hashes(view, chunk_size)
    keep = np.flatnonzero(nnz > 0)
    frame = pd.DataFrame({"a": h1[keep], "b": h2[keep], "row": keep})
    first = frame.groupby(["a", "b"], sort=False)["row"].transform("first").to_numpy()
    dup = first != frame["row"].to_numpy()
    return np.column_stack([first[dup], frame["row"].to_numpy()[dup]]).astype(np.int64)


def _closeness_threshold(best: np.ndarray, robust_z: float, min_closeness_ratio: float) -> float:
    logd = np.log(np.clip(1.0 - best.astype(np.float64), 1e-6, None))
    med = float(np.median(logd))
    cut = min(med - robust_z * robust_sd(logd), med - np.log(min_closeness_ratio))
    return float(1.0 - np.exp(cut))


def near_pairs(
    view: Any,
    *,
    chunk_size: int,
    seed: int,
    similarity: float | None = None,
    robust_z: float = 3.0,
    min_closeness_ratio: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, float | None, str]:
    """(pairs, their similarity, the threshold, why skipped) of near-duplicate samples."""
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
    if view.n_obs > MAX_NEAR_ROWS:
        return (*empty, f"more than {MAX_NEAR_ROWS:,} samples (exact duplicates still linked)")
    if view.n_vars < 2 or view.n_obs < 3:
        return (*empty, "fewer than 3 samples or 2 features")
    embedded = embed(
        view, n_components=N_COMPONENTS, max_fit_rows=MAX_FIT_ROWS, chunk_size=chunk_size,
        seed=seed,
    )  # fmt: skip
    if embedded is None:
        return (*empty, "too few samples to fit the embedding")
    emb = embedded[0]
    ok = np.flatnonzero(np.isfinite(emb).all(axis=1))
    if len(ok) < 3:
        return (*empty, "fewer than 3 samples with finite values")
    best, arg = nearest(emb[ok], emb[ok], np.arange(len(ok)))
    threshold = (
        float(similarity)
        if similarity is not None
        else _closeness_threshold(best, robust_z, min_closeness_ratio)
    )
    hit = best >= threshold
    pairs = np.sort(np.column_stack([ok[hit], ok[arg[hit]]]).astype(np.int64), axis=1)
    pairs, first = np.unique(pairs.reshape(-1, 2), axis=0, return_index=True)  # mutual: once
    return pairs, best[hit][first].astype(np.float64), threshold, ""


def feature_links(
    view: Any, *, chunk_size: int, seed: int, similarity: float | None = None
) -> FeatureLinks:
    """Exact and near-duplicate pairs of the rows of ``view`` (see the module docstring)."""
    exact = exact_pairs(view, chunk_size=chunk_size)
    near, sims, threshold, skipped = near_pairs(
        view, chunk_size=chunk_size, seed=seed, similarity=similarity
    )
    return FeatureLinks(exact, near, sims, threshold, skipped)

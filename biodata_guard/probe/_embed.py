"""The probe's embedding: principal axes shared by the targets, directions between class means
and whitening per target and fold.

* Label-free, once per call (:func:`shared_basis`): gene standardisation and a randomised PCA
  on a seeded sample of ``svd_samples`` rows of the matrix (drawn from the seed and the number
  of rows only, so every target, and a target probed alone, gets the same axes). No label
  enters them, so permuting the labels leaves them unchanged and the permutation test stays
  exact; held-out rows shape the axes (as in any unsupervised embedding of the whole cohort)
  but never with their labels.
* Supervised, per target and fold on training rows only (:func:`embed`): the directions
  between the class means (:func:`~._prep.between_class_directions`) of the fold's *screening*
  rows, its training rows outside the model-training pool, standardised by their own SD. The
  models (observed and permuted alike) train on the pool rows, which never enter the
  directions, and are scored on the held-out rows: given the directions, the pool and
  held-out labels stay exchangeable under the null, so the permutation test stays exact.
  With no screening rows (up to ~12,800 probed rows, whose pool holds every training row) the
  principal axes are used alone.
* Per fold: the embedding of the pool rows is whitened (mean 0, covariance I on them), the one
  factorisation the closed-form LDA of every label set shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from biodata_guard.probe import _prep
from biodata_guard.probe._design import _Target
from biodata_guard.probe._inputs import _Options
from biodata_guard.stream import ordered_map


@dataclass(frozen=True, eq=False)
class Basis:
    """The principal axes ``V`` (G, k) of the standardised features (``mean``, ``inv_sd``: 0
    for a feature constant on the basis rows), and the principal coordinates ``Z`` (n, k) of
    every row read."""

    mean: np.ndarray
    inv_sd: np.ndarray
    V: np.ndarray
    Z: np.ndarray
    n_rows: int


def shared_basis(L: sp.csr_matrix | np.ndarray, rows: np.ndarray, opts: _Options) -> Basis:
    """Fit the principal axes on ``L[rows]`` and project every row of ``L`` (two threads)."""
    mean, mean_sq = _prep.moments(L[rows])
    inv_sd = _prep.inverse_sd(mean, mean_sq)
    k = max(1, min(opts.n_components, len(rows) - 1, int((inv_sd > 0).sum())))
    rng = np.random.default_rng(np.random.SeedSequence([opts.seed, opts.folds]))
    V = _prep.randomized_basis(L[rows], mean, inv_sd, k, rng)
    P = inv_sd[:, None] * V
    return Basis(mean, inv_sd, V, project(L, P, mean @ P), len(rows))


def project(L: sp.csr_matrix | np.ndarray, P: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``L @ P - offset`` (float64), in row blocks on two threads, the product in float32."""
    P32 = P.astype(np.float32)
    step = max(1, -(-L.shape[0] // 8))

    def part(r0: int) -> np.ndarray:
        return np.asarray(L[r0 : r0 + step] @ P32, dtype=np.float64) - offset

    return np.vstack(list(ordered_map(part, range(0, L.shape[0], step))))


@dataclass(frozen=True, eq=False)
class FoldEmbedding:
    """One fold's model inputs: whitened pool rows ``Ztr`` and held-out rows ``Zte`` (float32,
    ``rank`` columns); ``gene_weights`` (G, rank) the inputs as weights on the transformed
    features; ``directions`` the number of directions between class means used."""

    Ztr: np.ndarray
    Zte: np.ndarray
    gene_weights: np.ndarray
    rank: int
    directions: int
    n_screening: int


@dataclass(frozen=True, eq=False)
class Embedding:
    """A target's embedding: its folds, the shared basis, and the plotted rows' first two
    principal coordinates."""

    basis: Basis
    folds: list[FoldEmbedding]
    plot: np.ndarray

    def loadings(self, f: int) -> np.ndarray:
        """Fold ``f``'s inputs as weights on the standardised features (G, rank): the weights on
        the transformed features times each feature's SD on the basis rows."""
        sd = np.divide(1.0, self.basis.inv_sd, out=np.zeros_like(self.basis.inv_sd),
                       where=self.basis.inv_sd > 0)  # fmt: skip
        return self.folds[f].gene_weights * sd[:, None]


def embed(
    t: _Target, L: sp.csr_matrix | np.ndarray, at: np.ndarray, basis: Basis, plot: np.ndarray
) -> Embedding:
    """The embedding of target ``t``: ``L`` holds the rows read (transformed), ``at`` the
    position in ``L`` of each of the target's rows (``t.design.rows``), ``basis`` the shared
    axes; ``plot`` (positions into the target's rows) get 2-D coordinates."""
    d, G = t.design, L.shape[1]
    k = basis.V.shape[1]
    xy = np.zeros((len(plot), 2))
    xy[:, : min(2, k)] = basis.Z[at[plot], : min(2, k)]
    screening = _screening(t, L, at)
    folds = [_directions(screening, f, len(d.classes), G) for f in range(d.n_folds)]
    # Every fold's directions in one product over the rows read (no copies of the rows).
    P = np.hstack([np.zeros((G, 0))] + [inv_sd[:, None] * D for _, inv_sd, D in folds])
    offset = np.concatenate([[]] + [mean @ (inv_sd[:, None] * D) for mean, inv_sd, D in folds])
    Zs = project(L, P, offset) if P.shape[1] else np.zeros((L.shape[0], 0))
    edges = np.cumsum([0] + [D.shape[1] for _, _, D in folds])

    def fold(f: int) -> FoldEmbedding:
        cols = slice(edges[f], edges[f + 1])
        E_tr, E_te = (np.hstack([basis.Z[at[r]], Zs[at[r], cols]]) for r in (d.train[f], d.test(f)))
        w_mean, W, rank = _prep.whitener(E_tr)
        _, inv_sd, D = folds[f]
        return FoldEmbedding(
            Ztr=((E_tr - w_mean) @ W).astype(np.float32),
            Zte=((E_te - w_mean) @ W).astype(np.float32),
            gene_weights=np.hstack([basis.inv_sd[:, None] * basis.V, inv_sd[:, None] * D]) @ W,
            rank=rank,
            directions=int(D.shape[1]),
            n_screening=0 if screening is None else int(screening[2].sum() - screening[2][f]),
        )

    return Embedding(basis, list(ordered_map(fold, range(d.n_folds))), xy)


def _screening(
    t: _Target, L: sp.csr_matrix | np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Per held-out fold, over the target's rows outside the model-training pool: the class
    sums ``(F, K, G)`` and counts ``(F, K)``, the row count ``(F,)`` and the sums of squares
    ``(F, G)``; fold f's screening rows are those of the other folds. ``None`` when there are
    no such rows or the sums would take too much memory."""
    d = t.design
    F, K = d.n_folds, len(d.classes)
    outside = np.ones(len(d.rows), bool)
    for train in d.train:
        outside[train] = False
    if not outside.any():
        return None
    codes = np.full(L.shape[0], -1)
    codes[at[outside]] = (d.fold * K + d.y)[outside]
    sums = _prep.class_sums(L, codes, F * K, np.arange(F * K) // K)  # squares per fold
    if sums is None:
        return None
    counts = np.bincount(codes[codes >= 0], minlength=F * K).reshape(F, K)
    return sums[0].reshape(F, K, -1), counts, counts.sum(axis=1), sums[1]


def _directions(
    screening: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    f: int,
    n_classes: int,
    n_features: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold ``f``'s screening rows: mean and 1/SD per feature, and the directions between their
    class means, ``(G, r)`` (r = 0 without screening rows)."""
    if screening is None:
        return np.zeros(n_features), np.zeros(n_features), np.zeros((n_features, 0))
    sums, counts, n_rows, squares = screening
    A_sums, A_counts = sums.sum(axis=0) - sums[f], counts.sum(axis=0) - counts[f]
    n_A = max(1, int(n_rows.sum() - n_rows[f]))
    mean = A_sums.sum(axis=0) / n_A
    inv_sd = _prep.inverse_sd(mean, (squares.sum(axis=0) - squares[f]) / n_A)
    r = min(n_classes - 1, _prep.SUPERVISED_DIRECTIONS)
    return mean, inv_sd, _prep.between_class_directions(A_sums, A_counts, mean, inv_sd, r)

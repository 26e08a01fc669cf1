"""The probe's private core: streaming preprocessing (numpy / scipy) and the JAX model.

Nothing here runs on import: ``jax`` and ``optax`` are imported inside the functions, and each
compiled program is built on first use and cached for the process. :mod:`biodata_guard.probe`
hands the model padded arrays of bucketed shapes, so probes of similar size reuse one program.

Preprocessing. Rows are transformed chunk by chunk into CSR (dense blocks too, so sparse and
dense inputs give bit-identical results); one pass accumulates per-fold feature sums, a
randomised SVD with implicit centring and scaling fits each fold's basis on a subsample of its
training rows, a second pass projects the held-out rows. Both passes serve several targets at
once (the batch, label and split probes of an audit): each block is read and transformed once.
Two threads share the chunk work (the sparse products and ufuncs release the GIL); results are
combined in row order.

The fit. Features arrive whitened on the training rows (mean 0, covariance I, or 0 along
directions without variance). For the mean softmax cross-entropy, Böhning's bound gives
Hessian <= 1/2 (I - 11'/K) (x) E[x x'] <= 1/2 I, so gradient descent with the step
``1 / (1/2 + l2)`` (``optax.sgd``) is a majorise-minimise iteration: the loss can never rise, and
on whitened data its first step from zero already points along the class means (an LDA-like
solution). A few dozen steps reach the held-out balanced accuracy of the exact optimum.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.errors import InputError
from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import ordered_map

TARGET_SUM = 1e4  # library size counts are normalised to before log1p (scanpy's convention)
SVD_OVERSAMPLE = 10
SVD_POWER_ITERATIONS = 4  # measured: 1 -> 0.50, 2 -> 0.55, 4 -> 0.60 balanced accuracy (exact 0.61)
WHITEN_RTOL = 1e-6  # components with less variance than this share of the largest are dropped


# --------------------------------------------------------------------------- preprocessing


def transform_block(
    block: Any, transform: str, name: str, start: int, rows: np.ndarray | None = None
) -> sp.csr_matrix:
    """A CSR float32 copy of ``block`` after the transform (dense blocks go through CSR too,
    so sparse and dense inputs give bit-identical results). ``block`` holds rows
    ``start + rows`` of the matrix (default: ``start`` onwards), for messages."""
    B = sp.csr_matrix(block, dtype=np.float32, copy=True)
    B.sum_duplicates()
    data = B.data
    rows = np.arange(B.shape[0]) if rows is None else rows
    bad = ~np.isfinite(data)
    if bad.any():
        row = int(rows[np.searchsorted(B.indptr, np.flatnonzero(bad)[0], side="right") - 1])
        raise InputError(
            f"{name}: the matrix holds {int(bad.sum())} NaN/inf value(s) in rows {start}.."
            f"{start + int(rows[-1])} (first in row {start + row}); the probe needs finite values",
            path=name,
            hint="Impute or drop the non-finite values first (see the units.invalid_values "
            "finding), e.g. X[~np.isfinite(X)] = 0.",
        )
    if transform in ("counts", "log1p") and data.size and data.min() < 0:
        raise InputError(
            f"{name}: transform '{transform}' needs non-negative values; the matrix has "
            f"negative values in rows {start}..{start + int(rows[-1])}",
            path=name,
            hint="Pass transform='none' for log-transformed or scaled data.",
        )
    if transform == "counts":
        lib = np.asarray(B.sum(axis=1)).ravel()
        scale = np.divide(TARGET_SUM, lib, out=np.zeros_like(lib), where=lib > 0)
        data *= np.repeat(scale.astype(np.float32), np.diff(B.indptr))
    if transform in ("counts", "log1p"):
        np.log1p(data, out=data)
    return B


def compact(L: sp.csr_matrix) -> sp.csr_matrix | np.ndarray:
    """``L`` as a dense array when that takes no more memory than CSR (at least half its cells
    stored, as in bulk RNA-seq): BLAS products are then ~10x faster than sparse ones."""
    cells = L.shape[0] * L.shape[1]
    return L.toarray() if cells and L.nnz >= 0.5 * cells else L


def randomized_basis(
    L: sp.csr_matrix, mean: np.ndarray, inv_sd: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` right singular vectors (G, k) and values of ``(L - mean) * inv_sd``, never
    formed: randomised range finder with power iterations (Halko et al. 2011)."""
    Ls = L.copy()
    Ls.data *= inv_sd.astype(np.float32)[Ls.indices]
    Ls = compact(Ls)
    Lt = Ls.T.tocsr() if sp.issparse(Ls) else np.ascontiguousarray(Ls.T)
    c = mean * inv_sd
    m, G = Ls.shape
    width = min(k + SVD_OVERSAMPLE, m, G)

    # The sparse products run in float32 (the matrix's precision, no upcast copies); the
    # centring terms and the small dense algebra in float64.
    def A(Q: np.ndarray) -> np.ndarray:
        return (Ls @ Q.astype(np.float32)).astype(np.float64) - (c @ Q)[None, :]

    def At(P: np.ndarray) -> np.ndarray:
        return (Lt @ P.astype(np.float32)).astype(np.float64) - np.outer(c, P.sum(axis=0))

    Y = A(rng.standard_normal((G, width)))
    Q = np.linalg.qr(Y)[0]
    for _ in range(SVD_POWER_ITERATIONS):
        Q = np.linalg.qr(A(At(Q)))[0]
    Bt = At(Q)  # (G, width) = A' Q
    ev, U = np.linalg.eigh(Bt.T @ Bt)
    order = np.argsort(ev)[::-1][:k]
    s = np.sqrt(np.maximum(ev[order], 0.0))
    V = Bt @ U[:, order] / np.where(s > 0, s, 1.0)
    # Fix signs (largest loading positive) so the basis is reproducible.
    flip = np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
    return V * np.where(flip == 0, 1.0, flip), s


def whitener(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, W) with ``(Z - mean) @ W`` of identity covariance on the rows of Z; rank."""
    mean = Z.mean(axis=0)
    C = np.cov(Z - mean, rowvar=False, bias=True).reshape(Z.shape[1], Z.shape[1])
    ev, E = np.linalg.eigh(C)
    keep = ev > WHITEN_RTOL * max(ev.max(initial=0.0), 1e-300)
    scale = np.zeros_like(ev)
    scale[keep] = 1.0 / np.sqrt(ev[keep])
    return mean, E * scale, int(keep.sum())


@dataclass(frozen=True, eq=False)
class FoldBasis:
    """One fold's fitted preprocessing: ``z = L @ projection - offset`` is the whitened
    embedding of transformed rows ``L``; ``whiten`` the whitening map. The SVD loadings are
    not kept (G x k float64 each: 360 MB over 15 folds of 60,000 genes): the loadings of the
    model's inputs on the standardised genes are :meth:`loadings`."""

    projection: np.ndarray  # (G, k) float32: diag(inv_sd) @ V @ whiten
    offset: np.ndarray  # (k,)
    inv_sd: np.ndarray  # (G,) 1 / SD of each gene on the fold's training rows (0: constant)
    whiten: np.ndarray  # (k, k)
    rank: int
    Z: np.ndarray  # (m, k) whitened training embedding (the pool rows of the fold)

    def loadings(self) -> np.ndarray:
        """``V @ whiten`` (G, k), from the projection: 0 for genes without variance."""
        scale = np.divide(1.0, self.inv_sd, out=np.zeros_like(self.inv_sd), where=self.inv_sd > 0)
        return self.projection.astype(np.float64) * scale[:, None]


def inverse_sd(mean: np.ndarray, mean_sq: np.ndarray) -> np.ndarray:
    """1 / SD per feature; 0 for features without variance (they drop out of the SVD)."""
    sd = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
    return np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 1e-8 * max(1.0, sd.max()))


def fold_basis(
    L_train: sp.csr_matrix,
    mean: np.ndarray,
    inv_sd: np.ndarray,
    n_components: int,
    svd_samples: int,
    seeds: np.random.SeedSequence,
) -> FoldBasis:
    L_svd = L_train[: min(svd_samples, L_train.shape[0])]
    k = max(1, min(n_components, L_svd.shape[0] - 1, int((inv_sd > 0).sum())))
    V, _ = randomized_basis(L_svd, mean, inv_sd, k, np.random.default_rng(seeds))
    P = inv_sd[:, None] * V  # unwhitened scores: z = L @ P - mean @ P
    off = mean @ P
    Z = np.asarray(compact(L_train) @ P.astype(np.float32), dtype=np.float64) - off
    w_mean, W, rank = whitener(Z)
    return FoldBasis(
        projection=(P @ W).astype(np.float32),
        offset=(off + w_mean) @ W,
        inv_sd=inv_sd,
        whiten=W,
        rank=rank,
        Z=(Z - w_mean) @ W,
    )


def reported(
    view: MatrixView, chunk_size: int, progress: Callable[[int, int], None] | None
) -> Iterator[tuple[int, int, Any]]:
    """``view.iter_chunks(chunk_size)``, calling ``progress(rows_read, n_rows)`` as blocks are
    read (a progress bar; at most two blocks ahead of the work)."""
    for start, stop, block in view.iter_chunks(chunk_size):
        yield start, stop, block
        if progress is not None:
            progress(stop, view.n_obs)


def probed_rows(folds_of: list[np.ndarray]) -> np.ndarray:
    """Positions in a block of the rows some target probes (held out in one of its folds)."""
    return np.flatnonzero(np.logical_or.reduce([fold_of >= 0 for fold_of in folds_of]))


def subset(block: Any, rows: np.ndarray) -> Any:
    """``block[rows]``, or ``block`` itself when every row is kept (no copy)."""
    return block if len(rows) == block.shape[0] else block[rows]


def stats_pass(
    view: MatrixView,
    transform: str,
    folds_of: list[np.ndarray],
    in_pool: np.ndarray,
    F: int,
    chunk_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], sp.csr_matrix]:
    """Pass 1, for several targets at once (every block is read and transformed once): per
    target (``folds_of``: the held-out fold of each row, -1 for rows not probed) and per fold,
    the sum and sum of squares of every transformed feature (float64); and the transformed
    rows of ``in_pool`` (CSR, in row order), shared by the targets."""

    def part(item: tuple[int, int, Any]) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        start, stop, block = item
        sel = probed_rows([fold_of[start:stop] for fold_of in folds_of])
        L = transform_block(subset(block, sel), transform, view.name, start, sel)
        squares = L.copy()
        np.square(squares.data, out=squares.data)
        # One indicator column per (target, fold), float64 so the sums accumulate in double
        # precision; one product serves every target (each sum is the same as alone: the
        # factors are 0 and 1 and the order of the additions is the rows').
        onehot = np.zeros((L.shape[0], F * len(folds_of)))
        for t, fold_of in enumerate(folds_of):
            f_rows = fold_of[start:stop][sel]
            onehot[f_rows >= 0, t * F + f_rows[f_rows >= 0]] = 1.0
        take = np.flatnonzero(in_pool[start:stop][sel])
        return (L.T @ onehot).T, (squares.T @ onehot).T, L[take]

    S = np.zeros((F * len(folds_of), view.n_vars))
    Q = np.zeros((F * len(folds_of), view.n_vars))
    blocks = []
    for s, q, pool_rows in ordered_map(part, reported(view, chunk_size, progress)):
        S += s
        Q += q
        blocks.append(pool_rows)
    sums = [(S[t * F : (t + 1) * F], Q[t * F : (t + 1) * F]) for t in range(len(folds_of))]
    return sums, sp.vstack(blocks, format="csr")


@dataclass(frozen=True, eq=False)
class HeldOut:
    """One target's pass 2: ``fold_of`` (held-out fold per row of X, -1 if not probed) and
    ``slot`` (the row's place among its fold's held-out rows) route each row through its
    fold's basis into ``Z[fold, slot]`` of ``shape``; rows with ``plot_slot >= 0`` go through
    ``plot_basis`` (projection, offset) into the 2-D embedding."""

    fold_of: np.ndarray
    slot: np.ndarray
    bases: list[FoldBasis]
    plot_slot: np.ndarray
    plot_basis: tuple[np.ndarray, np.ndarray]
    shape: tuple[int, int, int]


def _held_out_part(L: sp.csr_matrix, at: np.ndarray, h: HeldOut) -> tuple[list, tuple | None]:
    """One block's held-out rows (``L``, rows ``at`` of X) through their fold's projection,
    plotted rows through the 2-D basis."""
    f_rows = h.fold_of[at]
    held_out = []
    for f, fb in enumerate(h.bases):
        local = np.flatnonzero(f_rows == f)
        if len(local):
            Z = np.asarray(L[local] @ fb.projection, dtype=np.float64) - fb.offset
            held_out.append((f, h.slot[at[local]], Z))
    local = np.flatnonzero(h.plot_slot[at] >= 0)
    plot = None
    if len(local):
        P_g, off_g = h.plot_basis
        plot = (h.plot_slot[at[local]], np.asarray(L[local] @ P_g, np.float64) - off_g)
    return held_out, plot


def projection_pass(
    view: MatrixView,
    transform: str,
    targets: list[HeldOut],
    *,
    chunk_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pass 2, for several targets at once (every block is read and transformed once): per
    target, each held-out row through its fold's projection, into ``Zte[fold, slot]``
    (float32, the precision the model takes), and the plotted rows through the 2-D basis."""

    def part(item: tuple[int, int, Any]) -> list[tuple[list, tuple | None]]:
        start, stop, block = item
        sel = probed_rows([h.fold_of[start:stop] for h in targets])
        L = transform_block(subset(block, sel), transform, view.name, start, sel)
        return [_held_out_part(L, start + sel, h) for h in targets]

    out = [
        (np.zeros(h.shape, np.float32), np.zeros((int((h.plot_slot >= 0).sum()), 2)))
        for h in targets
    ]
    for parts in ordered_map(part, reported(view, chunk_size, progress)):
        for (Zte, embedding), (held_out, plot) in zip(out, parts, strict=True):
            for f, where, Z in held_out:
                Zte[f, where, : Z.shape[1]] = Z
            if plot is not None:
                embedding[plot[0], : plot[1].shape[1]] = plot[1]
    return out


def bucket(n: int) -> int:
    """Round up to a coarse grid (<= 12.5% padding) so similar sizes share compiled programs."""
    if n <= 64:
        return 64
    step = 2 ** (int(math.log2(n)) - 3)
    return -(-n // step) * step


def bucket_classes(k: int) -> int:
    """Classes padded to 2, 4, 8, then multiples of 8 (masked), to share compiled programs."""
    return 2 if k <= 2 else 4 if k <= 4 else -(-k // 8) * 8


def proportional_take(
    codes: np.ndarray, n_take: int, min_per_code: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted positions of a sample of about ``n_take`` from ``codes``, each code in proportion
    to its size (largest remainders round the shares to exactly ``n_take``), but at least
    ``min(size, min_per_code)`` rows of every code; rows drawn at random."""
    n = len(codes)
    if n_take >= n:
        return np.arange(n)
    values, counts = np.unique(codes, return_counts=True)
    share = counts * (n_take / n)
    quota = np.floor(share).astype(np.int64)
    left = n_take - int(quota.sum())
    quota[np.lexsort((np.arange(len(share)), -(share - quota)))[:left]] += 1
    quota = np.minimum(counts, np.maximum(quota, min_per_code))
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    out = [
        rng.choice(order[bounds[i] : bounds[i + 1]], quota[i], replace=False)
        for i in range(len(values))
    ]
    return np.sort(np.concatenate(out))


@contextlib.contextmanager
def blas_single_thread() -> Iterator[None]:
    """The numpy side does only small dense algebra (QR of m x 60, 50 x 50 covariances):
    one BLAS thread avoids OpenBLAS's thread start-up and spinning, which made a 320 x 30 QR
    take 0.1 s instead of 0.3 ms on 2 busy cores. Scoped; restored on exit."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------- the model


#: Logit given to a class absent from a fold's training rows (its probability underflows to 0).
_MASKED = -1e30
#: Rows and Adam steps of the "can overfit one small batch" self-check.
OVERFIT_ROWS = 32
OVERFIT_STEPS = 300


@functools.cache
def _loss() -> Any:
    import jax
    import jax.numpy as jnp

    def loss(W, Z1, Y, mask, class_mask, l2):
        """Sum over label sets of (mean masked cross-entropy + l2/2 |weights|^2); and per set.

        W (d+1, K, B) with the bias last; Z1 (m, d+1); Y (m, K, B) one-hot, zero on padding.
        Classes sit in the middle axis: XLA's softmax over a minor axis of 2-8 was 2x slower.
        """
        d1, K, B = W.shape
        logits = (Z1 @ W.reshape(d1, K * B)).reshape(Z1.shape[0], K, B)
        masked = jnp.where(class_mask[:, None], logits, _MASKED)
        logp = jax.nn.log_softmax(masked, axis=1)
        data = -jnp.einsum("mkb,mkb->b", logp, Y) / mask.sum()
        per_set = data + 0.5 * l2 * jnp.sum(W[:-1] ** 2, axis=(0, 1))
        return per_set.sum(), per_set

    return loss


#: Folds are fitted together (vmapped) while folds x rows x classes x label sets stays under
#: this, else one at a time: XLA holds several float32 arrays of that many cells per step
#: (measured on 8 classes x 111 label sets x 8,192 rows x 5 folds: peak RSS 1.7 GB vmapped,
#: 1.0 GB one fold at a time, for about 20 % more fitting time).
_FOLD_CELLS = 1 << 24
#: Label sets trained together, one group after another, while rows x classes x label sets
#: stays under this (at least one set): with 99 batches, 8,192 rows and 111 label sets the
#: fit held ~8 float32 arrays of 94M cells at once (3.8 GB peak RSS at 1M cells).
_SET_CELLS = 1 << 22
#: Held-out logits scored at once (rows x classes x label sets): bounds the scoring memory.
_SCORE_CELLS = 1 << 22


def sets_at_once(m: int, K: int, B: int) -> int:
    """Label sets trained together for ``m`` rows and ``K`` classes (all ``B`` when small):
    the fewest groups under :data:`_SET_CELLS`, of equal size (the last group's padding,
    trained and dropped, is then under one set per group)."""
    most = max(1, min(B, _SET_CELLS // max(1, m * K)))
    groups = -(-B // most)
    return -(-B // groups)


def _train(Z1: Any, Y: Any, mtr: Any, class_mask: Any, l2: Any, n_steps: int) -> tuple[Any, Any]:
    """``n_steps`` of ``optax.sgd`` at the Böhning step from zero weights, for every label set
    at once: the weights ``W (d+1, K, S)`` and the losses ``(T+1, S)`` (the last after the
    final step)."""
    import jax
    import jax.numpy as jnp
    import optax

    loss = _loss()
    grad = jax.grad(loss, has_aux=True)
    d1 = Z1.shape[1]
    K, S = class_mask.shape[0], Y.shape[2]
    opt = optax.sgd(1.0 / (0.5 + l2))  # the Böhning majorisation step, see module docstring

    def step(carry, _):
        W, state = carry
        g, per_set = grad(W, Z1, Y, mtr, class_mask, l2)
        updates, state = opt.update(g, state, W)
        return (optax.apply_updates(W, updates), state), per_set

    W0 = jnp.zeros((d1, K, S), Z1.dtype)
    (W, _), losses = jax.lax.scan(step, (W0, opt.init(W0)), None, length=n_steps)
    final = loss(W, Z1, Y, mtr, class_mask, l2)[1]
    return W, jnp.concatenate([losses, final[None]], axis=0)  # (T+1, S)


def _score(
    W: Any, Zt1: Any, yte_sets: Any, mte: Any, class_mask: Any, log_prior: Any
) -> tuple[Any, Any, Any]:
    """Held out: the balanced decision rule (the training log prior subtracted), scored in row
    blocks so memory is O(block x K x S), not O(rows x K x S). Returns the balanced accuracy
    per label set ``(S,)``, the recall per class and label set ``(S, K)`` and the predictions
    of label set 0 ``(t,)``."""
    import jax
    import jax.numpy as jnp

    d1, K, S = W.shape
    t = Zt1.shape[0]
    rows = max(1, min(t, _SCORE_CELLS // (K * S)))
    n_blocks = -(-t // rows)
    pad = n_blocks * rows - t
    Zb = jnp.pad(Zt1, ((0, pad), (0, 0))).reshape(n_blocks, rows, d1)
    yb = jnp.pad(yte_sets, ((0, pad), (0, 0))).reshape(n_blocks, rows, S)
    mb = jnp.pad(mte, (0, pad)).reshape(n_blocks, rows)
    Wf = W.reshape(d1, K * S)

    def score(carry, block):
        hits, n_class = carry
        Zb_, y_cols, mb_ = block
        logits = (Zb_ @ Wf).reshape(-1, K, S)
        scores = jnp.where(class_mask[:, None], logits - log_prior[:, None], _MASKED)
        pred = jnp.argmax(scores, axis=1)  # (rows, S)
        Yb = jax.nn.one_hot(y_cols, K, dtype=Zt1.dtype, axis=-1) * mb_[:, None, None]
        hits = hits + jnp.einsum("tb,tbk->bk", (pred == y_cols).astype(Zt1.dtype), Yb)
        return (hits, n_class + Yb.sum(axis=0)), pred[:, 0]

    zeros = jnp.zeros((S, K), Zt1.dtype)
    (hits, n_class), pred = jax.lax.scan(score, (zeros, zeros), (Zb, yb, mb))
    recall = hits / jnp.maximum(n_class, 1.0)
    present = (n_class > 0).astype(Zt1.dtype)
    balanced = (recall * present).sum(axis=1) / present.sum(axis=1)
    return balanced, recall, pred.reshape(-1)[:t]


def _fit_sets(
    Z1, Y_sets, mtr, Zt1, yte_sets, mte, class_mask, log_prior, l2, *, n_steps: int
) -> dict[str, Any]:
    """Train and score ``S`` label sets of one fold: ``Y_sets (m, S)`` the training labels of
    each set, ``yte_sets (t, S)`` the held-out labels each set is scored against."""
    import jax
    import jax.numpy as jnp

    K = class_mask.shape[0]
    Y = jax.nn.one_hot(Y_sets, K, dtype=Z1.dtype, axis=1) * mtr[:, None, None]
    W, losses = _train(Z1, Y, mtr, class_mask, l2, n_steps)
    balanced, recall, pred = _score(W, Zt1, yte_sets, mte, class_mask, log_prior)
    return {
        "losses": losses,
        "balanced_accuracy": balanced,
        "recall": recall[0],
        "pred": pred,
        "W": W[:, :, 0],
        "finite": jnp.isfinite(W).all() & jnp.isfinite(losses).all(),
    }


def _fit_fold(
    Ztr: Any,
    ytr: Any,
    mtr: Any,
    Zte: Any,
    yte: Any,
    yte_ctrl: Any,
    mte: Any,
    class_mask: Any,
    log_prior: Any,
    l2: Any,
    *,
    n_label_sets: int,
    n_controls: int,
    n_steps: int,
    n_sets: int,
) -> dict[str, Any]:
    """One fold: ``ytr (m, B)`` holds column 0 the observed labels, then the label sets
    permuted within the training rows, then the ``n_controls`` shuffled-label controls, whose
    held-out labels are shuffled too (``yte_ctrl (t, C)``): the last C columns are scored
    against those. The label sets train in groups of ``n_sets``, one group after another
    (``lax.map``); the last group is padded with copies of the observed labels, dropped
    afterwards."""
    import jax
    import jax.numpy as jnp

    m, t = Ztr.shape[0], Zte.shape[0]
    Z1 = jnp.concatenate([Ztr, jnp.ones((m, 1), Ztr.dtype)], axis=1)
    Zt1 = jnp.concatenate([Zte, jnp.ones((t, 1), Zte.dtype)], axis=1)
    yte_all = jnp.concatenate(
        [jnp.repeat(yte[:, None], n_label_sets - n_controls, axis=1), yte_ctrl], axis=1
    )  # (t, B)
    n_groups = -(-n_label_sets // n_sets)
    extra = n_groups * n_sets - n_label_sets
    ytr_g = jnp.concatenate([ytr, jnp.repeat(ytr[:, :1], extra, axis=1)], axis=1)
    yte_g = jnp.concatenate([yte_all, jnp.repeat(yte_all[:, :1], extra, axis=1)], axis=1)
    ytr_g = ytr_g.reshape(m, n_groups, n_sets).transpose(1, 0, 2)
    yte_g = yte_g.reshape(t, n_groups, n_sets).transpose(1, 0, 2)
    out = jax.lax.map(
        lambda g: _fit_sets(
            Z1, g[0], mtr, Zt1, g[1], mte, class_mask, log_prior, l2, n_steps=n_steps
        ),
        (ytr_g, yte_g),
    )
    # (groups, ..., n_sets) -> (..., B), the padding dropped
    losses = out["losses"].transpose(1, 0, 2).reshape(n_steps + 1, -1)
    return {
        "losses": losses[:, :n_label_sets],
        "balanced_accuracy": out["balanced_accuracy"].reshape(-1)[:n_label_sets],
        "recall": out["recall"][0],
        "pred": out["pred"][0],
        "W": out["W"][0],
        "finite": out["finite"].all(),
    }


@functools.cache
def _fit_program(
    n_label_sets: int, n_controls: int, n_steps: int, folds_at_once: int, n_sets: int
) -> Any:
    """The compiled fit of every fold: folds vmapped in groups of ``folds_at_once``
    (``lax.map``'s batch_size): all at once when small; one at a time when classes x label
    sets x rows would take gigabytes."""
    import jax

    fit_fold = functools.partial(
        _fit_fold, n_label_sets=n_label_sets, n_controls=n_controls, n_steps=n_steps, n_sets=n_sets
    )

    def fit_folds(Ztr, ytr, mtr, Zte, yte, yte_ctrl, mte, class_mask, log_prior, l2):
        per_fold = (Ztr, ytr, mtr, Zte, yte, yte_ctrl, mte, class_mask, log_prior)
        return jax.lax.map(lambda a: fit_fold(*a, l2), per_fold, batch_size=folds_at_once)

    return jax.jit(fit_folds)


@functools.cache
def _overfit_program() -> Any:
    import jax
    import jax.numpy as jnp
    import optax

    loss = _loss()
    grad = jax.grad(loss, has_aux=True)

    def overfit(Z, y, mask, class_mask):
        m, d = Z.shape
        K = class_mask.shape[0]
        Z1 = jnp.concatenate([Z, jnp.ones((m, 1), Z.dtype)], axis=1)
        Y = (jax.nn.one_hot(y, K, dtype=Z.dtype) * mask[:, None])[:, :, None]
        opt = optax.adam(0.1)

        def step(carry, _):
            W, state = carry
            g, per_set = grad(W, Z1, Y, mask, class_mask, 0.0)
            updates, state = opt.update(g, state, W)
            return (optax.apply_updates(W, updates), state), per_set[0]

        W0 = jnp.zeros((d + 1, K, 1), Z.dtype)
        (W, _), losses = jax.lax.scan(step, (W0, opt.init(W0)), None, length=OVERFIT_STEPS)
        logits = jnp.where(class_mask, Z1 @ W[:, :, 0], _MASKED)
        acc = ((jnp.argmax(logits, axis=-1) == y) * mask).sum() / mask.sum()
        return losses[0], loss(W, Z1, Y, mask, class_mask, 0.0)[1][0], acc

    return jax.jit(overfit)


def fit_probes(
    Ztr: np.ndarray,
    ytr: np.ndarray,
    mtr: np.ndarray,
    Zte: np.ndarray,
    yte: np.ndarray,
    yte_ctrl: np.ndarray,
    mte: np.ndarray,
    class_mask: np.ndarray,
    log_prior: np.ndarray,
    *,
    n_steps: int,
    l2: float,
) -> dict[str, np.ndarray]:
    """Train the observed model and the permuted-label controls of every fold in one call.

    Arrays are stacked over folds (leading axis F) and padded: training rows ``(F, m, d)``
    (``mtr`` 1 on real rows, 0 on padding) with their label sets ``ytr (F, m, B)`` (column 0
    observed, then permutations within the training rows, then the last ``C`` columns the
    shuffled-label controls), held-out rows ``(F, t, d)`` with labels ``yte (F, t)`` and the
    controls' shuffled held-out labels ``yte_ctrl (F, t, C)``;
    ``class_mask (F, K)`` marks the classes present in each fold's training rows and
    ``log_prior (F, K)`` their log frequencies there. Deterministic (zero initialisation, full
    batch); float32 matmul precision.
    """
    import jax
    import jax.numpy as jnp

    F, m, B = ytr.shape
    K = class_mask.shape[1]
    n_sets = sets_at_once(m, K, B)
    folds_at_once = F if F * m * K * n_sets <= _FOLD_CELLS else 1
    fit = _fit_program(B, yte_ctrl.shape[2], n_steps, folds_at_once, n_sets)
    with jax.default_matmul_precision("float32"):
        out = fit(
            jnp.asarray(Ztr, jnp.float32),
            jnp.asarray(ytr, jnp.int32),
            jnp.asarray(mtr, jnp.float32),
            jnp.asarray(Zte, jnp.float32),
            jnp.asarray(yte, jnp.int32),
            jnp.asarray(yte_ctrl, jnp.int32),
            jnp.asarray(mte, jnp.float32),
            jnp.asarray(class_mask, bool),
            jnp.asarray(log_prior, jnp.float32),
            jnp.float32(l2),
        )
        return {k: np.asarray(v) for k, v in out.items()}


def overfit_small_batch(
    Z: np.ndarray, y: np.ndarray, class_mask: np.ndarray
) -> tuple[float, float, float]:
    """(initial loss, final loss, training accuracy) of an unpenalised Adam fit to <= 32 rows."""
    import jax
    import jax.numpy as jnp

    n, d = Z.shape
    pad = OVERFIT_ROWS - n
    Zp = np.vstack([Z, np.zeros((pad, d), Z.dtype)])
    yp = np.concatenate([y, np.zeros(pad, y.dtype)])
    mp = np.r_[np.ones(n), np.zeros(pad)]
    with jax.default_matmul_precision("float32"):
        first, final, acc = _overfit_program()(
            jnp.asarray(Zp, jnp.float32),
            jnp.asarray(yp, jnp.int32),
            jnp.asarray(mp, jnp.float32),
            jnp.asarray(class_mask, bool),
        )
    return float(first), float(final), float(acc)

"""The probe's preprocessing (numpy / scipy): the row sample, transforms, bases, directions.

Nothing here imports JAX. The probed rows are gathered once (:class:`RowSample`: a streaming
statistic, so an audit can take it from the shared pass over the matrix, and a probe called on
its own reads the matrix once), then everything works on them in memory:

* :func:`transform_block`: counts are normalised to 1e4 per row and log1p'd (CPM / TPM: log1p;
  log or scaled data: as they are), always through CSR, so sparse and dense inputs give
  bit-identical numbers;
* :func:`randomized_basis`: the top principal axes of the standardised rows, never densified
  (randomised range finder with implicit centring and scaling, Halko et al. 2011);
* :func:`class_sums` and :func:`between_class_directions`: the directions along which the class
  means differ most (the singular vectors of the class-mean matrix, each class weighted by the
  square root of its rows): a batch of 1 % of the rows whose 300 genes shift is far too small a
  share of the variance to reach the top principal axes, but it dominates the class means;
* :func:`whitener`: the map to identity covariance on a fold's model rows.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.errors import InputError

TARGET_SUM = 1e4  # library size counts are normalised to before log1p (scanpy's convention)
SVD_OVERSAMPLE = 10
SVD_POWER_ITERATIONS = 4  # measured: 1 -> 0.50, 2 -> 0.55, 4 -> 0.60 balanced accuracy (exact 0.61)
WHITEN_RTOL = 1e-6  # components with less variance than this share of the largest are dropped
#: Directions between the class means added to the principal axes (at most classes - 1).
SUPERVISED_DIRECTIONS = 10
#: Class-sum cells (folds x classes x features) computed at once; above it the directions
#: between the class means are left out (thousands of classes of 60,000 genes: gigabytes).
_SUM_CELLS = 1 << 26
#: Stored values gathered at once for the class sums (float32 + int32: 32 MB).
_GATHER_VALUES = 1 << 22


# --------------------------------------------------------------------------- the row sample


def take_rows(block: Any, start: int, stop: int, *, rows: np.ndarray) -> Any:
    """The rows of ``block`` (rows ``start:stop`` of the matrix) listed in the sorted ``rows``
    (positions in the matrix), as read: a streaming task (it may run on a Dask worker)."""
    lo, hi = np.searchsorted(rows, [start, stop])
    local = rows[lo:hi] - start
    if sp.issparse(block):
        return sp.csr_matrix(block)[local]
    return np.asarray(block)[local]


@dataclass(eq=False)
class RowSample:
    """The raw values of the probed ``rows`` (sorted positions), collected block by block by one
    pass over the matrix: its own, or the audit's shared pass (``biodata_guard.stream``)."""

    rows: np.ndarray
    parts: list[Any] = field(default_factory=list)

    def task(self) -> tuple[Any, dict[str, Any]]:
        return take_rows, {"rows": self.rows}

    def absorb(self, start: int, stop: int, part: Any) -> None:
        if part.shape[0]:
            self.parts.append(part)


def stack_rows(parts: list[Any], n_vars: int, *, consume: bool = False) -> sp.csr_matrix:
    """The rows of ``parts`` (CSR, or dense made CSR) one after another, CSR float32, copied
    into arrays allocated once (``scipy.sparse.vstack`` re-checks every index, ~5x slower);
    with ``consume`` each part is dropped from the list once copied, so the peak is the result
    plus one part, not twice the rows (one CSR float32 part is taken as it is)."""
    if consume and len(parts) == 1 and sp.issparse(parts[0]) and parts[0].dtype == np.float32:
        return sp.csr_matrix(parts.pop())
    sizes = [(p.shape[0], p.nnz if sp.issparse(p) else int(np.count_nonzero(p))) for p in parts]
    n_rows, nnz = sum(r for r, _ in sizes), sum(z for _, z in sizes)
    index = np.int32 if max(nnz, n_vars) < np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, np.float32)
    indices = np.empty(nnz, index)
    indptr = np.zeros(n_rows + 1, index)
    r0 = z0 = 0
    for i in range(len(parts)):
        part = sp.csr_matrix(parts.pop(0) if consume else parts[i], dtype=np.float32)
        r1, z1 = r0 + part.shape[0], z0 + part.nnz
        data[z0:z1] = part.data
        indices[z0:z1] = part.indices
        indptr[r0 + 1 : r1 + 1] = part.indptr[1:] + z0
        r0, z0 = r1, z1
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_vars), copy=False)


def sample_key(rows: np.ndarray) -> tuple[str, str, int, int]:
    """The memo key of the row sample of ``rows`` (a cheap fingerprint of the positions)."""
    weights = np.arange(1, len(rows) + 1, dtype=np.uint64)
    return ("probe", "rows", len(rows), int((rows.astype(np.uint64) * weights).sum()))


# --------------------------------------------------------------------------- transforms


def transform_block(block: Any, transform: str, name: str, rows: np.ndarray) -> sp.csr_matrix:
    """A CSR float32 copy of ``block`` after the transform (dense blocks go through CSR too,
    so sparse and dense inputs give bit-identical results). ``rows`` are the positions in the
    matrix of the block's rows, for messages."""
    B = sp.csr_matrix(block, dtype=np.float32, copy=True)
    B.sum_duplicates()
    _transform_values(B.data, B, transform, name, rows)
    return B


def transform_rows(L: sp.csr_matrix, r0: int, r1: int, transform: str, name: str,
                   rows: np.ndarray) -> None:  # fmt: skip
    """Transform rows ``r0:r1`` of ``L`` (CSR float32, canonical) in place, as
    :func:`transform_block` would."""
    lo, hi = L.indptr[r0], L.indptr[r1]
    B = sp.csr_matrix(
        (L.data[lo:hi], L.indices[lo:hi], L.indptr[r0 : r1 + 1] - lo), shape=(r1 - r0, L.shape[1])
    )  # a copy of the values (scipy copies them), for the checks and the row sums
    _transform_values(L.data[lo:hi], B, transform, name, rows)


def _transform_values(
    data: np.ndarray, B: sp.csr_matrix, transform: str, name: str, rows: np.ndarray
) -> None:
    """Check and transform ``data`` in place: the values of ``B`` (or a view of them)."""
    bad = ~np.isfinite(data)
    if bad.any():
        row = int(rows[np.searchsorted(B.indptr, np.flatnonzero(bad)[0], side="right") - 1])
        raise InputError(
            f"{name}: the matrix holds {int(bad.sum())} NaN/inf value(s) in rows {int(rows[0])}.."
            f"{int(rows[-1])} (first in row {row}); the probe needs finite values",
            path=name,
            hint="Impute or drop the non-finite values first (see the units.invalid_values "
            "finding), e.g. X[~np.isfinite(X)] = 0.",
        )
    if transform in ("counts", "log1p") and data.size and data.min() < 0:
        raise InputError(
            f"{name}: transform '{transform}' needs non-negative values; the matrix has "
            f"negative values in rows {int(rows[0])}..{int(rows[-1])}",
            path=name,
            hint="Pass transform='none' for log-transformed or scaled data.",
        )
    if transform == "counts":
        lib = np.asarray(B.sum(axis=1)).ravel()
        scale = np.divide(TARGET_SUM, lib, out=np.zeros_like(lib), where=lib > 0)
        data *= np.repeat(scale.astype(np.float32), np.diff(B.indptr))
    if transform in ("counts", "log1p"):
        np.log1p(data, out=data)


def compact(L: sp.csr_matrix) -> sp.csr_matrix | np.ndarray:
    """``L`` as a dense array when that takes no more memory than CSR (at least half its cells
    stored, as in bulk RNA-seq): BLAS products are then ~10x faster than sparse ones."""
    cells = L.shape[0] * L.shape[1]
    return L.toarray() if cells and L.nnz >= 0.5 * cells else L


def moments(L: sp.csr_matrix | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature: the mean and the mean of squares over the rows of ``L`` (float64)."""
    n = max(1, L.shape[0])
    if sp.issparse(L):
        ones = np.ones(L.shape[0])
        total = L.T @ ones
        squares = sp.csr_matrix((np.square(L.data, dtype=np.float64), L.indices, L.indptr),
                                shape=L.shape).T @ ones  # fmt: skip
    else:
        total = L.sum(axis=0, dtype=np.float64)
        squares = np.square(L, dtype=np.float64).sum(axis=0)
    return total / n, squares / n


def inverse_sd(mean: np.ndarray, mean_sq: np.ndarray) -> np.ndarray:
    """1 / SD per feature; 0 for features without variance (they drop out of the bases)."""
    sd = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
    return np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 1e-8 * max(1.0, sd.max()))


# --------------------------------------------------------------------------- bases


def randomized_basis(
    L: sp.csr_matrix | np.ndarray,
    mean: np.ndarray,
    inv_sd: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Top ``k`` right singular vectors (G, k) of ``(L - mean) * inv_sd``, never formed:
    randomised range finder with power iterations (Halko et al. 2011); signs fixed (largest
    loading positive) so the basis is reproducible."""
    if sp.issparse(L):
        Ls = L.copy()
        Ls.data *= inv_sd.astype(np.float32)[Ls.indices]
        Ls = compact(Ls)
    else:
        Ls = (L * inv_sd.astype(np.float32)).astype(np.float32)
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

    Q = np.linalg.qr(A(rng.standard_normal((G, width))))[0]
    for _ in range(SVD_POWER_ITERATIONS):
        Q = np.linalg.qr(A(At(Q)))[0]
    Bt = At(Q)  # (G, width) = A' Q
    ev, U = np.linalg.eigh(Bt.T @ Bt)
    order = np.argsort(ev)[::-1][:k]
    s = np.sqrt(np.maximum(ev[order], 0.0))
    V = Bt @ U[:, order] / np.where(s > 0, s, 1.0)
    return _fix_signs(V)


def _fix_signs(V: np.ndarray) -> np.ndarray:
    flip = np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])]) if V.size else []
    return V * np.where(np.asarray(flip) == 0, 1.0, flip)


def class_sums(
    L: sp.csr_matrix | np.ndarray, codes: np.ndarray, n_codes: int, group_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per code (e.g. fold x class), the sum of the rows of ``L`` with that code (-1: none),
    ``(n_codes, G)``; and per group of codes (``group_of[code]``, e.g. the fold), the sum of
    their squares, ``(n_groups, G)``; float64. ``None`` when they would exceed the memory cap.
    The coded rows are gathered once, sorted by code, and each code's run of stored values is
    summed by column (no temporaries the size of the matrix)."""
    G, n_groups = L.shape[1], int(group_of.max()) + 1
    if (n_codes + n_groups) * G > _SUM_CELLS:
        return None
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]
    bounds = np.searchsorted(codes[order], np.arange(n_codes + 1))
    sums, squares = np.zeros((n_codes, G)), np.zeros((n_groups, G))
    for c0, c1 in _code_runs(L, order, bounds):
        part = L[order[bounds[c0] : bounds[c1]]]  # these codes' rows, gathered once
        for c in range(c0, c1):
            a, b = bounds[c] - bounds[c0], bounds[c + 1] - bounds[c0]
            if a == b:
                continue
            if sp.issparse(part):
                lo, hi = part.indptr[a], part.indptr[b]
                values, columns = part.data[lo:hi].astype(np.float64), part.indices[lo:hi]
                sums[c] = np.bincount(columns, weights=values, minlength=G)
                squares[group_of[c]] += np.bincount(columns, weights=values**2, minlength=G)
            else:
                values = np.asarray(part[a:b], dtype=np.float64)
                sums[c] = values.sum(axis=0)
                squares[group_of[c]] += (values**2).sum(axis=0)
    return sums, squares


def _code_runs(L: Any, order: np.ndarray, bounds: np.ndarray) -> Iterator[tuple[int, int]]:
    """Consecutive runs of codes whose rows hold about ``_GATHER_VALUES`` stored values (or
    cells) or fewer, at least one code per run: the gathered rows stay a few MB."""
    if sp.issparse(L):
        per_row = np.diff(L.indptr)[order]
    else:
        per_row = np.full(len(order), L.shape[1])
    cumulative = np.concatenate([[0], np.cumsum(per_row)])
    per_code = cumulative[bounds[1:]] - cumulative[bounds[:-1]]
    c0, total = 0, 0
    for c, size in enumerate(per_code):
        if total and total + size > _GATHER_VALUES:
            yield c0, c
            c0, total = c, 0
        total += int(size)
    yield c0, len(bounds) - 1


def between_class_directions(
    sums: np.ndarray, counts: np.ndarray, mean: np.ndarray, inv_sd: np.ndarray, r: int
) -> np.ndarray:
    """The ``r`` directions (G, r) along which the class means of some rows differ most, from
    the class sums and counts of those rows, on the standardised scale (``mean``, ``inv_sd``):
    the top right singular vectors of ``sqrt(n_k) (mean_k - overall mean)`` (an empty
    ``(G, 0)`` when fewer than two classes have rows)."""
    present = counts > 0
    G = sums.shape[1]
    if present.sum() < 2 or r < 1:
        return np.zeros((G, 0))
    n = counts[present].astype(np.float64)
    class_mean = sums[present] / n[:, None]
    overall = (n @ class_mean) / n.sum()
    M = np.sqrt(n)[:, None] * (class_mean - overall) * inv_sd
    ev, U = np.linalg.eigh(M @ M.T)  # classes x classes: cheap for any number of genes
    order = np.argsort(ev)[::-1][: min(r, int(present.sum()) - 1)]
    s = np.sqrt(np.maximum(ev[order], 0.0))
    keep = s > 1e-9 * max(1.0, float(s.max(initial=0.0)))
    V = M.T @ U[:, order[keep]] / s[keep]
    return _fix_signs(V)


def whitener(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, W) with ``(Z - mean) @ W`` of identity covariance on the rows of Z; rank."""
    mean = Z.mean(axis=0)
    C = np.cov(Z - mean, rowvar=False, bias=True).reshape(Z.shape[1], Z.shape[1])
    ev, E = np.linalg.eigh(C)
    keep = ev > WHITEN_RTOL * max(ev.max(initial=0.0), 1e-300)
    return mean, E[:, keep] / np.sqrt(ev[keep]), int(keep.sum())


# --------------------------------------------------------------------------- sampling, shapes


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


def bucket(n: int) -> int:
    """Round up to a coarse grid (<= 12.5% padding) so similar sizes share compiled programs."""
    if n <= 64:
        return 64
    step = 2 ** (int(math.log2(n)) - 3)
    return -(-n // step) * step


def bucket_classes(k: int) -> int:
    """Classes padded to 2, 4, 8, then multiples of 8 (masked), to share compiled programs."""
    return 2 if k <= 2 else 4 if k <= 4 else -(-k // 8) * 8


@contextlib.contextmanager
def blas_single_thread() -> Iterator[None]:
    """One BLAS thread for the numpy side (small dense algebra, and the folds' products run on
    two threads of their own): OpenBLAS's thread start-up and spinning made a 320 x 30 QR take
    0.1 s instead of 0.3 ms on 2 busy cores. Scoped; restored on exit."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield

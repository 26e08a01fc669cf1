"""The near-duplicate embedding (a TruncatedSVD fitted on a seeded row subsample, every row
projected in the audit's shared pass) and the nearest-neighbour search on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.io.matrix import MatrixView, finite_rows, read_runs
from biodata_guard.stream import accumulate
from biodata_guard.stream._fused import BlockStats, Request

#: The near-duplicate embedding's dimensions, and the rows its SVD is fitted on.
N_COMPONENTS = 32
MAX_FIT_ROWS = 10_000
#: Float32 cells of one query-by-reference similarity block (32 MB; larger was no faster).
_SIM_BLOCK = 1 << 23
#: Near-duplicate search: exact up to this many (query, reference) pairs (5,000 x 50,000),
#: then a faiss index, cheaper beyond (100k cells: 1.0 -> 0.2 s), as sensitive on the
#: planted cases (benchmarks/bench_sketch.py) and calibrated with the same index.
_EXACT_PAIRS = 250_000_000
#: Cells of the index searched per query: near duplicates sit in their partner's cell or a
#: neighbouring one (at 1M cells, 8 instead of 32 probes: 16 -> 5 s).
_IVF_PROBES = 8
#: Neighbours asked of the index when some must be skipped (the query itself, identical rows).
_IVF_CANDIDATES = 8


def _prepare(block: Any, *, log_scale: bool, target_sum: float) -> Any:
    """Float32 copy; for non-negative data scaled to ``target_sum`` per row, then log1p."""
    if sp.issparse(block):
        block = sp.csr_matrix(block, dtype=np.float32, copy=True)
        if log_scale:
            totals = np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
            scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
            block.data *= np.repeat(scale, np.diff(block.indptr)).astype(np.float32)
            np.log1p(block.data, out=block.data)
        return block
    block = np.array(block, dtype=np.float32, copy=True)
    if log_scale:
        totals = block.sum(axis=1, dtype=np.float64)
        scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
        block *= scale[:, None].astype(np.float32)
        np.log1p(block, out=block)
    return block


class Projection:
    """Rows of a matrix projected on a fitted TruncatedSVD basis, as an accumulator of the
    audit's shared pass; :meth:`result` centres the rows and scales them to unit length."""

    def __init__(self, n: int, components: np.ndarray, center: np.ndarray, **prep: Any) -> None:
        self.components, self.center, self.prep = components, center, prep
        self.emb = np.empty((n, components.shape[1]), dtype=np.float32)
        self.info: dict[str, Any] = {}
        self._done = False

    def task(self) -> tuple[Any, dict[str, Any]]:
        request = Request(
            components=self.components,
            log_scale=self.prep["log_scale"],
            target_sum=self.prep["target_sum"],
        )
        return _project_part, {"request": request}

    def absorb(self, start: int, stop: int, part: np.ndarray) -> None:
        self.emb[start:stop] = part

    def result(self) -> np.ndarray:
        if not self._done:
            self.emb -= self.center
            norms = np.linalg.norm(self.emb, axis=1)
            np.divide(self.emb, norms[:, None], out=self.emb, where=norms[:, None] > 0)
            self._done = True
        return self.emb


def _project_part(stats: BlockStats, start: int, stop: int) -> np.ndarray:
    """One block's rows on the basis (the shared pass's kernel computes them); rows with
    NaN/inf come out NaN and are left out later."""
    out = stats.emb
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


def embedding_key(*, n_components: int, max_fit_rows: int, seed: int) -> tuple:
    return ("leakage.embedding", n_components, max_fit_rows, seed)


#: Runs of consecutive rows the embedding is fitted on, when the matrix has more rows than that.
FIT_RUNS = 100


def fit_runs(n: int, max_fit_rows: int, seed: int) -> list[slice]:
    """The rows the embedding is fitted on: all ``n``, or ``max_fit_rows`` of them as
    :data:`FIT_RUNS` runs of consecutive rows at seeded places spread over the matrix (a
    backed file reads a run in one request; as many scattered rows cost more than reading the
    whole file).

    Examples
    --------
    >>> fit_runs(500, 1000, 0)
    [slice(0, 500, None)]
    >>> runs = fit_runs(100_000, 10_000, 0)
    >>> len(runs), sum(r.stop - r.start for r in runs), runs == sorted(runs, key=lambda r: r.start)
    (100, 10000, True)
    """
    if n <= max_fit_rows:
        return [slice(0, n)]
    n_runs = min(FIT_RUNS, max_fit_rows)
    length = max_fit_rows // n_runs
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n // length, n_runs, replace=False))
    return [slice(int(b) * length, int(b) * length + length) for b in picked]


def fit_embedding(
    view: MatrixView, *, n_components: int, max_fit_rows: int, seed: int
) -> Projection | None:
    """Fit the near-duplicate embedding (TruncatedSVD) on a seeded subsample of rows; the
    returned accumulator projects every row in one pass. None when the matrix is too small."""
    from sklearn.decomposition import TruncatedSVD

    n, m = view.shape
    fit = read_runs(view, fit_runs(n, max_fit_rows, seed))
    n_fit = fit.shape[0]
    fit = fit[finite_rows(fit)]  # rows with NaN/inf (units.invalid_values) are left out
    lowest = (fit.data.min() if fit.nnz else 0.0) if sp.issparse(fit) else fit.min()
    log_scale = bool(lowest >= 0)
    target = 1.0
    if log_scale:
        totals = np.asarray(fit.sum(axis=1), dtype=np.float64).ravel()
        positive = totals[totals > 0]
        target = float(np.median(positive)) if len(positive) else 1.0
    k = min(n_components, m - 1, fit.shape[0] - 1)
    if k < 1:
        return None
    svd = TruncatedSVD(k, algorithm="randomized", n_iter=4, random_state=seed)
    prepared = _prepare(fit, log_scale=log_scale, target_sum=target)
    del fit
    with np.errstate(all="ignore"):
        Z = svd.fit_transform(prepared)
    acc = Projection(
        n,
        np.ascontiguousarray(svd.components_.T, dtype=np.float32),
        Z.mean(axis=0).astype(np.float32),
        log_scale=log_scale,
        target_sum=target,
        name=view.name,
    )
    acc.info = {
        "n_components": k,
        "explained_variance_ratio": float(svd.explained_variance_ratio_.sum()),
        "n_fit_rows": n_fit,
        "transform": "per-row total scaling + log1p" if log_scale else "none (negative values)",
    }
    return acc


def embed(
    view: MatrixView, *, n_components: int, max_fit_rows: int, chunk_size: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Unit-norm rows of a centred TruncatedSVD embedding fitted on a seeded row subsample
    (projected in the audit's shared pass when it ran, else in a pass of its own)."""
    key = embedding_key(n_components=n_components, max_fit_rows=max_fit_rows, seed=seed)
    if key not in view.memo:
        acc = fit_embedding(view, n_components=n_components, max_fit_rows=max_fit_rows, seed=seed)
        if acc is None:
            return None
        accumulate(view, key, lambda: acc, chunk_size=chunk_size)
    acc = view.memo[key]
    return acc.result(), acc.info


@dataclass(frozen=True, eq=False)
class Neighbours:
    """The nearest-neighbour search among the rows of ``R`` (unit norm): exact blocked
    products, or a faiss inverted-file index (``index``); ``how`` says which, for the
    evidence."""

    R: np.ndarray
    index: Any
    how: str


def neighbour_index(R: np.ndarray, n_queries: int, *, seed: int) -> Neighbours:
    """How ``n_queries`` rows will search ``R``: exactly up to :data:`_EXACT_PAIRS` (query,
    reference) pairs; beyond, a faiss inverted-file index (k-means cells of ``R``, the
    :data:`_IVF_PROBES` nearest cells searched), whose cost grows as ``n_queries *
    sqrt(len(R))``. Near duplicates lie in their partner's cell or a neighbouring one, so few
    are missed; the other rows' nearest distances come out a little larger than the exact
    ones, and the calibration of the near-duplicate test searches with the same index, so
    the test compares like with like."""
    if n_queries * len(R) <= _EXACT_PAIRS:
        return Neighbours(R, None, "exact")
    import faiss

    n_lists = int(np.clip(2 * np.sqrt(len(R)), 64, 4096))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(R.shape[1]), R.shape[1], n_lists,
                               faiss.METRIC_INNER_PRODUCT)  # fmt: skip
    index.cp.seed, index.cp.niter = seed, 10
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(len(R), min(len(R), 40 * n_lists), replace=False))
    index.train(np.ascontiguousarray(R[train]))
    index.add(np.ascontiguousarray(R))
    index.nprobe = _IVF_PROBES
    return Neighbours(R, index, f"faiss IVF ({n_lists} cells, {_IVF_PROBES} probed)")


def query(
    nb: Neighbours,
    Q: np.ndarray,
    self_pos: np.ndarray | None = None,
    *,
    below: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Highest cosine similarity of each row of ``Q`` to a row of ``nb.R`` and that row,
    skipping ``self_pos[i]`` for query i and similarities at or above ``below`` (see
    :func:`nearest`); -inf where the index returned no row that qualifies."""
    if nb.index is None:
        return nearest(Q, nb.R, self_pos, below=below)
    k = 1 if self_pos is None and below is None else _IVF_CANDIDATES
    sim, arg = nb.index.search(np.ascontiguousarray(Q), k)
    valid = arg >= 0
    if self_pos is not None:
        valid &= arg != np.asarray(self_pos)[:, None]
    if below is not None:
        valid &= sim < below
    first = valid.argmax(axis=1)
    rows = np.arange(len(Q))
    found = valid[rows, first]
    best = np.where(found, sim[rows, first], -np.inf).astype(np.float32)
    return best, np.where(found, arg[rows, first], 0).astype(np.int64)


def search(Q: np.ndarray, R: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Nearest row of ``R`` (highest cosine similarity, unit-norm rows) for each row of ``Q``,
    exact or by an index (:func:`neighbour_index`), and how it was searched."""
    nb = neighbour_index(R, len(Q), seed=seed)
    best, arg = query(nb, Q)
    return best, arg, nb.how


def nearest(
    Q: np.ndarray,
    R: np.ndarray,
    self_pos: np.ndarray | None = None,
    *,
    below: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Highest cosine similarity of each row of ``Q`` to the rows of ``R`` (unit-norm rows),
    by blocked matrix products; ``self_pos[i]`` is a column of ``R`` to exclude for query i,
    and similarities at or above ``below`` (identical rows) are skipped."""
    best = np.full(len(Q), -np.inf, dtype=np.float32)
    arg = np.zeros(len(Q), dtype=np.int64)
    if not len(R) or not len(Q):
        return best, arg
    step = max(1, min(len(Q), _SIM_BLOCK // len(R)))
    RT = R.T
    for i in range(0, len(Q), step):
        S = Q[i : i + step] @ RT
        rr = np.arange(S.shape[0])
        if self_pos is not None:
            S[rr, self_pos[i : i + step]] = -np.inf
        if below is not None:
            S[S >= below] = -np.inf
        j = S.argmax(axis=1)
        best[i : i + step] = S[rr, j]
        arg[i : i + step] = j
    return best, arg

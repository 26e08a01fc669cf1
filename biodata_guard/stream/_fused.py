"""What the shared pass's compiled kernel computes for one row block, and how the requests of
several accumulators become one kernel run.

An accumulator whose part comes from the kernel returns a task ``(fn, kwargs)`` whose kwargs
hold a :class:`Request`; the shared pass merges the requests of all such tasks, runs the
kernel once per block (its row slices on :data:`biodata_guard.stream.WORKERS` threads), and
calls ``fn(stats, start, stop, **other_kwargs)`` with the :class:`BlockStats`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.stream import _kernel as K

#: Row ranges of a block computed in parallel, each with its own per-feature partial sums
#: (a constant, not the number of cores: the sums have one order on every machine).
PARTS = 2
#: Stored values sampled per part for the value histogram.
HIST_PER_PART = 100_000
HIST_BINS = 64  # asinh(value) in [-16, 16] by 0.5

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SALT1 = np.uint64(0x9E3779B97F4A7C15)
_SALT2 = np.uint64(0xD1B54A32D192ED03)


@dataclass(frozen=True, eq=False)
class Request:
    """What one accumulator needs of the kernel.

    ``scan``: the units statistics (with ``lengths``, one gene length per feature, NaN when
    unknown); ``hashes``: the order-independent row hashes; ``codes`` (one split code per row
    of the whole matrix, -1 for none) with ``n_splits``: per-split feature moments;
    ``components`` (features x k, float32): each row projected on them, after per-row scaling
    to ``target_sum`` and log1p when ``log_scale``.
    """

    scan: bool = False
    lengths: np.ndarray | None = None
    #: The scan's limits: largest log-scale value, the share of negatives below which a
    #: sample's negatives are stray, and the tied minima of a log(x + p) sample.
    log_max: float = 40.0
    neg_row_share: float = 0.01
    at_min_values: int = 3
    hashes: bool = False
    codes: np.ndarray | None = None
    n_splits: int = 0
    components: np.ndarray | None = None
    log_scale: bool = False
    target_sum: float = 1.0


def merge(requests: list[Request]) -> tuple[list[Request], list[int]]:
    """The fewest kernel runs that serve ``requests`` (one, unless two ask for different
    lengths, split codes or projection bases), and the run serving each request."""
    runs: list[Request] = []
    which: list[int] = []
    for req in requests:
        for i, have in enumerate(runs):
            both = _merged(have, req)
            if both is not None:
                runs[i] = both
                which.append(i)
                break
        else:
            runs.append(req)
            which.append(len(runs) - 1)
    return runs, which


def _merged(a: Request, b: Request) -> Request | None:
    if a.scan and b.scan and not _same(a.lengths, b.lengths):
        return None
    if (
        a.scan
        and b.scan
        and (a.log_max, a.neg_row_share, a.at_min_values)
        != (
            b.log_max,
            b.neg_row_share,
            b.at_min_values,
        )
    ):
        return None
    if a.n_splits and b.n_splits and (a.n_splits != b.n_splits or not _same(a.codes, b.codes)):
        return None
    if a.components is not None and b.components is not None:
        if not _same(a.components, b.components) or (a.log_scale, a.target_sum) != (
            b.log_scale,
            b.target_sum,
        ):
            return None
    scan = a if a.scan else b
    split = a if a.n_splits else b
    proj = a if a.components is not None else b
    return Request(
        scan=a.scan or b.scan,
        lengths=scan.lengths,
        log_max=scan.log_max,
        neg_row_share=scan.neg_row_share,
        at_min_values=scan.at_min_values,
        hashes=a.hashes or b.hashes,
        codes=split.codes,
        n_splits=split.n_splits,
        components=proj.components,
        log_scale=proj.log_scale,
        target_sum=proj.target_sum,
    )


def _same(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    if x is None or y is None:
        return x is y
    return x is y or (x.shape == y.shape and np.array_equal(x, y, equal_nan=True))


@dataclass(frozen=True, eq=False)
class BlockStats:
    """The kernel's results for one row block, and the block's stored values (CSR arrays;
    a dense block as its flattened rows, ``dense=True``)."""

    request: Request
    n_rows: int
    n_features: int
    dense: bool
    block: Any  # the CSR matrix or ndarray the statistics were computed from
    dtype: np.dtype
    rows: np.ndarray  # (n_rows, K.N_ROW_FIELDS)
    hashes: np.ndarray  # (n_rows, 2) uint64
    feat: np.ndarray  # (K.N_FEAT_FIELDS, n_features): feat[K.F_SUM] is a per-feature vector
    split: np.ndarray  # (K.N_SPLIT_FIELDS, n_splits, n_features)
    split_nonint: np.ndarray  # (n_features,)
    hist: np.ndarray  # (HIST_BINS,) int64
    emb: np.ndarray  # (n_rows, k) float32
    n_hist_sampled: int = 0
    extra: dict = field(default_factory=dict)

    def csr(self) -> sp.csr_matrix:
        """The block as CSR (a dense block converted once, on first use)."""
        if "csr" not in self.extra:
            self.extra["csr"] = self.block if not self.dense else sp.csr_matrix(self.block)
        return self.extra["csr"]


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def hash_keys(m: int) -> tuple[np.ndarray, np.ndarray]:
    """The two per-column keys of the row hashes: entry (j, v) hashes to mix(bits(v) ^ key[j])."""
    cols = np.arange(m, dtype=np.uint64)
    return _mix(cols + _SALT1), _mix(cols + _SALT2)


def _kernel_dtype(data: np.ndarray) -> np.ndarray:
    """The values as float32 or float64 (two compiled variants): exact for every storage
    type the readers produce (integers beyond 2**24 go to float64)."""
    if data.dtype in (np.float32, np.float64):
        return data
    if (data.dtype.kind in "iub" and data.dtype.itemsize <= 2) or data.dtype == np.float16:
        return data.astype(np.float32)
    return data.astype(np.float64)


def block_stats(
    block: Any,
    start: int,
    request: Request,
    *,
    workers: int = 2,
) -> BlockStats:
    """Run the kernel over ``block`` (rows ``start:`` of the matrix), its row slices on up
    to ``workers`` threads; per-feature partials are added in slice order."""
    dense = not sp.issparse(block)
    if dense:
        block = np.ascontiguousarray(block)
        nr, m = block.shape
        data = _kernel_dtype(block.reshape(-1))
        indices = np.zeros(0, dtype=np.int32)
        indptr = np.zeros(0, dtype=np.int64)
    else:
        block = sp.csr_matrix(block)
        nr, m = block.shape
        indptr = np.asarray(block.indptr, dtype=np.int64)
        data = _kernel_dtype(block.data[: indptr[-1]])
        indices = block.indices[: indptr[-1]]
        if indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
    r = request
    n_splits = r.n_splits if r.codes is not None else 0
    codes = (
        np.ascontiguousarray(r.codes[start : start + nr], dtype=np.int64)
        if n_splits
        else np.zeros(0, dtype=np.int64)
    )
    comp = r.components if r.components is not None else np.zeros((0, 0), dtype=np.float32)
    lengths = r.lengths if r.scan and r.lengths is not None else np.zeros(0)
    lengths = np.ascontiguousarray(lengths, dtype=np.float64)
    if r.hashes:
        key1, key2 = hash_keys(m)
    else:
        key1 = key2 = np.zeros(0, dtype=np.uint64)
    rows = np.zeros((nr, K.N_ROW_FIELDS))
    hashes = np.zeros((nr, 2) if r.hashes else (0, 2), dtype=np.uint64)
    emb = np.zeros((nr, comp.shape[1]), dtype=np.float32)
    parts = list(_parts(indptr, nr, m, dense))

    def run(bounds: tuple[int, int]) -> tuple[np.ndarray, ...]:
        r0, r1 = bounds
        n_values = (r1 - r0) * m if dense else int(indptr[r1] - indptr[r0])
        # feature-major while the kernel fills them (one value touches one cache line)
        feat = np.zeros((m, K.N_FEAT_FIELDS) if r.scan else (0, K.N_FEAT_FIELDS))
        split = np.zeros((n_splits, m if n_splits else 0, K.N_SPLIT_FIELDS))
        split[:, :, K.S_LOW] = np.inf
        split[:, :, K.S_HIGH] = -np.inf
        split_nonint = np.zeros(m if n_splits else 0)
        hist = np.zeros(HIST_BINS, dtype=np.int64)
        stride = max(1, n_values // HIST_PER_PART) if r.scan else 0
        with np.errstate(all="ignore"):
            K.fused_rows(
                data, indices, indptr, dense, m, r0, r1,
                r.scan, lengths, r.log_max, r.neg_row_share, r.at_min_values, stride,
                r.hashes, key1, key2,
                codes, n_splits,
                comp, r.log_scale, float(r.target_sum),
                rows, hashes, feat, split, split_nonint, hist, emb,
            )  # fmt: skip
        return feat, split, split_nonint, hist

    done = list(_thread_map(run, parts, workers))
    feat, split, split_nonint, hist = _add_in_order(done)
    return BlockStats(
        r, nr, m, dense, block, block.dtype, rows, hashes, feat, split, split_nonint, hist, emb,
        n_hist_sampled=int(hist.sum()),
    )  # fmt: skip


def _parts(indptr: np.ndarray, nr: int, m: int, dense: bool) -> Iterator[tuple[int, int]]:
    """:data:`PARTS` row ranges of about equal numbers of stored values."""
    if dense or nr == 0:
        bounds = np.linspace(0, nr, PARTS + 1).round().astype(np.int64)
    else:
        targets = np.linspace(0, indptr[nr], PARTS + 1)
        bounds = np.searchsorted(indptr[: nr + 1], targets, side="left")
        bounds[0], bounds[-1] = 0, nr
    ranges = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    yield from ranges or [(0, nr)]


def _thread_map(fn: Callable[[Any], Any], items: list[Any], workers: int) -> Iterator[Any]:
    """``fn`` over ``items`` on up to ``workers`` threads (the kernel releases the GIL),
    results in item order."""
    if workers <= 1 or len(items) <= 1:
        return map(fn, items)
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return iter(list(pool.map(fn, items)))


def _add_in_order(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The parts' partial sums added in row order (extremes combined), planes first."""
    feat, split, split_nonint, hist = (np.array(x, copy=True) for x in parts[0])
    for f, s, sn, h in parts[1:]:
        feat += f
        for plane in (K.S_TOTAL, K.S_TOTAL_SQ, K.S_STORED):
            split[:, :, plane] += s[:, :, plane]
        np.minimum(split[:, :, K.S_LOW], s[:, :, K.S_LOW], out=split[:, :, K.S_LOW])
        np.maximum(split[:, :, K.S_HIGH], s[:, :, K.S_HIGH], out=split[:, :, K.S_HIGH])
        split_nonint += sn
        hist += h
    return feat.T, np.moveaxis(split, 2, 0), split_nonint, hist

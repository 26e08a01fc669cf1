"""The units scan: per-sample and per-feature statistics in one pass over row blocks.

Sums, integer grids, extremes and log-scale candidates of a matrix, one row block at a time, as an
accumulator of the audit's shared pass (:mod:`biodata_guard.stream`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import accumulate, row_slices

LOG_MAX = 40.0  # log2(1e12): log-scale values never exceed this
_QUANT_MIN_FRACTION = 0.99  # share of tested values that must sit on the integer grid
_QUANT_PER_ROW = 128  # values per sample tested for the integer grid
_MAX_MULTIPLE = 6  # smallest count in a sample may be 1..6
_MIN_TESTED = 5  # values needed to call a sample quantised
NEG_ROW_SHARE = 0.01  # negatives below this share of a sample's values are "stray"
_AT_MIN_VALUES = 3  # log(x + p) with p < 1: the zeros all map to the (tied) sample minimum
LOG_BASES = ("e", "2", "10")
BASE_VALUE = {"e": np.e, "2": 2.0, "10": 10.0}
HIST_EDGES = np.arange(-16.0, 16.01, 0.5)  # asinh(value) bins, fixed so one pass suffices
_HIST_PER_CHUNK = 50_000


def _row_reduce(ufunc: np.ufunc, values: np.ndarray, indptr: np.ndarray, empty: float):
    n = len(indptr) - 1
    out = np.full(n, empty, dtype=float)
    nonempty = np.diff(indptr) > 0
    if nonempty.any():
        out[nonempty] = ufunc.reduceat(values, indptr[:-1][nonempty])
    return out


def _head_positions(indptr: np.ndarray, take: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first ``take[i]`` stored values of each row, and their row ids."""
    total = int(take.sum())
    rows = np.repeat(np.arange(len(take)), take)
    offsets = np.arange(total) - np.repeat(np.cumsum(take) - take, take)
    return indptr[:-1][rows] + offsets, rows


def _grid_multiple(
    values: np.ndarray,
    rows: np.ndarray,
    quantum: np.ndarray,
    n: int,
    rtol: float,
    *,
    max_multiple: int = _MAX_MULTIPLE,
    min_tested: int | np.ndarray = _MIN_TESTED,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the smallest m (1..max_multiple) such that >= 99% of ``values / quantum * m``
    are integers; 0 when none. Only values whose ratio is small enough for the float
    precision (``rtol``) to tell are tested. Returns (m, number tested)."""
    ratio = values / quantum[rows]
    limit = 0.1 / (4 * rtol * max_multiple)
    keep = np.isfinite(ratio) & (ratio <= limit)
    ratio, rows = ratio[keep], rows[keep]
    n_tested = np.bincount(rows, minlength=n)
    best = np.zeros(n, dtype=np.int64)
    open_ = (n_tested >= min_tested) & (n_tested > 0)
    for m in range(1, max_multiple + 1):
        if not open_.any():
            break
        sel = open_[rows]
        w = ratio[sel] * m
        near = np.abs(w - np.rint(w)) <= 4 * rtol * np.maximum(w, 1.0)
        hits = np.bincount(rows[sel][near], minlength=n)
        ok = open_ & (hits >= _QUANT_MIN_FRACTION * n_tested)
        best[ok] = m
        open_ &= ~ok
        if m == 1:
            # on a grid of step q/k about 1/k of the values are whole multiples of q;
            # far fewer means no grid at all: skip the other multiples
            open_ &= hits >= 0.5 / max_multiple * n_tested
    return best, n_tested


def _linear_stats(
    data: np.ndarray,
    indptr: np.ndarray,
    n_cols: int,
    *,
    need_grid: np.ndarray,
    lengths: np.ndarray | None,
    rtol: float,
    exact: bool,
    implicit_value: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-row statistics of (non-negative) linear-scale values of one CSR block.

    ``lengths`` holds the gene length of each stored value (NaN when unknown). ``exact``:
    integer-ness is tested exactly elsewhere (raw values); otherwise (back-transformed
    values) it is tested here on the grid of integers, within float precision.
    """
    n = len(indptr) - 1
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n), counts)
    pos = data > 0
    S = np.bincount(rows, weights=data, minlength=n)
    if implicit_value is not None:
        S = S + (n_cols - counts) * implicit_value
    out: dict[str, np.ndarray] = {
        "S": S,
        "n_pos": np.bincount(rows[pos], minlength=n).astype(float),
        "grid_m": np.zeros(n, dtype=np.int64),
        "rounded": np.zeros(n, dtype=bool),
    }
    if not exact:
        out["int_ok"] = np.zeros(n, dtype=bool)
    if lengths is not None:
        vl = np.where(pos & np.isfinite(lengths), data * np.nan_to_num(lengths), 0.0)
        out["SL"] = np.bincount(rows, weights=vl, minlength=n)
        out["len_m"] = np.zeros(n, dtype=np.int64)
    if not need_grid.any():
        return out
    q = _row_reduce(np.minimum, np.where(pos, data, np.inf), indptr, np.inf)
    idx, srows = _head_positions(indptr, np.where(need_grid, np.minimum(counts, _QUANT_PER_ROW), 0))
    v = data[idx]
    keep = v > 0
    grid_m, _ = _grid_multiple(v[keep], srows[keep], q, n, rtol)
    # A grid whose step is a power of ten is rounding (e.g. 2 decimals), not counts.
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.log10(q / np.maximum(grid_m, 1))
    rounded = (grid_m > 0) & (np.abs(step - np.rint(step)) <= 1e-6)
    grid_m[rounded] = 0
    out["grid_m"], out["rounded"] = grid_m, rounded
    if not exact:
        int_m, _ = _grid_multiple(
            v[keep],
            srows[keep],
            np.ones(n),
            n,
            rtol,
            max_multiple=1,
            min_tested=np.maximum(np.minimum(_MIN_TESTED, out["n_pos"]), 1),
        )
        out["int_ok"] = int_m == 1
    if lengths is not None:
        qL = _row_reduce(np.minimum, np.where(vl > 0, vl, np.inf), indptr, np.inf)
        w = vl[idx]
        ok = w > 0
        out["len_m"], _ = _grid_multiple(w[ok], srows[ok], qL, n, rtol)
    return out


def _rtol(dtype: Any) -> float:
    """Relative precision within which a value is taken to sit on an integer grid."""
    dt = np.dtype(dtype)
    if dt.kind in "iub":
        return 1e-6
    if dt.itemsize <= 2:
        return 1e-3
    return 2e-5 if dt.itemsize <= 4 else 1e-6


class Scan:
    """Streaming accumulators: one pass over row blocks, memory O(n_obs + n_vars + block)."""

    def __init__(self, n: int, m: int, lengths: np.ndarray | None) -> None:
        self.n, self.m, self.lengths = n, m, lengths
        zeros = lambda: np.zeros(n)  # noqa: E731
        self.S, self.sumsq, self.nnz, self.n_neg = zeros(), zeros(), zeros(), zeros()
        self.n_nan, self.n_inf, self.n_nonint, self.n_at_min = zeros(), zeros(), zeros(), zeros()
        self.mn, self.mx = np.full(n, np.inf), np.full(n, -np.inf)
        self.raw: dict[str, np.ndarray] = {
            "grid_m": np.zeros(n, dtype=np.int64),
            "rounded": np.zeros(n, dtype=bool),
        }
        if lengths is not None:
            self.raw["SL"] = zeros()
            self.raw["len_m"] = np.zeros(n, dtype=np.int64)
        self.cand = np.zeros(n, dtype=bool)
        self.log: dict[str, dict[str, np.ndarray]] = {}
        for b in LOG_BASES:
            d = {
                "S": zeros(),
                "n_pos": zeros(),
                "grid_m": np.zeros(n, dtype=np.int64),
                "rounded": np.zeros(n, dtype=bool),
                "int_ok": np.zeros(n, dtype=bool),
                "offset": np.ones(n),
            }
            if lengths is not None:
                d["SL"] = zeros()
                d["len_m"] = np.zeros(n, dtype=np.int64)
            self.log[b] = d
        fz = lambda: np.zeros(m)  # noqa: E731
        self.f_sum, self.f_sumsq, self.f_nnz, self.f_nonint = fz(), fz(), fz(), fz()
        self.f_neg, self.f_large, self.f_nonfinite = fz(), fz(), fz()
        self.hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
        self.n_hist_sampled = 0
        self.dtype = None

    # Per-sample arrays (a block's part is copied into rows start:stop) and per-feature /
    # histogram totals (a block's part is added).
    _ROW_FIELDS = ("S", "sumsq", "nnz", "n_neg", "n_nan", "n_inf", "n_nonint", "n_at_min")
    _ROW_FIELDS += ("mn", "mx", "cand")
    _SUM_FIELDS = ("f_sum", "f_sumsq", "f_nnz", "f_nonint", "f_neg", "f_large", "f_nonfinite")
    _SUM_FIELDS += ("hist",)

    def task(self) -> tuple[Any, dict[str, Any]]:
        return _scan_block, {"m": self.m, "lengths": self.lengths}

    def absorb(self, start: int, stop: int, part: Scan) -> None:
        sl = slice(start, stop)
        for key in self._ROW_FIELDS:
            getattr(self, key)[sl] = getattr(part, key)
        for key, values in part.raw.items():
            self.raw[key][sl] = values
        for base, arrays in part.log.items():
            for key, values in arrays.items():
                self.log[base][key][sl] = values
        for key in self._SUM_FIELDS:
            np.add(getattr(self, key), getattr(part, key), out=getattr(self, key))
        self.n_hist_sampled += part.n_hist_sampled
        self.dtype = self.dtype or part.dtype

    def fill(self, start: int, stop: int, block: Any) -> None:
        """Compute the statistics of rows ``start:stop`` from their ``block``."""
        csr = sp.csr_matrix(block)
        if self.dtype is None:
            self.dtype = str(block.dtype)
        rtol = _rtol(block.dtype)
        b = self._fill_nonfinite(start, _csr_block(csr, stop - start))
        r = self._fill_rows(start, b)
        self._fill_features(b, r)
        self._fill_histogram(b.data)
        # raw linear-scale statistics (integer grid, gene lengths)
        L = None if self.lengths is None else self.lengths[b.indices]
        st = _linear_stats(
            b.data, b.indptr, self.m, need_grid=r.n_nonint > 0, lengths=L, rtol=rtol, exact=True
        )
        for key in self.raw:
            self.raw[key][start:stop] = st[key]
        self._fill_log(start, b, r, rtol)

    def _fill_nonfinite(self, start: int, b: _Block) -> _Block:
        """Count the NaN/inf values; the block with them set to 0."""
        finite = np.isfinite(b.data)
        if finite.all():
            return b
        nr, sl = b.nr, slice(start, start + b.nr)
        nan = np.isnan(b.data)
        self.n_nan[sl] = np.bincount(b.rows[nan], minlength=nr)
        self.n_inf[sl] = np.bincount(b.rows[~finite & ~nan], minlength=nr)
        self.f_nonfinite += np.bincount(b.indices[~finite], minlength=self.m)
        return replace(b, data=np.where(finite, b.data, 0.0))

    def _fill_rows(self, start: int, b: _Block) -> _RowStats:
        """Per-sample sums, non-zeros, negatives, extremes, non-integers and tied minima."""
        nr, rows, data, sl = b.nr, b.rows, b.data, slice(start, start + b.nr)
        nonzero = data != 0
        nnz = np.bincount(rows[nonzero], minlength=nr).astype(float)
        neg = data < 0
        any_neg = bool(neg.any())
        n_neg = np.bincount(rows[neg], minlength=nr) if any_neg else np.zeros(nr)
        sq = data * data
        mx = _row_reduce(np.maximum, data, b.indptr, -np.inf)
        mn = _row_reduce(np.minimum, data, b.indptr, np.inf)
        implicit = b.counts < self.m
        mx[implicit] = np.maximum(mx[implicit], 0.0)
        mn[implicit] = np.minimum(mn[implicit], 0.0)
        nonint = data != np.rint(data)
        n_nonint = np.bincount(rows[nonint], minlength=nr)
        self.nnz[sl], self.n_neg[sl], self.n_nonint[sl] = nnz, n_neg, n_nonint
        self.S[sl] = np.bincount(rows, weights=data, minlength=nr)
        self.sumsq[sl] = np.bincount(rows, weights=sq, minlength=nr)
        self.mx[sl], self.mn[sl] = mx, mn
        at_min_ok = np.zeros(nr, dtype=bool)
        if any_neg:
            row_min = mn[rows]
            eq = (data == row_min) & (row_min < 0)
            n_at_min = np.bincount(rows[eq], minlength=nr)
            self.n_at_min[sl] = n_at_min
            at_min_ok = (mn < 0) & (n_at_min >= _AT_MIN_VALUES)
        return _RowStats(nonzero, neg if any_neg else None, nonint, sq, nnz, n_neg, n_nonint,
                         mn, mx, at_min_ok)  # fmt: skip

    def _fill_features(self, b: _Block, r: _RowStats) -> None:
        """Per-feature sums, sums of squares, non-zeros, non-integers, negatives, large values."""
        m, indices = self.m, b.indices
        self.f_sum += np.bincount(indices, weights=b.data, minlength=m)
        self.f_sumsq += np.bincount(indices, weights=r.sq, minlength=m)
        self.f_nnz += np.bincount(indices[r.nonzero], minlength=m)
        self.f_nonint += np.bincount(indices[r.nonint], minlength=m)
        if r.neg is not None:
            self.f_neg += np.bincount(indices[r.neg], minlength=m)
        self.f_large += np.bincount(indices[np.abs(b.data) > LOG_MAX], minlength=m)

    def _fill_histogram(self, data: np.ndarray) -> None:
        """Value histogram from a deterministic subsample of the stored values."""
        sample = data[:: max(1, len(data) // _HIST_PER_CHUNK)]
        sample = sample[sample != 0]
        self.hist += np.histogram(np.clip(np.arcsinh(sample), -15.99, 15.99), HIST_EDGES)[0]
        self.n_hist_sampled += len(sample)

    def _fill_log(self, start: int, b: _Block, r: _RowStats, rtol: float) -> None:
        """Linear-scale statistics after undoing a log (base e, 2, 10) on the log candidates:
        non-integer, small, and non-negative (or log(x + p) with p < 1) samples."""
        neg_share = r.n_neg / np.maximum(r.nnz, 1)
        cand = (r.n_nonint > 0) & (r.mx <= LOG_MAX) & ((neg_share < NEG_ROW_SHARE) | r.at_min_ok)
        if not cand.any():
            return
        m = self.m
        ci = np.flatnonzero(cand)
        sub = sp.csr_matrix((b.data, b.indices, b.indptr), shape=(b.nr, m))[ci]
        sdata = np.asarray(sub.data, dtype=np.float64)
        sindptr = np.asarray(sub.indptr, dtype=np.int64)
        srows = np.repeat(np.arange(len(ci)), np.diff(sindptr))
        sL = None if self.lengths is None else self.lengths[sub.indices]
        self.cand[start + ci] = True
        for base_name in LOG_BASES:
            base = BASE_VALUE[base_name]
            off = np.where(r.at_min_ok[ci], np.power(base, r.mn[ci]), 1.0)
            with np.errstate(over="ignore"):
                y = np.power(base, sdata) - off[srows]
            stb = _linear_stats(
                y,
                sindptr,
                m,
                need_grid=np.ones(len(ci), dtype=bool),
                lengths=sL,
                rtol=max(rtol, 2e-5),
                exact=False,
                implicit_value=1.0 - off,
            )
            target = self.log[base_name]
            for key in stb:
                target[key][start + ci] = stb[key]
            target["offset"][start + ci] = off


@dataclass(frozen=True)
class _Block:
    """The stored values of a CSR row block, with each value's row."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    counts: np.ndarray  # stored values per row
    rows: np.ndarray  # row of each stored value
    nr: int


def _csr_block(csr: sp.csr_matrix, nr: int) -> _Block:
    indptr = np.asarray(csr.indptr, dtype=np.int64)
    counts = np.diff(indptr)
    return _Block(
        np.asarray(csr.data[: indptr[-1]], dtype=np.float64),
        np.asarray(csr.indices[: indptr[-1]]),
        indptr,
        counts,
        np.repeat(np.arange(nr), counts),
        nr,
    )


@dataclass(frozen=True, eq=False)
class _RowStats:
    """Per-value masks and per-row statistics of one block, shared by the later steps."""

    nonzero: np.ndarray
    neg: np.ndarray | None  # None when the block has no negative value
    nonint: np.ndarray
    sq: np.ndarray
    nnz: np.ndarray
    n_neg: np.ndarray
    n_nonint: np.ndarray
    mn: np.ndarray
    mx: np.ndarray
    at_min_ok: np.ndarray


def _scan_block(block: Any, start: int, stop: int, *, m: int, lengths: np.ndarray | None) -> Scan:
    """One block's part of the scan: a block-sized :class:`Scan` (runs on Dask workers)."""
    part = Scan(block.shape[0], m, lengths)
    with np.errstate(all="ignore"):  # NaN/inf cells are counted and reported, not warned about
        for r0, r1 in row_slices(block):
            part.fill(r0, r1, block[r0:r1])
    part.lengths = None  # not needed by absorb; keep the part small
    return part


def scan_accumulator(view: MatrixView, lengths: np.ndarray | None) -> tuple[tuple, Scan]:
    """The memo key and a fresh accumulator of the units scan of ``view`` (shared pass)."""
    digest = None if lengths is None else hashlib.sha1(lengths.tobytes()).hexdigest()
    return ("units.scan", digest), Scan(view.n_obs, view.n_vars, lengths)


def scan_matrix(view: MatrixView, lengths: np.ndarray | None, chunk_size: int) -> Scan:
    key, acc = scan_accumulator(view, lengths)
    return accumulate(view, key, lambda: acc, chunk_size=chunk_size)

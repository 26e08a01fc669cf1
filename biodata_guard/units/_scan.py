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
from scipy.stats import poisson

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import accumulate, row_slices

LOG_MAX = 40.0  # log2(1e12): log-scale values never exceed this
_QUANT_MIN_FRACTION = 0.99  # share of tested values that must sit on the integer grid
_QUANT_PER_ROW = 128  # values per sample tested for the integer grid
_MAX_MULTIPLE = 6  # smallest count in a sample may be 1..6
_MIN_TESTED = 5  # values needed to call a sample quantised
_N_QUANTA = 5  # steps tried for a partial lattice: row minimum, 2 smallest tied, 2 smallest values
_PARTIAL_BUDGET = 2**17  # values per row block tested for partial lattices
#: Share of values a partial lattice must explain. Values that are ratios of integers (count /
#: length) land on a wrong lattice by exact rational coincidence in 4-6% of cases (more than
#: the float-precision chance model predicts); shipped lengths from another release leave
#: 40-70% of the values on the true one (GENCODE 26 vs Ensembl 100: 71% of expressed genes).
PARTIAL_MIN_SHARE = 0.2
#: False-alarm rate of the lattice test per sample and candidate step: a sample whose values
#: are not on a lattice is called "on a lattice" with probability <= this x 5 steps x 6
#: multiples (3e-8), i.e. about once in 33 million samples.
LATTICE_ALPHA = 1e-9
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


def _smallest_gap(v: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Per row, the smallest difference between its 8 smallest distinct values: the lattice
    step itself when two genes' counts differ by 1 (whatever the smallest count), computed
    among small values so that float rounding does not blur it."""
    low = _smallest_distinct(v, rows, n, 8, tied_first=False)
    with np.errstate(invalid="ignore"):
        gaps = np.diff(low, axis=1)
    return np.where(
        np.isfinite(gaps).any(axis=1), np.nanmin(np.where(gaps > 0, gaps, np.inf), axis=1), np.nan
    )


def _smallest_distinct(
    v: np.ndarray, rows: np.ndarray, n: int, k: int, *, tied_first: bool = True
) -> np.ndarray:
    """Per row, candidate lattice steps: its 2 smallest values that occur at least twice (tied
    values of genes with equal counts are on the lattice even when other genes' lengths are
    off), then its smallest distinct values, ``k`` in all (NaN where a row has fewer)."""
    out = np.full((n, k), np.nan)
    if not len(v):
        return out
    # one sort of row + the value's log mapped into [0, 0.5) (cheaper than lexsort on two
    # keys; the log keeps the order of values spanning many decades within float precision)
    lv = np.log(v)
    span = lv.max() - lv.min()
    order = np.argsort(rows + 0.5 * (lv - lv.min()) / (span if span > 0 else 1.0), kind="stable")
    vs, rs = v[order], rows[order]
    new = np.ones(len(vs), dtype=bool)
    new[1:] = (rs[1:] != rs[:-1]) | (vs[1:] != vs[:-1])
    size = np.bincount(np.cumsum(new) - 1)
    g_row, g_val = rs[new], vs[new]
    n_rep = min(2, k - 1) if tied_first else 0
    for col, mask, width in ((0, size >= 2, n_rep), (n_rep, np.ones(len(size), bool), k - n_rep)):
        rr, vv = g_row[mask], g_val[mask]
        rank = _rank_in_row(rr)
        take = rank < width
        out[rr[take], col + rank[take]] = vv[take]
    return out


def _lattice(
    values: np.ndarray,
    rows: np.ndarray,
    quanta: np.ndarray,
    n: int,
    rtol: float,
    *,
    min_share: float = _QUANT_MIN_FRACTION,
    defining: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, whether its values sit on a lattice ``step * k`` (k integer) far beyond chance.

    The step is one of the candidate ``quanta[row]`` divided by m = 1..6 (the smallest count
    of a sample may be 1..6); the candidate putting the largest share of values on the lattice
    is kept. A value "hits" when ``value / step`` is within ``4 * rtol`` (relative) of an
    integer, which happens by chance with probability ``p = 8 * rtol * ratio`` (capped at 1);
    the lattice is called when the hits are improbable under chance (Poisson tail with mean
    ``sum(p)``, below :data:`LATTICE_ALPHA`), number at least 5 and are ``min_share`` of the
    tested values. The share is 99% for exact lattices: the logs of integers sit on partial
    lattices (log 4 = 2 log 2), which chance alone does not explain but a lattice of counts
    does not either. With gene lengths from another annotation release than the data's
    (the shipped table) value x length is on the lattice only for the genes whose length
    did not change, so there ``min_share`` is :data:`PARTIAL_MIN_SHARE`. The candidate steps
    come from the values themselves, so the ``defining`` values that gave a step (the minimum;
    two tied values; the two values of a gap) hit it by construction and are not counted as
    evidence.
    Returns (the step, 0 when there is no lattice; the share of tested values on it).
    """
    best_share = np.full(n, -1.0)
    best_p = np.ones(n)
    best_hits = np.zeros(n, dtype=np.int64)
    step = np.zeros(n)
    limit = 0.1 / (4 * rtol * _MAX_MULTIPLE)
    n_quanta = quanta.shape[1]
    # on a lattice of step q/k about share/k of the values are multiples of q itself
    floor = 0.5 / _MAX_MULTIPLE * max(min_share, 0.2)
    for j in range(n_quanta):
        base = np.ones(n, dtype=bool)  # rows for which candidate j may still be a lattice base
        for m in range(1, _MAX_MULTIPLE + 1):
            # rows without a perfect lattice yet
            open_ = (best_share < _QUANT_MIN_FRACTION) & base
            if not open_.any():
                break
            sel = open_[rows]
            v, rv = values[sel], rows[sel]
            ratio = v / quanta[rv, j] * m
            keep = np.isfinite(ratio) & (ratio <= limit)
            r, rr = ratio[keep], rv[keep]
            tol = 4 * rtol * np.maximum(r, 1.0)
            hits = np.bincount(rr[np.abs(r - np.rint(r)) <= tol], minlength=n)
            tested = np.bincount(rr, minlength=n)
            lam = np.bincount(rr, weights=np.minimum(2 * tol, 1.0), minlength=n)
            frac = hits / np.maximum(tested, 1)
            if m == 1:
                base &= frac >= floor
            better = (tested >= _MIN_TESTED) & (frac > best_share)
            best_share = np.where(better, frac, best_share)
            evidence = np.maximum(hits - defining, 0)
            best_p[better] = poisson.sf(evidence[better] - 1, lam[better])
            best_hits = np.where(better, evidence, best_hits)
            step = np.where(better, quanta[:, j] / m, step)
    return _lattice_result(step, best_share, best_p, best_hits, min_share)


def _lattice_result(
    step: np.ndarray, share: np.ndarray, p: np.ndarray, hits: np.ndarray, min_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """(step, share) of the rows whose lattice beats chance; (0, 0) for the others."""
    found = (p <= LATTICE_ALPHA) & (hits >= _MIN_TESTED) & (share >= min_share)
    return np.where(found, step, 0.0), np.where(found, share, 0.0)


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
    len_min_share: float = _QUANT_MIN_FRACTION,
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
        **_grid_fields(n, lengths is not None),
    }
    if not exact:
        out["int_ok"] = np.zeros(n, dtype=bool)
    if lengths is not None:
        vl = np.where(pos & np.isfinite(lengths), data * np.nan_to_num(lengths), 0.0)
        out["SL"] = np.bincount(rows, weights=vl, minlength=n)
    if not need_grid.any():
        return out
    idx, srows = _head_positions(indptr, np.where(need_grid, np.minimum(counts, _QUANT_PER_ROW), 0))
    v = data[idx]
    keep = v > 0
    step, share = _lattice(v[keep], srows[keep], _quanta(data, pos, indptr, v, srows, 1), n, rtol)
    retry = (step == 0)[srows] & keep  # no count 1..6 in the sample: try the smallest gap
    if retry.any():
        gap = _smallest_gap(v[retry], srows[retry], n)[:, None]
        step2, share2 = _lattice(v[retry], srows[retry], gap, n, rtol, defining=2)
        step, share = np.where(step2 > 0, step2, step), np.where(step2 > 0, share2, share)
    # A lattice whose step is a power of ten is rounding (e.g. 2 decimals), not counts.
    with np.errstate(divide="ignore", invalid="ignore"):
        decade = np.log10(step)
    rounded = (step > 0) & (np.abs(decade - np.rint(decade)) <= 1e-6)
    out["grid"], out["grid_share"], out["rounded"] = (step > 0) & ~rounded, share, rounded
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
        # value x length is tested where the values themselves are on no lattice (a lattice
        # of the values implies one of value x integer length)
        out["len_grid"], out["len_share"] = _length_lattice(
            vl, indptr, counts, need_grid & ~out["grid"], rtol, len_min_share
        )
    return out


def _length_lattice(
    vl: np.ndarray,
    indptr: np.ndarray,
    counts: np.ndarray,
    need: np.ndarray,
    rtol: float,
    min_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, whether value x gene length sits on a lattice of counts, and its share. An exact
    lattice (the user's lengths) is tested on 128 values per row; a partial one (the shipped
    lengths of another release) on more when the block has few rows (bulk samples: up to
    4,096 genes each), within a budget of values per block that keeps wide single-cell blocks
    as cheap as before."""
    n = len(indptr) - 1
    exact = min_share >= _QUANT_MIN_FRACTION
    per_row = _QUANT_PER_ROW
    if not exact:
        per_row = int(np.clip(_PARTIAL_BUDGET // max(int(need.sum()), 1), 64, 4096))
    idx, rows = _head_positions(indptr, np.where(need, np.minimum(counts, per_row), 0))
    w = vl[idx]
    ok = w > 0
    quanta = _quanta(vl, vl > 0, indptr, w, rows, 1 if exact else _N_QUANTA)
    step, share = _lattice(
        w[ok], rows[ok], quanta, n, rtol, min_share=min_share, defining=1 if exact else 2
    )
    return step > 0, share


def _rank_in_row(rows: np.ndarray) -> np.ndarray:
    """Position of each value within its row (``rows`` sorted)."""
    if not len(rows):
        return rows
    start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return np.arange(len(rows)) - np.repeat(start, np.diff(np.r_[start, len(rows)]))


def _grid_fields(n: int, with_lengths: bool) -> dict[str, np.ndarray]:
    """Empty per-row lattice results: raw values (and value x gene length)."""
    out = {"grid": np.zeros(n, dtype=bool), "grid_share": np.zeros(n), "rounded": np.zeros(n, bool)}
    if with_lengths:
        out["len_grid"], out["len_share"] = np.zeros(n, dtype=bool), np.zeros(n)
    return out


def _quanta(
    data: np.ndarray,
    pos: np.ndarray,
    indptr: np.ndarray,
    head: np.ndarray,
    rows: np.ndarray,
    k: int,
) -> np.ndarray:
    """``k`` candidate lattice steps per row: its smallest positive value, then the smallest
    distinct positive values among the tested ones (for partial lattices, whose minimum may be
    off the lattice; an exact lattice has its minimum on it, so ``k = 1`` there)."""
    n = len(indptr) - 1
    q = _row_reduce(np.minimum, np.where(pos, data, np.inf), indptr, np.inf)
    if k == 1:
        return q[:, None]
    ok = head > 0
    return np.column_stack([q, _smallest_distinct(head[ok], rows[ok], n, k - 1)])


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

    def __init__(
        self, n: int, m: int, lengths: np.ndarray | None, len_min_share: float = 0.99
    ) -> None:
        self.n, self.m, self.lengths, self.len_min_share = n, m, lengths, len_min_share
        zeros = lambda: np.zeros(n)  # noqa: E731
        self.S, self.sumsq, self.nnz, self.n_neg = zeros(), zeros(), zeros(), zeros()
        self.n_nan, self.n_inf, self.n_nonint, self.n_at_min = zeros(), zeros(), zeros(), zeros()
        self.mn, self.mx = np.full(n, np.inf), np.full(n, -np.inf)
        self.raw: dict[str, np.ndarray] = _grid_fields(n, lengths is not None)
        if lengths is not None:
            self.raw["SL"] = zeros()
        self.cand = np.zeros(n, dtype=bool)
        self.log: dict[str, dict[str, np.ndarray]] = {}
        for b in LOG_BASES:
            d = {
                "S": zeros(),
                "n_pos": zeros(),
                **_grid_fields(n, lengths is not None),
                "int_ok": np.zeros(n, dtype=bool),
                "offset": np.ones(n),
            }
            if lengths is not None:
                d["SL"] = zeros()
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
        return _scan_block, {"m": self.m, "lengths": self.lengths, "share": self.len_min_share}

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
            b.data,
            b.indptr,
            self.m,
            need_grid=r.n_nonint > 0,
            lengths=L,
            rtol=rtol,
            exact=True,
            len_min_share=self.len_min_share,
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
                len_min_share=self.len_min_share,
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


def _scan_block(
    block: Any, start: int, stop: int, *, m: int, lengths: np.ndarray | None, share: float
) -> Scan:
    """One block's part of the scan: a block-sized :class:`Scan` (runs on Dask workers)."""
    part = Scan(block.shape[0], m, lengths, share)
    with np.errstate(all="ignore"):  # NaN/inf cells are counted and reported, not warned about
        for r0, r1 in row_slices(block):
            part.fill(r0, r1, block[r0:r1])
    part.lengths = None  # not needed by absorb; keep the part small
    return part


def scan_accumulator(
    view: MatrixView, lengths: np.ndarray | None, *, exact_lengths: bool = True
) -> tuple[tuple, Scan]:
    """The memo key and a fresh accumulator of the units scan of ``view`` (shared pass).
    ``exact_lengths=False``: the lengths come from another annotation than the data's."""
    digest = None if lengths is None else hashlib.sha1(lengths.tobytes()).hexdigest()
    share = _QUANT_MIN_FRACTION if exact_lengths else PARTIAL_MIN_SHARE
    return ("units.scan", digest, share), Scan(view.n_obs, view.n_vars, lengths, share)


def scan_matrix(
    view: MatrixView, lengths: np.ndarray | None, chunk_size: int, *, exact_lengths: bool = True
) -> Scan:
    key, acc = scan_accumulator(view, lengths, exact_lengths=exact_lengths)
    return accumulate(view, key, lambda: acc, chunk_size=chunk_size)

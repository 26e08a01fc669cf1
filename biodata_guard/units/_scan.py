"""The units scan: per-sample and per-feature statistics in one pass over row blocks.

Sums, integer grids, extremes and log-scale candidates of a matrix, one row block at a time, as an
accumulator of the audit's shared pass (:mod:`biodata_guard.stream`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from scipy.stats import poisson

from biodata_guard.io.matrix import MatrixView
from biodata_guard.stream import _kernel as K
from biodata_guard.stream import accumulate
from biodata_guard.stream._fused import BlockStats, Request

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


def _grid_stats(
    v: np.ndarray,
    rows: np.ndarray,
    n: int,
    minpos: np.ndarray,
    rtol: float,
    *,
    n_pos: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-row lattice of (non-negative) linear-scale values, from the first stored values of
    each row that needs it (``v``, with their ``rows``) and each row's smallest positive value
    (``minpos``, from the whole row). With ``n_pos`` (back-transformed values, whose
    integer-ness is not tested exactly elsewhere) also whether they are integers within float
    precision."""
    out = _grid_fields(n, False)
    keep = v > 0
    step, share = _lattice(v[keep], rows[keep], minpos[:, None], n, rtol)
    retry = (step == 0)[rows] & keep  # no count 1..6 in the sample: try the smallest gap
    if retry.any():
        gap = _smallest_gap(v[retry], rows[retry], n)[:, None]
        step2, share2 = _lattice(v[retry], rows[retry], gap, n, rtol, defining=2)
        step, share = np.where(step2 > 0, step2, step), np.where(step2 > 0, share2, share)
    # A lattice whose step is a power of ten is rounding (e.g. 2 decimals), not counts.
    with np.errstate(divide="ignore", invalid="ignore"):
        decade = np.log10(step)
    rounded = (step > 0) & (np.abs(decade - np.rint(decade)) <= 1e-6)
    out["grid"], out["grid_share"], out["rounded"] = (step > 0) & ~rounded, share, rounded
    if n_pos is not None:
        int_m, _ = _grid_multiple(
            v[keep],
            rows[keep],
            np.ones(n),
            n,
            rtol,
            max_multiple=1,
            min_tested=np.maximum(np.minimum(_MIN_TESTED, n_pos), 1),
        )
        out["int_ok"] = int_m == 1
    return out


def _length_lattice(
    w: np.ndarray,
    rows: np.ndarray,
    minpos: np.ndarray,
    n: int,
    rtol: float,
    min_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, whether value x gene length (``w``, the first stored products of each row
    tested, see :func:`_length_heads`) sits on a lattice of counts, and its share; ``minpos``
    is each row's smallest positive product."""
    exact = min_share >= _QUANT_MIN_FRACTION
    ok = w > 0
    quanta = minpos[:, None]
    if not exact:
        distinct = _smallest_distinct(w[ok], rows[ok], n, _N_QUANTA - 1)
        quanta = np.column_stack([minpos, distinct])
    step, share = _lattice(
        w[ok], rows[ok], quanta, n, rtol, min_share=min_share, defining=1 if exact else 2
    )
    return step > 0, share


def _length_heads(counts: np.ndarray, need: np.ndarray, min_share: float) -> np.ndarray:
    """Stored values per row tested for a length lattice: an exact lattice (the user's
    lengths) on 128 values per row; a partial one (the shipped lengths of another release) on
    more when the block has few rows (bulk samples: up to 4,096 genes each), within a budget
    of values per block that keeps wide single-cell blocks as cheap as before."""
    per_row = _QUANT_PER_ROW
    if min_share < _QUANT_MIN_FRACTION:
        per_row = int(np.clip(_PARTIAL_BUDGET // max(int(need.sum()), 1), 64, 4096))
    return np.where(need, np.minimum(counts, per_row), 0)


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
        request = Request(
            scan=True,
            lengths=self.lengths,
            log_max=LOG_MAX,
            neg_row_share=NEG_ROW_SHARE,
            at_min_values=_AT_MIN_VALUES,
        )
        return _scan_part, {"request": request, "share": self.len_min_share}

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


def _scan_part(stats: BlockStats, start: int, stop: int, *, share: float) -> Scan:
    """One block's part of the scan (a block-sized :class:`Scan`), from the shared pass's
    kernel statistics plus the lattice tests on the first values of the rows that need them."""
    nr, m, lengths = stats.n_rows, stats.n_features, stats.request.lengths
    part = Scan(nr, m, lengths, share)
    part.lengths = None  # not needed by absorb; keep the part small
    part.dtype = str(stats.dtype)
    rows = stats.rows
    for key, col in _ROW_COLUMNS.items():
        getattr(part, key)[:] = rows[:, col]
    part.cand[:] = rows[:, K.R_CAND] > 0
    for key, f in _FEATURE_ROWS.items():
        setattr(part, key, stats.feat[f])
    part.hist, part.n_hist_sampled = stats.hist, stats.n_hist_sampled
    rtol = _rtol(stats.dtype)
    with np.errstate(all="ignore"):  # NaN/inf cells are counted and reported, not warned about
        _raw_grids(part, stats, lengths, rtol)
        if part.cand.any():
            _log_grids(part, stats, lengths, max(rtol, 2e-5))
    return part


#: Scan fields filled straight from the kernel's per-row columns.
_ROW_COLUMNS = {
    "S": K.R_S, "sumsq": K.R_SUMSQ, "nnz": K.R_NNZ, "n_neg": K.R_NEG, "n_nan": K.R_NAN,
    "n_inf": K.R_INF, "n_nonint": K.R_NONINT, "n_at_min": K.R_AT_MIN, "mn": K.R_MIN,
    "mx": K.R_MAX,
}  # fmt: skip
_FEATURE_ROWS = {
    "f_sum": K.F_SUM, "f_sumsq": K.F_SUMSQ, "f_nnz": K.F_NNZ, "f_nonint": K.F_NONINT,
    "f_neg": K.F_NEG, "f_large": K.F_LARGE, "f_nonfinite": K.F_NONFINITE,
}  # fmt: skip


def _heads(stats: BlockStats, take: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``take[i]`` stored values of each row (NaN/inf as 0), their rows and their
    features."""
    csr = stats.csr()
    idx, rows = _head_positions(np.asarray(csr.indptr, dtype=np.int64), take)
    v = np.asarray(csr.data[idx], dtype=np.float64)
    v[~np.isfinite(v)] = 0.0
    return v, rows, np.asarray(csr.indices[idx])


def _products(y: np.ndarray, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """value x gene length where the value is positive and the length known, else 0."""
    L = lengths[features]
    return np.where((y > 0) & np.isfinite(L), y * np.nan_to_num(L), 0.0)


def _raw_grids(part: Scan, stats: BlockStats, lengths: np.ndarray | None, rtol: float) -> None:
    """Lattices of the raw values (non-integer samples) and of value x gene length."""
    nr, rows = stats.n_rows, stats.rows
    counts = np.asarray(stats.csr().indptr, dtype=np.int64)
    counts = np.diff(counts)
    need = part.n_nonint > 0
    if lengths is not None:
        part.raw["SL"] = rows[:, K.R_SL].copy()
    if not need.any():
        return
    v, vrows, _ = _heads(stats, np.where(need, np.minimum(counts, _QUANT_PER_ROW), 0))
    grid = _grid_stats(v, vrows, nr, rows[:, K.R_MINPOS], rtol)
    for key in ("grid", "grid_share", "rounded"):
        part.raw[key] = grid[key]
    if lengths is not None:
        # value x length is tested where the values themselves are on no lattice (a lattice
        # of the values implies one of value x integer length)
        need_len = need & ~grid["grid"]
        w, wrows, feats = _heads(stats, _length_heads(counts, need_len, part.len_min_share))
        part.raw["len_grid"], part.raw["len_share"] = _length_lattice(
            _products(w, feats, lengths), wrows, rows[:, K.R_MINPOS_L], nr, rtol,
            part.len_min_share,
        )  # fmt: skip


def _log_grids(part: Scan, stats: BlockStats, lengths: np.ndarray | None, rtol: float) -> None:
    """Linear-scale statistics after undoing a log (base e, 2, 10) on the log candidates:
    the kernel's sums, and the lattices of the back-transformed first values."""
    nr, rows, cand = stats.n_rows, stats.rows, part.cand
    counts = np.diff(np.asarray(stats.csr().indptr, dtype=np.int64))
    v, vrows, _ = _heads(stats, np.where(cand, np.minimum(counts, _QUANT_PER_ROW), 0))
    for b, base_name in enumerate(LOG_BASES):
        col = K.R_LOG + b * K.LOG_FIELDS
        off = rows[:, col + K.LOG_OFF]
        n_pos = rows[:, col + K.LOG_POS]
        grid = _grid_stats(
            np.power(BASE_VALUE[base_name], v) - off[vrows],
            vrows,
            nr,
            rows[:, col + K.LOG_MINPOS],
            rtol,
            n_pos=n_pos,
        )
        target = part.log[base_name]
        target["S"][cand] = rows[cand, col + K.LOG_S]
        target["n_pos"][cand] = n_pos[cand]
        target["offset"][cand] = off[cand]
        for key, values in grid.items():
            target[key][cand] = values[cand]
        if lengths is None:
            continue
        target["SL"][cand] = rows[cand, col + K.LOG_SL]
        need_len = cand & ~grid["grid"]
        w, wrows, feats = _heads(stats, _length_heads(counts, need_len, part.len_min_share))
        y = np.power(BASE_VALUE[base_name], w) - off[wrows]
        len_grid, len_share = _length_lattice(
            _products(y, feats, lengths), wrows, rows[:, col + K.LOG_MINPOS_L], nr, rtol,
            part.len_min_share,
        )  # fmt: skip
        target["len_grid"][cand], target["len_share"][cand] = len_grid[cand], len_share[cand]


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

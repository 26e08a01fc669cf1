"""The shared pass's compiled kernel: every per-row and per-feature statistic of a row slice in
one loop over its stored values (numba; no per-statistic numpy pass, no block-sized float64
temporary).

One call covers rows ``r0:r1`` of a CSR block (``data``, ``indices``, ``indptr``) or of a dense
block given as its flattened rows (``dense=True``: row ``i`` is ``data[i*m:(i+1)*m]``, and zeros
count as not stored, as in the CSR form of the same rows). What it computes is switched by its
arguments: the units scan (``want_scan``), the row hashes (``want_hash``), the per-split feature
moments (``n_splits > 0``) and the near-duplicate projection (``comp`` with columns). Per-row
results go to ``rows`` (columns named by the ``R_*`` constants), ``hashes`` and ``emb``, at the
block's row positions (slices never overlap); per-feature sums go to the slice's own partial
arrays (feature-major: one value touches one cache line), which the caller adds up in a fixed
order (so every sum has one order on any machine).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Per-row columns of ``rows``.
R_S, R_SUMSQ, R_NNZ, R_NEG, R_NAN, R_INF, R_NONINT = 0, 1, 2, 3, 4, 5, 6
R_MIN, R_MAX, R_AT_MIN, R_SL, R_POS, R_STORED, R_CAND = 7, 8, 9, 10, 11, 12, 13
R_MINPOS, R_MINPOS_L = 14, 15
#: Per log base b (e, 2, 10): back-transformed sum, positives, sum x length, offset, and the
#: smallest positive back-transformed value and value x length.
R_LOG, LOG_FIELDS = 16, 6
LOG_S, LOG_POS, LOG_SL, LOG_OFF, LOG_MINPOS, LOG_MINPOS_L = 0, 1, 2, 3, 4, 5
R_M_SUM = R_LOG + 3 * LOG_FIELDS  # split moments: raw row sum, sum of squares, min, max
R_M_SUMSQ, R_M_MIN, R_M_MAX, R_HASH_NNZ = R_M_SUM + 1, R_M_SUM + 2, R_M_SUM + 3, R_M_SUM + 4
N_ROW_FIELDS = R_M_SUM + 5

# Per-feature rows of ``feat``.
F_SUM, F_SUMSQ, F_NNZ, F_NONINT, F_NEG, F_LARGE, F_NONFINITE = 0, 1, 2, 3, 4, 5, 6
N_FEAT_FIELDS = 7

# Per-(split, feature) planes of ``split``.
S_TOTAL, S_TOTAL_SQ, S_LOW, S_HIGH, S_STORED = 0, 1, 2, 3, 4
N_SPLIT_FIELDS = 5

LOG_BASE_VALUES = np.array([math.e, 2.0, 10.0])

#: Whole values below this are log-transformed once per row by the projection.
_SMALL = 64


def _compiled(fn):  # type: ignore[no-untyped-def]
    """``numba.njit`` without the GIL, cached on disk (next to this module, else in the user's
    cache); where neither is writable (a read-only install and home, as in some pipeline
    containers) compiled anew in each process rather than failing on import."""
    try:
        return njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_CANONICAL_NAN = np.uint64(0x7FF8000000000000)


@_compiled
def _mix(z):  # pragma: no cover - compiled
    """splitmix64 finaliser (wrapping uint64 arithmetic), as ``stream._fused._mix``."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


@_compiled
def fused_rows(
    data,
    indices,
    indptr,
    dense,
    m,
    r0,
    r1,
    want_scan,
    lengths,
    log_max,
    neg_row_share,
    at_min_values,
    hist_stride,
    want_hash,
    key1,
    key2,
    codes,
    n_splits,
    comp,
    log_scale,
    target,
    rows,
    hashes,
    feat,
    split,
    split_nonint,
    hist,
    emb,
):  # pragma: no cover - compiled
    """Rows ``r0:r1``: each row's values are read from memory once and every statistic asked
    for is computed from them while they are in cache (one function per concern)."""
    bits = np.empty(1, dtype=np.float64)
    row_emb = np.zeros(comp.shape[1], dtype=np.float32)
    memo = np.empty(_SMALL, dtype=np.float32)
    seen = np.zeros(1, dtype=np.int64)  # values visited: the histogram's subsample
    for i in range(r0, r1):
        a, b = (i * m, (i + 1) * m) if dense else (indptr[i], indptr[i + 1])
        if want_hash:
            _hash_row(data, indices, a, b, dense, key1, key2, bits, hashes, rows, i)
        if n_splits > 0:
            _moments_row(data, indices, a, b, dense, m, codes[i], split, split_nonint, rows, i)
        if comp.shape[1] > 0:
            _project_row(data, indices, a, b, dense, comp, log_scale, target, row_emb, memo)
            emb[i, :] = row_emb
        if want_scan:
            _scan_row(data, indices, a, b, dense, m, lengths, log_max, rows, feat, i)
            _scan_tail(data, a, b, dense, log_max, hist_stride, hist, seen, rows, i)
            _scan_log(
                data, indices, a, b, dense, m, lengths, neg_row_share, at_min_values, log_max,
                rows, i,
            )  # fmt: skip


@_compiled
def _hash_row(data, indices, a, b, dense, key1, key2, bits, hashes, rows, i):  # pragma: no cover
    """Order-independent 128-bit hash of the row (two wrapping sums of entry hashes) and its
    non-zero count; values compared as float64, -0.0 as 0.0, every NaN alike."""
    ubits = bits.view(np.uint64)
    h1 = np.uint64(0)
    h2 = np.uint64(0)
    n = 0.0
    for k in range(a, b):
        x = np.float64(data[k])
        if x == 0.0:
            continue
        j = (k - a) if dense else indices[k]
        bits[0] = x + 0.0
        u = _CANONICAL_NAN if x != x else ubits[0]
        h1 += _mix(u ^ key1[j])
        h2 += _mix(u ^ key2[j])
        n += 1.0
    hashes[i, 0] = h1
    hashes[i, 1] = h2
    rows[i, R_HASH_NNZ] = n


@_compiled
def _moments_row(
    data, indices, a, b, dense, m, code, split, split_nonint, rows, i
):  # pragma: no cover - compiled
    """The row's raw sum, sum of squares, min and max (NaN propagates, as numpy's do), and
    its values added to its split's per-feature sums, squares, extremes and stored counts."""
    s = 0.0
    sq = 0.0
    lo = np.inf
    hi = -np.inf
    nan = False
    stored = 0
    for k in range(a, b):
        x = np.float64(data[k])
        if dense and x == 0.0:
            continue
        stored += 1
        s += x
        sq += x * x
        if x != x:
            nan = True
        else:
            lo = min(lo, x)
            hi = max(hi, x)
        if code >= 0:
            j = (k - a) if dense else indices[k]
            split[code, j, S_TOTAL] += x
            split[code, j, S_TOTAL_SQ] += x * x
            split[code, j, S_STORED] += 1.0
            if x < split[code, j, S_LOW] or x != x:
                split[code, j, S_LOW] = x
            if x > split[code, j, S_HIGH] or x != x:
                split[code, j, S_HIGH] = x
            if x != np.rint(x):
                split_nonint[j] += 1.0
    rows[i, R_M_SUM] = s
    rows[i, R_M_SUMSQ] = sq
    if m == 0 or nan:
        rows[i, R_M_MIN] = np.nan
        rows[i, R_M_MAX] = np.nan
    else:
        rows[i, R_M_MIN] = min(lo, 0.0) if stored < m else lo
        rows[i, R_M_MAX] = max(hi, 0.0) if stored < m else hi


@_compiled
def _scan_row(data, indices, a, b, dense, m, lengths, log_max, rows, feat, i):  # pragma: no cover
    """The units scan's per-row and per-feature statistics; NaN/inf are counted, then taken
    as 0; a dense row's zeros are not stored (as in its CSR form)."""
    has_len = lengths.shape[0] > 0
    s = sumsq = nnz = n_neg = n_nan = n_inf = n_nonint = sl = n_pos = 0.0
    mn = minpos = minpos_l = np.inf
    mx = -np.inf
    stored = 0
    for k in range(a, b):
        x = np.float64(data[k])
        if dense and x == 0.0:
            continue
        j = (k - a) if dense else indices[k]
        stored += 1
        if not math.isfinite(x):
            if x != x:
                n_nan += 1.0
            else:
                n_inf += 1.0
            feat[j, F_NONFINITE] += 1.0
            x = 0.0
        s += x
        sumsq += x * x
        feat[j, F_SUM] += x
        feat[j, F_SUMSQ] += x * x
        if x != 0.0:
            nnz += 1.0
            feat[j, F_NNZ] += 1.0
        if x < 0.0:
            n_neg += 1.0
            feat[j, F_NEG] += 1.0
        if x != np.rint(x):
            n_nonint += 1.0
            feat[j, F_NONINT] += 1.0
        if abs(x) > log_max:
            feat[j, F_LARGE] += 1.0
        mn = min(mn, x)
        mx = max(mx, x)
        if x > 0.0:
            n_pos += 1.0
            minpos = min(minpos, x)
            if has_len and math.isfinite(lengths[j]):
                vl = x * lengths[j]
                sl += vl
                if vl > 0.0:
                    minpos_l = min(minpos_l, vl)
    if stored < m:  # implicit zeros
        mx = max(mx, 0.0)
        mn = min(mn, 0.0)
    rows[i, R_S] = s
    rows[i, R_SUMSQ] = sumsq
    rows[i, R_NNZ] = nnz
    rows[i, R_NEG] = n_neg
    rows[i, R_NAN] = n_nan
    rows[i, R_INF] = n_inf
    rows[i, R_NONINT] = n_nonint
    rows[i, R_MIN] = mn
    rows[i, R_MAX] = mx
    rows[i, R_SL] = sl
    rows[i, R_POS] = n_pos
    rows[i, R_STORED] = stored
    rows[i, R_MINPOS] = minpos
    rows[i, R_MINPOS_L] = minpos_l


@_compiled
def _scan_tail(data, a, b, dense, log_max, hist_stride, hist, seen, rows, i):  # pragma: no cover
    """Tied minima of a row with negatives, and the row's share of the value histogram (every
    ``hist_stride``-th stored value of the slice, asinh bins of 0.5 on [-16, 16])."""
    mn = rows[i, R_MIN]
    n_at_min = 0.0
    wait = (-seen[0]) % hist_stride  # values until the next sampled one
    if not dense and mn >= 0.0:  # only the histogram to do: visit its sample alone
        for k in range(a + wait, b, hist_stride):
            _hist_add(np.float64(data[k]), hist)
        seen[0] += b - a
        rows[i, R_AT_MIN] = 0.0
        return
    for k in range(a, b):
        x = np.float64(data[k])
        if dense and x == 0.0:
            continue
        if mn < 0.0 and math.isfinite(x) and x == mn:
            n_at_min += 1.0
        if wait == 0:
            _hist_add(x, hist)
            wait = hist_stride
        wait -= 1
        seen[0] += 1
    rows[i, R_AT_MIN] = n_at_min


@_compiled
def _hist_add(x, hist):  # pragma: no cover - compiled
    """One sampled value into the asinh histogram (zeros and NaN/inf are not counted)."""
    if math.isfinite(x) and x != 0.0:
        t = min(max(math.asinh(x), -15.99), 15.99)
        hist[math.floor((t + 16.0) / 0.5)] += 1


@_compiled
def _scan_log(
    data, indices, a, b, dense, m, lengths, neg_row_share, at_min_values, log_max, rows, i
):  # pragma: no cover - compiled
    """Whether the row may be log-scale (non-integer, small, non-negative or log(x + p) with
    p < 1), and if so its linear-scale sums for each base."""
    mn, nnz = rows[i, R_MIN], rows[i, R_NNZ]
    at_min_ok = mn < 0.0 and rows[i, R_AT_MIN] >= at_min_values
    neg_share = rows[i, R_NEG] / max(nnz, 1.0)
    cand = rows[i, R_NONINT] > 0 and rows[i, R_MAX] <= log_max
    cand = cand and (neg_share < neg_row_share or at_min_ok)
    rows[i, R_CAND] = 1.0 if cand else 0.0
    if cand:
        _log_sums(data, indices, a, b, dense, m, mn, at_min_ok, lengths, int(rows[i, R_STORED]),
                  rows, i)  # fmt: skip


@_compiled
def _project_row(data, indices, a, b, dense, comp, log_scale, target, out, memo):
    """One row on the embedding basis, in float32: scaled to ``target`` per row and
    log1p-transformed when ``log_scale`` (the row total is summed in float32 for CSR rows and
    in float64 for dense ones, as scipy and numpy sum them)."""
    for c in range(out.shape[0]):
        out[c] = np.float32(0.0)
    scale = np.float32(1.0)
    if log_scale:
        total32 = np.float32(0.0)
        total64 = 0.0
        for k in range(a, b):
            total32 += np.float32(data[k])
            total64 += np.float64(np.float32(data[k]))
        total = total64 if dense else np.float64(total32)
        scale = np.float32(target / total) if total > 0 else np.float32(0.0)
    # counts repeat within a row (most stored values are 1..5): each small whole value is
    # transformed once per row (the same float32 result as transforming it every time)
    for c in range(_SMALL):
        memo[c] = -1.0
    for k in range(a, b):
        v = np.float32(data[k])
        if dense and v == 0:
            continue
        j = (k - a) if dense else indices[k]
        if log_scale:
            w = int(v) if 0 <= v < _SMALL else -1
            if w >= 0 and np.float32(w) == v:
                if memo[w] < 0:
                    memo[w] = np.float32(math.log1p(np.float32(v * scale)))
                v = memo[w]
            else:
                v = np.float32(math.log1p(np.float32(v * scale)))
        if v != 0:  # NaN too: it spreads to the whole row, which is then left out
            for c in range(out.shape[0]):
                out[c] += v * comp[j, c]


@_compiled
def _log_sums(
    data, indices, a, b, dense, m, mn, at_min_ok, lengths, stored, rows, i
):  # pragma: no cover - compiled
    """Linear-scale sums of a log-scale candidate row for each base (e, 2, 10): y = base**x -
    offset over its stored values, plus (1 - offset) for each implicit zero."""
    has_len = lengths.shape[0] > 0
    for bi in range(3):
        base = LOG_BASE_VALUES[bi]
        off = base**mn if at_min_ok else 1.0
        s = 0.0
        n_pos = 0.0
        sl = 0.0
        minpos = np.inf
        minpos_l = np.inf
        for k in range(a, b):
            x = np.float64(data[k])
            if dense and x == 0.0:
                continue
            if not math.isfinite(x):
                x = 0.0
            y = base**x - off
            s += y
            if y > 0.0:
                n_pos += 1.0
                if y < minpos:
                    minpos = y
                if has_len:
                    ln = lengths[(k - a) if dense else indices[k]]
                    if math.isfinite(ln):
                        vl = y * ln
                        sl += vl
                        if vl > 0.0 and vl < minpos_l:
                            minpos_l = vl
        col = R_LOG + bi * LOG_FIELDS
        rows[i, col + LOG_S] = s + (m - stored) * (1.0 - off)
        rows[i, col + LOG_POS] = n_pos
        rows[i, col + LOG_SL] = sl
        rows[i, col + LOG_OFF] = off
        rows[i, col + LOG_MINPOS] = minpos
        rows[i, col + LOG_MINPOS_L] = minpos_l

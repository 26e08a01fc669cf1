"""The shared pass's compiled kernel against plain numpy on the same rows: CSR and dense, NaN,
inf, negatives, explicit zeros; the same numbers whatever the threads; merged requests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from biodata_guard.stream import _kernel as K
from biodata_guard.stream import prefetch, run_tasks
from biodata_guard.stream._fused import PARTS, Request, block_stats, hash_keys, merge


def _block(seed: int = 0, n: int = 300, m: int = 40) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=0.2, format="csr", random_state=seed, dtype=np.float64)
    X.data = np.round(X.data * 20)  # counts, some of them explicit zeros
    X.data[:30] = np.log1p(X.data[:30]) + 0.25  # non-integer rows at the top
    X.data[40] = np.nan
    X.data[60] = -np.inf
    X.data[80:86] = -0.5
    X.data[rng.integers(0, X.nnz, 5)] = 1e6  # beyond any log scale
    return X.astype(np.float32)


def _dense_reference(X: sp.csr_matrix) -> dict[str, np.ndarray]:
    D = X.toarray().astype(np.float64)
    finite = np.where(np.isfinite(D), D, 0.0)
    return {
        "S": finite.sum(axis=1),
        "nnz": (finite != 0).sum(axis=1),
        "n_nan": np.isnan(D).sum(axis=1),
        "n_inf": np.isinf(D).sum(axis=1),
        "n_neg": (finite < 0).sum(axis=1),
        "n_nonint": (finite != np.rint(finite)).sum(axis=1),
        "mn": finite.min(axis=1),
        "mx": finite.max(axis=1),
        "f_sum": finite.sum(axis=0),
        "f_nonfinite": (~np.isfinite(D)).sum(axis=0),
    }


@pytest.mark.parametrize("dense", [False, True])
def test_the_kernel_gives_numpy_s_scan_statistics(dense):
    X = _block()
    ref = _dense_reference(X)
    st = block_stats(X.toarray() if dense else X, 0, Request(scan=True))
    for key, col in [("S", K.R_S), ("nnz", K.R_NNZ), ("n_nan", K.R_NAN), ("n_inf", K.R_INF),
                     ("n_neg", K.R_NEG), ("n_nonint", K.R_NONINT), ("mn", K.R_MIN),
                     ("mx", K.R_MAX)]:  # fmt: skip
        np.testing.assert_allclose(st.rows[:, col], ref[key], rtol=1e-12, err_msg=key)
    np.testing.assert_allclose(st.feat[K.F_SUM], ref["f_sum"], rtol=1e-12)
    np.testing.assert_array_equal(st.feat[K.F_NONFINITE], ref["f_nonfinite"])
    # values tied at a negative row minimum (NaN/inf taken as 0): evidence of log(x + p)
    D = X.toarray()
    D[~np.isfinite(D)] = 0
    at_min = [(row[row == row.min()].size if row.min() < 0 else 0) for row in D]
    np.testing.assert_array_equal(st.rows[:, K.R_AT_MIN], at_min)
    assert st.n_hist_sampled == int(np.count_nonzero(np.isfinite(X.data) & (X.data != 0)))


def test_the_row_hashes_ignore_storage_and_tell_rows_apart():
    X = _block(seed=3)
    rows = sp.vstack([X[5], X[5].astype(np.float64), X[6]]).tocsr()
    rows_with_zero = rows.copy()
    rows_with_zero.data[rows_with_zero.indptr[1]] = 0.0  # one stored value becomes a zero
    st = block_stats(rows, 0, Request(hashes=True))
    assert (st.hashes[0] == st.hashes[1]).all() and (st.hashes[0] != st.hashes[2]).any()
    dense = block_stats(rows.toarray(), 0, Request(hashes=True))
    np.testing.assert_array_equal(dense.hashes, st.hashes)  # dense = CSR of the same numbers
    z = block_stats(rows_with_zero, 0, Request(hashes=True))
    assert (z.hashes[1] != st.hashes[1]).any()
    assert z.rows[1, K.R_HASH_NNZ] == st.rows[1, K.R_HASH_NNZ] - 1
    k1, k2 = hash_keys(X.shape[1])
    assert k1.dtype == np.uint64 and len(set(k1.tolist()) | set(k2.tolist())) == 2 * X.shape[1]


def test_the_split_moments_match_numpy_per_split():
    X = _block(seed=5)
    codes = np.random.default_rng(5).integers(-1, 3, X.shape[0])
    st = block_stats(X, 0, Request(codes=codes, n_splits=3))
    D = X.toarray().astype(np.float64)
    for c in range(3):
        sub = D[codes == c]
        np.testing.assert_allclose(st.split[K.S_TOTAL][c], sub.sum(axis=0), rtol=1e-12)
        stored = (X[codes == c] != 0).sum(axis=0).A1 + np.isnan(sub).sum(axis=0)
        assert (st.split[K.S_STORED][c] >= stored).all()  # explicit zeros are stored too
    np.testing.assert_allclose(st.rows[:, K.R_M_SUM], D.sum(axis=1), rtol=1e-12)
    nan_rows = np.isnan(D).any(axis=1)
    assert np.isnan(st.rows[nan_rows, K.R_M_MIN]).all()
    np.testing.assert_allclose(st.rows[~nan_rows, K.R_M_MAX], D[~nan_rows].max(axis=1))


def test_the_projection_is_the_scaled_log1p_rows_times_the_basis():
    X = _block(seed=7)
    X.data = np.abs(np.nan_to_num(X.data, posinf=3.0, neginf=3.0))
    comp = np.random.default_rng(7).normal(size=(X.shape[1], 4)).astype(np.float32)
    st = block_stats(X, 0, Request(components=comp, log_scale=True, target_sum=100.0))
    D = X.toarray().astype(np.float32)
    totals = D.sum(axis=1, dtype=np.float64)
    scaled = D * (100.0 / np.where(totals > 0, totals, np.inf))[:, None].astype(np.float32)
    np.testing.assert_allclose(st.emb, np.log1p(scaled) @ comp, rtol=2e-4, atol=2e-4)


def test_the_numbers_do_not_depend_on_the_threads():
    X = _block(seed=9, n=2_000)
    codes = np.arange(X.shape[0]) % 2
    req = Request(scan=True, hashes=True, codes=codes, n_splits=2)
    one, two = block_stats(X, 0, req, workers=1), block_stats(X, 0, req, workers=PARTS)
    for a, b in [(one.rows, two.rows), (one.feat, two.feat), (one.split, two.split),
                 (one.hashes, two.hashes), (one.hist, two.hist)]:  # fmt: skip
        np.testing.assert_array_equal(a, b)


def test_requests_merge_into_one_kernel_run_unless_they_differ():
    a = np.array([0, 1, 0])
    runs, which = merge([Request(scan=True), Request(hashes=True), Request(codes=a, n_splits=2)])
    assert len(runs) == 1 and which == [0, 0, 0]
    assert runs[0].scan and runs[0].hashes and runs[0].n_splits == 2
    runs, which = merge([Request(codes=a, n_splits=2), Request(codes=1 - a, n_splits=2)])
    assert len(runs) == 2 and which == [0, 1]


def _sum_part(stats, start, stop):
    return stats.rows[:, K.R_S].sum()


def _plain_part(block, start, stop, *, scale):
    return block.sum() * scale


def test_run_tasks_gives_kernel_tasks_the_statistics_and_others_the_block():
    X = sp.csr_matrix(np.arange(12, dtype=np.float32).reshape(3, 4))
    tasks = [(_sum_part, {"request": Request(scan=True)}), (_plain_part, {"scale": 2.0})]
    assert run_tasks(X, 0, 3, tasks) == [66.0, 132.0]


def test_prefetch_keeps_order_and_raises_where_the_reader_failed():
    assert list(prefetch(iter(range(5)))) == [0, 1, 2, 3, 4]

    def broken():
        yield 1
        raise OSError("truncated block")

    got = []
    with pytest.raises(OSError, match="truncated block"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_the_kernel_still_runs_where_no_cache_can_be_written():
    # A read-only install and home (pipeline containers): numba finds no cache location and
    # refuses cache=True at import; the kernel then compiles in the process instead.
    import subprocess
    import sys

    code = (
        "import numba.core.caching as c\n"
        "(getattr(c, 'CacheImpl', None) or c._CacheImpl)._locator_classes = []\n"
        "import numpy as np, scipy.sparse as sp\n"
        "from biodata_guard.stream._fused import Request, block_stats\n"
        "st = block_stats(sp.csr_matrix(np.eye(3, dtype=np.float32)), 0, Request(scan=True))\n"
        "print(st.rows[:, 0].tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, 1.0, 1.0]"


def test_the_log_back_transform_sums_follow_the_units_bases_in_order():
    # The kernel's log columns are base e, 2, 10 in that order: the units scan reads them by
    # LOG_BASES, so the two orders must agree, and the sums must be numpy's.
    from biodata_guard.units._scan import BASE_VALUE, LOG_BASES

    assert [BASE_VALUE[b] for b in LOG_BASES] == K.LOG_BASE_VALUES.tolist()
    rng = np.random.default_rng(12)
    D = np.log1p(rng.poisson(3.0, (40, 30))).astype(np.float64)  # log(1 + counts): candidates
    st = block_stats(sp.csr_matrix(D), 0, Request(scan=True))
    assert (st.rows[:, K.R_CAND] == 1).all()
    for b, base in enumerate(K.LOG_BASE_VALUES):
        col = K.R_LOG + b * K.LOG_FIELDS
        y = np.power(base, D) - 1.0  # offset 1: no negatives, zeros map to 0
        np.testing.assert_allclose(st.rows[:, col + K.LOG_S], y.sum(axis=1), rtol=1e-12)
        np.testing.assert_array_equal(st.rows[:, col + K.LOG_POS], (y > 0).sum(axis=1))
        np.testing.assert_array_equal(st.rows[:, col + K.LOG_OFF], 1.0)

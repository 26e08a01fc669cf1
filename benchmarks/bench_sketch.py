"""Near-duplicate embedding: the SVD basis against cheaper sketches, on the planted cases.

    python benchmarks/bench_sketch.py

Issue 23 asked to choose the near-duplicate sketch for cost as well as quality. The shipped
embedding is a 32-d TruncatedSVD basis fitted on a row sample, every row projected in the
shared pass's kernel (stored values x 32 multiply-adds). Two cheaper families are compared on
the test suite's planted cases (the same generators), with the same excess test on top:

- a count sketch of the genes into D buckets (random signs) then PCA to 32 dimensions (as a
  basis, D x 32 dense per row after stored values x 1);
- a sparse sign projection straight to 32 dimensions (stored values x 1).

The last row keeps the SVD basis and forces the approximate search (the faiss inverted-file
index, 8 cells probed, the calibration searched with the same index) that large splits use.

Printed: near duplicates reported / planted per case (and the clean controls, where any
report is a false alarm). At the time of writing every sketch missed one of the 20 re-uploaded
cells that the SVD basis finds (random projections keep the genes' noise, which the SVD basis
leaves out), so the SVD basis stays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_leakage as T  # noqa: E402  (the suite's planted-case generators)

from biodata_guard.io.matrix import as_matrix  # noqa: E402
from biodata_guard.leakage import _embedding as E  # noqa: E402
from biodata_guard.leakage import check_near_duplicates  # noqa: E402

_SVD = E.fit_embedding


def _sketch(kind: str, width: int):
    """A ``fit_embedding`` whose basis is a sketch (same prep, centre left at 0)."""

    def fit(view, *, n_components, max_fit_rows, seed):
        acc = _SVD(view, n_components=n_components, max_fit_rows=max_fit_rows, seed=seed)
        if acc is None:
            return None
        m, rng = view.n_vars, np.random.default_rng(seed + 99)
        signs, bucket = rng.choice([-1.0, 1.0], m), rng.integers(0, width, m)
        S = np.zeros((m, width), np.float32)
        S[np.arange(m), bucket] = signs
        if kind == "count sketch -> PCA":
            rows = view.rows(slice(0, min(view.n_obs, max_fit_rows)))
            prep = {k: acc.prep[k] for k in ("log_scale", "target_sum")}
            Z = np.asarray(E._prepare(rows, **prep) @ S)
            _, _, Vt = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
            S = S @ Vt[:n_components].T
        acc.components = np.ascontiguousarray(S, dtype=np.float32)
        acc.center = np.zeros(acc.components.shape[1], np.float32)
        acc.emb = np.empty((view.n_obs, acc.components.shape[1]), np.float32)
        return acc

    return fit


def _cases():
    meta = T.cohort(200, seed=0)
    bulk = T._expression(meta, seed=1)
    for k in (6, 40):
        df, X, _ = T._with_replicates(meta, bulk, k)
        view = as_matrix(pd.DataFrame(X, index=df["sample_id"]), name="bulk")
        yield f"bulk, {k} re-sequenced", view, df["split"].to_numpy(), k
    adata = T._single_cell(seed=3)
    split = np.where(np.random.default_rng(0).random(adata.n_obs) < 0.2, "test", "train")
    X = adata.X.toarray()
    train, test = np.flatnonzero(split == "train")[:20], np.flatnonzero(split == "test")[:20]
    X[test] = X[train] + np.random.default_rng(1).poisson(0.05, (20, X.shape[1]))
    yield "cells, 20 re-uploaded", sp.csr_matrix(X), split, 20
    for seed in range(5):
        rng = np.random.default_rng(seed)
        clean = np.where(rng.random(adata.n_obs) < 0.2, "test", "train")
        yield f"clean cells {seed}", adata, clean, 0


def main() -> int:
    variants = [
        ("SVD basis (shipped)", _SVD),
        ("count sketch 128 -> PCA 32", _sketch("count sketch -> PCA", 128)),
        ("count sketch 512 -> PCA 32", _sketch("count sketch -> PCA", 512)),
        ("sparse sign projection 32", _sketch("sign projection", 32)),
    ]
    cases = list(_cases())
    print("| embedding | " + " | ".join(c[0] for c in cases) + " |")
    print("|---" * (len(cases) + 1) + "|")
    exact_pairs = E._EXACT_PAIRS
    variants.append(("SVD basis, searched by the index", _SVD))
    for label, fit in variants:
        E.fit_embedding = fit
        # the last row: the faiss index the search switches to past 2.5e8 pairs, forced here
        E._EXACT_PAIRS = 0 if label.endswith("index") else exact_pairs
        cells = []
        for _, X, split, planted in cases:
            found = check_near_duplicates(X, split, seed=0)
            n = found[0].evidence["n_near_duplicates"] if found else 0
            cells.append(f"{n}/{planted}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    E.fit_embedding, E._EXACT_PAIRS = _SVD, exact_pairs
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

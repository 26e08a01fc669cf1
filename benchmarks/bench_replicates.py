"""Benchmark: replicate-profile agreement and sex inference on a backed sparse h5ad.

Run ``python benchmarks/bench_replicates.py`` (100k cells x 10k genes, ~5% density, 50k
replicate pairs; the matrix is written once to benchmarks/_data/, git-ignored) or ``--quick``
(20k x 5k, for CI). Also times the continuous-target ceiling with its group bootstrap on
1M samples. Prints wall time and peak traced memory; memory must stay bounded by the chunk
size, not by the matrix.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard import alignment, replicates

DATA = Path(__file__).resolve().parent / "_data"


def generate(path: Path, n_pairs: int, n_genes: int, density: float, seed: int = 0) -> None:
    """Pairs of sparse count profiles (the second a thinned copy of the first) plus XIST and
    chrY genes, written as an h5ad."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    blocks = []
    for start in range(0, n_pairs, 5000):
        n = min(5000, n_pairs - start)
        base = sp.random(n, n_genes, density=density, format="csr", random_state=rng)
        base.data = rng.poisson(3.0, base.nnz).astype(np.float32) + 1
        twin = base.copy()
        twin.data = rng.binomial(twin.data.astype(np.int64), 0.7).astype(np.float32)
        pair = sp.vstack([base, twin]).tocsr()
        order = np.argsort(np.r_[np.arange(n) * 2, np.arange(n) * 2 + 1])
        pair = pair[order]
        male = np.repeat(rng.random(n) < 0.5, 2)
        sex_cols = np.column_stack(
            [rng.poisson(np.where(male, 0.2, 20.0))]
            + [rng.poisson(np.where(male, 8.0, 0.05)) for _ in alignment.Y_GENES]
        ).astype(np.float32)
        blocks.append(sp.hstack([pair, sp.csr_matrix(sex_cols)]).tocsr())
    X = sp.vstack(blocks).tocsr()
    genes = [f"ENSG9{j:010d}" for j in range(n_genes)] + list(alignment.SEX_GENES.values())
    obs = pd.DataFrame(
        {"rep": np.repeat([f"p{i}" for i in range(n_pairs)], 2)},
        index=[f"c{i}" for i in range(2 * n_pairs)],
    )
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))
    adata.write_h5ad(path)


def timed(label: str, fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{label:<48} {seconds:7.2f} s   peak traced {peak:8.1f} MiB")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    import anndata as ad

    n_pairs, n_genes = (10_000, 5_000) if args.quick else (50_000, 10_000)
    DATA.mkdir(exist_ok=True)
    path = DATA / f"replicates_{n_pairs}x{n_genes}.h5ad"
    if not path.exists():
        timed(f"write {path.name}", lambda: generate(path, n_pairs, n_genes, 0.05))
    adata = ad.read_h5ad(path, backed="r")
    groups = adata.obs["rep"]
    for chunk in (2_000, 10_000):
        res = timed(
            f"profile agreement, backed, chunk {chunk}",
            lambda chunk=chunk: replicates.replicate_ceiling(
                adata, groups, n_bootstrap=200, chunk_size=chunk
            ),
        )
    print(f"  profile r = {res.estimates['profile_r']:.3f}, groups = {res.n_groups}")
    sex = timed("infer_sex, backed (6 columns kept)", lambda: alignment.infer_sex(adata))
    print(f"  status = {sex.status}, separation = {sex.separation:.1f}")
    rng = np.random.default_rng(0)
    n = 500_000
    y = np.repeat(rng.normal(0, 1, n), 2) + rng.normal(0, 1, 2 * n)
    g = np.repeat(np.arange(n), 2)
    res = timed(
        "continuous ceiling, 1M samples, bootstrap",
        lambda: replicates.replicate_ceiling(y, g, n_bootstrap=1000),
    )
    print(f"  ICC(1) = {res.estimates['icc1']:.4f} (expected 0.5), draws = {res.n_bootstrap}")


if __name__ == "__main__":
    main()

"""Benchmark: units detection streamed over a backed 100k x 20k sparse h5ad (~5% density).

Run ``python benchmarks/bench_units.py`` (full; the matrix is written once to
benchmarks/_data/, git-ignored) or ``--quick`` (small, < 20 s, for CI). Prints wall time,
peak traced memory per chunk size and peak RSS, with the ratios to the targets: under 30 s,
and memory bounded by the chunk size rather than by the matrix.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

DATA = Path(__file__).resolve().parent / "_data"
TARGET_SECONDS = 30.0


def _chunk(rng: np.random.Generator, n_rows: int, n_cols: int, density: float) -> sp.csr_matrix:
    """Sparse counts for ``n_rows`` cells: ~density non-zeros per row, Poisson(2) + 1 values."""
    per_row = rng.binomial(n_cols, density, n_rows)
    rows = np.repeat(np.arange(n_rows), per_row)
    cols = rng.integers(0, n_cols, per_row.sum())
    data = (rng.poisson(2.0, per_row.sum()) + 1).astype(np.float32)
    X = sp.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


def generate(path: Path, n_rows: int, n_cols: int, density: float, seed: int = 0) -> None:
    """Write the matrix chunk by chunk (never holding it whole) as an h5ad file."""
    import anndata as ad
    import h5py
    from anndata.io import sparse_dataset, write_elem

    rng = np.random.default_rng(seed)
    step = 10_000
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.h5ad")
    first = _chunk(rng, min(step, n_rows), n_cols, density)
    obs = pd.DataFrame(index=[f"cell{i:06d}" for i in range(n_rows)])
    var = pd.DataFrame(index=[f"ENSG{j:011d}" for j in range(n_cols)])
    ad.AnnData(X=first, obs=obs.iloc[: first.shape[0]], var=var).write_h5ad(tmp)
    with h5py.File(tmp, "a") as f:
        X = sparse_dataset(f["X"])
        for start in range(first.shape[0], n_rows, step):
            X.append(_chunk(rng, min(step, n_rows - start), n_cols, density))
        del f["obs"]
        write_elem(f, "obs", obs)
    tmp.replace(path)


def _measure(path: Path, chunk_size: int) -> tuple[float, float, object]:
    import anndata as ad

    from biodata_guard.units import detect_units

    adata = ad.read_h5ad(path, backed="r")
    tracemalloc.start()
    t0 = time.perf_counter()
    call = detect_units(adata, chunk_size=chunk_size, name=path.name)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    adata.file.close()
    return seconds, peak, call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small matrix (CI)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--generate-only", nargs=4, metavar=("PATH", "ROWS", "COLS", "DENSITY"))
    args = parser.parse_args(argv)
    if args.generate_only:
        p, r, c, d = args.generate_only
        generate(Path(p), int(r), int(c), float(d))
        return 0
    n_rows, n_cols, density = (5_000, 2_000, 0.05) if args.quick else (100_000, 20_000, 0.05)
    chunk = min(args.chunk_size, 1_000) if args.quick else args.chunk_size
    path = DATA / f"units_{n_rows}x{n_cols}_d{density:g}.h5ad"
    if not path.exists():
        t0 = time.perf_counter()
        # in a child process, so that generation does not count towards our peak memory
        cmd = [sys.executable, __file__, "--generate-only", str(path)]
        subprocess.run([*cmd, str(n_rows), str(n_cols), str(density)], check=True)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    size_mb = path.stat().st_size / 2**20
    results = {}
    for cs in (chunk, chunk // 2):
        results[cs] = _measure(path, cs)
    seconds, peak, call = results[chunk]
    _, peak_half, _ = results[chunk // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    nnz = call.evidence["n_nonzero"]
    csr_mb = nnz * 8 / 2**20  # float32 values + int32 indices of the whole matrix
    chunk_mb = csr_mb * chunk / n_rows  # the same for one chunk
    fixed_mb = (n_rows * 70 + n_cols * 10) * 8 / 2**20  # per-sample / per-feature accumulators
    bound_mb = fixed_mb + 20 * chunk_mb
    print(f"matrix: {n_rows} x {n_cols}, {nnz} non-zeros, backed h5ad {size_mb:.0f} MB")
    print(f"call: {call.label} (confidence {call.confidence})")
    print(
        f"time (chunk {chunk}): {seconds:.2f} s; target {TARGET_SECONDS:.0f} s "
        f"(ratio {seconds / TARGET_SECONDS:.2f})"
    )
    print(
        f"peak traced memory: {peak:.0f} MB with chunk {chunk}, {peak_half:.0f} MB with chunk "
        f"{chunk // 2} (ratio {peak / max(peak_half, 1e-9):.2f}); one chunk as CSR "
        f"{chunk_mb:.0f} MB, whole matrix {csr_mb:.0f} MB; bound per-sample arrays + "
        f"20 x chunk = {bound_mb:.0f} MB (ratio {peak / bound_mb:.2f})"
    )
    print(f"peak RSS of this process: {rss:.0f} MB")
    ok = seconds <= TARGET_SECONDS and peak <= bound_mb
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

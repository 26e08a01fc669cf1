"""Benchmark: units calls on real data (accuracy, false alarms) and streaming scale.

Accuracy (fast, always run unless ``--scale-only``): every unit derived from one real count
matrix (GTEx v8 lung, chr21, as shipped by PyPI ``rnanorm`` 2.2.0) called without gene
lengths and with the shipped Ensembl lengths, against the expected call or candidates;
false alarms of ``units.mixed_within`` on clean matrices (z-scored test splits of real and
synthetic data, TMM-style size-factor normalisation) and of the lattice test on values
without a lattice; recall of a TPM batch appended to real counts. Prints ok / MISSED per
target; needs ``pip install rnanorm==2.2.0`` for the real-data rows (skipped without it).

Scale (``python benchmarks/bench_units.py`` full, the matrix written once to
benchmarks/_data/, git-ignored; ``--quick`` small, < 20 s, for CI; ``--accuracy-only``
skips it): a backed 100k x 20k sparse h5ad (~5% density), wall time, peak traced memory per
chunk size and peak RSS, with the ratios to the targets: under 30 s, and memory bounded by
the chunk size rather than by the matrix.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

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

    from biodata_guard.units import detect_units, shipped_gene_lengths

    adata = ad.read_h5ad(path, backed="r")
    shipped_gene_lengths(adata.var_names)  # the one-time load of the shipped table (~8 MB)
    tracemalloc.start()
    t0 = time.perf_counter()
    call = detect_units(adata, chunk_size=chunk_size, name=path.name)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    adata.file.close()
    return seconds, peak, call


def _real_matrices() -> dict[str, pd.DataFrame] | None:
    """Counts, CPM, TPM, FPKM, TMM, upper-quartile and DESeq2 values of the real GTEx matrix."""
    try:
        from rnanorm import CPM, FPKM, TMM, TPM, UQ
        from rnanorm.datasets import load_gtex
    except ImportError:
        return None
    import warnings

    ds = load_gtex()
    counts = ds.exp
    out = {"counts": counts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, method in {
            "cpm": CPM(),
            "tpm": TPM(gtf=ds.gtf_path),
            "fpkm": FPKM(gtf=ds.gtf_path),
            "tmm": TMM(),
            "upper_quartile": UQ(),
        }.items():
            out[name] = method.set_output(transform="pandas").fit_transform(counts)
    C = counts.to_numpy(float)
    logs = np.log(C[:, (C > 0).all(axis=0)])
    sf = np.exp(np.median(logs - logs.mean(axis=0), axis=1))
    out["deseq2"] = pd.DataFrame(C / sf[:, None], index=counts.index, columns=counts.columns)
    return out


#: (units, candidates) wanted without gene lengths and with the shipped ones.
_WANTED = {
    "counts": (("counts", ("counts",)), ("counts", ("counts",))),
    "cpm": (("cpm", ("cpm",)), ("cpm", ("cpm",))),
    "tpm": (("cpm_or_tpm", ("cpm", "tpm")), ("tpm", ("tpm",))),
    "fpkm": (("rpkm", ("rpkm", "normalized")), ("rpkm", ("rpkm",))),
    "tmm": (("normalized", ("normalized",)), ("normalized", ("normalized",))),
    "upper_quartile": (("normalized", ("normalized",)), ("normalized", ("normalized",))),
    "deseq2": (("normalized", ("normalized",)), ("normalized", ("normalized",))),
}


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _n_mixed(X: Any) -> int:
    from biodata_guard.units import MIXED_WITHIN, check_units

    return sum(f.check == MIXED_WITHIN for f in check_units(X))


def _zscore(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / X.std(axis=0)


def accuracy(n_splits: int) -> None:
    """Print the calls on real data and the false-alarm counts, with ok / MISSED."""
    from biodata_guard.units import detect_units
    from biodata_guard.units._scan import PARTIAL_MIN_SHARE, _lattice

    real = _real_matrices()
    if real is None:
        print("real data: rnanorm not installed (pip install rnanorm==2.2.0): rows skipped")
    else:
        print("real GTEx v8 lung chr21 (30 x 818): call without lengths | with shipped lengths")
        for kind, wanted in _WANTED.items():
            got = []
            for shipped, want in zip((False, True), wanted, strict=True):
                c = detect_units(real[kind], shipped_lengths=shipped)
                got.append(
                    f"{c.label} {list(c.candidates)} {_verdict((c.units, c.candidates) == want)}"
                )
            print(f"  {kind:15s} {got[0]:45s} | {got[1]}")
        Z = _zscore(np.log1p(real["cpm"]).loc[:, (real["counts"] > 0).all()].to_numpy())
        rng = np.random.default_rng(0)
        alarms = sum(_n_mixed(Z[rng.permutation(30)[:8]]) for _ in range(n_splits))
        print(
            f"  z-scored real log-CPM, {n_splits} seeded 8-sample splits: {alarms} "
            f"units.mixed_within alarms (0 wanted) {_verdict(alarms == 0)}"
        )
        counts, tpm = real["counts"].astype(float), real["tpm"]
        found = sum(_n_mixed(pd.concat([counts.iloc[k:], tpm.iloc[:k]])) for k in range(1, 9))
        print(
            f"  TPM batch of 1..8 samples appended to real counts: found {found} of 8 "
            f"(8 wanted) {_verdict(found == 8)}"
        )
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(n_splits * 10):
        L = np.log1p(rng.negative_binomial(rng.uniform(0.5, 5), rng.uniform(0.005, 0.5), (200, 11)))
        alarms += _n_mixed(_zscore(L)[rng.permutation(200)[: rng.integers(3, 41)]])
    print(
        f"synthetic z-scored test splits (11 genes, 3-40 samples), {n_splits * 10} seeds: "
        f"{alarms} alarms (0 wanted) {_verdict(alarms == 0)}"
    )
    alarms = 0
    for _ in range(n_splits):
        counts = rng.negative_binomial(2, 0.02, (40, 500)).astype(float)
        nf = rng.lognormal(0, 0.15, (40, 1))
        alarms += _n_mixed(counts / (counts.sum(axis=1, keepdims=True) * nf) * 1e6)
    print(
        f"TMM-style size-factor normalised (sums around 1e6), {n_splits} seeds: {alarms} "
        f"alarms (0 wanted) {_verdict(alarms == 0)}"
    )
    n = 20_000
    values = (rng.negative_binomial(2, 0.05, (n, 128)) + 1) / rng.integers(300, 12_000, 128)
    q = np.column_stack([np.sort(values, axis=1)[:, k] for k in range(5)])
    step, _ = _lattice(
        values.ravel(), np.repeat(np.arange(n), 128), q, n, 1e-6, min_share=PARTIAL_MIN_SHARE
    )
    print(
        f"lattice test on {n} length-normalised samples (no lattice): {int((step > 0).sum())} "
        f"called (bound 3e-8 per sample) {_verdict(not (step > 0).any())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small matrix (CI)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--generate-only", nargs=4, metavar=("PATH", "ROWS", "COLS", "DENSITY"))
    parser.add_argument("--accuracy-only", action="store_true", help="skip the scale run")
    parser.add_argument("--scale-only", action="store_true", help="skip the accuracy rows")
    args = parser.parse_args(argv)
    if args.generate_only:
        p, r, c, d = args.generate_only
        generate(Path(p), int(r), int(c), float(d))
        return 0
    if not args.scale_only:
        accuracy(5 if args.quick else 20)
    if args.accuracy_only:
        return 0
    return scale(args)


def scale(args: argparse.Namespace) -> int:
    """The streaming scale run (see the module docstring)."""
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

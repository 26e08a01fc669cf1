"""Benchmark: the batch probe on a large sparse matrix (wall time, compile time, memory, detection).

    python benchmarks/bench_probe.py            # 100,000 x 20,000 CSR, ~5% density (~0.8 GB)
    python benchmarks/bench_probe.py --quick    # 5,000 x 2,000, for CI (< 30 s)
    python benchmarks/bench_probe.py --compile-cache /tmp/jax-cache   # persistent JIT cache

The matrix is generated once, seeded and chunk by chunk, in a child process and cached under
``benchmarks/_data/`` as raw arrays, so this process's peak RSS reflects the loaded matrix plus
the probe. Values are Poisson(2) + 1 counts at random positions; four batches that differ the
way sequencing runs do: in capture depth (genes detected per cell x 1.0, 1.15, 0.9, 1.05) and,
for batches 1-3, in 5% of the genes each, detected twice as often and read 1.5x higher.

Measured: one ``batch_probe`` call end to end (design, one read of the matrix, units, transform,
the principal axes, per fold the directions between batch means, the closed-form LDA of 5 folds
x 111 label sets, the softmax model and its JIT compile, self-checks), each stage printed, JIT
compile apart. Target: the probe's budget of issue 23 at 100,000 rows, 10 s on 2 CPU cores, JIT
included (30 s for ``--quick``), with the batch found at p < 0.01. ``--control`` also probes
shuffled batch labels (expected: not significant). The audit's probe with 99 batches is
measured by ``python -m benchmarks`` (``benchmarks/_budget.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "_data"
TARGET_SECONDS = 10.0
QUICK_TARGET_SECONDS = 30.0
N_BATCHES = 4
DEPTH = (1.0, 1.15, 0.9, 1.05)  # detection rate per batch, relative to --density
SHIFT_FRACTION = 0.05  # genes shifted per batch (batches 1-3)
SHIFT_DETECTION = 1.0  # shifted genes are detected (1 + this) x as often ...
SHIFT_FOLD = 1.5  # ... and read this much higher


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small matrix for CI")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--cols", type=int, default=None)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--components", type=int, default=50)
    p.add_argument("--control", action="store_true", help="also probe shuffled batch labels")
    p.add_argument("--compile-cache", default=None, help="JAX persistent compilation cache dir")
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 100_000)
    args.cols = args.cols or (2_000 if args.quick else 20_000)
    return args


def _folder(args: argparse.Namespace) -> Path:
    return DATA / f"probe_v3_{args.rows}x{args.cols}_d{args.density:g}_s{args.seed}"


def _bernoulli_positions(
    rng: np.random.Generator, p: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row, position) of a Bernoulli(p[row]) process over ``range(size)`` for each row, drawn
    as cumulative geometric gaps: sorted and unique within a row by construction."""
    top = float(p.max())
    cap = int(size * top + 8 * np.sqrt(size * top * (1 - top))) + 16
    pos = np.cumsum(rng.geometric(p[:, None], size=(len(p), cap)), axis=1, dtype=np.int64) - 1
    keep = pos < size
    return np.repeat(np.arange(len(p)), keep.sum(axis=1)), pos[keep]


def _generate(args: argparse.Namespace) -> None:
    """Write data.f32, indices.i32, indptr.i64, batch.npy and meta.json.

    Every gene is detected with probability density x the batch's depth; batches 1-3 detect
    their own shifted genes at (1 + SHIFT_DETECTION) x that rate and read them SHIFT_FOLD x
    higher. Values are Poisson(2 x fold) + 1.
    """
    out = _folder(args)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    n, m, p = args.rows, args.cols, args.density
    batch = rng.integers(N_BATCHES, size=n)
    n_shift = max(1, round(SHIFT_FRACTION * m))
    genes = np.zeros((N_BATCHES, n_shift), np.int64)
    fold = np.ones((N_BATCHES, m), np.float32)
    for b in range(1, N_BATCHES):
        genes[b] = np.sort(rng.choice(m, n_shift, replace=False))
        fold[b, genes[b]] = SHIFT_FOLD
    rate = np.asarray(DEPTH)[batch] * p
    indptr = [np.zeros(1, dtype=np.int64)]
    nnz = 0
    with open(out / "data.f32", "wb") as fd, open(out / "indices.i32", "wb") as fi:
        for start in range(0, n, args.chunk_size):
            r = min(args.chunk_size, n - start)
            b_rows = batch[start : start + r]
            rows, cols = _bernoulli_positions(rng, rate[start : start + r], m)
            extra = np.flatnonzero(b_rows > 0)
            e_rows, e_pos = _bernoulli_positions(
                rng, SHIFT_DETECTION * rate[start + extra], n_shift
            )
            e_rows = extra[e_rows]
            keys = np.unique(
                np.concatenate([rows * m + cols, e_rows * m + genes[b_rows[e_rows], e_pos]])
            )
            rows, cols = keys // m, keys % m
            vals = rng.poisson(2.0 * fold[b_rows[rows], cols]).astype(np.float32) + 1.0
            fd.write(vals.tobytes())
            fi.write(cols.astype(np.int32).tobytes())
            indptr.append(nnz + np.cumsum(np.bincount(rows, minlength=r)))
            nnz += len(vals)
    np.concatenate(indptr).astype(np.int64).tofile(out / "indptr.i64")
    np.save(out / "batch.npy", np.array([f"B{b}" for b in batch]))
    meta = {
        "shape": [n, m],
        "nnz": nnz,
        "depth": list(DEPTH),
        "shifted_genes": {f"B{b}": genes[b].tolist() for b in range(1, N_BATCHES)},
        "shift_fold": SHIFT_FOLD,
        "shift_detection": SHIFT_DETECTION,
    }
    (out / "meta.json").write_text(json.dumps(meta))


def _forwarded(args: argparse.Namespace) -> list[str]:
    return [
        f"--rows={args.rows}",
        f"--cols={args.cols}",
        f"--density={args.density}",
        f"--seed={args.seed}",
        f"--chunk-size={args.chunk_size}",
    ]


def _load(args: argparse.Namespace):
    import scipy.sparse as sp

    folder = _folder(args)
    if not (folder / "meta.json").is_file():
        print(f"generating {args.rows} x {args.cols} (density {args.density}) ...", flush=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", *_forwarded(args)], check=True)
        print(f"  generated in {time.perf_counter() - t:.1f} s -> {folder}", flush=True)
    meta = json.loads((folder / "meta.json").read_text())
    data = np.fromfile(folder / "data.f32", dtype=np.float32)
    indices = np.fromfile(folder / "indices.i32", dtype=np.int32)
    indptr = np.fromfile(folder / "indptr.i64", dtype=np.int64)
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    X = sp.csr_matrix((data, indices, indptr), shape=tuple(meta["shape"]), copy=False)
    return X, np.load(folder / "batch.npy"), meta


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB -> GB


def _probe(label: str, X, target, args: argparse.Namespace):
    from biodata_guard.probe import batch_probe

    t = time.perf_counter()
    res = batch_probe(
        X,
        target,
        n_components=args.components,
        folds=args.folds,
        n_permutations=args.permutations,
        seed=args.seed,
        chunk_size=args.chunk_size,
        target_name=label,
        compilation_cache=args.compile_cache,
    )
    seconds = time.perf_counter() - t
    stages = ", ".join(f"{k} {v:.2f}" for k, v in res.timings.items() if k != "total")
    print(
        f"{label:<16} {seconds:6.1f} s  balanced accuracy {res.balanced_accuracy:.3f} "
        f"± {res.balanced_accuracy_sd:.3f} (chance {res.chance:.2f}, null mean "
        f"{res.null_mean:.3f}), p = {res.p_value:.3g}, self-checks "
        f"{'ok' if res.self_check['ok'] else 'FAILED'}\n"
        f"{'':<16} stages (s): {stages}\n"
        f"{'':<16} JIT compile {res.timings['compile']:.1f} s of the total; rows per fold: "
        f"model {res.preprocessing['model_rows_per_fold'][0]}, screening "
        f"{res.preprocessing['screening_rows_per_fold'][0]}, held out "
        f"{res.preprocessing['held_out_rows_per_fold'][0]}; PCA rows "
        f"{res.preprocessing['svd_rows']}; units "
        f"{res.preprocessing['units_label']} -> transform {res.preprocessing['transform']}",
        flush=True,
    )
    return res, seconds


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.generate:
        _generate(args)
        return 0
    X, batch, meta = _load(args)
    matrix_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e9
    rss_loaded = _peak_rss_gb()
    print(
        f"matrix {X.shape[0]:,} x {X.shape[1]:,} CSR {X.dtype}, nnz {X.nnz:,} "
        f"({X.nnz / (X.shape[0] * X.shape[1]):.2%}), {1000 * matrix_gb:.1f} MB; "
        f"RSS after load {rss_loaded:.2f} GB; {args.folds} folds, {args.permutations} "
        f"permutations, {args.components} components",
        flush=True,
    )
    res, seconds = _probe("batch", X, batch, args)
    shifted = {g for genes in meta["shifted_genes"].values() for g in genes}
    top = [int(t["feature"][1:]) for t in res.top_features]
    print(
        f"{'':<16} top features: {sum(g in shifted for g in top)} of {len(top)} are planted "
        "batch-shifted genes",
        flush=True,
    )
    ok = res.p_value < 0.01 and res.self_check["ok"]
    if args.control:
        shuffled = np.random.default_rng(args.seed + 1).permutation(batch)
        control, _ = _probe("shuffled batch", X, shuffled, args)
        ok = ok and control.p_value >= 0.01
    rss = _peak_rss_gb()
    target = QUICK_TARGET_SECONDS if args.quick else TARGET_SECONDS
    print(
        f"total {seconds:.1f} s for the batch probe (target < {target:g} s: "
        f"{'ok' if seconds < target else 'MISSED'}); peak RSS {rss:.2f} GB, "
        f"{rss - rss_loaded:.2f} GB above the loaded matrix; batch found at p < 0.01: "
        f"{'yes' if res.p_value < 0.01 else 'NO'}",
        flush=True,
    )
    return 0 if ok and seconds < target else 1


if __name__ == "__main__":
    sys.exit(main())

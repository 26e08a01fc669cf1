"""Benchmark: genome-build detection on a large variant table (time, peak memory).

    python benchmarks/bench_genome_build.py            # 1,000,000-row variant table
    python benchmarks/bench_genome_build.py --quick    # 100,000 rows, for CI (< 10 s)

The table is a headerless GRCh37 variant list (chrom, pos, rsid, ref, alt), generated once,
seeded, and cached under ``benchmarks/_data/``: every SNP of the shipped marker panel at its
GRCh37 position, plus background variants with random rsIDs at uniform positions within the
GRCh37 chromosome ends. Timed: reading the file, detecting the build (all signals), and the
per-input checks of an audit (build call, contig naming, bounds). Target: read + detect under
10 s on 2 cores; the planted panel must be found at GRCh37 positions and the call be GRCh37.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "_data"
TARGET_SECONDS = 10.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100,000 rows, for CI")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    return args


def _generate(path: Path, n: int, seed: int) -> int:
    """Write the table; returns how many panel SNPs were planted."""
    from biodata_guard.build._reference import _chrom_sizes, _markers

    rng = np.random.default_rng(seed)
    panel = _markers().reset_index()
    k = min(len(panel), n)
    panel = panel.iloc[np.sort(rng.choice(len(panel), k, replace=False))]
    sizes = _chrom_sizes()
    chroms = np.array([*map(str, range(1, 23)), "X"])
    weights = sizes.loc[chroms, "length_GRCh37"].to_numpy(dtype=float)
    chrom = rng.choice(chroms, n - k, p=weights / weights.sum())
    pos = (rng.random(n - k) * sizes.loc[chrom, "length_GRCh37"].to_numpy()).astype(np.int64) + 1
    df = pd.DataFrame(
        {
            "chrom": np.r_[panel["chrom_GRCh37"].to_numpy(), chrom],
            "pos": np.r_[panel["pos_GRCh37"].to_numpy(), pos],
            "rsid": np.r_[
                panel["rsid"].to_numpy(),
                np.char.add("rs", rng.integers(10**8, 10**9, n - k).astype(str)),
            ],
        }
    )
    bases = np.array(list("ACGT"))
    df["ref"] = bases[rng.integers(0, 4, n)]
    df["alt"] = bases[(np.searchsorted(bases, df["ref"]) + rng.integers(1, 4, n)) % 4]
    order = np.lexsort((df["pos"].to_numpy(), pd.Categorical(df["chrom"], chroms).codes))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.iloc[order].to_csv(tmp, sep="\t", header=False, index=False)
    tmp.rename(path)
    return k


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB -> GB


def _timed(label: str, fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - t
    print(f"{label:<28} {seconds:6.2f} s", flush=True)
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from biodata_guard.build import detect_build
    from biodata_guard.build._bounds import _bounds_findings
    from biodata_guard.build._inputs import _prepare
    from biodata_guard.build._naming import _naming_within
    from biodata_guard.build._reference import _chrom_sizes, _genes, _markers
    from biodata_guard.io.coords import read_coordinates

    path = DATA / f"variants_GRCh37_{args.rows}_s{args.seed}.tsv"
    if not path.is_file():
        print(f"generating {args.rows:,} rows -> {path} ...", flush=True)
        t = time.perf_counter()
        _generate(path, args.rows, args.seed)
        print(f"  generated in {time.perf_counter() - t:.1f} s", flush=True)
    planted = min(len(_markers()), args.rows)
    print(f"table {path.name}: {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    _timed("load reference panels", lambda: (_markers(), _genes(), _chrom_sizes()))
    ci, t_read = _timed("read_coordinates", read_coordinates, path)
    call, t_detect = _timed("detect_build", detect_build, ci)
    p = _prepare(ci)
    _, t_checks = _timed(
        "naming + bounds checks",
        lambda: _naming_within(p) + _bounds_findings(p, call.build if call.determined else None),
    )
    rss = _peak_rss_gb()
    hits = call.evidence["marker_rsids"].get("n_at_position", {})
    print(
        f"call: {call.build} (confidence {call.confidence:.3g}); voters {', '.join(call.voters)}; "
        f"panel rsIDs at GRCh37 positions {hits.get('GRCh37', 0):,} of {planted:,} planted",
        flush=True,
    )
    total = t_read + t_detect
    print(
        f"read + detect {total:.2f} s (target < {TARGET_SECONDS:g} s on 2 cores: "
        f"{'ok' if total < TARGET_SECONDS else 'MISSED'}); all checks {total + t_checks:.2f} s; "
        f"peak RSS {rss:.2f} GB",
        flush=True,
    )
    ok = call.build == "GRCh37" and hits.get("GRCh37") == planted
    return 0 if ok and total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: how often the build call is right, wrong or undetermined (issue 22).

    python benchmarks/bench_genome_build.py            # 10 .. 1,000,000 rows, every layout
    python benchmarks/bench_genome_build.py --quick    # 10 .. 10,000 rows, fewer repeats (CI)

Four measurements, seeded, figures printed (targets shown as ok / MISSED, never asserted):

1. **Random positions in memory**: uniform SNV positions within the GRCh37 (or GRCh38)
   chromosome lengths, many repeats per size: the share of calls right / wrong / undetermined.
2. **Every layout on disk**: the same kind of random variants written in each public layout
   (``benchmarks/_layouts.py``: VCF, BED, GWAS-SSF, PGS Catalog, PLINK .bim/.map/.pvar/.assoc,
   REGENIE, 23andMe, AncestryDNA, MyHeritage, FTDNA, Neale-lab ids, headerless), read back with
   ``read_coordinates`` and called; at 1,000,000 rows read + detect is timed (target 10 s).
3. **Files lifted between builds** with the UCSC chains of ``shared/reference``: random and
   marker-panel positions lifted GRCh37 -> GRCh38 and back, with and without a header left
   stating the old build (a stale header must be reported, the call must follow the data).
4. **Other assemblies** (NCBI36, T2T-CHM13v2.0, GRCm38, GRCm39): must never be called GRCh37 /
   GRCh38; the share whose best fit is the true assembly.

Target: 0 wrong calls anywhere. The measured false-call rate is wrong / (right + wrong); with
0 wrong in N calls its one-sided 95 % upper bound is 3 / N (the rule of three).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # python benchmarks/bench_genome_build.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._layouts import CHAINS, LAYOUTS, lift, random_variants, write_layout

B37, B38 = "GRCh37", "GRCh38"
TARGET_SECONDS = 10.0
FULL = {
    "memory": {10: 1000, 100: 500, 1000: 200, 10_000: 50, 100_000: 10},
    "files": {10: 10, 100: 5, 1000: 3, 10_000: 2, 1_000_000: 1},
    "lifted": {1000: 3, 10_000: 2, 100_000: 1},
    "other": {100: 10, 1000: 5, 10_000: 3, 100_000: 1},
}
QUICK = {
    "memory": {10: 100, 100: 50, 1000: 20, 10_000: 5},
    "files": {10: 2, 100: 1, 1000: 1, 10_000: 1},
    "lifted": {1000: 1, 10_000: 1},
    "other": {100: 3, 1000: 2, 10_000: 1},
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes up to 10,000 rows, few repeats")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated layouts")
    return p.parse_args(argv)


class Tally:
    """Right / wrong / undetermined counts per (section, case, size)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, Counter]] = []

    def add(self, section: str, case: str, size: int, counts: Counter) -> None:
        self.rows.append((section, case, size, counts))
        n = sum(counts.values())
        share = {k: counts[k] / n for k in ("right", "wrong", "undetermined")}
        extra = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k not in share)
        print(
            f"{section:<8} {case:<26} {size:>9,} rows  n={n:<5} right {share['right']:6.1%}  "
            f"wrong {share['wrong']:6.1%}  undetermined {share['undetermined']:6.1%}"
            + (f"  ({extra})" if extra else ""),
            flush=True,
        )

    def total(self, section: str | None = None) -> Counter:
        out: Counter = Counter()
        for s, _, _, c in self.rows:
            if section is None or s == section:
                out.update({k: c[k] for k in ("right", "wrong", "undetermined")})
        return out


def _outcome(call, truth: str) -> str:
    if not call.determined:
        return "undetermined"
    return "right" if call.build == truth else "wrong"


def _memory(tally: Tally, plan: dict[int, int], seed: int) -> None:
    from biodata_guard.build import detect_build
    from biodata_guard.build._reference import _chrom_sizes

    sizes = _chrom_sizes()
    for build in (B37, B38):
        for n, reps in plan.items():
            counts: Counter = Counter()
            for r in range(reps):
                rows = random_variants(sizes[f"length_{build}"], n, seed=seed + 7919 * r + n)
                counts[_outcome(detect_build(rows[["chrom", "pos"]]), build)] += 1
            tally.add("memory", f"random {build}", n, counts)


def _files(
    tally: Tally, plan: dict[int, int], layouts: list[str], seed: int, tmp: Path
) -> list[float]:
    from biodata_guard.build import detect_build
    from biodata_guard.build._reference import _chrom_sizes
    from biodata_guard.io.coords import read_coordinates

    sizes, timings = _chrom_sizes(), []
    for layout in layouts:
        for build in (B37, B38):
            for n, reps in plan.items():
                counts: Counter = Counter()
                for r in range(reps):
                    rows = random_variants(sizes[f"length_{build}"], n, seed=seed + 104729 * r + n)
                    path = write_layout(layout, rows, tmp / f"{layout}_{build}_{n}_{r}")
                    t = time.perf_counter()
                    call = detect_build(read_coordinates(path))
                    if n >= 1_000_000:
                        timings.append(time.perf_counter() - t)
                    counts[_outcome(call, build)] += 1
                    shutil.rmtree(path.parent)
                tally.add("files", f"{layout} {build}", n, counts)
    return timings


def _lifted(tally: Tally, plan: dict[int, int], seed: int, tmp: Path) -> Counter:
    """Random and panel positions lifted between the builds; a header kept from the source
    build must come out as a stale header."""
    from biodata_guard.build import check_build, detect_build
    from biodata_guard.build._reference import _chrom_sizes, _markers

    sizes, stale = _chrom_sizes(), Counter()
    panel = _markers().reset_index()
    for source, target in ((B37, B38), (B38, B37)):
        for n, reps in plan.items():
            plain, headed = Counter(), Counter()
            for r in range(reps):
                rows = random_variants(sizes[f"length_{source}"], n, seed=seed + 15485863 * r + n)
                moved = lift(rows, source, target)
                plain[_outcome(detect_build(moved[["chrom", "pos"]]), target)] += 1
                path = write_layout("vcf", moved, tmp / f"lift_{source}_{n}_{r}", stated=source)
                found = check_build(path)
                detected = [f for f in found if f.check == "build.detected"]
                build = detected[0].evidence["build"] if detected else "undetermined"
                headed["right" if build == target else "wrong" if detected else "undetermined"] += 1
                stale[
                    "reported" if any(f.check == "build.stale_header" for f in found) else "missed"
                ] += 1
                shutil.rmtree(path.parent)
            tally.add("lifted", f"random {source}->{target}", n, plain)
            tally.add("lifted", f"+ stale {source} header", n, headed)
        rows = panel.rename(columns={f"chrom_{source}": "chrom", f"pos_{source}": "pos"})[
            ["chrom", "pos", "rsid"]
        ]
        moved = lift(rows, source, target)
        tally.add(
            "lifted",
            f"panel {source}->{target}",
            len(moved),
            Counter([_outcome(detect_build(moved), target)]),
        )
    return stale


def _other(plan: dict[int, int], seed: int) -> tuple[Counter, dict[str, Counter]]:
    from biodata_guard.build import detect_build
    from biodata_guard.build._reference import OTHER_ASSEMBLIES, _other_sizes

    lengths = _other_sizes()
    called, best = Counter(), {}
    for assembly in OTHER_ASSEMBLIES:
        for n, reps in plan.items():
            fits: Counter = Counter()
            for r in range(reps):
                rows = random_variants(lengths[assembly], n, seed=seed + 32452843 * r + n)
                call = detect_build(rows[["chrom", "pos"]])
                called["called GRCh37/38" if call.determined else "undetermined"] += 1
                fits["best fit right" if call.best_fit == assembly else "no or other best fit"] += 1
            best[f"{assembly} {n:,}"] = fits
            print(f"other    {assembly:<26} {n:>9,} rows  n={reps:<5} {dict(fits)}", flush=True)
    return called, best


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    plan = QUICK if args.quick else FULL
    layouts = [x for x in args.layouts.split(",") if x]
    tally = Tally()
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_build_"))
    try:
        _memory(tally, plan["memory"], args.seed)
        timings = _files(tally, plan["files"], layouts, args.seed, tmp)
        have_chains = all(p.is_file() for p in CHAINS.values())
        stale = _lifted(tally, plan["lifted"], args.seed, tmp) if have_chains else Counter()
        if not have_chains:
            print("lifted   SKIPPED: shared/reference chain files absent", flush=True)
        called, _ = _other(plan["other"], args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = tally.total()
    n_calls = total["right"] + total["wrong"]
    rate = total["wrong"] / n_calls if n_calls else 0.0
    bound = 3 / n_calls if n_calls and not total["wrong"] else rate
    print()
    print(
        f"calls made: {n_calls:,} of {sum(total.values()):,}; wrong: {total['wrong']} "
        f"(target 0: {'ok' if total['wrong'] == 0 else 'MISSED'}); measured false-call rate "
        f"{rate:.2g} (95% upper bound {bound:.2g}; the rule calls at posterior >= 0.999)"
    )
    for section in ("memory", "files", "lifted"):
        c = tally.total(section)
        print(
            f"  {section:<7} right {c['right']:,}  wrong {c['wrong']:,}  "
            f"undetermined {c['undetermined']:,}"
        )
    if stale:
        print(
            f"stale headers after a liftover: {stale['reported']} of {sum(stale.values())} "
            "reported "
            f"({'ok' if not stale['missed'] else 'MISSED'})"
        )
    print(
        f"other assemblies: {called['called GRCh37/38']} forced GRCh37/38 calls of "
        f"{sum(called.values())} (target 0: {'ok' if not called['called GRCh37/38'] else 'MISSED'})"
    )
    if timings:
        worst = max(timings)
        print(
            f"1,000,000-row files: read + detect {min(timings):.1f}-{worst:.1f} s (target < "
            f"{TARGET_SECONDS:g} s: {'ok' if worst < TARGET_SECONDS else 'MISSED'})"
        )
    print(f"elapsed {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

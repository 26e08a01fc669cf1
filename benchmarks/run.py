"""Run the whole benchmark suite and print one table of figures with the targets.

    python -m benchmarks                        # scRNA 10k/100k/1M, bulk, variants, deepchecks
    python -m benchmarks --quick                # a small size of every case (< 60 s, CI)
    python -m benchmarks --sizes 10k,100k --only scrna,bulk
    python -m benchmarks --exclude-groups probe    # the streaming checks alone
    python benchmarks/run.py --keep-data --markdown /tmp/benchmarks.md --json /tmp/bench.json

Inputs are generated once, seeded and chunk by chunk, under ``benchmarks/_data/`` (git-ignored);
files this run generated are deleted at the end unless ``--keep-data`` (files already there
are reused and left alone). Every measurement is a child process of its own: the read floor
(the input read once, the plain way: anndata ``read_h5ad(backed="r")`` + X row chunks, or pandas)
and the full ``audit()`` (paths in, JSON report out, h5ad opened backed at every size unless
``--h5ad-mode auto``) with every check group wired in ``biodata_guard.audit.plan()`` that
the case needs (the table says which ran, which are not wired yet and which were left out).
Peak RSS is the child's own ``ru_maxrss`` (``os.wait4``). The targets of issue 8 are printed
with ok / MISSED, never asserted: the exit code is 1 only when a case fails to run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _budget
from benchmarks import bench_scale as bs

SCRNA_SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
CASES = ("scrna", "bulk", "variants", "deepchecks")
#: Detected genes per cell: 2.5% of 20k genes = 500, the low end of droplet scRNA-seq
#: (500-3,000), so that the 1M-cell file stays ~4 GB; the same density at every size keeps
#: the 1M/100k ratio a test of linearity in cells.
DENSITY = 0.025
TARGET_FLOOR_RATIO = 3.0
TARGET_MEMORY = "2 x one chunk + per-sample statistics"
LINEAR_SLACK = 1.25  # ratio <= 1.25 x the ideal counts as linear


@dataclass
class Row:
    """One line of the figures table."""

    case: str
    size: str
    n_rows: int = 0
    n_cols: int = 0
    nnz: int = 0
    groups: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    audit_s: float | None = None
    floor_s: float | None = None
    rss_mb: float | None = None
    floor_rss_mb: float | None = None
    bound_mb: float | None = None
    load: float | None = None
    found: list[tuple[str, str, str]] = field(default_factory=list)  # planted, check, verdict
    error: str | None = None
    unit: str = "nnz"
    note: str = ""
    result: dict[str, Any] = field(default_factory=dict, repr=False)  # the audit child's JSON
    best: Any = field(default=None, repr=False)  # _budget.Best: the interleaved runs

    @property
    def ratio(self) -> float | None:
        if self.audit_s is None or not self.floor_s:
            return None
        return self.audit_s / self.floor_s

    @property
    def throughput(self) -> float | None:
        return self.nnz / self.audit_s if self.audit_s else None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small size of every case (CI)")
    p.add_argument("--sizes", default="10k,100k,1M", help="scRNA sizes: 10k,100k,1M")
    p.add_argument("--only", default=",".join(CASES), help=f"cases: {','.join(CASES)}")
    p.add_argument("--keep-data", action="store_true", help="keep the data generated this run")
    p.add_argument("--data-dir", type=Path, default=bs.DATA, help="where inputs are cached")
    p.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk (audit, floor)")
    p.add_argument("--density", type=float, default=DENSITY, help="scRNA detected-gene fraction")
    p.add_argument(
        "--h5ad-mode",
        choices=("backed", "auto"),
        default="backed",
        help="backed: h5ad opened backed at every size; auto: the library default "
        "(backed only above 1 GiB)",
    )
    p.add_argument(
        "--exclude-groups",
        default="",
        help="check groups to leave out of every audit (e.g. probe), printed with the groups",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs of floor / audit (best kept)"
    )
    p.add_argument("--markdown", type=Path, help="also write the tables as markdown here")
    p.add_argument("--json", type=Path, help="also write every row and its findings as JSON")
    args = p.parse_args(argv)
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    bad = sorted(set(args.only) - set(CASES))
    if bad:
        p.error(f"--only: unknown case(s) {bad}; choose from {','.join(CASES)}")
    args.exclude_groups = tuple(g.strip() for g in args.exclude_groups.split(",") if g.strip())
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = sorted(set(args.sizes) - set(SCRNA_SIZES))
    if bad:
        p.error(f"--sizes: unknown size(s) {bad}; choose from {','.join(SCRNA_SIZES)}")
    return args


def _cases(args: argparse.Namespace) -> list[bs.Case]:
    d = args.data_dir
    cases: list[bs.Case] = []
    if "scrna" in args.only:
        if args.quick:
            cases.append(bs.scrna_case(3_000, label="quick", n_genes=2_000, density=0.05, data=d))
        else:
            for size in args.sizes:
                n = SCRNA_SIZES[size]
                cases.append(bs.scrna_case(n, label=size, density=args.density, data=d))
    if "bulk" in args.only:
        if args.quick:
            cases.append(bs.bulk_case(60, 2_000, label="quick", data=d))
        else:
            cases.append(bs.bulk_case(500, 60_000, label="500", data=d))
    if "variants" in args.only:
        n = 50_000 if args.quick else 1_000_000
        cases.append(bs.variants_case(n, label="quick" if args.quick else "1M", data=d))
    return cases


# --------------------------------------------------------------------------------- planted


def _first(findings: list[dict], check: str, **evidence: Any) -> dict | None:
    for f in findings:
        if f["check"] != check:
            continue
        if all(f["evidence"].get(k) == v for k, v in evidence.items()):
            return f
    return None


def _not_run(group: str, excluded: list[str]) -> str:
    if group in excluded:
        return f"n/a ('{group}' left out by --exclude-groups)"
    return f"n/a ('{group}' group not wired yet)"


def _verdict(
    findings: list[dict],
    ran: list[str],
    group: str,
    check: str,
    excluded: list[str] = (),
    **evidence: Any,
) -> tuple[str, str]:
    if group not in ran:
        return check, _not_run(group, list(excluded))
    f = _first(findings, check, **evidence)
    if f is None:
        return check, "not found"
    return check, f"found ({f['severity']})"


def _duplicates_verdict(fs: list, ran: list, n_planted: int, what: str) -> tuple[str, str, str]:
    """The planted exact duplicates: found or not, and how many of them."""
    check, v = _verdict(fs, ran, "leakage", "leakage.duplicate_samples")
    f = _first(fs, check)
    if f is not None:
        v += f": {f['evidence'].get('n_affected_samples')} of {n_planted}"
    return (f"{n_planted} exact duplicate {what} train->test", check, v)


def planted_verdicts(kind: str, meta: dict, result: dict) -> list[tuple[str, str, str]]:
    """Each planted problem of a case, the check meant to find it, and whether it did."""
    fs = result.get("findings", [])
    ran = result.get("groups_ran", [])
    excluded = result.get("groups_excluded", [])
    pl = meta.get("planted", {})
    out: list[tuple[str, str, str]] = []
    if kind == "scrna":
        out.append(_duplicates_verdict(fs, ran, pl["duplicates"]["n"], "cells"))
        check, v = _verdict(fs, ran, "leakage", "leakage.group_overlap", group_col="donor")
        out.append((f"donor {pl['shared_donor']} in both splits", check, v))
        out.append(
            (f"batch {pl['shifted_batch']} shifted", "batch.predictable", _probe(fs, ran, excluded))
        )
        check, v = _verdict(fs, ran, "units", "units.mixed_within")
        out.append((f"batch {pl['cpm_batch']['batch']} in CPM", check, v))
    elif kind == "bulk":
        out.append(_duplicates_verdict(fs, ran, pl["duplicates"]["n"], "samples"))
        n_shared = len(pl["shared_patients"])
        check, v = _verdict(fs, ran, "leakage", "leakage.group_overlap", group_col="patient_id")
        out.append((f"{n_shared} patients in both splits", check, v))
        check, v = _verdict(
            fs, ran, "leakage", "leakage.metadata_predicts_label", column=pl["label_column"]
        )
        out.append((f"'{pl['label_column']}' gives the label away", check, v))
        check, v = _verdict(fs, ran, "units", "units.mixed_within")
        out.append((f"cohort {pl['tpm_cohort']['cohort']} in TPM", check, v))
    elif kind == "variants":
        check, v = _verdict(fs, ran, "build", "build.detected")
        f = _first(fs, "build.detected")
        if f is not None:
            v = "found GRCh38" if "GRCh38" in f["message"] else f"called: {f['message'][:60]}"
        out.append(("one build (GRCh38)", check, v))
    return out


def _probe(findings: list[dict], ran: list[str], excluded: list[str]) -> str:
    if "probe" not in ran:
        return _not_run("probe", excluded)
    hit = [f for f in findings if f["check"].startswith("batch.")]
    if not hit:
        return "not found"
    named = any("B001" in f["message"] or "B001" in f.get("subjects", []) for f in hit)
    return f"found ({hit[0]['check']}, {hit[0]['severity']}" + (
        ", names B001)" if named else "; B001 not named)"
    )


# --------------------------------------------------------------------------------- measuring


def _bound_mb(kind: str, meta: dict, base_mb: float, chunk: int) -> float | None:
    """Memory target: baseline (interpreter + libraries) + 2 x one chunk + per-sample stats."""
    n = meta["shape"][0]
    if kind == "scrna":
        chunk_bytes = meta["csr_bytes_per_row"] * min(chunk, n)
    elif kind == "bulk":
        chunk_bytes = meta["dense_bytes_per_row"] * min(chunk, n)
    else:
        return None
    stats = n * bs.PER_SAMPLE_BYTES + meta.get("obs_bytes", 0)
    return base_mb + (2 * chunk_bytes + stats) / 2**20


def measure(case: bs.Case, args: argparse.Namespace) -> Row:
    meta = case.meta
    n, m = meta["shape"]
    row = Row(case.kind, case.label, n_rows=n, n_cols=m, nnz=meta["nnz"])
    if case.kind == "variants":
        row.unit = "rows"
    row.load = os.getloadavg()[0]
    common = ["--chunk-size", str(args.chunk_size)]
    if args.quick:  # small inputs: read here, saving an interpreter start (RSS not meaningful)
        row.floor_s = bs.floor(case.kind, case.folder, args.chunk_size)["seconds"]
    else:  # floor, audit, audit without the probe: best of --repeats interleaved runs each
        best = _budget.interleaved(
            case, chunk_size=args.chunk_size, h5ad_mode=args.h5ad_mode,
            exclude=args.exclude_groups, repeats=args.repeats,
        )  # fmt: skip
        if isinstance(best, str):
            row.error = best
            return row
        row.best, fl = best, best.floor
        row.floor_s = fl.result["seconds"]
        row.floor_rss_mb = fl.peak_rss_mb
    au = (
        row.best.audit
        if row.best
        else bs.run_child(
            bs.child_argv(
                "measure",
                "audit",
                case.kind,
                str(case.folder),
                *common,
                "--h5ad-mode",
                args.h5ad_mode,
                "--exclude",
                ",".join(args.exclude_groups),
            )
        )
    )
    if not au.ok:
        row.error = f"audit: {au.result.get('error')}"
        sys.stderr.write(au.stderr)
        return row
    res = au.result
    row.audit_s = res["seconds"]
    row.rss_mb = au.peak_rss_mb
    row.groups = res["groups_ran"]
    row.missing = res["groups_missing"]
    row.excluded = res.get("groups_excluded", [])
    row.result = res
    row.bound_mb = _bound_mb(case.kind, meta, res["rss_base_mb"], args.chunk_size)
    row.found = planted_verdicts(case.kind, meta, res)
    return row


# --------------------------------------------------------------------------------- printing


def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _si(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


HEADER = (
    "case",
    "input",
    "non-zeros",
    "groups ran",
    "audit s",
    "floor s",
    "audit/floor",
    "peak RSS MB",
    "RSS bound MB",
    "throughput",
    "load",
)


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    out = []
    for r in rows:
        shape = f"{r.n_rows:,} rows" if r.unit == "rows" else f"{r.n_rows:,} x {r.n_cols:,}"
        groups = ",".join(r.groups) if r.groups else "(none)"
        if r.missing:
            groups += f" [not wired: {','.join(r.missing)}]"
        if r.excluded:
            groups += f" [left out: {','.join(r.excluded)}]"
        if r.error:
            groups = f"ERROR {r.error}"[:70] + ("…" if len(r.error) > 64 else "")
        elif r.note:
            groups = r.note[:70]
        out.append(
            (
                f"{r.case} {r.size}",
                shape,
                _si(r.nnz) if r.unit != "rows" else "-",
                groups,
                _f(r.audit_s, "{:.2f}"),
                _f(r.floor_s, "{:.2f}"),
                _f(r.ratio, "{:.1f}x"),
                _f(r.rss_mb, "{:.0f}"),
                _f(r.bound_mb, "{:.0f}"),
                (_si(r.throughput) + f" {r.unit}/s") if r.throughput else "-",
                _f(r.load, "{:.2f}"),
            )
        )
    return out


def _text_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, body)])


def _md_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in b) + " |" for b in body]
    return "\n".join(lines)


def target_lines(rows: list[Row], args: argparse.Namespace) -> list[str]:
    out = []
    for r in rows:
        if r.error or r.ratio is None:
            continue
        ok = "ok" if r.ratio <= TARGET_FLOOR_RATIO else "MISSED"
        out.append(
            f"{r.case} {r.size}: audit {r.audit_s:.2f} s = {r.ratio:.1f}x the read floor "
            f"({r.floor_s:.2f} s); target <= {TARGET_FLOOR_RATIO:g}x: {ok}"
        )
        if r.bound_mb is not None:
            quick = args.quick and r.rss_mb is not None
            ok = "ok" if r.rss_mb <= r.bound_mb else "MISSED"
            if quick:
                ok += " (quick size: not meaningful, libraries dominate)"
            out.append(
                f"{r.case} {r.size}: peak RSS {r.rss_mb:.0f} MB vs bound {r.bound_mb:.0f} MB "
                f"(baseline + {TARGET_MEMORY}): {ok}"
            )
    scrna = {r.size: r for r in rows if r.case == "scrna" and r.audit_s and not r.error}
    for small, big in (("10k", "100k"), ("100k", "1M")):
        if small in scrna and big in scrna:
            a, b = scrna[small], scrna[big]
            ideal = b.n_rows / a.n_rows
            ratio = b.audit_s / a.audit_s
            nnz_ratio = b.nnz / a.nnz
            ok = "ok" if ratio <= LINEAR_SLACK * ideal else "MISSED"
            line = (
                f"scrna time({big})/time({small}) = {ratio:.1f} (ideal {ideal:g}; non-zeros "
                f"x{nnz_ratio:.1f}; floor ratio {b.floor_s / a.floor_s:.1f}); "
                f"linear in cells (<= {LINEAR_SLACK * ideal:g}): {ok}"
            )
            out.append(line)
    return out


def planted_table(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    return [(f"{r.case} {r.size}", p, c, v) for r in rows for p, c, v in r.found]


def code_line() -> str:
    """The commit measured (and whether the work tree differs from it)."""
    import subprocess

    def git(*a: str) -> str:
        proc = subprocess.run(["git", *a], cwd=bs.ROOT, capture_output=True, text=True)
        return proc.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "biodata_guard")
    return f"biodata_guard at {head}" + (" + uncommitted changes" if dirty else "")


def machine_line() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def v(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:  # pragma: no cover
            return "?"

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python "
        f"{platform.python_version()}, numpy {v('numpy')}, pandas {v('pandas')}, "
        f"scipy {v('scipy')}, anndata {v('anndata')}, h5py {v('h5py')}, "
        f"{platform.system()} {platform.release()}"
    )


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    t_start = time.perf_counter()
    print(machine_line(), flush=True)
    print(code_line(), flush=True)
    if args.exclude_groups:
        print(f"check groups left out: {', '.join(args.exclude_groups)}", flush=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    generated: list[Path] = []
    rows: list[Row] = []
    failed = False
    for case in _cases(args):
        if not case.ready:
            print(f"generating {case.kind} {case.label} -> {case.folder} ...", flush=True)
            try:
                seconds = bs.generate(case, in_process=args.quick)
            except RuntimeError as exc:
                print(f"  {exc}", flush=True)
                rows.append(Row(case.kind, case.label, error=str(exc)))
                failed = True
                continue
            generated.append(case.folder)
            print(f"  generated in {seconds:.1f} s", flush=True)
        case.load_meta()
        print(f"measuring {case.kind} {case.label} ...", flush=True)
        row = measure(case, args)
        failed |= row.error is not None
        rows.append(row)
        print(
            f"  audit {_f(row.audit_s, '{:.2f}')} s, floor {_f(row.floor_s, '{:.2f}')} s, "
            f"peak RSS {_f(row.rss_mb, '{:.0f}')} MB" + (f"; {row.error}" if row.error else ""),
            flush=True,
        )
    dc_lines: list[str] = []
    dc_md = ""
    if "deepchecks" in args.only:
        from benchmarks import bench_deepchecks

        print("measuring deepchecks comparison ...", flush=True)
        dc = bench_deepchecks.compare(
            quick=args.quick,
            data_dir=args.data_dir,
            build_venv=not args.quick,
            exclude=args.exclude_groups,
        )
        rows += dc.rows
        failed |= any(r.error for r in dc.rows if r.case == "frames" and "biodata_guard" in r.size)
        dc_lines = dc.text_lines()
        dc_md = dc.markdown()
        generated += dc.generated
    body = table_rows(rows)
    print()
    print(_text_table(HEADER, body))
    errors = [f"{r.case} {r.size}: {r.error}" for r in rows if r.error]
    if errors:
        print("errors:")
        for line in errors:
            print(f"  {line}")
    print()
    planted = planted_table(rows)
    p_header = ("case", "planted problem", "check", "biodata_guard")
    if planted:
        print(_text_table(p_header, planted))
        print()
    targets = target_lines(rows, args) + _budget.budget_lines(rows)
    print("targets (issue 8; printed, never asserted):")
    for line in targets:
        print(f"  {line}")
    if dc_lines:
        print()
        print("\n".join(dc_lines))
    print()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"suite wall time {time.perf_counter() - t_start:.1f} s")
    if args.markdown:
        md = [
            f"Machine: {machine_line()}; {code_line()}"
            + (
                f"; check groups left out: {', '.join(args.exclude_groups)}"
                if args.exclude_groups
                else ""
            )
            + ".",
            "",
            _md_table(HEADER, body),
            "",
            *[f"- error: {line}" for line in errors],
            "",
            _md_table(p_header, planted) if planted else "",
            "",
            "Targets:",
            "",
            *[f"- {t}" for t in targets],
            "",
            dc_md,
        ]
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n")
    if args.json:
        from dataclasses import asdict

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"machine": machine_line(), "code": code_line(), "rows": [asdict(r) for r in rows]},
                indent=1,
                default=str,
            )
        )
    if not args.keep_data:
        for folder in generated:
            shutil.rmtree(folder, ignore_errors=True)
    if failed:
        print("some cases failed to run (see ERROR above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

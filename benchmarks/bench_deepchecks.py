"""Side by side with deepchecks' tabular ``train_test_validation`` suite on the same frames.

    python benchmarks/bench_deepchecks.py            # 50,000 samples x 200 features
    python benchmarks/bench_deepchecks.py --quick    # 2,000 x 20 (deepchecks if its venv exists)
    python -m benchmarks --only deepchecks           # the same, inside the suite's table

deepchecks 0.19.1 does not import with numpy 2 / pandas 3, so it runs in a venv of its own that
this script creates once under ``benchmarks/_data/venv-deepchecks`` (python3.12 +
:data:`PINS`), from ``benchmarks/_deepchecks_driver.py`` in a subprocess; biodata_guard runs in
ours, also in a subprocess (``audit()`` on the Parquet files). Planted in the frames: exact
duplicate rows across train and test, an id column numbered in label order, patients with
samples in both splits and a recruiting-centre column that gives the label away. Prints both
tools' times and which planted problems each found. If the venv cannot be built, says why and
goes on with biodata_guard alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # python benchmarks/bench_deepchecks.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_scale as bs

VENV = bs.DATA / "venv-deepchecks"
#: What installs and imports here (measured 2026-11, Python 3.12.1): deepchecks 0.19.1 with
#: numpy 1.26.4, pandas 2.2.3, scikit-learn 1.6.1, scipy 1.17.1, pyarrow 25.0.1, setuptools
#: 80.10.2. deepchecks imports ``pkg_resources``, which setuptools >= 81 no longer ships, and
#: pyarrow 26 refuses numpy < 2 at import: both need an upper bound.
PINS = (
    "deepchecks==0.19.1",
    "numpy<2",
    "pandas<2.3",
    "scikit-learn==1.6.1",
    "setuptools<81",
    "pyarrow<26",
)
DRIVER = Path(__file__).resolve().parent / "_deepchecks_driver.py"


# --------------------------------------------------------------------------------- the venv


def _python312() -> str | None:
    """A Python 3.12 interpreter that runs: this one's base (a venv's), else one on PATH that
    answers (a pyenv shim may exist and still fail: "versions ... at the same time")."""
    if sys.version_info[:2] == (3, 12):
        return getattr(sys, "_base_executable", None) or sys.executable
    for candidate in ("python3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12"):
        found = shutil.which(candidate)
        if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
            return found
    return None


def ensure_venv(*, build: bool = True, venv: Path = VENV) -> tuple[Path | None, str]:
    """The deepchecks venv's python, building the venv once; ``(None, why)`` when it cannot."""
    python = venv / "bin" / "python"
    marker = venv / ".ok"
    if marker.is_file() and python.exists():
        return python, marker.read_text().strip()
    if not build:
        return None, f"deepchecks venv not built ({venv}); run without --quick to build it"
    base = _python312()
    if base is None:
        return None, "python3.12 not found: the deepchecks venv needs it"
    print(f"building the deepchecks venv {venv} ({' '.join(PINS)}) ...", flush=True)
    t0 = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
        [str(python), "-c", "import deepchecks.tabular.suites, pyarrow"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [
                ln
                for ln in (proc.stderr + proc.stdout).splitlines()
                if ln.strip() and not ln.startswith("WARNING: Location")
            ]
            why = lines[-1] if lines else f"exit code {proc.returncode}"
            return None, f"deepchecks venv could not be built ({' '.join(cmd[:4])} ...): {why}"
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import deepchecks, numpy, pandas, sklearn, pyarrow; print(f'deepchecks "
            "{deepchecks.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}, "
            "scikit-learn {sklearn.__version__}, pyarrow {pyarrow.__version__}')",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    marker.write_text(versions + "\n")
    print(f"  built in {time.perf_counter() - t0:.0f} s: {versions}", flush=True)
    return python, versions


# --------------------------------------------------------------------------------- the frames


def make_frames(folder: Path, *, n: int, n_features: int, seed: int = 0) -> dict[str, Any]:
    """Write features.parquet + samples.parquet (biodata_guard) and train.parquet +
    test.parquet (deepchecks) of the same samples; return what was planted."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_patients = n // 4
    patient = np.sort(rng.integers(0, n_patients, n))
    case_patient = rng.random(n_patients) < 0.3
    label = np.where(case_patient[patient], "case", "control").astype(object)
    test_patient = rng.random(n_patients) < 0.2
    split = np.where(test_patient[patient], "test", "train").astype(object)
    # patients in both splits: for 2% of the training patients with >= 2 samples, the last
    # sample goes to test
    counts = np.bincount(patient, minlength=n_patients)
    eligible = np.flatnonzero(~test_patient & (counts >= 2))
    shared = np.sort(rng.choice(eligible, max(2, len(eligible) // 50), replace=False))
    last = np.searchsorted(patient, shared, side="right") - 1
    split[last] = "test"
    # features: log-normal expression-like values, 10 of them shifted by the label
    mu = rng.normal(2.0, 1.0, n_features)
    X = rng.normal(mu, 1.0, (n, n_features))
    signal = min(10, n_features)
    X[:, :signal] += 0.4 * (label == "case")[:, None]
    X = np.round(np.exp(X), 3)
    # exact duplicates: 1% of the test samples are re-uploaded copies of training samples
    test_rows = np.flatnonzero(split == "test")
    test_rows = np.setdiff1d(test_rows, last)
    train_rows = np.flatnonzero(split == "train")
    n_dup = max(5, len(test_rows) // 100)
    dup_rows = np.sort(rng.choice(test_rows, n_dup, replace=False))
    dup_src = rng.choice(train_rows, n_dup, replace=False)
    X[dup_rows] = X[dup_src]
    label[dup_rows] = label[dup_src]
    # the recruiting centre gives the label away (cases at C1/C2, controls at C3..C8; 5% noise)
    centre = np.where(
        label == "case",
        rng.choice(["C1", "C2"], n),
        rng.choice([f"C{i}" for i in range(3, 9)], n),
    ).astype(object)
    noise = rng.random(n) < 0.05
    centre[noise] = rng.choice([f"C{i}" for i in range(1, 9)], noise.sum())
    # an id column numbered in label order (cases registered first)
    order = np.argsort(label != "case", kind="stable")
    record_no = np.empty(n, dtype=np.int64)
    record_no[order] = np.arange(1, n + 1)
    # a duplicate is the same record uploaded again under a new sample id (and a test patient)
    centre[dup_rows] = centre[dup_src]
    record_no[dup_rows] = record_no[dup_src]
    ids = np.array([f"S{i:06d}" for i in range(n)], dtype=object)
    features = pd.DataFrame(X, columns=[f"f{j:03d}" for j in range(n_features)])
    features.insert(0, "sample_id", ids)
    samples = pd.DataFrame(
        {
            "sample_id": ids,
            "patient_id": [f"P{p:06d}" for p in patient],
            "centre": centre,
            "record_no": record_no,
            "label": label,
            "split": split,
        }
    )
    features.to_parquet(folder / "features.parquet", index=False)
    samples.to_parquet(folder / "samples.parquet", index=False)
    both = features.merge(samples.drop(columns="split"), on="sample_id")
    for name in ("train", "test"):
        both[split == name].to_parquet(folder / f"{name}.parquet", index=False)
    planted = {
        "n": n,
        "n_features": n_features,
        "n_train": int((split == "train").sum()),
        "n_test": int((split == "test").sum()),
        "duplicates": int(n_dup),
        "shared_patients": len(shared),
        "id_column": "record_no",
        "label_column": "centre",
    }
    meta = {"kind": "frames", "shape": [n, n_features], "nnz": int(n * n_features)}
    meta["planted"] = planted
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


def _bg_options(folder: Path) -> dict[str, Any]:
    return {
        "features": [str(folder / "features.parquet")],
        "metadata": str(folder / "samples.parquet"),
        "id_col": "sample_id",
        "label_col": "label",
        "split_col": "split",
        "group_cols": ["patient_id"],
    }


def _floor(folder: Path) -> dict[str, Any]:
    import pandas as pd

    t0 = time.perf_counter()
    pd.read_parquet(folder / "features.parquet")
    pd.read_parquet(folder / "samples.parquet")
    return {"seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------------- verdicts


def _bg_found(findings: list[dict], check: str, **evidence: Any) -> str:
    for f in findings:
        if f["check"] == check and all(f["evidence"].get(k) == v for k, v in evidence.items()):
            extra = ""
            if "n_affected_samples" in f["evidence"]:
                extra = f", {f['evidence']['n_affected_samples']} test samples"
            return f"found ({check}, {f['severity']}{extra})"
    return "not found"


def _dc_check(result: dict, name: str) -> dict | None:
    key = name.lower().replace(" ", "")
    for c in result.get("checks", []):
        if c["check"].lower().replace(" ", "").replace("-", "") == key:
            return c
    return None


def _dc_mentions(check: dict | None, column: str) -> bool:
    if check is None:
        return False
    return any(not c["passed"] and column in c["details"] for c in check.get("conditions", []))


def verdicts(meta: dict, bg: dict, dc: dict | None, dc_why: str) -> list[tuple[str, str, str]]:
    pl = meta["planted"]
    fs = bg.get("findings", [])
    rows = []

    def dc_cell(fn) -> str:
        if dc is None:
            return f"not run: {dc_why}"
        return fn()

    def mix() -> str:
        c = _dc_check(dc, "Train Test Samples Mix")
        if c is None:
            return "check missing"
        value = c.get("value")
        ratio = value.get("ratio") if isinstance(value, dict) else value
        shown = f"{100 * ratio:.2g}% of test" if isinstance(ratio, (int, float)) else "?"
        if c["fired"]:
            return f"found (Train Test Samples Mix: {shown})"
        return f"not flagged (Train Test Samples Mix measured {shown}; condition <= 5% passed)"

    def pps(column: str) -> Any:
        def cell() -> str:
            c = _dc_check(dc, "Feature Label Correlation Change")
            if c is None:
                return "check missing"
            train = (
                (c.get("value") or {}).get("train", {}) if isinstance(c.get("value"), dict) else {}
            )
            score = train.get(column)
            shown = f"PPS {score:.2f}" if isinstance(score, (int, float)) else "PPS ?"
            if _dc_mentions(c, column):
                return f"found (Feature Label Correlation Change: {shown})"
            return f"not flagged ({shown})"

        return cell

    def patients() -> str:
        hits = [
            c["check"]
            for c in dc.get("checks", [])
            if c["fired"] and any("patient_id" in k["details"] for k in c.get("conditions", []))
        ]
        note = f"; {', '.join(hits)} fired on patient_id" if hits else ""
        return "not found (the suite has no group-overlap check" + note + ")"

    rows.append(
        (
            f"{pl['duplicates']} exact duplicate rows train->test",
            _bg_found(fs, "leakage.duplicate_samples"),
            dc_cell(mix),
        )
    )
    rows.append(
        (
            f"id column '{pl['id_column']}' numbered in label order",
            _bg_found(fs, "leakage.metadata_predicts_label", column=pl["id_column"]),
            dc_cell(pps(pl["id_column"])),
        )
    )
    rows.append(
        (
            f"{pl['shared_patients']} patients in both splits",
            _bg_found(fs, "leakage.group_overlap", group_col="patient_id"),
            dc_cell(patients),
        )
    )
    rows.append(
        (
            f"'{pl['label_column']}' gives the label away",
            _bg_found(fs, "leakage.metadata_predicts_label", column=pl["label_column"]),
            dc_cell(pps(pl["label_column"])),
        )
    )
    return rows


# --------------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    rows: list[Any] = field(default_factory=list)  # benchmarks.run.Row
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    dc_fired: list[str] = field(default_factory=list)
    bg_fired: list[str] = field(default_factory=list)
    times: dict[str, float | None] = field(default_factory=dict)
    versions: str = ""
    generated: list[Path] = field(default_factory=list)
    label: str = ""

    def text_lines(self) -> list[str]:
        from benchmarks.run import _text_table

        bg, dc = self._times()
        out = [
            f"deepchecks comparison on {self.label} ({self.versions}):",
            f"  biodata_guard audit(): {bg}; deepchecks train_test_validation: {dc}",
            "",
            _text_table(("planted problem", "biodata_guard", "deepchecks"), self.verdicts),
        ]
        if self.dc_fired:
            out.append(f"deepchecks checks that fired: {', '.join(self.dc_fired)}")
        if self.bg_fired:
            out.append(f"biodata_guard findings (warning/error): {', '.join(self.bg_fired)}")
        return out

    def _times(self) -> tuple[str, str]:
        """The two tools' times as text ("failed" / "not run" when they did not run)."""
        t = self.times
        bg = f"{t['bg']:.1f} s" if t.get("bg") is not None else "failed"
        dc = "not run"
        if t.get("dc") is not None:
            dc = f"{t['dc']:.1f} s (+ {t['dc_import']:.1f} s import)"
        return bg, dc

    def markdown(self) -> str:
        from benchmarks.run import _md_table

        bg, dc = self._times()
        lines = [
            f"deepchecks comparison on {self.label} ({self.versions}); biodata_guard {bg}, "
            f"deepchecks `train_test_validation` {dc}.",
            "",
            _md_table(("planted problem", "biodata_guard", "deepchecks"), self.verdicts),
            "",
        ]
        if self.dc_fired:
            lines.append(f"deepchecks checks that fired: {', '.join(self.dc_fired)}.")
        if self.bg_fired:
            lines.append(f"biodata_guard findings (warning/error): {', '.join(self.bg_fired)}.")
        return "\n".join(lines)


def compare(
    *,
    quick: bool = False,
    data_dir: Path = bs.DATA,
    build_venv: bool = True,
    chunk_size: int = 10_000,
    n: int | None = None,
    n_features: int | None = None,
    exclude: tuple[str, ...] = (),
) -> Comparison:
    from benchmarks.run import Row

    n = n or (2_000 if quick else 50_000)
    n_features = n_features or (20 if quick else 200)
    size = f"{n // 1000}k x {n_features}"
    cmp = Comparison(label=f"{n:,} samples x {n_features} features")
    folder = data_dir / f"frames_{n}x{n_features}_s0"
    if not (folder / "meta.json").is_file():
        if quick:  # small: generate here, saving an interpreter start
            make_frames(folder, n=n, n_features=n_features)
        else:
            run = bs.run_child(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_deepchecks",
                    "--generate",
                    str(folder),
                    "--n",
                    str(n),
                    "--n-features",
                    str(n_features),
                ]
            )
            if not run.ok:
                row = Row("frames", f"{size} biodata_guard", error=run.result.get("error"))
                cmp.rows.append(row)
                return cmp
        cmp.generated.append(folder)
    meta = json.loads((folder / "meta.json").read_text())
    # biodata_guard, in our environment
    bg_row = Row("frames", f"{size} biodata_guard", n_rows=n, n_cols=n_features, nnz=n * n_features)
    bg_row.unit = "cells"
    import os

    bg_row.load = os.getloadavg()[0]
    if quick:  # small: read here, saving an interpreter start
        bg_row.floor_s = _floor(folder)["seconds"]
    else:
        fl = bs.run_child(
            [sys.executable, "-m", "benchmarks.bench_deepchecks", "--floor", str(folder)]
        )
        bg_row.floor_s = fl.result.get("seconds")
        bg_row.floor_rss_mb = fl.peak_rss_mb
    au = bs.run_child(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_deepchecks",
            "--bg",
            str(folder),
            "--chunk-size",
            str(chunk_size),
            "--exclude",
            ",".join(exclude),
        ]
    )
    bg: dict[str, Any] = au.result
    if au.ok:
        bg_row.audit_s = bg["seconds"]
        bg_row.rss_mb = au.peak_rss_mb
        bg_row.groups, bg_row.missing = bg["groups_ran"], bg["groups_missing"]
        bg_row.excluded = bg.get("groups_excluded", [])
        bg_row.result = bg
        cmp.times["bg"] = bg["seconds"]
        cmp.bg_fired = sorted(
            {f["check"] for f in bg["findings"] if f["severity"] in ("warning", "error")}
        )
    else:
        bg_row.error = f"audit: {bg.get('error')}"
        sys.stderr.write(au.stderr)
    cmp.rows.append(bg_row)
    # deepchecks, in its venv (not at the quick size: its import alone takes ~15 s)
    if quick:
        python, why = None, "--quick runs biodata_guard's side only"
    else:
        python, why = ensure_venv(build=build_venv)
    dc: dict | None = None
    if python is not None:
        cmp.versions = why
        dc_row = Row(
            "frames", f"{size} deepchecks", n_rows=n, n_cols=n_features, nnz=n * n_features
        )
        dc_row.unit = "cells"
        dc_row.load = os.getloadavg()[0]
        run = bs.run_child(
            [
                str(python),
                str(DRIVER),
                str(folder / "train.parquet"),
                str(folder / "test.parquet"),
                "--cat",
                "centre",
                "--drop",
                "patient_id",
            ]
        )
        if run.ok:
            dc = run.result
            dc_row.audit_s = dc["seconds"]
            dc_row.floor_s = dc["read_seconds"]
            dc_row.rss_mb = run.peak_rss_mb
            dc_row.groups = ["train_test_validation"]
            cmp.times.update(dc=dc["seconds"], dc_import=dc["import_seconds"])
            cmp.dc_fired = [c["check"] for c in dc["checks"] if c["fired"]]
        else:
            why = f"deepchecks failed: {run.result.get('error')}"
            dc_row.error = why
        cmp.rows.append(dc_row)
    else:
        cmp.versions = why
        print(f"  {why}", flush=True)
        skipped = Row(
            "frames", f"{size} deepchecks", n_rows=n, n_cols=n_features, nnz=n * n_features
        )
        skipped.unit = "cells"
        skipped.note = f"SKIPPED: {why}"
        cmp.rows.append(skipped)
    cmp.verdicts = verdicts(meta, bg, dc, why)
    return cmp


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2,000 x 20 (no venv build)")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--n-features", type=int, default=None)
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--data-dir", type=Path, default=bs.DATA)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--bg", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--exclude", default="", help="biodata_guard check groups to leave out")
    args = p.parse_args(argv)
    try:  # child roles: one JSON line on stdout
        if args.generate:
            make_frames(args.generate, n=args.n, n_features=args.n_features)
            print(json.dumps({"generated": str(args.generate)}))
            return 0
        if args.floor:
            print(json.dumps(_floor(args.floor)))
            return 0
        if args.bg:
            result = bs.run_audit(
                "frames",
                args.bg,
                chunk_size=args.chunk_size,
                options=_bg_options(args.bg),
                wanted=bs.WANTED_GROUPS["frames"],
                exclude=tuple(g for g in args.exclude.split(",") if g),
            )
            print(json.dumps(result))
            return 0
    except Exception as exc:
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}))
        return 1
    cmp = compare(
        quick=args.quick,
        data_dir=args.data_dir,
        build_venv=not args.quick,
        chunk_size=args.chunk_size,
        n=args.n,
        n_features=args.n_features,
        exclude=tuple(g for g in args.exclude.split(",") if g),
    )
    from benchmarks.run import HEADER, _text_table, table_rows

    print(_text_table(HEADER, table_rows(cmp.rows)))
    print()
    print("\n".join(cmp.text_lines()))
    if not args.keep_data:
        for folder in cmp.generated:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if any(r.error for r in cmp.rows if "biodata_guard" in r.size) else 0


if __name__ == "__main__":
    raise SystemExit(main())

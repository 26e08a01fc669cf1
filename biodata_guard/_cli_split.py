"""The ``split`` verb: read the sample sheet, plan a leakage-free split, write the sheet with the
new column, audit it with the leakage and balance checks, and say what could not be satisfied."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from biodata_guard._cli_common import EXIT_GATE, EXIT_OK, flag_value, write_outputs
from biodata_guard.audit import audit, check_layer, id_column
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io import read_features, read_table
from biodata_guard.report import FORMATS
from biodata_guard.split import TEST_SIZE, SplitPlan, plan_split

#: Report formats of ``--report PATH``, by the path's suffix.
_REPORT_SUFFIXES = {".json": "json", ".html": "html", ".htm": "html", ".xml": "junit"}
_REPORT_SUFFIXES.update({".txt": "text", ".log": "text"})
#: Sheet formats of ``--out``, by suffix (``.gz`` compresses a text table).
_TEXT_SEP = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}


def split_flags(p: argparse.ArgumentParser, add_field: Callable, field: Callable) -> None:
    """The flags of ``split``: its inputs and columns, the split's shape, where it goes."""
    inputs = p.add_argument_group("inputs")
    for name in ("metadata", "labels", "layer", "orientation"):
        add_field(inputs, field(name))
    add_field(
        inputs,
        field("features"),
        help="Feature matrix (CSV/TSV/Parquet/h5ad/zarr) whose duplicate and near-duplicate "
        "samples are kept on one side.",
    )
    columns = p.add_argument_group("columns")
    for name in ("id_col", "label_col", "group_cols", "batch_col"):
        add_field(columns, field(name))
    shape = p.add_argument_group("split")
    shape.add_argument("--test-size", dest="test_size", metavar="X", help=TEST_SIZE.help)
    add_field(shape, field("n_folds"), help="Cross-validation folds instead of --test-size.")
    add_field(
        shape,
        field("split_col"),
        help="Name of the column to write (default: split, or fold with --n-folds); an "
        "existing column of that name is replaced in the output.",
    )
    add_field(
        shape,
        field("near_duplicate_similarity"),
        help="Cosine similarity at or above which two samples are linked as near duplicates "
        "(default: calibrated from the cohort's nearest-neighbour distances).",
    )
    for name in ("seed", "chunk_size"):
        add_field(shape, field(name))
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        dest="sheet_out",
        metavar="PATH",
        help="Where to write the sample sheet with the split column (.csv, .tsv, .parquet; "
        ".gz compresses text). Never one of the inputs.",
    )
    out.add_argument(
        "--report",
        dest="reports",
        action="append",
        metavar="PATH",
        help="Also write the audit of the split: .json, .html, .xml (JUnit) or .txt (repeatable).",
    )
    add_field(out, field("fail_on"))
    out.add_argument("--debug", action="store_true", help="Show tracebacks (for bug reports).")


def _required(options: dict[str, Any], args: argparse.Namespace) -> None:
    missing = [
        flag
        for flag, given in (
            ("--metadata", options.get("metadata")),
            ("--group-col", options.get("group_cols")),
            ("--out", args.sheet_out),
        )
        if not given
    ]
    if missing:
        raise ConfigError(
            f"split needs {', '.join(missing)}",
            key=missing[0],
            hint="e.g. python -m biodata_guard split --metadata samples.csv --group-col "
            "patient_id --label-col diagnosis --out split.csv",
        )
    if args.test_size is not None and options.get("n_folds") is not None:
        raise ConfigError(
            f"give --test-size or --n-folds, not both; got --test-size {args.test_size} and "
            f"--n-folds {options['n_folds']}",
            key="n_folds",
        )
    if len(options.get("features") or []) > 1:
        raise ConfigError(
            f"--features: split reads one matrix; got {len(options['features'])}",
            key="features",
            hint="Give the matrix whose duplicate samples must stay together.",
        )


def _refuse_inputs(out: str, options: dict[str, Any]) -> None:
    """Nothing is ever written over an input."""
    target = Path(out).resolve()
    inputs = [options.get("metadata"), options.get("labels"), *(options.get("features") or [])]
    for item in inputs:
        if item and Path(item).resolve() == target:
            raise InputError(
                f"--out {out}: is an input of this run; the split is written to a new file",
                path=out,
                hint="Choose another --out path, e.g. samples.split.csv.",
            )


def _column(df: pd.DataFrame, col: str | None, name: str, flag: str) -> None:
    if col is not None and col not in df.columns:
        shown = ", ".join(map(str, list(df.columns)[:12]))
        raise InputError(
            f"{name}: column '{col}' not found; columns are {shown}",
            path=name,
            column=col,
            hint=f"Pass the right name with {flag}.",
        )


def _read(options: dict[str, Any]) -> tuple[pd.DataFrame, str, pd.DataFrame, str | None]:
    """The sample sheet as read, its id column, and the table the split is planned on
    (labels from ``--labels`` joined by id)."""
    meta_path = Path(options["metadata"])
    sheet = read_table(meta_path, name=meta_path.name)
    id_col = id_column(sheet, options.get("id_col"), meta_path.name)
    frame = sheet.copy()
    frame[id_col] = frame[id_col].astype(str).str.strip()
    for col, flag in ((options.get("batch_col"), "--batch-col"),):
        _column(frame, col, meta_path.name, flag)
    for col in options.get("group_cols") or []:
        _column(frame, col, meta_path.name, "--group-col")
    label_col = options.get("label_col")
    labels_path = options.get("labels")
    if labels_path:
        lp = Path(labels_path)
        labels = read_table(lp, name=lp.name)
        lid = id_column(labels, options.get("id_col"), lp.name)
        _column(labels, label_col, lp.name, "--label-col")
        if label_col:
            by_id = labels.assign(**{lid: labels[lid].astype(str).str.strip()})
            by_id = by_id.drop_duplicates(lid).set_index(lid)[label_col]
            frame[label_col] = frame[id_col].map(by_id)
    else:
        _column(frame, label_col, meta_path.name, "--label-col")
    return sheet, id_col, frame, labels_path


def _features(options: dict[str, Any], ids: pd.Index) -> Any:
    paths = options.get("features") or []
    check_layer(options.get("layer"), paths)
    if not paths:
        return None
    fi = read_features(
        paths[0],
        orientation=options.get("orientation") or "auto",
        sample_ids=ids,
        layer=options.get("layer"),
    )
    return fi.view


def _write_sheet(sheet: pd.DataFrame, out: str) -> None:
    p = Path(out)
    suffixes = [s.lower() for s in p.suffixes]
    base = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if base in (".parquet", ".pq"):
        sheet.to_parquet(p, index=False)
    elif base in _TEXT_SEP:
        sheet.to_csv(p, sep=_TEXT_SEP[base], index=False)
    else:
        raise ConfigError(
            f"--out {out}: unknown table format '{p.suffix}'",
            key="out",
            hint="Use .csv, .tsv or .parquet (optionally .csv.gz / .tsv.gz).",
        )


def report_formats(paths: list[str]) -> tuple[list[str], list[str]]:
    formats = []
    for path in paths:
        fmt = _REPORT_SUFFIXES.get(Path(path).suffix.lower())
        if fmt is None or fmt not in FORMATS:
            raise ConfigError(
                f"--report {path}: unknown report format '{Path(path).suffix}'",
                key="report",
                hint="Use .json, .html, .xml (JUnit) or .txt.",
            )
        formats.append(fmt)
    return formats, list(paths)


def run_split(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """Plan, write and audit a split (the ``split`` verb); the exit code of its audit."""
    _required(options, args)
    test_size = (
        flag_value(TEST_SIZE, args.test_size, flag="--test-size") if args.test_size else None
    )
    n_folds = options.get("n_folds")
    _refuse_inputs(args.sheet_out, options)
    formats, report_paths = report_formats(args.reports or [])
    sheet, id_col, frame, labels_path = _read(options)
    features = _features(options, pd.Index(frame[id_col]))
    plan = plan_split(
        frame,
        group_cols=options["group_cols"],
        label_col=options.get("label_col"),
        batch_col=options.get("batch_col"),
        features=features,
        id_col=id_col,
        test_size=test_size,
        n_folds=n_folds,
        near_duplicate_similarity=options.get("near_duplicate_similarity"),
        chunk_size=options.get("chunk_size") or 10_000,
        seed=options.get("seed", 0),
    )
    col = options.get("split_col") or ("fold" if n_folds else "split")
    replaced = col in sheet.columns
    out = sheet.copy()
    out[col] = plan.split.to_numpy()
    _write_sheet(out, args.sheet_out)
    report = _audit_split(args.sheet_out, labels_path, options, id_col, col, n_folds)
    report.artifacts["split"] = summary(plan)
    _print(plan, args.sheet_out, col, replaced, report)
    if formats:
        write_outputs(report, formats, report_paths)
    return EXIT_OK if report.ok else EXIT_GATE


def _audit_split(
    sheet: str,
    labels: str | None,
    options: dict[str, Any],
    id_col: str,
    split_col: str,
    n_folds: int | None,
) -> Any:
    """The leakage and balance audit of the written sheet (and the features, when given)."""
    keep = ("label_col", "group_cols", "batch_col", "layer", "orientation", "chunk_size")
    extra = {k: options[k] for k in (*keep, "near_duplicate_similarity", "seed", "fail_on")
             if options.get(k) is not None}  # fmt: skip
    if n_folds is not None:
        extra["n_folds"] = n_folds
    return audit(
        metadata=sheet,
        labels=labels,
        features=options.get("features") or None,
        id_col=id_col,
        split_col=split_col,
        probe=False,
        only={"leakage", "balance"},
        **extra,
    )


def summary(plan: SplitPlan) -> dict[str, Any]:
    """What the split achieved, JSON-safe (the report's ``artifacts["split"]``)."""
    return {
        "sizes": plan.sizes,
        "targets": plan.targets,
        "n_groups": plan.n_groups,
        "n_feature_links": plan.n_feature_links,
        "n_groups_joined_by_features": plan.n_groups_joined_by_features,
        "class_counts": {k: plan.class_counts.loc[k].to_dict() for k in plan.names},
        "worst_deviation": plan.worst_deviation,
        "worst": plan.worst,
        "worst_proportional": plan.worst_proportional,
        "rare_classes": plan.rare_classes,
        "batches": plan.batches,
        "unsatisfied": plan.unsatisfied,
        "near_duplicates_skipped": plan.links.skipped if plan.links is not None else "",
    }


def _print(plan: SplitPlan, out: str, col: str, replaced: bool, report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    for line in lines(plan, out, col, replaced):
        console.print(escape(line))
    colour = "green" if report.ok else "red"
    console.print(f"audit of the split: [bold {colour}]{escape(report.verdict())}[/]")
    for f in report.findings:
        if f.severity != "info" or f.check.startswith("leakage."):
            if f.evidence.get("not_checked"):
                continue
            console.print(f"  {f.severity} {f.check}: {escape(f.message)}")


def lines(plan: SplitPlan, out: str, col: str, replaced: bool) -> list[str]:
    """The split's summary, one fact per line."""
    n = sum(plan.sizes.values())
    how = "replaced" if replaced else "new"
    text = [f"biodata_guard split: wrote {out} ({n:,} samples; {how} column '{col}')"]
    joined = ""
    if plan.links is not None:
        joined = (
            f"; {plan.n_feature_links} duplicate / near-duplicate pair(s) joined "
            f"{plan.n_groups_joined_by_features} group(s)"
        )
        if plan.links.skipped:
            joined += f" (near duplicates not searched: {plan.links.skipped})"
    text.append(f"  independent groups kept whole: {plan.n_groups:,}{joined}")
    word = "" if plan.names[0] == "train" else "fold "
    sizes = ", ".join(
        f"{word}{k} {v:,} ({v / max(n, 1):.1%}, target {plan.targets[k]:.0%})"
        for k, v in plan.sizes.items()
    )
    text.append(f"  sizes: {sizes}")
    for what, w in (
        ("", plan.worst),
        (" among classes with enough groups", plan.worst_proportional),
    ):
        if w["class"] is None or (what and w == plan.worst):
            continue
        text.append(
            f"  worst class-proportion deviation{what}: {100 * w['deviation']:.1f} points "
            f"(class '{w['class']}': {w['share_in_split']:.1%} of {word}{w['split']} vs "
            f"{w['share_overall']:.1%} overall)"
        )
    if plan.batches:
        spread = sum(len(v) == len(plan.names) for v in plan.batches.values())
        text.append(f"  batches in every split: {spread} of {len(plan.batches)}")
    text += [f"  could not satisfy: {u}" for u in plan.unsatisfied]
    return text

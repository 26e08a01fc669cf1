"""The command line: a thin shell around :func:`biodata_guard.audit.audit`.

Exit codes: 0 nothing at or above ``--fail-on``; 1 the gate fails; 2 usage error or unreadable /
invalid input or config (one line naming the flag or file, never the usage block); 3 internal
error (a bug: please report it, rerun with ``--debug``).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from biodata_guard._cli_common import (
    EXIT_GATE,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    flag_value,
    write_outputs,
)
from biodata_guard.config import ENGINES, fields
from biodata_guard.errors import INVALID, ConfigError, GuardError
from biodata_guard.registry import Options, Param

#: The fields of every verb that gates: where reports go, when the gate fails, waivers.
_GATE = ("formats", "out", "fail_on", "seed", "waivers")
#: What a verb that reads a whole dataset offers besides the parameters of its checks.
_DATASET = (
    "features", "labels", "metadata", "layer", "orientation", "id_col", "label_col",
    "split_col", "group_cols", "batch_col", "chunk_size", "engine", "scheduler",
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2): never the whole usage block."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_INPUT)


def _metavar(f: Param) -> str | None:
    if isinstance(f.valid, Options):
        return "{" + ",".join(f.valid.values) + "}"
    return {"path": "PATH", "paths": "PATH", "int": "N", "float": "X"}.get(f.kind)


def _add_field(parser: Any, f: Param, *, help: str | None = None) -> None:
    """One flag per field; values stay text here and are checked against the declaration in
    :func:`_options` (so a bad value is one line naming the flag and the valid range)."""
    kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help or f.help}
    if f.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["metavar"] = _metavar(f)
        if f.kind in ("paths", "strs", "choices"):
            kwargs["action"] = "append"
    parser.add_argument(f.cli_flag, **kwargs)


def _field(attr: str) -> Param:
    return next(f for f in fields() if f.name == attr)


def _gate_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    for name in _GATE:
        _add_field(group, _field(name))
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Progress lines on stderr (default: when stderr is a terminal).",
    )
    group.add_argument("--debug", action="store_true", help="Show tracebacks (for bug reports).")


def _sectioned(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """The flags of ``names`` in one argument group per config section."""
    wanted = set(names) - set(_GATE)
    sections: dict[str, Any] = {}
    for f in fields():
        if f.name in wanted:
            if f.section not in sections:
                sections[f.section] = parser.add_argument_group(f.section)
            _add_field(sections[f.section], f)


def _group_flags(parser: argparse.ArgumentParser) -> None:
    from biodata_guard.audit import plan

    names = [g.name for g in plan()]
    group = parser.add_argument_group("check groups")
    for flag, verb in (("--only", "Run only"), ("--skip", "Skip")):
        group.add_argument(
            flag,
            action="append",
            metavar="GROUP",
            help=f"{verb} this check group (repeatable): {', '.join(names)}.",
        )


def verb_fields(groups: Iterable[str]) -> list[str]:
    """The fields a verb restricted to check ``groups`` offers: the dataset's inputs and columns
    plus the parameters the groups' checks declare (``probe`` has no ``--coords``)."""
    from biodata_guard import registry

    names = set(_DATASET)
    for g in groups:
        for spec in registry.checks(g):
            names.update(spec.params)
    return [f.name for f in fields() if f.name in names]


def build_parser() -> argparse.ArgumentParser:
    from biodata_guard import __version__
    from biodata_guard._cli_split import split_flags

    parser = _Parser(
        prog="biodata_guard",
        description="Catch the silent data bugs that ruin machine learning on biological data.",
        epilog="Exit codes: 0 pass, 1 gate fails (findings at/above --fail-on), 2 usage or "
        "input error, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"biodata_guard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("audit", help="Run every configured check (the pipeline gate).")
    p.add_argument("--config", metavar="YAML", help="Audit config file (YAML).")
    _sectioned(p, [f.name for f in fields()])
    _gate_flags(p)
    _group_flags(p)

    p = sub.add_parser("split", help="Write a leakage-free split (the fix for group leakage).")
    split_flags(p, _add_field, _field)

    p = sub.add_parser("checks", help="List every check: id, group, severities, needs, params.")
    p.add_argument(
        "--format",
        dest="checks_format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (default), json (the whole registry) or markdown (the README's table).",
    )

    p = sub.add_parser("detect-build", help="Detect the genome build of coordinate file(s).")
    p.add_argument("files", nargs="+", metavar="FILE", help="VCF, BED, GTF, genotype, table.")
    for attr in ("expected_build", "build_false_call_rate"):
        _add_field(p, _field(attr))
    _gate_flags(p)

    p = sub.add_parser("detect-units", help="Detect the units of feature matrix file(s).")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="CSV/TSV/Parquet/h5ad matrix or AnnData .zarr store.",
    )
    for attr in ("gene_lengths", "expected_units", "layer", "orientation", "chunk_size"):
        _add_field(p, _field(attr))
    _gate_flags(p)

    p = sub.add_parser(
        "detect-features",
        help="Feature ids of matrix file(s): namespace, organism, mixes, duplicates, mismatches "
        "between the files or with --reference-features, AnnData structure.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="CSV/TSV/Parquet/h5ad matrix or AnnData .zarr store.",
    )
    for attr in ("reference_features", "layer", "orientation", "chunk_size"):
        _add_field(p, _field(attr))
    _gate_flags(p)

    p = sub.add_parser("probe", help="Can the features predict the batch (JAX probe)?")
    p.add_argument("--config", metavar="YAML", help="Audit config file (YAML).")
    _sectioned(p, verb_fields(["probe"]))
    _gate_flags(p)

    _schema_parser(sub)
    return parser


def _schema_parser(sub: Any) -> None:
    p = sub.add_parser("schema", help="Pandera schemas shipped with biodata_guard.")
    schema_sub = p.add_subparsers(dest="schema_command", metavar="SUBCOMMAND")
    v = schema_sub.add_parser("validate", help="Validate a table against a schema (lazily).")
    v.add_argument(
        "schema",
        help="Schema name (sample_sheet, label_table, expression_matrix) or path to a YAML schema.",
    )
    v.add_argument("file", help="Table to validate (CSV/TSV/Parquet).")
    engine = v.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        dest="engine",
        metavar="{" + ",".join(ENGINES) + "}",
        default=None,
        help="memory (default): read the table with pandas; dask: read and validate it in "
        "partitions on a Dask cluster (same findings; pip install 'biodata_guard[dask]').",
    )
    engine.add_argument(
        "--scheduler",
        dest="scheduler",
        default=None,
        metavar="ADDRESS",
        help="With --engine dask: address of a running dask.distributed scheduler "
        "(tcp://host:8786); default: a local cluster of 2 worker processes.",
    )
    engine.add_argument(
        "--blocksize",
        default=None,
        metavar="SIZE",
        help="With --engine dask: text bytes (Parquet: row-group bytes) per partition, e.g. "
        "64MB (default) or 1048576. A gzip file is one partition.",
    )
    _gate_flags(v)
    schema_sub.add_parser("list", help="List the shipped schemas.")


# --- flag values ---------------------------------------------------------------------------


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Every flag the user gave, typed and checked: all bad values at once, one line each."""
    from biodata_guard.config import combine

    out: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for f in fields():
        raw = getattr(args, f.name, None)
        if raw is None:
            continue
        try:
            out[f.name] = flag_value(f, raw)
        except ConfigError as exc:
            problems.append(exc)
    problems += [_bad_waiver(w) for w in out.get("waivers", []) if _bad_waiver(w)]
    if problems:
        raise combine(problems)
    return out


def _bad_waiver(rule: str) -> ConfigError | None:
    """``--waive`` naming a check that does not exist."""
    from biodata_guard.waivers import parse_waivers

    _, problems = parse_waivers([rule])
    if not problems:
        return None
    return ConfigError(
        f"--waive {rule}: no check has the id '{rule.partition('=')[0]}'", hint=problems[0].hint
    )


# --- running ----------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from biodata_guard.audit import audit
    from biodata_guard.config import AuditConfig, load_config

    if args.command == "checks":
        return _run_checks(args.checks_format)
    if args.command == "split":
        from biodata_guard._cli_split import run_split

        return run_split(args, _options(args))
    options = _options(args)
    if args.command == "schema":
        return _run_schema(args, options)
    only = _groups(args, "only")
    if args.command == "detect-build":
        options["coords"] = list(args.files)
        only = {"build"}
    elif args.command == "detect-units":
        options["features"] = list(args.files)
        only = {"units"}
    elif args.command == "detect-features":
        options["features"] = list(args.files)
        only = {"features"}
    elif args.command == "probe":
        only = {"probe"}
    config_path = getattr(args, "config", None)
    cfg = load_config(config_path, **options) if config_path else AuditConfig(**options)
    if not (cfg.features or cfg.labels or cfg.metadata or cfg.coords):
        where = f"{config_path}: " if config_path else ""
        raise ConfigError(
            f"{where}no input given (no features, labels, metadata or coords)",
            hint="Pass --config audit.yaml with an inputs section, or "
            "--features/--labels/--metadata/--coords.",
        )
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    report = audit(cfg, only=only, skip=_groups(args, "skip"), progress=progress)
    write_outputs(report, cfg.formats, cfg.out)
    return EXIT_OK if report.ok else EXIT_GATE


def _groups(args: argparse.Namespace, which: str) -> set[str] | None:
    """``--only`` / ``--skip`` checked against the groups the audit runs."""
    from biodata_guard.audit import plan

    given = getattr(args, which, None)
    if not given:
        return None
    names = [g.name for g in plan()]
    for g in given:
        if g not in names:
            close = difflib.get_close_matches(g, names, n=1, cutoff=0.5)
            near = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"--{which} must be one of {', '.join(names)}; got {g!r} instead{near}",
                key=which,
            )
    return set(given)


def _run_checks(fmt: str) -> int:
    """Print the check registry as text, JSON or the README's markdown table."""
    import json

    from biodata_guard import registry

    if fmt == "json":
        body = {
            "groups": [g.to_dict() for g in registry.groups()],
            "checks": [c.to_dict() for c in registry.checks()],
        }
        print(json.dumps(body, indent=2, sort_keys=True))
    elif fmt == "markdown":
        print(registry.markdown_table())
    else:
        for spec in registry.checks():
            needs = ", ".join(spec.needs) or "-"
            print(f"{spec.id:40} {'/'.join(spec.severities):22} needs: {needs}")
            print(f"{'':40} {spec.doc}")
    return EXIT_OK


def _run_schema(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from biodata_guard import schemas
    from biodata_guard.config import AuditConfig
    from biodata_guard.schemas import validate_file

    if args.schema_command == "list":
        for name in schemas.available():
            print(name)
        return EXIT_OK
    if args.schema_command != "validate":
        build_parser().parse_args(["schema", "--help"])
    cfg = AuditConfig(**options)
    report = validate_file(
        args.schema,
        args.file,
        fail_on=cfg.fail_on,
        seed=cfg.seed,
        engine=cfg.engine,
        scheduler=cfg.scheduler,
        blocksize=args.blocksize,
    )
    write_outputs(report, cfg.formats, cfg.out)
    return EXIT_OK if report.ok else EXIT_GATE


def _fail(exc: Any, args: argparse.Namespace) -> int:
    """Red line(s) on stderr; the requested reports get an ``input.*`` finding (a JSON or JUnit
    report asked for on stdout is written there, so a pipeline reading it sees why)."""
    from rich.console import Console
    from rich.markup import escape

    from biodata_guard.errors import InputError
    from biodata_guard.findings import Finding, Report

    console = Console(stderr=True, highlight=False)
    problems = getattr(exc, "problems", [exc])
    # soft_wrap: one line per message, so pipeline logs can be grepped
    if len(problems) > 1:
        console.print(
            f"[bold red]biodata_guard: error:[/] {len(problems)} problems", soft_wrap=True
        )
    for p in problems:
        lead = "  - " if len(problems) > 1 else "[bold red]biodata_guard: error:[/] "
        console.print(f"{lead}{escape(p.message)}", soft_wrap=True)
        if p.hint:
            indent = "    " if len(problems) > 1 else ""
            console.print(f"{indent}[bold]hint:[/] {escape(p.hint)}", soft_wrap=True)
    check = getattr(exc, "check", INVALID)
    finding = Finding(
        check,
        "error",
        exc.message,
        evidence={
            "path": getattr(exc, "path", None),
            "column": getattr(exc, "column", None),
            "key": getattr(exc, "key", None),
            "kind": "input" if isinstance(exc, InputError) else "config",
            "problems": [p.message for p in problems],
        },
        hint=exc.hint,
        input=str(getattr(exc, "path", None) or ""),
    )
    _error_reports(args, Report(findings=[finding], seed=_seed(args)))
    return EXIT_INPUT


def _seed(args: argparse.Namespace) -> int:
    raw = getattr(args, "seed", None)
    return int(raw) if isinstance(raw, str) and raw.isdigit() else 0


def _error_reports(args: argparse.Namespace, report: Any) -> None:
    """The error report in every requested machine-readable format (files and stdout)."""
    from biodata_guard.report import FORMATS, write_report

    formats = [f for f in (getattr(args, "formats", None) or []) if f in FORMATS]
    outs = getattr(args, "out", None) or []
    if args.command == "split":  # its --out is the sample sheet, its reports are --report
        from biodata_guard._cli_split import report_formats

        try:
            formats, outs = report_formats(getattr(args, "reports", None) or [])
        except GuardError:
            formats, outs = [], []
    if formats and not outs:
        outs = ["-"] * len(formats)
    for fmt, out in zip(formats, outs, strict=False):
        if fmt == "text" or (fmt == "multiqc" and out in ("-", None)):
            continue  # the red line is the text report
        try:
            write_report(report, fmt, out)
        except Exception:  # the error line above is what matters; never mask it
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m biodata_guard`` and the ``biodata-guard`` script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unknown_flags(parser, args, extra)
    if not args.command:
        parser.print_help()
        return EXIT_INPUT
    try:
        return _run(args)
    except GuardError as exc:
        if args.debug:
            raise
        return _fail(exc, args)
    except KeyboardInterrupt:
        print("biodata_guard: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"biodata_guard: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug; rerun with --debug and report the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _unknown_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list) -> None:
    """One line for flags the verb does not know, with the nearest flag it does."""
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    verb = subs.choices.get(getattr(args, "command", None) or "", parser)
    if getattr(args, "schema_command", None):
        verb = next(a for a in verb._actions if isinstance(a, argparse._SubParsersAction)).choices[
            args.schema_command
        ]
    known = [s for a in verb._actions for s in a.option_strings]
    flags = [x.split("=")[0] for x in extra if x.startswith("--")]
    near = difflib.get_close_matches(flags[0], known, n=1, cutoff=0.6) if flags else []
    note = f"; did you mean {near[0]}?" if near else ""
    if flags and not near and flags[0].lstrip("-").replace("-", "_") in {f.name for f in fields()}:
        note = f"; {verb.prog} does not take {flags[0]}"
    verb.error(f"unrecognized arguments: {' '.join(extra)}{note}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

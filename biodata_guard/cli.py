"""The command line: a thin shell around :func:`biodata_guard.audit.audit`.

Exit codes: 0 nothing at or above ``--fail-on``; 1 the gate fails; 2 usage error or unreadable /
invalid input or config; 3 internal error (a bug: please report it, rerun with ``--debug``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from biodata_guard.config import ENGINES, fields
from biodata_guard.errors import INVALID
from biodata_guard.registry import Options, Param

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

_OUTPUT_ATTRS = ("formats", "out", "fail_on", "seed")


def _add_field(parser: argparse.ArgumentParser, f: Param) -> None:
    kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": f.help}
    choices = f.valid.values if isinstance(f.valid, Options) else None
    if f.kind in ("paths", "strs", "choices"):
        kwargs["action"] = "append"
        if choices:
            kwargs["choices"] = choices
    elif f.kind == "choice":
        kwargs["choices"] = choices
    elif f.kind == "int":
        kwargs["type"] = int
    elif f.kind == "float":
        kwargs["type"] = float
    elif f.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    if f.kind in ("path", "paths"):
        kwargs["metavar"] = "PATH"
    parser.add_argument(f.cli_flag, **kwargs)


def _output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    for f in fields():
        if f.name in _OUTPUT_ATTRS:
            _add_field(group, f)  # type: ignore[arg-type]
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Progress lines on stderr (default: when stderr is a terminal).",
    )
    group.add_argument("--debug", action="store_true", help="Show tracebacks (for bug reports).")


def _group_flags(parser: argparse.ArgumentParser) -> None:
    from biodata_guard.audit import plan

    names = [g.name for g in plan()]
    group = parser.add_argument_group("check groups")
    for flag, verb in (("--only", "Run only"), ("--skip", "Skip")):
        group.add_argument(
            flag,
            action="append",
            choices=names,
            metavar="GROUP",
            help=f"{verb} this check group (repeatable): {', '.join(names)}.",
        )


def _audit_flags(parser: argparse.ArgumentParser, *, skip: Sequence[str] = ()) -> None:
    parser.add_argument("--config", metavar="YAML", help="Audit config file (YAML).")
    sections: dict[str, argparse._ArgumentGroup] = {}
    for f in fields():
        if f.name in _OUTPUT_ATTRS or f.name in skip:
            continue
        if f.section not in sections:
            sections[f.section] = parser.add_argument_group(f.section)
        _add_field(sections[f.section], f)  # type: ignore[arg-type]
    _output_flags(parser)


def build_parser() -> argparse.ArgumentParser:
    from biodata_guard import __version__

    parser = argparse.ArgumentParser(
        prog="biodata_guard",
        description="Catch the silent data bugs that ruin machine learning on biological data.",
        epilog="Exit codes: 0 pass, 1 gate fails (findings at/above --fail-on), 2 usage or "
        "input error, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"biodata_guard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("audit", help="Run every configured check (the pipeline gate).")
    _audit_flags(p)
    _group_flags(p)

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
    _add_field(p, _field("expected_build"))
    _output_flags(p)

    p = sub.add_parser("detect-units", help="Detect the units of feature matrix file(s).")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="CSV/TSV/Parquet/h5ad matrix or AnnData .zarr store.",
    )
    for attr in ("gene_lengths", "expected_units", "layer", "orientation", "chunk_size"):
        _add_field(p, _field(attr))
    _output_flags(p)

    p = sub.add_parser("probe", help="Can the features predict the batch (JAX probe)?")
    _audit_flags(p)

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
        choices=ENGINES,
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
    _output_flags(v)
    schema_sub.add_parser("list", help="List the shipped schemas.")
    return parser


def _field(attr: str) -> Param:
    return next(f for f in fields() if f.name == attr)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        f.name: getattr(args, f.name) for f in fields() if getattr(args, f.name, None) is not None
    }


def _run(args: argparse.Namespace) -> int:
    from biodata_guard.audit import audit
    from biodata_guard.config import AuditConfig, load_config

    options = _options(args)
    if args.command == "schema":
        return _run_schema(args, options)
    if args.command == "checks":
        return _run_checks(args.checks_format)
    only = getattr(args, "only", None)
    if args.command == "detect-build":
        options["coords"] = list(args.files)
        only = {"build"}
    elif args.command == "detect-units":
        options["features"] = list(args.files)
        only = {"units"}
    elif args.command == "probe":
        only = {"probe"}
    config_path = getattr(args, "config", None)
    cfg = load_config(config_path, **options) if config_path else AuditConfig(**options)
    if not (cfg.features or cfg.labels or cfg.metadata or cfg.coords):
        from biodata_guard.errors import ConfigError

        where = f"{config_path}: " if config_path else ""
        raise ConfigError(
            f"{where}no input given (no features, labels, metadata or coords)",
            hint="Pass --config audit.yaml with an inputs section, or "
            "--features/--labels/--metadata/--coords.",
        )
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    report = audit(cfg, only=only, skip=getattr(args, "skip", None), progress=progress)
    _write_outputs(report, cfg.formats, cfg.out)
    return EXIT_OK if report.ok else EXIT_GATE


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


def _write_outputs(report: Any, formats: list[str], outs: list[str]) -> None:
    from biodata_guard.report import write_report

    if not formats:
        formats = ["text"]
    if not outs:
        outs = ["-"] * len(formats)
    for fmt, out in zip(formats, outs, strict=True):
        write_report(report, fmt, out)


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
    _write_outputs(report, cfg.formats, cfg.out)
    return EXIT_OK if report.ok else EXIT_GATE


def _fail(exc: Any, args: argparse.Namespace) -> int:
    """One red line on stderr; the requested reports get an ``input.*`` finding."""
    from rich.console import Console
    from rich.markup import escape

    from biodata_guard.errors import InputError
    from biodata_guard.findings import Finding, Report

    console = Console(stderr=True, highlight=False)
    # soft_wrap: one line per message, so pipeline logs can be grepped
    console.print(f"[bold red]biodata_guard: error:[/] {escape(exc.message)}", soft_wrap=True)
    if exc.hint:
        console.print(f"[bold]hint:[/] {escape(exc.hint)}", soft_wrap=True)
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
        },
        hint=exc.hint,
        input=str(getattr(exc, "path", None) or ""),
    )
    formats = getattr(args, "formats", None) or []
    outs = getattr(args, "out", None) or []
    files = [(f, o) for f, o in zip(formats, outs, strict=False) if o and o != "-"]
    if files:
        try:
            _write_outputs(
                Report(findings=[finding], seed=getattr(args, "seed", None) or 0),
                [f for f, _ in files],
                [o for _, o in files],
            )
        except Exception:  # the error line above is what matters; never mask it
            pass
    return EXIT_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m biodata_guard`` and the ``biodata-guard`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_INPUT
    from biodata_guard.errors import GuardError

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

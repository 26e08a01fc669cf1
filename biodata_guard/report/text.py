"""Terminal rendering with rich: a table per check group, coloured by severity."""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from biodata_guard import registry

if TYPE_CHECKING:  # annotations only: renderers read reports, the model imports a renderer
    from biodata_guard.findings import Finding, Report

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _build(report: Report, console: Console) -> None:
    verdict, _, rest = report.verdict().partition(" ")
    colour = "bold green" if report.ok else "bold red"
    console.print(f"biodata_guard {report.version}: [{colour}]{verdict}[/] {rest}")
    for item in report.inputs:
        shape = " x ".join(str(s) for s in item.get("shape", []))
        console.print(f"  [dim]input[/] {item.get('name')} ({item.get('kind')}, {shape})")
    groups: dict[str, list] = {}
    skipped = [f for f in report.findings if f.evidence.get("not_checked")]
    for f in report.findings:
        if not f.evidence.get("not_checked"):
            groups.setdefault(_title(f.check), []).append(f)
    for group in sorted(groups, key=lambda g: min(_rank(f) for f in groups[g])):
        table = Table(title=group, title_justify="left", show_lines=True, expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("finding", ratio=1, overflow="fold")  # hints hold long calls: fold
        for f in groups[group]:
            body = Text(f.message)
            if f.waiver is not None:
                body.append("\nwaived: ", style="bold")
                body.append(str(f.waiver.get("reason", "")))
            if f.hint and f.severity != "info":
                body.append("\nfix: ", style="bold")
                body.append(f.hint, style="dim")
            severity = Text(str(f.severity), style=_STYLE[f.severity])
            if f.waiver is not None:
                severity = Text(f"{f.severity} (waived)", style="dim")
            table.add_row(severity, f.check, body)
        console.print(table)
    if skipped:
        console.print(f"[dim]not checked ({len(skipped)}):[/]")
        for f in skipped:
            where = f" [{f.input}]" if f.input else ""
            console.print(f"  [dim]{f.check}{where}: {f.evidence.get('reason', '')}[/]")
    if not report.findings:
        console.print("[green]No findings.[/]")


def _rank(f: Finding) -> int:
    """Groups with unwaived problems first; a waived finding ranks as a warning."""
    return -min(f.severity.rank, 1) if f.waiver is not None else -f.severity.rank


def _title(check: str) -> str:
    spec = registry.group_of(check)
    return spec.title if spec is not None else check.split(".", 1)[0]


def render(report: Report, *, color: bool | None = None, width: int | None = None) -> str:
    """Render to a string (``color=False`` for plain text files)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=bool(color),
        no_color=not color,
        width=width or 120,
        highlight=False,
    )
    _build(report, console)
    return buf.getvalue()


def print_report(report: Report) -> None:
    """Print to stdout (colour when stdout is a terminal; 120 columns in pipeline logs)."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    _build(report, Console(highlight=False, width=width))

"""Report renderers: text (terminal), json, html, multiqc, junit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from biodata_guard.report import html, junit, multiqc, text

if TYPE_CHECKING:  # annotations only: the report model imports the html renderer
    from biodata_guard.findings import Report

__all__ = ["FORMATS", "render_text", "write_report"]

FORMATS = ("text", "json", "html", "multiqc", "junit")


def render_text(report: Report, *, color: bool | None = None, width: int | None = None) -> str:
    """The terminal rendering as a string (rich markup rendered, colour optional)."""
    return text.render(report, color=color, width=width)


def write_report(report: Report, fmt: str, out: str | Path | None = None) -> list[Path]:
    """Render ``report`` as ``fmt`` to ``out`` (a file; ``None`` or ``"-"`` for stdout).

    ``multiqc`` writes MultiQC custom-content files into the folder ``out``. Returns the paths
    written. Parent folders are created.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {fmt!r} instead")
    to_stdout = out is None or str(out) == "-"
    if fmt == "multiqc":
        folder = Path("." if to_stdout else out)
        folder.mkdir(parents=True, exist_ok=True)
        return list(multiqc.write(report, folder))
    if fmt == "text":
        if to_stdout:
            text.print_report(report)
            return []
        body = render_text(report, color=False, width=120)
    elif fmt == "json":
        body = report.to_json()
    elif fmt == "html":
        body = html.render(report)
    else:
        body = junit.render(report)
    if to_stdout:
        sys.stdout.write(body)
        sys.stdout.flush()
        return []
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return [path]

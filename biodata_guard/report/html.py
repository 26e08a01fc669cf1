"""The self-contained HTML report: summary banner, one section per check group, plots, inputs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biodata_guard import registry
from biodata_guard.report._plots import plots_for

if TYPE_CHECKING:  # the report model imports this renderer (Report.to_html)
    from biodata_guard.findings import Finding, Report

__all__ = ["render"]

#: Sections in reading order: (anchor, title, finding groups, artifact keys, what it checks).
_SEVERITIES = ("error", "warning", "info")
#: Display limits so that a report stays small whatever the findings hold.
_MAX_LIST = 20
_MAX_ROWS = 30
_MAX_SUBJECTS = 50
_MAX_TEXT = 2000


def render(report: Report) -> str:
    """Render a report as one self-contained HTML page.

    No network is needed to view it: the CSS is inline and plots are base64-embedded PNG images
    drawn from ``report.artifacts``. Every value taken from the report is HTML-escaped.

    Parameters
    ----------
    report
        The audit report.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> from biodata_guard import Finding, Report
    >>> f = Finding("leakage.id_overlap", "error", "meta.csv, sample_id: 3 of 40")
    >>> r = Report(findings=[f])
    >>> page = render(r)
    >>> "FAIL" in page and "leakage.id_overlap" in page
    True
    """
    sections = _plan_sections(report)
    body = [
        _header(report),
        _banner(report),
        _toc(sections),
        *(_section(report, spec, findings) for spec, findings in sections),
        _inputs(report),
        _config(report),
        _footer(report),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>biodata_guard audit: {'PASS' if report.ok else 'FAIL'}</title>\n"
        f"<style>\n{_css()}\n</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(part for part in body if part)
        + "\n</main>\n</body>\n</html>\n"
    )


def _css() -> str:
    path = Path(__file__).with_name("style.css")
    try:
        css = path.read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - the stylesheet ships with the package
        return ""
    return css.replace("</", "<\\/")


def _section_specs() -> list[tuple[str, str, tuple[str, ...], tuple[str, ...], str]]:
    """(anchor, title, id prefixes, artifact keys, description) of each check group, in order."""
    return [
        (g.name, g.title, g.id_prefixes, tuple(dict.fromkeys((g.name, *g.id_prefixes))),
         g.description)
        for g in registry.groups()
    ]  # fmt: skip


def _plan_sections(report: Report) -> list[tuple[tuple, list[Finding]]]:
    """Sections that have findings or plot data, known groups first, then any others."""
    by_group: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_group.setdefault(f.group, []).append(f)
    artifacts = report.artifacts if isinstance(report.artifacts, Mapping) else {}
    out = []
    claimed: set[str] = set()
    for spec in _section_specs():
        _, _, groups, keys, _ = spec
        claimed.update(groups, keys)
        found = [f for g in groups for f in by_group.get(g, [])]
        found.sort(key=lambda f: (-f.severity.rank, f.check, f.input, f.message))
        if found or any(k in artifacts and artifacts[k] for k in keys):
            out.append((spec, found))
    extra = sorted((set(by_group) | set(artifacts)) - claimed)
    for group in extra:
        found = by_group.get(group, [])
        if found or artifacts.get(group):
            out.append(((group, group.capitalize(), (group,), (group,), ""), found))
    return out


def _header(report: Report) -> str:
    names = ", ".join(str(i.get("name", "")) for i in report.inputs if isinstance(i, Mapping))
    sub = f"Inputs: {names}" if names else "No inputs recorded"
    return f'<h1>biodata_guard audit report</h1>\n<p class="sub">{escape(sub)}</p>'


def _banner(report: Report) -> str:
    ok = report.ok
    counts = report.counts()
    n_fail = len(report.failing())
    n_waived = len(report.waived())
    if ok:
        note = f"No finding at or above '{report.fail_on}'. The gate passes."
        if n_waived:
            note = (
                f"No unwaived finding at or above '{report.fail_on}'; {n_waived} waived on "
                "purpose (marked below with their reasons). The gate passes."
            )
    else:
        note = (
            f"{n_fail} finding(s) at or above '{report.fail_on}'. The gate fails: fix the data "
            "(see the hints below) before training."
        )
    boxes = "".join(
        f'<div class="count {s}"><b>{counts.get(str(s), 0)}</b>{escape(str(s))}'
        f"{'s' if str(s) != 'info' else ''}</div>"
        for s in _SEVERITIES
    )
    if n_waived:
        boxes += f'<div class="count waived"><b>{n_waived}</b>waived</div>'
    return (
        f'<div class="banner {"pass" if ok else "fail"}" id="summary">'
        f'<div class="verdict">{"PASS" if ok else "FAIL"}</div>'
        f'<div class="verdict-note">{escape(note)}</div>'
        f'<div class="counts">{boxes}</div></div>'
    )


def _toc(sections: list[tuple[tuple, list[Finding]]]) -> str:
    if not sections:
        return (
            '<nav class="toc"><p class="clean">No findings and no diagnostics recorded.</p></nav>'
        )
    items = []
    for (anchor, title, *_), found in sections:
        worst = _worst(found)
        badge = (
            f'<span class="sev {worst}">{len(found)}</span>'
            if worst
            else '<span class="sev waived">waived</span>'
            if found
            else '<span class="sev pass">clean</span>'
        )
        items.append(f'<li><a href="#sec-{escape(anchor)}">{escape(title)}</a> {badge}</li>')
    items.append('<li><a href="#inputs">Inputs</a></li><li><a href="#config">Config</a></li>')
    return f'<nav class="toc"><ul>{"".join(items)}</ul></nav>'


def _worst(found: list[Finding]) -> str:
    """The worst severity among findings no waiver accepted ("" when none)."""
    live = [f for f in found if f.waiver is None]
    return str(max(live, key=lambda f: f.severity.rank).severity) if live else ""


def _section(report: Report, spec: tuple, found: list[Finding]) -> str:
    anchor, title, _groups, keys, blurb = spec
    parts = [
        f'<section class="group" id="sec-{escape(anchor)}" data-group="{escape(anchor)}">',
        "<header>",
        f"<h2>{escape(title)}</h2>",
    ]
    for s in _SEVERITIES:
        n = sum(1 for f in found if f.severity == s and f.waiver is None)
        if n:
            parts.append(f'<span class="sev {s}">{n} {escape(str(s))}</span>')
    n_waived = sum(1 for f in found if f.waiver is not None)
    if n_waived:
        parts.append(f'<span class="sev waived">{n_waived} waived</span>')
    if not any(f.severity >= "warning" and f.waiver is None for f in found):
        parts.append('<span class="sev pass">no problems</span>')
    parts.append("</header>")
    if blurb:
        parts.append(f'<p class="sub">{escape(blurb)}</p>')
    if not found:
        parts.append('<p class="clean">No findings in this group.</p>')
    for f in found:
        parts.append(_finding(f))
    plots = _plots(report, keys)
    if plots:
        parts.append("<h3>Plots</h3>")
        parts.extend(plots)
    parts.append("</section>")
    return "\n".join(parts)


def _plots(report: Report, keys: Sequence[str]) -> list[str]:
    artifacts = report.artifacts if isinstance(report.artifacts, Mapping) else {}
    out = []
    seen: set[int] = set()
    for key in keys:
        data = artifacts.get(key)
        if not data or id(data) in seen:
            continue
        seen.add(id(data))
        try:
            figures = plots_for(key, data)
        except Exception:  # no plotting: the evidence tables remain
            figures = []
        for caption, uri in figures:
            if not uri.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")):
                continue
            out.append(
                f'<figure data-plot="{escape(key)}"><img alt="{escape(caption)}" '
                f'src="{uri}"><figcaption>{escape(caption)}</figcaption></figure>'
            )
    return out


def _finding(f: Finding) -> str:
    sev = str(f.severity)
    waived = " waived" if f.waiver is not None else ""
    parts = [
        f'<article class="finding {sev}{waived}" data-check="{escape(f.check)}"'
        f"{' data-waived="true"' if waived else ''}>",
        '<div class="head">',
        f'<span class="sev {sev}">{escape(sev)}</span>',
        f'<span class="check mono">{escape(f.check)}</span>',
    ]
    if waived:
        parts.append('<span class="sev waived">waived</span>')
    if f.input:
        parts.append(f'<span class="input">{escape(str(f.input))}</span>')
    parts.append("</div>")
    parts.append(f'<p class="msg">{_text(f.message)}</p>')
    if f.waiver is not None:
        rules = ", ".join(str(r) for r in f.waiver.get("rules", []))
        parts.append(
            f'<p class="waiver">{_text(f.waiver.get("reason", ""))}'
            f' <span class="mono">({_text(rules, limit=300)})</span></p>'
        )
    if f.hint:
        parts.append(f'<p class="hint">{_text(f.hint)}</p>')
    if f.evidence:
        # Folded, so a long report stays readable; the summary line keeps the key figures.
        parts.append(f"<details><summary>Evidence{_peek(f.evidence)}</summary>")
        parts.append(_value(f.evidence, depth=0))
        parts.append("</details>")
    if f.subjects:
        shown = f.subjects[:_MAX_SUBJECTS]
        more = len(f.subjects) - len(shown)
        items = ", ".join(_text(_scalar(s), limit=200) for s in shown)
        tail = f' <span class="more">… and {more} more</span>' if more > 0 else ""
        parts.append(
            f"<details><summary>Subjects ({len(f.subjects)} listed; totals in the evidence)"
            f'</summary><p class="subjects mono">{items}{tail}</p></details>'
        )
    parts.append("</article>")
    return "\n".join(parts)


#: Evidence figures shown in the folded evidence's summary line.
_PEEK = 4


def _peek(evidence: Mapping) -> str:
    """The first few scalar figures of the evidence, for its summary line."""
    items = [
        f"{k} {_scalar(v)}"
        for k, v in evidence.items()
        if _is_scalar(v) and v is not None and not isinstance(v, bool) and k != "not_checked"
    ][:_PEEK]
    if not items:
        return ""
    return f': <span class="peek">{_text(", ".join(items), limit=300)}</span>'


def _text(value: Any, *, limit: int = _MAX_TEXT) -> str:
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return escape(s)


def _scalar(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.4e}"
    return str(v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _value(v: Any, *, depth: int) -> str:
    """An evidence value as HTML: scalars as text, mappings as tables, lists truncated."""
    if _is_scalar(v):
        cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        return f"<span{cls}>{_text(_scalar(v), limit=500)}</span>"
    if depth >= 3:
        return f"<code>{_text(json.dumps(v, default=str, sort_keys=True), limit=500)}</code>"
    if isinstance(v, Mapping):
        return _mapping(v, depth=depth)
    if isinstance(v, Sequence):
        items = list(v)
        if items and all(isinstance(i, Mapping) for i in items):
            return _records(items, depth=depth)
        shown = items[:_MAX_LIST]
        more = len(items) - len(shown)
        inner = ", ".join(
            _text(_scalar(i), limit=200) if _is_scalar(i) else _value(i, depth=depth + 1)
            for i in shown
        )
        tail = f' <span class="more">… and {more} more</span>' if more > 0 else ""
        return f"<span>[{inner}{tail}]</span>"
    return _text(v)


def _mapping(m: Mapping, *, depth: int) -> str:
    items = list(m.items())
    # A mapping of flat mappings with shared keys (e.g. class counts per split) reads best as a
    # matrix: rows = outer keys, columns = inner keys.
    inner = [v for _, v in items]
    if len(items) >= 1 and all(
        isinstance(v, Mapping) and v and all(_is_scalar(x) for x in v.values()) for v in inner
    ):
        cols: list[str] = []
        for v in inner:
            for k in v:
                if k not in cols:
                    cols.append(str(k))
        if len(cols) <= 12:
            return _matrix(items, cols)
    if depth > 0 and 0 < len(items) <= 12 and all(_is_scalar(v) for _, v in items):
        # A small flat mapping inside evidence (e.g. class -> count) reads best across.
        head = "".join(f"<th>{_text(k, limit=200)}</th>" for k, _ in items)
        cells = "".join(f"<td>{_value(v, depth=depth + 1)}</td>" for _, v in items)
        return f"<table><tr>{head}</tr><tr>{cells}</tr></table>"
    shown = items[:_MAX_ROWS]
    rows = "".join(
        f"<tr><th>{_text(k, limit=200)}</th><td>{_value(v, depth=depth + 1)}</td></tr>"
        for k, v in shown
    )
    more = len(items) - len(shown)
    if more > 0:
        rows += f'<tr><td colspan="2" class="more">… and {more} more</td></tr>'
    return f'<table class="kv">{rows}</table>'


def _matrix(items: list[tuple[Any, Any]], cols: list[str]) -> str:
    shown = items[:_MAX_ROWS]
    head = "<tr><th></th>" + "".join(f"<th>{_text(c, limit=200)}</th>" for c in cols) + "</tr>"
    rows = []
    for k, v in shown:
        cells = "".join(
            f'<td class="num">{_text(_scalar(v.get(c)), limit=200)}</td>' if c in v else "<td></td>"
            for c in cols
        )
        rows.append(f"<tr><th>{_text(k, limit=200)}</th>{cells}</tr>")
    more = len(items) - len(shown)
    if more > 0:
        rows.append(f'<tr><td colspan="{len(cols) + 1}" class="more">… and {more} more</td></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


def _records(items: list[Mapping], *, depth: int) -> str:
    cols: list[str] = []
    for r in items[:_MAX_ROWS]:
        for k in r:
            if str(k) not in cols:
                cols.append(str(k))
    cols = cols[:12]
    head = "<tr>" + "".join(f"<th>{_text(c, limit=200)}</th>" for c in cols) + "</tr>"
    rows = []
    for r in items[:_MAX_ROWS]:
        cells = "".join(
            f"<td>{_value(r[c], depth=depth + 1)}</td>" if c in r else "<td></td>" for c in cols
        )
        rows.append(f"<tr>{cells}</tr>")
    more = len(items) - _MAX_ROWS
    if more > 0:
        rows.append(f'<tr><td colspan="{len(cols)}" class="more">… and {more} more</td></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


def _inputs(report: Report) -> str:
    rows = []
    for item in report.inputs:
        if not isinstance(item, Mapping):
            continue
        shape = item.get("shape")
        if isinstance(shape, Sequence) and not isinstance(shape, str):
            shape_s = " × ".join(str(s) for s in shape)
        else:
            shape_s = "" if shape is None else _scalar(shape)
        sha = str(item.get("sha256") or "")
        rows.append(
            "<tr>"
            f"<td>{_text(item.get('name', ''), limit=300)}</td>"
            f"<td>{_text(item.get('kind', '') or '', limit=100)}</td>"
            f'<td class="num">{_text(shape_s, limit=100)}</td>'
            f'<td class="mono">{_text(item.get("path", "") or "", limit=500)}</td>'
            f'<td class="mono" title="{escape(sha)}">{escape(sha[:12])}'
            f"{'…' if len(sha) > 12 else ''}</td>"
            "</tr>"
        )
    if not rows:
        table = '<p class="sub">No inputs recorded.</p>'
    else:
        table = (
            "<table><tr><th>name</th><th>kind</th><th>shape</th><th>path</th><th>sha256</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return f'<section class="group" id="inputs"><header><h2>Inputs</h2></header>{table}</section>'


def _config(report: Report) -> str:
    try:
        import yaml

        text = yaml.safe_dump(
            json.loads(json.dumps(report.config, default=str)), sort_keys=False
        ).strip()
    except Exception:  # fall back to JSON, which always works
        text = json.dumps(report.config, default=str, indent=2, sort_keys=True)
    if not report.config:
        text = "# defaults (no config recorded)"
    return (
        '<section class="group" id="config"><header><h2>Config used</h2></header>'
        f'<pre class="config">{escape(text)}</pre></section>'
    )


def _footer(report: Report) -> str:
    try:
        elapsed = f" · {float(report.elapsed_seconds):.1f} s"
    except (TypeError, ValueError):
        elapsed = ""
    return (
        f"<footer>biodata_guard {escape(str(report.version))} · seed {escape(str(report.seed))}"
        f" · fail on {escape(str(report.fail_on))}{elapsed}</footer>"
    )

"""MultiQC custom-content files: general-stats columns per input and a section per check group."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biodata_guard import registry
from biodata_guard.errors import InputError

if TYPE_CHECKING:  # annotations only: renderers read reports, the model imports a renderer
    from biodata_guard.findings import Finding, Report

__all__ = ["write"]

#: The MultiQC module all sections are grouped under (``parent_id`` in custom content).
PARENT_ID = "biodata_guard"
_PARENT_NAME = "biodata_guard"
_HREF = "https://pypi.org/project/biodata-guard/"
#: Row name for findings that are not about one input.
_NO_INPUT = "(audit)"
_COLOURS = {"error": "#c62828", "warning": "#e69500", "info": "#1f5fa8"}
#: Badge colour of a waived finding (accepted on purpose: neither red nor green).
_WAIVED = "#7a8290"
_MAX_SUBJECTS = 5


def write(report: Report, out_dir: Path) -> list[Path]:
    """Write MultiQC custom-content files for ``report`` into ``out_dir``.

    Files written (MultiQC picks them up by the ``_mqc`` suffix when it scans the folder):

    - ``biodata_guard_general_stats_mqc.json``: findings per input by severity (General Statistics)
    - ``biodata_guard_summary_mqc.json``: a bar chart of findings per check group by severity
    - ``biodata_guard_<group>_mqc.json``: one section per check group with the findings table
    - ``biodata_guard_balance_class_counts_mqc.json``: class counts per split, when recorded
    - ``biodata_guard_mqc_versions.yaml``: the tool version for MultiQC's software-versions table

    Parameters
    ----------
    report
        The audit report.
    out_dir
        Folder to write into; created when missing.

    Returns
    -------
    list of Path
        The files written, in a stable order.

    Raises
    ------
    InputError
        When ``out_dir`` exists and is not a folder or cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from biodata_guard import Finding, Report
    >>> f = Finding("leakage.id_overlap", "error", "meta.csv, sample_id: 3 of 40")
    >>> r = Report(findings=[f])
    >>> [p.name for p in write(r, Path(tempfile.mkdtemp()))][:2]
    ['biodata_guard_general_stats_mqc.json', 'biodata_guard_summary_mqc.json']
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(
            f"{out_dir}: the MultiQC output must be a folder; got an existing file instead",
            path=str(out_dir),
            hint="Give --format multiqc a folder path, e.g. --out results/multiqc/",
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{out_dir}: cannot create the MultiQC output folder ({exc.strerror})",
            path=str(out_dir),
            hint="Choose a writable --out folder.",
        ) from None

    contents: list[tuple[str, str]] = [
        ("biodata_guard_general_stats_mqc.json", _dump(_general_stats(report))),
        ("biodata_guard_summary_mqc.json", _dump(_summary(report))),
    ]
    for group, found in _groups(report):
        section = _section(report, group, found)
        contents.append((f"biodata_guard_{_slug(group)}_mqc.json", _dump(section)))
    counts = _class_counts(report)
    if counts is not None:
        contents.append(("biodata_guard_balance_class_counts_mqc.json", _dump(counts)))
    contents.append(
        (
            "biodata_guard_mqc_versions.yaml",
            f'biodata_guard:\n  biodata_guard: "{report.version}"\n',
        )
    )
    written = []
    for name, text in contents:
        path = out_dir / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"{path}: cannot write the MultiQC file ({exc.strerror})",
                path=str(path),
                hint="Choose a writable --out folder.",
            ) from None
        written.append(path)
    return written


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "other"


def _parent(report: Report) -> dict[str, Any]:
    counts = report.counts()
    verdict = "PASS" if report.ok else "FAIL"
    waived = f", {len(report.waived())} waived" if report.waived() else ""
    return {
        "parent_id": PARENT_ID,
        "parent_name": _PARENT_NAME,
        "parent_description": (
            f"Pre-training data audit: <strong>{verdict}</strong> "
            f"({counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
            f"{waived}; the gate fails at '{escape(str(report.fail_on))}'). biodata_guard "
            f"{escape(str(report.version))}, seed {escape(str(report.seed))}."
        ),
    }


def _row_names(report: Report) -> list[str]:
    names: list[str] = []
    for item in report.inputs:
        if isinstance(item, Mapping) and item.get("name") and str(item["name"]) not in names:
            names.append(str(item["name"]))
    for f in report.findings:
        name = str(f.input) if f.input else _NO_INPUT
        if name not in names:
            names.append(name)
    return names or [_NO_INPUT]


def _general_stats(report: Report) -> dict[str, Any]:
    data: dict[str, dict[str, int]] = {
        name: {"bg_errors": 0, "bg_warnings": 0, "bg_info": 0} for name in _row_names(report)
    }
    key = {"error": "bg_errors", "warning": "bg_warnings", "info": "bg_info"}
    for f in report.findings:
        row = data[str(f.input) if f.input else _NO_INPUT]
        if f.waiver is not None:
            row["bg_waived"] = row.get("bg_waived", 0) + 1
        else:
            row[key[f.severity]] += 1
    return {
        "id": "biodata_guard_general_stats",
        "plot_type": "generalstats",
        "namespace": "biodata_guard",
        "pconfig": [
            {
                "bg_errors": {
                    "title": "Audit errors",
                    "description": "biodata_guard findings of severity error for this input",
                    "min": 0,
                    "scale": "Reds",
                    "format": "{:,.0f}",
                }
            },
            {
                "bg_warnings": {
                    "title": "Audit warnings",
                    "description": "biodata_guard findings of severity warning for this input",
                    "min": 0,
                    "scale": "Oranges",
                    "format": "{:,.0f}",
                }
            },
            {
                "bg_info": {
                    "title": "Audit info",
                    "description": "biodata_guard informative findings for this input",
                    "min": 0,
                    "scale": "Blues",
                    "format": "{:,.0f}",
                    "hidden": True,
                }
            },
            {
                "bg_waived": {
                    "title": "Audit waived",
                    "description": "biodata_guard findings accepted by a waiver (with a reason)",
                    "min": 0,
                    "scale": "Greys",
                    "format": "{:,.0f}",
                    "hidden": True,
                }
            },
        ],
        "data": data,
    }


def _group_name(check: str) -> str:
    spec = registry.group_of(check)
    return spec.name if spec is not None else check.split(".", 1)[0]


def _title(group: str) -> str:
    titles = {g.name: g.title for g in registry.groups()}
    return titles.get(group, group.capitalize())


def _groups(report: Report) -> list[tuple[str, list[Finding]]]:
    order = [g.name for g in registry.groups()]
    by_group: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_group.setdefault(_group_name(f.check), []).append(f)
    return sorted(
        by_group.items(),
        key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]),
    )


def _summary(report: Report) -> dict[str, Any]:
    data: dict[str, dict[str, int]] = {}
    for group, found in _groups(report):
        row = {"error": 0, "warning": 0, "info": 0}
        for f in found:
            row[str(f.severity)] += 1
        data[_title(group)] = row
    if not data:
        data = {"all checks": {"error": 0, "warning": 0, "info": 0}}
    return {
        "id": "biodata_guard_summary",
        "section_name": "Findings by check group",
        "description": "Number of findings per check group, by severity.",
        **_parent(report),
        "plot_type": "bargraph",
        "pconfig": {
            "id": "biodata_guard_summary_plot",
            "title": "biodata_guard: findings by check group",
            "ylab": "findings",
            "cpswitch": False,
        },
        "categories": {s: {"name": s, "color": _COLOURS[s]} for s in ("error", "warning", "info")},
        "data": data,
    }


def _section(report: Report, group: str, found: list[Finding]) -> dict[str, Any]:
    # Every file repeats the parent fields: MultiQC takes the module description from whichever
    # file it reads first.
    rows = []
    for f in found:
        sev = str(f.severity)
        subjects = ", ".join(escape(str(s)) for s in f.subjects[:_MAX_SUBJECTS])
        if len(f.subjects) > _MAX_SUBJECTS:
            subjects += f" … and {len(f.subjects) - _MAX_SUBJECTS} more"
        colour = _COLOURS[sev] if f.waiver is None else _WAIVED
        badge = escape(sev) + (" (waived)" if f.waiver is not None else "")
        message = escape(f.message)
        if f.waiver is not None:
            message += f"<br><em>waived: {escape(str(f.waiver.get('reason', '')))}</em>"
        rows.append(
            "<tr>"
            f'<td><span style="background:{colour};color:#fff;padding:1px 6px;'
            f'border-radius:4px;font-weight:600">{badge}</span></td>'
            f"<td><code>{escape(f.check)}</code></td>"
            f"<td>{escape(str(f.input))}</td>"
            f"<td>{message}</td>"
            f"<td>{escape(f.hint)}</td>"
            f"<td><small>{subjects}</small></td>"
            "</tr>"
        )
    table = (
        '<table class="table table-condensed table-bordered table-hover">'
        "<thead><tr><th>severity</th><th>check</th><th>input</th><th>finding</th>"
        "<th>fix</th><th>subjects</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    counts = {
        s: sum(1 for f in found if str(f.severity) == s) for s in ("error", "warning", "info")
    }
    return {
        "id": f"biodata_guard_{_slug(group)}",
        "section_name": _title(group),
        "description": (
            f"biodata_guard {escape(group)} checks: {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} info."
        ),
        **_parent(report),
        "plot_type": "html",
        "data": table,
    }


def _class_counts(report: Report) -> dict[str, Any] | None:
    balance = report.artifacts.get("balance") if isinstance(report.artifacts, Mapping) else None
    counts = balance.get("class_counts") if isinstance(balance, Mapping) else None
    if not isinstance(counts, Mapping):
        return None
    data: dict[str, dict[str, float]] = {}
    for split, row in counts.items():
        if not isinstance(row, Mapping):
            continue
        clean = {
            str(c): n
            for c, n in row.items()
            if isinstance(n, (int, float)) and not isinstance(n, bool)
        }
        if clean:
            data[str(split)] = clean
    if not data:
        return None
    return {
        "id": "biodata_guard_balance_class_counts",
        "section_name": "Class counts per split",
        "description": "Samples per class in each split (from the balance checks).",
        **_parent(report),
        "plot_type": "bargraph",
        "pconfig": {
            "id": "biodata_guard_class_counts_plot",
            "title": "biodata_guard: class counts per split",
            "ylab": "samples",
        },
        "data": data,
    }

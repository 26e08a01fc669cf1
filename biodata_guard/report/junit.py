"""JUnit XML for CI systems: one testcase per check and input, failures at the gate level."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from biodata_guard import registry

if TYPE_CHECKING:  # annotations only: renderers read reports, the model imports a renderer
    from biodata_guard.findings import Finding, Report

__all__ = ["render"]

#: The testcase that carries the overall verdict, so CI shows the gate even with no findings.
GATE_CASE = "audit.gate"
#: Characters XML 1.0 cannot carry, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render(report: Report) -> str:
    """Render a report as JUnit XML.

    One ``<testsuite>`` per check group and one ``<testcase>`` per check id and input. A testcase
    whose findings reach ``report.fail_on`` gets a ``<failure>`` (an ``<error>`` for inputs that
    could not be read); a testcase whose worst finding is a warning below the gate is
    ``<skipped>`` with the message, so CI dashboards show it as neither red nor green (so is a
    testcase whose failing findings were all waived, with the reason); informative
    findings pass and keep their messages in ``<system-out>``. A first suite ``biodata_guard``
    holds the ``audit.gate`` testcase with the overall verdict.

    Parameters
    ----------
    report
        The audit report.

    Returns
    -------
    str
        The XML document (UTF-8 declaration included).

    Examples
    --------
    >>> from biodata_guard import Finding, Report
    >>> r = Report(findings=[Finding("leakage.id_overlap", "error", "meta.csv, sample_id: 3 of 40",
    ...                              input="meta.csv")])
    >>> xml = render(r)
    >>> '<testcase name="leakage.id_overlap[meta.csv]"' in xml and "<failure" in xml
    True
    """
    cases: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        cases.setdefault((f.check, str(f.input)), []).append(f)
    by_group: dict[str, list[tuple[str, str]]] = {}
    for check, inp in sorted(cases):
        spec = registry.group_of(check)
        group = spec.name if spec is not None else check.split(".", 1)[0]
        by_group.setdefault(group, []).append((check, inp))

    root = ET.Element("testsuites", name="biodata_guard")
    gate = ET.SubElement(root, "testsuite", name="biodata_guard")
    _gate_case(gate, report)
    _totals(gate, n_tests=1, n_fail=int(not report.ok), n_err=0, n_skip=0)

    for group in sorted(by_group):
        suite = ET.SubElement(root, "testsuite", name=f"biodata_guard.{group}")
        n_fail = n_err = n_skip = 0
        for check, inp in by_group[group]:
            outcome = _case(suite, report, group, check, inp, cases[(check, inp)])
            n_fail += outcome == "failure"
            n_err += outcome == "error"
            n_skip += outcome == "skipped"
        _totals(suite, n_tests=len(by_group[group]), n_fail=n_fail, n_err=n_err, n_skip=n_skip)

    suites = list(root)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    root.set("time", f"{report.elapsed_seconds:.3f}")
    for el in root.iter():
        if el.text:
            el.text = _INVALID_XML.sub("\ufffd", el.text)
        for key, value in el.attrib.items():
            el.set(key, _INVALID_XML.sub("\ufffd", value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )


def _totals(suite: ET.Element, *, n_tests: int, n_fail: int, n_err: int, n_skip: int) -> None:
    suite.set("tests", str(n_tests))
    suite.set("failures", str(n_fail))
    suite.set("errors", str(n_err))
    suite.set("skipped", str(n_skip))


def _gate_case(suite: ET.Element, report: Report) -> None:
    case = ET.SubElement(suite, "testcase", name=GATE_CASE, classname="biodata_guard")
    counts = report.counts()
    waived = f", {len(report.waived())} waived" if report.waived() else ""
    summary = (
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
        f"{waived}; the gate fails at '{report.fail_on}'"
    )
    if report.ok:
        ET.SubElement(case, "system-out").text = f"PASS: {summary}"
        return
    failing = report.failing()
    fail = ET.SubElement(
        case,
        "failure",
        message=f"{len(failing)} finding(s) at or above '{report.fail_on}': {failing[0].message}",
        type=str(failing[0].severity),
    )
    fail.text = "\n".join(f"[{f.severity}] {f.check}: {f.message}" for f in failing)
    ET.SubElement(case, "system-out").text = f"FAIL: {summary}"


def _case(
    suite: ET.Element, report: Report, group: str, check: str, inp: str, found: list[Finding]
) -> str:
    name = f"{check}[{inp}]" if inp else check
    case = ET.SubElement(suite, "testcase", name=name, classname=f"biodata_guard.{group}")
    live = [f for f in found if f.waiver is None]
    worst = max(live or found, key=lambda f: f.severity.rank)
    details = "\n\n".join(_describe(f) for f in found)
    if not live and worst.severity >= report.fail_on:
        # Accepted on purpose: neither red nor green, with the reason.
        reason = str(worst.waiver.get("reason", "")) if worst.waiver else ""
        ET.SubElement(case, "skipped", message=f"waived ({reason}): {worst.message}")
        ET.SubElement(case, "system-out").text = details
        return "skipped"
    if worst.severity >= report.fail_on:
        tag = "error" if check.startswith("input.") else "failure"
        el = ET.SubElement(case, tag, message=worst.message, type=str(worst.severity))
        el.text = details
        return tag
    if worst.severity == "warning":
        ET.SubElement(
            case,
            "skipped",
            message=f"warning below the gate ('{report.fail_on}'): {worst.message}",
        )
        ET.SubElement(case, "system-out").text = details
        return "skipped"
    ET.SubElement(case, "system-out").text = details
    return "passed"


def _describe(f: Finding) -> str:
    lines = [f"[{f.severity}] {f.check}: {f.message}"]
    if f.waiver is not None:
        lines.append(
            f"waived: {f.waiver.get('reason', '')} ({', '.join(f.waiver.get('rules', []))})"
        )
    if f.hint:
        lines.append(f"hint: {f.hint}")
    if f.evidence:
        lines.append("evidence: " + json.dumps(f.evidence, sort_keys=True, ensure_ascii=False))
    if f.subjects:
        lines.append("subjects: " + ", ".join(str(s) for s in f.subjects))
    return "\n".join(lines)

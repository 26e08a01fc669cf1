"""JUnit XML: one testcase per check and input, failures at the gate, valid XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from _report_data import HOSTILE, sample_report

from biodata_guard import Finding, Report
from biodata_guard.report.junit import GATE_CASE, render


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {c.get("name"): c for c in root.iter("testcase")}


def _outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def test_one_testcase_per_check_and_input():
    xml = render(sample_report())
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    outcomes = {name: _outcome(c) for name, c in _cases(xml).items()}
    assert outcomes == {
        GATE_CASE: "failure",
        "balance.imbalance[labels.csv]": "skipped",
        "balance.summary[labels.csv]": "passed",
        "batch.predictable[counts.csv]": "skipped",
        "build.detected[variants.vcf]": "passed",
        "leakage.group_overlap[metadata.csv]": "failure",
        "replicates.ceiling[counts.csv]": "passed",
        "units.mismatch[tpm.csv]": "failure",
    }


def test_totals_and_suites():
    root = ET.fromstring(render(sample_report()))
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "8",
        "failures": "3",
        "errors": "0",
        "skipped": "2",
        "time": "1.500",
    }
    suites = {s.get("name"): s.get("tests") for s in root.iter("testsuite")}
    assert suites == {
        "biodata_guard": "1",
        "biodata_guard.balance": "2",
        "biodata_guard.build": "1",
        "biodata_guard.leakage": "1",
        "biodata_guard.probe": "1",
        "biodata_guard.replicates": "1",
        "biodata_guard.units": "1",
    }


def test_failure_carries_message_hint_evidence_and_subjects():
    case = _cases(render(sample_report()))["leakage.group_overlap[metadata.csv]"]
    assert case.get("classname") == "biodata_guard.leakage"
    failure = case.find("failure")
    assert failure.get("type") == "error"
    assert failure.get("message").startswith("metadata.csv, patient_id: 14 of 212 patients")
    assert "hint: Split with sklearn.model_selection.StratifiedGroupKFold" in failure.text
    assert '"n_shared_groups": 14' in failure.text
    assert "subjects: P0000, P0001" in failure.text


def test_fail_on_warning_turns_warnings_into_failures():
    outcomes = {n: _outcome(c) for n, c in _cases(render(sample_report(fail_on="warning"))).items()}
    assert outcomes["balance.imbalance[labels.csv]"] == "failure"
    assert outcomes["batch.predictable[counts.csv]"] == "failure"
    assert outcomes["build.detected[variants.vcf]"] == "passed"


def test_unreadable_input_is_a_junit_error():
    rep = Report(
        findings=[Finding("input.unreadable", "error", "x.csv: empty file", input="x.csv")]
    )
    root = ET.fromstring(render(rep))
    assert _outcome(_cases(render(rep))["input.unreadable[x.csv]"]) == "error"
    assert (root.get("errors"), root.get("failures")) == ("1", "1")


def test_clean_report_has_one_passing_gate_case():
    root = ET.fromstring(render(Report()))
    (case,) = root.iter("testcase")
    assert case.get("name") == GATE_CASE and _outcome(case) == "passed"
    assert case.find("system-out").text.startswith("PASS: 0 error(s)")
    assert root.get("failures") == "0"


def test_markup_and_control_characters_make_valid_xml():
    msg = HOSTILE + " \x00\x07 bell"
    rep = Report(findings=[Finding("units.mismatch", "error", msg, input="a\x01b")])
    xml = render(rep)
    cases = _cases(xml)  # parses: no raw control characters survive
    (name,) = [n for n in cases if n != GATE_CASE]
    assert name == "units.mismatch[a\ufffdb]"
    assert cases[name].find("failure").get("message") == HOSTILE + " \ufffd\ufffd bell"


def test_deterministic():
    assert render(sample_report()) == render(sample_report())

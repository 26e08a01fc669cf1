"""Waivers: a finding accepted on purpose stays in every report, marked, and does not fail the
gate; a waiver that matches nothing is reported; bad waivers are config errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from biodata_guard import ConfigError, Finding, Report, audit
from biodata_guard.config import AuditConfig, load_config
from biodata_guard.report import render_text
from biodata_guard.report.multiqc import write as write_multiqc
from biodata_guard.waivers import CLI_REASON, apply_waivers, parse_waivers
from tests.conftest import run_cli


@pytest.fixture
def leaky() -> pd.DataFrame:
    """20 patients x 2 samples; patients P03 and P07 have one sample in each split."""
    rows = []
    for p in range(20):
        for j in range(2):
            split = "test" if p % 4 == 0 else "train"
            if p in (3, 7) and j == 1:
                split = "test"
            rows.append((f"S{p:02d}{j}", f"P{p:02d}", ["a", "b"][p % 2], split))
    return pd.DataFrame(rows, columns=["sample_id", "patient_id", "label", "split"])


def _audit(meta: pd.DataFrame, **options) -> Report:
    return audit(
        metadata=meta, label_col="label", split_col="split", group_cols=["patient_id"],
        only={"leakage"}, **options,
    )  # fmt: skip


def _overlap(report: Report) -> Finding:
    (f,) = [f for f in report.findings if f.check == "leakage.group_overlap"]
    return f


def test_the_planted_leak_fails_the_gate_without_a_waiver(leaky):
    report = _audit(leaky)
    f = _overlap(report)
    assert (f.severity, f.subjects[:2], f.waiver) == ("error", ["P03", "P07"], None)
    assert not report.ok


def test_a_waiver_keeps_the_finding_marked_and_passes_the_gate(leaky):
    waivers = [
        {"check": "leakage.group_overlap", "subject": "P03", "reason": "sibling samples"},
        {"check": "leakage.group_overlap", "subject": "P07", "reason": "sibling samples"},
    ]
    report = _audit(leaky, waivers=waivers)
    f = _overlap(report)
    assert f.severity == "error"  # the finding is kept as it was
    assert f.waiver == {
        "reason": "sibling samples",
        "rules": ["leakage.group_overlap=P03", "leakage.group_overlap=P07"],
    }
    assert report.ok and report.failing() == [] and report.waived() == [f]
    assert report.verdict() == "PASS (1 error, 0 warning, 3 info; 1 waived; gate fails on error)"
    data = json.loads(report.to_json())
    assert data["waived"] == 1 and data["ok"] is True
    (jf,) = [x for x in data["findings"] if x["check"] == "leakage.group_overlap"]
    assert jf["waiver"]["reason"] == "sibling samples"
    assert data["config"]["waivers"] == waivers
    assert report.raise_for_errors() is report


def test_a_waiver_for_some_subjects_only_leaves_the_finding_failing(leaky):
    report = _audit(leaky, waivers=["leakage.group_overlap=P03"])
    assert _overlap(report).waiver is None and not report.ok
    assert [f.check for f in report.findings if f.check == "waivers.stale"] == []  # it touched


def test_a_waiver_that_matches_nothing_is_reported_as_stale(leaky):
    clean = leaky.assign(split=["test" if p % 4 == 0 else "train" for p in range(20) for _ in "ab"])
    report = _audit(clean, waivers=["leakage.group_overlap"])
    (stale,) = [f for f in report.findings if f.check == "waivers.stale"]
    assert stale.severity == "warning" and stale.subjects == ["leakage.group_overlap"]
    assert stale.message == (
        f"waiver leakage.group_overlap: matched no finding (reason given: {CLI_REASON})"
    )
    assert report.ok  # a warning: it fails the gate only with fail_on='warning'
    assert not _audit(clean, waivers=["leakage.group_overlap"], fail_on="warning").ok


def test_a_waiver_of_a_group_that_did_not_run_is_not_stale(leaky):
    report = _audit(leaky, waivers=["balance.imbalance"])
    assert [f for f in report.findings if f.check == "waivers.stale"] == []


def test_subject_matching_covers_pairs_and_inputs():
    pair = Finding("leakage.near_duplicates", "warning", "m", subjects=[["S9", "S1"]])
    by_input = Finding("units.mixed_within", "error", "m", input="counts.csv")
    out = apply_waivers(
        [pair, by_input],
        ["leakage.near_duplicates=S1", "units.mixed_within=counts.csv"],
        groups_run=["leakage", "units"],
    )
    assert [f.waiver is not None for f in out] == [True, True]


def test_parse_waivers_reports_every_problem_with_where():
    _, problems = parse_waivers(
        [
            {"check": "leakage.group_overlapp", "reason": "x"},
            {"check": "balance.imbalance"},
            {"check": "balance.imbalance", "reason": "r", "subjet": "a"},
            3,
        ],
        where="a.yaml: ",
    )
    messages = [p.message for p in problems]
    assert messages == [
        "a.yaml: waivers[1] (leakage.group_overlapp): no check has the id 'leakage.group_overlapp'",
        "a.yaml: waivers[2] (balance.imbalance) has no reason; every waiver in a config needs one",
        "a.yaml: waivers[3]: unknown key 'subjet'",
        "a.yaml: waivers[4] must be a mapping with check and reason; got int",
    ]
    assert problems[0].hint.startswith("Did you mean 'leakage.group_overlap'?")
    assert problems[2].hint == "Did you mean 'subject'?"


def test_config_file_waivers_need_a_reason_each(tmp_path):
    path = tmp_path / "audit.yaml"
    path.write_text(
        "inputs:\n  metadata: m.csv\n"
        "waivers:\n"
        "  - check: leakage.group_overlap\n    subject: P03\n    reason: siblings\n"
        "  - leakage.duplicate_samples\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.endswith(
        "waivers[2] (leakage.duplicate_samples) is a bare id; in a config file each waiver is a "
        "mapping with check, optional subject, and reason"
    )
    path.write_text(
        "inputs:\n  metadata: m.csv\nwaivers:\n"
        "  - check: leakage.group_overlap\n    subject: P03\n    reason: siblings\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.waivers == [
        {"check": "leakage.group_overlap", "subject": "P03", "reason": "siblings"}
    ]
    assert cfg.to_dict()["waivers"] == cfg.waivers


def test_every_renderer_marks_the_waived_finding(leaky, tmp_path):
    report = _audit(leaky, waivers=[{"check": "leakage.group_overlap", "reason": "siblings"}])
    text = render_text(report, color=False, width=200)
    assert "error (waived)" in text and "waived: siblings" in text and "1 waived" in text
    html = report.to_html()
    assert 'data-waived="true"' in html and "siblings" in html and ">waived</span>" in html
    from biodata_guard.report import junit

    root = ET.fromstring(junit.render(report))
    (case,) = [c for c in root.iter("testcase") if c.get("name", "").startswith("leakage.group")]
    assert case.find("failure") is None
    assert case.find("skipped").get("message").startswith("waived (siblings):")
    assert root.get("failures") == "0"
    files = write_multiqc(report, tmp_path / "mqc")
    section = json.loads((tmp_path / "mqc" / "biodata_guard_leakage_mqc.json").read_text())
    assert "error (waived)" in section["data"] and "waived: siblings" in section["data"]
    stats = json.loads(files[0].read_text())["data"]
    assert stats["<metadata>"]["bg_waived"] == 1 and stats["<metadata>"]["bg_errors"] == 0


def test_cli_waive_flag_passes_the_gate_and_says_so(tmp_path, leaky):
    leaky.to_csv(tmp_path / "m.csv", index=False)
    base = ["audit", "--metadata", tmp_path / "m.csv", "--label-col", "label",
            "--split-col", "split", "--group-col", "patient_id", "--only", "leakage",
            "--format", "json", "--out", tmp_path / "r.json"]  # fmt: skip
    assert run_cli(*base).returncode == 1
    done = run_cli(*base, "--waive", "leakage.group_overlap")
    assert done.returncode == 0, done.stderr
    assert "PASS (1 error, 0 warning" in done.stderr and "1 waived" in done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["waived"] == 1
    bad = run_cli(*base, "--waive", "leakage.group_overlapp")
    assert bad.returncode == 2
    assert "--waive leakage.group_overlapp: no check has the id" in bad.stderr


def test_a_waiver_parses_the_same_from_every_entry_point():
    cfg = AuditConfig(waivers=["leakage.group_overlap=P1"])
    assert cfg.waivers == [
        {"check": "leakage.group_overlap", "subject": "P1", "reason": CLI_REASON}
    ]

import json

import numpy as np
import pytest

from biodata_guard import Finding, GuardError, Report, Severity


def test_severity_orders_by_rank_not_alphabet():
    assert Severity.ERROR > Severity.WARNING > Severity.INFO
    assert Severity("warning") >= "info"
    assert not Severity.INFO >= Severity.ERROR


def test_finding_normalises_numpy_and_nan_to_json_safe_values():
    f = Finding(
        "leakage.id_overlap",
        "error",
        "m",
        evidence={
            "n": np.int64(3),
            "frac": np.float32(0.5),
            "bad": float("nan"),
            "a": np.arange(2),
        },
        subjects=[np.str_("S1"), np.int32(2)],
    )
    assert f.severity is Severity.ERROR
    assert f.evidence == {"n": 3, "frac": 0.5, "bad": None, "a": [0, 1]}
    assert f.subjects == ["S1", 2]
    json.dumps(f.to_dict())


def test_report_ok_respects_fail_on_and_sorts_findings_stably():
    findings = [
        Finding("balance.summary", "info", "b"),
        Finding("balance.imbalance", "warning", "a"),
        Finding("alignment.order_mismatch", "error", "c"),
    ]
    report = Report(findings=findings)
    assert [f.check for f in report.findings] == [
        "alignment.order_mismatch",
        "balance.imbalance",
        "balance.summary",
    ]
    assert not report.ok
    assert Report(findings=findings[:2]).ok
    assert not Report(findings=findings[:2], fail_on="warning").ok
    assert report.counts() == {"error": 1, "warning": 1, "info": 1}


def test_json_is_deterministic_and_sorted():
    a = Report(findings=[Finding("x.b", "info", "2"), Finding("x.a", "info", "1")], seed=3)
    b = Report(findings=[Finding("x.a", "info", "1"), Finding("x.b", "info", "2")], seed=3)
    assert a.to_json() == b.to_json()
    data = json.loads(a.to_json())
    assert data["seed"] == 3 and data["ok"] is True
    assert list(data) == sorted(data)


def test_raise_for_errors_carries_the_report():
    report = Report(
        findings=[Finding("leakage.group_overlap", "error", "patients shared", hint="h")]
    )
    with pytest.raises(GuardError) as info:
        report.raise_for_errors()
    assert info.value.report is report
    assert "patients shared" in str(info.value)
    ok = Report(findings=[Finding("balance.summary", "info", "fine")])
    assert ok.raise_for_errors() is ok

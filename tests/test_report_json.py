"""The JSON report validates against the schema shipped in the package."""

import json
from importlib import resources

import jsonschema
import pytest

from biodata_guard import Finding, Report
from biodata_guard.audit import audit
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def schema():
    text = resources.files("biodata_guard.report").joinpath("schema.json").read_text()
    return json.loads(text)


def test_demo_report_validates(schema):
    report = audit(DEMO / "audit.yaml", only={"alignment", "balance"})
    jsonschema.validate(json.loads(report.to_json()), schema)


def test_error_report_and_empty_report_validate(schema):
    for report in (
        Report(),
        Report(findings=[Finding("input.invalid", "error", "x.csv: bad", {"path": None})]),
    ):
        jsonschema.validate(json.loads(report.to_json()), schema)


def test_schema_rejects_a_malformed_finding(schema):
    data = json.loads(Report(findings=[Finding("a.b", "info", "m")]).to_json())
    data["findings"][0]["severity"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)

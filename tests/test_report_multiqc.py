"""MultiQC custom content: file layout, general stats, sections, and a run of real MultiQC."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _report_data import HOSTILE, sample_report

from biodata_guard import Finding, InputError, Report, __version__
from biodata_guard.report.multiqc import write

_GROUP_FILES = [  # one per check group, in the registry's order
    "biodata_guard_balance_mqc.json",
    "biodata_guard_leakage_mqc.json",
    "biodata_guard_build_mqc.json",
    "biodata_guard_units_mqc.json",
    "biodata_guard_replicates_mqc.json",
    "biodata_guard_probe_mqc.json",
]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    return write(sample_report(), tmp_path_factory.mktemp("mqc") / "nested" / "out")


def _load(paths: list[Path], name: str) -> dict:
    (path,) = [p for p in paths if p.name == name]
    return json.loads(path.read_text(encoding="utf-8"))


def test_files_written_in_stable_order(written):
    assert [p.name for p in written] == [
        "biodata_guard_general_stats_mqc.json",
        "biodata_guard_summary_mqc.json",
        *_GROUP_FILES,
        "biodata_guard_balance_class_counts_mqc.json",
        "biodata_guard_mqc_versions.yaml",
    ]
    assert all(p.is_file() for p in written)


def test_general_stats_counts_findings_per_input(written):
    gs = _load(written, "biodata_guard_general_stats_mqc.json")
    assert gs["plot_type"] == "generalstats"
    assert gs["data"] == {
        "counts.csv": {"bg_errors": 0, "bg_warnings": 1, "bg_info": 1},
        "metadata.csv": {"bg_errors": 1, "bg_warnings": 0, "bg_info": 0},
        "tpm.csv": {"bg_errors": 1, "bg_warnings": 0, "bg_info": 0},
        "labels.csv": {"bg_errors": 0, "bg_warnings": 1, "bg_info": 1},
        "variants.vcf": {"bg_errors": 0, "bg_warnings": 0, "bg_info": 1},
    }
    assert [next(iter(c)) for c in gs["pconfig"]] == [
        "bg_errors",
        "bg_warnings",
        "bg_info",
        "bg_waived",
    ]


def test_summary_bargraph_by_group_and_severity(written):
    s = _load(written, "biodata_guard_summary_mqc.json")
    assert s["plot_type"] == "bargraph" and s["parent_id"] == "biodata_guard"
    assert s["data"]["Leakage"] == {"error": 1, "warning": 0, "info": 0}
    assert s["data"]["Class balance"] == {"error": 0, "warning": 1, "info": 1}
    assert "<strong>FAIL</strong> (2 error(s), 2 warning(s), 3 info" in s["parent_description"]


def test_one_section_per_group_with_escaped_findings(written):
    for name in _GROUP_FILES:
        sec = _load(written, name)
        assert sec["plot_type"] == "html"
        assert sec["parent_id"] == "biodata_guard"
        assert sec["id"] == name.removesuffix("_mqc.json")
    units = _load(written, "biodata_guard_units_mqc.json")["data"]
    assert HOSTILE not in units and html.escape(HOSTILE) in units
    leak = _load(written, "biodata_guard_leakage_mqc.json")["data"]
    assert "<code>leakage.group_overlap</code>" in leak
    assert "P0000, P0001, P0002, P0003, P0004 … and 9 more" in leak


def test_class_counts_bargraph_from_artifacts(written):
    cc = _load(written, "biodata_guard_balance_class_counts_mqc.json")
    assert cc["data"] == {"train": {"common": 220, "rare": 4}, "test": {"common": 74, "rare": 2}}


def test_deterministic(tmp_path):
    a = [p.read_bytes() for p in write(sample_report(), tmp_path / "a")]
    b = [p.read_bytes() for p in write(sample_report(), tmp_path / "b")]
    assert a == b


def test_empty_report_still_writes_valid_files(tmp_path):
    paths = write(Report(), tmp_path)
    assert [p.name for p in paths] == [
        "biodata_guard_general_stats_mqc.json",
        "biodata_guard_summary_mqc.json",
        "biodata_guard_mqc_versions.yaml",
    ]
    gs = _load(paths, "biodata_guard_general_stats_mqc.json")
    assert gs["data"] == {"(audit)": {"bg_errors": 0, "bg_warnings": 0, "bg_info": 0}}


def test_finding_without_input_counts_under_audit(tmp_path):
    rep = Report(findings=[Finding("probe.summary", "info", "probe: 3 of 3 checks passed")])
    gs = _load(write(rep, tmp_path), "biodata_guard_general_stats_mqc.json")
    assert gs["data"]["(audit)"] == {"bg_errors": 0, "bg_warnings": 0, "bg_info": 1}


def test_out_dir_that_is_a_file_is_an_input_error(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("{}")
    with pytest.raises(InputError, match="must be a folder") as err:
        write(sample_report(), target)
    assert err.value.path == str(target)


# --- real MultiQC -------------------------------------------------------------------------------


def _multiqc() -> str | None:
    env = os.environ.get("BIODATA_GUARD_MULTIQC")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return shutil.which("multiqc")


@pytest.mark.slow
@pytest.mark.needs_tool(
    _multiqc() is not None,
    "multiqc not found: set BIODATA_GUARD_MULTIQC to its executable or put it on PATH "
    "(python3.12 -m venv /work/venv-multiqc && /work/venv-multiqc/bin/pip install multiqc)",
)
def test_real_multiqc_shows_the_sections(tmp_path):
    data = tmp_path / "data"
    write(sample_report(), data)
    out = tmp_path / "multiqc"
    done = subprocess.run(
        [_multiqc(), str(data), "-o", str(out), "--no-version-check", "--no-ai", "--strict", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = (out / "multiqc_report.html").read_text(encoding="utf-8")
    assert 'id="biodata_guard"' in page  # the module heading
    for name in _GROUP_FILES:
        assert f'id="{name.removesuffix("_mqc.json")}"' in page
    assert 'id="biodata_guard_summary"' in page
    assert "leakage.group_overlap" in page
    stats = (out / "multiqc_data" / "multiqc_general_stats.txt").read_text()
    header, *rows = stats.strip().splitlines()
    assert "bg_errors" in header and "bg_warnings" in header
    assert len(rows) == 5
    versions = (out / "multiqc_data" / "multiqc_software_versions.txt").read_text()
    assert "biodata_guard" in versions and __version__ in versions

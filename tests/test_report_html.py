"""The self-contained HTML report: structure, escaping, plots, robustness, size, Chromium render."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _report_data import HOSTILE, sample_report

from biodata_guard import Finding, Report
from biodata_guard.report import _plots
from biodata_guard.report.html import render

_IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
_MAX_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def page() -> str:
    return render(sample_report())


def test_banner_counts_and_verdict(page):
    assert page.startswith("<!DOCTYPE html>")
    assert '<div class="banner fail" id="summary"><div class="verdict">FAIL</div>' in page
    assert '<div class="count error"><b>2</b>errors</div>' in page
    assert '<div class="count warning"><b>2</b>warnings</div>' in page
    assert '<div class="count info"><b>3</b>info</div>' in page
    assert "2 finding(s) at or above &#x27;error&#x27;" in page


def test_one_section_per_group_in_reading_order(page):
    groups = re.findall(r'<section class="group" id="sec-(\w+)" data-group="\w+">', page)
    assert groups == ["balance", "leakage", "build", "units", "replicates", "probe"]  # registry
    assert '<section class="group" id="inputs">' in page
    assert '<section class="group" id="config">' in page
    # every finding appears once, with its hint and evidence
    assert page.count('<article class="finding ') == 7
    assert 'data-check="leakage.group_overlap"' in page
    assert "StratifiedGroupKFold(groups=patient_id)" in page
    assert '<th>n_shared_groups</th><td><span class="num">14</span></td>' in page


def test_evidence_mapping_of_mappings_renders_as_matrix(page):
    # class counts per split: rows = splits, columns = classes
    assert (
        "<tr><th></th><th>common</th><th>rare</th></tr>"
        '<tr><th>train</th><td class="num">220</td><td class="num">4</td></tr>'
    ) in page


def test_every_value_is_escaped(page):
    assert HOSTILE not in page
    assert "<script" not in page
    assert html.escape(HOSTILE) in page


def test_self_contained_no_network(page):
    assert "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "@import" not in page
    assert "<style>" in page and ".banner" in page  # the CSS is inlined


def test_plots_embedded_for_every_artifact(page):
    images = _IMG.findall(page)
    # leakage, build, units, balance, replicates: one each; probe: embedding + fold accuracy
    assert len(images) == 7
    keys = re.findall(r'<figure data-plot="(\w+)">', page)
    assert keys == ["balance", "leakage", "build", "units", "replicates", "probe", "probe"]
    for b64 in images:
        assert b64.startswith("iVBORw0KGgo")  # PNG signature, base64-encoded


def test_size_under_limit_even_with_many_large_findings():
    rep = sample_report()
    big = [
        Finding(
            "alignment.unmatched_keys",
            "error",
            f"labels.csv, sample_id: finding {i} " + "x" * 5000,
            evidence={"unmatched": list(range(10_000)), "nested": {str(k): k for k in range(500)}},
            subjects=[f"S{k}" for k in range(50)],
            input="labels.csv",
        )
        for i in range(200)
    ]
    page = render(Report(findings=rep.findings + big, artifacts=rep.artifacts))
    assert len(page.encode("utf-8")) < _MAX_BYTES
    assert "… and 9980 more" in page  # long lists are truncated, with the total shown


@pytest.mark.parametrize(
    "artifacts",
    [
        {"balance": {"class_counts": {"train": None, "test": "x"}}},
        {"balance": {"class_counts": []}},
        {"leakage": {"group_overlap": {"patient_id": {"groups_per_split": 3}}}},
        {"probe": {"embedding": {"x": [1, 2, 3], "y": [1, 2]}, "fold_accuracy": "high"}},
        {"probe": {"embedding": {"x": [None, 1.0], "y": [2.0, None], "batch": ["a"]}}},
        {"replicates": {"pairs": {"a": [1.0, None, float("nan")], "b": [1.0, 2.0, 3.0]}}},
        {"build": {"x.vcf": {"sig": {"GRCh37": "high"}}, "y.vcf": []}},
        {"units": {"matrices": [{"sample_sums": [0, -1], "histogram": {"edges": [0, 1]}}]}},
        {"units": {"matrices": [{"name": "m", "histogram": {"edges": ["a"], "counts": [1]}}]}},
        {"units": "not a mapping", "probe": None, "mystery": {"a": 1}},
        {"balance": {"class_counts": {"all": {"a": 0, "b": 0}}}},
    ],
)
def test_malformed_artifacts_never_break_the_report(artifacts):
    finding = Finding("balance.imbalance", "warning", "labels.csv, label: 1 of 9", input="l.csv")
    page = render(Report(findings=[finding], artifacts=artifacts))
    assert 'data-check="balance.imbalance"' in page
    assert page.rstrip().endswith("</html>")


def test_shape_variants_still_plot():
    # fold accuracy as {fold: value} with a chance level, split-less class counts
    data = {"fold_accuracy": {"0": 0.8, "1": 0.9, "chance": 0.5}}
    assert len(_plots.plots_for("probe", data)) == 1
    assert len(_plots.plots_for("balance", {"class_counts": {"all": {"a": 5, "b": 1}}})) == 1
    assert _plots.plots_for("unknown", {"x": 1}) == []


def test_empty_report_passes_and_says_so():
    page = render(Report())
    assert '<div class="verdict">PASS</div>' in page
    assert "No findings and no diagnostics recorded." in page
    assert "<img" not in page


def test_fail_on_warning_turns_a_warning_into_a_failure():
    warn = [Finding("balance.tiny_class", "warning", "labels.csv, label: 2 of 40")]
    assert '<div class="verdict">PASS</div>' in render(Report(findings=warn))
    assert '<div class="verdict">FAIL</div>' in render(Report(findings=warn, fail_on="warning"))


def test_unknown_group_gets_its_own_section():
    page = render(Report(findings=[Finding("custom.thing", "info", "x: 1 of 2")]))
    assert 'id="sec-custom"' in page


def test_nonfinite_and_odd_values_in_inputs_and_evidence():
    rep = Report(
        findings=[Finding("units.invalid_values", "error", "m: 3 of 9", evidence={"v": [np.nan]})],
        inputs=[{"name": "<m>", "shape": None, "sha256": None}, "not a mapping"],
        config={"a": {"b": object()}},
    )
    page = render(rep)
    assert "&lt;m&gt;" in page and "<m>" not in page


def test_importing_the_report_does_not_import_matplotlib():
    code = (
        "import sys, biodata_guard.report.html, biodata_guard.report._plots;"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- headless Chromium --------------------------------------------------------------------------

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.needs_tool(
    _CHROMIUM is not None, "chromium is not installed (Debian: apt-get install -y chromium)"
)


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        timeout=120,
        check=False,
    )


@needs_chromium
def test_chromium_loads_the_page_with_all_sections(tmp_path, page):
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", path.as_uri())
    dom = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    for anchor in ("sec-leakage", "sec-units", "sec-balance", "sec-probe", "inputs", "config"):
        assert f'id="{anchor}"' in dom
    assert len(re.findall(r"<img ", dom)) == 7


@needs_chromium
def test_chromium_screenshot_shows_the_plots(tmp_path, page):
    from PIL import Image

    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,6000", path.as_uri())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (6000, 1280)

    def pixels(rgb: tuple[int, int, int]) -> int:
        return int((np.abs(img - np.array(rgb)).sum(axis=2) <= 6).sum())

    # plot colours drawn by matplotlib: train blue, GRCh38 green, shared-groups red
    assert pixels((0x1F, 0x77, 0xB4)) > 5000
    assert pixels((0x41, 0xAB, 0x5D)) > 2000
    assert pixels((0xD6, 0x27, 0x28)) > 1000
    # the FAIL banner background
    assert pixels((0xFD, 0xEC, 0xEA)) > 10_000


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The demo audit's HTML and JSON reports, written by the CLI."""
    from conftest import DEMO, run_cli

    out = tmp_path_factory.mktemp("demo")
    proc = run_cli(
        "audit", "--config", DEMO / "audit.yaml",
        "--format", "html", "--out", out / "demo.html",
        "--format", "json", "--out", out / "demo.json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    return out / "demo.html", out / "demo.json"


@needs_chromium
def test_the_demo_report_loads_in_chromium_with_every_section_and_plot(tmp_path, demo_report):
    import json

    path, json_path = demo_report
    assert path.stat().st_size < _MAX_BYTES
    groups = {f["check"].split(".")[0] for f in json.loads(json_path.read_text())["findings"]}
    done = _chromium(tmp_path, "--dump-dom", path.as_uri())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    dom = done.stdout.decode("utf-8", "replace")
    sections = set(re.findall(r'<section class="group" id="sec-(\w+)"', dom))
    assert sections == {"probe" if g == "batch" else g for g in groups}
    plots = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', dom)
    assert len(plots) >= len({"balance", "leakage", "units"} & groups)

    shot = tmp_path / "demo.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,8000", path.as_uri())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    train_blue = (np.abs(img - np.array((0x1F, 0x77, 0xB4))).sum(axis=2) <= 6).sum()
    assert train_blue > 5000  # the bars of the class-count and group-overlap plots


# --- issue 21: folded evidence, full class names, one chance line per probe target -------------


def test_evidence_starts_folded_with_its_key_figures_in_the_summary(page):
    assert "<details open" not in page
    assert ('<details><summary>Evidence: <span class="peek">n_shared_groups 14') in page


def _captured(monkeypatch) -> list:
    figures = []

    def keep(fig, **_):
        figures.append(fig)
        return "data:image/png;base64,AA=="

    monkeypatch.setattr(_plots, "to_data_uri", keep)
    return figures


def test_long_class_names_are_wrapped_not_cut(monkeypatch):
    figures = _captured(monkeypatch)
    long = "Crohn's disease, stricturing phenotype"
    _plots.plots_for("balance", {"class_counts": {"train": {long: 40, "control": 200},
                                                 "test": {long: 10, "control": 50}}})  # fmt: skip
    (fig,) = figures
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "Crohn's disease,\nstricturing\nphenotype" in ticks
    assert all("…" not in t for t in ticks)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "Crohn's disease,\nstricturing\nphenotype" in legend


def test_each_probe_target_gets_its_own_chance_line(monkeypatch):
    figures = _captured(monkeypatch)
    acc = {"batch": [0.6, 0.62, 0.58], "label": [0.7, 0.72], "chance": {"batch": 0.25,
                                                                       "label": 0.5}}  # fmt: skip
    _plots.plots_for("probe", {"fold_accuracy": acc})
    (fig,) = figures
    ax = fig.axes[0]
    chance_lines = [
        (line.get_xdata()[0], tuple(line.get_ydata())) for line in ax.lines
        if line.get_linestyle() == "--"
    ]  # fmt: skip
    assert chance_lines == [(0.25, (-0.4, 0.4)), (0.5, (0.6, 1.4))]
    texts = [t.get_text() for t in ax.texts]
    assert "chance 0.25" in texts and "chance 0.50" in texts
    # a single chance value is drawn only when it can belong to one target alone
    figures.clear()
    _plots.plots_for("probe", {"fold_accuracy": {**acc, "chance": 0.25}})
    assert [x for x in figures[0].axes[0].lines if x.get_linestyle() == "--"] == []

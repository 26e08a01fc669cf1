"""The CLI as a pipeline sees it: subprocesses, exit codes, stderr, files left untouched."""

import json
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tests.conftest import DEMO, assert_clean_failure, run_cli, sha256
from tests.test_io import TABLE_CASES, bad_case


def test_help_does_not_import_jax_or_pyranges():
    code = (
        "import sys\n"
        "from biodata_guard.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['audit', '--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('jax', 'pyranges1', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_importing_the_package_has_no_side_effects():
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "import biodata_guard, biodata_guard.pandera_ext\n"
        "assert 'jax' not in sys.modules\n"
        "import pandera.pandas as pa\n"
        "assert not hasattr(pa.Check, 'no_group_overlap')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_config_field_has_a_flag():
    proc = run_cli("audit", "--help")
    for flag in (
        "--features", "--labels", "--metadata", "--id-col", "--label-col", "--split-col",
        "--group-col", "--batch-col", "--replicate-col", "--sex-col", "--coords",
        "--gene-lengths", "--expected-build", "--expected-units", "--format", "--out",
        "--fail-on", "--seed",
    ):  # fmt: skip
        assert flag in proc.stdout, flag


@pytest.fixture
def small(tmp_path):
    """A clean small dataset: features, labels and a grouped split."""
    rng = np.random.default_rng(0)
    ids = [f"S{i:03d}" for i in range(60)]
    X = pd.DataFrame(
        rng.poisson(5, (60, 20)),
        index=pd.Index(ids, name="sample_id"),
        columns=[f"G{j}" for j in range(20)],
    )
    X.to_csv(tmp_path / "x.csv")
    meta = pd.DataFrame({
        "sample_id": ids,
        "label": ["a", "b"] * 30,
        "split": ["train"] * 40 + ["test"] * 20,
        "patient": [f"P{i // 2}" for i in range(60)],
    })  # fmt: skip
    meta.to_csv(tmp_path / "meta.csv", index=False)
    return tmp_path


def flags(tmp_path):
    return [
        "audit", "--features", tmp_path / "x.csv", "--metadata", tmp_path / "meta.csv",
        "--label-col", "label", "--split-col", "split",
    ]  # fmt: skip


def test_flag_only_clean_run_exits_0_and_writes_several_formats(small):
    proc = run_cli(
        *flags(small), "--format", "json", "--out", small / "r.json",
        "--format", "text", "--out", small / "r.txt",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads((small / "r.json").read_text())
    assert data["ok"] is True
    assert {i["name"] for i in data["inputs"]} == {"x.csv", "meta.csv"}
    assert "PASS" in (small / "r.txt").read_text()


def test_fail_on_warning_turns_a_warning_into_a_gate_failure(small):
    meta = pd.read_csv(small / "meta.csv")
    meta["label"] = "a"
    meta.loc[[1, 3, 41, 43], "label"] = "b"  # 56:4, in both splits -> imbalance warning only
    meta.to_csv(small / "meta.csv", index=False)
    assert run_cli(*flags(small)).returncode == 0
    proc = run_cli(*flags(small), "--fail-on", "warning")
    assert proc.returncode == 1
    assert "balance.imbalance" in proc.stdout


def test_demo_audit_fails_the_gate_and_shows_the_planted_problems():
    proc = run_cli("audit", "--config", DEMO / "audit.yaml")
    assert proc.returncode == 1, proc.stderr
    # Every problem make_demo.py plants (its docstring lists them).
    for check in (
        "alignment.order_mismatch",
        "alignment.sex_discordance",
        "build.unexpected",
        "balance.unseen_class",
        "balance.imbalance",
        "balance.tiny_class",
        "leakage.group_overlap",
        "replicates.low_agreement",
        "replicates.ceiling",
        "units.detected",
        "batch.predictable",
        "probe.summary",
    ):
        assert check in proc.stdout, check
    assert "Traceback" not in proc.stderr


def test_demo_json_is_byte_identical_across_runs(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        proc = run_cli("audit", "--config", DEMO / "audit.yaml", "--format", "json", "--out", out)
        assert proc.returncode == 1, proc.stderr
        data = json.loads(out.read_text())
        data.pop("elapsed_seconds")
        outs.append(json.dumps(data, sort_keys=True))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("kind", TABLE_CASES)
def test_bad_metadata_file_exits_2_names_the_file_and_leaves_it_unchanged(small, kind):
    path, phrase = bad_case(small, kind)
    before = sha256(path) if path.exists() else None
    proc = run_cli(*flags(small)[:3], "--metadata", path, "--label-col", "label",
                   "--format", "json", "--out", small / "r.json")  # fmt: skip
    assert_clean_failure(proc, path.name, phrase)
    if before is not None:
        assert sha256(path) == before
    report = json.loads((small / "r.json").read_text())
    assert report["findings"][0]["check"] in ("input.unreadable", "input.invalid")


def test_bad_feature_matrix_cell(small):
    X = pd.read_csv(small / "x.csv", index_col=0).astype(object)
    X.iloc[2, 3] = "1,5"
    X.to_csv(small / "x.csv")
    before = sha256(small / "x.csv")
    proc = run_cli(*flags(small))
    assert_clean_failure(proc, "x.csv", "non-numeric", "G3")
    assert sha256(small / "x.csv") == before


def test_truncated_h5ad_exits_2(small):
    a = ad.AnnData(X=np.ones((10, 4), dtype=np.float32))
    a.write_h5ad(small / "cells.h5ad")
    data = (small / "cells.h5ad").read_bytes()
    (small / "cells.h5ad").write_bytes(data[:400])
    before = sha256(small / "cells.h5ad")
    proc = run_cli("audit", "--features", small / "cells.h5ad")
    assert_clean_failure(proc, "cells.h5ad", "truncated or corrupt")
    assert sha256(small / "cells.h5ad") == before


def test_missing_column_suggests_the_nearest(small):
    proc = run_cli(*flags(small), "--group-col", "patients")
    assert_clean_failure(proc, "meta.csv", "column 'patients' not found", "Did you mean 'patient'")


def test_unknown_config_key_exits_2_with_suggestion(small):
    cfg = small / "audit.yaml"
    cfg.write_text("inputs:\n  metadata: meta.csv\ncolumns:\n  lable: label\n")
    before = sha256(cfg)
    proc = run_cli("audit", "--config", cfg)
    assert_clean_failure(proc, "audit.yaml", "unknown key 'columns.lable'", "Did you mean 'label'")
    assert sha256(cfg) == before


def test_relative_paths_resolve_against_the_config_folder(small, tmp_path_factory):
    cfg = small / "audit.yaml"
    cfg.write_text(
        "inputs:\n  features: [x.csv]\n  metadata: meta.csv\n"
        "columns:\n  label: label\n  split: split\n"
    )
    elsewhere = tmp_path_factory.mktemp("cwd")
    assert run_cli("audit", "--config", cfg, cwd=elsewhere).returncode == 0


def test_no_input_is_a_usage_error():
    proc = run_cli("audit")
    assert_clean_failure(proc, "no input given")


def test_unknown_flag_is_a_usage_error():
    proc = run_cli("audit", "--lable-col", "x")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_schema_validate_reports_failure_cases(tmp_path):
    sheet = pd.DataFrame({
        "sample_id": ["S1", "S2", "S3", "S4"],
        "label": ["tumor", "Tumor ", "normal", "normal"],
        "split": ["train", "test", "train", "holdout"],
        "patient_id": ["P1", "P1", "P2", "P3"],
    })  # fmt: skip
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    proc = run_cli("schema", "validate", "sample_sheet", tmp_path / "sheet.csv",
                   "--format", "json", "--out", tmp_path / "r.json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    by_col = {(f["evidence"]["column"], f["evidence"]["check"].split("(")[0]): f for f in findings}
    assert by_col[("label", "consistent_categories")]["subjects"] == ["S1", "S2"]
    assert by_col[("split", "isin")]["subjects"] == ["S4"]
    assert by_col[("<table>", "no_group_overlap")]["subjects"] == ["S1", "S2"]
    clean = sheet.assign(label=["tumor", "tumor", "normal", "normal"], split="train")
    clean.to_csv(tmp_path / "clean.csv", index=False)
    assert run_cli("schema", "validate", "sample_sheet", tmp_path / "clean.csv").returncode == 0


def test_schema_list():
    proc = run_cli("schema", "list")
    assert proc.stdout.split() == ["expression_matrix", "label_table", "sample_sheet"]


def test_unreachable_dask_scheduler_is_a_clean_usage_error(cli):
    from conftest import DEMO, assert_clean_failure

    proc = cli(
        "audit", "--config", DEMO / "audit.yaml", "--no-probe",
        "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9",
    )  # fmt: skip
    assert_clean_failure(proc, "cannot connect to the Dask scheduler at tcp://127.0.0.1:9")


def test_detect_units_verb_reports_counts_and_gates_on_the_expectation():
    counts = DEMO / "data" / "counts.csv.gz"
    ok = run_cli("detect-units", counts, "--format", "json", "--out", "-")
    assert ok.returncode == 0, ok.stderr
    (detected,) = [f for f in json.loads(ok.stdout)["findings"] if f["check"] == "units.detected"]
    assert detected["message"].startswith("counts.csv.gz: counts")
    wrong = run_cli("detect-units", counts, "--expected-units", "tpm")
    assert wrong.returncode == 1
    assert "units.unexpected" in wrong.stdout


def test_probe_verb_runs_only_the_probe_checks():
    proc = run_cli(
        "probe", "--config", DEMO / "audit.yaml", "--probe-permutations", "20", "--alpha", "0.05",
        "--format", "json", "--out", "-",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # the batch finding is a warning
    checks = {f["check"] for f in json.loads(proc.stdout)["findings"]}
    assert "batch.predictable" in checks
    assert {c.split(".")[0] for c in checks} == {"batch", "probe"}


def test_a_scheduler_without_the_dask_engine_is_a_usage_error(cli):
    from conftest import DEMO, assert_clean_failure

    proc = cli("audit", "--config", DEMO / "audit.yaml", "--scheduler", "tcp://127.0.0.1:9")
    assert_clean_failure(proc, "run.scheduler (tcp://127.0.0.1:9) is used by the Dask engine only")


# --- issue 21/24: flags, the verdict line, machine-readable errors ------------------------------


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        (["--seed", "-1"], "--seed must be an integer in [0, 4294967295]; got -1 instead"),
        (["--n-folds", "x"], "--n-folds must be an integer >= 2; got 'x' instead"),
        (["--alpha", "2"], "--alpha must be a number in (0, 1); got 2 instead"),
        (["--chunk-size", "0"], "--chunk-size must be an integer >= 1; got 0 instead"),
        (
            ["--format", "jsn"],
            "--format must be one of text, json, html, multiqc, junit; got 'jsn' instead "
            "(did you mean 'json'?)",
        ),
        (["--fail-on", "warn"], "got 'warn' instead (did you mean 'warning'?)"),
        (["--only", "leakge"], "--only must be one of alignment, balance, leakage"),
        (["--lable-col", "x"], "unrecognized arguments: --lable-col x; did you mean --label-col?"),
    ],
)
def test_every_bad_flag_value_is_one_line_naming_the_flag_and_exit_2(small, bad, line):
    proc = run_cli(*flags(small), *bad)
    assert proc.returncode == 2, proc.stderr
    assert line in proc.stderr
    assert "usage:" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_several_bad_flags_are_reported_together(small):
    proc = run_cli(*flags(small), "--seed", "-1", "--alpha", "2")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "biodata_guard: error: 2 problems"
    assert "--alpha must be" in proc.stderr and "--seed must be" in proc.stderr


def test_probe_does_not_offer_flags_of_other_check_groups(small):
    helps = run_cli("probe", "--help").stdout
    for flag in ("--batch-col", "--probe-permutations", "--group-col", "--waive"):
        assert flag in helps, flag
    for flag in ("--coords", "--sex-col", "--expected-build", "--gene-lengths"):
        assert flag not in helps, flag
    proc = run_cli("probe", "--features", small / "x.csv", "--coords", "x.vcf")
    assert proc.returncode == 2
    assert "biodata_guard probe does not take --coords" in proc.stderr


def test_layer_on_a_table_is_an_error(small):
    proc = run_cli(*flags(small), "--layer", "counts")
    assert_clean_failure(proc, "--layer counts: layers exist only in AnnData inputs", "x.csv")


def test_the_verdict_goes_to_stderr_when_only_files_are_written(small):
    proc = run_cli(*flags(small), "--format", "html", "--out", small / "r.html")
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.startswith("biodata_guard: PASS (0 error, 0 warning, ")
    assert proc.stderr.rstrip().endswith(f"-> {small / 'r.html'}")
    meta = pd.read_csv(small / "meta.csv")
    meta.loc[:20, "split"] = "test"  # patients now span both splits -> the gate fails
    meta.to_csv(small / "meta.csv", index=False)
    failing = run_cli(*flags(small), "--group-col", "patient", "--format", "json", "--out",
                      small / "r.json")  # fmt: skip
    assert failing.returncode == 1
    assert failing.stderr.startswith("biodata_guard: FAIL (1 error, ")
    # a text report on stdout carries the verdict itself: no second line on stderr
    assert run_cli(*flags(small)).stderr == ""


def test_json_asked_on_stdout_gets_the_error_report_there(small):
    proc = run_cli(*flags(small)[:3], "--metadata", small / "missing.csv", "--format", "json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    (f,) = report["findings"]
    assert (f["check"], f["severity"], report["ok"]) == ("input.unreadable", "error", False)
    assert "missing.csv" in f["message"]
    assert "biodata_guard: error:" in proc.stderr


def test_a_label_file_with_a_single_column_says_so(small):
    pd.DataFrame({"label": ["a", "b"] * 30}).to_csv(small / "labels.csv", index=False)
    proc = run_cli("audit", "--features", small / "x.csv", "--labels", small / "labels.csv",
                   "--label-col", "label")  # fmt: skip
    assert_clean_failure(
        proc,
        "labels.csv: has a single column ('label'); a labels table needs a sample-id column",
        "--id-col",
    )
    assert "columns are \n" not in proc.stderr


def test_a_config_with_several_problems_lists_each_on_its_own_line(small):
    cfg = small / "audit.yaml"
    cfg.write_text("features: [x.csv]\nlabel_col: label\nthresholds:\n  alpha: 5\n")
    proc = run_cli("audit", "--config", cfg)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0] == "biodata_guard: error: 2 problems"
    assert "2 option names at the top level (features, label_col)" in proc.stderr
    assert "thresholds.alpha (--alpha) must be a number in (0, 1); got 5" in proc.stderr
    assert "inputs:" in proc.stderr and "  label: label" in proc.stderr  # the rewrite

"""The ``split`` verb as a pipeline runs it: it writes the sheet with the new column, audits its
own output with the leakage and balance checks, prints what it achieved and what it could not,
and refuses bad flags in one line (exit 2) and writing over an input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import assert_clean_failure, run_cli, sha256
from tests.test_split import imbalanced_cohort


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    meta, X, planted = imbalanced_cohort()
    meta.to_csv(folder / "samples.csv", index=False)
    X.to_csv(folder / "counts.csv")
    meta[["sample_id", "label"]].rename(columns={"label": "diagnosis"}).to_csv(
        folder / "labels.csv", index=False
    )
    return folder, planted


def _split(folder, *extra):
    return run_cli(
        "split", "--metadata", folder / "samples.csv", "--group-col", "patient_id",
        "--label-col", "label", "--batch-col", "batch", "--features", folder / "counts.csv",
        *extra,
    )  # fmt: skip


def test_split_writes_the_sheet_audits_it_and_prints_the_deviation(files):
    folder, planted = files
    before = sha256(folder / "samples.csv")
    done = _split(folder, "--out", folder / "split.csv", "--report", folder / "split.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sha256(folder / "samples.csv") == before  # inputs are never written
    out = pd.read_csv(folder / "split.csv")
    original = pd.read_csv(folder / "samples.csv")
    assert list(out.columns) == [*original.columns, "split"]
    assert out["split"].value_counts().to_dict() == {"train": 249, "test": 62}
    assert out.groupby("patient_id")["split"].nunique().max() == 1
    by_id = out.set_index("sample_id")["split"]
    assert by_id[list(planted["exact"])].nunique() == 1
    assert by_id[list(planted["near"])].nunique() == 1
    text = done.stdout
    assert "worst class-proportion deviation: 1.3 points (class 'singleton'" in text
    assert "2 duplicate / near-duplicate pair(s) joined 2 group(s)" in text
    assert "could not satisfy: class 'singleton' has 1 group(s)" in text
    assert "batches in every split: 4 of 4" in text
    assert "audit of the split: PASS" in text
    report = json.loads((folder / "split.json").read_text())
    leaks = [f for f in report["findings"] if f["check"].startswith("leakage.")]
    assert [f for f in leaks if f["severity"] == "error"] == []
    assert {f["check"] for f in report["findings"]} >= {"balance.summary"}
    assert report["artifacts"]["split"]["sizes"] == {"train": 249, "test": 62}
    assert "Traceback" not in done.stderr


def test_split_folds_with_labels_from_their_own_file(files):
    folder, _ = files
    done = run_cli(
        "split", "--metadata", folder / "samples.csv", "--labels", folder / "labels.csv",
        "--group-col", "patient_id", "--label-col", "diagnosis", "--n-folds", "5",
        "--out", folder / "folds.tsv", "--report", folder / "folds.json",
    )  # fmt: skip
    # the one-patient class is in one fold only: that fold's model never sees it (balance)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    out = pd.read_csv(folder / "folds.tsv", sep="\t")
    assert "diagnosis" not in out.columns  # the sheet as it was, plus the fold column
    assert sorted(out["fold"].unique()) == [1, 2, 3, 4, 5]
    assert "fold 1 63 (20.3%, target 20%)" in done.stdout
    assert "class 'singleton' has 1 group(s) (4 samples): 1 in 1" in done.stdout
    report = json.loads((folder / "folds.json").read_text())
    assert not [
        f
        for f in report["findings"]
        if f["check"].startswith("leakage.") and f["severity"] == "error"
    ]


def test_an_existing_split_column_is_replaced_and_said_so(files, tmp_path):
    folder, _ = files
    leaky = pd.read_csv(folder / "samples.csv").assign(split="train")
    leaky.loc[::3, "split"] = "test"  # a sample-by-sample split: leaks patients
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    done = run_cli(
        "split", "--metadata", tmp_path / "leaky.csv", "--group-col", "patient_id",
        "--label-col", "label", "--out", tmp_path / "fixed.csv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replaced column 'split'" in done.stdout
    fixed = pd.read_csv(tmp_path / "fixed.csv")
    assert fixed.groupby("patient_id")["split"].nunique().max() == 1
    audit = run_cli(
        "audit", "--metadata", tmp_path / "fixed.csv", "--label-col", "label",
        "--split-col", "split", "--group-col", "patient_id", "--only", "leakage",
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--n-folds", "1"], "--n-folds must be an integer >= 2; got 1 instead"),
        (["--n-folds", "x"], "--n-folds must be an integer >= 2; got 'x' instead"),
        (["--test-size", "1.5"], "--test-size must be a number in (0, 1); got 1.5 instead"),
        (["--seed", "-1"], "--seed must be an integer in [0, 4294967295]; got -1 instead"),
        (["--test-size", "0.2", "--n-folds", "3"], "give --test-size or --n-folds, not both"),
        (["--coords", "x.vcf"], "biodata_guard split does not take --coords"),
    ],
)
def test_bad_flag_values_are_one_line_and_exit_2(files, flags, line):
    folder, _ = files
    done = _split(folder, "--out", folder / "never.csv", *flags)
    assert done.returncode == 2, done.stderr
    assert line in done.stderr
    assert done.stderr.count("\n") <= 2 and "usage:" not in done.stderr
    assert not (folder / "never.csv").exists()


def test_split_never_writes_over_an_input_and_needs_its_flags(files):
    folder, _ = files
    before = sha256(folder / "samples.csv")
    done = _split(folder, "--out", folder / "samples.csv")
    assert_clean_failure(done, "--out", "is an input of this run")
    assert sha256(folder / "samples.csv") == before
    assert_clean_failure(
        run_cli("split", "--metadata", folder / "samples.csv", "--out", folder / "x.csv"),
        "split needs --group-col",
    )
    assert_clean_failure(
        _split(folder, "--out", folder / "x.csv", "--group-col", "family"),
        "samples.csv: column 'family' not found",
    )


def test_a_bad_input_still_gets_the_requested_report(tmp_path):
    done = run_cli(
        "split", "--metadata", tmp_path / "missing.csv", "--group-col", "patient_id",
        "--out", tmp_path / "s.csv", "--report", tmp_path / "r.json",
    )  # fmt: skip
    assert_clean_failure(done, "missing.csv: file does not exist")
    (f,) = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert f["check"] == "input.unreadable"
    assert not (tmp_path / "s.csv").exists()

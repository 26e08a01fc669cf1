"""balance.unassigned_split: the README's worked example of a check (one module, one test file)."""

import pandas as pd
from _synth import cohort
from pytest import approx

import biodata_guard
from biodata_guard.balance.unassigned import check_unassigned_split


def test_planted_unassigned_samples_are_found_with_exact_numbers():
    sheet = cohort(40, seed=3)
    n = len(sheet)
    sheet.loc[[5, 17, 40], "split"] = [None, "", "  "]
    [finding] = check_unassigned_split(sheet.set_index("sample_id")["split"], name="sheet.csv")
    assert finding.check == "balance.unassigned_split" and finding.severity == "warning"
    assert finding.evidence == {
        "n_unassigned": 3,
        "n_samples": n,
        "fraction": approx(3 / n, rel=1e-5),
    }
    assert finding.subjects == sheet.loc[[5, 17, 40], "sample_id"].tolist()


def test_a_fully_assigned_split_is_clean():
    sheet = cohort(40, seed=3)
    assert check_unassigned_split(sheet.set_index("sample_id")["split"]) == []


def test_the_audit_runs_it_from_its_declaration_alone():
    sheet = cohort(20, seed=1)
    sheet.loc[[2, 3], "split"] = None
    report = biodata_guard.audit(metadata=sheet, split_col="split", only={"balance"})
    [finding] = report.by_check("balance.unassigned_split")
    assert finding.evidence["n_unassigned"] == 2


def test_without_a_split_column_it_says_it_was_not_checked():
    sheet = pd.DataFrame({"sample_id": ["a", "b"], "label": ["x", "y"]})
    report = biodata_guard.audit(metadata=sheet, label_col="label", only={"balance"})
    [note] = report.by_check("balance.unassigned_split")
    assert note.severity == "info" and note.evidence["not_checked"] is True

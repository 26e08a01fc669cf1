import pandas as pd
import pytest

from biodata_guard import alignment
from biodata_guard.errors import InputError
from tests._synth import cohort


@pytest.fixture
def sheet():
    return cohort(60, seed=3)  # ~210 samples from 60 patients


def checks(findings):
    return sorted(f.check for f in findings)


def test_clean_alignment_yields_nothing(sheet):
    assert alignment.check_alignment(sheet["sample_id"], sheet["sample_id"].copy()) == []


def test_order_mismatch_labels_sorted_separately(sheet):
    labels = sheet.sort_values(["label", "sample_id"])  # the classic separate-CSV bug
    (f,) = alignment.check_alignment(sheet["sample_id"], labels["sample_id"])
    assert f.check == alignment.ORDER_MISMATCH and f.severity == "error"
    expected = int((sheet["sample_id"].to_numpy() != labels["sample_id"].to_numpy()).sum())
    assert f.evidence == {"n_misplaced": expected, "n_rows": len(sheet)}
    assert f.subjects[0] == sheet["sample_id"].iloc[0]


def test_length_and_unmatched_keys_after_dropped_rows(sheet):
    labels = sheet.iloc[:-7]  # 7 labels lost upstream
    found = alignment.check_alignment(sheet["sample_id"], labels["sample_id"])
    assert checks(found) == [alignment.LENGTH_MISMATCH, alignment.UNMATCHED_KEYS]
    unmatched = next(f for f in found if f.check == alignment.UNMATCHED_KEYS)
    assert unmatched.evidence["n_only_in_features"] == 7
    assert unmatched.evidence["n_only_in_labels"] == 0
    assert unmatched.evidence["n_matched_rows"] == len(sheet) - 7
    assert unmatched.subjects == list(sheet["sample_id"].iloc[-7:])
    length = next(f for f in found if f.check == alignment.LENGTH_MISMATCH)
    assert length.evidence == {"n_features": len(sheet), "n_labels": len(sheet) - 7}


def test_renamed_ids_with_suffix_are_unmatched_on_both_sides(sheet):
    labels = sheet["sample_id"].where(sheet.index >= 5, sheet["sample_id"] + "-1")
    (f,) = alignment.check_alignment(sheet["sample_id"], labels)
    assert f.check == alignment.UNMATCHED_KEYS
    assert f.evidence["n_only_in_features"] == 5 and f.evidence["n_only_in_labels"] == 5


def test_duplicate_keys_on_the_labels_side(sheet):
    labels = pd.concat([sheet, sheet.iloc[:3]])["sample_id"]
    found = alignment.check_alignment(sheet["sample_id"], labels)
    dup = next(f for f in found if f.check == alignment.KEY_DUPLICATES)
    assert dup.input == "labels"
    assert dup.evidence == {"n_duplicated_ids": 3, "n_rows_involved": 6, "n_rows": len(sheet) + 3}


def test_missing_labels_after_left_join(sheet):
    y = sheet.set_index("sample_id")["label"].copy()
    y.iloc[[4, 9, 10]] = None
    (f,) = alignment.check_missing_labels(y, name="labels.csv")
    assert f.check == alignment.MISSING_LABELS and f.severity == "error"
    assert f.evidence == {"n_missing": 3, "n_samples": len(y)}
    assert f.subjects == list(y.index[[4, 9, 10]])
    assert alignment.check_missing_labels(y.dropna()) == []


def test_merge_explosion_counts_rows(sheet):
    # Joining per-sample rows to per-patient clinical rows that were accidentally duplicated.
    clinical = sheet.drop_duplicates("patient_id")[["patient_id"]].assign(age=50)
    clinical = pd.concat([clinical, clinical.iloc[:2]])
    (f,) = alignment.check_merge(sheet, clinical, on="patient_id")
    per_patient = sheet["patient_id"].value_counts()
    doubled = clinical["patient_id"].iloc[:2]
    multi = [p for p in doubled if per_patient[p] > 1]
    assert f.check == alignment.MERGE_EXPLOSION
    assert f.evidence["n_exploding_keys"] == len(multi)
    assert f.evidence["n_result_rows"] == len(sheet.merge(clinical, on="patient_id"))
    assert (
        alignment.check_merge(sheet, clinical.drop_duplicates("patient_id"), on="patient_id") == []
    )


def test_audited_merge_reports_what_the_merge_did(sheet):
    features = sheet[["sample_id"]].assign(x=1.0)
    labels = sheet[["sample_id", "label"]].iloc[10:].copy()
    merged, found = alignment.audited_merge(
        features, labels, on="sample_id", how="left", label_col="label"
    )
    assert len(merged) == len(features)
    assert checks(found) == [alignment.MISSING_LABELS, alignment.UNMATCHED_KEYS]
    missing = next(f for f in found if f.check == alignment.MISSING_LABELS)
    assert missing.evidence["n_missing"] == 10
    merged, found = alignment.audited_merge(features, sheet[["sample_id", "label"]], on="sample_id")
    assert found == [] and len(merged) == len(sheet)


def test_merge_on_a_missing_column_is_an_input_error(sheet):
    with pytest.raises(InputError, match="merge key column"):
        alignment.check_merge(sheet, sheet, on="donor")

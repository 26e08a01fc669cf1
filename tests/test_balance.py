import numpy as np
import pandas as pd
import pytest

from biodata_guard import balance
from biodata_guard.balance._splits import _train_split
from tests._synth import cohort


def by_id(findings, check):
    return [f for f in findings if f.check == check]


def test_balanced_binary_labels_only_give_the_summary():
    sheet = cohort(200, seed=1)
    found = balance.check_class_balance(sheet["label"])
    assert [f.check for f in found] == [balance.SUMMARY]
    s = found[0]
    assert s.severity == "info"
    counts = sheet["label"].value_counts()
    assert s.evidence["counts"] == counts.to_dict()
    assert s.evidence["majority_baseline_accuracy"] == pytest.approx(
        counts.max() / len(sheet), 1e-5
    )


def test_imbalance_reports_ratio_and_majority_baseline():
    sheet = cohort(300, seed=2, class_weights=(0.97, 0.03))
    found = balance.check_class_balance(sheet["label"])
    (imb,) = by_id(found, balance.IMBALANCE)
    counts = sheet["label"].value_counts()
    assert imb.severity == "warning"
    assert imb.evidence["imbalance_ratio"] == pytest.approx(counts.max() / counts.min(), 1e-5)
    assert imb.evidence["majority_baseline_accuracy"] == pytest.approx(
        counts.max() / counts.sum(), 1e-5
    )
    assert imb.evidence["majority_class"] == "tumour"
    assert "balanced_accuracy_score" in imb.hint


def test_tiny_class_cannot_be_stratified():
    y = pd.Series(["a"] * 40 + ["b"] * 30 + ["c"] * 3 + ["d"])
    (tiny,) = by_id(balance.check_class_balance(y, n_folds=5), balance.TINY_CLASS)
    assert tiny.severity == "error"  # 'd' has a single sample
    assert tiny.evidence["tiny_classes"] == {"c": 3, "d": 1}
    assert tiny.subjects == ["c", "d"]
    assert by_id(balance.check_class_balance(y.iloc[:73], n_folds=3), balance.TINY_CLASS) == []


def test_unseen_class_in_test():
    sheet = cohort(200, seed=4, classes=("A", "B"))
    sheet.loc[sheet["split"] == "test", "label"] = np.where(
        np.arange((sheet["split"] == "test").sum()) < 6, "C", "A"
    )
    found = balance.check_split_balance(sheet["label"], sheet["split"])
    (unseen,) = by_id(found, balance.UNSEEN_CLASS)
    assert unseen.severity == "error"
    assert unseen.evidence["unseen_classes"] == {"C": 6}
    assert unseen.evidence["n_split_samples"] == int((sheet["split"] == "test").sum())


def test_split_shift_measured_by_total_variation():
    rng = np.random.default_rng(0)
    y_train = rng.choice(["A", "B"], 400, p=[0.5, 0.5])
    y_test = rng.choice(["A", "B"], 200, p=[0.85, 0.15])
    y = pd.Series(np.r_[y_train, y_test])
    split = pd.Series(["train"] * 400 + ["test"] * 200)
    (shift,) = by_id(balance.check_split_balance(y, split), balance.SPLIT_SHIFT)
    p_train = pd.Series(y_train).value_counts(normalize=True)
    p_test = pd.Series(y_test).value_counts(normalize=True)
    assert shift.evidence["total_variation"] == pytest.approx(
        0.5 * (p_train - p_test).abs().sum(), 1e-5
    )
    assert shift.evidence["p_value"] < 1e-6


def test_stratified_split_is_clean():
    sheet = cohort(200, seed=5)
    assert balance.check_split_balance(sheet["label"], sheet["split"]) == []


def test_multiclass_train_split_is_found_by_name_not_size():
    y = pd.Series(["a", "b", "c"] * 10 + ["a", "b", "c"] * 30)
    split = pd.Series(["training"] * 30 + ["holdout"] * 90)
    assert balance.check_split_balance(y, split) == []
    assert _train_split(split) == "training"


def test_fold_columns_compare_each_fold_with_the_others():
    """A 5-fold column: the model that scores fold k learnt from the other four. A class held
    by two folds is seen in training for both; one held by a single fold is not."""
    sheet = cohort(200, seed=11)
    folds = pd.Series(np.arange(len(sheet)) % 5, index=sheet.index)
    y = sheet["label"].copy()
    assert balance.check_split_balance(y, folds) == []  # the largest fold is no training set
    y[folds.index[(folds == 3).to_numpy()][:4]] = "rare"  # only fold 3 holds it
    (unseen,) = by_id(balance.check_split_balance(y, folds), balance.UNSEEN_CLASS)
    assert unseen.evidence["split"] == "3" and unseen.evidence["train_split"] is None
    assert unseen.evidence["unseen_classes"] == {"rare": 4}
    assert "never in the folds other than '3'" in unseen.message


def test_label_variants_with_case_and_trailing_space():
    sheet = cohort(100, seed=6, classes=("Tumor", "Normal"))
    sheet.loc[sheet.index[:4], "label"] = "tumor "
    sheet.loc[sheet.index[4:6], "label"] = "NORMAL"
    (f,) = balance.check_label_variants(sheet["label"], name="meta.csv")
    assert f.check == balance.LABEL_VARIANTS and f.severity == "error"
    counts = sheet["label"].value_counts()
    assert f.evidence["variants"] == {
        "normal": {"NORMAL": 2, "Normal": int(counts["Normal"])},
        "tumor": {"Tumor": int(counts["Tumor"]), "tumor ": 4},
    }
    assert f.evidence["n_affected_samples"] == len(sheet)
    assert balance.check_label_variants(cohort(100, seed=6)["label"]) == []


def test_a_single_class_is_an_error_not_a_silent_pass():
    y = pd.Series(["tumour"] * 40 + [None] * 3)
    found = balance.check_class_balance(y, name="labels.csv", label_col="diagnosis")
    assert [f.check for f in found] == [balance.SUMMARY, balance.SINGLE_CLASS]
    single = found[1]
    assert single.severity == "error"
    assert single.evidence == {"n_samples": 40, "n_classes": 1, "class": "tumour"}
    assert "labels.csv, diagnosis: all 40 labelled samples are 'tumour'" in single.message


def test_two_classes_are_not_a_single_class():
    y = pd.Series(["tumour"] * 40 + ["normal"] * 40)
    assert not by_id(balance.check_class_balance(y), balance.SINGLE_CLASS)

"""The balance group's declarations (parameters, pandera methods) and its `not checked`
findings."""

import numpy as np
import pandas as pd
import pytest

from biodata_guard import balance, registry
from biodata_guard._context import AuditContext
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError
from tests._synth import cohort


def context(sheet, **config):
    return AuditContext(
        config=AuditConfig(label_col="label", **config),
        samples=sheet.set_index("sample_id"),
        samples_name="sheet.csv",
    )


def test_declarations():
    group = registry.get_group("balance")
    assert (group.order, group.run, group.shared_pass) == (20, balance.audit_balance, None)
    needs = {s.id: s.needs for s in registry.checks("balance")}
    for check in ("SUMMARY", "IMBALANCE", "TINY_CLASS", "SINGLE_CLASS", "LABEL_VARIANTS"):
        assert needs[getattr(balance, check)] == ("labels",)
    assert needs[balance.SPLIT_SHIFT] == needs[balance.UNSEEN_CLASS] == ("labels", "split")
    assert registry.get_check(balance.TINY_CLASS).params == ("min_class_size", "n_folds")
    assert registry.get_check(balance.SPLIT_SHIFT).params == ("max_split_shift", "alpha")


def test_parameters_have_their_defaults_and_ranges():
    p = {name: registry.get_param(name) for name in (
        "min_class_fraction", "max_imbalance_ratio", "min_class_size", "max_split_shift"
    )}  # fmt: skip
    assert {k: v.default for k, v in p.items()} == {
        "min_class_fraction": 0.05,
        "max_imbalance_ratio": 10.0,
        "min_class_size": None,
        "max_split_shift": 0.1,
    }
    assert all(v.section == "thresholds" and v.yaml_key == k for k, v in p.items())
    assert 0.5 not in p["max_imbalance_ratio"].valid and 1.0 in p["max_imbalance_ratio"].valid
    assert 0 not in p["min_class_size"].valid and 1 in p["min_class_size"].valid
    assert 1.5 not in p["min_class_fraction"].valid and 1.5 not in p["max_split_shift"].valid
    with pytest.raises(ConfigError, match="max_imbalance_ratio"):
        registry.coerce(p["max_imbalance_ratio"], 0.5, where="")


def test_pandera_methods():
    imbalance = registry.get_check(balance.IMBALANCE).pandera
    assert imbalance.fn.__name__ == "min_class_fraction" and imbalance.kind == "frame"
    assert imbalance.statistics == ("label_col", "min_fraction")
    assert imbalance.reads == ("label_col",) and not imbalance.element_wise
    df = pd.DataFrame({"label": ["a"] * 9 + ["b"]})
    assert imbalance.fn(df, label_col="label", min_fraction=0.2).tolist() == [True] * 9 + [False]
    variants = registry.get_check(balance.LABEL_VARIANTS).pandera
    assert variants.fn.__name__ == "consistent_categories" and variants.kind == "column"
    assert variants.statistics == () and not variants.element_wise
    assert variants.fn(pd.Series(["a", "A ", "b"])).tolist() == [False, False, True]


def test_one_split_is_not_checked_with_the_numbers():
    sheet = cohort(40, seed=1).assign(split="train")
    found = balance.audit_balance(context(sheet, split_col="split"))
    skipped = [f for f in found if f.evidence.get("not_checked")]
    assert [f.check for f in skipped] == [balance.SPLIT_SHIFT, balance.UNSEEN_CLASS]
    f = skipped[0]
    assert f.severity == "info" and f.input == "sheet.csv"
    assert f.message == (
        f"balance.split_shift: not checked: sheet.csv, split: all {len(sheet)} labelled samples "
        "are in one split (train), needs >= 2 splits"
    )
    assert (f.evidence["n_samples"], f.evidence["n_splits"]) == (len(sheet), 1)
    assert balance.SUMMARY in [g.check for g in found if g not in skipped]


def test_no_labelled_sample_is_not_checked():
    sheet = cohort(20, seed=2).assign(label=np.nan)
    found = balance.audit_balance(context(sheet, split_col="split"))
    assert all(f.severity == "info" and f.evidence["not_checked"] for f in found)
    assert sorted(f.check for f in found) == sorted(
        [
            balance.SUMMARY,
            balance.SINGLE_CLASS,
            balance.IMBALANCE,
            balance.TINY_CLASS,
            balance.LABEL_VARIANTS,
            balance.SPLIT_SHIFT,
            balance.UNSEEN_CLASS,
        ]
    )
    assert found[0].evidence["reason"] == (
        f"sheet.csv, label: no sample has a label (all {len(sheet)} values are missing)"
    )


def test_checks_that_ran_give_no_not_checked():
    sheet = cohort(60, seed=3)
    found = balance.audit_balance(context(sheet, split_col="split"))
    assert not [f for f in found if f.evidence.get("not_checked")]
    assert balance.audit_balance(context(sheet.drop(columns="label"))) == []

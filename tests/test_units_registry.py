"""Units: the group's declarations, its pandera methods and its not-checked findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
from _synth import nb_counts

from biodata_guard import registry
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.io.matrix import as_matrix
from biodata_guard.units import (
    CHECK_IDS,
    EXPECTED_UNITS,
    MISMATCH,
    UNEXPECTED,
    audit_units,
    stream_accumulators,
)
from biodata_guard.units._pandera import finite, integer_valued

COUNTS = nb_counts(40, 300, seed=3).astype(float)


def _ctx(*matrices, **config):
    names = [f"m{i}.csv" for i in range(len(matrices))]
    features = [FeatureInput(n, as_matrix(X, name=n)) for n, X in zip(names, matrices, strict=True)]
    return AuditContext(config=AuditConfig(**config), features=features)


def _not_checked(findings):
    return {f.check: f for f in findings if f.evidence.get("not_checked")}


def test_every_units_id_is_declared_once_in_the_units_group():
    specs = {s.id: s for s in registry.checks("units")}
    assert set(specs) == set(CHECK_IDS)
    assert all(s.needs == ("features",) for s in specs.values())
    assert specs[UNEXPECTED].params == ("expected_units",)
    assert tuple(specs["units.detected"].severities) == ("info",)
    assert specs["units.invalid_values"].pandera.fn is finite
    assert specs[UNEXPECTED].pandera.fn is integer_valued


def test_the_group_runs_the_audit_and_feeds_the_shared_pass():
    group = registry.get_group("units")
    assert (group.order, group.title) == (50, "Units")
    assert group.run is audit_units and group.shared_pass is stream_accumulators


def test_expected_units_is_a_choice_of_the_expected_units():
    p = registry.get_param("expected_units")
    assert (p.section, p.yaml_key, p.default) == ("expectations", "units", None)
    assert p.valid.values == EXPECTED_UNITS
    assert "fpkm" in p.valid and "cpm_or_tpm" not in p.valid


def test_pandera_methods_flag_non_finite_and_fractional_values():
    s = pd.Series([1.0, 2.5, np.nan, np.inf, "x"], dtype=object)
    assert finite(s).tolist() == [True, True, False, False, False]
    assert integer_valued(s).tolist() == [True, False, False, False, False]


def test_one_plain_matrix_without_expected_units_says_what_was_not_checked():
    found = _not_checked(audit_units(_ctx(COUNTS)))
    assert set(found) == {MISMATCH, UNEXPECTED}
    assert found[MISMATCH].severity == "info"
    assert found[MISMATCH].evidence["n_matrices"] == 1
    assert "--features twice" in found[MISMATCH].message
    assert "--expected-units" in found[UNEXPECTED].message


def test_two_matrices_with_expected_units_are_fully_checked():
    cpm = COUNTS / COUNTS.sum(axis=1, keepdims=True) * 1e6
    findings = audit_units(_ctx(COUNTS, cpm, expected_units="counts"))
    assert _not_checked(findings) == {}
    assert {f.check for f in findings} >= {MISMATCH, UNEXPECTED}


def test_no_feature_matrix_leaves_the_not_checked_finding_to_the_audit():
    assert audit_units(_ctx()) == []

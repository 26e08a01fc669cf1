"""The probe group in an audit: declarations, --no-probe, and batch.confounded without the probe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from biodata_guard import probe, registry, stats
from biodata_guard._context import AuditContext
from biodata_guard.audit import audit
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError


def _sheet_context(samples: pd.DataFrame, **config) -> AuditContext:
    """A sample sheet and no features: only batch.confounded can run."""
    cfg = AuditConfig(batch_col="batch", label_col="label", **config)
    return AuditContext(config=cfg, samples=samples, samples_name="meta.csv")


def _confounded_sheet(n: int = 60) -> pd.DataFrame:
    label = np.where(np.arange(n) < n // 2, "tumour", "normal")
    return pd.DataFrame(
        {"batch": np.where(label == "tumour", "B1", "B2"), "label": label},
        index=pd.Index([f"S{i:03d}" for i in range(n)], name="sample_id"),
    )


# --- declarations -----------------------------------------------------------------------------


def test_the_probe_group_and_its_checks_are_declared():
    group = registry.get_group("probe")
    assert group.order == 70 and group.id_prefixes == ("batch", "probe")
    assert group.run is probe.audit_probe
    assert group.title == "Batch and split probe"
    specs = {s.id: s for s in registry.checks("probe")}
    assert set(specs) == set(probe.CHECK_IDS)
    assert specs[probe.CONFOUNDED].needs == ("batch", "labels")  # the sample sheet only
    assert specs[probe.PREDICTABLE].needs == ("probe", "features", "batch")
    assert specs[probe.SPLIT_PREDICTABLE].needs == ("probe", "features", "split")
    assert specs[probe.SUMMARY].needs == ("probe", "features")
    assert tuple(specs[probe.SUMMARY].severities) == ("info",)
    for check in (probe.PREDICTABLE, probe.SPLIT_PREDICTABLE):
        assert set(specs[check].severities) == {"warning", "error"}
        assert {"probe_components", "probe_permutations", "n_folds", "alpha"} <= set(
            specs[check].params
        )


def test_the_probe_parameters_and_their_ranges():
    expected = {
        "probe": (True, "probe", "enabled"),
        "probe_components": (50, "probe", "n_components"),
        "probe_permutations": (100, "probe", "n_permutations"),
        "probe_max_samples": (50_000, "probe", "max_samples"),
    }
    for name, (default, section, key) in expected.items():
        p = registry.get_param(name)
        assert (p.default, p.section, p.yaml_key) == (default, section, key), name
    assert registry.get_param("probe_components").valid.describe() == "an integer >= 1"
    assert registry.get_param("probe_max_samples").valid.describe() == "an integer >= 100"
    with pytest.raises(ConfigError, match=r"probe.n_components .* must be an integer >= 1"):
        AuditConfig(probe_components=0)
    with pytest.raises(ConfigError, match=r"probe.n_permutations .* must be an integer >= 1"):
        AuditConfig(probe_permutations=0)
    with pytest.raises(ConfigError, match=r"probe.max_samples .* must be an integer >= 100"):
        AuditConfig(probe_max_samples=99)


# --- batch.confounded runs without the probe --------------------------------------------------


def test_no_probe_still_checks_the_sample_sheet():
    found = probe.audit_probe(_sheet_context(_confounded_sheet(), probe=False))
    assert [(f.check, str(f.severity)) for f in found] == [(probe.CONFOUNDED, "error")]
    assert found[0].input == "meta.csv" and found[0].evidence["fully_confounded"] is True


def test_no_probe_in_an_audit_reports_the_probe_checks_as_not_checked():
    samples = _confounded_sheet().reset_index()
    X = pd.DataFrame(
        np.random.default_rng(0).poisson(5, (len(samples), 20)).astype(float),
        index=samples["sample_id"],
        columns=[f"g{j}" for j in range(20)],
    )
    report = audit(
        features=X,
        metadata=samples,
        id_col="sample_id",
        batch_col="batch",
        label_col="label",
        only={"probe"},
        probe=False,
    )
    by_check = {f.check: f for f in report.findings}
    assert by_check[probe.CONFOUNDED].severity == "error"
    for check in (probe.PREDICTABLE, probe.SPLIT_PREDICTABLE, probe.SUMMARY):
        f = by_check[check]
        assert f.severity == "info" and f.evidence["not_checked"] is True
        assert "the probe enabled" in f.message


def test_a_sheet_with_one_batch_is_not_checked_for_confounding():
    samples = _confounded_sheet()
    samples["batch"] = "B1"
    (f,) = probe.audit_probe(_sheet_context(samples, probe=False))
    assert f.check == probe.CONFOUNDED and f.severity == "info"
    assert f.evidence["not_checked"] is True
    assert (f.evidence["n_batches"], f.evidence["n_classes"], f.evidence["n_samples"]) == (1, 2, 60)
    assert f.message == (
        "batch.confounded: not checked: 1 batch value(s) and 2 label class(es) among the 60 "
        "samples with both; needs >= 2 of each"
    )
    assert f.input == "meta.csv"
    # The public check itself stays silent: nothing to report.
    assert probe.check_batch_confounding(samples["batch"], samples["label"]) == []


# --- the statistic ----------------------------------------------------------------------------


def test_batch_confounding_uses_the_plain_cramers_v():
    table = np.array([[40, 10], [10, 40], [25, 25]])
    batch = np.repeat(["B1", "B1", "B2", "B2", "B3", "B3"], table.ravel())
    label = np.tile(["normal", "tumour"], 3).repeat(table.ravel())
    res = probe.batch_confounding(batch, label)
    assert res.association == stats.cramers_v(table, bias_corrected=False)
    assert res.association.v == pytest.approx(math.sqrt(res.association.chi2 / 150))
    assert res.association.v > stats.cramers_v(table).v  # the bias-corrected V is smaller
    assert res.contingency["B3"] == {"normal": 25, "tumour": 25}
    assert (res.n_samples, res.n_batches, res.n_classes) == (150, 3, 2)
    assert res.testable and not res.fully_confounded and res.single_class_batches == {}


def test_missing_values_are_left_out_of_the_table():
    batch = pd.Series(["B1", "B1", None, "B2", "B2"])
    label = pd.Series(["x", "x", "y", None, "y"])
    res = probe.batch_confounding(batch, label)
    assert res.contingency == {"B1": {"x": 2, "y": 0}, "B2": {"x": 0, "y": 1}}
    assert res.n_samples == 3 and res.fully_confounded

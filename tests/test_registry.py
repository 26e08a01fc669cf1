"""The check registry: one declaration per check, and everything else derived from it."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

import biodata_guard
from biodata_guard import registry
from biodata_guard.config import AuditConfig, fields, load_config
from biodata_guard.errors import ConfigError

#: The check-id vocabulary of DESIGN.md (the public contract: ids are added, never renamed).
DESIGN_IDS = {
    "alignment.length_mismatch", "alignment.key_duplicates", "alignment.unmatched_keys",
    "alignment.order_mismatch", "alignment.missing_labels", "alignment.merge_explosion",
    "alignment.sex_discordance",
    "leakage.id_overlap", "leakage.group_overlap", "leakage.duplicate_samples",
    "leakage.near_duplicates", "leakage.metadata_predicts_label",
    "leakage.preprocessing_before_split",
    "build.detected", "build.mismatch", "build.unexpected", "build.undetermined",
    "build.contig_naming", "build.out_of_bounds",
    "units.detected", "units.mismatch", "units.unexpected", "units.mixed_within",
    "units.invalid_values",
    "balance.summary", "balance.imbalance", "balance.split_shift", "balance.unseen_class",
    "balance.tiny_class",
    "replicates.ceiling", "replicates.score_above_ceiling", "replicates.low_agreement",
    "batch.predictable", "batch.confounded", "batch.split_predictable", "probe.summary",
    "input.unreadable", "input.invalid",
}  # fmt: skip
#: Ids added since DESIGN.md was written (reported to its owner).
ADDED_IDS = {
    "balance.label_variants",
    "balance.single_class",
    "balance.unassigned_split",
    "build.off_by_one",
    "build.malformed_rows",
    "build.stale_header",
    "schema.failure",
    "waivers.stale",  # issue 21: a waiver that matched no finding
    # features (issue 20): the DESIGN.md four, plus the AnnData structure checks
    "features.id_type", "features.mixed_ids", "features.duplicates", "features.mismatch",
    "features.raw_mismatch", "features.matrix_roles", "features.log1p_marker",
}  # fmt: skip
PACKAGE = Path(biodata_guard.__file__).parent
ID_LITERAL = re.compile(
    r"(?:alignment|leakage|build|units|balance|replicates|batch|probe|input|schema|features"
    r"|waivers)"
    r"\.[a-z_]+"
)


def test_the_registry_holds_the_design_vocabulary_plus_documented_additions():
    assert {c.id for c in registry.checks()} == DESIGN_IDS | ADDED_IDS


def test_every_id_is_written_once_in_the_package():
    """A check id appears as a string literal exactly once: in its declare_check call (the two
    input.* ids: in errors.py, the exception tree's vocabulary, which io declares)."""
    seen: dict[str, list[str]] = {}
    modules = [*PACKAGE.rglob("*.py"), *(ROOT / "schemas").glob("*.py")]
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if ID_LITERAL.fullmatch(node.value):
                    seen.setdefault(node.value, []).append(path.name)
    declared = {c.id for c in registry.checks()}
    undeclared = sorted(set(seen) - declared - _memo_keys())
    assert undeclared == []
    repeated = {k: v for k, v in seen.items() if k in declared and len(v) > 1}
    assert repeated == {}


def _memo_keys() -> set[str]:
    """Dotted strings that are cache keys of the shared pass, not check ids."""
    return {
        "leakage.row_hashes", "leakage.moments", "leakage.embedding", "units.scan",
        "alignment.sex_columns", "probe.units",
    }  # fmt: skip


@pytest.mark.parametrize("spec", registry.checks(), ids=lambda s: s.id)
def test_a_check_is_declared_in_the_package_named_by_its_group(spec):
    group = registry.get_group(spec.group)
    assert spec.module == f"biodata_guard.{spec.group}" or spec.module.startswith(
        f"biodata_guard.{spec.group}."
    )
    assert spec.id.split(".")[0] in group.id_prefixes
    assert spec.doc and spec.severities
    assert set(spec.needs) <= set(registry.NEEDS)
    for name in spec.params:
        registry.get_param(name)


def test_group_names_are_package_names():
    for group in registry.groups():
        assert (PACKAGE / group.name / "__init__.py").exists(), group.name


@pytest.mark.parametrize("param", registry.params(), ids=lambda p: p.name)
def test_every_default_is_valid_and_every_param_has_a_flag(param):
    if param.default not in (None, []) and param.valid is not None:
        items = param.default if isinstance(param.default, list) else [param.default]
        assert all(v in param.valid for v in items)
    assert param.cli_flag.startswith("--") and param.help


def test_parameter_names_flags_and_yaml_keys_are_unique():
    ps = registry.params()
    assert len({p.name for p in ps}) == len(ps)
    assert len({p.cli_flag for p in ps}) == len(ps)
    assert len({(p.section, p.yaml_key) for p in ps}) == len(ps)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("alpha", 5, "thresholds.alpha (--alpha) must be a number in (0, 1); got 5"),
        ("n_folds", 1, "thresholds.n_folds (--n-folds) must be an integer >= 2; got 1"),
        ("max_imbalance_ratio", 0.5, "thresholds.max_imbalance_ratio (--max-imbalance-ratio)"),
        ("seed", -1, "run.seed (--seed) must be an integer in [0, 4294967295]; got -1"),
        ("min_class_fraction", 1.5, "must be a number in [0, 1]; got 1.5"),
        ("fail_on", "warn", "run.fail_on (--fail-on) must be one of error, warning"),
    ],
)
def test_out_of_range_values_are_config_errors_naming_key_flag_value_and_range(key, value, needle):
    with pytest.raises(ConfigError) as info:
        AuditConfig(**{key: value})
    assert needle in info.value.message
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working


def test_a_config_reports_every_problem_at_once(tmp_path):
    path = tmp_path / "audit.yaml"
    path.write_text(
        "features: [x.csv]\n"  # valid under inputs:
        "thresholds:\n  alpha: 5\n  n_folds: 1\n  typo_key: 3\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 4, messages
    assert any("'features' belongs under 'inputs:'" in m for m in messages)
    assert any("thresholds.alpha" in m for m in messages)
    assert any("thresholds.n_folds" in m for m in messages)
    assert any("thresholds.typo_key" in m for m in messages)


def test_defaults_are_written_once_in_the_declarations():
    cfg = AuditConfig()
    for p in fields():
        assert getattr(cfg, p.name) == p.default


def test_a_check_that_lacks_an_input_says_so_instead_of_staying_silent():
    meta = pd.DataFrame({"sample_id": list("abcdef"), "label": list("xxxyyy")})
    report = biodata_guard.audit(metadata=meta, label_col="label", only={"balance", "alignment"})
    notes = {f.check: f for f in report.findings if f.evidence.get("not_checked")}
    assert "needs a split column (--split-col)" in notes["balance.split_shift"].message
    assert notes["alignment.sex_discordance"].severity == "info"
    assert "balance.summary" not in notes  # it ran
    ran = {f.check for f in report.findings if not f.evidence.get("not_checked")}
    assert ran.isdisjoint(notes)


def test_no_probe_skips_only_the_probe():
    meta = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(40)],
            "label": ["a"] * 20 + ["b"] * 20,
            "batch": ["b1"] * 20 + ["b2"] * 20,  # batch determines the label
        }
    )
    report = biodata_guard.audit(
        metadata=meta, label_col="label", batch_col="batch", probe=False, only={"probe"}
    )
    confounded = [f for f in report.findings if f.check == "batch.confounded"]
    assert confounded and confounded[0].severity == "error"
    notes = {f.check for f in report.findings if f.evidence.get("not_checked")}
    assert "batch.predictable" in notes


def test_checks_verb_lists_every_id_with_group_severities_needs_and_params():
    done = subprocess.run(
        [sys.executable, "-m", "biodata_guard", "checks", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(done.stdout)
    by_id = {c["id"]: c for c in body["checks"]}
    assert set(by_id) == DESIGN_IDS | ADDED_IDS
    overlap = by_id["leakage.group_overlap"]
    assert overlap["group"] == "leakage" and overlap["severities"] == ["warning", "error"]
    assert overlap["needs"] == ["split", "groups"]
    assert [p["name"] for p in overlap["params"]] == ["max_overlap_fraction"]
    assert overlap["params"][0]["valid"] == {
        "type": "float",
        "left": 0.0,
        "right": 1.0,
        "closed": "both",
    }


def test_the_readme_check_table_is_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- checks:start -->") + len("<!-- checks:start -->")
    end = readme.index("<!-- checks:end -->")
    assert readme[start:end].strip() == registry.markdown_table()


def test_the_pandera_methods_come_from_the_registry():
    import pandera.pandas as pa

    from biodata_guard.pandera_ext import register_checks

    register_checks()
    methods = registry.pandera_methods()
    names = {fn.__name__ for fn in methods}
    assert names == {
        "unique_per_split",
        "no_group_overlap",
        "min_class_fraction",
        "finite",
        "integer_valued",
        "consistent_categories",
    }
    for name in names:
        assert hasattr(pa.Check, name)


def test_report_sections_follow_the_registry_groups():
    from biodata_guard.report import html

    anchors = [spec[0] for spec in html._section_specs()]
    assert anchors == [g.name for g in registry.groups()]

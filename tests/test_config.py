from pathlib import Path

import pytest

from biodata_guard.config import AuditConfig, load_config
from biodata_guard.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "audit.yaml"
    p.write_text(text)
    return p


def test_sections_map_to_fields_and_relative_paths_resolve_against_the_config(tmp_path):
    p = write(
        tmp_path,
        "inputs:\n  features: data/x.csv\n  labels: y.csv\n"
        "columns:\n  label: dx\n  groups: [patient_id, family]\n"
        "thresholds:\n  n_folds: 3\n  max_split_shift: 0.2\n",
    )
    cfg = load_config(p)
    assert cfg.features == [str(tmp_path / "data" / "x.csv")]
    assert cfg.labels == str(tmp_path / "y.csv")
    assert cfg.label_col == "dx"
    assert cfg.group_cols == ["patient_id", "family"]
    assert cfg.n_folds == 3 and cfg.max_split_shift == 0.2


def test_unknown_key_suggests_the_nearest_valid_key(tmp_path):
    p = write(tmp_path, "columns:\n  lable: dx\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "columns.lable" in info.value.message
    assert "Did you mean 'label'?" in info.value.hint


def test_unknown_section_suggests_the_nearest_section(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "input:\n  labels: y.csv\n"))
    assert "unknown section 'input'" in info.value.message
    assert "inputs" in info.value.hint


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("thresholds:\n  n_folds: five\n", "thresholds.n_folds (--n-folds) must be an integer"),
        ("thresholds:\n  alpha: [1]\n", "thresholds.alpha (--alpha) must be a number"),
        ("expectations:\n  build: hg38\n", "must be one of GRCh37, GRCh38; got 'hg38'"),
        ("probe:\n  enabled: 'yes'\n", "probe.enabled (--probe) must be true or false"),
        ("columns:\n  groups: {a: 1}\n", "columns.groups (--group-col) must be a string or a"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("inputs: [a, b]\n", "section 'inputs' must be a mapping"),
        ("inputs:\n  labels: [unclosed\n", "not valid YAML"),
    ],
)
def test_wrong_types_are_config_errors_naming_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert needle in info.value.message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_win_over_the_file(tmp_path):
    cfg = load_config(write(tmp_path, "run:\n  seed: 1\n"), seed=5)
    assert cfg.seed == 5


def test_format_and_out_must_pair():
    with pytest.raises(ConfigError, match="give one --out per --format"):
        AuditConfig(formats=["json", "html"], out=["a.json"])


def test_to_dict_round_trips_into_sections():
    cfg = AuditConfig(label_col="dx", expected_build="GRCh38")
    d = cfg.to_dict()
    assert d["columns"]["label"] == "dx"
    assert d["expectations"]["build"] == "GRCh38"

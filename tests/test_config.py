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


def test_a_flat_config_of_option_names_is_one_problem_with_the_exact_rewrite(tmp_path):
    p = write(
        tmp_path,
        "features: [x.csv]\nlabels: y.csv\nlabel_col: dx\ngroup-col: [patient]\nseed: -3\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(p)
    problems = info.value.problems
    assert [x.message for x in problems] == [
        f"{p}: 5 option names at the top level (features, labels, label_col, group-col, seed); "
        "the config file is written in sections (inputs, columns, expectations, thresholds, "
        "run, output, waivers, probe)",
        f"{p}: run.seed (--seed) must be an integer in [0, 4294967295]; got -3 instead",
    ]
    rewrite = problems[0].hint.split("exactly:\n", 1)[1]
    assert rewrite == (
        "inputs:\n  features:\n  - x.csv\n  labels: y.csv\n"
        "columns:\n  label: dx\n  groups:\n  - patient\n"
        "run:\n  seed: -3"
    )
    fixed = write(tmp_path, rewrite.replace("-3", "3"))
    cfg = load_config(fixed)
    assert (cfg.label_col, cfg.group_cols, cfg.seed) == ("dx", ["patient"], 3)


def test_one_misplaced_key_says_where_it_belongs_and_its_value_is_checked(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "alpha: 5\ncolumns:\n  label: dx\n"))
    messages = [x.message for x in info.value.problems]
    assert messages[0].endswith("unknown section 'alpha': 'alpha' belongs under 'thresholds:' as "
                                "'alpha'")  # fmt: skip
    assert messages[1].endswith("thresholds.alpha (--alpha) must be a number in (0, 1); got 5 "
                                "instead")  # fmt: skip


def test_probe_as_a_top_level_switch_belongs_under_probe_enabled(tmp_path):
    with pytest.raises(ConfigError, match="'probe' belongs under 'probe:' as 'enabled'"):
        load_config(write(tmp_path, "probe: false\ninputs:\n  labels: y.csv\n"))
    cfg = load_config(write(tmp_path, "probe:\n  enabled: false\ninputs:\n  labels: y.csv\n"))
    assert cfg.probe is False

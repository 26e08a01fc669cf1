import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from biodata_guard import schemas
from biodata_guard.errors import ConfigError
from biodata_guard.pandera_ext import register_checks
from biodata_guard.schemas import SCHEMA_FAILURE, validate_file
from tests._synth import cohort


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_checks()
    register_checks()  # idempotent


def failures(schema, df):
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schema.validate(df, lazy=True)
    return info.value.failure_cases


def test_no_group_overlap_in_a_user_schema_flags_exactly_the_leaky_patients():
    sheet = cohort(100, seed=1)
    leaky = sheet["patient_id"].drop_duplicates().iloc[:3]
    for p in leaky:  # move one sample of each to the other split
        idx = sheet.index[sheet["patient_id"] == p][0]
        sheet.loc[idx, "split"] = "test" if sheet.loc[idx, "split"] == "train" else "train"
    multi = sheet.groupby("patient_id")["split"].nunique()
    expected = set(sheet.index[sheet["patient_id"].isin(multi[multi > 1].index)])
    schema = pa.DataFrameSchema(
        checks=[pa.Check.no_group_overlap(group_col="patient_id", split_col="split")]
    )
    cases = failures(schema, sheet)
    assert set(cases["index"]) == expected
    clean = cohort(100, seed=1)
    schema.validate(clean)


def test_unique_per_split_and_min_class_fraction():
    df = pd.DataFrame(
        {"sample_id": ["a", "a", "b", "c"], "split": ["train", "test", "train", "train"],
         "label": ["x", "x", "x", "y"]}
    )  # fmt: skip
    schema = pa.DataFrameSchema(
        checks=[
            pa.Check.unique_per_split(id_col="sample_id", split_col="split"),
            pa.Check.min_class_fraction(label_col="label", min_fraction=0.3),
        ]
    )
    cases = failures(schema, df)
    by_check = cases.groupby("check")["index"].apply(lambda s: sorted(set(s)))
    names = {c.split("(")[0]: c for c in by_check.index}
    assert by_check[names["unique_per_split"]] == [0, 1]
    assert by_check[names["min_class_fraction"]] == [3]


def test_column_checks_finite_integer_and_consistent_categories():
    schema = pa.DataFrameSchema(
        {
            "count": pa.Column(float, checks=[pa.Check.finite(), pa.Check.integer_valued()],
                               nullable=True),
            "label": pa.Column(str, checks=pa.Check.consistent_categories()),
        }
    )  # fmt: skip
    df = pd.DataFrame(
        {"count": [1.0, np.inf, 2.5, 3.0], "label": ["Tumor", "tumor ", "normal", "normal"]}
    )
    cases = failures(schema, df)
    checks = cases.groupby("check")["index"].apply(sorted).to_dict()
    assert checks["finite"] == [1]
    assert checks["integer_valued"] == [1, 2]
    assert checks["consistent_categories"] == [0, 1]


def test_shipped_schemas_load_by_name_and_path_and_round_trip():
    assert schemas.available() == ["expression_matrix", "label_table", "sample_sheet"]
    for name in schemas.available():
        schema = schemas.load(name)
        assert schema.name == name
        path = schemas.__file__.replace("__init__.py", f"{name}.yaml")
        assert schemas.load(path).to_yaml() == schema.to_yaml()


def test_unknown_schema_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither a shipped schema nor a file"):
        schemas.load("sample_shet")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [1, 2\n")
    with pytest.raises(ConfigError, match="not a valid pandera YAML schema"):
        schemas.load(bad)


def test_expression_matrix_schema_on_counts(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.poisson(4, (10, 6)).astype(float),
        index=[f"S{i}" for i in range(10)],
        columns=[f"G{j}" for j in range(6)],
    )
    X.to_csv(tmp_path / "ok.csv")
    assert validate_file("expression_matrix", tmp_path / "ok.csv").findings == []
    X.iloc[2, 1] = -3
    X.iloc[5, 4] = np.nan
    X.to_csv(tmp_path / "bad.csv")
    report = validate_file("expression_matrix", tmp_path / "bad.csv")
    got = {(f.evidence["column"], f.evidence["check"]): f.subjects for f in report.findings}
    assert all(f.check == SCHEMA_FAILURE for f in report.findings)
    assert got[("G1", "greater_than_or_equal_to(0)")] == ["S2"]
    assert got[("G4", "not_nullable")] == ["S5"]


def test_rows_sharing_an_id_are_counted_apart(tmp_path):
    # An index schema names rows by id: two failing rows with one id are two failures.
    X = pd.DataFrame(
        np.arange(12.0).reshape(4, 3),
        columns=["g1", "g2", "g3"],
        index=pd.Index(["S1", "S2", "S2", "S3"], name="sample_id"),
    )
    X.iloc[1:3, 1] = np.nan
    X.to_csv(tmp_path / "m.csv")
    found = {
        f.evidence["check"]: f
        for f in validate_file("expression_matrix", tmp_path / "m.csv").findings
    }
    assert found["not_nullable"].evidence["n_failures"] == 2
    assert found["not_nullable"].subjects == ["S2", "S2"]
    assert found["field_uniqueness"].evidence["n_failures"] == 2

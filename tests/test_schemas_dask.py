"""The Dask engine of ``schema validate`` gives the in-memory engine's findings, including for
problems that span partitions (biodata_guard/schemas/_dask.py)."""

import json
import logging
import sys

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from biodata_guard import schemas
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io import read_table
from biodata_guard.pandera_ext import register_checks
from biodata_guard.schemas import validate_file
from biodata_guard.schemas._dask import (
    _plan,
    _read_part,
    _table_parts,
    _unify,
    failure_cases,
)
from tests._synth import cohort

#: The sample id planted in train at the top of the sheet and in test at the bottom.
DUP_ID = "P0001_S9"


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of 2 worker processes for the module (starting one is slow)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as lc:
        yield lc.scheduler_address


def planted_sheet(n_patients: int = 120, *, seed: int = 7) -> pd.DataFrame:
    """A realistic sample sheet with element-wise problems and problems across partitions:
    an id in train at the top and in test at the bottom, a patient of the top rows with a sample
    in the other split at the bottom, a 'Tumour ' variant at the bottom of 'tumour' rows."""
    sheet = cohort(n_patients, seed=seed, classes=("tumour", "normal"))
    n = len(sheet)
    flip = {"train": "test", "test": "train"}
    sheet.loc[1, "sample_id"] = DUP_ID
    sheet.loc[n - 4, ["sample_id", "patient_id", "split"]] = [
        DUP_ID, "P9999", flip[sheet.loc[1, "split"]]
    ]  # fmt: skip
    sheet.loc[n - 2, ["patient_id", "split"]] = [
        sheet.loc[0, "patient_id"], flip[sheet.loc[0, "split"]]
    ]  # fmt: skip
    sheet.loc[n - 6, "label"] = "Tumour "
    sheet.loc[40, ["patient_id", "split"]] = ["P9998", "holdout"]  # not an allowed split
    sheet.loc[n // 2, "label"] = None  # a missing label
    return sheet[["sample_id", "patient_id", "label", "split", "batch", "sex"]]


def comparable(report) -> dict:
    d = report.to_dict()
    d.pop("elapsed_seconds")
    d["config"].pop("engine")
    return d


def blocksize_for(path, n_parts: int = 6) -> int:
    return path.stat().st_size // n_parts


def in_memory_cases(schema, path) -> pd.DataFrame:
    df = read_table(path)
    if schema.index is not None:
        df = df.set_index(df.columns[0])
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schema.validate(df, lazy=True)
    return info.value.failure_cases


def by_check(cases: pd.DataFrame) -> dict:
    """Per (column, check): failing row numbers and values, in order. A table-level check's
    rows count once (pandera lists a failing row once per column of the frame it checked)."""
    cases = cases.copy()
    cases["column"] = cases["column"].astype("string")
    table = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    cases.loc[table, "column"] = "<table>"
    cases = cases.drop_duplicates(["column", "check", "index"])
    out = {}
    for (column, check), g in cases.groupby(["column", "check"], dropna=False, sort=True):
        out[(str(column), str(check))] = (
            g["index"].tolist(),
            g["failure_case"].astype(str).tolist(),
        )
    return out


# --- the planted sample sheet -------------------------------------------------------------------


def test_planted_problems_span_partitions_and_no_single_partition_sees_them(tmp_path):
    register_checks()
    path = tmp_path / "sheet.csv"
    planted_sheet().to_csv(path, index=False)
    parts, columns = _table_parts(path, "sheet.csv", blocksize_for(path))
    assert len(parts) >= 5 and columns[0] == "sample_id"
    frames = [_read_part(part, "sheet.csv", None) for part in parts]
    holding = [k for k, f in enumerate(frames) if (f["sample_id"] == DUP_ID).any()]
    assert len(holding) == 2 and holding[0] == 0 and holding[1] >= 4
    assert sum(len(f) for f in frames) == len(read_table(path))
    # What mapping pandera over the partitions does: each partition alone passes these checks.
    schema = schemas.load("sample_sheet")
    for frame in frames:
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            checks = set(exc.failure_cases["check"].astype(str))
            assert not any(c.startswith(("unique_per_split", "no_group_overlap")) for c in checks)
            assert "field_uniqueness" not in checks


def test_dask_engine_findings_equal_the_in_memory_findings(tmp_path, cluster):
    path = tmp_path / "sheet.csv"
    sheet = planted_sheet()
    sheet.to_csv(path, index=False)
    memory = validate_file("sample_sheet", path)
    dask = validate_file(
        "sample_sheet", path, engine="dask", scheduler=cluster, blocksize=blocksize_for(path)
    )
    assert dask.config == {"schema": "sample_sheet", "engine": "dask"}
    assert comparable(dask) == comparable(memory)
    assert (
        dask.to_json().replace('"dask"', '"memory"').split('"elapsed_seconds"')[0]
        == (memory.to_json().split('"elapsed_seconds"')[0])
    )
    got = {(f.evidence["column"], f.evidence["check"].split("(")[0]): f for f in dask.findings}
    n = len(sheet)
    assert got[("<table>", "unique_per_split")].subjects == [DUP_ID, DUP_ID]
    assert got[("sample_id", "field_uniqueness")].evidence["n_failures"] == 2
    patient = sheet.loc[0, "patient_id"]
    leaky = sheet.loc[sheet["patient_id"] == patient, "sample_id"].tolist()
    assert got[("<table>", "no_group_overlap")].subjects == leaky
    assert got[("<table>", "no_group_overlap")].evidence["n_rows"] == n
    tumour = (sheet["label"].str.strip().str.casefold() == "tumour").sum()
    assert got[("label", "consistent_categories")].evidence["n_failures"] == tumour
    assert got[("split", "isin")].evidence["failure_cases"] == [
        {"row": sheet.loc[40, "sample_id"], "value": "holdout"}
    ]
    missing = got[("label", "not_nullable")].evidence["failure_cases"]
    assert [case["row"] for case in missing] == [sheet.loc[n // 2, "sample_id"]]


def test_failure_case_rows_are_the_files_row_numbers(tmp_path, cluster):
    path = tmp_path / "sheet.csv"
    planted_sheet().to_csv(path, index=False)
    schema = schemas.load("sample_sheet")
    cases, shape = failure_cases(
        schema, path, name="sheet.csv", scheduler=cluster, blocksize=blocksize_for(path)
    )
    memory = in_memory_cases(schema, path)
    assert shape == [len(read_table(path)), 6]
    assert by_check(cases) == by_check(memory)
    isin = cases[cases["check"].astype(str).str.startswith("isin")]
    assert isin["index"].tolist() == [40]
    dup = cases[(cases["column"] == "sample_id") & (cases["check"] == "field_uniqueness")]
    assert dup["index"].tolist() == [1, shape[0] - 4]


def test_failing_rows_with_an_empty_first_cell_are_listed_as_in_memory(tmp_path, cluster):
    """pandera names a failing row by its first non-empty cell and lists such rows after the
    others; the whole-table pass sees only a few columns but lists them the same way."""
    sheet = planted_sheet()
    n = len(sheet)
    sheet.loc[n - 2, ["sample_id", "patient_id"]] = [None, sheet.loc[0, "patient_id"]]
    sheet.loc[n - 4, ["sample_id", "batch"]] = [None, None]  # empty up to the label
    path = tmp_path / "sheet.csv"
    sheet.to_csv(path, index=False)
    memory = validate_file("sample_sheet", path)
    dask = validate_file(
        "sample_sheet", path, engine="dask", scheduler=cluster, blocksize=blocksize_for(path)
    )
    assert comparable(dask) == comparable(memory)
    (overlap,) = [f for f in dask.findings if f.evidence["check"].startswith("no_group_overlap")]
    assert overlap.evidence["failure_cases"][-1] == {
        "row": "nan",
        "value": sheet.loc[n - 2, "patient_id"],
    }


def test_clean_sheet_passes_on_both_engines(tmp_path, cluster):
    path = tmp_path / "clean.csv"
    cohort(120, seed=7).to_csv(path, index=False)
    memory = validate_file("sample_sheet", path)
    dask = validate_file(
        "sample_sheet", path, engine="dask", scheduler=cluster, blocksize=blocksize_for(path)
    )
    assert memory.findings == [] and dask.findings == []
    assert comparable(dask) == comparable(memory)


# --- other schemas, formats and types -----------------------------------------------------------


def test_expression_matrix_index_duplicated_across_parquet_row_groups(tmp_path, cluster):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        rng.poisson(4, (240, 6)).astype(float),
        index=[f"S{i:03d}" for i in range(240)],
        columns=[f"G{j}" for j in range(6)],
    )
    X.index = X.index.where(np.arange(240) != 230, "S002")  # same sample id 228 rows apart
    X.iloc[5, 1], X.iloc[200, 3], X.iloc[120, 4] = -2.0, np.nan, np.inf
    path = tmp_path / "X.parquet"
    X.to_parquet(path, row_group_size=40)
    memory = validate_file("expression_matrix", path)
    dask = validate_file("expression_matrix", path, engine="dask", scheduler=cluster, blocksize=1)
    assert comparable(dask) == comparable(memory)
    got = {(f.evidence["column"], f.evidence["check"]): f.subjects for f in dask.findings}
    assert got[("<table>", "field_uniqueness")] == ["S002", "S002"]  # both rows, named by id
    assert got[("G1", "greater_than_or_equal_to(0)")] == ["S005"]
    assert got[("G4", "finite")] == ["S120"]


def test_columns_pandas_types_differently_per_partition_are_unified(tmp_path, cluster):
    """'code' looks numeric until a late text value; 'age' is int until a late empty cell; the
    file's types (str, float64) hold in every partition, as pandas reads the whole file."""
    n = 300
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "sample_id": [f"S{i:03d}" for i in range(n)],
            "code": [f"{i % 50:03d}" for i in range(n)],
            "age": rng.integers(20, 80, n),
            "count": rng.integers(0, 20, n),
        }
    )
    df.loc[n - 3, "code"] = "x12"
    df[["age", "count"]] = df[["age", "count"]].astype(object)
    df.loc[n - 2, "age"] = None
    df.loc[7, "count"], df.loc[n - 8, "count"] = -1, 3.5
    path = tmp_path / "types.csv"
    df.to_csv(path, index=False)
    register_checks()
    schema = pa.DataFrameSchema(
        {
            "sample_id": pa.Column(str, unique=True),
            "code": pa.Column(str, pa.Check.str_length(3, 3)),
            "age": pa.Column(float, pa.Check.in_range(21, 79), nullable=True),
            "count": pa.Column(float, [pa.Check.ge(0), pa.Check.integer_valued()]),
        },
        name="typed",
    )
    memory = validate_file(schema, path)
    dask = validate_file(schema, path, engine="dask", scheduler=cluster, blocksize=1500)
    assert comparable(dask) == comparable(memory)
    checks = {f.evidence["check"] for f in dask.findings}
    assert "dtype('float64')" not in checks and "dtype('str')" not in checks


def test_unify_gives_the_whole_column_type_per_partition():
    def info(dtypes, empty=()):
        return {"n_rows": 5, "dtypes": dtypes, "empty": set(empty)}

    infos = [
        info({"a": "int64", "b": "int64", "c": "bool", "d": "str"}),
        info({"a": "float64", "b": "str", "c": "float64", "d": "str"}, empty={"c"}),
        {"n_rows": 0, "dtypes": {"a": "object", "b": "object", "c": "object", "d": "object"}},
    ]
    assert _unify(["a", "b", "c", "d"], infos, "t.csv") == {
        0: {"a": "float64", "b": "str", "c": "object"},
        1: {"c": "object"},
    }
    clash = [info({"a": "uint64"}), info({"a": "int64"})]
    with pytest.raises(ConfigError, match=r"t\.csv, a: pandas types this column"):
        _unify(["a"], clash, "t.csv")


def test_plan_runs_grouping_checks_on_the_columns_they_read():
    register_checks()
    columns = ["sample_id", "patient_id", "label", "split", "batch", "sex"]
    plan = _plan(schemas.load("sample_sheet"), columns)
    part = plan.partition_schema
    assert [c.name for c in part.columns["split"].checks] == ["isin"]
    assert part.columns["label"].checks == [] and not part.columns["sample_id"].unique
    assert part.checks == []
    assert plan.gather == ("sample_id", "patient_id", "label", "split")
    whole = plan.whole_schema
    assert whole.columns["sample_id"].unique
    assert [c.name for c in whole.columns["label"].checks] == ["consistent_categories"]
    assert [c.name for c in whole.checks] == ["unique_per_split", "no_group_overlap"]
    assert plan.first_value  # table-level checks see a subset: carry each row's first value
    element_wise = pa.DataFrameSchema({"x": pa.Column(float, pa.Check.finite())})
    assert _plan(element_wise, ["x"]).whole_schema is None


# --- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_the_same_clear_error_on_both_engines(tmp_path, cluster):
    missing = tmp_path / "missing.csv"
    with pytest.raises(InputError, match="file does not exist"):
        validate_file("sample_sheet", missing, engine="dask", scheduler=cluster)
    ragged = tmp_path / "ragged.csv"
    lines = planted_sheet().to_csv(index=False).splitlines()
    lines[300] += ",extra"
    ragged.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as memory:
        validate_file("sample_sheet", ragged)
    with pytest.raises(InputError) as dask:
        validate_file("sample_sheet", ragged, engine="dask", scheduler=cluster, blocksize=2000)
    assert dask.value.message == memory.value.message  # the file's line number, not the block's
    assert "line 301" in dask.value.message


def test_a_quoted_line_break_cut_by_a_partition_is_refused(tmp_path, cluster):
    sheet = cohort(60, seed=2).assign(note="ok")
    sheet.loc[30, "note"] = "line one\nline two, with a comma\nline three"
    path = tmp_path / "notes.csv"
    sheet.to_csv(path, index=False)
    text = path.read_bytes()
    cut = text.index(b"line two")  # a partition boundary inside the quoted value
    with pytest.raises(InputError, match="a quoted value holds a line break") as info:
        validate_file("sample_sheet", path, engine="dask", scheduler=cluster, blocksize=cut - 5)
    assert "--engine memory" in info.value.hint


def test_dask_not_installed_is_a_config_error(tmp_path, monkeypatch):
    path = tmp_path / "sheet.csv"
    cohort(10, seed=1).to_csv(path, index=False)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match="needs dask and distributed") as info:
        validate_file("sample_sheet", path, engine="dask")
    assert "biodata_guard[dask]" in info.value.hint


def test_engine_options_are_checked(tmp_path):
    pytest.importorskip("dask", reason="the dask extra is not installed")
    path = tmp_path / "sheet.csv"
    cohort(10, seed=1).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="--scheduler applies to the Dask engine only"):
        validate_file("sample_sheet", path, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="--blocksize must be a positive size"):
        validate_file("sample_sheet", path, engine="dask", blocksize="lots")
    with pytest.raises(ConfigError, match="engine must be one of"):
        validate_file("sample_sheet", path, engine="spark")
    multi = pa.DataFrameSchema(index=pa.MultiIndex([pa.Index(str), pa.Index(str)]), name="m")
    with pytest.raises(ConfigError, match="MultiIndex schema is not supported"):
        validate_file(multi, path, engine="dask")


# --- the command line ---------------------------------------------------------------------------


def test_cli_dask_engine_gives_the_in_memory_json(tmp_path, cluster, cli):
    path = tmp_path / "sheet.csv"
    planted_sheet().to_csv(path, index=False)
    memory = cli("schema", "validate", "sample_sheet", path, "--format", "json",
                 "--out", tmp_path / "memory.json")  # fmt: skip
    dask = cli("schema", "validate", "sample_sheet", path, "--engine", "dask",
               "--scheduler", cluster, "--blocksize", "2KB",
               "--format", "json", "--out", tmp_path / "dask.json")  # fmt: skip
    assert memory.returncode == dask.returncode == 1, dask.stderr
    assert "Traceback" not in dask.stderr + dask.stdout
    m = json.loads((tmp_path / "memory.json").read_text())
    d = json.loads((tmp_path / "dask.json").read_text())
    assert d["config"].pop("engine") == "dask" and m["config"].pop("engine") == "memory"
    m.pop("elapsed_seconds"), d.pop("elapsed_seconds")
    assert d == m


def test_cli_dask_engine_on_its_own_local_cluster_passes_a_clean_sheet(tmp_path, cli):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    path = tmp_path / "clean.csv"
    cohort(40, seed=4).to_csv(path, index=False)
    proc = cli("schema", "validate", "sample_sheet", path, "--engine", "dask")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_dask_engine_bad_input_exits_2_without_traceback(tmp_path, cluster, cli):
    from conftest import assert_clean_failure

    proc = cli("schema", "validate", "sample_sheet", tmp_path / "missing.csv",
               "--engine", "dask", "--scheduler", cluster)  # fmt: skip
    assert_clean_failure(proc, "missing.csv: file does not exist")
    path = tmp_path / "sheet.csv"
    cohort(10, seed=1).to_csv(path, index=False)
    proc = cli("schema", "validate", "sample_sheet", path, "--blocksize", "1MB")
    assert_clean_failure(proc, "--blocksize applies to the Dask engine only", "--engine dask")

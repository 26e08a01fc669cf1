"""biodata_guard checks as pandera check methods, and lazy schema validation as findings.

Nothing is registered on import; call :func:`register_checks` (idempotent). Loading a shipped
schema (:func:`biodata_guard.schemas.load`) and the CLI do it for you.

Registered methods (use them inside your own ``pa.DataFrameSchema`` / ``pa.Column``):

DataFrame-level: ``pa.Check.unique_per_split(id_col=, split_col=)``,
``pa.Check.no_group_overlap(group_col=, split_col=)``,
``pa.Check.min_class_fraction(label_col=, min_fraction=)``.
Column-level: ``pa.Check.finite()``, ``pa.Check.integer_valued()``,
``pa.Check.consistent_categories()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Report, Severity

__all__ = ["SCHEMA_FAILURE", "register_checks", "schema_findings", "validate_file"]

SCHEMA_FAILURE = "schema.failure"

_REGISTERED = False


def unique_per_split(df: pd.DataFrame, *, id_col: str, split_col: str) -> pd.Series:
    """Rows whose ``id_col`` value occurs in more than one split fail."""
    if id_col not in df.columns or split_col not in df.columns:
        return pd.Series(True, index=df.index)
    n_splits = df.groupby(id_col, dropna=False)[split_col].transform("nunique")
    return n_splits <= 1


def no_group_overlap(df: pd.DataFrame, *, group_col: str, split_col: str) -> pd.Series:
    """Rows whose group (patient, donor ...) has samples in more than one split fail."""
    if group_col not in df.columns or split_col not in df.columns:
        return pd.Series(True, index=df.index)
    n_splits = df.groupby(group_col, dropna=True)[split_col].transform("nunique")
    return n_splits.fillna(1) <= 1


def min_class_fraction(df: pd.DataFrame, *, label_col: str, min_fraction: float) -> pd.Series:
    """Rows of classes below ``min_fraction`` of the labelled rows fail."""
    if label_col not in df.columns:
        return pd.Series(True, index=df.index)
    y = df[label_col]
    share = y.map(y.value_counts(normalize=True))
    return share.isna() | (share >= min_fraction)


def finite(s: pd.Series) -> pd.Series:
    """Numeric values must be finite (no NaN, inf)."""
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(np.isfinite(values), index=s.index)


def integer_valued(s: pd.Series) -> pd.Series:
    """Values must be whole numbers (raw counts)."""
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite_values = np.isfinite(values)
    whole = np.zeros(len(values), dtype=bool)
    whole[finite_values] = np.mod(values[finite_values], 1) == 0
    return pd.Series(whole, index=s.index)


def consistent_categories(s: pd.Series) -> pd.Series:
    """Values that differ from another value only by case or surrounding whitespace fail
    ('Tumor' vs 'tumor ' silently makes two classes)."""
    text = s.astype("string")
    key = text.str.strip().str.casefold()
    n_variants = text.groupby(key, dropna=True).transform("nunique")
    return s.isna() | (n_variants.fillna(1) <= 1)


def register_checks() -> None:
    """Register the biodata_guard check methods with pandera (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import pandera.pandas as pa
    from pandera import extensions

    frame = {"supported_types": pd.DataFrame, "check_type": "vectorized"}
    column = {"supported_types": pd.Series, "check_type": "vectorized"}
    specs = [
        (unique_per_split, ["id_col", "split_col"], frame),
        (no_group_overlap, ["group_col", "split_col"], frame),
        (min_class_fraction, ["label_col", "min_fraction"], frame),
        (finite, [], column),
        (integer_valued, [], column),
        (consistent_categories, [], column),
    ]
    for fn, stats, kind in specs:
        if hasattr(pa.Check, fn.__name__):  # registered by an earlier import of this module
            continue
        extensions.register_check_method(fn, statistics=stats, **kind)
    _REGISTERED = True


def schema_findings(errors: Any, df: pd.DataFrame, *, name: str, schema_name: str) -> list[Finding]:
    """Turn ``pandera.errors.SchemaErrors.failure_cases`` into one Finding per (column, check).

    Failures of table-level checks (pandera lists them once per column of each failing row) are
    folded into one finding per check, about ``<table>``; a missing column names that column.
    """
    cases = errors.failure_cases.copy()
    cases["label"] = [None if pd.isna(i) else _row_label(df, i) for i in cases["index"]]
    return _case_findings(cases, n_rows=len(df), name=name, schema_name=schema_name)


def _case_findings(
    cases: pd.DataFrame, *, n_rows: int, name: str, schema_name: str
) -> list[Finding]:
    """Findings from a pandera failure-case table with a ``label`` column naming each row.

    Shared by the in-memory path (:func:`schema_findings`) and the Dask engine, which assembles
    the same table from the partitions of a file.
    """
    cases = cases.copy()
    cases["column"] = cases["column"].astype("string").fillna("<table>")
    cases["check"] = cases["check"].astype("string").fillna("?")
    missing = cases["check"] == "column_in_dataframe"
    cases.loc[missing, "column"] = cases.loc[missing, "failure_case"].astype(str)
    table_level = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    cases.loc[table_level, "column"] = "<table>"
    # A table-level check lists each failing row once per column: one case per row. Column
    # checks list each failing cell once; rows sharing an index label stay apart.
    repeated = cases.duplicated(["column", "check", "index"], keep="first")
    cases = cases[~(repeated & table_level)]
    out = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        labels = group.loc[group["index"].notna(), "label"].tolist()
        values = group["failure_case"].astype(str).tolist()
        n = len(group)
        if check == "column_in_dataframe":
            what = "required column is missing"
        elif labels:
            shown = labels if column == "<table>" else values
            what = f"check {check} failed for {fraction(n, n_rows)} rows (e.g. {preview(shown)})"
        else:
            what = f"check {check} failed ({preview(values)})"
        out.append(
            Finding(
                SCHEMA_FAILURE,
                Severity.ERROR,
                f"{name}, {column}: {what}",
                evidence={
                    "schema": schema_name,
                    "column": column,
                    "check": check,
                    "n_failures": n,
                    "n_rows": n_rows,
                    "failure_cases": [
                        {"row": r, "value": v}
                        for r, v in list(zip(labels, values, strict=False))[:20]
                    ],
                },
                subjects=subjects(labels if labels else values),
                hint=f"Fix the listed rows of '{column}' so that {check} holds, or adapt the "
                f"schema '{schema_name}' if the expectation is wrong.",
                input=name,
            )
        )
    return out


def _row_label(df: pd.DataFrame, i: Any) -> str:
    """Name a row by its first (id) column when the index is a plain row number."""
    if isinstance(df.index, pd.RangeIndex) and df.shape[1]:
        try:
            return str(df.iloc[int(i), 0])
        except (IndexError, ValueError, TypeError):
            return str(i)
    return str(i)


def validate_file(
    schema: str | Path | Any,
    path: str | Path,
    *,
    fail_on: str = "error",
    seed: int = 0,
    engine: str = "memory",
    scheduler: str | None = None,
    blocksize: int | str | None = None,
) -> Report:
    """Validate a table against a schema lazily and report every failure case as findings.

    Parameters
    ----------
    schema
        A shipped schema name, a YAML path, or a ``pandera.DataFrameSchema``. When the schema
        defines an index, the table's first column becomes the index.
    path
        CSV/TSV(.gz) or Parquet table.
    fail_on
        Lowest severity that makes ``Report.ok`` false.
    seed
        Recorded in the report (validation draws nothing at random).
    engine
        ``"memory"`` reads the table with pandas; ``"dask"`` reads and validates it in partitions
        on a ``dask.distributed`` cluster, with the checks that need the whole table (unique
        columns, ``unique_per_split``, ``no_group_overlap``, ``min_class_fraction``,
        ``consistent_categories``) run on the columns they read. Both give the same findings.
    scheduler
        With ``engine="dask"``: address of a running scheduler (``tcp://host:8786``); default a
        local cluster of 2 worker processes.
    blocksize
        With ``engine="dask"``: bytes of text (Parquet: of row groups) per partition, an int or
        a string such as ``"64MB"`` (the default). A gzip file is one partition.

    Returns
    -------
    Report
        One ``schema.failure`` finding per (column, check) that failed.

    Raises
    ------
    InputError
        The table cannot be read (missing, empty, wrong delimiter, duplicate columns ...).
    ConfigError
        Unknown schema or engine, ``scheduler``/``blocksize`` without ``engine="dask"``, dask not
        installed, an unreachable scheduler.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> sheet = pd.DataFrame({"sample_id": ["S1", "S2", "S1"], "label": ["a", "b", "a"],
    ...                       "split": ["train", "test", "test"]})
    >>> path = os.path.join(tempfile.mkdtemp(), "sheet.csv")
    >>> sheet.to_csv(path, index=False)
    >>> report = validate_file("sample_sheet", path)
    >>> sorted({f.evidence["column"] for f in report.findings})
    ['<table>', 'sample_id']
    """
    import time

    import pandera.pandas as pa

    from biodata_guard import schemas
    from biodata_guard.config import ENGINES
    from biodata_guard.errors import ConfigError
    from biodata_guard.io import file_sha256, read_table

    started = time.perf_counter()
    if engine not in ENGINES:
        raise ConfigError(
            f"engine must be one of {', '.join(ENGINES)}; got {engine!r} instead",
            key="engine",
            hint="Use --engine memory or --engine dask.",
        )
    if engine != "dask" and (scheduler is not None or blocksize is not None):
        flag = "--scheduler" if scheduler is not None else "--blocksize"
        raise ConfigError(
            f"{flag} applies to the Dask engine only, and the engine is '{engine}'",
            key="engine",
            hint=f"Add --engine dask (or drop {flag}).",
        )
    sch = schema if isinstance(schema, pa.DataFrameSchema) else schemas.load(schema)
    schema_name = sch.name or str(schema)
    p = Path(path)
    findings: list[Finding] = []
    if engine == "dask":
        from biodata_guard._pandera_dask import validate_table

        findings, shape = validate_table(
            sch,
            p,
            name=p.name,
            schema_name=schema_name,
            scheduler=scheduler,
            blocksize=blocksize,
        )
    else:
        df = read_table(p, name=p.name)
        if sch.index is not None:
            df = df.set_index(df.columns[0])
        shape = list(df.shape)
        try:
            sch.validate(df, lazy=True)
        except pa.errors.SchemaErrors as exc:
            findings = schema_findings(exc, df, name=p.name, schema_name=schema_name)
        except pa.errors.SchemaError as exc:  # non-lazy failures (e.g. wrong schema type)
            raise InputError(f"{p.name}: {exc}", path=str(p), hint="Check the schema.") from None
    return Report(
        findings=findings,
        inputs=[
            {
                "name": p.name,
                "path": str(p),
                "sha256": file_sha256(p),
                "kind": "table",
                "shape": shape,
            }
        ],
        config={"schema": schema_name, "engine": engine},
        fail_on=fail_on,
        seed=seed,
        elapsed_seconds=time.perf_counter() - started,
    )

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
    cases["column"] = cases["column"].astype("string").fillna("<table>")
    cases["check"] = cases["check"].astype("string").fillna("?")
    missing = cases["check"] == "column_in_dataframe"
    cases.loc[missing, "column"] = cases.loc[missing, "failure_case"].astype(str)
    table_level = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    cases.loc[table_level, "column"] = "<table>"
    cases = cases.drop_duplicates(["column", "check", "index"], keep="first")
    out = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        rows = group["index"].dropna().tolist()
        labels = [_row_label(df, i) for i in rows]
        values = group["failure_case"].astype(str).tolist()
        n = len(group)
        if check == "column_in_dataframe":
            what = "required column is missing"
        elif rows:
            shown = labels if column == "<table>" else values
            what = f"check {check} failed for {fraction(n, len(df))} rows (e.g. {preview(shown)})"
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
                    "n_rows": len(df),
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
    schema: str | Path | Any, path: str | Path, *, fail_on: str = "error", seed: int = 0
) -> Report:
    """Validate a table against a schema lazily and report every failure case as findings.

    ``schema`` is a shipped schema name, a YAML path, or a ``pandera.DataFrameSchema``. When the
    schema defines an index, the table's first column becomes the index.
    """
    import time

    import pandera.pandas as pa

    from biodata_guard import schemas
    from biodata_guard.io import file_sha256, read_table

    started = time.perf_counter()
    sch = schema if isinstance(schema, pa.DataFrameSchema) else schemas.load(schema)
    p = Path(path)
    df = read_table(p, name=p.name)
    if sch.index is not None:
        df = df.set_index(df.columns[0])
    findings: list[Finding] = []
    try:
        sch.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        findings = schema_findings(exc, df, name=p.name, schema_name=sch.name or str(schema))
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
                "shape": list(df.shape),
            }
        ],
        config={"schema": sch.name or str(schema)},
        fail_on=fail_on,
        seed=seed,
        elapsed_seconds=time.perf_counter() - started,
    )

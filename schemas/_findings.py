"""Schema validation failures as findings: one ``schema.failure`` per (column, check)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check, declare_group

__all__ = ["SCHEMA_FAILURE", "case_findings", "schema_findings"]

declare_group(
    "schemas",
    title="Schema validation",
    description="Tables checked against a pandera schema (python -m biodata_guard schema "
    "validate).",
    order=90,
    prefixes=("schema",),
)
SCHEMA_FAILURE = declare_check(
    "schema.failure",
    group="schemas",
    severities=("error",),
    doc="Rows of a table that fail a check of its pandera schema (the schema verb).",
)


def schema_findings(errors: Any, df: pd.DataFrame, *, name: str, schema_name: str) -> list[Finding]:
    """Turn ``pandera.errors.SchemaErrors.failure_cases`` into one Finding per (column, check).

    Failures of table-level checks (pandera lists them once per column of each failing row) are
    folded into one finding per check, about ``<table>``; a missing column names that column.
    """
    cases = errors.failure_cases.copy()
    cases["label"] = [None if pd.isna(i) else _row_label(df, i) for i in cases["index"]]
    return case_findings(cases, n_rows=len(df), name=name, schema_name=schema_name)


def case_findings(
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

"""Validate a table file against a pandera schema, in memory or on a Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from biodata_guard.config import ENGINES
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Report
from biodata_guard.io import file_sha256, read_table
from biodata_guard.schemas._dask import validate_table
from biodata_guard.schemas._findings import schema_findings
from biodata_guard.schemas._load import load

__all__ = ["validate_file"]


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
    import pandera.pandas as pa

    started = time.perf_counter()
    _check_engine(engine, scheduler, blocksize)
    sch = schema if isinstance(schema, pa.DataFrameSchema) else load(schema)
    schema_name = sch.name or str(schema)
    p = Path(path)
    if engine == "dask":
        findings, shape = validate_table(
            sch, p, name=p.name, schema_name=schema_name, scheduler=scheduler, blocksize=blocksize
        )
    else:
        findings, shape = _validate_in_memory(sch, p, schema_name)
    record = {"name": p.name, "path": str(p), "sha256": file_sha256(p), "kind": "table"}
    return Report(
        findings=findings,
        inputs=[{**record, "shape": shape}],
        config={"schema": schema_name, "engine": engine},
        fail_on=fail_on,
        seed=seed,
        elapsed_seconds=time.perf_counter() - started,
    )


def _check_engine(engine: str, scheduler: str | None, blocksize: int | str | None) -> None:
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


def _validate_in_memory(sch: Any, p: Path, schema_name: str) -> tuple[list[Finding], list[int]]:
    """Lazy pandera validation of the table read with pandas: the findings and its shape."""
    import pandera.pandas as pa

    df = read_table(p, name=p.name)
    if sch.index is not None:
        df = df.set_index(df.columns[0])
    try:
        sch.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return schema_findings(exc, df, name=p.name, schema_name=schema_name), list(df.shape)
    except pa.errors.SchemaError as exc:  # non-lazy failures (e.g. wrong schema type)
        raise InputError(f"{p.name}: {exc}", path=str(p), hint="Check the schema.") from None
    return [], list(df.shape)

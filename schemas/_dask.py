"""The Dask engine of ``schema validate``: partitions validated on a cluster, checks that group
rows run once on the columns they read, the same findings as the in-memory engine."""

from __future__ import annotations

import copy
import csv
import dataclasses
import gzip
import inspect
import io as _io
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard import registry
from biodata_guard.errors import ConfigError, GuardError, InputError
from biodata_guard.io import (
    UNREADABLE,
    _check_file,
    _check_short_rows,
    _delimiter,
    _header_line,
    _suffixes,
    no_data_error,
    not_utf8_error,
    parquet_error,
    ragged_rows_error,
    refuse_duplicate_columns,
)
from biodata_guard.pandera_ext import register_checks
from biodata_guard.schemas._findings import case_findings
from biodata_guard.stream.dask import _require_dask, dask_client

#: Bytes of CSV/TSV text (Parquet: of row groups, uncompressed) per partition by default.
DEFAULT_BLOCKSIZE = 64_000_000

#: Built-in pandera checks that judge one value at a time: safe to run partition by partition.
_ELEMENTWISE_BUILTINS = frozenset(
    {
        "equal_to",
        "not_equal_to",
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "in_range",
        "isin",
        "notin",
        "str_matches",
        "str_contains",
        "str_startswith",
        "str_endswith",
        "str_length",
    }
)

#: Reasons of the errors taken from the whole-table pass; the rest (dtypes, nulls, coercion,
#: missing columns) are element-wise and come from the partitions.
_WHOLE_TABLE_REASONS = frozenset(
    {"dataframe_check", "check_error", "series_contains_duplicates", "duplicates"}
)

#: Columns of the whole-table frame with each row's first non-empty value and its position
#: (see _first_values and _check_whole).
_FIRST_VALUE, _FIRST_POSITION = "\x00first_value", "\x00first_position"


@dataclasses.dataclass(frozen=True)
class _Part:
    """One partition of the file: a byte range of CSV/TSV text or a run of Parquet row groups."""

    path: str
    kind: str  # "csv" | "parquet"
    offset: int = 0
    length: int | None = None  # None: to the end of the file
    gz: bool = False
    sep: str = ","
    header: str = ""
    n_skip: int = 0
    row_groups: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How a schema is split between the partitions and the whole-table pass."""

    partition_schema: Any
    whole_schema: Any | None  # None: every check is partition-safe
    gather: tuple[str, ...]  # raw columns the whole-table pass reads; the first names the rows
    first_value: bool  # table-level checks on a subset of columns: carry each row's first value
    # (and where it is), which pandera reports for a failing row
    index_col: str | None  # the schema defines an index: the table's first column becomes it


def validate_table(
    schema: Any,
    path: Path,
    *,
    name: str,
    schema_name: str,
    scheduler: str | None = None,
    blocksize: int | str | None = None,
) -> tuple[list[Any], list[int]]:
    """Validate the table at ``path`` against ``schema`` on a Dask cluster.

    Returns the ``schema.failure`` findings (equal to the in-memory engine's) and the table's
    shape. The cluster is :func:`biodata_guard.stream.dask.dask_client` (a local one without
    ``scheduler``; on a remote one, ``path`` must be readable by every worker).
    """
    cases, shape = failure_cases(schema, path, name=name, scheduler=scheduler, blocksize=blocksize)
    if cases is None:
        return [], shape
    return case_findings(cases, n_rows=shape[0], name=name, schema_name=schema_name), shape


def failure_cases(
    schema: Any,
    path: Path,
    *,
    name: str,
    scheduler: str | None = None,
    blocksize: int | str | None = None,
) -> tuple[pd.DataFrame | None, list[int]]:
    """The failure-case table of pandera's lazy validation of the whole file (row numbers of
    the file, plus a ``label`` column naming each row), or ``None``; and the table's shape.

    Each partition is read and validated on a worker with the checks that judge one row at a
    time (dtypes, nulls, coercion, element-wise checks); the checks that group rows (unique
    columns and index, ``unique_per_split``, ``no_group_overlap``, ``min_class_fraction``,
    ``consistent_categories``, and any check not known to be element-wise) run once, on a worker,
    on the columns they read gathered from every partition in file order.

    A table-level check lists each failing row once per column of the frame it checked: here
    that frame holds the gathered columns, not all of them; per row (as the findings count
    them) the cases are the in-memory engine's.

    Notes
    -----
    pandera's own Dask support (``schema.validate(dask_frame, lazy=True)``, pandera 0.35) maps
    the pandas validation over the partitions: the first failing partition raises, so the other
    partitions' failure cases are lost, and a check that groups rows sees one partition at a time
    (an id in train in partition 1 and in test in partition 3 passes). ``dask.dataframe.read_csv``
    coerces every block to the dtypes it guessed from the first 256 kB: a block's ``'01'`` becomes
    ``'1'`` when the sample read the column as text, and a late text value in a column the sample
    read as numbers fails the read. Here each block keeps pandas' own inference, and blocks are
    then retyped the way pandas types the whole column (:func:`_unify`).
    """

    _require_dask()
    size = _blocksize(blocksize)
    parts, columns = _table_parts(path, name, size)
    plan = _plan(schema, columns)
    with dask_client(scheduler) as client:
        futures = [client.submit(_check_part, part, plan, name, None, pure=False) for part in parts]
        infos = _raise_first(client.gather(client.map(_info, futures, pure=False)))
        fixes = _unify(columns, infos, name)  # blocks pandas typed unlike the whole column
        for k, fix in fixes.items():
            futures[k] = client.submit(_check_part, parts[k], plan, name, fix, pure=False)
        redone = client.gather([client.submit(_info, futures[k], pure=False) for k in fixes])
        for k, info in zip(fixes, _raise_first(redone), strict=True):
            infos[k] = info
        if _unify(columns, infos, name):  # pragma: no cover - a bug, not an input problem
            raise RuntimeError(f"{name}: partitions still typed differently after retyping")
        n_rows = [info["n_rows"] for info in infos]
        offsets = np.concatenate([[0], np.cumsum(n_rows)[:-1]]).astype(int).tolist()
        if not sum(n_rows):
            raise InputError(
                f"{name}: has a header but no rows",
                path=name,
                hint="Regenerate the file; it holds no samples.",
            )
        short = [
            info["short"].set_axis(info["short"].index + offsets[k])
            for k, info in enumerate(infos)
            if info["short"] is not None and len(info["short"])
        ]
        if short:
            _check_short_rows(pd.concat(short), name, parts[0].sep)
        whole = None
        if plan.whole_schema is not None:
            whole = _raise_first(
                [client.submit(_check_whole, futures, plan, name, pure=False).result()]
            )[0]
    cases = _assemble(infos, offsets, whole, shift=plan.index_col is None)
    return cases, [sum(n_rows), len(columns) - (plan.index_col is not None)]


def _raise_first(infos: list[dict]) -> list[dict]:
    """Raise the bad-input error of the first partition that has one (file order)."""
    for info in infos:
        if "error" in info:
            raise info["error"]
    return infos


# --- reading ------------------------------------------------------------------------------------


def _blocksize(value: int | str | None) -> int:
    from dask.utils import parse_bytes

    if value is None:
        return DEFAULT_BLOCKSIZE
    try:
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        size = parse_bytes(value) if size is None else size
    except (TypeError, ValueError):
        size = None
    if not isinstance(size, int) or size <= 0:
        raise ConfigError(
            f"--blocksize must be a positive size in bytes; got {value!r} instead",
            key="blocksize",
            hint="e.g. --blocksize 64MB (or 1048576).",
        )
    return size


def _table_parts(path: Path, name: str, blocksize: int) -> tuple[list[_Part], list[str]]:
    """The partitions of a CSV/TSV(.gz) or Parquet file and its column names."""

    p = _check_file(path)
    suffix, gz = _suffixes(p)
    if suffix in (".parquet", ".pq"):
        return _parquet_parts(p, name, blocksize)
    header, n_skip = _header_line(p)
    sep = _delimiter(p, header)
    refuse_duplicate_columns(next(csv.reader([header], delimiter=sep)), name)
    try:
        columns = list(
            pd.read_csv(p, sep=sep, skiprows=n_skip, nrows=0, encoding="utf-8-sig").columns
        )
    except (ValueError, OSError, EOFError, zlib.error) as exc:  # pragma: no cover - read above
        raise InputError(
            f"{name}: the header line cannot be read ({exc})",
            path=name,
            hint="Check the file's first lines (header, delimiter, encoding).",
            check=UNREADABLE,
        ) from None
    common = {"path": str(p), "kind": "csv", "gz": gz, "sep": sep, "header": header}
    if gz:  # a gzip stream cannot be split: one partition
        return [_Part(**common, n_skip=n_skip)], columns
    with open(p, "rb") as fh:  # the first partition holds the header line, whatever the blocksize
        for _ in range(n_skip + 1):
            fh.readline()
        first = max(blocksize, fh.tell())
    size = p.stat().st_size
    offsets = [0, *range(first, size, blocksize)]
    lengths = [b - a for a, b in zip(offsets, [*offsets[1:], size], strict=True)]
    parts = [
        _Part(**common, offset=o, length=n, n_skip=n_skip if o == 0 else 0)
        for o, n in zip(offsets, lengths, strict=True)
    ]
    return parts, columns


def _parquet_parts(p: Path, name: str, blocksize: int) -> tuple[list[_Part], list[str]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
        empty = pf.schema_arrow.empty_table().to_pandas()
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise _parquet_error(p, name, exc) from None
    if not isinstance(empty.index, pd.RangeIndex):
        empty = empty.reset_index()
    refuse_duplicate_columns([str(c) for c in empty.columns], name)
    parts: list[_Part] = []
    run: list[int] = []
    run_bytes = 0
    for i in range(pf.metadata.num_row_groups):
        run.append(i)
        run_bytes += pf.metadata.row_group(i).total_byte_size
        if run_bytes >= blocksize:
            parts.append(_Part(str(p), "parquet", row_groups=tuple(run)))
            run, run_bytes = [], 0
    if run:
        parts.append(_Part(str(p), "parquet", row_groups=tuple(run)))
    return parts, list(empty.columns)


def _parquet_error(p: Path, name: str, exc: Exception) -> InputError:
    """The in-memory reader's words for a corrupt file (it fails as fast, on the footer)."""

    try:
        pd.read_parquet(p)
    except Exception as mem_exc:
        return parquet_error(name, mem_exc)
    return parquet_error(name, exc)  # pragma: no cover - pandas read what pyarrow could not


def _read_part(part: _Part, name: str, fix: dict[str, str] | None) -> pd.DataFrame:
    """One partition as pandas reads it (local RangeIndex); ``fix`` retypes columns that pandas
    typed differently in another partition (``str`` and ``float64`` are re-parsed from the text)."""
    fix = fix or {}
    if part.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(part.path).read_row_groups(
                list(part.row_groups), use_pandas_metadata=True
            )
            df = table.to_pandas()
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise parquet_error(name, exc) from None
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        df = df.reset_index(drop=True)
    else:
        data = _read_bytes(part, name)
        kwargs: dict[str, Any] = {}
        if part.offset == 0:
            kwargs["skiprows"] = part.n_skip
        else:  # later blocks: the header line again, then the block's lines
            data = part.header.encode("utf-8") + b"\n" + data
        dtype = {c: (str if t == "str" else t) for c, t in fix.items() if t != "object"}
        try:
            df = pd.read_csv(
                _io.BytesIO(data),
                sep=part.sep,
                comment=None,
                encoding="utf-8-sig",
                dtype=dtype or None,
                low_memory=False,
                skip_blank_lines=True,
                **kwargs,
            )
        except UnicodeDecodeError:
            raise not_utf8_error(name) from None
        except pd.errors.ParserError as exc:
            cut = (
                part.length is not None
                and part.offset + part.length < Path(part.path).stat().st_size
            )
            if cut and "EOF inside string" in str(exc):
                raise InputError(
                    f"{name}: a quoted value holds a line break, and the partition that ends near "
                    f"byte {part.offset + part.length} cuts it (--engine dask splits the text at "
                    "line breaks)",
                    path=name,
                    hint="Validate this file with --engine memory, or convert it to Parquet.",
                ) from None
            raise ragged_rows_error(name, _file_lines(exc, part)) from None
        except pd.errors.EmptyDataError:
            raise no_data_error(name) from None
    for c, t in fix.items():
        if t == "object":
            df[c] = df[c].astype(object)
    return df


def _file_lines(exc: Exception, part: _Part) -> str:
    """pandas' parser message with the block's line numbers turned into the file's."""
    text = str(exc).strip()
    if part.offset == 0:
        return text
    before = 0
    with open(part.path, "rb") as fh:  # the block starts after the newline at/after its offset
        fh.seek(part.offset)
        fh.readline()
        remaining = fh.tell()
        fh.seek(0)
        while remaining > 0:
            chunk = fh.read(min(1 << 20, remaining))
            before += chunk.count(b"\n")
            remaining -= len(chunk)
    # line 1 of the parsed text is the header line put in front of the block
    return re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) - 1 + before}", text)


def _read_bytes(part: _Part, name: str) -> bytes:
    from fsspec.utils import read_block

    try:
        if part.length is None:
            with (gzip.open if part.gz else open)(part.path, "rb") as fh:
                return fh.read()
        with open(part.path, "rb") as fh:
            return read_block(fh, part.offset, part.length, delimiter=b"\n")
    except (OSError, EOFError, zlib.error) as exc:
        what = "cannot be decompressed" if part.gz else "cannot be read"
        raise InputError(
            f"{name}: {what} ({exc})"
            + ("; the gzip file is truncated or corrupt" if part.gz else ""),
            path=name,
            hint="Re-download or re-compress the file (gzip -t FILE tests it)."
            if part.gz
            else "Check that every worker can read the file.",
            check=UNREADABLE,
        ) from None


def _unify(columns: list[str], infos: list[dict], name: str) -> dict[int, dict[str, str]]:
    """Per partition, the columns to retype so that every partition has the dtype pandas gives
    the whole column (int + float -> float64; any text -> str; bool + empty -> object)."""
    fixes: dict[int, dict[str, str]] = {}
    read = [(k, info) for k, info in enumerate(infos) if info["n_rows"]]
    for c in columns:
        kinds = [(k, info["dtypes"][c], c in info["empty"]) for k, info in read]
        if len({d for _, d, _ in kinds}) <= 1:
            continue
        typed = {d for _, d, empty in kinds if not empty}  # an all-empty block reads as float64
        has_empty = any(empty for *_, empty in kinds)
        if "str" in typed or (typed & {"bool", "object"} and typed & {"int64", "float64"}):
            target = "str"
        elif typed <= {"int64", "float64"}:
            target = "float64"
        elif typed <= {"bool", "object"}:
            target = "object" if ("object" in typed or has_empty) else "bool"
        else:
            raise ConfigError(
                f"{name}, {c}: pandas types this column {' / '.join(sorted(typed))} in different "
                "parts of the file; the Dask engine cannot reproduce the type of the whole column",
                key="engine",
                hint="Validate this file with --engine memory, or fix the column's values.",
            )
        for k, d, _ in kinds:
            if d != target:
                fixes.setdefault(k, {})[c] = target
    return fixes


# --- the schema split ---------------------------------------------------------------------------


def _plan(schema: Any, columns: list[str]) -> _Plan:
    """Split ``schema``: element-wise checks, dtypes and nulls run on every partition; unique
    columns, grouping checks and any check not known to be element-wise run on the whole table
    (only the columns they read, plus the first column that names rows)."""
    from pandera.api.pandas.components import MultiIndex

    if isinstance(schema.index, MultiIndex):
        raise ConfigError(
            f"schema '{schema.name}': a MultiIndex schema is not supported by --engine dask",
            key="engine",
            hint="Use --engine memory for this schema.",
        )
    index_col = columns[0] if schema.index is not None else None
    data_cols = columns[1:] if index_col is not None else list(columns)
    need: set[str] = set()
    part_cols: dict[Any, Any] = {}
    for key, col in schema.columns.items():
        safe, unsafe = _split(col.checks)
        part_cols[key] = _replace(col, checks=safe, unique=False)
        if unsafe or col.unique:
            need.update(_matching(col, data_cols))
            for check in unsafe:
                need.update(_groupby_columns(check, data_cols))
    safe_frame, unsafe_frame = _split(schema.checks)
    for check in unsafe_frame:
        need.update(_frame_check_columns(check, data_cols))
    need.update(c for c in schema.unique or [] if c in data_cols)
    part_index = whole_index = None
    if schema.index is not None:
        safe_i, unsafe_i = _split(schema.index.checks)
        part_index = _replace(schema.index, checks=safe_i, unique=False)
        if unsafe_i or schema.index.unique:
            whole_index = _replace(schema.index, checks=unsafe_i)
    partition = copy.deepcopy(schema)
    partition.columns = part_cols
    partition.checks = safe_frame
    partition.unique = None
    partition.index = part_index
    if not need and whole_index is None and not unsafe_frame:
        return _Plan(partition, None, (), False, index_col)
    gathered = [c for c in data_cols if c in need]
    whole_cols: dict[Any, Any] = {}
    for col in schema.columns.values():
        _, unsafe = _split(col.checks)
        for c in _matching(col, gathered):
            if c not in whole_cols:
                whole_cols[c] = _replace(col, checks=unsafe, name=c, regex=False)
    whole = copy.deepcopy(schema)
    whole.columns = whole_cols
    whole.checks = unsafe_frame
    whole.index = whole_index
    whole.strict = False
    whole.ordered = False
    whole.unique_column_names = False
    gather = tuple(dict.fromkeys([columns[0], *gathered]))
    first_value = bool(unsafe_frame) and len(gathered) < len(data_cols)
    return _Plan(partition, whole, gather, first_value, index_col)


def _partition_safe(check: Any) -> bool:
    """Whether a check's verdict on a row depends on that row alone."""
    from pandera.api.function_dispatch import Dispatcher
    from pandera.api.hypotheses import Hypothesis

    if isinstance(check, Hypothesis) or check.groupby is not None:
        return False
    if check.n_failure_cases is not None:  # "the first n" is a whole-table notion
        return False
    if check.element_wise:
        return True
    fn = check._check_fn
    if isinstance(fn, Dispatcher):  # a pandera built-in
        return getattr(fn, "__name__", None) in _ELEMENTWISE_BUILTINS
    method = registry.pandera_methods().get(_registered(check))
    return method is not None and method.element_wise


def _registered(check: Any) -> Any:
    """The biodata_guard (or other) function behind a registered check method, else None."""
    fn = getattr(check._check_fn, "func", None)  # pandera: partial(wrapper, **statistics)
    return inspect.unwrap(fn) if callable(fn) else None


def _split(checks: list[Any]) -> tuple[list[Any], list[Any]]:
    safe = [c for c in checks if _partition_safe(c)]
    return safe, [c for c in checks if not _partition_safe(c)]


def _replace(component: Any, *, name: str | None = None, **attrs: Any) -> Any:
    out = copy.copy(component)
    out.__dict__ = component.__dict__.copy()
    if name is not None:
        out = out.set_name(name)
    for attr, value in attrs.items():
        setattr(out, attr, value)
    return out


def _matching(col: Any, columns: list[str]) -> list[str]:
    if not col.regex:
        return [col.name] if col.name in columns else []
    from pandera.errors import SchemaError

    try:
        return list(col.get_regex_columns(pd.DataFrame(columns=columns)))
    except SchemaError:  # no column matches
        return []


def _groupby_columns(check: Any, columns: list[str]) -> list[str]:
    by = check.groupby
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    if isinstance(by, (list, tuple)):
        return [c for c in by if c in columns]
    return list(columns)  # a callable: it may read anything


def _frame_check_columns(check: Any, columns: list[str]) -> list[str]:
    """The columns a table-level check reads: the registered ones name them; any other check
    gets the whole table."""
    method = registry.pandera_methods().get(_registered(check))
    if method is None or not method.reads:
        return list(columns)
    reads = method.reads
    stats = check.statistics or {}
    return [stats[k] for k in reads if stats.get(k) in columns]


# --- the tasks (run on the workers) -------------------------------------------------------------


def _check_part(
    part: _Part, plan: _Plan, name: str, fix: dict[str, str] | None
) -> tuple[dict, pd.DataFrame | None]:
    """Read one partition, validate it with the partition schema; return its failure cases
    (local row numbers), dtypes and the columns the whole-table pass needs.

    A bad input is returned, not raised: the client raises the first in file order (and the
    workers do not log it as a failed task with a traceback).
    """

    try:
        return _read_and_check(part, plan, name, fix)
    except GuardError as exc:
        return {"error": exc}, None


def _read_and_check(
    part: _Part, plan: _Plan, name: str, fix: dict[str, str] | None
) -> tuple[dict, pd.DataFrame | None]:

    register_checks()
    pdf = _read_part(part, name, fix)
    dtypes = {c: str(d) for c, d in pdf.dtypes.items()}
    info: dict[str, Any] = {
        "n_rows": len(pdf),
        "dtypes": dtypes,
        "empty": {c for c, d in dtypes.items() if d == "float64" and pdf[c].isna().all()},
        "tables": [],
        "scalars": [],
        "short": None,
    }
    if not len(pdf):
        return info, None
    if part.kind == "csv" and pdf.shape[1] >= 2:  # rows read as one field (io._check_short_rows)
        info["short"] = pdf.loc[pdf.iloc[:, 1:].isna().all(axis=1).to_numpy()]
    frame = pdf.set_index(plan.index_col) if plan.index_col is not None else pdf
    captured: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    schema = plan.partition_schema
    if plan.first_value:
        schema = _capturing(schema, captured)
    errors = _validate(schema, frame, name)
    first = pdf.iloc[:, 0]
    info["tables"], info["scalars"] = _error_cases(
        errors, lambda i: str(i) if plan.index_col is not None else str(first.iloc[int(i)])
    )
    gathered = None
    if plan.whole_schema is not None:
        gathered = pdf[list(plan.gather)]
        if plan.first_value:
            # pandera did not reach the table checks if nothing was captured: use the raw row
            values, positions = captured.get("first") or _first_values(frame)
            gathered = gathered.assign(**{_FIRST_VALUE: values, _FIRST_POSITION: positions})
    return info, gathered


def _info(result: tuple[dict, pd.DataFrame | None]) -> dict:
    return result[0]


def _check_whole(results: list[tuple[dict, pd.DataFrame | None]], plan: _Plan, name: str) -> dict:
    """The whole-table pass: the gathered columns of every partition, in file order."""

    register_checks()
    data = pd.concat([g for info, g in results if info["n_rows"]], ignore_index=True)
    first = data[plan.gather[0]]
    if plan.first_value:
        data = _first_value_columns(data)
    frame = data.set_index(plan.index_col) if plan.index_col is not None else data
    try:
        errors = _validate(plan.whole_schema, frame, name)
    except GuardError as exc:
        return {"error": exc}
    errors = [e for e in errors if getattr(e.reason_code, "value", None) in _WHOLE_TABLE_REASONS]
    tables, scalars = _error_cases(
        errors, lambda i: str(i) if plan.index_col is not None else str(first.iloc[int(i)])
    )
    return {"tables": tables, "scalars": scalars}


def _validate(schema: Any, frame: pd.DataFrame, name: str) -> list[Any]:
    import pandera.pandas as pa

    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return list(exc.schema_errors)
    except pa.errors.SchemaError as exc:  # non-lazy failures (e.g. wrong schema type)
        raise InputError(f"{name}: {exc}", path=name, hint="Check the schema.") from None
    return []


def _first_value_columns(data: pd.DataFrame) -> pd.DataFrame:
    """Put each row's first non-empty value in front, in one column per position it came from.

    pandera lists a failing row of a table-level check once per column, column by column,
    skipping empty cells; the finding keeps the row's first listing. So the in-memory engine
    names a failing row by the value of its first non-empty column, and lists the rows whose
    first column is empty after the others. One column per such position, in position order,
    gives the same listing on the gathered columns; an all-empty row stays all empty (pandera
    passes it).
    """
    values = data.pop(_FIRST_VALUE).to_numpy()
    positions = data.pop(_FIRST_POSITION).to_numpy()
    front = {
        f"{_FIRST_VALUE}_{j}": np.where(positions == j, values, np.nan)
        for j in np.unique(positions[positions >= 0])
    }
    return pd.concat([pd.DataFrame(front, index=data.index, dtype=object), data], axis=1)


def _capturing(schema: Any, captured: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """``schema`` plus a passing table-level check that keeps each row's first non-empty value
    of the frame the table-level checks see (pandera reports that value for a failing row)."""
    import pandera.pandas as pa

    def first_value(df: pd.DataFrame) -> bool:
        captured["first"] = _first_values(df)
        return True

    out = copy.copy(schema)
    out.checks = [*schema.checks, pa.Check(first_value, name="first_value")]
    return out


def _first_values(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first non-empty value and the position of its column (-1: all empty)."""
    n, m = df.shape
    values = np.full(n, np.nan, dtype=object)
    positions = np.full(n, -1, dtype=np.int64)
    if m == 0:
        return values, positions
    first = df.iloc[:, 0]
    ok = first.notna().to_numpy()
    values[ok] = first.astype(object).to_numpy()[ok]
    positions[ok] = 0
    gaps = np.flatnonzero(~ok)
    if len(gaps) and m > 1:  # rows with an empty first cell (few): look further right
        rest = df.iloc[gaps, 1:]
        filled = rest.notna().to_numpy()
        has = filled.any(axis=1)
        where = filled.argmax(axis=1)[has]
        values[gaps[has]] = rest.astype(object).to_numpy()[np.flatnonzero(has), where]
        positions[gaps[has]] = where + 1
    return values, positions


def _error_cases(errors: list[Any], label: Any) -> tuple[list, list]:
    """Each error's failure cases as pandera consolidates them, keyed by the error's check:
    row-level ones as tables with a ``label`` column, the others as single records."""
    from pandera.api.pandas.types import is_table
    from pandera.backends.pandas.error_formatters import consolidate_failure_cases

    tables, scalars = [], []
    for err in errors:
        cases = consolidate_failure_cases([err])
        if not len(cases):
            continue
        first = cases.iloc[0]
        key = (
            str(first["schema_context"]),
            str(first["column"]),
            str(first["check"]),
            str(first["check_number"]),
            str(getattr(err.reason_code, "value", err.reason_code)),
        )
        if is_table(err.failure_cases):
            cases = cases.assign(label=[None if pd.isna(i) else label(i) for i in cases["index"]])
            tables.append((key, cases))
        else:
            scalars.append((key, {**cases.iloc[0].to_dict(), "label": None}))
    return tables, scalars


# --- assembly (on the client) -------------------------------------------------------------------


def _assemble(
    infos: list[dict], offsets: list[int], whole: dict | None, *, shift: bool
) -> pd.DataFrame | None:
    """One failure-case table as pandera builds it for the whole file: each check's cases in
    file order (partition row numbers shifted to file row numbers), checks in the order pandera
    ran them, row-level tables before single records, sorted by schema context."""
    rank: dict[tuple, int] = {}
    tables: list[tuple[int, int, pd.DataFrame]] = []
    records: dict[tuple, tuple[int, int, dict]] = {}
    sources = [(k, info, offsets[k] if shift else 0) for k, info in enumerate(infos)]
    if whole is not None:
        sources.append((len(infos), whole, 0))
    for k, source, offset in sources:
        for key, cases in source["tables"]:
            if offset:
                cases = cases.assign(index=cases["index"] + offset)
            tables.append((rank.setdefault(key, len(rank)), k, cases))
        for key, record in source["scalars"]:
            seen = (key, str(record["failure_case"]))
            if seen not in records:  # the same dtype or missing column in every partition
                records[seen] = (rank.setdefault(key, len(rank)), k, record)
    frames = [cases for *_, cases in sorted(tables, key=lambda t: t[:2])]
    if records:
        ordered = sorted(records.values(), key=lambda t: t[:2])
        frames.append(pd.DataFrame.from_records([record for *_, record in ordered]))
    if not frames:
        return None
    return (
        pd.concat(frames)
        .reset_index(drop=True)
        .sort_values("schema_context", ascending=False, kind="stable")
    )

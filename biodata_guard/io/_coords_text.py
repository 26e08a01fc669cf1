"""The text side of the coordinate readers: sniffing the top of a file, reading its columns
with pandas, and the pyranges-style frame they all return."""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import preview
from biodata_guard.errors import InputError
from biodata_guard.io._files import (
    READ_ERRORS,
    UNREADABLE,
    InputFile,
    no_data_error,
    ragged_rows_error,
    read_error,
)

#: Lines read to sniff the format and infer columns (the file is then read by pandas).
_SAMPLE_LINES = 200
#: Header lines kept verbatim in ``CoordInput.header["lines"]`` (build-relevant ones only).
_MAX_HEADER_LINES = 50
_MAX_LINE_CHARS = 300

_RS_LIKE = re.compile(r"^rs\d+", re.IGNORECASE)
_INT_LIKE = re.compile(r"^[+-]?\d+$")


@dataclass
class _Scan:
    """What a first pass over the top of a text file found."""

    gz: bool
    comments: list[str] = field(default_factory=list)  # leading comment / track lines
    n_skip: int = 0  # physical lines before the first data line
    sample: list[str] = field(default_factory=list)  # first data lines


def _lines(p: Path, gz: bool) -> Iterator[str]:
    with gzip.open(p, "rb") if gz else open(p, "rb") as raw:
        for i, line in enumerate(raw):
            text = line.decode("utf-8")
            if i == 0:
                text = text.removeprefix("\ufeff")
            yield text.rstrip("\r\n")


_READ_ERRORS = (*READ_ERRORS, UnicodeDecodeError)


def _scan(f: InputFile) -> _Scan:
    """The leading comment lines and the first data lines of a file that passed the path check."""
    label = f.label
    scan = _Scan(gz=f.gz)
    in_header = True
    try:
        for line in _lines(f.path, scan.gz):
            if in_header:
                stripped = line.strip()
                if not stripped or line.startswith("#") or _is_track(stripped):
                    scan.n_skip += 1
                    if stripped:
                        scan.comments.append(line)
                    continue
                in_header = False
            if line.strip():
                scan.sample.append(line)
            if len(scan.sample) >= _SAMPLE_LINES:
                break
    except _READ_ERRORS as exc:
        raise read_error(label, exc, gz=scan.gz) from None
    if not scan.comments and not scan.sample:
        raise InputError(
            f"{label}: file holds only blank lines",
            path=label,
            hint="Regenerate the file.",
            check=UNREADABLE,
        )
    return scan


def _is_track(line: str) -> bool:
    return line.startswith(("track ", "track\t", "browser ", "browser\t")) or line == "track"


def _read_csv(p: Path, label: str, scan: _Scan, **kwargs: Any) -> pd.DataFrame:
    """pandas.read_csv with every failure turned into an InputError naming the file."""
    try:
        return pd.read_csv(
            p,
            compression="gzip" if scan.gz else None,
            encoding="utf-8",
            header=None,
            low_memory=False,
            **kwargs,
        )
    except _READ_ERRORS as exc:
        raise read_error(label, exc, gz=scan.gz) from None
    except pd.errors.EmptyDataError:
        raise no_data_error(label) from None
    except pd.errors.ParserError as exc:
        raise ragged_rows_error(label, str(exc).strip()) from None


def _read_columns(
    p: Path,
    label: str,
    scan: _Scan,
    *,
    sep: str,
    skip: int,
    text: dict[int, str],
    ints: dict[int, str],
    titles: dict[int, str] | None = None,
    comment: str | None = None,
) -> pd.DataFrame:
    """Read some columns by index, named by role: ``text`` as str, ``ints`` as int64.

    Positions that do not parse are diagnosed by :func:`_integers` under their ``titles``
    (the file's own column names) with line numbers.
    """
    usecols = sorted({*text, *ints})
    kwargs: dict[str, Any] = {"sep": sep, "skiprows": skip, "usecols": usecols}
    kwargs["comment"] = comment
    if sep == "\t":
        kwargs["quoting"] = csv.QUOTE_NONE
    try:
        df = _read_csv(
            p, label, scan, dtype={i: str for i in text} | dict.fromkeys(ints, np.int64), **kwargs
        )
    except (ValueError, TypeError, OverflowError):  # a position is not an integer: say which
        df = _read_csv(p, label, scan, dtype=dict.fromkeys(usecols, str), **kwargs)
        for i, role in ints.items():
            df[i] = _integers(df[i], label, (titles or {}).get(i, role), first_line=skip + 1)
    df.columns = [text[i] if i in text else ints[i] for i in usecols]
    return df


def _integers(s: pd.Series, label: str, col: str, *, first_line: int | None) -> pd.Series:
    """Parse a column of positions, or raise naming the first bad values and lines (rows)."""
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() | (num != np.floor(num))).to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)

        def where(i: int) -> str:
            return f"line {first_line + i}" if first_line is not None else f"row {s.index[i]!r}"

        examples = [f"{where(int(i))}: {s.iloc[int(i)]!r}" for i in idx[:3]]
        raise InputError(
            f"{label}, {col}: positions must be integers; {len(idx)} of {len(s)} rows are "
            f"missing or non-numeric ({preview(examples, n=3, total=len(idx))})",
            path=label,
            column=col,
            hint=f"Fix or drop the rows whose {col} is not a whole number.",
        )
    return num.astype(np.int64)


def _split(line: str, sep: str | None) -> list[str]:
    if sep is None or sep == r"\s+":
        return line.split()
    return next(csv.reader([line], delimiter=sep))


def _sep_of(line: str) -> str:
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return r"\s+"


def _frame(chrom: Any, start: Any, end: Any, **extra: Any) -> pd.DataFrame:
    """The pyranges-style frame of a CoordInput; ``extra`` columns that are None are left out."""
    out = {
        "Chromosome": pd.Series(chrom).astype(str).str.strip().to_numpy(),
        "Start": np.asarray(start, dtype=np.int64),
        "End": np.asarray(end, dtype=np.int64),
    }
    for key, values in extra.items():
        if values is not None:
            out[key] = values.to_numpy() if isinstance(values, pd.Series) else values
    return pd.DataFrame(out)


def _clip_lines(lines: list[str]) -> list[str]:
    return [line[:_MAX_LINE_CHARS] for line in lines[:_MAX_HEADER_LINES]]


def _clean_ids(ids: pd.Series) -> pd.Series:
    ids = ids.astype("str")
    ids = ids.where(ids != ".")
    multi = ids.str.contains(";", regex=False, na=False)
    if multi.any():
        ids = ids.copy()
        ids[multi] = ids[multi].str.split(";").str[0]
    return ids

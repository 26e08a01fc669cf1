"""The text side of the coordinate readers: sniffing the top of a file, reading its columns
with pandas while setting malformed rows aside (with their line numbers), and the
pyranges-style frame every reader returns."""

from __future__ import annotations

import csv
import gzip
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
#: Line numbers of malformed rows kept in ``header["malformed"]``.
_MAX_LINES_KEPT = 20
_CHUNK = 1 << 22


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


# --------------------------------------------------------------------------- rows


@dataclass
class _Rows:
    """Columns read by role from a file, and what was wrong with each row.

    ``df`` holds text roles as strings (NaN when missing) and integer roles as float64 (NaN
    when missing or not a whole number). ``bad[role]`` marks values present but not whole
    numbers, ``ragged`` rows with another number of fields than the header, ``blank`` empty
    lines. Row ``i`` is line ``first_line + i`` of the file.
    """

    df: pd.DataFrame
    bad: dict[str, np.ndarray]
    raw: dict[str, pd.Series]
    ragged: np.ndarray
    blank: np.ndarray
    first_line: int
    n_fields: int | None = None
    field_counts: np.ndarray | None = None

    def line(self, i: int) -> int:
        return self.first_line + int(i)


def _count_lines(body: bytes, sep: int) -> np.ndarray:
    """Fields per line of a block of whole lines (0 for an empty line)."""
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    starts = np.r_[0, nl[:-1] + 1]
    seps = np.flatnonzero(a == sep)
    n_sep = np.searchsorted(seps, nl) - np.searchsorted(seps, starts)
    width = nl - starts
    cr_only = (width == 1) & (a[np.minimum(starts, len(a) - 1)] == 13)
    return np.where((width == 0) | cr_only, 0, n_sep + 1)


def _field_counts(p: Path, gz: bool, sep: str, skip: int) -> np.ndarray:
    """Fields per data line (after ``skip`` physical lines), counted on raw bytes in blocks."""
    sepb = ord(sep)
    parts: list[np.ndarray] = []
    carry = b""
    with gzip.open(p, "rb") if gz else open(p, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            buf = carry + chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            parts.append(_count_lines(buf[: cut + 1], sepb))
            carry = buf[cut + 1 :]
    if carry:
        parts.append(_count_lines(carry + b"\n", sepb))
    counts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return counts[skip:]


def _countable(scan: _Scan, sep: str) -> bool:
    """Fields can be counted on raw bytes: one-character separator, no quoted separators."""
    if len(sep) != 1:
        return False
    for line in scan.sample[:50]:
        if '"' in line and len(_split(line, sep)) != line.count(sep) + 1:
            return False
    return True


def _read_columns(
    p: Path,
    label: str,
    scan: _Scan,
    *,
    sep: str,
    skip: int,
    text: dict[int, str],
    ints: dict[int, str],
    n_fields: int | None = None,
    comment: str | None = None,
) -> _Rows:
    """Read some columns by index, named by role: ``text`` as str, ``ints`` as numbers.

    Nothing is rejected here: rows whose positions are not whole numbers, rows with another
    number of fields than ``n_fields`` (a line split in two) and blank lines are marked in
    the result (the caller reports them and reads the rest).
    """
    usecols = sorted({*text, *ints})
    names = {i: text[i] if i in text else ints[i] for i in usecols}
    kwargs: dict[str, Any] = {"sep": sep, "skiprows": skip, "usecols": usecols}
    kwargs |= {"comment": comment, "skip_blank_lines": False}
    if sep == "\t":
        kwargs["quoting"] = csv.QUOTE_NONE
    raw: dict[str, pd.Series] = {}
    try:
        df = _read_csv(
            p, label, scan, dtype={i: str for i in text} | dict.fromkeys(ints, np.int64), **kwargs
        )
        df = df.rename(columns=names)
        bad = {r: np.zeros(len(df), dtype=bool) for r in ints.values()}
        for r in ints.values():
            df[r] = df[r].astype(np.float64)
    except (ValueError, TypeError, OverflowError):  # some position is not an integer
        df = _read_csv(p, label, scan, dtype=dict.fromkeys(usecols, str), **kwargs)
        df = df.rename(columns=names)
        bad = {}
        for r in ints.values():
            raw[r] = df[r]
            num = pd.to_numeric(df[r], errors="coerce")
            whole = num.notna() & (num == np.floor(num)) & (num.abs() < 2**53)
            bad[r] = (df[r].notna() & ~whole).to_numpy()
            df[r] = num.where(whole).astype(np.float64)
    n = len(df)
    all_missing = df.isna().all(axis=1).to_numpy()
    counts = None
    ragged = np.zeros(n, dtype=bool)
    blank = all_missing
    if n_fields is not None and _countable(scan, sep):
        counts = _field_counts(p, scan.gz, sep, skip)
        if len(counts) == n:
            blank = counts == 0
            ragged = ~blank & (counts != n_fields)
    return _Rows(df, bad, raw, ragged, blank, skip + 1, n_fields, counts)


@dataclass(frozen=True)
class _Malformed:
    """Rows set aside: how many, their line numbers (first ones), why, and examples."""

    n: int
    n_rows: int  # data rows read (blank lines excluded)
    lines: list[int]
    reasons: dict[str, int]
    examples: list[str]
    where: str = "line"  # "line" (files) or "row" (in-memory frames)

    def to_header(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_rows": self.n_rows,
            "lines": self.lines,
            "reasons": self.reasons,
            "examples": self.examples,
            "where": self.where,
        }


def _malformed(
    rows: _Rows, *, required: tuple[str, ...], titles: dict[str, str] | None = None
) -> tuple[np.ndarray, _Malformed]:
    """Which rows are usable for the ``required`` roles (chromosome and positions): a mask of
    the good rows, and the malformed ones described. Blank lines are neither."""
    df, titles = rows.df, titles or {}
    reasons: dict[str, np.ndarray] = {}
    if rows.ragged.any():
        reasons[f"not {rows.n_fields} fields"] = rows.ragged
    for role in required:
        col = titles.get(role, role)
        if role in rows.bad and rows.bad[role].any():
            reasons[f"{col} not a whole number"] = rows.bad[role] & ~rows.ragged
        missing = df[role].isna().to_numpy() & ~rows.blank
        if role in rows.bad:
            missing &= ~rows.bad[role]
        if missing.any():
            reasons[f"{col} missing"] = missing & ~rows.ragged
    bad = np.zeros(len(df), dtype=bool)
    for mask in reasons.values():
        bad |= mask
    idx = np.flatnonzero(bad)
    examples = [_example(rows, int(i), required, titles) for i in idx[:3]]
    info = _Malformed(
        n=len(idx),
        n_rows=int((~rows.blank).sum()),
        lines=[rows.line(i) for i in idx[:_MAX_LINES_KEPT]],
        reasons={k: int(v.sum()) for k, v in reasons.items() if v.any()},
        examples=examples,
    )
    return ~bad & ~rows.blank, info


def _example(rows: _Rows, i: int, required: tuple[str, ...], titles: dict[str, str]) -> str:
    if rows.ragged[i] and rows.field_counts is not None:
        return f"line {rows.line(i)}: {rows.field_counts[i]} fields, not {rows.n_fields}"
    for role in required:
        if role in rows.raw and rows.bad[role][i]:
            return f"line {rows.line(i)}: {titles.get(role, role)}={rows.raw[role].iloc[i]!r}"
        if pd.isna(rows.df[role].iloc[i]):
            return f"line {rows.line(i)}: {titles.get(role, role)} missing"
    return f"line {rows.line(i)}"


def _usable(
    rows: _Rows,
    label: str,
    header: dict[str, Any],
    *,
    required: tuple[str, ...],
    titles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The rows usable for ``required`` roles (whole-number positions as int64), recording the
    malformed ones in ``header["malformed"]``; InputError when no row is usable."""
    good, info = _malformed(rows, required=required, titles=titles)
    if info.n:
        header["malformed"] = info.to_header()
        if not good.any():
            what = (titles or {}).get(required[-1], required[-1])
            raise no_usable_rows_error(label, info, what)
    df = rows.df.loc[good].reset_index(drop=True)
    for role in rows.bad:
        if role in required:
            df[role] = df[role].astype(np.int64)
    return df


def no_usable_rows_error(label: str, info: _Malformed, what: str) -> InputError:
    """Every data row is malformed: nothing to check (exit 2)."""
    why = preview([f"{k} ({v})" for k, v in info.reasons.items()], n=3)
    return InputError(
        f"{label}: no usable rows: all {info.n:,} data rows are malformed ({why}; "
        f"{preview(info.examples, n=3, total=info.n)})",
        path=label,
        column=what,
        hint=f"Fix the {what} values (whole numbers) and the rows' field counts, then rerun.",
    )


# --------------------------------------------------------------------------- small helpers


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
        "Chromosome": pd.Series(chrom).astype(str).str.strip().str.strip('"').to_numpy(),
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
    ids = ids.astype("str").str.strip().str.strip('"')
    ids = ids.where(ids != ".")
    multi = ids.str.contains(";", regex=False, na=False)
    if multi.any():
        ids = ids.copy()
        ids[multi] = ids[multi].str.split(";").str[0]
    return ids

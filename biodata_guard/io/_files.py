"""The one path check every reader opens its input through, format sniffing, hashing, and the
error vocabulary (``input.unreadable`` / ``input.invalid``) the readers share."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io as _io
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from biodata_guard import errors
from biodata_guard.errors import InputError
from biodata_guard.registry import declare_check

UNREADABLE = declare_check(
    errors.UNREADABLE,
    group="io",
    severities=("error",),
    doc="An input that cannot be read at all: missing, empty, a directory, truncated or corrupt, "
    "not UTF-8, or a refused format (pickle).",
)
INVALID = declare_check(
    errors.INVALID,
    group="io",
    severities=("error",),
    doc="An input that was read but is not valid: no rows, wrong delimiter, duplicate columns or "
    "ids, non-numeric matrix cells, missing columns.",
)

#: A directory is an AnnData zarr store when it holds one of these (zarr v3, zarr v2) at its top.
ZARR_METADATA = ("zarr.json", ".zgroup")
#: Name endings of gzip (and bgzip) files, stripped before the data suffix is read.
_GZIP_SUFFIXES = (".gz", ".bgz", ".bgzf")
_GZIP_MAGIC = b"\x1f\x8b"

_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".tab": "\t"}
_DELIMITERS = (",", "\t", ";", "|")
_REFUSED = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".npy": "NumPy pickle-capable",
    ".joblib": "joblib",
}


@dataclass(frozen=True)
class InputFile:
    """A file that passed :func:`check_file`: where it is, its name in messages, what it holds.

    ``suffix`` is the data suffix, lower-case, without the compression suffix (``".csv"`` for
    ``counts.CSV.gz``); ``gz`` says whether the bytes are gzip (or bgzip) data, sniffed from the
    file's first bytes, not its name.
    """

    path: Path
    label: str
    suffix: str
    gz: bool
    size: int


def _suffixes(path: Path) -> tuple[str, bool]:
    """The data suffix (``.csv``) and whether the name says gzip (``.gz``, ``.bgz``)."""
    name = path.name.lower()
    gz = name.endswith(_GZIP_SUFFIXES)
    if gz:
        name = name[: name.rfind(".")]
    return Path(name).suffix, gz


def path_error(
    label: str, problem: str, hint: str, *, reading: str | None = None, check: str = UNREADABLE
) -> InputError:
    """``"<label>: [cannot read <reading>: ]<problem>"``: the error of the path checks."""
    prefix = f"cannot read {reading}: " if reading else ""
    return InputError(f"{label}: {prefix}{problem}", path=label, hint=hint, check=check)


def check_file(
    path: str | Path,
    *,
    label: str | None = None,
    reading: str | None = None,
    flag: str | None = None,
    stores: bool = False,
) -> InputFile:
    """The one path check: the file exists, is a file, is not a refused format, is not empty,
    can be opened, and is gzip data exactly when its name says so.

    Parameters
    ----------
    path
        The file.
    label
        Its name in messages (default: the path as given).
    reading
        What is being read, for messages: ``reading="gene lengths"`` words them
        ``"<label>: cannot read gene lengths: file is empty (0 bytes)"``.
    flag
        The CLI flag that names the file (``"--coords"``), for the hint of a missing file.
    stores
        A zarr store would have been accepted here: a directory is refused saying that it is not
        one either.

    Raises
    ------
    InputError
        ``input.unreadable``: missing, a directory, a pickle (loading one can execute code),
        empty, cannot be opened, named ``.gz`` without being gzip data.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "empty.csv")
    >>> _ = open(p, "w").close()
    >>> check_file(p, label="empty.csv")
    Traceback (most recent call last):
    ...
    biodata_guard.errors.InputError: empty.csv: file is empty (0 bytes) Hint: Regenerate the file.
    """
    p = Path(path)
    label = label or str(p)
    if not p.exists():
        where = "" if label == str(p) else f" ({p})"
        hint = f"Check the path passed to {flag}." if flag else "Check the path."
        raise path_error(label, f"file does not exist{where}", hint, reading=reading)
    if p.is_dir():
        if stores:
            raise path_error(
                label,
                "is a directory, not a file (nor a zarr store: it holds no zarr.json or .zgroup)",
                "Name a file, or an AnnData zarr store (the directory adata.write_zarr() writes).",
                reading=reading,
            )
        raise path_error(label, "is a directory, not a file", "Name a file.", reading=reading)
    suffix, named_gz = _suffixes(p)
    if suffix in _REFUSED:
        raise path_error(
            label,
            f"{_REFUSED[suffix]} files are refused: loading them can execute arbitrary code",
            "Export the data to CSV/TSV, Parquet or h5ad and audit that file.",
            reading=reading,
        )
    size = p.stat().st_size
    if size == 0:
        raise path_error(label, "file is empty (0 bytes)", "Regenerate the file.", reading=reading)
    gz = _sniff_gzip(p, label, reading)
    if named_gz and not gz:
        raise path_error(
            label,
            "cannot be decompressed: its name ends in .gz but it does not hold gzip data",
            "Compress it (gzip FILE), or drop .gz from its name.",
            reading=reading,
        )
    return InputFile(p, label, suffix, gz, size)


def _sniff_gzip(p: Path, label: str, reading: str | None) -> bool:
    try:
        with open(p, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise path_error(
            label,
            f"cannot be opened ({exc.strerror or type(exc).__name__})",
            "Check the file's permissions (ls -l FILE; chmod u+r FILE).",
            reading=reading,
        ) from None


def check_store(path: str | Path, *, label: str | None = None) -> Path:
    """The path check of an AnnData zarr store: a directory holding zarr metadata.

    Raises
    ------
    InputError
        ``input.unreadable``: missing, a file (a zipped store?), a directory without
        ``zarr.json`` / ``.zgroup``.
    """
    p = Path(path)
    label = label or str(p)
    if not p.exists():
        raise path_error(label, "zarr store does not exist", "Check the path.")
    if not p.is_dir():
        raise path_error(
            label,
            "is a file, not a zarr store (an AnnData zarr store is a directory)",
            "Pass the directory adata.write_zarr() wrote; unzip a zipped store first "
            "(unzip store.zarr.zip -d store.zarr), or write the data as h5ad.",
        )
    if not is_zarr_store(p):
        raise path_error(
            label,
            "is a directory but not a zarr store (it holds no zarr.json or .zgroup)",
            "Pass the directory adata.write_zarr() wrote (copy it whole), or the matrix "
            "file itself.",
        )
    return p


def is_zarr_store(p: Path) -> bool:
    return p.is_dir() and any((p / m).is_file() for m in ZARR_METADATA)


def is_zarr(path: str | os.PathLike) -> bool:
    """True for a ``.zarr`` path, or a directory holding zarr metadata (an unsuffixed store)."""
    p = Path(path)
    return _suffixes(p)[0] == ".zarr" or is_zarr_store(p)


def is_h5ad(path: str | os.PathLike) -> bool:
    return _suffixes(Path(path))[0] == ".h5ad"


#: h5ad files (and zarr stores, all files summed) and Parquet tables larger than this are
#: streamed from disk instead of loaded (read at each call: tests set it on this module).
BACKED_THRESHOLD_BYTES = 1 << 30


def stream_by_default(n_bytes: int) -> bool:
    """Whether an input of ``n_bytes`` is streamed from disk when ``backed=None``: above
    :data:`BACKED_THRESHOLD_BYTES` (read at each call, so it can be changed)."""
    return n_bytes > BACKED_THRESHOLD_BYTES


def file_sha256(path: str | Path, *, block_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, streamed (constant memory).

    A directory (a zarr store) gets a digest of its whole tree: SHA-256 over, for every file in
    the order of its relative POSIX path, the path, a NUL byte and the file's own SHA-256. The
    digest changes when any file is added, removed, renamed or edited, and does not depend on
    the order the file system lists the directory in.
    """
    if Path(path).is_dir():
        h = hashlib.sha256()
        for rel, file in tree_files(Path(path)):
            h.update(rel.encode() + b"\0" + bytes.fromhex(file_sha256(file, block_size=block_size)))
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_size):
            h.update(chunk)
    return h.hexdigest()


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """Every file under ``root`` as ``(relative POSIX path, path)``, sorted by relative path."""
    files = []
    for folder, _, names in os.walk(root):
        for n in names:
            file = Path(folder) / n
            files.append((file.relative_to(root).as_posix(), file))
    return sorted(files)


def tree_bytes(root: Path) -> int:
    return sum(file.stat().st_size for _, file in tree_files(root))


# --- text tables: header, delimiter -----------------------------------------------------------


@contextlib.contextmanager
def _open_text(path: Path, gz: bool | None = None) -> Iterator[_io.TextIOBase]:
    """The file as UTF-8 text (a BOM dropped); ``gz=None`` takes gzip from the name."""
    if gz is None:
        gz = _suffixes(path)[1]
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    with raw, _io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        yield fh


def _header_line(path: Path, gz: bool | None = None, label: str | None = None) -> tuple[str, int]:
    """The header line and the number of physical lines before it.

    Leading blank lines and ``#`` comment lines are skipped; a ``#`` line directly followed by a
    line with the same (non-zero) number of delimiters is the header itself (``#sample_id,...``).
    """
    label = label or str(path)
    gz = _suffixes(path)[1] if gz is None else gz
    comment: tuple[str, int] | None = None
    try:
        with _open_text(path, gz) as fh:
            for i, line in enumerate(fh):
                if "\x00" in line:
                    raise InputError(
                        f"{label}: holds NUL bytes: a binary file, not a text table",
                        path=label,
                        hint="Pass the table itself (CSV/TSV, Parquet or h5ad), not a binary file.",
                        check=UNREADABLE,
                    )
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                if text.startswith("#"):
                    comment = (text, i)
                    continue
                if comment is not None and _same_fields(comment[0], text):
                    return comment
                return text, i
    except (*READ_ERRORS, UnicodeDecodeError) as exc:
        raise read_error(label, exc, gz=gz) from None
    raise InputError(
        f"{label}: has no header line (only comments or blank lines)",
        path=label,
        hint="Add a header row naming the columns.",
    )


def _same_fields(a: str, b: str) -> bool:
    return any(a.count(d) == b.count(d) > 0 for d in _DELIMITERS)


def _delimiter(path: Path, header: str, label: str | None = None) -> str:
    label = label or str(path)
    suffix, _ = _suffixes(path)
    expected = _TABLE_SUFFIXES.get(suffix)
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if expected is not None and counts[expected] > 0:
        return expected
    if counts[best] == 0:
        if expected is None:
            return ","
        return expected  # a single-column table; the caller decides if that is acceptable
    if expected is not None and best != expected:
        raise InputError(
            f"{label}: the header has no {_name(expected)} but {counts[best]} {_name(best)}(s); "
            f"the file is {_name(best)}-delimited despite its '{suffix}' name",
            path=label,
            hint="Rename the file to match its delimiter (.tsv for tabs, .csv for commas) "
            "or convert it.",
        )
    return best


def _name(d: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}[d]


# --- the shared errors ------------------------------------------------------------------------

#: What reading a (possibly gzip) text file raises when it is truncated or corrupt.
READ_ERRORS = (OSError, EOFError, zlib.error)


def read_error(label: str, exc: BaseException, *, gz: bool) -> InputError:
    """The error for a text file that cannot be read to its end: not UTF-8, a truncated or
    corrupt gzip stream, or an I/O failure."""
    if isinstance(exc, UnicodeDecodeError):
        return not_utf8_error(label, exc)
    if gz:
        return InputError(
            f"{label}: cannot be decompressed ({type(exc).__name__}: {exc}); the gzip stream is "
            "truncated or corrupt",
            path=label,
            hint="Re-download or re-compress the file (gzip -t FILE tests it).",
            check=UNREADABLE,
        )
    return InputError(
        f"{label}: the file cannot be read ({type(exc).__name__}: {exc})",
        path=label,
        hint="Check that the file is complete and readable, or re-download it.",
        check=UNREADABLE,
    )


def not_utf8_error(label: str, exc: UnicodeDecodeError | None = None) -> InputError:
    """The error for text that is not UTF-8 (naming the first undecodable byte when known)."""
    byte = f" (byte 0x{exc.object[exc.start]:02x} cannot be decoded)" if exc is not None else ""
    return InputError(
        f"{label}: is not UTF-8 text{byte}",
        path=label,
        hint="Convert it with: iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        check=UNREADABLE,
    )


def refuse_duplicate_columns(columns: list[str], label: str) -> None:
    """Raise :class:`InputError` for repeated column names (pandas renames them silently)."""
    dupes = sorted(c for c, k in Counter(columns).items() if k > 1)
    if dupes:
        raise InputError(
            f"{label}: duplicate column names {dupes}; pandas would rename them silently "
            f"('{dupes[0]}.1') and a join could pick the wrong one",
            path=label,
            column=dupes[0],
            hint="Rename or drop the duplicated columns.",
        )


def ragged_rows_error(label: str, where: str) -> InputError:
    """The error for a delimited table whose rows have different numbers of fields."""
    return InputError(
        f"{label}: rows have inconsistent numbers of fields ({where}); "
        "mixed delimiters or unquoted separators in values",
        path=label,
        hint="Use one delimiter throughout and quote values that contain it.",
    )


def no_data_error(label: str) -> InputError:
    return InputError(f"{label}: file has no data", path=label, hint="Regenerate the file.")


def parquet_error(label: str, exc: Exception) -> InputError:
    """The error for a Parquet file pyarrow cannot read (it raises many exception types)."""
    return InputError(
        f"{label}: not a readable Parquet file ({type(exc).__name__}: {exc})",
        path=label,
        hint="Re-export the table with DataFrame.to_parquet().",
        check=UNREADABLE,
    )


def _check_file(path: str | Path) -> Path:
    """:func:`check_file`'s path (the name ``biodata_guard._pandera_dask`` imports)."""
    return check_file(path).path

"""What the command line's verbs share: exit codes, typed flag values, writing the reports.

(:mod:`biodata_guard.cli` and the ``split`` verb's :mod:`biodata_guard._cli_split` both read
it, so neither imports the other.)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from biodata_guard.errors import ConfigError
from biodata_guard.registry import Options, Param
from biodata_guard.report import write_report

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

_INT = re.compile(r"[+-]?\d+")


def _shown(raw: str) -> str:
    return raw if _INT.fullmatch(raw) or re.fullmatch(r"[+-]?[\d.eE+-]+", raw) else repr(raw)


def flag_value(p: Param, raw: Any, *, flag: str | None = None) -> Any:
    """The typed value of one flag, checked against its declaration.

    Raises
    ------
    ConfigError
        One line naming the flag as typed, the valid values and what was given, e.g.
        ``--seed must be an integer in [0, 4294967295]; got -1 instead``.

    Examples
    --------
    >>> from biodata_guard.registry import get_param
    >>> flag_value(get_param("alpha"), "0.05")
    0.05
    >>> flag_value(get_param("fail_on"), "warn")
    Traceback (most recent call last):
    ...
    biodata_guard.errors.ConfigError: --fail-on must be one of error, warning; got 'warn' \
instead (did you mean 'warning'?)
    """
    flag = flag or p.cli_flag
    if p.kind in ("strs", "paths", "choices"):
        return [_one_value(p, v, flag) for v in raw]
    return _one_value(p, raw, flag)


def _one_value(p: Param, raw: Any, flag: str) -> Any:
    if not isinstance(raw, str):  # --probe/--no-probe
        return raw
    value: Any = raw
    ok = bool(raw)
    if p.kind == "int":
        ok = bool(_INT.fullmatch(raw.strip()))
        value = int(raw) if ok else raw
    elif p.kind == "float":
        try:
            value = float(raw)
        except ValueError:
            ok = False
    if ok and p.valid is not None:
        ok = value in p.valid
    if ok:
        return value
    valid = p.valid.describe() if p.valid is not None else p.describe()
    if p.kind in ("strs", "paths", "choices") and p.valid is None:
        valid = "a non-empty string"
    near = ""
    if isinstance(p.valid, Options):
        close = difflib.get_close_matches(raw, p.valid.values, n=1, cutoff=0.5)
        near = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"{flag} must be {valid}; got {_shown(raw)} instead{near}", key=p.name)


def write_outputs(report: Any, formats: list[str], outs: list[str]) -> None:
    """Write each requested report; then, unless a text report went to stdout, the one-line
    verdict with the counts on stderr (a gate that writes only files still says why it
    failed)."""
    if not formats:
        formats = ["text"]
    if not outs:
        outs = ["-"] * len(formats)
    written = []
    for fmt, out in zip(formats, outs, strict=True):
        write_report(report, fmt, out)
        if out not in ("-", None):
            written.append(str(out))
    if not any(f == "text" and o in ("-", None) for f, o in zip(formats, outs, strict=True)):
        _verdict(report, written)


def _verdict(report: Any, written: Sequence[str]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    colour = "green" if report.ok else "red"
    where = f" -> {', '.join(written)}" if written else ""
    console.print(
        f"biodata_guard: [bold {colour}]{escape(report.verdict())}[/]{escape(where)}",
        soft_wrap=True,
    )

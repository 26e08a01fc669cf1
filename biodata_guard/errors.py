"""Exceptions for problems with the call or the input, never with the data.

The tree::

    GuardError                 base; also raised by Report.raise_for_errors() carrying the report
    ├── InputError             an input file or object cannot be read or is invalid (CLI exit 2);
    │                          also a ValueError
    └── ConfigError            the audit config or a parameter is invalid (CLI exit 2); also a
                               ValueError, so callers that catch ValueError keep working

Problems *in* the data are :class:`~biodata_guard.findings.Finding` objects, not exceptions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INVALID", "UNREADABLE", "ConfigError", "GuardError", "InputError"]

#: The finding ids an :class:`InputError` is reported under (declared as checks by ``io``).
UNREADABLE = "input.unreadable"
INVALID = "input.invalid"


class GuardError(Exception):
    """Base class of every biodata_guard exception.

    Parameters
    ----------
    message
        One sentence saying what is wrong.
    hint
        What to do about it, concretely.
    report
        The :class:`~biodata_guard.findings.Report` whose findings failed the gate, when raised by
        :meth:`Report.raise_for_errors`.
    """

    def __init__(self, message: str, *, hint: str = "", report: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.report = report

    def __str__(self) -> str:
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message


class InputError(GuardError, ValueError):
    """An input cannot be read or is not valid (missing, empty, corrupt, wrong shape ...).

    ``path`` names the file (or ``"<DataFrame>"`` for an in-memory object) and ``column`` the column
    at fault, when there is one. ``check`` is the finding id the CLI reports it under:
    :data:`UNREADABLE` (cannot be read at all) or :data:`INVALID` (read, but not valid).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        column: str | None = None,
        hint: str = "",
        check: str = INVALID,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.column = column
        self.check = check


class ConfigError(GuardError, ValueError):
    """The audit config, a CLI flag or a function parameter is invalid.

    ``key`` names the config key (``"thresholds.alpha"``); ``problems`` holds every problem found
    in one pass (each a ConfigError) when several were collected, like pandera's lazy validation.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        hint: str = "",
        problems: list[ConfigError] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.key = key
        self.problems = problems or [self]

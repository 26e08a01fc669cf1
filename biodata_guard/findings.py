"""The one result model: Finding, Severity and Report."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from biodata_guard._format import jsonable
from biodata_guard._version import __version__
from biodata_guard.errors import GuardError
from biodata_guard.report import html

__all__ = ["Finding", "Report", "Severity", "not_checked"]


class Severity(StrEnum):
    """How bad a finding is. Ordered: ``INFO < WARNING < ERROR``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        return self.rank >= Severity(other).rank

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        return self.rank > Severity(other).rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        return self.rank <= Severity(other).rank

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        return self.rank < Severity(other).rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Finding:
    """One problem (or one informative measurement) found in the data.

    Parameters
    ----------
    check
        Stable dotted id from the vocabulary, e.g. ``"leakage.group_overlap"``.
    severity
        ``"error"``, ``"warning"`` or ``"info"``.
    message
        One sentence with the numbers, naming the input and the column.
    evidence
        The figures behind the verdict (counts, fractions, p-values ...), JSON-serialisable.
    subjects
        The first offending ids / rows / columns (the true total is in ``evidence``).
    hint
        What to do about it: the exact call or flag that fixes it.
    input
        The name of the input (file name or role such as ``"labels"``) the finding is about.
    waiver
        Set when a waiver accepted the finding on purpose: ``{"reason": ..., "rules": [...]}``
        (see :func:`biodata_guard.waivers.apply_waivers`). A waived finding stays in every report
        and does not fail the gate.
    """

    check: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    subjects: list[Any] = field(default_factory=list)
    hint: str = ""
    input: str = ""
    waiver: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Normalise once here so every producer emits the same JSON-safe shapes.
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "evidence", jsonable(dict(self.evidence)))
        object.__setattr__(self, "subjects", jsonable(list(self.subjects)))
        if self.waiver is not None:
            object.__setattr__(self, "waiver", jsonable(dict(self.waiver)))

    @property
    def group(self) -> str:
        """The check group, the part of ``check`` before the dot (``"leakage"``)."""
        return self.check.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["severity"] = str(self.severity)
        if self.waiver is None:
            del d["waiver"]  # only waived findings carry the key: other reports stay unchanged
        return d


def not_checked(check_id: str, reason: str, *, input: str = "", **evidence: Any) -> Finding:
    """The uniform ``info`` finding of a check that could not run, and why.

    Silence means clean; a check that lacks what it needs says so with this finding.

    Examples
    --------
    >>> not_checked("alignment.sex_discordance", "3 samples, needs >= 4", n_samples=3).message
    'alignment.sex_discordance: not checked: 3 samples, needs >= 4'
    """
    return Finding(
        check_id,
        Severity.INFO,
        f"{check_id}: not checked: {reason}",
        evidence={"not_checked": True, "reason": reason, **evidence},
        input=input,
    )


def _sort_key(f: Finding) -> tuple:
    return (-f.severity.rank, f.check, f.input, f.message)


@dataclass
class Report:
    """All findings of one audit, with what was audited and how.

    ``ok`` is true when no finding is at or above ``fail_on``. The JSON form is deterministic:
    the same inputs and seed give byte-identical output apart from ``elapsed_seconds``.

    Examples
    --------
    >>> r = Report(findings=[Finding("balance.tiny_class", "warning", "labels, label: ...")])
    >>> r.ok, r.counts()["warning"]
    (True, 1)
    >>> r.fail_on = "warning"; r.ok
    False
    """

    findings: list[Finding] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    fail_on: Severity = Severity.ERROR
    seed: int = 0
    version: str = ""
    elapsed_seconds: float = 0.0
    #: Data for report plots (per check group), kept out of the findings; JSON-safe.
    artifacts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fail_on = Severity(self.fail_on)
        self.findings = sorted(self.findings, key=_sort_key)
        if not self.version:
            self.version = __version__

    @property
    def ok(self) -> bool:
        """True when no finding is at or above ``fail_on`` (waived findings do not count)."""
        return not self.failing()

    def failing(self) -> list[Finding]:
        """The findings at or above ``fail_on`` that no waiver accepted."""
        return [f for f in self.findings if f.severity >= self.fail_on and f.waiver is None]

    def waived(self) -> list[Finding]:
        """The findings a waiver accepted (they stay in the report, marked waived)."""
        return [f for f in self.findings if f.waiver is not None]

    def verdict(self) -> str:
        """The one-line verdict with the counts, as the CLI prints it on stderr.

        Examples
        --------
        >>> Report(findings=[Finding("balance.imbalance", "warning", "m")]).verdict()
        'PASS (0 error, 1 warning, 0 info; gate fails on error)'
        """
        c = self.counts()
        waived = f"; {len(self.waived())} waived" if self.waived() else ""
        return (
            f"{'PASS' if self.ok else 'FAIL'} ({c['error']} error, {c['warning']} warning, "
            f"{c['info']} info{waived}; gate fails on {self.fail_on})"
        )

    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        out = {str(s): 0 for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
        for f in self.findings:
            out[str(f.severity)] += 1
        return out

    def by_check(self, check: str) -> list[Finding]:
        """Findings whose id equals ``check`` or, for a group name, starts with ``check + '.'``."""
        return [f for f in self.findings if f.check == check or f.check.startswith(check + ".")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "biodata_guard",
            "version": self.version,
            "ok": self.ok,
            "fail_on": str(self.fail_on),
            "seed": self.seed,
            "counts": self.counts(),
            "waived": len(self.waived()),
            "inputs": jsonable(self.inputs),
            "config": jsonable(self.config),
            "findings": [f.to_dict() for f in self.findings],
            "artifacts": jsonable(self.artifacts),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def to_json(self, *, indent: int = 2) -> str:
        """Deterministic JSON (sorted keys, stable finding order)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, ensure_ascii=False) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML report (inline CSS, embedded plots)."""
        return html.render(self)

    def raise_for_errors(self) -> Report:
        """Raise :class:`GuardError` carrying this report when the gate fails; else return self."""
        bad = self.failing()
        if bad:
            first = bad[0]
            raise GuardError(
                f"{len(bad)} finding(s) at or above '{self.fail_on}': {first.message}",
                hint=first.hint,
                report=self,
            )
        return self

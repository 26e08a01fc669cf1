"""Waivers: a finding accepted on purpose, with its reason; a waiver that matches nothing."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from biodata_guard import registry
from biodata_guard._format import MAX_SUBJECTS
from biodata_guard.errors import ConfigError
from biodata_guard.findings import Finding, Severity

STALE = registry.declare_check(
    "waivers.stale",
    group="waivers",
    severities=("warning",),
    doc="A waiver that matched no finding of a check that ran (remove it: stale waivers rot).",
)

#: The reason recorded for a waiver given on the command line (``--waive``) or as a string.
CLI_REASON = "waived with --waive (no reason given)"
#: The keys of one waiver in a config file.
_KEYS = ("check", "subject", "reason")


@dataclass(frozen=True)
class Waiver:
    """One waiver: a check id, optionally one subject (a sample, group or input name), a reason.

    Examples
    --------
    >>> w = Waiver("leakage.group_overlap", "P0007", "sibling pair, kept together on purpose")
    >>> w.rule
    'leakage.group_overlap=P0007'
    """

    check: str
    subject: str | None
    reason: str

    @property
    def rule(self) -> str:
        """``CHECK_ID`` or ``CHECK_ID=SUBJECT``, as ``--waive`` takes it."""
        return self.check if self.subject is None else f"{self.check}={self.subject}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check}
        if self.subject is not None:
            out["subject"] = self.subject
        out["reason"] = self.reason
        return out


def parse_waivers(value: Any, *, where: str = "") -> tuple[list[dict], list[ConfigError]]:
    """Waivers as plain dicts (``check``, optional ``subject``, ``reason``), and every problem.

    ``value`` is a list whose items are ``"CHECK_ID"`` / ``"CHECK_ID=SUBJECT"`` strings (the
    ``--waive`` form; the reason then says so) or mappings with ``check``, optional ``subject``
    and a required ``reason`` (the config file's form). A check id must be declared.

    Examples
    --------
    >>> waivers, problems = parse_waivers(["leakage.group_overlap=P1"])
    >>> waivers[0]["subject"], problems
    ('P1', [])
    >>> _, problems = parse_waivers([{"check": "leakage.group_overlap"}], where="a.yaml: ")
    >>> print(problems[0].message)
    a.yaml: waivers[1] (leakage.group_overlap) has no reason; every waiver in a config needs one
    """
    items = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(items, (list, tuple)):
        problem = ConfigError(
            f"{where}waivers must be a list of waivers; got {type(value).__name__} instead",
            key="waivers",
            hint="Write 'waivers:' followed by '- check: ID' / 'reason: ...' items.",
        )
        return [], [problem]
    out: list[dict] = []
    problems: list[ConfigError] = []
    for i, item in enumerate(items, start=1):
        waiver, found = _one(item, f"{where}waivers[{i}]")
        problems += found
        if waiver is not None:
            out.append(waiver.to_dict())
    return out, problems


def _one(item: Any, where: str) -> tuple[Waiver | None, list[ConfigError]]:
    if isinstance(item, str):
        check, _, subject = item.partition("=")
        waiver = Waiver(check.strip(), subject.strip() or None, CLI_REASON)
        return (waiver, []) if _known(waiver.check) else (None, [_unknown_check(waiver, where)])
    if not isinstance(item, Mapping):
        return None, [
            ConfigError(
                f"{where} must be a mapping with check and reason; got {type(item).__name__}",
                key="waivers",
                hint="e.g. '- check: leakage.near_duplicates', 'subject: S0042', "
                "'reason: technical replicate kept on purpose'.",
            )
        ]
    problems = [_unknown_key(str(k), where) for k in item if k not in _KEYS]
    check = item.get("check")
    if not isinstance(check, str) or not check:
        problems.append(
            ConfigError(f"{where} has no check id", key="waivers", hint="Add 'check: <check id>'.")
        )
        return None, problems
    reason = item.get("reason")
    subject = item.get("subject")
    waiver = Waiver(check, None if subject is None else str(subject), str(reason or "").strip())
    if not _known(check):
        problems.append(_unknown_check(waiver, where))
    if not waiver.reason:
        problems.append(
            ConfigError(
                f"{where} ({waiver.rule}) has no reason; every waiver in a config needs one",
                key="waivers",
                hint="Add 'reason: ...' saying why the finding is accepted (and until when).",
            )
        )
    return (waiver if not problems else None), problems


def _known(check: str) -> bool:
    return check in {c.id for c in registry.checks()}


def _unknown_check(waiver: Waiver, where: str) -> ConfigError:
    ids = [c.id for c in registry.checks()]
    close = difflib.get_close_matches(waiver.check, ids, n=1, cutoff=0.6)
    suggestion = f"Did you mean '{close[0]}'? " if close else ""
    return ConfigError(
        f"{where} ({waiver.rule}): no check has the id '{waiver.check}'",
        key="waivers",
        hint=f"{suggestion}List the ids with: python -m biodata_guard checks",
    )


def _unknown_key(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.5)
    return ConfigError(
        f"{where}: unknown key '{key}'",
        key="waivers",
        hint=f"Did you mean '{close[0]}'?" if close else f"Valid: {', '.join(_KEYS)}.",
    )


def _subject_texts(subject: Any) -> set[str]:
    """The names a listed subject answers to: itself, or each member of a pair / record."""
    if isinstance(subject, (list, tuple)):
        return {str(s) for s in subject}
    if isinstance(subject, Mapping):
        return {str(v) for v in subject.values()}
    return {str(subject)}


def _covered(f: Finding, subjects: set[str]) -> bool:
    """Whether the waived ``subjects`` cover ``f``: its input, or every subject it lists (a
    finding whose list was cut at the limit cannot be covered subject by subject)."""
    if f.input and f.input in subjects:
        return True
    if not f.subjects or len(f.subjects) >= MAX_SUBJECTS:
        return False
    return all(_subject_texts(s) & subjects for s in f.subjects)


def _matching(f: Finding, waivers: list[Waiver]) -> tuple[list[Waiver], bool]:
    """The waivers of ``f``'s check that touch it, and whether they waive it."""
    mine = [w for w in waivers if w.check == f.check]
    whole = [w for w in mine if w.subject is None]
    if whole:
        return whole, True
    named = {w.subject for w in mine if w.subject is not None}
    touching = [
        w
        for w in mine
        if w.subject == f.input or any(w.subject in _subject_texts(s) for s in f.subjects)
    ]
    return touching, bool(touching) and _covered(f, named)  # type: ignore[arg-type]


def _waived(f: Finding, used: list[Waiver]) -> Finding:
    reasons = list(dict.fromkeys(w.reason for w in used))
    record = {"reason": "; ".join(reasons), "rules": [w.rule for w in used]}
    return dataclasses.replace(f, waiver=record)


def stale_finding(waiver: Waiver) -> Finding:
    """The ``waivers.stale`` warning of a waiver that matched nothing."""
    return Finding(
        STALE,
        Severity.WARNING,
        f"waiver {waiver.rule}: matched no finding (reason given: {waiver.reason})",
        evidence=waiver.to_dict(),
        subjects=[waiver.rule],
        hint=f"Remove the waiver {waiver.rule} (--waive or the config's waivers: list): the "
        "finding it accepted is gone, and a stale waiver would hide its return.",
    )


def apply_waivers(
    findings: Iterable[Finding], waivers: Iterable[Any], *, groups_run: Iterable[str]
) -> list[Finding]:
    """``findings`` with the waived ones marked (``Finding.waiver``: reason and rules), plus a
    ``waivers.stale`` warning for each waiver that matched nothing in a group that ran.

    A waiver ``CHECK_ID`` waives every finding of that check; ``CHECK_ID=SUBJECT`` waives a
    finding whose input is SUBJECT, or all of whose listed subjects are waived (a pair of
    samples counts as waived when either is). A waiver that touches only some of a finding's
    subjects leaves it failing (and is not stale).

    Examples
    --------
    >>> f = Finding("leakage.group_overlap", "error", "P1 in train and test", subjects=["P1"])
    >>> out = apply_waivers([f], ["leakage.group_overlap=P1", "balance.imbalance"],
    ...                     groups_run=["leakage", "balance"])
    >>> [(g.check, g.waiver is not None) for g in out]
    [('leakage.group_overlap', True), ('waivers.stale', False)]
    """
    given, problems = parse_waivers(list(waivers))
    if problems:
        raise (
            problems[0]
            if len(problems) == 1
            else ConfigError(
                "; ".join(p.message for p in problems), key="waivers", problems=problems
            )
        )
    rules = [Waiver(w["check"], w.get("subject"), w["reason"]) for w in given]
    used: set[Waiver] = set()
    out = []
    for f in findings:
        touching, waived = _matching(f, rules)
        used.update(touching)
        out.append(_waived(f, touching) if waived else f)
    ran = set(groups_run)
    for w in rules:
        if w not in used and registry.get_check(w.check).group in ran:
            out.append(stale_finding(w))
    return out

"""The check registry: every check, group and parameter declared once, next to its code.

A concern package (``biodata_guard/leakage/`` ...) declares, with plain greppable calls:

- its group (:func:`declare_group`): title, description, the function that runs the group's
  checks on an audit context, the function that lists its shared-pass statistics;
- each check (:func:`declare_check`): id, severities, what it needs, its parameters, a doc line;
- each parameter (:func:`declare_param`): default, valid range, help text.

Everything else reads these declarations: the audit's plan and its ``not checked`` findings, the
config schema and the CLI flags, the pandera check methods, the report sections and the README's
check table. :func:`load` imports the concern packages so that their declarations are made; it is
idempotent and nothing is declared on ``import biodata_guard.registry`` itself.

Examples
--------
>>> from biodata_guard import registry
>>> spec = registry.get_check("leakage.group_overlap")
>>> spec.group, spec.needs
('leakage', ('split', 'groups'))
>>> registry.get_param("alpha").valid.describe()
'a number in (0, 1)'
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biodata_guard.errors import ConfigError

__all__ = [
    "NEEDS",
    "CheckSpec",
    "GroupSpec",
    "Interval",
    "Need",
    "Options",
    "PanderaMethod",
    "Param",
    "checks",
    "declare_check",
    "declare_group",
    "declare_need",
    "declare_param",
    "get_check",
    "get_group",
    "get_param",
    "group_of",
    "groups",
    "load",
    "markdown_table",
    "missing_needs",
    "pandera_methods",
    "params",
]

#: Subpackages that are not concern packages (no checks of their own to declare).
_NOT_CONCERNS = frozenset({"report", "data"})


@dataclass(frozen=True)
class Interval:
    """The numbers a parameter may take, like scikit-learn's ``Interval``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; ``None`` bounds are open.

    Examples
    --------
    >>> Interval(int, 2, None).describe()
    'an integer >= 2'
    >>> 0.5 in Interval(float, 0, 1, closed="neither"), 1.0 in Interval(float, 0, 1, closed="left")
    (True, False)
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type is int and not float(value).is_integer():
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        lo_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        hi_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        return lo_ok and hi_ok

    def describe(self) -> str:
        noun = "an integer" if self.type is int else "a number"
        lo_op = ">=" if self.closed in ("both", "left") else ">"
        hi_op = "<=" if self.closed in ("both", "right") else "<"
        if self.left is not None and self.right is not None:
            lb = "[" if self.closed in ("both", "left") else "("
            rb = "]" if self.closed in ("both", "right") else ")"
            return f"{noun} in {lb}{_num(self.left)}, {_num(self.right)}{rb}"
        if self.left is not None:
            return f"{noun} {lo_op} {_num(self.left)}"
        if self.right is not None:
            return f"{noun} {hi_op} {_num(self.right)}"
        return noun

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.__name__,
            "left": self.left,
            "right": self.right,
            "closed": self.closed,
        }


@dataclass(frozen=True)
class Options:
    """A parameter that takes one of a fixed set of strings."""

    values: tuple[str, ...]

    def __contains__(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"options": list(self.values)}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


#: The severities a check may emit (``findings.Severity`` values), mildest first.
SEVERITIES = ("info", "warning", "error")

#: The kinds of parameter values, as YAML and the CLI read them.
KINDS = ("int", "float", "bool", "str", "strs", "path", "paths", "choice", "choices")


@dataclass(frozen=True)
class Param:
    """One parameter: a config key, a CLI flag and a keyword argument, declared once.

    ``name`` is the attribute of :class:`~biodata_guard.config.AuditConfig` (and the keyword of
    :func:`~biodata_guard.audit`); ``section`` / ``key`` place it in the YAML config; ``flag``
    is the CLI flag (default ``--name-with-dashes``).
    """

    name: str
    default: Any
    kind: str
    help: str
    section: str = "thresholds"
    key: str | None = None
    valid: Interval | Options | None = None
    flag: str | None = None

    @property
    def yaml_key(self) -> str:
        return self.key or self.name

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """What a valid value is, for error messages."""
        base = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a non-empty string",
            "path": "a non-empty string (a path)",
            "strs": "a string or a list of strings",
            "paths": "a path or a list of paths",
            "choice": "a string",
            "choices": "a list of strings",
        }[self.kind]
        if self.valid is None:
            return base
        if self.kind in ("strs", "paths", "choices"):
            return f"a list of {self.valid.describe()}"
        return self.valid.describe()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "section": self.section,
            "key": self.yaml_key,
            "flag": self.cli_flag,
            "kind": self.kind,
            "default": self.default,
            "valid": None if self.valid is None else self.valid.to_dict(),
            "help": self.help,
        }


@dataclass(frozen=True)
class Need:
    """An input a check cannot run without, how to give it, and how to tell it was given."""

    name: str
    says: str  # "needs --split-col" completes the sentence
    present: Callable[[Any], bool]


def _column(attr: str) -> Callable[[Any], bool]:
    return lambda ctx: ctx.column(attr) is not None


def _samples(ctx: Any) -> bool:
    return ctx.samples is not None


#: The needs a check may declare, each with its test on an :class:`AuditContext` (a concern adds
#: its own with :func:`declare_need`).
NEEDS: dict[str, Need] = {
    n.name: n
    for n in (
        Need("features", "a feature matrix (--features)", lambda ctx: bool(ctx.features)),
        Need(
            "two_features",
            "two or more feature matrices (--features twice)",
            lambda ctx: len(ctx.features) >= 2,
        ),
        Need("samples", "a sample table (--metadata or --labels)", _samples),
        Need(
            "ids",
            "two inputs with sample ids to compare (--features with --labels / --metadata, or "
            "--labels with --metadata)",
            lambda ctx: len(ctx.tables) + min(len(ctx.features), 2) >= 2,
        ),
        Need("labels", "a label column (--label-col)", _column("label_col")),
        Need("split", "a split column (--split-col)", _column("split_col")),
        Need(
            "groups",
            "group columns (--group-col)",
            lambda ctx: bool(ctx.config.group_cols) and ctx.samples is not None,
        ),
        Need("batch", "a batch column (--batch-col)", _column("batch_col")),
        Need("replicates", "a replicate-group column (--replicate-col)", _column("replicate_col")),
        Need("sex", "a reported-sex column (--sex-col)", _column("sex_col")),
        Need(
            "expected_build",
            "an expected build (--expected-build)",
            lambda ctx: ctx.config.expected_build is not None,
        ),
        Need(
            "expected_units",
            "expected units (--expected-units)",
            lambda ctx: ctx.config.expected_units is not None,
        ),
        Need(
            "reported_score",
            "a reported model score (--reported-score)",
            lambda ctx: ctx.config.reported_score is not None,
        ),
        Need("probe", "the probe enabled (drop --no-probe)", lambda ctx: bool(ctx.config.probe)),
    )
}


@dataclass(frozen=True)
class PanderaMethod:
    """A pandera check method a check also offers (``pa.Check.<fn.__name__>(...)``).

    ``statistics`` are the keyword arguments pandera serialises; ``kind`` is ``"frame"`` for a
    DataFrame-level check or ``"column"`` for a Column-level one. ``element_wise``: the verdict
    on a row depends on that row alone (the Dask engine checks such methods per partition);
    ``reads``: for a frame-level method, the statistics that name the columns it reads (the Dask
    engine gathers only those).
    """

    fn: Callable[..., Any]
    statistics: tuple[str, ...] = ()
    kind: str = "column"
    element_wise: bool = False
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckSpec:
    """One check: its stable id, its group, what it may emit, needs and reads, and its doc line."""

    id: str
    group: str
    severities: tuple[str, ...]
    doc: str
    needs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    pandera: PanderaMethod | None = None
    module: str = ""  # where it is declared (and implemented)
    run: Callable[[Any], list[Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "module": self.module,
            "group": self.group,
            "severities": list(self.severities),
            "needs": list(self.needs),
            "params": [get_param(p).to_dict() for p in self.params],
            "doc": self.doc,
            "pandera": None if self.pandera is None else f"pa.Check.{self.pandera.fn.__name__}",
        }


@dataclass(frozen=True)
class GroupSpec:
    """A check group, the package of the same name.

    ``run(ctx) -> list[Finding]`` runs the group's checks on an audit context (``None`` for groups
    whose findings other code emits, such as ``io``'s ``input.*``); ``shared_pass(ctx, fi)``
    lists the streaming statistics the group reads from the one shared pass over each matrix.
    ``prefixes`` are the first parts of the group's check ids when they differ from its name
    (the ``probe`` group emits ``batch.*`` and ``probe.*``).
    """

    name: str
    title: str
    description: str
    order: int
    run: Callable[[Any], list[Any]] | None = None
    shared_pass: Callable[[Any, Any], dict] | None = None
    prefixes: tuple[str, ...] = ()

    @property
    def id_prefixes(self) -> tuple[str, ...]:
        return self.prefixes or (self.name,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "order": self.order,
            "id_prefixes": list(self.id_prefixes),
            "shared_pass": self.shared_pass is not None,
        }


_PARAMS: dict[str, Param] = {}
_CHECKS: dict[str, CheckSpec] = {}
_GROUPS: dict[str, GroupSpec] = {}
_LOADED = False


def declare_param(
    name: str,
    default: Any,
    *,
    kind: str,
    help: str,
    valid: Interval | Options | None = None,
    section: str = "thresholds",
    key: str | None = None,
    flag: str | None = None,
) -> Param:
    """Declare a parameter (idempotent for an identical declaration).

    Raises
    ------
    ValueError
        A different declaration under the same name, an unknown ``kind``, or a default outside
        ``valid``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r} instead")
    p = Param(name, default, kind, help, section, key, valid, flag)
    if default is not None and kind in ("int", "float", "choice") and valid is not None:
        if default not in valid:
            raise ValueError(f"{name}: default {default!r} is not {valid.describe()}")
    return _put(_PARAMS, name, p, "parameter")


def declare_check(
    id: str,
    *,
    group: str,
    severities: Iterable[str],
    doc: str,
    needs: Iterable[str] = (),
    params: Iterable[str] = (),
    pandera: PanderaMethod | None = None,
    run: Callable[[Any], list[Any]] | None = None,
) -> str:
    """Declare a check and return its id (the module keeps it as its constant).

    Call it once, in the module that implements the check. ``run(ctx)``, when given, runs the
    check on an audit context (the audit calls it after the group's own ``run`` when the
    check's needs are met): a new check is then one module, with no edit elsewhere::

        TINY_CLASS = declare_check(
            "balance.tiny_class",
            group="balance",
            severities=("warning", "error"),
            needs=("labels",),
            params=("min_class_size", "n_folds"),
            doc="Classes with fewer samples than the folds planned (cannot be stratified).",
        )

    Examples
    --------
    >>> spec = get_check("balance.tiny_class")
    >>> spec.module, spec.severities
    ('biodata_guard.balance._classes', ('warning', 'error'))
    """
    needs = tuple(needs)
    severities = tuple(str(s) for s in severities)
    if not severities or not set(severities) <= set(SEVERITIES):
        raise ValueError(f"{id}: severities must be among {SEVERITIES}; got {severities}")
    spec = CheckSpec(
        id,
        group,
        severities,
        doc,
        needs,
        tuple(params),
        pandera,
        sys._getframe(1).f_globals.get("__name__", ""),
        run,
    )
    _put(_CHECKS, id, spec, "check")
    return id


def declare_need(name: str, *, says: str, present: Callable[[Any], bool]) -> Need:
    """Declare a need that only a concern can test (``build`` declares ``coords``: it knows
    which AnnData ``.var`` columns are coordinates)."""
    return _put(NEEDS, name, Need(name, says, present), "need")


def declare_group(
    name: str,
    *,
    title: str,
    description: str,
    order: int,
    run: Callable[[Any], list[Any]] | None = None,
    shared_pass: Callable[[Any, Any], dict] | None = None,
    prefixes: Iterable[str] = (),
) -> GroupSpec:
    """Declare a check group (the package of the same name)."""
    spec = GroupSpec(name, title, description, order, run, shared_pass, tuple(prefixes))
    return _put(_GROUPS, name, spec, "group")


def _put(table: dict, key: str, value: Any, what: str) -> Any:
    old = table.get(key)
    if old is not None and old != value:
        raise ValueError(f"{what} {key!r} is declared twice, differently")
    table[key] = value
    return value


def load() -> None:
    """Import every concern package so its declarations are made (idempotent)."""
    global _LOADED
    if _LOADED:
        return
    here = [str(Path(__file__).parent)]
    for info in sorted(pkgutil.iter_modules(here), key=lambda i: i.name):
        if info.ispkg and not info.name.startswith("_") and info.name not in _NOT_CONCERNS:
            package = importlib.import_module(f"biodata_guard.{info.name}")
            for sub in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
                importlib.import_module(sub.name)  # a new check module needs no import line
    _LOADED = True
    for spec in _CHECKS.values():
        missing = [p for p in spec.params if p not in _PARAMS]
        missing += [n for n in spec.needs if n not in NEEDS]
        if spec.group not in _GROUPS or missing:
            raise ValueError(
                f"{spec.id}: undeclared group {spec.group!r} or params/needs {missing}"
            )


def checks(group: str | None = None) -> list[CheckSpec]:
    """Every declared check (of one group), in group order then id order."""
    load()
    rank = {g.name: g.order for g in _GROUPS.values()}
    out = [s for s in _CHECKS.values() if group is None or s.group == group]
    return sorted(out, key=lambda s: (rank.get(s.group, 99), s.id))


def groups() -> list[GroupSpec]:
    """Every declared group, in the order the audit runs them."""
    load()
    return sorted(_GROUPS.values(), key=lambda g: (g.order, g.name))


def params() -> list[Param]:
    """Every declared parameter, in declaration order."""
    load()
    return list(_PARAMS.values())


def get_check(check_id: str) -> CheckSpec:
    """The declaration of ``check_id``; ``KeyError`` for an undeclared id."""
    load()
    return _CHECKS[check_id]


def get_group(name: str) -> GroupSpec:
    load()
    return _GROUPS[name]


def get_param(name: str) -> Param:
    load()
    return _PARAMS[name]


def group_of(check_id: str) -> GroupSpec | None:
    """The group a check id belongs to (by declaration, else by its prefix), or None."""
    load()
    spec = _CHECKS.get(check_id)
    if spec is not None:
        return _GROUPS[spec.group]
    prefix = check_id.split(".", 1)[0]
    return next((g for g in _GROUPS.values() if prefix in g.id_prefixes), None)


def missing_needs(spec: CheckSpec, ctx: Any) -> list[Need]:
    """The declared needs of ``spec`` that ``ctx`` does not satisfy."""
    return [NEEDS[n] for n in spec.needs if not NEEDS[n].present(ctx)]


def coerce(p: Param, value: Any, *, where: str) -> Any:
    """``value`` checked against ``p`` (kind and range) and normalised; a ConfigError if not.

    The message names the config key and the CLI flag, the value, and the valid range.
    """
    ok, out = _coerce_kind(p, value)
    if ok and p.valid is not None and out is not None:
        items = out if isinstance(out, list) else [out]
        ok = all(v in p.valid for v in items)
    if not ok:
        raise ConfigError(
            f"{where}{p.section}.{p.yaml_key} ({p.cli_flag}) must be {p.describe()}; "
            f"got {value!r} instead",
            key=f"{p.section}.{p.yaml_key}",
            hint=_suggest_value(p, value),
        )
    return out


def _coerce_kind(p: Param, value: Any) -> tuple[bool, Any]:
    if p.kind in ("strs", "paths", "choices"):
        items = [value] if isinstance(value, str) else value
        ok = isinstance(items, (list, tuple)) and all(isinstance(v, str) for v in items)
        return ok, list(items) if ok else None
    if p.kind in ("str", "path", "choice"):
        return isinstance(value, str) and bool(value), value
    if p.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and value.is_integer():
            return False, value
        return ok, value
    if p.kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, bool), value  # bool


def _suggest_value(p: Param, value: Any) -> str:
    import difflib

    if isinstance(p.valid, Options) and isinstance(value, str):
        close = difflib.get_close_matches(value, p.valid.values, n=1, cutoff=0.5)
        if close:
            return f"Did you mean '{close[0]}'? ({p.cli_flag} {close[0]})"
    return f"Set {p.section}.{p.yaml_key} (or {p.cli_flag}) to {p.describe()}."


def pandera_methods() -> dict[Callable[..., Any], PanderaMethod]:
    """The pandera check methods the checks offer, by their function."""
    return {s.pandera.fn: s.pandera for s in checks() if s.pandera is not None}


def markdown_table() -> str:
    """The README's check table (generated from the declarations; a test keeps them equal)."""
    rows = ["| check id | group | severities | needs | what it finds |", "|---|---|---|---|---|"]
    for s in checks():
        needs = ", ".join(s.needs) or "-"
        sev = " / ".join(s.severities)
        rows.append(f"| `{s.id}` | {s.group} | {sev} | {needs} | {s.doc} |")
    return "\n".join(rows)

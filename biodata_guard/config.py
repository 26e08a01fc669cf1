"""The audit config: YAML sections or CLI flags -> one validated ``AuditConfig``.

The fields are the registry's parameters: the config's own (inputs, columns, run, output) are
declared here; each check group declares its thresholds next to its code. Defaults and valid
ranges are written once, in those declarations, and checked in one place
(:func:`biodata_guard.registry.coerce`); every problem of a config is reported in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from biodata_guard.errors import ConfigError
from biodata_guard.registry import Interval, Options, Param, coerce, declare_param
from biodata_guard.registry import load as load_registry
from biodata_guard.registry import params as registry_params
from biodata_guard.report import FORMATS
from biodata_guard.waivers import parse_waivers

__all__ = ["ENGINES", "FORMATS", "AuditConfig", "fields", "load_config"]

ENGINES = ("memory", "dask")
ORIENTATIONS = ("auto", "samples_x_features", "features_x_samples")
_SEED_MAX = 2**32 - 1  # numpy and JAX seeds are unsigned 32-bit integers

_FEATURES_HELP = (
    "Feature matrix file(s): CSV/TSV(.gz), Parquet, h5ad or AnnData .zarr store. Repeatable; "
    "several are compared with each other (units, builds)."
)
for _p in (
    Param("features", [], "paths", _FEATURES_HELP, "inputs"),
    Param("labels", None, "path", "Label table (CSV/TSV/Parquet) with id + label.", "inputs"),
    Param(
        "metadata",
        None,
        "path",
        "Sample sheet (CSV/TSV/Parquet): id, split, groups, batch, sex, ...",
        "inputs",
    ),
    Param(
        "coords",
        [],
        "paths",
        "Coordinate-bearing file(s): VCF, BED, GTF/GFF, 23andMe-style, chrom/pos tables.",
        "inputs",
    ),
    Param(
        "gene_lengths",
        None,
        "path",
        "Gene lengths table (gene id + length in bp) for TPM/RPKM distinctions.",
        "inputs",
    ),
    Param(
        "layer", None, "str", "For h5ad / zarr features: the layer to audit (default .X).", "inputs"
    ),
    Param(
        "id_col",
        None,
        "str",
        "Sample id column in labels/metadata (default: 'sample_id' or the first column).",
        "columns",
        "id",
    ),
    Param("label_col", None, "str", "Label (target) column.", "columns", "label"),
    Param(
        "split_col",
        None,
        "str",
        "Split column (train/test/validation or folds).",
        "columns",
        "split",
    ),
    Param(
        "group_cols",
        [],
        "strs",
        "Group column(s) that must not cross splits: patient, donor, family ... Repeatable.",
        "columns",
        "groups",
        flag="--group-col",
    ),
    Param(
        "batch_col",
        None,
        "str",
        "Batch column (sequencing run, plate, site).",
        "columns",
        "batch",
    ),
    Param("replicate_col", None, "str", "Replicate-group column.", "columns", "replicate"),
    Param("sex_col", None, "str", "Reported sex column (for sex concordance).", "columns", "sex"),
    Param(
        "metadata_cols",
        [],
        "strs",
        "Metadata columns to screen for label shortcuts (default: all non-id metadata).",
        "columns",
        "metadata",
        flag="--metadata-col",
    ),
    Param(
        "orientation",
        "auto",
        "choice",
        "Feature matrix orientation (auto-detected from ids by default).",
        "expectations",
        valid=Options(ORIENTATIONS),
    ),
    Param(
        "n_folds",
        5,
        "int",
        "Folds planned for cross-validation (tiny classes, probe folds; default 5).",
        valid=Interval(int, 2, None),
    ),
    Param(
        "alpha",
        0.01,
        "float",
        "Significance level for tests (probe permutation p-value, chi-square; default 0.01).",
        valid=Interval(float, 0, 1, closed="neither"),
    ),
    Param(
        "seed",
        0,
        "int",
        "Seed for every random step (default 0).",
        "run",
        valid=Interval(int, 0, _SEED_MAX),
    ),
    Param(
        "fail_on",
        "error",
        "choice",
        "Lowest severity that fails the gate (default error).",
        "run",
        valid=Options(("error", "warning")),
    ),
    Param(
        "chunk_size",
        10_000,
        "int",
        "Rows per chunk when streaming large matrices (default 10000).",
        "run",
        valid=Interval(int, 1, None),
    ),
    Param(
        "stream",
        "auto",
        "choice",
        "Read h5ad, zarr and Parquet feature matrices from disk in row blocks: auto (default: "
        "files over 1 GiB), always (bounded memory for any size), or never (load into memory).",
        "run",
        valid=Options(("auto", "always", "never")),
    ),
    Param(
        "engine",
        "memory",
        "choice",
        "Where the feature matrices are streamed: in this process (memory, default) or on a "
        "Dask cluster (dask: pip install 'biodata_guard[dask]').",
        "run",
        valid=Options(ENGINES),
    ),
    Param(
        "scheduler",
        None,
        "str",
        "With --engine dask: address of a running dask.distributed scheduler "
        "(tcp://host:8786); default: a local cluster of 2 worker processes.",
        "run",
    ),
    Param(
        "formats",
        [],
        "choices",
        "Report format(s), paired with --out.",
        "output",
        valid=Options(FORMATS),
        flag="--format",
    ),
    Param("out", [], "strs", "Report path(s), paired with --format ('-' = stdout).", "output"),
    Param(
        "waivers",
        [],
        "strs",
        "Accept a finding on purpose: CHECK_ID, or CHECK_ID=SUBJECT for one sample, group or "
        "input (repeatable). It stays in every report, marked waived, and does not fail the "
        "gate; a waiver that matches nothing is reported (waivers.stale). In a config file: a "
        "'waivers:' list of {check, subject, reason}; the reason is required.",
        "waivers",
        "waivers",
        flag="--waive",
    ),
):
    declare_param(
        _p.name,
        _p.default,
        kind=_p.kind,
        help=_p.help,
        valid=_p.valid,
        section=_p.section,
        key=_p.key,
        flag=_p.flag,
    )


def fields() -> list[Param]:
    """Every config field: the config's own and every check group's parameters."""
    return registry_params()


def _by_name() -> dict[str, Param]:
    return {p.name: p for p in fields()}


def _by_section() -> dict[str, dict[str, Param]]:
    out: dict[str, dict[str, Param]] = {}
    for p in fields():
        out.setdefault(p.section, {})[p.yaml_key] = p
    return out


def _whole_section(p: Param) -> bool:
    """A parameter that is a whole section of the config file (``waivers:``, a list)."""
    return p.section == p.yaml_key


#: Parameters whose values are structured (not one of the registry's plain kinds): their parser
#: returns the normalised value and every problem found.
_PARSERS = {"waivers": parse_waivers}


class AuditConfig:
    """A validated audit configuration. Build it with :func:`load_config` or directly.

    Every field of :func:`fields` is an attribute (``cfg.alpha``); ``None`` means "not given".
    Paths are absolute after loading from a file (relative ones resolve against the config
    file's folder). All problems are collected before one :class:`ConfigError` is raised.

    Examples
    --------
    >>> AuditConfig(label_col="diagnosis").alpha
    0.01
    >>> try:
    ...     AuditConfig(alpha=5)
    ... except ConfigError as exc:
    ...     print(exc.message)
    config: thresholds.alpha (--alpha) must be a number in (0, 1); got 5 instead
    """

    def __init__(self, *, source: str | None = None, **values: Any) -> None:
        load_registry()
        known = _by_name()
        where = f"{source or 'config'}: "
        problems = [_unknown_option(k, where, known) for k in values if k not in known]
        resolved: dict[str, Any] = {}
        for name, p in known.items():
            value = values.get(name)
            if value is None:
                resolved[name] = list(p.default) if isinstance(p.default, list) else p.default
                continue
            if name in _PARSERS:
                resolved[name], found = _PARSERS[name](value, where=where)
                problems += found
                continue
            try:
                resolved[name] = coerce(p, value, where=where)
            except ConfigError as exc:
                problems.append(exc)
        object.__setattr__(self, "_values", resolved)
        object.__setattr__(self, "source", source)
        if not problems:
            problems += self._cross_field_problems(where)
        if problems:
            raise combine(problems)

    def _cross_field_problems(self, where: str) -> list[ConfigError]:
        out = []
        if len(self.formats) != len(self.out) and self.out:
            out.append(
                ConfigError(
                    f"{where}{len(self.formats)} format(s) but {len(self.out)} output path(s); "
                    "give one --out per --format",
                    key="output.out",
                    hint="e.g. --format json --out audit.json --format html --out audit.html",
                )
            )
        if self.scheduler is not None and self.engine != "dask":
            out.append(
                ConfigError(
                    f"{where}run.scheduler ({self.scheduler}) is used by the Dask engine only; "
                    f"got run.engine = {self.engine!r}",
                    key="run.scheduler",
                    hint="Add --engine dask (run.engine: dask), or drop --scheduler.",
                )
            )
        return out

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"AuditConfig has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AuditConfig is immutable; use cfg.replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuditConfig) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        given = {k: v for k, v in self._values.items() if v not in (None, [])}
        return f"AuditConfig({', '.join(f'{k}={v!r}' for k, v in given.items())})"

    def to_dict(self, *, include_output: bool = False) -> dict[str, Any]:
        """The config as it was used (for the report), in YAML section layout.

        The ``output`` section (where reports go) is left out unless asked for: it does not change
        what is audited, and leaving it out keeps reports of the same audit identical.
        """
        out: dict[str, dict[str, Any]] = {}
        for p in fields():
            if p.section == "output" and not include_output:
                continue
            value = self._values[p.name]
            if value in (None, []):
                continue
            if _whole_section(p):
                out[p.section] = value  # type: ignore[assignment]
            else:
                out.setdefault(p.section, {})[p.yaml_key] = value
        return out

    def replace(self, **changes: Any) -> AuditConfig:
        """A copy with ``changes`` applied (validated like a new config)."""
        return AuditConfig(source=self.source, **{**self._values, **changes})


def combine(problems: list[ConfigError]) -> ConfigError:
    """One ConfigError for one or several problems (each kept in ``problems``)."""
    if len(problems) == 1:
        return problems[0]
    lines = "; ".join(p.message for p in problems)
    return ConfigError(
        f"{len(problems)} problems: {lines}",
        key=problems[0].key,
        hint=" ".join(p.hint for p in problems if p.hint),
        problems=problems,
    )


def _unknown_option(key: str, where: str, known: dict[str, Param]) -> ConfigError:
    return ConfigError(
        f"{where}unknown audit option '{key}'",
        key=key,
        hint=_suggest(key, known),
    )


def _suggest(word: str, options: Iterable[str]) -> str:
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f"Did you mean '{close[0]}'?" if close else f"Valid: {', '.join(sorted(options))}."


def _home(key: str) -> Param | None:
    """The parameter ``key`` names, by config key, Python name or CLI flag (``label``,
    ``label_col``, ``label-col``), when it names one."""
    for p in fields():
        if key in (p.yaml_key, p.name, p.cli_flag.lstrip("-")):
            return p
    return None


def _misplaced(key: str, section: str | None, name: str) -> ConfigError:
    """A key that is not valid where it stands; says where it belongs when it is valid elsewhere."""
    p = _home(key)
    where = f"key '{section}.{key}'" if section else f"section '{key}'"
    if p is not None:
        return ConfigError(
            f"{name}: unknown {where}: '{key}' belongs under '{p.section}:' as '{p.yaml_key}'",
            key=f"{section}.{key}" if section else key,
            hint=f"Write it as '{p.section}:' followed by an indented '{p.yaml_key}: ...' line "
            f"(or pass {p.cli_flag}).",
        )
    options = _by_section().get(section, {}) if section else _by_section()
    return ConfigError(
        f"{name}: unknown {where}",
        key=f"{section}.{key}" if section else key,
        hint=_suggest(key, options),
    )


def _flat(moved: dict[str, tuple[Param, Any]], name: str) -> ConfigError:
    """One problem for a config written as flat option names, with the sectioned rewrite."""
    layout: dict[str, Any] = {}
    for p, value in moved.values():
        if _whole_section(p):
            layout[p.section] = value
        else:
            layout.setdefault(p.section, {})[p.yaml_key] = value
    rewrite = yaml.safe_dump(layout, sort_keys=False, default_flow_style=False).strip()
    keys = ", ".join(moved)
    return ConfigError(
        f"{name}: {len(moved)} option names at the top level ({keys}); the config file is "
        f"written in sections ({', '.join(_by_section())})",
        key=next(iter(moved)),
        hint="Write them in their sections, exactly:\n" + rewrite,
    )


def _place(body: Any, section: str, name: str, values: dict[str, Any]) -> list[ConfigError]:
    """Put the keys of one section into ``values``; the problems of keys that do not belong."""
    params = _by_section()[section]
    whole = params.get(section)
    if whole is not None and _whole_section(whole):
        values[whole.name] = body
        return _reasons_given(body, name) if whole.name == "waivers" else []
    if not isinstance(body, dict):
        return [
            ConfigError(
                f"{name}: section '{section}' must be a mapping; got {type(body).__name__}",
                key=str(section),
                hint=f"Write it as '{section}:' followed by indented 'key: value' lines.",
            )
        ]
    problems = []
    for key, value in body.items():
        p = params.get(key)
        if p is None:
            problems.append(_misplaced(str(key), section, name))
        else:
            values[p.name] = value
    return problems


def _reasons_given(body: Any, name: str) -> list[ConfigError]:
    """In a config file a waiver is a mapping with a reason (``--waive ID`` is the short form)."""
    items = body if isinstance(body, list) else []
    return [
        ConfigError(
            f"{name}: waivers[{i}] ({item}) is a bare id; in a config file each waiver is a "
            "mapping with check, optional subject, and reason",
            key="waivers",
            hint=f"Write it as '- check: {item.partition('=')[0]}'"
            + (f", 'subject: {item.partition('=')[2]}'" if "=" in item else "")
            + ", 'reason: <why this finding is accepted>'.",
        )
        for i, item in enumerate(items, start=1)
        if isinstance(item, str)
    ]


def _values_of(raw: dict, name: str) -> tuple[dict[str, Any], list[ConfigError]]:
    """Config values by field name, and every structural problem (unknown or misplaced keys).

    A key that belongs elsewhere (``features:`` at the top level) is reported with where it
    belongs, and its value is still checked (kind and range) in the same pass; two or more such
    keys at the top level (a flat config of option names) are one problem whose hint is the
    sectioned rewrite.
    """
    sections = _by_section()
    values: dict[str, Any] = {}
    problems: list[ConfigError] = []
    moved: dict[str, tuple[Param, Any]] = {}
    for section, body in raw.items():
        home = _home(str(section))
        if section in sections and not (
            home is not None and home.kind == "bool" and isinstance(body, bool)
        ):
            if body is not None:
                problems += _place(body, str(section), name, values)
            continue
        if home is None:
            problems.append(_misplaced(str(section), None, name))
            continue
        moved[str(section)] = (home, body)
    if len(moved) >= 2:
        problems.append(_flat(moved, name))
    else:
        problems += [_misplaced(key, None, name) for key in moved]
    for home, body in moved.values():
        problems += _check_value(home, body, name)
    return values, problems


def _check_value(p: Param, value: Any, name: str) -> list[ConfigError]:
    """The kind / range problem of a value found under the wrong key (checked all the same)."""
    if value is None:
        return []
    if p.name in _PARSERS:
        return _PARSERS[p.name](value, where=f"{name}: ")[1]
    try:
        coerce(p, value, where=f"{name}: ")
    except ConfigError as exc:
        return [exc]
    return []


def _read_yaml(path: Path) -> dict:
    name = str(path)
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory, not a config file", hint="Name the YAML file.")
    if not path.is_file():
        raise ConfigError(f"{name}: config file does not exist", hint="Check the --config path.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(
            f"{name}: uses a YAML tag that is refused ({exc.problem}); configs are loaded "
            "safely and never construct Python objects",
            hint="Remove the '!!' tag and write plain YAML values.",
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{name}: not valid YAML ({str(exc).splitlines()[0]})",
            hint="Fix the YAML syntax (indentation with spaces, 'key: value').",
        ) from None
    sections = ", ".join(_by_section())
    if raw is None:
        raise ConfigError(
            f"{name}: the config is empty (no sections, only blank or comment lines)",
            hint=f"Write at least the inputs section; sections are {sections}.",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{name}: the top level must be a mapping of sections; got {type(raw).__name__}",
            hint=f"Use sections: {sections}.",
        )
    return raw


def load_config(path: str | Path, **overrides: Any) -> AuditConfig:
    """Read and validate a YAML audit config.

    Relative paths are resolved against the config file's folder. ``overrides`` (e.g. from CLI
    flags) replace values from the file when they are not ``None`` / empty.

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid YAML, unknown sections or keys (with where a key
        belongs when it is valid elsewhere, or the nearest valid key), values of the wrong type
        or out of range: every problem at once, in ``ConfigError.problems``.
    """
    path = Path(path)
    name = str(path)
    load_registry()
    values, problems = _values_of(_read_yaml(path), name)
    base = path.resolve().parent
    for p in fields():
        value = values.get(p.name)
        if p.kind == "path" and isinstance(value, str):
            values[p.name] = _resolve(value, base)
        elif (p.kind == "paths" or p.name == "out") and value is not None:
            items = [value] if isinstance(value, str) else value
            if isinstance(items, list) and all(isinstance(i, str) for i in items):
                values[p.name] = [i if i == "-" else _resolve(i, base) for i in items]
    for attr, value in overrides.items():
        if value is not None and value != []:
            values[attr] = value
    try:
        cfg = AuditConfig(**values, source=name)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise combine(problems)
    return cfg


def _resolve(p: str, base: Path) -> str:
    q = Path(p).expanduser()
    return str(q if q.is_absolute() else (base / q))

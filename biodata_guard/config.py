"""The audit config: YAML sections or CLI flags -> one validated ``AuditConfig``."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from biodata_guard.errors import ConfigError

__all__ = ["FIELDS", "AuditConfig", "load_config"]

BUILDS = ("GRCh37", "GRCh38")
UNITS = ("counts", "cpm", "tpm", "rpkm", "fpkm", "normalized", "log", "scaled")
FORMATS = ("text", "json", "html", "multiqc", "junit")
ENGINES = ("memory", "dask")
ORIENTATIONS = ("auto", "samples_x_features", "features_x_samples")


@dataclass(frozen=True)
class Field:
    """One config field: where it sits in the YAML, its type, and its CLI flag."""

    section: str
    key: str
    attr: str
    kind: str  # "path", "paths", "str", "strs", "int", "float", "bool", "choice"
    help: str
    choices: tuple[str, ...] = ()


#: Every config field. YAML ``section: {key: value}`` and CLI ``--attr-with-dashes`` both map here.
FIELDS: tuple[Field, ...] = (
    Field(
        "inputs",
        "features",
        "features",
        "paths",
        "Feature matrix file(s): CSV/TSV(.gz), Parquet, h5ad or AnnData .zarr store. "
        "Repeatable; several are "
        "compared with each other (units, builds).",
    ),
    Field("inputs", "labels", "labels", "path", "Label table (CSV/TSV/Parquet) with id + label."),
    Field(
        "inputs",
        "metadata",
        "metadata",
        "path",
        "Sample sheet (CSV/TSV/Parquet): id, split, groups, batch, sex, ...",
    ),
    Field(
        "inputs",
        "coords",
        "coords",
        "paths",
        "Coordinate-bearing file(s): VCF, BED, GTF/GFF, 23andMe-style, chrom/pos tables.",
    ),
    Field(
        "inputs",
        "gene_lengths",
        "gene_lengths",
        "path",
        "Gene lengths table (gene id + length in bp) for TPM/RPKM distinctions.",
    ),
    Field(
        "inputs",
        "layer",
        "layer",
        "str",
        "For h5ad / zarr features: the layer to audit (default .X).",
    ),
    Field(
        "columns",
        "id",
        "id_col",
        "str",
        "Sample id column in labels/metadata (default: 'sample_id' or the first column).",
    ),
    Field("columns", "label", "label_col", "str", "Label (target) column."),
    Field("columns", "split", "split_col", "str", "Split column (train/test/validation or folds)."),
    Field(
        "columns",
        "groups",
        "group_cols",
        "strs",
        "Group column(s) that must not cross splits: patient, donor, family ... Repeatable.",
    ),
    Field("columns", "batch", "batch_col", "str", "Batch column (sequencing run, plate, site)."),
    Field("columns", "replicate", "replicate_col", "str", "Replicate-group column."),
    Field("columns", "sex", "sex_col", "str", "Reported sex column (for sex concordance)."),
    Field(
        "columns",
        "metadata",
        "metadata_cols",
        "strs",
        "Metadata columns to screen for label shortcuts (default: all non-id metadata).",
    ),
    Field("expectations", "build", "expected_build", "choice", "Expected genome build.", BUILDS),
    Field("expectations", "units", "expected_units", "choice", "Expected feature units.", UNITS),
    Field(
        "expectations",
        "orientation",
        "orientation",
        "choice",
        "Feature matrix orientation (auto-detected from ids by default).",
        ORIENTATIONS,
    ),
    Field(
        "expectations",
        "reported_metric",
        "reported_metric",
        "str",
        "Metric of a reported model score (pearson, spearman, r2, accuracy, ...).",
    ),
    Field(
        "expectations",
        "reported_score",
        "reported_score",
        "float",
        "A reported model score to compare with the replicate ceiling.",
    ),
    Field(
        "thresholds",
        "min_class_fraction",
        "min_class_fraction",
        "float",
        "Classes below this fraction are flagged as imbalance (default 0.05).",
    ),
    Field(
        "thresholds",
        "max_imbalance_ratio",
        "max_imbalance_ratio",
        "float",
        "Majority/minority ratio above which imbalance is a warning (default 10).",
    ),
    Field(
        "thresholds",
        "min_class_size",
        "min_class_size",
        "int",
        "Classes with fewer samples than this are tiny (default: n_folds).",
    ),
    Field(
        "thresholds",
        "n_folds",
        "n_folds",
        "int",
        "Folds planned for cross-validation (tiny classes, probe folds; default 5).",
    ),
    Field(
        "thresholds",
        "max_split_shift",
        "max_split_shift",
        "float",
        "Total-variation distance of class proportions between splits above which it is "
        "flagged (default 0.1).",
    ),
    Field(
        "thresholds",
        "max_overlap_fraction",
        "max_overlap_fraction",
        "float",
        "Fraction of test samples allowed to share a group with train (default 0).",
    ),
    Field(
        "thresholds",
        "shortcut_score",
        "shortcut_score",
        "float",
        "Association (Cramér's V / balanced accuracy above chance) at which a metadata column "
        "is a label shortcut (default 0.8).",
    ),
    Field(
        "thresholds",
        "near_duplicate_similarity",
        "near_duplicate_similarity",
        "float",
        "Cosine similarity above which a test sample is a near duplicate (default: calibrated).",
    ),
    Field(
        "thresholds",
        "alpha",
        "alpha",
        "float",
        "Significance level for tests (probe permutation p-value, chi-square; default 0.01).",
    ),
    Field("probe", "enabled", "probe", "bool", "Run the JAX batch probe (default true)."),
    Field(
        "probe",
        "n_components",
        "probe_components",
        "int",
        "Embedding dimensions for the probe (default 50).",
    ),
    Field(
        "probe",
        "n_permutations",
        "probe_permutations",
        "int",
        "Permutation controls for the probe p-value (default 100).",
    ),
    Field(
        "probe",
        "max_samples",
        "probe_max_samples",
        "int",
        "Rows the probe uses: above it, a seeded sample of about this many rows, each class "
        "in proportion, at least 50 rows of each (default 50000).",
    ),
    Field("run", "seed", "seed", "int", "Seed for every random step (default 0)."),
    Field(
        "run",
        "fail_on",
        "fail_on",
        "choice",
        "Lowest severity that fails the gate (default error).",
        ("error", "warning"),
    ),
    Field(
        "run",
        "chunk_size",
        "chunk_size",
        "int",
        "Rows per chunk when streaming large matrices (default 10000).",
    ),
    Field(
        "run",
        "engine",
        "engine",
        "choice",
        "Where the feature matrices are streamed: in this process (memory, default) or on a "
        "Dask cluster (dask: pip install 'biodata_guard[dask]').",
        ENGINES,
    ),
    Field(
        "run",
        "scheduler",
        "scheduler",
        "str",
        "With --engine dask: address of a running dask.distributed scheduler "
        "(tcp://host:8786); default: a local cluster of 2 worker processes.",
    ),
    Field("output", "formats", "formats", "strs", "Report format(s), paired with --out.", FORMATS),
    Field("output", "out", "out", "strs", "Report path(s), paired with --format ('-' = stdout)."),
)

_BY_SECTION: dict[str, dict[str, Field]] = {}
for _f in FIELDS:
    _BY_SECTION.setdefault(_f.section, {})[_f.key] = _f


@dataclass
class AuditConfig:
    """A validated audit configuration. Build it with :func:`load_config` or directly.

    Paths are absolute after loading from a file (relative ones resolve against the config file's
    folder). ``None`` means "not given".
    """

    features: list[str] = field(default_factory=list)
    labels: str | None = None
    metadata: str | None = None
    coords: list[str] = field(default_factory=list)
    gene_lengths: str | None = None
    layer: str | None = None
    id_col: str | None = None
    label_col: str | None = None
    split_col: str | None = None
    group_cols: list[str] = field(default_factory=list)
    batch_col: str | None = None
    replicate_col: str | None = None
    sex_col: str | None = None
    metadata_cols: list[str] = field(default_factory=list)
    expected_build: str | None = None
    expected_units: str | None = None
    orientation: str = "auto"
    reported_metric: str | None = None
    reported_score: float | None = None
    min_class_fraction: float = 0.05
    max_imbalance_ratio: float = 10.0
    min_class_size: int | None = None
    n_folds: int = 5
    max_split_shift: float = 0.1
    max_overlap_fraction: float = 0.0
    shortcut_score: float = 0.8
    near_duplicate_similarity: float | None = None
    alpha: float = 0.01
    probe: bool = True
    probe_components: int = 50
    probe_permutations: int = 100
    probe_max_samples: int = 50_000
    seed: int = 0
    fail_on: str = "error"
    chunk_size: int = 10_000
    engine: str = "memory"
    scheduler: str | None = None
    formats: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    #: Where the config came from (for messages); not a config key.
    source: str | None = None

    def __post_init__(self) -> None:
        for f in FIELDS:
            value = getattr(self, f.attr)
            if value is not None:
                setattr(self, f.attr, _coerce(f, value, self.source))
        if len(self.formats) != len(self.out) and self.out:
            raise ConfigError(
                f"{self.source or 'config'}: {len(self.formats)} format(s) but {len(self.out)} "
                "output path(s); give one --out per --format",
                key="out",
                hint="e.g. --format json --out audit.json --format html --out audit.html",
            )
        if self.scheduler is not None and self.engine != "dask":
            raise ConfigError(
                f"{self.source or 'config'}: run.scheduler ({self.scheduler}) is used by the Dask "
                f"engine only; got run.engine = {self.engine!r}",
                key="run.scheduler",
                hint="Add --engine dask (run.engine: dask), or drop --scheduler.",
            )

    def to_dict(self, *, include_output: bool = False) -> dict[str, Any]:
        """The config as it was used (for the report), in YAML section layout.

        The ``output`` section (where reports go) is left out unless asked for: it does not change
        what is audited, and leaving it out keeps reports of the same audit identical.
        """
        out: dict[str, dict[str, Any]] = {}
        for f in FIELDS:
            if f.section == "output" and not include_output:
                continue
            value = getattr(self, f.attr)
            if value in (None, []):
                continue
            out.setdefault(f.section, {})[f.key] = value
        return out

    def replace(self, **changes: Any) -> AuditConfig:
        return dataclasses.replace(self, **changes)


def _coerce(f: Field, value: Any, source: str | None) -> Any:
    where = f"{source or 'config'}: {f.section}.{f.key}"

    def bad(expected: str) -> ConfigError:
        return ConfigError(
            f"{where} must be {expected}; got {value!r} ({type(value).__name__}) instead",
            key=f"{f.section}.{f.key}",
            hint=f"Set {f.section}.{f.key} to {expected} (or use --{f.attr.replace('_', '-')}).",
        )

    if f.kind in ("paths", "strs"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise bad("a string or a list of strings")
        if f.choices:
            for v in items:
                if v not in f.choices:
                    raise ConfigError(
                        f"{where}: unknown value {v!r}; choose from {', '.join(f.choices)}",
                        key=f"{f.section}.{f.key}",
                        hint=_suggest(v, f.choices),
                    )
        return list(items)
    if f.kind in ("path", "str"):
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if f.kind == "choice":
        if value not in f.choices:
            raise ConfigError(
                f"{where}: unknown value {value!r}; choose from {', '.join(f.choices)}",
                key=f"{f.section}.{f.key}",
                hint=_suggest(str(value), f.choices),
            )
        return value
    if f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if f.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    raise AssertionError(f.kind)  # pragma: no cover


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"Did you mean '{close[0]}'?" if close else f"Valid: {', '.join(sorted(options))}."


def load_config(path: str | Path, **overrides: Any) -> AuditConfig:
    """Read and validate a YAML audit config.

    Relative paths are resolved against the config file's folder. ``overrides`` (e.g. from CLI
    flags) replace values from the file when they are not ``None`` / empty.

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid YAML, unknown section or key (with the nearest valid
        key suggested), or a value of the wrong type.
    """
    path = Path(path)
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
    if raw is None:
        raise ConfigError(
            f"{name}: the config is empty (no sections, only blank or comment lines)",
            hint=f"Write at least the inputs section; sections are {', '.join(_BY_SECTION)}.",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{name}: the top level must be a mapping of sections; got {type(raw).__name__}",
            hint=f"Use sections: {', '.join(_BY_SECTION)}.",
        )
    values: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in _BY_SECTION:
            raise ConfigError(
                f"{name}: unknown section '{section}'",
                key=str(section),
                hint=_suggest(str(section), _BY_SECTION),
            )
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(
                f"{name}: section '{section}' must be a mapping; got {type(body).__name__}",
                key=str(section),
                hint=f"Write it as '{section}:' followed by indented 'key: value' lines.",
            )
        for key, value in body.items():
            f = _BY_SECTION[section].get(key)
            if f is None:
                raise ConfigError(
                    f"{name}: unknown key '{section}.{key}'",
                    key=f"{section}.{key}",
                    hint=_suggest(str(key), _BY_SECTION[section]),
                )
            values[f.attr] = value
    base = path.resolve().parent
    for f in FIELDS:
        if f.attr in values and values[f.attr] is not None:
            if f.kind == "path" and isinstance(values[f.attr], str):
                values[f.attr] = _resolve(values[f.attr], base)
            elif f.kind == "paths" or (f.attr == "out"):
                v = values[f.attr]
                items = [v] if isinstance(v, str) else v
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    values[f.attr] = [i if i == "-" else _resolve(i, base) for i in items]
    for attr, value in overrides.items():
        if value is not None and value != []:
            values[attr] = value
    return AuditConfig(**values, source=name)


def _resolve(p: str, base: Path) -> str:
    q = Path(p).expanduser()
    return str(q if q.is_absolute() else (base / q))

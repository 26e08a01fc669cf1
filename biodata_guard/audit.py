"""The orchestrator: config -> inputs -> checks -> Report."""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from biodata_guard import registry
from biodata_guard._context import AuditContext, CoordInput, FeatureInput
from biodata_guard.config import AuditConfig, load_config
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Report, not_checked
from biodata_guard.io import align_rows, file_sha256, is_h5ad, is_zarr, read_features, read_table
from biodata_guard.io.coords import read_coordinates
from biodata_guard.io.feature_list import read_feature_list
from biodata_guard.io.gene_lengths import read_gene_lengths
from biodata_guard.stream import shared_pass
from biodata_guard.stream.dask import as_dask, dask_client
from biodata_guard.waivers import apply_waivers

__all__ = ["audit", "check_layer", "id_column", "plan"]

_COLUMN_ATTRS = (
    "label_col",
    "split_col",
    "batch_col",
    "replicate_col",
    "sex_col",
)


def plan(
    only: Iterable[str] | None = None, skip: Iterable[str] | None = None
) -> list[registry.GroupSpec]:
    """The check groups an audit runs, in order: every declared group with checks to run,
    restricted to ``only`` and without ``skip``.

    Examples
    --------
    >>> [g.name for g in plan(only={"balance", "leakage"})]
    ['balance', 'leakage']
    """
    runnable = [
        g
        for g in registry.groups()
        if g.run is not None or any(c.run for c in registry.checks(g.name))
    ]
    names = [g.name for g in runnable]
    for given in (only, skip):
        unknown = sorted(set(given or ()) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown check group(s) {unknown}; choose from {', '.join(names)}",
                key="only" if given is only else "skip",
                hint=_suggest(unknown[0], names),
            )
    chosen = [g for g in runnable if only is None or g.name in set(only)]
    return [g for g in chosen if g.name not in set(skip or ())]


def audit(
    config: AuditConfig | str | Path | None = None,
    *,
    features: Any = None,
    labels: Any = None,
    metadata: Any = None,
    coords: Any = None,
    only: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> Report:
    """Audit a dataset and return a :class:`~biodata_guard.findings.Report`.

    Parameters
    ----------
    config
        An :class:`~biodata_guard.config.AuditConfig`, the path of a YAML config, or None.
    features
        Feature matrix/matrices: path(s) (CSV/TSV/Parquet/h5ad/zarr), ``AnnData``, ``DataFrame``
        (rows = samples), ``ndarray`` or ``scipy.sparse``; a list for several.
    labels, metadata
        Paths or DataFrames with a sample-id column (``id_col``) plus label / metadata columns.
        For an AnnData without them, ``.obs`` is the metadata.
    coords
        Coordinate-bearing file path(s) (VCF, BED, GTF, genotype text, chrom/pos tables).
    only, skip
        Run only these check groups / all but these (names from :func:`plan`, the registry's
        groups), e.g. ``only={"build"}``.
    progress
        Print progress lines to stderr.
    **options
        Any :class:`AuditConfig` field, e.g. ``label_col="diagnosis"``, ``group_cols=["patient"]``,
        ``waivers=[{"check": "balance.imbalance", "reason": "..."}]`` (a waived finding stays in
        the report, marked, and does not fail the gate; see :mod:`biodata_guard.waivers`).

    Raises
    ------
    InputError
        An input cannot be read or is invalid (missing column, duplicate columns ...).
    ConfigError
        The config is invalid.

    Examples
    --------
    >>> import pandas as pd
    >>> meta = pd.DataFrame({"sample_id": ["a", "b", "c", "d"], "label": ["x", "x", "x", "y"],
    ...                      "split": ["train", "train", "test", "test"]})
    >>> report = audit(metadata=meta, label_col="label", split_col="split", only={"balance"})
    >>> [f.check for f in report.findings if f.severity == "error"]
    ['balance.tiny_class', 'balance.unseen_class']
    """
    started = time.perf_counter()
    cfg = _make_config(
        config, features=features, labels=labels, metadata=metadata, coords=coords, options=options
    )
    say = _progress_printer(progress)
    groups = plan(only, skip)
    with _engine(cfg, say):
        ctx, inputs = _read_inputs(
            cfg, features=features, labels=labels, metadata=metadata, say=say
        )
        if cfg.engine == "dask":
            ctx.features = [
                as_dask(fi, chunk_size=cfg.chunk_size, layer=cfg.layer) for fi in ctx.features
            ]
        ctx.progress_bar = functools.partial(_progress_bar, progress)
        findings = _run_groups(ctx, groups, say=say, progress=progress)
        inputs = _resolve_digests(inputs)
    findings = apply_waivers(findings, cfg.waivers, groups_run=[g.name for g in groups])
    return Report(
        findings=findings,
        inputs=inputs,
        config=cfg.to_dict(),
        fail_on=cfg.fail_on,
        seed=cfg.seed,
        elapsed_seconds=time.perf_counter() - started,
        artifacts=ctx.artifacts,
    )


def _run_groups(
    ctx: AuditContext,
    groups: list[registry.GroupSpec],
    *,
    say: Callable[[str], None],
    progress: bool,
) -> list[Finding]:
    """Each group's checks, after one shared pass over each matrix; a check whose declared needs
    are missing gets a ``not checked`` finding instead, and a group with nothing to run is skipped.
    """
    runs = {g.name: _runnable(ctx, g) for g in groups}
    findings: list[Finding] = [f for g in groups for f in runs[g.name][1]]
    active = [g for g in groups if runs[g.name][0]]
    reads = _run_shared_pass(
        ctx, [g for g in active if g.shared_pass is not None], progress=progress
    )
    for i, group in enumerate(active):
        say(f"running {group.name} checks")
        if group.run is not None:
            findings.extend(group.run(ctx))
        for spec in registry.checks(group.name):
            if spec.run is not None and not registry.missing_needs(spec, ctx):
                findings.extend(spec.run(ctx))
        # The shared pass's statistics no later group reads (hundreds of MB at 1M cells)
        # are freed as soon as their last reader has run.
        later = [g.name for g in active[i + 1 :]]
        for fi in ctx.features:
            keep = set().union(*(reads.get((name, id(fi)), ()) for name in later))
            for key in [k for k in fi.view.memo if k not in keep]:
                del fi.view.memo[key]
    return findings


def _runnable(ctx: AuditContext, group: registry.GroupSpec) -> tuple[bool, list[Finding]]:
    """Whether any check of ``group`` has what it needs, and a ``not checked`` finding for each
    check that does not."""
    notes = []
    for spec in registry.checks(group.name):
        missing = registry.missing_needs(spec, ctx)
        if missing:
            reason = "needs " + " and ".join(n.says for n in missing)
            notes.append(not_checked(spec.id, reason, needs=[n.name for n in missing]))
    return len(notes) < len(registry.checks(group.name)), notes


def _engine(cfg: AuditConfig, say: Callable[[str], None]) -> contextlib.AbstractContextManager:
    """The Dask client of ``--engine dask`` (kept open for the whole audit), else nothing."""
    if cfg.engine != "dask":
        return contextlib.nullcontext()
    say(f"starting Dask engine ({cfg.scheduler or 'local cluster'})")
    return dask_client(cfg.scheduler)


def _backed(cfg: AuditConfig) -> bool | None:
    """``backed=`` for the readers: the ``stream`` option (auto = by file size)."""
    if cfg.engine == "dask":  # the Dask engine streams from disk: never load the matrix here too
        return True
    return {"auto": None, "always": True, "never": False}[cfg.stream]


def _run_shared_pass(
    ctx: AuditContext, groups: list[registry.GroupSpec], *, progress: bool
) -> dict[tuple[str, int], set]:
    """Read each feature matrix once for the statistics of every streaming check group; the
    keys each group reads, by ``(group name, id(feature input))``."""
    reads: dict[tuple[str, int], set] = {}
    for fi in ctx.features:
        accumulators: dict = {}
        for group in groups:
            wanted = group.shared_pass(ctx, fi)
            reads[(group.name, id(fi))] = set(wanted)
            accumulators.update(wanted)
        if not accumulators:
            continue
        with _progress_bar(progress, f"reading {fi.name}", fi.view.n_obs) as advance:
            shared_pass(fi.view, accumulators, chunk_size=ctx.config.chunk_size, progress=advance)
    return reads


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (rows read of ``total``); a no-op when disabled."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("[dim]biodata_guard:[/dim] {task.description}", BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task(f"{label} (rows)", total=total)
        yield lambda done, total: bar.update(task, completed=done)


def _progress_printer(enabled: bool) -> Callable[[str], None]:
    if not enabled:
        return lambda message: None
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return lambda message: console.print(f"[dim]biodata_guard:[/dim] {message}")


def _make_config(
    config: AuditConfig | str | Path | None,
    *,
    features: Any,
    labels: Any,
    metadata: Any,
    coords: Any,
    options: dict[str, Any],
) -> AuditConfig:
    # In-memory objects are passed separately; only paths go into the config.
    def paths(value: Any) -> list[str]:
        items = value if isinstance(value, (list, tuple)) else [value]
        return [os.fspath(v) for v in items if isinstance(v, (str, os.PathLike))]

    overrides = dict(options)
    if features is not None and paths(features):
        overrides["features"] = paths(features)
    for key, value in (("labels", labels), ("metadata", metadata)):
        if isinstance(value, (str, os.PathLike)):
            overrides[key] = os.fspath(value)
    if coords is not None:
        overrides["coords"] = paths(coords)
    if isinstance(config, AuditConfig):
        return config.replace(**overrides) if overrides else config
    if config is not None:
        return load_config(config, **overrides)
    return AuditConfig(**overrides)


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"Did you mean '{close[0]}'?" if close else ""


def _input_record(name: str, path: str | None, kind: str, shape: tuple[int, ...]) -> dict:
    record: dict[str, Any] = {"name": name, "kind": kind, "shape": list(shape)}
    if path is not None:
        record["path"] = path
        record["sha256"] = _Digest(path)
    return record


class _Digest:
    """The SHA-256 of an input file, computed on a daemon thread while the checks run (3 s
    for a 4 GB h5ad; hashlib and file reads release the GIL); an audit that stops on bad
    input does not wait for it."""

    def __init__(self, path: str) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: str) -> None:
        try:
            self._value = file_sha256(path)
        except BaseException as exc:  # raised where the digest is read
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return str(self._value)


def _resolve_digests(inputs: list[dict]) -> list[dict]:
    """The input records with their file digests computed."""
    for record in inputs:
        if isinstance(record.get("sha256"), _Digest):
            record["sha256"] = record["sha256"].result()
    return inputs


def check_layer(layer: str | None, sources: list[Any]) -> None:
    """``--layer`` names a layer of an AnnData (h5ad / zarr); on any other input it is an error.

    Examples
    --------
    >>> check_layer("counts", ["x.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    biodata_guard.errors.ConfigError: --layer counts: ... x.csv is a table, not an h5ad file ...
    """
    if layer is None:
        return
    for src in sources:
        if isinstance(src, (str, os.PathLike)):
            if is_h5ad(src) or is_zarr(src):
                continue
            what = f"{Path(src).name} is a table, not an h5ad file or zarr store"
        elif type(src).__name__ == "AnnData":
            continue
        else:
            what = f"a {type(src).__name__} has no layers"
        raise ConfigError(
            f"--layer {layer}: layers exist only in AnnData inputs (h5ad / zarr); {what}",
            key="inputs.layer",
            hint="Drop --layer (inputs.layer) for tables, or audit the h5ad / zarr file that "
            "holds the layer.",
        )


def _single_column(df: pd.DataFrame, name: str, role: str) -> InputError:
    """A label table with one column: no id column beside the labels (or no header)."""
    only = str(df.columns[0])
    return InputError(
        f"{name}: has a single column ('{only}'); a {role} table needs a sample-id column and "
        f"at least one more (the {'label' if role == 'labels' else 'metadata'} column)",
        path=name,
        column=only,
        hint="Write the file with a header naming both columns, e.g. 'sample_id,label', and "
        "pass --id-col / --label-col if they are named otherwise; a file whose only column is "
        "the label cannot be joined to the samples.",
    )


def id_column(df: pd.DataFrame, id_col: str | None, name: str) -> str:
    """The sample-id column of a table: ``id_col`` when given (it must exist), else the first
    of ``sample_id``, ``sample``, ``id``, ``obs_names``, ``cell_id``, ``barcode``, else the first
    column.

    Examples
    --------
    >>> id_column(pd.DataFrame({"x": [1], "sample": ["S1"]}), None, "m.csv")
    'sample'
    """
    if id_col is not None:
        if id_col not in df.columns:
            raise _missing_column(id_col, df, name, "--id-col")
        return id_col
    for candidate in ("sample_id", "sample", "id", "obs_names", "cell_id", "barcode"):
        if candidate in df.columns:
            return candidate
    return str(df.columns[0])


def _missing_column(col: str, df: pd.DataFrame, name: str, flag: str) -> InputError:
    close = difflib.get_close_matches(col, [str(c) for c in df.columns], n=1, cutoff=0.5)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    if df.shape[1] == 0:
        held = f"it holds only the sample ids ('{df.index.name or 'sample_id'}')"
    else:
        held = f"columns are {', '.join(map(str, list(df.columns)[:12]))}" + (
            " …" if df.shape[1] > 12 else ""
        )
    return InputError(
        f"{name}: column '{col}' not found; {held}",
        path=name,
        column=col,
        hint=f"{hint}Pass the right name with {flag}.",
    )


def _as_table(value: Any, name: str) -> tuple[pd.DataFrame, str, str | None]:
    if isinstance(value, (str, os.PathLike)):
        p = Path(value)
        return read_table(p, name=p.name), p.name, str(p)
    if isinstance(value, pd.Series):
        return value.rename_axis("sample_id").reset_index(), name, None
    if isinstance(value, pd.DataFrame):
        df = value if isinstance(value.index, pd.RangeIndex) else value.reset_index()
        return df, name, None
    raise InputError(
        f"{name}: expected a file path or a pandas DataFrame; got {type(value).__name__}",
        path=name,
        hint="Pass a path to a CSV/TSV/Parquet table or a DataFrame.",
    )


def _read_inputs(
    cfg: AuditConfig,
    *,
    features: Any,
    labels: Any,
    metadata: Any,
    say: Callable[[str], None],
) -> tuple[AuditContext, list[dict]]:
    inputs: list[dict] = []
    tables: dict[str, tuple[pd.DataFrame, str, str]] = {}  # role -> (frame, name, id column)
    given = {"metadata": metadata, "labels": labels}
    for role in ("metadata", "labels"):
        value = given[role] if given[role] is not None else getattr(cfg, role)
        if value is None:
            continue
        say(f"reading {role} {value if isinstance(value, (str, os.PathLike)) else ''}")
        df, name, path = _as_table(value, f"<{role}>")
        if df.shape[1] < 2:
            raise _single_column(df, name, role)
        id_col = id_column(df, cfg.id_col, name)
        df = df.copy()
        df[id_col] = df[id_col].astype(str).str.strip()
        tables[role] = (df, name, id_col)
        inputs.append(_input_record(name, path, role, df.shape))

    sample_ids = None
    for role in ("labels", "metadata"):
        if role in tables:
            df, _, id_col = tables[role]
            sample_ids = pd.Index(df[id_col])
            break

    feature_sources: list[Any] = []
    if features is not None and not isinstance(features, (str, os.PathLike)):
        items = features if isinstance(features, (list, tuple)) else [features]
        feature_sources = [f for f in items if not isinstance(f, (str, os.PathLike))]
    feature_sources = list(cfg.features) + feature_sources
    check_layer(cfg.layer, feature_sources)
    feats: list[FeatureInput] = []
    for i, src in enumerate(feature_sources):
        say(f"reading features {src if isinstance(src, (str, os.PathLike)) else ''}")
        default = None if isinstance(src, (str, os.PathLike)) else f"<features {i + 1}>"
        fi = read_features(
            src,
            name=default,
            orientation=cfg.orientation,
            sample_ids=sample_ids,
            layer=cfg.layer,
            backed=_backed(cfg),
        )
        feats.append(fi)
        kind = "matrix" if fi.adata is None else "zarr" if fi.path and is_zarr(fi.path) else "h5ad"
        inputs.append(_input_record(fi.name, fi.path, kind, fi.view.shape))

    coords: list[CoordInput] = []
    if cfg.coords:
        for path in cfg.coords:
            say(f"reading coordinates {path}")
            ci = read_coordinates(path)
            coords.append(ci)
            inputs.append(_input_record(ci.name, path, ci.kind, ci.frame.shape))

    if cfg.reference_features:  # read up front: a bad file is an input error before any check
        n_reference = len(read_feature_list(cfg.reference_features))
        inputs.append(
            _input_record(
                Path(cfg.reference_features).name,
                cfg.reference_features,
                "reference_features",
                (n_reference,),
            )
        )
    gene_lengths = None
    if cfg.gene_lengths:
        gene_lengths = read_gene_lengths(cfg.gene_lengths)
        inputs.append(
            _input_record(
                Path(cfg.gene_lengths).name, cfg.gene_lengths, "gene_lengths", (len(gene_lengths),)
            )
        )

    ctx = AuditContext(
        config=cfg, features=feats, coords=coords, gene_lengths=gene_lengths, tables=tables
    )
    _build_samples(ctx, tables)
    return ctx, inputs


def _build_samples(ctx: AuditContext, tables: dict[str, tuple[pd.DataFrame, str, str]]) -> None:
    """Join metadata and labels by id; align to the first feature matrix's rows."""
    cfg = ctx.config
    frame: pd.DataFrame | None = None
    names = []
    for role in ("metadata", "labels"):
        if role not in tables:
            continue
        df, name, id_col = tables[role]
        names.append(name)
        part = df.drop_duplicates(id_col, keep="first").set_index(id_col)
        part.index.name = "sample_id"
        if frame is None:
            frame = part
        else:
            new_cols = [c for c in part.columns if c not in frame.columns or c == cfg.label_col]
            frame = frame.drop(columns=[c for c in new_cols if c in frame.columns])
            frame = frame.join(part[new_cols], how="outer")
    if frame is None and ctx.features and ctx.features[0].adata is not None:
        frame = ctx.features[0].adata.obs.copy()
        frame.index = pd.Index(frame.index.astype(str), name="sample_id")
        names.append(f"{ctx.features[0].name} (.obs)")
    if frame is None:
        return
    ctx.samples_name = " + ".join(names)
    for attr in _COLUMN_ATTRS:
        col = getattr(cfg, attr)
        if col is not None and col not in frame.columns:
            raise _missing_column(col, frame, ctx.samples_name, "--" + attr.replace("_", "-"))
    for col in [*cfg.group_cols, *cfg.metadata_cols]:
        if col not in frame.columns:
            raise _missing_column(col, frame, ctx.samples_name, "--group-col / --metadata-cols")
    if ctx.features:
        obs = ctx.features[0].view.obs_names
        if align_rows(obs, frame.index).aligned:
            frame = frame.reindex(obs)
            ctx.aligned = True
    ctx.samples = frame

"""The probe group in an audit: its parameters, and :func:`audit_probe`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard._format import GROUP_PLACEHOLDER, jsonable
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.probe._checks import (
    ERROR_EFFECT,
    MIN_EFFECT,
    PREDICTABLE,
    SPLIT_PREDICTABLE,
    SUMMARY,
    _predictable,
    _summary,
)
from biodata_guard.probe._confounding import (
    MAX_CRAMERS_V,
    _confounding_findings,
    _untestable,
    batch_confounding,
)
from biodata_guard.probe._design import _Target
from biodata_guard.probe._engine import _plan_or_error, _probe_targets, rows_to_read
from biodata_guard.probe._inputs import MINIMUM, _Options
from biodata_guard.probe._prep import RowSample, sample_key
from biodata_guard.probe._result import ProbeResult
from biodata_guard.registry import Interval, declare_param

declare_param(
    "probe",
    True,
    kind="bool",
    help="Run the JAX batch probe (default true).",
    section="probe",
    key="enabled",
)
declare_param(
    "probe_components",
    _Options.n_components,
    kind="int",
    help="Embedding dimensions for the probe (default 50).",
    valid=Interval(int, MINIMUM["n_components"], None),
    section="probe",
    key="n_components",
)
declare_param(
    "probe_permutations",
    _Options.n_permutations,
    kind="int",
    help="Permutation controls for the probe p-value (default 100).",
    valid=Interval(int, MINIMUM["n_permutations"], None),
    section="probe",
    key="n_permutations",
)
declare_param(
    "probe_max_samples",
    _Options.max_samples,
    kind="int",
    help="Rows the probe uses: above it, a seeded sample of about this many rows, each class "
    "in proportion, at least 50 rows of each (default 50000).",
    valid=Interval(int, MINIMUM["max_samples"], None),
    section="probe",
    key="max_samples",
)

declare_param(
    "probe_compile_cache",
    None,
    kind="path",
    help="A directory for JAX's persistent compilation cache: later audits load the probe's "
    "compiled model from it instead of compiling it (default: none).",
    section="probe",
    key="compile_cache",
)

_THRESHOLDS = {"min_effect": MIN_EFFECT, "error_effect": ERROR_EFFECT}


def audit_probe(ctx: AuditContext) -> list[Finding]:
    """Run the probe checks for an audit.

    Reads ``batch_col``, ``label_col``, ``split_col``, ``group_cols`` (grouped folds),
    ``probe`` (enabled), ``probe_components``, ``probe_permutations``, ``probe_max_samples``,
    ``probe_compile_cache``, ``n_folds``, ``alpha``, ``seed`` and ``chunk_size`` from
    ``ctx.config``; ``ctx.samples``
    (its rows must match ``ctx.features[0].view`` rows, ``ctx.aligned``) and that view.
    ``batch.confounded`` needs only the sample table: it runs with the probe disabled too.
    Writes the plot data to ``ctx.artifacts["probe"]``: ``{"embedding": {"x", "y", "batch",
    "split"}, "fold_accuracy": {"batch", "label", "split", "chance"}}``.
    """
    out = _audit_confounding(ctx, ctx.column("batch_col"), ctx.column("label_col"))
    if not ctx.config.probe:
        return out
    targets = _targets(ctx)
    if not targets or not ctx.features:
        return out
    fi = ctx.features[0]
    if not ctx.aligned:
        return out + [
            _skipped(fi.name, col, f"the rows of {fi.name} do not match the sample ids")
            for _, col in targets
        ]
    results, summaries = _run_probes(ctx, fi, targets)
    out += summaries + _verdicts(ctx, fi, results)
    if results:
        cfg = ctx.config
        ctx.artifacts["probe"] = _artifact(results, ctx.samples, cfg.batch_col, cfg.split_col)
    return out


def _audit_confounding(
    ctx: AuditContext, batch: pd.Series | None, label: pd.Series | None
) -> list[Finding]:
    """``batch.confounded`` from the sample sheet (a note when it has one batch or class)."""
    if batch is None or label is None:
        return []
    cfg = ctx.config
    words = {"name": ctx.samples_name, "batch_col": cfg.batch_col, "label_col": cfg.label_col}
    res = batch_confounding(batch, label)
    if not res.testable:
        return [_untestable(res, **words)]
    return _confounding_findings(res, max_cramers_v=MAX_CRAMERS_V, alpha=cfg.alpha, **words)


def _options(ctx: AuditContext) -> _Options:
    cfg = ctx.config
    return _Options(
        n_components=cfg.probe_components,
        folds=cfg.n_folds,
        n_permutations=cfg.probe_permutations,
        max_samples=cfg.probe_max_samples,
        seed=cfg.seed,
        chunk_size=cfg.chunk_size,
        compilation_cache=cfg.probe_compile_cache,
    )


def _targets(ctx: AuditContext) -> list[tuple[str, str]]:
    """(role, column) of each attribute the audit probes: the batch, the label (beside a batch
    only: the rival it is compared with) and the split."""
    cfg = ctx.config
    batch, label, split = ctx.column("batch_col"), ctx.column("label_col"), ctx.column("split_col")
    return [
        (role, col)
        for role, col, values in (
            ("batch", cfg.batch_col, batch),
            ("label", cfg.label_col, label if batch is not None else None),
            ("split", cfg.split_col, split),
        )
        if values is not None
    ]


def _planned(ctx: AuditContext, fi: FeatureInput, targets: list[tuple[str, str]]) -> list[Any]:
    """Each target's design (or the :class:`InputError` that stops it), made once per audit:
    the shared pass's row sample and the probe read the same plan."""
    key = ("probe", "plan", id(fi.view), tuple(targets))
    if key not in ctx.cache:
        cfg, samples, opts = ctx.config, ctx.samples, _options(ctx)
        groups = samples[list(cfg.group_cols)].reset_index(drop=True) if cfg.group_cols else None
        memo: dict[Any, Any] = {}  # the group codes, computed once for the targets
        ctx.cache[key] = [
            _plan_or_error(
                fi.view, fi.view, samples[col].reset_index(drop=True), col, groups, opts, memo
            )
            for _, col in targets
        ]
    return ctx.cache[key]


def stream_accumulators(ctx: AuditContext, fi: FeatureInput) -> dict[tuple, RowSample]:
    """The rows the probe reads (every target's probed rows, and the matrix's units and basis
    rows), collected by the audit's shared pass over the first feature matrix: the probe then
    reads nothing on its own."""
    if not ctx.config.probe or not ctx.features or fi is not ctx.features[0] or not ctx.aligned:
        return {}
    targets = _targets(ctx)
    planned = [t for t in _planned(ctx, fi, targets) if isinstance(t, _Target)] if targets else []
    if not planned:
        return {}
    rows = rows_to_read(planned, fi.view.n_obs, _options(ctx))
    return {sample_key(rows): RowSample(rows)}


def _run_probes(
    ctx: AuditContext, fi: FeatureInput, targets: list[tuple[str, str]]
) -> tuple[dict[str, ProbeResult], list[Finding]]:
    """Probe every target (one read of the matrix for all of them, or none when the shared pass
    collected the rows): the results by role, and one ``probe.summary`` per target (a skipped
    note when it cannot be probed)."""
    cfg = ctx.config
    planned = _planned(ctx, fi, targets)
    ctx.cache.pop(("probe", "plan", id(fi.view), tuple(targets)))  # its generators are used up
    probed = _probe_targets(
        fi.view,
        [(None, col) for _, col in targets],
        groups=None,
        layer=None,
        name=None,
        opts=_options(ctx),
        progress_bar=ctx.progress_bar,
        planned=planned,
    )
    results: dict[str, ProbeResult] = {}
    out: list[Finding] = []
    for (role, col), outcome in zip(targets, probed, strict=True):
        if isinstance(outcome, InputError):
            out.append(_skipped(fi.name, col, outcome.message))
            continue
        results[role] = outcome
        out.append(_summary(outcome, fi.name, col, alpha=cfg.alpha))
    return results, out


def _verdicts(
    ctx: AuditContext, fi: FeatureInput, results: dict[str, ProbeResult]
) -> list[Finding]:
    """``batch.predictable`` (against the label probe) and ``batch.split_predictable``."""
    cfg = ctx.config
    out: list[Finding] = []
    if "batch" in results:
        out += _predictable(
            results["batch"],
            check=PREDICTABLE,
            name=fi.name,
            column=cfg.batch_col,
            rival=results.get("label"),
            rival_col=cfg.label_col or "label",
            alpha=cfg.alpha,
            **_THRESHOLDS,
        )
    if "split" in results:
        out += _predictable(
            results["split"],
            check=SPLIT_PREDICTABLE,
            name=fi.name,
            column=cfg.split_col,
            group_hint=cfg.group_cols[0] if cfg.group_cols else GROUP_PLACEHOLDER,
            alpha=cfg.alpha,
            **_THRESHOLDS,
        )
    return out


def _skipped(name: str, column: str, reason: str) -> Finding:
    return Finding(
        SUMMARY,
        Severity.INFO,
        f"{name}, {column}: probe skipped; {reason}",
        evidence={"target": column, "skipped": True, "reason": reason},
        hint="Fix the reason above to get the probe, or disable it with --no-probe.",
        input=name,
    )


def _artifact(
    results: dict[str, ProbeResult],
    samples: pd.DataFrame,
    batch_col: str | None,
    split_col: str | None,
) -> dict[str, Any]:
    """The report's plot data: the 2-D embedding of the first probe, and accuracy per fold."""
    first = next(iter(results.values()))
    rows = first.embedding_rows
    emb: dict[str, Any] = {
        "x": first.embedding[:, 0].tolist(),
        "y": first.embedding[:, 1].tolist(),
    }
    for key, col in (("batch", batch_col), ("split", split_col)):
        if col is not None and col in samples.columns:
            values = samples[col].iloc[rows]
            emb[key] = [None if pd.isna(v) else str(v) for v in values]
    acc: dict[str, Any] = {role: list(r.fold_balanced_accuracy) for role, r in results.items()}
    acc["chance"] = {role: r.chance for role, r in results.items()}  # each target its own
    return jsonable({"embedding": emb, "fold_accuracy": acc})

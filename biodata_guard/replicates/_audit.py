"""The replicates group of an audit: label and profile ceilings, outlier groups, plot data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biodata_guard._context import AuditContext
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.io.matrix import MatrixView, NonFiniteError
from biodata_guard.replicates._agreement import LOW_AGREEMENT, check_replicate_agreement
from biodata_guard.replicates._ceiling import replicate_ceiling
from biodata_guard.replicates._ceiling_checks import (
    CEILING,
    MIN_GROUPS,
    SCORE_ABOVE_CEILING,
    check_replicate_ceiling,
    check_reported,
    compare_score,
    has_ceiling,
)
from biodata_guard.replicates._result import ReplicateCeiling

_Pairs = tuple[np.ndarray, np.ndarray]


def _view_groups(ctx: AuditContext, view: MatrixView, col: str) -> np.ndarray | None:
    samples = ctx.samples
    if samples is None:
        return None
    if ctx.aligned and len(samples) == view.n_obs:
        return samples[col].to_numpy()
    index = pd.Index(samples.index.astype(str))
    if index.is_unique and view.obs_names.isin(index).any():
        return samples[col].set_axis(index).reindex(view.obs_names).to_numpy()
    return None


def _profile_skipped(name: str, column: str, reason: str) -> Finding:
    return Finding(
        CEILING,
        Severity.INFO,
        f"{name}, {column}: replicate-profile ceiling skipped; {reason}",
        evidence={"kind": "profile", "skipped": True, "reason": reason},
        hint="Impute or drop the non-finite cells (see units.invalid_values), then re-run.",
        input=name,
    )


def _too_few_groups(
    res: ReplicateCeiling, *, name: str, col: str, of: str, score: bool
) -> list[Finding]:
    """``not checked`` for the checks that too few replicate groups left without a result
    (the ceiling reports fewer than MIN_GROUPS groups in a finding of its own)."""
    later = (LOW_AGREEMENT, SCORE_ABOVE_CEILING) if score else (LOW_AGREEMENT,)
    if res.n_groups == 0:
        reason, ids = f"no {col} group holds two or more {of}", (CEILING, *later)
    elif not has_ceiling(res):
        reason = f"{res.n_groups} {col} group(s) of two or more {of}, needs >= {MIN_GROUPS}"
        ids = later
    else:
        return []
    return [
        not_checked(i, reason, input=name, n_groups=res.n_groups, min_groups=MIN_GROUPS)
        for i in ids
    ]


def _label_findings(
    ctx: AuditContext, samples: pd.DataFrame, col: str, label_col: str
) -> tuple[list[Finding], _Pairs | None]:
    """The ceiling and outlier groups of the label column, and its replicate pairs (continuous
    labels only)."""
    cfg = ctx.config
    name = ctx.samples_name
    res = replicate_ceiling(samples[label_col], samples[col], seed=cfg.seed, name=name)
    shared = {"name": name, "value_col": label_col, "result": res, "replicate_col": col}
    out = check_replicate_ceiling(
        reported_metric=cfg.reported_metric,
        reported_score=cfg.reported_score,
        seed=cfg.seed,
        **shared,
    )
    out += check_replicate_agreement(alpha=cfg.alpha, seed=cfg.seed, **shared)
    scored = cfg.reported_metric is not None and cfg.reported_score is not None
    out += _too_few_groups(res, name=name, col=col, of=f"samples with a {label_col}", score=scored)
    if scored and has_ceiling(res):
        cmp = compare_score(res, cfg.reported_metric, cfg.reported_score)
        if not cmp.comparable:
            reason = f"the {cmp.metric} ceiling of {label_col} is undefined (n/a)"
            out.append(not_checked(SCORE_ABOVE_CEILING, reason, input=name))
    pairs = res.pairs if res.kind == "continuous" and len(res.pairs[0]) else None
    return out, pairs


def _profile_findings(ctx: AuditContext, col: str) -> tuple[list[Finding], _Pairs | None]:
    """The ceiling and outlier groups of the replicate profiles of the first feature matrix,
    and replicate pairs of feature values."""
    cfg = ctx.config
    fi = ctx.features[0]
    groups = _view_groups(ctx, fi.view, col)
    if groups is None:
        reason = (
            f"the rows of {fi.name} cannot be matched to the sample ids of {ctx.samples_name} "
            "(no id in common, or repeated ids)"
        )
        return [not_checked(c, reason, input=fi.name) for c in (CEILING, LOW_AGREEMENT)], None
    try:
        res = replicate_ceiling(
            fi.view, groups, kind="profile", seed=cfg.seed, chunk_size=cfg.chunk_size, name=fi.name
        )
    except NonFiniteError as exc:  # reported by units.invalid_values; go on
        return [_profile_skipped(fi.name, col, exc.message)], None
    shared = {"name": fi.name, "result": res, "replicate_col": col, "seed": cfg.seed}
    out = check_replicate_ceiling(**shared)
    out += check_replicate_agreement(alpha=cfg.alpha, **shared)
    out += _too_few_groups(res, name=fi.name, col=col, of=f"rows of {fi.name}", score=False)
    return out, res.pairs if len(res.pairs[0]) else None


def audit_replicates(ctx: AuditContext) -> list[Finding]:
    """Replicate ceilings and outlier replicate groups for what the audit configures.

    Reads ``replicate_col`` (nothing to do without it), ``label_col`` (the target whose ceiling
    is measured, from ``ctx.samples``), ``reported_metric`` / ``reported_score`` (compared with
    the label's ceiling), ``alpha``, ``seed`` and ``chunk_size``; with a feature matrix,
    ``ctx.features[0].view`` for replicate-profile agreement. Writes
    ``ctx.artifacts["replicates"] = {"pairs": {"a": [...], "b": [...]}}``: one replicate against
    another (the continuous label when there is one, else profile values), at most 2000 points.

    A check that cannot run for a reason beyond its declared needs (too few replicate groups,
    matrix rows that match no sample id, neither a label nor a feature matrix) reports a
    ``not checked`` info finding.

    Examples
    --------
    >>> from biodata_guard.config import AuditConfig
    >>> sheet = pd.DataFrame({"y": ["a", "a", "b", "b"] * 5, "rep": np.repeat(np.arange(10), 2)})
    >>> ctx = AuditContext(AuditConfig(replicate_col="rep", label_col="y"), samples=sheet)
    >>> [(f.check, str(f.severity)) for f in audit_replicates(ctx)]
    [('replicates.ceiling', 'info')]
    """
    cfg = ctx.config
    col, label_col, samples = cfg.replicate_col, cfg.label_col, ctx.samples
    if col is None or samples is None or col not in samples.columns:
        return []
    out: list[Finding] = []
    pairs: _Pairs | None = None
    has_label = label_col is not None and label_col in samples.columns
    if has_label:
        out, pairs = _label_findings(ctx, samples, col, label_col)
    else:
        check_reported(cfg.reported_metric, cfg.reported_score)
    if ctx.features:
        found, profile_pairs = _profile_findings(ctx, col)
        out += found
        pairs = pairs if pairs is not None else profile_pairs
    elif not has_label:
        reason = "needs a label column (--label-col) or a feature matrix (--features)"
        out += [not_checked(c, reason, input=ctx.samples_name) for c in (CEILING, LOW_AGREEMENT)]
    if pairs is not None:
        ctx.artifacts["replicates"] = {"pairs": {"a": pairs[0].tolist(), "b": pairs[1].tolist()}}
    return out

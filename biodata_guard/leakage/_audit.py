"""The leakage checks on an audit context, and what they read from the audit's shared pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import AuditContext
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, not_checked
from biodata_guard.io.matrix import MatrixView
from biodata_guard.leakage._common import parse_splits, require_columns
from biodata_guard.leakage._duplicates import check_duplicate_samples
from biodata_guard.leakage._embedding import (
    MAX_FIT_ROWS,
    N_COMPONENTS,
    embedding_key,
    fit_embedding,
)
from biodata_guard.leakage._near import NEAR_DUPLICATES, check_near_duplicates
from biodata_guard.leakage._overlap import (
    check_group_overlap,
    check_id_overlap,
    group_overlap_stats,
)
from biodata_guard.leakage._preprocessing import (
    PREPROCESSING_BEFORE_SPLIT,
    check_preprocessing_before_split,
)
from biodata_guard.leakage._row_hashes import RowHashes
from biodata_guard.leakage._shortcuts import check_metadata_predicts_label
from biodata_guard.leakage._split_moments import SplitMoments, moments_key


def _feature_splits(ctx: AuditContext, view: MatrixView, split_col: str) -> np.ndarray | None:
    """The split column in the row order of ``view``, or None when it cannot be aligned."""
    samples = ctx.samples
    if ctx.aligned and len(samples) == view.n_obs:
        return samples[split_col].to_numpy()
    index = pd.Index(samples.index.astype(str))
    if index.is_unique and view.obs_names.isin(index).all():
        return samples[split_col].set_axis(index).reindex(view.obs_names).to_numpy()
    return None


def _unaligned_reason(ctx: AuditContext, view: MatrixView, split_col: str) -> str:
    index = pd.Index(ctx.samples.index.astype(str))
    found = int(view.obs_names.isin(index).sum())
    dup = "" if index.is_unique else f"; {int(index.duplicated().sum())} repeated sample ids"
    return (
        f"{split_col} cannot be matched to the rows of {view.name} ({found} of {view.n_obs} "
        f"row ids found in {ctx.samples_name}{dup})"
    )


def stream_accumulators(ctx: AuditContext, fi: Any) -> dict[tuple, Any]:
    """What :func:`audit_leakage` reads from the primary feature matrix (row hashes, split
    moments, the near-duplicate projection), for the audit's shared pass -- same keys as the
    checks use, so none of them reads the matrix again."""
    if not ctx.features or fi is not ctx.features[0]:
        return {}
    cfg, view = ctx.config, fi.view
    accs: dict[tuple, Any] = {("leakage.row_hashes",): RowHashes(*view.shape)}
    if ctx.samples is None or not cfg.split_col or cfg.split_col not in ctx.samples.columns:
        return accs
    splits = _feature_splits(ctx, view, cfg.split_col)
    if splits is None:
        return accs
    try:
        sp_ = parse_splits(splits, view.n_obs, view.name, cfg.split_col)
        if len(sp_.names) < 2:
            return accs
        accs[moments_key(sp_.codes)] = SplitMoments(sp_.codes, len(sp_.names), view.n_vars)
        if view.n_vars >= 2:
            size = {"n_components": N_COMPONENTS, "max_fit_rows": MAX_FIT_ROWS, "seed": cfg.seed}
            proj = fit_embedding(view, **size)
            if proj is not None:
                accs[embedding_key(**size)] = proj
    except (InputError, ConfigError):
        pass  # the checks raise the same error themselves, with their context
    return accs


def _audit_overlap(ctx: AuditContext) -> list[Finding]:
    """Id and group overlap of the sample table; group counts to the report's artifacts."""
    cfg, samples, name = ctx.config, ctx.samples, ctx.samples_name
    split_col, group_cols = cfg.split_col, list(cfg.group_cols)
    id_col = cfg.id_col if cfg.id_col and cfg.id_col in samples.columns else None
    out = check_id_overlap(
        samples, split_col=split_col, id_col=id_col, name=name, label_col=cfg.label_col
    )
    out += check_group_overlap(
        samples,
        split_col=split_col,
        group_cols=group_cols,
        name=name,
        max_overlap_fraction=cfg.max_overlap_fraction,
        label_col=cfg.label_col,
    )
    if group_cols:
        sp_ = parse_splits(samples[split_col].to_numpy(), len(samples), name, split_col)
        overlap = {}
        for col in group_cols:
            st = group_overlap_stats(samples[col].to_numpy(), sp_)
            overlap[col] = {
                "groups_per_split": st.groups_per_split,
                "shared_groups": st.shared_groups,
            }
        ctx.artifacts.setdefault("leakage", {})["group_overlap"] = overlap
    return out


def _audit_shortcuts(ctx: AuditContext) -> list[Finding]:
    """Label shortcuts among the configured metadata columns (default: every sample column but
    the label, split, group and replicate columns, plus the sample id)."""
    cfg, samples = ctx.config, ctx.samples
    group_cols = list(cfg.group_cols)
    frame = samples
    if cfg.metadata_cols:
        cols = list(cfg.metadata_cols)
    else:
        skip = {cfg.label_col, cfg.split_col, cfg.replicate_col, *group_cols}
        cols = [c for c in samples.columns if c not in skip]
        id_name = cfg.id_col or samples.index.name or "sample_id"
        if id_name not in samples.columns:
            frame = samples.assign(**{id_name: samples.index.astype(str)})
            cols.append(id_name)
    return check_metadata_predicts_label(
        frame,
        label_col=cfg.label_col,
        metadata_cols=cols,
        group_col=group_cols[0] if group_cols else None,
        name=ctx.samples_name,
        shortcut_score=cfg.shortcut_score,
        seed=cfg.seed,
    )


def _audit_features(ctx: AuditContext) -> list[Finding]:
    """Duplicates, near duplicates and preprocessing of the primary feature matrix."""
    cfg, split_col = ctx.config, ctx.config.split_col
    view = ctx.features[0].view
    hint_groups = list(cfg.group_cols)  # none configured: the hints use a placeholder
    has_split = ctx.samples is not None and bool(split_col)
    splits = _feature_splits(ctx, view, split_col) if has_split else None
    common = {"chunk_size": cfg.chunk_size, "label_col": cfg.label_col}
    if splits is not None:
        common["split_col"] = split_col
    out = check_duplicate_samples(view, splits, group_cols=hint_groups, **common)
    if splits is not None:
        out += check_near_duplicates(
            view,
            splits,
            similarity=cfg.near_duplicate_similarity,
            alpha=cfg.near_duplicate_alpha,
            seed=cfg.seed,
            group_cols=hint_groups,
            **common,
        )
        out += check_preprocessing_before_split(view, splits, group_cols=hint_groups, **common)
    elif has_split:
        reason = _unaligned_reason(ctx, view, split_col)
        out += [
            not_checked(check, reason, input=view.name)
            for check in (NEAR_DUPLICATES, PREPROCESSING_BEFORE_SPLIT)
        ]
    return out


def audit_leakage(ctx: AuditContext) -> list[Finding]:
    """Run the leakage checks on what the audit configures.

    Uses ``split_col`` (id and group overlap, duplicates and near duplicates across splits,
    preprocessing), ``group_cols``, ``label_col`` and ``metadata_cols`` (label shortcuts; default:
    every sample column except label, split, group, replicate columns, plus the sample id),
    ``id_col``, ``max_overlap_fraction``, ``shortcut_score``, ``near_duplicate_similarity``,
    ``near_duplicate_alpha``, ``seed`` and ``chunk_size``. Feature checks use
    ``ctx.features[0]``. Group overlap counts go to
    ``ctx.artifacts["leakage"]["group_overlap"]``.
    """
    cfg, samples = ctx.config, ctx.samples
    out: list[Finding] = []
    if samples is not None:
        configured = [
            c for c in (cfg.split_col, cfg.label_col, *cfg.group_cols, *cfg.metadata_cols) if c
        ]
        require_columns(samples, configured, ctx.samples_name)
        if cfg.split_col:
            out += _audit_overlap(ctx)
        if cfg.label_col:
            out += _audit_shortcuts(ctx)
    if ctx.features:
        out += _audit_features(ctx)
    return out

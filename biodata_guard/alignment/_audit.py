"""The alignment group's audit: feature matrices, labels and metadata against each other."""

from __future__ import annotations

import pandas as pd

from biodata_guard._context import AuditContext
from biodata_guard.alignment._ids import KEY_DUPLICATES, check_alignment, check_missing_labels
from biodata_guard.alignment._sex import audit_sex_concordance
from biodata_guard.findings import Finding


def _features_vs_tables(ctx: AuditContext) -> list[Finding]:
    """Each feature matrix against the labels and the metadata; later matrices against the
    first (their duplicated ids were reported against the tables already)."""
    tables = ctx.tables
    cfg = ctx.config
    key = cfg.id_col or next((t[2] for t in tables.values()), "sample_id")
    out: list[Finding] = []
    for fi in ctx.features:
        for role in ("labels", "metadata"):
            if role in tables:
                df, name, id_col = tables[role]
                out += check_alignment(
                    fi.view.obs_names,
                    df[id_col],
                    left_name=fi.name,
                    right_name=name,
                    key=id_col,
                    label_col=cfg.label_col or "label",
                )
    first = ctx.features[0]
    for other in ctx.features[1:]:
        out += [
            f
            for f in check_alignment(
                first.view.obs_names,
                other.view.obs_names,
                left_name=first.name,
                right_name=other.name,
                key=key,
            )
            if f.check != KEY_DUPLICATES
        ]
    return out


def _missing_labels(ctx: AuditContext) -> list[Finding]:
    """Missing labels in the table that holds the label column (else the sample table)."""
    tables = ctx.tables
    col = ctx.config.label_col
    if col is None:
        return []
    source = next(
        (r for r in ("labels", "metadata") if r in tables and col in tables[r][0].columns),
        None,
    )
    if source is not None:
        df, name, id_col = tables[source]
        y = pd.Series(df[col].to_numpy(), index=df[id_col], name=col)
        return check_missing_labels(y, name=name, label_col=col)
    if ctx.samples is not None and col in ctx.samples.columns:
        return check_missing_labels(ctx.samples[col], name=ctx.samples_name, label_col=col)
    return []


def audit_alignment(ctx: AuditContext) -> list[Finding]:
    """Alignment between the feature matrices, the labels and the metadata.

    Runs :func:`check_alignment` for each feature matrix against the labels and the metadata
    (or labels against metadata when there is no matrix), :func:`check_missing_labels` on the
    label column, and :func:`audit_sex_concordance`. Writes nothing to ``ctx.artifacts``.
    """
    tables = ctx.tables
    out: list[Finding] = []
    if ctx.features:
        out += _features_vs_tables(ctx)
    elif "labels" in tables and "metadata" in tables:
        mdf, mname, mid = tables["metadata"]
        ldf, lname, lid = tables["labels"]
        out += check_alignment(mdf[mid], ldf[lid], left_name=mname, right_name=lname, key=mid)
    out += _missing_labels(ctx)
    return out + audit_sex_concordance(ctx)

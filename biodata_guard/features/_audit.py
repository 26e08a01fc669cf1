"""The features group of an audit: each input's ids, its AnnData structure, and every pair of
feature lists that should line up (the inputs with each other, each with the reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biodata_guard.features._checks import check_feature_duplicates, check_feature_ids
from biodata_guard.features._ids import parse_ids, profile_ids
from biodata_guard.features._mismatch import Side, compare_features, mismatch_finding
from biodata_guard.features._structure import check_anndata_structure
from biodata_guard.findings import Finding
from biodata_guard.io.feature_list import read_feature_list
from biodata_guard.registry import declare_param

declare_param(
    "reference_features",
    None,
    kind="path",
    help="The features a model was trained on (a text file with one id per line, a CSV/TSV "
    "column, or an h5ad's var_names); every feature input is compared with it.",
    section="inputs",
    flag="--reference-features",
)

_CACHE_KEY = ("features", "reference")


def audit_features(ctx: Any) -> list[Finding]:
    """Feature checks for one audit.

    Each feature input (and the reference list, ``ctx.config.reference_features``): its id
    namespace (``features.id_type``), mixes (``features.mixed_ids``) and duplicates
    (``features.duplicates``); each AnnData's structure (``.raw``, matrix roles,
    ``uns['log1p']``); then ``features.mismatch`` for every input after the first against the
    first, and for every input against the reference. Plot data (set sizes and overlaps before
    and after normalising the ids) go to ``ctx.artifacts["features"]``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from biodata_guard._context import AuditContext, FeatureInput
    >>> from biodata_guard.config import AuditConfig
    >>> from biodata_guard.io.matrix import as_matrix
    >>> genes = [f"ENSG{i:011d}" for i in range(1, 101)]
    >>> X = np.random.default_rng(0).poisson(5, (20, 100))
    >>> a = pd.DataFrame(X, columns=[g + ".2" for g in genes])
    >>> b = pd.DataFrame(X, columns=genes)
    >>> ctx = AuditContext(config=AuditConfig(), features=[
    ...     FeatureInput("a.csv", as_matrix(a, name="a.csv")),
    ...     FeatureInput("b.csv", as_matrix(b, name="b.csv"))])
    >>> [(f.check, f.evidence["reasons"]) for f in audit_features(ctx) if f.severity == "error"]
    [('features.mismatch', ['versions'])]
    """
    alpha = ctx.config.alpha
    sides = [_side(fi) for fi in ctx.features]
    reference = _reference(ctx)
    findings: list[Finding] = []
    for fi, side in zip(ctx.features, sides, strict=True):
        exclude = _non_genes(fi)
        findings += check_feature_ids(
            side.ids, name=side.name, alpha=alpha, exclude=exclude, kind=_kind(side)
        )
        findings += check_feature_duplicates(
            side.ids, name=side.name, obs_names=fi.view.obs_names, kind=_kind(side)
        )
    if reference is not None:
        findings += check_feature_ids(reference.ids, name=reference.name, alpha=alpha)
        findings += check_feature_duplicates(reference.ids, name=reference.name)
    for fi in ctx.features:
        if fi.adata is not None:
            x_view = fi.view if ctx.config.layer is None else None
            findings += check_anndata_structure(
                fi.adata, name=fi.name, chunk_size=int(ctx.config.chunk_size), x_view=x_view
            )
    pairs = [(x, sides[0]) for x in sides[1:]]
    pairs += [(x, reference) for x in sides if reference is not None]
    compared = [(x, y, compare_features(x, y)) for x, y in pairs]
    findings += [mismatch_finding(x, y, c) for x, y, c in compared if c.reasons]
    ctx.artifacts["features"] = _artifact(sides, reference, compared)
    return findings


def _side(fi: Any) -> Side:
    """The audited feature list of one input, with the ``.var`` that can map it."""
    var = None
    if fi.adata is not None:
        var = fi.adata.raw.var if fi.view.name.endswith("[raw]") else fi.adata.var
        if len(var) != fi.view.n_vars:
            var = None
    kind = "table" if fi.adata is None else "anndata"
    return Side(fi.view.var_names, fi.name, kind, var)


def _kind(side: Side) -> str:
    return "anndata" if side.kind == "anndata" else "table"


def _non_genes(fi: Any) -> np.ndarray | None:
    """Features an AnnData marks as not genes (``var['feature_types']``: antibody tags ...)."""
    if fi.adata is None or fi.view.name.endswith("[raw]"):
        return None
    var = fi.adata.var
    if "feature_types" not in var.columns or len(var) != fi.view.n_vars:
        return None
    return (var["feature_types"].astype(str) != "Gene Expression").to_numpy()


def _reference(ctx: Any) -> Side | None:
    """The reference list (``--reference-features``), read once per audit."""
    path = ctx.config.reference_features
    if path is None:
        return None
    if _CACHE_KEY not in ctx.cache:
        ids = read_feature_list(path)
        ctx.cache[_CACHE_KEY] = Side(ids, Path(path).name, "reference")
    return ctx.cache[_CACHE_KEY]


def _artifact(sides: list[Side], reference: Side | None, compared: list) -> dict[str, Any]:
    """Plot data: each list's size and namespace, each compared pair's overlaps per level."""
    lists = [*sides, *([reference] if reference is not None else [])]
    inputs = []
    for side in lists:
        prof = profile_ids(parse_ids(side.ids))
        inputs.append(
            {
                "name": side.name,
                "n_features": prof.n,
                "label": prof.label,
                "reference": side.kind == "reference",
            }
        )
    pairs = [
        {
            "x": x.name,
            "y": y.name,
            "n_x": c.n_x,
            "n_y": c.n_y,
            "overlap": dict(c.overlap),
            "best_level": c.level,
            "n_missing": c.n_missing,
            "n_extra": c.n_extra,
            "reasons": list(c.reasons),
            "reference": y.kind == "reference",
        }
        for x, y, c in compared
    ]
    return {"inputs": inputs, "pairs": pairs}

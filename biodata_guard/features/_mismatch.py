"""Two feature lists that should line up (two inputs of one audit, or an input and the model's
reference list) and do not: ``features.mismatch``, with the overlap before and after
normalising the ids and the exact step that makes them agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.features._checks import rename_call, strip_versions_call
from biodata_guard.features._ids import NAMESPACE_LABELS, ParsedIds, parse_ids, profile_ids
from biodata_guard.features._tables import ORGANISMS, TABLE_RELEASE, map_feature_ids
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check, declare_need

declare_need(
    "feature_pair",
    says="two feature matrices (--features twice) or a reference list (--reference-features)",
    present=lambda ctx: (
        len(ctx.features) >= 2 or (bool(ctx.features) and ctx.config.reference_features is not None)
    ),
)
MISMATCH = declare_check(
    "features.mismatch",
    group="features",
    severities=("error",),
    needs=("feature_pair",),
    doc="Feature inputs (or an input and --reference-features) whose ids differ: namespace, "
    "version, annotation release, organism, missing genes, or order when the sets agree.",
)

_LEVELS = ("exact", "unversioned", "casefold", "mapped")


@dataclass(frozen=True)
class Side:
    """One feature list to compare: its ids, name, kind and the AnnData ``.var`` (mappings)."""

    ids: Any
    name: str
    kind: str = "table"  # "table", "anndata" or "reference"
    var: pd.DataFrame | None = None


@dataclass(frozen=True)
class FeatureComparison:
    """How list ``x`` (to be fixed) compares with list ``y`` (the target), level by level."""

    n_x: int
    n_y: int
    overlap: dict[str, int]  # level -> shared unique ids (exact, unversioned, casefold, mapped)
    level: str  # the first level reaching the best overlap
    mapped_via: str | None  # "var['gene_ids']" or "GENCODE 48 (GRCh38)"
    mapped_to: str | None  # "symbol" / "ensembl"
    reasons: tuple[str, ...]  # organism, namespace, versions, releases, case, set, order
    missing: tuple[str, ...]  # ids of y absent from x at ``level`` (first ones)
    n_missing: int
    n_extra: int  # ids of x absent from y at ``level``
    version_conflicts: int  # genes in both, versioned in both, with different versions
    first_order_difference: int | None
    namespaces: tuple[str, str]
    organisms: tuple[str, str]
    versions: tuple[str, str]


def _keys(parsed: ParsedIds, level: str) -> np.ndarray:
    if level == "exact":
        return parsed.ids
    return parsed.base if level == "unversioned" else parsed.folded


def _unique(values: np.ndarray) -> list[str]:
    return list(dict.fromkeys(values.tolist()))


def _var_mapping(side: Side, target_ns: str, y_keys: set[str]) -> tuple[np.ndarray, str] | None:
    """The ``.var`` column of ``side`` holding ids of ``target_ns`` that best cover ``y``."""
    if side.var is None:
        return None
    best = None
    for col in side.var.columns:
        s = side.var[col]
        if not (s.dtype == object or isinstance(s.dtype, (pd.CategoricalDtype, pd.StringDtype))):
            continue
        values = s.astype(str).to_numpy()
        parsed = parse_ids(values)
        if profile_ids(parsed).namespace != target_ns:
            continue
        hit = len(set(parsed.base.tolist()) & y_keys)
        if best is None or hit > best[0]:
            best = (hit, parsed.base, f"var['{col}']")
    return None if best is None else (best[1], best[2])


def _mapped(x: Side, px: ParsedIds, ns: tuple[str, str], organism: str, y_base: set[str]):
    """``x`` mapped into ``y``'s namespace: through a ``.var`` column, else the shipped table."""
    if set(ns) != {"ensembl_gene", "symbol"}:
        return None
    to = "ensembl" if ns[1] == "ensembl_gene" else "symbol"
    via = _var_mapping(x, ns[1], y_base)
    if via is not None and len(set(via[0].tolist()) & y_base):
        return via[0], via[1], to
    if organism not in ORGANISMS:
        return None
    keys = parse_ids(map_feature_ids(px.ids, to=to, organism=organism)).base
    return keys, TABLE_RELEASE[organism], to


def compare_features(x: Side, y: Side) -> FeatureComparison:
    """Compare feature lists ``x`` (the one to fix) and ``y`` (the target) at each level:
    exact ids, versions stripped, case folded, and mapped into ``y``'s namespace.

    Examples
    --------
    >>> c = compare_features(Side(["ENSG00000141510.17", "ENSG00000012048.23"], "a.csv"),
    ...                      Side(["ENSG00000141510", "ENSG00000012048"], "b.csv"))
    >>> c.overlap["exact"], c.overlap["unversioned"], c.reasons
    (0, 2, ('versions',))
    """
    px, py = parse_ids(x.ids), parse_ids(y.ids)
    prof_x, prof_y = profile_ids(px), profile_ids(py)
    keys_x = {lv: _keys(px, lv) for lv in _LEVELS[:3]}
    keys_y = {lv: _keys(py, lv) for lv in _LEVELS[:3]}
    ns = (prof_x.namespace, prof_y.namespace)
    organism = prof_x.organism if prof_x.organism != "unknown" else prof_y.organism
    mapped = _mapped(x, px, ns, organism, set(py.base.tolist()))
    if mapped is not None:
        keys_x["mapped"], keys_y["mapped"] = mapped[0], py.base
    overlap = {lv: len(set(keys_x[lv].tolist()) & set(keys_y[lv].tolist())) for lv in keys_x}
    level = max(overlap, key=lambda lv: (overlap[lv], -_LEVELS.index(lv)))
    ux, uy = _unique(keys_x[level]), _unique(keys_y[level])
    sx, sy = set(ux), set(uy)
    missing = [py.ids[i] for i, k in enumerate(keys_y[level].tolist()) if k not in sx]
    n_extra = sum(1 for k in ux if k not in sy)
    conflicts = _version_conflicts(px, py)
    order = None
    if sx == sy and len(ux) == len(uy) == len(px.ids) == len(py.ids):
        differs = np.flatnonzero(keys_x[level] != keys_y[level])
        order = int(differs[0]) if len(differs) else None
    reasons = _reasons(prof_x, prof_y, overlap, level, conflicts, y, missing, n_extra, order)
    return FeatureComparison(
        n_x=len(px.ids),
        n_y=len(py.ids),
        overlap=overlap,
        level=level,
        mapped_via=None if mapped is None or level != "mapped" else mapped[1],
        mapped_to=None if mapped is None or level != "mapped" else mapped[2],
        reasons=reasons,
        missing=tuple(str(m) for m in missing[:50]),
        n_missing=len(missing),
        n_extra=n_extra,
        version_conflicts=conflicts,
        first_order_difference=order,
        namespaces=ns,
        organisms=(prof_x.organism, prof_y.organism),
        versions=(prof_x.versions, prof_y.versions),
    )


def _version_conflicts(px: ParsedIds, py: ParsedIds) -> int:
    """Genes versioned in both lists whose versions differ (another annotation release)."""
    vx = dict(zip(px.base[px.versioned].tolist(), px.ids[px.versioned].tolist(), strict=True))
    vy = dict(zip(py.base[py.versioned].tolist(), py.ids[py.versioned].tolist(), strict=True))
    return sum(1 for k, v in vx.items() if k in vy and vy[k] != v)


def _reasons(prof_x, prof_y, overlap, level, conflicts, y, missing, n_extra, order) -> tuple:
    out = []
    if "unknown" not in (prof_x.organism, prof_y.organism) and prof_x.organism != prof_y.organism:
        out.append("organism")
    if prof_x.namespace != prof_y.namespace:
        out.append("namespace")
    if overlap["unversioned"] > overlap["exact"]:
        out.append("releases" if conflicts else "versions")
    if overlap["casefold"] > overlap["unversioned"] and "organism" not in out:
        out.append("case")
    if missing or (n_extra and y.kind != "reference"):
        out.append("set")
    if order is not None and not missing and not n_extra:
        out.append("order")
    return tuple(out)


def _reason_text(reason: str, c: FeatureComparison, y: Side) -> str:
    """One reason of a mismatch, in words, with its numbers."""
    if reason == "organism":
        return f"organisms differ ({c.organisms[0]} vs {c.organisms[1]})"
    if reason == "namespace":
        names = [NAMESPACE_LABELS[n] for n in c.namespaces]
        return f"namespaces differ ({names[0]} vs {names[1]})"
    if reason == "versions":
        vx, vy = (v or "no versions" for v in c.versions)
        return f"ids agree only without versions ({vx} vs {vy})"
    if reason == "releases":
        return (
            f"annotation releases differ ({c.version_conflicts} shared genes have other versions)"
        )
    if reason == "case":
        return "ids agree only ignoring case"
    if reason == "set":
        text = f"{c.n_missing} of {y.name}'s features missing"
        text += f" ({preview(c.missing, total=c.n_missing)})" if c.n_missing else ""
        return text + (f", {c.n_extra} not in {y.name}" if c.n_extra else "")
    return (
        f"same features in another order (first difference at position {c.first_order_difference})"
    )


def mismatch_finding(x: Side, y: Side, c: FeatureComparison) -> Finding:
    """``features.mismatch`` for one compared pair (``x`` is fixed to match ``y``)."""
    cover = fraction(c.overlap[c.level], len(set(parse_ids(y.ids).ids.tolist())))
    parts = [_reason_text(r, c, y) for r in c.reasons]
    level = {"exact": "", "unversioned": " after stripping versions", "casefold": " ignoring case"}
    level["mapped"] = f" after mapping through {c.mapped_via}"
    target = "reference " if y.kind == "reference" and "reference" not in y.name else ""
    return Finding(
        MISMATCH,
        Severity.ERROR,
        f"{x.name} vs {target}{y.name}: {'; '.join(parts)}; covers {cover} of {y.name}'s "
        f"features{level[c.level]} (exact: {c.overlap['exact']})",
        evidence={
            "reasons": list(c.reasons),
            "n_features": c.n_x,
            "n_reference" if y.kind == "reference" else "n_other": c.n_y,
            "overlap": c.overlap,
            "best_level": c.level,
            "mapped_via": c.mapped_via,
            "n_missing": c.n_missing,
            "n_extra": c.n_extra,
            "version_conflicts": c.version_conflicts,
            "first_order_difference": c.first_order_difference,
            "namespaces": list(c.namespaces),
            "organisms": list(c.organisms),
        },
        subjects=subjects(c.missing),
        hint=mismatch_hint(x, y, c),
        input=x.name,
    )


def _frame(side: Side) -> str:
    return {"anndata": "adata", "reference": "reference"}.get(side.kind, "df")


def mismatch_hint(x: Side, y: Side, c: FeatureComparison) -> str:
    """The steps, in order, that make ``x`` line up with ``y`` (each names its input)."""
    steps = []
    if "organism" in c.reasons:
        steps.append(
            f"{x.name} is {c.organisms[0]} and {y.name} {c.organisms[1]}: use a reference "
            "(model) of the same organism, or map orthologs explicitly before comparing"
        )
    if "namespace" in c.reasons and c.mapped_via is not None:
        steps.append(f"{x.name}: {_map_statement(x, c)}")
    if {"versions", "releases"} & set(c.reasons):
        for side, v in ((x, c.versions[0]), (y, c.versions[1])):
            if v in ("versioned", "mixed"):
                steps.append(f"{side.name}: {_strip(side)}")
    if "case" in c.reasons:
        ref = _frame(y) if y.kind == "reference" else f"{y.name}'s features"
        steps.append(
            f"{x.name}: spell the ids as {y.name} does (lookup = {{g.upper(): g for g in "
            f"{ref}}}; " + rename_call(_kind(x), "[lookup.get(c.upper(), c) for c in {ids}]") + ")"
        )
    if "set" in c.reasons:
        steps.append(_set_step(x, y, c))
    if "order" in c.reasons:
        steps.append(_order_step(x, y))
    return "; then ".join(steps) + "."


def _kind(side: Side) -> str:
    return "anndata" if side.kind == "anndata" else "table"


def _strip(side: Side) -> str:
    if side.kind == "reference":
        return "reference = reference.str.replace(r'\\.\\d+$', '', regex=True)"
    return strip_versions_call(_kind(side))


def _map_statement(x: Side, c: FeatureComparison) -> str:
    if c.mapped_via is not None and c.mapped_via.startswith("var["):
        return f"adata.var_names = adata.{c.mapped_via}.astype(str)"
    organism = next(o for o, r in TABLE_RELEASE.items() if r == c.mapped_via)
    call = f"map_feature_ids({{ids}}, to='{c.mapped_to}', organism='{organism}')"
    return "from biodata_guard.features import map_feature_ids; " + rename_call(_kind(x), call)


def _set_step(x: Side, y: Side, c: FeatureComparison) -> str:
    if y.kind == "reference":
        fill = (
            "adata = adata[:, adata.var_names.isin(reference)]  # then add the missing genes"
            if x.kind == "anndata"
            else "df = df.reindex(columns=reference)  # the missing genes become NaN"
        )
        return (
            f"{x.name}: {c.n_missing} of the model's features are absent; align to the "
            f"reference and decide how the model should see them ({fill}), or retrain on the "
            "shared features"
        )
    return (
        f"{x.name} and {y.name}: subset both to the features they share, in one order (tables: "
        "common = df_y.columns.intersection(df_x.columns); df_x, df_y = df_x[common], "
        "df_y[common]; AnnData: the same with var_names and adata[:, common])"
    )


def _order_step(x: Side, y: Side) -> str:
    if y.kind == "reference":
        fix = "adata = adata[:, reference].copy()" if x.kind == "anndata" else "df = df[reference]"
        return f"{x.name}: {fix}"
    return f"{x.name}: put the features in {y.name}'s order (select them by name, not position)"


def _as_side(obj: Any, name: str, *, reference: bool = False) -> Side:
    """A feature list from an AnnData (``var_names`` and ``.var``), a DataFrame (its columns:
    samples x features) or a list of ids."""
    if reference:
        ids = getattr(obj, "var_names", getattr(obj, "columns", obj))
        return Side(pd.Index([str(v) for v in ids]), name, "reference")
    if hasattr(obj, "var_names") and hasattr(obj, "var"):
        return Side(obj.var_names, name, "anndata", obj.var)
    ids = obj.columns if isinstance(obj, pd.DataFrame) else obj
    return Side(pd.Index([str(v) for v in ids]), name, "table")


def check_features_mismatch(
    features: Any,
    other: Any,
    *,
    name: str = "features",
    other_name: str = "reference",
    other_is_reference: bool = True,
) -> list[Finding]:
    """Compare the features of an input with a reference list (or another input).

    Parameters
    ----------
    features
        The input to align: an AnnData (its ``var_names``; ``.var`` columns holding another
        namespace, such as 10x's ``var["gene_ids"]``, are used as mappings), a DataFrame
        (samples x features: its columns) or a list of ids.
    other
        The reference list (the features a model was trained on), or another input.
    name, other_name
        Names in messages and hints.
    other_is_reference
        ``other`` is the model's list: genes of ``features`` it does not use are fine, genes it
        needs that ``features`` lacks are not. Otherwise both sets must agree.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> var = pd.DataFrame({"gene_ids": ["ENSG00000141510", "ENSG00000012048"]},
    ...                    index=["TP53", "BRCA1"])
    >>> adata = ad.AnnData(np.ones((2, 2), dtype=np.float32), var=var)
    >>> [f] = check_features_mismatch(adata, ["ENSG00000012048", "ENSG00000141510"],
    ...                               name="cells.h5ad", other_name="model_genes.txt")
    >>> f.evidence["reasons"], f.hint
    (['namespace', 'order'], "cells.h5ad: adata.var_names = adata.var['gene_ids'].astype(str); \
then cells.h5ad: adata = adata[:, reference].copy().")
    """
    x = _as_side(features, name)
    y = _as_side(other, other_name, reference=other_is_reference)
    c = compare_features(x, y)
    return [mismatch_finding(x, y, c)] if c.reasons else []

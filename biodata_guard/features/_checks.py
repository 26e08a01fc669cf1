"""One input's feature ids: their namespace (``features.id_type``), mixes of namespaces, versions
or organisms (``features.mixed_ids``), and duplicated names (``features.duplicates``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.features._ids import (
    ENSEMBL,
    GENE_NAMESPACES,
    NAMESPACE_LABELS,
    IdProfile,
    ParsedIds,
    parse_ids,
    profile_ids,
)
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

ID_TYPE = declare_check(
    "features.id_type",
    group="features",
    severities=("info",),
    needs=("features",),
    doc="The namespace of each input's feature ids (Ensembl gene / transcript / protein, "
    "versioned or not, symbols, Entrez, RefSeq, probes) and the organism they imply.",
)
MIXED_IDS = declare_check(
    "features.mixed_ids",
    group="features",
    severities=("error",),
    needs=("features",),
    params=("alpha",),
    doc="One input mixing namespaces (symbols among Ensembl ids), versioned with unversioned "
    "ids, organisms (mouse genes in a human matrix), or read-counter rows among genes.",
)
DUPLICATES = declare_check(
    "features.duplicates",
    group="features",
    severities=("error",),
    needs=("features",),
    doc="Feature names that repeat, also after stripping versions or case (MT-CO1 / mt-Co1), "
    "and repeated sample names of an AnnData.",
)

#: Per-symbol rate at which a symbol of one organism exact-matches only the other organism's
#: table (measured: 2 of 56,422 mouse symbols of an Ensembl BioMart export match human-only
#: GENCODE 48 symbols; 0 of 61,217 and 0 of 29,699 human GENCODE symbols match mouse-only ones).
#: 1.1e-4 is the one-sided 95% upper bound of 2 / 56,422; the organism test uses it as the
#: null rate, so a single-organism input is flagged with probability <= alpha.
SYMBOL_MISCALL_RATE = 1.1e-4
_STRIP = r"\.\d+$"


@dataclass(frozen=True)
class Mix:
    """Ids of one input outside its dominant namespace, version style or organism."""

    kind: str  # "namespace", "versions", "organism", "counters"
    positions: tuple[int, ...]  # the offending ids, in input order
    n_considered: int  # the ids the kind was judged on
    detail: dict[str, Any]


def find_mixes(
    parsed: ParsedIds, prof: IdProfile, *, alpha: float, exclude: np.ndarray | None = None
) -> list[Mix]:
    """The mixes in one list of ids (pure statistics; ``exclude`` marks non-gene features).

    Namespaces: ids of another gene namespace than the dominant one (Ensembl gene ids among
    symbols are not counted: current GENCODE and Cell Ranger references name unnamed genes by
    their id). Versions: versioned and unversioned Ensembl / RefSeq ids together. Organisms:
    Ensembl ids of two species (exact), or symbols of the minority organism beyond what
    :data:`SYMBOL_MISCALL_RATE` explains (binomial tail < ``alpha``). Counters: HTSeq / STAR
    summary rows.
    """
    keep = np.ones(len(parsed.ids), dtype=bool) if exclude is None else ~np.asarray(exclude)
    ns = parsed.namespace
    out: list[Mix] = []
    if prof.namespace in GENE_NAMESPACES:
        other = keep & np.isin(ns, GENE_NAMESPACES) & (ns != prof.namespace)
        if prof.namespace == "symbol":
            other &= ns != "ensembl_gene"
        if other.any():
            found = Counter(ns[other].tolist())
            out.append(Mix("namespace", _pos(other), int(keep.sum()), {"found": dict(found)}))
    versionable = keep & np.isin(ns, (*ENSEMBL, "refseq"))
    n_ver = int((versionable & parsed.versioned).sum())
    n_unver = int((versionable & ~parsed.versioned).sum())
    if n_ver and n_unver:
        minority = parsed.versioned if n_ver < n_unver else ~parsed.versioned
        detail = {"n_versioned": n_ver, "n_unversioned": n_unver}
        out.append(Mix("versions", _pos(versionable & minority), n_ver + n_unver, detail))
    out += _organism_mix(parsed, keep, alpha)
    counters = keep & (ns == "counter")
    if counters.any():
        out.append(Mix("counters", _pos(counters), int(keep.sum()), {}))
    return out


def _pos(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(mask))


def _organism_mix(parsed: ParsedIds, keep: np.ndarray, alpha: float) -> list[Mix]:
    ens = keep & np.isin(parsed.namespace, ENSEMBL)
    species = Counter(parsed.organism[ens].tolist())
    if len(species) > 1:
        major = max(species, key=lambda o: (species[o], o == "human"))
        bad = ens & (parsed.organism != major)
        detail = {"organisms": dict(sorted(species.items())), "majority": major, "test": "prefix"}
        return [Mix("organism", _pos(bad), int(ens.sum()), detail)]
    sym = keep & (parsed.namespace == "symbol") & np.isin(parsed.organism, ("human", "mouse"))
    calls = Counter(parsed.organism[sym].tolist())
    if len(calls) < 2:
        return []
    major = max(calls, key=lambda o: (calls[o], o == "human"))
    minor = "mouse" if major == "human" else "human"
    n, k = int(sym.sum()), calls[minor]
    p = float(binom.sf(k - 1, n, SYMBOL_MISCALL_RATE))
    if p >= alpha:
        return []
    detail = {
        "organisms": dict(sorted(calls.items())),
        "majority": major,
        "test": "symbol tables",
        "p_value": p,
        "null_rate": SYMBOL_MISCALL_RATE,
        "alpha": alpha,
    }
    return [Mix("organism", _pos(sym & (parsed.organism == minor)), n, detail)]


def rename_call(kind: str, expr: str) -> str:
    """The statement that renames the features of an input: ``df.columns = <expr of df.columns>``
    for tables, ``adata.var_names = <...>`` for AnnData (``expr`` uses ``{ids}``)."""
    target = "adata.var_names" if kind == "anndata" else "df.columns"
    return f"{target} = {expr.format(ids=target)}"


def strip_versions_call(kind: str) -> str:
    """The exact statement that strips version suffixes (``ENSG00000141510.17`` -> ``...510``)."""
    return rename_call(kind, "{ids}.str.replace(r'" + _STRIP + "', '', regex=True)")


def id_type_finding(name: str, prof: IdProfile) -> Finding:
    others = {k: v for k, v in prof.namespaces.items() if k != prof.namespace}
    also = "; also " + ", ".join(f"{v} {NAMESPACE_LABELS[k]}" for k, v in others.items())
    prefixes = (
        f"; genome prefixes {', '.join(prof.genome_prefixes)}" if prof.genome_prefixes else ""
    )
    return Finding(
        ID_TYPE,
        Severity.INFO,
        f"{name}: features are {prof.label}: {fraction(prof.n_fit, prof.n)} fit"
        + (also if others else "")
        + prefixes,
        evidence={
            "namespace": prof.namespace,
            "organism": prof.organism,
            "versions": prof.versions or None,
            "n_features": prof.n,
            "n_fit": prof.n_fit,
            "fraction_fit": prof.n_fit / prof.n if prof.n else 0.0,
            "namespaces": prof.namespaces,
            "organisms": prof.organisms,
            "organisms_with_case": prof.case_organisms,
            "n_versioned": prof.n_versioned,
            "n_unversioned": prof.n_unversioned,
            "genome_prefixes": list(prof.genome_prefixes),
        },
        input=name,
    )


def mix_finding(name: str, parsed: ParsedIds, prof: IdProfile, mix: Mix, kind: str) -> Finding:
    """``features.mixed_ids`` for one mix; ``kind`` is ``"anndata"`` or ``"table"``."""
    ids = [str(parsed.ids[i]) for i in mix.positions]
    k = len(ids)
    what, hint = _mix_wording(mix, prof, kind, ids)
    return Finding(
        MIXED_IDS,
        Severity.ERROR,
        f"{name}: {fraction(k, mix.n_considered)} features are {what} ({preview(ids)})",
        evidence={"kind": mix.kind, "n_mixed": k, "n_considered": mix.n_considered, **mix.detail},
        subjects=subjects(ids),
        hint=hint,
        input=name,
    )


def _mix_wording(mix: Mix, prof: IdProfile, kind: str, ids: list[str]) -> tuple[str, str]:
    main = NAMESPACE_LABELS[prof.namespace]
    drop = (
        "adata = adata[:, ~adata.var_names.isin(offenders)].copy()"
        if kind == "anndata"
        else "df = df.drop(columns=offenders)"
    )
    if mix.kind == "namespace":
        found = ", ".join(NAMESPACE_LABELS[k] for k in mix.detail["found"])
        to = "ensembl" if prof.namespace == "ensembl_gene" else "symbol"
        organism = prof.organism if prof.organism != "unknown" else "human"
        fix = rename_call(kind, f"map_feature_ids({{ids}}, to='{to}', organism='{organism}')")
        return (
            f"{found} among {main}",
            f"Rename them into one namespace (from biodata_guard.features import "
            f"map_feature_ids; {fix}), or drop them ({drop}, offenders = the ids listed).",
        )
    if mix.kind == "versions":
        n_ver, n_unver = mix.detail["n_versioned"], mix.detail["n_unversioned"]
        style = "versioned among unversioned" if n_ver < n_unver else "unversioned among versioned"
        return (
            f"{style} ids",
            f"Strip the versions so every id has one form: {strip_versions_call(kind)}",
        )
    if mix.kind == "organism":
        minor = sorted(set(mix.detail["organisms"]) - {mix.detail["majority"]})
        return (
            f"{'/'.join(minor)} genes in a {mix.detail['majority']} feature set",
            f"Keep the {mix.detail['majority']} features only ({drop}, offenders = the "
            f"{len(ids)} listed; a mixed-species reference?), or map orthologs explicitly.",
        )
    return (
        f"{NAMESPACE_LABELS['counter']}, not genes",
        f"Drop the counter rows before modelling: {drop}, offenders = the ids listed.",
    )


def check_feature_ids(
    ids: Any,
    *,
    name: str = "features",
    alpha: float = 0.01,
    exclude: Any = None,
    kind: str = "table",
) -> list[Finding]:
    """The namespace of a list of feature ids (info) and the mixes in it (errors).

    Parameters
    ----------
    ids
        Feature ids: ``df.columns``, ``adata.var_names``, a list.
    name
        The input's name in messages.
    alpha
        False-alarm rate of the organism test on symbols.
    exclude
        Boolean mask of features that are not genes and are not judged for mixes (e.g.
        ``adata.var["feature_types"] != "Gene Expression"``).
    kind
        ``"table"`` or ``"anndata"``: how the hint renames the features.

    Examples
    --------
    >>> ids = [f"ENSG{i:011d}.1" for i in range(1, 200)] + ["TP53", "BRCA1"]
    >>> [(f.check, f.evidence.get("kind")) for f in check_feature_ids(ids, name="bulk.csv")]
    [('features.id_type', None), ('features.mixed_ids', 'namespace')]
    """
    parsed = parse_ids(ids)
    prof = profile_ids(parsed)
    mask = None if exclude is None else np.asarray(exclude, dtype=bool)
    out = [id_type_finding(name, prof)]
    for mix in find_mixes(parsed, prof, alpha=alpha, exclude=mask):
        out.append(mix_finding(name, parsed, prof, mix, kind))
    return out


def duplicate_groups(values: np.ndarray, distinct_from: np.ndarray | None = None) -> list[list]:
    """Positions of values that repeat, grouped by value, in first-occurrence order. With
    ``distinct_from``, only groups whose members differ there (a finer key) are kept."""
    s = pd.Series(values)
    dup = s.duplicated(keep=False).to_numpy()
    if not dup.any():
        return []
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(dup):
        groups.setdefault(str(values[i]), []).append(int(i))
    out = list(groups.values())
    if distinct_from is not None:
        out = [g for g in out if len({str(distinct_from[i]) for i in g}) > 1]
    return out


def _duplicate_finding(name: str, what: str, groups: list[list], ids: np.ndarray, hint: str):
    shown = [" / ".join(dict.fromkeys(str(ids[i]) for i in g)) for g in groups]
    n_members = sum(len(g) for g in groups)
    return Finding(
        DUPLICATES,
        Severity.ERROR,
        f"{name}: {len(groups)} {what} ({preview(shown)}; {n_members} entries in all)",
        evidence={"kind": what.split(" ")[0], "n_groups": len(groups), "n_entries": n_members},
        subjects=subjects(shown),
        hint=hint,
        input=name,
    )


def check_feature_duplicates(
    ids: Any, *, name: str = "features", obs_names: Any = None, kind: str = "table"
) -> list[Finding]:
    """Duplicated feature names: exact, after stripping versions, after case; duplicated sample
    names (``obs_names``).

    Examples
    --------
    >>> ids = ["ENSG00000141510.16", "ENSG00000141510.17", "MT-CO1", "mt-Co1", "GAPDH"]
    >>> [f.evidence["kind"] for f in check_feature_duplicates(ids, name="cells.h5ad")]
    ['versions', 'case']
    """
    parsed = parse_ids(ids)
    out = []
    exact = duplicate_groups(parsed.ids)
    if exact:
        out.append(
            _duplicate_finding(
                name,
                "exact duplicated feature name(s)",
                exact,
                parsed.ids,
                "Aggregate or drop the repeats "
                + (
                    "(adata = adata[:, ~adata.var_names.duplicated()].copy()); if they are "
                    "different genes sharing a symbol, index by Ensembl id instead "
                    "(adata.var_names = adata.var['gene_ids'])."
                    if kind == "anndata"
                    else "(df = df.loc[:, ~df.columns.duplicated()]); if they are different "
                    "genes sharing a symbol, index by Ensembl id instead."
                ),
            )
        )
    versions = duplicate_groups(parsed.base, distinct_from=parsed.ids)
    if versions:
        out.append(
            _duplicate_finding(
                name,
                "versions of one gene (same id after stripping versions)",
                versions,
                parsed.ids,
                "Keep one version of each gene (two annotation releases were combined), then "
                f"strip the versions: {strip_versions_call(kind)}",
            )
        )
    case = duplicate_groups(parsed.folded, distinct_from=parsed.base)
    if case:
        out.append(
            _duplicate_finding(
                name,
                "case variants of one name (same name ignoring case)",
                case,
                parsed.ids,
                "Keep one spelling: human symbols are upper case (MT-CO1), mouse symbols "
                "capitalised (mt-Co1); a mixed-species or mis-cased feature set.",
            )
        )
    if obs_names is not None:
        obs = np.asarray([str(v) for v in obs_names])
        groups = duplicate_groups(obs)
        if groups:
            out.append(
                _duplicate_finding(
                    name,
                    "sample name(s) repeated in obs_names",
                    groups,
                    obs,
                    "Make sample names unique at the source (adata.obs_names_make_unique() "
                    "only renames: check that the repeats are not the same cell twice).",
                )
            )
    return out

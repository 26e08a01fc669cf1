"""Chromosome naming: mixed or non-standard names in an input, different styles between inputs,
contigs outside the primary assembly (``build.contig_naming``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.build._inputs import CoordLike, _as_coords, _prepare, _Prepared
from biodata_guard.build._reference import (
    _ACCESSION,
    _canonical,
    _nonstandard,
    _rename,
    _sort_chrom,
    _style,
)
from biodata_guard.errors import ConfigError
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

CONTIG_NAMING = declare_check(
    "build.contig_naming",
    group="build",
    severities=("error", "warning", "info"),
    needs=("coords",),
    doc="Chromosome names mixed (chr1 with 1) or non-standard in an input, different between "
    "inputs, or on contigs outside the primary assembly.",
)

_STYLE_LABEL = {
    "chr": "chr-prefixed (UCSC)",
    "bare": "bare (Ensembl / NCBI, no chr prefix)",
    "accession": "RefSeq / GenBank accessions",
}


def _rename_hint(p: _Prepared, mapping: dict[str, str], target: str) -> str:
    """One command that renames ``mapping``'s chromosomes: pandas for a frame, bcftools for a
    VCF, sed for other files (tab- or comma-separated)."""
    col = p.chrom_col
    small = len(mapping) <= 6 or any(_ACCESSION.match(a) for a in mapping)
    if small:
        pandas = f"df['{col}'] = df['{col}'].replace({dict(mapping)!r})"
        sed = "; ".join(f"s/^{re.escape(a)}([\\t,])/{b}\\1/" for a, b in mapping.items())
    elif target == "bare":
        pandas = f"df['{col}'] = df['{col}'].str.replace(r'^chr', '', regex=True)"
        pandas += ".replace({'M': 'MT'})"
        sed = "s/^chr([^\\t,]*)/\\1/; s/^M([\\t,])/MT\\1/"
    else:
        pandas = f"df['{col}'] = 'chr' + df['{col}'].str.replace(r'^chr', '', regex=True)"
        pandas += ".replace({'MT': 'M'})"
        sed = "s/^([0-9]+|X|Y)([\\t,])/chr\\1\\2/; s/^MT([\\t,])/chrM\\1/"
    label = _STYLE_LABEL[target].split(" (")[0]
    if p.ci.path is None:
        return f"Rename to {label} names: {pandas}"
    if p.ci.kind == "vcf":
        pairs = preview((f"{a} {b}" for a, b in mapping.items()), n=6)
        return (
            f"Rename to {label} names with bcftools: write one 'old new' pair per line to "
            f"chroms.txt ({pairs}), then bcftools annotate --rename-chrs chroms.txt "
            f"{p.ci.path} -Oz -o renamed.vcf.gz"
        )
    return f"Rename to {label} names: sed -E '{sed}' {p.ci.path} > renamed_{Path(p.ci.path).name}"


# --------------------------------------------------------------------------- within an input


@dataclass(frozen=True)
class _NameStyles:
    """One input's chromosome names grouped by style (``chr``, ``bare``, ``accession``,
    ``non_primary``, ``other``), with their row counts."""

    n_rows: int
    rows_by_name: dict[str, int]
    names_by_style: dict[str, dict[str, int]]  # style -> {name: rows}, in order of appearance
    rows_by_style: dict[str, int]
    nonstandard: dict[str, str]  # a primary chromosome written unusually -> its standard name

    @property
    def prefixed(self) -> dict[str, int]:
        return self.names_by_style.get("chr", {})

    @property
    def bare(self) -> dict[str, int]:
        return self.names_by_style.get("bare", {})

    @property
    def extra(self) -> dict[str, int]:
        """Names outside the primary assembly (alt / random / Un / decoy / unknown)."""
        return {
            **self.names_by_style.get("non_primary", {}),
            **self.names_by_style.get("other", {}),
        }


def _name_styles(p: _Prepared) -> _NameStyles:
    counts = dict(zip(p.names, p.name_counts.tolist(), strict=True))
    styles: dict[str, dict[str, int]] = {}
    for nm, k in counts.items():
        styles.setdefault(_style(nm), {})[nm] = k
    rows = {s: sum(v.values()) for s, v in styles.items()}
    primary = [*styles.get("chr", {}), *styles.get("bare", {})]
    odd = {nm: _nonstandard(nm) for nm in primary}
    return _NameStyles(p.n, counts, styles, rows, {a: b for a, b in odd.items() if b is not None})


def _mixed_styles_finding(p: _Prepared, s: _NameStyles) -> Finding:
    target = "chr" if s.rows_by_style["chr"] >= s.rows_by_style["bare"] else "bare"
    minority = s.bare if target == "chr" else s.prefixed
    mapping = {nm: _rename(nm, target) for nm in sorted(minority, key=_sort_chrom)}
    mapping.update({a: _rename(a, target) for a in s.nonstandard})
    n_minor = sum(minority.values())
    return Finding(
        CONTIG_NAMING,
        Severity.ERROR,
        f"{p.name}, {p.chrom_col}: chromosome names mix styles, {fraction(n_minor, p.n)} rows use "
        f"{'bare' if target == 'chr' else 'chr-prefixed'} names "
        f"({preview(sorted(minority, key=_sort_chrom))}) among "
        f"{'chr-prefixed' if target == 'chr' else 'bare'} ones; a join or overlap "
        "silently drops them",
        evidence={
            "problem": "mixed_styles",
            "n_rows": p.n,
            "rows_by_style": s.rows_by_style,
            "n_rows_minority_style": n_minor,
            "names_by_style": {
                style: sorted(v, key=_sort_chrom) for style, v in s.names_by_style.items()
            },
            "mapping": mapping,
        },
        subjects=subjects(sorted(minority, key=_sort_chrom)),
        hint=_rename_hint(p, mapping, target),
        input=p.name,
    )


def _nonstandard_finding(p: _Prepared, s: _NameStyles) -> Finding:
    odd = s.nonstandard
    n_odd = sum(s.rows_by_name[a] for a in odd)
    return Finding(
        CONTIG_NAMING,
        Severity.WARNING,
        f"{p.name}, {p.chrom_col}: {fraction(n_odd, p.n)} rows use non-standard chromosome names "
        f"({preview(f'{a} (standard: {b})' for a, b in odd.items())}); they will not "
        "join with files that use the standard names",
        evidence={
            "problem": "nonstandard_names",
            "n_rows": p.n,
            "n_rows_nonstandard": n_odd,
            "rows_by_name": {a: s.rows_by_name[a] for a in odd},
            "mapping": odd,
        },
        subjects=subjects(odd),
        hint=_rename_hint(p, odd, "chr" if s.prefixed else "bare"),
        input=p.name,
    )


def _non_primary_finding(p: _Prepared, s: _NameStyles) -> Finding:
    extra = s.extra
    names = sorted(extra, key=lambda nm: (-extra[nm], nm))
    n_extra = sum(extra.values())
    return Finding(
        CONTIG_NAMING,
        Severity.INFO,
        f"{p.name}, {p.chrom_col}: {fraction(n_extra, p.n)} rows lie on {len(extra)} contigs "
        f"outside the primary assembly (alt / random / Un / decoy / other: {preview(names)})",
        evidence={
            "problem": "non_primary",
            "n_rows": p.n,
            "n_rows_non_primary": s.rows_by_style.get("non_primary", 0),
            "n_rows_other": s.rows_by_style.get("other", 0),
            "rows_by_contig": {nm: extra[nm] for nm in names[:50]},
            "n_contigs": len(extra),
        },
        subjects=subjects(names),
        hint="Keep only the primary chromosomes if the model expects them: "
        f"df = df[df['{p.chrom_col}'].str.fullmatch(r'(chr)?([0-9]{{1,2}}|X|Y|MT?)')] "
        "(VCF: bcftools view --regions with the primary chromosomes).",
        input=p.name,
    )


def _naming_within(p: _Prepared) -> list[Finding]:
    if not p.n:
        return []
    s = _name_styles(p)
    out: list[Finding] = []
    if s.prefixed and s.bare:
        out.append(_mixed_styles_finding(p, s))
    elif s.nonstandard:
        out.append(_nonstandard_finding(p, s))
    if s.extra:
        out.append(_non_primary_finding(p, s))
    return out


# --------------------------------------------------------------------------- between inputs


@dataclass(frozen=True)
class _StyleGap:
    """An input whose chromosome names differ from the audit's usual style, so that a join with
    the inputs in that style matches only ``n_matching`` of the ``n_shared`` chromosomes."""

    style: str
    reference: str
    reference_inputs: list[str]
    styles: dict[str, str | None]  # every input's main style
    n_shared: int
    n_matching: int
    mapping: dict[str, str]  # the input's names -> the reference style's
    theirs: list[str]  # the reference inputs' names of the shared chromosomes


_NAMED_STYLES = ("chr", "bare", "accession")


def _main_style(p: _Prepared) -> str | None:
    """The style most rows use among ``chr``, ``bare`` and ``accession`` (None: none)."""
    rows = {s: k for s, k in _name_styles(p).rows_by_style.items() if s in _NAMED_STYLES}
    return max(rows, key=lambda s: rows[s]) if rows else None


def _style_gaps(prepared: Sequence[_Prepared]) -> list[tuple[_Prepared, _StyleGap]]:
    styles = [_main_style(p) for p in prepared]
    counted = [s for s in styles if s in ("chr", "bare")]
    if len({s for s in styles if s is not None}) < 2 or not counted:
        return []
    reference = max(dict.fromkeys(counted), key=counted.count)  # ties: the first input's style
    refs = [p for p, s in zip(prepared, styles, strict=True) if s == reference]
    ref_names = {str(n) for r in refs for n, c in zip(r.names, r.name_codes, strict=True) if c >= 0}
    ref_codes = {_canonical(n) for n in ref_names}
    by_input = {q.name: s for q, s in zip(prepared, styles, strict=True)}
    out = []
    for p, style in zip(prepared, styles, strict=True):
        if style in (None, reference):
            continue
        raw = {str(n) for n, c in zip(p.names, p.name_codes, strict=True) if c in ref_codes}
        shared = {_canonical(n) for n in raw}
        matched = {_canonical(n) for n in raw & ref_names}
        if len(matched) == len(shared):
            continue
        odd = sorted(raw - ref_names, key=_sort_chrom)
        theirs = sorted((n for n in ref_names if _canonical(n) in shared), key=_sort_chrom)
        gap = _StyleGap(
            style,
            reference,
            [r.name for r in refs],
            by_input,
            len(shared),
            len(matched),
            {n: _rename(n, reference) for n in odd},
            theirs,
        )
        out.append((p, gap))
    return out


def _styles_differ_finding(p: _Prepared, g: _StyleGap) -> Finding:
    odd = list(g.mapping)
    return Finding(
        CONTIG_NAMING,
        Severity.ERROR,
        f"{p.name}, {p.chrom_col}: chromosome names are {_STYLE_LABEL[g.style]} "
        f"({preview(odd, n=3)}) while {preview(g.reference_inputs, n=2)} use "
        f"{_STYLE_LABEL[g.reference]} ({preview(g.theirs, n=3)}); a join or overlap between "
        f"them matches {g.n_matching} of {g.n_shared} shared chromosomes",
        evidence={
            "problem": "styles_differ_between_inputs",
            "styles": g.styles,
            "reference_style": g.reference,
            "reference_inputs": g.reference_inputs,
            "n_shared_chromosomes": g.n_shared,
            "n_matching_chromosomes": g.n_matching,
            "mapping": g.mapping,
        },
        subjects=subjects(odd),
        hint=_rename_hint(p, g.mapping, g.reference),
        input=p.name,
    )


def _naming_between(prepared: Sequence[_Prepared]) -> list[Finding]:
    """Inputs whose chromosome style differs from the audit's usual one (chr1 vs 1)."""
    return [_styles_differ_finding(p, g) for p, g in _style_gaps(prepared)]


def check_contig_naming(
    coords: CoordLike | Sequence[CoordLike], *, names: Sequence[str] | None = None
) -> list[Finding]:
    """Chromosome naming problems, within each input and between inputs.

    ``build.contig_naming`` findings, told apart by ``evidence["problem"]``:

    - ``mixed_styles`` (error): one input mixes ``chr1`` and ``1`` (or ``chrM`` and ``MT``);
      the minority rows drop out of any join. ``evidence["mapping"]`` renames them.
    - ``nonstandard_names`` (warning): ``chr23``, ``chrMT``, ``M``, ``23``-``26`` (PLINK codes
      for X, Y, XY, MT), zero-padded ``chr01``.
    - ``styles_differ_between_inputs`` (error): two inputs share chromosomes under different
      names (``chr1`` vs ``1``); an overlap between them silently returns nothing.
    - ``non_primary`` (info): rows on alt / random / Un / decoy / other contigs, counted.

    Parameters
    ----------
    coords
        One input or a list of inputs (CoordInput, DataFrame or path), compared pairwise.
    names
        Names for the inputs, in order (default: their own).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"chrom": ["chr1", "chr2", "chrX", "MT"], "pos": [10, 20, 30, 40]})
    >>> f = check_contig_naming(df)[0]
    >>> f.severity.value, f.evidence["mapping"]
    ('error', {'MT': 'chrM'})
    """
    items = list(coords) if isinstance(coords, (list, tuple)) else [coords]
    if names is not None and len(names) != len(items):
        raise ConfigError(
            f"names must give one name per input; got {len(names)} for {len(items)} inputs",
            key="names",
        )
    prepared = [
        _prepare(_as_coords(c, names[i] if names is not None else None))
        for i, c in enumerate(items)
    ]
    out: list[Finding] = []
    for p in prepared:
        out += _naming_within(p)
    return out + _naming_between(prepared)

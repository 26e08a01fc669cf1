"""The data signals: each measures one kind of evidence in the coordinates (chromosome ends,
marker SNPs by rsID or by position, gene coordinates, TSS alignment) as log-likelihoods of
every assembly (see :mod:`biodata_guard.build._evidence`)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.build._evidence import (
    CONTAMINATION,
    GENE_ERRORS,
    HYPOTHESES,
    MARKER_ERRORS,
    ROW_ERRORS,
    log_add,
    log_beta_binomial,
    log_errors,
    log_poisson,
    log_upper_beta,
    same_for_others,
)
from biodata_guard.build._inputs import _Prepared
from biodata_guard.build._reference import (
    _OTHER,
    _PRIMARY,
    BUILDS,
    GRCH37,
    GRCH38,
    OTHER_ASSEMBLIES,
    _chrom_sizes,
    _genes,
    _keys,
    _marker_keys,
    _markers,
    _other_sizes,
    _tss,
)
from biodata_guard.build._signal import _Signal

#: The signals, in the order they are reported.
SIGNALS = ("header", "chrom_ends", "marker_rsids", "marker_positions", "gene_coords", "tss")
_MARKER_SHARE = 0.9  # off-by-one: shifted hits must be this share of shifted + exact ones


def _lead(counts: dict[str, Any]) -> str:
    """The build with the most counts (ties: GRCh37)."""
    return max(BUILDS, key=lambda b: counts[b])


# --------------------------------------------------------------------------- chromosome ends


def _bounds_by_assembly() -> dict[str, np.ndarray]:
    sizes, other = _chrom_sizes(), _other_sizes()
    out = {b: sizes[f"bound_{b}"].to_numpy() for b in BUILDS}
    out.update({a: other[a].to_numpy() for a in OTHER_ASSEMBLIES})
    return out


def _chrom_ends_signal(p: _Prepared) -> _Signal:
    """Rows past a chromosome's end are impossible in that assembly: errors under it. Each
    assembly's likelihood is the beta-binomial probability of its impossible rows (plus the
    malformed rows, errors under every assembly): a row past one build's end counts against
    it in proportion to how rare such errors are in the rest of the file."""
    ok = p.code >= 0
    n = int(ok.sum())
    if not n:
        return _Signal("chrom_ends", False, "chromosome ends: no rows on primary chromosomes")
    code, end = p.code[ok], p.end[ok]
    bounds = _bounds_by_assembly()
    past = {h: end > bounds[h][code] for h in HYPOTHESES}
    n_past = {h: int(past[h].sum()) for h in HYPOTHESES}
    n_bad_rows = p.n_malformed
    ll = {h: log_errors(n_past[h] + n_bad_rows, n + n_bad_rows, ROW_ERRORS) for h in HYPOTHESES}
    only = {
        GRCH37: int((past[GRCH38] & ~past[GRCH37]).sum()),
        GRCH38: int((past[GRCH37] & ~past[GRCH38]).sum()),
    }
    both = past[GRCH37] & past[GRCH38]
    detail = {
        "n_rows_checked": n,
        "n_malformed": n_bad_rows,
        "n_past_end": {b: n_past[b] for b in BUILDS},
        "n_fit_only": only,
        "n_past_both": int(both.sum()),
        "chromosomes_past_end": {
            b: sorted({_PRIMARY[c] for c in np.unique(code[past[b]])}, key=_PRIMARY.index)
            for b in BUILDS
        },
        "n_past_end_other": {a: n_past[a] for a in OTHER_ASSEMBLIES},
    }
    past_both = [_PRIMARY[c] for c in np.unique(code[both])]
    return _Signal("chrom_ends", True, _chrom_ends_summary(detail, past_both), ll, detail)


def _chrom_ends_summary(detail: dict[str, Any], past_both: list[str]) -> str:
    n, only, n_both = detail["n_rows_checked"], detail["n_fit_only"], detail["n_past_both"]
    parts = []
    for b in BUILDS:
        if only[b]:
            chroms = detail["chromosomes_past_end"][_OTHER[b]]
            parts.append(
                f"{fraction(only[b], n)} rows run past {_OTHER[b]} chromosome ends "
                f"({preview(chroms)}) but fit {b}"
            )
    if n_both:
        fit = [a for a, k in detail["n_past_end_other"].items() if k == 0]
        parts.append(
            f"{fraction(n_both, n)} rows run past the ends of both builds (chromosomes "
            f"{preview(past_both)})" + (f"; all rows fit {preview(fit)}" if fit else "")
        )
    if not parts:
        return f"chromosome ends: all {n:,} rows fit within the ends of both builds"
    return "chromosome ends: " + "; ".join(parts)


# --------------------------------------------------------------------------- marker SNPs


def _panel_rows(p: _Prepared) -> np.ndarray:
    """Per row: its index in the marker panel by rsID (-1: no panel rsID)."""
    frame = p.ci.frame
    if "rsid" not in frame.columns or not frame["rsid"].notna().any():
        return np.full(p.n, -1, dtype=np.int64)
    return _markers().index.get_indexer(frame["rsid"])


def _marker_rsid_signal(p: _Prepared, idx: np.ndarray) -> _Signal:
    """Panel rsIDs at each build's position: under a build, rsIDs away from its position are
    errors (Beta(1, 99)); under another assembly, rsIDs at either build's position are."""
    if "rsid" not in p.ci.frame.columns or not p.ci.frame["rsid"].notna().any():
        return _Signal("marker_rsids", False, "marker rsIDs: the input has no rsID column")
    panel = _markers()
    hit = idx >= 0
    m = int(hit.sum())
    detail: dict[str, Any] = {
        "n_rows_with_rsid": int(p.ci.frame["rsid"].notna().sum()),
        "n_panel_rsids": m,
        "panel_size": len(panel),
    }
    if not m:
        said = f"none of {detail['n_rows_with_rsid']:,} rsIDs is in the marker panel"
        return _Signal("marker_rsids", True, f"marker rsIDs: {said}", detail=detail)
    rows = idx[hit]
    code, pos = p.code[hit], p.start[hit] + 1
    at = {
        b: (code == panel[f"code_{b}"].to_numpy()[rows])
        & (pos == panel[f"pos_{b}"].to_numpy()[rows])
        for b in BUILDS
    }
    k = {b: int(at[b].sum()) for b in BUILDS}
    kn = m - k[GRCH37] - k[GRCH38]
    ll = same_for_others(
        {b: log_errors(m - k[b], m, MARKER_ERRORS) for b in BUILDS},
        log_errors(k[GRCH37] + k[GRCH38], m, MARKER_ERRORS),
    )
    detail.update(n_at_position=k, n_at_neither=kn)
    lead = _lead(k)
    summary = (
        f"marker rsIDs: {fraction(k[lead], m)} panel rsIDs sit at their {lead} position, "
        f"{k[_OTHER[lead]]} at their {_OTHER[lead]} position, {kn} at neither"
    )
    return _Signal("marker_rsids", True, summary, ll, detail)


def _chance_hits(p: _Prepared, rows: np.ndarray) -> dict[str, float]:
    """Expected rows at each build's panel positions by chance: per row, the panel's density
    on its chromosome (panel positions / chromosome length)."""
    per_chrom = np.bincount(p.code[rows], minlength=len(_PRIMARY)).astype(float)
    return {b: float((per_chrom * _panel_density(b)).sum()) for b in BUILDS}


@functools.cache
def _panel_density(build: str) -> np.ndarray:
    """Panel positions per bp of each primary chromosome in ``build``."""
    code = _markers()[f"code_{build}"].to_numpy()
    count = np.bincount(code[code >= 0], minlength=len(_PRIMARY)).astype(float)
    return count / _chrom_sizes()[f"length_{build}"].to_numpy(dtype=float)


def _own_hits(k: int, lam: float, n: int) -> float:
    """log P(k rows at this build's panel positions | the file is in it): chance alone, or a
    file holding panel SNPs at an unknown rate (uniform: 1 / (n + 1))."""
    return log_add(math.log(0.5) + log_poisson(k, lam), math.log(0.5) - math.log(n + 1))


def _other_hits(k: int, lam: float, k_own: int) -> float:
    """log P(k rows at the other build's panel positions | the file is in this one): chance,
    or contamination by the other build (a share of the panel hits, Beta(1, 99))."""
    chance = math.log(1 - CONTAMINATION) + log_poisson(k, lam)
    mixed = math.log(CONTAMINATION) + log_beta_binomial(k, k + k_own, MARKER_ERRORS)
    return log_add(chance, mixed)


def _marker_position_signal(p: _Prepared, idx: np.ndarray) -> _Signal:
    """Rows without a panel rsID at exact panel positions, against the hits chance gives a
    file of this many rows on these chromosomes."""
    if not p.point_like:
        return _Signal("marker_positions", False, "marker positions: the input holds intervals")
    rows = np.flatnonzero((p.code >= 0) & (idx < 0))
    n = len(rows)
    if not n:
        return _Signal("marker_positions", False, "marker positions: no rows to place")
    keys = _keys(p.code[rows], p.start[rows] + 1)
    shared = np.intersect1d(_marker_keys(GRCH37), _marker_keys(GRCH38))
    k = {b: int((np.isin(keys, _marker_keys(b)) & ~np.isin(keys, shared)).sum()) for b in BUILDS}
    lam = _chance_hits(p, rows)
    ll = same_for_others(
        {
            b: _own_hits(k[b], lam[b], n) + _other_hits(k[_OTHER[b]], lam[_OTHER[b]], k[b])
            for b in BUILDS
        },
        sum(log_poisson(k[b], lam[b]) for b in BUILDS),
    )
    detail = {
        "n_rows_checked": n,
        "n_at_panel_position": k,
        "expected_by_chance": {b: round(lam[b], 4) for b in BUILDS},
        "fraction_of_rows": {b: k[b] / n for b in BUILDS},
    }
    lead = _lead(k)
    summary = (
        f"marker positions: {k[lead]} of {n:,} rows sit at {lead} panel positions, "
        f"{k[_OTHER[lead]]} at {_OTHER[lead]} ones ({lam[lead]:.2g} expected by chance)"
    )
    return _Signal("marker_positions", True, summary, ll, detail)


# --------------------------------------------------------------------------- genes and TSSs


def _gene_signal(p: _Prepared) -> _Signal:
    """Panel genes exactly at, or nearer, one build's coordinates: under a build, genes
    nearer the other or at neither are errors (Beta(1, 19): GENCODE releases move gene
    ends); under another assembly, genes exactly at a build's coordinates are."""
    frame = p.ci.frame
    if "gene_name" not in frame.columns or not frame["gene_name"].notna().any():
        return _Signal("gene_coords", False, "gene coordinates: the input has no gene names")
    n_genes, m = _panel_genes(p)
    detail: dict[str, Any] = {"n_genes": n_genes, "n_panel_genes": len(m)}
    if m.empty:
        said = f"none of {n_genes:,} gene names is in the gene panel"
        return _Signal("gene_coords", True, f"gene coordinates: {said}", detail=detail)
    dist = {
        b: (m["start"] - m[f"start_{b}"]).abs() + (m["end"] - m[f"end_{b}"]).abs() for b in BUILDS
    }
    over = {b: (m["start"] <= m[f"end_{b}"]) & (m["end"] >= m[f"start_{b}"]) for b in BUILDS}
    informative = dist[GRCH37] != dist[GRCH38]
    exact = {b: informative & (dist[b] == 0) for b in BUILDS}
    near = {b: informative & ~exact[b] & (dist[b] < dist[_OTHER[b]]) & over[b] for b in BUILDS}
    n_exact = {b: int(exact[b].sum()) for b in BUILDS}
    n_near = {b: int(near[b].sum()) for b in BUILDS}
    n_inf = int(informative.sum())
    n_neither = n_inf - sum(n_exact.values()) - sum(n_near.values())
    ll = same_for_others(
        {b: log_errors(n_inf - n_exact[b] - n_near[b], n_inf, GENE_ERRORS) for b in BUILDS},
        log_errors(sum(n_exact.values()), n_inf, GENE_ERRORS),
    )
    closer = {b: n_exact[b] + n_near[b] for b in BUILDS}
    detail.update(
        n_informative=n_inf,
        n_closer=closer,
        n_exact=n_exact,
        n_same_in_both=int((~informative).sum()),
        n_at_neither=n_neither,
    )
    lead = _lead(closer)
    summary = (
        f"gene coordinates: {fraction(closer[lead], n_inf)} panel genes whose coordinates differ "
        f"between builds are at or nearer their {lead} coordinates ({n_exact[lead]} exactly), "
        f"{closer[_OTHER[lead]]} nearer {_OTHER[lead]}, {n_neither} at neither"
    )
    return _Signal("gene_coords", True, summary, ll, detail)


def _panel_genes(p: _Prepared) -> tuple[int, pd.DataFrame]:
    """The input's genes (span of their rows, 1-based) joined to the gene panel on name and
    chromosome; with the number of distinct gene names."""
    frame = p.ci.frame
    named = frame["gene_name"].notna().to_numpy()
    sub = pd.DataFrame(
        {
            "gene_name": frame["gene_name"].to_numpy()[named],
            "code": p.code[named],
            "start": p.start[named] + 1,
            "end": p.end[named],
        }
    )
    genes = sub.groupby("gene_name", sort=True).agg(
        code=("code", "first"), start=("start", "min"), end=("end", "max")
    )
    m = genes.join(_genes().rename(columns={"code": "code_panel"}), how="inner")
    return len(genes), m[m["code"] == m["code_panel"]]


def _tss_signal(
    p: _Prepared, *, genes_used: bool, window: int, max_intervals: int, seed: int
) -> _Signal:
    """Intervals touching a TSS of one build only. Under a build, the share of them that
    touch its TSSs is 1/2 (no promoter signal) or above (uniform on [1/2, 1]); under another
    assembly both builds' TSSs are touched by chance alike (1/2)."""
    if p.point_like or "rsid" in p.ci.frame.columns or genes_used:
        why = "the genes are placed by name" if genes_used else "applies to intervals without ids"
        return _Signal("tss", False, f"TSS alignment: {why}")
    rows = np.flatnonzero(p.code >= 0)
    if "Feature" in p.ci.frame.columns:  # annotation: the gene / transcript records start at TSSs
        feature = p.ci.frame["Feature"].to_numpy()[rows]
        top = np.isin(feature, ("gene", "transcript", "mRNA"))
        rows = rows[top] if top.any() else rows
    if not len(rows):
        return _Signal("tss", False, "TSS alignment: no intervals on primary chromosomes")
    sampled = len(rows) > max_intervals
    if sampled:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, max_intervals, replace=False))
    touch = {b: _touches_tss(p, rows, b, window) for b in BUILDS}
    n = len(rows)
    only = {b: int((touch[b] & ~touch[_OTHER[b]]).sum()) for b in BUILDS}
    n_touch = {b: int(touch[b].sum()) for b in BUILDS}
    a, b_ = only[GRCH37], only[GRCH38]
    chance = (a + b_) * math.log(0.5)
    ll = same_for_others(
        {
            GRCH37: log_add(math.log(0.5) + chance, log_upper_beta(a, b_)),
            GRCH38: log_add(math.log(0.5) + chance, log_upper_beta(b_, a)),
        },
        chance,
    )
    detail = {
        "n_intervals": n,
        "sampled": sampled,
        "window_bp": window,
        "n_touching": n_touch,
        "n_touching_only": only,
        "fraction_touching": {b: n_touch[b] / n for b in BUILDS},
    }
    lead = _lead(only)
    summary = (
        f"TSS alignment: {fraction(n_touch[lead], n)} intervals lie within {window:,} bp of a "
        f"{lead} TSS vs {fraction(n_touch[_OTHER[lead]], n)} for {_OTHER[lead]} "
        f"({only[lead]} vs {only[_OTHER[lead]]} touch only one build)"
    )
    return _Signal("tss", True, summary, ll, detail)


def _touches_tss(p: _Prepared, rows: np.ndarray, build: str, window: int) -> np.ndarray:
    """Per interval: does a TSS of ``build`` lie within ``window`` bp of its start, end or
    midpoint? (Gene records start at a TSS; promoter peaks are centred on one.)"""
    import pyranges1 as pr

    start, end = p.start[rows], np.maximum(p.end[rows] - 1, p.start[rows])
    anchors = np.concatenate([start, end, (start + end) // 2])
    chrom = np.asarray(_PRIMARY, dtype=object)[np.tile(p.code[rows], 3)]
    ids = np.tile(np.arange(len(rows)), 3)
    points = pr.PyRanges(
        pd.DataFrame({"Chromosome": chrom, "Start": anchors, "End": anchors + 1, "i": ids})
    )
    hit = points.overlap(pr.PyRanges(_tss(build)), slack=window, strand_behavior="ignore")
    out = np.zeros(len(rows), dtype=bool)
    out[hit["i"].to_numpy()] = True
    return out

"""Coordinates that cannot exist: negative, reversed, or past the chromosome end
(``build.out_of_bounds``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.build._inputs import CoordLike, _as_coords, _prepare, _Prepared
from biodata_guard.build._reference import BUILDS, _chrom_sizes, _normalise_build, _sort_chrom
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

OUT_OF_BOUNDS = declare_check(
    "build.out_of_bounds",
    group="build",
    severities=("error",),
    needs=("coords",),
    params=("expected_build",),
    doc="Coordinates that cannot exist: negative, end before start, or past the chromosome end "
    "in the detected (else the expected) build.",
)


@dataclass(frozen=True, eq=False)
class _Bounds:
    """Row numbers of impossible coordinates; ``bound`` is the chromosome length each primary
    chromosome was checked against (the longer of both builds without a build)."""

    negative: np.ndarray
    end_before_start: np.ndarray
    past_end: np.ndarray
    bound: np.ndarray
    n_checked: int  # rows on primary chromosomes, the only ones with a known length


def _bounds(p: _Prepared, build: str | None) -> _Bounds:
    sizes = _chrom_sizes()
    ok = np.flatnonzero(p.code >= 0)
    builds = [build] if build else list(BUILDS)
    bound = np.max([sizes[f"bound_{b}"].to_numpy() for b in builds], axis=0)
    return _Bounds(
        negative=np.flatnonzero((p.start < 0) | (p.end < 0)),
        end_before_start=np.flatnonzero(p.end < p.start),
        past_end=ok[p.end[ok] > bound[p.code[ok]]],
        bound=bound,
        n_checked=len(ok),
    )


def _locus(p: _Prepared, i: int) -> str:
    return f"{p.names[p.row_name[i]]}:{p.start[i]:,}-{p.end[i]:,}"


def _loci(p: _Prepared, rows: np.ndarray) -> list[str]:
    return [_locus(p, int(i)) for i in rows[:5]]


#: Rows that cannot be a locus anywhere: what they do, and the fix.
_ROW_PROBLEMS = {
    "negative": (
        "have negative coordinates",
        "Clip windows at the chromosome start (df['Start'] = df['Start'].clip(lower=0), "
        "bedtools slop -g GENOME) or drop those rows.",
    ),
    "end_before_start": (
        "end before they start",
        "Swap start and end where they were written end-first (minus-strand features): "
        "df[['Start', 'End']] = np.sort(df[['Start', 'End']], axis=1); or drop those rows.",
    ),
}


def _rows_finding(p: _Prepared, rows: np.ndarray, problem: str) -> Finding:
    what, hint = _ROW_PROBLEMS[problem]
    return Finding(
        OUT_OF_BOUNDS,
        Severity.ERROR,
        f"{p.where}: {fraction(len(rows), p.n)} rows {what} "
        f"({preview(_loci(p, rows), total=len(rows))})",
        evidence={"problem": problem, "n_rows": p.n, "n_affected": len(rows)},
        subjects=subjects(int(i) for i in rows),
        hint=hint,
        input=p.name,
    )


def _past_end_finding(p: _Prepared, b: _Bounds, build: str | None) -> Finding:
    past = b.past_end
    label = build or "both GRCh37 and GRCh38"
    chroms = sorted({str(p.names[p.row_name[i]]) for i in past}, key=_sort_chrom)
    examples = (f"{_locus(p, i)} > {b.bound[p.code[i]]:,}" for i in past[:5])
    return Finding(
        OUT_OF_BOUNDS,
        Severity.ERROR,
        f"{p.where}: {fraction(len(past), p.n)} rows run past the "
        f"chromosome end in {label} ({preview(examples, total=len(past))})",
        evidence={
            "problem": "past_chromosome_end",
            "build": build,
            "n_rows": p.n,
            "n_rows_checked": b.n_checked,
            "n_affected": len(past),
            "chromosomes": chroms,
        },
        subjects=subjects(int(i) for i in past),
        hint=(
            "These loci do not exist in "
            f"{label}: the coordinates come from another assembly (hg18 / NCBI36 runs "
            "past GRCh37 ends); lift them with the matching UCSC chain (liftOver IN.bed "
            "hg18ToHg19.over.chain.gz OUT.bed unmapped.bed) or drop the rows past the "
            "ends (bedtools intersect -u -a IN.bed -b GENOME.bed)."
        ),
        input=p.name,
    )


def _bounds_findings(p: _Prepared, build: str | None) -> list[Finding]:
    if not p.n:
        return []
    b = _bounds(p, build)
    out: list[Finding] = []
    if len(b.negative):
        out.append(_rows_finding(p, b.negative, "negative"))
    if len(b.end_before_start):
        out.append(_rows_finding(p, b.end_before_start, "end_before_start"))
    if len(b.past_end):
        out.append(_past_end_finding(p, b, build))
    return out


def check_out_of_bounds(
    coords: CoordLike, *, build: str | None = None, name: str | None = None
) -> list[Finding]:
    """Coordinates that cannot exist: ``build.out_of_bounds`` (error), one finding per problem.

    ``evidence["problem"]`` is ``negative`` (a start or end below 0), ``end_before_start`` or
    ``past_chromosome_end`` (an end beyond the chromosome's length in ``build``; with
    ``build=None``, beyond its length in both builds). Rows on contigs outside the primary
    assembly are not checked against a length. ``subjects`` are row numbers.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path.
    build
        The build whose chromosome lengths apply (``"GRCh37"`` / ``"GRCh38"``, or hg19 / hg38);
        None: a row is out of bounds only past the end in both builds.
    name
        Name used in messages (default: the input's).

    Examples
    --------
    chr21 is 48,129,895 bp in GRCh37 and 46,709,983 bp in GRCh38:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Chromosome": ["chr21", "chr21"], "Start": [100, 47_000_000],
    ...                    "End": [50, 47_000_100]})
    >>> [f.evidence["problem"] for f in check_out_of_bounds(df, build="GRCh38")]
    ['end_before_start', 'past_chromosome_end']
    """
    b = _normalise_build(build)
    return _bounds_findings(_prepare(_as_coords(coords, name)), b)

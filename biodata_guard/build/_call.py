"""Findings about one input's build: detected, undetermined, or not the expected one."""

from __future__ import annotations

import os
from typing import Any

from biodata_guard._format import preview
from biodata_guard.build._detect import _WHY_DISAGREE, _WHY_NEITHER, BuildCall, _detect
from biodata_guard.build._inputs import CoordLike, _as_coords, _prepare, _Prepared
from biodata_guard.build._reference import _CHAIN_URL, _CHAINS, _UCSC, _normalise_build
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

DETECTED = declare_check(
    "build.detected",
    group="build",
    severities=("info",),
    needs=("coords",),
    params=("seed",),
    doc="The genome build (GRCh37 / GRCh38) of a coordinate input, with the signals behind it.",
)
UNDETERMINED = declare_check(
    "build.undetermined",
    group="build",
    severities=("warning", "error"),
    needs=("coords",),
    params=("expected_build", "seed"),
    doc="The build of a coordinate input cannot be told (weak, missing or disagreeing signals); "
    "an error when signals vote against the expected build.",
)
UNEXPECTED = declare_check(
    "build.unexpected",
    group="build",
    severities=("error",),
    needs=("coords", "expected_build"),
    params=("expected_build", "seed"),
    doc="A coordinate input is in another build than the expected one (the hint lifts it).",
)


def _liftover_hint(p: _Prepared, src: str, dst: str) -> str:
    chain = _CHAINS[(src, dst)]
    url = _CHAIN_URL.format(ucsc=_UCSC[src], chain=chain)
    path = p.ci.path or p.name
    base = os.path.basename(path).split(".")[0] or "input"
    out = f"{base}.{_UCSC[dst]}"
    kind = p.ci.kind
    if kind == "vcf":
        cmd = f"CrossMap vcf {chain} {path} {dst}.fa {out}.vcf"
    elif kind in ("gtf", "gff"):
        cmd = f"CrossMap gff {chain} {path} {out}.{kind}"
    elif kind == "bed":
        cmd = f"CrossMap bed {chain} {path} {out}.bed"
    else:
        cmd = (
            f"CrossMap bed {chain} {base}.bed {out}.bed (write the coordinates as BED first), "
            f"or re-export the data in {dst}"
        )
    return f"Lift the coordinates from {src} to {dst}: {cmd} (chain: {url})."


def _undetermined_hint(reason: str) -> str:
    if reason.startswith(_WHY_DISAGREE):
        return (
            "The signals point to different builds: the file may mix builds or carry a "
            "stale header after a liftover. Check how it was made, then re-lift the "
            "coordinates (CrossMap with the UCSC chain) or fix the header (bcftools "
            "reheader --fai GENOME.fa.fai)."
        )
    if reason.startswith(_WHY_NEITHER):
        return (
            "The coordinates fit neither GRCh37 nor GRCh38: find the assembly they come "
            "from (hg18 / NCBI36?) and lift them with the matching UCSC chain (liftOver "
            "IN.bed hg18ToHg19.over.chain.gz OUT.bed unmapped.bed), or drop corrupt rows."
        )
    return (
        "State the build: pass --expected-build GRCh37|GRCh38 so the coordinates are "
        "checked against it, and record it in the file (VCF ##reference= and ##contig "
        "lengths, BED 'track db=hg38')."
    )


def _call_evidence(call: BuildCall) -> dict[str, Any]:
    return {
        "build": call.build,
        "confidence": call.confidence,
        "leaning": call.leaning,
        "n_rows": call.n_rows,
        "voters": call.voters,
        "signals": call.evidence,
    }


def _detected_finding(call: BuildCall, p: _Prepared, evidence: dict[str, Any]) -> Finding:
    return Finding(
        DETECTED,
        Severity.INFO,
        f"{p.name}, {p.coord_cols}: genome build {call.build} (confidence "
        f"{call.confidence:.3g}) from {len(call.voters)} of {len(call.scores())} available "
        f"signals ({preview(call.voters)}) over {call.n_rows:,} rows",
        evidence=evidence,
        subjects=call.voters,
        hint=f"Pin it: pass --expected-build {call.build} (expectations.build in the "
        "config) so the gate fails on any other build.",
        input=p.name,
    )


def _undetermined_finding(
    call: BuildCall, p: _Prepared, evidence: dict[str, Any], expected: str | None
) -> Finding:
    # With an expected build, signals voting against it (or data fitting neither build)
    # are evidence of the wrong coordinates, not only a lack of evidence: the gate fails.
    against = sorted(s for s, e in call.evidence.items() if e.get("vote") not in (None, expected))
    contradicted = expected is not None and (bool(against) or call.reason.startswith(_WHY_NEITHER))
    message = (
        f"{p.name}, {p.coord_cols}: genome build undetermined over {call.n_rows:,} rows: "
        f"{call.reason}"
    )
    if contradicted:
        message += f"; {expected} is expected and " + (
            f"{preview(against)} vote against it" if against else "the data do not fit it"
        )
    return Finding(
        UNDETERMINED,
        Severity.ERROR if contradicted else Severity.WARNING,
        message,
        evidence={**evidence, "expected_build": expected, "votes_against": against}
        if expected is not None
        else evidence,
        subjects=[p.name],
        hint=_undetermined_hint(call.reason),
        input=p.name,
    )


def _unexpected_finding(
    call: BuildCall, p: _Prepared, evidence: dict[str, Any], expected: str
) -> Finding:
    return Finding(
        UNEXPECTED,
        Severity.ERROR,
        f"{p.name}, {p.coord_cols}: genome build is {call.build} (confidence "
        f"{call.confidence:.3g}) but {expected} is expected; {call.n_rows:,} rows are on the "
        "wrong coordinates",
        evidence={**evidence, "expected_build": expected},
        subjects=[p.name],
        hint=_liftover_hint(p, call.build, expected),
        input=p.name,
    )


def _call_findings(call: BuildCall, p: _Prepared, *, expected: str | None) -> list[Finding]:
    evidence = _call_evidence(call)
    if not call.determined:
        return [_undetermined_finding(call, p, evidence, expected)]
    out = [_detected_finding(call, p, evidence)]
    if expected is not None and call.build != expected:
        out.append(_unexpected_finding(call, p, evidence, expected))
    return out


def check_build(
    coords: CoordLike,
    *,
    expected_build: str | None = None,
    name: str | None = None,
    min_informative: int = 10,
    min_confidence: float = 0.9,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> list[Finding]:
    """Detect the build and report it: ``build.detected`` (info) or ``build.undetermined``
    (warning), and ``build.unexpected`` (error) when it differs from ``expected_build``.

    The hint of ``build.unexpected`` is the CrossMap command and UCSC chain that lift the input
    to the expected build.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path (see :func:`detect_build`).
    expected_build
        ``"GRCh37"`` or ``"GRCh38"`` (``"hg19"`` / ``"hg38"`` accepted); None: no expectation.
    name, min_informative, min_confidence, tss_window, max_intervals, seed
        As in :func:`detect_build`.

    Raises
    ------
    ConfigError
        An unknown ``expected_build`` or an option out of range.

    Examples
    --------
    A headerless table of GRCh38 positions of panel SNPs, checked against GRCh37:

    >>> import pandas as pd
    >>> from biodata_guard.build._reference import _markers
    >>> panel = _markers().head(40)
    >>> df = pd.DataFrame({"chrom": panel["chrom_GRCh38"], "pos": panel["pos_GRCh38"]})
    >>> [(f.check, f.severity.value) for f in check_build(df, expected_build="GRCh37")]
    [('build.detected', 'info'), ('build.unexpected', 'error')]
    """
    expected = _normalise_build(expected_build, key="expected_build")
    p = _prepare(_as_coords(coords, name))
    call = _detect(
        p,
        min_informative=min_informative,
        min_confidence=min_confidence,
        tss_window=tss_window,
        max_intervals=max_intervals,
        seed=seed,
    )
    return _call_findings(call, p, expected=expected)

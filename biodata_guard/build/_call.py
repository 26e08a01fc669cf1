"""Findings about one input's build: detected, undetermined, or not the expected one."""

from __future__ import annotations

import os
from typing import Any

from biodata_guard._format import preview
from biodata_guard.build._detect import (
    _WHY_DISAGREE,
    _WHY_NEITHER,
    _WHY_RSIDS,
    BuildCall,
    _detect,
)
from biodata_guard.build._evidence import fmt_p
from biodata_guard.build._inputs import CoordLike, _as_coords, _coordinate_sets, _prepare, _Prepared
from biodata_guard.build._mismatch import _sets_mismatch
from biodata_guard.build._quality import _malformed_finding, _stale_finding
from biodata_guard.build._reference import _CHAIN_URL, _CHAINS, _UCSC, _display, _normalise_build
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.registry import declare_check

DETECTED = declare_check(
    "build.detected",
    group="build",
    severities=("info",),
    needs=("coords",),
    params=("build_false_call_rate", "seed"),
    doc="The genome build (GRCh37 / GRCh38) of a coordinate input, with the signals behind it.",
)
UNDETERMINED = declare_check(
    "build.undetermined",
    group="build",
    severities=("warning", "error"),
    needs=("coords",),
    params=("expected_build", "build_false_call_rate", "seed"),
    doc="The build of a coordinate input cannot be told (weak, missing or disagreeing signals, "
    "or another assembly); an error when the evidence rules out the expected build.",
)
UNEXPECTED = declare_check(
    "build.unexpected",
    group="build",
    severities=("error",),
    needs=("coords", "expected_build"),
    params=("expected_build", "build_false_call_rate", "seed"),
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


_OTHER_CHAINS = {
    "NCBI36": "liftOver IN.bed hg18ToHg19.over.chain.gz OUT.bed unmapped.bed (or hg18ToHg38)",
    "T2T-CHM13v2.0": "liftOver IN.bed hs1ToHg38.over.chain.gz OUT.bed unmapped.bed",
    "GRCm38": "none: these are mouse coordinates; use the human file, or a mouse pipeline",
    "GRCm39": "none: these are mouse coordinates; use the human file, or a mouse pipeline",
}


def _undetermined_hint(call: BuildCall) -> str:
    reason = call.reason
    if reason.startswith(_WHY_DISAGREE):
        return (
            "The signals point to different builds: the file may mix builds or carry a "
            "stale header after a liftover. Check how it was made, then re-lift the "
            "coordinates (CrossMap with the UCSC chain) or fix the header (bcftools "
            "reheader --fai GENOME.fa.fai)."
        )
    if reason.startswith(_WHY_NEITHER):
        best = call.best_fit or "NCBI36"
        return (
            f"The coordinates fit neither GRCh37 nor GRCh38; of the assemblies checked they fit "
            f"{_display(best)} best. Confirm the assembly they come from, then lift them with "
            f"the matching UCSC chain ({_OTHER_CHAINS.get(best, _OTHER_CHAINS['NCBI36'])}), "
            "or drop corrupt rows."
        )
    return (
        "State the build: pass --expected-build GRCh37|GRCh38 so the coordinates are "
        "checked against it, and record it in the file (VCF ##reference= and ##contig "
        "lengths, BED 'track db=hg38', GWAS-SSF genome_assembly, PGS #genome_build)."
    )


def _call_evidence(call: BuildCall) -> dict[str, Any]:
    return {
        "build": call.build,
        "confidence": call.confidence,
        "posterior": call.posterior,
        "false_call_rate": call.false_call_rate,
        "leaning": call.leaning,
        "best_fit": call.best_fit,
        "stated_build": call.stated_build,
        "stale_header": call.stale_header,
        "columns": call.columns,
        "n_rows": call.n_rows,
        "voters": call.voters,
        "signals": call.evidence,
    }


def _detected_finding(call: BuildCall, p: _Prepared, evidence: dict[str, Any]) -> Finding:
    return Finding(
        DETECTED,
        Severity.INFO,
        f"{p.where}: genome build {call.build} (posterior "
        f"{fmt_p(call.confidence)} >= {1 - call.false_call_rate:g}) from "
        f"{len(call.scores())} available signals over {call.n_rows:,} rows"
        + (f", decided alone by {preview(call.voters)}" if call.voters else ""),
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
    ruled_out = expected is not None and call.posterior.get(expected, 1.0) < call.false_call_rate
    contradicted = expected is not None and (bool(against) or ruled_out)
    message = f"{p.where}: genome build undetermined over {call.n_rows:,} rows: {call.reason}"
    if contradicted:
        message += f"; {expected} is expected and " + (
            f"{preview(against)} vote against it"
            if against
            else f"the data rule it out (P = {call.posterior.get(expected, 0.0):.3g})"
        )
    return Finding(
        UNDETERMINED,
        Severity.ERROR if contradicted else Severity.WARNING,
        message,
        evidence={**evidence, "expected_build": expected, "votes_against": against}
        if expected is not None
        else evidence,
        subjects=[p.name],
        hint=_undetermined_hint(call),
        input=p.name,
    )


def _unexpected_finding(
    call: BuildCall, p: _Prepared, evidence: dict[str, Any], expected: str
) -> Finding:
    return Finding(
        UNEXPECTED,
        Severity.ERROR,
        f"{p.where}: genome build is {call.build} (posterior "
        f"{fmt_p(call.confidence)}) but {expected} is expected; {call.n_rows:,} rows are on the "
        "wrong coordinates",
        evidence={**evidence, "expected_build": expected},
        subjects=[p.name],
        hint=_liftover_hint(p, call.build, expected),
        input=p.name,
    )


def _call_findings(call: BuildCall, p: _Prepared, *, expected: str | None) -> list[Finding]:
    evidence = _call_evidence(call)
    if call.reason.startswith(_WHY_RSIDS):  # nothing to place: the build does not apply
        return [not_checked(DETECTED, f"{p.name}: {call.reason}", input=p.name, n_rows=0)]
    out = _stale_finding(p, call)
    if not call.determined:
        return [_undetermined_finding(call, p, evidence, expected), *out]
    out.insert(0, _detected_finding(call, p, evidence))
    if expected is not None and call.build != expected:
        out.append(_unexpected_finding(call, p, evidence, expected))
    return out


def _input_findings(
    sets: list[_Prepared], calls: list[BuildCall], *, expected: str | None
) -> list[Finding]:
    """Everything about one input: malformed rows, and per coordinate set its call, then the
    sets in different builds."""
    out = _malformed_finding(sets[0])
    for p, call in zip(sets, calls, strict=True):
        out += _call_findings(call, p, expected=expected)
    return out + _sets_mismatch(sets[0].ci.path or sets[0].name, calls)


def check_build(
    coords: CoordLike,
    *,
    expected_build: str | None = None,
    name: str | None = None,
    false_call_rate: float | None = None,
    min_informative: int = 10,
    min_confidence: float | None = None,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> list[Finding]:
    """Detect the build and report it: ``build.detected`` (info) or ``build.undetermined``
    (warning), ``build.unexpected`` (error) when it differs from ``expected_build``,
    ``build.stale_header`` when the coordinates overrule the header, ``build.malformed_rows``
    for rows left out, and ``build.mismatch`` when two coordinate sets of the input (author
    and harmonised positions) are in different builds.

    The hint of ``build.unexpected`` is the CrossMap command and UCSC chain that lift the input
    to the expected build. ``build.undetermined`` is an error when the expected build is
    ruled out (its posterior is below the false-call rate) or a signal decides against it.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path (see :func:`detect_build`).
    expected_build
        ``"GRCh37"`` or ``"GRCh38"`` (``"hg19"`` / ``"hg38"`` accepted); None: no expectation.
    name, false_call_rate, min_informative, min_confidence, tss_window, max_intervals, seed
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
    sets = [_prepare(ci) for ci in _coordinate_sets(_as_coords(coords, name))]
    options = {
        "false_call_rate": false_call_rate,
        "min_informative": min_informative,
        "min_confidence": min_confidence,
        "tss_window": tss_window,
        "max_intervals": max_intervals,
        "seed": seed,
    }
    calls = [_detect(p, **options) for p in sets]
    return _input_findings(sets, calls, expected=expected)

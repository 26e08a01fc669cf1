"""Inputs of one audit in different builds: ``build.mismatch``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from biodata_guard._format import preview, subjects
from biodata_guard.build._detect import BuildCall
from biodata_guard.build._reference import _CHAINS, _OTHER, BUILDS, GRCH37, GRCH38, _normalise_build
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

MISMATCH = declare_check(
    "build.mismatch",
    group="build",
    severities=("error",),
    needs=("two_coords",),
    params=("expected_build",),
    doc="Coordinate inputs of one audit, or two coordinate sets of one table (author and "
    "harmonised positions), are in different builds: joins match the wrong loci.",
)


@dataclass(frozen=True)
class _BuildSplit:
    """The determined calls of several inputs, and which way to lift the odd ones."""

    known: tuple[BuildCall, ...]
    n_by_build: dict[str, int]
    target: str  # the expected build, else the majority (ties: the first input's)
    source: str
    odd: tuple[BuildCall, ...]  # the inputs in ``source``


def _build_split(calls: Sequence[BuildCall], expected: str | None) -> _BuildSplit | None:
    """None unless the determined calls name both builds."""
    known = tuple(c for c in calls if c.determined)
    if len({c.build for c in known}) < 2:
        return None
    n_by = {b: sum(c.build == b for c in known) for b in BUILDS}
    first = known[0].build
    target = expected or max(BUILDS, key=lambda b: (n_by[b], b == first))
    source = _OTHER[target]
    return _BuildSplit(known, n_by, target, source, tuple(c for c in known if c.build == source))


def _mismatch_finding(s: _BuildSplit) -> Finding:
    chain = _CHAINS[(s.source, s.target)]
    return Finding(
        MISMATCH,
        Severity.ERROR,
        f"{preview(c.name for c in s.known)}: inputs are in different genome builds, "
        f"{s.n_by_build[s.source]} of {len(s.known)} in {s.source} "
        f"({preview(c.name for c in s.odd)}) and {s.n_by_build[s.target]} in {s.target}; joins "
        "and overlaps between them silently match the wrong loci",
        evidence={
            "builds": {c.name: c.build for c in s.known},
            "confidences": {c.name: c.confidence for c in s.known},
            "n_inputs": len(s.known),
            "n_by_build": s.n_by_build,
            "target_build": s.target,
        },
        subjects=subjects(c.name for c in s.odd),
        hint=f"Lift {preview(c.name for c in s.odd)} from {s.source} to {s.target} with the "
        f"UCSC chain {chain} (CrossMap bed|vcf|gff {chain} IN OUT), or pass "
        "--expected-build to say which build is right.",
        input=s.odd[0].name,
    )


def check_build_mismatch(
    calls: Sequence[BuildCall], *, expected_build: str | None = None
) -> list[Finding]:
    """``build.mismatch`` (error) when the inputs of one audit are in different builds.

    Only determined calls take part. The hint lifts the other inputs to ``expected_build``
    when given, else to the majority build (ties: the first input's build).

    Parameters
    ----------
    calls
        The build calls of the inputs (:func:`detect_build`).
    expected_build
        ``"GRCh37"`` or ``"GRCh38"`` (``"hg19"`` / ``"hg38"`` accepted); None: the majority.

    Examples
    --------
    >>> a = BuildCall("variants.vcf", "GRCh38", 0.99, "header")
    >>> b = BuildCall("peaks.bed", "GRCh37", 0.97, "tss")
    >>> f = check_build_mismatch([a, b])[0]
    >>> f.check, f.evidence["builds"]
    ('build.mismatch', {'variants.vcf': 'GRCh38', 'peaks.bed': 'GRCh37'})
    """
    expected = _normalise_build(expected_build, key="expected_build")
    split = _build_split(calls, expected)
    return [] if split is None else [_mismatch_finding(split)]


def _sets_mismatch(name: str, calls: Sequence[BuildCall]) -> list[Finding]:
    """``build.mismatch`` (error) when two coordinate sets of one input (``chr_name`` /
    ``chr_position`` beside ``hm_chr`` / ``hm_pos``) are in different builds.

    Examples
    --------
    >>> a = BuildCall("s.txt", "GRCh37", 0.999, "", columns="chr_name/chr_position")
    >>> b = BuildCall("s.txt", "GRCh38", 0.999, "", columns="hm_chr/hm_pos")
    >>> _sets_mismatch("s.txt", [a, b])[0].subjects
    ['chr_name/chr_position', 'hm_chr/hm_pos']
    """
    known = [c for c in calls if c.determined]
    if len({c.build for c in known}) < 2:
        return []
    base = name.rsplit("/", 1)[-1]
    pairs = " and ".join(f"{c.columns} in {c.build}" for c in known)
    first = {
        b: next(c.columns for c in known if c.build == b)
        for b in BUILDS
        if any(c.build == b for c in known)
    }
    return [
        Finding(
            MISMATCH,
            Severity.ERROR,
            f"{base}: its coordinate sets are in different genome builds: {pairs}; a join on "
            "the wrong pair of columns matches the wrong loci",
            evidence={
                "builds": {c.columns: c.build for c in known},
                "confidences": {c.columns: c.confidence for c in known},
                "n_sets": len(known),
                "input": base,
            },
            subjects=[c.columns for c in known],
            hint=f"Join on the columns of the build you need ({first.get(GRCH38, '')} for GRCh38, "
            f"{first.get(GRCH37, '')} for GRCh37) and drop the others, or pass --expected-build "
            "so each set is checked against it.",
            input=known[0].name,
        )
    ]

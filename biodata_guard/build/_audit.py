"""The build group of an audit: every coordinate input, then the comparisons between them."""

from __future__ import annotations

from typing import Any

from biodata_guard._context import AuditContext, CoordInput
from biodata_guard.build._bounds import _bounds_findings
from biodata_guard.build._call import _input_findings
from biodata_guard.build._detect import BuildCall, _detect
from biodata_guard.build._inputs import _coordinate_sets, _prepare, _Prepared
from biodata_guard.build._mismatch import MISMATCH, check_build_mismatch
from biodata_guard.build._naming import _naming_between, _naming_within
from biodata_guard.build._off_by_one import _audit_off_by_one
from biodata_guard.build._reference import _normalise_build
from biodata_guard.findings import Finding, not_checked
from biodata_guard.io.coords import coords_from_var
from biodata_guard.registry import NEEDS, declare_need


def var_coordinates(ctx: AuditContext) -> list[CoordInput]:
    """The coordinates held by the AnnData inputs' ``.var`` (read once per audit)."""
    if "var_coordinates" not in ctx.cache:
        found = (
            coords_from_var(fi.adata, name=f"{fi.name} (.var)")
            for fi in ctx.features
            if fi.adata is not None
        )
        ctx.cache["var_coordinates"] = [ci for ci in found if ci is not None]
    return ctx.cache["var_coordinates"]


declare_need(
    "coords",
    says="coordinates (--coords, or an h5ad whose .var holds chromosome / start columns)",
    present=lambda ctx: bool(ctx.coords) or bool(var_coordinates(ctx)),
)


def _n_sets(ctx: AuditContext) -> int:
    """Coordinate sets of the audit: every input's, author and harmonised columns apart."""
    return sum(len(_coordinate_sets(ci)) for ci in [*ctx.coords, *var_coordinates(ctx)])


declare_need(
    "two_coords",
    says="two or more coordinate inputs or sets (--coords twice, a table with author and "
    "harmonised positions, or an h5ad with .var coordinates)",
    present=lambda ctx: _n_sets(ctx) >= 2,
)


def _audit_inputs(ctx: AuditContext) -> list[CoordInput]:
    inputs = [*ctx.coords, *var_coordinates(ctx)]
    seen: dict[str, int] = {}
    out = []
    for ci in inputs:  # two files of one name in different folders: keep the names apart
        k = seen[ci.name] = seen.get(ci.name, 0) + 1
        if k > 1:
            ci = CoordInput(f"{ci.name} ({k})", ci.frame, ci.kind, ci.header, ci.path)
        out.append(ci)
    return out


def _mismatch_not_checked(ctx: AuditContext, calls: list[BuildCall]) -> list[Finding]:
    """``not checked`` when the audit has two coordinate sets to compare but fewer than two
    of them have a determined build."""
    n_known = sum(c.determined for c in calls)
    if n_known >= 2 or not NEEDS["two_coords"].present(ctx):
        return []
    reason = f"{n_known} of {len(calls)} coordinate sets have a determined build, needs >= 2"
    return [not_checked(MISMATCH, reason, n_inputs=len(calls), n_determined=n_known)]


def _input_call(calls: list[BuildCall]) -> BuildCall | None:
    """The call that stands for one input between inputs: its first determined set, when all
    its determined sets agree (sets that disagree are reported within the input)."""
    known = [c for c in calls if c.determined]
    if len({c.build for c in known}) > 1:
        return None
    return known[0] if known else (calls[0] if calls else None)


def audit_build(ctx: AuditContext) -> list[Finding]:
    """Build checks for one audit.

    Reads every ``ctx.coords`` input and, for each ``ctx.features[i].adata``, its ``.var``
    when it carries coordinates (named ``"<feature name> (.var)"``). Per input: malformed
    rows, then per coordinate set (author and harmonised columns apart) the build call
    (``build.detected`` / ``build.undetermined``), ``build.unexpected`` against
    ``ctx.config.expected_build``, a stale header, and ``build.mismatch`` between its sets;
    then contig naming, bounds against the detected build (else the expected one, else both)
    and off-by-one positions. Across inputs: ``build.mismatch`` and naming differences.
    Checks that cannot run say so (``not checked`` info findings). Plot data go to
    ``ctx.artifacts["build"] = {input: {signal: {"GRCh37": s, "GRCh38": s}}}``.

    Examples
    --------
    >>> import pandas as pd
    >>> from biodata_guard._context import AuditContext
    >>> from biodata_guard.build._reference import _markers
    >>> from biodata_guard.config import AuditConfig
    >>> from biodata_guard.io.coords import coords_from_frame
    >>> panel = _markers().head(40)
    >>> snps = pd.DataFrame({"chrom": panel["chrom_GRCh37"], "pos": panel["pos_GRCh37"]})
    >>> ctx = AuditContext(config=AuditConfig(expected_build="GRCh38"),
    ...                    coords=[coords_from_frame(snps, name="snps.tsv")])
    >>> [(f.check, str(f.severity)) for f in audit_build(ctx)]
    [('build.detected', 'info'), ('build.unexpected', 'error')]
    """
    expected = _normalise_build(ctx.config.expected_build, key="expected_build")
    inputs = _audit_inputs(ctx)
    if not inputs:
        return []  # the audit reports the missing need
    rate = getattr(ctx.config, "build_false_call_rate", None)
    findings: list[Finding] = []
    all_calls: list[BuildCall] = []
    between: list[BuildCall] = []
    prepared: list[_Prepared] = []
    artifacts: dict[str, Any] = {}
    for ci in inputs:
        sets = [_prepare(s) for s in _coordinate_sets(ci)]
        calls = [_detect(p, false_call_rate=rate, seed=ctx.seed) for p in sets]
        findings += _input_findings(sets, calls, expected=expected)
        p = sets[0]
        findings += _naming_within(p)
        for q, c in zip(sets, calls, strict=True):
            findings += _bounds_findings(q, c.build if c.determined else expected)
            artifacts[q.name] = c.scores()
        findings += _audit_off_by_one(p, min_informative=10)
        all_calls += calls
        standing = _input_call(calls)
        if standing is not None:
            between.append(standing)
        prepared.append(p)
    findings += check_build_mismatch(between, expected_build=expected)
    findings += _mismatch_not_checked(ctx, all_calls)
    findings += _naming_between(prepared)
    ctx.artifacts["build"] = artifacts
    return findings

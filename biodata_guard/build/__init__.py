"""Genome build: GRCh37 vs GRCh38 calls weighed by evidence, build mismatches, stale headers,
malformed rows, contig naming, coordinate bounds."""

from __future__ import annotations

from biodata_guard.build._audit import audit_build
from biodata_guard.build._bounds import OUT_OF_BOUNDS, check_out_of_bounds
from biodata_guard.build._call import DETECTED, UNDETERMINED, UNEXPECTED, check_build
from biodata_guard.build._detect import BuildCall, detect_build, detect_builds
from biodata_guard.build._mismatch import MISMATCH, check_build_mismatch
from biodata_guard.build._naming import CONTIG_NAMING, check_contig_naming
from biodata_guard.build._off_by_one import OFF_BY_ONE, check_off_by_one
from biodata_guard.build._quality import MALFORMED_ROWS, STALE_HEADER
from biodata_guard.build._reference import BUILDS as BUILDS  # re-exported
from biodata_guard.build._signals import SIGNALS as SIGNALS  # re-exported
from biodata_guard.registry import declare_group

__all__ = [
    "BuildCall",
    "audit_build",
    "check_build",
    "check_build_mismatch",
    "check_contig_naming",
    "check_off_by_one",
    "check_out_of_bounds",
    "detect_build",
    "detect_builds",
]

CHECK_IDS = (
    DETECTED,
    MISMATCH,
    UNEXPECTED,
    UNDETERMINED,
    CONTIG_NAMING,
    OUT_OF_BOUNDS,
    OFF_BY_ONE,
    MALFORMED_ROWS,
    STALE_HEADER,
)

declare_group(
    "build",
    title="Genome build",
    description="GRCh37 / GRCh38 detection, contig naming and coordinate bounds.",
    order=40,
    run=audit_build,
)

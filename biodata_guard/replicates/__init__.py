"""Replicate agreement and the performance ceiling it implies; outlier replicate groups."""

from __future__ import annotations

from biodata_guard.registry import declare_group
from biodata_guard.replicates._agreement import LOW_AGREEMENT, check_replicate_agreement
from biodata_guard.replicates._audit import audit_replicates
from biodata_guard.replicates._bootstrap import MAX_BOOTSTRAP_CELLS
from biodata_guard.replicates._ceiling import replicate_ceiling
from biodata_guard.replicates._ceiling_checks import (
    CEILING,
    SCORE_ABOVE_CEILING,
    check_replicate_ceiling,
)
from biodata_guard.replicates._result import METRICS, ReplicateCeiling

__all__ = [
    "CEILING",
    "CHECK_IDS",
    "LOW_AGREEMENT",
    "MAX_BOOTSTRAP_CELLS",
    "METRICS",
    "SCORE_ABOVE_CEILING",
    "ReplicateCeiling",
    "audit_replicates",
    "check_replicate_agreement",
    "check_replicate_ceiling",
    "replicate_ceiling",
]

CHECK_IDS = (CEILING, SCORE_ABOVE_CEILING, LOW_AGREEMENT)

declare_group(
    "replicates",
    title="Replicates",
    description="Replicate agreement and the performance ceiling it implies.",
    order=60,
    run=audit_replicates,
)

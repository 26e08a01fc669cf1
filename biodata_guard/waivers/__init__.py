"""Waivers: findings accepted on purpose (kept in every report, marked, not failing the gate)."""

from biodata_guard.registry import declare_group
from biodata_guard.waivers._waivers import (
    CLI_REASON,
    STALE,
    Waiver,
    apply_waivers,
    parse_waivers,
    stale_finding,
)

__all__ = [
    "CLI_REASON",
    "STALE",
    "Waiver",
    "apply_waivers",
    "parse_waivers",
    "stale_finding",
]

declare_group(
    "waivers",
    title="Waivers",
    description="Waivers (--waive, the config's waivers: list) that matched no finding.",
    order=90,
)

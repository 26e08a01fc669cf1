"""Units of expression matrices: counts, CPM, TPM, RPKM/FPKM, normalised, log, scaled; mixes."""

from __future__ import annotations

from biodata_guard.io.gene_lengths import read_gene_lengths, shipped_gene_lengths
from biodata_guard.registry import declare_group
from biodata_guard.units._anndata import check_anndata_units
from biodata_guard.units._audit import audit_units, stream_accumulators
from biodata_guard.units._call import EXPECTED_UNITS, UNITS, UnitsCall
from biodata_guard.units._detect import detect_units
from biodata_guard.units._findings import (
    DETECTED,
    INVALID_VALUES,
    MIXED_WITHIN,
    UNEXPECTED,
    check_units,
)
from biodata_guard.units._lengths import gene_lengths_from_var
from biodata_guard.units._mismatch import MISMATCH, check_units_mismatch
from biodata_guard.units._scan import scan_accumulator as scan_accumulator  # the shared pass

__all__ = [
    "CHECK_IDS",
    "DETECTED",
    "EXPECTED_UNITS",
    "INVALID_VALUES",
    "MISMATCH",
    "MIXED_WITHIN",
    "UNEXPECTED",
    "UNITS",
    "UnitsCall",
    "audit_units",
    "check_anndata_units",
    "check_units",
    "check_units_mismatch",
    "detect_units",
    "gene_lengths_from_var",
    "read_gene_lengths",
    "shipped_gene_lengths",
]

CHECK_IDS = (DETECTED, MISMATCH, UNEXPECTED, MIXED_WITHIN, INVALID_VALUES)

declare_group(
    "units",
    title="Units",
    description=(
        "Counts / CPM / TPM / RPKM / log / scaled detection and mismatches between matrices."
    ),
    order=50,
    run=audit_units,
    shared_pass=stream_accumulators,
)

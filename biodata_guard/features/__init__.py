"""Feature ids: namespaces and organisms, mixes and duplicates within an input, mismatches
between inputs (and against the model's reference list), and AnnData structure."""

from __future__ import annotations

from biodata_guard.features._audit import audit_features
from biodata_guard.features._checks import (
    DUPLICATES,
    ID_TYPE,
    MIXED_IDS,
    SYMBOL_MISCALL_RATE,
    check_feature_duplicates,
    check_feature_ids,
)
from biodata_guard.features._ids import NAMESPACES, IdProfile, parse_ids, profile_ids
from biodata_guard.features._mismatch import (
    MISMATCH,
    FeatureComparison,
    Side,
    check_features_mismatch,
    compare_features,
)
from biodata_guard.features._structure import (
    LOG1P_MARKER,
    MATRIX_ROLES,
    RAW_MISMATCH,
    check_anndata_structure,
)
from biodata_guard.features._tables import ORGANISMS, TABLE_RELEASE, gene_table, map_feature_ids
from biodata_guard.io.feature_list import read_feature_list
from biodata_guard.registry import declare_group

__all__ = [
    "CHECK_IDS",
    "DUPLICATES",
    "ID_TYPE",
    "LOG1P_MARKER",
    "MATRIX_ROLES",
    "MISMATCH",
    "MIXED_IDS",
    "NAMESPACES",
    "ORGANISMS",
    "RAW_MISMATCH",
    "SYMBOL_MISCALL_RATE",
    "TABLE_RELEASE",
    "FeatureComparison",
    "IdProfile",
    "Side",
    "audit_features",
    "check_anndata_structure",
    "check_feature_duplicates",
    "check_feature_ids",
    "check_features_mismatch",
    "compare_features",
    "gene_table",
    "map_feature_ids",
    "parse_ids",
    "profile_ids",
    "read_feature_list",
]

CHECK_IDS = (ID_TYPE, MIXED_IDS, DUPLICATES, MISMATCH, RAW_MISMATCH, MATRIX_ROLES, LOG1P_MARKER)

declare_group(
    "features",
    title="Features",
    description=(
        "Feature-id namespaces and organisms, mixed or duplicated ids, mismatches between "
        "inputs and against the model's reference list, and AnnData structure."
    ),
    order=45,
    run=audit_features,
)

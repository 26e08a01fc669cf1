"""Split leakage: shared ids and groups, duplicate and near-duplicate samples, label shortcuts."""

from biodata_guard.leakage._audit import audit_leakage, stream_accumulators
from biodata_guard.leakage._cv import check_cv_splits
from biodata_guard.leakage._duplicates import DUPLICATE_SAMPLES, check_duplicate_samples
from biodata_guard.leakage._near import NEAR_DUPLICATES, check_near_duplicates
from biodata_guard.leakage._overlap import (
    GROUP_OVERLAP,
    ID_OVERLAP,
    check_group_overlap,
    check_id_overlap,
)
from biodata_guard.leakage._preprocessing import (
    PREPROCESSING_BEFORE_SPLIT,
    check_preprocessing_before_split,
)
from biodata_guard.leakage._row_hashes import RowHashes as RowHashes
from biodata_guard.leakage._row_hashes import row_hashes as row_hashes
from biodata_guard.leakage._shortcuts import (
    METADATA_PREDICTS_LABEL,
    check_metadata_predicts_label,
)
from biodata_guard.leakage._split_moments import SplitMoments as SplitMoments
from biodata_guard.leakage._split_moments import split_moments as split_moments
from biodata_guard.registry import declare_group

__all__ = [
    "DUPLICATE_SAMPLES",
    "GROUP_OVERLAP",
    "ID_OVERLAP",
    "METADATA_PREDICTS_LABEL",
    "NEAR_DUPLICATES",
    "PREPROCESSING_BEFORE_SPLIT",
    "audit_leakage",
    "check_cv_splits",
    "check_duplicate_samples",
    "check_group_overlap",
    "check_id_overlap",
    "check_metadata_predicts_label",
    "check_near_duplicates",
    "check_preprocessing_before_split",
]

declare_group(
    "leakage",
    title="Leakage",
    description="Samples, groups and duplicates shared between splits; metadata that gives the "
    "label away.",
    order=30,
    run=audit_leakage,
    shared_pass=stream_accumulators,
)

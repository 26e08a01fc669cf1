"""Label/input alignment: lengths, keys, order, missing labels, merges, sex concordance."""

from biodata_guard.alignment._audit import audit_alignment
from biodata_guard.alignment._ids import (
    KEY_DUPLICATES,
    LENGTH_MISMATCH,
    MISSING_LABELS,
    ORDER_MISMATCH,
    UNMATCHED_KEYS,
    check_alignment,
    check_missing_labels,
)
from biodata_guard.alignment._merge import MERGE_EXPLOSION, audited_merge, check_merge
from biodata_guard.alignment._sex import (
    SEX_DISCORDANCE,
    audit_sex_concordance,
    check_sex_concordance,
    stream_accumulators,
)
from biodata_guard.alignment._sex_inference import (
    SEX_GENES,
    Y_GENES,
    infer_sex,
    normalise_sex,
)
from biodata_guard.alignment._sex_inference import (
    SexInference as SexInference,  # the result of infer_sex (kept out of __all__: sort order)
)
from biodata_guard.registry import declare_group

__all__ = [
    "KEY_DUPLICATES",
    "LENGTH_MISMATCH",
    "MERGE_EXPLOSION",
    "MISSING_LABELS",
    "ORDER_MISMATCH",
    "SEX_DISCORDANCE",
    "SEX_GENES",
    "UNMATCHED_KEYS",
    "Y_GENES",
    "audit_alignment",
    "audit_sex_concordance",
    "audited_merge",
    "check_alignment",
    "check_merge",
    "check_missing_labels",
    "check_sex_concordance",
    "infer_sex",
    "normalise_sex",
]

declare_group(
    "alignment",
    title="Alignment",
    description="Labels and metadata joined to the right rows: keys, order, merges, "
    "sex concordance.",
    order=10,
    run=audit_alignment,
    shared_pass=stream_accumulators,
)

"""The JAX batch-predictor probe: can the features give the batch (or the split) away?"""

from __future__ import annotations

from biodata_guard.probe._audit import audit_probe, stream_accumulators
from biodata_guard.probe._checks import (
    PREDICTABLE,
    SPLIT_PREDICTABLE,
    SUMMARY,
    check_batch_probe,
    check_split_probe,
)
from biodata_guard.probe._confounding import (
    CONFOUNDED,
    Confounding,
    batch_confounding,
    check_batch_confounding,
)
from biodata_guard.probe._engine import batch_probe
from biodata_guard.probe._fit import N_SHUFFLED_CONTROLS as N_SHUFFLED_CONTROLS
from biodata_guard.probe._inputs import TRANSFORMS
from biodata_guard.probe._result import ProbeResult, ProbeSelfCheckError
from biodata_guard.registry import declare_group

__all__ = [
    "CHECK_IDS",
    "CONFOUNDED",
    "PREDICTABLE",
    "SPLIT_PREDICTABLE",
    "SUMMARY",
    "TRANSFORMS",
    "Confounding",
    "ProbeResult",
    "ProbeSelfCheckError",
    "audit_probe",
    "batch_confounding",
    "batch_probe",
    "check_batch_confounding",
    "check_batch_probe",
    "check_split_probe",
]

CHECK_IDS = (PREDICTABLE, CONFOUNDED, SPLIT_PREDICTABLE, SUMMARY)

declare_group(
    "probe",
    title="Batch and split probe",
    description="Can a classifier tell the batch (or the split) from the features?",
    order=70,
    run=audit_probe,
    shared_pass=stream_accumulators,
    prefixes=("batch", "probe"),
)

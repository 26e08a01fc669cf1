"""Batch confounded with the label in the sample sheet: a chi-square test, no features needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.registry import declare_check
from biodata_guard.stats import Association, cramers_v

CONFOUNDED = declare_check(
    "batch.confounded",
    group="probe",
    severities=("warning", "error"),
    needs=("batch", "labels"),
    params=("alpha",),
    doc="Batch and label associated in the sample sheet (Cramér's V, chi-square); an error "
    "when every batch holds a single class.",
)
#: Cramér's V from which a significant batch-label association is flagged.
MAX_CRAMERS_V = 0.3


@dataclass(frozen=True)
class Confounding:
    """The batch x label contingency table of the samples with both values, and its test.

    ``association`` is the plain Cramér's V (no bias correction) with the chi-square test
    behind it; ``single_class_batches`` maps each batch holding one class to that class.
    """

    contingency: dict[str, dict[str, int]]  # batch -> class -> samples
    association: Association
    single_class_batches: dict[str, str]
    n_samples: int
    n_classes: int

    @property
    def n_batches(self) -> int:
        return len(self.contingency)

    @property
    def testable(self) -> bool:
        """Two batches and two classes at least: else there is nothing to be confounded."""
        return self.n_batches >= 2 and self.n_classes >= 2

    @property
    def fully_confounded(self) -> bool:
        """Every batch holds a single class: the label is a function of the batch."""
        return self.testable and len(self.single_class_batches) == self.n_batches


def batch_confounding(batch: Any, labels: Any) -> Confounding:
    """Cross-tabulate batch and label (samples missing either are left out) and test them.

    Examples
    --------
    >>> res = batch_confounding(["B1", "B1", "B2", "B2"], ["x", "x", "y", "y"])
    >>> res.fully_confounded, res.association.v, res.single_class_batches
    (True, 1.0, {'B1': 'x', 'B2': 'y'})
    """
    frame = pd.DataFrame({"b": pd.Series(batch).to_numpy(), "y": pd.Series(labels).to_numpy()})
    frame = frame.dropna().astype(str)
    table = pd.crosstab(frame["b"], frame["y"])
    return Confounding(
        contingency={str(b): row.astype(int).to_dict() for b, row in table.iterrows()},
        association=cramers_v(table.to_numpy(), bias_corrected=False),
        single_class_batches={
            str(b): str(row.idxmax()) for b, row in table.iterrows() if (row > 0).sum() == 1
        },
        n_samples=int(table.to_numpy().sum()),
        n_classes=table.shape[1],
    )


def check_batch_confounding(
    batch: Any,
    labels: Any,
    *,
    name: str = "metadata",
    batch_col: str = "batch",
    label_col: str = "label",
    max_cramers_v: float = MAX_CRAMERS_V,
    alpha: float = 0.01,
) -> list[Finding]:
    """Batch and label associated in the metadata (no features needed).

    ``batch.confounded`` is an error when every batch holds a single class (the label is a
    function of the batch: no method can separate the two), a warning when Cramér's V reaches
    ``max_cramers_v`` and the chi-square test rejects independence at ``alpha``. The evidence
    holds the contingency table. Fewer than two batches or classes: nothing to report.

    Examples
    --------
    >>> batch = pd.Series(["B1"] * 30 + ["B2"] * 30)
    >>> label = pd.Series(["tumour"] * 30 + ["normal"] * 30)
    >>> f, = check_batch_confounding(batch, label)
    >>> f.severity, f.evidence["cramers_v"], f.evidence["fully_confounded"]
    (<Severity.ERROR: 'error'>, 1.0, True)
    """
    res = batch_confounding(batch, labels)
    return _confounding_findings(
        res,
        name=name,
        batch_col=batch_col,
        label_col=label_col,
        max_cramers_v=max_cramers_v,
        alpha=alpha,
    )


def _confounding_findings(
    res: Confounding,
    *,
    name: str,
    batch_col: str,
    label_col: str,
    max_cramers_v: float,
    alpha: float,
) -> list[Finding]:
    """The verdict on ``res``: an error when fully confounded, a warning when associated."""
    a = res.association
    if not res.testable:
        return []
    if not res.fully_confounded and not (a.v >= max_cramers_v and a.p_value < alpha):
        return []
    evidence = {
        "cramers_v": a.v,
        "chi2": a.chi2,
        "p_value": a.p_value,
        "dof": a.dof,
        "n_samples": res.n_samples,
        "n_batches": res.n_batches,
        "n_classes": res.n_classes,
        "contingency": res.contingency,
        "single_class_batches": res.single_class_batches,
        "fully_confounded": res.fully_confounded,
        "max_cramers_v": max_cramers_v,
        "alpha": alpha,
    }
    words = {"name": name, "batch_col": batch_col, "label_col": label_col}
    if res.fully_confounded:
        return [_fully_confounded(res, evidence, **words)]
    return [_associated(res, evidence, max_cramers_v=max_cramers_v, **words)]


def _fully_confounded(
    res: Confounding, evidence: dict[str, Any], *, name: str, batch_col: str, label_col: str
) -> Finding:
    pure = res.single_class_batches
    return Finding(
        CONFOUNDED,
        Severity.ERROR,
        f"{name}, {batch_col}: batch is fully confounded with {label_col} (Cramér's V "
        f"{res.association.v:.2f}); every batch holds a single class, "
        f"{fraction(len(pure), res.n_batches)} batches ({_pure_text(pure)}), so no method can "
        f"separate batch from {label_col}",
        evidence=evidence,
        subjects=subjects(pure),
        hint="Re-design rather than correct: process every class in every batch "
        "(a balanced block design) or re-sequence a balanced subset; batch correction "
        f"(scanpy.pp.combat, harmonypy) would remove the {label_col} signal along with "
        "the batch.",
        input=name,
    )


def _associated(
    res: Confounding,
    evidence: dict[str, Any],
    *,
    name: str,
    batch_col: str,
    label_col: str,
    max_cramers_v: float,
) -> Finding:
    a, pure = res.association, res.single_class_batches
    return Finding(
        CONFOUNDED,
        Severity.WARNING,
        f"{name}, {batch_col}: batch is associated with {label_col} (Cramér's V {a.v:.2f} >= "
        f"{max_cramers_v:.2g}, chi-square p = {a.p_value:.2g}) over {res.n_samples} samples; "
        f"{fraction(len(pure), res.n_batches)} batches hold a single class"
        + (f" ({_pure_text(pure)})" if pure else ""),
        evidence=evidence,
        subjects=subjects(pure),
        hint=f"Correct for the batch with {label_col} as a protected covariate "
        f"(scanpy.pp.combat(adata, key={batch_col!r}, covariates=[{label_col!r}])) and "
        "evaluate with sklearn.model_selection.StratifiedGroupKFold(groups=batch) so the "
        "score cannot ride on the batch.",
        input=name,
    )


def _pure_text(pure: dict[str, str]) -> str:
    return preview(f"{b}: {c}" for b, c in pure.items()) if pure else "none"


def _untestable(res: Confounding, *, name: str, batch_col: str, label_col: str) -> Finding:
    """The ``not checked`` note of an untestable table (fewer than two batches or classes)."""
    return not_checked(
        CONFOUNDED,
        f"{res.n_batches} {batch_col} value(s) and {res.n_classes} {label_col} class(es) among "
        f"the {res.n_samples} samples with both; needs >= 2 of each",
        input=name,
        n_samples=res.n_samples,
        n_batches=res.n_batches,
        n_classes=res.n_classes,
    )

"""What one probe measured: :class:`ProbeResult`, and the error of a probe that fails itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biodata_guard._format import jsonable


class ProbeSelfCheckError(RuntimeError):
    """The probe failed its own validation (a bug in biodata_guard, not a problem with the data).

    ``checks`` holds the self-check record with the failing entries marked ``ok: False``.
    """

    def __init__(self, message: str, checks: dict[str, Any]) -> None:
        super().__init__(message)
        self.checks = checks


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """What one probe measured. The verdict (a Finding) is made by the ``check_*`` functions.

    Attributes
    ----------
    target_name
        The attribute probed (e.g. ``"batch"``).
    classes
        The classes probed, sorted; ``dropped_classes`` were too small to stratify.
    balanced_accuracy, balanced_accuracy_sd, fold_balanced_accuracy
        The statistic: held-out balanced accuracy of closed-form LDA on the probe's inputs,
        mean and SD over folds, and per fold.
    chance
        Balanced accuracy of guessing uniformly among a fold's training classes, averaged over
        folds (1 / number of classes when every fold holds every class).
    p_value, n_permutations, null_balanced_accuracy
        Permutation p-value ``(1 + #{null >= observed}) / (1 + n_permutations)`` and the null
        (mean over folds of each permuted-label LDA's held-out balanced accuracy).
    per_class_recall, confusion, model_balanced_accuracy
        The trained model (softmax regression on the same inputs): recall per class and the
        confusion matrix (rows true, columns predicted) over all held-out predictions, and its
        held-out balanced accuracy (per fold, averaged).
    top_features
        The features that drive the prediction, mapped back through the PCA loadings:
        ``{"feature", "importance", "class"}`` (importance: norm over classes of the
        coefficient on the standardised feature, averaged over folds; class: the one the
        feature pushes towards).
    embedding, embedding_rows, embedding_labels
        2-D PCA coordinates of <= ``n_embedding_points`` rows (positions into ``X``) and their
        target values, for plots.
    self_check
        Each self-validation with its numbers and ``ok``.
    preprocessing
        Units, transform, rows used for the SVD and the model, components kept.
    timings
        Seconds per stage, JIT ``compile`` apart (not part of :meth:`to_dict`: reports stay
        byte-identical).
    """

    target_name: str
    classes: tuple[str, ...]
    n_samples: int
    n_features: int
    n_components: int
    n_folds: int
    grouped: bool
    balanced_accuracy: float
    balanced_accuracy_sd: float
    fold_balanced_accuracy: tuple[float, ...]
    chance: float
    p_value: float
    n_permutations: int
    null_balanced_accuracy: tuple[float, ...]
    per_class_recall: dict[str, float]
    confusion: np.ndarray
    model_balanced_accuracy: float
    top_features: tuple[dict[str, Any], ...]
    embedding: np.ndarray
    embedding_rows: np.ndarray
    embedding_labels: tuple[str, ...]
    self_check: dict[str, Any]
    preprocessing: dict[str, Any]
    dropped_classes: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def effect(self) -> float:
        """Balanced accuracy above chance as a share of the possible gain: 0 chance, 1 perfect."""
        return (self.balanced_accuracy - self.chance) / max(1e-12, 1.0 - self.chance)

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null_balanced_accuracy))

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-safe evidence (no embedding, no timings)."""
        null = np.asarray(self.null_balanced_accuracy)
        return jsonable(
            {
                "target": self.target_name,
                "classes": list(self.classes),
                "n_samples": self.n_samples,
                "n_features": self.n_features,
                "n_components": self.n_components,
                "n_folds": self.n_folds,
                "grouped_folds": self.grouped,
                "balanced_accuracy": self.balanced_accuracy,
                "balanced_accuracy_sd": self.balanced_accuracy_sd,
                "fold_balanced_accuracy": list(self.fold_balanced_accuracy),
                "chance": self.chance,
                "effect": self.effect,
                "p_value": self.p_value,
                "n_permutations": self.n_permutations,
                "null_mean": float(null.mean()),
                "null_sd": float(null.std()),
                "null_q95": float(np.quantile(null, 0.95)),
                "per_class_recall": self.per_class_recall,
                "model_balanced_accuracy": self.model_balanced_accuracy,
                "confusion": {
                    t: {p: int(self.confusion[i, j]) for j, p in enumerate(self.classes)}
                    for i, t in enumerate(self.classes)
                },
                "top_features": list(self.top_features),
                "dropped_classes": self.dropped_classes,
                "self_check": self.self_check,
                "preprocessing": self.preprocessing,
                "seed": self.seed,
            }
        )

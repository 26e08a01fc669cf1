"""The probe's self-validation: the checks a careful practitioner runs on a trained probe."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from biodata_guard.probe import _model as pm

_INIT_LOSS_ATOL = 1e-3
_MONOTONE_ATOL = 1e-4
_NULL_ATOL = 0.05


def _small_batch(Z: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` well-separated training rows, round-robin over classes: rows closer than a
    quarter of the typical distance (technical replicates, duplicates) are skipped, so a failure
    to overfit means a broken training loop, not two near-identical rows with two labels."""
    order = rng.permutation(len(Z))[:512]
    sample = Z[order[:64]]
    dist = np.sqrt(((sample[:, None, :] - sample[None, :, :]) ** 2).sum(axis=-1))
    min_dist = (
        0.25 * float(np.median(dist[np.triu_indices(len(sample), 1)])) if len(sample) > 1 else 0
    )
    queues = [list(order[y[order] == c]) for c in np.unique(y[order])]
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for q in queues:
            while q and len(picked) < n:
                i = q.pop(0)
                if not picked or np.sqrt(((Z[picked] - Z[i]) ** 2).sum(axis=1)).min() > min_dist:
                    picked.append(int(i))
                    break
    return np.array(picked)


def _self_checks(
    out: dict[str, np.ndarray],
    Z0: np.ndarray,
    y0: np.ndarray,
    class_mask: np.ndarray,
    *,
    rank: int,
    chance: float,
    controls: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict[str, Any], float]:
    """The careful practitioner's checks, each with its numbers and a verdict ``ok``; and the
    seconds spent compiling the small-batch fit. ``out`` is the trained model of every fold,
    ``Z0`` / ``y0`` the (padded) inputs and labels of fold 0's model rows, ``class_mask`` the
    classes of fold 0; ``controls`` the shuffled-label controls' balanced accuracies."""
    losses = out["losses"].astype(np.float64)  # (F, T+1)
    ln_k = np.log(out["n_classes"])  # per fold
    init_dev = float(np.abs(losses[:, 0] - ln_k).max())
    rises = float(np.diff(losses, axis=1).max()) if losses.shape[1] > 1 else 0.0
    first, last = losses[:, 0], losses[:, -1]
    Z = Z0[: len(y0)]
    small = _small_batch(Z, y0, min(pm.OVERFIT_ROWS, rank + 1), rng)
    small_mask = np.bincount(y0[small], minlength=class_mask.shape[0]) > 0
    (o_first, o_final, o_acc), seconds = pm.overfit_small_batch(Z[small], y0[small], small_mask)
    # The permutation null (labels permuted within the training rows, scored on the true
    # held-out labels) need not centre on chance when the features are strongly structured;
    # the shuffled-label controls must.
    control_mean = float(controls.mean())
    control_tol = _NULL_ATOL + 3.0 * float(controls.std(ddof=1)) / math.sqrt(len(controls))
    checks = {
        "initial_loss": {
            "ok": init_dev <= _INIT_LOSS_ATOL,
            "value": float(losses[:, 0].mean()),
            "expected_ln_k": float(ln_k.mean()),
            "max_abs_deviation": init_dev,
        },
        "loss_falls": {
            "ok": bool((last < first).all()) and rises <= _MONOTONE_ATOL,
            "initial": float(first.mean()),
            "final": float(last.mean()),
            "max_step_increase": max(0.0, rises),
        },
        "overfits_small_batch": {
            "ok": o_acc == 1.0 and o_final < 0.1 * o_first,
            "n_rows": len(small),
            "initial_loss": o_first,
            "final_loss": o_final,
            "train_accuracy": o_acc,
        },
        "finite": {"ok": bool(np.all(out["finite"]))},
        "shuffled_control_at_chance": {
            "ok": abs(control_mean - chance) <= control_tol,
            "mean": control_mean,
            "n_controls": len(controls),
            "chance": chance,
            "tolerance": control_tol,
        },
    }
    return checks, seconds

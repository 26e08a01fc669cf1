"""Categorical labels: pair agreement, Cohen's / Fleiss' kappa, the label-noise ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biodata_guard.replicates import _bootstrap
from biodata_guard.replicates._groups import first_per_group, outlier, sorted_by_group


def categorical_stats(C: np.ndarray, V: np.ndarray, K: int, pairs: bool) -> dict[str, np.ndarray]:
    """Agreement and kappas for group weights ``C`` from the per-group columns ``V`` of
    :func:`categorical` (one matrix product): ``m``, agreeing ordered pairs / (m - 1), the
    class counts (K), and for pair designs the pair agreement and each rater's one-hot label."""
    S = C @ V
    N, agree_w = S[:, 0], S[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = agree_w / N
        p_e = ((S[:, 2 : 2 + K] / N[:, None]) ** 2).sum(axis=1)
        out = {
            "agreement": p_bar,
            "chance_agreement": p_e,
            "fleiss_kappa": (p_bar - p_e) / (1.0 - p_e),
        }
        if pairs:
            G = C.sum(axis=1)
            po = S[:, 2 + K] / G
            first = S[:, 3 + K : 3 + 2 * K] / G[:, None]
            second = S[:, 3 + 2 * K : 3 + 3 * K] / G[:, None]
            pe = (first * second).sum(axis=1)
            out["cohen_kappa"] = (po - pe) / (1.0 - pe)
        return out


def noise_ceiling(agreement: np.ndarray, p_e: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Symmetric label noise eps explaining the pair agreement: ``(1-eps)^2 + eps^2/(K-1)``.

    A model that predicts the true class scores ``1 - eps`` against one replicate's label; its
    kappa is ``(1 - eps - p_e) / (1 - p_e)``. Below chance agreement eps is ``1 - 1/K``.

    Examples
    --------
    >>> out = noise_ceiling(np.array([0.82]), np.array([0.5]), 2)  # 0.9^2 + 0.1^2 = 0.82
    >>> round(float(out["ceiling_accuracy"][0]), 6), round(float(out["ceiling_kappa"][0]), 6)
    (0.9, 0.8)
    """
    K = max(2, n_classes)
    a = K / (K - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = np.clip(1.0 - a * (1.0 - agreement), 0.0, None)
        eps = np.clip((1.0 - np.sqrt(disc)) / a, 0.0, 1.0 - 1.0 / K)
        acc = 1.0 - eps
        return {
            "label_noise": eps,
            "ceiling_accuracy": acc,
            "ceiling_kappa": (acc - p_e) / (1.0 - p_e),
        }


def _columns(
    labels: np.ndarray, gc: np.ndarray, starts: np.ndarray, sizes: np.ndarray, K: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Per-group columns for :func:`categorical_stats`, the class counts, the agreeing ordered
    pairs per group, and whether every group is a pair."""
    counts = np.zeros((len(sizes), K))
    np.add.at(counts, (gc, labels), 1.0)
    m = sizes.astype(np.float64)
    agree = (counts * (counts - 1.0)).sum(axis=1)
    columns = [m, agree / (m - 1.0), counts]
    pairs = bool((sizes == 2).all())
    if pairs:
        eye = np.eye(K)
        a, b = labels[starts], labels[starts + 1]
        columns += [(a == b).astype(np.float64), eye[a], eye[b]]
    return np.column_stack(columns), counts, agree, pairs


def categorical(
    y: np.ndarray,
    codes: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    ci_level: float,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, np.ndarray], int]:
    """Estimates, bootstrap intervals, per-group parts and the number of classes of labels
    ``y`` in groups ``codes`` (-1: not measured)."""
    G = int(codes.max()) + 1
    order, starts, sizes = sorted_by_group(codes)
    labels, classes = pd.factorize(pd.Series(y[order], dtype=object))
    K = len(classes)
    V, counts, agree, pairs = _columns(labels, codes[order], starts, sizes, K)

    def derived(C: np.ndarray) -> dict[str, np.ndarray]:
        raw = categorical_stats(C, V, K, pairs)
        raw["kappa"] = raw.get("cohen_kappa", raw["fleiss_kappa"])
        raw.update(noise_ceiling(raw["agreement"], raw["chance_agreement"], K))
        return raw

    point = {k: float(v[0]) for k, v in derived(np.ones((1, G))).items()}
    ci = _bootstrap.intervals(derived, G, n_bootstrap=n_bootstrap, seed=seed, ci_level=ci_level)
    m = sizes.astype(np.float64)
    parts = {
        "m": m,
        "disagreement": 1.0 - agree / (m * (m - 1.0)),
        "order": order,
        "labels": labels,
        "counts": counts,
    }
    return point, ci, parts, K


def categorical_groups(
    parts: dict[str, np.ndarray], ids: pd.Index, names: pd.Index
) -> pd.DataFrame:
    """One row per group: ``n``, ``disagreement`` (= ``score``: the fraction of discordant
    pairs) and ``outlier`` (the first member with the rarest label in its group)."""
    order, labels, counts = parts["order"], parts["labels"], parts["counts"]
    gc_sorted = np.repeat(np.arange(len(parts["m"])), parts["m"].astype(np.int64))
    member_count = counts[gc_sorted, labels]
    first = first_per_group(np.lexsort((member_count, gc_sorted)), gc_sorted)
    disagreement = parts["disagreement"]
    return pd.DataFrame(
        {
            "n": parts["m"].astype(np.int64),
            "disagreement": disagreement,
            "score": disagreement,
            "outlier": np.where(disagreement > 0, outlier(ids[order[first]], parts["m"]), None),
        },
        index=names,
    )

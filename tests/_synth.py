"""Seeded generators of realistic cohorts, count matrices and AnnData for the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def nb_counts(
    n_samples: int, n_genes: int, *, seed: int = 0, mean: float = 50.0, dispersion: float = 0.4
) -> np.ndarray:
    """Negative-binomial RNA-seq-like counts with log-normal gene means and varying depth."""
    rng = np.random.default_rng(seed)
    gene_mean = rng.lognormal(np.log(mean), 1.5, n_genes)
    depth = rng.lognormal(0.0, 0.3, n_samples)
    mu = np.outer(depth, gene_mean)
    r = 1.0 / dispersion
    return rng.negative_binomial(r, r / (r + mu)).astype(np.int64)


def gene_names(n_genes: int) -> list[str]:
    return [f"ENSG{i:011d}" for i in range(n_genes)]


def cohort(
    n_patients: int = 200,
    *,
    seed: int = 0,
    samples_per_patient: tuple[int, int] = (1, 6),
    classes: tuple[str, ...] = ("tumour", "normal"),
    class_weights: tuple[float, ...] | None = None,
    test_fraction: float = 0.25,
    n_batches: int = 4,
) -> pd.DataFrame:
    """A sample sheet: sample_id, patient_id, label, split (grouped by patient: no leak), batch,
    sex. Every patient's samples share one split and one label."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        k = rng.integers(samples_per_patient[0], samples_per_patient[1] + 1)
        label = rng.choice(classes, p=class_weights)
        split = "test" if rng.random() < test_fraction else "train"
        sex = rng.choice(["female", "male"])
        for j in range(k):
            rows.append(
                {
                    "sample_id": f"P{p:04d}_S{j}",
                    "patient_id": f"P{p:04d}",
                    "label": label,
                    "split": split,
                    "batch": f"B{rng.integers(n_batches)}",
                    "sex": sex,
                }
            )
    return pd.DataFrame(rows)


def sparse_counts(
    n_cells: int, n_genes: int, *, density: float = 0.05, seed: int = 0
) -> sp.csr_matrix:
    """scRNA-like sparse counts (CSR, float32) at the given density."""
    rng = np.random.default_rng(seed)
    X = sp.random(
        n_cells, n_genes, density=density, format="csr", dtype=np.float32, random_state=rng
    )
    X.data = rng.poisson(2.0, X.nnz).astype(np.float32) + 1.0
    return X

"""Seeded feature sets for the features tests: real GENCODE ids and symbols from the shipped
tables, in the shapes the data arrive in (10x h5ad, bulk cohorts, mouse matrices)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard.features import gene_table


def genes(organism: str = "human", n: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """``n`` genes whose symbol names exactly one gene (gene_id, version, symbol), seeded."""
    t = gene_table(organism)
    unique = t[~t["symbol"].duplicated(keep=False)].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    return unique.iloc[np.sort(rng.choice(len(unique), n, replace=False))].reset_index(drop=True)


def counts(n_samples: int, n_genes: int, *, seed: int = 0) -> np.ndarray:
    """Negative-binomial counts with varying depth (float32)."""
    rng = np.random.default_rng(seed)
    mu = np.outer(rng.lognormal(0, 0.3, n_samples), rng.lognormal(1.5, 1.2, n_genes))
    return rng.negative_binomial(2, 2 / (2 + mu)).astype(np.float32)


def tenx_adata(n_cells: int = 200, n_genes: int = 300, *, seed: int = 0) -> ad.AnnData:
    """A Cell Ranger-style AnnData: symbols as var_names, Ensembl ids in ``var["gene_ids"]``,
    ``var["feature_types"]``, sparse counts in ``X``."""
    g = genes("human", n_genes, seed=seed)
    var = pd.DataFrame(
        {"gene_ids": g["gene_id"].to_numpy(), "feature_types": "Gene Expression"},
        index=pd.Index(g["symbol"].to_numpy(), dtype=str),
    )
    obs = pd.DataFrame(index=[f"AAAC{i:06d}-1" for i in range(n_cells)])
    return ad.AnnData(sp.csr_matrix(counts(n_cells, n_genes, seed=seed)), obs=obs, var=var)


def bulk_cohort(
    n_samples: int = 40, n_genes: int = 300, *, seed: int = 0, versioned: bool = True, prefix="S"
) -> pd.DataFrame:
    """A bulk RNA-seq cohort, samples x genes, columns Ensembl gene ids (``.version`` when
    ``versioned``, as GENCODE GTFs write them)."""
    g = genes("human", n_genes, seed=seed)
    cols = g["gene_id"] + ("." + g["version"] if versioned else "")
    index = pd.Index([f"{prefix}{i:03d}" for i in range(n_samples)], name="sample_id")
    return pd.DataFrame(counts(n_samples, n_genes, seed=seed + 1), index=index, columns=cols)


def mouse_matrix(n_samples: int = 30, n_genes: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """A mouse expression matrix with MGI symbols (``Xist``-style case)."""
    g = genes("mouse", n_genes, seed=seed)
    index = pd.Index([f"M{i:03d}" for i in range(n_samples)], name="sample_id")
    return pd.DataFrame(counts(n_samples, n_genes, seed=seed + 2), index=index, columns=g["symbol"])


def write_csv(df: pd.DataFrame, path) -> str:
    df.to_csv(path)
    return str(path)

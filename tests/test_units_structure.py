"""Units by structure: lattices of counts, sums judged over all samples, scaled needs
negatives or centred features, and the shipped human / mouse gene lengths."""

from __future__ import annotations

import numpy as np
import pandas as pd
from _synth import nb_counts

from biodata_guard.io.gene_lengths import _shipped_table, shipped_gene_lengths
from biodata_guard.units import MIXED_WITHIN, check_units, detect_units
from biodata_guard.units._scan import (
    LATTICE_ALPHA,
    PARTIAL_MIN_SHARE,
    _lattice,
    _smallest_distinct,
)

N, M = 40, 1200
COUNTS = nb_counts(N, M, seed=24).astype(float)
LIB = COUNTS.sum(axis=1, keepdims=True)


def _mixed(findings):
    return [f for f in findings if f.check == MIXED_WITHIN]


def _shipped_genes(assembly: str, n: int = M) -> pd.Series:
    """Real Ensembl ids of ``assembly`` with their shipped lengths (the first n)."""
    t = _shipped_table().dropna(subset=[assembly])
    return pd.Series(t[assembly].to_numpy(float)[:n], index=t["gene_id"].to_numpy()[:n])


# --------------------------------------------------------------------------- size factors


def test_size_factor_normalised_sums_around_1e6_are_normalised_not_cpm():
    """TMM-style values: counts / (library x norm factor) x 1e6. Some samples sum inside the
    1e6-less-filtering band by chance; the sums are judged together, so none is CPM."""
    nf = np.random.default_rng(1).lognormal(0, 0.15, (N, 1))
    X = COUNTS / (LIB * nf) * 1e6
    call = detect_units(X)
    assert (call.units, call.evidence["sample_units"]) == ("normalized", {"normalized": N})
    assert _mixed(check_units(X)) == []


def test_an_exact_1e6_sum_by_chance_is_not_a_cpm_sample():
    nf = np.random.default_rng(2).lognormal(0, 0.15, (N, 1))
    nf[7] = 1.0  # this sample's norm factor is 1: its values are its CPM
    X = COUNTS / (LIB * nf) * 1e6
    assert detect_units(X).evidence["sample_units"] == {"normalized": N}


def test_cpm_batch_among_deseq2_normalised_counts_is_mixed():
    sf = np.random.default_rng(3).lognormal(0, 0.2, (N, 1))
    X = np.vstack([COUNTS[:30] / sf[:30], COUNTS[30:] / LIB[30:] * 1e6])
    [f] = _mixed(check_units(X))
    assert f.evidence["other_units"] == {"cpm": 10} and f.evidence["majority"] == "normalized"


def test_size_factor_normalised_deep_samples_without_small_counts():
    """No gene with a count of 1..6 in a sample: the lattice step comes from the smallest gap
    between values (two genes whose counts differ by 1)."""
    deep = COUNTS[:, COUNTS.min(axis=0) >= 7][:, :300] + 0.0
    assert deep.min() >= 7
    sf = np.random.default_rng(9).lognormal(0, 0.2, (N, 1))
    call = detect_units(deep / sf)
    assert call.evidence["sample_units"] == {"normalized": N}


def test_candidate_steps_keep_the_order_of_values_over_many_decades():
    v = np.array([1e30, 3.0, 2.0, 2.0, 5e-3, 7.0, 1e-20])
    rows = np.array([0, 0, 0, 0, 0, 1, 1])
    got = _smallest_distinct(v, rows, 2, 3)  # 2 smallest tied values, then the smallest
    np.testing.assert_array_equal(got, [[2.0, np.nan, 5e-3], [np.nan, np.nan, 1e-20]])
    low = _smallest_distinct(v, rows, 2, 4, tied_first=False)
    np.testing.assert_array_equal(low, [[5e-3, 2.0, 3.0, 1e30], [1e-20, 7.0, np.nan, np.nan]])


def test_cpm_after_gene_filtering_in_every_sample():
    keep = COUNTS.mean(axis=0) > np.quantile(COUNTS.mean(axis=0), 0.2)
    call = detect_units((COUNTS / LIB * 1e6)[:, keep])
    assert call.units == "cpm" and call.evidence["sample_units"] == {"cpm": N}


def test_fpkm_without_lengths_is_length_normalised_never_size_factor_or_scaled():
    lengths = np.random.default_rng(4).integers(300, 12_000, M)
    fpkm = COUNTS / (lengths / 1e3) / (LIB / 1e6)
    call = detect_units(fpkm, shipped_lengths=False)
    assert (call.units, call.candidates) == ("rpkm", ("rpkm", "normalized"))
    assert "not on a per-sample lattice" in call.evidence["undetermined"][0]
    low = fpkm[:, fpkm.std(axis=0) < 3]  # small values whose sd is near 1: not "scaled"
    low_call = detect_units(low, shipped_lengths=False)
    assert low_call.units != "scaled" and "rpkm" in low_call.candidates


# --------------------------------------------------------------------------- the lattice test


def test_lattice_false_alarm_rate_on_values_without_one():
    """Length-normalised values of 2,000 samples: no lattice is called (the test's rate is
    below 3.6e-8 per sample)."""
    rng = np.random.default_rng(5)
    n = 2000
    counts = rng.negative_binomial(2, 0.05, (n, 128)).astype(float) + 1
    values = counts / rng.integers(300, 12_000, 128)
    rows = np.repeat(np.arange(n), 128)
    v = values.ravel()
    quanta = np.column_stack([values.min(axis=1)] + [np.sort(values, axis=1)[:, k] for k in (1, 2)])
    step, _ = _lattice(v, rows, quanta, n, 1e-6, min_share=PARTIAL_MIN_SHARE)
    assert (step > 0).sum() == 0 and LATTICE_ALPHA == 1e-9


def test_partial_lattice_found_only_when_allowed():
    """60% of the values on count / s, 40% off it (lengths of revised genes): a lattice for
    the shipped-lengths test (min_share 0), not for the exact one (99%)."""
    rng = np.random.default_rng(6)
    counts = rng.negative_binomial(2, 0.05, 128).astype(float) + 1
    w = counts / 7.3
    w[rng.permutation(128)[:51]] *= rng.uniform(0.8, 1.2, 51)
    q = np.array([[np.min(w), *np.sort(w)[:5]]])
    rows = np.zeros(128, dtype=int)
    assert _lattice(w, rows, q, 1, 1e-6, min_share=PARTIAL_MIN_SHARE)[0][0] > 0
    assert _lattice(w, rows, q, 1, 1e-6)[0][0] == 0


def test_logs_of_counts_are_not_a_lattice():
    """log1p(3) = 2 log1p(1): logs of integers sit on partial lattices; they stay logs."""
    assert detect_units(np.log1p(COUNTS)).label == "log1p(counts)"


# --------------------------------------------------------------------------- scaled


def _zscore(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def test_scaled_splits_are_never_mixed():
    """z-scored over 300 samples, then split 50 times (3 to 40 samples): every split is
    scaled and not one raises units.mixed_within."""
    rng = np.random.default_rng(7)
    Z = _zscore(np.log1p(rng.negative_binomial(1.5, 0.02, (300, 30)).astype(float)))
    n_mixed = 0
    for _ in range(50):
        rows = rng.permutation(300)[: rng.integers(3, 41)]
        n_mixed += len(_mixed(check_units(Z[rows])))
        assert detect_units(Z[rows]).units == "scaled"
    assert n_mixed == 0


def test_scaled_matrix_with_one_non_negative_feature_is_scaled_not_mixed():
    """Issue 21: left-skewed z-scores hold few negative values per feature; one feature stays
    non-negative. The matrix is scaled; no units.mixed_within."""
    rng = np.random.default_rng(21)
    Z = _zscore(np.hstack([-np.exp(rng.normal(0, 3, (40, 9))), rng.normal(0, 1, (40, 1))]))
    Z = np.hstack([Z, np.abs(rng.normal(0, 1, (40, 1))) + 0.05])
    assert (Z < 0).any(axis=0).sum() == 10
    findings = check_units(Z)
    assert _mixed(findings) == [] and detect_units(Z).units == "scaled"


def test_scaled_columns_among_counts_name_the_counts_right():
    block = COUNTS[:, 1150:]
    X = np.hstack([COUNTS[:, :1150], _zscore(block)])
    [f] = _mixed(check_units(X))
    assert f.evidence == {
        "axis": "features",
        "majority": "counts",
        "kind": "negative",
        "n_features": 1200,
        "n_other": 50,
        "n_features_nonnegative": 1150,
    }
    assert "50 of 1200 (4.17%) features hold negative values" in f.message
    assert "while 1150 hold none (counts)" in f.message


def test_exact_unit_variance_without_centring_is_scaled():
    X = COUNTS / COUNTS.std(axis=0)  # StandardScaler(with_mean=False)
    assert detect_units(X).units == "scaled"
    near = COUNTS / (COUNTS.std(axis=0) * 1.03)  # sd 0.97: a scale, not a scaler's output
    assert detect_units(near).units != "scaled"


# --------------------------------------------------------------------------- shipped lengths


def test_shipped_lengths_lookup():
    human, source = shipped_gene_lengths(["ENSG00000141510.18", "ENSG00000000003", "x"])
    assert human.to_dict() == {"ENSG00000141510.18": 5688.0, "ENSG00000000003": 4536.0}
    assert source == "Ensembl 100 GRCh38 union-exon lengths shipped with biodata_guard"
    mouse, source = shipped_gene_lengths(["Trp53", "Gnai3"])
    assert mouse.to_dict() == {"Trp53": 4045.0, "Gnai3": 3262.0} and "GRCm38" in source
    symbols, source = shipped_gene_lengths(["TP53", "TSPAN6"])
    assert symbols.to_dict() == {"TP53": 5688.0, "TSPAN6": 4536.0} and "GRCh38" in source
    grch37 = _shipped_genes("GRCh37", 300)
    only37 = grch37[~grch37.index.isin(_shipped_genes("GRCh38", 10**6).index)]
    assert "GRCh37" in shipped_gene_lengths(list(only37.index))[1]
    assert shipped_gene_lengths(["geneA", "geneB", "ENSG00000000003"]) is None
    assert shipped_gene_lengths([]) is None


def test_shipped_lengths_tell_tpm_from_fpkm():
    lengths = _shipped_genes("GRCh38")
    rpk = COUNTS / (lengths.to_numpy() / 1e3)
    frame = lambda X: pd.DataFrame(X, columns=lengths.index)  # noqa: E731
    tpm = frame(rpk / rpk.sum(axis=1, keepdims=True) * 1e6)
    fpkm = frame(rpk / (LIB / 1e6))
    assert detect_units(tpm).label == "tpm"
    assert detect_units(fpkm).label == "rpkm"
    assert detect_units(tpm, shipped_lengths=False).label == "cpm_or_tpm"
    info = detect_units(tpm).evidence["gene_lengths"]
    assert info == {
        "n_matched": M,
        "n_features": M,
        "source": "Ensembl 100 GRCh38 union-exon lengths shipped with biodata_guard",
        "shipped": True,
    }


def test_shipped_lengths_from_another_release_still_tell_tpm():
    """40% of the genes' lengths differ from the ones the TPM was computed with (another
    annotation release): the shipped table still confirms TPM; the same lengths given by the
    user (taken as exact) do not, and the call stays honest."""
    lengths = _shipped_genes("GRCh38")
    data_lengths = lengths.to_numpy().copy()
    changed = np.random.default_rng(8).permutation(M)[: int(0.4 * M)]
    data_lengths[changed] = np.round(data_lengths[changed] * 1.1) + 7
    rpk = COUNTS / data_lengths
    tpm = pd.DataFrame(rpk / rpk.sum(axis=1, keepdims=True) * 1e6, columns=lengths.index)
    assert detect_units(tpm).label == "tpm"
    assert detect_units(tpm, gene_lengths=lengths).label == "cpm_or_tpm"


def test_synthetic_ids_do_not_pick_up_shipped_lengths():
    """tests/_synth gene names look like Ensembl ids but fewer than half exist."""
    X = pd.DataFrame(COUNTS, columns=[f"ENSG{i:011d}" for i in range(M)])
    assert detect_units(X).evidence["gene_lengths"] is None


def test_estimated_counts_with_shipped_lengths_stay_honest():
    """salmon-style estimated counts (40% non-integer): their CPM is TPM-or-CPM, their
    size-factor normalisation RPKM-or-normalised; only their TPM is called TPM."""
    lengths = _shipped_genes("GRCh38")
    rng = np.random.default_rng(10)
    est = COUNTS + (rng.random(COUNTS.shape) < 0.4) * rng.random(COUNTS.shape) * (COUNTS > 0)
    frame = lambda X: pd.DataFrame(X, columns=lengths.index)  # noqa: E731
    cpm = detect_units(frame(est / est.sum(axis=1, keepdims=True) * 1e6))
    assert (cpm.units, cpm.candidates) == ("cpm_or_tpm", ("cpm", "tpm"))
    sf = rng.lognormal(0, 0.2, (N, 1))
    norm = detect_units(frame(est / sf))
    assert (norm.units, norm.candidates) == ("rpkm", ("rpkm", "normalized"))
    rpk = est / lengths.to_numpy()
    assert detect_units(frame(rpk / rpk.sum(axis=1, keepdims=True) * 1e6)).units == "tpm"

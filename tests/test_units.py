"""Units: detection of counts/CPM/TPM/RPKM/normalised/log/scaled and the units.* checks."""

from __future__ import annotations

import gzip
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _synth import gene_names, nb_counts, sparse_counts

from biodata_guard import units
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io.matrix import as_matrix
from biodata_guard.units import (
    DETECTED,
    INVALID_VALUES,
    MISMATCH,
    MIXED_WITHIN,
    UNEXPECTED,
    UnitsCall,
    audit_units,
    check_anndata_units,
    check_units,
    check_units_mismatch,
    detect_units,
    gene_lengths_from_var,
    read_gene_lengths,
)

N_SAMPLES, N_GENES = 60, 1500
GENES = gene_names(N_GENES)
SAMPLES = [f"S{i:03d}" for i in range(N_SAMPLES)]


def _by(findings, check):
    return [f for f in findings if f.check == check]


# --------------------------------------------------------------------------- data, by formula

COUNTS = nb_counts(N_SAMPLES, N_GENES, seed=11).astype(float)
LENGTHS = pd.Series(
    np.random.default_rng(12).integers(300, 20_000, N_GENES).astype(float), index=GENES
)
_L = LENGTHS.to_numpy()
_LIB = COUNTS.sum(axis=1, keepdims=True)
CPM = COUNTS / _LIB * 1e6
RPKM = COUNTS / (_L / 1e3) / (_LIB / 1e6)
_RPK = COUNTS / (_L / 1e3)
TPM = _RPK / _RPK.sum(axis=1, keepdims=True) * 1e6
NORM_1E4 = COUNTS / _LIB * 1e4  # scanpy normalize_total(target_sum=1e4)
_LOGCPM = np.log1p(CPM)
SCALED = (_LOGCPM - _LOGCPM.mean(axis=0)) / _LOGCPM.std(axis=0, ddof=1)  # sc.pp.scale

DERIVED = {
    "counts": COUNTS,
    "cpm": CPM,
    "tpm": TPM,
    "rpkm": RPKM,
    "normalize_total_1e4": NORM_1E4,
    "log1p_counts": np.log1p(COUNTS),
    "log2_cpm": np.log2(CPM + 1),
    "log1p_normalize_total": np.log1p(NORM_1E4),
    "log2_tpm": np.log2(TPM + 1),
    "scaled": SCALED,
}
# (units, label) with gene lengths; without them only TPM and RPKM differ
WITH_LENGTHS = {
    "counts": ("counts", "counts"),
    "cpm": ("cpm", "cpm"),
    "tpm": ("tpm", "tpm"),
    "rpkm": ("rpkm", "rpkm"),
    "normalize_total_1e4": ("normalized", "normalized"),
    "log1p_counts": ("log", "log1p(counts)"),
    "log2_cpm": ("log", "log2(cpm+1)"),
    "log1p_normalize_total": ("log", "log1p(normalized)"),
    "log2_tpm": ("log", "log2(tpm+1)"),
    "scaled": ("scaled", "scaled"),
}
WITHOUT_LENGTHS = {
    **WITH_LENGTHS,
    "tpm": ("cpm_or_tpm", "cpm_or_tpm"),
    "log2_tpm": ("log", "log2(cpm_or_tpm+1)"),
}


def _frame(X, samples=SAMPLES, genes=GENES):
    return pd.DataFrame(X, index=samples[: len(X)], columns=genes[: X.shape[1]])


# --------------------------------------------------------------------------- recognition


@pytest.mark.parametrize("kind", sorted(DERIVED))
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_each_unit_recognised_with_lengths(kind, layout):
    if kind == "scaled" and layout == "sparse":
        pytest.skip("z-scores are dense")
    X = DERIVED[kind] if layout == "dense" else sp.csr_matrix(DERIVED[kind])
    call = detect_units(
        as_matrix(_frame(DERIVED[kind])) if layout == "dense" else X,
        gene_lengths=LENGTHS if layout == "dense" else _positional(LENGTHS),
    )
    assert (call.units, call.label) == WITH_LENGTHS[kind]
    assert call.evidence["n_samples_agreeing"] == N_SAMPLES
    assert call.confidence >= 0.8


def _positional(lengths: pd.Series) -> pd.Series:
    """Lengths keyed like the anonymous columns of an array (f0, f1, ...)."""
    return pd.Series(lengths.to_numpy(), index=[f"f{j}" for j in range(len(lengths))])


@pytest.mark.parametrize("kind", sorted(DERIVED))
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_each_unit_recognised_without_lengths(kind, layout):
    if kind == "scaled" and layout == "sparse":
        pytest.skip("z-scores are dense")
    X = DERIVED[kind] if layout == "dense" else sp.csr_matrix(DERIVED[kind])
    call = detect_units(X)
    assert (call.units, call.label) == WITHOUT_LENGTHS[kind]


def test_tpm_without_lengths_says_what_cannot_be_told():
    call = detect_units(TPM)
    assert call.candidates == ("cpm", "tpm")
    assert call.matches("tpm") and call.matches("cpm") and not call.matches("counts")
    assert "gene lengths" in call.evidence["undetermined"][0]
    finding = _by(check_units(TPM), DETECTED)[0]
    assert "--gene-lengths" in finding.hint


def test_rpkm_without_lengths_is_unconfirmed():
    call = detect_units(RPKM)
    assert call.candidates == ("rpkm", "normalized")
    assert call.confidence == 0.4
    assert call.matches("fpkm")
    with_len = detect_units(_frame(RPKM), gene_lengths=LENGTHS)
    assert with_len.candidates == ("rpkm",)
    assert with_len.evidence["length_sum_over_1e9"] == pytest.approx(1.0)


def test_cpm_is_exact_even_without_lengths():
    """CPM values are per-sample multiples of integer counts; TPM values are not."""
    call = detect_units(CPM)
    assert call.units == "cpm" and call.confidence == 0.99
    assert call.evidence["fraction_on_integer_grid"] == 1.0
    assert call.evidence["target_sum"] == pytest.approx(1e6)


def test_normalize_total_target_and_log_details():
    call = detect_units(np.log1p(NORM_1E4))
    assert (call.log_base, call.log_of, call.pseudocount) == ("e", "normalized", 1.0)
    assert call.evidence["target_sum"] == pytest.approx(1e4)
    assert "np.expm1(X)" in call.reason


def test_log_with_small_pseudocount():
    call = detect_units(_frame(np.log2(TPM + 0.01)), gene_lengths=LENGTHS)
    assert call.label == "log2(tpm+0.01)"
    assert (call.log_base, call.pseudocount) == ("2", 0.01)


def test_cpm_after_gene_filtering_reports_the_filtered_share():
    keep = COUNTS.mean(axis=0) > np.quantile(COUNTS.mean(axis=0), 0.3)
    call = detect_units(CPM[:, keep])
    assert call.units == "cpm"
    kept = np.median(CPM[:, keep].sum(axis=1))
    assert call.evidence["filtered_share"] == pytest.approx(1 - kept / 1e6)


def test_scanpy_like_sparse_float32_log_normalised():
    X = sparse_counts(400, 300, seed=4)
    lib = np.asarray(X.sum(axis=1)).ravel()
    Y = sp.csr_matrix(sp.diags(1e4 / lib) @ X, dtype=np.float32)
    Y.data = np.log1p(Y.data)
    call = detect_units(Y)
    assert call.label == "log1p(normalized)"
    assert call.evidence["sample_units"] == {"log1p(normalized)": 400}


def test_scaled_evidence():
    call = detect_units(SCALED)
    assert call.evidence["features"]["centred"] is True
    assert call.evidence["features"]["median_sd"] == pytest.approx(1.0, abs=0.01)


def test_estimated_counts_are_counts_with_lower_confidence():
    rng = np.random.default_rng(3)
    frac = rng.random(COUNTS.shape) * (COUNTS > 0) * (rng.random(COUNTS.shape) < 0.5)
    call = detect_units(COUNTS + frac)
    assert call.units == "counts" and call.confidence == 0.6


def test_tpm_rounded_to_two_decimals_stays_ambiguous():
    """A grid of 0.01 is rounding, not integer counts: never called CPM."""
    call = detect_units(np.round(TPM, 2))
    assert call.units == "cpm_or_tpm"


def test_chunking_does_not_change_the_call():
    a = detect_units(sp.csr_matrix(np.log1p(NORM_1E4)), chunk_size=7)
    b = detect_units(sp.csr_matrix(np.log1p(NORM_1E4)), chunk_size=10_000)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_anndata_var_length_column_is_used():
    a = ad.AnnData(TPM, var=pd.DataFrame({"Length": LENGTHS.to_numpy()}, index=GENES))
    assert gene_lengths_from_var(a).equals(LENGTHS.rename("length"))
    assert detect_units(a).units == "tpm"
    with pytest.raises(InputError, match="no column 'gene_len'") as err:
        gene_lengths_from_var(a, column="gene_len")
    assert err.value.column == "gene_len"


def test_versioned_gene_ids_match_lengths():
    versioned = pd.Series(LENGTHS.to_numpy(), index=[f"{g}.7" for g in GENES])
    assert detect_units(_frame(TPM), gene_lengths=versioned).units == "tpm"


def test_unitscall_is_json_safe():
    call = detect_units(CPM)
    assert isinstance(call, UnitsCall)
    json.dumps(call.to_dict())
    assert str(call).startswith("<array>: cpm")


# --------------------------------------------------------------------------- units.detected


def test_detected_finding_evidence():
    [f] = _by(check_units(_frame(COUNTS), name="counts.tsv"), DETECTED)
    assert f.severity == "info" and f.input == "counts.tsv"
    assert f.evidence["units"] == "counts"
    assert f.evidence["n_samples"] == N_SAMPLES and f.evidence["n_features"] == N_GENES
    assert f.evidence["sample_units"] == {"counts": N_SAMPLES}
    assert f.evidence["sample_sum"]["max"] == COUNTS.sum(axis=1).max()
    assert f"{N_SAMPLES} of {N_SAMPLES} (100%) samples agree" in f.message


# --------------------------------------------------------------------------- units.mixed_within


def test_counts_with_a_batch_appended_in_tpm():
    merged = _frame(np.vstack([COUNTS[:45], TPM[45:]]))
    findings = check_units(merged, name="merged.tsv")
    [f] = _by(findings, MIXED_WITHIN)
    assert f.severity == "error"
    assert f.evidence == {
        "axis": "samples",
        "majority": "counts",
        "n_samples": 60,
        "n_other": 15,
        "other_units": {"cpm_or_tpm": 15},
    }
    assert f.subjects == SAMPLES[45:]
    assert "15 of 60 (25%) samples" in f.message and "S045" in f.message
    assert _by(findings, DETECTED)[0].evidence["units"] == "counts"
    # with lengths the appended batch is named exactly
    [g] = _by(check_units(merged, gene_lengths=LENGTHS), MIXED_WITHIN)
    assert g.evidence["other_units"] == {"tpm": 15}


def test_log_samples_appended_to_cpm():
    X = np.vstack([CPM[:50], np.log1p(COUNTS[50:])])
    [f] = _by(check_units(X), MIXED_WITHIN)
    assert f.evidence["other_units"] == {"log1p(counts)": 10}
    assert "np.expm1(X)" in f.hint and "1e6" in f.hint


def test_log_columns_concatenated_to_counts():
    X = _frame(np.hstack([COUNTS[:, :1400], np.log1p(COUNTS[:, 1400:])]))
    findings = check_units(X)
    [f] = _by(findings, MIXED_WITHIN)
    assert f.evidence == {
        "axis": "features",
        "majority": "counts",
        "kind": "log-scale",
        "n_features": 1500,
        "n_other": 100,
    }
    assert f.subjects == GENES[1400:1450]
    assert _by(findings, DETECTED)[0].evidence["units"] == "counts"


def test_scaled_columns_concatenated_to_counts():
    block = COUNTS[:, 1450:]
    z = (block - block.mean(axis=0)) / block.std(axis=0)
    [f] = _by(check_units(np.hstack([COUNTS[:, :1450], z])), MIXED_WITHIN)
    assert (f.evidence["kind"], f.evidence["n_other"]) == ("negative", 50)


@pytest.mark.parametrize("kind", sorted(DERIVED))
def test_no_mixed_within_for_clean_matrices(kind):
    assert _by(check_units(DERIVED[kind]), MIXED_WITHIN) == []


# --------------------------------------------------------------------------- units.invalid_values


def test_invalid_values():
    X = COUNTS.copy()
    X[3, 5] = np.nan
    X[4, 6] = np.nan
    X[7, 9] = np.inf
    X[10, :] = 0
    X[:, 20] = 0
    X[:, 21] = 0
    X[12, 30] = -4
    findings = _by(check_units(_frame(X), name="bad.tsv"), INVALID_VALUES)
    by_kind = {f.evidence["kind"]: f for f in findings}
    assert set(by_kind) == {"nan_inf", "negative", "zero_samples", "zero_features"}
    nan = by_kind["nan_inf"]
    assert nan.severity == "error" and nan.subjects == ["S003", "S004", "S007"]
    assert nan.evidence == {
        "kind": "nan_inf",
        "n_nan": 2,
        "n_inf": 1,
        "n_samples_affected": 3,
        "n_samples": 60,
    }
    neg = by_kind["negative"]
    assert neg.severity == "error" and neg.subjects == ["S012"]
    assert neg.evidence["n_negative"] == 1 and neg.evidence["units"] == "counts"
    zs = by_kind["zero_samples"]
    assert zs.severity == "warning" and zs.subjects == ["S010"]
    assert zs.evidence == {"kind": "zero_samples", "n_zero_samples": 1, "n_samples": 60}
    zf = by_kind["zero_features"]
    assert zf.severity == "warning" and zf.subjects == [GENES[20], GENES[21]]
    assert zf.evidence["n_zero_features"] == 2


def test_negative_values_allowed_when_scaled():
    assert _by(check_units(SCALED), INVALID_VALUES) == []


@pytest.mark.parametrize("kind", sorted(DERIVED))
def test_no_invalid_values_for_clean_matrices(kind):
    assert _by(check_units(DERIVED[kind]), INVALID_VALUES) == []


# --------------------------------------------------------------------------- units.unexpected


def test_unexpected_units():
    [f] = _by(check_units(_frame(np.log1p(COUNTS)), expected_units="counts"), UNEXPECTED)
    assert f.severity == "error"
    assert f.evidence["expected"] == "counts" and f.evidence["label"] == "log1p(counts)"
    assert "layers['counts']" in f.hint
    [g] = _by(check_units(COUNTS, expected_units="tpm"), UNEXPECTED)
    assert "gene_length_bp" in g.hint


@pytest.mark.parametrize(
    ("X", "expected"),
    [(COUNTS, "counts"), (CPM, "normalized"), (TPM, "tpm"), (RPKM, "fpkm"), (SCALED, "scaled")],
)
def test_expected_units_met(X, expected):
    assert _by(check_units(X, expected_units=expected), UNEXPECTED) == []


def test_unknown_units_are_a_warning():
    [f] = _by(check_units(np.zeros((5, 4)), expected_units="counts"), UNEXPECTED)
    assert f.severity == "warning"


# --------------------------------------------------------------------------- units.mismatch


def test_two_inputs_in_different_units():
    [f] = check_units_mismatch({"cohort_a.tsv": COUNTS, "cohort_b.tsv": CPM})
    assert (f.check, f.severity) == (MISMATCH, "error")
    assert f.evidence["units"] == {"cohort_a.tsv": "counts", "cohort_b.tsv": "cpm"}
    assert f.subjects == ["cohort_a.tsv", "cohort_b.tsv"]
    assert f.hint == "Convert cohort_a.tsv with Y = X / X.sum(axis=1, keepdims=True) * 1e6."


def test_mismatched_log_bases():
    [f] = check_units_mismatch({"a": np.log1p(COUNTS), "b": np.log2(COUNTS + 1)})
    assert f.evidence["labels"] == {"a": "log1p(counts)", "b": "log2(counts+1)"}
    assert "2**X - 1" in f.hint or "np.expm1" in f.hint


def test_mismatched_normalisation_targets():
    [f] = check_units_mismatch({"a": NORM_1E4, "b": COUNTS / _LIB * 1e5})
    assert f.evidence["target_sums"] == {"a": pytest.approx(1e4), "b": pytest.approx(1e5)}


def test_no_mismatch_for_same_or_undetermined_units():
    calls = [detect_units(TPM, name="a"), detect_units(_frame(TPM), gene_lengths=LENGTHS)]
    assert check_units_mismatch(calls) == []  # cpm_or_tpm vs tpm: ambiguous, not a mismatch
    assert check_units_mismatch({"a": COUNTS, "b": COUNTS[::-1]}) == []


def test_mismatch_bad_inputs():
    with pytest.raises(ConfigError, match="sequence of UnitsCall"):
        check_units_mismatch([COUNTS, CPM])


# --------------------------------------------------------------------------- AnnData layouts


def _scanpy_like(n_cells=300, n_genes=400, seed=5):
    counts = sparse_counts(n_cells, n_genes, seed=seed)
    lib = np.asarray(counts.sum(axis=1)).ravel()
    X = sp.csr_matrix(sp.diags(1e4 / lib) @ counts, dtype=np.float32)
    X.data = np.log1p(X.data)
    a = ad.AnnData(X, obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]))
    a.var_names = gene_names(n_genes)
    a.layers["counts"] = counts
    return a


def test_standard_scanpy_layout_is_info_only():
    a = _scanpy_like()
    findings = check_anndata_units(a, name="pbmc.h5ad")
    assert {str(f.severity) for f in findings} == {"info"}
    roles = {f.evidence.get("role"): f.evidence.get("label") for f in findings}
    assert roles[".X"] == "log1p(normalized)"
    assert roles["layers['counts']"] == "counts"
    [layout] = [f for f in findings if "layout" in f.evidence]
    assert layout.evidence["standard_layout"] is True
    assert layout.evidence["derived_checks"][".X"] == {
        "from": "layers['counts']",
        "rows_checked": 100,
        "rows_inconsistent": 0,
        "examples": [],
    }


def test_counts_layer_holding_log_values():
    a = _scanpy_like()
    a.layers["counts"] = a.X.copy()
    [f] = _by(check_anndata_units(a, name="pbmc.h5ad"), UNEXPECTED)
    assert f.severity == "error"
    assert f.evidence["expected_from"] == "layer name 'counts'"
    assert f.input == "pbmc.h5ad[counts]"


def test_counts_layer_out_of_sync_with_x():
    a = _scanpy_like()
    perm = np.random.default_rng(0).permutation(a.n_obs)
    a.layers["counts"] = a.layers["counts"][perm]
    [f] = _by(check_anndata_units(a, name="pbmc.h5ad"), MISMATCH)
    assert f.severity == "warning"
    assert f.evidence["rows_inconsistent"] == int((perm[:100] != np.arange(100)).sum())


def test_backed_h5ad_matches_in_memory(tmp_path):
    from conftest import sha256

    a = _scanpy_like()
    a.raw = a.copy()
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    before = sha256(path)
    backed = ad.read_h5ad(path, backed="r")
    assert backed.isbacked
    mem = check_anndata_units(a, name="cells.h5ad", chunk_size=64)
    disk = check_anndata_units(backed, name="cells.h5ad", chunk_size=64)
    assert [f.to_dict() for f in disk] == [f.to_dict() for f in mem]
    assert detect_units(backed, chunk_size=50).label == "log1p(normalized)"
    backed.file.close()
    assert sha256(path) == before


def test_check_anndata_units_bad_input():
    with pytest.raises(InputError, match="expected an AnnData"):
        check_anndata_units(COUNTS)


# --------------------------------------------------------------------------- gene lengths files


def test_read_gene_lengths_formats(tmp_path):
    fc = tmp_path / "counts.featureCounts.txt"
    fc.write_text(
        "# Program:featureCounts v2.0.6\n"
        "Geneid\tChr\tStart\tEnd\tStrand\tLength\ts1.bam\n"
        "G1\t1\t1\t100\t+\t1500\t3\nG2\t1\t200\t900\t-\t700\t0\n"
    )
    assert read_gene_lengths(fc).to_dict() == {"G1": 1500.0, "G2": 700.0}
    sf = tmp_path / "quant.sf"
    sf.write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t2000\t1800.5\t3.2\t10\n")
    assert read_gene_lengths(sf).to_dict() == {"T1": 2000.0}
    plain = tmp_path / "lengths.tsv.gz"
    with gzip.open(plain, "wt") as fh:
        fh.write("G1\t1500\nG2\t700\n")
    assert read_gene_lengths(plain).to_dict() == {"G1": 1500.0, "G2": 700.0}
    csv = tmp_path / "lengths.csv"
    csv.write_text("gene_id,GENE_LENGTH\nG1,1500\nG1,1500\nG2,700\n")
    s = read_gene_lengths(csv)
    assert s.to_dict() == {"G1": 1500.0, "G2": 700.0} and s.name == "length"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "cannot read gene lengths"),
        ("gene_id\tchrom\tstrand\nG1\tchr1\t+\n", "no gene length column"),
        ("gene_id\tlength\nG1\tlong\nG2\t100\n", "positive numbers"),
        ("gene_id\tlength\nG1\t-5\n", "positive numbers"),
        ("gene_id\tlength\nG1\t100\nG1\t200\n", "conflicting lengths"),
    ],
)
def test_read_gene_lengths_errors(tmp_path, text, match):
    path = tmp_path / "lengths.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        read_gene_lengths(path)
    assert str(path) in err.value.message and err.value.path == str(path)


def test_read_gene_lengths_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist") as err:
        read_gene_lengths(tmp_path / "nope.tsv")
    assert "nope.tsv" in err.value.path


def test_lengths_that_do_not_match_the_features():
    other = pd.Series(1000.0, index=[f"SYMBOL{i}" for i in range(N_GENES)])
    with pytest.raises(InputError, match="features of") as err:
        detect_units(_frame(TPM), gene_lengths=other)
    assert err.value.path == "gene_lengths"


# --------------------------------------------------------------------------- bad inputs


def test_bad_matrix_inputs():
    with pytest.raises(InputError, match="must be 2-D"):
        detect_units(np.arange(5.0))
    df = _frame(COUNTS[:5, :3]).assign(batch="b1")
    with pytest.raises(InputError, match="non-numeric") as err:
        detect_units(df, name="counts.tsv")
    assert err.value.column == "batch"
    with pytest.raises(ConfigError, match="chunk_size"):
        detect_units(COUNTS, chunk_size=0)
    with pytest.raises(ConfigError, match="expected_units"):
        check_units(COUNTS, expected_units="TPM")
    with pytest.raises(InputError, match="positive numbers"):
        detect_units(_frame(TPM), gene_lengths=LENGTHS * 0)


# --------------------------------------------------------------------------- audit


def test_audit_units_compares_inputs_and_fills_artifacts():
    counts = _frame(COUNTS)
    tpm = _frame(TPM)
    ctx = AuditContext(
        config=AuditConfig(expected_units="counts", chunk_size=16),
        features=[
            FeatureInput("counts.tsv", as_matrix(counts, name="counts.tsv")),
            FeatureInput("tpm.tsv", as_matrix(tpm, name="tpm.tsv")),
        ],
        gene_lengths=LENGTHS,
    )
    findings = audit_units(ctx)
    [mm] = _by(findings, MISMATCH)
    assert mm.evidence["units"] == {"counts.tsv": "counts", "tpm.tsv": "tpm"}
    assert "gene_length_bp" in mm.hint
    [un] = _by(findings, UNEXPECTED)
    assert un.input == "tpm.tsv" and un.severity == "error"
    mats = ctx.artifacts["units"]["matrices"]
    assert [m["label"] for m in mats] == ["counts", "tpm"]
    assert len(mats[0]["sample_sums"]) == N_SAMPLES
    assert sum(mats[0]["histogram"]["counts"]) > 0
    json.dumps(ctx.artifacts)


def test_audit_units_anndata_input():
    a = _scanpy_like(n_cells=2500)
    ctx = AuditContext(
        config=AuditConfig(),
        features=[FeatureInput("cells.h5ad", as_matrix(a, name="cells.h5ad"), adata=a)],
    )
    findings = audit_units(ctx)
    assert {str(f.severity) for f in findings} == {"info"}
    mats = ctx.artifacts["units"]["matrices"]
    assert [m["role"] for m in mats] == [".X", "layers['counts']"]
    assert len(mats[0]["sample_sums"]) == 2000 and "linear_sums" in mats[0]


def test_audit_units_is_deterministic():
    def run():
        ctx = AuditContext(
            config=AuditConfig(),
            features=[FeatureInput("m.tsv", as_matrix(_frame(np.vstack([COUNTS[:50], CPM[50:]]))))],
        )
        return json.dumps([f.to_dict() for f in audit_units(ctx)], sort_keys=True)

    assert run() == run()


def test_public_names():
    assert set(units.__all__) >= {
        "detect_units",
        "read_gene_lengths",
        "check_units",
        "check_units_mismatch",
        "check_anndata_units",
        "audit_units",
    }
    assert units.CHECK_IDS == (
        "units.detected",
        "units.mismatch",
        "units.unexpected",
        "units.mixed_within",
        "units.invalid_values",
    )


def test_small_positive_non_integer_rows_are_not_called_mixed_beside_rpkm_like_rows():
    # Log-normal features (3 decimals) over few columns: rows whose values all stay below the
    # log range are ambiguous, not a second unit.
    rng = np.random.default_rng(0)
    mu = rng.normal(2.0, 1.0, 20)
    X = np.round(np.exp(rng.normal(mu, 1.0, (2000, 20))), 3)
    assert [f.check for f in check_units(X)] == [units.DETECTED]


def test_log_rows_appended_to_rpkm_like_rows_are_mixed():
    rng = np.random.default_rng(1)
    X = np.round(np.exp(rng.normal(rng.normal(1.0, 2.0, 2000), 1.0, (300, 2000))), 3)
    X[-30:] = np.log2(X[-30:] + 1)
    (mixed,) = [f for f in check_units(X) if f.check == units.MIXED_WITHIN]
    assert mixed.evidence["n_other"] == 30
    assert mixed.subjects[:3] == ["270", "271", "272"]

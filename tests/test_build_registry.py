"""The build group's declarations (checks, the expected-build parameter) and its `not checked`
findings."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import biodata_guard
from biodata_guard import build, registry
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.config import AuditConfig
from biodata_guard.errors import ConfigError
from biodata_guard.io.coords import coords_from_frame, read_coordinates
from biodata_guard.io.matrix import as_matrix
from tests.test_build import atac_adata, markers, promoter_peaks, vcf_grch38

B37, B38 = "GRCh37", "GRCh38"


def not_checked(findings):
    return [(f.check, f.input) for f in findings if f.evidence.get("not_checked")]


def test_declarations():
    group = registry.get_group("build")
    assert (group.order, group.run, group.shared_pass) == (40, build.audit_build, None)
    assert group.title == "Genome build"
    specs = {s.id: s for s in registry.checks("build")}
    assert set(specs) == set(build.CHECK_IDS)
    assert all(s.module.startswith("biodata_guard.build.") for s in specs.values())
    assert {k: s.needs for k, s in specs.items()} == {
        "build.detected": ("coords",),
        "build.undetermined": ("coords",),
        "build.unexpected": ("coords", "expected_build"),
        "build.mismatch": ("two_coords",),
        "build.contig_naming": ("coords",),
        "build.out_of_bounds": ("coords",),
        "build.off_by_one": ("coords",),
        "build.malformed_rows": ("coords",),
        "build.stale_header": ("coords",),
    }
    assert specs["build.undetermined"].severities == ("warning", "error")
    assert specs["build.contig_naming"].severities == ("error", "warning", "info")
    assert "expected_build" in specs["build.unexpected"].params


def test_expected_build_parameter():
    p = registry.get_param("expected_build")
    assert (p.default, p.kind, p.section, p.yaml_key) == (None, "choice", "expectations", "build")
    assert p.valid == registry.Options(build.BUILDS) and build.BUILDS == (B37, B38)
    assert registry.coerce(p, B38, where="") == B38
    with pytest.raises(ConfigError, match="GRCh38"):
        registry.coerce(p, "GRCh39", where="")


def test_anndata_without_coordinates_is_not_checked():
    adata = ad.AnnData(
        np.ones((3, 2), dtype=np.float32), var=pd.DataFrame(index=["GENE1", "GENE2"])
    )
    feature = FeatureInput("rna.h5ad", as_matrix(adata, name="rna.h5ad"), None, adata)
    ctx = AuditContext(config=AuditConfig(), features=[feature])
    assert not registry.NEEDS["coords"].present(ctx)  # the need looks into .var
    assert build.audit_build(ctx) == [] and "build" not in ctx.artifacts
    report = biodata_guard.audit(features=adata, only={"build"})
    notes = {f.check: f for f in report.findings}
    assert set(notes) == {c.id for c in registry.checks("build")}
    assert all(f.evidence["not_checked"] for f in notes.values())
    assert "needs coordinates (--coords, or an h5ad whose .var" in notes[build.DETECTED].message


def test_off_by_one_is_not_checked_on_intervals_or_too_few_markers(tmp_path):
    peaks, _ = promoter_peaks(tmp_path, B38)
    m = markers(4, seed=21)
    few = pd.DataFrame({"chrom": m["chrom_GRCh38"], "pos": m["pos_GRCh38"]})
    ctx = AuditContext(
        config=AuditConfig(),
        coords=[read_coordinates(peaks), coords_from_frame(few, name="few.tsv")],
    )
    found = build.audit_build(ctx)
    # Changed by issue 22: 4 rows at exact GRCh38 panel positions now decide the build of
    # few.tsv (chance gives 3e-5 such hits), so both inputs are compared: no mismatch note.
    assert not_checked(found) == [
        (build.OFF_BY_ONE, "peaks_GRCh38.bed"),
        (build.OFF_BY_ONE, "few.tsv"),
    ]
    assert {f.input: f.evidence["build"] for f in found if f.check == build.DETECTED} == {
        "peaks_GRCh38.bed": B38,
        "few.tsv": B38,
    }
    (f,) = [f for f in found if f.input == "few.tsv" and f.check == build.OFF_BY_ONE]
    assert (f.evidence["n_informative"], f.evidence["min_informative"]) == (4, 10)
    # the public check stays silent: it reports problems, the audit reports what it skipped
    assert build.check_off_by_one(few) == [] and build.check_off_by_one(peaks) == []


def test_enough_markers_at_their_position_are_checked_and_clean(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    ctx = AuditContext(config=AuditConfig(), coords=[read_coordinates(vcf)])
    assert not_checked(build.audit_build(ctx)) == []


def test_mismatch_is_not_checked_without_two_determined_builds(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    rng = np.random.default_rng(0)
    regions = pd.DataFrame(
        {"Chromosome": "chr1", "Start": rng.integers(1_000_000, 2_000_000, 50), "End": 0}
    ).assign(End=lambda d: d["Start"] + 500)
    ctx = AuditContext(
        config=AuditConfig(),
        coords=[read_coordinates(vcf), coords_from_frame(regions, name="regions.bed")],
    )
    found = build.audit_build(ctx)
    assert next(f.check for f in found if f.input == "regions.bed") == build.UNDETERMINED
    (f,) = [f for f in found if f.check == build.MISMATCH]
    assert f.evidence["not_checked"]
    assert (f.evidence["n_inputs"], f.evidence["n_determined"]) == (2, 1)


def test_mismatch_needs_two_inputs_with_coordinates(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    adata = ad.AnnData(np.ones((3, 2), dtype=np.float32), var=pd.DataFrame(index=["A", "B"]))
    feature = FeatureInput("rna.h5ad", as_matrix(adata, name="rna.h5ad"), None, adata)
    ctx = AuditContext(config=AuditConfig(), features=[feature], coords=[read_coordinates(vcf)])
    assert not registry.NEEDS["two_coords"].present(ctx)  # .var holds no coordinates
    assert [f for f in build.audit_build(ctx) if f.evidence.get("not_checked")] == []


def test_two_determined_inputs_are_compared_without_a_not_checked(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    adata = atac_adata(B38)
    feature = FeatureInput("atac.h5ad", as_matrix(adata, name="atac.h5ad"), None, adata)
    ctx = AuditContext(config=AuditConfig(), features=[feature], coords=[read_coordinates(vcf)])
    found = build.audit_build(ctx)
    assert [f.check for f in found if f.check == build.MISMATCH] == []
    assert not_checked(found) == [(build.OFF_BY_ONE, "atac.h5ad (.var)")]


def test_mismatch_validates_the_expected_build_up_front():
    call = build.BuildCall("x.vcf", B38, 0.99, "header")
    with pytest.raises(ConfigError, match="expected_build"):
        build.check_build_mismatch([call], expected_build="GRCh39")

"""Genome build: detection signals, mismatch, unexpected build, contig naming, bounds, audit."""

import json
import re
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pyranges1 as pr
import pytest

from biodata_guard import ConfigError, InputError, audit
from biodata_guard import build as gb
from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard.build import _reference as gbref
from biodata_guard.config import AuditConfig
from biodata_guard.findings import Severity
from biodata_guard.io.coords import coords_from_frame, read_coordinates
from biodata_guard.io.matrix import as_matrix

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = pr.example_data.files
B37, B38 = "GRCh37", "GRCh38"


def by_id(findings, check):
    return [f for f in findings if f.check == check]


# --------------------------------------------------------------------------- realistic files
# Generated in code from the shipped panels, seeded; each returns what it planted.


def markers(n, *, seed):
    m = gbref._markers().reset_index()
    return m.iloc[np.sort(np.random.default_rng(seed).choice(len(m), n, replace=False))]


def genes(n, *, seed):
    g = gbref._genes().reset_index()
    return g.iloc[np.sort(np.random.default_rng(seed).choice(len(g), n, replace=False))]


def background(n, *, seed, chroms=tuple(str(i) for i in range(1, 23))):
    """Random SNV positions (1-based) that lie within the ends of both builds."""
    rng = np.random.default_rng(seed)
    sizes = gbref._chrom_sizes()
    chrom = rng.choice(chroms, n)
    limit = np.minimum(sizes.loc[chrom, "length_GRCh37"], sizes.loc[chrom, "length_GRCh38"])
    pos = (rng.random(n) * (limit.to_numpy() - 20_000)).astype(np.int64) + 10_000
    return pd.DataFrame({"chrom": chrom, "pos": pos})


def write_vcf(path, rows, *, header_build=None, header_lines=(), prefix="chr"):
    """A VCF with the given rows (chrom, pos, id); ##contig lengths of ``header_build``."""
    sizes = gbref._chrom_sizes()
    head = ["##fileformat=VCFv4.2", *header_lines]
    if header_build is not None:
        ref = {B37: "human_g1k_v37.fasta", B38: "GRCh38_full_analysis_set_plus_decoy_hla.fa"}
        head.append(f"##reference=file:///ref/{ref[header_build]}")
        for c in [*map(str, range(1, 23)), "X", "Y"]:
            head.append(
                f"##contig=<ID={prefix}{c},length={sizes.loc[c, f'length_{header_build}']}>"
            )
    head.append('##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">')
    head.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA12878")
    order = np.lexsort((rows["pos"].to_numpy(), [gbref._canonical(c) for c in rows["chrom"]]))
    body = [
        f"{prefix}{r.chrom}\t{r.pos}\t{r.id}\tA\tG\t60\tPASS\tDP=30\tGT\t0/1"
        for r in rows.iloc[order].itertuples()
    ]
    Path(path).write_text("\n".join(head + body) + "\n")
    return path


def vcf_grch38(tmp_path, *, seed=1, n_markers=300, n_background=700, header_build=B38):
    """A GRCh38 VCF: panel SNPs at their GRCh38 positions (2 in 3 with rsIDs) + background."""
    m = markers(n_markers, seed=seed)
    with_id = np.arange(n_markers) % 3 != 2
    planted = pd.DataFrame(
        {
            "chrom": m["chrom_GRCh38"].to_numpy(),
            "pos": m["pos_GRCh38"].to_numpy(),
            "id": np.where(with_id, m["rsid"], "."),
        }
    )
    bg = background(n_background, seed=seed + 100).assign(id=".")
    rows = pd.concat([planted, bg], ignore_index=True)
    path = write_vcf(tmp_path / "calls.vcf", rows, header_build=header_build)
    return path, {"n_markers": n_markers, "n_with_rsid": int(with_id.sum()), "n_rows": len(rows)}


def variants_grch37_headerless(tmp_path, *, seed=2, n_markers=150, n_background=350):
    """GWAS-like summary statistics without a header line: rsid, chrom, pos, a1, a2, p."""
    rng = np.random.default_rng(seed)
    m = markers(n_markers, seed=seed)
    planted = pd.DataFrame(
        {"rsid": m["rsid"], "chrom": m["chrom_GRCh37"], "pos": m["pos_GRCh37"]}
    ).reset_index(drop=True)
    bg = background(n_background, seed=seed + 100)
    bg.insert(0, "rsid", [f"rs{i}" for i in rng.integers(10**8, 2 * 10**8, n_background)])
    table = pd.concat([planted, bg], ignore_index=True).sample(frac=1.0, random_state=seed)
    table["a1"], table["a2"] = "A", "G"
    table["p"] = rng.random(len(table)).round(4)
    path = tmp_path / "sumstats_EUR.txt"
    table.to_csv(path, sep="\t", header=False, index=False)
    return path, {"n_markers": n_markers, "n_rows": len(table)}


def promoter_peaks(tmp_path, build, *, seed=3, n_genes=400, n_background=200):
    """ChIP/ATAC-like peaks centred (+-100 bp) on TSSs of ``build``, plus background peaks."""
    rng = np.random.default_rng(seed)
    g = genes(n_genes, seed=seed)
    tss = np.where(g[f"strand_{build}"] == "+", g[f"start_{build}"], g[f"end_{build}"]) - 1
    centre = tss + rng.integers(-100, 101, n_genes)
    half = rng.integers(150, 400, n_genes)
    peaks = pd.DataFrame(
        {
            "chrom": "chr" + g["chrom"].replace({"MT": "M"}),
            "start": centre - half,
            "end": centre + half,
        }
    )
    bg = background(n_background, seed=seed + 100)
    bg = pd.DataFrame({"chrom": "chr" + bg["chrom"], "start": bg["pos"], "end": bg["pos"] + 500})
    bed = pd.concat([peaks, bg], ignore_index=True)
    bed = bed[bed["start"] >= 0].reset_index(drop=True)
    bed["name"] = [f"peak{i}" for i in range(len(bed))]
    bed["score"] = rng.integers(0, 1000, len(bed))
    path = tmp_path / f"peaks_{build}.bed"
    bed.to_csv(path, sep="\t", header=False, index=False)
    return path, bed


def gtf_snippet(tmp_path, build, *, seed=4, n_genes=60, prefix=""):
    """Gene, transcript and exon records of panel genes in ``build`` (no header)."""
    g = genes(n_genes, seed=seed)
    lines = []
    for r in g.itertuples():
        start, end, strand = (
            getattr(r, f"start_{build}"),
            getattr(r, f"end_{build}"),
            getattr(r, f"strand_{build}"),
        )
        attrs = f'gene_id "G{r.Index}"; gene_name "{r.gene_name}";'
        chrom = prefix + r.chrom
        lines.append(f"{chrom}\tHAVANA\tgene\t{start}\t{end}\t.\t{strand}\t.\t{attrs}")
        lines.append(f"{chrom}\tHAVANA\ttranscript\t{start}\t{end}\t.\t{strand}\t.\t{attrs}")
        lines.append(
            f"{chrom}\tHAVANA\texon\t{start}\t{min(end, start + 200)}\t.\t{strand}\t.\t{attrs}"
        )
    path = tmp_path / f"annotation_{build}.gtf"
    path.write_text("\n".join(lines) + "\n")
    return path, g


def genotype_23andme(tmp_path, *, seed=5, n_markers=500, n_internal=300):
    """A 23andMe v5 raw data file (GRCh37): panel rsIDs, internal i-ids, a few MT probes."""
    rng = np.random.default_rng(seed)
    m = markers(n_markers, seed=seed)
    rows = pd.DataFrame({"rsid": m["rsid"], "chrom": m["chrom_GRCh37"], "pos": m["pos_GRCh37"]})
    internal = background(n_internal, seed=seed + 100)
    internal.insert(0, "rsid", [f"i{7000000 + i}" for i in range(n_internal)])
    mt = pd.DataFrame(
        {
            "rsid": [f"i{5000 + i}" for i in range(5)],
            "chrom": "MT",
            "pos": [73, 150, 195, 263, 16519],
        }
    )
    rows = pd.concat([rows, internal, mt], ignore_index=True)
    rows["genotype"] = rng.choice(["AA", "AG", "GG", "--"], len(rows))
    head = (
        "# This data file generated by 23andMe at: Sat Jan 01 00:00:00 2022\n#\n"
        "# We are using reference human assembly build 37 (also known as Annotation Release 104).\n"
        "# rsid\tchromosome\tposition\tgenotype\n"
    )
    path = tmp_path / "genome_Jane_Doe_v5_Full_20220101.txt"
    path.write_text(head + rows.to_csv(sep="\t", header=False, index=False))
    return path, {"n_markers": n_markers, "n_rows": len(rows)}


# --------------------------------------------------------------------------- detection


def test_vcf_with_grch38_header(tmp_path):
    path, planted = vcf_grch38(tmp_path)
    call = gb.detect_build(path)
    assert (call.build, call.n_rows) == (B38, planted["n_rows"])
    assert call.confidence >= 0.999 and call.posterior["GRCh38"] >= 0.999
    assert call.voters == ["header", "chrom_ends", "marker_rsids", "marker_positions"]
    h = call.evidence["header"]
    assert h["vote"] == B38 and h["contig_fits"] == {B38: 24} and h["n_contigs"] == 24
    assert h["stated"] == B38 and h["stale_rate"] == 1e-5
    assert h["scores"][B38] > 0.9999 and len(h["keyword_lines"][B38]) == 1
    rs = call.evidence["marker_rsids"]
    assert rs["n_panel_rsids"] == planted["n_with_rsid"] == 200
    assert rs["n_at_position"] == {B37: 0, B38: 200} and rs["n_at_neither"] == 0
    pos = call.evidence["marker_positions"]
    # The 100 panel SNPs written without an rsID (the other 700 rows are not in the panel).
    assert pos["n_rows_checked"] == 800 and pos["n_at_panel_position"] == {B37: 0, B38: 100}
    assert pos["expected_by_chance"][B38] < 0.01
    ends = call.evidence["chrom_ends"]
    # Two planted panel SNPs lie past GRCh37 chromosome ends: impossible in GRCh37 in a file
    # with no other impossible row, decisive on their own (fixed minimums are gone).
    assert ends["n_fit_only"] == {B37: 0, B38: 2} and ends["vote"] == B38
    assert ends["log10_lr"] < -5
    assert call.evidence["tss"]["available"] is False  # single positions, not intervals
    (f,) = gb.check_build(path)
    assert (f.check, f.severity) == (gb.DETECTED, "info")
    assert f.evidence["build"] == B38 and "--expected-build GRCh38" in f.hint
    assert f.message.startswith("calls.vcf, CHROM/POS: genome build GRCh38")


def test_headerless_grch37_variant_table_with_rsids(tmp_path):
    path, planted = variants_grch37_headerless(tmp_path)
    call = gb.detect_build(path)
    assert call.build == B37 and call.voters == ["chrom_ends", "marker_rsids"]
    assert call.evidence["header"]["available"] is False
    # Rows with a panel rsID inform the rsID signal only: the positions signal reads the rest.
    assert call.evidence["marker_positions"]["n_rows_checked"] == 350
    rs = call.evidence["marker_rsids"]
    assert rs["n_rows_with_rsid"] == planted["n_rows"] == 500
    assert rs["n_panel_rsids"] == 150 and rs["n_at_position"] == {B37: 150, B38: 0}
    assert rs["scores"] == {B37: 1.0, B38: 0.0}


@pytest.mark.parametrize("build", [B37, B38])
def test_promoter_peaks_align_with_their_build_tss(tmp_path, build):
    path, bed = promoter_peaks(tmp_path, build)
    call = gb.detect_build(path)
    assert call.build == build and "tss" in call.voters
    tss = call.evidence["tss"]
    other = B38 if build == B37 else B37
    # The TSS counts equal a brute-force check of the same rule (start, end or midpoint of a
    # peak within 1 kb of a panel TSS).
    for b in (B37, B38):
        assert tss["n_touching"][b] == brute_force_touching(bed, b, 1000)
    assert tss["fraction_touching"][build] > 0.6 > 0.2 > tss["fraction_touching"][other]
    assert tss["n_touching_only"][build] > 10 * tss["n_touching_only"][other]
    assert call.evidence["marker_positions"]["available"] is False


def brute_force_touching(bed, build, window):
    g = gbref._genes()
    tss = np.where(g[f"strand_{build}"] == "+", g[f"start_{build}"], g[f"end_{build}"]) - 1
    chrom = np.asarray(gbref._PRIMARY)[g["code"]]
    n = 0
    for row in bed.itertuples():
        c = row.chrom.removeprefix("chr").replace("M", "MT")
        t = np.sort(tss[chrom == c])
        last = max(row.end - 1, row.start)
        anchors = (row.start, last, (row.start + last) // 2)
        n += any(np.any(np.abs(t - a) <= window) for a in anchors)
    return n


def test_random_regions_are_undetermined_not_guessed(tmp_path):
    bg = background(600, seed=11)
    bed = pd.DataFrame({"chrom": "chr" + bg["chrom"], "start": bg["pos"], "end": bg["pos"] + 2000})
    call = gb.detect_build(bed)
    assert call.build == "undetermined" and call.confidence == 0.0 and not call.voters
    assert call.evidence["tss"]["vote"] is None
    assert "no signal is conclusive" in call.reason


def test_gtf_snippet_gene_coordinates(tmp_path):
    path, g = gtf_snippet(tmp_path, B37)
    call = gb.detect_build(path)
    assert call.build == B37 and "gene_coords" in call.voters
    ev = call.evidence["gene_coords"]
    moved = int(
        ((g["start_GRCh37"] != g["start_GRCh38"]) | (g["end_GRCh37"] != g["end_GRCh38"])).sum()
    )
    assert ev["n_genes"] == ev["n_panel_genes"] == 60
    assert ev["n_closer"] == {B37: moved, B38: 0}
    assert ev["n_exact"][B37] == 60


def test_23andme_file(tmp_path):
    path, planted = genotype_23andme(tmp_path)
    call = gb.detect_build(path)
    assert call.build == B37
    assert call.voters == ["header", "chrom_ends", "marker_rsids"]
    sizes = gbref._chrom_sizes()
    m = markers(500, seed=5)
    past_38 = int(
        (
            m["pos_GRCh37"].to_numpy() > sizes.loc[m["chrom_GRCh37"], "length_GRCh38"].to_numpy()
        ).sum()
    )
    assert call.evidence["chrom_ends"]["n_fit_only"] == {B37: past_38, B38: 0} and past_38 >= 4
    assert call.evidence["header"]["keyword_lines"][B37] == [
        "# We are using reference human assembly build 37 (also known as Annotation Release 104)."
    ]
    rs = call.evidence["marker_rsids"]
    assert rs["n_rows_with_rsid"] == planted["n_rows"] == 805
    assert rs["n_at_position"] == {B37: 500, B38: 0}


def test_too_little_information_is_undetermined_with_the_reason(tmp_path):
    path = tmp_path / "few.tsv"
    path.write_text("chrom\tpos\n1\t69511\n1\t752721\n1\t762273\n2\t45895\n")
    call = gb.detect_build(path)
    assert call.build == "undetermined" and call.confidence == 0.0 and call.leaning is None
    assert call.reason.startswith("no signal is conclusive (P(GRCh37) = 0.48")
    assert "chromosome ends: all 4 rows fit" in call.reason
    assert call.reason.endswith("the header names no build")
    assert call.posterior["GRCh37"] == call.posterior["GRCh38"]
    (f,) = gb.check_build(path, expected_build=B38)
    assert (f.check, f.severity) == (gb.UNDETERMINED, "warning")
    assert f.evidence["n_rows"] == 4 and "--expected-build" in f.hint


def test_one_marker_leans_two_decide_by_their_likelihood(tmp_path):
    # Changed by issue 22: no fixed minimum of 10 rsIDs. One panel rsID at its GRCh37 position
    # is a likelihood ratio of ~100 (P = 0.99, leaning); two are ~10^4 (decided at 0.999).
    m = markers(2, seed=6)
    df = pd.DataFrame({"chrom": m["chrom_GRCh37"], "pos": m["pos_GRCh37"], "rsid": m["rsid"]})
    one = gb.detect_build(df.head(1))
    assert one.build == "undetermined" and one.leaning == B37
    assert 0.98 < one.posterior[B37] < 0.999
    assert one.evidence["marker_rsids"]["n_at_position"] == {B37: 1, B38: 0}
    assert one.reason.startswith("the evidence is too weak: leaning GRCh37")
    two = gb.detect_build(df)
    assert two.build == B37 and two.confidence > 0.999
    assert two.evidence["marker_rsids"]["vote"] == B37
    # The decision rule is a parameter: at a false-call rate of 1e-5 two are not enough.
    assert gb.detect_build(df, false_call_rate=1e-5).build == "undetermined"


def test_stale_header_over_lifted_positions_follows_the_coordinates(tmp_path):
    # Changed by issue 22: a header the coordinates contradict is reported stale, not trusted.
    m = markers(60, seed=7)
    rows = pd.DataFrame({"chrom": m["chrom_GRCh37"], "pos": m["pos_GRCh37"], "id": m["rsid"]})
    path = write_vcf(tmp_path / "lifted.vcf", rows, header_build=B38, prefix="")
    call = gb.detect_build(path)
    assert call.build == B37 and call.stale_header and call.stated_build == B38
    assert call.reason.startswith("the header states GRCh38 but the coordinates decide GRCh37")
    assert call.evidence["header"]["vote"] == B38
    assert call.evidence["marker_rsids"]["vote"] == B37
    detected, stale = gb.check_build(path)
    assert (detected.check, stale.check) == (gb.DETECTED, gb.STALE_HEADER)
    assert stale.severity == "warning" and stale.evidence["stated_build"] == B38
    assert "bcftools reheader --fai GRCh37.fa.fai" in stale.hint
    assert stale.message.startswith("lifted.vcf, header: states GRCh38 but the coordinates")


@pytest.mark.parametrize("expected", [B38, B37])
def test_a_stale_header_and_the_expected_build(tmp_path, expected):
    # GRCh37 positions under a GRCh38 header: the call follows the coordinates; expecting
    # GRCh38 fails the gate (build.unexpected), expecting GRCh37 leaves the stale header.
    m = markers(60, seed=7)
    rows = pd.DataFrame({"chrom": m["chrom_GRCh37"], "pos": m["pos_GRCh37"], "id": m["rsid"]})
    path = write_vcf(tmp_path / "lifted.vcf", rows, header_build=B38, prefix="")
    checks = [(f.check, f.severity) for f in gb.check_build(path, expected_build=expected)]
    want = [(gb.DETECTED, "info"), (gb.STALE_HEADER, "warning")]
    if expected == B38:
        want.append((gb.UNEXPECTED, "error"))
    assert checks == want


def test_an_expected_build_ruled_out_by_the_evidence_fails_the_gate():
    # Rows at 82 Mb of chr17 exist in GRCh38, T2T-CHM13 and mouse, not in GRCh37: the call
    # stays undetermined (leaning GRCh38), yet GRCh37 is ruled out, so expecting it fails.
    df = pd.DataFrame({"chrom": ["17"] * 12, "pos": 82_000_000 + np.arange(12) * 1000})
    (f,) = gb.check_build(df, expected_build=B37)
    assert (f.check, f.severity) == (gb.UNDETERMINED, Severity.ERROR)
    assert f.evidence["posterior"][B37] < 1e-3 and f.evidence["leaning"] == B38
    assert "GRCh37 is expected and" in f.message
    (g,) = gb.check_build(df, expected_build=B38)  # not ruled out: a warning
    assert (g.check, g.severity) == (gb.UNDETERMINED, Severity.WARNING)
    assert "--expected-build" in g.hint


def test_header_contig_lengths_alone(tmp_path):
    path = write_vcf(
        tmp_path / "empty.vcf",
        pd.DataFrame(columns=["chrom", "pos", "id"]),
        header_build=B37,
        prefix="",
    )
    call = gb.detect_build(path)
    assert call.build == B37 and call.n_rows == 0
    assert call.evidence["header"]["contig_fits"] == {B37: 24}


def test_ucsc_hg19_chrm_length_and_accessions():
    ci = coords_from_frame(pd.DataFrame({"Chromosome": ["NC_000001.10"], "Start": [5], "End": [6]}))
    ci.header["contigs"] = {"chrM": 16571}
    call = gb.detect_build(ci)
    h = call.evidence["header"]
    assert h["ucsc_hg19_chrM"] is True and h["accessions"] == {B37: 1}
    assert call.build == B37


def test_chromosome_ends_exclude_a_build():
    # chr17 is 81,195,210 bp in GRCh37 and 83,257,441 bp in GRCh38, but also 84.3 Mb in
    # T2T-CHM13 and 95 Mb in mouse: rows at 82 Mb rule out GRCh37 only, the call leans.
    df = pd.DataFrame({"chrom": ["17"] * 12, "pos": 82_000_000 + np.arange(12) * 1000})
    call = gb.detect_build(df)
    ends = call.evidence["chrom_ends"]
    assert ends["n_fit_only"] == {B37: 0, B38: 12}
    assert ends["chromosomes_past_end"] == {B37: ["17"], B38: []}
    assert call.build == "undetermined" and call.leaning == B38
    assert call.posterior[B37] < 1e-20 and 0.9 < call.posterior[B38] < 0.999
    # Rows at 248.5-248.9 Mb of chr1 fit GRCh38 (248,956,422) but not T2T (248,387,328),
    # hg18 (247,249,719) or mouse: now GRCh38 is decided.
    chr1 = pd.DataFrame({"chrom": ["1"] * 4, "pos": 248_500_000 + np.arange(4) * 100_000})
    call = gb.detect_build(pd.concat([df, chr1], ignore_index=True))
    assert call.build == B38 and call.confidence > 0.999


def test_hg18_peaks_fit_neither_build():
    call = gb.detect_build(EXAMPLES["chipseq.bed"])
    assert call.build == "undetermined" and call.reason.startswith("the data fit neither build")
    ends = call.evidence["chrom_ends"]
    assert ends["vote"] == "neither" and ends["n_past_both"] == 21


@pytest.mark.parametrize(
    ("name", "build", "voter"),
    [
        ("ucsc_human.bed.gz", B37, "tss"),
        ("cpg.bed", B37, "tss"),
        ("exons.bed", B37, "tss"),
        ("gencode_human.gtf.gz", B38, "gene_coords"),
        ("ensembl_human.gtf.gz", B38, "gene_coords"),
        ("ensembl.gtf", B38, "header"),
    ],
)
def test_pyranges_example_data(name, build, voter):
    call = gb.detect_build(EXAMPLES[name])
    assert call.build == build and voter in call.voters


def test_detection_options_and_bad_input():
    with pytest.raises(ConfigError, match="min_confidence"):
        gb.detect_build(pd.DataFrame({"chrom": ["1"], "pos": [5]}), min_confidence=1.5)
    with pytest.raises(ConfigError, match="expected_build must be one of GRCh37, GRCh38"):
        gb.check_build(pd.DataFrame({"chrom": ["1"], "pos": [5]}), expected_build="hg17")
    with pytest.raises(InputError, match="must be a CoordInput, a DataFrame or a file path"):
        gb.detect_build(42)
    with pytest.raises(InputError, match="does not exist"):
        gb.detect_build("/nonexistent/x.vcf")


# --------------------------------------------------------------------------- unexpected / mismatch


def test_unexpected_build_hint_lifts_with_the_right_chain(tmp_path):
    path, _ = vcf_grch38(tmp_path)
    found = gb.check_build(path, expected_build="hg19")
    (f,) = by_id(found, gb.UNEXPECTED)
    assert f.severity == "error" and f.evidence["expected_build"] == B37
    assert f.evidence["build"] == B38
    assert f"CrossMap vcf hg38ToHg19.over.chain.gz {path} GRCh37.fa calls.hg19.vcf" in f.hint
    assert "goldenPath/hg38/liftOver/hg38ToHg19.over.chain.gz" in f.hint
    assert by_id(gb.check_build(path, expected_build=B38), gb.UNEXPECTED) == []


def test_mismatch_between_inputs(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    txt, _ = genotype_23andme(tmp_path)
    peaks, _ = promoter_peaks(tmp_path, B38)
    calls = [gb.detect_build(p) for p in (vcf, txt, peaks)]
    (f,) = gb.check_build_mismatch(calls)
    assert (f.check, f.severity) == (gb.MISMATCH, "error")
    assert f.evidence["builds"] == {"calls.vcf": B38, txt.name: B37, "peaks_GRCh38.bed": B38}
    assert f.evidence["n_by_build"] == {B37: 1, B38: 2} and f.evidence["target_build"] == B38
    assert f.subjects == [txt.name] and "hg19ToHg38.over.chain.gz" in f.hint
    (g,) = gb.check_build_mismatch(calls, expected_build=B37)  # lift towards the expected build
    assert g.evidence["target_build"] == B37 and g.subjects == ["calls.vcf", "peaks_GRCh38.bed"]
    assert "hg38ToHg19.over.chain.gz" in g.hint
    assert gb.check_build_mismatch([calls[0], calls[2]]) == []
    undetermined = gb.BuildCall("x.bed", "undetermined", 0.0, "no signal")
    assert gb.check_build_mismatch([calls[0], undetermined]) == []


# --------------------------------------------------------------------------- contig naming


def test_mixed_chr_styles_within_an_input():
    df = pd.DataFrame(
        {"chrom": ["chr1"] * 6 + ["chr2"] * 3 + ["1", "MT", "chrX"], "pos": np.arange(12) + 10_000}
    )
    (f,) = gb.check_contig_naming(df)
    assert (f.check, f.severity) == (gb.CONTIG_NAMING, "error")
    assert f.evidence["problem"] == "mixed_styles"
    assert f.evidence["rows_by_style"] == {"chr": 10, "bare": 2}
    assert f.evidence["mapping"] == {"1": "chr1", "MT": "chrM"}
    assert f.subjects == ["1", "MT"]
    assert "2 of 12 (16.7%) rows use bare names (1, MT)" in f.message
    fix = "df['chrom'] = df['chrom'].replace({'1': 'chr1', 'MT': 'chrM'})"
    assert f.hint == f"Rename to chr-prefixed names: {fix}"
    exec(fix)  # the hint works
    assert gb.check_contig_naming(df) == []


def test_nonstandard_names_and_non_primary_contigs(tmp_path):
    rows = ["chr1\t10\t20", "chr23\t10\t20", "chrMT\t5\t9", "chr1_KI270706v1_random\t1\t5"]
    rows += ["chrUn_GL000220v1\t1\t5", "chr6_GL000250v2_alt\t1\t5", "chrEBV\t1\t5"]
    path = tmp_path / "odd.bed"
    path.write_text("\n".join(rows) + "\n")
    found = gb.check_contig_naming(path)
    odd, extra = found
    assert (odd.severity, odd.evidence["problem"]) == ("warning", "nonstandard_names")
    assert odd.evidence["mapping"] == {"chr23": "chrX", "chrMT": "chrM"}
    # The hint is a command that works: run it.
    command = odd.hint.split(": ", 1)[1]
    assert command.startswith("sed -E 's/^chr23([\\t,])/chrX\\1/; s/^chrMT([\\t,])/chrM\\1/'")
    subprocess.run(command, shell=True, check=True, cwd=tmp_path)
    renamed = read_coordinates(tmp_path / "renamed_odd.bed")
    assert renamed.frame["Chromosome"].tolist()[:3] == ["chr1", "chrX", "chrM"]
    assert [f.evidence["problem"] for f in gb.check_contig_naming(renamed)] == ["non_primary"]
    assert (extra.severity, extra.evidence["problem"]) == ("info", "non_primary")
    assert extra.evidence["n_rows_non_primary"] == 4 and extra.evidence["n_contigs"] == 4


def test_styles_differ_between_inputs():
    ucsc = read_coordinates(EXAMPLES["ucsc_human.bed.gz"])
    ensembl = read_coordinates(EXAMPLES["ensembl_human.gtf.gz"])
    found = gb.check_contig_naming([ucsc, ensembl])
    (f,) = [f for f in found if f.evidence["problem"] == "styles_differ_between_inputs"]
    assert f.severity == "error" and f.input == "ensembl_human.gtf.gz"
    assert f.evidence["n_matching_chromosomes"] == 0
    assert f.evidence["styles"] == {"ucsc_human.bed.gz": "chr", "ensembl_human.gtf.gz": "bare"}
    assert f.evidence["n_shared_chromosomes"] == 1  # the Ensembl example covers chr1 only
    assert f.evidence["mapping"] == {"1": "chr1"}
    assert "matches 0 of 1 shared chromosomes" in f.message


def test_consistent_naming_is_clean(tmp_path):
    path, _ = vcf_grch38(tmp_path)
    peaks, _ = promoter_peaks(tmp_path, B38)
    assert gb.check_contig_naming([path, peaks]) == []


# --------------------------------------------------------------------------- bounds


def test_out_of_bounds_negative_reversed_and_past_the_end(tmp_path):
    path = tmp_path / "windows.bed"
    rows = ["chr1\t1000\t2000"] * 7 + [
        "chr1\t-500\t500",
        "chr2\t900\t100",
        "chr21\t48129800\t48130100",
    ]
    path.write_text("\n".join(rows) + "\n")
    found = gb.check_out_of_bounds(path, build=B37)
    assert [f.evidence["problem"] for f in found] == [
        "negative",
        "end_before_start",
        "past_chromosome_end",
    ]
    assert all(f.check == gb.OUT_OF_BOUNDS and f.severity == "error" for f in found)
    assert [f.subjects for f in found] == [[7], [8], [9]]
    assert [f.evidence["n_affected"] for f in found] == [1, 1, 1]
    past = found[2]
    assert past.evidence["chromosomes"] == ["chr21"] and past.evidence["build"] == B37
    assert "chr21:48,129,800-48,130,100 > 48,129,895" in past.message
    # chr21 is shorter in GRCh38: rows 2 Mb from its GRCh37 end are past the GRCh38 end only.
    df = pd.DataFrame({"Chromosome": ["chr21"], "Start": [47_000_000], "End": [47_000_100]})
    assert gb.check_out_of_bounds(df, build=B37) == []
    assert len(gb.check_out_of_bounds(df, build=B38)) == 1
    assert gb.check_out_of_bounds(df) == []  # fits GRCh37: not out of bounds in both builds


def test_hg18_rows_run_past_both_builds():
    (f,) = gb.check_out_of_bounds(EXAMPLES["chipseq.bed"])
    assert f.evidence["n_affected"] == 21 and f.evidence["chromosomes"] == ["chr3", "chr19"]
    assert "both GRCh37 and GRCh38" in f.message


def test_in_bounds_file_is_clean(tmp_path):
    path, _ = promoter_peaks(tmp_path, B37)
    assert gb.check_out_of_bounds(path, build=B37) == []


# --------------------------------------------------------------------------- audit


def atac_adata(build, *, seed=8):
    """scATAC-like AnnData whose var_names are promoter peaks ``chr1:100-600`` in ``build``."""
    g = genes(300, seed=seed)
    tss = np.where(g[f"strand_{build}"] == "+", g[f"start_{build}"], g[f"end_{build}"])
    chrom = "chr" + g["chrom"].replace({"MT": "M"})
    names = [f"{c}:{t - 250}-{t + 250}" for c, t in zip(chrom, tss, strict=True)]
    names = list(dict.fromkeys(names))
    X = np.random.default_rng(seed).poisson(0.3, (20, len(names))).astype(np.float32)
    return ad.AnnData(X, var=pd.DataFrame(index=names))


def test_audit_build_reads_coords_and_var_and_writes_artifacts(tmp_path):
    vcf, _ = vcf_grch38(tmp_path)
    txt, _ = genotype_23andme(tmp_path)
    adata = atac_adata(B38)
    feature = FeatureInput("atac.h5ad", as_matrix(adata, name="atac.h5ad"), None, adata)
    ctx = AuditContext(
        config=AuditConfig(expected_build=B38),
        features=[feature],
        coords=[read_coordinates(vcf), read_coordinates(txt)],
    )
    found = gb.audit_build(ctx)
    detected = {f.input: f.evidence["build"] for f in by_id(found, gb.DETECTED)}
    assert detected == {"calls.vcf": B38, txt.name: B37, "atac.h5ad (.var)": B38}
    (unexpected,) = by_id(found, gb.UNEXPECTED)
    assert unexpected.input == txt.name and "hg19ToHg38.over.chain.gz" in unexpected.hint
    (mismatch,) = by_id(found, gb.MISMATCH)
    assert mismatch.subjects == [txt.name]
    (naming,) = by_id(found, gb.CONTIG_NAMING)
    assert naming.input == txt.name and naming.evidence["reference_style"] == "chr"
    assert naming.evidence["reference_inputs"] == ["calls.vcf", "atac.h5ad (.var)"]
    art = ctx.artifacts["build"]
    assert set(art) == {"calls.vcf", txt.name, "atac.h5ad (.var)"}
    assert set(art["calls.vcf"]) == {"header", "chrom_ends", "marker_rsids", "marker_positions"}
    assert set(art["atac.h5ad (.var)"]) == {"chrom_ends", "tss"}
    for signals in art.values():
        for scores in signals.values():
            assert set(scores) == {B37, B38}
            assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_audit_build_without_coordinates_does_nothing():
    ctx = AuditContext(config=AuditConfig())
    assert gb.audit_build(ctx) == [] and "build" not in ctx.artifacts


# --------------------------------------------------------------------------- contract


# --------------------------------------------------------------------------- off by one


def _sumstats(tmp_path, build, *, shift=0, columns=("rsid", "chrom", "pos"), seed=11):
    """A GWAS summary-statistics table of panel SNPs + random SNVs with positions ``shift``
    bp off their true ``build`` positions."""
    m = markers(200, seed=seed)
    planted = pd.DataFrame(
        {"rsid": m["rsid"], "chrom": m[f"chrom_{build}"], "pos": m[f"pos_{build}"] + shift}
    )
    bg = background(300, seed=seed + 1)
    bg.insert(0, "rsid", [f"rs{900_000_000 + i}" for i in range(len(bg))])
    table = pd.concat([planted, bg], ignore_index=True).sample(frac=1.0, random_state=seed)
    table["beta"] = np.random.default_rng(seed).normal(size=len(table)).round(4)
    path = tmp_path / "sumstats.tsv"
    table.rename(columns={"pos": columns[2]})[[*columns, "beta"]].to_csv(
        path, sep="\t", index=False
    )
    return path


@pytest.mark.parametrize("use_rsid", [True, False])
def test_zero_based_positions_in_a_pos_column_are_off_by_one(tmp_path, use_rsid):
    path = _sumstats(tmp_path, B38, shift=-1)
    if not use_rsid:  # positions alone
        df = pd.read_csv(path, sep="\t").drop(columns="rsid")
        path = tmp_path / "positions.tsv"
        df.to_csv(path, sep="\t", index=False)
    (f,) = gb.check_off_by_one(path)
    assert (f.check, f.severity) == ("build.off_by_one", Severity.ERROR)
    ev = f.evidence
    assert (ev["build"], ev["shift_bp"], ev["n_shifted"]) == (B38, 1, 200)
    assert ev["n_exact"] <= 4  # panel SNPs whose GRCh37 position is 1 bp from their GRCh38 one
    assert ev["source"] == ("marker rsIDs" if use_rsid else "marker positions")
    if use_rsid:
        assert ev["n_informative"] == 200
        assert "200 of 200 (100%) marker rsIDs sit 1 bp before their GRCh38 position" in f.message
    assert "0-based positions in a 1-based column" in f.message
    assert "df['pos'] += 1" in f.hint


def test_one_based_starts_in_a_bed_start_column_are_off_by_one(tmp_path):
    m = markers(100, seed=12)
    bed = tmp_path / "snps.bed"
    pd.DataFrame(
        {"chrom": "chr" + m["chrom_GRCh37"].astype(str), "start": m["pos_GRCh37"],
         "end": m["pos_GRCh37"] + 1}
    ).to_csv(bed, sep="\t", header=False, index=False)  # fmt: skip
    (f,) = gb.check_off_by_one(bed)
    assert (f.evidence["build"], f.evidence["shift_bp"], f.evidence["n_shifted"]) == (B37, -1, 100)
    assert "1-based starts in a 0-based (BED-style) column" in f.message


@pytest.mark.parametrize("build", [B37, B38])
def test_correct_positions_and_intervals_are_not_off_by_one(tmp_path, build):
    assert gb.check_off_by_one(_sumstats(tmp_path, build)) == []
    peaks, _ = promoter_peaks(tmp_path, build)
    assert gb.check_off_by_one(peaks) == []


def test_a_few_shifted_markers_are_not_enough(tmp_path):
    m = markers(9, seed=13)
    df = pd.DataFrame({"chrom": m["chrom_GRCh38"], "pos": m["pos_GRCh38"] - 1})
    assert gb.check_off_by_one(df) == []  # 9 < min_informative
    assert len(gb.check_off_by_one(df, min_informative=5)) == 1


def test_the_audit_reports_off_by_one_beside_the_build_call(tmp_path):
    path = _sumstats(tmp_path, B38, shift=-1)
    report = audit(coords=[path])
    assert [f.check for f in report.findings if f.check == "build.off_by_one"] == [
        "build.off_by_one"
    ]


def test_check_ids_match_the_design_vocabulary():
    design = (
        (ROOT.parent / "shared" / "DESIGN.md").read_text()
        if (ROOT.parent / "shared").is_dir()
        else ""
    )
    expected = {
        "build.detected",
        "build.mismatch",
        "build.unexpected",
        "build.undetermined",
        "build.contig_naming",
        "build.out_of_bounds",
    }
    # since DESIGN.md was written (tests/test_registry.py ADDED_IDS)
    added = {"build.off_by_one", "build.malformed_rows", "build.stale_header"}
    assert set(gb.CHECK_IDS) == expected | added
    if design:
        assert expected == set(re.findall(r"(?<!\w)build\.[a-z_]+", design))


def test_import_is_lazy():
    code = (
        "import sys, biodata_guard.build._reference as g; "
        "assert 'pyranges1' not in sys.modules and 'jax' not in sys.modules; "
        "assert g._chrom_sizes.cache_info().currsize == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_detect_build_verb_gates_on_the_expected_build(tmp_path, cli):
    vcf, _ = vcf_grch38(tmp_path)
    ok = cli("detect-build", vcf, "--format", "json", "--out", "-")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    (detected,) = [f for f in report["findings"] if f["check"] == gb.DETECTED]
    assert B38 in detected["message"]
    wrong = cli("detect-build", vcf, "--expected-build", "GRCh37")
    assert wrong.returncode == 1
    assert "build.unexpected" in wrong.stdout
